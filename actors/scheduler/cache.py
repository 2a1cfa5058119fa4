"""The scheduler's cache: every node with the pods counted on it, including the ones it just chose.

kube-scheduler decides from its own cache, not from a fresh read
(``pkg/scheduler/backend/cache``). What makes that safe is **assume then
bind**: the moment a node is chosen, the pod is *assumed* on it — it counts
against the node's resources for the next pod's decision at once — and the
binding is written to the API server in the background. When the watch
shows the pod bound there, the assumption is confirmed; if the binding
fails, the pod is *forgotten* and the room is free again. Without it, a
burst of pods would all be placed on the same emptiest node.

Pure: informer events and the scheduler's decisions in, :class:`NodeInfo`
out. Pods are keyed by ``namespace/name``.
"""

from __future__ import annotations

from typing import Any

from actors.scheduler import resources as res
from actors.scheduler.framework import NodeInfo
from actors.scheduler.queue import pod_key

Obj = dict[str, Any]


class SchedulerCache:
    """Nodes, the pods counted on them, and which of those are only assumed."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}
        """Where each counted pod is counted (bound or assumed)."""
        self._pods: dict[str, Obj] = {}
        self.assumed: dict[str, str] = {}
        """Pods counted on a node the scheduler chose, whose binding has not been seen yet."""
        self._orphans: dict[str, list[Obj]] = {}
        """Pods bound to a node the cache has not seen (yet): counted when it arrives."""
        self._infos: list[NodeInfo] | None = None
        """Every NodeInfo in name order, kept until a node is added or removed: a cycle looks at
        hundreds of nodes, and rebuilding the list of thousands for each pod would cost more."""
        self._with_affinity: set[str] = set()
        """Counted pods that have podAffinity or podAntiAffinity (Kubernetes' snapshot keeps the
        same list): while there are none, InterPodAffinity has nothing to check for a plain pod."""

    # --- nodes ----------------------------------------------------------------------------
    def set_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            pods = self._orphans.pop(name, [])
            self.nodes[name] = res.new_node_info(node, pods)
            self._infos = None
        else:
            res.update_node(info, node)  # in place: the ordered list stays valid

    def remove_node(self, name: str) -> None:
        info = self.nodes.pop(name, None)
        self._infos = None
        if info is not None and info.pods:
            self._orphans[name] = list(info.pods)  # still bound there; counted again if it comes back

    # --- pods -------------------------------------------------------------------------------
    def set_pod(self, pod: Obj) -> None:
        """A pod from the informer: counted where it is bound (confirming an assumption), else not."""
        key = pod_key(pod)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if key in self.assumed:
            if not node and not finished:
                return  # the watch is behind our own binding: keep the assumption
            del self.assumed[key]  # bound (here: confirmed; elsewhere: counted there instead) or gone
        self._uncount(key)
        if node and not finished:
            self._count(key, pod, node)

    def remove_pod(self, pod: Obj) -> None:
        key = pod_key(pod)
        self.assumed.pop(key, None)
        self._uncount(key)

    def assume(self, pod: Obj, node: str) -> None:
        """Count ``pod`` on ``node`` from now on, before its binding is written."""
        key = pod_key(pod)
        assumed = dict(pod, spec=dict(pod.get("spec") or {}, nodeName=node))
        self._uncount(key)
        self._count(key, assumed, node)
        self.assumed[key] = node

    def forget(self, pod: Obj) -> None:
        """The binding failed: the pod no longer counts anywhere."""
        key = pod_key(pod)
        if self.assumed.pop(key, None) is not None:
            self._uncount(key)

    def _count(self, key: str, pod: Obj, node: str) -> None:
        self._pods[key] = pod
        self._pod_node[key] = node
        if res.has_pod_affinity(pod):
            self._with_affinity.add(key)
        info = self.nodes.get(node)
        if info is None:
            self._orphans.setdefault(node, []).append(pod)
        else:
            res.add_pod(info, pod)

    def _uncount(self, key: str) -> None:
        node = self._pod_node.pop(key, None)
        pod = self._pods.pop(key, None)
        if node is None or pod is None:
            return
        self._with_affinity.discard(key)
        info = self.nodes.get(node)
        if info is not None:
            res.remove_pod(info, pod)
        else:
            orphans = self._orphans.get(node, [])
            self._orphans[node] = [p for p in orphans if pod_key(p) != key]

    def node_infos(self) -> list[NodeInfo]:
        """Every node, in a stable order (the scheduler's snapshot for one cycle).

        The same list object until a node is added or removed: callers read it, never change it.
        """
        if self._infos is None:
            nodes = self.nodes
            self._infos = [nodes[name] for name in sorted(nodes)]
        return self._infos

    def have_pods_with_affinity(self) -> bool:
        """Whether any counted pod has podAffinity or podAntiAffinity terms."""
        return bool(self._with_affinity)
