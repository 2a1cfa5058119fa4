"""Socket-free pieces of the runtime (bus.runtime) and the bus metrics (bus.metrics).

Covers Future (result, exception, callbacks), Task driving async handlers on a
Runtime built with a ManualClock (no socket is opened before start()), the
timer heap (ordering, ties, repeats, cancellation, failing callbacks), local
delivery and request deadlines/retries through the not-yet-registered outbox,
fault rules applied by the runtime, bus.metrics.Histogram bucket counts and
BusCollector output on a fresh CollectorRegistry.
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actors.messages import Ping, Pong
from bus import logs
from bus.clock import ManualClock
from bus.codec import pack_body, pack_header, unpack_body, unpack_header
from bus.faults import FaultRule
from bus.messages import Error, FaultsState, SetFaults
from bus.metrics import (
    HANDLER_BUCKETS,
    REJECT_REASONS,
    BusCollector,
    BusMetrics,
    Histogram,
)
from bus.runtime import (
    Actor,
    Cancelled,
    Future,
    Indeterminate,
    RemoteError,
    Runtime,
    Task,
    handles,
)
from bus.runtime.peer_link import PeerLink
from bus.settings import BusSettings
from tests.helpers import ROOT

# --- Fixtures and helpers -------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def rt(clock):
    runtime = Runtime("proc", BusSettings(), clock, seed=1)
    yield runtime
    runtime._ctx.term()


def run_ready(rt: Runtime) -> int:
    """Run call_soon callbacks until none are left (what run_once does, minus the poll)."""
    n = 0
    while rt._ready:
        fn, args = rt._ready.popleft()
        rt._guarded(fn, args)
        n += 1
    return n


def tick(rt: Runtime, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    rt._run_timers()
    run_ready(rt)
    rt._flush_out()  # as the end of every loop turn does


class Echo(Actor):
    """Answers a Ping with a Pong; fails on a negative seq."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.served = 0

    @handles(Ping)
    def on_ping(self, msg: Ping, env) -> None:
        if msg.seq < 0:
            raise ValueError("negative seq")
        self.served += 1
        self.reply(env, Pong(msg.seq, self.name, self.served))


class Client(Actor):
    pass


# --- Construction ---------------------------------------------------------------


def test_a_runtime_opens_no_socket_before_start(rt):
    assert isinstance(rt.link, PeerLink)
    assert rt.link.sock is None
    assert rt.actor_names() == ["proc.bus"]
    assert rt._timers == [] and not rt._ready


# --- Future -----------------------------------------------------------------------


def test_future_result():
    f = Future()
    assert not f.done()
    f.set_result(42)
    assert f.done() and f.result() == 42 and f.exception() is None


def test_future_exception_is_raised_by_result():
    f = Future()
    err = KeyError("gone")
    f.set_exception(err)
    assert f.done() and f.exception() is err
    with pytest.raises(KeyError) as info:
        f.result()
    assert info.value is err


def test_future_result_while_pending_is_a_bug():
    with pytest.raises(AssertionError, match="pending"):
        Future().result()


@pytest.mark.parametrize("second", ["result", "exception"])
def test_future_ends_only_once(second):
    f = Future()
    f.set_result(1)
    with pytest.raises(AssertionError, match="once"):
        f.set_result(2) if second == "result" else f.set_exception(ValueError())
    assert f.result() == 1


def test_future_callbacks_run_once_in_order_when_it_ends():
    f = Future()
    seen = []
    f.add_done_callback(lambda fut: seen.append(("a", fut.result())))
    f.add_done_callback(lambda fut: seen.append(("b", fut.result())))
    assert seen == []
    f.set_result(7)
    assert seen == [("a", 7), ("b", 7)]
    assert f._callbacks == []


def test_future_callback_added_after_the_end_runs_at_once():
    f = Future()
    f.set_exception(ValueError("x"))
    seen = []
    f.add_done_callback(lambda fut: seen.append(fut.exception()))
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


# --- Task -------------------------------------------------------------------------


def test_task_starts_on_the_loop_and_resumes_with_the_awaited_value(rt):
    fut = Future()
    steps = []

    async def handler():
        steps.append("started")
        value = await fut
        steps.append(("got", value))
        return value + 1

    task = Task(rt, handler(), None, "t")
    assert steps == []  # nothing runs until the loop gets to it
    run_ready(rt)
    assert steps == ["started"] and not task.future.done()
    fut.set_result(41)
    assert steps == ["started"]  # resumed by the loop, not inside set_result
    run_ready(rt)
    assert steps == ["started", ("got", 41)]
    assert task.future.result() == 42


def test_task_sees_the_awaited_exception_and_can_handle_it(rt):
    fut = Future()

    async def handler():
        try:
            await fut
        except KeyError as exc:
            return f"handled {exc.args[0]}"

    task = Task(rt, handler(), None, "t")
    run_ready(rt)
    fut.set_exception(KeyError("k"))
    run_ready(rt)
    assert task.future.result() == "handled k"
    assert rt.metrics.handler_errors["task"] == 0


def test_a_failing_task_is_counted_and_ends_with_the_error(rt):
    async def handler():
        raise RuntimeError("boom")

    task = Task(rt, handler(), None, "t")
    run_ready(rt)
    assert isinstance(task.future.exception(), RuntimeError)
    assert rt.metrics.handler_errors["task"] == 1


def test_a_task_may_await_only_bus_futures(rt):
    class NotAFuture:
        def __await__(self):
            yield "something else"

    async def handler():
        await NotAFuture()

    task = Task(rt, handler(), None, "t")
    fn, args = rt._ready.popleft()
    with pytest.raises(TypeError, match="only bus futures"):
        fn(*args)
    assert task.coro.cr_frame is None  # the coroutine was closed


def test_a_task_runs_under_its_trace_id_and_restores_the_old_one(rt):
    seen = []

    async def handler():
        seen.append(logs.trace.trace_id)

    logs.trace.trace_id = "outer"
    try:
        Task(rt, handler(), "abc123", "t")
        run_ready(rt)
        assert seen == ["abc123"]
        assert logs.trace.trace_id == "outer"
    finally:
        logs.trace.trace_id = None


def test_a_cancelled_task_stops_where_it_waits_and_ignores_what_it_awaited(rt):
    fut = Future()
    steps = []

    async def handler():
        try:
            steps.append("started")
            await fut
            steps.append("resumed")
        finally:
            steps.append("finally")

    task = Task(rt, handler(), None, "t")
    run_ready(rt)
    task.cancel()
    assert steps == ["started", "finally"]
    assert isinstance(task.future.exception(), Cancelled)
    fut.set_result(1)  # what it waited for ends after all
    run_ready(rt)
    assert steps == ["started", "finally"] and rt.metrics.handler_errors["task"] == 0
    task.cancel()  # again: nothing more happens


def test_a_task_cancelled_before_it_ran_never_runs_and_a_finished_one_keeps_its_result(rt):
    ran = []

    async def handler():
        ran.append(1)
        return "done"

    never = Task(rt, handler(), None, "never")
    never.cancel()
    finished = Task(rt, handler(), None, "finished")
    run_ready(rt)
    assert ran == [1] and isinstance(never.future.exception(), Cancelled)
    finished.cancel()
    assert finished.future.result() == "done" and not finished.cancelled


def test_replace_routes_the_name_to_the_new_actor_and_drops_replies_to_the_old(rt, clock):
    old = rt.add(Echo("echo"))
    fut = old.request("elsewhere", Ping(1), timeout_s=1.0, retries=0)
    rt._flush_out()
    req_id = unpack_header(rt.link.outbox[0][1]).id
    new = rt.replace(Echo("echo"))
    assert new.runtime is rt and rt.actor_names().count("echo") == 1
    client = rt.add(Client("client"))
    answer = client.request("echo", Ping(7))
    rt.run_once(0.0)
    rt.run_once(0.0)
    assert answer.result() == Pong(7, "echo", 1) and (old.served, new.served) == (0, 1)
    rt._deliver(b"echo", b"elsewhere", pack_header("demo.Pong", 9, req_id, False, "elsewhere",
                                                   "00-" + "a" * 32 + "-" + "b" * 16 + "-01", 0.0),
                pack_body(Pong(1, "elsewhere", 1)))
    assert rt.metrics.late_replies == 1 and not fut.done()
    with pytest.raises(AssertionError, match="no actor"):
        rt.replace(Echo("nobody"))


def test_sleep_in_an_async_handler_follows_the_manual_clock(rt, clock):
    actor = rt.add(Client("sleeper"))
    woke = []

    async def nap():
        await actor.sleep(5.0)
        woke.append(clock.monotonic())
        return "rested"

    task = actor.spawn(nap())
    run_ready(rt)
    tick(rt, clock, 4.5)
    assert woke == [] and not task.future.done()
    tick(rt, clock, 0.5)
    assert woke == [1005.0]
    assert task.future.result() == "rested"


# --- Timers -----------------------------------------------------------------------


def test_timers_fire_in_deadline_order_ties_in_scheduling_order(rt, clock):
    fired = []
    rt.call_later(3.0, fired.append, "c")
    rt.call_later(1.0, fired.append, "a1")
    rt.call_later(2.0, fired.append, "b")
    rt.call_later(1.0, fired.append, "a2")
    rt.call_later(1.0, fired.append, "a3")
    rt._run_timers()
    assert fired == []
    clock.advance(3.0)
    rt._run_timers()
    assert fired == ["a1", "a2", "a3", "b", "c"]


def test_a_timer_does_not_fire_before_its_deadline(rt, clock):
    fired = []
    rt.call_later(1.0, fired.append, "x")
    clock.advance(0.875)
    rt._run_timers()
    assert fired == []
    clock.advance(0.125)
    rt._run_timers()
    assert fired == ["x"]
    clock.advance(10.0)
    rt._run_timers()
    assert fired == ["x"]  # a one-shot fires once


def test_a_timer_passes_its_arguments(rt, clock):
    got = []
    rt.call_later(0.5, lambda *a: got.append(a), 1, "two", None)
    tick(rt, clock, 0.5)
    assert got == [(1, "two", None)]


def test_a_negative_delay_means_now(rt):
    fired = []
    timer = rt.call_later(-5.0, fired.append, "x")
    assert timer.deadline == 1000.0
    rt._run_timers()
    assert fired == ["x"]


def test_a_cancelled_timer_never_fires(rt, clock):
    fired = []
    keep = rt.call_later(1.0, fired.append, "keep")
    drop = rt.call_later(1.0, fired.append, "drop")
    drop.cancel()
    tick(rt, clock, 2.0)
    assert fired == ["keep"]
    assert keep.cancelled is False and drop.cancelled is True


def test_a_repeating_timer_fires_every_interval(rt, clock):
    times = []
    rt.call_every(1.0, lambda: times.append(clock.monotonic()))
    tick(rt, clock, 0.5)
    assert times == []
    for _ in range(5):
        tick(rt, clock, 0.5)
        tick(rt, clock, 0.5)
    assert times == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0]


def test_a_repeating_timer_stops_when_cancelled_even_from_its_own_callback(rt, clock):
    count = []
    timer = rt.call_every(0.25, lambda: (count.append(1), len(count) == 3 and timer.cancel()))
    for _ in range(10):
        tick(rt, clock, 0.25)
    assert len(count) == 3
    assert rt._timers == []  # cancelled timers leave the heap when their turn comes


def test_repeating_and_one_shot_timers_interleave(rt, clock):
    fired = []
    rt.call_every(1.0, fired.append, "every")
    rt.call_later(1.5, fired.append, "once")
    for _ in range(6):
        tick(rt, clock, 0.5)
    assert fired == ["every", "once", "every", "every"]


def test_call_every_needs_a_positive_interval(rt):
    with pytest.raises(AssertionError):
        rt.call_every(0, lambda: None)


def test_a_stalled_repeating_timer_does_not_burst_to_catch_up(rt, clock):
    fired = []
    rt.call_every(1.0, lambda: fired.append(clock.monotonic()))
    clock.advance(10.0)  # ten intervals missed
    rt._run_timers()
    assert 1 <= len(fired) < 10
    n = len(fired)
    tick(rt, clock, 0.5)
    assert len(fired) == n
    tick(rt, clock, 0.5)  # the rhythm restarts from the stall
    assert fired[n:] == [1011.0]


def test_a_stalled_repeating_timer_fires_once_not_twice(rt, clock):
    fired = []
    rt.call_every(1.0, lambda: fired.append(clock.monotonic()))
    clock.advance(10.0)
    rt._run_timers()
    assert fired == [1010.0]


def test_a_failing_timer_callback_is_counted_and_the_others_still_run(rt, clock):
    fired = []

    def boom():
        raise RuntimeError("timer failed")

    rt.call_later(1.0, boom)
    rt.call_later(1.0, fired.append, "after")
    every = rt.call_every(1.0, boom)
    tick(rt, clock, 1.0)
    assert fired == ["after"]
    assert rt.metrics.handler_errors["timer"] == 2
    tick(rt, clock, 1.0)
    assert rt.metrics.handler_errors["timer"] == 3  # a failing repeat keeps its schedule
    every.cancel()


def test_an_assertion_in_a_timer_stops_the_loop(rt, clock):
    def broken():
        raise AssertionError("broken rule")

    rt.call_later(1.0, broken)
    clock.advance(1.0)
    with pytest.raises(AssertionError, match="broken rule"):
        rt._run_timers()


# --- Local delivery and requests, without a socket --------------------------------


def test_run_once_without_sockets_delivers_locally_and_answers_requests(rt, clock):
    rt.add(Echo("echo"))
    client = rt.add(Client("client"))
    fut = client.request("echo", Ping(7))
    assert len(rt._local) == 1 and not fut.done()
    rt.run_once(0.0)  # Echo handles the Ping, its Pong is queued locally
    rt.run_once(0.0)  # the Pong resolves the request
    assert fut.result() == Pong(7, "echo", 1)
    assert rt.metrics.sent["demo.Ping"] == 1 and rt.metrics.received["demo.Pong"] == 1
    assert rt.metrics.handler_seconds["demo.Ping"].counts[0] == 1  # a manual clock measures 0 s
    assert rt._pending == {}


def test_a_failing_handler_answers_with_an_error(rt):
    rt.add(Echo("echo"))
    client = rt.add(Client("client"))
    fut = client.request("echo", Ping(-1))
    rt.run_once(0.0)
    rt.run_once(0.0)
    with pytest.raises(RemoteError) as info:
        fut.result()
    assert info.value.code == "handler_failed" and "negative seq" in str(info.value)
    assert info.value.message == "ValueError: negative seq", "the receiver's words, without the code"
    assert rt.metrics.handler_errors["demo.Ping"] == 1


def test_a_request_that_gets_no_reply_is_retried_then_indeterminate(rt, clock):
    client = rt.add(Client("client"))
    fut = client.request("elsewhere", Ping(1), timeout_s=1.0, retries=1)
    rt._flush_out()  # what the end of a loop turn does
    outbox = rt.link.outbox  # not registered with a broker: sends wait here
    assert len(outbox) == 1
    dst, header_b, body_b = outbox[0]
    header = unpack_header(header_b)
    assert dst == b"elsewhere" and header.wants_reply and header.kind == "demo.Ping"
    assert unpack_body(header, body_b, 1 << 20) == Ping(1)
    tick(rt, clock, 0.875)
    assert len(outbox) == 1 and not fut.done()
    tick(rt, clock, 0.125)
    assert len(outbox) == 2
    retry = unpack_header(outbox[1][1])
    assert retry.id == header.id and retry.traceparent == header.traceparent
    tick(rt, clock, 1.0)
    with pytest.raises(Indeterminate, match="2 attempt"):
        fut.result()
    assert rt.metrics.requests_timed_out == 1
    assert len(outbox) == 2


def test_a_late_reply_is_counted_not_delivered(rt, clock):
    client = rt.add(Client("client"))
    fut = client.request("elsewhere", Ping(1), timeout_s=1.0, retries=0)
    rt._flush_out()
    req_id = unpack_header(rt.link.outbox[0][1]).id
    tick(rt, clock, 1.0)
    assert isinstance(fut.exception(), Indeterminate)
    rt._deliver(b"client", b"elsewhere", pack_header("demo.Pong", 9, req_id, False, "elsewhere", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", 0.0),
                pack_body(Pong(1, "elsewhere", 1)))
    assert rt.metrics.late_replies == 1


class Keeper(Actor):
    """Keeps what it is handed, and the envelope it came in."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[tuple[object, object]] = []

    @handles(Ping)
    def on_ping(self, msg: Ping, env) -> None:
        self.got.append((msg, env))


def test_a_message_to_an_actor_of_this_process_is_handed_over_as_itself_not_encoded(rt):
    keeper = rt.add(Keeper("keeper"))
    client = rt.add(Client("client"))
    sent = Ping(3)
    msg_id = client.send("keeper", sent)
    rt.run_once(0.0)
    [(got, env)] = keeper.got
    assert got is sent  # no encoding on the way
    assert (env.sender, env.identity, env.header.kind, env.header.id) == ("client", rt.identity.decode(),
                                                                           "demo.Ping", msg_id)
    assert rt.metrics.sent["demo.Ping"] == 1 and rt.metrics.received["demo.Ping"] == 1
    assert rt.metrics.sent_bytes["demo.Ping"] == 0  # local bytes are not counted


def test_with_a_fault_rule_active_a_local_message_takes_the_encoded_path_and_the_fault_applies(rt, clock):
    keeper = rt.add(Keeper("keeper"))
    client = rt.add(Client("client"))
    rt.set_faults([FaultRule(action="drop", kind="demo.Ping")], seed=1)
    client.send("keeper", Ping(1))
    rt.run_once(0.0)
    assert keeper.got == [] and rt.metrics.faults_applied["drop"] == 1
    rt.set_faults([FaultRule(action="delay", kind="demo.Ping", delay_s=1.0, direction="send")], seed=1)
    sent = Ping(2)
    client.send("keeper", sent)
    rt.run_once(0.0)
    assert keeper.got == []  # held for its delay
    tick(rt, clock, 1.0)
    rt.run_once(0.0)
    [(got, _)] = keeper.got
    assert got == sent and got is not sent  # decoded from its encoding, as between processes


def test_fault_delay_is_applied_by_the_runtime_on_the_manual_clock(rt, clock):
    client = rt.add(Client("client"))
    rt.set_faults([FaultRule(action="delay", kind="demo.Ping", delay_s=2.0)], seed=1)
    client.send("elsewhere", Ping(1))
    client.send("elsewhere", Pong(1, "x", 1))
    rt._flush_out()
    assert [unpack_header(h).kind for _, h, _ in rt.link.outbox] == ["demo.Pong"]
    tick(rt, clock, 1.875)
    assert len(rt.link.outbox) == 1
    tick(rt, clock, 0.125)
    assert [unpack_header(h).kind for _, h, _ in rt.link.outbox] == ["demo.Pong", "demo.Ping"]
    assert rt.metrics.faults_applied["delay"] == 1


def _set_faults_via_bus(rt: Runtime, rules: list) -> object:
    """Deliver a SetFaults to this process's bus actor from a remote 'chaos'; return its reply."""
    header = pack_header("bus.SetFaults", 5, 0, True, "chaos", "00-" + "1" * 32 + "-" + "2" * 16 + "-01", 0.0)
    rt._deliver(b"proc.bus", b"chaos", header, pack_body(SetFaults(rules, 3)))
    rt._flush_out()
    dst, reply_h, reply_b = rt.link.outbox.pop()
    assert dst == b"chaos"
    h = unpack_header(reply_h)
    assert h.reply_to == 5
    return unpack_body(h, reply_b, 1 << 20)


def test_set_faults_over_the_bus_installs_rules_and_answers_with_them(rt):
    reply = _set_faults_via_bus(rt, [{"action": "drop", "kind": "demo.*"}])
    assert isinstance(reply, FaultsState)
    assert reply.rules == [FaultRule(action="drop", kind="demo.*").to_dict()]
    assert rt.faults.active
    rt.add(Client("client")).send("elsewhere", Ping(1))
    rt._flush_out()
    assert len(rt.link.outbox) == 0


def test_set_faults_with_a_bad_rule_is_answered_bad_request(rt):
    reply = _set_faults_via_bus(rt, [{"action": "explode"}])
    assert isinstance(reply, Error) and reply.code == "bad_request"
    assert "rule.action" in reply.message
    assert not rt.faults.active


def test_set_faults_with_a_string_probability_is_refused(rt):
    reply = _set_faults_via_bus(rt, [{"action": "drop", "probability": "0.5"}])
    assert isinstance(reply, Error) and reply.code == "bad_request"  # today: FaultsState, rule installed
    rt.add(Client("client")).send("elsewhere", Ping(1))  # today this would raise TypeError


def test_set_faults_with_a_non_numeric_probability_is_answered_bad_request(rt):
    reply = _set_faults_via_bus(rt, [{"action": "drop", "probability": "abc"}])
    assert isinstance(reply, Error) and reply.code == "bad_request"


# --- Metrics --------------------------------------------------------------------------


def test_histogram_counts_values_into_le_buckets():
    h = Histogram((0.1, 0.5, 1.0))
    for v in (0.05, 0.1, 0.3, 0.5, 1.0, 5.0, 0.0):
        h.observe(v)
    assert h.counts == [3, 2, 1, 1]  # a value equal to a bound counts in that bound's bucket
    assert h.sum == pytest.approx(6.95)
    assert h.cumulative() == [("0.1", 3), ("0.5", 5), ("1.0", 6), ("+Inf", 7)]


def test_histogram_default_buckets_are_the_handler_buckets():
    h = Histogram()
    assert h.bounds == HANDLER_BUCKETS and len(h.counts) == len(HANDLER_BUCKETS) + 1
    h.observe(0.0003)
    assert h.counts[HANDLER_BUCKETS.index(0.0005)] == 1 and sum(h.counts) == 1
    assert h.cumulative()[-1] == ("+Inf", 1)


def test_handler_histogram_is_made_once_per_kind():
    m = BusMetrics("p")
    assert m.handler_histogram("demo.Ping") is m.handler_histogram("demo.Ping")
    assert m.handler_histogram("demo.Pong") is not m.handler_histogram("demo.Ping")


def _scrape(metrics: BusMetrics) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(BusCollector(metrics))
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_bus_collector_exposes_every_metric_under_its_name():
    registry = CollectorRegistry()
    registry.register(BusCollector(BusMetrics("p")))
    text = generate_latest(registry).decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names == {
        "kubesim_bus_messages_sent_total",
        "kubesim_bus_sent_bytes_total",
        "kubesim_bus_messages_received_total",
        "kubesim_bus_received_bytes_total",
        "kubesim_bus_rejected_frames_total",
        "kubesim_bus_handler_errors_total",
        "kubesim_bus_outbound_dropped_total",
        "kubesim_bus_undeliverable_total",
        "kubesim_bus_fault_actions_total",
        "kubesim_bus_requests_timed_out_total",
        "kubesim_bus_requests_undeliverable_total",
        "kubesim_bus_late_replies_total",
        "kubesim_bus_batches_sent_total",
        "kubesim_bus_batched_messages_total",
        "kubesim_bus_relayed_messages_total",
        "kubesim_bus_relayed_bytes_total",
        "kubesim_bus_peer_deaths_total",
        "kubesim_bus_registrations_total",
        "kubesim_bus_reregistrations_total",
        "kubesim_bus_peers_alive",
        "kubesim_bus_outbox_depth",
        "kubesim_bus_handler_duration_seconds",
    }
    assert "# TYPE kubesim_bus_peers_alive gauge" in text
    assert "# TYPE kubesim_bus_handler_duration_seconds histogram" in text


def test_every_reason_a_frame_is_rejected_for_starts_at_zero_in_every_process():
    """The reasons in REJECT_REASONS are the ones the code rejects with: a new reason must be listed there."""
    used = set()
    for path in (ROOT / "bus").rglob("*.py"):
        used |= set(re.findall(r'Rejected\(\s*"([a-z_]+)"', path.read_text()))
    assert used and used <= set(REJECT_REASONS), used - set(REJECT_REASONS)
    s = _scrape(BusMetrics("p"))
    assert all(s[("kubesim_bus_rejected_frames_total", (("reason", r),))] == 0 for r in REJECT_REASONS)
    assert s[("kubesim_bus_handler_errors_total", (("kind", "timer"),))] == 0


def test_an_added_actors_kinds_start_at_zero_handler_errors(rt):
    rt.add(Echo("echo"))
    assert rt.metrics.handler_errors["demo.Ping"] == 0
    assert "demo.Pong" not in rt.metrics.handler_errors  # Echo handles Pings only


def test_bus_collector_reports_the_current_values():
    m = BusMetrics("p")
    m.sent["demo.Ping"] += 3
    m.sent["demo.Pong"] += 1
    m.sent_bytes["demo.Ping"] += 120
    m.received["demo.Pong"] += 2
    m.rejected["bad_body"] += 4
    m.undeliverable["unknown_dst"] += 1
    m.dropped_outbound["outbox_full"] += 6
    m.faults_applied = {"drop": 2, "delay": 0}
    m.requests_timed_out = 5
    m.peer_deaths = 1
    m.peers_alive = lambda: 3
    m.outbox_depth = lambda: 9
    h = m.handler_histogram("demo.Ping")
    h.observe(0.0003)
    h.observe(3.0)
    s = _scrape(m)
    assert s[("kubesim_bus_messages_sent_total", (("kind", "demo.Ping"),))] == 3
    assert s[("kubesim_bus_messages_sent_total", (("kind", "demo.Pong"),))] == 1
    assert s[("kubesim_bus_sent_bytes_total", (("kind", "demo.Ping"),))] == 120
    assert s[("kubesim_bus_messages_received_total", (("kind", "demo.Pong"),))] == 2
    assert s[("kubesim_bus_rejected_frames_total", (("reason", "bad_body"),))] == 4
    assert s[("kubesim_bus_undeliverable_total", (("reason", "unknown_dst"),))] == 1
    assert s[("kubesim_bus_outbound_dropped_total", (("reason", "outbox_full"),))] == 6
    assert s[("kubesim_bus_fault_actions_total", (("action", "drop"),))] == 2
    assert s[("kubesim_bus_requests_timed_out_total", ())] == 5
    assert s[("kubesim_bus_peer_deaths_total", ())] == 1
    assert s[("kubesim_bus_late_replies_total", ())] == 0
    assert s[("kubesim_bus_peers_alive", ())] == 3
    assert s[("kubesim_bus_outbox_depth", ())] == 9
    bucket = "kubesim_bus_handler_duration_seconds_bucket"
    assert s[(bucket, (("kind", "demo.Ping"), ("le", "0.00025")))] == 0
    assert s[(bucket, (("kind", "demo.Ping"), ("le", "0.0005")))] == 1
    assert s[(bucket, (("kind", "demo.Ping"), ("le", "2.5")))] == 1
    assert s[(bucket, (("kind", "demo.Ping"), ("le", "+Inf")))] == 2
    assert s[("kubesim_bus_handler_duration_seconds_count", (("kind", "demo.Ping"),))] == 2
    assert s[("kubesim_bus_handler_duration_seconds_sum", (("kind", "demo.Ping"),))] == pytest.approx(3.0003)


def test_bus_collector_reads_metrics_at_scrape_time():
    m = BusMetrics("p")
    registry = CollectorRegistry()
    registry.register(BusCollector(m))
    assert registry.get_sample_value("kubesim_bus_relayed_messages_total") == 0
    m.relayed += 11
    assert registry.get_sample_value("kubesim_bus_relayed_messages_total") == 11
