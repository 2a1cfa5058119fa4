"""The watch cache: one per resource, fed by one store watch, serving every client watch.

Kubernetes' API server does not open an etcd watch per client: the *cacher*
(``k8s.io/apiserver/pkg/storage/cacher``) holds the current objects of a
resource and a window of its recent events, and serves lists and watches from
them. That is what lets a thousand kubelets watch pods without a thousand
etcd watches, and it is why a client resuming from a resourceVersion older
than the window gets **410 Gone** and must relist.

This module is that cache as a pure core:

- :class:`WatchCache` holds the objects and the event window of one
  resource. ``since(rv)`` returns every event after ``rv`` in revision order,
  or raises :class:`TooOld` when ``rv`` is below the window. It also indexes
  its objects by the exact value of a few fields (``metadata.name`` for every
  resource, ``spec.nodeName`` for pods: :func:`indexed_fields`), so a list or
  a watch that pins one of them (every kubelet's ``spec.nodeName=<node>``)
  reads only the objects it can match instead of all of them.
- :class:`Filter` is a watch's namespace, label selector and field selector;
  :func:`filtered` turns cache events into what one watcher should see, with
  Kubernetes' transitions (an object modified *into* the selector is ADDED to
  that watcher, one modified out of it is DELETED).
- :func:`candidates` is the cacher's *trigger functions*: a watcher whose
  selector pins an indexed field (:meth:`Filter.index_term`) is woken only by
  events whose object has that value now or had it before, so thousands of
  per-node watchers cost each event a dictionary lookup, not a filter each.
- :class:`Outbox` is one watcher's bounded queue with credit-based flow
  control: the server sends while fewer than ``window`` messages are
  unacknowledged and queues the rest; a watcher whose queue passes its bound
  is cut off, so one slow client never holds memory or slows the rest.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from actors.apiserver.selectors import FieldSelector, LabelSelector, field_value

Obj = dict[str, Any]
K = TypeVar("K", bound=Hashable)
W = TypeVar("W")

#: The fields each kind's cache indexes (Kubernetes' cacher indexes pods by spec.nodeName, and every
#: resource by name); any other kind gets :data:`DEFAULT_INDEXED`.
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {"Pod": ("metadata.name", "spec.nodeName")}
DEFAULT_INDEXED: tuple[str, ...] = ("metadata.name",)


def indexed_fields(kind: str) -> tuple[str, ...]:
    """The fields the cache of ``kind`` (say ``"Pod"``) indexes its objects by."""
    return INDEXED_FIELDS.get(kind, DEFAULT_INDEXED)

ADDED, MODIFIED, DELETED, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "BOOKMARK"


class TooOld(Exception):
    """The requested resourceVersion is older than the cache's window (410 Gone)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class CacheEvent:
    type: str
    """ADDED, MODIFIED or DELETED."""
    key: str
    obj: Obj
    """The object after the change; for DELETED its last state, with the deletion's resourceVersion."""
    prev: Obj | None
    """The object before the change (None for ADDED)."""
    rv: int
    size: int
    """Bytes of the stored value: what the event costs to send."""
    prev_size: int = 0
    """Bytes of ``prev``: what a DELETED sent with the previous content costs."""


class WatchCache:
    """The objects and recent events of one resource, its objects indexed by the ``indexed`` fields."""

    def __init__(self, resource: str, capacity: int, indexed: Iterable[str] = DEFAULT_INDEXED) -> None:
        assert capacity >= 1
        self.resource = resource
        self.capacity = capacity
        self.indexed: tuple[str, ...] = tuple(dict.fromkeys(indexed))
        """The fields whose exact value :meth:`keys_where` finds objects by."""
        self._index: dict[str, dict[str, dict[str, None]]] = {f: {} for f in self.indexed}
        """field -> value -> the keys having it (a dict as an ordered set: deterministic order)."""
        self._values: dict[str, tuple[str, ...]] = {}
        """key -> its values of the indexed fields, as indexed (so a move or delete finds its old bucket)."""
        self.objects: dict[str, Obj] = {}
        self.sizes: dict[str, int] = {}
        self.events: deque[CacheEvent] = deque()
        self._rvs: deque[int] = deque()
        self.revision = 0
        """Every change up to this store revision is reflected."""
        self.oldest = 0
        """A watch from any rv >= oldest can be served (it gets the events after rv)."""
        self._history: dict[str, dict[str, deque[CacheEvent]]] = {f: {} for f in self.indexed}
        """field -> value -> the window's events whose object had that value before or after the change: what
        a watch pinned to the value resumes from, instead of filtering the whole window (10,000 kubelets
        starting their watches at once would filter 10,000 events each)."""
        self._appended = 0

    def reset(self, objects: dict[str, tuple[Obj, int]], revision: int) -> None:
        """Start over from a list at ``revision`` (key -> (object, size)); the window starts there."""
        self.objects = {k: o for k, (o, _) in objects.items()}
        self.sizes = {k: s for k, (_, s) in objects.items()}
        self._index = {f: {} for f in self.indexed}
        self._values = {}
        for k, o in self.objects.items():
            self._reindex(k, o)
        self.events.clear()
        self._rvs.clear()
        self._history = {f: {} for f in self.indexed}
        self.revision = revision
        self.oldest = revision

    def apply(self, changes: Iterable[tuple[str, str, Obj | None, int, int]]) -> list[CacheEvent]:
        """Apply store changes ``(PUT|DELETE, key, object or None, revision, size)`` in order.

        Returns the cache events they make. A change at or below the cache's
        revision (a resumed store watch repeating itself) is skipped.
        """
        out = []
        # One revision may change many keys (a txn, a range delete): the floor is where this call
        # started, not the revision of the change just applied.
        floor = self.revision
        for op, key, obj, rv, size in changes:
            if rv <= floor:
                continue
            prev = self.objects.get(key)
            if op == "PUT":
                assert obj is not None
                self.objects[key] = obj
                self._reindex(key, obj)
                prev_size = self.sizes.get(key, 0)
                self.sizes[key] = size
                ev = CacheEvent(ADDED if prev is None else MODIFIED, key, obj, prev, rv, size, prev_size)
            else:
                if prev is None:
                    self.revision = max(self.revision, rv)
                    continue  # a delete of something never seen (listed after it went)
                del self.objects[key]
                self._unindex(key)
                gone = dict(prev)
                gone["metadata"] = dict(prev.get("metadata") or {}, resourceVersion=str(rv))
                ev = CacheEvent(DELETED, key, gone, prev, rv, self.sizes.pop(key, size))
            self.revision = max(self.revision, rv)
            self.events.append(ev)
            self._rvs.append(rv)
            self._remember(ev)
            out.append(ev)
        while len(self.events) > self.capacity:
            dropped = self.events.popleft()
            self._rvs.popleft()
            self.oldest = dropped.rv
        if self._appended >= self.capacity:
            self._forget_old()
        return out

    def _remember(self, ev: CacheEvent) -> None:
        for f, by_value in self._history.items():
            for value in touched(ev, f):
                bucket = by_value.get(value)
                if bucket is None:
                    bucket = by_value[value] = deque()
                bucket.append(ev)
                while bucket[0].rv <= self.oldest:
                    bucket.popleft()
                self._appended += 1

    def _forget_old(self) -> None:
        """Drop what fell out of the window from every value's history (buckets not appended to lately)."""
        self._appended = 0
        for by_value in self._history.values():
            for value in list(by_value):
                bucket = by_value[value]
                while bucket and bucket[0].rv <= self.oldest:
                    bucket.popleft()
                if not bucket:
                    del by_value[value]

    def _reindex(self, key: str, obj: Obj) -> None:
        """File ``key`` under ``obj``'s values of the indexed fields (moving it if they changed)."""
        values = tuple(field_value(obj, f) for f in self.indexed)
        old = self._values.get(key)
        if old == values:
            return
        self._values[key] = values
        for i, (f, now) in enumerate(zip(self.indexed, values, strict=True)):
            if old is not None:
                if old[i] == now:
                    continue
                self._take_out(f, old[i], key)
            self._index[f].setdefault(now, {})[key] = None

    def _unindex(self, key: str) -> None:
        old = self._values.pop(key, None)
        if old is not None:
            for f, value in zip(self.indexed, old, strict=True):
                self._take_out(f, value, key)

    def _take_out(self, f: str, value: str, key: str) -> None:
        bucket = self._index[f][value]
        del bucket[key]
        if not bucket:
            del self._index[f][value]  # 5,000 nodes come and go: no empty buckets left behind

    def keys_where(self, field_name: str, value: str) -> list[str]:
        """The keys of the objects whose ``field_name`` (an indexed field) is exactly ``value``."""
        try:
            by_value = self._index[field_name]
        except KeyError:
            raise KeyError(f"the {self.resource} cache does not index {field_name}") from None
        return list(by_value.get(value, ()))

    def select(self, f: Filter) -> list[str]:
        """The keys of the objects ``f`` matches: through the index when ``f`` pins an indexed field."""
        term = f.index_term(self.indexed)
        if term is None:
            return [k for k, o in self.objects.items() if f.matches(o)]
        return [k for k in self.keys_where(*term) if f.matches(self.objects[k])]

    def progress(self, revision: int) -> None:
        """The store says everything up to ``revision`` has been reported."""
        if revision > self.revision:
            self.revision = revision

    def since(self, rv: int) -> list[CacheEvent]:
        """Every event after ``rv``, oldest first; :class:`TooOld` if the window starts after it."""
        if rv < self.oldest:
            raise TooOld(rv, self.oldest)
        start = bisect.bisect_right(self._rvs, rv)
        return [self.events[i] for i in range(start, len(self.events))]

    def since_for(self, rv: int, f: Filter) -> list[CacheEvent]:
        """The events after ``rv`` that ``f`` could see: those of its indexed value when it pins one (each
        event's object had that value before or after the change), else all of :meth:`since`."""
        term = f.index_term(self.indexed)
        if term is None:
            return self.since(rv)
        if rv < self.oldest:
            raise TooOld(rv, self.oldest)
        return [ev for ev in self._history[term[0]].get(term[1], ()) if ev.rv > rv]


@dataclass(frozen=True, slots=True)
class Filter:
    """What one list or watch asks for."""

    namespace: str = ""
    labels: LabelSelector | None = None
    fields: FieldSelector | None = None

    def matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        fields = self.fields
        if fields is None or not fields.terms:
            return True
        # Only the fields the terms name (mostly one), not every field of the object.
        return fields.matches({t.field: field_value(obj, t.field) for t in fields.terms})

    def index_term(self, indexed: Iterable[str]) -> tuple[str, str] | None:
        """``(field, value)`` of the first exact (not ``!=``) field term on one of ``indexed``, else None.

        Every object this filter matches has that value: the index finds them all.
        """
        if self.fields is None:
            return None
        indexed = tuple(indexed)
        for t in self.fields.terms:
            if not t.negated and t.field in indexed:
                return t.field, t.value
        return None


def touched(ev: CacheEvent, f: str) -> tuple[str, ...]:
    """The values of field ``f`` the event's object has after the change and had before it (once if equal):
    the index buckets, and the watchers pinned to them, that the event concerns."""
    now = field_value(ev.obj, f)
    before = now if ev.prev is None else field_value(ev.prev, f)
    return (now,) if before == now else (now, before)


def candidates(events: Sequence[CacheEvent], fields: Iterable[str], unindexed: Mapping[K, W],
               indexed: Mapping[tuple[str, str], Mapping[K, W]]) -> list[tuple[W, Sequence[CacheEvent]]]:
    """The watchers that may see something of ``events``, each with the events to filter for it.

    The cacher's trigger functions: a watcher registered under ``(field, value)`` (its filter's
    :meth:`Filter.index_term`, ``field`` one of ``fields``) can only pass an event whose object has
    ``value`` after the change or had it before (a pod bound to or moved onto its node is ADDED for it,
    one moved off or deleted is DELETED), so it gets just those events, in order; :func:`filtered`
    over the others would be empty. Every ``unindexed`` watcher gets every event, as before. Watchers
    come unindexed first (in their mapping's order), then indexed in the order the events reach them.
    """
    out: list[tuple[W, Sequence[CacheEvent]]] = [(w, events) for w in unindexed.values()]
    if not indexed:
        return out
    fields = tuple(fields)
    reached: dict[K, tuple[W, list[CacheEvent]]] = {}
    for ev in events:
        for f in fields:
            for value in touched(ev, f):
                for k, w in indexed.get((f, value), {}).items():
                    got = reached.get(k)
                    if got is None:
                        reached[k] = (w, [ev])
                    elif got[1][-1] is not ev:
                        got[1].append(ev)
    out.extend(reached.values())
    return out


def filtered(events: Iterable[CacheEvent], f: Filter) -> list[tuple[str, Obj, int]]:
    """What a watcher with filter ``f`` sees of ``events``: (type, object, size) in order."""
    out = []
    for ev in events:
        now = ev.type != DELETED and f.matches(ev.obj)
        before = ev.prev is not None and f.matches(ev.prev)
        if ev.type == ADDED:
            if now:
                out.append((ADDED, ev.obj, ev.size))
        elif ev.type == MODIFIED:
            if now and before:
                out.append((MODIFIED, ev.obj, ev.size))
            elif now:
                out.append((ADDED, ev.obj, ev.size))
            elif before:
                # Modified out of the selector: gone for this watcher. Like the
                # cacher, send the content it last saw, at this revision.
                gone = dict(ev.prev)
                gone["metadata"] = dict(ev.prev.get("metadata") or {}, resourceVersion=str(ev.rv))
                out.append((DELETED, gone, ev.prev_size or ev.size))
        elif before:
            out.append((DELETED, ev.obj, ev.size))
    return out


@dataclass(slots=True)
class Outbox:
    """One watcher's queue, with credit-based flow control and a bound.

    ``window``: messages that may be unacknowledged at once; ``limit``:
    events that may wait beyond that before the watcher is cut off.
    """

    window: int
    limit: int
    max_bytes: int
    """Largest batch of events in one message, in stored bytes."""
    max_events: int = 500
    seq: int = 0
    acked: int = 0
    queue: deque = field(default_factory=deque)
    queued_bytes: int = 0

    def push(self, items: list[tuple[str, Obj, int]]) -> bool:
        """Queue events; False if that passes the bound (the watcher must be cut off)."""
        for item in items:
            self.queue.append(item)
            self.queued_bytes += item[2]
        return len(self.queue) <= self.limit

    def ack(self, seq: int) -> None:
        if self.acked < seq <= self.seq:
            self.acked = seq

    @property
    def credit(self) -> int:
        return self.window - (self.seq - self.acked)

    def take(self) -> list[tuple[int, list[tuple[str, Obj, int]]]]:
        """The batches that may be sent now, each with its message's sequence number."""
        batches = []
        while self.queue and self.credit > 0:
            batch, size = [], 0
            while self.queue and len(batch) < self.max_events:
                item = self.queue[0]
                if batch and size + item[2] > self.max_bytes:
                    break
                self.queue.popleft()
                self.queued_bytes -= item[2]
                size += item[2]
                batch.append(item)
            self.seq += 1
            batches.append((self.seq, batch))
        return batches

    def give_back(self, batches: list[tuple[int, list[tuple[str, Obj, int]]]]) -> None:
        """Return batches that :meth:`take` handed out but could not be sent (in order, the first
        one's sequence number next again), and make later batches half as large."""
        if not batches:
            return
        for _, batch in reversed(batches):
            for item in reversed(batch):
                self.queue.appendleft(item)
                self.queued_bytes += item[2]
        self.seq = batches[0][0] - 1
        self.max_bytes = max(1, self.max_bytes // 2)

    def next_seq(self) -> int:
        """A sequence number for a message outside the queue (a bookmark, the closing notice)."""
        self.seq += 1
        return self.seq
