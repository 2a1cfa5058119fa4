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

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.scheduler.framework import Code, CycleState, NodeInfo, Status

Obj = dict[str, Any]

#: What a PreFilter or PreScore returns when its plugin has nothing to do for this pod (framework.Skip):
#: the plugin's Filter (or Score) is then not run on any node in this cycle.
SKIP = Status("Skip", ())

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5

PreFilter = Callable[[Obj, list[NodeInfo], CycleState], "Status | None"]
Filter = Callable[[Obj, NodeInfo, CycleState], "Status | None"]
PreScore = Callable[[Obj, list[NodeInfo], CycleState], None]
Score = Callable[[Obj, NodeInfo, CycleState], int]
Normalize = Callable[[dict[str, int]], dict[str, int]]


@dataclass(frozen=True)
class ScorePlugin:
    name: str
    score: Score
    weight: int
    normalize: Normalize | None = None


@dataclass(frozen=True)
class Profile:
    """The plugins of one scheduler profile, in the order they run."""

    pre_filters: tuple[tuple[str, PreFilter], ...] = ()
    filters: tuple[tuple[str, Filter], ...] = ()
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


class Algorithm:
    """Runs cycles with one profile; remembers where the next cycle's filtering starts."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        self.profile = profile
        self.rng = rng
        self.next_start = 0

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
        filters = [(name, check) for name, check in self.profile.filters if name not in skipped]
        feasible, evaluated = self._filter(pod, nodes, state, diagnosis, filters)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1 or not self.profile.scores:
            return ScheduleResult(feasible[0].name, evaluated, len(feasible), {feasible[0].name: 0})
        totals = self._score(pod, feasible, state)
        best = max(totals.values())
        winners = [name for name in sorted(totals) if totals[name] == best]
        return ScheduleResult(self.rng.choice(winners), evaluated, len(feasible), totals)

    def _filter(self, pod: Obj, nodes: list[NodeInfo], state: CycleState, diagnosis: Diagnosis,
                filters: list[tuple[str, Filter]]) -> tuple[list[NodeInfo], int]:
        wanted = num_feasible_nodes_to_find(len(nodes), self.profile.percentage_of_nodes_to_score)
        feasible: list[NodeInfo] = []
        evaluated = 0
        start = self.next_start % len(nodes)
        for i in range(len(nodes)):
            info = nodes[(start + i) % len(nodes)]
            evaluated += 1
            refused = None
            for name, check in filters:
                status = check(pod, info, state)
                if status is not None:
                    refused = Status(status.code, status.reasons, status.plugin or name)
                    break
            if refused is None:
                feasible.append(info)
                if len(feasible) >= wanted:
                    break
            else:
                diagnosis.statuses[info.name] = refused
        self.next_start = (start + evaluated) % len(nodes)
        return feasible, evaluated

    def _score(self, pod: Obj, feasible: list[NodeInfo], state: CycleState) -> dict[str, int]:
        skipped = {name for name, pre_score in self.profile.pre_scores if pre_score(pod, feasible, state) is SKIP}
        totals = {info.name: 0 for info in feasible}
        for plugin in self.profile.scores:
            if plugin.name in skipped:
                continue  # nothing to say for this pod: the same for every node, so it cannot change the pick
            scores = {info.name: plugin.score(pod, info, state) for info in feasible}
            if plugin.normalize is not None:
                scores = plugin.normalize(scores)
            for name, value in scores.items():
                totals[name] += value * plugin.weight
        return totals


def unresolvable(diagnosis: Diagnosis) -> bool:
    """Whether every refusal was UnschedulableAndUnresolvable (preemption could not help)."""
    return bool(diagnosis.statuses) and all(
        s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in diagnosis.statuses.values())
