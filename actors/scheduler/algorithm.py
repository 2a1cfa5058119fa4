"""One scheduling cycle: filter the nodes, score the ones that pass, pick the best.

This is ``schedulePod`` of kube-scheduler (``pkg/scheduler/schedule_one.go``)
without the I/O:

1. **PreFilter** plugins compute per-pod state once.
2. **Filter** plugins run on nodes, starting where the last cycle stopped
   (round robin, so no node is always examined first), until
   ``num_feasible_nodes_to_find`` nodes have passed — Kubernetes'
   ``percentageOfNodesToScore``: all nodes below 100; above that, an adaptive
   percentage (50 % minus 1 % per 125 nodes, at least 5 %) but never fewer
   than 100 nodes.
3. **Score** plugins rank the feasible nodes; each plugin's scores are
   normalized to 0..100 and multiplied by its weight; the highest total wins,
   ties broken by a seeded choice (Kubernetes picks uniformly at random).
4. If no node passed, a :class:`FitError` says why, in Kubernetes' words:
   ``0/3 nodes are available: 3 Insufficient cpu.``

Plugins are plain callables collected in a :class:`Profile`; the scheduler
actor builds the default profile from :mod:`actors.scheduler.plugins`.
"""

from __future__ import annotations

import operator
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.scheduler.framework import (
    SKIP,
    Code,
    CycleState,
    Judged,
    NodeInfo,
    Status,
    judge_each,
)

Obj = dict[str, Any]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
#: Nodes judged per batch at least, so a pod that few nodes take is not judged one node per call.
MIN_CHUNK = 64

PreFilter = Callable[[Obj, list[NodeInfo], CycleState], "Status | None"]
Filter = Callable[[Obj, NodeInfo, CycleState], "Status | None"]
FilterMany = Callable[[Obj, list[NodeInfo], CycleState], Judged]
PreScore = Callable[[Obj, list[NodeInfo], CycleState], None]
Score = Callable[[Obj, NodeInfo, CycleState], int]
ScoreMany = Callable[[Obj, list[NodeInfo], CycleState], list[int]]
Normalize = Callable[[dict[str, int]], dict[str, int]]


@dataclass(frozen=True)
class ScorePlugin:
    name: str
    score: Score
    weight: int
    normalize: Normalize | None = None
    many: ScoreMany | None = None
    """The batch form of ``score``: every node's score in one call (the same numbers, faster)."""


@dataclass(frozen=True)
class Profile:
    """The plugins of one scheduler profile, in the order they run.

    A filter is ``(name, check)`` or ``(name, check, check_many)``, the last
    its batch form (:data:`~actors.scheduler.framework.Judged`).
    """

    pre_filters: tuple[tuple[str, PreFilter], ...] = ()
    filters: tuple[tuple[str, Filter] | tuple[str, Filter, FilterMany], ...] = ()
    pre_scores: tuple[tuple[str, PreScore], ...] = ()
    scores: tuple[ScorePlugin, ...] = ()
    percentage_of_nodes_to_score: int = 0
    """0: Kubernetes' adaptive default."""


@dataclass
class Diagnosis:
    """Why nodes were refused: each node's status, and the plugins that refused."""

    statuses: dict[str, Status] = field(default_factory=dict)
    pre_filter: Status | None = None

    @property
    def plugins(self) -> set[str]:
        found = {s.plugin for s in self.statuses.values()}
        if self.pre_filter is not None:
            found.add(self.pre_filter.plugin)
        return found


class FitError(Exception):
    """No node can take the pod; the message is Kubernetes' (``0/3 nodes are available: ...``)."""

    def __init__(self, pod: Obj, num_nodes: int, diagnosis: Diagnosis) -> None:
        self.pod = pod
        self.num_nodes = num_nodes
        self.diagnosis = diagnosis
        super().__init__(fit_error_message(num_nodes, diagnosis))


def fit_error_message(num_nodes: int, diagnosis: Diagnosis) -> str:
    """``FitError.Error()``: a count per reason, the reasons sorted as strings, joined by ", "."""
    if diagnosis.pre_filter is not None:
        reasons = "; ".join(diagnosis.pre_filter.reasons)
        return f"0/{num_nodes} nodes are available: {reasons}."
    histogram: Counter[str] = Counter()
    for status in diagnosis.statuses.values():
        for reason in status.reasons:
            histogram[reason] += 1
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes are enough (``numFeasibleNodesToFind``)."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass
class ScheduleResult:
    node: str
    evaluated: int
    """Nodes Filter ran on."""
    feasible: int
    scores: dict[str, int]
    """Each feasible node's weighted total."""


def _batch(entry: tuple) -> tuple[str, FilterMany]:
    name, check, *many = entry
    if many:
        return name, many[0]
    return name, lambda pod, infos, state: judge_each(check, pod, infos, state)


class Algorithm:
    """Runs cycles with one profile; remembers where the next cycle's filtering starts."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        self.profile = profile
        self.rng = rng
        self.next_start = 0
        self._filters = [_batch(entry) for entry in profile.filters]

    def schedule(self, pod: Obj, nodes: list[NodeInfo], state: CycleState | None = None) -> ScheduleResult:
        """The node for ``pod``; raises :class:`FitError` if none fits.

        ``state`` may carry what plugins read from outside the nodes (claims, namespace labels).
        """
        if not nodes:
            raise FitError(pod, 0, Diagnosis())
        state = state if state is not None else CycleState()
        diagnosis = Diagnosis()
        skipped: set[str] = set()
        for name, pre_filter in self.profile.pre_filters:
            status = pre_filter(pod, nodes, state)
            if status is SKIP:
                skipped.add(name)
            elif status is not None:
                diagnosis.pre_filter = Status(status.code, status.reasons, status.plugin or name)
                raise FitError(pod, len(nodes), diagnosis)
        filters = [(name, many) for name, many in self._filters if name not in skipped]
        feasible, evaluated = self._filter(pod, nodes, state, diagnosis, filters)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1 or not self.profile.scores:
            return ScheduleResult(feasible[0].name, evaluated, len(feasible), {feasible[0].name: 0})
        names, totals = self._score(pod, feasible, state)
        best = max(totals)
        winners = sorted(name for name, total in zip(names, totals) if total == best)
        return ScheduleResult(self.rng.choice(winners), evaluated, len(feasible), dict(zip(names, totals)))

    def _filter(self, pod: Obj, nodes: list[NodeInfo], state: CycleState, diagnosis: Diagnosis,
                filters: list[tuple[str, FilterMany]]) -> tuple[list[NodeInfo], int]:
        """The first ``wanted`` feasible nodes from ``next_start`` on (round robin), and how many were judged.

        Nodes are judged in chunks, each filter narrowing the chunk in turn; the result is what judging
        one node at a time in that order would give: a node after the one that made ``wanted`` counts as
        not evaluated, and its refusal (if any) is dropped.
        """
        n = len(nodes)
        wanted = num_feasible_nodes_to_find(n, self.profile.percentage_of_nodes_to_score)
        start = self.next_start % n
        ring = nodes[start:] + nodes[:start] if start else nodes
        feasible: list[NodeInfo] = []
        evaluated = 0
        while evaluated < n and len(feasible) < wanted:
            need = wanted - len(feasible)
            chunk = ring[evaluated:evaluated + max(need, MIN_CHUNK)]
            passing, refused = chunk, {}
            for name, many in filters:
                passing, refused_here = many(pod, passing, state)
                for node, status in refused_here.items():
                    refused[node] = status if status.plugin else Status(status.code, status.reasons, name)
                if not passing:
                    break
            judged = len(chunk)
            if len(passing) >= need and passing[need - 1] is not chunk[-1]:
                # The search ends inside this chunk: the nodes after the one that made ``wanted`` were
                # judged here but would not have been one at a time.
                last = passing[need - 1]
                judged = next(k for k, info in enumerate(chunk) if info is last) + 1
                passing = passing[:need]
                counted = {info.name for info in chunk[:judged]}
                refused = {node: status for node, status in refused.items() if node in counted}
            feasible += passing
            evaluated += judged
            diagnosis.statuses.update(refused)
        self.next_start = (start + evaluated) % n
        return feasible, evaluated

    def _score(self, pod: Obj, feasible: list[NodeInfo], state: CycleState) -> tuple[list[str], list[int]]:
        """The feasible nodes' names and weighted totals, in the same order."""
        skipped = {name for name, pre_score in self.profile.pre_scores if pre_score(pod, feasible, state) is SKIP}
        names = [info.name for info in feasible]
        totals = [0] * len(feasible)
        for plugin in self.profile.scores:
            if plugin.name in skipped:
                continue  # nothing to say for this pod: the same for every node, so it cannot change the pick
            if plugin.many is not None:
                scores = plugin.many(pod, feasible, state)
            else:
                scores = [plugin.score(pod, info, state) for info in feasible]
            if plugin.normalize is not None:
                normalized = plugin.normalize(dict(zip(names, scores)))
                scores = [normalized[name] for name in names]
            weight = plugin.weight
            if weight == 1:
                totals = list(map(operator.add, totals, scores))
            else:
                totals = [total + score * weight for total, score in zip(totals, scores)]
        return names, totals


def unresolvable(diagnosis: Diagnosis) -> bool:
    """Whether every refusal was UnschedulableAndUnresolvable (preemption could not help)."""
    return bool(diagnosis.statuses) and all(
        s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in diagnosis.statuses.values())
