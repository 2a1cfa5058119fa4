"""The key-value state machine under the raft log: etcd v3's MVCC, in memory.

Every store member applies the same committed ops in the same order, so
:meth:`MVCC.apply` is a pure function of the state and the op: no clock, no
randomness, no I/O, and an op it cannot carry out yields the same error
response on every member instead of raising (a member that raised would stall
while the others moved on).

The model is etcd's (``server/mvcc``). Every write gets the next *revision*, a
store-wide counter that starts at 1; a txn's writes share one revision and are
ordered by their position in it (etcd's sub-revision). Each key keeps its
history of versions and tombstones until a compaction drops what no read at
or after the compaction revision can see. Reads at a past revision, the API
server's resourceVersion, compare-and-swap on ``mod_revision`` and watches
from a revision (:meth:`MVCC.events`) are all answered from that history.

Two indexes share one set of records:

- ``_keys`` — key → its records, oldest first; sorted by key for range scans;
- ``_log`` — the records from the compaction revision on, in write order:
  what a watch replays, without touching keys that did not change.

A record is a :class:`KeyValue`; a tombstone is one with ``version == 0``,
which is exactly the ``kv`` etcd puts in a DELETE event.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, NamedTuple

from sortedcontainers import SortedDict

from bus.codec import Rejected, pack_value, unpack_value

MAX_TXN_OPS = 128
"""etcd's default ``--max-txn-ops``: the most compares, or ops in one branch, a txn may hold."""

MAX_TXN_DEPTH = 4
"""How deep txns may nest: bounds the recursion one op can make every member do."""

SNAPSHOT_FORMAT = 1
"""Written into every snapshot, so a member refuses bytes it does not understand."""

# How a record is ordered in a history or in the log (bisect's ``key=``).
_REVISION = operator.attrgetter("mod_revision")


class Compacted(Exception):
    """A read or watch asked for a revision that compaction has dropped."""

    def __init__(self, revision: int, compact_revision: int) -> None:
        super().__init__(f"mvcc: required revision {revision} has been compacted "
                         f"(compacted revision {compact_revision})")
        self.revision = revision
        self.compact_revision = compact_revision


class FutureRevision(Exception):
    """A read asked for a revision the store has not reached."""

    def __init__(self, revision: int, current_revision: int) -> None:
        super().__init__(f"mvcc: required revision {revision} is a future revision "
                         f"(current revision {current_revision})")
        self.revision = revision
        self.current_revision = current_revision


class KeyValue(NamedTuple):
    """One version of a key (etcd's ``mvccpb.KeyValue``)."""

    key: bytes
    create_revision: int
    """Revision of the put that created this life of the key; 0 in a tombstone."""
    mod_revision: int
    """Revision of the write that made this version."""
    version: int
    """1 on create, +1 per put, back to 1 after a delete; 0 marks a tombstone."""
    value: bytes
    lease: int = 0
    """Lease id the key is attached to; 0 for none."""


class Event(NamedTuple):
    """One change, as a watch reports it."""

    type: str
    """"PUT" or "DELETE"."""
    kv: KeyValue
    """The new version; for a DELETE, a tombstone: key, mod_revision, the rest zero."""
    prev_kv: KeyValue | None
    """The version this change replaced, if there was one and it is still kept."""


class _Refused(Exception):
    """An op every member turns down the same way; :meth:`MVCC.apply` answers it as an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> _Refused:
    return _Refused("bad_op", message)


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\0"  # all 0xff: no key bounds the prefix from above, so read to the end
    end[-1] += 1
    return bytes(end)


def in_range(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    """Whether ``candidate`` is in the range etcd means by (key, range_end)."""
    if not range_end:
        return candidate == key
    if range_end == b"\0":
        return candidate >= key
    return key <= candidate < range_end


class MVCC:
    """The store's state: every key's history, the revision counter and the watch log."""

    def __init__(self) -> None:
        self.revision = 1
        """The current revision: 1 when empty, as in etcd, so the first write is revision 2."""
        self.compact_revision = 0
        """Reads and watches below this fail with :class:`Compacted`; 0 until the first compaction."""
        self.size_bytes = 0
        """Bytes of keys and values over all kept history (approximate: for a metric)."""
        self._keys: SortedDict[bytes, list[KeyValue]] = SortedDict()
        self._log: list[KeyValue] = []

    # -- reads -----------------------------------------------------------------

    def range(self, key: bytes, range_end: bytes = b"", revision: int = 0, limit: int = 0,
              keys_only: bool = False, count_only: bool = False) -> dict:
        """The live keys in range as of ``revision`` (0: now), sorted by key, as etcd's Range.

        Returns ``{"revision", "kvs", "count", "more"}``: ``count`` ignores
        ``limit``; ``more`` says ``limit`` cut the answer short. Raises
        :class:`Compacted` or :class:`FutureRevision` for an unreadable revision.
        """
        read_at = self._readable(revision)
        return self._range_at(key, range_end, read_at, limit, keys_only, count_only)

    def events(self, start_revision: int, key: bytes, range_end: bytes = b"", limit: int = 0) -> list[Event]:
        """Every change to keys in range from ``start_revision`` on, in the order it was applied.

        What a watch from ``start_revision`` must deliver first. ``limit`` (0:
        none) is reached only at a revision boundary, so a watcher can resume
        from the last revision returned + 1 without missing the rest of a txn.
        A start of 0 or past the current revision has nothing to replay;
        a start below the compaction revision raises :class:`Compacted`.
        """
        if start_revision <= 0 or start_revision > self.revision:
            return []
        if start_revision < self.compact_revision:
            raise Compacted(start_revision, self.compact_revision)
        found: list[Event] = []
        for index in range(bisect_left(self._log, start_revision, key=_REVISION), len(self._log)):
            record = self._log[index]
            if 0 < limit <= len(found) and record.mod_revision > found[-1].kv.mod_revision:
                break
            if in_range(record.key, key, range_end):
                found.append(self._event(record))
        return found

    def _readable(self, revision: int) -> int:
        if revision <= 0:  # etcd: any revision <= 0 means "now"
            return self.revision
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        if revision < self.compact_revision:
            raise Compacted(revision, self.compact_revision)
        return revision

    def _range_at(self, key: bytes, range_end: bytes, read_at: int, limit: int = 0,
                  keys_only: bool = False, count_only: bool = False) -> dict:
        kvs: list[KeyValue] = []
        count = 0
        for kv in self._visible(key, range_end, read_at):
            count += 1
            if not count_only and (limit <= 0 or len(kvs) < limit):
                kvs.append(kv._replace(value=b"") if keys_only else kv)
        return {"revision": self.revision, "kvs": kvs, "count": count, "more": 0 < limit < count}

    def _visible(self, key: bytes, range_end: bytes, read_at: int) -> Iterator[KeyValue]:
        """The live version of each key in range as of ``read_at``, in key order."""
        for name in self._scan(key, range_end):
            history = self._keys[name]
            newest = bisect_right(history, read_at, key=_REVISION)
            if newest and history[newest - 1].version:
                yield history[newest - 1]

    def _scan(self, key: bytes, range_end: bytes) -> Iterable[bytes]:
        """Keys with any kept history in range: the three shapes of an etcd range."""
        if not range_end:
            return (key,) if key in self._keys else ()
        if range_end == b"\0":
            return self._keys.irange(minimum=key)
        return self._keys.irange(minimum=key, maximum=range_end, inclusive=(True, False))

    def _event(self, record: KeyValue) -> Event:
        history = self._keys[record.key]
        at = bisect_left(history, record.mod_revision, key=_REVISION)
        previous = history[at - 1] if at and history[at - 1].version else None
        return Event("PUT" if record.version else "DELETE", record, previous)

    # -- writes ----------------------------------------------------------------

    def apply(self, op: Any) -> tuple[dict, list[Event]]:
        """Apply one committed op: its response and the changes it made, in order.

        Never raises for a bad op: the response is ``{"error": code,
        "message": text}`` and nothing changes — the same answer on every member.
        """
        try:
            checked = _parse_op(op, depth=0)
            return self._HANDLERS[checked["op"]](self, checked)
        except _Refused as refused:
            return {"error": refused.code, "message": refused.message}, []

    def _apply_put(self, op: dict) -> tuple[dict, list[Event]]:
        return self._write(lambda revision, events: self._put(op, revision, events))

    def _apply_delete(self, op: dict) -> tuple[dict, list[Event]]:
        return self._write(lambda revision, events: self._delete(op, revision, events))

    def _apply_range(self, op: dict) -> tuple[dict, list[Event]]:
        read_at = self._readable_or_refuse(op["revision"])
        return self._range_at(op["key"], op["range_end"], read_at, op["limit"], op["keys_only"],
                              op["count_only"]), []

    def _apply_txn(self, op: dict) -> tuple[dict, list[Event]]:
        # Decide every branch before writing anything, as etcd does: compares
        # (nested ones too) see the state before the txn, and a refusal found
        # here leaves nothing half-applied.
        plan = self._plan(op)
        return self._write(lambda revision, events: self._run_txn(plan, revision, events))

    def _apply_compact(self, op: dict) -> tuple[dict, list[Event]]:
        revision = op["revision"]
        if revision <= self.compact_revision:
            raise _Refused("compacted", "mvcc: required revision has been compacted")
        if revision > self.revision:
            raise _Refused("future_revision", "mvcc: required revision is a future revision")
        self._compact(revision)
        return {"revision": self.revision}, []

    _HANDLERS: ClassVar[dict[str, Callable[[MVCC, dict], tuple[dict, list[Event]]]]] = {
        "put": _apply_put, "delete": _apply_delete, "range": _apply_range, "txn": _apply_txn,
        "compact": _apply_compact,
    }

    def _write(self, run: Callable[[int, list[Event]], dict]) -> tuple[dict, list[Event]]:
        """Run one write at the next revision; the revision moves only if something changed."""
        events: list[Event] = []
        response = run(self.revision + 1, events)
        if events:
            self.revision += 1
        _stamp(response, self.revision)
        return response, events

    def _put(self, op: dict, revision: int, events: list[Event]) -> dict:
        history = self._keys.get(op["key"])
        previous = history[-1] if history and history[-1].version else None
        if previous is None:
            kv = KeyValue(op["key"], revision, revision, 1, op["value"], op["lease"])
        else:
            kv = KeyValue(op["key"], previous.create_revision, revision, previous.version + 1, op["value"],
                          op["lease"])
        self._record(kv)
        events.append(Event("PUT", kv, previous))
        return {"revision": revision, "prev_kv": previous if op["prev_kv"] else None}

    def _delete(self, op: dict, revision: int, events: list[Event]) -> dict:
        # Read in full before writing: the tombstones go into the histories being read.
        gone = list(self._visible(op["key"], op["range_end"], revision))
        for previous in gone:
            tombstone = KeyValue(previous.key, 0, revision, 0, b"")
            self._record(tombstone)
            events.append(Event("DELETE", tombstone, previous))
        return {"revision": revision, "deleted": len(gone), "prev_kvs": gone if op["prev_kv"] else []}

    def _range_in_txn(self, op: dict, revision: int, events: list[Event]) -> dict:
        # A txn reads its own earlier writes (etcd's storeTxnWrite.Range).
        read_at = op["revision"] if op["revision"] > 0 else revision if events else self.revision
        return self._range_at(op["key"], op["range_end"], read_at, op["limit"], op["keys_only"], op["count_only"])

    _STEPS: ClassVar[dict[str, Callable[[MVCC, dict, int, list[Event]], dict]]] = {
        "put": _put, "delete": _delete, "range": _range_in_txn,
    }

    def _record(self, kv: KeyValue) -> None:
        self._keys.setdefault(kv.key, []).append(kv)
        self._log.append(kv)
        self.size_bytes += _size(kv)

    def _readable_or_refuse(self, revision: int) -> int:
        try:
            return self._readable(revision)
        except Compacted as exc:
            raise _Refused("compacted", str(exc)) from None
        except FutureRevision as exc:
            raise _Refused("future_revision", str(exc)) from None

    # -- txn -------------------------------------------------------------------

    def _plan(self, txn: dict) -> _Plan:
        succeeded = all(self._holds(compare) for compare in txn["compare"])
        ops = txn["success"] if succeeded else txn["failure"]
        nested: dict[int, _Plan] = {}
        for index, op in enumerate(ops):
            if op["op"] == "txn":
                nested[index] = self._plan(op)
            elif op["op"] == "range":
                self._readable_or_refuse(op["revision"])
        return _Plan(succeeded, ops, nested)

    def _run_txn(self, plan: _Plan, revision: int, events: list[Event]) -> dict:
        responses = []
        for index, op in enumerate(plan.ops):
            if op["op"] == "txn":
                responses.append(self._run_txn(plan.nested[index], revision, events))
            else:
                responses.append(self._STEPS[op["op"]](self, op, revision, events))
        return {"revision": revision, "succeeded": plan.succeeded, "responses": responses}

    def _holds(self, compare: dict) -> bool:
        """etcd's applyCompare: true if every key in range passes; a missing key counts as all zeros."""
        kvs = list(self._visible(compare["key"], compare["range_end"], self.revision))
        if not kvs:
            if compare["target"] == "value":
                return False  # a missing value equals nothing, not even b""
            kvs = [_ABSENT]
        field = _TARGET_FIELDS[compare["target"]]
        test = _RESULTS[compare["result"]]
        return all(test(getattr(kv, field), compare["value"]) for kv in kvs)

    # -- compaction --------------------------------------------------------------

    def _compact(self, revision: int) -> None:
        for key in list(self._keys):
            history = self._keys[key]
            kept = _compacted(history, revision)
            if len(kept) == len(history):
                continue
            self.size_bytes -= sum(map(_size, history[:len(history) - len(kept)]))
            if kept:
                self._keys[key] = kept
            else:
                del self._keys[key]
        del self._log[:bisect_left(self._log, revision, key=_REVISION)]
        self.compact_revision = revision

    # -- snapshots ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything needed to rebuild this store; equal states give equal bytes."""
        return pack_value({
            "format": SNAPSHOT_FORMAT,
            "revision": self.revision,
            "compact_revision": self.compact_revision,
            "keys": [[key, [kv[1:] for kv in history]] for key, history in self._keys.items()],
            # The log holds the same records as the histories: name them, don't copy them.
            "log": [[kv.key, kv.mod_revision] for kv in self._log],
        })

    @classmethod
    def restore(cls, data: bytes) -> MVCC:
        """The store :meth:`snapshot` saved; raises ValueError for anything else."""
        try:
            state = unpack_value(data, len(data))
        except Rejected as exc:
            raise ValueError(f"not an mvcc snapshot: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not an mvcc snapshot: unknown format")
        try:
            return cls._rebuild(state)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"not an mvcc snapshot: {exc!r}") from None

    @classmethod
    def _rebuild(cls, state: dict) -> MVCC:
        store = cls()
        store.revision = state["revision"]
        store.compact_revision = state["compact_revision"]
        for key, records in state["keys"]:
            history = [KeyValue(key, *fields) for fields in records]
            store._keys[key] = history
            store.size_bytes += sum(map(_size, history))
        for key, revision in state["log"]:
            history = store._keys[key]
            record = history[bisect_left(history, revision, key=_REVISION)]
            if record.mod_revision != revision:
                raise ValueError(f"log names {key!r}@{revision}, which no history holds")
            store._log.append(record)
        return store


class _Plan(NamedTuple):
    """A txn's decided path: which branch runs, and the plans of the txns nested in it."""

    succeeded: bool
    ops: list[dict]
    nested: dict[int, _Plan]
    """Index in ``ops`` of a nested txn → its plan."""


_ABSENT = KeyValue(b"", 0, 0, 0, b"")

_TARGET_FIELDS = {"version": "version", "create": "create_revision", "mod": "mod_revision", "lease": "lease",
                  "value": "value"}

_RESULTS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt}


def _size(kv: KeyValue) -> int:
    return len(kv.key) + len(kv.value)


def _stamp(response: dict, revision: int) -> None:
    """Give a response, and every response nested in it, the revision the whole op ended at."""
    response["revision"] = revision
    for inner in response.get("responses", ()):
        _stamp(inner, revision)


def _compacted(history: list[KeyValue], revision: int) -> list[KeyValue]:
    """What a compaction at ``revision`` keeps of one key's history.

    The newest record at or below ``revision`` (what a read there sees) and
    all after it. A tombstone below ``revision`` goes too: no read can see
    it. A tombstone *at* ``revision`` stays until the next compaction, since a
    watch from ``revision`` must still replay it (and find it in the history).
    """
    newest = bisect_right(history, revision, key=_REVISION)
    if not newest:
        return history
    first = newest - 1
    if history[first].version == 0 and history[first].mod_revision < revision:
        first = newest
    return history[first:]


# -- op validation -------------------------------------------------------------
# Ops arrive as decoded msgpack from clients. Everything is checked before
# anything is written, so an op is either applied whole or refused whole.

_REQUIRED = object()

#: The fields each op may carry: name → (accepted types, default or _REQUIRED).
_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "put": {"key": ((bytes,), _REQUIRED), "value": ((bytes,), _REQUIRED), "prev_kv": ((bool,), False),
            "lease": ((int,), 0)},
    "delete": {"key": ((bytes,), _REQUIRED), "range_end": ((bytes,), b""), "prev_kv": ((bool,), False)},
    "range": {"key": ((bytes,), _REQUIRED), "range_end": ((bytes,), b""), "revision": ((int,), 0),
              "limit": ((int,), 0), "keys_only": ((bool,), False), "count_only": ((bool,), False)},
    "txn": {"compare": ((list, tuple), ()), "success": ((list, tuple), ()), "failure": ((list, tuple), ())},
    "compact": {"revision": ((int,), _REQUIRED)},
}

_COMPARE_FIELDS: dict[str, tuple[tuple[type, ...], Any]] = {
    "key": ((bytes,), _REQUIRED), "range_end": ((bytes,), b""), "target": ((str,), _REQUIRED),
    "result": ((str,), _REQUIRED), "value": ((int, bytes), _REQUIRED),
}

_IN_TXN = ("put", "delete", "range", "txn")


class BadOp(ValueError):
    """An op that :meth:`MVCC.apply` would refuse whatever the state; ``code`` as in its error response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_op(op: Any) -> None:
    """Raise :class:`BadOp` for an op no state could accept, so a member refuses it before it is logged."""
    try:
        _parse_op(op, 0)
    except _Refused as exc:
        raise BadOp(exc.code, exc.message) from None


def _parse_op(raw: Any, depth: int) -> dict:
    """A checked copy of ``raw`` with defaults filled in; raises :class:`_Refused`."""
    kind = raw.get("op") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _bad(f"unknown op {_show(kind)}" if isinstance(raw, dict) else
                   f"an op must be a map, not {type(raw).__name__}")
    if depth and kind not in _IN_TXN:
        raise _bad(f"{kind} is not allowed inside a txn")
    op = _fields(raw, _FIELDS[kind], kind, allowed_extra="op")
    op["op"] = kind
    if kind == "put" and not op["key"]:
        raise _bad("put: key is not provided")
    if kind == "txn":
        _parse_txn(op, depth)
    return op


def _parse_txn(txn: dict, depth: int) -> None:
    if depth >= MAX_TXN_DEPTH:
        raise _bad(f"txn: nested more than {MAX_TXN_DEPTH} deep")
    for part in ("compare", "success", "failure"):
        if len(txn[part]) > MAX_TXN_OPS:
            raise _Refused("too_many_ops", "etcdserver: too many operations in txn request")
    txn["compare"] = [_parse_compare(compare) for compare in txn["compare"]]
    txn["success"] = [_parse_op(op, depth + 1) for op in txn["success"]]
    txn["failure"] = [_parse_op(op, depth + 1) for op in txn["failure"]]
    if depth == 0:  # _op_writes checks the nested txns on the way
        _branch_writes(txn["success"])
        _branch_writes(txn["failure"])


def _parse_compare(raw: Any) -> dict:
    compare = _fields(raw, _COMPARE_FIELDS, "compare")
    target, result, value = compare["target"], compare["result"], compare["value"]
    if target not in _TARGET_FIELDS:
        raise _bad(f"compare: unknown target {_show(target)}")
    if result not in _RESULTS:
        raise _bad(f"compare: unknown result {_show(result)}")
    wanted = bytes if target == "value" else int
    if not isinstance(value, wanted):
        raise _bad(f"compare: a {target} compare needs a {wanted.__name__} value, not {type(value).__name__}")
    return compare


def _fields(raw: Any, spec: dict[str, tuple[tuple[type, ...], Any]], what: str, allowed_extra: str = "") -> dict:
    if not isinstance(raw, dict):
        raise _bad(f"{what} must be a map, not {type(raw).__name__}")
    for name in raw:
        if name not in spec and name != allowed_extra:
            raise _bad(f"{what}: unknown field {_show(name)}")
    checked = {}
    for name, (types, default) in spec.items():
        if name not in raw:
            if default is _REQUIRED:
                raise _bad(f"{what}: missing field {name!r}")
            checked[name] = default
        elif not _is(raw[name], types):
            expected = " or ".join(t.__name__ for t in types)
            raise _bad(f"{what}: field {name!r} must be {expected}, not {type(raw[name]).__name__}")
        else:
            checked[name] = raw[name]
    return checked


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int in Python but not on the wire: True must not pass for a revision.
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _show(value: Any) -> str:
    """A client's value for an error message, cut short: messages reach logs and replies."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _branch_writes(ops: list[dict]) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """The keys one branch of a txn puts and the ranges it deletes.

    Raises duplicate_key, as etcd's checkIntervals does, if two ops of the
    branch put the same key or one puts a key another deletes: the result
    would depend on their order. The two branches of a nested txn never both
    run, so they may overlap each other.
    """
    puts: set[bytes] = set()
    deletes: list[tuple[bytes, bytes]] = []
    for op_puts, op_deletes in map(_op_writes, ops):
        if op_puts & puts or _any_in(op_puts, deletes) or _any_in(puts, op_deletes):
            raise _Refused("duplicate_key", "etcdserver: duplicate key given in txn request")
        puts |= op_puts
        deletes += op_deletes
    return puts, deletes


def _op_writes(op: dict) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    if op["op"] == "put":
        return {op["key"]}, []
    if op["op"] == "delete":
        return set(), [(op["key"], op["range_end"])]
    if op["op"] == "txn":
        then_puts, then_deletes = _branch_writes(op["success"])
        else_puts, else_deletes = _branch_writes(op["failure"])
        return then_puts | else_puts, then_deletes + else_deletes
    return set(), []


def _any_in(keys: set[bytes], ranges: list[tuple[bytes, bytes]]) -> bool:
    return any(in_range(key, start, end) for key in keys for start, end in ranges)
