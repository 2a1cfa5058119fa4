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

``Outbox``: a credit window of unacknowledged messages, batches bounded by
events and bytes, per-batch sequence numbers, acknowledgements that only move
forward, and a bound past which the watcher is cut off.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.apiserver.selectors import parse_field_selector, parse_label_selector
from actors.apiserver.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    CacheEvent,
    Filter,
    Outbox,
    TooOld,
    WatchCache,
    filtered,
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
