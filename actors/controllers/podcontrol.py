"""What pod-owning controllers (ReplicaSet, and later DaemonSet, Job, StatefulSet) know about pods.

Kubernetes spreads this over ``pkg/controller/controller_utils.go``
(``GetPodFromTemplate``, ``RealPodControl``, ``FilterActivePods``,
``ActivePodsWithRanks``), ``pkg/api/v1/pod/util.go`` (``IsPodReady``,
``IsPodAvailable``) and ``pkg/controller/controller_ref_manager.go``
(adoption and release). Here it is one module:

- **building** a pod from a template: :func:`pod_from_template`;
- **reading** a pod's state: :func:`is_pod_active`, :func:`is_pod_ready`,
  :func:`is_pod_available` — pure, time passed in;
- **acting** through the API with the events Kubernetes records:
  :func:`create_pod` (``SuccessfulCreate`` / ``FailedCreate``) and
  :func:`delete_pod` (``SuccessfulDelete`` / ``FailedDelete``);
- **claiming**: :func:`claim_pods` adopts matching orphans and releases owned
  pods that no longer match, with the patches Kubernetes sends;
- **choosing victims**: :func:`pods_to_delete` ranks pods as
  ``ActivePodsWithRanks`` does (with the LogarithmicScaleDown and
  PodDeletionCost features on, as they are by default).

Everything but the three ``async`` helpers is pure.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from actors.apiserver.objects import parse_rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Obj, Recorder, controller_of, owner_reference

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
"""A pod's cost of being deleted on scale-down: lower goes first (PodDeletionCost)."""

MAX_NAME_CHARS = 253
"""A pod name is a DNS subdomain; a generateName must leave room for the server's suffix."""


# --- building -------------------------------------------------------------------------------

def pods_prefix(controller_name: str) -> str:
    """``web-`` for ReplicaSet ``web``; without the dash if that would make the name too long (getPodsPrefix)."""
    prefix = f"{controller_name}-"
    return prefix if len(prefix) <= MAX_NAME_CHARS else controller_name


def pod_from_template(template: Obj, owner: Obj, generate_name: str | None = None) -> Obj:
    """A new pod for ``owner`` (GetPodFromTemplate): the template's labels, annotations, finalizers and spec.

    The controller reference to ``owner`` is its only ownerReference; the pod
    lives in the owner's namespace and is named by the server from
    ``generate_name`` (``<owner-name>-`` by default). Nothing is shared with
    ``template``: the caller may change the result freely.
    """
    tmeta = template.get("metadata") or {}
    ometa = owner["metadata"]
    meta: Obj = {"generateName": generate_name if generate_name is not None else pods_prefix(ometa["name"])}
    if ometa.get("namespace"):
        meta["namespace"] = ometa["namespace"]
    for field in ("labels", "annotations"):
        if tmeta.get(field):
            meta[field] = dict(tmeta[field])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    meta["ownerReferences"] = [owner_reference(owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}


def pod_key(pod: Obj) -> str:
    """``namespace/name`` (Kubernetes' PodKey), as deletion expectations track pods."""
    meta = pod["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


# --- reading ---------------------------------------------------------------------------------

def parse_time(text: Any) -> float | None:
    """An RFC 3339 timestamp in seconds, or None for a missing or malformed one (Go's zero time)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def is_pod_active(pod: Obj) -> bool:
    """Neither finished (Succeeded, Failed) nor being deleted (IsPodActive)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def filter_active_pods(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if is_pod_active(p)]


def ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c
    return None


def is_pod_ready(pod: Obj) -> bool:
    """The Ready condition is True (podutil.IsPodReady)."""
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    """When a ready pod became Ready (its condition's lastTransitionTime), else None."""
    return parse_time(ready_condition(pod).get("lastTransitionTime")) if is_pod_ready(pod) else None


def is_pod_available(pod: Obj, min_ready_s: int, wall: float) -> bool:
    """Ready for more than ``min_ready_s`` seconds at ``wall`` (podutil.IsPodAvailable).

    With a positive ``min_ready_s`` a Ready condition without a
    lastTransitionTime never counts, and the comparison is strict, as in
    Kubernetes.
    """
    if not is_pod_ready(pod):
        return False
    if min_ready_s <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_s < wall


# --- acting ------------------------------------------------------------------------------------

def namespace_terminating(err: ApiError) -> bool:
    """The create was refused because the namespace is going away: nothing to retry or report.

    Kubernetes looks for the ``NamespaceTerminating`` status cause; kubesim's
    API server words the refusal as Kubernetes does but sends no cause, so the
    message is recognised too.
    """
    causes = (err.details or {}).get("causes") or []
    if any(isinstance(c, dict) and c.get("type") == "NamespaceTerminating" for c in causes):
        return True
    return err.code == 403 and "because it is being terminated" in err.message


async def create_pod(api: Any, recorder: Recorder, template: Obj, owner: Obj,
                     generate_name: str | None = None) -> Obj:
    """Create one pod for ``owner`` and record the event (RealPodControl.CreatePods).

    Returns the created pod (with the name the server generated). An
    :class:`ApiError` is re-raised after a ``FailedCreate`` warning, except
    when the namespace is terminating, which is not worth an event.
    """
    pod = pod_from_template(template, owner, generate_name)
    if not pod["metadata"].get("labels"):
        raise ApiError(400, "BadRequest", "unable to create pods, no labels")
    try:
        created = await api.create(pod)
    except ApiError as err:
        if not namespace_terminating(err):
            recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {err.message}")
        raise
    recorder.event(owner, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
    return created


async def delete_pod(api: Any, recorder: Recorder, namespace: str, name: str, owner: Obj) -> None:
    """Delete one of ``owner``'s pods and record the event (RealPodControl.DeletePod).

    NotFound is re-raised unchanged and without an event (someone was
    first); any other refusal becomes ``unable to delete pods: …`` after a
    ``FailedDelete`` warning.
    """
    try:
        await api.delete("pods", name, namespace)
    except ApiError as err:
        if err.code == 404:
            raise
        recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {err.message}")
        raise ApiError(err.code, err.reason, f"unable to delete pods: {err.message}", err.details) from err
    recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")


async def slow_start_batch(count: int, initial_batch: int,
                           attempt: Callable[[], Awaitable[ApiError | None]]) -> tuple[int, ApiError | None]:
    """Call ``attempt`` up to ``count`` times in batches of ``initial_batch``, doubling (slowStartBatch).

    A batch is always finished (Kubernetes runs it concurrently, so every
    call in it is made); after a batch with a failure no further batch starts.
    This keeps a ReplicaSet over its quota from sending 500 doomed creates.
    Returns the number of successes and the first failure.
    """
    assert initial_batch > 0
    successes, remaining = 0, count
    batch = min(remaining, initial_batch)
    while batch > 0:
        failures = [err for err in [await attempt() for _ in range(batch)] if err is not None]
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# --- claiming (controller_ref_manager.go) ----------------------------------------------------------

def adopt_patch(owner: Obj, pod: Obj) -> Obj:
    """Strategic-merge patch making ``owner`` the pod's controller; the pod's uid guards against a re-created pod."""
    return {"metadata": {"ownerReferences": [owner_reference(owner)], "uid": pod["metadata"].get("uid")}}


def release_patch(owner: Obj, pod: Obj) -> Obj:
    """Strategic-merge patch removing ``owner``'s reference from the pod (GenerateDeleteOwnerRefStrategicMergeBytes)."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner["metadata"]["uid"]}],
                         "uid": pod["metadata"].get("uid")}}


async def claim_pods(api: Any, owner: Obj, match: Callable[[Obj], bool],
                     pods: Iterable[Obj]) -> tuple[list[Obj], list[ApiError]]:
    """The pods ``owner`` controls after adopting and releasing (PodControllerRefManager.ClaimPods).

    For each pod: controlled by someone else — skipped; controlled by
    ``owner`` and matching — claimed; controlled by ``owner`` but no longer
    matching — released (unless ``owner`` is being deleted); an orphan that
    matches — adopted (unless ``owner`` or the pod is being deleted). A pod
    that vanished meanwhile (NotFound), or whose reference was already gone
    (Invalid, on release), is simply not claimed. Other errors are collected
    and returned with the pods claimed; the caller decides (the ReplicaSet
    sync gives up the round).
    """
    ometa = owner["metadata"]
    owner_deleting = bool(ometa.get("deletionTimestamp"))
    claimed: list[Obj] = []
    errors: list[ApiError] = []
    for pod in pods:
        meta = pod["metadata"]
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("uid") != ometa["uid"]:
                continue
            if match(pod):
                claimed.append(pod)
            elif not owner_deleting:
                try:
                    await api.patch("pods", meta["name"], release_patch(owner, pod), meta.get("namespace", ""),
                                    patch_type="strategic")
                except ApiError as err:
                    if err.code not in (404, 422):
                        errors.append(err)
            continue
        if owner_deleting or not match(pod) or meta.get("deletionTimestamp"):
            continue
        if ometa.get("namespace") and ometa["namespace"] != meta.get("namespace"):
            continue
        try:
            await api.patch("pods", meta["name"], adopt_patch(owner, pod), meta.get("namespace", ""),
                            patch_type="strategic")
        except ApiError as err:
            if err.code != 404:
                errors.append(err)
            continue
        claimed.append(pod)
    return claimed, errors


# --- choosing victims (ActivePodsWithRanks) ------------------------------------------------------

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
"""Earlier phases are cheaper to lose; a missing phase counts as Pending (Go's map zero value)."""


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the ranking compares, read once per pod."""

    node: str
    phase: int
    ready: bool
    cost: int
    rank: int
    """Active related pods on the same node: doubled-up pods go first."""
    ready_at: float | None
    restarts: int
    sidecar_restarts: int
    created_at: float | None
    uid: str
    name: str


def deletion_cost(pod: Obj) -> int:
    """The pod-deletion-cost annotation as an int32; missing or malformed is 0."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        cost = int(str(text).strip()) if text is not None else 0
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def max_restarts(pod: Obj) -> tuple[int, int]:
    """(regular containers', restartable init containers') highest restartCount."""
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _facts(pod: Obj, rank: int) -> _Facts:
    meta = pod.get("metadata") or {}
    regular, sidecar = max_restarts(pod)
    return _Facts(node=(pod.get("spec") or {}).get("nodeName") or "",
                  phase=_PHASE_ORDINAL.get((pod.get("status") or {}).get("phase") or "", 0),
                  ready=is_pod_ready(pod), cost=deletion_cost(pod), rank=rank, ready_at=ready_since(pod),
                  restarts=regular, sidecar_restarts=sidecar, created_at=parse_time(meta.get("creationTimestamp")),
                  uid=str(meta.get("uid") or ""), name=str(meta.get("name") or ""))


def _after_or_zero(t1: float | None, t2: float | None) -> bool:
    """t1 is after t2, a missing time counting as the latest (afterOrZero)."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_bucket(t: float, now: float) -> int:
    """floor(log2(age in nanoseconds)), -1 for no age: times in the same bucket count as equal."""
    age_ns = (now - t) * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _newer_first(t1: float | None, t2: float | None, a: _Facts, b: _Facts, now: float) -> bool:
    """LogarithmicScaleDown: newer goes first, but within one power-of-two age bucket the uid decides."""
    if t1 is None or t2 is None:
        return _after_or_zero(t1, t2)
    diff = _log_bucket(t1, now) - _log_bucket(t2, now)
    return a.uid < b.uid if diff == 0 else diff < 0


def _delete_before(a: _Facts, b: _Facts, now: float) -> bool:
    """ActivePodsWithRanks.Less: should ``a`` be deleted before ``b``?"""
    if a.node != b.node and (not a.node or not b.node):
        return not a.node  # 1. unassigned first
    if a.phase != b.phase:
        return a.phase < b.phase  # 2. Pending, then Unknown, then Running
    if a.ready != b.ready:
        return not a.ready  # 3. not ready first
    if a.cost != b.cost:
        return a.cost < b.cost  # 4. lower pod-deletion-cost first
    if a.rank != b.rank:
        return a.rank > b.rank  # 5. doubled up with related pods first
    if a.ready and b.ready and a.ready_at != b.ready_at:
        return _newer_first(a.ready_at, b.ready_at, a, b, now)  # 6. ready most recently first
    if a.restarts != b.restarts:
        return a.restarts > b.restarts  # 7. more restarts first
    if a.sidecar_restarts != b.sidecar_restarts:
        return a.sidecar_restarts > b.sidecar_restarts
    if a.created_at != b.created_at:
        return _newer_first(a.created_at, b.created_at, a, b, now)  # 8. newest first
    return False


def deletion_order(pods: Sequence[Obj], related: Iterable[Obj], now: float) -> list[Obj]:
    """``pods`` sorted with the first to delete first.

    ``related`` are the pods whose company on a node makes a pod cheaper to
    lose (a ReplicaSet's, and its sibling ReplicaSets' under one Deployment);
    only active ones count. Where Kubernetes' ordering ties (its sort is not
    stable), uid then name decide, so the choice does not depend on cache order.
    """
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    facts = {id(p): _facts(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0)) for p in pods}

    def cmp(p: Obj, q: Obj) -> int:
        a, b = facts[id(p)], facts[id(q)]
        if _delete_before(a, b, now):
            return -1
        if _delete_before(b, a, now):
            return 1
        ta, tb = (a.uid, a.name), (b.uid, b.name)
        return (ta > tb) - (ta < tb)

    return sorted(pods, key=cmp_to_key(cmp))


def pods_to_delete(pods: Sequence[Obj], related: Iterable[Obj], count: int, now: float) -> list[Obj]:
    """The ``count`` pods to delete first (getPodsToDelete): all of them need no ranking."""
    if count >= len(pods):
        return list(pods)
    return deletion_order(pods, related, now)[:count]
