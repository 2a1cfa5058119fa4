"""The cloud controller manager's controllers, against kubesim's simulated cloud.

A real cloud controller manager (``k8s.io/cloud-provider``) runs three
controllers that talk to the provider's API; kubesim's "provider" is a
ConfigMap, ``kube-system/kubesim-cloud``, whose data maps a node name to its
instance state (``running`` unless listed; ``terminated`` once
``kubesim cloud terminate NODE`` says so — the chaos runner uses the same):

- **service** (``service-lb``): a Service of type LoadBalancer gets
  ``status.loadBalancer.ingress`` — an IP from the configured pool — and gives
  it back when it stops being one or is deleted;
- **cloud-node**: a registering Node gets ``spec.providerID``
  (``kubesim://<cluster>/<node>``) and the ``uninitialized`` taint removed;
- **cloud-node-lifecycle**: a Node whose instance is terminated is deleted,
  as every cloud's node lifecycle controller does.
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
            await self._set_ingress(svc, [{"ip": ip, "ipMode": "VIP"}], ctx)
            ctx.recorder.event(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        elif have:
            for ip in have:
                self.owner.pop(ip, None)
            await self._set_ingress(svc, None, ctx)
            ctx.recorder.event(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        return None

    @staticmethod
    async def _set_ingress(svc: Obj, ingress: list | None, ctx: Context) -> None:
        meta = svc["metadata"]
        await ctx.api.patch("services", meta["name"], {"status": {"loadBalancer": {"ingress": ingress}}},
                            meta["namespace"], patch_type="merge", subresource="status")


class CloudNode(Controller):
    """A new Node gets its provider ID and loses the ``uninitialized`` taint."""

    name = "cloud-node"
    watches = ("nodes",)

    def __init__(self, cluster: str = "kubesim") -> None:
        self.cluster = cluster

    async def sync(self, key: str, ctx: Context) -> float | None:
        node = ctx.caches["nodes"].get(key)
        if node is None:
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
        ctx.recorder.event(node, "Normal", "DeletingNode",
                           f"Deleting node {key} because it does not exist in the cloud provider")
        try:
            await ctx.api.delete("nodes", key)
        except ApiError as exc:
            if exc.code != 404:
                raise
        return None


def default_cloud_controllers(cluster: str, pool: str) -> list[Controller]:
    return [ServiceLoadBalancer(pool), CloudNode(cluster), CloudNodeLifecycle()]
