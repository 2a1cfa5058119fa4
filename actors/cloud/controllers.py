"""The cloud controller manager's controllers, against kubesim's simulated cloud.

A real cloud controller manager (``k8s.io/cloud-provider``) runs three
controllers that talk to the provider's API; kubesim's "provider" is a
ConfigMap, ``kube-system/kubesim-cloud``, whose data maps a node name to its
instance state (``running`` unless listed; ``terminated`` once
``kubesim cloud terminate NODE`` says so — the chaos runner uses the same):

- **service** (``service-lb``): a Service of type LoadBalancer gets
  ``status.loadBalancer.ingress`` — an IP from the configured pool — and gives
  it back when it stops being one or is deleted. A Service naming a
  ``spec.loadBalancerClass`` is another implementation's and left alone, as
  the cloud provider's service controller leaves it;
- **cloud-node**: a registering Node gets ``spec.providerID``
  (``kubesim://<cluster>/<node>``), the ``uninitialized`` taint removed, and
  ``status.addresses``: its ``InternalIP`` (the one it already reports, else
  the next free one of the instance network) and its ``Hostname``;
- **cloud-node-lifecycle**: a Node whose instance is terminated is deleted,
  as every cloud's node lifecycle controller does — once the Node is no
  longer Ready (``MonitorNodes`` skips Ready nodes: a terminated machine's
  kubelet stops, and the node lifecycle controller marks it Unknown).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from actors.apiserver.status import ApiError
from actors.controllers.base import Context, Controller, key_of

Obj = dict[str, Any]

INVENTORY_NAMESPACE, INVENTORY_NAME = "kube-system", "kubesim-cloud"
TERMINATED = "terminated"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
INSTANCE_NETWORK = "172.18.0.0/17"
"""Where instances' internal addresses come from (kind's docker network; the load balancer pool is above it)."""


def is_load_balancer(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("type") == "LoadBalancer"


def ingress_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if isinstance(i, dict) and i.get("ip")]


class ServiceLoadBalancer(Controller):
    """LoadBalancer Services get an ingress IP from ``pool`` (a CIDR), one each, never shared."""

    name = "service-lb"
    watches = ("services",)

    def __init__(self, pool: str = "172.18.255.0/24") -> None:
        self.network = ipaddress.ip_network(pool, strict=False)
        self.owner: dict[str, str] = {}
        """IP -> the Service key holding it."""

    def observe(self, resource: str, event: str, obj: Obj, now: float) -> None:
        key = key_of(obj)
        for ip in [ip for ip, holder in self.owner.items() if holder == key]:
            if event == "DELETED" or ip not in ingress_ips(obj):
                del self.owner[ip]
        if event != "DELETED":
            for ip in ingress_ips(obj):
                self.owner.setdefault(ip, key)

    def _free_ip(self) -> str | None:
        for ip in self.network.hosts():
            if str(ip) not in self.owner:
                return str(ip)
        return None

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, _, name = key.rpartition("/")
        svc = ctx.caches["services"].get(name, ns)
        if svc is None:
            return None
        if (svc.get("spec") or {}).get("loadBalancerClass"):
            return None  # another load balancer implementation's (wantsLoadBalancer)
        have = ingress_ips(svc)
        if is_load_balancer(svc) and not svc["metadata"].get("deletionTimestamp"):
            if have:
                return None
            ip = self._free_ip()
            if ip is None:
                ctx.recorder.event(svc, "Warning", "SyncLoadBalancerFailed",
                                   f"Error syncing load balancer: no free address in {self.network}")
                return 30.0
            self.owner[ip] = key
            ctx.recorder.event(svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
            try:
                await self._set_ingress(svc, [{"ip": ip, "ipMode": "VIP"}], ctx)
            except Exception:
                if self.owner.get(ip) == key:
                    del self.owner[ip]  # not given after all: the retry must not leak it
                raise
            ctx.recorder.event(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        elif have:
            await self._set_ingress(svc, None, ctx)
            for ip in have:
                if self.owner.get(ip) == key:
                    del self.owner[ip]
            ctx.recorder.event(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        return None

    @staticmethod
    async def _set_ingress(svc: Obj, ingress: list | None, ctx: Context) -> None:
        meta = svc["metadata"]
        await ctx.api.patch("services", meta["name"], {"status": {"loadBalancer": {"ingress": ingress}}},
                            meta["namespace"], patch_type="merge", subresource="status")


def internal_ip(node: Obj) -> str | None:
    for a in (node.get("status") or {}).get("addresses") or []:
        if isinstance(a, dict) and a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    return None


class CloudNode(Controller):
    """A new Node gets its provider ID and addresses, and loses the ``uninitialized`` taint."""

    name = "cloud-node"
    watches = ("nodes",)

    def __init__(self, cluster: str = "kubesim", instance_network: str = INSTANCE_NETWORK) -> None:
        self.cluster = cluster
        self.network = ipaddress.ip_network(instance_network, strict=False)
        self.ips: dict[str, str] = {}
        """InternalIP -> the node holding it (what the cloud gave, or what the node reports)."""
        self._next = 0
        """Index into the network's hosts where the search for a free address starts (round robin)."""

    def observe(self, resource: str, event: str, obj: Obj, now: float) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        ip = internal_ip(obj)
        for held in [held for held, holder in self.ips.items() if holder == name]:
            if event == "DELETED" or (ip is not None and held != ip):
                del self.ips[held]  # the instance is gone, or the node reports another address
        if event != "DELETED" and ip is not None:
            self.ips.setdefault(ip, name)

    def _address_for(self, name: str) -> str | None:
        for ip, holder in self.ips.items():
            if holder == name:
                return ip
        hosts = self.network.num_addresses - 2 if self.network.num_addresses > 2 else self.network.num_addresses
        first = int(self.network.network_address) + (1 if self.network.num_addresses > 2 else 0)
        for i in range(hosts):
            candidate = str(ipaddress.ip_address(first + (self._next + i) % hosts))
            if candidate not in self.ips:
                self._next = (self._next + i + 1) % hosts
                self.ips[candidate] = name
                return candidate
        return None

    def addresses(self, node: Obj) -> list[Obj] | None:
        """What the cloud reports for ``node``'s instance (NodeAddresses): InternalIP, then Hostname."""
        name = node["metadata"]["name"]
        ip = internal_ip(node) or self._address_for(name)
        if ip is None:
            return None
        return [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]

    async def sync(self, key: str, ctx: Context) -> float | None:
        node = ctx.caches["nodes"].get(key)
        if node is None or node["metadata"].get("deletionTimestamp"):
            return None
        spec = node.get("spec") or {}
        taints = spec.get("taints") or []
        kept = [t for t in taints if not (isinstance(t, dict) and t.get("key") == UNINITIALIZED_TAINT)]
        patch: dict[str, Any] = {}
        if not spec.get("providerID"):
            patch["providerID"] = f"kubesim://{self.cluster}/{key}"
        if len(kept) != len(taints):
            patch["taints"] = kept or None
        if patch:
            await ctx.api.patch("nodes", key, {"spec": patch}, patch_type="merge")
        addresses = self.addresses(node)
        if addresses is None:
            ctx.recorder.event(node, "Warning", "AddressesUnavailable",
                               f"Error getting node addresses: no free address in {self.network}")
            return 30.0
        if [a for a in (node.get("status") or {}).get("addresses") or [] if isinstance(a, dict)] != addresses:
            try:
                await ctx.api.patch("nodes", key, {"status": {"addresses": addresses}}, patch_type="merge",
                                    subresource="status")
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return None


class CloudNodeLifecycle(Controller):
    """A Node whose instance the cloud reports terminated is deleted."""

    name = "cloud-node-lifecycle"
    watches = ("nodes", "configmaps")

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        if resource == "nodes":
            return [key_of(obj)]
        meta = obj.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (INVENTORY_NAMESPACE, INVENTORY_NAME):
            return [name for name, state in (obj.get("data") or {}).items() if state == TERMINATED]
        return []

    async def sync(self, key: str, ctx: Context) -> float | None:
        inventory = ctx.caches["configmaps"].get(INVENTORY_NAME, INVENTORY_NAMESPACE) or {}
        if (inventory.get("data") or {}).get(key) != TERMINATED:
            return None
        node = ctx.caches["nodes"].get(key)
        if node is None:
            return None
        if ready_status(node) == "True":
            return None  # its status changing brings it back here (MonitorNodes skips Ready nodes)
        ctx.recorder.event(node, "Normal", "DeletingNode",
                           f"Deleting node {key} because it does not exist in the cloud provider")
        try:
            await ctx.api.delete("nodes", key)
        except ApiError as exc:
            if exc.code != 404:
                raise
        return None


def ready_status(node: Obj) -> str:
    """The Ready condition's status; ``Unknown`` when there is none (as MonitorNodes defaults it)."""
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return str(c.get("status") or "Unknown")
    return "Unknown"


def default_cloud_controllers(cluster: str, pool: str, instance_network: str = INSTANCE_NETWORK) -> list[Controller]:
    return [ServiceLoadBalancer(pool), CloudNode(cluster, instance_network), CloudNodeLifecycle()]
