"""The node IPAM controller: give every node a pod CIDR of its own out of the cluster CIDR.

Kubernetes' ``pkg/controller/nodeipam`` with the default range allocator
(``ipam/range_allocator.go``, ``ipam/cidrset/cidr_set.go``) in kubesim's
controller shape (:mod:`actors.controllers.base`):

- :class:`CidrSet` splits the cluster CIDR (``--cluster-cidr``, by default
  ``10.244.0.0/16``) into blocks of the node mask size (``/24``) and keeps a
  bitmap of the used ones. It hands blocks out *round robin* from the one
  after the last it gave, as cidrset's ``nextCandidate`` does, so a block
  just released is reused only once the others have been tried — a node
  that comes back soon after another went does not inherit its addresses.
- The first sync occupies the blocks every cached node already has (the
  allocator is rebuilt from the cache after a restart), and a Service CIDR
  overlapping the cluster CIDR, if one is given, is occupied too.
- :meth:`NodeIpamController.sync` occupies the block of a node that has one,
  and gives a node without ``spec.podCIDR`` the next free one with a merge
  patch of ``spec.podCIDR`` and ``spec.podCIDRs``. The block stays reserved
  for that node until its update comes back through the informer, so a
  second sync before then sends the same block again instead of taking a
  second one.
- The informer side (:meth:`NodeIpamController.observe`) releases a deleted
  node's block; nodes that found none free are then looked at again.

When no block is left the node gets the ``CIDRNotAvailable`` event, as
Kubernetes' ``RecordNodeStatusChange`` words it. IPv4 only (kubesim has no
dual stack).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from actors.apiserver.status import ApiError
from actors.controllers.base import Context, Controller, Obj, Store, key_of

CLUSTER_CIDR = "10.244.0.0/16"
"""kubeadm's and flannel's usual ``--cluster-cidr``."""
NODE_MASK_SIZE = 24
"""``--node-cidr-mask-size`` for IPv4: 256 addresses, about 110 pods per node."""
MAX_MASK_DIFF = 16
"""At most 2**16 blocks (cidrset's clusterSubnetMaxDiff): the bitmap stays small."""

TIMEOUT = 504
"""An API answer meaning the write may or may not have been made (kubesim's ApiClient gives 504 then)."""


class CidrSet:
    """The node-sized blocks of one IPv4 cluster CIDR: which are used, and the next to try.

    Pure bookkeeping, no I/O. Blocks are numbered from 0 at the cluster
    CIDR's first address; ``_used`` is a bitmap of them.
    """

    def __init__(self, cluster_cidr: str, node_mask_size: int) -> None:
        self.cluster = ipaddress.ip_network(cluster_cidr, strict=False)
        assert isinstance(self.cluster, ipaddress.IPv4Network), f"IPv4 only, not {cluster_cidr}"
        assert self.cluster.prefixlen <= node_mask_size <= 32, \
            f"node mask /{node_mask_size} must not be wider than the cluster CIDR {self.cluster}"
        assert node_mask_size - self.cluster.prefixlen <= MAX_MASK_DIFF, \
            f"/{node_mask_size} blocks of {self.cluster}: more than 2**{MAX_MASK_DIFF}"
        self.node_mask_size = node_mask_size
        self.max_cidrs = 1 << (node_mask_size - self.cluster.prefixlen)
        self._shift = 32 - node_mask_size
        self._used = 0
        self.allocated = 0
        self._next = 0
        """The block to try first (cidrset's nextCandidate)."""

    def block(self, index: int) -> str:
        """Block ``index`` as CIDR text."""
        assert 0 <= index < self.max_cidrs
        address = ipaddress.IPv4Address(int(self.cluster.network_address) + (index << self._shift))
        return f"{address}/{self.node_mask_size}"

    def allocate_next(self) -> str | None:
        """The first free block from the next candidate on, now used; None when every block is."""
        if self.allocated == self.max_cidrs:
            return None
        candidate = self._next
        for _ in range(self.max_cidrs):
            if not self._used >> candidate & 1:
                break
            candidate = (candidate + 1) % self.max_cidrs
        self._next = (candidate + 1) % self.max_cidrs
        self._used |= 1 << candidate
        self.allocated += 1
        return self.block(candidate)

    def occupy(self, cidr: str) -> bool:
        """Mark every block ``cidr`` overlaps used (already used is fine); False if it is not ours."""
        span = self._span(cidr)
        if span is None:
            return False
        for i in span:
            if not self._used >> i & 1:
                self._used |= 1 << i
                self.allocated += 1
        return True

    def release(self, cidr: str) -> bool:
        """Mark every block ``cidr`` overlaps free; False if it is not ours."""
        span = self._span(cidr)
        if span is None:
            return False
        for i in span:
            if self._used >> i & 1:
                self._used &= ~(1 << i)
                self.allocated -= 1
        return True

    def is_used(self, cidr: str) -> bool:
        span = self._span(cidr)
        return span is not None and all(self._used >> i & 1 for i in span)

    def _span(self, cidr: str) -> range | None:
        """The blocks ``cidr`` overlaps (getBeginningAndEndIndices); None if garbage or outside."""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if not isinstance(net, ipaddress.IPv4Network) or not net.overlaps(self.cluster):
            return None
        if net.prefixlen <= self.cluster.prefixlen:
            return range(self.max_cidrs)  # it covers the whole cluster CIDR
        base = int(self.cluster.network_address)
        first = (int(net.network_address) - base) >> self._shift
        last = (int(net.broadcast_address) - base) >> self._shift
        return range(first, last + 1)


def pod_cidrs(node: Obj) -> list[str]:
    """The node's ``spec.podCIDRs``, or its ``spec.podCIDR`` alone (older writers set only that)."""
    spec = node.get("spec") or {}
    cidrs = [c for c in spec.get("podCIDRs") or [] if isinstance(c, str) and c]
    if not cidrs and isinstance(spec.get("podCIDR"), str) and spec["podCIDR"]:
        cidrs = [spec["podCIDR"]]
    return cidrs


class NodeIpamController(Controller):
    """Assigns each node a ``/node_mask_size`` block of ``cluster_cidr``; see the module docstring."""

    name = "nodeipam"
    watches = ("nodes",)
    workers = 30
    """The range allocator's cidrUpdateWorkers: 5,000 nodes registering at once wait on 30 patches in flight."""

    def __init__(self, *, cluster_cidr: str = CLUSTER_CIDR, node_mask_size: int = NODE_MASK_SIZE,
                 service_cidr: str | None = None) -> None:
        self.cidrs = CidrSet(cluster_cidr, node_mask_size)
        self.service_cidr = service_cidr
        if service_cidr is not None:
            self.cidrs.occupy(service_cidr)  # filterOutServiceRange: no-op unless they overlap
        self._reserved: dict[str, str] = {}
        """Node name -> the block patched onto it, until the node comes back carrying one."""
        self._starved: set[str] = set()
        """Nodes that found no free block: looked at again when one is released."""
        self._wake: list[str] = []
        """Starved nodes to hand to :meth:`keys` after a release (observe runs just before it)."""
        self._rebuilt = False

    # --- informer events -------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Occupy what a node carries; release what a deleted node carried (ReleaseCIDR)."""
        if resource != "nodes":
            return
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            freed = [c for c in pod_cidrs(obj) if self.cidrs.release(c)]
            reserved = self._reserved.pop(name, None)
            if reserved is not None and reserved not in pod_cidrs(obj):
                self.cidrs.release(reserved)
                freed.append(reserved)
            self._starved.discard(name)
            if freed:
                self._wake.extend(sorted(self._starved))
            return
        for cidr in pod_cidrs(obj):
            self.cidrs.occupy(cidr)

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """The node's own key, and after a release every node waiting for a block."""
        wake, self._wake = self._wake, []
        return [key_of(obj), *wake]

    # --- the reconcile -----------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        nodes = ctx.caches["nodes"]
        if not self._rebuilt:
            self._rebuild(nodes)
        node = nodes.get(key)
        if node is None:
            self._starved.discard(key)
            return None
        have = pod_cidrs(node)
        if have:
            self._settled(key, have)
            return None
        cidr = self._reserved.get(key) or self.cidrs.allocate_next()
        if cidr is None:
            self._starved.add(key)
            ctx.recorder.event(node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
            return None
        self._starved.discard(key)
        self._reserved[key] = cidr
        try:
            await ctx.api.patch("nodes", key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}, patch_type="merge")
        except ApiError as err:
            if err.code == TIMEOUT:
                raise  # it may have been written: keep the block for this node and send it again
            del self._reserved[key]
            self.cidrs.release(cidr)
            if err.code == 404:
                return None  # the node is gone
            ctx.recorder.event(node, "Normal", "CIDRAssignmentFailed",
                               f"Node {key} status is now: CIDRAssignmentFailed")
            raise
        return None

    def _settled(self, name: str, have: list[str]) -> None:
        """The node carries ``have``: occupy it, and give back a reservation it did not take."""
        for cidr in have:
            self.cidrs.occupy(cidr)
        reserved = self._reserved.pop(name, None)
        if reserved is not None and reserved not in have:
            self.cidrs.release(reserved)  # someone else set its CIDR first
        self._starved.discard(name)

    def _rebuild(self, nodes: Store) -> None:
        """Occupy every block the cached nodes carry (the allocator's start, after the cache synced)."""
        for node in nodes.list():
            for cidr in pod_cidrs(node):
                self.cidrs.occupy(cidr)
        self._rebuilt = True
