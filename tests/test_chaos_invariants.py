"""The chaos run's invariant checkers (kubesim.chaos.invariants), fed hand-made observations.

Each invariant is shown holding on a history that looks like trouble but is
legal (a stale uncommitted entry, a commit index recovered lower after a
restart, a StatefulSet pod reborn elsewhere, a scale-down not yet seen by the
controller, a terminating pod), and broken on one that is not, with the
violation's detail naming the objects.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors.controllers.endpoints import SERVICE_NAME_LABEL, plan_endpoint_slices
from kubesim.chaos.invariants import (
    CommittedPrefixes,
    LeadersPerTerm,
    PodBindings,
    SurgeBound,
    endpoint_exclusion,
    endpoints_match_ready_pods,
    surge_bound,
)

Obj = dict[str, Any]


def jsonable(violations: list[dict]) -> list[dict]:
    assert json.loads(json.dumps(violations)) == violations
    return violations


# --- builders ---------------------------------------------------------------------------------------

def pod(name: str, uid: str, *, node: str = "", rs: str | None = None, phase: str = "Running",
        ready: bool = True, ip: str | None = None, labels: dict | None = None, terminating: bool = False,
        ns: str = "default") -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "uid": uid, "labels": labels or {}}
    if rs:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs,
                                    "controller": True}]
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
            "status": status}


def deployment(name: str = "web", uid: str = "d1", *, replicas: int = 10, generation: int = 1,
               observed: int = 1, surge: int | str | None = None, unavailable: int | str | None = None,
               strategy: str = "RollingUpdate", paused: bool = False) -> Obj:
    spec: Obj = {"replicas": replicas, "strategy": {"type": strategy}, "paused": paused}
    rolling = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None}
    if rolling:
        spec["strategy"]["rollingUpdate"] = rolling
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": generation},
            "spec": spec, "status": {"observedGeneration": observed}}


def replicaset(name: str, dep_uid: str | None = "d1") -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": name}
    if dep_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": dep_uid,
                                    "controller": True}]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": {"replicas": 1}}


def run_pods(check: SurgeBound, time: float, rs: str, count: int, *, start: int = 0, **kw: Any) -> list[Obj]:
    pods = [pod(f"{rs}-{i}", f"{rs}-{i}", rs=rs, **kw) for i in range(start, start + count)]
    for p in pods:
        check.observe(time, "Pod", "ADDED", p)
    return pods


def service(name: str = "web", *, selector: dict | None = None, headless: bool = False,
            publish: bool = False, type_: str = "ClusterIP", ns: str = "default") -> Obj:
    spec: Obj = {"type": type_, "clusterIP": "None" if headless else "10.96.0.10",
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    if selector is not None:
        spec["selector"] = selector
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "uid": f"svc-{name}"},
            "spec": spec}


def endpoint_slice(service_name: str, endpoints: list[tuple[str, str | None, bool | None]], *,
                   ns: str = "default") -> Obj:
    """A slice of ``(ip, pod name, ready)`` endpoints; ``ready`` None leaves the condition out."""
    eps = []
    for ip, pod_name, ready in endpoints:
        ep: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
        if pod_name:
            ep["targetRef"] = {"kind": "Pod", "namespace": ns, "name": pod_name}
        eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-x", "namespace": ns, "labels": {SERVICE_NAME_LABEL: service_name}},
            "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


# === LeadersPerTerm ===================================================================================

def test_one_leader_per_term_holds_through_elections() -> None:
    check = LeadersPerTerm()
    check.observe(0.5, "s1", 1, "leader", "s1")
    check.observe(0.5, "s2", 1, "follower", "s1")
    check.observe(0.6, "s3", 1, "follower", "")  # has not heard from the leader yet
    check.observe(2.0, "s2", 1, "pre_candidate", "")
    check.observe(2.1, "s2", 2, "candidate", "")
    check.observe(2.2, "s2", 2, "leader", "s2")
    check.observe(2.3, "s1", 2, "follower", "s2")
    check.observe(2.4, "s1", 1, "leader", "s1")  # a stale status of the old term: still one leader for it
    assert check.violations() == []
    assert "3 members" in check.summary() and "0 violations" in check.summary()


def test_two_leaders_in_one_term_is_split_brain_reported_once() -> None:
    check = LeadersPerTerm()
    check.observe(1.0, "s1", 4, "leader", "s1")
    check.observe(3.5, "s2", 4, "leader", "s2")
    check.observe(4.0, "s2", 4, "leader", "s2")
    check.observe(4.0, "s1", 4, "leader", "s1")
    [v] = jsonable(check.violations())
    assert v["kind"] == "split_brain" and v["check"] == "leaders_per_term"
    assert v["term"] == 4 and v["leaders"] == ["s1", "s2"] and v["time"] == 3.5
    assert v["detail"] == "term 4 has two leaders: s1 said it led at t=1.0 s and s2 at t=3.5 s"


def test_followers_naming_different_leaders_for_a_term() -> None:
    check = LeadersPerTerm()
    check.observe(1.0, "s1", 7, "follower", "s3")
    check.observe(1.2, "s2", 7, "follower", "s3")
    check.observe(2.0, "s4", 7, "follower", "s5")
    [v] = check.violations()
    assert v["kind"] == "leader_disagreement" and v["leaders"] == ["s3", "s5"] and v["named_by"] == ["s1", "s4"]
    assert v["detail"] == "term 7 has two leaders named: s1 named s3 at t=1.0 s and s4 named s5 at t=2.0 s"


def test_follower_naming_another_than_the_self_declared_leader() -> None:
    check = LeadersPerTerm()
    check.observe(1.0, "s1", 2, "leader", "s1")
    check.observe(1.5, "s2", 2, "follower", "s3")
    [v] = check.violations()
    assert v["kind"] == "leader_disagreement"
    assert v["detail"] == "term 2 has two leaders named: s1 said it led at t=1.0 s and s2 named s3 at t=1.5 s"


def test_violations_are_copies() -> None:
    check = LeadersPerTerm()
    check.observe(1.0, "s1", 1, "leader", "s1")
    check.observe(1.0, "s2", 1, "leader", "s2")
    check.violations()[0]["detail"] = "changed"
    assert check.violations()[0]["detail"] != "changed"


# === CommittedPrefixes ================================================================================

def test_agreeing_logs_with_snapshots_and_lagging_commits() -> None:
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 12, 0, [[1, 4, 1], [5, 9, 2], [10, 12, 3]])
    check.observe(1.1, "s2", 9, 6, [[7, 9, 2], [10, 11, 3]])  # compacted to 6, commit behind
    check.observe(1.2, "s3", 0, 0, [])  # empty, just joined
    check.observe(2.0, "s1", 20, 10, [(11, 12, 3), (13, 20, 5)])
    assert check.violations() == []
    assert check.highest_commit("s1") == 20 and check.highest_commit("nobody") == 0


def test_a_stale_uncommitted_entry_may_differ() -> None:
    # s3 was cut off holding index 6 of term 2, never committed; the new leader committed index 6 in term 3.
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 8, 0, [[1, 5, 1], [6, 8, 3]])
    check.observe(1.0, "s3", 5, 0, [[1, 5, 1], [6, 6, 2]])
    check.observe(2.0, "s3", 8, 0, [[1, 5, 1], [6, 8, 3]])  # overwritten, then committed: fine
    assert check.violations() == []


def test_committed_prefixes_that_disagree() -> None:
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 10, 0, [[1, 5, 1], [6, 10, 2]])
    check.observe(2.5, "s2", 8, 0, [[1, 5, 1], [6, 8, 3]])
    check.observe(3.0, "s2", 8, 0, [[1, 5, 1], [6, 8, 3]])  # the same fact again: not reported again
    [v] = jsonable(check.violations())
    assert v["kind"] == "committed_prefix_mismatch"
    assert (v["index"], v["first"], v["last"], v["members"], v["terms"]) == (6, 6, 8, ["s2", "s1"], [3, 2])
    assert v["detail"] == ("committed prefixes disagree at index 6: s2 (commit index 8, t=2.5 s) has term 3, "
                           "s1 (commit index 10, t=1.0 s) has term 2; indices 6..8 differ")


def test_commit_index_going_down_after_a_restart_is_not_flagged() -> None:
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 30, 0, [[1, 30, 1]])
    check.observe(5.0, "s1", 12, 0, [[1, 30, 1]])  # restarted: the commit on disk lagged
    assert check.violations() == []
    assert check.highest_commit("s1") == 30
    assert "s1 30" in check.summary()


def test_a_committed_entry_must_never_change_later() -> None:
    # Only one member in view at each time, so no pair of simultaneous logs shows it: the history does.
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 5, 0, [[1, 5, 1]])
    check.observe(9.0, "s1", 6, 0, [[1, 3, 1], [4, 6, 2]])
    [v] = check.violations()
    assert v["kind"] == "committed_entry_changed"
    assert (v["index"], v["last"], v["terms"], v["members"]) == (4, 5, [1, 2], ["s1", "s1"])
    assert v["detail"] == ("committed entry changed: index 4 was seen committed with term 1 (on s1 at t=1.0 s) "
                           "but s1 has it committed with term 2 at t=9.0 s (commit index 6); indices 4..5 differ")


def test_a_committed_entry_seen_on_a_member_since_gone() -> None:
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 5, 0, [[1, 5, 1]])
    check.observe(2.0, "s1", 5, 5, [])  # s1 compacted everything: its entries are no longer in view
    check.observe(3.0, "s2", 5, 0, [[1, 4, 1], [5, 5, 2]])
    [v] = check.violations()
    assert v["kind"] == "committed_entry_changed" and v["index"] == 5 and v["members"] == ["s1", "s2"]


def test_committed_stretches_from_different_snapshots_fill_in() -> None:
    check = CommittedPrefixes()
    check.observe(1.0, "s1", 200, 100, [[101, 200, 3]])
    check.observe(2.0, "s2", 250, 0, [[1, 40, 1], [41, 100, 2], [101, 250, 3]])
    check.observe(3.0, "s1", 200, 200, [])
    check.observe(3.0, "s2", 250, 250, [])
    check.observe(4.0, "s3", 60, 0, [[1, 40, 1], [41, 49, 2], [50, 60, 4]])
    [v] = check.violations()
    assert v["kind"] == "committed_entry_changed" and (v["index"], v["last"]) == (50, 60)
    assert "seen committed with term 2 (on s2 at t=2.0 s)" in v["detail"]


def test_huge_logs_compare_by_runs() -> None:
    check = CommittedPrefixes()
    for t in range(200):
        for m in ("s1", "s2", "s3"):
            commit = 1_000_000 + t * 1000
            check.observe(float(t), m, commit, t * 1000, [[t * 1000 + 1, 500_000, 1], [500_001, commit, 2]])
    assert check.violations() == []


# === PodBindings =====================================================================================

def test_a_pod_bound_once_through_its_life() -> None:
    check = PodBindings()
    check.observe(1.0, "ADDED", pod("web-abc", "1234"))
    check.observe(1.5, "MODIFIED", pod("web-abc", "1234", node="node-1"))
    check.observe(3.0, "MODIFIED", pod("web-abc", "1234", node="node-1", terminating=True))
    check.observe(4.0, "DELETED", pod("web-abc", "1234", node="node-1", terminating=True))
    # A StatefulSet's replacement: same name, new uid, another node.
    check.observe(5.0, "ADDED", pod("web-abc", "5678", node="node-2"))
    assert check.violations() == []
    assert check.summary() == "pod bindings: 2 pods seen bound, 0 violations"


def test_a_pod_bound_to_two_nodes() -> None:
    check = PodBindings()
    check.observe(3.2, "MODIFIED", pod("web-abc", "1234", node="node-1"))
    check.observe(9.8, "MODIFIED", pod("web-abc", "1234", node="node-2"))
    check.observe(9.9, "MODIFIED", pod("web-abc", "1234", node="node-2"))
    [v] = jsonable(check.violations())
    assert v["detail"] == "pod default/web-abc (uid 1234) bound to node-1 at t=3.2 s and to node-2 at t=9.8 s"
    assert (v["kind"], v["pod"], v["uid"], v["nodes"]) == ("pod_rebound", "default/web-abc", "1234",
                                                           ["node-1", "node-2"])


# === SurgeBound =====================================================================================

def test_surge_percentages_resolve_as_the_controller_does() -> None:
    assert surge_bound(deployment(replicas=10)) == 13  # 25% of 10 rounds up to 3
    assert surge_bound(deployment(replicas=4, surge="50%")) == 6
    assert surge_bound(deployment(replicas=10, surge=0, unavailable=1)) == 10
    assert surge_bound(deployment(replicas=5, surge=2, strategy="Recreate")) == 5


def test_a_rolling_update_within_replicas_plus_surge() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-new"))
    run_pods(check, 1.0, "web-old", 10)
    run_pods(check, 2.0, "web-new", 3)  # 13 = 10 + 25% rounded up
    # Terminating and finished pods no longer count.
    run_pods(check, 3.0, "web-new", 2, start=3, terminating=True)
    run_pods(check, 3.0, "web-new", 2, start=5, phase="Failed")
    run_pods(check, 3.0, "web-new", 2, start=7, phase="Succeeded")
    # Pods of another Deployment's ReplicaSet, and of a bare ReplicaSet, do not count either.
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("other", dep_uid="d2"))
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("bare", dep_uid=None))
    run_pods(check, 3.0, "other", 5)
    run_pods(check, 3.0, "bare", 5)
    check.check(10.0)
    assert check.violations() == []


def test_one_pod_over_the_bound() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-new"))
    run_pods(check, 1.0, "web-old", 10)
    run_pods(check, 2.0, "web-new", 3)
    run_pods(check, 2.5, "web-new", 1, start=3)
    run_pods(check, 2.6, "web-new", 1, start=4)
    [v] = jsonable(check.violations())
    assert v["kind"] == "surge_exceeded" and v["deployment"] == "default/web" and v["time"] == 2.5
    assert (v["active"], v["bound"], v["replicas"], v["max_surge"]) == (14, 13, 10, 3)
    assert v["replicasets"] == {"default/web-new": 4, "default/web-old": 10}  # as at the first breach
    assert (v["count"], v["peak"], v["last_time"]) == (2, 15, 2.6)
    assert v["detail"].startswith(
        "deployment default/web (uid d1) had 14 active pods at t=2.5 s, above replicas + maxSurge = 10 + 3 = 13 "
        "(generation 1, observedGeneration 1); by ReplicaSet: default/web-new 4, default/web-old 10; "
        "pods: web-new-0, web-new-1, web-new-2, web-new-3, web-old-0,")
    assert v["detail"].endswith("over the bound at 2 checks, at most 15 pods, last at t=2.6 s")


def test_events_in_any_order() -> None:
    # The pods' watch ran ahead of the ReplicaSets', which ran ahead of the Deployments'.
    check = SurgeBound()
    run_pods(check, 1.0, "web-a", 4)
    check.observe(1.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    assert check.violations() == []
    check.observe(1.0, "Deployment", "ADDED", deployment(replicas=2, surge=1))
    [v] = check.violations()
    assert v["active"] == 4 and v["bound"] == 3


def test_scale_down_keeps_the_old_bound_until_the_controller_observes_it() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    run_pods(check, 1.0, "web-a", 12)
    # Scaled to 4 (bound 5): the controller has not seen generation 2 yet, so 12 pods are still fine.
    check.observe(5.0, "Deployment", "MODIFIED", deployment(replicas=4, generation=2, observed=1))
    check.check(6.0)
    assert check.violations() == []
    # The controller has seen generation 2, yet all 12 pods are still active (and no settle window).
    check.observe(7.0, "Deployment", "MODIFIED", deployment(replicas=4, generation=2, observed=2))
    [v] = check.violations()
    assert (v["time"], v["active"], v["bound"], v["generation"]) == (7.0, 12, 5, 2)


def test_scale_down_grace_window() -> None:
    check = SurgeBound(settle_s=5.0)
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    pods = run_pods(check, 1.0, "web-a", 12)
    check.observe(5.0, "Deployment", "MODIFIED", deployment(replicas=4, generation=2, observed=1))
    check.observe(5.1, "Deployment", "MODIFIED", deployment(replicas=4, generation=2, observed=2))
    for p in pods[:6]:  # the deletions show up late, but within the window (5 s from the change at 5.0)
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        check.observe(9.0, "Pod", "MODIFIED", p)
    check.check(9.9)
    assert check.violations() == []
    # One pod too many is still there when the window closes.
    check.check(10.0)
    [v] = check.violations()
    assert (v["time"], v["active"], v["bound"]) == (10.0, 6, 5)


def test_recreate_has_no_surge() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=3, strategy="Recreate"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-new"))
    old = run_pods(check, 1.0, "web-old", 3)
    for p in old:  # Recreate: every old pod terminating before a new one starts
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        check.observe(2.0, "Pod", "MODIFIED", p)
    run_pods(check, 3.0, "web-new", 3)
    assert check.violations() == []
    run_pods(check, 4.0, "web-new", 1, start=3)
    [v] = check.violations()
    assert v["strategy"] == "Recreate" and v["bound"] == 3
    assert "above replicas = 3 (Recreate: no surge)" in v["detail"]


def test_paused_deployment_same_rule() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10, paused=True))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    run_pods(check, 1.0, "web-a", 13)
    assert check.violations() == []
    run_pods(check, 1.0, "web-a", 1, start=13)
    assert len(check.violations()) == 1


def test_deleted_replicasets_and_deployments_stop_counting() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=2, surge=0, unavailable=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-b"))
    run_pods(check, 1.0, "web-a", 2)
    check.observe(2.0, "ReplicaSet", "DELETED", replicaset("web-a"))  # its pods are the GC's now
    run_pods(check, 3.0, "web-b", 2)
    check.observe(4.0, "Deployment", "DELETED", deployment(replicas=2, surge=0, unavailable=1))
    run_pods(check, 4.0, "web-b", 5, start=2)
    check.check(5.0)
    assert check.violations() == []
    assert "0 deployments went over" in check.summary()


def test_deleted_pods_leave_the_count() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=2, surge=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a"))
    pods = run_pods(check, 1.0, "web-a", 3)
    check.observe(2.0, "Pod", "DELETED", pods[0])
    run_pods(check, 3.0, "web-a", 1, start=3)
    assert check.violations() == []


# === endpoints_match_ready_pods =======================================================================

LABELS = {"app": "web"}


def mixed_pods() -> list[Obj]:
    return [
        pod("web-1", "u1", ip="10.0.0.1", labels=LABELS, node="n1"),
        pod("web-2", "u2", ip="10.0.0.2", labels=LABELS, node="n2"),
        pod("web-3", "u3", ip="10.0.0.3", labels=LABELS, ready=False),
        pod("web-4", "u4", ip="10.0.0.4", labels=LABELS, terminating=True),
        pod("web-5", "u5", ip="10.0.0.5", labels=LABELS, phase="Failed", ready=False),
        pod("web-6", "u6", labels=LABELS, phase="Pending", ready=False),  # no IP yet
        pod("db-1", "u7", ip="10.0.0.7", labels={"app": "db"}),
        pod("web-x", "u8", ip="10.0.1.1", labels=LABELS, ns="other"),
    ]


@pytest.mark.parametrize("headless", [False, True])
@pytest.mark.parametrize("publish", [False, True])
def test_slices_written_by_the_controller_match(headless: bool, publish: bool) -> None:
    svc = service(selector=LABELS, headless=headless, publish=publish)
    pods = mixed_pods()
    selected = [p for p in pods if p["metadata"]["namespace"] == "default"
                and p["metadata"]["labels"].get("app") == "web"]
    slices = plan_endpoint_slices(svc, selected, []).create
    assert endpoints_match_ready_pods([svc], slices, pods) == []


def test_readiness_rule() -> None:
    pods = {p["metadata"]["name"]: p for p in mixed_pods()}
    assert endpoint_exclusion(pods["web-1"]) is None
    assert endpoint_exclusion(pods["web-3"]) == "not Ready"
    assert endpoint_exclusion(pods["web-4"]) == "terminating"
    assert endpoint_exclusion(pods["web-4"], publish_not_ready=True) is None
    assert endpoint_exclusion(pods["web-5"], publish_not_ready=True) == "phase Failed"
    assert endpoint_exclusion(pods["web-6"]) == "no IPv4 address"


def test_hand_made_slices_that_match() -> None:
    svc = service(selector=LABELS)
    slices = [endpoint_slice("web", [("10.0.0.1", "web-1", True), ("10.0.0.3", "web-3", False)]),
              endpoint_slice("web", [("10.0.0.2", "web-2", None),  # no condition: read as ready
                                     ("10.0.0.4", "web-4", False)]),
              endpoint_slice("web", [("10.0.9.9", "ghost", True)], ns="other")]  # another namespace's Service
    assert endpoints_match_ready_pods([svc], slices, mixed_pods()) == []


def test_a_terminating_pod_still_listed_ready_and_a_ready_pod_missing() -> None:
    svc = service(selector=LABELS)
    slices = [endpoint_slice("web", [("10.0.0.1", "web-1", True), ("10.0.0.4", "web-4", True),
                                     ("10.0.0.9", None, True)])]
    [v] = jsonable(endpoints_match_ready_pods([svc], slices, mixed_pods(), time=42.0))
    assert (v["check"], v["kind"], v["service"], v["time"]) == ("endpoints_ready_pods", "endpoints_mismatch",
                                                                "default/web", 42.0)
    assert v["missing"] == [{"ip": "10.0.0.2", "pods": ["web-2"]}]
    assert v["extra"] == [{"ip": "10.0.0.4", "pods": ["web-4"], "why": "web-4: terminating"},
                          {"ip": "10.0.0.9", "pods": [], "why": "no pod in default has this IP"}]
    assert v["detail"] == ("service default/web: ready endpoints lack 10.0.0.2 (pod web-2) and list "
                           "10.0.0.4 (pod web-4, web-4: terminating), 10.0.0.9 (no pod in default has this IP)")


def test_headless_service_is_checked_too() -> None:
    svc = service(selector=LABELS, headless=True)
    slices = [endpoint_slice("web", [("10.0.0.1", "web-1", True), ("10.0.0.7", "db-1", True)])]
    [v] = endpoints_match_ready_pods([svc], slices, mixed_pods())
    assert [m["ip"] for m in v["missing"]] == ["10.0.0.2"]
    assert v["extra"] == [{"ip": "10.0.0.7", "pods": ["db-1"], "why": "db-1: not selected by the Service"}]


def test_publish_not_ready_addresses_counts_not_ready_and_terminating_pods() -> None:
    svc = service(selector=LABELS, publish=True)
    slices = [endpoint_slice("web", [("10.0.0.1", "web-1", True), ("10.0.0.2", "web-2", True)])]
    [v] = endpoints_match_ready_pods([svc], slices, mixed_pods())
    assert v["missing"] == [{"ip": "10.0.0.3", "pods": ["web-3"]}, {"ip": "10.0.0.4", "pods": ["web-4"]}]
    assert v["extra"] == []


def test_services_without_endpoint_controllers_are_skipped() -> None:
    services = [service("manual"), service("manual-empty", selector={}),
                service("ext", selector=LABELS, type_="ExternalName")]
    assert endpoints_match_ready_pods(services, [], mixed_pods()) == []


def test_a_service_with_no_slices_at_all() -> None:
    [v] = endpoints_match_ready_pods([service(selector=LABELS)], [], mixed_pods())
    assert [m["ip"] for m in v["missing"]] == ["10.0.0.1", "10.0.0.2"] and v["extra"] == []
