"""InterPodAffinity: place a pod near, or away from, pods with given labels.

A pod's ``spec.affinity.podAffinity`` and ``podAntiAffinity`` name other pods
by label selector and namespaces, and a *topology key*: "in the same zone as
a pod labelled app=cache" is a term with ``topologyKey:
topology.kubernetes.io/zone``. Nodes sharing that label's value form one
domain. This module is kube-scheduler's ``interpodaffinity`` plugin
(``pkg/scheduler/framework/plugins/interpodaffinity``, 1.32) as pure
functions over :class:`NodeInfo`:

- **PreFilter** counts, per (topology key, value), the existing pods that
  match all of the incoming pod's required affinity terms, those matching
  each of its required anti-affinity terms, and the existing pods whose own
  required anti-affinity terms match the incoming pod (anti-affinity is
  symmetric: a pod that refuses app=web neighbours keeps web pods away).
- **Filter** refuses a node whose domain lacks the wanted pods
  (UnschedulableAndUnresolvable: evicting pods cannot create them), holds
  pods the pod refuses, or holds pods that refuse it (both Unschedulable:
  preemption may remove them). A pod that matches its own affinity terms
  may go anywhere with the topology labels while no pod matches at all,
  or the first replica of a self-affine set could never be placed.
- **PreScore / Score / NormalizeScore** sum, per domain, the weights of the
  preferred terms (the incoming pod's and the existing pods'), existing
  pods' *required* affinity terms at ``hard_pod_affinity_weight`` (1 by
  default), and subtract anti-affinity weights; then map the sums min-max
  onto 0..100. Sums may be negative before normalizing.

The functions take the framework's ``(pod, node(s), state)`` arguments
(:mod:`actors.scheduler.algorithm`). ``namespaceSelector`` chooses
namespaces by their labels, which the caller passes as ``namespace_labels``
(namespace name to labels), or leaves in the CycleState under
:data:`NAMESPACE_LABELS_KEY`: the scheduler's informer cache owns them, and
this module does no I/O. PreScore, like Kubernetes, sums over all nodes,
not only the feasible ones it is given: by default those PreFilter saw. Like Kubernetes, the
incoming pod's selectors are resolved to namespace names once per cycle,
while existing pods' selectors are matched against the labels of the
incoming pod's namespace. ``matchLabelKeys`` and ``mismatchLabelKeys`` are
merged into the selector here (Kubernetes 1.32 does it when the pod is
created; kubesim's API server does not yet, and merging twice is harmless).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from actors.apiserver.selectors import (
    NOTHING,
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

__all__ = [
    "ERR_AFFINITY_RULES",
    "ERR_ANTI_AFFINITY_RULES",
    "ERR_EXISTING_ANTI_AFFINITY_RULES",
    "NAME",
    "NAMESPACE_LABELS_KEY",
    "AffinityTerm",
    "PreFilterState",
    "PreScoreState",
    "filter",
    "normalize_score",
    "pre_filter",
    "pre_score",
    "preferred_terms",
    "required_terms",
    "satisfies_affinity",
    "satisfies_anti_affinity",
    "satisfies_existing_anti_affinity",
    "score",
]

NAME = "InterPodAffinity"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
#: Where the scheduler may leave namespace name -> labels for namespaceSelector.
NAMESPACE_LABELS_KEY = "NamespaceLabels"

ERR_AFFINITY_RULES = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY_RULES = "node(s) didn't satisfy existing pods anti-affinity rules"

TopologyPair = tuple[str, str]
"""(topology key, value): one domain."""


# --- Terms ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A parsed ``PodAffinityTerm`` (framework.AffinityTerm)."""

    selector: LabelSelector
    """Which pods, by label (with matchLabelKeys / mismatchLabelKeys merged in)."""
    namespaces: frozenset[str]
    """Namespaces named outright, or the owner's own when neither field is set."""
    namespace_selector: LabelSelector
    """Namespaces by label; NOTHING when the term has none (or it was resolved to names)."""
    topology_key: str
    weight: int = 0
    """For preferred terms; 0 for required ones."""

    def matches(self, pod: Obj, namespace_labels: Mapping[str, str] | None) -> bool:
        """Whether ``pod`` is one of the pods this term names; ``namespace_labels`` are its namespace's."""
        if _namespace(pod) in self.namespaces or self.namespace_selector.matches(namespace_labels):
            return self.selector.matches(_labels(pod))
        return False


def _namespace(pod: Obj) -> str:
    return pod["metadata"].get("namespace", "")


def _labels(pod: Obj) -> Mapping[str, str]:
    return pod["metadata"].get("labels") or {}


def _merge_label_keys(selector: LabelSelector, term: Mapping[str, Any],
                      labels: Mapping[str, str]) -> LabelSelector:
    # The owner's value of each matchLabelKeys key must match (In), of each
    # mismatchLabelKeys key must not (NotIn). A null selector stays "nothing",
    # as Kubernetes leaves it (there is nothing to narrow).
    if selector.nothing:
        return selector
    extra = [Requirement(k, Operator.IN, (labels[k],))
             for k in term.get("matchLabelKeys") or () if k in labels]
    extra += [Requirement(k, Operator.NOT_IN, (labels[k],))
              for k in term.get("mismatchLabelKeys") or () if k in labels]
    if not extra:
        return selector
    return LabelSelector(selector.requirements + tuple(extra))


def _parse_term(owner: Obj, term: Mapping[str, Any], weight: int = 0) -> AffinityTerm:
    """One term of ``owner``'s; raises SelectorError for a malformed selector."""
    selector = selector_from_dict(term.get("labelSelector"), path="labelSelector")
    selector = _merge_label_keys(selector, term, _labels(owner))
    ns_selector_dict = term.get("namespaceSelector")
    names = term.get("namespaces") or []
    # Neither namespaces nor namespaceSelector: the owner's own namespace.
    if not names and ns_selector_dict is None:
        names = [_namespace(owner)]
    return AffinityTerm(
        selector=selector,
        namespaces=frozenset(names),
        namespace_selector=selector_from_dict(ns_selector_dict, path="namespaceSelector"),
        topology_key=term.get("topologyKey", ""),
        weight=weight,
    )


def _affinity_section(pod: Obj, kind: str) -> Mapping[str, Any]:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    return affinity.get(kind) or {}


def required_terms(pod: Obj, kind: str) -> list[AffinityTerm]:
    """The required terms of ``kind`` (``podAffinity`` or ``podAntiAffinity``)."""
    raw = _affinity_section(pod, kind).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return [_parse_term(pod, t) for t in raw]


def preferred_terms(pod: Obj, kind: str) -> list[AffinityTerm]:
    """The preferred terms of ``kind``, each with its weight."""
    raw = _affinity_section(pod, kind).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [_parse_term(pod, t.get("podAffinityTerm") or {}, int(t.get("weight", 0))) for t in raw]


def _existing_terms(pod: Obj, kind: str, preferred: bool = False) -> list[AffinityTerm]:
    # An existing pod's malformed term is ignored rather than failing every
    # other pod's cycle; the API server should never have admitted it.
    try:
        return preferred_terms(pod, kind) if preferred else required_terms(pod, kind)
    except SelectorError:
        return []


def _resolve_namespaces(term: AffinityTerm,
                        namespace_labels: Mapping[str, Mapping[str, str]]) -> AffinityTerm:
    """The incoming pod's namespaceSelector turned into names (mergeAffinityTermNamespacesIfNotEmpty).

    An empty selector stays as it is: it selects every namespace, including
    ones the caller did not list.
    """
    if term.namespace_selector.empty:
        return term
    chosen = {ns for ns, labels in namespace_labels.items()
              if term.namespace_selector.matches(labels)}
    return replace(term, namespaces=term.namespaces | chosen, namespace_selector=NOTHING)


def _incoming_terms(pod: Obj, kind: str, preferred: bool,
                    namespace_labels: Mapping[str, Mapping[str, str]]) -> list[AffinityTerm]:
    terms = preferred_terms(pod, kind) if preferred else required_terms(pod, kind)
    return [_resolve_namespaces(t, namespace_labels) for t in terms]


def _matches_all(terms: Sequence[AffinityTerm], pod: Obj) -> bool:
    # Resolved terms need no namespace labels (podMatchesAllAffinityTerms passes nil).
    return bool(terms) and all(t.matches(pod, None) for t in terms)


def _node_labels(info: NodeInfo) -> Mapping[str, str]:
    return info.node["metadata"].get("labels") or {}


# --- PreFilter and Filter ------------------------------------------------------------

@dataclass(slots=True)
class PreFilterState:
    """What Filter needs, computed once per pod over all nodes."""

    affinity_terms: list[AffinityTerm] = field(default_factory=list)
    anti_affinity_terms: list[AffinityTerm] = field(default_factory=list)
    affinity_counts: Counter[TopologyPair] = field(default_factory=Counter)
    """Domains' counts of existing pods matching *all* the pod's required affinity terms."""
    anti_affinity_counts: Counter[TopologyPair] = field(default_factory=Counter)
    """Domains' counts of existing pods matching one of the pod's required anti-affinity terms."""
    existing_anti_affinity_counts: Counter[TopologyPair] = field(default_factory=Counter)
    """Domains' counts of existing pods' required anti-affinity terms that match the pod."""
    self_affine: bool = False
    """The pod matches all its own required affinity terms."""
    all_nodes: Sequence[NodeInfo] = ()
    """The snapshot PreFilter counted over; PreScore's default too."""


def _existing_anti_affinity_counts(pod: Obj, nodes: Sequence[NodeInfo],
                                   pod_ns_labels: Mapping[str, str] | None,
                                   ) -> Counter[TopologyPair]:
    counts: Counter[TopologyPair] = Counter()
    for info in nodes:
        if not info.pods_with_affinity:
            continue  # the common case: no pod here has any affinity term
        labels = _node_labels(info)
        for existing in info.pods_with_affinity:
            for term in _existing_terms(existing, "podAntiAffinity"):
                if term.topology_key in labels and term.matches(pod, pod_ns_labels):
                    counts[term.topology_key, labels[term.topology_key]] += 1
    return counts


def _incoming_counts(affinity: Sequence[AffinityTerm], anti: Sequence[AffinityTerm],
                     nodes: Sequence[NodeInfo],
                     ) -> tuple[Counter[TopologyPair], Counter[TopologyPair]]:
    affinity_counts: Counter[TopologyPair] = Counter()
    anti_counts: Counter[TopologyPair] = Counter()
    if not affinity and not anti:
        return affinity_counts, anti_counts
    for info in nodes:
        labels = _node_labels(info)
        for existing in info.pods:
            if _matches_all(affinity, existing):
                for term in affinity:
                    if term.topology_key in labels:
                        affinity_counts[term.topology_key, labels[term.topology_key]] += 1
            for term in anti:
                if term.topology_key in labels and term.matches(existing, None):
                    anti_counts[term.topology_key, labels[term.topology_key]] += 1
    return affinity_counts, anti_counts


def _namespace_labels(state: CycleState, given: Mapping[str, Mapping[str, str]] | None,
                      ) -> Mapping[str, Mapping[str, str]]:
    return given if given is not None else state.get(NAMESPACE_LABELS_KEY) or {}


def pre_filter(pod: Obj, nodes: Sequence[NodeInfo], state: CycleState,
               namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> Status | None:
    """Count matching pods per domain over ``nodes`` (all nodes) into ``state``.

    ``namespace_labels`` (namespace name to labels) defaults to
    ``state[NAMESPACE_LABELS_KEY]``. An Error status when the pod's own terms
    are malformed.
    """
    ns_labels = _namespace_labels(state, namespace_labels)
    try:
        affinity = _incoming_terms(pod, "podAffinity", False, ns_labels)
        anti = _incoming_terms(pod, "podAntiAffinity", False, ns_labels)
    except SelectorError as e:
        return Status(Code.ERROR, (f"parsing pod: {e}",), NAME)
    affinity_counts, anti_counts = _incoming_counts(affinity, anti, nodes)
    state[PRE_FILTER_KEY] = PreFilterState(
        affinity_terms=affinity,
        anti_affinity_terms=anti,
        affinity_counts=affinity_counts,
        anti_affinity_counts=anti_counts,
        existing_anti_affinity_counts=_existing_anti_affinity_counts(
            pod, nodes, ns_labels.get(_namespace(pod))),
        self_affine=_matches_all(affinity, pod),
        all_nodes=nodes,
    )
    return None


def satisfies_affinity(s: PreFilterState, node_labels: Mapping[str, str]) -> bool:
    """Every required affinity term has a matching pod in this node's domain.

    A node missing a term's topology key never qualifies. Otherwise, while
    no pod in the cluster matches at all, a pod matching its own terms may
    start the group anywhere.
    """
    pods_exist = True
    for term in s.affinity_terms:
        if term.topology_key not in node_labels:
            return False
        if s.affinity_counts[term.topology_key, node_labels[term.topology_key]] <= 0:
            pods_exist = False
    if pods_exist:
        return True
    return not s.affinity_counts and s.self_affine


def satisfies_anti_affinity(s: PreFilterState, node_labels: Mapping[str, str]) -> bool:
    """No required anti-affinity term has a matching pod in this node's domain."""
    return not any(
        s.anti_affinity_counts[t.topology_key, node_labels[t.topology_key]] > 0
        for t in s.anti_affinity_terms if t.topology_key in node_labels)


def satisfies_existing_anti_affinity(s: PreFilterState, node_labels: Mapping[str, str]) -> bool:
    """No existing pod's required anti-affinity refuses the pod in any of this node's domains."""
    counts = s.existing_anti_affinity_counts
    return not counts or not any(counts[pair] > 0 for pair in node_labels.items())


def filter(pod: Obj, node_info: NodeInfo, state: CycleState) -> Status | None:
    """None when the node is fine; else the first rule it breaks, in Kubernetes' order."""
    s: PreFilterState = state[PRE_FILTER_KEY]
    if not (s.affinity_terms or s.anti_affinity_terms or s.existing_anti_affinity_counts):
        return None  # Kubernetes skips the plugin for such a pod
    labels = _node_labels(node_info)
    if not satisfies_affinity(s, labels):
        return Status.unresolvable(NAME, ERR_AFFINITY_RULES)
    if not satisfies_anti_affinity(s, labels):
        return Status.unschedulable(NAME, ERR_ANTI_AFFINITY_RULES)
    if not satisfies_existing_anti_affinity(s, labels):
        return Status.unschedulable(NAME, ERR_EXISTING_ANTI_AFFINITY_RULES)
    return None


# --- PreScore, Score, NormalizeScore -------------------------------------------------

@dataclass(slots=True)
class PreScoreState:
    """Summed weights per topology key and value; Score adds up a node's domains."""

    topology_score: dict[str, dict[str, int]] = field(default_factory=dict)


def _add(scores: dict[str, dict[str, int]], term: AffinityTerm, weight: int, pod: Obj,
         ns_labels: Mapping[str, str] | None, node_labels: Mapping[str, str]) -> None:
    if term.topology_key in node_labels and term.matches(pod, ns_labels):
        domain = scores.setdefault(term.topology_key, {})
        value = node_labels[term.topology_key]
        domain[value] = domain.get(value, 0) + weight


def _score_existing_pod(scores: dict[str, dict[str, int]], existing: Obj,
                        node_labels: Mapping[str, str], pod: Obj,
                        incoming_affinity: Sequence[AffinityTerm],
                        incoming_anti: Sequence[AffinityTerm],
                        pod_ns_labels: Mapping[str, str] | None,
                        hard_pod_affinity_weight: int) -> None:
    """processExistingPod: what one existing pod adds to its node's domains."""
    # The incoming pod's preferences about the existing pod (names resolved: no labels needed).
    for term in incoming_affinity:
        _add(scores, term, term.weight, existing, None, node_labels)
    for term in incoming_anti:
        _add(scores, term, -term.weight, existing, None, node_labels)
    # The existing pod's rules about the incoming pod, matched in the incoming pod's namespace.
    if hard_pod_affinity_weight > 0:
        for term in _existing_terms(existing, "podAffinity"):
            _add(scores, term, hard_pod_affinity_weight, pod, pod_ns_labels, node_labels)
    for term in _existing_terms(existing, "podAffinity", preferred=True):
        _add(scores, term, term.weight, pod, pod_ns_labels, node_labels)
    for term in _existing_terms(existing, "podAntiAffinity", preferred=True):
        _add(scores, term, -term.weight, pod, pod_ns_labels, node_labels)


def pre_score(pod: Obj, nodes: Sequence[NodeInfo], state: CycleState, *,
              all_nodes: Sequence[NodeInfo] | None = None,
              namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
              hard_pod_affinity_weight: int = 1) -> Status | None:
    """Sum the weights per domain into ``state``.

    Like Kubernetes, the sums run over *all* nodes, not only the feasible
    ``nodes``: ``all_nodes`` when given, else the snapshot PreFilter saw,
    else ``nodes``. ``hard_pod_affinity_weight`` is InterPodAffinityArgs'
    (0..100, default 1).
    """
    ns_labels = _namespace_labels(state, namespace_labels)
    if all_nodes is None:
        pre = state.get(PRE_FILTER_KEY)
        all_nodes = pre.all_nodes if pre is not None and pre.all_nodes else nodes
    try:
        affinity = _incoming_terms(pod, "podAffinity", True, ns_labels)
        anti = _incoming_terms(pod, "podAntiAffinity", True, ns_labels)
    except SelectorError as e:
        return Status(Code.ERROR, (f"parsing pod: {e}",), NAME)
    pod_ns_labels = ns_labels.get(_namespace(pod))
    scores: dict[str, dict[str, int]] = {}
    incoming = bool(affinity or anti)
    for info in all_nodes:
        # Without terms of its own, the pod is scored only by existing pods' terms: look only at those.
        candidates = info.pods if incoming else info.pods_with_affinity
        if not candidates:
            continue
        labels = _node_labels(info)
        if not labels:
            continue  # no topology at all: nothing to credit
        for existing in candidates:
            _score_existing_pod(scores, existing, labels, pod, affinity, anti,
                                pod_ns_labels, hard_pod_affinity_weight)
    state[PRE_SCORE_KEY] = PreScoreState(scores)
    return None


def score(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """The node's raw score: the sums of the domains it belongs to (may be negative)."""
    s: PreScoreState = state[PRE_SCORE_KEY]
    labels = _node_labels(node_info)
    return sum(values.get(labels[key], 0)
               for key, values in s.topology_score.items() if key in labels)


def normalize_score(scores: Mapping[str, int]) -> dict[str, int]:
    """Min-max onto 0..100 over the scored nodes; all 0 when all are equal.

    Needs no CycleState: when PreScore credited nothing every raw score is
    0, and Kubernetes' early return leaves them 0 too.
    """
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {name: 0 for name in scores}
    # int() truncates as Go's int64(float64) does.
    return {name: int(MAX_NODE_SCORE * ((v - low) / (high - low))) for name, v in scores.items()}
