"""The node IPAM controller and its CIDR set, over hand-filled caches and a fake API that records calls."""

from __future__ import annotations

import pytest

from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.nodeipam import CidrSet, NodeIpamController


def make_node(name: str, cidr: str | None = None, *, only_pod_cidr: bool = False) -> dict:
    spec: dict = {}
    if cidr is not None:
        spec["podCIDR"] = cidr
        if not only_pod_cidr:
            spec["podCIDRs"] = [cidr]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}",
                                                             "resourceVersion": "1"}, "spec": spec}


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.errors: dict[str, ApiError] = {}

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic", subresource: str = "") -> dict:
        self.calls.append(("patch", resource, name, patch, patch_type))
        if name in self.errors:
            raise self.errors[name]
        return {}

    def assigned(self) -> list[tuple[str, str]]:
        return [(c[2], c[3]["spec"]["podCIDR"]) for c in self.calls]


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.seen.append((obj["metadata"]["name"], reason, message))


class World:
    def __init__(self, nodes: list[dict], **kwargs) -> None:
        self.ipam = NodeIpamController(**kwargs)
        self.nodes = DictStore(nodes)
        self.api = FakeApi()
        self.events = Events()

    def sync(self, name: str):
        ctx = Context(caches={"nodes": self.nodes}, api=self.api, recorder=self.events, now=0.0, wall=0.0)
        return run_sync(self.ipam.sync(name, ctx))

    def add(self, node: dict) -> list[str]:
        """A node event through the informer: observe, then the keys it enqueues."""
        self.nodes.put(node)
        self.ipam.observe("nodes", "ADDED", node)
        return list(self.ipam.keys("nodes", node))

    def delete(self, name: str) -> list[str]:
        node = self.nodes.get(name)
        self.nodes.remove(node)
        self.ipam.observe("nodes", "DELETED", node)
        return list(self.ipam.keys("nodes", node))

    def come_back(self) -> None:
        """The patches reach the cache."""
        for _, _, name, patch, _ in self.api.calls:
            node = self.nodes.get(name)
            if node is not None:
                updated = {**node, "spec": {**node["spec"], **patch["spec"]}}
                self.nodes.put(updated)
                self.ipam.observe("nodes", "MODIFIED", updated)
        self.api.calls.clear()


# --- the CIDR set --------------------------------------------------------------------------------------

def test_blocks_are_handed_out_in_order():
    s = CidrSet("10.244.0.0/16", 24)
    assert s.max_cidrs == 256
    assert [s.allocate_next() for _ in range(3)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    assert s.allocated == 3


def test_blocks_smaller_than_an_octet():
    s = CidrSet("10.244.0.0/24", 26)
    assert [s.allocate_next() for _ in range(5)] == ["10.244.0.0/26", "10.244.0.64/26", "10.244.0.128/26",
                                                     "10.244.0.192/26", None]


def test_round_robin_a_released_block_is_reused_only_after_the_others():
    s = CidrSet("10.244.0.0/22", 24)
    assert [s.allocate_next() for _ in range(2)] == ["10.244.0.0/24", "10.244.1.0/24"]
    assert s.release("10.244.0.0/24")
    assert s.allocate_next() == "10.244.2.0/24", "cidrset's nextCandidate moves on"
    assert s.allocate_next() == "10.244.3.0/24"
    assert s.allocate_next() == "10.244.0.0/24", "wrapped around to the freed block"
    assert s.allocate_next() is None


@pytest.mark.parametrize(("cidr", "ok", "used"), [
    pytest.param("10.244.5.0/24", True, ["10.244.5.0/24"], id="one-block"),
    pytest.param("10.244.6.0/23", True, ["10.244.6.0/24", "10.244.7.0/24"], id="two-blocks"),
    pytest.param("10.244.8.64/26", True, ["10.244.8.0/24"], id="part-of-a-block"),
    pytest.param("10.244.9.7/24", True, ["10.244.9.0/24"], id="host-bits-ignored"),
    pytest.param("10.0.0.0/8", True, ["10.244.0.0/24", "10.244.255.0/24"], id="covers-the-cluster"),
    pytest.param("192.168.0.0/24", False, [], id="outside"),
    pytest.param("not-a-cidr", False, [], id="garbage"),
    pytest.param("fd00::/64", False, [], id="ipv6"),
])
def test_occupy(cidr, ok, used):
    s = CidrSet("10.244.0.0/16", 24)
    assert s.occupy(cidr) is ok
    assert all(s.is_used(c) for c in used)
    assert s.allocated == (256 if cidr == "10.0.0.0/8" else len(used))
    assert s.occupy(cidr) is ok and s.allocated == (256 if cidr == "10.0.0.0/8" else len(used)), "idempotent"


def test_a_node_mask_wider_than_the_cluster_is_refused():
    with pytest.raises(AssertionError):
        CidrSet("10.244.0.0/16", 15)


# --- the controller ------------------------------------------------------------------------------------

def test_nodes_get_the_next_free_block_with_a_merge_patch():
    w = World([make_node("n1"), make_node("n2")])
    assert w.sync("n1") is None
    w.sync("n2")
    assert w.api.calls == [
        ("patch", "nodes", "n1", {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}}, "merge"),
        ("patch", "nodes", "n2", {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}, "merge"),
    ]


def test_blocks_nodes_already_carry_are_occupied_from_the_cache_first():
    w = World([make_node("old-a", "10.244.0.0/24"), make_node("old-b", "10.244.1.0/24", only_pod_cidr=True),
               make_node("new")])
    w.sync("new")
    assert w.api.assigned() == [("new", "10.244.2.0/24")]


def test_a_node_that_has_a_cidr_is_left_alone():
    w = World([make_node("n1", "10.244.7.0/24")])
    w.sync("n1")
    assert w.api.calls == [] and w.ipam.cidrs.is_used("10.244.7.0/24")


def test_no_double_allocation_before_the_patch_comes_back():
    w = World([make_node("n1"), make_node("n2")])
    w.sync("n1")
    w.sync("n1")  # the node update has not reached the cache yet
    w.sync("n2")
    assert w.api.assigned() == [("n1", "10.244.0.0/24"), ("n1", "10.244.0.0/24"), ("n2", "10.244.1.0/24")]
    assert w.ipam.cidrs.allocated == 2
    w.come_back()
    w.sync("n1")
    w.sync("n2")
    assert w.api.calls == [] and w.ipam.cidrs.allocated == 2


def test_a_reservation_the_node_did_not_take_is_given_back():
    w = World([make_node("n1")])
    w.sync("n1")
    w.nodes.put(make_node("n1", "10.244.9.0/24"))  # someone else set it first
    w.sync("n1")
    assert not w.ipam.cidrs.is_used("10.244.0.0/24") and w.ipam.cidrs.is_used("10.244.9.0/24")


def test_a_deleted_node_releases_its_block_for_reuse():
    w = World([], cluster_cidr="10.244.0.0/23")
    for name in ("a", "b"):
        assert w.add(make_node(name)) == [name]
        w.sync(name)
    w.come_back()
    assert w.ipam.cidrs.allocated == 2
    assert w.delete("a") == ["a"]
    assert w.ipam.cidrs.allocated == 1
    w.add(make_node("c"))
    w.sync("c")
    assert w.api.assigned() == [("c", "10.244.0.0/24")]


def test_exhaustion_is_an_event_and_a_release_wakes_the_waiting_node():
    w = World([], cluster_cidr="10.244.0.0/23")
    for name in ("a", "b", "c"):
        w.add(make_node(name))
        w.sync(name)
    assert w.api.assigned() == [("a", "10.244.0.0/24"), ("b", "10.244.1.0/24")]
    assert w.events.seen == [("c", "CIDRNotAvailable", "Node c status is now: CIDRNotAvailable")]
    w.come_back()
    assert w.delete("b") == ["b", "c"], "c is looked at again now that a block is free"
    w.sync("c")
    assert w.api.assigned() == [("c", "10.244.1.0/24")]


def test_a_deleted_node_whose_patch_never_came_back_releases_its_reservation():
    w = World([], cluster_cidr="10.244.0.0/24", node_mask_size=24)
    w.add(make_node("a"))
    w.sync("a")
    w.delete("a")
    assert w.ipam.cidrs.allocated == 0


def test_a_failed_patch_releases_the_block_and_is_retried():
    w = World([make_node("n1")])
    w.api.errors["n1"] = ApiError(500, "InternalError", "etcd is sad")
    with pytest.raises(ApiError):
        w.sync("n1")
    assert w.ipam.cidrs.allocated == 0
    assert w.events.seen == [("n1", "CIDRAssignmentFailed", "Node n1 status is now: CIDRAssignmentFailed")]
    del w.api.errors["n1"]
    w.sync("n1")
    assert w.api.assigned()[-1] == ("n1", "10.244.1.0/24"), "round robin: the next block"


def test_a_timed_out_patch_keeps_the_block_and_sends_it_again():
    w = World([make_node("n1")])
    w.api.errors["n1"] = ApiError(504, "Timeout", "no answer; the change may or may not have been made")
    with pytest.raises(ApiError):
        w.sync("n1")
    del w.api.errors["n1"]
    w.sync("n1")
    assert w.api.assigned() == [("n1", "10.244.0.0/24"), ("n1", "10.244.0.0/24")]
    assert w.ipam.cidrs.allocated == 1


def test_a_node_gone_before_its_patch_is_no_failure():
    w = World([make_node("n1")])
    w.api.errors["n1"] = ApiError(404, "NotFound", 'nodes "n1" not found')
    assert w.sync("n1") is None
    assert w.ipam.cidrs.allocated == 0 and w.events.seen == []


def test_a_service_cidr_inside_the_cluster_cidr_is_never_handed_out():
    w = World([make_node("n1")], cluster_cidr="10.96.0.0/22", service_cidr="10.96.0.0/24")
    w.sync("n1")
    assert w.api.assigned() == [("n1", "10.96.1.0/24")]
