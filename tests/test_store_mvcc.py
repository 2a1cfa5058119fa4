"""The store's state machine (actors.store.mvcc) behaves as etcd v3's MVCC.

Covers revisions and versions, the three shapes of a range, reads at past
revisions and after compaction, txn compare-and-swap (one revision per txn,
duplicate keys refused, read-only txns free), watch replay from a revision,
snapshot/restore, and bad ops answered with errors that change nothing. A
hypothesis property checks range at every kept revision against a model that
keeps a full copy of the key space per revision.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.store.mvcc import (
    MVCC,
    Compacted,
    Event,
    FutureRevision,
    KeyValue,
    prefix_end,
)


def put(store: MVCC, key: bytes, value: bytes = b"v", **extra) -> dict:
    response, _ = store.apply({"op": "put", "key": key, "value": value, **extra})
    return response


def delete(store: MVCC, key: bytes, range_end: bytes = b"", **extra) -> dict:
    response, _ = store.apply({"op": "delete", "key": key, "range_end": range_end, **extra})
    return response


def txn(store: MVCC, compare: list, success: list, failure: list = ()) -> tuple[dict, list[Event]]:
    return store.apply({"op": "txn", "compare": compare, "success": success, "failure": list(failure)})


def get(store: MVCC, key: bytes, revision: int = 0) -> KeyValue | None:
    kvs = store.range(key, revision=revision)["kvs"]
    return kvs[0] if kvs else None


def keys(store: MVCC, key: bytes, range_end: bytes, **options) -> list[bytes]:
    return [kv.key for kv in store.range(key, range_end, **options)["kvs"]]


def filled(*names: bytes) -> MVCC:
    store = MVCC()
    for name in names:
        put(store, name, b"value-of-" + name)
    return store


# -- revisions and versions ----------------------------------------------------


def test_put_put_delete_put_moves_revision_and_version_as_etcd():
    store = MVCC()
    assert store.revision == 1 and store.compact_revision == 0

    assert put(store, b"k", b"1") == {"revision": 2, "prev_kv": None}
    assert get(store, b"k") == KeyValue(b"k", 2, 2, 1, b"1")
    assert put(store, b"k", b"2", prev_kv=True) == {"revision": 3, "prev_kv": KeyValue(b"k", 2, 2, 1, b"1")}
    assert get(store, b"k") == KeyValue(b"k", 2, 3, 2, b"2")

    assert delete(store, b"k") == {"revision": 4, "deleted": 1, "prev_kvs": []}
    assert get(store, b"k") is None

    put(store, b"k", b"3")
    assert get(store, b"k") == KeyValue(b"k", 5, 5, 1, b"3")  # a new life: new create_revision, version 1
    assert store.revision == 5


def test_delete_of_nothing_does_not_bump_the_revision():
    store = filled(b"a")
    response, events = store.apply({"op": "delete", "key": b"zzz"})
    assert (response, events) == ({"revision": 2, "deleted": 0, "prev_kvs": []}, [])
    assert delete(store, b"b", b"c") == {"revision": 2, "deleted": 0, "prev_kvs": []}
    assert store.revision == 2


def test_delete_range_removes_every_key_in_it_at_one_revision():
    store = filled(b"a", b"b1", b"b2", b"c")
    response, events = store.apply({"op": "delete", "key": b"b", "range_end": prefix_end(b"b"), "prev_kv": True})
    assert response["revision"] == 6 and response["deleted"] == 2
    assert [kv.key for kv in response["prev_kvs"]] == [b"b1", b"b2"]
    assert [(e.type, e.kv) for e in events] == [("DELETE", KeyValue(b"b1", 0, 6, 0, b"")),
                                               ("DELETE", KeyValue(b"b2", 0, 6, 0, b""))]
    assert keys(store, b"\0", b"\0") == [b"a", b"c"]


# -- ranges -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, end", [
    (b"a", b"b"), (b"a\xff", b"b"), (b"a\xff\xff", b"b"), (b"\xff", b"\0"), (b"\xff\xff", b"\0"), (b"", b"\0"),
    (b"/registry/pods/", b"/registry/pods0"),
])
def test_prefix_end_is_etcds_get_prefix_range_end(prefix, end):
    assert prefix_end(prefix) == end


def test_range_shapes_single_key_prefix_and_from_key():
    store = filled(b"/pods/a", b"/pods/b", b"/pods0", b"/pods/", b"/svc/a")
    assert keys(store, b"/pods/a", b"") == [b"/pods/a"]
    assert keys(store, b"/pods/", prefix_end(b"/pods/")) == [b"/pods/", b"/pods/a", b"/pods/b"]
    assert keys(store, b"/pods/b", b"\0") == [b"/pods/b", b"/pods0", b"/svc/a"]
    assert keys(store, b"/svc/", b"/pods/") == []  # range_end below key: nothing
    assert keys(store, b"/nope", b"") == []


def test_range_limit_more_count_keys_only_count_only():
    store = filled(b"p/1", b"p/2", b"p/3", b"q")
    end = prefix_end(b"p/")
    limited = store.range(b"p/", end, limit=2)
    assert [kv.key for kv in limited["kvs"]] == [b"p/1", b"p/2"]
    assert (limited["count"], limited["more"], limited["revision"]) == (3, True, 5)
    assert store.range(b"p/", end, limit=3)["more"] is False
    assert store.range(b"p/", end)["more"] is False
    assert all(kv.value == b"" and kv.version == 1 for kv in store.range(b"p/", end, keys_only=True)["kvs"])
    assert store.range(b"p/", end, count_only=True) == {"revision": 5, "kvs": [], "count": 3, "more": False}


def test_range_at_past_revisions_sees_the_state_then():
    store = MVCC()
    put(store, b"a", b"1")  # 2
    put(store, b"b", b"1")  # 3
    put(store, b"a", b"2")  # 4
    delete(store, b"b")  # 5
    assert keys(store, b"\0", b"\0", revision=1) == []
    assert keys(store, b"\0", b"\0", revision=3) == [b"a", b"b"]
    assert get(store, b"a", revision=3).value == b"1"
    assert get(store, b"a", revision=4) == KeyValue(b"a", 2, 4, 2, b"2")
    assert keys(store, b"\0", b"\0", revision=5) == [b"a"]
    assert store.range(b"a", revision=3)["revision"] == 5  # the answer carries the current revision


def test_range_beyond_the_current_revision_is_a_future_revision():
    store = filled(b"a")
    with pytest.raises(FutureRevision) as raised:
        store.range(b"a", revision=3)
    assert str(raised.value) == "mvcc: required revision 3 is a future revision (current revision 2)"


# -- compaction ---------------------------------------------------------------------


def compacted_store() -> MVCC:
    store = MVCC()
    put(store, b"a", b"1")  # 2
    put(store, b"a", b"2")  # 3
    put(store, b"gone", b"x")  # 4
    delete(store, b"gone")  # 5
    put(store, b"a", b"3")  # 6
    put(store, b"b", b"1")  # 7
    response, events = store.apply({"op": "compact", "revision": 5})
    assert (response, events) == ({"revision": 7}, [])
    return store


def test_compaction_keeps_what_reads_at_or_after_it_can_see():
    store = compacted_store()
    assert (store.revision, store.compact_revision) == (7, 5)
    assert get(store, b"a", revision=5) == KeyValue(b"a", 2, 3, 2, b"2")
    assert keys(store, b"\0", b"\0", revision=5) == [b"a"]
    assert keys(store, b"\0", b"\0", revision=7) == [b"a", b"b"]
    assert get(store, b"a") == KeyValue(b"a", 2, 6, 3, b"3")
    with pytest.raises(Compacted) as raised:
        store.range(b"a", revision=4)
    assert str(raised.value) == "mvcc: required revision 4 has been compacted (compacted revision 5)"
    with pytest.raises(FutureRevision):
        store.range(b"a", revision=8)


def test_compaction_shrinks_the_store():
    store = MVCC()
    for n in range(10):
        put(store, b"k", b"x" * 100)
        put(store, b"t%d" % n, b"y" * 100)
        delete(store, b"t%d" % n)
    before = store.size_bytes
    store.apply({"op": "compact", "revision": store.revision})
    assert store.size_bytes < before / 5
    assert keys(store, b"\0", b"\0") == [b"k"]


@pytest.mark.parametrize("revision, code, message", [
    (5, "compacted", "mvcc: required revision has been compacted"),
    (3, "compacted", "mvcc: required revision has been compacted"),
    (8, "future_revision", "mvcc: required revision is a future revision"),
])
def test_compaction_at_or_below_the_last_one_or_in_the_future_is_refused(revision, code, message):
    store = compacted_store()
    before = store.snapshot()
    assert store.apply({"op": "compact", "revision": revision}) == ({"error": code, "message": message}, [])
    assert store.snapshot() == before


def test_range_op_through_apply_answers_errors_as_values():
    store = compacted_store()
    response, _ = store.apply({"op": "range", "key": b"a", "revision": 4})
    assert response["error"] == "compacted" and "revision 4 has been compacted" in response["message"]
    response, _ = store.apply({"op": "range", "key": b"a", "revision": 5})
    assert response["kvs"] == [KeyValue(b"a", 2, 3, 2, b"2")]


# -- txn ----------------------------------------------------------------------------


def cas(key: bytes, mod_revision: int, value: bytes) -> tuple[list, list, list]:
    """Compare-and-swap on mod_revision, as the API server's optimistic concurrency does."""
    compare = [{"key": key, "target": "mod", "result": "=", "value": mod_revision}]
    return compare, [{"op": "put", "key": key, "value": value}], [{"op": "range", "key": key}]


def test_txn_compare_and_swap_succeeds_on_the_expected_mod_revision():
    store = filled(b"obj")
    response, events = txn(store, *cas(b"obj", 2, b"new"))
    assert response == {"revision": 3, "succeeded": True, "responses": [{"revision": 3, "prev_kv": None}]}
    assert [e.kv for e in events] == [KeyValue(b"obj", 2, 3, 2, b"new")]


def test_txn_compare_and_swap_fails_on_a_stale_mod_revision_and_writes_nothing():
    store = filled(b"obj")
    put(store, b"obj", b"newer")  # 3
    response, events = txn(store, *cas(b"obj", 2, b"stale"))
    assert events == [] and store.revision == 3
    assert response["succeeded"] is False and response["revision"] == 3
    assert response["responses"][0]["kvs"] == [KeyValue(b"obj", 2, 3, 2, b"newer")]


def test_txn_create_only_if_absent():
    store = MVCC()
    absent = [{"key": b"k", "target": "create", "result": "=", "value": 0}]
    create = [{"op": "put", "key": b"k", "value": b"first"}]
    assert txn(store, absent, create)[0]["succeeded"] is True
    assert txn(store, absent, create)[0]["succeeded"] is False
    assert get(store, b"k").value == b"first"


@pytest.mark.parametrize("compare, holds", [
    ({"key": b"missing", "target": "version", "result": "=", "value": 0}, True),
    ({"key": b"missing", "target": "value", "result": "=", "value": b""}, False),
    ({"key": b"missing", "target": "value", "result": "!=", "value": b"x"}, False),
    ({"key": b"a", "target": "value", "result": "=", "value": b"value-of-a"}, True),
    ({"key": b"a", "target": "value", "result": ">", "value": b"value-of-"}, True),
    ({"key": b"a", "target": "version", "result": "<", "value": 2}, True),
    ({"key": b"a", "target": "mod", "result": "!=", "value": 2}, False),
    ({"key": b"a", "target": "lease", "result": "=", "value": 0}, True),
    ({"key": b"a", "range_end": b"c", "target": "create", "result": ">", "value": 1}, True),
    ({"key": b"a", "range_end": b"c", "target": "create", "result": "<", "value": 3}, False),
    ({"key": b"x", "range_end": b"z", "target": "mod", "result": "=", "value": 0}, True),
])
def test_txn_compare_semantics(compare, holds):
    store = filled(b"a", b"b")
    assert txn(store, [compare], [])[0]["succeeded"] is holds


def test_txn_is_one_revision_and_its_events_keep_their_order():
    store = filled(b"old")
    response, events = txn(store, [], [
        {"op": "put", "key": b"z", "value": b"1"},
        {"op": "delete", "key": b"old"},
        {"op": "put", "key": b"a", "value": b"2"},
        {"op": "range", "key": b"\0", "range_end": b"\0"},
    ])
    assert store.revision == 3 and response["revision"] == 3
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", b"z", 3), ("DELETE", b"old", 3), ("PUT", b"a", 3)]
    assert [kv.key for kv in response["responses"][3]["kvs"]] == [b"a", b"z"]  # a txn reads its own writes
    assert [(e.type, e.kv.key) for e in store.events(3, b"\0", b"\0")] == [
        ("PUT", b"z"), ("DELETE", b"old"), ("PUT", b"a")]


def test_read_only_txn_does_not_bump_the_revision():
    store = filled(b"a")
    response, events = txn(store, [], [{"op": "range", "key": b"a"}, {"op": "delete", "key": b"nothing"}])
    assert events == [] and store.revision == 2 and response["revision"] == 2
    assert response["responses"][0]["kvs"][0].key == b"a"


@pytest.mark.parametrize("ops", [
    [{"op": "put", "key": b"k", "value": b"1"}, {"op": "put", "key": b"k", "value": b"2"}],
    [{"op": "delete", "key": b"a", "range_end": b"z"}, {"op": "put", "key": b"k", "value": b"1"}],
    [{"op": "put", "key": b"k", "value": b"1"},
     {"op": "txn", "success": [{"op": "put", "key": b"k", "value": b"2"}]}],
])
def test_txn_putting_a_key_twice_is_refused_whole(ops):
    store = filled(b"k")
    before = store.snapshot()
    for branches in ((ops, []), ([], ops)):  # refused whichever branch would run
        response, events = txn(store, [], *branches)
        assert response == {"error": "duplicate_key", "message": "etcdserver: duplicate key given in txn request"}
        assert events == []
    assert store.snapshot() == before


def test_nested_txn_branches_may_put_the_same_key_and_see_the_state_before_the_txn():
    store = filled(b"k")
    nested = {"op": "txn", "compare": [{"key": b"k", "target": "version", "result": "=", "value": 1}],
              "success": [{"op": "put", "key": b"n", "value": b"then"}],
              "failure": [{"op": "put", "key": b"n", "value": b"else"}]}
    response, events = txn(store, [], [{"op": "put", "key": b"k", "value": b"2"}, nested])
    assert response["responses"][1]["succeeded"] is True  # compared against k as of before the txn
    assert get(store, b"n").value == b"then" and get(store, b"k").version == 2
    assert {e.kv.mod_revision for e in events} == {3}


def test_txn_range_at_an_unreadable_revision_refuses_the_whole_txn():
    store = filled(b"a")
    before = store.snapshot()
    response, events = txn(store, [], [{"op": "put", "key": b"b", "value": b"1"},
                                       {"op": "range", "key": b"a", "revision": 9}])
    assert response["error"] == "future_revision" and events == []
    assert store.snapshot() == before


# -- events (watch replay) ------------------------------------------------------------


def test_events_from_a_revision_are_inclusive_ordered_and_filtered_by_key():
    store = MVCC()
    put(store, b"a", b"1")  # 2
    put(store, b"b", b"1")  # 3
    put(store, b"a", b"2")  # 4
    delete(store, b"a")  # 5
    events = store.events(3, b"a")
    assert events == [Event("PUT", KeyValue(b"a", 2, 4, 2, b"2"), KeyValue(b"a", 2, 2, 1, b"1")),
                      Event("DELETE", KeyValue(b"a", 0, 5, 0, b""), KeyValue(b"a", 2, 4, 2, b"2"))]
    assert [e.kv.mod_revision for e in store.events(2, b"\0", b"\0")] == [2, 3, 4, 5]
    assert [e.kv.key for e in store.events(3, b"b", b"c")] == [b"b"]
    assert store.events(0, b"\0", b"\0") == [] and store.events(6, b"\0", b"\0") == []


def test_events_limit_never_splits_a_revision():
    store = MVCC()
    put(store, b"x", b"1")  # 2
    txn(store, [], [{"op": "put", "key": key, "value": b"1"} for key in (b"a", b"b", b"c")])  # 3
    put(store, b"y", b"1")  # 4
    assert [e.kv.key for e in store.events(2, b"\0", b"\0", limit=2)] == [b"x", b"a", b"b", b"c"]
    assert [e.kv.key for e in store.events(2, b"\0", b"\0", limit=1)] == [b"x"]


def test_events_from_below_the_compaction_revision_fail():
    store = compacted_store()
    with pytest.raises(Compacted):
        store.events(4, b"\0", b"\0")
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in store.events(5, b"\0", b"\0")] == [
        ("DELETE", b"gone", 5), ("PUT", b"a", 6), ("PUT", b"b", 7)]


def test_apply_reports_the_same_events_a_watch_replays():
    store = filled(b"a", b"b")
    _, from_apply = txn(store, [], [{"op": "put", "key": b"a", "value": b"2"}, {"op": "delete", "key": b"b"}])
    assert store.events(store.revision, b"\0", b"\0") == from_apply


# -- snapshots ------------------------------------------------------------------------


def busy_store() -> MVCC:
    store = compacted_store()
    txn(store, [], [{"op": "put", "key": b"t2", "value": b"2"}, {"op": "put", "key": b"t1", "value": b"1"},
                    {"op": "delete", "key": b"b"}])
    put(store, b"a", b"4", lease=7)
    delete(store, b"t1")
    return store


def test_snapshot_restore_answers_every_question_the_same():
    store = busy_store()
    copy = MVCC.restore(store.snapshot())
    assert copy.snapshot() == store.snapshot()
    assert (copy.revision, copy.compact_revision, copy.size_bytes) == (
        store.revision, store.compact_revision, store.size_bytes)
    for revision in range(store.compact_revision, store.revision + 1):
        assert copy.range(b"\0", b"\0", revision=revision) == store.range(b"\0", b"\0", revision=revision)
        assert copy.events(revision, b"\0", b"\0") == store.events(revision, b"\0", b"\0")
    with pytest.raises(Compacted):
        copy.range(b"a", revision=store.compact_revision - 1)
    for op in ({"op": "put", "key": b"a", "value": b"5", "prev_kv": True}, {"op": "delete", "key": b"t2"},
               {"op": "compact", "revision": store.revision}, {"op": "put", "key": b"new", "value": b""}):
        assert copy.apply(op) == store.apply(op)
    assert copy.snapshot() == store.snapshot()


def test_snapshot_bytes_depend_only_on_the_state():
    assert busy_store().snapshot() == busy_store().snapshot()
    assert MVCC.restore(MVCC().snapshot()).revision == 1


def test_restore_refuses_what_is_not_a_snapshot():
    with pytest.raises(ValueError):
        MVCC.restore(b"\xc1garbage")
    with pytest.raises(ValueError):
        MVCC.restore(b"\x80")  # an empty msgpack map


# -- bad ops --------------------------------------------------------------------------


@pytest.mark.parametrize("op, says", [
    (None, "an op must be a map, not NoneType"),
    ([b"put"], "an op must be a map, not list"),
    ({}, "unknown op None"),
    ({"op": "frobnicate"}, "unknown op 'frobnicate'"),
    ({"op": ["put"]}, "unknown op ['put']"),
    ({"op": "put", "key": b"k"}, "put: missing field 'value'"),
    ({"op": "put", "key": "k", "value": b"v"}, "put: field 'key' must be bytes, not str"),
    ({"op": "put", "key": b"", "value": b"v"}, "put: key is not provided"),
    ({"op": "put", "key": b"k", "value": b"v", "prev_kv": 1}, "put: field 'prev_kv' must be bool, not int"),
    ({"op": "put", "key": b"k", "value": b"v", "ttl": 5}, "put: unknown field 'ttl'"),
    ({"op": "delete", "key": b"k", "range_end": None}, "delete: field 'range_end' must be bytes, not NoneType"),
    ({"op": "range", "key": b"k", "limit": True}, "range: field 'limit' must be int, not bool"),
    ({"op": "compact"}, "compact: missing field 'revision'"),
    ({"op": "compact", "revision": "2"}, "compact: field 'revision' must be int, not str"),
    ({"op": "txn", "success": {"op": "put"}}, "txn: field 'success' must be list or tuple, not dict"),
    ({"op": "txn", "success": [{"op": "compact", "revision": 2}]}, "compact is not allowed inside a txn"),
    ({"op": "txn", "success": [{"op": "put", "key": b"k"}]}, "put: missing field 'value'"),
    ({"op": "txn", "compare": [{"key": b"k", "target": "version", "result": "~", "value": 1}]},
     "compare: unknown result '~'"),
    ({"op": "txn", "compare": [{"key": b"k", "target": "colour", "result": "=", "value": 1}]},
     "compare: unknown target 'colour'"),
    ({"op": "txn", "compare": [{"key": b"k", "target": "value", "result": "=", "value": 1}]},
     "compare: a value compare needs a bytes value, not int"),
    ({"op": "txn", "compare": [{"key": b"k", "target": "mod", "result": "=", "value": b"1"}]},
     "compare: a mod compare needs a int value, not bytes"),
    ({"op": "txn", "compare": [7]}, "compare must be a map, not int"),
    ({"op": "frob" * 50}, "unknown op 'frobfrobfrobfrobfrobfrobfrobfrobfrob..."),
])
def test_bad_ops_get_an_error_response_and_change_nothing(op, says):
    store = busy_store()
    before = store.snapshot()
    response, events = store.apply(op)
    assert response == {"error": "bad_op", "message": says}
    assert events == [] and store.snapshot() == before


def test_txn_size_and_depth_are_bounded():
    store = filled(b"a")
    too_many = [{"op": "range", "key": b"a"}] * 129
    assert store.apply({"op": "txn", "failure": too_many})[0]["error"] == "too_many_ops"
    deep: dict = {"op": "txn"}
    for _ in range(10):
        deep = {"op": "txn", "success": [deep]}
    assert store.apply(deep)[0] == {"error": "bad_op", "message": "txn: nested more than 4 deep"}
    assert store.revision == 2


# -- property: MVCC against a model that copies the whole key space per revision --------

KEYS = [b"a", b"ab", b"abc", b"b", b"ba", b"c"]


def model_put(state: dict, key: bytes, value: bytes, revision: int) -> None:
    old = state.get(key)
    create, version = (old.create_revision, old.version + 1) if old else (revision, 1)
    state[key] = KeyValue(key, create, revision, version, value)


def in_range(name: bytes, key: bytes, range_end: bytes) -> bool:
    if not range_end:
        return name == key
    return name >= key if range_end == b"\0" else key <= name < range_end


def model_apply(state: dict, op: dict, revision: int) -> bool:
    """Apply a put or delete to ``state``; whether it changed anything."""
    if op["op"] == "put":
        model_put(state, op["key"], op["value"], revision)
        return True
    doomed = [name for name in state if in_range(name, op["key"], op["range_end"])]
    for name in doomed:
        del state[name]
    return bool(doomed)


def model_compare(state: dict, compare: dict) -> bool:
    kvs = [kv for name, kv in sorted(state.items()) if in_range(name, compare["key"], compare["range_end"])]
    if not kvs:
        if compare["target"] == "value":
            return False
        kvs = [KeyValue(b"", 0, 0, 0, b"")]
    field = {"version": "version", "create": "create_revision", "mod": "mod_revision", "value": "value"}
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}
    return all(ops[compare["result"]](getattr(kv, field[compare["target"]]), compare["value"]) for kv in kvs)


def has_duplicates(ops: list[dict]) -> bool:
    puts = [op["key"] for op in ops if op["op"] == "put"]
    deletes = [op for op in ops if op["op"] == "delete"]
    return len(set(puts)) < len(puts) or any(in_range(k, d["key"], d["range_end"]) for k in puts for d in deletes)


range_ends = st.sampled_from(["single", "prefix", "from"])


@st.composite
def writes(draw) -> dict:
    key = draw(st.sampled_from(KEYS))
    if draw(st.booleans()):
        return {"op": "put", "key": key, "value": draw(st.sampled_from([b"", b"x", b"y"]))}
    end = {"single": b"", "prefix": prefix_end(key), "from": b"\0"}[draw(range_ends)]
    return {"op": "delete", "key": key, "range_end": end}


@st.composite
def compares(draw) -> dict:
    target = draw(st.sampled_from(["version", "create", "mod", "value"]))
    value = draw(st.sampled_from([b"", b"x", b"y"]) if target == "value" else st.integers(0, 8))
    key = draw(st.sampled_from(KEYS))
    end = {"single": b"", "prefix": prefix_end(key), "from": b"\0"}[draw(range_ends)]
    return {"key": key, "range_end": end, "target": target, "result": draw(st.sampled_from(["=", "!=", "<", ">"])),
            "value": value}


ops = st.one_of(
    writes(),
    st.builds(lambda compare, success, failure: {"op": "txn", "compare": compare, "success": success,
                                                 "failure": failure},
              st.lists(compares(), max_size=2), st.lists(writes(), max_size=3), st.lists(writes(), max_size=3)),
    st.builds(lambda revision: {"op": "compact", "revision": revision}, st.integers(0, 12)),
)


def run_model(history: list[dict], op: dict, compact_revision: int) -> tuple[str | None, int]:
    """Apply ``op`` to the model: the error it expects (or None) and the new compaction revision."""
    revision = len(history) - 1
    if op["op"] == "compact":
        if op["revision"] <= compact_revision:
            return "compacted", compact_revision
        if op["revision"] > revision:
            return "future_revision", compact_revision
        return None, op["revision"]
    if op["op"] == "txn":
        if has_duplicates(op["success"]) or has_duplicates(op["failure"]):
            return "duplicate_key", compact_revision
        succeeded = all(model_compare(history[-1], compare) for compare in op["compare"])
        steps = op["success"] if succeeded else op["failure"]
    else:
        steps = [op]
    state = dict(history[-1])
    changed = [model_apply(state, step, revision + 1) for step in steps]
    if any(changed):
        history.append(state)
    return None, compact_revision


def replay(state: dict, events: list[Event]) -> dict:
    state = dict(state)
    for event in events:
        if event.type == "PUT":
            state[event.kv.key] = event.kv
        else:
            del state[event.kv.key]
    return state


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(ops, max_size=20))
def test_mvcc_matches_a_model_of_full_copies_per_revision(script):
    store = MVCC()
    history: list[dict] = [{}, {}]  # history[r] = the key space at revision r; revision 0 never exists
    compact_revision = 0
    for op in script:
        expected_error, compact_revision = run_model(history, op, compact_revision)
        response, _ = store.apply(op)
        assert response.get("error") == expected_error
        assert store.revision == len(history) - 1 == response.get("revision", store.revision)
    assert store.compact_revision == compact_revision

    for revision in range(1, store.revision + 1):
        if revision < compact_revision:
            with pytest.raises(Compacted):
                store.range(b"\0", b"\0", revision=revision)
            continue
        expected = [kv for _, kv in sorted(history[revision].items())]
        assert store.range(b"\0", b"\0", revision=revision)["kvs"] == expected
        if revision > 1:
            replayed = replay(history[revision - 1],
                              [e for e in store.events(revision, b"\0", b"\0") if e.kv.mod_revision == revision])
            assert replayed == history[revision]
    with pytest.raises(FutureRevision):
        store.range(b"\0", b"\0", revision=store.revision + 1)
    assert MVCC.restore(store.snapshot()).snapshot() == store.snapshot()
