"""The ReplicaSet controller: keep ``spec.replicas`` active pods matching the selector.

Kubernetes' ``pkg/controller/replicaset/replica_set.go`` in kubesim's
controller shape (:mod:`actors.controllers.base`). One :meth:`sync` per key:

1. the ReplicaSet from the cache; gone — forget its expectations, done;
2. its pods: the namespace's *active* pods (not Succeeded/Failed, not being
   deleted) that it controls, after adopting matching orphans and releasing
   owned pods whose labels no longer match (:func:`podcontrol.claim_pods`);
3. only if its expectations are satisfied (its last creates and deletes have
   come back through the informer, or 5 minutes passed) and it is not being
   deleted: create the missing pods in slow-start batches of 1, 2, 4, …
   stopping after the first batch with a failure, at most
   :data:`BURST_REPLICAS` per sync; or delete the surplus, the pods
   Kubernetes would pick (:func:`podcontrol.pods_to_delete`) — expectations
   recorded *before* the writes;
4. the status (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration, the ReplicaFailure condition),
   written only when it changed;
5. a failed create or delete re-raises after the status write, so the key is
   retried with backoff; otherwise a delay is returned while some ready pod
   still waits out ``minReadySeconds`` to count as available.

The informer side is :meth:`ReplicaSetController.observe` (called by the
controller manager for every event before it enqueues keys): it lowers the
expectations as pods appear and disappear, and keeps an index of the
ReplicaSets' uids and selectors so :meth:`keys` can find who would adopt an
orphan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.apiserver.objects import rfc3339
from actors.apiserver.selectors import (
    NOTHING,
    LabelSelector,
    SelectorError,
    selector_from_dict,
)
from actors.apiserver.status import ApiError
from actors.controllers.base import (
    Context,
    Controller,
    Obj,
    controller_of,
    key_of,
    split_key,
)
from actors.controllers.expectations import ControllerExpectations
from actors.controllers.podcontrol import (
    claim_pods,
    create_pod,
    delete_pod,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    pod_key,
    pods_to_delete,
    ready_since,
    slow_start_batch,
)

BURST_REPLICAS = 500
"""At most this many pods created or deleted by one sync (Kubernetes' BurstReplicas)."""

SLOW_START_INITIAL_BATCH = 1
"""The first batch of creates; each fully successful batch doubles the next (SlowStartInitialBatchSize)."""

REPLICA_FAILURE = "ReplicaFailure"

AVAILABILITY_MARGIN_S = 1.0
"""Added to the wait for a pod to become available: the test is strict and times are whole seconds."""


@dataclass(frozen=True, slots=True)
class _Indexed:
    """What :meth:`ReplicaSetController.keys` needs of a ReplicaSet it has heard of."""

    uid: str
    selector: LabelSelector


class ReplicaSetController(Controller):
    """Keeps each ReplicaSet's pods at ``spec.replicas``; see the module docstring."""

    name = "replicaset"
    watches = ("replicasets", "pods")
    kind = "ReplicaSet"

    def __init__(self, *, burst_replicas: int = BURST_REPLICAS) -> None:
        assert burst_replicas > 0
        self.burst_replicas = burst_replicas
        self.expectations = ControllerExpectations()
        self._index: dict[str, dict[str, _Indexed]] = {}
        """namespace -> ReplicaSet name -> uid and selector, from the events observed."""

    # --- informer events -------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Lower expectations from an informer event (and index ReplicaSets); called before :meth:`keys`.

        ``event_type`` is ``ADDED``, ``MODIFIED`` or ``DELETED``. A pod that
        appears is a creation observed for the ReplicaSet controlling it; a
        pod deleted, or updated to carry a deletionTimestamp (a graceful
        delete begins), is a deletion observed — once, however many such
        events arrive. Orphans lower nothing: no one waits for them.
        """
        if resource == "replicasets":
            self._observe_replicaset(event_type, obj)
        elif resource == "pods":
            owner = self._owner_key(obj)
            if owner is None:
                return
            if event_type == "DELETED" or (obj.get("metadata") or {}).get("deletionTimestamp"):
                self.expectations.deletion_observed(owner, pod_key(obj))
            elif event_type == "ADDED":
                self.expectations.creation_observed(owner)

    def _observe_replicaset(self, event_type: str, rs: Obj) -> None:
        meta = rs["metadata"]
        ns, name, key = meta.get("namespace", ""), meta["name"], key_of(rs)
        in_ns = self._index.setdefault(ns, {})
        known = in_ns.get(name)
        if event_type == "DELETED":
            in_ns.pop(name, None)
            self.expectations.delete(key)
            return
        if known is not None and known.uid != meta.get("uid"):
            self.expectations.delete(key)  # deleted and re-created under the same name: start clean
        in_ns[name] = _Indexed(str(meta.get("uid") or ""), _selector(rs) or NOTHING)

    def _owner_key(self, pod: Obj) -> str | None:
        """The key of the ReplicaSet controlling ``pod``, if it is one this controller knows (same uid)."""
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        ns = (pod.get("metadata") or {}).get("namespace", "")
        known = self._index.get(ns, {}).get(ref.get("name"))
        if known is None or known.uid != ref.get("uid"):
            return None
        return f"{ns}/{ref['name']}"

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A ReplicaSet's own key; for a pod, the ReplicaSet controlling it, or for an orphan
        every ReplicaSet that would adopt it.
        """
        if resource == "replicasets":
            return [key_of(obj)]
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "")
        ref = controller_of(obj)
        if ref is not None:
            # The sync checks the uid; an event for a namesake costs one spare sync, not a wrong write.
            return [f"{ns}/{ref['name']}"] if ref.get("kind") == self.kind else []
        if meta.get("deletionTimestamp"):
            return []
        labels = meta.get("labels") or {}
        return [f"{ns}/{name}" for name, known in sorted(self._index.get(ns, {}).items())
                if known.selector.matches(labels)]

    # --- the reconcile -----------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        rs = ctx.caches["replicasets"].get(name, ns)
        if rs is None:
            self.expectations.delete(key)
            return None
        needs_sync = self.expectations.satisfied(key, ctx.now)
        selector = _selector(rs)
        if selector is None:
            return None  # an invalid selector matches nothing; retrying will not fix it
        active = [p for p in ctx.caches["pods"].list()
                  if (p.get("metadata") or {}).get("namespace", "") == ns and is_pod_active(p)]
        pods, errors = await claim_pods(ctx.api, rs, lambda p: selector.matches(p["metadata"].get("labels")),
                                        active)
        if errors:
            raise errors[0]
        manage_err = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            manage_err = await self._manage_replicas(key, rs, pods, ctx)
        status = calculate_status(rs, pods, manage_err, ctx.wall)
        if status_changed(rs, status):
            await ctx.api.update_status({**rs, "status": status})
        if manage_err is not None:
            raise manage_err
        return requeue_after(rs, pods, ctx.wall)

    async def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj], ctx: Context) -> ApiError | None:
        """Create or delete pods towards ``spec.replicas``; the first failure, if any (manageReplicas)."""
        diff = len(pods) - replicas_of(rs)
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count, ctx.now)
            template = rs["spec"].get("template") or {}

            async def create_one() -> ApiError | None:
                try:
                    await create_pod(ctx.api, ctx.recorder, template, rs)
                except ApiError as err:
                    return None if namespace_terminating(err) else err
                return None

            created, err = await slow_start_batch(count, SLOW_START_INITIAL_BATCH, create_one)
            # The pods never attempted (and the ones refused) will not be observed: stop waiting for them.
            self.expectations.lower(key, add=count - created)
            return err
        if diff > 0:
            count = min(diff, self.burst_replicas)
            victims = pods_to_delete(pods, self._related_pods(rs, ctx), count, ctx.wall)
            self.expectations.expect_deletions(key, [pod_key(p) for p in victims], ctx.now)
            first: ApiError | None = None
            for pod in victims:
                try:
                    await delete_pod(ctx.api, ctx.recorder, rs["metadata"]["namespace"], pod["metadata"]["name"], rs)
                except ApiError as err:
                    self.expectations.deletion_observed(key, pod_key(pod))
                    if err.code != 404 and first is None:
                        first = err
            return first
        return None

    def _related_pods(self, rs: Obj, ctx: Context) -> list[Obj]:
        """Pods of every ReplicaSet sharing this one's controller (a Deployment's), for the doubled-up rank.

        As in Kubernetes, a ReplicaSet with no controller has no related pods,
        so for it the rank plays no part.
        """
        ref = controller_of(rs)
        if ref is None:
            return []
        ns = rs["metadata"].get("namespace", "")
        in_ns = [p for p in ctx.caches["pods"].list() if (p.get("metadata") or {}).get("namespace", "") == ns]
        related: dict[str, Obj] = {}
        for other in ctx.caches["replicasets"].list():
            other_ref = controller_of(other)
            if other["metadata"].get("namespace", "") != ns or other_ref is None or other_ref.get("uid") != ref["uid"]:
                continue
            selector = _selector(other)
            if selector is None:
                continue
            for p in in_ns:
                if selector.matches(p["metadata"].get("labels")):
                    related.setdefault(p["metadata"].get("uid") or pod_key(p), p)
        return list(related.values())


# --- pure helpers ------------------------------------------------------------------------------

def _selector(rs: Obj) -> LabelSelector | None:
    """The ReplicaSet's selector; None if it is invalid. An empty one selects nothing, never everything."""
    try:
        selector = selector_from_dict((rs.get("spec") or {}).get("selector"))
    except SelectorError:
        return None
    return NOTHING if selector.empty else selector


def replicas_of(rs: Obj) -> int:
    replicas = (rs.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def min_ready_s_of(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("minReadySeconds") or 0)


def calculate_status(rs: Obj, pods: list[Obj], manage_err: ApiError | None, wall: float) -> Obj:
    """The status ``pods`` (the active pods it controls) give ``rs`` (calculateStatus).

    Counts of zero are left out, as Go's ``omitempty`` leaves them out of the
    JSON (``replicas`` is always written). The ReplicaFailure condition is
    added on a failed create or delete if absent, and removed after a sync
    with no failure.
    """
    status = dict(rs.get("status") or {})
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = min_ready_s_of(rs)
    counts = {
        "fullyLabeledReplicas": sum(1 for p in pods if _has_labels(p, template_labels)),
        "readyReplicas": sum(1 for p in pods if is_pod_ready(p)),
        "availableReplicas": sum(1 for p in pods if is_pod_available(p, min_ready, wall)),
        "observedGeneration": int(rs["metadata"].get("generation") or 0),
    }
    status["replicas"] = len(pods)
    for field, value in counts.items():
        if value:
            status[field] = value
        else:
            status.pop(field, None)
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    failing = any(c.get("type") == REPLICA_FAILURE for c in conditions)
    if manage_err is not None and not failing:
        diff = len(pods) - replicas_of(rs)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": rfc3339(wall),
                           "reason": reason, "message": manage_err.message})
    elif manage_err is None and failing:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


def _has_labels(pod: Obj, labels: dict) -> bool:
    have = pod["metadata"].get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


def status_changed(rs: Obj, new: Obj) -> bool:
    """Whether ``new`` must be written (updateReplicaSetStatus' early return, inverted)."""
    old = rs.get("status") or {}
    for field in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if int(old.get(field) or 0) != int(new.get(field) or 0):
            return True
    if int(rs["metadata"].get("generation") or 0) != int(old.get("observedGeneration") or 0):
        return True
    return (old.get("conditions") or []) != (new.get("conditions") or [])


def requeue_after(rs: Obj, pods: list[Obj], wall: float) -> float | None:
    """Seconds until the first ready-but-not-yet-available pod becomes available, if any.

    Kubernetes re-queues ``minReadySeconds`` (+1 s) after a pod turns ready;
    here the sync knows exactly when that pod's ``minReadySeconds`` run out.
    """
    min_ready = min_ready_s_of(rs)
    if min_ready <= 0:
        return None
    waits = [since + min_ready - wall for p in pods
             if (since := ready_since(p)) is not None and not is_pod_available(p, min_ready, wall)]
    return max(0.0, min(waits)) + AVAILABILITY_MARGIN_S if waits else None
