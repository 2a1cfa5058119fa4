"""The scheduling framework's data: what every plugin sees, and what it answers.

kube-scheduler runs each pod through *plugins* at fixed extension points
(``pkg/scheduler/framework/interface.go``): PreFilter computes per-pod state
once, Filter says whether one node can take the pod, PreScore and Score rank
the nodes that passed, NormalizeScore maps each plugin's scores onto 0..100,
and the weighted sum picks the node. kubesim keeps that shape so a reader of
Kubernetes' plugin code finds the same pieces here, each a small pure
function over these types:

- :class:`NodeInfo` — a node and the pods the scheduler counts on it (bound
  *or assumed*), with their summed requests; built by the scheduler's cache.
- :class:`Resources` — milli-CPU, memory bytes, ephemeral-storage bytes, pods.
- :class:`Status` — a Filter's refusal, with the reason text Kubernetes
  prints in "0/3 nodes are available: 3 Insufficient cpu.".
- :class:`CycleState` — what PreFilter/PreScore computed for this pod, keyed
  by plugin name.

Pure: no clock, no I/O, no randomness.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

#: Score range of one plugin after normalization (framework.MaxNodeScore).
MAX_NODE_SCORE = 100


@dataclass(slots=True)
class Resources:
    """Amounts of the resources the scheduler counts (Kubernetes' framework.Resource)."""

    milli_cpu: int = 0
    memory: int = 0
    """Bytes."""
    ephemeral_storage: int = 0
    """Bytes."""
    pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)
    """Other resources by name (extended resources, hugepages), in their own units."""

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.pods += other.pods
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + amount

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.pods -= other.pods
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) - amount


@dataclass(slots=True)
class NodeInfo:
    """A node as the scheduler sees it: its object, the pods counted on it, their summed requests.

    What every cycle reads of the node object itself — its name, labels,
    taints, whether it is cordoned — is read once here, when the node is set,
    not once per pod per node: a cycle looks at hundreds of nodes.
    """

    node: Obj
    pods: list[Obj] = field(default_factory=list)
    requested: Resources = field(default_factory=Resources)
    """Sum of the pods' effective requests (framework.NodeInfo.Requested)."""
    non_zero_requested: Resources = field(default_factory=Resources)
    """The same with Kubernetes' defaults (100m CPU, 200 MiB) for containers that request nothing;
    what the scoring plugins use (NonZeroRequested)."""
    allocatable: Resources = field(default_factory=Resources)
    pods_with_affinity: list[Obj] = field(default_factory=list)
    """The counted pods that have podAffinity or podAntiAffinity (Kubernetes' PodsWithAffinity): most
    have none, so InterPodAffinity looks only here instead of at every pod."""
    name: str = field(init=False)
    labels: dict[str, str] = field(init=False)
    taints: tuple[dict[str, Any], ...] = field(init=False)
    """The node's taints (the well-formed ones)."""
    hard_taints: tuple[dict[str, Any], ...] = field(init=False)
    """Its NoSchedule and NoExecute taints: the ones that keep pods out."""
    soft_taints: tuple[dict[str, Any], ...] = field(init=False)
    """Its PreferNoSchedule taints: the ones that only lower its score."""
    unschedulable: bool = field(init=False)
    """``spec.unschedulable``: cordoned."""

    def __post_init__(self) -> None:
        self._read_node()

    def set_node(self, node: Obj) -> None:
        """A newer version of the same node: its object and what is read from it, not its pods (nor
        ``allocatable``: :func:`actors.scheduler.resources.update_node` sets both)."""
        self.node = node
        self._read_node()

    def _read_node(self) -> None:
        node = self.node
        meta = node.get("metadata") or {}
        self.name = meta.get("name") or ""
        labels = meta.get("labels")
        self.labels = labels if isinstance(labels, dict) else {}
        spec = node.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        taints = spec.get("taints")
        self.taints = tuple(t for t in taints if isinstance(t, dict)) if isinstance(taints, list) else ()
        self.hard_taints = tuple(t for t in self.taints if t.get("effect") in ("NoSchedule", "NoExecute"))
        self.soft_taints = tuple(t for t in self.taints if t.get("effect") == "PreferNoSchedule")
        self.unschedulable = bool(spec.get("unschedulable"))


class Code:
    """Why a Filter refused (framework.Code)."""

    UNSCHEDULABLE = "Unschedulable"
    """The node cannot take the pod now; preemption might help."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    """The node cannot take the pod, and preempting pods would not change that."""
    ERROR = "Error"


@dataclass(frozen=True, slots=True)
class Status:
    """A refusal: its code, the plugin, and the reasons as Kubernetes words them."""

    code: str
    reasons: tuple[str, ...]
    plugin: str = ""

    @classmethod
    def unschedulable(cls, plugin: str, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE, reasons, plugin)

    @classmethod
    def unresolvable(cls, plugin: str, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, plugin)


#: What a PreFilter or PreScore returns when its plugin has nothing to do for this pod (framework.Skip):
#: the plugin's Filter (or Score) is then not run on any node in this cycle.
SKIP = Status("Skip", ())


class CycleState(dict):
    """Per-pod data computed once (PreFilter, PreScore) and read by Filter and Score, by plugin name."""


# --- judging many nodes at once -------------------------------------------------------------
# A cycle judges hundreds of nodes. Calling a Python function per node per plugin is most of its
# cost, so a plugin may also offer a *batch* form that judges a list of nodes in one call — a list
# comprehension over the fields NodeInfo precomputes, for the nodes that obviously pass — and
# falls back on its per-node check for the rest. The per-node check stays the definition; the
# batch form must agree with it (the tests compare the two).

Judged = tuple[list[NodeInfo], dict[str, Status]]
"""A batch filter's answer: the nodes that passed, in order, and each refused node's status by name."""


def judge_each(check, pod: Obj, infos: list[NodeInfo], state: CycleState) -> Judged:
    """The batch form of any per-node filter ``check(pod, info, state)``: one call per node."""
    return _judge(check, pod, infos, state, frozenset())


def judge_rest(check, pod: Obj, infos: list[NodeInfo], state: CycleState, quick: list[NodeInfo]) -> Judged:
    """``quick`` (an in-order subsequence of ``infos``) passed a cheap test; ``check`` judges the others."""
    if len(quick) == len(infos):
        return quick, {}
    return _judge(check, pod, infos, state, set(map(id, quick)))


def _judge(check, pod: Obj, infos: list[NodeInfo], state: CycleState, obvious: Set[int]) -> Judged:
    passed: list[NodeInfo] = []
    refused: dict[str, Status] = {}
    for info in infos:
        if id(info) in obvious:
            passed.append(info)
            continue
        status = check(pod, info, state)
        if status is None:
            passed.append(info)
        else:
            refused[info.name] = status
    return passed, refused
