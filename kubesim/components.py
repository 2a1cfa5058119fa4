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

from pydantic import BaseModel, Field, field_validator, model_validator

from actors.demo import Pinger, Ponger
from bus.runtime import Runtime
from kubesim.args import NoArgs
from kubesim.dashboard import DashboardArgs, add_dashboard
from kubesim.workers import HollowNodesArgs, NodeArgs, add_hollow_nodes, add_node

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig


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


class LeaderElectionArgs(NoArgs):
    lease_duration_s: float = Field(15.0, gt=0)
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)


class ControllerManagerArgs(LeaderElectionArgs):
    cluster_cidr: str = "10.244.0.0/16"
    """--cluster-cidr: the pod network the node IPAM controller gives each node a block of (kind's default;
    /16 in /24 blocks is 256 nodes: a cluster of thousands of hollow nodes needs a wider one, e.g. 10.128.0.0/9)."""
    node_cidr_mask_size: int = Field(24, ge=8, le=30)
    """--node-cidr-mask-size: each node's block of pod IPs."""

    @model_validator(mode="after")
    def _cidr(self) -> ControllerManagerArgs:
        import ipaddress

        net = ipaddress.ip_network(self.cluster_cidr)
        if not (net.version == 4 and net.prefixlen <= self.node_cidr_mask_size <= net.prefixlen + 16):
            raise ValueError(f"cluster_cidr {net} cannot be split into at most 65536 /{self.node_cidr_mask_size} blocks")
        return self


def _add_controller_manager(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.controllers.manager import ControllerManager, default_controllers

    assert isinstance(args, ControllerManagerArgs)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(ControllerManager(
        f"{process}.controllers", api,
        default_controllers(cluster_cidr=args.cluster_cidr, node_cidr_mask_size=args.node_cidr_mask_size,
                            service_cidr=cfg.apiserver.service_cluster_ip_range),
        identity=process, lease_duration_s=args.lease_duration_s, renew_deadline_s=args.renew_deadline_s,
        retry_period_s=args.retry_period_s))


class CloudControllerManagerArgs(LeaderElectionArgs):
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


def _add_log_collector(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.logcollector.collector import LogCollector
    from kubesim.store import server_keys

    retention = cfg.logging.retention
    rt.add(LogCollector(f"{process}.collector", cfg.logs_dir(), max_bytes=retention.max_bytes,
                        max_age_s=retention.max_age_s,
                        sources={m: (cfg.store.host, port) for m, port in cfg.store.members.items()},
                        source_keys=server_keys(cfg) or {}))


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
    "node": Component(False, NodeArgs, add_node),
    # Many worker machines in one process, each acting as its own node (kubemark's hollow nodes): for scale.
    "hollow-nodes": Component(False, HollowNodesArgs, add_hollow_nodes),
    "demo-pong": Component(False, PongArgs, lambda rt, a, cfg, process: rt.add(Ponger(a.name))),
    "demo-ping": Component(False, PingArgs, lambda rt, a, cfg, process: rt.add(
        Pinger(a.name, target=a.target, interval_s=a.interval_s))),
    # A member of the replicated store (etcd); its peers and settings come from the `store` section.
    "store": Component(False, NoArgs, _add_store_member, standalone=True),
    # The logging add-on (Fluentd/Loki's part): every process ships its lines here; `kubesim logs` queries it.
    "log-collector": Component(False, NoArgs, _add_log_collector),
    # The web dashboard on 127.0.0.1: the cluster drawn live, its objects, chaos buttons, messages, traces, logs.
    "dashboard": Component(False, DashboardArgs, add_dashboard),
    # kube-proxy alone, for one node (a node process will host its own); runs as system:kube-proxy.
    "kube-proxy": Component(False, KubeProxyArgs, _add_kube_proxy),
}

