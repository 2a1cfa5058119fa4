"""VolumeBinding: a pod goes only where its PersistentVolumeClaims can be served.

A claim is either already bound to a PersistentVolume, whose
``spec.nodeAffinity`` may pin it to some nodes (a local disk, a zonal
volume), or still unbound. An unbound claim whose StorageClass says
``volumeBindingMode: WaitForFirstConsumer`` waits for the scheduler: the
node chosen for the pod decides which PV to bind, or where to provision
one; an ``Immediate`` claim should have been bound by the PV controller
before the pod was ever scheduled. This module is kube-scheduler's
``volumebinding`` plugin (``pkg/scheduler/framework/plugins/volumebinding``
and its ``binder.go``, 1.32), simplified, as pure functions:

- **PreFilter** looks each claim up (``spec.volumes[].persistentVolumeClaim``
  and generic ephemeral volumes, whose claim is ``<pod>-<volume>``). A
  missing, lost or deleting claim, or any unbound Immediate claim, makes
  the pod UnschedulableAndUnresolvable on every node: only the claim's
  controller can change that, not preemption.
- **Filter** checks, for one node, that each bound claim's PV exists and
  its node affinity admits the node, and that each WaitForFirstConsumer
  claim can be met there: by an available PV (the smallest that fits, as
  Kubernetes picks), or by dynamic provisioning (the class has a real
  provisioner and its ``allowedTopologies`` admit the node). What it found
  is recorded in the CycleState per node (:class:`PodVolumes`), so the
  binding step after Reserve knows what to bind or provision. Every
  refusal is UnschedulableAndUnresolvable, with Kubernetes' reasons.

Objects come in a :class:`StorageSnapshot` (claims by ``namespace/name``,
PVs and StorageClasses by name), passed to :func:`pre_filter` or left in
the CycleState under :data:`STORAGE_KEY` by the scheduler: this module does
no I/O.

Simplified on purpose: a claim counts as bound once ``spec.volumeName`` is
set (Kubernetes also wants the ``pv.kubernetes.io/bind-completed``
annotation, which only its PV controller writes); a PV in phase
``Pending`` or without a status is available, since kubesim has no PV
controller to move it to ``Available``; CSI storage capacity, volume
attributes classes, CSI migration and the alpha capacity scoring are left
out, so the plugin has no Score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from actors.apiserver.selectors import SelectorError, selector_from_dict
from actors.apiserver.validation import parse_quantity
from actors.scheduler.framework import CycleState, NodeInfo, Obj, Status
from actors.scheduler.plugins.node import term_matches

__all__ = [
    "ERR_BIND_CONFLICT",
    "ERR_NODE_CONFLICT",
    "ERR_PV_NOT_EXIST",
    "ERR_UNBOUND_IMMEDIATE",
    "NAME",
    "NO_PROVISIONER",
    "STORAGE_KEY",
    "WAIT_FOR_FIRST_CONSUMER",
    "PodVolumes",
    "PreFilterState",
    "StorageSnapshot",
    "filter",
    "find_matching_volume",
    "is_bound_to",
    "pod_claim_names",
    "pre_filter",
    "volume_node_affinity_matches",
]

NAME = "VolumeBinding"
PRE_FILTER_KEY = "PreFilter" + NAME
#: Where the scheduler may leave this cycle's StorageSnapshot.
STORAGE_KEY = "StorageSnapshot"

ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
#: A class with this provisioner has only pre-made PVs (local volumes).
NO_PROVISIONER = "kubernetes.io/no-provisioner"
#: Set on a claim once a node was chosen for provisioning it.
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
_AVAILABLE_PHASES = frozenset({"Available", "Pending", ""})


@dataclass(frozen=True, slots=True)
class StorageSnapshot:
    """The storage objects one cycle decides from."""

    claims: Mapping[str, Obj] = field(default_factory=dict)
    """PersistentVolumeClaims by ``namespace/name``."""
    volumes: Mapping[str, Obj] = field(default_factory=dict)
    """PersistentVolumes by name."""
    classes: Mapping[str, Obj] = field(default_factory=dict)
    """StorageClasses by name."""


@dataclass(frozen=True, slots=True)
class PodVolumes:
    """What binding the pod's claims on one node takes (Kubernetes' PodVolumes)."""

    static_bindings: tuple[tuple[str, str], ...] = ()
    """(claim ``namespace/name``, PV name): existing PVs to bind."""
    dynamic_provisions: tuple[str, ...] = ()
    """Claims (``namespace/name``) to provision on this node."""


@dataclass(slots=True)
class PreFilterState:
    """The pod's claims sorted by what they need, and, after Filter, what each node would bind."""

    bound_claims: list[Obj] = field(default_factory=list)
    delayed_claims: list[Obj] = field(default_factory=list)
    """Unbound claims of WaitForFirstConsumer classes."""
    storage: StorageSnapshot = field(default_factory=StorageSnapshot)
    pod_volumes_by_node: dict[str, PodVolumes] = field(default_factory=dict)
    """Written by Filter for each node that passed: binding is deferred to that node."""


# --- Small readers ---------------------------------------------------------------------

def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _key(obj: Obj) -> str:
    return f"{_meta(obj).get('namespace', '')}/{_meta(obj).get('name', '')}"


def _claim_class(claim: Obj) -> str:
    # The beta annotation still wins over the field, as in GetPersistentVolumeClaimClass.
    annotations = _meta(claim).get("annotations") or {}
    return annotations.get("volume.beta.kubernetes.io/storage-class",
                           _spec(claim).get("storageClassName") or "")


def _volume_class(pv: Obj) -> str:
    annotations = _meta(pv).get("annotations") or {}
    return annotations.get("volume.beta.kubernetes.io/storage-class",
                           _spec(pv).get("storageClassName") or "")


def _storage(amounts: Mapping[str, Any] | None) -> Decimal:
    return parse_quantity((amounts or {}).get("storage", 0)) or Decimal(0)


def _requested(claim: Obj) -> Decimal:
    return _storage((_spec(claim).get("resources") or {}).get("requests"))


def _capacity(pv: Obj) -> Decimal:
    return _storage(_spec(pv).get("capacity"))


# --- PreFilter -------------------------------------------------------------------------

def pod_claim_names(pod: Obj) -> list[tuple[str, bool]]:
    """(claim name, is generic ephemeral) for each of the pod's volumes that uses a claim."""
    out = []
    for volume in _spec(pod).get("volumes") or []:
        if volume.get("persistentVolumeClaim"):
            out.append((volume["persistentVolumeClaim"].get("claimName", ""), False))
        elif volume.get("ephemeral"):
            out.append((f"{_meta(pod).get('name', '')}-{volume.get('name', '')}", True))
    return out


def _controlled_by(claim: Obj, pod: Obj) -> bool:
    uid = _meta(pod).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid
               for ref in _meta(claim).get("ownerReferences") or [])


def _claim_problem(claim: Obj | None, name: str, ephemeral: bool, pod: Obj) -> str | None:
    """Why the claim rules out every node (podHasPVCs), or None."""
    if claim is None:
        if ephemeral:
            return ("waiting for ephemeral volume controller to create the "
                    f'persistentvolumeclaim "{name}"')
        return f'persistentvolumeclaim "{name}" not found'
    if (claim.get("status") or {}).get("phase") == "Lost":
        return (f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume '
                f'"{_spec(claim).get("volumeName", "")}"')
    if _meta(claim).get("deletionTimestamp"):
        return f'persistentvolumeclaim "{name}" is being deleted'
    if ephemeral and not _controlled_by(claim, pod):
        namespace = _meta(pod).get("namespace", "")
        return (f"PVC {namespace}/{name} was not created for pod "
                f"{namespace}/{_meta(pod).get('name', '')} (pod is not owner)")
    return None


def _delay_binding(claim: Obj, classes: Mapping[str, Obj]) -> bool:
    """IsDelayBindingMode: the claim's class exists and waits for the first consumer."""
    storage_class = classes.get(_claim_class(claim))
    return storage_class is not None and \
        storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER


def pre_filter(pod: Obj, nodes: Sequence[NodeInfo], state: CycleState,
               storage: StorageSnapshot | None = None) -> Status | None:
    """Look the pod's claims up and sort them; refuse the pod outright if one cannot be served.

    ``storage`` defaults to ``state[STORAGE_KEY]``, then to nothing at all.
    """
    if storage is None:
        storage = state.get(STORAGE_KEY) or StorageSnapshot()
    s = PreFilterState(storage=storage)
    state[PRE_FILTER_KEY] = s
    namespace = _meta(pod).get("namespace", "")
    for name, ephemeral in pod_claim_names(pod):
        claim = storage.claims.get(f"{namespace}/{name}")
        problem = _claim_problem(claim, name, ephemeral, pod)
        if problem is not None:
            return Status.unresolvable(NAME, problem)
        assert claim is not None
        if _spec(claim).get("volumeName"):
            s.bound_claims.append(claim)
        elif _delay_binding(claim, storage.classes):
            s.delayed_claims.append(claim)
        else:
            # Immediate binding is the PV controller's job; retry once it is done.
            return Status.unresolvable(NAME, ERR_UNBOUND_IMMEDIATE)
    return None


# --- Filter ----------------------------------------------------------------------------

def volume_node_affinity_matches(pv: Obj, node: Obj) -> bool:
    """CheckNodeAffinity: the PV's required node selector (terms ORed) admits the node."""
    required = (_spec(pv).get("nodeAffinity") or {}).get("required")
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def is_bound_to(pv: Obj, claim: Obj) -> bool:
    """IsVolumeBoundToClaim: the PV's claimRef names this claim (and its uid, if it has one). The PV binder
    (actors.controllers.persistentvolume) asks the same."""
    ref = _spec(pv).get("claimRef")
    if not ref:
        return False
    meta = _meta(claim)
    return (ref.get("name") == meta.get("name") and ref.get("namespace") == meta.get("namespace")
            and (not ref.get("uid") or ref.get("uid") == meta.get("uid")))


def _selector_admits(claim: Obj, pv: Obj) -> bool:
    raw = _spec(claim).get("selector")
    if raw is None:
        return True  # no selector: any PV
    try:
        return selector_from_dict(raw).matches(_meta(pv).get("labels") or {})
    except SelectorError:
        return False


def _fits(claim: Obj, pv: Obj, node: Obj) -> bool:
    """An unclaimed PV this claim could take on this node."""
    claim_spec, pv_spec = _spec(claim), _spec(pv)
    return ((pv.get("status") or {}).get("phase", "") in _AVAILABLE_PHASES
            and _selector_admits(claim, pv)
            and _volume_class(pv) == _claim_class(claim)
            and volume_node_affinity_matches(pv, node)
            and set(claim_spec.get("accessModes") or ()) <= set(pv_spec.get("accessModes") or ()))


def find_matching_volume(claim: Obj, volumes: Sequence[Obj], node: Obj,
                         excluded: set[str]) -> Obj | None:
    """FindMatchingVolume: the PV pre-bound to the claim, else the smallest that fits on ``node``."""
    requested = _requested(claim)
    claim_mode = _spec(claim).get("volumeMode") or "Filesystem"
    best: Obj | None = None
    for pv in volumes:
        name = _meta(pv).get("name", "")
        if name in excluded or _meta(pv).get("deletionTimestamp"):
            continue
        if _spec(pv).get("claimRef") and not is_bound_to(pv, claim):
            continue
        if _capacity(pv) < requested or (_spec(pv).get("volumeMode") or "Filesystem") != claim_mode:
            continue
        if is_bound_to(pv, claim):
            # Pre-bound by the user: that PV or nothing.
            return pv if volume_node_affinity_matches(pv, node) else None
        if _fits(claim, pv, node) and (best is None or _capacity(pv) < _capacity(best)):
            best = pv
    return best


def _topology_allows(storage_class: Obj, node: Obj) -> bool:
    """allowedTopologies (terms ORed, expressions ANDed); none means anywhere."""
    terms = storage_class.get("allowedTopologies") or []
    labels = _meta(node).get("labels") or {}
    return not terms or any(
        all(labels.get(e.get("key", "")) in (e.get("values") or [])
            for e in term.get("matchLabelExpressions") or [])
        for term in terms)


def _can_provision(claim: Obj, classes: Mapping[str, Obj], node: Obj) -> bool:
    storage_class = classes.get(_claim_class(claim))
    return (storage_class is not None
            and storage_class.get("provisioner", NO_PROVISIONER) != NO_PROVISIONER
            and _topology_allows(storage_class, node))


def _check_bound(s: PreFilterState, node: Obj) -> tuple[bool, bool]:
    """checkBoundClaims: (node affinity satisfied, PVs found), stopping at the first failure."""
    for claim in s.bound_claims:
        pv = s.storage.volumes.get(_spec(claim).get("volumeName", ""))
        if pv is None:
            return True, False
        if not volume_node_affinity_matches(pv, node):
            return False, True
    return True, True


def _plan_delayed(s: PreFilterState, node: Obj) -> PodVolumes | None:
    """Static bindings and provisions for the delayed claims on ``node``, or None if impossible."""
    to_match, to_provision = [], []
    for claim in s.delayed_claims:
        selected = (_meta(claim).get("annotations") or {}).get(ANN_SELECTED_NODE)
        if selected is None:
            to_match.append(claim)
        elif selected == _meta(node).get("name"):
            to_provision.append(claim)  # provisioning already started for this node
        else:
            return None
    volumes = sorted(s.storage.volumes.values(), key=lambda pv: _meta(pv).get("name", ""))
    bindings: list[tuple[str, str]] = []
    chosen: set[str] = set()
    # The smallest requests first, so each takes the smallest PV that fits.
    for claim in sorted(to_match, key=_requested):
        pv = find_matching_volume(claim, volumes, node, chosen)
        if pv is None:
            to_provision.append(claim)
            continue
        chosen.add(_meta(pv)["name"])
        bindings.append((_key(claim), _meta(pv)["name"]))
    if not all(_can_provision(c, s.storage.classes, node) for c in to_provision):
        return None
    return PodVolumes(tuple(bindings), tuple(_key(c) for c in to_provision))


def filter(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """None when the node can serve every claim; records the node's PodVolumes in ``state``."""
    s: PreFilterState = state[PRE_FILTER_KEY]
    if not s.bound_claims and not s.delayed_claims:
        return None
    node = node_info.node
    affinity_ok, pvs_found = _check_bound(s, node)
    plan = _plan_delayed(s, node) if s.delayed_claims else PodVolumes()
    # Kubernetes' order of reasons.
    reasons = [reason for reason, failed in ((ERR_NODE_CONFLICT, not affinity_ok),
                                             (ERR_BIND_CONFLICT, plan is None),
                                             (ERR_PV_NOT_EXIST, not pvs_found)) if failed]
    if reasons or plan is None:
        return Status.unresolvable(NAME, *reasons)
    s.pod_volumes_by_node[node_info.name] = plan
    return None
