"""The log collector actor (actors.logcollector.collector), in one process on a manual clock, without sockets.

Covers: ``logs.Push`` checked before anything is stored (a bad batch number, shipper, entry or too many lines
refused whole with an Error naming what was wrong, and counted in ``rejected``), a good one acked with
``logs.Pushed`` (a resend acked again, stored once); ``logs.Query`` answered with ``logs.Entries``; bad queries
named; a query with ``wait_s`` held until a matching line arrives (and only then), or answered empty at its
deadline as the clock moves (never held longer than MAX_WAIT_S); ``previous`` picking the run before the newest
and saying clearly when there is none; a pod of several containers needing one named; the figures it exports.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from actors.logcollector.collector import MAX_PUSH_LINES, MAX_WAIT_S, LogCollector
from actors.messages import LogEntries, LogQuery
from bus.clock import ManualClock
from bus.logship import component_entry, container_entry
from bus.messages import LogPush, LogPushed
from bus.runtime import Actor, RemoteError, Runtime
from bus.settings import BusSettings
from tests.helpers import advance, pump

T0 = 1_767_225_600.0
COLLECTOR = "collector-0.collector"


def out(text: str, pod: str = "web-1", container: str = "app", *, attempt: int = 0, namespace: str = "demo",
        t: float = T0) -> list:
    return container_entry(t, "node-1", "node", namespace, pod, container, attempt, "stdout", text)


def comp(text: str, source: str = "scheduler-0.scheduler", level: str = "info", t: float = T0) -> list:
    return component_entry({"event": text, "level": level, "component": source}, t, source.split(".")[0],
                           "scheduler")


class World:
    """The collector's process: the collector and a client actor, pumped by hand; real time is ``now``."""

    def __init__(self, directory) -> None:
        self.clock = ManualClock(start=1000.0, wall_start=T0)
        self.now = T0
        self.rt = Runtime("collector-0", BusSettings(), self.clock, seed=1)
        self.registry = CollectorRegistry()
        self.collector = self.rt.add(LogCollector(COLLECTOR, directory, max_bytes=1 << 20, max_age_s=3600.0,
                                                  now=lambda: self.now, registry=self.registry))
        self.client = self.rt.add(Actor("collector-0.client"))
        self.batches = 0
        self.collector.on_start()
        pump(self.rt)

    def ask(self, msg, **kw):
        future = self.client.request(COLLECTOR, msg, timeout_s=600, **kw)
        pump(self.rt)
        return future

    def push(self, *entries: list, shipper: str = "node-1@40-1", batch: int | None = None, dropped: int = 0):
        if batch is None:
            self.batches += 1
            batch = self.batches
        future = self.ask(LogPush(shipper, batch, list(entries), dropped))
        assert future.done(), "a push is answered at once"
        return future.result()

    def query(self, **fields) -> LogEntries:
        future = self.ask(LogQuery(**fields))
        assert future.done(), "answered at once"
        return future.result()

    def refused(self, msg) -> RemoteError:
        future = self.ask(msg)
        with pytest.raises(RemoteError) as err:
            future.result()
        assert err.value.code == "bad_request"
        return err.value

    def advance(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.5)):
            advance(self.rt, self.clock, 0.5)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "logs")
    yield w
    w.collector.on_stop()
    w.rt._ctx.term()


def texts(answer: LogEntries) -> list[str]:
    return [row[7] for row in answer.entries]


# --- pushes -------------------------------------------------------------------------------------------


def test_a_good_push_is_acked_and_its_lines_can_be_queried(world):
    assert world.push(out("hello"), comp("pod bound"), batch=1) == LogPushed(1)
    answer = world.query()
    assert answer == LogEntries([[1, *out("hello")], [2, *comp("pod bound")]], 2)
    assert world.collector.received == 2


def test_a_resent_push_is_acked_again_and_stored_once(world):
    assert world.push(out("a"), batch=1) == LogPushed(1)
    assert world.push(out("a"), batch=1) == LogPushed(1)
    assert texts(world.query()) == ["a"]
    assert (world.collector.received, world.collector.store.stats.duplicates) == (1, 1)


@pytest.mark.parametrize("push, reason, text", [
    (LogPush("", 1, [out("a")]), "bad_batch", "shipper must be 1..253 characters"),
    (LogPush("n" * 254, 1, [out("a")]), "bad_batch", "shipper must be 1..253 characters"),
    (LogPush("node-1@40-1", 0, [out("a")]), "bad_batch", "batch a number from 1, got 'node-1@40-1' and 0"),
    (LogPush("node-1@40-1", "1", [out("a")]), "bad_batch", "got 'node-1@40-1' and '1'"),
    (LogPush("node-1@40-1", 1, [out("a")] * (MAX_PUSH_LINES + 1)), "too_many",
     f"{MAX_PUSH_LINES + 1} lines in one batch, at most {MAX_PUSH_LINES}"),
    (LogPush("node-1@40-1", 1, [out("fine"), out("a")[:4] + [20] + out("a")[5:]]), "bad_entry",
     "logs.Push from collector-0.client, batch 1, entries[1].level: expected str, got int"),
    (LogPush("node-1@40-1", 1, [out("fine"), "just text"]), "bad_entry", "entries[1]: expected a list of 13 fields"),
])
def test_a_bad_push_is_refused_whole_naming_what_is_wrong(world, push, reason, text):
    err = world.refused(push)
    assert text in err.message
    assert world.collector.rejected[reason] == 1
    assert sum(world.collector.rejected.values()) == 1
    assert world.query().entries == [], "nothing of a refused batch is stored"
    assert world.push(out("next"), shipper="node-1@40-1", batch=1) == LogPushed(1), "nor is its number taken"
    assert world.metric("kubesim_logcollector_rejected_total", reason=reason) == 1


@pytest.mark.parametrize("query, text", [
    (LogQuery(level="fatal"), "logs.Query: level: expected one of debug, info, warning, error"),
    (LogQuery(level="fatal"), "got 'fatal'"),
    (LogQuery(limit=0), "logs.Query: limit: expected a positive number, got 0"),
    (LogQuery(component="kubelet", previous=True), "previous: only for a pod's container"),
])
def test_a_bad_query_is_refused_naming_what_is_wrong(world, query, text):
    assert text in world.refused(query).message
    assert world.collector.rejected["bad_query"] == 1


def test_queries_filter_and_answer_with_the_newest_seq(world):
    world.push(comp("sched", level="warning"), comp("kubelet", source="node-1.kubelet"), out("from web-1"),
               out("from web-2", pod="web-2"))
    assert texts(world.query(component="kubelet")) == ["kubelet"]
    assert texts(world.query(namespace="demo", pod="web-2")) == ["from web-2"]
    assert texts(world.query(level="warning")) == ["sched"]
    assert texts(world.query(limit=2)) == ["from web-1", "from web-2"]
    answer = world.query(after_seq=1, limit=1)
    assert ([row[0] for row in answer.entries], answer.last_seq) == ([2], 4)
    assert world.query(grep="nothing like it") == LogEntries([], 4)


# --- held queries (followers) -------------------------------------------------------------------------


def test_a_query_with_wait_is_held_until_a_matching_line_arrives(world):
    world.push(out("old"))
    follow = world.ask(LogQuery(namespace="demo", pod="web-1", after_seq=1, wait_s=10.0))
    assert not follow.done() and len(world.collector.waiting) == 1
    world.push(out("another pod's", pod="web-2"))
    assert not follow.done(), "a line it does not ask for does not answer it"
    world.advance(3.0)
    assert not follow.done()
    world.push(out("new"))
    assert follow.done() and texts(follow.result()) == ["new"]
    assert follow.result().last_seq == 3
    assert world.collector.waiting == []


def test_a_query_that_finds_something_is_answered_at_once_even_with_wait(world):
    world.push(out("here"))
    assert texts(world.ask(LogQuery(pod="web-1", wait_s=10.0)).result()) == ["here"]


def test_a_held_query_is_answered_empty_at_its_deadline(world):
    world.push(out("old"))
    follow = world.ask(LogQuery(after_seq=1, wait_s=5.0))
    world.advance(4.5)
    assert not follow.done()
    world.advance(0.5)
    assert follow.done() and follow.result() == LogEntries([], 1)
    assert world.collector.waiting == []


def test_no_query_is_held_longer_than_max_wait(world):
    follow = world.ask(LogQuery(component="kubelet", wait_s=10_000.0))
    world.advance(MAX_WAIT_S - 0.5)
    assert not follow.done()
    world.advance(0.5)
    assert follow.done() and follow.result().entries == []


def test_two_followers_are_each_answered_by_their_own_lines(world):
    a = world.ask(LogQuery(pod="web-1", wait_s=10.0))
    b = world.ask(LogQuery(pod="web-2", wait_s=10.0))
    world.push(out("for b", pod="web-2"))
    assert (a.done(), b.done()) == (False, True)
    assert texts(b.result()) == ["for b"]
    world.push(out("for a"))
    assert texts(a.result()) == ["for a"]


# --- a pod's containers and runs ----------------------------------------------------------------------


def test_previous_gives_the_run_before_the_newest(world):
    world.push(out("run 0", attempt=0), out("run 1", attempt=1), out("run 2, a", attempt=2),
               out("run 2, b", attempt=2))
    assert texts(world.query(namespace="demo", pod="web-1", previous=True)) == ["run 1"]
    assert texts(world.query(namespace="demo", pod="web-1", container="app", previous=True)) == ["run 1"]
    assert texts(world.query(namespace="demo", pod="web-1")) == ["run 0", "run 1", "run 2, a", "run 2, b"]


@pytest.mark.parametrize("lines", [[], [out("first run", attempt=0)]], ids=["no lines", "one run"])
def test_previous_says_clearly_when_there_is_no_previous_run(world, lines):
    if lines:
        world.push(*lines)
    err = world.refused(LogQuery(namespace="demo", pod="web-1", previous=True))
    assert "previous terminated container of pod 'web-1' not found" in err.message


def test_a_pod_of_several_containers_needs_one_named(world):
    world.push(out("app line"), out("sidecar line", container="sidecar"), out("init line", container="init"))
    err = world.refused(LogQuery(namespace="demo", pod="web-1"))
    assert "a container name must be specified for pod web-1, choose one of: [app init sidecar]" in err.message
    assert texts(world.query(namespace="demo", pod="web-1", container="sidecar")) == ["sidecar line"]
    world.push(out("only one", pod="web-2"))
    assert texts(world.query(namespace="demo", pod="web-2")) == ["only one"], "one container: no name needed"


# --- figures ------------------------------------------------------------------------------------------


def test_its_figures_are_read_from_the_store(world):
    world.push(out("a"), out("b"), batch=1, dropped=7)
    world.push(out("a"), out("b"), batch=1, dropped=7)
    world.query()
    assert world.metric("kubesim_logcollector_lines_received_total") == 2
    assert world.metric("kubesim_logcollector_stored_lines") == 2
    assert world.metric("kubesim_logcollector_duplicate_batches_total") == 1
    assert world.metric("kubesim_logcollector_shipper_dropped_lines_total") == 7
    assert world.metric("kubesim_logcollector_queries_total") == 1
    assert world.metric("kubesim_logcollector_waiting_queries") == 0


def test_a_restarted_collector_has_the_lines_it_took(tmp_path):
    first = World(tmp_path / "logs")
    first.push(out("kept"), batch=1)
    first.collector.on_stop()
    first.rt._ctx.term()
    second = World(tmp_path / "logs")
    try:
        assert texts(second.query()) == ["kept"]
        assert second.push(out("kept"), batch=1) == LogPushed(1)
        assert second.collector.received == 0, "a resend after the restart is still known"
    finally:
        second.collector.on_stop()
        second.rt._ctx.term()
