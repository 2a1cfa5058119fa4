"""The Filter plugins that judge a pod against one node on its own.

Each is kube-scheduler's plugin of the same name (``pkg/scheduler/framework/
plugins``), reduced to its check: a function ``(pod, node_info, state)`` that
returns ``None`` when the node can take the pod, or a
:class:`~actors.scheduler.framework.Status` whose reasons are Kubernetes'
words, because users read them in ``0/3 nodes are available: 1 node(s) were
unschedulable, 2 Insufficient cpu.`` and tools match on them. The code says
whether preemption could help: only NodeResourcesFit answers Unschedulable;
the others answer UnschedulableAndUnresolvable, since evicting pods changes
no name, label or taint.

The matching rules for tolerations and node selectors live here too (from
``k8s.io/component-helpers/scheduling/corev1``), because the score plugins
in :mod:`actors.scheduler.plugins.scores` use the same ones.

Differences from Kubernetes, on purpose: a node selector term that would not
parse (an unknown operator, ``Gt`` without one integer) simply never matches,
where Kubernetes also carries the parse error along (the API server refuses
such pods, so neither ever sees one); extended resources are checked in name
order rather than Go's random map order, so the reasons come out the same
every run.

Pure: dicts in, Status or None out. The only write is NodeResourcesFit
caching the pod's request in the CycleState, as its PreFilter does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from actors.apiserver.fielderrors import is_qualified_name, is_valid_label_value
from actors.scheduler.framework import (
    CycleState,
    Judged,
    NodeInfo,
    Obj,
    Resources,
    Status,
    judge_each,
    judge_rest,
)
from actors.scheduler.resources import pod_requests

__all__ = [
    "ERR_NODE_AFFINITY",
    "ERR_NODE_NAME",
    "ERR_UNSCHEDULABLE",
    "FILTERS",
    "FIT_STATE_KEY",
    "NODE_AFFINITY",
    "NODE_NAME",
    "NODE_RESOURCES_FIT",
    "NODE_UNSCHEDULABLE",
    "TAINT_TOLERATION",
    "FilterFn",
    "FilterMany",
    "insufficient_resources",
    "node_affinity",
    "node_affinity_many",
    "node_name",
    "node_name_many",
    "node_resources_fit",
    "node_resources_fit_many",
    "node_unschedulable",
    "node_unschedulable_many",
    "required_node_affinity_matches",
    "taint_toleration",
    "taint_toleration_many",
    "term_matches",
    "tolerates",
    "tolerations_tolerate",
    "untolerated_taint",
]

FilterFn = Callable[[Obj, NodeInfo, CycleState], Status | None]
FilterMany = Callable[[Obj, list[NodeInfo], CycleState], Judged]

NODE_NAME = "NodeName"
NODE_UNSCHEDULABLE = "NodeUnschedulable"
NODE_RESOURCES_FIT = "NodeResourcesFit"
NODE_AFFINITY = "NodeAffinity"
TAINT_TOLERATION = "TaintToleration"

ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

# The CycleState key under which NodeResourcesFit keeps the pod's request.
FIT_STATE_KEY = "PreFilter" + NODE_RESOURCES_FIT


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


# --- NodeName -------------------------------------------------------------------------

def node_name(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """A pod that names its node (``spec.nodeName``) fits only that node."""
    wanted = _spec(pod).get("nodeName") or ""
    if not wanted or wanted == node_info.name:
        return None
    return Status.unresolvable(NODE_NAME, ERR_NODE_NAME)


def node_name_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    if not _spec(pod).get("nodeName"):
        return infos, {}
    return judge_each(node_name, pod, infos, state)


# --- Taints and tolerations -------------------------------------------------------------

def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Toleration.ToleratesTaint: an empty effect or key matches any; Exists ignores the value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect", ""):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key", ""):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerations_tolerate(tolerations: Iterable[Mapping[str, Any]],
                         taint: Mapping[str, Any]) -> bool:
    """TolerationsTolerateTaint: whether any of ``tolerations`` tolerates ``taint``."""
    return any(tolerates(t, taint) for t in tolerations)


def untolerated_taint(taints: Iterable[Mapping[str, Any]],
                      tolerations: Iterable[Mapping[str, Any]],
                      effects: frozenset[str]) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates (FindMatchingUntoleratedTaint)."""
    tolerations = list(tolerations)
    for taint in taints:
        if taint.get("effect") in effects and not tolerations_tolerate(tolerations, taint):
            return taint
    return None


def _tolerations(pod: Obj) -> list[Mapping[str, Any]]:
    return _list(_spec(pod).get("tolerations"))


# --- NodeUnschedulable ------------------------------------------------------------------

def node_unschedulable(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """A cordoned node takes only pods that tolerate its unschedulable taint.

    The node controller taints a cordoned node ``node.kubernetes.io/
    unschedulable:NoSchedule``; a pod tolerating that taint (DaemonSet pods
    do) is let through even before the taint appears.
    """
    if not node_info.unschedulable:
        return None
    taint = {"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"}
    if tolerations_tolerate(_tolerations(pod), taint):
        return None
    return Status.unresolvable(NODE_UNSCHEDULABLE, ERR_UNSCHEDULABLE)


def node_unschedulable_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    return judge_rest(node_unschedulable, pod, infos, state, [i for i in infos if not i.unschedulable])


# --- TaintToleration --------------------------------------------------------------------

_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})


def taint_toleration(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """A node's NoSchedule and NoExecute taints keep out pods that do not tolerate them.

    Only the first untolerated taint is named, as in Kubernetes.
    """
    taint = untolerated_taint(node_info.hard_taints, _tolerations(pod), _DO_NOT_SCHEDULE)
    if taint is None:
        return None
    reason = f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
    return Status.unresolvable(TAINT_TOLERATION, reason)


def taint_toleration_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    return judge_rest(taint_toleration, pod, infos, state, [i for i in infos if not i.hard_taints])


# --- NodeResourcesFit -------------------------------------------------------------------

def _pod_request(pod: Obj, state: CycleState) -> Resources:
    # PreFilter computes the request once per scheduling cycle; every node's Filter reads it.
    request = state.get(FIT_STATE_KEY)
    if request is None:
        request = state[FIT_STATE_KEY] = pod_requests(pod)
    return request


def insufficient_resources(request: Resources, node_info: NodeInfo) -> list[str]:
    """Every reason the node lacks room for ``request``, in Kubernetes' order (fitsRequest)."""
    free = node_info.allocatable
    used = node_info.requested
    reasons = []
    if len(node_info.pods) + 1 > free.pods:
        reasons.append("Too many pods")
    # A zero request fits any free amount, even a negative one (an overcommitted node).
    if request.milli_cpu > 0 and request.milli_cpu > free.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if request.memory > 0 and request.memory > free.memory - used.memory:
        reasons.append("Insufficient memory")
    if (request.ephemeral_storage > 0
            and request.ephemeral_storage > free.ephemeral_storage - used.ephemeral_storage):
        reasons.append("Insufficient ephemeral-storage")
    for name in sorted(request.scalar):
        amount = request.scalar[name]
        if amount and amount > free.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def node_resources_fit(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """The node must have room, by requests, for the pod: CPU, memory, storage, extended resources, a pod slot.

    Unschedulable, not unresolvable: preempting smaller pods could make room.
    """
    reasons = insufficient_resources(_pod_request(pod, state), node_info)
    return Status.unschedulable(NODE_RESOURCES_FIT, *reasons) if reasons else None


def node_resources_fit_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    """The nodes with room for the pod: :func:`insufficient_resources` is empty exactly for the quick ones."""
    request = _pod_request(pod, state)
    if request.scalar:
        return judge_each(node_resources_fit, pod, infos, state)
    cpu, memory, storage = request.milli_cpu, request.memory, request.ephemeral_storage
    quick = [i for i in infos
             if len(i.pods) < i.allocatable.pods
             and (cpu <= 0 or cpu <= i.allocatable.milli_cpu - i.requested.milli_cpu)
             and (memory <= 0 or memory <= i.allocatable.memory - i.requested.memory)
             and (storage <= 0 or storage <= i.allocatable.ephemeral_storage - i.requested.ephemeral_storage)]
    return judge_rest(node_resources_fit, pod, infos, state, quick)


# --- NodeAffinity -----------------------------------------------------------------------
# A NodeSelectorTerm is the AND of its matchExpressions (on labels) and
# matchFields (on metadata.name); a NodeSelector is the OR of its terms.

_INT64 = re.compile(r"[+-]?[0-9]+")
_VALUE_COUNTS: dict[str, Callable[[int], bool]] = {
    "In": lambda n: n > 0, "NotIn": lambda n: n > 0,
    "Exists": lambda n: n == 0, "DoesNotExist": lambda n: n == 0,
    "Gt": lambda n: n == 1, "Lt": lambda n: n == 1,
}


def _int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _values(expr: Mapping[str, Any]) -> list[str]:
    values = expr.get("values")
    return [str(v) for v in values] if isinstance(values, list) else []


def _expression_valid(expr: Mapping[str, Any]) -> bool:
    """What labels.NewRequirement accepts: a known operator, the right values, valid key and values."""
    op = expr.get("operator")
    values = _values(expr)
    if op not in _VALUE_COUNTS or not _VALUE_COUNTS[op](len(values)):
        return False
    if op in ("Gt", "Lt") and _int64(values[0]) is None:
        return False
    if is_qualified_name(str(expr.get("key", ""))):
        return False
    return not any(is_valid_label_value(v) for v in values)


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    op, key, values = expr["operator"], str(expr.get("key", "")), _values(expr)
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    # Gt / Lt compare integers; a missing or non-integer label never matches.
    actual = _int64(labels[key]) if present else None
    if actual is None:
        return False
    bound = int(values[0])
    return actual > bound if op == "Gt" else actual < bound


def _field_valid(expr: Mapping[str, Any]) -> bool:
    # Fields take only In / NotIn with exactly one value (nodeSelectorRequirementsAsFieldSelector).
    return expr.get("operator") in ("In", "NotIn") and len(_values(expr)) == 1


def _field_matches(expr: Mapping[str, Any], fields: Mapping[str, str]) -> bool:
    # A field the node does not have reads as "", as in fields.Set.
    equal = fields.get(str(expr.get("key", "")), "") == _values(expr)[0]
    return equal if expr["operator"] == "In" else not equal


def term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    """Whether ``node`` satisfies one NodeSelectorTerm; an empty or malformed term matches nothing."""
    expressions = _list(term.get("matchExpressions"))
    field_exprs = _list(term.get("matchFields"))
    if not expressions and not field_exprs:
        return False
    if not all(map(_expression_valid, expressions)) or not all(map(_field_valid, field_exprs)):
        return False
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    if not all(_expression_matches(e, labels) for e in expressions):
        return False
    fields = {"metadata.name": meta["name"]} if meta.get("name") else {}
    # Kubernetes skips the field check for a node without a name.
    return not fields or all(_field_matches(f, fields) for f in field_exprs)


def _node_affinity(pod: Obj) -> Mapping[str, Any]:
    affinity = _spec(pod).get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    return node_affinity if isinstance(node_affinity, Mapping) else {}


def required_node_affinity_matches(pod: Obj, node: Obj) -> bool:
    """GetRequiredNodeAffinity(pod).Match(node): ``nodeSelector`` AND the required terms (ORed).

    A present ``requiredDuringSchedulingIgnoredDuringExecution`` with no
    terms matches no node.
    """
    selector = _spec(pod).get("nodeSelector") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, Mapping):
        return True
    return any(term_matches(t, node) for t in _list(required.get("nodeSelectorTerms")))


def node_affinity(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """The node must carry the labels the pod's nodeSelector and required node affinity ask for."""
    if required_node_affinity_matches(pod, node_info.node):
        return None
    return Status.unresolvable(NODE_AFFINITY, ERR_NODE_AFFINITY)


def node_affinity_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    # With no nodeSelector and no required terms every node matches (Kubernetes' PreFilter Skips).
    if not _spec(pod).get("nodeSelector") and "requiredDuringSchedulingIgnoredDuringExecution" not in _node_affinity(pod):
        return infos, {}
    return judge_each(node_affinity, pod, infos, state)


#: The filters in kube-scheduler's default order (NodeUnschedulable first, as
#: in its MultiPoint plugin list), as (name, per-node check, batch form).
FILTERS: tuple[tuple[str, FilterFn, FilterMany], ...] = (
    (NODE_UNSCHEDULABLE, node_unschedulable, node_unschedulable_many),
    (NODE_NAME, node_name, node_name_many),
    (TAINT_TOLERATION, taint_toleration, taint_toleration_many),
    (NODE_AFFINITY, node_affinity, node_affinity_many),
    (NODE_RESOURCES_FIT, node_resources_fit, node_resources_fit_many),
)
