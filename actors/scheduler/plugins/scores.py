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
    SKIP,
    CycleState,
    NodeInfo,
    Obj,
    Resources,
    Status,
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
    "ScoreMany",
    "ScorePlugin",
    "balanced_allocation",
    "balanced_allocation_many",
    "least_allocated",
    "least_allocated_many",
    "node_affinity_pre_score",
    "node_affinity_score",
    "normalize",
    "plugin_scores",
    "score_nodes",
    "taint_toleration_score",
    "taint_toleration_score_many",
    "weighted_total",
]

ScoreFn = Callable[[Obj, NodeInfo, CycleState], int]
ScoreMany = Callable[[Obj, list[NodeInfo], CycleState], list[int]]

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

#: LeastAllocated's resources and their weights (the default scoringStrategy); BalancedAllocation
#: looks at the same two.
LEAST_ALLOCATED_RESOURCES: tuple[tuple[str, int], ...] = (("cpu", 1), ("memory", 1))
_CPU_WEIGHT, _MEMORY_WEIGHT = dict(LEAST_ALLOCATED_RESOURCES)["cpu"], dict(LEAST_ALLOCATED_RESOURCES)["memory"]

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


# --- NodeResourcesFit: LeastAllocated ---------------------------------------------------

def _least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def least_allocated(pod: Obj, node_info: NodeInfo, state: CycleState) -> int:
    """Favour the emptiest node: the weighted mean of each resource's free share after placing the pod."""
    return least_allocated_many(pod, [node_info], state)[0]


def least_allocated_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> list[int]:
    """:func:`least_allocated` for each node, in one pass (cpu and memory, the default resources)."""
    request = _cached(state, _NON_ZERO_KEY, lambda: pod_non_zero_requests(pod))
    pod_cpu, pod_memory = request.milli_cpu, request.memory
    out = []
    append = out.append
    for info in infos:
        allocatable, used = info.allocatable, info.non_zero_requested
        cpu, memory = allocatable.milli_cpu, allocatable.memory
        if cpu and memory:  # the common case, _least_requested inlined
            cpu_used = used.milli_cpu + pod_cpu
            memory_used = used.memory + pod_memory
            cpu_score = (cpu - cpu_used) * MAX_NODE_SCORE // cpu if cpu_used <= cpu else 0
            memory_score = (memory - memory_used) * MAX_NODE_SCORE // memory if memory_used <= memory else 0
            append((cpu_score * _CPU_WEIGHT + memory_score * _MEMORY_WEIGHT) // (_CPU_WEIGHT + _MEMORY_WEIGHT))
            continue
        total = weight_sum = 0
        if cpu:  # a resource the node does not report is left out of the mean
            total += _least_requested(used.milli_cpu + pod_cpu, cpu) * _CPU_WEIGHT
            weight_sum += _CPU_WEIGHT
        if memory:
            total += _least_requested(used.memory + pod_memory, memory) * _MEMORY_WEIGHT
            weight_sum += _MEMORY_WEIGHT
        append(total // weight_sum if weight_sum else 0)
    return out


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
    return balanced_allocation_many(pod, [node_info], state)[0]


#: Integers below this convert to float64 exactly.
_EXACT = 2**53


def balanced_allocation_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> list[int]:
    """:func:`balanced_allocation` for each node, in one pass.

    Go divides ``float64(requested) / float64(allocatable)``, rounding each amount first; Python's
    int / int divides exactly and rounds once. The two agree whenever ``allocatable`` is below 2**53
    (8 PiB of memory): a smaller ``requested`` converts exactly too, and a larger one gives a share
    of at least 1 both ways, which is capped at 1. Only beyond that are the amounts converted first.
    """
    request = _cached(state, _REQUEST_KEY, lambda: pod_requests(pod))
    pod_cpu, pod_memory = request.milli_cpu, request.memory
    out = []
    append = out.append
    for info in infos:
        allocatable, used = info.allocatable, info.requested
        cpu, memory = allocatable.milli_cpu, allocatable.memory
        if 0 < cpu < _EXACT and 0 < memory < _EXACT:  # the common case, _balance's two-resource branch inlined
            cpu_share = (used.milli_cpu + pod_cpu) / cpu
            memory_share = (used.memory + pod_memory) / memory
            if cpu_share > 1.0:
                cpu_share = 1.0
            if memory_share > 1.0:
                memory_share = 1.0
            append(int((1 - abs((cpu_share - memory_share) / 2)) * float(MAX_NODE_SCORE)))
            continue
        fractions = []
        if cpu:
            fractions.append(min(float(used.milli_cpu + pod_cpu) / float(cpu), 1.0))
        if memory:
            fractions.append(min(float(used.memory + pod_memory) / float(memory), 1.0))
        append(_balance(fractions))
    return out


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
    return taint_toleration_score_many(pod, [node_info], state)[0]


def taint_toleration_score_many(pod: Obj, infos: list[NodeInfo], state: CycleState) -> list[int]:
    """:func:`taint_toleration_score` for each node; a node without such taints scores 0 at once."""
    tolerations = _mappings((pod.get("spec") or {}).get("tolerations"))
    return [sum(1 for taint in info.soft_taints if not tolerations_tolerate(tolerations, taint))
            if info.soft_taints else 0 for info in infos]


def node_affinity_pre_score(pod: Obj, infos: list[NodeInfo], state: CycleState) -> Status | None:
    """Skip the NodeAffinity score for a pod without preferred terms: it would be 0 on every node."""
    return SKIP if not _preferred_terms(pod) else None


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
    """A score plugin: its name, its per-node score, its NormalizeScore if it has one, its batch form,
    and the PreScore that may tell it to Skip."""

    name: str
    score: ScoreFn
    normalize: Callable[[Mapping[str, int]], dict[str, int]] | None = None
    many: ScoreMany | None = None
    pre_score: Callable[[Obj, list[NodeInfo], CycleState], Status | None] | None = None


#: The score plugins implemented here, in kube-scheduler's default order.
SCORES: tuple[ScorePlugin, ...] = (
    ScorePlugin(TAINT_TOLERATION, taint_toleration_score, lambda s: normalize(s, reverse=True),
                many=taint_toleration_score_many),
    ScorePlugin(NODE_AFFINITY, node_affinity_score, lambda s: normalize(s, reverse=False),
                pre_score=node_affinity_pre_score),
    ScorePlugin(NODE_RESOURCES_FIT, least_allocated, many=least_allocated_many),
    ScorePlugin(BALANCED_ALLOCATION, balanced_allocation, many=balanced_allocation_many),
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
