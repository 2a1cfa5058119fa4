"""Shipping a process's lines to the log collector (bus.logship), in one process on a manual clock.

Covers: the bounded LogBuffer (drops the oldest, counts them, calls on_drop; take() within max_lines and about
max_bytes, yet always at least one line); entries made from a structlog event dict (what becomes a field,
non-scalar values as text, long messages and values cut, a traceback for exc_info) and from a container's
line, both of the shape the collector checks; ship_processor (the event dict passes through unchanged, and a
failing buffer never fails the log call); the LogShipper actor against a scripted collector (one batch in
flight, sent again with the same number after a failure and a slower pace while failures go on, forgotten
only once acked, dropped lines reported) and against the real LogCollector (a lost ack stores the batch once).
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from actors.logcollector.collector import LogCollector
from actors.logcollector.store import Query, check_entry
from bus.clock import ManualClock
from bus.codec import pack_body
from bus.logship import (
    ENTRY_FIELDS,
    MAX_FIELD_CHARS,
    MAX_MESSAGE_CHARS,
    RETRY_MAX_S,
    LogBuffer,
    LogShipper,
    LogSource,
    ShipperMetrics,
    component_entry,
    container_entry,
    entry_bytes,
    row_as_dict,
    ship_processor,
)
from bus.messages import Error, LogPull, LogPush, LogPushed
from bus.runtime import Actor, Runtime, handles
from bus.settings import BusSettings
from tests.helpers import advance, pump

T0 = 1_767_225_600.0


def entry(i: int, text: str = "") -> list:
    return container_entry(T0 + i, "node-1", "node", "demo", "web-1", "app", 0, "stdout", text or f"line {i}")


def texts(entries: list[list]) -> list[str]:
    return [e[6] for e in entries]


# --- the buffer ---------------------------------------------------------------------------------------


def test_a_full_buffer_drops_its_oldest_lines_and_counts_them():
    buf = LogBuffer(capacity=3)
    drops: list[int] = []
    buf.on_drop = drops.append
    for i in range(5):
        buf.add(entry(i))
    assert len(buf) == 3
    assert (buf.dropped, drops) == (2, [1, 1])
    assert texts(buf.take()) == ["line 2", "line 3", "line 4"]
    assert buf.take_dropped() == 2 and buf.take_dropped() == 0, "reported once"
    assert buf.take() == []


def test_take_stops_at_max_lines():
    buf = LogBuffer()
    for i in range(10):
        buf.add(entry(i))
    assert texts(buf.take(max_lines=4)) == ["line 0", "line 1", "line 2", "line 3"]
    assert len(buf) == 6
    assert texts(buf.take(max_lines=100)) == [f"line {i}" for i in range(4, 10)]


def test_a_batch_of_long_non_ascii_lines_fits_in_one_frame():
    # Regression (was a bug): BATCH_BYTES (384 KiB) is measured by entry_bytes() in characters; "界" is 3 bytes in UTF-8 (U+FFFD, what
    # undecodable container output becomes, too), so take() hands out 47 lines = 1.16 MB, over max_frame_bytes.
    buf = LogBuffer()
    for i in range(100):
        buf.add(entry(i, "界" * MAX_MESSAGE_CHARS))
    size = len(pack_body(LogPush("node-1@40-1", 1, buf.take(), 0)))
    assert size <= BusSettings().max_frame_bytes


def test_take_stops_before_max_bytes_but_always_takes_one():
    buf = LogBuffer()
    for i in range(5):
        buf.add(entry(i, "x" * 1000))
    cost = entry_bytes(entry(0, "x" * 1000))
    assert cost > 1000
    assert len(buf.take(max_bytes=2 * cost)) == 2
    assert len(buf.take(max_bytes=2 * cost + cost // 2)) == 2, "a third would go over"
    assert len(buf.take(max_bytes=1)) == 1, "a line bigger than a batch still goes, alone"
    assert len(buf) == 0


# --- entries ------------------------------------------------------------------------------------------


class Thing:
    def __str__(self) -> str:
        return "a thing"


def test_a_component_line_keeps_its_own_fields_only_and_as_plain_values():
    event = {"event": "pod bound", "level": "warning", "timestamp": "2026-01-01T00:00:00Z", "process": "sched-0",
             "component": "scheduler-0.scheduler", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
             "pod": "demo/web-1", "score": 87, "ratio": 0.5, "ok": True, "owner": None,
             "nodes": ["node-1", "node-2"], "thing": Thing()}
    e = component_entry(event, T0, "scheduler-0", "scheduler")
    assert dict(zip(ENTRY_FIELDS, e)) == {
        "t": T0, "process": "scheduler-0", "component": "scheduler", "source": "scheduler-0.scheduler",
        "level": "warning", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "message": "pod bound",
        "fields": {"pod": "demo/web-1", "score": 87, "ratio": 0.5, "ok": True, "owner": None,
                   "nodes": "['node-1', 'node-2']", "thing": "a thing"},
        "namespace": "", "pod": "", "container": "", "stream": "", "attempt": 0}
    assert check_entry(e, "e") is e, "the collector takes what the shipper makes"


def test_a_component_line_without_level_logger_or_trace_gets_defaults():
    e = dict(zip(ENTRY_FIELDS, component_entry({"event": "hi"}, T0, "node-1", "node")))
    assert (e["source"], e["level"], e["trace_id"], e["fields"]) == ("node-1", "info", "", {})


def test_long_messages_and_values_are_cut_saying_so():
    e = component_entry({"event": "m" * (MAX_MESSAGE_CHARS + 10), "big": "v" * (MAX_FIELD_CHARS + 3)}, T0, "p", "c")
    assert e[6] == "m" * MAX_MESSAGE_CHARS + "... (10 more characters)"
    assert e[7]["big"] == "v" * MAX_FIELD_CHARS + "... (3 more characters)"
    short = component_entry({"event": "m" * MAX_MESSAGE_CHARS}, T0, "p", "c")
    assert short[6] == "m" * MAX_MESSAGE_CHARS


def test_a_line_logged_with_exc_info_carries_the_traceback():
    try:
        raise KeyError("missing-key")
    except KeyError:
        e = component_entry({"event": "failed", "level": "error", "exc_info": True}, T0, "p", "c")
    assert "exc_info" not in e[7]
    assert "Traceback" in e[7]["exception"] and "missing-key" in e[7]["exception"]


def test_a_container_line():
    e = container_entry(T0, "node-1", "node", "demo", "web-1", "app", 2, "stderr", "x" * (MAX_MESSAGE_CHARS + 1))
    d = row_as_dict([7, *e])
    assert d.pop("seq") == 7
    assert {k: v for k, v in d.items() if k != "message"} == {
        "t": T0, "process": "node-1", "component": "node", "source": "demo/web-1/app", "level": "",
        "trace_id": "", "fields": {}, "namespace": "demo", "pod": "web-1", "container": "app",
        "stream": "stderr", "attempt": 2}
    assert d["message"].endswith("... (1 more characters)")
    assert check_entry(e, "e") is e


def test_the_processor_copies_the_line_and_passes_the_event_dict_on_unchanged():
    buf = LogBuffer()
    ship = ship_processor(buf, "scheduler-0", "scheduler", now=lambda: T0 + 7)
    event = {"event": "pod bound", "level": "info", "component": "scheduler-0.scheduler", "nodes": ["a"]}
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in event.items()}
    assert ship(None, "info", event) is event
    assert event == before
    [shipped] = buf.take()
    assert shipped == component_entry(before, T0 + 7, "scheduler-0", "scheduler")


def test_the_processor_never_fails_a_log_call():
    class Broken(LogBuffer):
        def add(self, entry):
            raise RuntimeError("buffer broken")

    class Unprintable:
        def __str__(self):
            raise ValueError("no text")

    event = {"event": "still logged", "level": "info"}
    assert ship_processor(Broken(), "p", "c", now=lambda: T0)(None, "info", event) is event
    buf = LogBuffer()
    odd = {"event": "odd", "value": Unprintable()}
    assert ship_processor(buf, "p", "c", now=lambda: T0)(None, "info", odd) is odd
    assert len(buf) == 0


# --- the shipper actor --------------------------------------------------------------------------------


class ScriptedCollector(Actor):
    """Stands in for ``collector-0.collector``: keeps every push it is sent and answers as told."""

    def __init__(self) -> None:
        super().__init__("collector-0.collector")
        self.pushes: list[LogPush] = []
        self.mode = "ack"  # or "silent" (down: no answer) or "error"

    @handles(LogPush)
    def on_push(self, msg: LogPush, env) -> None:
        self.pushes.append(msg)
        if self.mode == "ack":
            self.reply(env, LogPushed(msg.batch))
        elif self.mode == "error":
            self.reply(env, Error("unavailable", "restarting"))


class Process:
    """A process's runtime on a manual clock (never started, no sockets): its shipper and a collector."""

    def __init__(self, collector: Actor | None = None, capacity: int = 1000) -> None:
        self.clock = ManualClock(start=1000.0, wall_start=T0)
        self.rt = Runtime("node-1", BusSettings(), self.clock, seed=1)
        self.registry = CollectorRegistry()
        self.collector = self.rt.add(collector or ScriptedCollector())
        self.buffer = LogBuffer(capacity)
        self.shipper = self.rt.add(LogShipper("node-1.logship", self.buffer, "collector-0.collector", "node-1",
                                              metrics=ShipperMetrics(self.registry)))
        for actor in (self.collector, self.shipper):
            actor.on_start()
        pump(self.rt)

    def log(self, *texts: str) -> None:
        for text in texts:
            self.buffer.add(entry(0, text))

    def advance(self, seconds: float, step: float = 0.5) -> None:
        for _ in range(round(seconds / step)):
            advance(self.rt, self.clock, step)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def proc():
    p = Process()
    yield p
    p.rt._ctx.term()


def test_lines_are_shipped_each_half_second_and_forgotten_once_taken(proc):
    proc.log("a", "b")
    proc.advance(0.5)
    [push] = proc.collector.pushes
    assert (push.batch, texts(push.entries), push.dropped) == (1, ["a", "b"], 0)
    assert push.shipper.startswith("node-1@") and push.shipper == proc.shipper.shipper_id
    assert proc.shipper._pending is None and len(proc.buffer) == 0
    assert proc.metric("kubesim_log_shipper_lines_total", outcome="shipped") == 2
    proc.advance(2.0)
    assert len(proc.collector.pushes) == 1, "nothing new, nothing sent"
    proc.log("c")
    proc.advance(0.5)
    assert [(p.batch, texts(p.entries)) for p in proc.collector.pushes] == [(1, ["a", "b"]), (2, ["c"])]


def test_a_batch_is_sent_again_with_the_same_number_until_the_collector_takes_it(proc):
    proc.collector.mode = "silent"  # down: the request times out (2 s)
    proc.log("a", "b")
    proc.advance(0.5)
    assert len(proc.collector.pushes) == 1
    proc.log("c")  # logged while batch 1 is out
    proc.advance(1.5)
    assert len(proc.collector.pushes) == 1, "one batch in flight at a time"
    assert proc.shipper._pending is not None, "kept until the collector says it has it"
    proc.advance(0.5)  # the request timed out; the next try waits 1 s
    assert len(proc.collector.pushes) == 1 and proc.metric("kubesim_log_shipper_failures_total") == 1
    proc.collector.mode = "error"
    proc.advance(1.0)
    assert len(proc.collector.pushes) == 2
    proc.collector.mode = "ack"
    proc.advance(2.5)  # batch 1 again at +2 s (taken), batch 2 at the next tick
    batches = [(p.batch, texts(p.entries)) for p in proc.collector.pushes]
    assert batches[:3] == [(1, ["a", "b"])] * 3, "the same batch, as it was: 'c' is not slipped into it"
    assert proc.collector.pushes[2] is proc.collector.pushes[0], "sent again as it is"
    assert batches[3:] == [(2, ["c"])]
    assert proc.shipper._pending is None and len(proc.buffer) == 0
    assert proc.metric("kubesim_log_shipper_failures_total") == 2
    assert proc.metric("kubesim_log_shipper_lines_total", outcome="shipped") == 3


def test_tries_slow_down_while_the_collector_fails_and_speed_up_once_it_takes_a_batch(proc):
    proc.collector.mode = "error"
    proc.log("a")
    sent_at: list[float] = []
    for _ in range(120):  # 60 s
        n = len(proc.collector.pushes)
        proc.advance(0.5)
        if len(proc.collector.pushes) > n:
            sent_at.append(proc.clock.monotonic())
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:])]
    assert gaps[:6] == [1.0, 2.0, 4.0, 8.0, RETRY_MAX_S, RETRY_MAX_S]
    assert {p.batch for p in proc.collector.pushes} == {1}
    proc.collector.mode = "ack"
    proc.advance(RETRY_MAX_S)
    proc.log("b")
    proc.advance(0.5)
    assert [p.batch for p in proc.collector.pushes[-2:]] == [1, 2], "back to every half second"


def test_lines_dropped_from_a_full_buffer_are_counted_and_reported_with_the_next_batch():
    p = Process(capacity=2)
    try:
        p.log("a", "b", "c", "d", "e")
        assert p.metric("kubesim_log_shipper_lines_total", outcome="dropped") == 3
        p.advance(0.5)
        [push] = p.collector.pushes
        assert (texts(push.entries), push.dropped) == (["d", "e"], 3)
        p.log("f")
        p.advance(0.5)
        assert p.collector.pushes[-1].dropped == 0, "reported once"
    finally:
        p.rt._ctx.term()


class LossyCollector(LogCollector):
    """The real collector, whose first answer to a push is lost on the way back."""

    lost = 0

    def reply(self, env, msg):
        if isinstance(msg, LogPushed) and not self.lost:
            self.lost += 1
            return 0
        return super().reply(env, msg)


def test_with_the_real_collector_a_lost_answer_means_a_resend_that_is_stored_once(tmp_path):
    collector = LossyCollector("collector-0.collector", tmp_path / "logs", max_bytes=1 << 20, max_age_s=3600,
                               now=lambda: T0, registry=None)
    p = Process(collector)
    try:
        p.log("a", "b")
        p.advance(0.5)
        assert collector.store.stats.lines == 2 and p.shipper._pending is not None, "stored, but not acked"
        p.advance(4.0)
        assert p.shipper._pending is None
        assert (collector.store.stats.lines, collector.store.stats.duplicates) == (2, 1)
        assert texts([e for _, e in collector.store.query(Query())]) == ["a", "b"]
        p.log("c")
        p.advance(0.5)
        assert texts([e for _, e in collector.store.query(Query())]) == ["a", "b", "c"]
    finally:
        collector.on_stop()
        p.rt._ctx.term()


def test_a_batch_stays_within_half_the_frame_limit_of_the_bus_it_is_sent_on():
    # Regression: BATCH_BYTES was fixed, so on a bus with a small frame limit every batch was too large to send,
    # and (before the shipper dropped such a batch) the same one was tried again for ever.
    clock = ManualClock(start=1000.0, wall_start=T0)
    rt = Runtime("node-1", BusSettings(max_frame_bytes=64 * 1024), clock, seed=1)
    buf = LogBuffer()
    shipper = rt.add(LogShipper("node-1.logship", buf, "collector-0.collector", "node-1",
                                metrics=ShipperMetrics(CollectorRegistry())))
    shipper.on_start()
    try:
        for i in range(20):
            buf.add(entry(i, "x" * MAX_MESSAGE_CHARS))  # 160 KiB: one batch by BATCH_BYTES, over this bus's frame
        advance(rt, clock, 0.5)
        assert shipper._pending is not None and 1 <= len(shipper._pending.entries) < 20
        assert sum(entry_bytes(e) for e in shipper._pending.entries) <= 32 * 1024
        assert rt.metrics.dropped_outbound.get("too_large", 0) == 0
    finally:
        rt._ctx.term()


# --- a process off the broker's bus: the collector fetches its lines ------------------------------------------


class Puller(Actor):
    def __init__(self) -> None:
        super().__init__("collector-0.puller")
        self.answers: list[LogPush] = []

    def pull(self, rt: Runtime, ack: int, shipper: str = "") -> LogPush:
        fut = self.request("store-0.logship", LogPull(ack, shipper), timeout_s=5.0, retries=0)
        pump(rt)
        self.answers.append(fut.result())
        return self.answers[-1]


def test_a_source_offers_each_batch_until_a_pull_acks_it():
    clock = ManualClock(start=1000.0, wall_start=T0)
    rt = Runtime("store-0", BusSettings(), clock, seed=1)
    try:
        buffer = LogBuffer(100)
        source = rt.add(LogSource("store-0.logship", buffer, "store-0", metrics=ShipperMetrics(CollectorRegistry())))
        puller = rt.add(Puller())
        assert puller.pull(rt, 0).batch == 0, "nothing logged: an empty answer"
        buffer.add(entry(0, "a"))
        buffer.add(entry(1, "b"))
        first = puller.pull(rt, 0)
        assert (first.batch, texts(first.entries)) == (1, ["a", "b"])
        buffer.add(entry(2, "c"))
        again = puller.pull(rt, 0)  # the answer was lost: the same batch, not the new line
        assert (again.batch, texts(again.entries), again.shipper) == (1, ["a", "b"], first.shipper)
        stale = puller.pull(rt, 1, "store-0@1-1")  # an ack for another run of the process: not this batch's
        assert (stale.batch, texts(stale.entries)) == (1, ["a", "b"])
        nxt = puller.pull(rt, 1, first.shipper)
        assert (nxt.batch, texts(nxt.entries)) == (2, ["c"])
        assert puller.pull(rt, 2, first.shipper).batch == 0 and source._pending is None
    finally:
        rt._ctx.term()


def test_the_collector_stores_a_pulled_batch_once_and_acks_it_on_the_next_pull(tmp_path):
    clock = ManualClock(start=1000.0, wall_start=T0)
    rt = Runtime("log-collector", BusSettings(), clock, seed=1)
    try:
        buffer = LogBuffer(100)
        rt.add(LogSource("store-0.logship", buffer, "store-0", metrics=ShipperMetrics(CollectorRegistry())))
        collector = rt.add(LogCollector("log-collector.collector", tmp_path, max_bytes=1 << 20, max_age_s=3600,
                                        now=lambda: T0, registry=None))
        collector.on_start()
        collector.sources = {"store-0": ("127.0.0.1", 1)}  # after start: the source is local, no link needed
        buffer.add(entry(0, "leader changed"))
        for _ in range(3):  # three pulls: the batch, its ack with nothing new, nothing again
            collector.spawn(collector._pull("store-0"))
            pump(rt)
        found = collector.store.query(Query())
        assert [e[6] for _, e in found] == ["leader changed"]
        assert collector._acked["store-0"][1] == 1 and collector.store.stats.duplicates == 0
    finally:
        rt._ctx.term()
