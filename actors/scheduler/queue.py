"""The scheduling queue: which pending pod the scheduler tries next, and when a failed one comes back.

kube-scheduler's ``PriorityQueue`` (``pkg/scheduler/backend/queue/scheduling_queue.go``)
has three parts, and so does this one:

- **activeQ** — pods ready to be tried, highest ``spec.priority`` first, then
  the oldest first (Kubernetes' default QueueSort plugin, PrioritySort);
- **backoffQ** — pods that failed and wait out their backoff: 1 s after the
  first failure, doubling to at most 10 s (``--pod-initial-backoff-seconds``,
  ``--pod-max-backoff-seconds``);
- **unschedulable pods** — pods no node could take. Trying them again is
  pointless until the cluster changes, so they wait for an event that might
  help — a node added or changed, a pod deleted (its room freed), a claim
  bound — and then move to backoffQ (if their backoff has not run out) or
  activeQ. A pod left there for 5 minutes is retried anyway
  (``podMaxInUnschedulablePodsDuration``).

Pure: ``now`` is passed in. Pods are keyed by ``namespace/name``; an update
replaces the waiting copy wherever it is, and an update to an unschedulable
pod (its spec may now fit) moves it out, as Kubernetes does.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
MAX_UNSCHEDULABLE_S = 300.0
UNSCHEDULABLE_FLUSH_S = 1.0

#: Cluster events that may make an unschedulable pod schedulable (Kubernetes' ClusterEvents, coarsely).
NODE_ADDED, NODE_CHANGED, POD_DELETED, PVC_CHANGED = "NodeAdd", "NodeUpdate", "AssignedPodDelete", "PvcChange"


def pod_key(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


@dataclass(slots=True)
class QueuedPod:
    """A pending pod and its scheduling history (Kubernetes' QueuedPodInfo)."""

    pod: Obj
    added_at: float
    """When it first became pending (for FIFO order and the pending-time metric)."""
    attempts: int = 0
    failed_at: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return pod_key(self.pod)

    @property
    def priority(self) -> int:
        value = (self.pod.get("spec") or {}).get("priority")
        return value if isinstance(value, int) else 0

    def backoff_until(self) -> float:
        if not self.attempts:
            return self.failed_at
        return self.failed_at + min(INITIAL_BACKOFF_S * 2 ** (self.attempts - 1), MAX_BACKOFF_S)


def _scheduling_relevant(pod: Obj) -> tuple:
    """What an update must change to be worth another try (not status: the scheduler writes that itself)."""
    meta = pod.get("metadata") or {}
    return pod.get("spec"), meta.get("labels"), meta.get("annotations")


class SchedulingQueue:
    """activeQ, backoffQ and the unschedulable pods; see the module docstring."""

    def __init__(self) -> None:
        self._flushed_at = float("-inf")
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._pods: dict[str, QueuedPod] = {}
        self._where: dict[str, str] = {}
        """key -> "active" | "backoff" | "unschedulable" | "in-flight"."""

    # --- pods arrive, change and go ---------------------------------------------------------
    def add(self, pod: Obj, now: float) -> None:
        """A new pending pod (unbound, for this scheduler)."""
        key = pod_key(pod)
        if key in self._pods:
            self.update(pod, now)
            return
        self._pods[key] = QueuedPod(pod, now)
        self._to_active(key)

    def update(self, pod: Obj, now: float) -> None:
        key = pod_key(pod)
        qp = self._pods.get(key)
        if qp is None:
            self.add(pod, now)
            return
        old, qp.pod = qp.pod, pod
        if self._where.get(key) == "unschedulable" and _scheduling_relevant(old) != _scheduling_relevant(pod):
            self._requeue(qp, now)  # its spec or labels changed: it may fit now

    def delete(self, pod: Obj) -> None:
        """The pod was deleted, or bound by someone: it is no longer pending."""
        key = pod_key(pod)
        self._pods.pop(key, None)
        self._where.pop(key, None)  # heap entries for it are skipped when they surface

    # --- the scheduler's side --------------------------------------------------------------
    def pop(self, now: float) -> QueuedPod | None:
        """The next pod to try, now "in flight" until :meth:`done` or a failure says where it goes."""
        self._flush_backoff(now)
        self._flush_unschedulable(now)
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) == "active":
                self._where[key] = "in-flight"
                qp = self._pods[key]
                qp.attempts += 1
                return qp
        return None

    def done(self, key: str) -> None:
        """The pod was bound (or given up on): forget it."""
        self._pods.pop(key, None)
        self._where.pop(key, None)

    def unschedulable(self, qp: QueuedPod, plugins: set[str], now: float) -> None:
        """No node could take it: park it until a cluster event might help."""
        if qp.key not in self._pods:
            return  # deleted while it was being tried
        qp.failed_at = now
        qp.unschedulable_plugins = set(plugins)
        self._where[qp.key] = "unschedulable"

    def error(self, qp: QueuedPod, now: float) -> None:
        """It failed for another reason (the binding failed, an API error): retry after the backoff."""
        if qp.key not in self._pods:
            return
        qp.failed_at = now
        self._to_backoff(qp)

    def cluster_event(self, event: str, now: float) -> int:
        """Something changed that may let parked pods fit; returns how many were moved."""
        moved = 0
        for key, where in list(self._where.items()):
            if where == "unschedulable":
                self._requeue(self._pods[key], now)
                moved += 1
        return moved

    # --- internals ----------------------------------------------------------------------------
    def _to_active(self, key: str) -> None:
        qp = self._pods[key]
        self._where[key] = "active"
        heapq.heappush(self._active, (-qp.priority, qp.added_at, next(self._seq), key))

    def _to_backoff(self, qp: QueuedPod) -> None:
        self._where[qp.key] = "backoff"
        heapq.heappush(self._backoff, (qp.backoff_until(), next(self._seq), qp.key))

    def _requeue(self, qp: QueuedPod, now: float) -> None:
        if qp.backoff_until() > now:
            self._to_backoff(qp)
        else:
            self._to_active(qp.key)

    def _flush_backoff(self, now: float) -> None:
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff":
                self._to_active(key)

    def _flush_unschedulable(self, now: float) -> None:
        # A walk over every pending pod: at most once a second, not on every pop (kube-scheduler
        # flushes this sub-queue on a timer too).
        if now - self._flushed_at < UNSCHEDULABLE_FLUSH_S:
            return
        self._flushed_at = now
        for key, where in list(self._where.items()):
            if where == "unschedulable" and now - self._pods[key].failed_at >= MAX_UNSCHEDULABLE_S:
                self._to_active(key)

    # --- what the metrics show (kube-scheduler's pending_pods{queue}) ---------------------------------
    def pending(self) -> dict[str, int]:
        counts = {"active": 0, "backoff": 0, "unschedulable": 0}
        for where in self._where.values():
            if where in counts:
                counts[where] += 1
        return counts

    def next_wakeup(self) -> float | None:
        """When the earliest backoff ends (for the actor's timer)."""
        while self._backoff and self._where.get(self._backoff[0][2]) != "backoff":
            heapq.heappop(self._backoff)
        return self._backoff[0][0] if self._backoff else None

    def __len__(self) -> int:
        return len(self._pods)
