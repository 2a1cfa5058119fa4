"""Events as the components record them: a core/v1 Event about one object, written without waiting on it.

The scheduler (Scheduled, FailedScheduling), the controllers (SuccessfulCreate, ScalingReplicaSet...) and
the kubelet (Pulled, Started, BackOff...) all write the same shape; a failure to record one is logged, never
a reason to fail the work it describes.

A component that says the same thing again — a crash-looping container's
``BackOff`` every few seconds — does not write a new Event each time:
client-go's event correlator (``tools/record/events_cache.go``, the
EventLogger) finds the earlier one with the same source, object, type,
reason and message, and patches its ``count`` and ``lastTimestamp``. That is
what ``kubectl describe`` shows as ``(x5 over 2m)``. :class:`EventCorrelator`
is that cache.
"""

from __future__ import annotations

import random
from typing import Any

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError

Obj = dict[str, Any]


def event_for(obj: Obj, type_: str, reason: str, message: str, *, component: str, suffix: str,
              wall: float) -> Obj:
    """The Event about ``obj`` (named ``<object>.<suffix>`` in its namespace, ``default`` for cluster-scoped)."""
    meta = obj.get("metadata") or {}
    now = rfc3339(wall)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{suffix}", "namespace": meta.get("namespace") or "default"},
        "involvedObject": {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                           "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                           "uid": meta.get("uid", "")},
        "reason": reason, "message": message, "type": type_,
        "source": {"component": component}, "reportingComponent": component,
        "count": 1, "firstTimestamp": now, "lastTimestamp": now,
    }


MAX_CACHED_EVENTS = 4096
"""client-go's maxLruCacheEntries: how many distinct events a correlator remembers."""


def _identity(event: Obj) -> tuple:
    """What makes two events the same (getEventKey): source, object (and field), type, reason, message."""
    source, obj = event.get("source") or {}, event.get("involvedObject") or {}
    return (source.get("component"), source.get("host"), obj.get("kind"), obj.get("namespace"), obj.get("name"),
            obj.get("uid"), obj.get("apiVersion"), obj.get("fieldPath"), event.get("type"), event.get("reason"),
            event.get("message"))


class EventCorrelator:
    """Which events are repeats of one already written, and the patch that counts them instead (pure)."""

    def __init__(self, max_entries: int = MAX_CACHED_EVENTS) -> None:
        self.max_entries = max_entries
        self._seen: dict[tuple, tuple[str, str, int, str]] = {}
        """identity -> (namespace, name, count, firstTimestamp) of the Event written for it; oldest first."""

    def observe(self, event: Obj) -> Obj | None:
        """None: write ``event`` as it is. Else the merge patch (``count``, ``lastTimestamp``) for the earlier
        Event, whose namespace and name are put in ``event["metadata"]`` so the caller knows what to patch."""
        key = _identity(event)
        seen = self._seen.pop(key, None)
        if seen is None:
            self._remember(key, event, 1)
            return None
        namespace, name, count, first = seen
        event["metadata"] = {"namespace": namespace, "name": name}
        event["count"], event["firstTimestamp"] = count + 1, first
        self._seen[key] = (namespace, name, count + 1, first)  # most recently used last
        return {"count": count + 1, "lastTimestamp": event.get("lastTimestamp")}

    def forget(self, event: Obj) -> None:
        """The earlier Event is gone (expired, deleted): the next repeat is written anew."""
        self._seen.pop(_identity(event), None)

    def _remember(self, key: tuple, event: Obj, count: int) -> None:
        meta = event.get("metadata") or {}
        self._seen[key] = (meta.get("namespace") or "default", meta.get("name") or "", count,
                           event.get("firstTimestamp") or "")
        while len(self._seen) > self.max_entries:
            del self._seen[next(iter(self._seen))]


async def emit(api: Any, event: Obj, correlator: EventCorrelator | None, log: Any) -> None:
    """Write ``event``, or count it on the earlier identical one; failures are logged, not raised."""
    patch = correlator.observe(event) if correlator is not None else None
    try:
        if patch is None:
            await api.create(event)
            return
        meta = event["metadata"]
        try:
            await api.patch("events", meta["name"], patch, meta["namespace"], patch_type="merge")
        except ApiError as exc:
            if exc.code != 404:
                raise
            correlator.forget(event)  # the earlier one is gone: this one starts a new count
            fresh = dict(event, count=1, firstTimestamp=event.get("lastTimestamp"),
                         metadata={"namespace": meta["namespace"], "name": f"{meta['name']}.{event['count']}"})
            correlator.observe(fresh)
            await api.create(fresh)
    except Exception as exc:  # ApiError, RequestFailed: an event is never worth failing the work it describes
        log.debug("event not recorded", reason=event.get("reason"), error=str(exc))


async def record(api: Any, obj: Obj, type_: str, reason: str, message: str, *, component: str,
                 rng: random.Random, wall: float, log: Any, correlator: EventCorrelator | None = None) -> None:
    event = event_for(obj, type_, reason, message, component=component, suffix=f"{rng.getrandbits(64):016x}",
                      wall=wall)
    await emit(api, event, correlator, log)
