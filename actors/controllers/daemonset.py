"""The DaemonSet controller: one pod on every node that should run one, rolled to a new template node by node.

Kubernetes' ``pkg/controller/daemon`` in kubesim's controller shape
(:mod:`actors.controllers.base`). One :meth:`DaemonSetController.sync` per
key, in syncDaemonSet's order:

1. the DaemonSet from the cache (gone: forget its expectations). An empty
   selector earns a ``SelectingAll`` warning and nothing more; a DaemonSet
   being deleted is left to the garbage collector;
2. its pods (matching orphans adopted, owned pods that stopped matching
   released), grouped by the node each is *for*: ``spec.nodeName`` once
   bound, else the node its ``matchFields`` affinity names
   (:func:`target_node_name`);
3. while its last creates and deletes have not come back through the
   informer (expectations), only the status, without observedGeneration;
4. **manage**, node by node (:func:`node_should_run`, :func:`node_plan`):
   start a pod where one should run and none is; delete failed pods (with a
   per-node backoff, as the kubelet may keep rejecting them) and succeeded
   ones; keep the oldest of several (two, one old and one new, while
   surging); delete every pod on a node that may no longer keep it; delete
   never-bound pods for nodes that are gone;
5. **rolling update** (``updateStrategy.type: RollingUpdate``, the default),
   only once manage's writes have been observed (:func:`rolling_update_plan`):
   without surge, delete old pods while at most ``maxUnavailable`` nodes are
   without an available pod (manage starts the replacements on the next
   sync); with ``maxSurge``, start a new pod beside an old one on up to
   ``maxSurge`` nodes and delete the old one once the new is available;
6. the status, written only when it changed (:func:`calculate_status`).

Which nodes should run a pod (NodeShouldRunDaemonPod): the template's
``nodeName``, if any, must be the node; the node must match the
``nodeSelector`` and required node affinity; and every ``NoSchedule`` and
``NoExecute`` taint must be tolerated by the template's tolerations plus the
ones every DaemonSet pod gets (:func:`daemon_pod_tolerations`: not-ready
and unreachable ``NoExecute``; disk-, memory- and PID-pressure and
unschedulable ``NoSchedule``; network-unavailable too for host-network
pods). An untolerated ``NoSchedule`` taint only stops *new* pods; an
untolerated ``NoExecute`` one evicts. ``spec.unschedulable`` is not looked
at: cordoning a node does not keep daemons off it.

Pods are not bound by the controller: since Kubernetes 1.12 each carries a
required node affinity ``matchFields: metadata.name In [<node>]``
(replacing any required terms of the template, which the node was already
checked against) and the scheduler binds it. The pod's
``controller-revision-hash`` label is :func:`revision_hash` of the template,
which is all the rolling update compares; no ControllerRevision objects are
kept. Time comes from the context (``ctx.wall`` for availability,
``ctx.now`` for the failed-pod backoff); nothing here reads a clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
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
from actors.controllers.deployment import int_or_percent, pod_template_hash
from actors.controllers.expectations import ControllerExpectations
from actors.controllers.podcontrol import (
    claim_pods,
    create_pod,
    delete_pod,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    parse_time,
    pod_key,
    slow_start_batch,
)
from actors.controllers.replicaset import requeue_after
from actors.scheduler.plugins.node import (
    required_node_affinity_matches,
    untolerated_taint,
)

REVISION_HASH_LABEL = "controller-revision-hash"
"""The pod label naming the template revision a pod was made from (apps.DefaultDaemonSetUniqueLabelKey)."""

BURST_REPLICAS = 250
"""At most this many pods created, and this many deleted, by one sync (the DaemonSet controller's burstReplicas)."""

SLOW_START_INITIAL_BATCH = 1

FAILED_POD_BACKOFF_INITIAL_S = 1.0
FAILED_POD_BACKOFF_MAX_S = 15 * 60.0
"""Deleting failed pods on one node backs off 1 s, 2 s, 4 s ... up to 15 minutes (failedPodsBackoff)."""

_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})
_NO_EXECUTE = frozenset({"NoExecute"})

_DEFAULT_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
"""(key, effect) of the Exists tolerations every DaemonSet pod gets (AddOrUpdateDaemonPodTolerations)."""

_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")


# === pure helpers ==========================================================================================

def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _template(ds: Obj) -> Obj:
    return _spec(ds).get("template") or {}


def _same_toleration(a: Mapping, b: Mapping) -> bool:
    """Toleration.MatchToleration: same key, operator, value and effect (tolerationSeconds aside)."""
    return all((a.get(f) or "") == (b.get(f) or "") for f in ("key", "operator", "value", "effect"))


def add_or_update_toleration(tolerations: list[Obj], toleration: Obj) -> list[Obj]:
    """``tolerations`` with ``toleration`` in place of its match, or appended (AddOrUpdateTolerationInPodSpec)."""
    out, replaced = [], False
    for t in tolerations:
        if _same_toleration(t, toleration):
            out.append(dict(toleration))
            replaced = True
        else:
            out.append(t)
    if not replaced:
        out.append(dict(toleration))
    return out


def daemon_pod_tolerations(pod_spec: Obj) -> list[Obj]:
    """The pod spec's tolerations plus the ones every DaemonSet pod has, so node trouble does not evict it.

    A toleration of the pod's that matches a default one (say with a
    ``tolerationSeconds``) is replaced by the default, which tolerates for ever.
    """
    tolerations = [t for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    defaults = list(_DEFAULT_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        defaults.append(_HOST_NETWORK_TOLERATION)
    for key, effect in defaults:
        tolerations = add_or_update_toleration(tolerations, {"key": key, "operator": "Exists", "effect": effect})
    return tolerations


def revision_hash(ds: Obj) -> str:
    """The ``controller-revision-hash`` of the DaemonSet's template (with ``status.collisionCount``, if any)."""
    return pod_template_hash(_template(ds), (ds.get("status") or {}).get("collisionCount"))


def pod_template(ds: Obj, hash_: str) -> Obj:
    """The template pods are made from (CreatePodTemplate): default tolerations added, the hash label set."""
    template = copy.deepcopy(_template(ds))
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), REVISION_HASH_LABEL: hash_}
    spec = template.setdefault("spec", {})
    spec["tolerations"] = daemon_pod_tolerations(spec)
    return template


def pin_to_node(affinity: Obj | None, node_name: str) -> Obj:
    """``affinity`` whose required node affinity is only ``metadata.name In [node_name]``
    (ReplaceDaemonSetPodNodeNameNodeAffinity); preferred terms and pod (anti-)affinity are kept.
    """
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    out = copy.deepcopy(affinity) if isinstance(affinity, dict) else {}
    node_affinity = out.get("nodeAffinity")
    if not isinstance(node_affinity, dict):
        node_affinity = out["nodeAffinity"] = {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        required["nodeSelectorTerms"] = [term]
    else:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    return out


def target_node_name(pod: Obj) -> str | None:
    """The node a DaemonSet pod is for: its ``nodeName``, else the one its matchFields affinity names (GetTargetNodeName)."""
    spec = _spec(pod)
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for expr in (term or {}).get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                values = expr.get("values") or []
                return values[0] if len(values) == 1 else None
    return None


def _eligibility_pod(ds: Obj) -> Obj:
    """The pod the checks look at (NewPod): the template with the default tolerations."""
    spec = _spec(_template(ds))
    return {"metadata": _meta(_template(ds)), "spec": {**spec, "tolerations": daemon_pod_tolerations(spec)}}


def node_should_run(node: Obj, ds: Obj, pod: Obj | None = None) -> tuple[bool, bool]:
    """``(should_run, should_continue_running)`` of ``ds`` on ``node`` (NodeShouldRunDaemonPod).

    ``should_run``: a pod should be started there if none is.
    ``should_continue_running``: a pod already there may stay. They differ
    only for a node with an untolerated ``NoSchedule`` taint but no
    untolerated ``NoExecute`` one. ``pod`` is :func:`_eligibility_pod`'s
    result, when the caller checks many nodes.
    """
    pod = pod if pod is not None else _eligibility_pod(ds)
    name = _meta(node).get("name")
    wanted = _spec(pod).get("nodeName")
    if wanted and wanted != name:
        return False, False
    if not required_node_affinity_matches(pod, node):
        return False, False
    taints = [t for t in _spec(node).get("taints") or [] if isinstance(t, dict)]
    tolerations = _spec(pod)["tolerations"]
    if untolerated_taint(taints, tolerations, _DO_NOT_SCHEDULE) is None:
        return True, True
    return False, untolerated_taint(taints, tolerations, _NO_EXECUTE) is None


def nodes_to_pods(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
    """Node name -> the DaemonSet pods for it; pods both finished and being deleted are left out (nothing to do),
    as are pods naming no node."""
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and _meta(pod).get("deletionTimestamp"):
            continue
        node = target_node_name(pod)
        if node is not None:
            out.setdefault(node, []).append(pod)
    return out


def _oldest_first(pod: Obj) -> tuple:
    """podByCreationTimestampAndPhase: bound pods first, then older, then by name."""
    meta = _meta(pod)
    created = parse_time(meta.get("creationTimestamp"))
    return (not _spec(pod).get("nodeName"), created is not None, created or 0.0, meta.get("name", ""))


def _is_updated(pod: Obj, hash_: str) -> bool:
    return bool(hash_) and (_meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL) == hash_


def is_rolling(ds: Obj) -> bool:
    return (_spec(ds).get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(ds: Obj, desired: int) -> tuple[int, int]:
    """``(max_surge, max_unavailable)`` out of ``desired`` nodes, percentages rounded up
    (SurgeCount, UnavailableCount); 0 and 0 become 0 and 1 so a rollout can always move.

    Unset values read as the API server's defaults (maxUnavailable 1,
    maxSurge 0); OnDelete has neither.
    """
    if not is_rolling(ds):
        return 0, 0
    rolling = (_spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", 0), desired, round_up=True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", 1), desired, round_up=True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def allows_surge(ds: Obj) -> bool:
    return fenceposts(ds, 1)[0] > 0


@dataclass(slots=True)
class NodePlan:
    """What manage wants on one node (podsShouldBeOnNode)."""

    create: bool = False
    delete: list[Obj] = field(default_factory=list)
    """Pods to delete: evicted, surplus, or replaced by a surge pod."""
    succeeded: list[Obj] = field(default_factory=list)
    """Pods that finished: deleted (a daemon is not meant to end), with an event."""
    failed: list[Obj] = field(default_factory=list)
    """Failed pods to delete, subject to the node's backoff."""


def node_plan(ds: Obj, should_run: bool, should_continue: bool, pods: list[Obj] | None, hash_: str,
              wall: float) -> NodePlan:
    """What to create and delete on one node, given the pods for it (None: none at all)."""
    plan = NodePlan()
    if should_run and pods is None:
        plan.create = True
        return plan
    if not should_continue:
        plan.delete = [p for p in pods or [] if not _meta(p).get("deletionTimestamp")]
        return plan
    running = []
    for pod in pods or []:
        if _meta(pod).get("deletionTimestamp"):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Failed":
            plan.failed.append(pod)
        elif phase == "Succeeded":
            plan.succeeded.append(pod)
        else:
            running.append(pod)
    running.sort(key=_oldest_first)
    if not allows_surge(ds):
        plan.delete += running[1:]  # keep the oldest; the next sync starts one if none is left
        return plan
    if not running:
        plan.create = should_run
        return plan
    # Surging: keep the oldest new pod and the oldest old one; the old goes once it is not ready
    # or the new one is available.
    oldest_new = oldest_old = None
    for pod in running:
        if _is_updated(pod, hash_) and oldest_new is None:
            oldest_new = pod
        elif not _is_updated(pod, hash_) and oldest_old is None:
            oldest_old = pod
        else:
            plan.delete.append(pod)
    if oldest_new is not None and oldest_old is not None:
        min_ready = int(_spec(ds).get("minReadySeconds") or 0)
        if not is_pod_ready(oldest_old) or is_pod_available(oldest_new, min_ready, wall):
            plan.delete.append(oldest_old)
    return plan


def unscheduled_pods_without_node(node_names: set[str], by_node: Mapping[str, list[Obj]]) -> list[Obj]:
    """Never-bound pods for nodes that no longer exist: no scheduler or pod GC will ever deal with them."""
    return [p for name, pods in sorted(by_node.items()) if name not in node_names
            for p in pods if not _spec(p).get("nodeName")]


def _new_and_old(pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """The node's one new and one old pod (not being deleted); ok is False if there are more (findUpdatedPodsOnNode)."""
    new = old = None
    for pod in pods:
        if _meta(pod).get("deletionTimestamp"):
            continue
        if _is_updated(pod, hash_):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update_plan(ds: Obj, nodes: list[Obj], by_node: Mapping[str, list[Obj]], hash_: str,
                        wall: float) -> tuple[list[Obj], list[str]]:
    """``(old pods to delete, nodes to start a new pod on)`` for one rolling-update step (rollingUpdate).

    Every node that should run a pod counts, with or without one; a node
    whose pods manage has yet to sort out (several of them) counts as
    unavailable (or surging). Nodes are looked at in name order, so the
    choice is the same every run (Kubernetes walks a Go map).
    """
    eligibility = _eligibility_pod(ds)
    by_name = {_meta(n)["name"]: n for n in nodes}
    pods_by_node = {name: list(pods) for name, pods in by_node.items()}
    desired = 0
    for name, node in by_name.items():
        if node_should_run(node, ds, eligibility)[0]:
            desired += 1
            pods_by_node.setdefault(name, [])
    max_surge, max_unavailable = fenceposts(ds, desired)
    min_ready = int(_spec(ds).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return is_pod_available(pod, min_ready, wall)

    if max_surge == 0:
        unavailable, allowed, candidates = 0, [], []
        for name in sorted(pods_by_node):
            new, old, ok = _new_and_old(pods_by_node[name], hash_)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # manage creates or trims here first
            elif new is not None:
                unavailable += not available(new)
            elif not available(old):
                allowed.append(old)  # replacing an unavailable pod costs nothing
                unavailable += 1
            elif unavailable < max_unavailable:
                candidates.append(old)
        room = min(max(0, max_unavailable - unavailable), len(candidates))
        return allowed + candidates[:room], []

    surging, to_delete, allowed_nodes, candidate_nodes = 0, [], [], []
    for name in sorted(pods_by_node):
        new, old, ok = _new_and_old(pods_by_node[name], hash_)
        if not ok:
            surging += 1
        elif old is None:
            continue  # manage creates the new pod if needed
        elif new is None:
            if not available(old):
                node = by_name.get(name)
                if node is None or not node_should_run(node, ds, eligibility)[0]:
                    continue  # manage deletes it
                allowed_nodes.append(name)
                surging += 1
            elif surging < max_surge:
                candidate_nodes.append(name)
        elif not available(new):
            surging += 1  # waiting for the new pod
        else:
            to_delete.append(old)  # the new one is available: the old one goes
    room = min(max(0, max_surge - surging), len(candidate_nodes))
    return to_delete, allowed_nodes + candidate_nodes[:room]


def calculate_status(ds: Obj, nodes: list[Obj], by_node: Mapping[str, list[Obj]], hash_: str, wall: float,
                     *, observed: bool) -> Obj:
    """The DaemonSet's status (updateDaemonSetStatus); ``observed``: this sync acted on the current generation.

    Per node that should run a pod: it is *scheduled* if it has one, and
    its oldest pod says whether it is ready, available and updated. A node
    that should not run one but has one is *misscheduled*. Counts that
    Kubernetes marks omitempty are left out at zero.
    """
    eligibility = _eligibility_pod(ds)
    min_ready = int(_spec(ds).get("minReadySeconds") or 0)
    desired = current = misscheduled = ready = updated = available = 0
    for node in nodes:
        pods = by_node.get(_meta(node)["name"]) or []
        if not node_should_run(node, ds, eligibility)[0]:
            misscheduled += bool(pods)
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = min(pods, key=_oldest_first)
        if is_pod_ready(pod):
            ready += 1
            available += is_pod_available(pod, min_ready, wall)
        updated += _is_updated(pod, hash_)
    status = dict(ds.get("status") or {})
    status.update(desiredNumberScheduled=desired, currentNumberScheduled=current,
                  numberMisscheduled=misscheduled, numberReady=ready)
    for name, value in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                        ("numberUnavailable", desired - available)):
        if value:
            status[name] = value
        else:
            status.pop(name, None)
    if observed:
        status["observedGeneration"] = int(_meta(ds).get("generation") or 0)
    return status


_COUNTS = ("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled", "numberReady",
           "updatedNumberScheduled", "numberAvailable", "numberUnavailable")


def status_changed(ds: Obj, new: Obj) -> bool:
    """Whether ``new`` must be written (storeDaemonSetStatus' early return, inverted)."""
    old = ds.get("status") or {}
    if any(int(old.get(f) or 0) != int(new.get(f) or 0) for f in _COUNTS):
        return True
    return int(old.get("observedGeneration") or 0) < int(_meta(ds).get("generation") or 0)


def _selector(ds: Obj) -> LabelSelector | None:
    try:
        return selector_from_dict(_spec(ds).get("selector"))
    except SelectorError:
        return None


# === the failed-pod backoff ==================================================================================

class FailedPodBackoff:
    """Per (DaemonSet, node) exponential backoff for deleting failed pods (client-go's flowcontrol.Backoff).

    Without it a DaemonSet and a kubelet that keeps failing its pod would
    create and delete in a hot loop. An entry idle for twice the maximum
    starts again from the initial delay. Times are the caller's monotonic
    seconds.
    """

    def __init__(self, initial_s: float = FAILED_POD_BACKOFF_INITIAL_S,
                 max_s: float = FAILED_POD_BACKOFF_MAX_S) -> None:
        assert 0 < initial_s <= max_s
        self.initial_s = initial_s
        self.max_s = max_s
        self._entries: dict[tuple[str, str], tuple[float, float]] = {}
        """(DaemonSet key, node) -> (current delay, last update)."""

    def in_backoff(self, key: tuple[str, str], now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now - entry[1] < entry[0]

    def delay(self, key: tuple[str, str]) -> float:
        return self._entries[key][0]

    def next(self, key: tuple[str, str], now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > 2 * self.max_s:
            self._entries[key] = (self.initial_s, now)
        else:
            self._entries[key] = (min(2 * entry[0], self.max_s), now)

    def forget(self, ds_key: str, now: float | None = None) -> None:
        """Drop ``ds_key``'s entries: all of them, or (with ``now``) the ones that have expired."""
        for key, (_, last) in list(self._entries.items()):
            if key[0] == ds_key and (now is None or now - last > 2 * self.max_s):
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


# === the controller ==========================================================================================

@dataclass(frozen=True, slots=True)
class _Indexed:
    uid: str
    selector: LabelSelector


class DaemonSetController(Controller):
    """Runs each DaemonSet's pod on every eligible node; see the module docstring."""

    name = "daemonset"
    watches = ("daemonsets", "pods", "nodes")
    workers = 2
    kind = "DaemonSet"

    def __init__(self, *, burst_replicas: int = BURST_REPLICAS) -> None:
        assert burst_replicas > 0
        self.burst_replicas = burst_replicas
        self.expectations = ControllerExpectations()
        self.backoff = FailedPodBackoff()
        self._index: dict[str, dict[str, _Indexed]] = {}
        """namespace -> DaemonSet name -> uid and selector, from the events observed."""

    # --- informer events ----------------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Index DaemonSets and lower expectations as their pods appear and go (called before :meth:`keys`)."""
        if resource == "daemonsets":
            meta = _meta(obj)
            ns, name, key = meta.get("namespace", ""), meta["name"], key_of(obj)
            in_ns = self._index.setdefault(ns, {})
            known = in_ns.get(name)
            if event_type == "DELETED":
                in_ns.pop(name, None)
                self.expectations.delete(key)
                self.backoff.forget(key)
                return
            if known is not None and known.uid != meta.get("uid"):
                self.expectations.delete(key)  # re-created under the same name: start clean
                self.backoff.forget(key)
            in_ns[name] = _Indexed(str(meta.get("uid") or ""), _selector(obj) or NOTHING)
        elif resource == "pods":
            owner = self._owner_key(obj)
            if owner is None:
                return
            if event_type == "DELETED" or _meta(obj).get("deletionTimestamp"):
                self.expectations.deletion_observed(owner, pod_key(obj))
            elif event_type == "ADDED":
                self.expectations.creation_observed(owner)

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
        """A DaemonSet's own key; a node concerns every DaemonSet; a pod its DaemonSet, or for an
        orphan every DaemonSet that would adopt it."""
        if resource == "daemonsets":
            return [key_of(obj)]
        if resource == "nodes":
            return [f"{ns}/{name}" for ns, names in sorted(self._index.items()) for name in sorted(names)]
        meta = _meta(obj)
        ns = meta.get("namespace", "")
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
        ds = ctx.caches["daemonsets"].get(name, ns)
        if ds is None:
            self.expectations.delete(key)
            self.backoff.forget(key)
            return None
        selector = _selector(ds)
        if selector is None:
            return None  # invalid: matches nothing, and retrying will not fix it
        if selector.empty:
            ctx.recorder.event(ds, "Warning", "SelectingAll",
                               "This daemon set is selecting all pods. A non-empty selector is required.")
            return None
        if _meta(ds).get("deletionTimestamp"):
            return None
        self.backoff.forget(key, ctx.now)
        nodes = sorted(ctx.caches["nodes"].list(), key=lambda n: _meta(n)["name"])
        hash_ = revision_hash(ds)
        in_ns = [p for p in ctx.caches["pods"].list() if _meta(p).get("namespace", "") == ns]
        pods, errors = await claim_pods(ctx.api, ds, lambda p: selector.matches(_meta(p).get("labels")), in_ns)
        if errors:
            raise errors[0]
        by_node = nodes_to_pods(pods)
        if not self.expectations.satisfied(key, ctx.now):
            await self._write_status(ds, nodes, by_node, hash_, ctx, observed=False)
            return requeue_after(ds, pods, ctx.wall)
        err, backoff_s = await self._manage(key, ds, nodes, by_node, hash_, ctx)
        if err is None and is_rolling(ds) and self.expectations.satisfied(key, ctx.now):
            to_delete, to_create = rolling_update_plan(ds, nodes, by_node, hash_, ctx.wall)
            err = await self._sync_nodes(key, ds, to_delete, to_create, hash_, ctx)
        await self._write_status(ds, nodes, by_node, hash_, ctx, observed=True)
        if err is not None:
            raise err
        delays = [d for d in (backoff_s, requeue_after(ds, pods, ctx.wall)) if d is not None]
        return min(delays) if delays else None

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str,
                      ctx: Context) -> tuple[ApiError | None, float | None]:
        """Create and delete towards one pod per eligible node (manage); the first failure and a backoff delay."""
        eligibility = _eligibility_pod(ds)
        to_create: list[str] = []
        to_delete: list[Obj] = []
        backoff_s: float | None = None
        for node in nodes:
            node_name = _meta(node)["name"]
            should_run, should_continue = node_should_run(node, ds, eligibility)
            plan = node_plan(ds, should_run, should_continue, by_node.get(node_name), hash_, ctx.wall)
            if plan.create:
                to_create.append(node_name)
            to_delete += plan.delete + plan.succeeded
            for pod in plan.succeeded:
                ctx.recorder.event(ds, "Normal", "SucceededDaemonPod",
                                   f"Found succeeded daemon pod {pod_key(pod)} on node {node_name}, will try to delete it")
            for pod in plan.failed:
                slot = (key, node_name)
                if self.backoff.in_backoff(slot, ctx.now):
                    delay = self.backoff.delay(slot)
                    backoff_s = delay if backoff_s is None else min(backoff_s, delay)
                    continue
                self.backoff.next(slot, ctx.now)
                ctx.recorder.event(ds, "Warning", "FailedDaemonPod",
                                   f"Found failed daemon pod {pod_key(pod)} on node {node_name}, will try to kill it")
                to_delete.append(pod)
        to_delete += unscheduled_pods_without_node({_meta(n)["name"] for n in nodes}, by_node)
        return await self._sync_nodes(key, ds, to_delete, to_create, hash_, ctx), backoff_s

    async def _sync_nodes(self, key: str, ds: Obj, to_delete: list[Obj], to_create: list[str], hash_: str,
                          ctx: Context) -> ApiError | None:
        """Delete ``to_delete`` and start a pod on each of ``to_create``, expectations first (syncNodes).

        Creates go in slow-start batches (1, 2, 4 ...), stopping after a batch
        with a failure; at most :attr:`burst_replicas` of each per sync.
        Returns the first failure; a NotFound delete is no failure.
        """
        creates, deletes = to_create[:self.burst_replicas], to_delete[:self.burst_replicas]
        self.expectations.expect_deletions(key, [pod_key(p) for p in deletes], ctx.now)
        self.expectations.raise_(key, add=len(creates))
        template = pod_template(ds, hash_)
        nodes: Iterator[str] = iter(creates)

        async def create_one() -> ApiError | None:
            pinned = copy.deepcopy(template)
            pinned["spec"]["affinity"] = pin_to_node(pinned["spec"].get("affinity"), next(nodes))
            try:
                await create_pod(ctx.api, ctx.recorder, pinned, ds)
            except ApiError as err:
                return None if namespace_terminating(err) else err
            return None

        created, first = await slow_start_batch(len(creates), SLOW_START_INITIAL_BATCH, create_one)
        # The refused creates and the ones never tried will not be observed: stop waiting for them.
        self.expectations.lower(key, add=len(creates) - created)
        for pod in deletes:
            try:
                await delete_pod(ctx.api, ctx.recorder, _meta(ds).get("namespace", ""), _meta(pod)["name"], ds)
            except ApiError as err:
                self.expectations.deletion_observed(key, pod_key(pod))
                if err.code != 404 and first is None:
                    first = err
        return first

    async def _write_status(self, ds: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str,
                            ctx: Context, *, observed: bool) -> None:
        status = calculate_status(ds, nodes, by_node, hash_, ctx.wall, observed=observed)
        if status_changed(ds, status):
            await ctx.api.update_status({**ds, "status": status})
