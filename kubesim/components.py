"""What each kind of process runs: the component registry.

A Procfile line names a *process* of the cluster file; the process names a
*component* from this table, which builds the process's runtime and puts its
actors in it. Each component declares the ``args`` it takes as a pydantic
model, so ``kubesim check`` (and every start) rejects a wrong or misspelt
argument by name. Later components (store members, apiserver, scheduler,
nodes...) are added here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actors.demo import Pinger, Ponger
from bus.runtime import Runtime

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PongArgs(NoArgs):
    name: str = Field("ponger", min_length=1, max_length=253)
    """The actor's name, the address pingers send to."""


class PingArgs(NoArgs):
    name: str = Field("pinger", min_length=1, max_length=253)
    target: str = Field("ponger", min_length=1, max_length=253)
    """Which actor to ping."""
    interval_s: float = Field(1.0, gt=0, le=3600)
    """Cluster seconds between pings; each ping's deadline too."""


@dataclass(frozen=True)
class Component:
    is_broker: bool
    args: type[BaseModel]
    add_actors: Callable[[Runtime, BaseModel, ClusterConfig, str], None]
    """(runtime, args, cluster config, process name) -> puts the process's actors in the runtime."""
    standalone: bool = False
    """Speaks only over direct links, never through the broker (the store's members)."""


def _add_store_member(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from kubesim.store import member_for

    rt.add(member_for(cfg, process))


class SchedulerArgs(NoArgs):
    scheduler_name: str = Field("default-scheduler", min_length=1, max_length=253)
    """The spec.schedulerName this scheduler serves."""
    lease_duration_s: float = Field(15.0, gt=0)
    """kube-scheduler's --leader-elect-lease-duration (cluster seconds)."""
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)
    percentage_of_nodes_to_score: int = Field(0, ge=0, le=100)
    """0: Kubernetes' adaptive default."""


def _add_scheduler(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.scheduler.scheduler import Scheduler, default_profile

    assert isinstance(args, SchedulerArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(Scheduler(f"{process}.scheduler", api, identity=process, scheduler_name=args.scheduler_name,
                     lease_duration_s=args.lease_duration_s, renew_deadline_s=args.renew_deadline_s,
                     retry_period_s=args.retry_period_s,
                     profile=default_profile(args.percentage_of_nodes_to_score)))


class ControllerManagerArgs(NoArgs):
    lease_duration_s: float = Field(15.0, gt=0)
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)


def _add_controller_manager(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.controllers.manager import ControllerManager, default_controllers

    assert isinstance(args, ControllerManagerArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(ControllerManager(f"{process}.controllers", api, default_controllers(), identity=process,
                             lease_duration_s=args.lease_duration_s, renew_deadline_s=args.renew_deadline_s,
                             retry_period_s=args.retry_period_s))


class CloudControllerManagerArgs(ControllerManagerArgs):
    load_balancer_pool: str = "172.18.255.0/24"
    """Where LoadBalancer Services' ingress IPs come from."""


def _add_cloud_controller_manager(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.cloud.controllers import default_cloud_controllers
    from actors.controllers.manager import ControllerManager

    assert isinstance(args, CloudControllerManagerArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(ControllerManager(f"{process}.controllers", api,
                             default_cloud_controllers(cfg.cluster.name, args.load_balancer_pool),
                             identity=process, lease_name="cloud-controller-manager",
                             lease_duration_s=args.lease_duration_s, renew_deadline_s=args.renew_deadline_s,
                             retry_period_s=args.retry_period_s))


class DnsArgs(NoArgs):
    name: str = Field("kube-dns", min_length=1, max_length=253)
    """The actor's name, where ``kubesim dig`` and the kubelets' lookups are sent."""
    cluster_domain: str = Field("cluster.local", min_length=1, max_length=253)


def _add_dns(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.dns.server import DnsServer

    assert isinstance(args, DnsArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(DnsServer(args.name, api, cluster_domain=args.cluster_domain))


def _add_apiserver(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from kubesim.apiserver import add_apiserver

    add_apiserver(rt, cfg, process)


class KubeProxyArgs(NoArgs):
    node: str = Field(min_length=1, max_length=253)
    """The node whose rules this kube-proxy keeps; it is the actor ``<node>.proxy``."""
    node_ip: str = ""
    """Where the node's NodePorts listen; "" reads the Node's InternalIP from the API."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network (kube-proxy's --cluster-cidr); "" for none."""
    min_sync_s: float = Field(1.0, ge=0, le=3600)
    """kube-proxy's --iptables-min-sync-period: at most one rule sync per this many cluster seconds."""

    @field_validator("node_ip", "cluster_cidr")
    @classmethod
    def _address(cls, value: str, info) -> str:
        import ipaddress

        if value:
            (ipaddress.ip_address if info.field_name == "node_ip" else ipaddress.ip_network)(value)
        return value


def _add_kube_proxy(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.proxy.proxy import Proxy

    assert isinstance(args, KubeProxyArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(Proxy(args.node, api, node_ips=(args.node_ip,) if args.node_ip else (),
                 cluster_cidr=args.cluster_cidr or None, min_sync_s=args.min_sync_s))


class NodeArgs(NoArgs):
    """One worker machine: its kubelet, container runtime and kube-proxy in one process (the Node's name is the
    process's, so its bus identity authenticates it as ``system:node:<name>``)."""

    zone: str = Field("", max_length=63)
    """``topology.kubernetes.io/zone``."""
    internal_ip: str = ""
    """The node's address (InternalIP, where its NodePorts listen); "" derives 172.18.0.N from the name."""
    capacity: dict[str, str] = Field(default_factory=lambda: {
        "cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"})
    labels: dict[str, str] = Field(default_factory=dict)
    """``--node-labels``."""
    taints: list[dict[str, str]] = Field(default_factory=list)
    """``--register-with-taints``: ``[{key, value, effect}]``."""
    cloud_provider_external: bool = True
    """Register with the uninitialized taint for the cloud controller manager to lift."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network, for kube-proxy's masquerade rules."""
    proxy_min_sync_s: float = Field(1.0, ge=0, le=3600)
    image_pull_bytes_per_s: float = Field(50e6, gt=0)
    """The node's link to the image registry."""

    @field_validator("internal_ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        import ipaddress

        if value:
            ipaddress.ip_address(value)
        return value


def default_node_ip(name: str) -> str:
    """172.18.0.N for a node named ``...-N`` (kind's network; .1 is the gateway), else from a hash of the name."""
    import zlib

    tail = name.rsplit("-", 1)[-1]
    number = int(tail) + 1 if tail.isdigit() and int(tail) < 250 else 2 + zlib.crc32(name.encode()) % 250
    return f"172.18.0.{number}"


def _add_node(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    import hashlib
    import os

    from actors.apiserver.client import ApiClient
    from actors.kubelet.kubelet import ADMIN_IDENTITIES, Kubelet, KubeletMetrics
    from actors.kubelet.node import NodeConfig
    from actors.proxy.proxy import Proxy
    from actors.runtime.server import RuntimeServer

    assert isinstance(args, NodeArgs)
    ip = args.internal_ip or default_node_ip(process)
    node = NodeConfig(process, ip, zone=args.zone, capacity=dict(args.capacity), labels=dict(args.labels),
                      taints=tuple(dict(t) for t in args.taints), cloud_provider_external=args.cloud_provider_external,
                      machine_id=hashlib.sha256(f"{cfg.cluster.name}/{process}".encode()).hexdigest()[:32], boot_id=os.urandom(16).hex())
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(RuntimeServer(process, bandwidth_bytes_per_s=args.image_pull_bytes_per_s))
    rt.add(Kubelet(node, api, metrics=KubeletMetrics(), api_server_identities=_api_server_identities(cfg),
                   admin_identities=(*ADMIN_IDENTITIES, *cfg.security.fault_admins)))  # kubelet.Restart
    rt.add(Proxy(process, api, node_ips=(ip,), cluster_cidr=args.cluster_cidr or None,
                 min_sync_s=args.proxy_min_sync_s))


def _api_server_identities(cfg: ClusterConfig) -> tuple[str, ...]:
    """The processes that run the API server: the only ones a kubelet answers log requests from."""
    return tuple(name for name, p in cfg.processes.items() if p.component == "apiserver") or ("apiserver",)


COMPONENTS: dict[str, Component] = {
    # A bare broker: routes and nothing else (the bus tests and benchmarks use it).
    "broker": Component(True, NoArgs, lambda rt, args, cfg, process: None),
    # The broker that is also the API server: it holds the cluster's objects in the store.
    "apiserver": Component(True, NoArgs, _add_apiserver),
    # kube-scheduler: schedules pending pods while it holds the kube-system/kube-scheduler Lease.
    "scheduler": Component(False, SchedulerArgs, _add_scheduler),
    # kube-controller-manager: every controller, over shared informers, while it holds its Lease.
    "controller-manager": Component(False, ControllerManagerArgs, _add_controller_manager),
    # cloud-controller-manager: load balancers, provider IDs, nodes whose instance is gone.
    "cloud-controller-manager": Component(False, CloudControllerManagerArgs, _add_cloud_controller_manager),
    "dns": Component(False, DnsArgs, _add_dns),
    # A worker machine: kubelet, container runtime and kube-proxy.
    "node": Component(False, NodeArgs, _add_node),
    "demo-pong": Component(False, PongArgs, lambda rt, a, cfg, process: rt.add(Ponger(a.name))),
    "demo-ping": Component(False, PingArgs, lambda rt, a, cfg, process: rt.add(
        Pinger(a.name, target=a.target, interval_s=a.interval_s))),
    # A member of the replicated store (etcd); its peers and settings come from the `store` section.
    "store": Component(False, NoArgs, _add_store_member, standalone=True),
    # kube-proxy alone, for one node (a node process will host its own); runs as system:kube-proxy.
    "kube-proxy": Component(False, KubeProxyArgs, _add_kube_proxy),
}

