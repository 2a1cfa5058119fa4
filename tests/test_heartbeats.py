"""Heartbeats, death and re-registration, with time driven by a manual clock.

A broker runtime and a peer runtime live in the test process, each stepped
by hand; only the manual clock decides when a peer or the broker has been
silent for too long, so these tests do not depend on the machine's speed.
"""

from __future__ import annotations

import pytest

from actors.demo import Ponger
from actors.messages import Ping
from bus import logs
from bus.clock import ManualClock
from bus.runtime import Actor, Envelope, Runtime, handles
from bus.settings import BusSettings
from tests.helpers import wait_until

INTERVAL_S = 1.0
LIVENESS = 3


@pytest.fixture
def pair(request):
    """A broker and a peer; ``@pytest.mark.parametrize("pair", [N], indirect=True)`` gives the peer liveness N."""
    logs.configure("heartbeat-test", "warning")
    clock = ManualClock()
    broker = Runtime("broker", BusSettings(broker_port=0, heartbeat_interval_s=INTERVAL_S,
                                           heartbeat_liveness=LIVENESS), clock, broker=True, seed=1)
    broker.start()
    peer = Runtime("peer", BusSettings(broker_port=broker.link.port, heartbeat_interval_s=INTERVAL_S,
                                       heartbeat_liveness=getattr(request, "param", LIVENESS)), clock, seed=2)
    peer.add(Ponger())
    peer.start()
    yield clock, broker, peer
    peer.shutdown()
    broker.shutdown()


def step(clock: ManualClock, *runtimes: Runtime, advance_s: float = 0.01) -> None:
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


def registered(clock, broker, peer) -> None:
    wait_until(lambda: peer.link.registered and b"ponger" in broker.link.core.routes, 10,
               "registration", lambda: step(clock, broker, peer))


def test_silent_peer_is_declared_dead_then_reregisters(pair):
    clock, broker, peer = pair
    registered(clock, broker, peer)
    # The peer falls silent (its loop does not run) while the broker's time passes.
    for _ in range(int(INTERVAL_S * (LIVENESS - 0.5) / 0.25)):
        step(clock, broker, advance_s=0.25)
    assert b"ponger" in broker.link.core.routes, "declared dead before liveness intervals passed"
    for _ in range(int(INTERVAL_S * 1.5 / 0.25)):
        step(clock, broker, advance_s=0.25)
    assert broker.link.core.peers == {} and b"ponger" not in broker.link.core.routes
    assert broker.metrics.peer_deaths == 1
    # It wakes up: its next heartbeat comes from a connection the broker has forgotten,
    # the broker asks it to register again, and it does.
    before = broker.metrics.registrations
    registered(clock, broker, peer)
    assert broker.metrics.registrations > before
    assert len(broker.link.core.peers) == 1


def test_heartbeats_keep_an_idle_peer_alive(pair):
    clock, broker, peer = pair
    registered(clock, broker, peer)
    for _ in range(int(INTERVAL_S * LIVENESS * 4 / 0.25)):
        step(clock, broker, peer, advance_s=0.25)
    assert broker.metrics.peer_deaths == 0 and peer.metrics.broker_reconnects == 0
    assert peer.metrics.sent["bus.Heartbeat"] >= LIVENESS * 4 - 1


def test_traffic_counts_as_heartbeat(pair):
    """A peer that keeps sending sends no heartbeats, and is not declared dead."""
    clock, broker, peer = pair
    broker.add(Ponger("broker-ponger"))
    chatty = peer.add(Actor("chatty"))
    registered(clock, broker, peer)
    wait_until(lambda: b"chatty" in broker.link.core.routes, 10, "chatty's route",
               lambda: step(clock, broker, peer))
    heartbeats = peer.metrics.sent["bus.Heartbeat"]
    for i in range(int(INTERVAL_S * LIVENESS * 4 / 0.25)):
        chatty.send("broker-ponger", Ping(i))
        step(clock, broker, peer, advance_s=0.25)
    assert peer.metrics.sent["bus.Heartbeat"] == heartbeats
    assert broker.metrics.received["demo.Ping"] >= LIVENESS * 16 - 1
    assert broker.metrics.peer_deaths == 0 and peer.metrics.broker_reconnects == 0


def test_silent_broker_makes_the_peer_reconnect_and_reregister(pair):
    clock, broker, peer = pair
    registered(clock, broker, peer)
    old = set(broker.link.core.peers)
    for _ in range(int(INTERVAL_S * (LIVENESS + 1) / 0.25)):
        step(clock, peer, advance_s=0.25)
    assert peer.metrics.broker_reconnects == 1 and not peer.link.registered
    registered(clock, broker, peer)
    # The new connection replaced the old one: one peer, a new connection id.
    assert len(broker.link.core.peers) == 1 and set(broker.link.core.peers) != old


class Staller(Actor):
    """Stands for a long turn of work: handling a Ping moves the manual clock on by ``stall_s``.

    ``meanwhile`` runs once a second of that stall, for the other side to go on living.
    """

    def __init__(self, name: str, clock: ManualClock, stall_s: float, meanwhile=None) -> None:
        super().__init__(name)
        self.manual, self.stall_s, self.meanwhile = clock, stall_s, meanwhile
        self.stalls = 0

    @handles(Ping)
    def on_ping(self, msg: Ping, env: Envelope) -> None:
        self.stalls += 1
        for _ in range(int(self.stall_s)):
            self.manual.advance(1.0)
            if self.meanwhile is not None:
                self.meanwhile()


@pytest.mark.parametrize("pair", [LIVENESS * 4], indirect=True)
def test_a_broker_that_stalls_does_not_bury_the_peers_it_has_not_read_yet(pair):
    """The broker's own stall is not the peers' silence: their heartbeats are waiting in its socket.

    (The peer is given the patience to sit the stall out: a broker silent past the peer's own
    liveness is one the peer rightly reconnects to, and that is another test.)
    """
    clock, broker, peer = pair

    def peer_lives() -> None:
        peer.run_once(0)
        broker.link.sock.poll(1000)  # the peer's heartbeat has arrived, unread

    staller = broker.add(Staller("staller", clock, INTERVAL_S * (LIVENESS + 2), peer_lives))
    sender = peer.add(Actor("sender"))
    registered(clock, broker, peer)
    sender.send("staller", Ping(1))
    wait_until(lambda: staller.stalls == 1, 10, "the stall", lambda: step(clock, broker, peer))
    for _ in range(int(INTERVAL_S * LIVENESS * 2 / 0.25)):
        step(clock, broker, peer, advance_s=0.25)
    assert broker.metrics.peer_deaths == 0
    assert b"sender" in broker.link.core.routes


def test_a_peer_that_stalls_does_not_take_the_broker_for_dead(pair):
    """The broker goes on sending heartbeats while the peer is busy; they wait in the peer's socket.

    The broker does bury the peer (it really was silent), and the peer registers again on the
    same connection when the broker asks: what it must not do is tear down a healthy connection.
    """
    clock, broker, peer = pair

    def broker_lives() -> None:
        broker.run_once(0)
        peer.link.sock.poll(1000)  # the broker's heartbeat has arrived, unread

    staller = peer.add(Staller("staller", clock, INTERVAL_S * (LIVENESS + 2), broker_lives))
    broker.add(Ponger("broker-ponger"))
    asker = peer.add(Actor("asker"))
    registered(clock, broker, peer)
    wait_until(lambda: b"staller" in broker.link.core.routes, 10, "staller's route",
               lambda: step(clock, broker, peer))
    asker.send("staller", Ping(1))  # goes out through the broker and back in
    wait_until(lambda: staller.stalls == 1, 10, "the stall", lambda: step(clock, broker, peer))
    for _ in range(int(INTERVAL_S * LIVENESS * 2 / 0.25)):
        step(clock, broker, peer, advance_s=0.25)
    registered(clock, broker, peer)
    assert peer.metrics.broker_reconnects == 0
