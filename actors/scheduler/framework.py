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
    """A node as the scheduler sees it: its object, the pods counted on it, their summed requests."""

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

    @property
    def name(self) -> str:
        return self.node["metadata"]["name"]


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


class CycleState(dict):
    """Per-pod data computed once (PreFilter, PreScore) and read by Filter and Score, by plugin name."""
