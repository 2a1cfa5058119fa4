"""The scheduler as real processes: pods placed within capacity, the failure message, leader failover."""

from __future__ import annotations

import pytest

from actors.apiserver.client import ApiError
from tests.api_cluster import ApiCluster
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

LEASE = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}


def node(name: str, cpu: str = "4") -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str = "1") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}}


def holder(s) -> str:
    try:
        return s.run(s.api.get("leases", "kube-scheduler", "kube-system"))["spec"]["holderIdentity"]
    except ApiError:
        return ""


def test_pods_are_placed_within_capacity_and_the_standby_takes_over(tmp_path):
    c = ApiCluster(tmp_path, extra={
        "scheduler-a": {"component": "scheduler", "args": LEASE},
        "scheduler-b": {"component": "scheduler", "args": LEASE},
    }).start_all()
    try:
        s = c.session()
        c.wait_ready(s)
        for n in ("node-1", "node-2", "node-3"):
            s.run(s.api.create(node(n)))
        first = wait_until(lambda: holder(s), 20, "a scheduler to take the lease")
        for i in range(12):
            s.run(s.api.create(pod(f"web-{i}")))

        def bound() -> dict[str, str]:
            pods = s.run(s.api.list("pods", "default"))["items"]
            return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods}

        wait_until(lambda: all(bound().values()) and len(bound()) == 12, 30, "12 pods bound")
        per_node: dict[str, int] = {}
        for where in bound().values():
            per_node[where] = per_node.get(where, 0) + 1
        assert per_node == {"node-1": 4, "node-2": 4, "node-3": 4}, "4 CPUs each, 1 CPU a pod"

        # A 13th pod fits nowhere: Kubernetes' message, on the pod and in an event.
        s.run(s.api.create(pod("web-12")))

        def condition() -> dict:
            p = s.run(s.api.get("pods", "web-12", "default"))
            return next((c for c in (p.get("status") or {}).get("conditions") or []
                         if c.get("type") == "PodScheduled"), {})

        wait_until(lambda: condition().get("status") == "False", 20, "PodScheduled=False")
        assert condition()["message"] == "0/3 nodes are available: 3 Insufficient cpu."
        assert condition()["reason"] == "Unschedulable"
        events = s.run(s.api.list("events", "default", field_selector="involvedObject.name=web-12"))["items"]
        assert any(e["reason"] == "FailedScheduling" and e["type"] == "Warning" for e in events)

        # Kill the leader: the standby takes the lease within its duration and schedules the pod
        # as soon as room appears (a new node is an event that wakes parked pods).
        c.kill(first)
        wait_until(lambda: holder(s) not in ("", first), 20, "the standby to take the lease")
        s.run(s.api.create(node("node-4")))
        wait_until(lambda: bound().get("web-12") == "node-4", 20, "the parked pod placed on the new node")
    finally:
        c.close()
