"""The Score plugins that rank the nodes a pod passed, and how their scores add up.

After filtering, kube-scheduler asks each score plugin for a number per
node, lets some plugins rescale theirs onto 0..100 (NormalizeScore), and
picks the node with the largest weighted sum. Users tune clusters against
the documented formulas and weights, so this module reproduces Kubernetes
1.32's, integer division and float rounding included:

- NodeResourcesFit, LeastAllocated strategy: per resource
  ``(allocatable - requested) * 100 / allocatable``, then the weighted mean
  over cpu and memory (weight 1 each). ``requested`` is the node's
  NonZeroRequested plus the pod's non-zero request, so pods without
  requests still count (100m, 200 MiB). Not normalized.
- NodeResourcesBalancedAllocation: ``(1 - std) * 100`` over the cpu and
  memory fractions, each capped at 1. Unlike LeastAllocated it uses the
  *plain* requests (``NodeInfo.Requested`` plus the pod's request):
  Kubernetes builds it with ``useRequested: true``. Not normalized.
- NodeAffinity: the sum of the weights of the pod's matching
  ``preferredDuringSchedulingIgnoredDuringExecution`` terms, normalized so
  the best node gets 100.
- TaintToleration: the count of PreferNoSchedule taints the pod does not
  tolerate, normalized in reverse so the node with fewest gets 100.

Differences from Kubernetes, on purpose: a malformed preferred term scores
nothing here, where Kubernetes fails the pod's scoring cycle (the API server
refuses such pods anyway); plugins with nothing to say (no preferred terms)
are scored as all-zero rather than skipped, which adds the same to every
node. Ties are left to the caller: Kubernetes picks among equal best nodes
at random.

Pure: dicts in, ints out; the CycleState is only used to compute the pod's
requests once per cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.scheduler.framework import (
    MAX_NODE_SCORE,
    CycleState,
    NodeInfo,
    Obj,
    Resources,
)
from actors.scheduler.plugins.node import (
    NODE_AFFINITY,
    NODE_RESOURCES_FIT,
    TAINT_TOLERATION,
    term_matches,
    tolerations_tolerate,
)
from actors.scheduler.resources import pod_non_zero_requests, pod_requests

__all__ = [
    "BALANCED_ALLOCATION",
    "DEFAULT_WEIGHTS",
    "IMAGE_LOCALITY",
    "INTER_POD_AFFINITY",
    "LEAST_ALLOCATED_RESOURCES",
    "POD_TOPOLOGY_SPREAD",
    "SCORES",
    "ScoreFn",
    "ScorePlugin",
    "balanced_allocation",
    "least_allocated",
    "node_affinity_score",
    "normalize",
    "plugin_scores",
    "score_nodes",
    "taint_toleration_score",
    "weighted_total",
]

ScoreFn = Callable[[Obj, NodeInfo, CycleState], int]

BALANCED_ALLOCATION = "NodeResourcesBalancedAllocation"
POD_TOPOLOGY_SPREAD = "PodTopologySpread"
INTER_POD_AFFINITY = "InterPodAffinity"
IMAGE_LOCALITY = "ImageLocality"

#: Each score plugin's weight in kube-scheduler's default profile
#: (pkg/scheduler/apis/config/v1/default_plugins.go). The last three are
#: not implemented here yet; their weights are listed so the table is whole.
DEFAULT_WEIGHTS: Mapping[str, int] = {
    NODE_RESOURCES_FIT: 1,
    BALANCED_ALLOCATION: 1,
    NODE_AFFINITY: 2,
    TAINT_TOLERATION: 3,
    POD_TOPOLOGY_SPREAD: 2,
    INTER_POD_AFFINITY: 2,
    IMAGE_LOCALITY: 1,
}

#: LeastAllocated's resources and their weights (the default scoringStrategy).
LEAST_ALLOCATED_RESOURCES: tuple[tuple[str, int], ...] = (("cpu", 1), ("memory", 1))

# CycleState keys for the pod's requests, computed once per cycle (PreScore).
_NON_ZERO_KEY = "PreScore" + NODE_RESOURCES_FIT
_REQUEST_KEY = "PreScore" + BALANCED_ALLOCATION


def _go_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _cached(state: CycleState, key: str, compute: Callable[[], Resources]) -> Resources:
    value = state.get(key)
    if value is None:
        value = state[key] = compute()
    return value


def _amount(resources: Resources, name: str) -> int:
    if name == "cpu":
        return resources.milli_cpu
    if name == "memory":
        return resources.memory
    if name == "ephemeral-storage":
        return resources.ephemeral_storage
    return resources.scalar.get(name, 0)


# --- NodeResourcesFit: LeastAllocated ---------------------------------------------------

def _least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def least_allocated(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """Favour the emptiest node: the weighted mean of each resource's free share after placing the pod."""
    request = _cached(state, _NON_ZERO_KEY, lambda: pod_non_zero_requests(pod))
    total = weight_sum = 0
    for name, weight in LEAST_ALLOCATED_RESOURCES:
        allocatable = _amount(node_info.allocatable, name)
        if allocatable == 0:
            continue  # a resource the node does not report is left out of the mean
        requested = _amount(node_info.non_zero_requested, name) + _amount(request, name)
        total += _least_requested(requested, allocatable) * weight
        weight_sum += weight
    return total // weight_sum if weight_sum else 0


# --- NodeResourcesBalancedAllocation ---------------------------------------------------

def _balance(fractions: list[float]) -> int:
    """balancedResourceScorer: (1 - standard deviation of the fractions) * 100, truncated."""
    std = 0.0
    if len(fractions) == 2:
        # The two-resource case, written as Kubernetes does so the floats round the same.
        std = math.fabs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * float(MAX_NODE_SCORE))


def balanced_allocation(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """Favour the node whose cpu and memory would be used in the most equal proportion."""
    request = _cached(state, _REQUEST_KEY, lambda: pod_requests(pod))
    fractions = []
    for name, _ in LEAST_ALLOCATED_RESOURCES:
        allocatable = _amount(node_info.allocatable, name)
        if allocatable == 0:
            continue
        requested = _amount(node_info.requested, name) + _amount(request, name)
        fractions.append(min(float(requested) / float(allocatable), 1.0))
    return _balance(fractions)


# --- NodeAffinity -----------------------------------------------------------------------

def _preferred_terms(pod: Obj) -> list[Mapping[str, Any]]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    terms = affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
    return [t for t in terms if isinstance(t, Mapping)] if isinstance(terms, list) else []


def node_affinity_score(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """The summed weights of the pod's preferred node-affinity terms this node matches."""
    score = 0
    for term in _preferred_terms(pod):
        weight = term.get("weight") or 0
        preference = term.get("preference")
        if weight and isinstance(preference, Mapping) and term_matches(preference, node_info.node):
            score += int(weight)
    return score


# --- TaintToleration --------------------------------------------------------------------

def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def taint_toleration_score(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """How many of the node's PreferNoSchedule taints the pod does not tolerate (fewer is better)."""
    tolerations = _mappings((pod.get("spec") or {}).get("tolerations"))
    taints = _mappings((node_info.node.get("spec") or {}).get("taints"))
    return sum(1 for taint in taints if taint.get("effect") == "PreferNoSchedule"
               and not tolerations_tolerate(tolerations, taint))


# --- Normalizing and adding up -------------------------------------------------------

def normalize(scores: Mapping[str, int], reverse: bool) -> dict[str, int]:
    """helper.DefaultNormalizeScore: scale so the largest is 100; with ``reverse``, 100 minus that.

    All zero: unchanged, or all 100 when reversed (every node equally good).
    """
    highest = max([0, *scores.values()])
    if highest == 0:
        return {name: MAX_NODE_SCORE for name in scores} if reverse else dict(scores)
    out = {}
    for name, score in scores.items():
        scaled = _go_div(MAX_NODE_SCORE * score, highest)
        out[name] = MAX_NODE_SCORE - scaled if reverse else scaled
    return out


@dataclass(frozen=True, slots=True)
class ScorePlugin:
    """A score plugin: its name, its per-node score, and its NormalizeScore if it has one."""

    name: str
    score: ScoreFn
    normalize: Callable[[Mapping[str, int]], dict[str, int]] | None = None


#: The score plugins implemented here, in kube-scheduler's default order.
SCORES: tuple[ScorePlugin, ...] = (
    ScorePlugin(TAINT_TOLERATION, taint_toleration_score, lambda s: normalize(s, reverse=True)),
    ScorePlugin(NODE_AFFINITY, node_affinity_score, lambda s: normalize(s, reverse=False)),
    ScorePlugin(NODE_RESOURCES_FIT, least_allocated),
    ScorePlugin(BALANCED_ALLOCATION, balanced_allocation),
)


def plugin_scores(pod: Obj, node_infos: Iterable[NodeInfo], state: CycleState,
                  plugins: Iterable[ScorePlugin] = SCORES) -> dict[str, dict[str, int]]:
    """Each plugin's normalized, unweighted score per node: {plugin: {node: score}}."""
    node_infos = list(node_infos)
    out = {}
    for plugin in plugins:
        raw = {info.name: plugin.score(pod, info, state) for info in node_infos}
        out[plugin.name] = plugin.normalize(raw) if plugin.normalize else raw
    return out


def weighted_total(scores: Mapping[str, Mapping[str, int]],
                   weights: Mapping[str, int] = DEFAULT_WEIGHTS) -> dict[str, int]:
    """Each node's sum over plugins of score × the plugin's weight."""
    total: dict[str, int] = {}
    for plugin, per_node in scores.items():
        weight = weights.get(plugin, 1)
        for node, score in per_node.items():
            total[node] = total.get(node, 0) + score * weight
    return total


def score_nodes(pod: Obj, node_infos: Iterable[NodeInfo], state: CycleState,
                weights: Mapping[str, int] = DEFAULT_WEIGHTS) -> dict[str, int]:
    """The final score per node, as kube-scheduler's prioritizeNodes adds it up."""
    return weighted_total(plugin_scores(pod, node_infos, state), weights)
