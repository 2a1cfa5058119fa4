"""Liveness: heartbeats, a busy loop that is not a dead one, and peers that really are gone.

A broker runtime and a peer runtime live in the test process, each stepped
by hand on a manual clock, which drives their timers (the heartbeat tick).
Whether a connection is alive is the transport's call: ZMTP heartbeats that
ZeroMQ's I/O threads exchange in real time (``INTERVAL_S`` x ``LIVENESS``),
whether or not the Python loops run. So a loop that is not stepped stands
for one that is busy, and the tests that show a busy loop is not taken for
a dead one let real time pass well beyond that timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from actors.demo import Ponger
from actors.messages import Ping
from bus import logs
from bus.clock import ManualClock
from bus.runtime import Actor, Runtime
from bus.settings import BusSettings
from tests.helpers import wait_until

INTERVAL_S = 0.1
LIVENESS = 3
TIMEOUT_S = INTERVAL_S * LIVENESS
"""How long a connection may go without an answer to the transport's pings (real seconds)."""


def settings(port: int) -> BusSettings:
    return BusSettings(broker_port=port, heartbeat_interval_s=INTERVAL_S, heartbeat_liveness=LIVENESS)


@pytest.fixture
def pair():
    logs.configure("heartbeat-test", "warning")
    clock = ManualClock()
    broker = Runtime("broker", settings(0), clock, broker=True, seed=1)
    broker.start()
    peer = Runtime("peer", settings(broker.link.port), clock, seed=2)
    peer.add(Ponger())
    peer.start()
    yield clock, broker, peer
    peer.shutdown()
    broker.shutdown()


def step(clock: ManualClock, *runtimes: Runtime, advance_s: float = INTERVAL_S / 4) -> None:
    """Move time, then let every message already in flight arrive before time moves again.

    Sockets deliver in real time while the manual clock jumps, so a step ends
    only when no socket of a stepped runtime has had input for 10 ms.
    """
    clock.advance(advance_s)
    for rt in runtimes:
        rt.run_once(0)
    while any(rt.link.sock.poll(10) for rt in runtimes):
        for rt in runtimes:
            rt.run_once(0)


def registered(clock, broker, peer, actor: bytes = b"ponger") -> None:
    wait_until(lambda: peer.link.registered and actor in broker.link.core.routes, 10,
               "registration", lambda: step(clock, broker, peer))


def for_real_seconds(seconds: float, fn) -> None:
    """Call ``fn`` repeatedly for ``seconds`` of real time: a window in which something must NOT happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fn()


def test_heartbeats_keep_an_idle_peer_alive(pair):
    clock, broker, peer = pair
    registered(clock, broker, peer)
    for _ in range(LIVENESS * 4 * 4):
        step(clock, broker, peer)
    assert broker.metrics.peer_deaths == 0 and peer.metrics.reregistrations == 0
    assert peer.metrics.sent["bus.Heartbeat"] >= LIVENESS * 4 - 1


def test_traffic_counts_as_heartbeat(pair):
    """A peer that keeps sending sends no heartbeats."""
    clock, broker, peer = pair
    broker.add(Ponger("broker-ponger"))
    chatty = peer.add(Actor("chatty"))
    registered(clock, broker, peer, b"chatty")
    heartbeats = peer.metrics.sent["bus.Heartbeat"]
    for i in range(LIVENESS * 4 * 4):
        chatty.send("broker-ponger", Ping(i))
        step(clock, broker, peer)
    assert peer.metrics.sent["bus.Heartbeat"] == heartbeats
    assert broker.metrics.received["demo.Ping"] >= LIVENESS * 16 - 1
    assert broker.metrics.peer_deaths == 0 and peer.metrics.reregistrations == 0


def test_a_peer_whose_loop_is_busy_is_not_buried(pair):
    """Its loop does not run for many timeouts (a long turn of work, a GC pause); its I/O thread answers."""
    clock, broker, peer = pair
    registered(clock, broker, peer)
    for_real_seconds(TIMEOUT_S * 6, lambda: step(clock, broker, advance_s=INTERVAL_S))
    assert broker.metrics.peer_deaths == 0
    assert b"ponger" in broker.link.core.routes
    for _ in range(8):
        step(clock, broker, peer)
    assert peer.link.registered and peer.metrics.reregistrations == 0


def test_a_broker_whose_loop_is_busy_keeps_its_peers_and_their_replies(pair):
    """The peer goes on living while the broker's loop does not run; nothing is torn down or lost."""
    clock, broker, peer = pair
    broker.add(Ponger("broker-ponger"))
    asker = peer.add(Actor("asker"))
    registered(clock, broker, peer, b"asker")
    answer = asker.request("broker-ponger", Ping(7), timeout_s=1000)
    for_real_seconds(TIMEOUT_S * 6, lambda: step(clock, peer, advance_s=INTERVAL_S))
    wait_until(answer.done, 10, "the answer from the broker once its loop runs again",
               lambda: step(clock, broker, peer))
    assert answer.result().seq == 7
    assert broker.metrics.peer_deaths == 0 and peer.metrics.reregistrations == 0


def test_a_peer_whose_connection_is_gone_is_buried_and_its_names_freed(pair):
    """A peer killed outright: its socket closes without a word; the next heartbeat sent to it fails."""
    clock, broker, peer = pair
    registered(clock, broker, peer)
    peer.link.sock.close(linger=0)
    peer.link.sock = None
    wait_until(lambda: not broker.link.core.peers, 10, "the broker burying the peer",
               lambda: step(clock, broker, advance_s=INTERVAL_S))
    assert broker.metrics.peer_deaths == 1 and b"ponger" not in broker.link.core.routes


STOPPABLE_PEER = """
import sys
from actors.demo import Ponger
from bus import logs
from bus.clock import RealClock
from bus.runtime import Runtime
from bus.settings import BusSettings
logs.configure("stoppable", "warning")
rt = Runtime("stoppable", BusSettings(broker_port=int(sys.argv[1]), heartbeat_interval_s={interval},
                                      heartbeat_liveness={liveness}), RealClock(), seed=3)
rt.add(Ponger("stoppable-ponger"))
rt.run()
"""


@contextlib.contextmanager
def stoppable_peer(clock: ManualClock, broker: Runtime):
    """A peer process with one Ponger, registered with ``broker``; yields (process, "is it routed?")."""
    code = STOPPABLE_PEER.format(interval=INTERVAL_S, liveness=LIVENESS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", code, str(broker.link.port)], cwd=root)

    def routed() -> bool:
        return b"stoppable-ponger" in broker.link.core.routes

    try:
        wait_until(routed, 20, "the subprocess peer registering", lambda: step(clock, broker, advance_s=INTERVAL_S))
        yield proc, routed
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def test_a_stopped_peer_is_buried_within_the_timeout_and_registers_again_when_continued(pair):
    """SIGSTOP stops the I/O thread too: the pings go unanswered and the broker's ZeroMQ closes the connection."""
    clock, broker, _ = pair
    with stoppable_peer(clock, broker) as (proc, routed):
        os.kill(proc.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        wait_until(lambda: not routed(), 10, "the broker burying the stopped peer",
                   lambda: step(clock, broker, advance_s=INTERVAL_S))
        assert time.monotonic() - stopped_at >= TIMEOUT_S * 0.9  # not before the transport's timeout
        assert broker.metrics.peer_deaths == 1
        os.kill(proc.pid, signal.SIGCONT)
        wait_until(routed, 20, "the continued peer registering again",
                   lambda: step(clock, broker, advance_s=INTERVAL_S))


def test_a_peer_that_loses_the_broker_with_a_backlog_unread_reads_it_and_registers_again(pair):
    """The backlog is still being read when ZeroMQ reconnects: with multipart messages libzmq aborted here.

    A DEALER with ``IMMEDIATE`` drops its old pipe when it reconnects, and
    if its owner is between two frames of a message at that moment libzmq
    asserts (``!_more``, src/fq.cpp). The bus sends every message as one
    frame, so the reconnecting peer reads its backlog, registers again and
    goes on.
    """
    clock, broker, _ = pair
    flooder = broker.add(Actor("flooder"))
    with stoppable_peer(clock, broker) as (proc, routed):
        os.kill(proc.pid, signal.SIGSTOP)
        for i in range(300):  # one message a turn: 300 messages waiting, not one batch
            flooder.send("stoppable-ponger", Ping(i))
            broker.run_once(0)
        wait_until(lambda: not routed(), 10, "the broker burying the stopped peer",
                   lambda: step(clock, broker, advance_s=INTERVAL_S))
        os.kill(proc.pid, signal.SIGCONT)
        wait_until(routed, 20, "the continued peer registering again",
                   lambda: step(clock, broker, advance_s=INTERVAL_S))
        assert proc.poll() is None, f"the peer exited with {proc.returncode}"


class Forgotten(Actor):
    """Counts the times its process was forgotten by the broker and registered again."""

    def __init__(self) -> None:
        super().__init__("forgotten")
        self.times = 0

    def on_reregistered(self) -> None:
        self.times += 1


def test_a_restarted_broker_gets_the_peer_back_and_its_actors_hear_of_it(pair):
    """The new broker does not know the peer: its heartbeat is answered with Reregister, and it registers."""
    clock, broker, peer = pair
    forgotten = peer.add(Forgotten())
    registered(clock, broker, peer)
    assert forgotten.times == 0
    port = broker.link.port
    broker.shutdown()
    again = Runtime("broker", settings(port), clock, broker=True, seed=4)
    again.start()
    try:
        registered(clock, again, peer)
        assert peer.metrics.reregistrations >= 1 and forgotten.times == 1
    finally:
        again.shutdown()
