"""kube-proxy's iptables mode as a pure value: Services and EndpointSlices in, the node's rule table out.

kube-proxy (``pkg/proxy/iptables/proxier.go``) turns the Services and
EndpointSlices it watches into NAT rules: a packet to a service address jumps
from ``KUBE-SERVICES`` (or ``KUBE-NODEPORTS``) to the service port's
``KUBE-SVC-…`` chain, whose ``statistic --mode random`` rules of probability
1/n, 1/(n-1), …, 1 send it to one ``KUBE-SEP-…`` endpoint chain, which DNATs it
to a pod. kubesim keeps that computation and replaces the kernel:

- :func:`build_table` is ``syncProxyRules`` without the I/O: which service
  ports are proxied (the ServiceChangeTracker skips headless and ExternalName
  Services), which endpoints each one has (the EndpointSliceCache merges the
  Service's slices), which of them it uses (``CategorizeEndpoints`` in
  ``pkg/proxy/topology.go``: the ready ones, else the serving-terminating ones,
  and only this node's for a Local traffic policy), and what an address does
  when nothing can serve it (REJECT "has no endpoints", DROP "has no local
  endpoints").
- :func:`render` writes the table as kube-proxy hands it to iptables-restore,
  with Kubernetes' chain names, so ``kubesim proxy rules NODE`` reads like
  ``iptables-save`` on a real node.
- :func:`pick` plays the kernel for one new connection: it follows the chains a
  packet would take, rolls iptables' dice with a passed-in ``random.Random``,
  and keeps ClientIP session affinity in an :class:`AffinityState` value, as
  the ``recent`` match keeps it in the kernel.
- :func:`diff` says what a sync changed, for logs and the ``kubesim_proxy_sync_*``
  metrics.

Not modelled: topology hints (trafficDistribution), loadBalancerSourceRanges
(the KUBE-FW chain), health-check node ports, NodePorts on localhost, conntrack.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

Obj = dict[str, Any]

#: The label tying an EndpointSlice to its Service (discovery.k8s.io/v1).
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: v1.DefaultClientIPServiceAffinitySeconds: what the API server defaults timeoutSeconds to.
DEFAULT_AFFINITY_TIMEOUT_S = 10800
#: xt_recent's ip_list_tot default: a recent list forgets its oldest address beyond this.
RECENT_LIST_MAX = 100
#: kube-proxy's --iptables-masquerade-bit 14.
MASQUERADE_MARK = "0x4000"

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"

# What happened to a packet (Verdict.action).
DNAT = "DNAT"
"""Sent to an endpoint."""
REJECT = "REJECT"
"""Refused at once: the service has no endpoints anywhere (the client sees "connection refused")."""
DROP = "DROP"
"""Silently dropped: a Local traffic policy and no endpoint on this node (the client times out)."""
NO_RULE = "NO_RULE"
"""No rule matched: the address is not a service address, and the packet goes on unchanged."""

# How a packet reached the service (the comments kube-proxy writes on the matching rules).
CLUSTER_IP = "cluster IP"
EXTERNAL_IP = "external IP"
LOAD_BALANCER_IP = "loadbalancer IP"
NODE_PORT = "nodeport"


# --- chain names ------------------------------------------------------------------------------

def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """portProtoHash: the first 16 characters of base32(sha256(name + protocol)), protocol in lower case.

    The hash keeps chain names under iptables' 28 characters; being a hash of
    the name, a chain keeps its name across restarts and nodes.
    """
    digest = hashlib.sha256((service_port_name + protocol.lower()).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_chain_name(service_port_name: str, protocol: str) -> str:
    """servicePortPolicyClusterChain: ``KUBE-SVC-…``, the chain over the endpoints of the Cluster traffic policy."""
    return "KUBE-SVC-" + port_proto_hash(service_port_name, protocol)


def local_chain_name(service_port_name: str, protocol: str) -> str:
    """servicePortPolicyLocalChainName: ``KUBE-SVL-…``, over this node's endpoints, for a Local policy."""
    return "KUBE-SVL-" + port_proto_hash(service_port_name, protocol)


def external_chain_name(service_port_name: str, protocol: str) -> str:
    """serviceExternalChainName: ``KUBE-EXT-…``, where NodePort, external and load-balancer traffic enters."""
    return "KUBE-EXT-" + port_proto_hash(service_port_name, protocol)


def endpoint_chain_name(service_port_name: str, protocol: str, endpoint: str) -> str:
    """servicePortEndpointChainName: ``KUBE-SEP-…`` for one endpoint (``ip:port``) of one service port."""
    digest = hashlib.sha256((service_port_name + protocol.lower() + endpoint).encode()).digest()
    return "KUBE-SEP-" + base64.b32encode(digest).decode()[:16]


# --- the table --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Endpoint:
    """One backend of one service port, as the EndpointSliceCache keeps it (endpointInfo)."""

    ip: str
    port: int
    node: str
    """The slice's ``nodeName``; "" when it has none."""
    pod: str
    """The name of the pod in ``targetRef`` (in the Service's namespace); "" when it is not a pod."""
    ready: bool
    serving: bool
    terminating: bool
    local: bool
    """It runs on this node (what the Local traffic policies keep)."""
    chain: str
    """Its ``KUBE-SEP-…`` chain."""

    @property
    def address(self) -> str:
        """``ip:port`` as net.JoinHostPort writes it (and as the chain name hashes it)."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one proxied Service, with the endpoints each of its traffic policies uses (servicePortInfo)."""

    namespace: str
    service: str
    port_name: str
    protocol: str
    """"TCP", "UDP" or "SCTP"."""
    cluster_ip: str
    port: int
    node_port: int
    """0 when the port has none."""
    external_ips: tuple[str, ...]
    load_balancer_ips: tuple[str, ...]
    """The VIP-mode ingress IPs in the Service's status (an ingress with ipMode Proxy is the LB's business)."""
    affinity_timeout_s: int
    """ClientIP affinity's timeoutSeconds; 0 when sessionAffinity is None."""
    internal_local: bool
    """internalTrafficPolicy Local: cluster-IP traffic goes only to this node's endpoints."""
    external_local: bool
    """externalTrafficPolicy Local (on a Service reachable from outside): the same for NodePort, LB and external IPs."""
    endpoints: tuple[Endpoint, ...]
    """Every endpoint the slices list for this port, usable or not, by address."""
    cluster_endpoints: tuple[Endpoint, ...]
    """What ``KUBE-SVC-…`` balances over: ready endpoints, else serving-terminating ones."""
    local_endpoints: tuple[Endpoint, ...]
    """What ``KUBE-SVL-…`` balances over: this node's ready endpoints, else its serving-terminating ones."""
    has_endpoints: bool
    """Some endpoint anywhere can serve; when not, every address of the port REJECTs."""
    chain_hash: str
    """:func:`port_proto_hash` of the port, shared by its SVC, SVL and EXT chains."""

    @property
    def name(self) -> str:
        """ServicePortName.String(): ``namespace/service`` and ``:port`` when the port is named."""
        base = f"{self.namespace}/{self.service}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.service, self.port_name, self.protocol)

    @property
    def svc_chain(self) -> str:
        return "KUBE-SVC-" + self.chain_hash

    @property
    def svl_chain(self) -> str:
        return "KUBE-SVL-" + self.chain_hash

    @property
    def ext_chain(self) -> str:
        return "KUBE-EXT-" + self.chain_hash

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.load_balancer_ips or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # Even with externalTrafficPolicy Local, traffic from this node or its pods short-circuits to the SVC chain.
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or (self.external_local and self.externally_accessible)

    @property
    def has_internal_endpoints(self) -> bool:
        return self.has_endpoints and (not self.internal_local or bool(self.local_endpoints))

    @property
    def has_external_endpoints(self) -> bool:
        return self.has_endpoints and (not self.external_local or bool(self.local_endpoints))

    @property
    def internal_chain(self) -> str:
        return self.svl_chain if self.internal_local else self.svc_chain

    @property
    def internal_endpoints(self) -> tuple[Endpoint, ...]:
        return self.local_endpoints if self.internal_local else self.cluster_endpoints

    @property
    def reachable_endpoints(self) -> tuple[Endpoint, ...]:
        """allReachableEndpoints: the endpoints that get a ``KUBE-SEP-…`` chain on this node."""
        if not self.uses_local_endpoints:
            return self.cluster_endpoints
        if not self.uses_cluster_endpoints:
            return self.local_endpoints
        merged = {e.address: e for e in self.cluster_endpoints}
        merged.update((e.address, e) for e in self.local_endpoints)
        return tuple(sorted(merged.values(), key=lambda e: e.address))


@dataclass(frozen=True, slots=True)
class RuleTable:
    """Everything kube-proxy programs on one node: a value, rebuilt by :func:`build_table` on every sync."""

    node_name: str
    node_ips: tuple[str, ...]
    """Where NodePorts listen (kube-proxy's --nodeport-addresses set to the node's primary IPs)."""
    cluster_cidr: str | None
    """The pod network, when known: pod traffic masquerades off-cluster and short-circuits a Local policy."""
    services: tuple[ServicePort, ...]
    """Sorted by namespace, name, port name and protocol: the order the rules are written in."""
    _nat: Mapping[tuple[str, int, str], tuple[int, str]] = field(
        init=False, repr=False, compare=False, hash=False)
    """(ip, port, protocol) -> (index into services, how it was reached), for the first NAT rule matching it."""
    _filter: Mapping[tuple[str, int, str], tuple[int, str]] = field(
        init=False, repr=False, compare=False, hash=False)
    """The same for the filter table's REJECT and DROP rules, which see what no NAT rule rewrote."""

    def __post_init__(self) -> None:
        nat: dict[tuple[str, int, str], tuple[int, str]] = {}
        filt: dict[tuple[str, int, str], tuple[int, str]] = {}
        # setdefault keeps the first rule for an address, as iptables stops at the first match.
        for i, sp in enumerate(self.services):
            key = (sp.cluster_ip, sp.port, sp.protocol)
            (nat if sp.has_internal_endpoints else filt).setdefault(key, (i, CLUSTER_IP))
            for kind, ips in ((EXTERNAL_IP, sp.external_ips), (LOAD_BALANCER_IP, sp.load_balancer_ips)):
                for ip in ips:
                    if sp.has_endpoints:
                        nat.setdefault((ip, sp.port, sp.protocol), (i, kind))
                    if not sp.has_external_endpoints:
                        filt.setdefault((ip, sp.port, sp.protocol), (i, kind))
        # KUBE-NODEPORTS is the last rule of KUBE-SERVICES: every other service address matches first.
        for i, sp in enumerate(self.services):
            for ip in self.node_ips if sp.node_port else ():
                if sp.has_endpoints:
                    nat.setdefault((ip, sp.node_port, sp.protocol), (i, NODE_PORT))
                if not sp.has_external_endpoints:
                    filt.setdefault((ip, sp.node_port, sp.protocol), (i, NODE_PORT))
        object.__setattr__(self, "_nat", MappingProxyType(nat))
        object.__setattr__(self, "_filter", MappingProxyType(filt))

    def service_port(self, name: str, protocol: str = "TCP") -> ServicePort | None:
        """The service port named ``namespace/service[:port]``, if the table proxies it."""
        return next((sp for sp in self.services if sp.name == name and sp.protocol == protocol.upper()), None)


def _ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text or "").strip())
    except ValueError:
        return None


def _canonical(text: Any, version: int) -> str | None:
    ip = _ip(text)
    return str(ip) if ip is not None and ip.version == version else None


def _cluster_ip(spec: Mapping[str, Any], version: int) -> str | None:
    """GetClusterIPByFamily: the cluster IP of this family, or None (headless, or not allocated yet)."""
    if spec.get("clusterIP") in (None, "", "None"):
        return None
    for text in list(spec.get("clusterIPs") or []) or [spec.get("clusterIP")]:
        ip = _canonical(text, version)
        if ip is not None:
            return ip
    return None


@dataclass(frozen=True, slots=True)
class _RawEndpoint:
    ip: str
    port: int
    node: str
    pod: str
    ready: bool
    serving: bool
    terminating: bool


def _slice_endpoints(slices: Iterable[Obj], version: int) -> dict[tuple[str, str], dict[str, _RawEndpoint]]:
    """endpointInfoByServicePort: (port name, protocol) -> ``ip:port`` -> endpoint, over all of a Service's slices."""
    out: dict[tuple[str, str], dict[str, _RawEndpoint]] = {}
    for slice_ in sorted(slices, key=lambda s: str((s.get("metadata") or {}).get("name") or "")):
        for port in slice_.get("ports") or []:
            number = port.get("port")
            if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
                continue  # a port with no number means "all ports", which kube-proxy does not handle either
            group = out.setdefault((port.get("name") or "", (port.get("protocol") or "TCP").upper()), {})
            for ep in slice_.get("endpoints") or []:
                ip = _canonical((ep.get("addresses") or [None])[0], version)
                if ip is None:
                    continue
                cond = ep.get("conditions") or {}
                ref = ep.get("targetRef") or {}
                raw = _RawEndpoint(
                    ip=ip, port=number, node=str(ep.get("nodeName") or ""),
                    pod=str(ref.get("name") or "") if ref.get("kind", "Pod") == "Pod" else "",
                    # An unset condition means "unknown", which the API documents as ready/serving.
                    ready=cond.get("ready") is not False, serving=cond.get("serving") is not False,
                    terminating=cond.get("terminating") is True)
                address = f"[{ip}]:{number}" if version == 6 else f"{ip}:{number}"
                # A pod's IP can be reused before the old pod is gone: the running pod wins over the terminating one.
                if address not in group or not raw.terminating:
                    group[address] = raw
    return out


def _categorize(endpoints: tuple[Endpoint, ...], uses_cluster: bool, uses_local: bool,
                ) -> tuple[tuple[Endpoint, ...], tuple[Endpoint, ...], bool]:
    """CategorizeEndpoints (no topology): cluster endpoints, local endpoints, and whether any can serve."""
    cluster: tuple[Endpoint, ...] = ()
    if uses_cluster:
        # Terminating endpoints still serving take over only when nothing is ready (ProxyTerminatingEndpoints),
        # so a rolling update with a slow readiness probe does not drop connections.
        cluster = (tuple(e for e in endpoints if e.ready)
                   or tuple(e for e in endpoints if e.serving and e.terminating))
    local: tuple[Endpoint, ...] = ()
    if uses_local:
        local = (tuple(e for e in endpoints if e.local and e.ready)
                 or tuple(e for e in endpoints if e.local and e.serving and e.terminating))
    has_any = bool(cluster) or any(e.ready or (e.serving and e.terminating) for e in endpoints)
    return cluster, local, has_any


def _service_ports(service: Obj, endpoints: Mapping[tuple[str, str], Mapping[str, _RawEndpoint]],
                   node_name: str, version: int) -> list[ServicePort]:
    spec = service.get("spec") or {}
    meta = service.get("metadata") or {}
    kind = spec.get("type") or "ClusterIP"
    cluster_ip = _cluster_ip(spec, version)
    if kind == "ExternalName" or cluster_ip is None:
        return []  # ShouldSkipService: DNS answers for these, kube-proxy has nothing to do
    external_ips = tuple(ip for ip in (_canonical(t, version) for t in spec.get("externalIPs") or []) if ip)
    lb_ips = tuple(ip for ip in (
        _canonical(ing.get("ip"), version)
        for ing in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if ing.get("ipMode") in (None, "VIP")) if ip)
    reachable_from_outside = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and bool(external_ips))
    external_local = reachable_from_outside and spec.get("externalTrafficPolicy") == "Local"
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    affinity_timeout_s = 0
    if spec.get("sessionAffinity") == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity_timeout_s = int(client_ip.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT_S)
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    out = []
    for port in spec.get("ports") or []:
        port_name = str(port.get("name") or "")
        protocol = str(port.get("protocol") or "TCP").upper()
        spn = f"{namespace}/{name}:{port_name}" if port_name else f"{namespace}/{name}"
        raw = endpoints.get((port_name, protocol), {})
        eps = tuple(
            Endpoint(ip=r.ip, port=r.port, node=r.node, pod=r.pod, ready=r.ready, serving=r.serving,
                     terminating=r.terminating, local=bool(node_name) and r.node == node_name,
                     chain=endpoint_chain_name(spn, protocol, address))
            for address, r in sorted(raw.items()))  # byEndpoint: sorted by ip:port, so rules do not churn
        node_port = int(port.get("nodePort") or 0)
        accessible = bool(node_port or lb_ips or external_ips)
        uses_cluster = not internal_local or accessible
        uses_local = internal_local or (external_local and accessible)
        cluster, local, has_any = _categorize(eps, uses_cluster, uses_local)
        out.append(ServicePort(
            namespace=namespace, service=name, port_name=port_name, protocol=protocol, cluster_ip=cluster_ip,
            port=int(port.get("port") or 0), node_port=node_port, external_ips=external_ips,
            load_balancer_ips=lb_ips, affinity_timeout_s=affinity_timeout_s, internal_local=internal_local,
            external_local=external_local, endpoints=eps, cluster_endpoints=cluster, local_endpoints=local,
            has_endpoints=has_any, chain_hash=port_proto_hash(spn, protocol)))
    return out


def build_table(services: Iterable[Obj], slices: Iterable[Obj], *, node_name: str, node_ips: Iterable[str] = (),
                cluster_cidr: str | None = None, ip_family: str = "IPv4") -> RuleTable:
    """The rule table of node ``node_name`` for these Services and EndpointSlices (one IP family, as kube-proxy
    runs one proxier per family)."""
    version = 6 if ip_family == "IPv6" else 4
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner and slice_.get("addressType", "IPv4") == ip_family:
            by_service.setdefault((str(meta.get("namespace") or ""), str(owner)), []).append(slice_)
    ports: list[ServicePort] = []
    for service in services:
        meta = service.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        ports.extend(_service_ports(service, _slice_endpoints(by_service.get(key, ()), version), node_name, version))
    ports.sort(key=lambda sp: sp.key)
    return RuleTable(node_name=node_name,
                     node_ips=tuple(ip for ip in (_canonical(t, version) for t in node_ips) if ip),
                     cluster_cidr=cluster_cidr, services=tuple(ports))


# --- session affinity and the choice of an endpoint --------------------------------------------

@dataclass(frozen=True, slots=True)
class AffinityState:
    """ClientIP affinity as the kernel's ``recent`` lists hold it: per KUBE-SEP chain, client IP -> last seen.

    Each connection through an endpoint chain of a service with affinity
    records (``--set``) its client; the service chain first checks
    (``--rcheck --seconds T --reap``) whether the client went through one of its
    endpoints less than T seconds ago. A value: every change returns a new state.
    """

    lists: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def last_seen_s(self, chain: str, client_ip: str) -> float | None:
        return (self.lists.get(chain) or {}).get(client_ip)

    def matches(self, chain: str, client_ip: str, now: float, timeout_s: float) -> bool:
        """--rcheck --seconds: the client was recorded on ``chain`` less than ``timeout_s`` ago."""
        seen = self.last_seen_s(chain, client_ip)
        return seen is not None and now - seen < timeout_s

    def reap(self, chain: str, now: float, timeout_s: float) -> AffinityState:
        """--reap: forget the clients of ``chain`` not seen for ``timeout_s``."""
        entries = self.lists.get(chain)
        if not entries or all(now - t < timeout_s for t in entries.values()):
            return self
        kept = {ip: t for ip, t in entries.items() if now - t < timeout_s}
        return self._with_list(chain, kept)

    def record(self, chain: str, client_ip: str, now: float) -> AffinityState:
        """--set: remember ``client_ip`` on ``chain`` at ``now``, forgetting the oldest beyond RECENT_LIST_MAX."""
        entries = dict(self.lists.get(chain) or {})
        entries.pop(client_ip, None)
        entries[client_ip] = now
        while len(entries) > RECENT_LIST_MAX:
            del entries[min(entries, key=entries.__getitem__)]
        return self._with_list(chain, entries)

    def retain(self, table: RuleTable, now: float) -> AffinityState:
        """Drop what ``table`` no longer uses: lists of chains it has not, entries past their service's timeout."""
        timeouts = {ep.chain: sp.affinity_timeout_s for sp in table.services if sp.affinity_timeout_s
                    for ep in sp.reachable_endpoints}
        lists = {}
        for chain, entries in self.lists.items():
            timeout_s = timeouts.get(chain)
            kept = {ip: t for ip, t in entries.items() if timeout_s and now - t < timeout_s}
            if kept:
                lists[chain] = MappingProxyType(kept)
        return AffinityState(MappingProxyType(lists))

    def _with_list(self, chain: str, entries: Mapping[str, float]) -> AffinityState:
        lists = dict(self.lists)
        if entries:
            lists[chain] = MappingProxyType(dict(entries))
        else:
            lists.pop(chain, None)
        return AffinityState(MappingProxyType(lists))

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.lists.values())


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rules did with one new connection."""

    action: str
    """DNAT, REJECT, DROP or NO_RULE."""
    reason: str
    """Why, in kube-proxy's words ("demo/web:http has no endpoints") or kubesim's."""
    service: str
    """The service port's name; "" for NO_RULE."""
    endpoint: Endpoint | None
    """The endpoint chosen, for DNAT."""
    chains: tuple[str, ...]
    """The chains the packet went through, in order, ending with the endpoint's or the filtering one."""
    affinity: AffinityState
    """The affinity state after this connection (the one passed in, updated): pass it to the next pick."""

    @property
    def ok(self) -> bool:
        return self.action == DNAT

    @property
    def ip(self) -> str | None:
        return self.endpoint.ip if self.endpoint else None

    @property
    def port(self) -> int | None:
        return self.endpoint.port if self.endpoint else None

    @property
    def pod(self) -> str | None:
        return self.endpoint.pod if self.endpoint else None

    @property
    def node(self) -> str | None:
        return self.endpoint.node if self.endpoint else None


def _from_inside(table: RuleTable, client_ip: str) -> bool:
    """The EXT chain's short-circuit: this node itself (src-type LOCAL) or a pod (the cluster CIDR)."""
    if client_ip in table.node_ips:
        return True
    if table.cluster_cidr is None:
        return False
    ip = _ip(client_ip)
    try:
        return ip is not None and ip in ipaddress.ip_network(table.cluster_cidr, strict=False)
    except (TypeError, ValueError):
        return False


def _choose(sp: ServicePort, endpoints: tuple[Endpoint, ...], client_ip: str, state: AffinityState,
            now: float, rng: random.Random) -> tuple[Endpoint, AffinityState]:
    """writeServiceToEndpointRules, run: the affinity rules, then the probability cascade; then the SEP's --set."""
    assert endpoints, f"{sp.name}: a chain is only jumped to when it has endpoints"
    chosen = None
    if sp.affinity_timeout_s:
        for ep in endpoints:
            state = state.reap(ep.chain, now, sp.affinity_timeout_s)
            if state.matches(ep.chain, client_ip, now, sp.affinity_timeout_s):
                chosen = ep
                break
    if chosen is None:
        n = len(endpoints)
        for i, ep in enumerate(endpoints):
            # Rule i matches with probability 1/(n-i) of what reached it, so each endpoint gets 1/n overall.
            if i == n - 1 or rng.random() < 1.0 / (n - i):
                chosen = ep
                break
    assert chosen is not None
    if sp.affinity_timeout_s:
        state = state.record(chosen.chain, client_ip, now)
    return chosen, state


def pick(table: RuleTable, dst_ip: str, dst_port: int, protocol: str, client_ip: str,
         affinity: AffinityState, now: float, rng: random.Random) -> Verdict:
    """Where a new connection from ``client_ip`` to ``dst_ip:dst_port/protocol`` goes on this node.

    ``now`` (seconds, any epoch) times the affinity entries; ``rng`` rolls the
    ``statistic`` matches. The returned verdict carries the new affinity state.
    """
    proto = protocol.upper()
    dst = _ip(dst_ip)
    key = (str(dst) if dst is not None else str(dst_ip), int(dst_port), proto)
    chains: list[str] = [KUBE_SERVICES]
    hit = table._nat.get(key)
    if hit is not None:
        sp = table.services[hit[0]]
        if hit[1] == NODE_PORT:
            chains.append(KUBE_NODEPORTS)
        target: tuple[str, tuple[Endpoint, ...]] | None
        if hit[1] == CLUSTER_IP:
            target = (sp.internal_chain, sp.internal_endpoints)
        else:
            chains.append(sp.ext_chain)
            if not sp.external_local or _from_inside(table, client_ip):
                target = (sp.svc_chain, sp.cluster_endpoints)
            elif sp.local_endpoints:
                target = (sp.svl_chain, sp.local_endpoints)
            else:
                target = None  # falls off the EXT chain; the filter table drops it below
        if target is not None:
            chains.append(target[0])
            endpoint, affinity = _choose(sp, target[1], client_ip, affinity, now, rng)
            chains.append(endpoint.chain)
            return Verdict(DNAT, f"{sp.name} -> {endpoint.address}", sp.name, endpoint, tuple(chains), affinity)
    hit = table._filter.get(key)
    if hit is not None:
        sp = table.services[hit[0]]
        chains.append(KUBE_SERVICES if hit[1] == CLUSTER_IP else KUBE_EXTERNAL_SERVICES)
        if not sp.has_endpoints:
            return Verdict(REJECT, f"{sp.name} has no endpoints", sp.name, None, tuple(chains), affinity)
        return Verdict(DROP, f"{sp.name} has no local endpoints", sp.name, None, tuple(chains), affinity)
    return Verdict(NO_RULE, f"no service at {key[0]}:{key[1]}/{proto}", "", None, tuple(chains), affinity)


# --- rendering --------------------------------------------------------------------------------

class _Chains:
    """One iptables table being written: its chains in order of creation, each with its rules."""

    def __init__(self, name: str, chains: Iterable[str]) -> None:
        self.name = name
        self.rules: dict[str, list[str]] = {chain: [] for chain in chains}

    def chain(self, chain: str) -> None:
        self.rules.setdefault(chain, [])

    def add(self, chain: str, rule: str) -> None:
        self.rules[chain].append(f"-A {chain} {rule}")

    def count(self) -> int:
        return sum(len(rules) for rules in self.rules.values())

    def lines(self) -> list[str]:
        # iptables-save order: the chain declarations, then each chain's rules in turn.
        return ([f"*{self.name}"] + [f":{chain} - [0:0]" for chain in self.rules]
                + [rule for rules in self.rules.values() for rule in rules] + ["COMMIT"])


def _probability(n: int) -> str:
    """computeProbability: what kube-proxy writes for a rule that must match 1 in n of what reaches it."""
    return f"{1.0 / n:0.10f}"


def _write_service_port(sp: ServicePort, table: RuleTable, filt: _Chains, nat: _Chains) -> None:
    """The body of syncProxyRules' loop, for one service port (no firewall chain, no health-check port)."""
    proto = sp.protocol.lower()
    match = f"-m {proto} -p {proto}"
    name = sp.name
    no_endpoints = f'"{name} has no endpoints"'
    no_local = f'"{name} has no local endpoints"'
    # Where nothing can serve: REJECT when no endpoint exists anywhere, DROP when only a Local policy is in the way.
    target, comment = (REJECT, no_endpoints) if not sp.has_endpoints else (DROP, no_local)
    uses_ext = sp.has_endpoints and sp.externally_accessible
    uses_svc = bool(sp.cluster_endpoints) and sp.uses_cluster_endpoints
    uses_svl = bool(sp.local_endpoints) and sp.uses_local_endpoints

    if sp.has_internal_endpoints:
        nat.add(KUBE_SERVICES, f'-m comment --comment "{name} cluster IP" {match} -d {sp.cluster_ip} '
                               f'--dport {sp.port} -j {sp.internal_chain}')
    else:
        filt.add(KUBE_SERVICES, f"-m comment --comment {comment} {match} -d {sp.cluster_ip} "
                                f"--dport {sp.port} -j {target}")
    for ip in sp.external_ips:
        if sp.has_endpoints:
            nat.add(KUBE_SERVICES, f'-m comment --comment "{name} external IP" {match} -d {ip} '
                                   f'--dport {sp.port} -j {sp.ext_chain}')
        if not sp.has_external_endpoints:
                filt.add(KUBE_EXTERNAL_SERVICES, f"-m comment --comment {comment} {match} -d {ip} "
                                             f"--dport {sp.port} -j {target}")
    for ip in sp.load_balancer_ips:
        if sp.has_endpoints:
            nat.add(KUBE_SERVICES, f'-m comment --comment "{name} loadbalancer IP" {match} -d {ip} '
                                   f'--dport {sp.port} -j {sp.ext_chain}')
    if not sp.has_external_endpoints:
        for ip in sp.load_balancer_ips:
            filt.add(KUBE_EXTERNAL_SERVICES, f"-m comment --comment {comment} {match} -d {ip} "
                                             f"--dport {sp.port} -j {target}")
    if sp.node_port:
        if sp.has_endpoints:
            nat.add(KUBE_NODEPORTS, f"-m comment --comment {name} {match} --dport {sp.node_port} -j {sp.ext_chain}")
        if not sp.has_external_endpoints:
                filt.add(KUBE_EXTERNAL_SERVICES, f"-m comment --comment {comment} -m addrtype --dst-type LOCAL "
                                             f"{match} --dport {sp.node_port} -j {target}")

    reachable = sp.reachable_endpoints
    for chain, used in ((sp.ext_chain, uses_ext), (sp.svc_chain, uses_svc), (sp.svl_chain, uses_svl)):
        if used:
            nat.chain(chain)
    for ep in reachable:
        nat.chain(ep.chain)

    if sp.has_internal_endpoints and table.cluster_cidr:
        # Off-cluster clients reaching a cluster IP (a static route to the service range) must be masqueraded.
        nat.add(sp.internal_chain, f'-m comment --comment "{name} cluster IP" {match} -d {sp.cluster_ip} '
                                   f'--dport {sp.port} ! -s {table.cluster_cidr} -j {KUBE_MARK_MASQ}')
    if uses_ext:
        if not sp.external_local:
            nat.add(sp.ext_chain, f'-m comment --comment "masquerade traffic for {name} external destinations" '
                                  f'-j {KUBE_MARK_MASQ}')
        else:
            if table.cluster_cidr:
                nat.add(sp.ext_chain, f'-m comment --comment "pod traffic for {name} external destinations" '
                                      f'-s {table.cluster_cidr} -j {sp.svc_chain}')
            nat.add(sp.ext_chain, f'-m comment --comment "masquerade LOCAL traffic for {name} external destinations" '
                                  f'-m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}')
            nat.add(sp.ext_chain, f'-m comment --comment "route LOCAL traffic for {name} external destinations" '
                                  f'-m addrtype --src-type LOCAL -j {sp.svc_chain}')
        if sp.has_external_endpoints:
            nat.add(sp.ext_chain, f"-j {sp.svl_chain if sp.external_local else sp.svc_chain}")
    if uses_svc:
        _write_balancing(sp, sp.svc_chain, sp.cluster_endpoints, nat)
    if uses_svl:
        _write_balancing(sp, sp.svl_chain, sp.local_endpoints, nat)
    for ep in reachable:
        # The first rule masquerades a pod reaching itself through its own service (hairpin).
        nat.add(ep.chain, f"-m comment --comment {name} -s {ep.ip} -j {KUBE_MARK_MASQ}")
        recent = f" -m recent --name {ep.chain} --set" if sp.affinity_timeout_s else ""
        nat.add(ep.chain, f"-m comment --comment {name}{recent} {match} -j DNAT --to-destination {ep.address}")


def _write_balancing(sp: ServicePort, chain: str, endpoints: tuple[Endpoint, ...], nat: _Chains) -> None:
    """writeServiceToEndpointRules: the affinity checks first, then one rule per endpoint, the last unconditional."""
    if sp.affinity_timeout_s:
        for ep in endpoints:
            nat.add(chain, f'-m comment --comment "{sp.name} -> {ep.address}" -m recent --name {ep.chain} '
                           f"--rcheck --seconds {sp.affinity_timeout_s} --reap -j {ep.chain}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        statistic = f" -m statistic --mode random --probability {_probability(n - i)}" if i < n - 1 else ""
        nat.add(chain, f'-m comment --comment "{sp.name} -> {ep.address}"{statistic} -j {ep.chain}')


def _write(table: RuleTable) -> tuple[_Chains, _Chains]:
    filt = _Chains("filter", (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS,
                              KUBE_PROXY_FIREWALL))
    nat = _Chains("nat", (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ))
    mark = f"{MASQUERADE_MARK}/{MASQUERADE_MARK}"
    nat.add(KUBE_POSTROUTING, f"-m mark ! --mark {mark} -j RETURN")
    nat.add(KUBE_POSTROUTING, f"-j MARK --xor-mark {MASQUERADE_MARK}")
    nat.add(KUBE_POSTROUTING, '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE')
    nat.add(KUBE_MARK_MASQ, f"-j MARK --or-mark {MASQUERADE_MARK}")
    for sp in table.services:
        _write_service_port(sp, table, filt, nat)
    last = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
    if table.node_ips:
        for ip in table.node_ips:
            nat.add(KUBE_SERVICES, f"{last} -d {ip} -j {KUBE_NODEPORTS}")
    else:
        nat.add(KUBE_SERVICES, f"{last} -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}")
    filt.add(KUBE_FORWARD, "-m conntrack --ctstate INVALID -j DROP")
    filt.add(KUBE_FORWARD, f'-m comment --comment "kubernetes forwarding rules" -m mark --mark {mark} -j ACCEPT')
    filt.add(KUBE_FORWARD, '-m comment --comment "kubernetes forwarding conntrack rule" '
                           "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    return filt, nat


def render(table: RuleTable) -> str:
    """The table in iptables-save form: the filter table, then the nat table, services in name order."""
    filt, nat = _write(table)
    header = f"# kube-proxy (iptables mode) rules of node {table.node_name}"
    return "\n".join([header, *filt.lines(), *nat.lines()]) + "\n"


def rule_counts(table: RuleTable) -> dict[str, int]:
    """Rules per iptables table (kube-proxy's sync_proxy_rules_iptables_total{table})."""
    filt, nat = _write(table)
    return {"filter": filt.count(), "nat": nat.count()}


# --- what a sync changed -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TableDiff:
    """What changed between two tables, by service port name (``ns/svc:port``) and endpoint (``name -> ip:port``)."""

    services_added: tuple[str, ...] = ()
    services_removed: tuple[str, ...] = ()
    services_changed: tuple[str, ...] = ()
    """Same port, other settings: addresses, ports, traffic policies, affinity."""
    endpoints_added: tuple[str, ...] = ()
    endpoints_removed: tuple[str, ...] = ()
    endpoints_changed: tuple[str, ...] = ()
    """Same address, other conditions or node."""

    def __bool__(self) -> bool:
        return any((self.services_added, self.services_removed, self.services_changed,
                    self.endpoints_added, self.endpoints_removed, self.endpoints_changed))

    @property
    def service_changes(self) -> int:
        """Service ports added, removed or changed (sync_proxy_rules_service_changes_total counts these)."""
        return len(self.services_added) + len(self.services_removed) + len(self.services_changed)

    @property
    def endpoint_changes(self) -> int:
        """Service ports whose endpoints changed (sync_proxy_rules_endpoint_changes_total)."""
        return len({e.split(" -> ")[0] for e in self.endpoints_added + self.endpoints_removed
                    + self.endpoints_changed})


def _settings(sp: ServicePort) -> tuple:
    return (sp.cluster_ip, sp.port, sp.node_port, sp.external_ips, sp.load_balancer_ips, sp.affinity_timeout_s,
            sp.internal_local, sp.external_local)


def _state(ep: Endpoint) -> tuple:
    return (ep.ready, ep.serving, ep.terminating, ep.node, ep.pod)


def diff(old: RuleTable, new: RuleTable) -> TableDiff:
    """What a sync from ``old`` to ``new`` changes."""
    before = {sp.key: sp for sp in old.services}
    after = {sp.key: sp for sp in new.services}
    names = {**{k: sp.name for k, sp in before.items()}, **{k: sp.name for k, sp in after.items()}}
    ep_added: list[str] = []
    ep_removed: list[str] = []
    ep_changed: list[str] = []
    for key in sorted(set(before) | set(after)):
        old_eps = {e.address: e for e in before[key].endpoints} if key in before else {}
        new_eps = {e.address: e for e in after[key].endpoints} if key in after else {}
        name = names[key]
        ep_added += [f"{name} -> {a}" for a in sorted(new_eps.keys() - old_eps.keys())]
        ep_removed += [f"{name} -> {a}" for a in sorted(old_eps.keys() - new_eps.keys())]
        ep_changed += [f"{name} -> {a}" for a in sorted(old_eps.keys() & new_eps.keys())
                       if _state(old_eps[a]) != _state(new_eps[a])]
    return TableDiff(
        services_added=tuple(names[k] for k in sorted(after.keys() - before.keys())),
        services_removed=tuple(names[k] for k in sorted(before.keys() - after.keys())),
        services_changed=tuple(names[k] for k in sorted(before.keys() & after.keys())
                               if _settings(before[k]) != _settings(after[k])),
        endpoints_added=tuple(ep_added), endpoints_removed=tuple(ep_removed), endpoints_changed=tuple(ep_changed))
