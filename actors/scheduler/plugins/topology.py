"""PodTopologySpread: keep a workload's pods evenly spread over zones, hosts, racks.

A pod's ``spec.topologySpreadConstraints`` say, for a set of pods chosen by
label selector, how uneven their count may get between *domains* — the
groups of nodes sharing a value of ``topologyKey`` (a zone, a hostname).
This module is kube-scheduler's ``podtopologyspread`` plugin
(``pkg/scheduler/framework/plugins/podtopologyspread``, 1.32) as pure
functions over :class:`NodeInfo`:

- **PreFilter** (``DoNotSchedule`` constraints) counts the matching pods in
  the pod's own namespace per domain, over the nodes that carry *every*
  constraint's topology key and pass the constraint's node inclusion
  policies: ``nodeAffinityPolicy`` (default Honor: only nodes the pod's
  nodeSelector and required node affinity accept) and ``nodeTaintsPolicy``
  (default Ignore: tainted nodes count too). Terminating pods are not
  counted. The global minimum is the smallest domain count, or 0 while
  there are fewer domains than ``minDomains``.
- **Filter** computes ``skew = count[domain] + self - global_min``, where
  ``self`` is 1 when the incoming pod matches the constraint's own selector
  (else 0, as Kubernetes does), and refuses the node when
  ``skew > maxSkew``. A node without the topology key cannot be placed in
  any domain: UnschedulableAndUnresolvable.
- **PreScore / Score / NormalizeScore** (``ScheduleAnyway`` constraints):
  a node scores, per constraint, ``count * log(domains + 2) + maxSkew - 1``
  (the log weight keeps a constraint over few big domains from drowning one
  over many small ones); normalizing reverses it, so the node whose domains
  hold the fewest matching pods gets 100. A node missing a topology key is
  not scored: Score answers :data:`INVALID_SCORE` (Kubernetes keeps a set
  of ignored nodes in its state; a sentinel lets ``normalize_score`` need
  only the scores, as :mod:`actors.scheduler.algorithm` calls it) and
  normalizing turns it into 0. Domains come from the feasible nodes, counts
  from all nodes: by default the ones PreFilter saw.

``matchLabelKeys`` are merged into the selector here, as the 1.32 scheduler
does. Kubernetes' *default* constraints (zone maxSkew 5 and hostname maxSkew
3, ScheduleAnyway, for pods owned by a Service, ReplicaSet or StatefulSet)
are **not** applied to a pod that has none: kubesim behaves as a scheduler
configured with ``defaultingType: List`` and no default constraints, since
the plugin would otherwise need the owners' selectors from listers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from actors.apiserver.selectors import (
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    selector_from_dict,
)
from actors.scheduler.framework import (
    MAX_NODE_SCORE,
    Code,
    CycleState,
    NodeInfo,
    Obj,
    Status,
)
from actors.scheduler.plugins.node import (
    required_node_affinity_matches,
    untolerated_taint,
)

__all__ = [
    "DO_NOT_SCHEDULE",
    "ERR_CONSTRAINTS_NOT_MATCH",
    "ERR_NODE_LABEL_NOT_MATCH",
    "HONOR",
    "IGNORE",
    "INVALID_SCORE",
    "LABEL_HOSTNAME",
    "NAME",
    "SCHEDULE_ANYWAY",
    "Constraint",
    "PreFilterState",
    "PreScoreState",
    "constraints_of",
    "domain_counts",
    "filter",
    "global_minimum",
    "normalize_score",
    "pre_filter",
    "pre_score",
    "score",
    "score_for_count",
    "topology_normalizing_weight",
]

NAME = "PodTopologySpread"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

ERR_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_NODE_LABEL_NOT_MATCH = ERR_CONSTRAINTS_NOT_MATCH + " (missing required label)"

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
LABEL_HOSTNAME = "kubernetes.io/hostname"

#: Score's answer for a node this plugin does not score (Kubernetes' invalidScore):
#: a node missing a topology key, or every node when the pod has no ScheduleAnyway
#: constraint. normalize_score maps it to 0. Real raw scores are never negative.
INVALID_SCORE = -1

# The taints nodeTaintsPolicy: Honor respects (DoNotScheduleTaintsFilterFunc).
_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})


# --- Constraints ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed ``TopologySpreadConstraint`` (the plugin's topologySpreadConstraint)."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    """labelSelector with the pod's values of matchLabelKeys added."""
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE


def _labels(obj: Obj) -> Mapping[str, str]:
    return obj["metadata"].get("labels") or {}


def _merge_match_label_keys(selector: LabelSelector, keys: Sequence[str],
                            pod_labels: Mapping[str, str]) -> LabelSelector:
    # mergeLabelSetWithSelector: the pod's own values as equality requirements,
    # plus the selector's requirements. A null labelSelector has none, so the
    # merged selector is the label set alone, as in Kubernetes.
    extra = tuple(Requirement(k, Operator.EQUALS, (pod_labels[k],))
                  for k in keys if k in pod_labels)
    if not extra:
        return selector
    return LabelSelector(extra + selector.requirements)


def constraints_of(pod: Obj, action: str) -> list[Constraint]:
    """The pod's constraints whose ``whenUnsatisfiable`` is ``action``; raises SelectorError."""
    out = []
    pod_labels = _labels(pod)
    for raw in (pod.get("spec") or {}).get("topologySpreadConstraints") or []:
        if raw.get("whenUnsatisfiable") != action:
            continue
        selector = selector_from_dict(raw.get("labelSelector"), path="labelSelector")
        selector = _merge_match_label_keys(selector, raw.get("matchLabelKeys") or (), pod_labels)
        out.append(Constraint(
            max_skew=int(raw.get("maxSkew", 1)),
            topology_key=raw.get("topologyKey", ""),
            selector=selector,
            min_domains=int(raw.get("minDomains") or 1),
            node_affinity_policy=raw.get("nodeAffinityPolicy") or HONOR,
            node_taints_policy=raw.get("nodeTaintsPolicy") or IGNORE,
        ))
    return out


def _has_all_keys(node_labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    return all(c.topology_key in node_labels for c in constraints)


def _count_matching(pods: Sequence[Obj], selector: LabelSelector, namespace: str) -> int:
    # Terminating pods are about to leave their domain: not counted (kubernetes#87621).
    return sum(1 for p in pods
               if p["metadata"].get("namespace", "") == namespace
               and not p["metadata"].get("deletionTimestamp")
               and selector.matches(_labels(p)))


# --- Node inclusion policies ------------------------------------------------------

def _node_constrained(pod: Obj) -> bool:
    """Whether the pod has a nodeSelector or required node affinity; most have neither."""
    spec = pod.get("spec") or {}
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    return bool(spec.get("nodeSelector")
                or node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is not None)


def _affinity_checker(pod: Obj) -> Callable[[Obj], bool]:
    """required_node_affinity_matches for this pod, short-cut when it constrains nothing."""
    if not _node_constrained(pod):
        return lambda node: True
    return lambda node: required_node_affinity_matches(pod, node)


def _included(c: Constraint, pod: Obj, node: Obj, affinity_ok: bool) -> bool:
    """matchNodeInclusionPolicies: does this node's domain count for ``c``?"""
    if c.node_affinity_policy == HONOR and not affinity_ok:
        return False
    if c.node_taints_policy == HONOR and untolerated_taint(
            (node.get("spec") or {}).get("taints") or [],
            (pod.get("spec") or {}).get("tolerations") or [], _DO_NOT_SCHEDULE) is not None:
        return False
    return True


# --- PreFilter and Filter ------------------------------------------------------------

@dataclass(slots=True)
class PreFilterState:
    """The DoNotSchedule constraints, their domain counts, and each one's global minimum."""

    constraints: list[Constraint] = field(default_factory=list)
    counts: list[dict[str, int]] = field(default_factory=list)
    """Per constraint: topology value to matching pods; every eligible domain, even at 0."""
    minimums: list[int] = field(default_factory=list)
    """Per constraint: the global minimum, minDomains applied."""
    self_match: list[int] = field(default_factory=list)
    """Per constraint: 1 when the incoming pod matches the selector itself."""
    all_nodes: Sequence[NodeInfo] = ()
    """The snapshot PreFilter counted over; PreScore's default too."""


def domain_counts(pod: Obj, constraints: Sequence[Constraint],
                  nodes: Sequence[NodeInfo]) -> list[dict[str, int]]:
    """Matching pods per domain, per constraint, over the eligible nodes."""
    counts: list[dict[str, int]] = [{} for _ in constraints]
    if not constraints:
        return counts  # the common case: no need to look at any node
    accepts = _affinity_checker(pod)
    namespace = pod["metadata"].get("namespace", "")
    for info in nodes:
        labels = _labels(info.node)
        if not _has_all_keys(labels, constraints):
            continue
        affinity_ok = accepts(info.node)
        for i, c in enumerate(constraints):
            if not _included(c, pod, info.node, affinity_ok):
                continue
            value = labels[c.topology_key]
            counts[i][value] = counts[i].get(value, 0) + _count_matching(
                info.pods, c.selector, namespace)
    return counts


def global_minimum(counts: Mapping[str, int], min_domains: int) -> int:
    """The smallest domain count; 0 while fewer than ``min_domains`` domains exist."""
    if len(counts) < min_domains or not counts:
        return 0
    return min(counts.values())


def pre_filter(pod: Obj, nodes: Sequence[NodeInfo], state: CycleState) -> Status | None:
    """Count over ``nodes`` (all nodes) into ``state``; an Error status for a malformed selector."""
    try:
        constraints = constraints_of(pod, DO_NOT_SCHEDULE)
    except SelectorError as e:
        return Status(Code.ERROR, (f"get constraints from pod: {e}",), NAME)
    counts = domain_counts(pod, constraints, nodes)
    pod_labels = _labels(pod)
    state[PRE_FILTER_KEY] = PreFilterState(
        constraints=constraints,
        counts=counts,
        minimums=[global_minimum(n, c.min_domains) for c, n in zip(constraints, counts)],
        self_match=[int(c.selector.matches(pod_labels)) for c in constraints],
        all_nodes=nodes,
    )
    return None


def filter(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """None when every constraint's skew stays within maxSkew on this node."""
    s: PreFilterState = state[PRE_FILTER_KEY]
    labels = _labels(node_info.node)
    for i, c in enumerate(s.constraints):
        value = labels.get(c.topology_key)
        if value is None:
            return Status.unresolvable(NAME, ERR_NODE_LABEL_NOT_MATCH)
        skew = s.counts[i].get(value, 0) + s.self_match[i] - s.minimums[i]
        if skew > c.max_skew:
            return Status.unschedulable(NAME, ERR_CONSTRAINTS_NOT_MATCH)
    return None


# --- PreScore, Score, NormalizeScore -------------------------------------------------

@dataclass(slots=True)
class PreScoreState:
    """The ScheduleAnyway constraints, the nodes left out, domain counts and weights."""

    constraints: list[Constraint] = field(default_factory=list)
    ignored_nodes: set[str] = field(default_factory=set)
    """Feasible nodes missing a topology key: not scored."""
    counts: list[dict[str, int]] = field(default_factory=list)
    """Per constraint: matching pods per domain of a feasible node (hostname: counted at Score)."""
    weights: list[float] = field(default_factory=list)
    """Per constraint: log(number of feasible domains + 2)."""


def topology_normalizing_weight(domains: int) -> float:
    """Weight of a constraint with ``domains`` domains: in [1.09, 8.52] for up to 5k nodes."""
    return math.log(domains + 2)


def score_for_count(count: int, max_skew: int, weight: float) -> float:
    """One constraint's raw score; ``max_skew - 1`` waters down small differences."""
    return count * weight + (max_skew - 1)


def _feasible_domains(s: PreScoreState, filtered: Sequence[NodeInfo]) -> None:
    """initPreScoreState: ignored nodes, each constraint's domains (at 0) and weight."""
    for info in filtered:
        labels = _labels(info.node)
        if not _has_all_keys(labels, s.constraints):
            s.ignored_nodes.add(info.name)
            continue
        for i, c in enumerate(s.constraints):
            if c.topology_key != LABEL_HOSTNAME:
                s.counts[i].setdefault(labels[c.topology_key], 0)
    scored_nodes = len(filtered) - len(s.ignored_nodes)
    s.weights = [topology_normalizing_weight(
        scored_nodes if c.topology_key == LABEL_HOSTNAME else len(s.counts[i]))
        for i, c in enumerate(s.constraints)]


def pre_score(pod: Obj, nodes: Sequence[NodeInfo], state: CycleState, *,
              all_nodes: Sequence[NodeInfo] | None = None) -> Status | None:
    """Domains come from the feasible ``nodes``, counts from all nodes.

    All nodes: ``all_nodes`` when given, else the snapshot PreFilter saw,
    else ``nodes``.
    """
    if all_nodes is None:
        pre = state.get(PRE_FILTER_KEY)
        all_nodes = pre.all_nodes if pre is not None and pre.all_nodes else nodes
    try:
        constraints = constraints_of(pod, SCHEDULE_ANYWAY)
    except SelectorError as e:
        return Status(Code.ERROR, (f"obtaining pod's soft topology spread constraints: {e}",), NAME)
    s = PreScoreState()
    state[PRE_SCORE_KEY] = s
    if not constraints or not all_nodes:
        return None  # Kubernetes skips the plugin: every node scores INVALID_SCORE, then 0
    s.constraints = constraints
    s.counts = [{} for _ in constraints]
    _feasible_domains(s, nodes)
    namespace = pod["metadata"].get("namespace", "")
    accepts = _affinity_checker(pod)
    for info in all_nodes:
        labels = _labels(info.node)
        if not _has_all_keys(labels, constraints):
            continue
        affinity_ok = accepts(info.node)
        for i, c in enumerate(constraints):
            value = labels[c.topology_key]
            # Domains of no feasible node don't matter; hostnames are counted at Score.
            if value not in s.counts[i] or not _included(c, pod, info.node, affinity_ok):
                continue
            s.counts[i][value] += _count_matching(info.pods, c.selector, namespace)
    return None


def score(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """The node's raw score: more matching pods around it, higher (reversed by normalize_score).

    INVALID_SCORE for a node the plugin does not score.
    """
    s: PreScoreState = state[PRE_SCORE_KEY]
    if not s.constraints or node_info.name in s.ignored_nodes:
        return INVALID_SCORE
    labels = _labels(node_info.node)
    namespace = pod["metadata"].get("namespace", "")
    total = 0.0
    for i, c in enumerate(s.constraints):
        value = labels.get(c.topology_key)
        if value is None:
            continue
        if c.topology_key == LABEL_HOSTNAME:
            count = _count_matching(node_info.pods, c.selector, namespace)
        else:
            count = s.counts[i].get(value, 0)
        total += score_for_count(count, c.max_skew, s.weights[i])
    return math.floor(total + 0.5)  # Go's math.Round, for a sum that is never negative


def normalize_score(scores: Mapping[str, int]) -> dict[str, int]:
    """Reverse onto 0..100: ``100 * (max + min - score) // max``; INVALID_SCORE becomes 0.

    With every counted score 0 (no matching pods anywhere), all get 100.
    """
    counted = [v for v in scores.values() if v != INVALID_SCORE]
    low = min(counted, default=0)
    high = max(counted, default=0)  # Kubernetes starts its maximum at 0, its minimum at MaxInt64
    out = {}
    for name, v in scores.items():
        if v == INVALID_SCORE:
            out[name] = 0
        elif high == 0:
            out[name] = MAX_NODE_SCORE
        else:
            out[name] = MAX_NODE_SCORE * (high + low - v) // high
    return out
