"""The PersistentVolume controller ("persistentvolume-binder"): claims meet volumes; volumes are made and reclaimed.

A PersistentVolumeClaim asks for storage; a PersistentVolume is storage.
This controller (``pkg/controller/volume/persistentvolume/pv_controller.go``,
simplified) ties them together through a pointer each way, ``pv.spec.claimRef``
and ``claim.spec.volumeName``, and keeps both objects' phases true:

- **Binding** (``syncUnboundClaim``, ``bind``). A claim without the
  ``pv.kubernetes.io/bind-completed`` annotation gets the PV pre-bound to it
  (``claimRef`` naming it), else the smallest ``Available`` PV that satisfies
  it (:func:`find_best_match`). The PV is written first, its ``claimRef`` and
  then its phase ``Bound``; then the claim, ``volumeName`` and the
  annotations, then its status ``Bound`` with the PV's capacity and access
  modes. A crash between two writes leaves a state the next sync finishes.
- **Provisioning** (``provisionClaim``). A claim nothing satisfies, whose
  StorageClass has a provisioner, gets a new PV ``pvc-<claim uid>`` built from
  the claim and the class (:func:`provisioned_volume`), already pointing at the
  claim; the PV's own event brings the claim back here to be bound. kubesim
  simulates every provisioner: the volume is a host directory that exists as
  soon as the PV does. ``kubernetes.io/no-provisioner`` classes only ever get
  pre-made PVs.
- **WaitForFirstConsumer**. In Kubernetes the scheduler picks the node and
  writes ``volume.kubernetes.io/selected-node`` on the claim (and binds
  pre-made PVs itself); kubesim's scheduler only checks that the pod's node can
  be served (``actors.scheduler.plugins.volumes``) and writes nothing. So this
  controller waits for the claim's first consumer to be *bound to a node*
  (``pod.spec.nodeName``) and then does what the scheduler would: bind the
  smallest PV whose node affinity admits that node, or provision one pinned
  to it by ``kubernetes.io/hostname`` (recording the node in the selected-node
  annotation, so a provisioning survives the pod). An annotation already on
  the claim wins over the pods.
- **Phases** (``syncVolume``, ``syncBoundClaim``, ``reclaimVolume``). A PV
  without a claim is ``Available``; one whose claim is gone (or was recreated
  with another uid) is ``Released`` and then reclaimed by its policy:
  ``Delete`` deletes the PV (the simulated deleter has nothing else to
  remove), ``Retain`` leaves it ``Released`` for an administrator, ``Recycle``
  (deprecated) empties it back to ``Available``. A bound claim whose PV is
  gone is ``Lost``.

Keys are ``claim:<namespace>/<name>`` and ``volume:<name>``. Kubernetes
re-syncs every claim every 15 s to notice new chances; kubesim has no resync,
so :meth:`PersistentVolumeController.keys` wakes the claims a change may help
instead: an unclaimed PV wakes the unbound claims of its class (or that ask for
it by name), a StorageClass those of its class (and those without one, for a
new default class), a pod its unbound claims. An index of unbound claims,
kept by :meth:`~PersistentVolumeController.observe`, makes that possible.

Like Kubernetes, the controller remembers the objects it wrote until its
informers show them (``storeObjectUpdate`` of its own caches): binding makes
four writes, and a sync woken by the first one's event must see the other
three rather than redo them against a stale cache. It runs one worker, as
Kubernetes does, because two concurrent syncs could give one PV to two claims
(the API server's resourceVersion check would refuse one, at the cost of a
retry).

Left out: volume attributes classes, data sources, CSI migration, PV
protection finalizers (the API server's business), the claim's
``allocatedResources`` and resizing, and ``allowedTopologies`` for
``Immediate`` classes (the provisioned PV has no node affinity).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from actors.apiserver.objects import rfc3339
from actors.apiserver.selectors import SelectorError, selector_from_dict
from actors.apiserver.status import ApiError
from actors.apiserver.validation import parse_quantity
from actors.controllers.base import Context, Controller, Obj, key_of, split_key
from actors.scheduler.plugins.volumes import (
    ANN_SELECTED_NODE,
    NO_PROVISIONER,
    WAIT_FOR_FIRST_CONSUMER,
    is_bound_to,
    pod_claim_names,
    volume_node_affinity_matches,
)

__all__ = [
    "ANN_BIND_COMPLETED",
    "ANN_BOUND_BY_CONTROLLER",
    "ANN_PROVISIONED_BY",
    "ANN_STORAGE_PROVISIONER",
    "CLAIM_PREFIX",
    "VOLUME_PREFIX",
    "VOLUME_ROOT",
    "PersistentVolumeController",
    "claim_consumers",
    "claim_reference",
    "default_class",
    "find_best_match",
    "is_bound_to",
    "mismatch",
    "provisioned_volume",
]

CLAIMS, VOLUMES, CLASSES, PODS, NODES = (
    "persistentvolumeclaims", "persistentvolumes", "storageclasses", "pods", "nodes")
CLAIM_PREFIX = "claim:"
VOLUME_PREFIX = "volume:"

#: On a claim: binding was done once; from then on a missing PV means the claim is Lost.
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
#: On a PV or claim: this controller, not the user, wrote the pointer (so it may also remove it).
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
#: On a provisioned PV: the provisioner that made it.
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
#: On a claim being provisioned: the provisioner expected to make its volume.
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")
LABEL_HOSTNAME = "kubernetes.io/hostname"
#: Where the simulated provisioner's volumes live on a node.
VOLUME_ROOT = "/var/lib/kubesim/volumes"

AVAILABLE, BOUND, RELEASED, FAILED = "Available", "Bound", "Released", "Failed"
PENDING, LOST = "Pending", "Lost"
NORMAL, WARNING = "Normal", "Warning"
_FINISHED_POD_PHASES = frozenset({"Succeeded", "Failed"})


# --- Small readers ---------------------------------------------------------------------------

def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _annotations(obj: Obj) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def _phase(obj: Obj) -> str:
    return (obj.get("status") or {}).get("phase") or ""


def _rv(obj: Obj) -> int:
    text = str(_meta(obj).get("resourceVersion") or "")
    return int(text) if text.isdigit() else 0


def _storage(amounts: Mapping[str, Any] | None) -> Decimal:
    return parse_quantity((amounts or {}).get("storage", 0)) or Decimal(0)


def _volume_mode(obj: Obj) -> str:
    return _spec(obj).get("volumeMode") or "Filesystem"


def claim_has_class(claim: Obj) -> bool:
    """PersistentVolumeClaimHasClass: a class was asked for, even ``""`` (no class); unset means "the default"."""
    return ANN_BETA_STORAGE_CLASS in _annotations(claim) or _spec(claim).get("storageClassName") is not None


def claim_class(claim: Obj) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation still wins over the field."""
    return _annotations(claim).get(ANN_BETA_STORAGE_CLASS, _spec(claim).get("storageClassName") or "")


def volume_class(pv: Obj) -> str:
    return _annotations(pv).get(ANN_BETA_STORAGE_CLASS, _spec(pv).get("storageClassName") or "")


def requested_storage(claim: Obj) -> Decimal:
    return _storage((_spec(claim).get("resources") or {}).get("requests"))


def volume_capacity(pv: Obj) -> Decimal:
    return _storage(_spec(pv).get("capacity"))


def claim_reference(claim: Obj) -> Obj:
    """The ObjectReference to the claim that a PV's ``claimRef`` holds (reference.GetReference)."""
    meta = _meta(claim)
    return {"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", ""), "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}


def _ref_key(ref: Mapping[str, Any]) -> str:
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


# --- Matching ----------------------------------------------------------------------------------

def mismatch(claim: Obj, pv: Obj) -> str | None:
    """Why the PV cannot serve the claim (checkVolumeSatisfyClaim, Kubernetes' words), or None."""
    if volume_capacity(pv) < requested_storage(claim):
        return "requested PV is too small"
    if volume_class(pv) != claim_class(claim):
        return "storageClassName does not match"
    if _volume_mode(pv) != _volume_mode(claim):
        return "incompatible volumeMode"
    if not set(_spec(claim).get("accessModes") or ()) <= set(_spec(pv).get("accessModes") or ()):
        return "incompatible accessMode"
    return None


def _selector_admits(claim: Obj, pv: Obj) -> bool:
    raw = _spec(claim).get("selector")
    if raw is None:
        return True
    try:
        return selector_from_dict(raw).matches(_meta(pv).get("labels") or {})
    except SelectorError:
        return False  # validation refuses such a claim; should one get through, it matches nothing


def find_best_match(claim: Obj, volumes: Iterable[Obj], *, node: Obj | None = None,
                    delay_binding: bool = False) -> Obj | None:
    """findBestMatchForClaim: the PV pre-bound to the claim, else the smallest Available one that satisfies it.

    ``node`` (the claim's consumer's node, for WaitForFirstConsumer) must be
    admitted by the PV's node affinity. With ``delay_binding`` and no node,
    only a pre-bound PV is taken: the others wait for the consumer. Ties go
    to the PV with fewer access modes (Kubernetes' index tries the narrowest
    mode sets first), then to the first name.
    """
    requested = requested_storage(claim)
    best: Obj | None = None
    for pv in sorted(volumes, key=lambda v: _meta(v).get("name", "")):
        if _meta(pv).get("deletionTimestamp"):
            continue
        if volume_capacity(pv) < requested or _volume_mode(pv) != _volume_mode(claim):
            continue
        admitted = node is None or volume_node_affinity_matches(pv, node)
        if is_bound_to(pv, claim):
            return pv if admitted else None  # pre-bound: that PV or none
        if node is None and delay_binding:
            continue
        if (_phase(pv) != AVAILABLE or _spec(pv).get("claimRef") or not admitted
                or not _selector_admits(claim, pv) or mismatch(claim, pv) is not None):
            continue
        if best is None or _preference(pv) < _preference(best):
            best = pv
    return best


def _preference(pv: Obj) -> tuple[Decimal, int]:
    return volume_capacity(pv), len(_spec(pv).get("accessModes") or ())


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """GetDefaultClass: of the classes annotated default, the newest; ties to the first name."""
    defaults = [c for c in classes
                if any(_annotations(c).get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS)]
    defaults.sort(key=lambda c: _meta(c).get("name", ""))
    # max keeps the first of equals: the first name among the newest.
    return max(defaults, key=lambda c: str(_meta(c).get("creationTimestamp") or ""), default=None)


def claim_consumers(claim: Obj, pods: Iterable[Obj]) -> tuple[list[tuple[str, str]], list[str]]:
    """The live pods using the claim, by name: (pod, node) for those bound to a node, and the names of the rest."""
    namespace, name = _meta(claim).get("namespace"), _meta(claim).get("name")
    scheduled: list[tuple[str, str]] = []
    waiting: list[str] = []
    for pod in sorted(pods, key=lambda p: _meta(p).get("name", "")):
        if _meta(pod).get("namespace") != namespace or _meta(pod).get("deletionTimestamp"):
            continue
        if _phase(pod) in _FINISHED_POD_PHASES or name not in {c for c, _ in pod_claim_names(pod)}:
            continue
        node = _spec(pod).get("nodeName")
        if node:
            scheduled.append((_meta(pod)["name"], node))
        else:
            waiting.append(_meta(pod)["name"])
    return scheduled, waiting


def _wait_reason(unscheduled: Sequence[str]) -> tuple[str, str]:
    """emitEventForUnboundDelayBindingClaim's reason and message."""
    if not unscheduled:
        return "WaitForFirstConsumer", "waiting for first consumer to be created before binding"
    if len(unscheduled) == 1:
        return "WaitForPodScheduled", f"waiting for pod {unscheduled[0]} to be scheduled"
    return "WaitForPodScheduled", f"waiting for pods {','.join(unscheduled)} to be scheduled"


# --- Objects this controller writes ---------------------------------------------------------------

def provisioned_volume(claim: Obj, storage_class: Obj, hostname: str | None = None) -> Obj:
    """The PV a provisioner makes for the claim: ``pvc-<uid>``, the claim's size and modes, the class's policy.

    ``hostname`` pins it to one node (WaitForFirstConsumer); the source is a
    directory under :data:`VOLUME_ROOT` on whichever node mounts it.
    """
    name = f"pvc-{_meta(claim)['uid']}"
    provisioner = storage_class.get("provisioner") or ""
    spec: Obj = {
        "capacity": {"storage": ((_spec(claim).get("resources") or {}).get("requests") or {}).get("storage")},
        "accessModes": list(_spec(claim).get("accessModes") or ()),
        "volumeMode": _volume_mode(claim),
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
        "storageClassName": claim_class(claim),
        "claimRef": claim_reference(claim),
        "hostPath": {"path": f"{VOLUME_ROOT}/{name}", "type": "DirectoryOrCreate"},
    }
    if storage_class.get("mountOptions"):
        spec["mountOptions"] = list(storage_class["mountOptions"])
    if hostname:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": LABEL_HOSTNAME, "operator": "In", "values": [hostname]}]}]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {ANN_BOUND_BY_CONTROLLER: "yes",
                                                       ANN_PROVISIONED_BY: provisioner}},
            "spec": spec}


def _with_annotations(obj: Obj, wanted: Mapping[str, str]) -> Obj | None:
    """A copy of ``obj`` with the annotations set, or None if it has them all already."""
    if all(_annotations(obj).get(k) == v for k, v in wanted.items()):
        return None
    new = copy.deepcopy(obj)
    new["metadata"].setdefault("annotations", {}).update(wanted)
    return new


def volume_bound_to(pv: Obj, claim: Obj) -> Obj | None:
    """getBindVolumeToClaim: the PV pointing at the claim (uid included), or None when it already does."""
    ref = _spec(pv).get("claimRef") or {}
    meta = _meta(claim)
    stale = (ref.get("name"), ref.get("namespace"), ref.get("uid")) != (
        meta.get("name"), meta.get("namespace"), meta.get("uid"))
    by_controller = not is_bound_to(pv, claim) and ANN_BOUND_BY_CONTROLLER not in _annotations(pv)
    if not stale and not by_controller:
        return None
    new = copy.deepcopy(pv)
    if stale:
        new["spec"]["claimRef"] = claim_reference(claim)
    if by_controller:  # the user did not point this PV at the claim: we did
        new["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
    return new


def claim_bound_to(claim: Obj, pv: Obj) -> Obj | None:
    """bindClaimToVolume: the claim naming the PV with binding marked complete, or None when it is already."""
    name = _meta(pv)["name"]
    ours = _spec(claim).get("volumeName") != name  # the user did not name this PV: we do
    missing = [a for a, needed in ((ANN_BOUND_BY_CONTROLLER, ours), (ANN_BIND_COMPLETED, True))
               if needed and a not in _annotations(claim)]
    if not ours and not missing:
        return None
    new = copy.deepcopy(claim)
    new["spec"]["volumeName"] = name
    new["metadata"].setdefault("annotations", {}).update(dict.fromkeys(missing, "yes"))
    return new


def volume_with_phase(pv: Obj, phase: str, message: str, wall: float) -> Obj | None:
    """updateVolumePhase: the PV in ``phase``, or None when it is there with that message already."""
    status = pv.get("status") or {}
    if status.get("phase") == phase and (status.get("message") or "") == message:
        return None
    new = copy.deepcopy(pv)
    new_status = dict(status, phase=phase)
    if status.get("phase") != phase:
        new_status["lastPhaseTransitionTime"] = rfc3339(wall)
    if message:
        new_status["message"] = message
    else:
        new_status.pop("message", None)
    new["status"] = new_status
    return new


def claim_with_status(claim: Obj, phase: str, pv: Obj | None) -> Obj | None:
    """updateClaimStatus: the claim in ``phase``, with the PV's access modes and capacity (or none); None if so already.

    Capacity is copied only when the claim becomes Bound: afterwards a
    difference may be a resize in progress, which is not this controller's.
    """
    status = claim.get("status") or {}
    new_status = dict(status, phase=phase)
    if pv is None:
        new_status.pop("accessModes", None)
        new_status.pop("capacity", None)
    else:
        new_status["accessModes"] = list(_spec(pv).get("accessModes") or ())
        if status.get("phase") != phase:
            new_status["capacity"] = dict(_spec(pv).get("capacity") or {})
    if new_status == status:
        return None
    new = copy.deepcopy(claim)
    new["status"] = new_status
    return new


def volume_unbound(pv: Obj) -> Obj:
    """unbindVolume: drop the controller's claimRef, or, for a user's pre-binding, only the claim's uid."""
    new = copy.deepcopy(pv)
    annotations = new["metadata"].get("annotations") or {}
    if ANN_BOUND_BY_CONTROLLER in annotations:
        new["spec"].pop("claimRef", None)
        annotations.pop(ANN_BOUND_BY_CONTROLLER)
    else:
        new["spec"]["claimRef"] = {k: v for k, v in new["spec"]["claimRef"].items() if k != "uid"}
    return new


# --- The controller ----------------------------------------------------------------------------------

class PersistentVolumeController(Controller):
    """Binds claims to volumes, provisions and reclaims volumes; keys are ``claim:ns/name`` and ``volume:name``."""

    name = "persistentvolume-binder"
    watches = (CLAIMS, VOLUMES, CLASSES, PODS)
    workers = 1
    """One, as Kubernetes runs: two claims synced at once could both pick the same PV."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, str], Obj] = {}
        """(resource, key) -> what this controller last wrote, until the informer shows it."""
        self._unbound: dict[str, tuple[str | None, str]] = {}
        """Claims without bind-completed: key -> (class, None when unset; the PV asked for by name)."""
        self._said: dict[str, tuple[str, str]] = {}
        """The last repeatable event per claim key (waiting, no match), so a re-sync does not say it again."""

    # --- events into keys -----------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Keep the index of unbound claims, and forget our writes the informer now shows; called before keys."""
        if resource not in (CLAIMS, VOLUMES):
            return
        key = key_of(obj)
        written = self._written.get((resource, key))
        if written is not None and (event_type == "DELETED" or _rv(obj) >= _rv(written)):
            del self._written[(resource, key)]
        if resource != CLAIMS:
            return
        if event_type == "DELETED":
            self._said.pop(key, None)
        if event_type == "DELETED" or ANN_BIND_COMPLETED in _annotations(obj):
            self._unbound.pop(key, None)
        else:
            self._unbound[key] = (claim_class(obj) if claim_has_class(obj) else None,
                                  _spec(obj).get("volumeName") or "")

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        if resource == CLAIMS:
            volume = _spec(obj).get("volumeName")
            return [CLAIM_PREFIX + key_of(obj)] + ([VOLUME_PREFIX + volume] if volume else [])
        if resource == VOLUMES:
            name, ref = _meta(obj).get("name", ""), _spec(obj).get("claimRef")
            if ref:
                return [VOLUME_PREFIX + name, CLAIM_PREFIX + _ref_key(ref)]
            # A free PV: the unbound claims it could serve get another look.
            cls = volume_class(obj)
            return [VOLUME_PREFIX + name] + self._unbound_claims(
                lambda c, wanted: wanted == name or (not wanted and (c or "") == cls))
        if resource == CLASSES:
            cls = _meta(obj).get("name", "")
            return self._unbound_claims(lambda c, wanted: not wanted and c in (cls, None))
        if resource == PODS:
            ns = _meta(obj).get("namespace", "")
            claims = (f"{ns}/{name}" for name, _ in pod_claim_names(obj))
            return sorted(CLAIM_PREFIX + k for k in claims if k in self._unbound)
        return []

    def _unbound_claims(self, wanted: Callable[[str | None, str], bool]) -> list[str]:
        """The unbound claims whose (class, asked-for PV) ``wanted`` accepts, as keys."""
        return sorted(CLAIM_PREFIX + k for k, (cls, volume) in self._unbound.items() if wanted(cls, volume))

    async def sync(self, key: str, ctx: Context) -> float | None:
        if key.startswith(CLAIM_PREFIX):
            await self._sync_claim(key.removeprefix(CLAIM_PREFIX), ctx)
            return None
        assert key.startswith(VOLUME_PREFIX), f"not a {self.name} key: {key!r}"
        await self._sync_volume(key.removeprefix(VOLUME_PREFIX), ctx)
        return None

    # --- claims -----------------------------------------------------------------------------------
    async def _sync_claim(self, key: str, ctx: Context) -> None:
        """syncClaim."""
        claim = self._claim(ctx, key)
        if claim is None:
            return
        if ANN_BIND_COMPLETED in _annotations(claim):
            await self._sync_bound_claim(claim, ctx)
        elif _spec(claim).get("volumeName"):
            await self._sync_claim_asking_for(claim, _spec(claim)["volumeName"], ctx)
        else:
            await self._sync_unbound_claim(claim, ctx)

    async def _sync_unbound_claim(self, claim: Obj, ctx: Context) -> None:
        """syncUnboundClaim for a claim that takes any PV: bind one, or provision, or wait."""
        cls = claim_class(claim)
        storage_class = ctx.caches[CLASSES].get(cls) if cls else None
        delay = storage_class is not None and storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
        node_name, unscheduled = None, []
        if delay:
            node_name, unscheduled = self._consumer_node(claim, ctx)
        node = self._node(ctx, node_name) if node_name else None
        pv = find_best_match(claim, self._volumes(ctx), node=node, delay_binding=delay)
        if pv is not None:
            await self._bind(ctx, pv, claim)
            return
        if not claim_has_class(claim):
            default = default_class(ctx.caches[CLASSES].list())
            if default is not None:
                # RetroactiveDefaultStorageClass: the claim's update brings it back here.
                new = copy.deepcopy(claim)
                new["spec"]["storageClassName"] = _meta(default)["name"]
                await self._write(ctx, CLAIMS, "update", new)
                return
        if delay and node is None:
            self._say(ctx, claim, NORMAL, *_wait_reason(unscheduled))
        elif cls:
            await self._provision(ctx, claim, cls, storage_class, node_name)
            return
        else:
            self._say(ctx, claim, NORMAL, "FailedBinding",
                      "no persistent volumes available for this claim and no storage class is set")
        await self._set_claim_status(ctx, claim, PENDING, None)

    async def _sync_claim_asking_for(self, claim: Obj, wanted: str, ctx: Context) -> None:
        """syncUnboundClaim for a claim that names its PV: bind it if it is free (or already ours) and fits."""
        pv = self._volume(ctx, wanted)
        if pv is not None and not _spec(pv).get("claimRef"):
            reason = mismatch(claim, pv)
            if reason is None:
                await self._bind(ctx, pv, claim)
                return
            self._say(ctx, claim, WARNING, "VolumeMismatch", f'Cannot bind to requested volume "{wanted}": {reason}')
        elif pv is not None and is_bound_to(pv, claim):
            await self._bind(ctx, pv, claim)
            return
        # Missing, or someone else's: wait for it (its events wake this claim).
        await self._set_claim_status(ctx, claim, PENDING, None)

    async def _sync_bound_claim(self, claim: Obj, ctx: Context) -> None:
        """syncBoundClaim: keep a claim that was bound, bound; or say it is Lost."""
        name = _spec(claim).get("volumeName")
        if not name:
            await self._lose(ctx, claim, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
            return
        pv = self._volume(ctx, name)
        if pv is None and _phase(claim) != LOST:
            pv = await self._live(ctx, VOLUMES, name)  # not Lost on a stale cache's word
        if pv is None:
            await self._lose(ctx, claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            return
        ref = _spec(pv).get("claimRef")
        if not ref or ref.get("uid") == _meta(claim).get("uid"):
            await self._bind(ctx, pv, claim)  # finishes a half-done binding; writes nothing for a whole one
            return
        if _phase(claim) != LOST:
            ctx.recorder.event(claim, WARNING, "ClaimMisbound",
                               "Two claims are bound to the same volume, this one is bound incorrectly")
        await self._lose(ctx, claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")

    async def _lose(self, ctx: Context, claim: Obj, message: str) -> None:
        if _phase(claim) != LOST:
            await self._set_claim_status(ctx, claim, LOST, None)
            ctx.recorder.event(claim, WARNING, "ClaimLost", message)

    def _consumer_node(self, claim: Obj, ctx: Context) -> tuple[str | None, list[str]]:
        """The node chosen for a WaitForFirstConsumer claim (annotation, else its first bound pod's), and its unbound pods."""
        selected = _annotations(claim).get(ANN_SELECTED_NODE)
        if selected:
            return selected, []
        scheduled, waiting = claim_consumers(claim, ctx.caches[PODS].list())
        return (scheduled[0][1] if scheduled else None), waiting

    # --- provisioning -------------------------------------------------------------------------------
    async def _provision(self, ctx: Context, claim: Obj, cls: str, storage_class: Obj | None,
                         node_name: str | None) -> None:
        """provisionClaim: make the claim's PV; its event brings the claim back to be bound."""
        if storage_class is None:
            # The class's creation wakes the claim.
            self._say(ctx, claim, WARNING, "ProvisioningFailed", f'storageclass.storage.k8s.io "{cls}" not found')
            return
        provisioner = storage_class.get("provisioner") or ""
        if provisioner == NO_PROVISIONER:
            self._say(ctx, claim, NORMAL, "ExternalProvisioning",
                      f"Waiting for a volume to be created either by the external provisioner '{provisioner}' "
                      "or manually by the system administrator. If volume creation is delayed, please verify "
                      "that the provisioner is running and correctly registered.")
            return
        pv_name = f"pvc-{_meta(claim)['uid']}"
        if self._volume(ctx, pv_name) is not None:
            return  # provisioned already; the claim binds it as soon as it sees it
        wanted = {ANN_STORAGE_PROVISIONER: provisioner, ANN_BETA_STORAGE_PROVISIONER: provisioner}
        if node_name:
            wanted[ANN_SELECTED_NODE] = node_name
        new = _with_annotations(claim, wanted)
        if new is not None:
            claim = await self._write(ctx, CLAIMS, "update", new)
        ctx.recorder.event(claim, NORMAL, "Provisioning",
                           f'External provisioner is provisioning volume for claim "{key_of(claim)}"')
        pv = provisioned_volume(claim, storage_class, self._hostname(ctx, node_name) if node_name else None)
        try:
            await self._write(ctx, VOLUMES, "create", pv)
        except ApiError as exc:
            if exc.code == 409:
                return  # an earlier attempt made it: the name is the claim's uid
            ctx.recorder.event(claim, WARNING, "ProvisioningFailed",
                               f'Failed to provision volume with StorageClass "{cls}": {exc.message}')
            raise
        ctx.recorder.event(claim, NORMAL, "ProvisioningSucceeded",
                           f"Successfully provisioned volume {pv_name} using {provisioner}")

    # --- volumes -----------------------------------------------------------------------------------
    async def _sync_volume(self, name: str, ctx: Context) -> None:
        """syncVolume: the PV's phase from its claim; a released PV reclaimed."""
        pv = self._volume(ctx, name)
        if pv is None:
            return
        ref = _spec(pv).get("claimRef")
        if not ref or not ref.get("uid"):
            # Free, or pre-bound by the user to a claim that has not taken it yet.
            await self._set_volume_phase(ctx, pv, AVAILABLE)
            return
        claim = self._claim(ctx, _ref_key(ref))
        if claim is None and _phase(pv) not in (RELEASED, FAILED):
            # Whoever bound the PV may be ahead of this cache: ask before releasing.
            claim = await self._live(ctx, CLAIMS, ref.get("name", ""), ref.get("namespace", ""))
        if claim is not None and _meta(claim).get("uid") != ref.get("uid"):
            claim = None  # deleted and created again: not the claim this PV served
        if claim is None:
            await self._release(ctx, pv)
            return
        volume_name = _spec(claim).get("volumeName")
        if not volume_name:
            if _volume_mode(claim) != _volume_mode(pv):
                self._mode_mismatch(ctx, pv, claim)
            return  # the claim's own sync finishes the binding
        if volume_name == name:
            await self._set_volume_phase(ctx, pv, BOUND)
            return
        # The claim took another PV.
        if ANN_PROVISIONED_BY in _annotations(pv) and _spec(pv).get("persistentVolumeReclaimPolicy") == "Delete":
            await self._release(ctx, pv)  # made for that claim alone
        else:
            await self._unbind(ctx, pv)

    def _mode_mismatch(self, ctx: Context, pv: Obj, claim: Obj) -> None:
        ctx.recorder.event(pv, WARNING, "VolumeMismatch",
                           f'Cannot bind PersistentVolume to requested PersistentVolumeClaim "{_meta(claim)["name"]}" '
                           "due to incompatible volumeMode.")
        self._say(ctx, claim, WARNING, "VolumeMismatch",
                  f'Cannot bind PersistentVolume "{_meta(pv)["name"]}" to requested PersistentVolumeClaim '
                  "due to incompatible volumeMode.")

    async def _release(self, ctx: Context, pv: Obj) -> None:
        # A Failed phase is kept, so the user sees something went wrong while reclaiming goes on.
        if _phase(pv) not in (RELEASED, FAILED):
            pv = await self._set_volume_phase(ctx, pv, RELEASED)
        await self._reclaim(ctx, pv)

    async def _reclaim(self, ctx: Context, pv: Obj) -> None:
        """reclaimVolume, with a simulated deleter and recycler that always succeed."""
        policy = _spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Retain":
            return
        if policy == "Delete":
            name = _meta(pv)["name"]
            try:
                await ctx.api.delete(VOLUMES, name)
            except ApiError as exc:
                if exc.code != 404:
                    raise
            self._written.pop((VOLUMES, name), None)
        elif policy == "Recycle":
            ctx.recorder.event(pv, NORMAL, "VolumeRecycled", "Volume recycled")
            await self._unbind(ctx, pv)
        elif _phase(pv) != FAILED:
            message = "Volume has unrecognized PersistentVolumeReclaimPolicy"
            await self._set_volume_phase(ctx, pv, FAILED, message)
            ctx.recorder.event(pv, WARNING, "VolumeUnknownReclaimPolicy", message)

    async def _unbind(self, ctx: Context, pv: Obj) -> None:
        pv = await self._write(ctx, VOLUMES, "update", volume_unbound(pv))
        await self._set_volume_phase(ctx, pv, AVAILABLE)

    # --- binding ------------------------------------------------------------------------------------
    async def _bind(self, ctx: Context, pv: Obj, claim: Obj) -> None:
        """bind: the PV's claimRef, the PV's phase, the claim's volumeName, the claim's status, in that order."""
        new = volume_bound_to(pv, claim)
        if new is not None:
            pv = await self._write(ctx, VOLUMES, "update", new)
        pv = await self._set_volume_phase(ctx, pv, BOUND)
        new = claim_bound_to(claim, pv)
        if new is not None:
            claim = await self._write(ctx, CLAIMS, "update", new)
        await self._set_claim_status(ctx, claim, BOUND, pv)
        self._said.pop(key_of(claim), None)

    async def _set_volume_phase(self, ctx: Context, pv: Obj, phase: str, message: str = "") -> Obj:
        new = volume_with_phase(pv, phase, message, ctx.wall)
        return pv if new is None else await self._write(ctx, VOLUMES, "update_status", new)

    async def _set_claim_status(self, ctx: Context, claim: Obj, phase: str, pv: Obj | None) -> Obj:
        new = claim_with_status(claim, phase, pv)
        return claim if new is None else await self._write(ctx, CLAIMS, "update_status", new)

    # --- reads and writes -----------------------------------------------------------------------------
    def _fresh(self, resource: str, key: str, cached: Obj | None) -> Obj | None:
        """The newer of the cache's copy and our last write of it."""
        written = self._written.get((resource, key))
        if written is None:
            return cached
        if cached is not None and _rv(cached) >= _rv(written):
            del self._written[(resource, key)]
            return cached
        return written

    def _claim(self, ctx: Context, key: str) -> Obj | None:
        ns, name = split_key(key)
        return self._fresh(CLAIMS, key, ctx.caches[CLAIMS].get(name, ns))

    def _volume(self, ctx: Context, name: str) -> Obj | None:
        return self._fresh(VOLUMES, name, ctx.caches[VOLUMES].get(name))

    def _volumes(self, ctx: Context) -> list[Obj]:
        cached = {_meta(pv)["name"]: pv for pv in ctx.caches[VOLUMES].list()}
        names = cached.keys() | {key for resource, key in self._written if resource == VOLUMES}
        found = (self._fresh(VOLUMES, name, cached.get(name)) for name in sorted(names))
        return [pv for pv in found if pv is not None]

    async def _live(self, ctx: Context, resource: str, name: str, namespace: str = "") -> Obj | None:
        """The object from the API server (not found: None), for a decision a stale cache must not make."""
        try:
            return await ctx.api.get(resource, name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def _write(self, ctx: Context, resource: str, verb: str, obj: Obj) -> Obj:
        try:
            out = await getattr(ctx.api, verb)(obj)
        except ApiError as exc:
            if exc.code in (404, 409):
                # Our copy is wrong (changed or deleted behind our back, perhaps unseen by the
                # informer): trust the cache again from the retry on.
                self._written.pop((resource, key_of(obj)), None)
            raise
        if not isinstance(out, dict) or not out.get("metadata"):
            return obj
        self._written[(resource, key_of(out))] = out
        return out

    def _say(self, ctx: Context, claim: Obj, type_: str, reason: str, message: str) -> None:
        """An event about a claim still waiting, said once per change rather than at every sync."""
        key = key_of(claim)
        if self._said.get(key) != (reason, message):
            self._said[key] = (reason, message)
            ctx.recorder.event(claim, type_, reason, message)

    @staticmethod
    def _node(ctx: Context, name: str) -> Obj:
        """The node from a node cache if the manager has one, else as much as its name tells."""
        nodes = ctx.caches.get(NODES)
        node = nodes.get(name) if nodes is not None else None
        return node or {"metadata": {"name": name, "labels": {LABEL_HOSTNAME: name}}}

    def _hostname(self, ctx: Context, name: str) -> str:
        return (_meta(self._node(ctx, name)).get("labels") or {}).get(LABEL_HOSTNAME) or name
