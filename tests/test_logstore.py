"""The log collector's store (actors.logcollector.store), on files in tmp_path with time passed in by hand.

Covers: lines numbered in arrival order; queries by component (process, component type, actor or actor
suffix), by pod / namespace / container / attempt, by trace id prefix, by minimum level (container lines left
out), by text in the message or the fields, since, limit (the newest N, oldest first) and after_seq (a
follower's next page: the oldest N after it); a resent batch taken once per shipper (and counted); retention by
bytes (oldest segments and their files go) and by age (``expire``); a restart on the same directory (same lines
and seqs, numbering goes on, a resent batch is still refused, a half-written last line is skipped and counted);
``check_entry`` naming the field that is wrong; ``latest_attempt`` and ``containers_of``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.logcollector.store import BadEntry, LogStore, Query, check_entry
from bus.logship import ENTRY_FIELDS, component_entry, container_entry

T0 = 1_767_225_600.0


def line(t: float, source: str, message: str, *, process: str = "", component: str = "", level: str = "info",
         trace: str = "", **fields) -> list:
    """A component's line, as a process's shipper makes it (``source`` is the logger: the actor's name)."""
    process = process or source.split(".")[0]
    event = {"event": message, "level": level, "component": source, **fields}
    if trace:
        event["trace_id"] = trace
    return component_entry(event, t, process, component or process.rstrip("-0123456789"))


def out(t: float, pod: str = "web-1", container: str = "app", *, namespace: str = "demo", attempt: int = 0,
        text: str = "hello", stream: str = "stdout") -> list:
    """A line a container wrote, shipped by its node."""
    return container_entry(t, "node-1", "node", namespace, pod, container, attempt, stream, text)


def open_store(directory: Path, *, max_bytes: int = 1 << 20, max_age_s: float = 3600.0,
               now: float = T0) -> LogStore:
    return LogStore(directory, max_bytes=max_bytes, max_age_s=max_age_s, now=now)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "logs")
    yield s
    s.close()


def messages(store: LogStore, **query) -> list[str]:
    return [e[6] for _, e in store.query(Query(**query))]


def seqs(store: LogStore, **query) -> list[int]:
    return [seq for seq, _ in store.query(Query(**query))]


# --- taking lines, and the filters ----------------------------------------------------------------------


def test_lines_are_numbered_in_arrival_order_and_come_back_oldest_first(store):
    assert store.append("sched@1", 1, [line(T0, "scheduler-0.scheduler", "a"), line(T0 + 1, "x-0.y", "b")])
    assert store.append("node@2", 1, [out(T0 + 2, text="c")])
    assert store.query(Query()) == [(1, line(T0, "scheduler-0.scheduler", "a")), (2, line(T0 + 1, "x-0.y", "b")),
                                    (3, out(T0 + 2, text="c"))]
    assert store.last_seq == 3
    assert (store.stats.lines, store.stats.segments) == (3, 1)


@pytest.fixture
def components(store):
    store.append("s", 1, [
        line(T0, "scheduler-0.scheduler", "sched", component="scheduler"),
        line(T0, "node-1.kubelet", "kubelet 1", component="node"),
        line(T0, "node-2.kubelet", "kubelet 2", component="node"),
        line(T0, "node-1.runtime", "runtime 1", component="node"),
        out(T0, text="container of node-1"),
    ])
    return store


@pytest.mark.parametrize("component, expected", [
    ("kubelet", ["kubelet 1", "kubelet 2"]),            # an actor, on every node
    ("node-1.kubelet", ["kubelet 1"]),                   # one actor
    ("node-1", ["kubelet 1", "runtime 1"]),              # a process: its components' lines, not its containers'
    ("node", ["kubelet 1", "kubelet 2", "runtime 1"]),   # a component type
    ("scheduler", ["sched"]),
    ("kube", []),                                        # no partial names
    ("node-1.kube", []),
])
def test_component_names_a_process_a_component_type_or_an_actor(components, component, expected):
    assert messages(components, component=component) == expected


def test_pod_namespace_container_and_attempt_select_container_lines(store):
    store.append("n", 1, [
        out(T0, text="app 0"),
        out(T0, attempt=1, text="app 1"),
        out(T0, container="sidecar", text="sidecar"),
        out(T0, namespace="other", text="other ns"),
        out(T0, pod="web-2", text="web-2"),
        line(T0, "node-1.kubelet", "kubelet", pod="web-1"),  # a component's line about the pod is not the pod's
    ])
    assert messages(store, namespace="demo", pod="web-1") == ["app 0", "app 1", "sidecar"]
    assert messages(store, pod="web-1") == ["app 0", "app 1", "sidecar", "other ns"]
    assert messages(store, namespace="demo") == ["app 0", "app 1", "sidecar", "web-2"]
    assert messages(store, namespace="demo", pod="web-1", container="sidecar") == ["sidecar"]
    assert messages(store, namespace="demo", pod="web-1", container="app", attempt=1) == ["app 1"]
    assert messages(store, namespace="demo", pod="nope") == []


def test_trace_id_matches_by_prefix(store):
    store.append("s", 1, [line(T0, "a-0.a", "one", trace="4bf92f3577b34da6a3ce929d0e0e4736"),
                          line(T0, "b-0.b", "two", trace="4bf92f3577b34da6a3ce929d0e0e4736"),
                          line(T0, "c-0.c", "other", trace="00f067aa0ba902b7a3ce929d0e0e4736"),
                          line(T0, "d-0.d", "none")])
    assert messages(store, trace_id="4bf92f35") == ["one", "two"]
    assert messages(store, trace_id="4bf92f3577b34da6a3ce929d0e0e4736") == ["one", "two"]
    assert messages(store, trace_id="4bf92f36") == []


def test_level_is_a_minimum_and_leaves_container_lines_out(store):
    store.append("s", 1, [line(T0, "a-0.a", f"at {level}", level=level) for level in ("debug", "info", "warning",
                                                                                        "error")]
                 + [out(T0, text="a container's stderr", stream="stderr")])
    assert messages(store, level="warning") == ["at warning", "at error"]
    assert messages(store, level="debug") == ["at debug", "at info", "at warning", "at error"]
    assert messages(store, level="error") == ["at error"]
    assert "a container's stderr" in messages(store)


def test_a_critical_line_is_at_least_as_severe_as_an_error(store):
    # A regression test: LEVELS once had no "critical" (structlog's log.critical()), and Query.matches ranks a
    # level it does not know as info.
    store.append("s", 1, [line(T0, "store-0.member", "store member cannot go on", level="critical")])
    assert messages(store, level="error") == ["store member cannot go on"]


def test_grep_looks_in_the_message_and_the_field_values(store):
    store.append("s", 1, [line(T0, "a-0.a", "pod bound", pod="demo/web-1", node="node-3"),
                          line(T0, "a-0.a", "nothing here", attempts=3),
                          out(T0, text="GET /healthz node-3 200")])
    assert messages(store, grep="node-3") == ["pod bound", "GET /healthz node-3 200"]
    assert messages(store, grep="bound") == ["pod bound"]
    assert messages(store, grep="3") == ["pod bound", "nothing here", "GET /healthz node-3 200"]
    assert messages(store, grep="Node-3") == [], "case matters"


def test_since_keeps_lines_at_or_after_it(store):
    store.append("s", 1, [line(T0 + i, "a-0.a", f"at {i}") for i in range(5)])
    assert messages(store, since=T0 + 3) == ["at 3", "at 4"]
    assert messages(store, since=T0 + 10) == []


def test_limit_gives_the_newest_lines_oldest_first(store):
    store.append("s", 1, [line(T0, "a-0.a", f"n{i}") for i in range(1, 11)])
    assert seqs(store, limit=3) == [8, 9, 10]
    assert messages(store, limit=3) == ["n8", "n9", "n10"]
    assert seqs(store, component="a", grep="1", limit=1) == [10]  # the newest that matches


def test_after_seq_pages_a_follower_through_the_oldest_lines_it_has_not_seen(store):
    store.append("s", 1, [line(T0, "a-0.a" if i % 2 else "b-0.b", f"n{i}") for i in range(1, 11)])
    assert seqs(store, after_seq=3, limit=2) == [4, 5]
    assert seqs(store, after_seq=5, limit=100) == [6, 7, 8, 9, 10]
    assert seqs(store, after_seq=2, limit=2, component="a") == [3, 5]
    assert seqs(store, after_seq=10) == []
    assert seqs(store, after_seq=99) == []


# --- at least once ------------------------------------------------------------------------------------


def test_a_batch_sent_again_by_the_same_shipper_is_taken_once_and_counted(store):
    assert store.append("node-1@40-1", 1, [out(T0, text="first")], dropped=2)
    assert not store.append("node-1@40-1", 1, [out(T0, text="first")], dropped=2)
    assert not store.append("node-1@40-1", 0, [out(T0, text="older")])
    assert (store.stats.duplicates, store.stats.lines, store.stats.dropped_by_shippers) == (2, 1, 2)
    assert store.append("node-1@40-1", 2, [out(T0, text="second")])
    assert messages(store) == ["first", "second"]


def test_another_shipper_with_the_same_batch_number_is_not_a_resend(store):
    assert store.append("node-1@40-1", 1, [out(T0, text="before the restart")])
    assert store.append("node-1@41-2", 1, [out(T0, text="after the restart")])  # the process's next run
    assert store.stats.duplicates == 0
    assert messages(store) == ["before the restart", "after the restart"]


# --- retention ----------------------------------------------------------------------------------------


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("seg-*.jsonl"))


def test_the_oldest_segments_go_to_keep_the_bytes_within_max_bytes(tmp_path):
    directory = tmp_path / "logs"
    store = open_store(directory, max_bytes=256 * 1024)  # segments of 64 KiB
    total = 600
    for batch in range(1, total + 1):
        store.append("n", batch, [out(T0 + batch, text=f"line {batch} " + "x" * 900)])
        assert store.stats.bytes <= store.max_bytes, f"after batch {batch}"
    files = segment_files(directory)
    assert store.stats.evicted_lines > 0
    assert store.stats.lines + store.stats.evicted_lines == total
    assert len(files) == store.stats.segments > 1
    assert sum(f.stat().st_size for f in files) == store.stats.bytes, "evicted segments' files are deleted"
    assert not (directory / "seg-000000000001.jsonl").exists()
    kept = seqs(store, limit=10_000)
    assert kept == list(range(total - store.stats.lines + 1, total + 1)), "the newest lines are kept, in order"
    store.close()


def test_expire_drops_segments_whose_newest_line_is_older_than_max_age(tmp_path):
    directory = tmp_path / "logs"
    store = open_store(directory, max_age_s=60.0)
    big = with_field("message", "old " + "x" * 70_000)  # more than a segment: the next batch starts another
    store.append("n", 1, [big])
    store.append("n", 2, [out(T0 + 100, text="new")])
    assert store.stats.segments == 2
    store.expire(T0 + 150)  # the old segment's newest line is 150 s old, the new one's 50 s
    assert messages(store) == ["new"]
    assert (store.stats.segments, store.stats.evicted_lines) == (1, 1)
    assert [f.name for f in segment_files(directory)] == ["seg-000000000002.jsonl"]
    store.expire(T0 + 150)
    assert messages(store) == ["new"], "nothing more is old enough"
    store.expire(T0 + 1000)
    assert messages(store) == [] and store.stats.segments == 0 and segment_files(directory) == []
    assert store.append("n", 3, [out(T0 + 1000, text="later")]), "a store emptied by age takes lines again"
    assert seqs(store) == [3]
    store.close()


# --- restarts -----------------------------------------------------------------------------------------


def test_a_new_store_on_the_same_directory_has_the_same_lines_and_goes_on_numbering(tmp_path):
    directory = tmp_path / "logs"
    first = open_store(directory)
    first.append("node-1@40-1", 1, [out(T0, text="a"), out(T0 + 1, text="b")], dropped=5)
    first.append("sched@41-1", 1, [line(T0 + 2, "scheduler-0.scheduler", "c", pod="demo/web-1")])
    before = first.query(Query())
    first.close()

    second = open_store(directory)
    assert second.query(Query()) == before
    assert second.last_seq == 3
    assert (second.stats.lines, second.stats.dropped_by_shippers) == (3, 5)
    assert not second.append("node-1@40-1", 1, [out(T0, text="a"), out(T0 + 1, text="b")]), "still a resend"
    assert second.stats.duplicates == 1
    assert second.append("node-1@40-1", 2, [out(T0 + 3, text="d")])
    assert seqs(second) == [1, 2, 3, 4]
    second.close()

    third = open_store(directory)
    assert messages(third) == ["a", "b", "c", "d"] and third.last_seq == 4
    third.close()


def test_a_store_opened_after_max_age_keeps_nothing_too_old(tmp_path):
    directory = tmp_path / "logs"
    first = open_store(directory, max_age_s=60.0)
    first.append("n", 1, [out(T0, text="a")])
    first.close()
    second = open_store(directory, max_age_s=60.0, now=T0 + 3600)
    assert messages(second) == [] and segment_files(directory) == []
    second.close()


def test_a_half_written_last_line_is_skipped_and_counted_and_the_rest_kept(tmp_path):
    directory = tmp_path / "logs"
    first = open_store(directory)
    first.append("n", 1, [out(T0, text="a")])
    first.append("n", 2, [out(T0, text="b"), out(T0, text="c")])
    first.close()
    [segment] = segment_files(directory)
    with open(segment, "ab") as f:
        f.write(b'{"shipper":"n","batch":3,"seq":4,"dropped":0,"entries":[[1767225600.0,"node-1","no')  # a crash

    second = open_store(directory)
    assert second.stats.corrupt_records == 1
    assert messages(second) == ["a", "b", "c"] and second.last_seq == 3
    assert second.append("n", 3, [out(T0, text="d")]), "the cut batch was never taken: its resend is"
    assert seqs(second) == [1, 2, 3, 4]
    second.close()


def test_every_batch_the_store_took_survives_a_restart(tmp_path):
    # Regression (was a bug): nan and inf are floats, so check_entry passes them; orjson writes them as null, and _load's
    # check_entry then refuses null for t: the batch (up to 2000 lines of one shipper) is gone after a restart.
    # A time that is not finite should be refused at check_entry (a BadEntry naming entries[i].t).
    directory = tmp_path / "logs"
    first = open_store(directory)
    first.append("n", 1, [out(T0, text="a")])
    try:
        entry = check_entry(with_field("t", float("nan")), "entries[0]")
    except BadEntry:
        entry = None  # refused at the door: fine, nothing taken is lost
    if entry is not None:
        first.append("n", 2, [out(T0, text="b"), entry])
    taken = messages(first)
    first.close()
    second = open_store(directory)
    assert (messages(second), second.stats.corrupt_records) == (taken, 0)
    second.close()


def test_records_that_are_not_batches_are_skipped_wherever_they_are(tmp_path):
    directory = tmp_path / "logs"
    first = open_store(directory)
    first.append("n", 1, [out(T0, text="a")])
    first.close()
    [segment] = segment_files(directory)
    good = segment.read_bytes()
    bad_entry = b'{"shipper":"m","batch":1,"seq":2,"dropped":0,"entries":[["not","an","entry"]]}\n'
    segment.write_bytes(b"not json at all\n" + good + b"[1, 2, 3]\n" + bad_entry)
    second = open_store(directory)
    assert second.stats.corrupt_records == 3
    assert messages(second) == ["a"]
    second.close()


# --- entries' shape -----------------------------------------------------------------------------------


GOOD = out(T0)


def with_field(name: str, value) -> list:
    entry = list(GOOD)
    entry[ENTRY_FIELDS.index(name)] = value
    return entry


def test_entries_made_by_the_shippers_helpers_pass_the_check():
    assert check_entry(GOOD, "e") is GOOD
    entry = line(T0, "node-1.kubelet", "synced", pod="demo/web-1", took=0.25, ok=True, owner=None)
    assert check_entry(entry, "e") is entry
    assert check_entry(with_field("t", 1_767_225_600), "e"), "a whole number of seconds is a time"


@pytest.mark.parametrize("entry, message", [
    ("a line", "entries[0]: expected a list of 13 fields"),
    (GOOD[:-1], "entries[0]: expected a list of 13 fields"),
    (GOOD + [1], "entries[0]: expected a list of 13 fields"),
    (with_field("t", "2026-01-01"), "entries[0].t: expected float, got str"),
    (with_field("t", True), "entries[0].t: expected float, got bool"),
    (with_field("process", None), "entries[0].process: expected str, got NoneType"),
    (with_field("level", 20), "entries[0].level: expected str, got int"),
    (with_field("fields", [["k", "v"]]), "entries[0].fields: expected dict, got list"),
    (with_field("pod", b"web-1"), "entries[0].pod: expected str, got bytes"),
    (with_field("attempt", "0"), "entries[0].attempt: expected int, got str"),
    (with_field("attempt", 1.0), "entries[0].attempt: expected int, got float"),
    (with_field("attempt", False), "entries[0].attempt: expected int, got bool"),
])
def test_check_entry_names_the_field_that_is_wrong(entry, message):
    with pytest.raises(BadEntry) as err:
        check_entry(entry, "entries[0]")
    assert str(err.value).startswith(message)


# --- what the collector asks about a pod ----------------------------------------------------------------


def test_latest_attempt_and_containers_of_a_pod(store):
    assert store.latest_attempt("demo", "web-1", "app") == -1
    assert store.containers_of("demo", "web-1") == []
    store.append("n", 1, [out(T0, text="0"), out(T0, container="sidecar", attempt=4),
                          out(T0, attempt=1), out(T0, attempt=2), out(T0, namespace="other", attempt=7),
                          out(T0, pod="web-2", container="db", attempt=9)])
    assert store.latest_attempt("demo", "web-1", "app") == 2
    assert store.latest_attempt("demo", "web-1", "sidecar") == 4
    assert store.latest_attempt("demo", "web-1", "") == 2, "no container named: the pod's newest line"
    assert store.latest_attempt("other", "web-1", "app") == 7
    assert store.latest_attempt("demo", "web-1", "db") == -1
    assert store.containers_of("demo", "web-1") == ["app", "sidecar"]
    assert store.containers_of("demo", "web-2") == ["db"]
    assert store.containers_of("demo", "web-3") == []
