"""kube-proxy as an actor: one node's service rules, kept in step with the cluster, and its packet path.

kube-proxy watches Services and EndpointSlices and re-programs iptables
(``syncProxyRules``) when they change, at most once every ``minSyncPeriod``
(1 s by default; ``BoundedFrequencyRunner``), so a rollout that touches a
hundred slices costs a few syncs, not a hundred. This actor does the same with
the pure core :mod:`actors.proxy.rules`: informers in, a :class:`RuleTable`
value out, rebuilt by :func:`build_table`, and what changed logged
(:func:`diff`). The first sync runs as soon as both informers have listed.

What the kernel does with a packet, the actor does with a ``proxy.Connect``:
:func:`pick` follows the rules with the actor's seeded ``random.Random`` and
its :class:`AffinityState` (the ``recent`` lists), and when they DNAT the
connection to a pod, the actor carries it there as ``runtime.HttpGet`` to the
runtime of the endpoint's node (``<nodeName>.runtime``), answering with what
the pod said — or, as curl would put it, why nothing did. A destination no
rule matches is routed as it is: to the pod that holds that IP if some
EndpointSlice lists it (the pod network's routes), else nowhere.

The node's IPs (where NodePorts listen, and the source of the node's own
connections) are given, or else read from the Node object's InternalIP
addresses, as kube-proxy's ``--nodeport-addresses=primary`` does.

Metrics take a registry, or a :class:`ProxyMetrics` shared by the many proxies
of a hollow-nodes process: gauges then sum over them.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from actors.apiserver.client import ApiClient, Informer
from actors.controllers.nodeipam import CLUSTER_CIDR
from actors.messages import (
    HttpGet,
    HttpResponse,
    ProxyConnect,
    ProxyGetRules,
    ProxyReply,
    ProxyRules,
)
from actors.proxy.rules import (
    DNAT,
    DROP,
    NO_RULE,
    REJECT,
    SERVICE_NAME_LABEL,
    AffinityState,
    RuleTable,
    Verdict,
    build_table,
    diff,
    pick,
    render,
    rule_counts,
)
from bus.messages import Error
from bus.runtime import (
    Actor,
    Envelope,
    Indeterminate,
    RemoteError,
    UndeliverableError,
    handles,
)

#: kube-proxy's --iptables-min-sync-period default.
DEFAULT_MIN_SYNC_S = 1.0
#: How long a forwarded request may wait for the pod's node (cluster seconds): a SYN that gets no answer.
DEFAULT_CONNECT_TIMEOUT_S = 2.0
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
MAX_PATH_CHARS = 2048
#: Most names of a kind listed in one "rules synced" log line; the rest are counted.
LOG_NAMES = 10


class ProxyMetrics:
    """kube-proxy's sync and connection metrics (``sync_proxy_rules_*`` in Kubernetes), kubesim-prefixed.

    One instance may serve every proxy of a process: counters add up, and each
    proxy moves the gauges by the change in its own numbers, so they hold sums.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.sync_duration = Histogram(
            "kubesim_proxy_sync_duration_seconds", "Time to rebuild a node's rule table.",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0), registry=registry)
        self.syncs = Counter("kubesim_proxy_sync_total", "Rule table rebuilds.", registry=registry)
        self.rules = Gauge("kubesim_proxy_rules", "Rules in the node's iptables tables, by table.", ["table"],
                           registry=registry)
        self.service_ports = Gauge("kubesim_proxy_service_ports", "Service ports the rules proxy.",
                                   registry=registry)
        self.endpoints = Gauge("kubesim_proxy_endpoints", "Endpoints listed for the proxied service ports.",
                               registry=registry)
        self.service_changes = Counter("kubesim_proxy_service_changes_total",
                                       "Service ports added, removed or changed by syncs.", registry=registry)
        self.endpoint_changes = Counter("kubesim_proxy_endpoint_changes_total",
                                        "Service ports whose endpoints a sync changed.", registry=registry)
        self.connections = Counter("kubesim_proxy_connections_total",
                                   "New connections, by what the rules did (DNAT, REJECT, DROP, NO_RULE).",
                                   ["action"], registry=registry)
        self.forward_failures = Counter(
            "kubesim_proxy_forward_failures_total",
            "Connections sent on to a pod that got no answer, by why (refused, unreachable, timeout, error).",
            ["reason"], registry=registry)


# --- pure helpers ---------------------------------------------------------------------------------

def connect_problem(msg: ProxyConnect) -> str | None:
    """What is wrong with a ``proxy.Connect``, or None."""
    try:
        ipaddress.ip_address(msg.dst_ip)
    except ValueError:
        return f"dst_ip {msg.dst_ip[:64]!r} is not an IP address"
    if not 1 <= msg.dst_port <= 65535:
        return f"dst_port {msg.dst_port} is not between 1 and 65535"
    if msg.protocol.upper() not in PROTOCOLS:
        return f"protocol {msg.protocol[:16]!r} is not one of TCP, UDP, SCTP"
    if not msg.path.startswith("/") or len(msg.path) > MAX_PATH_CHARS:
        return f"path must start with / and be at most {MAX_PATH_CHARS} characters"
    if msg.client_ip:
        try:
            ipaddress.ip_address(msg.client_ip)
        except ValueError:
            return f"client_ip {msg.client_ip[:64]!r} is not an IP address"
    return None


def internal_ips(node: Mapping | None) -> tuple[str, ...]:
    """The InternalIP addresses a Node reports, in order."""
    addresses = ((node or {}).get("status") or {}).get("addresses") or []
    return tuple(str(a["address"]) for a in addresses
                 if isinstance(a, dict) and a.get("type") == "InternalIP" and a.get("address"))


@dataclass(frozen=True, slots=True)
class PodRoute:
    """Where a pod IP lives, as an EndpointSlice says: the route the pod network would take to it."""

    node: str
    pod: str
    namespace: str


def pod_routes(slices: Iterable[Mapping]) -> dict[str, PodRoute]:
    """Pod IP -> its node and pod, from every Service's EndpointSlices (headless ones too)."""
    out: dict[str, PodRoute] = {}
    for slice_ in sorted(slices, key=lambda s: str((s.get("metadata") or {}).get("name") or "")):
        meta = slice_.get("metadata") or {}
        if not (meta.get("labels") or {}).get(SERVICE_NAME_LABEL):
            continue
        for ep in slice_.get("endpoints") or []:
            node = ep.get("nodeName")
            ref = ep.get("targetRef") or {}
            for ip in ep.get("addresses") or []:
                if node and isinstance(ip, str) and ip not in out:
                    out[ip] = PodRoute(str(node), str(ref.get("name") or "") if ref.get("kind", "Pod") == "Pod"
                                       else "", str(ref.get("namespace") or meta.get("namespace") or ""))
    return out


def verdict_error(verdict: Verdict, dst_ip: str, dst_port: int) -> str:
    """What a client sees when the rules keep its connection from any pod."""
    if verdict.action == REJECT:
        return f"Failed to connect to {dst_ip} port {dst_port}: Connection refused ({verdict.reason})"
    if verdict.action == DROP:
        return f"Failed to connect to {dst_ip} port {dst_port}: Connection timed out (dropped: {verdict.reason})"
    return f"Failed to connect to {dst_ip} port {dst_port}: Connection timed out ({verdict.reason}; no pod has it)"


def _names(items: tuple[str, ...]) -> list[str] | None:
    if not items:
        return None
    return list(items[:LOG_NAMES]) + ([f"... {len(items) - LOG_NAMES} more"] if len(items) > LOG_NAMES else [])


# --- the actor ------------------------------------------------------------------------------------

class Proxy(Actor):
    """Node ``node``'s kube-proxy, the actor ``f"{node}.proxy"``; see the module docstring."""

    def __init__(self, node: str, api: ApiClient | None, *, node_ips: Iterable[str] = (),
                 cluster_cidr: str | None = CLUSTER_CIDR, min_sync_s: float = DEFAULT_MIN_SYNC_S,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S, seed: int | None = None,
                 registry: CollectorRegistry = REGISTRY, metrics: ProxyMetrics | None = None,
                 informers: Mapping[str, Informer] | None = None) -> None:
        """``informers``: shared ``services`` and ``endpointslices`` informers (a hollow-nodes process keeps one
        of each for all its proxies and calls :meth:`changed` on their events); None: the proxy keeps its own."""
        super().__init__(f"{node}.proxy")
        assert min_sync_s >= 0 and connect_timeout_s > 0
        self.node = node
        self.api = api
        self.configured_ips = tuple(node_ips)
        """Given node IPs; empty: the Node's InternalIPs."""
        self.node_ips = self.configured_ips
        self.cluster_cidr = cluster_cidr or None
        self.min_sync_s = min_sync_s
        self.connect_timeout_s = connect_timeout_s
        self.rng = random.Random(seed)
        self.metrics = metrics or ProxyMetrics(registry)
        self.table: RuleTable | None = None
        """The rules programmed now; None until the first sync."""
        self.routes: dict[str, PodRoute] = {}
        self.affinity = AffinityState()
        self.shared = informers is not None
        self.informers: dict[str, Informer] = dict(informers or {})
        self._own: dict[str, Informer] = {}
        """The informers this proxy started (and stops)."""
        self._dirty = True
        self._sync_timer = None
        self._last_sync: float | None = None
        self._shown: dict[str, float] = {}
        """What this proxy adds to the shared gauges now."""

    def on_start(self) -> None:
        own: dict[str, Informer] = {}
        if not self.shared:
            own = {r: Informer(self.api, r, on_add=self.changed, on_update=self.changed, on_delete=self.changed)
                   for r in ("services", "endpointslices")}
        if not self.configured_ips:
            own["nodes"] = Informer(self.api, "nodes", field_selector=f"metadata.name={self.node}",
                                    on_add=self._node_changed, on_update=self._node_changed)
        self.informers.update(own)
        for informer in self.informers.values():
            informer.synced.add_done_callback(lambda _f: self._schedule_sync())
        for informer in own.values():
            informer.start()
        self._own = own

    def on_stop(self) -> None:
        for informer in self._own.values():
            informer.stop()
        self._show({})

    # --- syncing ----------------------------------------------------------------------------------
    def changed(self, *_: object) -> None:
        """A Service, an EndpointSlice or the node changed: sync, as soon as min_sync_s allows."""
        self._dirty = True
        self._schedule_sync()

    def _node_changed(self, *objs: dict) -> None:
        ips = internal_ips(objs[-1])
        if ips and ips != self.node_ips:
            self.log.info("node IPs", node_ips=list(ips))
            self.node_ips = ips
            self.changed()

    def _ready(self) -> bool:
        return all(self.informers[r].synced.done() for r in ("services", "endpointslices"))

    def _schedule_sync(self) -> None:
        """BoundedFrequencyRunner: sync now if the last sync was min_sync_s ago, else when it will have been."""
        if self._sync_timer is not None or not self._dirty or not self._ready():
            return
        delay = 0.0
        if self._last_sync is not None:
            delay = max(0.0, self._last_sync + self.min_sync_s - self.clock.monotonic())
        self._sync_timer = self.call_later(delay, self._sync)

    def _sync(self) -> None:
        self._sync_timer = None
        if not self._dirty:
            return
        self._dirty = False
        started = self.clock.perf()
        slices = list(self.informers["endpointslices"].store.values())
        table = build_table(self.informers["services"].store.values(), slices, node_name=self.node,
                            node_ips=self.node_ips, cluster_cidr=self.cluster_cidr)
        self.routes = pod_routes(slices)
        old, self.table = self.table, table
        self.affinity = self.affinity.retain(table, self.clock.monotonic())
        counts = rule_counts(table)
        endpoints = sum(len(sp.endpoints) for sp in table.services)
        self._last_sync = self.clock.monotonic()
        elapsed = self.clock.perf() - started
        m = self.metrics
        m.syncs.inc()
        m.sync_duration.observe(elapsed)
        self._show({"filter": counts["filter"], "nat": counts["nat"], "services": len(table.services),
                    "endpoints": endpoints})
        summary = {"services": len(table.services), "endpoints": endpoints, "nat_rules": counts["nat"],
                   "filter_rules": counts["filter"], "duration_ms": round(elapsed * 1000, 2)}
        if old is None:
            self.log.info("rules synced", first=True, **summary)
            m.service_changes.inc(len(table.services))
            return
        changes = diff(old, table)
        m.service_changes.inc(changes.service_changes)
        m.endpoint_changes.inc(changes.endpoint_changes)
        if not changes:
            self.log.debug("rules synced; nothing changed", **summary)
            return
        named = {k: _names(getattr(changes, k)) for k in (
            "services_added", "services_removed", "services_changed", "endpoints_added", "endpoints_removed",
            "endpoints_changed")}
        self.log.info("rules synced", **summary, **{k: v for k, v in named.items() if v})

    def _show(self, now: dict[str, float]) -> None:
        """Move the (possibly shared) gauges by the change in this proxy's own numbers."""
        m = self.metrics
        gauges = {"filter": m.rules.labels("filter"), "nat": m.rules.labels("nat"),
                  "services": m.service_ports, "endpoints": m.endpoints}
        for key, gauge in gauges.items():
            delta = now.get(key, 0) - self._shown.get(key, 0)
            if delta:
                gauge.inc(delta)
        self._shown = dict(now)

    # --- the packet path --------------------------------------------------------------------------
    @handles(ProxyGetRules)
    def on_get_rules(self, msg: ProxyGetRules, env: Envelope) -> None:
        if self.table is None:
            self.reply(env, Error("unavailable", f"kube-proxy on {self.node} has not synced its rules yet"))
            return
        text = render(self.table)
        limit = self.runtime.settings.max_frame_bytes // 2
        if len(text) > limit:
            text = text[:limit] + f"\n# ... cut: the rules take {len(text)} characters, more than a message holds\n"
        self.reply(env, ProxyRules(text, len(self.table.services),
                                   sum(len(sp.endpoints) for sp in self.table.services)))

    @handles(ProxyConnect)
    async def on_connect(self, msg: ProxyConnect, env: Envelope) -> None:
        problem = connect_problem(msg)
        if problem is not None:
            self.reply(env, Error("bad_request", f"proxy.Connect: {problem}"))
            return
        if self.table is None:
            self.reply(env, Error("unavailable", f"kube-proxy on {self.node} has not synced its rules yet"))
            return
        client_ip = msg.client_ip or (self.table.node_ips[0] if self.table.node_ips else "")
        verdict = pick(self.table, msg.dst_ip, msg.dst_port, msg.protocol, client_ip, self.affinity,
                       self.clock.monotonic(), self.rng)
        self.affinity = verdict.affinity
        self.metrics.connections.labels(verdict.action).inc()
        base = {"action": verdict.action, "reason": verdict.reason, "service": verdict.service,
                "chains": verdict.chains}
        if verdict.action == DNAT:
            ep = verdict.endpoint
            assert ep is not None
            target = (ep.ip, ep.port, ep.node, ep.pod)
        elif verdict.action == NO_RULE and str(ipaddress.ip_address(msg.dst_ip)) in self.routes:
            route = self.routes[str(ipaddress.ip_address(msg.dst_ip))]
            target = (msg.dst_ip, msg.dst_port, route.node, route.pod)
            base["reason"] = f"{verdict.reason}; routed to pod {route.namespace}/{route.pod} on {route.node}"
        else:
            self.reply(env, ProxyReply(**base, error=verdict_error(verdict, msg.dst_ip, msg.dst_port)))
            return
        ip, port, node, pod = target
        where = {"endpoint_ip": ip, "endpoint_port": port, "pod": pod, "node": node}
        if msg.protocol.upper() != "TCP":
            self.reply(env, ProxyReply(**base, **where, error=f"{msg.protocol.upper()}: kubesim carries only TCP "
                                                                   "(HTTP) connections on to pods"))
            return
        connected, status, body, error = await self._forward(ip, port, node, msg.path, client_ip)
        self.reply(env, ProxyReply(**base, **where, connected=connected, status=status, body=body, error=error))

    async def _forward(self, ip: str, port: int, node: str, path: str, client_ip: str,
                       ) -> tuple[bool, int, str, str]:
        """Carry a connection to ``ip:port`` on ``node``: (connected, status, body, error)."""
        failed = f"Failed to connect to {ip} port {port}"
        if not node:
            self.metrics.forward_failures.labels("unreachable").inc()
            return False, 0, "", f"{failed}: No route to host (the endpoint names no node)"
        try:
            answer = await self.request(f"{node}.runtime", HttpGet(ip, port, path, client_ip),
                                        timeout_s=self.connect_timeout_s, retries=0)
        except UndeliverableError:
            self.metrics.forward_failures.labels("unreachable").inc()
            return False, 0, "", f"{failed}: No route to host (node {node} does not answer)"
        except Indeterminate:
            self.metrics.forward_failures.labels("timeout").inc()
            return False, 0, "", f"{failed}: Connection timed out after {self.connect_timeout_s:g} s"
        except RemoteError as exc:
            self.metrics.forward_failures.labels("error").inc()
            return False, 0, "", f"{failed}: {exc}"
        if not isinstance(answer, HttpResponse):
            self.metrics.forward_failures.labels("error").inc()
            return False, 0, "", f"{failed}: node {node} answered {type(answer).__name__}"
        if not answer.connected:
            self.metrics.forward_failures.labels("refused").inc()
            return False, 0, "", f"{failed}: Connection refused"
        return True, answer.status, answer.body, ""
