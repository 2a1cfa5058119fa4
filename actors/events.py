"""Events as the components record them: a core/v1 Event about one object, written without waiting on it.

The scheduler (Scheduled, FailedScheduling) and the controllers (SuccessfulCreate, ScalingReplicaSet...)
all write the same shape; a failure to record one is logged, never a reason to fail the work it describes.
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


async def record(api: Any, obj: Obj, type_: str, reason: str, message: str, *, component: str,
                 rng: random.Random, wall: float, log: Any) -> None:
    event = event_for(obj, type_, reason, message, component=component, suffix=f"{rng.getrandbits(64):016x}",
                      wall=wall)
    try:
        await api.create(event)
    except ApiError as exc:
        log.debug("event not recorded", reason=reason, error=str(exc))
