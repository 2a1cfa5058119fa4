"""The kubelet's Node: registration, allocatable arithmetic, status posting cadence, the Lease, pod IPs."""

from __future__ import annotations

import pytest

from actors.kubelet.node import (
    LEASE_DURATION_S,
    RENEW_INTERVAL_S,
    STATUS_REPORT_S,
    UNINITIALIZED_TAINT,
    NodeConfig,
    PodIPs,
    allocatable,
    initial_node,
    lease,
    node_status,
    renewed,
    should_post,
    status_changed,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def cfg(**kw) -> NodeConfig:
    return NodeConfig(**{"name": "node-1", "internal_ip": "172.18.0.2", **kw})


@pytest.mark.parametrize("kw, expected", [
    # Defaults: memory.available 100Mi and nodefs.available 10% come off; cpu and pods untouched.
    ({}, {"cpu": "4", "memory": "8092Mi", "ephemeral-storage": "90Gi", "pods": "110"}),
    # Reservations come off too; a fractional cpu is written in milli.
    ({"reserved": {"cpu": "100m", "memory": "412Mi"}},
     {"cpu": "3900m", "memory": "7680Mi", "ephemeral-storage": "90Gi", "pods": "110"}),
    # No thresholds: allocatable is capacity (kind's nodes are configured this way).
    ({"eviction_hard": {}}, {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"}),
    # An absolute nodefs threshold; reservations never take a resource below zero.
    ({"eviction_hard": {"nodefs.available": "1Gi"}, "reserved": {"cpu": "8"}},
     {"cpu": "0", "memory": "8Gi", "ephemeral-storage": "99Gi", "pods": "110"}),
])
def test_allocatable_is_capacity_minus_reservations_and_hard_eviction_thresholds(kw, expected):
    assert allocatable(cfg(**kw)) == expected


def test_registration_carries_the_well_known_labels_the_zone_and_the_cloud_taint():
    node = initial_node(cfg(zone="zone-a", region="eu", labels={"tier": "web"},
                            taints=({"key": "dedicated", "value": "db", "effect": "NoSchedule"},)), T0)
    assert node["metadata"]["labels"] == {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": "zone-a", "topology.kubernetes.io/region": "eu", "tier": "web"}
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}, UNINITIALIZED_TAINT]
    assert node["status"]["addresses"] == [{"type": "InternalIP", "address": "172.18.0.2"},
                                           {"type": "Hostname", "address": "node-1"}]
    assert [c["type"] for c in node["status"]["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure",
                                                                 "Ready"]
    # Without an external cloud provider, no taint at all.
    assert "taints" not in initial_node(cfg(cloud_provider_external=False), T0)["spec"]


def test_a_condition_keeps_its_transition_time_until_its_status_changes():
    first = node_status(cfg(), T0, None)
    ready = first["conditions"][3]
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                   "kubelet is posting ready status")
    later = node_status(cfg(), T0 + 60, first)
    assert later["conditions"][3]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert later["conditions"][3]["lastHeartbeatTime"] == "2026-01-01T00:01:00Z"
    down = node_status(cfg(), T0 + 120, later, ready=False, not_ready_message="container runtime is down")
    assert (down["conditions"][3]["status"], down["conditions"][3]["reason"]) == ("False", "KubeletNotReady")
    assert down["conditions"][3]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    assert down["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"  # MemoryPressure unchanged


def test_an_unchanged_status_is_posted_only_every_five_minutes():
    posted = node_status(cfg(), T0, None)
    same = node_status(cfg(), T0 + 10, posted)
    assert not status_changed(posted, same), "heartbeat times alone are no change"
    assert not should_post(posted, same, last_post_at=0.0, now=10.0)
    assert should_post(posted, same, last_post_at=0.0, now=STATUS_REPORT_S)
    assert should_post(None, same, last_post_at=None, now=0.0)
    changed = node_status(cfg(), T0 + 10, posted, ready=False)
    assert should_post(posted, changed, last_post_at=0.0, now=10.0)


def test_the_lease_is_held_by_the_node_owned_by_it_and_renewed_every_ten_seconds():
    assert (LEASE_DURATION_S, RENEW_INTERVAL_S) == (40, 10.0)
    obj = lease(cfg(), "uid-1", T0)
    assert obj["metadata"] == {"name": "node-1", "namespace": "kube-node-lease", "ownerReferences": [
        {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "uid-1"}]}
    assert obj["spec"] == {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                           "renewTime": "2026-01-01T00:00:00.000000Z"}
    stored = dict(obj, metadata=dict(obj["metadata"], resourceVersion="7"))
    again = renewed(stored, T0 + 10.5)
    assert again["metadata"]["resourceVersion"] == "7", "a renewal is a compare-and-swap on what was read"
    assert again["spec"]["renewTime"] == "2026-01-01T00:00:10.500000Z"
    assert stored["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z", "the read copy is left alone"


def test_pod_ips_are_the_lowest_free_addresses_past_the_gateway():
    ips = PodIPs("10.244.3.0/24")
    assert [ips.allocate(u) for u in ("a", "b", "c")] == ["10.244.3.2", "10.244.3.3", "10.244.3.4"]
    assert ips.allocate("b") == "10.244.3.3", "the same pod keeps its address"
    ips.release("b")
    assert ips.allocate("d") == "10.244.3.3", "a released address is reused, lowest first"
    ips.restore("e", "10.244.3.5")
    assert ips.allocate("f") == "10.244.3.6"
    ips.restore("x", "10.9.9.9")  # not ours: ignored
    assert ips.in_use() == 5


def test_a_full_pod_cidr_refuses_with_a_clear_message():
    ips = PodIPs("10.244.0.0/30")  # .0 network, .1 gateway, .2 usable, .3 broadcast
    assert ips.allocate("a") == "10.244.0.2"
    with pytest.raises(ValueError, match=r"no free IP address in 10.244.0.0/30 \(1 in use\)"):
        ips.allocate("b")
