"""What a hostile or broken peer cannot do to a runtime (found in review, kept by these tests).

No sockets: a runtime on a manual clock, fed frames by hand with ``_deliver``.
"""

from __future__ import annotations

import msgpack
import pytest

from actors.messages import Ping, Pong
from bus.broker import BrokerCore
from bus.clock import ManualClock
from bus.codec import (
    MAX_DETAIL_CHARS,
    pack_body,
    pack_header,
    unpack_body,
    unpack_header,
)
from bus.faults import FaultFilter, FaultRule
from bus.messages import BROKER, BROKER_B, Undeliverable
from bus.runtime import Actor, Envelope, MessageTooLarge, RemoteError, Runtime, handles
from bus.settings import BusSettings

TP = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


@pytest.fixture
def rt():
    runtime = Runtime("proc", BusSettings(max_frame_bytes=4096), ManualClock(), seed=1)
    yield runtime
    runtime._ctx.term()


class Flaky(Actor):
    """An async handler that fails after awaiting nothing."""

    def __init__(self) -> None:
        super().__init__("flaky")
        self.runs = 0

    @handles(Ping)
    async def on_ping(self, msg: Ping, env: Envelope) -> None:
        self.runs += 1
        raise ValueError("async trouble " + "x" * 10_000)


class Client(Actor):
    pass


def turn(rt: Runtime, n: int = 3) -> None:
    for _ in range(n):
        rt.run_once(0.0)


def sent(rt: Runtime) -> list:
    rt._flush_out()
    out = list(rt.link.outbox)
    rt.link.outbox.clear()
    return out


def test_an_error_reply_always_fits_whatever_the_peer_sent(rt):
    """A body with a huge unknown key: the bad_request answer is cut short, the process lives on."""
    rt.add(Flaky())
    body = msgpack.packb({"seq": 1, "A" * 4000: 0})
    rt._deliver(b"flaky", b"evil", pack_header("demo.Ping", 5, 0, True, "evil-actor", TP, 0.0), body)
    (dst, h, b), = sent(rt)
    header = unpack_header(h)
    error = unpack_body(header, b, 1 << 20)
    assert dst == b"evil-actor" and header.reply_to == 5 and error.code == "bad_request"
    assert len(error.message) <= MAX_DETAIL_CHARS + 1


def test_a_failing_async_handler_answers_once_with_an_error(rt):
    flaky = rt.add(Flaky())
    client = rt.add(Client("client"))
    fut = client.request("flaky", Ping(1), timeout_s=1.0, retries=2)
    turn(rt)
    with pytest.raises(RemoteError, match="handler_failed: ValueError: async trouble") as info:
        fut.result()
    assert len(str(info.value)) < MAX_DETAIL_CHARS + 50
    assert flaky.runs == 1, "the failure must not wait for retries to run the handler again"


def test_a_reply_from_someone_else_is_not_taken(rt):
    client = rt.add(Client("client"))
    fut = client.request("ponger", Ping(1), timeout_s=5.0, retries=0)
    (_, h, _), = sent(rt)
    req_id = unpack_header(h).id
    forged = pack_header("demo.Pong", 1, req_id, False, "mallory", TP, 0.0)
    rt._deliver(b"client", b"mallory-proc", forged, pack_body(Pong(1, "FORGED", 1)))
    bounce = pack_header("bus.Undeliverable", 2, req_id, False, BROKER, TP, 0.0)
    rt._deliver(b"client", b"mallory-proc", bounce, pack_body(Undeliverable("ponger", "dead")))
    assert not fut.done() and rt.metrics.late_replies == 2
    real = pack_header("demo.Pong", 3, req_id, False, "ponger", TP, 0.0)
    rt._deliver(b"client", b"pong-proc", real, pack_body(Pong(1, "ponger", 1)))
    assert fut.result().served_by == "ponger"


def test_message_ids_start_at_random_so_an_old_incarnation_s_replies_miss():
    a = Runtime("p", BusSettings(), ManualClock(), seed=1)
    b = Runtime("p", BusSettings(), ManualClock(), seed=2)
    try:
        assert abs(a._new_id() - b._new_id()) > 1_000_000
    finally:
        a._ctx.term()
        b._ctx.term()


def test_a_request_too_large_to_send_leaves_nothing_behind(rt):
    client = rt.add(Client("client"))
    with pytest.raises(MessageTooLarge):
        client.request("ponger", Ping(1, b"x" * 5000))
    assert rt._pending == {} and rt._timers == []
    assert rt.metrics.dropped_outbound["too_large"] == 1


def test_unknown_kinds_do_not_create_metric_series(rt):
    rt.add(Client("client"))
    for i in range(50):
        rt._deliver(b"client", b"evil", pack_header(f"made.Up{i}", i + 1, 0, False, "evil", TP, 0.0), b"\x80")
    assert rt.metrics.rejected["unknown_kind"] == 50
    assert not any(k.startswith("made.") for k in rt.metrics.received_bytes)
    assert not any(k.startswith("made.") for k in rt.metrics.handler_seconds)


def test_nobody_may_register_the_broker_s_own_names():
    core = BrokerCore(1.0, 3)
    reserved = frozenset({BROKER_B, b"broker.bus"})
    reg = core.register(b"r1", "evil", b"evil", ["broker", "broker.bus", "mine"], 1, 0.0, reserved)
    assert reg.refused == ["broker", "broker.bus"]
    assert set(core.routes) == {b"mine"}


def test_blackhole_ignores_probability():
    f: FaultFilter[int] = FaultFilter(seed=1)
    f.set_rules([FaultRule(action="blackhole", probability=0.1)])
    assert all(f.apply("send", "a", "b", "k", i, 0.0) == [] for i in range(200))


def test_cancelled_timers_do_not_pile_up(rt):
    for _ in range(20_000):
        rt.call_later(60.0, lambda: None).cancel()
    assert len(rt._timers) <= 2048
