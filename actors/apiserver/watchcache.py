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
  or raises :class:`TooOld` when ``rv`` is below the window.
- :class:`Filter` is a watch's namespace, label selector and field selector;
  :func:`filtered` turns cache events into what one watcher should see, with
  Kubernetes' transitions (an object modified *into* the selector is ADDED to
  that watcher, one modified out of it is DELETED).
- :class:`Outbox` is one watcher's bounded queue with credit-based flow
  control: the server sends while fewer than ``window`` messages are
  unacknowledged and queues the rest; a watcher whose queue passes its bound
  is cut off, so one slow client never holds memory or slows the rest.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from actors.apiserver.selectors import FieldSelector, LabelSelector, object_fields

Obj = dict[str, Any]

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
    """The objects and recent events of one resource."""

    def __init__(self, resource: str, capacity: int) -> None:
        assert capacity >= 1
        self.resource = resource
        self.capacity = capacity
        self.objects: dict[str, Obj] = {}
        self.sizes: dict[str, int] = {}
        self.events: deque[CacheEvent] = deque()
        self._rvs: deque[int] = deque()
        self.revision = 0
        """Every change up to this store revision is reflected."""
        self.oldest = 0
        """A watch from any rv >= oldest can be served (it gets the events after rv)."""

    def reset(self, objects: dict[str, tuple[Obj, int]], revision: int) -> None:
        """Start over from a list at ``revision`` (key -> (object, size)); the window starts there."""
        self.objects = {k: o for k, (o, _) in objects.items()}
        self.sizes = {k: s for k, (_, s) in objects.items()}
        self.events.clear()
        self._rvs.clear()
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
                prev_size = self.sizes.get(key, 0)
                self.sizes[key] = size
                ev = CacheEvent(ADDED if prev is None else MODIFIED, key, obj, prev, rv, size, prev_size)
            else:
                if prev is None:
                    self.revision = max(self.revision, rv)
                    continue  # a delete of something never seen (listed after it went)
                del self.objects[key]
                gone = dict(prev)
                gone["metadata"] = dict(prev.get("metadata") or {}, resourceVersion=str(rv))
                ev = CacheEvent(DELETED, key, gone, prev, rv, self.sizes.pop(key, size))
            self.revision = max(self.revision, rv)
            self.events.append(ev)
            self._rvs.append(rv)
            out.append(ev)
        while len(self.events) > self.capacity:
            dropped = self.events.popleft()
            self._rvs.popleft()
            self.oldest = dropped.rv
        return out

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
        return self.fields is None or self.fields.empty or self.fields.matches(object_fields(obj))


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
