"""The kubelet's Node: what it registers, the status it posts, the Lease it renews, the pod IPs it hands out.

A kubelet's first act is to create its Node object
(``pkg/kubelet/kubelet_node_status.go``: ``initialNode``); from then on it
keeps two heartbeats (KEP 589, ``pkg/kubelet/nodelease``):

- the **Lease** ``kube-node-lease/<node>``, renewed every 10 s (a quarter of
  its 40 s duration) — a small write the node lifecycle controller watches;
- the **node status** — capacity, allocatable, conditions, addresses,
  versions — computed every 10 s (``nodeStatusUpdateFrequency``) but
  *posted* only when something other than the heartbeat times changed, or
  5 minutes (``nodeStatusReportFrequency``) after the last post. Thousands of
  nodes posting full statuses every 10 s is what leases were invented to
  stop.

The condition reasons and messages are the kubelet's own
(``pkg/kubelet/nodestatus/setters.go``), because ``kubectl describe node``
shows them.

Pod IPs: a real node's CNI plugin (host-local IPAM) hands each pod sandbox
the lowest free address of the node's ``spec.podCIDR``, skipping the network
address and the gateway (``.1``); podCIDRs are disjoint across nodes (the
node IPAM controller), so pod IPs are unique in the cluster.
:class:`PodIPs` does the same here; after a kubelet restart it is refilled
from the runtime's sandboxes.

Pure: config and times in, dicts out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from actors.apiserver.objects import rfc3339
from actors.apiserver.validation import parse_quantity
from actors.leaderelection import micro_time

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0"
RUNTIME_VERSION = "kubesim://1.0.0"
"""What ``containerRuntimeVersion`` says: the runtime's name and version (``containerd://1.7.24`` on kind)."""
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
"""``--node-lease-duration-seconds``."""
RENEW_INTERVAL_S = LEASE_DURATION_S * 0.25
"""The kubelet renews its lease every quarter of its duration: 10 s."""
STATUS_UPDATE_S = 10.0
"""``nodeStatusUpdateFrequency``: how often the status is computed (and compared)."""
STATUS_REPORT_S = 300.0
"""``nodeStatusReportFrequency``: an unchanged status is still posted this often."""
KUBELET_PORT = 10250
UNINITIALIZED_TAINT = {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true",
                       "effect": "NoSchedule"}
"""What a kubelet started with ``--cloud-provider=external`` registers with, for the cloud controller
manager to remove once it has initialized the node."""
MAX_IMAGES_IN_STATUS = 50
"""``--node-status-max-images``."""

#: The conditions a healthy kubelet reports, in its order, with its reasons and messages.
_HEALTHY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


@dataclass(frozen=True)
class NodeConfig:
    """One simulated machine: what it is called, what it has, where it is."""

    name: str
    internal_ip: str
    zone: str = ""
    region: str = ""
    capacity: dict[str, str] = field(default_factory=lambda: {
        "cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"})
    reserved: dict[str, str] = field(default_factory=dict)
    """kube-reserved plus system-reserved (``{"cpu": "100m", "memory": "256Mi"}``); none by default."""
    eviction_hard: dict[str, str] = field(default_factory=lambda: {"memory.available": "100Mi",
                                                                    "nodefs.available": "10%"})
    """The kubelet's hard eviction thresholds; they come off allocatable too (Kubernetes' defaults)."""
    labels: dict[str, str] = field(default_factory=dict)
    """``--node-labels``."""
    taints: tuple[dict[str, str], ...] = ()
    """``--register-with-taints``."""
    cloud_provider_external: bool = True
    """Register with the uninitialized taint and let the cloud controller manager finish the node."""
    architecture: str = "amd64"
    kernel_version: str = "6.1.0-kubesim"
    os_image: str = "kubesim node (Debian GNU/Linux 12)"
    machine_id: str = ""
    boot_id: str = ""
    """A new one each time the node process starts: a reboot, as ``kubectl describe node`` shows it."""


#: Which hard eviction signal comes off which resource's allocatable.
_EVICTION_SIGNALS = {"memory": "memory.available", "ephemeral-storage": "nodefs.available"}


_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def _format_quantity(value: Decimal, binary: bool) -> str:
    """An amount as Kubernetes writes it back (Quantity's canonical form): bytes with the largest binary
    suffix that keeps them whole (``8092Mi``), other amounts whole or in milli (``3900m``)."""
    if binary and value == value.to_integral_value():
        whole = int(value)
        for suffix, size in _BINARY:
            if whole and whole % size == 0:
                return f"{whole // size}{suffix}"
        return str(whole)
    if value == value.to_integral_value():
        return str(int(value))
    milli = (value * 1000).to_integral_value(rounding="ROUND_CEILING")
    return f"{int(milli)}m"


def _amount(text: str) -> Decimal:
    value = parse_quantity(text)
    if value is None:
        raise ValueError(f"not a quantity: {text!r}")
    return value


def allocatable(cfg: NodeConfig) -> dict[str, str]:
    """Capacity minus what is reserved and the hard eviction thresholds (``GetNodeAllocatableReservation``).

    ``memory.available`` comes off memory, ``nodefs.available`` (an amount or a
    percentage of capacity) off ephemeral-storage; nothing goes below zero.
    """
    out = {}
    for name, text in cfg.capacity.items():
        value = _amount(text)
        if name in cfg.reserved:
            value -= _amount(cfg.reserved[name])
        threshold = _EVICTION_SIGNALS.get(name)
        if threshold in cfg.eviction_hard:
            limit = cfg.eviction_hard[threshold]
            if limit.endswith("%"):
                value -= _amount(text) * Decimal(limit[:-1]) / 100  # a share of capacity
            else:
                value -= _amount(limit)
        out[name] = _format_quantity(max(value, Decimal(0)), binary=name != "cpu" and name != "pods")
    return out


def labels(cfg: NodeConfig) -> dict[str, str]:
    """The labels a kubelet registers with: hostname, OS and arch (also the beta keys), zone, then ``--node-labels``."""
    out = {
        "beta.kubernetes.io/arch": cfg.architecture,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": cfg.architecture,
        "kubernetes.io/hostname": cfg.name,
        "kubernetes.io/os": "linux",
    }
    if cfg.zone:
        out["topology.kubernetes.io/zone"] = cfg.zone
    if cfg.region:
        out["topology.kubernetes.io/region"] = cfg.region
    out.update(cfg.labels)
    return out


def initial_node(cfg: NodeConfig, wall: float) -> Obj:
    """The Node object the kubelet creates when it first starts (``initialNode``), with its first status."""
    taints = [dict(t) for t in cfg.taints]
    if cfg.cloud_provider_external and not any(t.get("key") == UNINITIALIZED_TAINT["key"] for t in taints):
        taints.append(dict(UNINITIALIZED_TAINT))
    spec: Obj = {"taints": taints} if taints else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": cfg.name, "labels": labels(cfg),
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": spec, "status": node_status(cfg, wall, None)}


def node_status(cfg: NodeConfig, wall: float, previous: Obj | None, *, images: list[Obj] | None = None,
                ready: bool = True, not_ready_message: str = "") -> Obj:
    """The status the kubelet would post now.

    Each condition's ``lastTransitionTime`` is kept from ``previous`` while its
    status stays the same; ``lastHeartbeatTime`` is now (it changes on every
    post, which is why :func:`status_changed` ignores it).
    """
    stamp = rfc3339(wall)
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or [] if isinstance(c, dict)}
    conditions = []
    for type_, status, reason, message in _HEALTHY:
        if type_ == "Ready" and not ready:
            status, reason, message = "False", "KubeletNotReady", not_ready_message or "kubelet is not ready"
        old = before.get(type_)
        transition = old.get("lastTransitionTime") if old and old.get("status") == status else stamp
        conditions.append({"type": type_, "status": status, "lastHeartbeatTime": stamp,
                           "lastTransitionTime": transition or stamp, "reason": reason, "message": message})
    status: Obj = {
        "capacity": dict(cfg.capacity),
        "allocatable": allocatable(cfg),
        "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": cfg.internal_ip}, {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {"machineID": cfg.machine_id, "systemUUID": cfg.machine_id, "bootID": cfg.boot_id,
                     "kernelVersion": cfg.kernel_version, "osImage": cfg.os_image,
                     "containerRuntimeVersion": RUNTIME_VERSION, "kubeletVersion": KUBELET_VERSION,
                     "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux",
                     "architecture": cfg.architecture},
    }
    if images:
        status["images"] = images[:MAX_IMAGES_IN_STATUS]
    return status


def _without_heartbeats(status: Obj) -> Obj:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                         for c in status.get("conditions") or []]
    return out


def status_changed(posted: Obj | None, now_status: Obj) -> bool:
    """Whether ``now_status`` says anything the last posted status did not (heartbeat times aside)."""
    return posted is None or _without_heartbeats(posted) != _without_heartbeats(now_status)


def should_post(posted: Obj | None, now_status: Obj, last_post_at: float | None, now: float) -> bool:
    """Post when something changed, or when the last post is ``STATUS_REPORT_S`` old."""
    return (status_changed(posted, now_status) or last_post_at is None
            or now - last_post_at >= STATUS_REPORT_S)


def lease(cfg: NodeConfig, node_uid: str, wall: float) -> Obj:
    """The node's Lease as the kubelet writes it: held by the node, owned by the Node (deleted with it)."""
    meta: Obj = {"name": cfg.name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": cfg.name, "uid": node_uid}]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": cfg.name, "leaseDurationSeconds": LEASE_DURATION_S,
                     "renewTime": micro_time(wall)}}


def renewed(existing: Obj, wall: float) -> Obj:
    """``existing`` (with its resourceVersion: the update is a compare-and-swap) renewed now."""
    out = dict(existing)
    out["spec"] = dict(existing.get("spec") or {}, renewTime=micro_time(wall))
    return out


class PodIPs:
    """host-local IPAM over one podCIDR: the lowest free address, never the network address or the gateway."""

    def __init__(self, pod_cidr: str) -> None:
        self.network = ipaddress.ip_network(pod_cidr, strict=False)
        self._by_owner: dict[str, str] = {}
        self._used: set[str] = set()

    def allocate(self, owner: str) -> str:
        """An address for ``owner`` (a pod uid); the same one again if it already has one.

        Raises ValueError when the range is full (a real CNI fails the sandbox the same way).
        """
        if owner in self._by_owner:
            return self._by_owner[owner]
        first = int(self.network.network_address) + 2  # .0 is the network, .1 the gateway (cni0)
        last = int(self.network.broadcast_address) - 1
        for value in range(first, last + 1):
            ip = str(ipaddress.ip_address(value))
            if ip not in self._used:
                self._used.add(ip)
                self._by_owner[owner] = ip
                return ip
        raise ValueError(f"no free IP address in {self.network} ({len(self._used)} in use)")

    def restore(self, owner: str, ip: str) -> None:
        """After a restart: ``owner`` already holds ``ip`` (read back from the runtime's sandbox)."""
        if ipaddress.ip_address(ip) in self.network:
            self._by_owner[owner] = ip
            self._used.add(ip)

    def release(self, owner: str) -> None:
        ip = self._by_owner.pop(owner, None)
        if ip is not None:
            self._used.discard(ip)

    def in_use(self) -> int:
        return len(self._used)
