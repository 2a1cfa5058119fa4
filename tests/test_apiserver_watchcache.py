"""The watch cache (actors.apiserver.watchcache) serves watches as Kubernetes' cacher does.

``WatchCache``: store changes become ADDED, MODIFIED and DELETED events (a
DELETED event carries the object's last state at the deletion's
resourceVersion); a resumed store watch repeating itself is ignored; the event
window is bounded, and a watch from before it gets :class:`TooOld` (the 410
"too old resource version"), while one inside it gets exactly the events
after its resourceVersion, in order.

``Filter`` / ``filtered``: namespace, label and field selectors, and the
transitions of ``cacheWatcher.convertToWatchEvent`` — an object modified into
a watcher's selector is ADDED for it, one modified out of it DELETED (with its
previous content at the event's resourceVersion).

The index (the cacher's indexers and trigger functions): the cache finds its
objects by the exact value of ``metadata.name`` (and ``spec.nodeName`` for
pods) through resets, moves and deletes; ``Filter.index_term`` says which
term a list or watch can use it for; ``candidates`` wakes a watcher pinned to
a node only for the events whose object is or was on it — and every watcher
still sees exactly what filtering every event for it would give, through the
real ``ApiServer`` too. The scale checks count filter evaluations, not time.

``Outbox``: a credit window of unacknowledged messages, batches bounded by
events and bytes, per-batch sequence numbers, acknowledgements that only move
forward, and a bound past which the watcher is cut off.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from actors.apiserver.selectors import (
    field_value,
    object_fields,
    parse_field_selector,
    parse_label_selector,
)
from actors.apiserver.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    CacheEvent,
    Filter,
    Outbox,
    TooOld,
    WatchCache,
    candidates,
    filtered,
    indexed_fields,
)

# ----------------------------------------------------------------------------- builders


def pod(name: str, rv: int, namespace: str = "default", labels: dict | None = None, node: str = "",
        phase: str = "Pending") -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": str(rv)}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


def key(name: str, namespace: str = "default") -> str:
    return f"/registry/pods/{namespace}/{name}"


def put(name: str, rv: int, size: int = 10, **kw: Any) -> tuple:
    return ("PUT", key(name, kw.get("namespace", "default")), pod(name, rv, **kw), rv, size)


def delete(name: str, rv: int) -> tuple:
    return ("DELETE", key(name), None, rv, 0)


def summary(events) -> list[tuple[str, str, int]]:
    return [(ev.type, ev.obj["metadata"]["name"], ev.rv) for ev in events]


def cache_with(capacity: int, start: int, rvs: list[int]) -> WatchCache:
    """A cache listed at ``start`` that then saw one PUT of pod ``p<rv>`` at each of ``rvs``."""
    cache = WatchCache("pods", capacity)
    cache.reset({}, start)
    cache.apply([put(f"p{rv}", rv) for rv in rvs])
    return cache


# --------------------------------------------------------------------------- WatchCache


def test_added_modified_deleted():
    cache = WatchCache("pods", 100)
    cache.reset({}, 10)
    added = cache.apply([put("a", 11, size=7)])
    modified = cache.apply([put("a", 12, size=9, labels={"v": "2"})])
    deleted = cache.apply([delete("a", 13)])

    assert [e.type for e in added + modified + deleted] == [ADDED, MODIFIED, DELETED]
    assert added[0].prev is None
    assert modified[0].prev == pod("a", 11)
    assert modified[0].obj == pod("a", 12, labels={"v": "2"})
    gone = deleted[0]
    # The last state, at the deletion's resourceVersion; the size is the last stored value's.
    assert gone.obj == pod("a", 13, labels={"v": "2"})
    assert gone.prev == pod("a", 12, labels={"v": "2"})
    assert (gone.rv, gone.size, gone.key) == (13, 9, key("a"))
    assert cache.objects == {} and cache.sizes == {}
    assert cache.revision == 13


def test_cache_holds_the_current_objects_and_sizes():
    cache = WatchCache("pods", 100)
    cache.reset({key("a"): (pod("a", 3), 5)}, 10)
    cache.apply([put("b", 11, size=6), put("a", 12, size=8), delete("b", 13)])
    assert cache.objects == {key("a"): pod("a", 12)}
    assert cache.sizes == {key("a"): 8}


def test_one_apply_returns_its_events_in_order():
    cache = WatchCache("pods", 100)
    cache.reset({}, 0)
    got = cache.apply([put("a", 1), put("b", 2), put("a", 3), delete("b", 4)])
    assert summary(got) == [(ADDED, "a", 1), (ADDED, "b", 2), (MODIFIED, "a", 3), (DELETED, "b", 4)]


STALE_CASES = [
    pytest.param([put("a", 9)], [], 10, id="below-the-list"),
    pytest.param([put("a", 10)], [], 10, id="at-the-list"),
    pytest.param([put("a", 10), put("b", 11)], [(ADDED, "b", 11)], 11, id="repeat-then-new"),
    pytest.param([delete("a", 5)], [], 10, id="old-delete"),
]


@pytest.mark.parametrize("changes, expected, revision", STALE_CASES)
def test_changes_at_or_below_the_revision_are_skipped(changes, expected, revision):
    cache = WatchCache("pods", 100)
    cache.reset({key("a"): (pod("a", 4), 10)}, 10)
    assert summary(cache.apply(changes)) == expected
    assert cache.objects[key("a")] == pod("a", 4)
    assert cache.revision == revision


def test_a_change_repeated_by_a_resumed_store_watch_is_skipped():
    cache = WatchCache("pods", 100)
    cache.reset({}, 10)
    assert summary(cache.apply([put("b", 11)])) == [(ADDED, "b", 11)]
    assert cache.apply([put("b", 11)]) == []  # the next message repeats it
    assert cache.revision == 11


def test_one_revision_changing_many_keys_reaches_the_cache_whole():
    # A txn or a range delete changes several keys at one revision; the store never splits it.
    cache = WatchCache("pods", 100)
    cache.reset({key("a"): (pod("a", 4), 10), key("b"): (pod("b", 5), 10)}, 10)
    made = cache.apply([delete("a", 12), delete("b", 12)])
    assert [(e.type, e.rv) for e in made] == [(DELETED, 12), (DELETED, 12)]
    assert cache.objects == {} and cache.revision == 12


def test_delete_of_an_unseen_key_advances_the_revision_without_an_event():
    cache = WatchCache("pods", 100)
    cache.reset({}, 10)
    assert cache.apply([delete("ghost", 11)]) == []
    assert cache.revision == 11
    assert cache.since(10) == []
    # ...and a repeat of it is skipped like any other stale change.
    assert summary(cache.apply([delete("ghost", 11), put("a", 12)])) == [(ADDED, "a", 12)]


SINCE_CASES = [
    pytest.param(10, [11, 12, 13, 14, 15], id="from-the-list"),
    pytest.param(12, [13, 14, 15], id="from-the-middle"),
    pytest.param(14, [15], id="one-behind"),
    pytest.param(15, [], id="up-to-date"),
    pytest.param(99, [], id="from-the-future"),
]


@pytest.mark.parametrize("rv, expected", SINCE_CASES)
def test_since_returns_exactly_the_events_after_rv(rv, expected):
    cache = cache_with(100, 10, [11, 12, 13, 14, 15])
    assert [ev.rv for ev in cache.since(rv)] == expected


def test_since_below_the_list_is_too_old():
    cache = cache_with(100, 10, [11, 12])
    with pytest.raises(TooOld) as caught:
        cache.since(9)
    assert (caught.value.requested, caught.value.oldest) == (9, 10)
    assert str(caught.value) == "too old resource version: 9 (10)"


WINDOW_CASES = [
    # capacity, revisions seen after a list at 10, watch from, expected revisions or TooOld's oldest
    pytest.param(3, [11, 12, 13], 10, [11, 12, 13], id="window-full-nothing-evicted"),
    pytest.param(3, [11, 12, 13, 14, 15], 12, [13, 14, 15], id="from-the-last-evicted"),
    pytest.param(3, [11, 12, 13, 14, 15], 13, [14, 15], id="inside-the-window"),
    pytest.param(3, [11, 12, 13, 14, 15], 11, 12, id="evicted-event-needed"),
    pytest.param(3, [11, 12, 13, 14, 15], 10, 12, id="from-the-list-after-eviction"),
    pytest.param(1, [11, 12], 12, [], id="capacity-1-up-to-date"),
    pytest.param(1, [11, 12], 11, [12], id="capacity-1-one-behind"),
    pytest.param(1, [11, 12], 10, 11, id="capacity-1-two-behind"),
    # Other resources' revisions leave gaps: anything from the evicted event up is still complete.
    pytest.param(2, [11, 15, 20], 11, [15, 20], id="gaps-from-evicted"),
    pytest.param(2, [11, 15, 20], 14, [15, 20], id="gaps-between"),
    pytest.param(2, [11, 15, 20], 15, [20], id="gaps-inside"),
    pytest.param(2, [11, 15, 20], 10, 11, id="gaps-too-old"),
]


@pytest.mark.parametrize("capacity, rvs, rv, expected", WINDOW_CASES)
def test_window_eviction(capacity, rvs, rv, expected):
    cache = cache_with(capacity, 10, rvs)
    assert len(cache.events) == min(capacity, len(rvs))
    if isinstance(expected, list):
        assert [ev.rv for ev in cache.since(rv)] == expected
    else:
        assert cache.oldest == expected
        with pytest.raises(TooOld) as caught:
            cache.since(rv)
        assert (caught.value.requested, caught.value.oldest) == (rv, expected)


def test_eviction_within_one_apply_moves_oldest_by_the_dropped_events():
    cache = cache_with(2, 10, [])
    cache.apply([put("a", 11), put("b", 12), put("c", 13), put("d", 14)])
    assert cache.oldest == 12
    assert [ev.rv for ev in cache.since(12)] == [13, 14]


def test_progress_moves_the_revision_but_adds_no_event():
    cache = cache_with(100, 10, [11])
    cache.progress(20)
    assert cache.revision == 20
    assert [ev.rv for ev in cache.since(10)] == [11]
    assert cache.since(20) == []
    cache.progress(15)  # never backwards
    assert cache.revision == 20
    assert cache.apply([put("late", 18)]) == []  # the store said everything up to 20 was reported


def test_reset_starts_the_window_over():
    cache = cache_with(100, 10, [11, 12])
    cache.reset({key("x"): (pod("x", 30), 4)}, 40)
    assert (cache.revision, cache.oldest, len(cache.events)) == (40, 40, 0)
    assert cache.since(40) == []
    with pytest.raises(TooOld):
        cache.since(12)
    assert summary(cache.apply([put("x", 41)])) == [(MODIFIED, "x", 41)]


# ------------------------------------------------------------------------------- Filter


def f(namespace: str = "", labels: str | None = None, fields: str | None = None) -> Filter:
    return Filter(namespace,
                  parse_label_selector(labels) if labels is not None else None,
                  parse_field_selector(fields) if fields is not None else None)


WEB = {"app": "web", "env": "prod"}

MATCH_CASES = [
    pytest.param(f(), pod("a", 1), True, id="everything"),
    pytest.param(f("default"), pod("a", 1), True, id="namespace-same"),
    pytest.param(f("kube-system"), pod("a", 1), False, id="namespace-other"),
    pytest.param(f(labels="app=web"), pod("a", 1, labels=WEB), True, id="label-equals"),
    pytest.param(f(labels="app=web"), pod("a", 1, labels={"app": "api"}), False, id="label-differs"),
    pytest.param(f(labels="app=web"), pod("a", 1), False, id="label-missing"),
    pytest.param(f(labels="app!=web"), pod("a", 1), True, id="label-not-equal-missing"),
    pytest.param(f(labels="env in (prod,staging)"), pod("a", 1, labels=WEB), True, id="label-in"),
    pytest.param(f(labels="env notin (prod)"), pod("a", 1, labels=WEB), False, id="label-notin"),
    pytest.param(f(labels="!canary"), pod("a", 1, labels=WEB), True, id="label-does-not-exist"),
    pytest.param(f(labels="app"), pod("a", 1, labels=WEB), True, id="label-exists"),
    pytest.param(f(labels="app=web,env=dev"), pod("a", 1, labels=WEB), False, id="labels-all-must-match"),
    pytest.param(f(labels=""), pod("a", 1), True, id="empty-label-selector"),
    pytest.param(f(fields="spec.nodeName=n1"), pod("a", 1, node="n1"), True, id="field-equals"),
    pytest.param(f(fields="spec.nodeName=n1"), pod("a", 1), False, id="field-missing"),
    pytest.param(f(fields="spec.nodeName="), pod("a", 1), True, id="field-empty-matches-missing"),
    pytest.param(f(fields="status.phase!=Running"), pod("a", 1, phase="Running"), False, id="field-not-equal"),
    pytest.param(f(fields="metadata.name=a"), pod("a", 1), True, id="field-name"),
    pytest.param(f(fields="metadata.namespace=other"), pod("a", 1), False, id="field-namespace"),
    pytest.param(f(fields=""), pod("a", 1), True, id="empty-field-selector"),
    pytest.param(f("default", "app=web", "spec.nodeName=n1"), pod("a", 1, labels=WEB, node="n1"), True,
                 id="all-three"),
    pytest.param(f("default", "app=web", "spec.nodeName=n2"), pod("a", 1, labels=WEB, node="n1"), False,
                 id="all-three-one-fails"),
]


@pytest.mark.parametrize("flt, obj, expected", MATCH_CASES)
def test_filter_matches(flt, obj, expected):
    assert flt.matches(obj) is expected


def ev(type_: str, obj: dict, prev: dict | None, rv: int, size: int = 10) -> CacheEvent:
    return CacheEvent(type_, key(obj["metadata"]["name"]), obj, prev, rv, size)


IN = {"app": "web"}
OUT = {"app": "api"}

TRANSITION_CASES = [
    pytest.param(ev(ADDED, pod("a", 5, labels=IN), None, 5), (ADDED, pod("a", 5, labels=IN)), id="added-in"),
    pytest.param(ev(ADDED, pod("a", 5, labels=OUT), None, 5), None, id="added-out"),
    pytest.param(ev(MODIFIED, pod("a", 6, labels=IN), pod("a", 5, labels=IN), 6),
                 (MODIFIED, pod("a", 6, labels=IN)), id="modified-both"),
    pytest.param(ev(MODIFIED, pod("a", 6, labels=IN), pod("a", 5, labels=OUT), 6),
                 (ADDED, pod("a", 6, labels=IN)), id="modified-into-selector"),
    # Out of the selector: the previous content, at the event's resourceVersion (convertToWatchEvent).
    pytest.param(ev(MODIFIED, pod("a", 6, labels=OUT), pod("a", 5, labels=IN), 6),
                 (DELETED, pod("a", 6, labels=IN)), id="modified-out-of-selector"),
    pytest.param(ev(MODIFIED, pod("a", 6, labels=OUT), pod("a", 5, labels=OUT), 6), None, id="modified-neither"),
    pytest.param(ev(DELETED, pod("a", 7, labels=IN), pod("a", 6, labels=IN), 7),
                 (DELETED, pod("a", 7, labels=IN)), id="deleted-in"),
    pytest.param(ev(DELETED, pod("a", 7, labels=OUT), pod("a", 6, labels=OUT), 7), None, id="deleted-out"),
]


@pytest.mark.parametrize("event, expected", TRANSITION_CASES)
def test_filtered_transitions(event, expected):
    got = filtered([event], f(labels="app=web"))
    assert got == ([] if expected is None else [(*expected, event.size)])


def test_filtered_leaves_the_cache_events_alone():
    prev = pod("a", 5, labels=IN)
    event = ev(MODIFIED, pod("a", 6, labels=OUT), prev, 6)
    filtered([event], f(labels="app=web"))
    assert prev == pod("a", 5, labels=IN)


def test_filtered_keeps_order_through_a_real_cache():
    cache = WatchCache("pods", 100)
    cache.reset({}, 0)
    events = cache.apply([
        put("a", 1, labels=IN), put("b", 2, labels=OUT), put("b", 3, labels=IN), put("a", 4, labels=OUT),
        put("c", 5, labels=IN, namespace="other"), delete("b", 6), put("a", 7, labels=IN)])
    got = [(t, o["metadata"]["name"], o["metadata"]["resourceVersion"])
           for t, o, _ in filtered(events, f("default", "app=web"))]
    assert got == [(ADDED, "a", "1"), (ADDED, "b", "3"), (DELETED, "a", "4"), (DELETED, "b", "6"),
                   (ADDED, "a", "7")]


def test_filtered_by_node_follows_a_pod_being_bound():
    # A kubelet's watch: spec.nodeName=n1 sees the pod only once it is bound there.
    unbound, bound = pod("a", 1), pod("a", 2, node="n1")
    got = filtered([ev(ADDED, unbound, None, 1), ev(MODIFIED, bound, unbound, 2)], f(fields="spec.nodeName=n1"))
    assert got == [(ADDED, bound, 10)]


# ------------------------------------------------------------------------------- Outbox


def items(*sizes: int) -> list[tuple[str, dict, int]]:
    return [(ADDED, {"n": i}, size) for i, size in enumerate(sizes)]


def batch_shapes(batches) -> list[tuple[int, list[int]]]:
    return [(seq, [item[1]["n"] for item in batch]) for seq, batch in batches]


def test_credit_window_limits_unacknowledged_batches():
    box = Outbox(window=2, limit=100, max_bytes=1000, max_events=1)
    assert box.push(items(1, 1, 1, 1, 1))
    assert batch_shapes(box.take()) == [(1, [0]), (2, [1])]
    assert box.credit == 0
    assert box.take() == []
    box.ack(1)
    assert box.credit == 1
    assert batch_shapes(box.take()) == [(3, [2])]
    box.ack(3)
    assert batch_shapes(box.take()) == [(4, [3]), (5, [4])]
    assert box.take() == [] and not box.queue


@pytest.mark.parametrize("max_events, max_bytes, sizes, expected", [
    pytest.param(2, 1000, (1, 1, 1, 1, 1), [[0, 1], [2, 3], [4]], id="by-events"),
    pytest.param(500, 8, (4, 4, 4, 1, 2), [[0, 1], [2, 3, 4]], id="by-bytes"),
    pytest.param(500, 8, (4, 20, 1), [[0], [1], [2]], id="an-oversized-event-goes-alone"),
    pytest.param(2, 8, (1, 1, 1, 8), [[0, 1], [2], [3]], id="whichever-first"),
    pytest.param(500, 8, (8, 0, 0), [[0, 1, 2]], id="empty-events-fit"),
])
def test_batches(max_events, max_bytes, sizes, expected):
    box = Outbox(window=100, limit=100, max_bytes=max_bytes, max_events=max_events)
    box.push(items(*sizes))
    got = box.take()
    assert [seq for seq, _ in got] == list(range(1, len(expected) + 1))
    assert [ns for _, ns in batch_shapes(got)] == expected
    assert box.queued_bytes == 0


ACK_CASES = [
    pytest.param([2], 2, id="forward"),
    pytest.param([3, 1], 3, id="never-backwards"),
    pytest.param([4], 0, id="never-past-seq"),
    pytest.param([0], 0, id="zero-ignored"),
    pytest.param([1, 1, 2], 2, id="repeats"),
    pytest.param([-1], 0, id="negative-ignored"),
]


@pytest.mark.parametrize("acks, acked", ACK_CASES)
def test_ack(acks, acked):
    box = Outbox(window=10, limit=100, max_bytes=1000, max_events=1)
    box.push(items(1, 1, 1))
    box.take()  # seq 1..3 in flight
    for seq in acks:
        box.ack(seq)
    assert box.acked == acked
    assert box.credit == 10 - (3 - acked)


@pytest.mark.parametrize("limit, pushes, results", [
    pytest.param(3, [2, 1], [True, True], id="up-to-the-limit"),
    pytest.param(3, [2, 2], [True, False], id="past-the-limit"),
    pytest.param(0, [1], [False], id="no-room"),
])
def test_push_beyond_the_limit_returns_false(limit, pushes, results):
    box = Outbox(window=0, limit=limit, max_bytes=1000)  # no credit: everything stays queued
    assert [box.push(items(*([1] * n))) for n in pushes] == results


def test_the_limit_counts_only_what_waits():
    box = Outbox(window=1, limit=2, max_bytes=1000, max_events=1)
    assert box.push(items(1, 1, 1)) is False  # three waiting
    box = Outbox(window=1, limit=2, max_bytes=1000, max_events=1)
    assert box.push(items(1, 1))
    box.take()  # one sent, one waits
    assert box.push(items(1))


def test_queued_bytes_follow_the_queue():
    box = Outbox(window=1, limit=100, max_bytes=1000, max_events=2)
    box.push(items(3, 4, 5))
    assert box.queued_bytes == 12
    box.take()
    assert box.queued_bytes == 5


def test_next_seq_numbers_messages_outside_the_queue_and_uses_credit():
    box = Outbox(window=2, limit=100, max_bytes=1000, max_events=1)
    box.push(items(1))
    assert batch_shapes(box.take()) == [(1, [0])]
    assert box.next_seq() == 2  # a bookmark
    assert box.credit == 0
    box.push(items(1))
    assert box.take() == []
    box.ack(2)
    assert batch_shapes(box.take()) == [(3, [0])]


# ------------------------------------------------------------------ the index (the cacher's indexers)

POD_INDEX = indexed_fields("Pod")


def bucket(cache: WatchCache, field_name: str, value: str) -> set[str]:
    return set(cache.keys_where(field_name, value))


def scanned(cache: WatchCache, field_name: str, value: str) -> set[str]:
    """What the index must say: every object whose field reads ``value``, found the slow way."""
    return {k for k, o in cache.objects.items() if object_fields(o).get(field_name, "") == value}


def assert_index_consistent(cache: WatchCache) -> None:
    for field_name in cache.indexed:
        values = {field_value(o, field_name) for o in cache.objects.values()}
        for value in values:
            assert bucket(cache, field_name, value) == scanned(cache, field_name, value), (field_name, value)
        # No stale or empty buckets for values no object has any more.
        assert set(cache._index[field_name]) == values


def test_indexed_fields_per_kind():
    assert POD_INDEX == ("metadata.name", "spec.nodeName")
    assert indexed_fields("Node") == ("metadata.name",)
    assert indexed_fields("ConfigMap") == ("metadata.name",)
    assert WatchCache("pods", 10).indexed == ("metadata.name",)


def test_index_after_reset():
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({key("a"): (pod("a", 3, node="n1"), 1), key("b"): (pod("b", 4, node="n1"), 1),
                 key("c"): (pod("c", 5, node="n2"), 1), key("d"): (pod("d", 6), 1),
                 key("a", "other"): (pod("a", 7, namespace="other", node="n2"), 1)}, 10)
    assert cache.keys_where("spec.nodeName", "n1") == [key("a"), key("b")]
    assert bucket(cache, "spec.nodeName", "n2") == {key("c"), key("a", "other")}
    assert cache.keys_where("spec.nodeName", "") == [key("d")]  # unbound: a missing field reads ""
    assert cache.keys_where("spec.nodeName", "n3") == []
    assert bucket(cache, "metadata.name", "a") == {key("a"), key("a", "other")}
    assert cache.keys_where("metadata.name", "c") == [key("c")]
    assert_index_consistent(cache)
    # A second reset starts the index over.
    cache.reset({key("z"): (pod("z", 20, node="n9"), 1)}, 20)
    assert cache.keys_where("spec.nodeName", "n1") == []
    assert cache.keys_where("spec.nodeName", "n9") == [key("z")]
    assert_index_consistent(cache)


def test_index_follows_puts_that_move_a_key_and_deletes():
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({}, 10)
    cache.apply([put("a", 11), put("b", 12, node="n1")])
    assert cache.keys_where("spec.nodeName", "") == [key("a")]
    cache.apply([put("a", 13, node="n1")])  # bound: moves from "" to n1
    assert cache.keys_where("spec.nodeName", "") == []
    assert cache.keys_where("spec.nodeName", "n1") == [key("b"), key("a")]
    cache.apply([put("b", 14, node="n2"), put("a", 15, node="n1", phase="Running")])  # moved; unchanged
    assert cache.keys_where("spec.nodeName", "n1") == [key("a")]
    assert cache.keys_where("spec.nodeName", "n2") == [key("b")]
    cache.apply([delete("a", 16)])
    assert cache.keys_where("spec.nodeName", "n1") == []
    assert cache.keys_where("metadata.name", "a") == []
    assert cache.keys_where("metadata.name", "b") == [key("b")]
    assert_index_consistent(cache)
    # Skipped changes (a resumed store watch repeating itself) leave the index alone.
    cache.apply([put("b", 14, node="n7")])
    assert cache.keys_where("spec.nodeName", "n2") == [key("b")]


def test_an_unindexed_field_cannot_be_looked_up():
    cache = WatchCache("pods", 100, POD_INDEX)
    with pytest.raises(KeyError, match="status.phase"):
        cache.keys_where("status.phase", "Running")


def test_the_index_stays_consistent_through_random_changes():
    rng = random.Random(5)
    cache = WatchCache("pods", 50, POD_INDEX)
    cache.reset({key(f"p{i}"): (pod(f"p{i}", 1, node=rng.choice(["", "n1"])), 1) for i in range(5)}, 1)
    rv = 1
    for _ in range(300):
        changes = []
        for _ in range(rng.randint(1, 4)):
            rv += 1
            name = f"p{rng.randrange(8)}"
            if rng.random() < 0.3:
                changes.append(delete(name, rv))
            else:
                changes.append(put(name, rv, node=rng.choice(["", "n1", "n2", "n3"])))
        cache.apply(changes)
        assert_index_consistent(cache)


INDEX_TERM_CASES = [
    pytest.param(f(fields="spec.nodeName=a"), ("spec.nodeName", "a"), id="exact"),
    pytest.param(f(fields="spec.nodeName==a"), ("spec.nodeName", "a"), id="double-equals"),
    pytest.param(f(fields="spec.nodeName="), ("spec.nodeName", ""), id="empty-value-unbound-pods"),
    pytest.param(f(fields="spec.nodeName!=a"), None, id="negated"),
    pytest.param(f(fields="status.phase=Running"), None, id="not-indexed"),
    pytest.param(f(fields="metadata.namespace=default"), None, id="namespace-not-indexed"),
    pytest.param(f(fields="status.phase=Running,spec.nodeName=b"), ("spec.nodeName", "b"), id="several-one-indexed"),
    pytest.param(f(fields="spec.nodeName!=a,metadata.name=x"), ("metadata.name", "x"), id="skips-negated"),
    pytest.param(f(fields="spec.nodeName=a,metadata.name=x"), ("metadata.name", "x"), id="several-first-sorted"),
    pytest.param(f(), None, id="no-selector"),
    pytest.param(f(fields=""), None, id="empty-selector"),
    pytest.param(f("default", labels="app=web"), None, id="labels-only"),
]


@pytest.mark.parametrize("flt, expected", INDEX_TERM_CASES)
def test_index_term(flt, expected):
    assert flt.index_term(POD_INDEX) == expected


def test_index_term_only_names_the_indexed_fields_given():
    flt = f(fields="spec.nodeName=a")
    assert flt.index_term(("metadata.name",)) is None
    assert flt.index_term(()) is None
    assert f(fields="metadata.name=x").index_term(("metadata.name",)) == ("metadata.name", "x")


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
EVENT = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
         "involvedObject": {"kind": "Pod", "name": "a"}, "reason": "Started", "type": "Normal"}
KINDLESS = {"metadata": {"name": "x", "namespace": "default"}, "spec": {"nodeName": "n1"}}
SELECTORS = ["", "spec.nodeName=n1", "spec.nodeName!=n1", "spec.nodeName=", "metadata.name=a",
             "metadata.name=n1,spec.unschedulable=true", "spec.unschedulable=false", "metadata.namespace=",
             "status.phase=Running,spec.nodeName=n1", "status.podIP=10.0.0.1", "involvedObject.name=a,type=Normal",
             "reason!=Started", "metadata.namespace=default,metadata.name!=x"]
OBJECTS = [pod("a", 1), pod("a", 1, node="n1", phase="Running"), NODE, EVENT, KINDLESS,
           dict(pod("b", 1), status={"podIPs": [{"ip": "10.0.0.1"}], "podIP": "10.0.0.9"})]


@pytest.mark.parametrize("selector", SELECTORS)
def test_filter_matches_reads_only_named_fields_with_the_same_results(selector):
    # The cheap path (only the fields the terms name) against the old one (all of object_fields).
    sel = parse_field_selector(selector)
    for obj in OBJECTS:
        assert Filter(fields=sel).matches(obj) is sel.matches(object_fields(obj)), (selector, obj)


def test_select_uses_the_index_and_agrees_with_a_scan():
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({}, 0)
    cache.apply([put("a", 1, node="n1", labels=WEB), put("b", 2, node="n1"), put("c", 3, node="n2", labels=WEB),
                 put("d", 4), put("e", 5, node="n1", namespace="other", labels=WEB)])
    for flt in (f(fields="spec.nodeName=n1"), f("default", "app=web", "spec.nodeName=n1"),
                f(fields="spec.nodeName="), f(fields="metadata.name=a"), f(fields="spec.nodeName!=n1"),
                f(labels="app=web"), f(), f(fields="spec.nodeName=n9"), f("other", fields="spec.nodeName=n1")):
        assert set(cache.select(flt)) == {k for k, o in cache.objects.items() if flt.matches(o)}, flt
    assert cache.select(f("default", "app=web", "spec.nodeName=n1")) == [key("a")]


# ------------------------------------------------------------- candidates (the trigger functions)


def register(filters: dict[str, Filter], indexed: tuple[str, ...] = POD_INDEX) -> tuple[dict, dict]:
    """Watchers by name, filed as the server files them: (unindexed, (field, value) -> watchers)."""
    unindexed: dict[str, str] = {}
    by_value: dict[tuple[str, str], dict[str, str]] = {}
    for name, flt in filters.items():
        term = flt.index_term(indexed)
        if term is None:
            unindexed[name] = name
        else:
            by_value.setdefault(term, {})[name] = name
    return unindexed, by_value


def routed(made, filters, unindexed, by_value) -> dict[str, list]:
    out: dict[str, list] = {name: [] for name in filters}
    for name, evs in candidates(made, POD_INDEX, unindexed, by_value):
        out[name] += filtered(evs, filters[name])
    return out


def seen_by(results: list) -> list[tuple[str, str, str]]:
    return [(t, o["metadata"]["name"], (o.get("spec") or {}).get("nodeName", "")) for t, o, _ in results]


def test_candidates_route_moves_and_deletes_to_both_nodes():
    filters = {"on-a": f(fields="spec.nodeName=a"), "on-b": f(fields="spec.nodeName=b"), "all": f()}
    unindexed, by_value = register(filters)
    assert unindexed == {"all": "all"}
    assert set(by_value) == {("spec.nodeName", "a"), ("spec.nodeName", "b")}
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({}, 0)
    got: dict[str, list] = {name: [] for name in filters}
    for changes in ([put("p", 1, node="a")], [put("p", 2, node="a", phase="Running")],
                    [put("p", 3, node="b")],  # moved (the cache core allows it; Kubernetes binds once)
                    [put("q", 4)], [put("q", 5, node="a"), delete("p", 6)], [delete("q", 7)]):
        for name, items in routed(cache.apply(changes), filters, unindexed, by_value).items():
            got[name] += items
    assert seen_by(got["on-a"]) == [(ADDED, "p", "a"), (MODIFIED, "p", "a"), (DELETED, "p", "a"),
                                    (ADDED, "q", "a"), (DELETED, "q", "a")]
    assert seen_by(got["on-b"]) == [(ADDED, "p", "b"), (DELETED, "p", "b")]
    assert seen_by(got["all"]) == [(ADDED, "p", "a"), (MODIFIED, "p", "a"), (MODIFIED, "p", "b"), (ADDED, "q", ""),
                                   (MODIFIED, "q", "a"), (DELETED, "p", "b"), (DELETED, "q", "a")]
    # Moved off a: the content a last saw, at the move's resourceVersion.
    assert got["on-a"][2][1]["metadata"]["resourceVersion"] == "3"


def test_candidates_order_and_each_event_once():
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({}, 0)
    made = cache.apply([put("p", 1, node="b"), put("p", 2, node="a"), put("r", 3, node="a"), put("s", 4, node="c")])
    unindexed, by_value = register({"u1": f(), "on-a": f(fields="spec.nodeName=a"), "u2": f(labels="x"),
                                    "on-b": f(fields="spec.nodeName=b"), "on-z": f(fields="spec.nodeName=z")})
    got = [(name, [e.rv for e in evs]) for name, evs in candidates(made, POD_INDEX, unindexed, by_value)]
    assert got == [("u1", [1, 2, 3, 4]), ("u2", [1, 2, 3, 4]), ("on-b", [1, 2]), ("on-a", [2, 3])]
    assert candidates(made, POD_INDEX, unindexed, {}) == [("u1", made), ("u2", made)]
    assert candidates([], POD_INDEX, {}, by_value) == []


def test_candidates_give_every_watcher_what_filtering_every_event_gives():
    """Random batches of binds, moves, relabels and deletes: routed == filtered over everything."""
    rng = random.Random(11)
    filters = {
        "on-a": f(fields="spec.nodeName=a"), "on-b": f(fields="spec.nodeName=b"), "also-on-a": f(fields="spec.nodeName=a"),
        "unbound": f(fields="spec.nodeName="), "p1": f(fields="metadata.name=p1"),
        "a-running": f(fields="spec.nodeName=a,status.phase=Running"), "not-a": f(fields="spec.nodeName!=a"),
        "web-on-b": f(labels="app=web", fields="spec.nodeName=b"), "other-on-a": f("other", fields="spec.nodeName=a"),
        "web": f(labels="app=web"), "all": f()}
    unindexed, by_value = register(filters)
    assert set(unindexed) == {"not-a", "web", "all"}
    cache = WatchCache("pods", 10_000, POD_INDEX)
    cache.reset({}, 0)
    names = [(f"p{i}", "default") for i in range(6)] + [(f"p{i}", "other") for i in range(2)]
    got: dict[str, list] = {name: [] for name in filters}
    want: dict[str, list] = {name: [] for name in filters}
    rv = 0
    for _ in range(400):
        changes = []
        for _ in range(rng.randint(1, 6)):
            rv += rng.choice([0, 1]) if changes else 1  # sometimes several keys in one revision
            name, ns = rng.choice(names)
            if rng.random() < 0.2:
                changes.append(("DELETE", key(name, ns), None, rv, 0))
            else:
                changes.append(put(name, rv, namespace=ns, node=rng.choice(["", "a", "b", "c"]),
                                   phase=rng.choice(["Pending", "Running"]), labels=rng.choice([None, IN, OUT])))
        made = cache.apply(changes)
        for name, items in routed(made, filters, unindexed, by_value).items():
            got[name] += items
        for name, flt in filters.items():
            want[name] += filtered(made, flt)
    assert got == want
    kinds = {t for t, _, _ in want["on-a"]}
    assert kinds == {ADDED, MODIFIED, DELETED}  # the transitions were exercised


class FilterBudget:
    """Counts Filter.matches calls; fails at once past ``limit``, so an O(n^2) regression fails fast."""

    def __init__(self, monkeypatch, limit: int) -> None:
        self.calls = 0
        original = Filter.matches

        def counting(flt, obj):
            self.calls += 1
            if self.calls > limit:
                raise AssertionError(f"more than {limit} filter evaluations")
            return original(flt, obj)

        monkeypatch.setattr(Filter, "matches", counting)


def test_per_node_watchers_cost_each_event_a_lookup_not_a_filter_each(monkeypatch):
    """5,000 kubelets' pod watches, 10,000 pods created then deleted: filter evaluations grow with the events
    (about one each), not with events x watchers (10^8)."""
    nodes, pods_n, batch = 5_000, 10_000, 500
    filters = {f"n{i}": f(fields=f"spec.nodeName=n{i}") for i in range(nodes)}
    unindexed, by_value = register(filters)
    assert not unindexed and len(by_value) == nodes
    cache = WatchCache("pods", 100_000, POD_INDEX)
    cache.reset({}, 0)
    changes = [put(f"p{i}", i + 1, node=f"n{i % nodes}") for i in range(pods_n)]
    changes += [delete(f"p{i}", pods_n + i + 1) for i in range(pods_n)]
    budget = FilterBudget(monkeypatch, limit=4 * len(changes))
    got: dict[str, list] = {name: [] for name in filters}
    for start in range(0, len(changes), batch):
        for name, items in routed(cache.apply(changes[start:start + batch]), filters, unindexed, by_value).items():
            got[name] += items
    assert budget.calls <= 2 * len(changes), budget.calls
    assert [t for t, _, _ in got["n7"]] == [ADDED, ADDED, DELETED, DELETED]
    assert sum(len(items) for items in got.values()) == len(changes)


def test_an_indexed_list_reads_only_its_nodes_objects(monkeypatch):
    """Every kubelet listing its pods from the cache reads its own pods, not all 10,000 each."""
    nodes, pods_n = 5_000, 10_000
    cache = WatchCache("pods", 100, POD_INDEX)
    cache.reset({key(f"p{i}"): (pod(f"p{i}", i + 1, node=f"n{i % nodes}"), 1) for i in range(pods_n)}, pods_n)
    budget = FilterBudget(monkeypatch, limit=2 * pods_n)
    listed = [cache.select(f(fields=f"spec.nodeName=n{i}")) for i in range(nodes)]
    assert budget.calls == pods_n
    assert listed[3] == [key("p3"), key("p5003")]


# ------------------------------------------------------------------ through the ApiServer, in process


def _harness():
    # The in-process ApiServer (a ManualClock, an in-memory store) the regression tests drive.
    from tests.test_apiserver_regressions import Harness
    h = Harness()
    h.start()
    return h


def _store_put(h, resource: str, obj: dict, namespace: str | None = "default") -> int:
    from actors.apiserver.kinds import registry_key
    body = json.loads(json.dumps(obj))
    body["metadata"].pop("resourceVersion", None)
    k = registry_key(resource, namespace, obj["metadata"]["name"]).encode()
    return h.store.write({"op": "put", "key": k, "value": json.dumps(body).encode()})["revision"]


def _store_delete(h, name: str) -> None:
    h.store.write({"op": "delete", "key": key(name).encode()})


def _watch(h, watch_id: str, resource: str, field_selector: str = "", rv: str = "", sender: str = "") -> None:
    from actors.messages import ApiWatch
    h.server.on_watch(ApiWatch(watch_id, resource, "", "", field_selector, rv), h.env("admin", sender or watch_id))
    h.run()


def _seen(h, watch_id: str) -> list[tuple[str, str, str]]:
    return [(t, o["metadata"]["name"], (o.get("spec") or {}).get("nodeName", ""))
            for m in h.watch_events(watch_id) for t, o in m.events]


def test_api_server_per_node_watchers_see_what_they_saw_before():
    h = _harness()
    c = h.server.caches["pods"]
    assert c.cache.indexed == POD_INDEX and h.server.caches["nodes"].cache.indexed == ("metadata.name",)
    _watch(h, "on-a", "pods", "spec.nodeName=a")
    _watch(h, "on-b", "pods", "spec.nodeName=b")
    _watch(h, "all", "pods")
    _watch(h, "not-b", "pods", "spec.nodeName!=b")
    _watch(h, "node-a", "nodes", "metadata.name=a")
    assert {t: sorted(w) for t, w in c.indexed.items()} == {
        ("spec.nodeName", "a"): [("on-a", "on-a")], ("spec.nodeName", "b"): [("on-b", "on-b")]}
    assert list(c.unindexed) == [("all", "all"), ("not-b", "not-b")]
    assert sorted(w.watch_id for w in c.all_watchers()) == ["all", "not-b", "on-a", "on-b"], "each filed once"
    assert set(h.server.caches["nodes"].indexed) == {("metadata.name", "a")}

    _store_put(h, "pods", pod("p", 0, node="a"))
    _store_put(h, "pods", pod("q", 0))
    _store_put(h, "pods", pod("q", 0, node="a"))  # bound
    moved = _store_put(h, "pods", pod("p", 0, node="b"))  # moved (only the cache core cares how)
    _store_delete(h, "q")
    _store_delete(h, "p")
    for name in ("a", "b"):
        _store_put(h, "nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}, None)
    h.run()

    assert _seen(h, "on-a") == [(ADDED, "p", "a"), (ADDED, "q", "a"), (DELETED, "p", "a"), (DELETED, "q", "a")]
    assert _seen(h, "on-b") == [(ADDED, "p", "b"), (DELETED, "p", "b")]
    assert _seen(h, "all") == [(ADDED, "p", "a"), (ADDED, "q", ""), (MODIFIED, "q", "a"), (MODIFIED, "p", "b"),
                               (DELETED, "q", "a"), (DELETED, "p", "b")]
    assert _seen(h, "not-b") == [(ADDED, "p", "a"), (ADDED, "q", ""), (MODIFIED, "q", "a"), (DELETED, "p", "a"),
                                 (DELETED, "q", "a")]
    moved_off = [o for m in h.watch_events("on-a") for t, o in m.events if t == DELETED][0]
    assert moved_off["metadata"]["resourceVersion"] == str(moved)
    assert [n for _, n, _ in _seen(h, "node-a")] == ["a"]
    # Every message of each watch in sequence, none closed.
    for wid in ("on-a", "on-b", "all", "not-b", "node-a"):
        msgs = h.watch_events(wid)
        assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1)) and not any(m.closed for m in msgs)


def test_api_server_a_watcher_no_event_woke_stays_correct():
    """on-b is not a candidate while only a's pods change: its queued_rv stays behind; its bookmark still says
    the cache's revision, and the next event for b reaches it once."""
    h = _harness()
    _watch(h, "on-a", "pods", "spec.nodeName=a")
    _watch(h, "on-b", "pods", "spec.nodeName=b")
    w_b = h.server._watchers[("on-b", "on-b")]
    before = w_b.queued_rv
    for i in range(3):
        _store_put(h, "pods", pod(f"a{i}", 0, node="a"))
    h.run()
    assert w_b.queued_rv == before and _seen(h, "on-b") == []
    h.run(h.server.options.bookmark_interval_s + 1)  # a bookmark
    revision = h.server.caches["pods"].cache.revision
    bookmarks = [m for m in h.watch_events("on-b") if not m.events and not m.closed]
    assert bookmarks and bookmarks[-1].resource_version == str(revision)
    _store_put(h, "pods", pod("a0", 0, node="b"))
    h.run()
    assert _seen(h, "on-b") == [(ADDED, "a0", "b")]
    assert _seen(h, "on-a") == [(ADDED, "a0", "a"), (ADDED, "a1", "a"), (ADDED, "a2", "a"), (DELETED, "a0", "a")]
    assert w_b.queued_rv > revision


def test_api_server_lists_and_starts_watches_through_the_index():
    h = _harness()
    for name, node in (("p1", "a"), ("p2", "b"), ("p3", "a"), ("p4", "")):
        _store_put(h, "pods", pod(name, 0, node=node))
    h.run()
    listed = h.request("list", "pods", options={"resourceVersion": "0", "fieldSelector": "spec.nodeName=a"})
    assert [o["metadata"]["name"] for o in listed.body["items"]] == ["p1", "p3"]
    listed = h.request("list", "pods", options={"resourceVersion": "0", "fieldSelector": "spec.nodeName="})
    assert [o["metadata"]["name"] for o in listed.body["items"]] == ["p4"]
    listed = h.request("list", "pods", options={"resourceVersion": "0", "fieldSelector": "spec.nodeName!=a"})
    assert [o["metadata"]["name"] for o in listed.body["items"]] == ["p2", "p4"]
    _watch(h, "on-a", "pods", "spec.nodeName=a")  # rv "": the current state as ADDED, oldest first
    assert _seen(h, "on-a") == [(ADDED, "p1", "a"), (ADDED, "p3", "a")]


def test_api_server_dropping_watchers_keeps_both_groups_consistent():
    from actors.apiserver import status as st
    from actors.messages import ApiCancelWatch
    h = _harness()
    c = h.server.caches["pods"]
    _watch(h, "on-a", "pods", "spec.nodeName=a")
    _watch(h, "on-a2", "pods", "spec.nodeName=a")
    _watch(h, "all", "pods")
    # The same watch id again, now on another node: re-filed, not left under a.
    _watch(h, "on-a2", "pods", "spec.nodeName=b", sender="on-a2")
    assert {t: sorted(w) for t, w in c.indexed.items()} == {
        ("spec.nodeName", "a"): [("on-a", "on-a")], ("spec.nodeName", "b"): [("on-a2", "on-a2")]}
    h.server.on_cancel(ApiCancelWatch("on-a"), h.env("admin", "on-a"))
    assert set(c.indexed) == {("spec.nodeName", "b")} and len(c.all_watchers()) == 2
    h.server._close_all(c, st.gone("reset"))
    assert (c.all_watchers(), c.unindexed, c.indexed) == ([], {}, {})
    assert h.server._watchers == {}


def test_a_pinned_watch_resumes_from_its_own_history_and_sees_what_a_scan_would():
    rng = random.Random(11)
    c = WatchCache("pods", 300, indexed=indexed_fields("Pod"))
    rv = 0
    for step in range(3000):
        rv += 1
        name = f"p{rng.randrange(50)}"
        node = rng.choice(["", "n1", "n2", "n3"])
        obj = {"kind": "Pod", "metadata": {"name": name, "namespace": "d", "resourceVersion": str(rv)},
               "spec": {"nodeName": node}}
        c.apply([("DELETE" if rng.random() < 0.1 else "PUT", f"d/{name}", obj, rv, 10)])
        if step % 97 == 0:
            since = rng.randrange(c.oldest, rv + 1)
            for node in ("n1", "n2", ""):
                f = Filter(fields=parse_field_selector(f"spec.nodeName={node}"))
                assert filtered(c.since_for(since, f), f) == filtered(c.since(since), f)
    history = sum(len(b) for by_value in c._history.values() for b in by_value.values())
    assert history <= 2 * len(c.indexed) * (c.capacity + c.capacity), "the history is bounded by the window"
    with pytest.raises(TooOld):
        c.since_for(c.oldest - 1, Filter(fields=parse_field_selector("spec.nodeName=n1")))
