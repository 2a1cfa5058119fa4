"""The worker-machine components: one node per process, or thousands of hollow ones in one.

A ``node`` process is one machine: its kubelet, container runtime and
kube-proxy, and its bus identity is the Node's name, so the API server
authenticates its kubelet as ``system:node:<name>`` straight away.

A ``hollow-nodes`` process is Kubernetes' kubemark idea: many complete
nodes — a kubelet, a runtime and a kube-proxy each, the very same actors — in
one process, so a laptop can hold a cluster of thousands of machines.
What a hollow node saves is the process, not the behaviour:

- its kubelet talks to the API server through an API client of its own that
  *impersonates* the node (``system:node:<name>`` in ``system:nodes``), so
  RBAC and node restriction judge each hollow kubelet exactly as they judge a
  real one; the process's own identity is only allowed to impersonate;
- the kube-proxies share one Services and one EndpointSlices informer (the
  process's, as ``system:node-proxier``) instead of opening two watches each:
  the rule tables are still computed per node;
- all the kubelets, runtimes and proxies of the process add to one set of
  metrics, as one machine's components would.

``kubesim run nodes --count N`` starts such a process (see :func:`hollow_process`);
with ``--server HOST:PORT`` and CURVE on it joins a cluster on another host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from bus.runtime import Actor, Runtime
from kubesim.args import NoArgs

if TYPE_CHECKING:
    from actors.apiserver.client import Informer
    from kubesim.config import ClusterConfig

HOLLOW_NODES_PROCESS = "nodes"
"""The process `kubesim run nodes` runs when the cluster file declares none by that name."""


class MachineArgs(NoArgs):
    """What every worker machine is given, alone or hollow."""

    capacity: dict[str, str] = Field(default_factory=lambda: {
        "cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"})
    labels: dict[str, str] = Field(default_factory=dict)
    """``--node-labels``."""
    taints: list[dict[str, str]] = Field(default_factory=list)
    """``--register-with-taints``: ``[{key, value, effect}]``."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network, for kube-proxy's masquerade rules."""
    proxy_min_sync_s: float = Field(1.0, ge=0, le=3600)
    image_pull_bytes_per_s: float = Field(50e6, gt=0)
    """The node's link to the image registry."""


class NodeArgs(MachineArgs):
    """One worker machine: its kubelet, container runtime and kube-proxy in one process (the Node's name is the
    process's, so its bus identity authenticates it as ``system:node:<name>``)."""

    zone: str = Field("", max_length=63)
    """``topology.kubernetes.io/zone``."""
    internal_ip: str = ""
    """The node's address (InternalIP, where its NodePorts listen); "" derives 172.18.0.N from the name."""
    cloud_provider_external: bool = True
    """Register with the uninitialized taint for the cloud controller manager to lift."""

    @field_validator("internal_ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        if value:
            ipaddress.ip_address(value)
        return value


class HollowNodesArgs(MachineArgs):
    """Many worker machines in one process, named ``<prefix><first>`` … ``<prefix><first + count - 1>``."""

    count: int = Field(1, ge=0, le=100_000)
    prefix: str = Field("hollow-node-", min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*)?$")
    first: int = Field(1, ge=0)
    zones: list[str] = Field(default_factory=lambda: ["zone-a", "zone-b", "zone-c"])
    """Node i is in ``zones[i % len(zones)]``; empty: no zone label."""
    node_cidr: str = "172.19.0.0/16"
    """Where the nodes' InternalIPs come from: node i gets the network's address i + 1."""
    cloud_provider_external: bool = False
    """Hollow nodes are no cloud's instances (as kubemark's): they register without the uninitialized taint."""
    record_events: bool = True
    """The kubelets' Events (Pulling, Created, Started, ...); a scale test may turn them off, as KWOK has none."""

    @field_validator("node_cidr", "cluster_cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        if value:
            ipaddress.ip_network(value)
        return value

    @model_validator(mode="after")
    def _fits(self) -> HollowNodesArgs:
        net = ipaddress.ip_network(self.node_cidr)
        if self.first + self.count + 1 >= net.num_addresses:
            raise ValueError(f"node_cidr {net} has too few addresses for nodes {self.first}..{self.first + self.count - 1}")
        return self

    def names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(self.first, self.first + self.count)]


def default_node_ip(name: str) -> str:
    """172.18.0.N for a node named ``...-N`` (kind's network; .1 is the gateway), else from a hash of the name."""
    import zlib

    tail = name.rsplit("-", 1)[-1]
    number = int(tail) + 1 if tail.isdigit() and int(tail) < 250 else 2 + zlib.crc32(name.encode()) % 250
    return f"172.18.0.{number}"


def api_server_identities(cfg: ClusterConfig) -> tuple[str, ...]:
    """The processes that run the API server: the only ones a kubelet answers log requests from."""
    return tuple(name for name, p in cfg.processes.items() if p.component == "apiserver") or ("apiserver",)


def _node_config(cfg: ClusterConfig, name: str, ip: str, zone: str, args: NodeArgs | HollowNodesArgs):
    from actors.kubelet.node import NodeConfig

    return NodeConfig(name, ip, zone=zone, capacity=dict(args.capacity), labels=dict(args.labels),
                      taints=tuple(dict(t) for t in args.taints), cloud_provider_external=args.cloud_provider_external,
                      machine_id=hashlib.sha256(f"{cfg.cluster.name}/{name}".encode()).hexdigest()[:32],
                      boot_id=os.urandom(16).hex())


def add_node(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient
    from actors.kubelet.kubelet import ADMIN_IDENTITIES, Kubelet, KubeletMetrics
    from actors.proxy.proxy import Proxy
    from actors.runtime.server import RuntimeServer

    assert isinstance(args, NodeArgs)
    ip = args.internal_ip or default_node_ip(process)
    node = _node_config(cfg, process, ip, args.zone, args)
    api = rt.add(ApiClient(f"{process}.api"))
    rt.add(RuntimeServer(process, bandwidth_bytes_per_s=args.image_pull_bytes_per_s))
    rt.add(Kubelet(node, api, metrics=KubeletMetrics(), api_server_identities=api_server_identities(cfg),
                   admin_identities=(*ADMIN_IDENTITIES, *cfg.security.fault_admins)))  # kubelet.Restart
    rt.add(Proxy(process, api, node_ips=(ip,), cluster_cidr=args.cluster_cidr or None,
                 min_sync_s=args.proxy_min_sync_s))


def add_hollow_nodes(rt: Runtime, args: BaseModel, cfg: ClusterConfig, process: str) -> None:
    from actors.apiserver.client import ApiClient, Informer
    from actors.kubelet.kubelet import ADMIN_IDENTITIES, Kubelet, KubeletMetrics
    from actors.proxy.proxy import Proxy, ProxyMetrics
    from actors.runtime.server import RuntimeMetrics, RuntimeServer

    assert isinstance(args, HollowNodesArgs)
    shared_api = rt.add(ApiClient(f"{process}.api"))
    proxies: list[Proxy] = []

    def changed(*_: object) -> None:
        for proxy in proxies:
            proxy.changed()

    informers = {r: Informer(shared_api, r, on_add=changed, on_update=changed, on_delete=changed)
                 for r in ("services", "endpointslices")}
    rt.add(_InformerStarter(f"{process}.informers", list(informers.values())))
    kubelet_metrics, runtime_metrics, proxy_metrics = KubeletMetrics(), RuntimeMetrics(), ProxyMetrics()
    net = ipaddress.ip_network(args.node_cidr)
    admins = (*ADMIN_IDENTITIES, *cfg.security.fault_admins)
    identities = api_server_identities(cfg)
    for i, name in zip(range(args.first, args.first + args.count), args.names()):
        ip = str(net.network_address + i + 1)
        zone = args.zones[i % len(args.zones)] if args.zones else ""
        node = _node_config(cfg, name, ip, zone, args)
        api = rt.add(ApiClient(f"{name}.api", impersonate={"user": f"system:node:{name}", "groups": ["system:nodes"]}))
        rt.add(RuntimeServer(name, bandwidth_bytes_per_s=args.image_pull_bytes_per_s, metrics=runtime_metrics))
        rt.add(Kubelet(node, api, metrics=kubelet_metrics, record_events=args.record_events,
                       api_server_identities=identities, admin_identities=admins))
        proxies.append(rt.add(Proxy(name, None, node_ips=(ip,), cluster_cidr=args.cluster_cidr or None,
                                    min_sync_s=args.proxy_min_sync_s, metrics=proxy_metrics, informers=informers)))


class _InformerStarter(Actor):
    """Starts the process's shared informers once the runtime runs (their client must have started first)."""

    def __init__(self, name: str, informers: list[Informer]) -> None:
        super().__init__(name)
        self.informers = informers

    def on_start(self) -> None:
        for informer in self.informers:
            informer.start()


def hollow_process(cfg: ClusterConfig, name: str, overrides: dict[str, Any], server: str | None) -> ClusterConfig:
    """The cluster config with hollow-nodes process ``name``: the file's own, or a new one if the file has none,
    with ``overrides`` (count, prefix, first, ...) applied to its args, and the broker at ``server``
    (``HOST:PORT``) if given. Validated again, so a bad flag is refused as a bad config line would be."""
    from kubesim.config import ConfigError, parse

    data = cfg.model_dump(mode="json")
    proc: dict[str, Any] = data["processes"].get(name) or {"component": "hollow-nodes", "metrics_port": 0, "args": {}}
    if proc["component"] != "hollow-nodes":
        raise ConfigError(f"process {name!r} runs component {proc['component']!r}, not hollow-nodes")
    proc["args"] = {**proc.get("args", {}), **{k: v for k, v in overrides.items() if v is not None}}
    data["processes"][name] = proc
    if server:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"--server {server!r}: expected HOST:PORT, e.g. 10.0.0.1:5555")
        data["bus"].update(host=host.strip("[]"), port=int(port))
    return parse(data, f"--config with process {name!r}")

