"""The StatefulSet controller: pods with stable names and storage, made, removed and updated in order.

Kubernetes' ``pkg/controller/statefulset`` in kubesim's controller shape
(:mod:`actors.controllers.base`). A StatefulSet ``web`` with ``replicas: 3``
owns the pods ``web-0``, ``web-1``, ``web-2`` (``spec.ordinals.start``
shifts the numbers). Each pod has ``hostname`` = its name and ``subdomain``
= ``spec.serviceName`` (so it is ``web-0.<service>`` in DNS), the labels
``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index``,
and ``controller-revision-hash`` = the revision of the template it was made
from. Each ``volumeClaimTemplates`` entry ``www`` gives every pod its own
PersistentVolumeClaim ``www-web-<i>``, created before the pod (and again
should it vanish while the pod is Pending) and mounted as volume ``www``;
claims outlive their pods.

One :meth:`StatefulSetController.sync` per key:

1. the StatefulSet from the cache (gone: forget it); its pods, adopting
   matching orphans named ``<set>-<i>`` and releasing owned pods that no
   longer match (:func:`podcontrol.claim_pods`);
2. the revisions: the *update* revision is :func:`revision_name` of the
   current template; the *current* one is ``status.currentRevision`` (the
   update one at first);
3. if its last creates and deletes have been observed (expectations), a
   plan (:func:`plan_sync`, pure, in updateStatefulSet's order) carried out:

   - every ordinal in range: a missing pod is created (at the current
     revision below the partition, else at the update one); a Failed or
     Succeeded pod is deleted, and created anew with the same name once it
     is gone; a Pending pod gets its missing claims; a pod whose identity
     labels or claim volumes drifted is fixed;
   - pods beyond the range (*condemned*) are deleted, highest ordinal first;
   - ``updateStrategy: RollingUpdate``: the highest-ordinal pod at or above
     ``partition`` not at the update revision is deleted (and re-created at
     it on a later sync), one at a time, waiting for each to be healthy
     again; ``OnDelete`` leaves old pods until someone deletes them.

   ``podManagementPolicy: OrderedReady`` (the default) makes this
   *monotonic*: pod ``i`` is created only when ``0..i-1`` are Running,
   Ready and available, the first step that has to wait ends the sync, and
   scaling down waits for every remaining pod to be healthy and removes one
   pod at a time. ``Parallel`` creates and deletes all at once (in
   slow-start batches), waiting for nothing; rolling updates stay one at a
   time;
4. the status (replicas, readyReplicas, availableReplicas, currentReplicas,
   updatedReplicas, currentRevision, updateRevision, observedGeneration),
   written when it changed; a finished rolling update makes the update
   revision current.

No ControllerRevision objects are kept: a revision is ``<set>-<hash of the
template>`` (:func:`actors.controllers.deployment.pod_template_hash`), and
the template of the current revision is remembered from the StatefulSets
this controller has seen. If it has not seen it (it restarted mid-update),
a pod that must be re-created below the partition is made from the update
template and labelled so. Kubernetes has no expectations here (a duplicate
create fails with AlreadyExists and the sync is retried); kubesim keeps
them, as for ReplicaSets, so a sync triggered by the controller's own status
write does not act on a cache that has not yet seen its pods. The
``persistentVolumeClaimRetentionPolicy`` is not acted on (claims are always
retained) and ``maxUnavailable`` (alpha) is ignored.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

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
from actors.controllers.deployment import pod_template_hash
from actors.controllers.expectations import ControllerExpectations
from actors.controllers.podcontrol import (
    claim_pods,
    is_pod_available,
    is_pod_ready,
    pod_from_template,
    pod_key,
    slow_start_batch,
)
from actors.controllers.replicaset import requeue_after

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
"""The pod label naming the revision a pod was made from (apps.StatefulSetRevisionLabel)."""

SLOW_START_INITIAL_BATCH = 1

_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# === pure helpers ==========================================================================================

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """``("web", 2)`` for pod ``web-2``; ``("", -1)`` for a name of another shape (getParentNameAndOrdinal)."""
    m = _ORDINAL.match(str(_meta(pod).get("name") or ""))
    return (m.group(1), int(m.group(2))) if m else ("", -1)


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def replicas_of(sts: Obj) -> int:
    value = _spec(sts).get("replicas")
    return 1 if value is None else int(value)


def start_ordinal(sts: Obj) -> int:
    return int((_spec(sts).get("ordinals") or {}).get("start") or 0)


def is_parallel(sts: Obj) -> bool:
    return _spec(sts).get("podManagementPolicy") == "Parallel"


def _strategy(sts: Obj) -> Obj:
    return _spec(sts).get("updateStrategy") or {}


def is_rolling(sts: Obj) -> bool:
    return _strategy(sts).get("type", "RollingUpdate") == "RollingUpdate"


def partition_of(sts: Obj) -> int | None:
    """``rollingUpdate.partition`` (0 when unset), or None without a ``rollingUpdate``."""
    rolling = _strategy(sts).get("rollingUpdate")
    return int(rolling.get("partition") or 0) if isinstance(rolling, dict) else None


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{_meta(sts)['name']}-{ordinal}"


def claim_name(template: Obj, sts: Obj, ordinal: int) -> str:
    """``<template>-<set>-<ordinal>``, e.g. ``www-web-0``."""
    return f"{_meta(template).get('name', '')}-{_meta(sts)['name']}-{ordinal}"


def _claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in _spec(sts).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    """The PersistentVolumeClaims of the pod with ``ordinal`` (getPersistentVolumeClaims), in template order.

    Each is its template named for the pod, in the set's namespace, with the
    set's ``matchLabels`` added to its labels.
    """
    match_labels = (_spec(sts).get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in _claim_templates(sts):
        tmeta = _meta(template)
        meta: Obj = {"name": claim_name(template, sts, ordinal), "namespace": _meta(sts).get("namespace", ""),
                     "labels": {**(tmeta.get("labels") or {}), **match_labels}}
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                       "spec": copy.deepcopy(_spec(template))})
    return claims


def _storage_volumes(sts: Obj, ordinal: int, volumes: list[Obj]) -> list[Obj]:
    """A claim volume per template first, then the pod's other volumes (updateStorage)."""
    claims = [{"name": _meta(t).get("name", ""),
               "persistentVolumeClaim": {"claimName": claim_name(t, sts, ordinal)}} for t in _claim_templates(sts)]
    names = {v["name"] for v in claims}
    return claims + [v for v in volumes if v.get("name") not in names]


def _set_identity(sts: Obj, pod: Obj, ordinal: int) -> None:
    meta = pod["metadata"]
    meta["name"] = pod_name(sts, ordinal)
    meta["namespace"] = _meta(sts).get("namespace", "")
    meta["labels"] = {**(meta.get("labels") or {}), POD_NAME_LABEL: meta["name"], POD_INDEX_LABEL: str(ordinal)}


def new_pod(sts: Obj, template: Obj, ordinal: int, revision: str) -> Obj:
    """The pod with ``ordinal``, made from ``template`` at ``revision`` (newStatefulSetPod)."""
    pod = pod_from_template(template, sts)
    del pod["metadata"]["generateName"]
    _set_identity(sts, pod, ordinal)
    pod["metadata"]["labels"][REVISION_LABEL] = revision
    spec = pod["spec"]
    spec["hostname"] = pod["metadata"]["name"]
    if _spec(sts).get("serviceName"):
        spec["subdomain"] = _spec(sts)["serviceName"]
    volumes = _storage_volumes(sts, ordinal, [v for v in spec.get("volumes") or [] if isinstance(v, dict)])
    if volumes:
        spec["volumes"] = volumes
    return pod


def identity_matches(sts: Obj, pod: Obj) -> bool:
    """The pod's name, namespace and pod-name label are the ones its ordinal gives (identityMatches)."""
    parent, ordinal = parent_and_ordinal(pod)
    meta = _meta(pod)
    return (ordinal >= 0 and parent == _meta(sts)["name"] and meta.get("name") == pod_name(sts, ordinal)
            and meta.get("namespace", "") == _meta(sts).get("namespace", "")
            and (meta.get("labels") or {}).get(POD_NAME_LABEL) == meta.get("name"))


def storage_matches(sts: Obj, pod: Obj) -> bool:
    """Every claim template has its volume, naming this pod's claim (storageMatches)."""
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in _spec(pod).get("volumes") or [] if isinstance(v, dict)}
    return all(((volumes.get(_meta(t).get("name")) or {}).get("persistentVolumeClaim") or {}).get("claimName")
               == claim_name(t, sts, ordinal) for t in _claim_templates(sts))


def with_identity_and_storage(sts: Obj, pod: Obj) -> Obj:
    """A copy of ``pod`` with its identity labels and claim volumes put right (UpdateStatefulPod)."""
    fixed = copy.deepcopy(pod)
    ordinal = ordinal_of(pod)
    _set_identity(sts, fixed, ordinal)
    spec = fixed.setdefault("spec", {})
    spec["volumes"] = _storage_volumes(sts, ordinal, [v for v in spec.get("volumes") or [] if isinstance(v, dict)])
    return fixed


def revision_name(sts: Obj, template: Obj | None = None) -> str:
    """``<set>-<hash>`` of ``template`` (the set's own by default): the revision name pods are labelled with.

    The hash takes ``status.collisionCount`` (0 when unset), as Kubernetes' revisions do.
    """
    template = template if template is not None else _spec(sts).get("template") or {}
    collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
    return f"{_meta(sts)['name']}-{pod_template_hash(template, collisions)}"


def revision_of(pod: Obj) -> str:
    return (_meta(pod).get("labels") or {}).get(REVISION_LABEL, "")


def is_terminating(pod: Obj) -> bool:
    return bool(_meta(pod).get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and is_pod_ready(pod)


def is_healthy(pod: Obj) -> bool:
    """Running, Ready and not being deleted (isHealthy)."""
    return is_running_and_ready(pod) and not is_terminating(pod)


def compute_status(sts: Obj, pods: Iterable[Obj], current: str, update: str, wall: float) -> Obj:
    """The status ``pods`` (the set's, with valid ordinals) give, before a finished update is folded in."""
    min_ready = int(_spec(sts).get("minReadySeconds") or 0)
    replicas = ready = available = current_n = updated = 0
    for pod in pods:
        replicas += 1
        if is_running_and_ready(pod):
            ready += 1
            available += is_pod_available(pod, min_ready, wall)
        if not is_terminating(pod):
            current_n += revision_of(pod) == current
            updated += revision_of(pod) == update
    status: Obj = {"observedGeneration": int(_meta(sts).get("generation") or 0), "replicas": replicas}
    for name, value in (("readyReplicas", ready), ("currentReplicas", current_n), ("updatedReplicas", updated)):
        if value:
            status[name] = value
    status.update(currentRevision=current, updateRevision=update, collisionCount=0, availableReplicas=available)
    return status


def complete_rolling_update(sts: Obj, status: Obj) -> None:
    """Every pod updated and ready: the update revision becomes the current one (completeRollingUpdate)."""
    replicas = status.get("replicas", 0)
    if (is_rolling(sts) and status.get("updatedReplicas", 0) == replicas
            and status.get("readyReplicas", 0) == replicas):
        if replicas:
            status["currentReplicas"] = replicas
        else:
            status.pop("currentReplicas", None)
        status["currentRevision"] = status["updateRevision"]


_COMPARED = ("replicas", "currentReplicas", "readyReplicas", "updatedReplicas", "availableReplicas")


def status_changed(sts: Obj, new: Obj) -> bool:
    """Whether ``new`` must be written (inconsistentStatus)."""
    old = sts.get("status") or {}
    if int(new.get("observedGeneration") or 0) > int(old.get("observedGeneration") or 0):
        return True
    if any(int(old.get(f) or 0) != int(new.get(f) or 0) for f in _COMPARED):
        return True
    return any((old.get(f) or "") != (new.get(f) or "") for f in ("currentRevision", "updateRevision"))


# === the plan ================================================================================================

@dataclass(frozen=True, slots=True)
class Step:
    """One write (or two: a create makes the claims first) the plan wants."""

    verb: str
    """``create`` (claims, then the pod), ``delete``, ``claims`` (a Pending pod's missing ones) or ``update``."""
    pod: Obj
    """The pod to create, delete, make claims for, or write back (for ``update``, already put right)."""


@dataclass(slots=True)
class Plan:
    """What one sync does, as phases run in order; a phase that fails stops the rest."""

    monotonic: bool
    """OrderedReady: steps run one by one. Parallel: each phase's steps in slow-start batches."""
    phases: list[list[Step]] = field(default_factory=list)
    rolled: bool = False
    """The last phase is a rolling-update delete (after which currentReplicas is one less)."""

    def steps(self, verb: str) -> list[Step]:
        return [s for phase in self.phases for s in phase if s.verb == verb]


@dataclass(frozen=True, slots=True)
class Revisions:
    """The two revisions a sync works with, and the template of each."""

    current: str
    current_template: Obj
    update: str
    update_template: Obj


def _versioned_pod(sts: Obj, revs: Revisions, ordinal: int) -> Obj:
    """A missing pod at the right revision (newVersionedStatefulSetPod): the current one below the partition
    (or, with no rollingUpdate, below status.currentReplicas), else the update one."""
    partition = partition_of(sts)
    start = start_ordinal(sts)
    if partition is None:
        use_current = is_rolling(sts) and ordinal < start + int((sts.get("status") or {}).get("currentReplicas") or 0)
    else:
        use_current = ordinal < start + partition
    if use_current:
        return new_pod(sts, revs.current_template, ordinal, revs.current)
    return new_pod(sts, revs.update_template, ordinal, revs.update)


def plan_sync(sts: Obj, pods: Iterable[Obj], revs: Revisions, claim_missing: Callable[[Obj], bool],
              wall: float) -> Plan:
    """The writes one sync makes (updateStatefulSet), assuming each succeeds.

    ``pods`` are the set's pods; ``claim_missing(pod)`` says whether any of
    the pod's claims is missing from the cache.
    """
    plan = Plan(monotonic=not is_parallel(sts))
    if _meta(sts).get("deletionTimestamp"):
        return plan
    count, start = replicas_of(sts), start_ordinal(sts)
    replicas: list[Obj | None] = [None] * count
    condemned: list[Obj] = []
    for pod in pods:
        ordinal = ordinal_of(pod)
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        elif ordinal >= 0:
            condemned.append(pod)
    condemned.sort(key=ordinal_of, reverse=True)
    members = [_Member(p, False) if p is not None else _Member(_versioned_pod(sts, revs, start + i), True)
               for i, p in enumerate(replicas)]
    unhealthy = [m.pod for m in members if m.unborn or not is_healthy(m.pod)]
    unhealthy += [p for p in reversed(condemned) if not is_healthy(p)]
    first_unhealthy = unhealthy[0] if unhealthy else None
    min_ready = int(_spec(sts).get("minReadySeconds") or 0)

    steps, stop = _replica_steps(sts, members, claim_missing, plan.monotonic, min_ready, wall)
    plan.phases.append(steps)
    if stop:
        return plan
    plan.phases.append(_condemned_steps(condemned, first_unhealthy, plan.monotonic, min_ready, wall))
    if plan.monotonic and condemned:
        return plan  # scaling down comes before updating, one pod at a time
    if is_rolling(sts):
        victim = _update_victim(members, partition_of(sts) or 0, revs.update)
        if victim is not None:
            plan.phases.append([Step("delete", victim)])
            plan.rolled = True
    return plan


@dataclass(frozen=True, slots=True)
class _Member:
    pod: Obj
    unborn: bool
    """Not created yet: ``pod`` is the one to create."""


def _replica_steps(sts: Obj, members: list[_Member], claim_missing: Callable[[Obj], bool], monotonic: bool,
                   min_ready: int, wall: float) -> tuple[list[Step], bool]:
    """Each ordinal in range (processReplica); and whether the sync stops there (monotonic and waiting)."""
    steps: list[Step] = []
    for member in members:
        pod = member.pod
        if member.unborn:
            steps.append(Step("create", pod))
            if monotonic:
                return steps, True
            continue
        if _phase(pod) in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                steps.append(Step("delete", pod))  # made anew once it is gone
            if monotonic:
                return steps, True
            continue
        if _phase(pod) == "Pending" and claim_missing(pod):
            steps.append(Step("claims", pod))
        if monotonic and (is_terminating(pod) or not is_running_and_ready(pod)
                          or not is_pod_available(pod, min_ready, wall)):
            return steps, True
        if not identity_matches(sts, pod) or not storage_matches(sts, pod):
            steps.append(Step("update", with_identity_and_storage(sts, pod)))
    return steps, False


def _condemned_steps(condemned: list[Obj], first_unhealthy: Obj | None, monotonic: bool, min_ready: int,
                     wall: float) -> list[Step]:
    """Pods beyond the range, highest ordinal first (processCondemned).

    Monotonic: the first one only, and only when it is not terminating and
    is healthy or the first unhealthy pod of the set (the loop over the
    replicas got here only because they are all healthy).
    """
    steps = []
    for pod in condemned:
        if is_terminating(pod):
            if monotonic:
                break
            continue
        if monotonic and pod is not first_unhealthy and (not is_running_and_ready(pod)
                                                         or not is_pod_available(pod, min_ready, wall)):
            break
        steps.append(Step("delete", pod))
        if monotonic:
            break
    return steps


def _update_victim(members: list[_Member], partition: int, update: str) -> Obj | None:
    """The pod a rolling update deletes now: the highest ordinal at or above ``partition`` not at ``update``,
    provided every pod above it is healthy."""
    for member in reversed(members[partition:]):
        if member.unborn:
            return None
        if revision_of(member.pod) != update and not is_terminating(member.pod):
            return member.pod
        if not is_healthy(member.pod):
            return None
    return None


def _selector(sts: Obj) -> LabelSelector | None:
    try:
        return selector_from_dict(_spec(sts).get("selector"))
    except SelectorError:
        return None


def _aggregate(errors: list[ApiError]) -> ApiError:
    """One error for several, worded as Kubernetes' NewAggregate (``[a, b]``)."""
    if len(errors) == 1:
        return errors[0]
    return ApiError(errors[0].code, errors[0].reason, "[" + ", ".join(e.message for e in errors) + "]")


# === the controller ==========================================================================================

@dataclass(frozen=True, slots=True)
class _Indexed:
    uid: str
    selector: LabelSelector


class StatefulSetController(Controller):
    """Keeps each StatefulSet's numbered pods and their claims; see the module docstring."""

    name = "statefulset"
    watches = ("statefulsets", "pods", "persistentvolumeclaims")
    kind = "StatefulSet"

    def __init__(self) -> None:
        self.expectations = ControllerExpectations()
        self._index: dict[str, dict[str, _Indexed]] = {}
        """namespace -> StatefulSet name -> uid and selector, from the events observed."""
        self._templates: dict[str, dict[str, Obj]] = {}
        """StatefulSet key -> revision name -> its template (the stand-in for ControllerRevisions)."""

    # --- informer events ----------------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Index StatefulSets, remember their templates, lower expectations as pods come and go."""
        if resource == "statefulsets":
            self._observe_set(event_type, obj)
        elif resource == "pods":
            owner = self._owner_key(obj)
            if owner is None:
                return
            if event_type == "DELETED" or is_terminating(obj):
                self.expectations.deletion_observed(owner, pod_key(obj))
            elif event_type == "ADDED":
                self.expectations.creation_observed(owner)

    def _observe_set(self, event_type: str, sts: Obj) -> None:
        meta = _meta(sts)
        ns, name, key = meta.get("namespace", ""), meta["name"], key_of(sts)
        in_ns = self._index.setdefault(ns, {})
        known = in_ns.get(name)
        if event_type == "DELETED" or (known is not None and known.uid != meta.get("uid")):
            self.expectations.delete(key)  # gone, or re-created under the same name: start clean
            self._templates.pop(key, None)
        if event_type == "DELETED":
            in_ns.pop(name, None)
            return
        in_ns[name] = _Indexed(str(meta.get("uid") or ""), _selector(sts) or NOTHING)
        current = (sts.get("status") or {}).get("currentRevision") or ""
        self._remember(key, revision_name(sts), _spec(sts).get("template") or {}, keep=current)

    def _remember(self, key: str, revision: str, template: Obj, *, keep: str) -> None:
        """Remember ``revision``'s template, forgetting every other but ``keep``'s: two per set at most."""
        known = self._templates.setdefault(key, {})
        for other in [r for r in known if r not in (revision, keep)]:
            del known[other]
        known.setdefault(revision, copy.deepcopy(template))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        ns = _meta(pod).get("namespace", "")
        known = self._index.get(ns, {}).get(ref.get("name"))
        if known is None or known.uid != ref.get("uid"):
            return None
        return f"{ns}/{ref['name']}"

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A StatefulSet's own key; a pod's StatefulSet (or, for an orphan, every one whose selector
        matches it); a claim's StatefulSets (those whose selector matches its labels)."""
        if resource == "statefulsets":
            return [key_of(obj)]
        meta = _meta(obj)
        ns = meta.get("namespace", "")
        if resource == "pods":
            ref = controller_of(obj)
            if ref is not None:
                return [f"{ns}/{ref['name']}"] if ref.get("kind") == self.kind else []
            if meta.get("deletionTimestamp"):
                return []
        labels = meta.get("labels") or {}
        return [f"{ns}/{name}" for name, known in sorted(self._index.get(ns, {}).items())
                if known.selector.matches(labels)]

    # --- the reconcile ----------------------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        sts = ctx.caches["statefulsets"].get(name, ns)
        if sts is None:
            self.expectations.delete(key)
            self._templates.pop(key, None)
            return None
        selector = _selector(sts)
        if selector is None or selector.empty:
            return None  # refused by validation; matching nothing (or everything) is never right
        in_ns = [p for p in ctx.caches["pods"].list() if _meta(p).get("namespace", "") == ns]

        def member(pod: Obj) -> bool:
            return selector.matches(_meta(pod).get("labels")) and parent_and_ordinal(pod)[0] == name

        claimed, errors = await claim_pods(ctx.api, sts, member, in_ns)
        if errors:
            raise errors[0]
        pods = [p for p in claimed if ordinal_of(p) >= 0]
        revs = self._revisions(key, sts)
        status = compute_status(sts, pods, revs.current, revs.update, ctx.wall)
        err: ApiError | None = None
        if self.expectations.satisfied(key, ctx.now):
            claims = ctx.caches["persistentvolumeclaims"]
            plan = plan_sync(sts, pods, revs, lambda p: any(
                claims.get(c["metadata"]["name"], ns) is None for c in claims_for(sts, ordinal_of(p))), ctx.wall)
            err, rolled = await self._carry_out(key, sts, plan, ctx)
            if rolled:
                status["currentReplicas"] = status.get("currentReplicas", 0) - 1
                if not status["currentReplicas"]:
                    del status["currentReplicas"]
        else:
            status["observedGeneration"] = int((sts.get("status") or {}).get("observedGeneration") or 0)
        complete_rolling_update(sts, status)
        if status_changed(sts, status):
            await ctx.api.update_status({**sts, "status": status})
        if err is not None:
            raise err
        return requeue_after(sts, pods, ctx.wall)

    def _revisions(self, key: str, sts: Obj) -> Revisions:
        update_template = _spec(sts).get("template") or {}
        update = revision_name(sts)
        current = (sts.get("status") or {}).get("currentRevision") or update
        self._remember(key, update, update_template, keep=current)
        current_template = self._templates[key].get(current)
        if current_template is None:  # not seen since a restart: the update template is all there is
            current, current_template = update, update_template
        return Revisions(current, current_template, update, update_template)

    async def _carry_out(self, key: str, sts: Obj, plan: Plan, ctx: Context) -> tuple[ApiError | None, bool]:
        """Run the plan's phases, expectations first; the first failure, and whether the rolling delete was made."""
        creates, deletes = plan.steps("create"), plan.steps("delete")
        if creates or deletes:
            self.expectations.expect_deletions(key, [pod_key(s.pod) for s in deletes], ctx.now)
            self.expectations.raise_(key, add=len(creates))
        attempted: set[int] = set()

        async def run(step: Step) -> ApiError | None:
            attempted.add(id(step))
            err = await self._run(key, sts, step, ctx)
            if err is not None and step.verb == "create":
                self.expectations.lower(key, add=1)
            return err

        first: ApiError | None = None
        for phase in plan.phases:
            if plan.monotonic:
                for step in phase:
                    if (first := await run(step)) is not None:
                        break
            else:
                pending: Iterator[Step] = iter(phase)
                _, first = await slow_start_batch(len(phase), SLOW_START_INITIAL_BATCH,
                                                  lambda it=pending: run(next(it)))
            if first is not None:
                break
        # Writes never attempted will never be observed: stop waiting for them.
        for step in creates:
            if id(step) not in attempted:
                self.expectations.lower(key, add=1)
        for step in deletes:
            if id(step) not in attempted:
                self.expectations.deletion_observed(key, pod_key(step.pod))
        rolled = plan.rolled and first is None
        return first, rolled

    async def _run(self, key: str, sts: Obj, step: Step, ctx: Context) -> ApiError | None:
        """One step's writes and events (StatefulPodControl); a failure as a value."""
        pod = step.pod
        name = pod["metadata"]["name"]
        if step.verb == "create":
            err = await self._create_claims(sts, pod, ctx)
            if err is None:
                try:
                    await ctx.api.create(pod)
                except ApiError as exc:
                    if exc.reason == "AlreadyExists":
                        return exc  # no event: the pod is there, the cache will say so
                    err = exc
            self._pod_event(sts, "create", name, err, ctx)
            return err
        if step.verb == "claims":
            return await self._create_claims(sts, pod, ctx)
        if step.verb == "delete":
            try:
                await ctx.api.delete("pods", name, _meta(pod).get("namespace", ""))
            except ApiError as exc:
                self.expectations.deletion_observed(key, pod_key(pod))
                if exc.code == 404:
                    return None  # someone was first
                self._pod_event(sts, "delete", name, exc, ctx)
                return exc
            self._pod_event(sts, "delete", name, None, ctx)
            return None
        assert step.verb == "update", step.verb
        err = await self._create_claims(sts, pod, ctx)
        if err is None:
            try:
                await ctx.api.update(pod)
            except ApiError as exc:
                err = exc
        self._pod_event(sts, "update", name, err, ctx)
        return err

    async def _create_claims(self, sts: Obj, pod: Obj, ctx: Context) -> ApiError | None:
        """Create the pod's claims missing from the cache (createPersistentVolumeClaims).

        AlreadyExists is success: the claim is there, made a moment ago by
        this controller and not yet in its cache. A claim being deleted
        cannot serve a new pod: that is a failure, retried later.
        """
        errors: list[ApiError] = []
        ns = _meta(sts).get("namespace", "")
        set_name, name = _meta(sts)["name"], pod["metadata"]["name"]
        for claim in claims_for(sts, ordinal_of(pod)):
            claim_name_ = claim["metadata"]["name"]
            existing = ctx.caches["persistentvolumeclaims"].get(claim_name_, ns)
            if existing is not None:
                if _meta(existing).get("deletionTimestamp"):
                    errors.append(ApiError(409, "Conflict", f"pvc {claim_name_} is being deleted"))
                continue
            try:
                await ctx.api.create(claim)
            except ApiError as exc:
                if exc.reason == "AlreadyExists":
                    continue
                errors.append(ApiError(exc.code, exc.reason, f"failed to create PVC {claim_name_}: {exc.message}"))
                ctx.recorder.event(sts, "Warning", "FailedCreate", f"create Claim {claim_name_} for Pod {name} in "
                                   f"StatefulSet {set_name} failed error: {exc.message}")
                continue
            ctx.recorder.event(sts, "Normal", "SuccessfulCreate",
                               f"create Claim {claim_name_} Pod {name} in StatefulSet {set_name} success")
        return _aggregate(errors) if errors else None

    @staticmethod
    def _pod_event(sts: Obj, verb: str, pod_name_: str, err: ApiError | None, ctx: Context) -> None:
        """recordPodEvent: ``SuccessfulCreate`` / ``FailedCreate`` ... with Kubernetes' wording."""
        set_name = _meta(sts)["name"]
        if err is None:
            ctx.recorder.event(sts, "Normal", f"Successful{verb.title()}",
                               f"{verb} Pod {pod_name_} in StatefulSet {set_name} successful")
        else:
            ctx.recorder.event(sts, "Warning", f"Failed{verb.title()}",
                               f"{verb} Pod {pod_name_} in StatefulSet {set_name} failed error: {err.message}")
