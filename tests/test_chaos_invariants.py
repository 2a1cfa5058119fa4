"""The chaos run's invariant checkers (kubesim.chaos.invariants), fed hand-made observations.

Each invariant is shown holding on a history that looks like trouble but is
legal (a stale uncommitted entry, a commit index recovered lower after a
restart, a StatefulSet pod reborn elsewhere, a scale-down not yet seen by the
controller, a terminating pod), and broken on one that is not, with the
violation's detail naming the objects.
"""

from __future__ import annotations

import itertools
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


def replicaset(name: str, dep_uid: str | None = "d1", *, replicas: int = 1, generation: int | None = 1,
               observed: int | None = None, dep_name: str = "web") -> Obj:
    """``observed`` (the ReplicaSet controller's ``status.observedGeneration``) defaults to ``generation``."""
    meta: Obj = {"name": name, "namespace": "default", "uid": name}
    if generation is not None:
        meta["generation"] = generation
    if dep_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": dep_name, "uid": dep_uid,
                                    "controller": True}]
    observed = generation if observed is None else observed
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed} if observed else {}}


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
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old", replicas=10))
    run_pods(check, 1.0, "web-old", 10)
    # The new ReplicaSet comes up to 13 = 10 + 25% rounded up, then the old one goes down step by step.
    check.observe(2.0, "ReplicaSet", "ADDED", replicaset("web-new", replicas=3))
    run_pods(check, 2.0, "web-new", 3)
    # The old ReplicaSet's controller deletes its surplus before it writes observedGeneration 2.
    check.observe(3.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=7, generation=2, observed=1))
    for i in range(3):
        check.observe(3.0, "Pod", "DELETED", pod(f"web-old-{i}", f"web-old-{i}", rs="web-old"))
    check.observe(3.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=7, generation=2))
    check.observe(3.0, "ReplicaSet", "MODIFIED", replicaset("web-new", replicas=6, generation=2))
    # Terminating and finished pods no longer count, neither for their ReplicaSet nor for anything else.
    run_pods(check, 3.0, "web-new", 3, start=3)
    run_pods(check, 3.0, "web-new", 2, start=6, terminating=True)
    run_pods(check, 3.0, "web-new", 2, start=8, phase="Failed")
    run_pods(check, 3.0, "web-new", 2, start=10, phase="Succeeded")
    # Another Deployment's ReplicaSet and a bare one neither count for this one nor break their own bound.
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("other", dep_uid="d2", replicas=20))
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("bare", dep_uid=None, replicas=20))
    run_pods(check, 3.0, "other", 20)
    run_pods(check, 3.0, "bare", 20)
    check.check(10.0)
    assert check.violations() == []


def test_replicaset_specs_summing_above_replicas_plus_surge() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old", replicas=10))
    check.observe(2.0, "ReplicaSet", "ADDED", replicaset("web-new", replicas=3))
    check.observe(2.5, "ReplicaSet", "MODIFIED", replicaset("web-new", replicas=4, generation=2))
    check.observe(2.6, "ReplicaSet", "MODIFIED", replicaset("web-new", replicas=5, generation=3))
    check.observe(2.7, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=9, generation=2))
    [v] = jsonable(check.violations())  # no pods at all: the ReplicaSets' sizes alone break it
    assert v["check"] == "surge_bound" and v["kind"] == "surge_exceeded"
    assert (v["deployment"], v["uid"], v["time"]) == ("default/web", "d1", 2.5)
    assert (v["total"], v["bound"], v["replicas"], v["max_surge"], v["strategy"]) == (14, 13, 10, 3, "RollingUpdate")
    assert v["replicasets"] == {"default/web-new": 4, "default/web-old": 10}  # as at the first breach
    assert (v["count"], v["peak"], v["last_time"]) == (3, 15, 2.7)
    assert v["detail"] == (
        "deployment default/web (uid d1): its ReplicaSets' spec.replicas summed to 14 at t=2.5 s, "
        "above replicas + maxSurge = 10 + 3 = 13 (generation 1, observedGeneration 1); "
        "by ReplicaSet: default/web-new 4, default/web-old 10; "
        "over the bound at 3 checks, at most 15 replicas, last at t=2.7 s")
    # Back within the bound, and over again later: still the one violation.
    check.observe(3.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=8, generation=3))
    check.observe(4.0, "ReplicaSet", "MODIFIED", replicaset("web-new", replicas=6, generation=4))
    [v] = check.violations()
    assert (v["count"], v["peak"], v["last_time"]) == (4, 15, 4.0)
    assert "1 deployments went over" in check.summary() and "0 replicasets ran" in check.summary()


@pytest.mark.parametrize(("replicas", "surge", "bound"), [(4, "50%", 6), (5, "30%", 7), (10, "25%", 13),
                                                           (10, None, 13), (3, "1%", 4), (10, 0, 10)])
def test_surge_percentages_in_the_bound(replicas: int, surge: int | str | None, bound: int) -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=replicas, surge=surge, unavailable=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old", replicas=replicas))
    check.observe(1.0, "ReplicaSet", "ADDED", replicaset("web-new", replicas=bound - replicas))
    assert check.violations() == []
    check.observe(2.0, "ReplicaSet", "MODIFIED", replicaset("web-new", replicas=bound - replicas + 1, generation=2))
    [v] = check.violations()
    assert (v["total"], v["bound"], v["max_surge"]) == (bound + 1, bound, bound - replicas)


def test_recreate_has_no_surge() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=3, strategy="Recreate"))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-old", replicas=3))
    old = run_pods(check, 1.0, "web-old", 3)
    # Recreate: the old ReplicaSet to 0 and every old pod terminating before the new one is sized.
    check.observe(2.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=0, generation=2, observed=1))
    for p in old:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        check.observe(2.0, "Pod", "MODIFIED", p)
    check.observe(2.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=0, generation=2))
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("web-new", replicas=3))
    run_pods(check, 3.0, "web-new", 3)
    assert check.violations() == []
    check.observe(4.0, "ReplicaSet", "MODIFIED", replicaset("web-old", replicas=1, generation=3))
    [v] = check.violations()
    assert (v["strategy"], v["bound"], v["total"], v["max_surge"]) == ("Recreate", 3, 4, 0)
    assert "above replicas = 3 (Recreate: no surge)" in v["detail"]


def test_paused_deployment_same_rule() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=10, paused=True))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=9))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-b", replicas=4))
    assert check.violations() == []
    check.observe(1.0, "ReplicaSet", "MODIFIED", replicaset("web-b", replicas=5, generation=2))
    assert len(check.violations()) == 1


def failover_events(check: SurgeBound) -> list[Obj]:
    """``churn`` (maxSurge 1) at 4 replicas, scaled to 1 at t=5 while no controller manager leads."""
    check.observe(0.0, "Deployment", "ADDED", deployment("churn", replicas=4, surge=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("churn-a", replicas=4, dep_name="churn"))
    pods = run_pods(check, 1.0, "churn-a", 4)
    check.observe(5.0, "Deployment", "MODIFIED", deployment("churn", replicas=1, surge=1, generation=2, observed=1))
    check.check(10.0)
    check.check(29.0)
    return pods


RS_SPEC, RS_STATUS, DEPLOYMENT_STATUS, PODS_DELETED = "rs spec", "rs status", "deployment status", "pods deleted"


@pytest.mark.parametrize("order", [o for o in itertools.permutations(
    (RS_SPEC, RS_STATUS, DEPLOYMENT_STATUS, PODS_DELETED)) if o.index(RS_SPEC) < o.index(RS_STATUS)],
    ids=lambda o: ", ".join(o))
def test_a_scale_down_acted_on_after_a_failover_is_no_violation(order: tuple[str, ...]) -> None:
    # The new leader (t=30) resizes the ReplicaSet to 1 and then writes the Deployment's observedGeneration;
    # the ReplicaSet controller deletes 3 pods and then writes the ReplicaSet's. Three watches deliver this
    # in any order (the ReplicaSet's own events in theirs), the 4 pods outliving the Deployment's new bound
    # of 1 + 1 for a moment. The spec was replaced 25 s earlier, far beyond the settle window.
    check = SurgeBound(settle_s=2.0)
    pods = failover_events(check)
    for i, step in enumerate(order):
        time = 30.0 + 0.3 * i
        if step == RS_SPEC:  # the ReplicaSet controller has not seen generation 2 yet
            check.observe(time, "ReplicaSet", "MODIFIED",
                          replicaset("churn-a", replicas=1, generation=2, observed=1, dep_name="churn"))
        elif step == RS_STATUS:
            check.observe(time, "ReplicaSet", "MODIFIED",
                          replicaset("churn-a", replicas=1, generation=2, observed=2, dep_name="churn"))
        elif step == DEPLOYMENT_STATUS:
            check.observe(time, "Deployment", "MODIFIED",
                          deployment("churn", replicas=1, surge=1, generation=2, observed=2))
        else:
            for p in pods[1:]:
                p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:30Z"
                check.observe(time, "Pod", "MODIFIED", p)
        check.check(time + 0.1)
    for p in pods[1:]:
        check.observe(35.0, "Pod", "DELETED", p)
    check.check(60.0)
    assert check.violations() == []
    assert "0 deployments went over" in check.summary() and "0 replicasets ran" in check.summary()


def test_a_replicaset_left_too_big_after_the_controller_observed_the_scale() -> None:
    check = SurgeBound(settle_s=2.0)
    failover_events(check)
    # The new leader says it observed generation 2 but never resized the ReplicaSet.
    check.observe(30.0, "Deployment", "MODIFIED", deployment("churn", replicas=1, surge=1, generation=2, observed=2))
    check.check(31.9)
    assert check.violations() == []
    check.check(32.0)  # the window runs from when the controller was seen to observe, not from the scale at t=5
    [v] = check.violations()
    assert (v["kind"], v["deployment"], v["time"], v["total"], v["bound"]) == ("surge_exceeded", "default/churn",
                                                                               32.0, 4, 2)
    assert (v["generation"], v["observed_generation"], v["replicasets"]) == (2, 2, {"default/churn-a": 4})


def test_a_replicaset_keeps_its_old_size_until_its_controller_observes_the_new() -> None:
    check = SurgeBound()
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=12))
    run_pods(check, 1.0, "web-a", 12)
    check.observe(5.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=4, generation=2, observed=1))
    check.check(50.0)
    assert check.violations() == []
    # Its controller has seen generation 2, yet all 12 pods are still active (and no settle window).
    check.observe(60.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=4, generation=2, observed=2))
    [v] = check.violations()
    assert (v["kind"], v["time"], v["active"], v["bound"], v["generation"]) == ("pods_exceed_replicas", 60.0,
                                                                                  12, 4, 2)


def test_a_replicaset_without_generations_is_observed_at_once() -> None:
    check = SurgeBound()
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=3, generation=None))
    run_pods(check, 1.0, "web-a", 3)
    check.observe(2.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=2, generation=None))
    [v] = check.violations()
    assert (v["time"], v["active"], v["bound"], v["generation"]) == (2.0, 3, 2, None)


def test_pods_above_the_observed_replicas_beyond_the_settle_window() -> None:
    check = SurgeBound(settle_s=5.0)
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=12))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=12))
    pods = run_pods(check, 1.0, "web-a", 12)
    check.observe(5.0, "Deployment", "MODIFIED", deployment(replicas=5, generation=2, observed=1))
    check.observe(5.1, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=5, generation=2, observed=1))
    check.observe(5.2, "Deployment", "MODIFIED", deployment(replicas=5, generation=2, observed=2))
    check.observe(5.3, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=5, generation=2, observed=2))
    for p in pods[:6]:  # the deletions show up late, but within the window (5 s from 5.3)
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        check.observe(9.0, "Pod", "MODIFIED", p)
    check.check(10.2)
    assert check.violations() == []
    # One pod too many is still there when the window closes.
    check.check(10.3)
    check.check(11.0)
    [v] = jsonable(check.violations())
    assert (v["kind"], v["replicaset"], v["uid"], v["deployment"]) == ("pods_exceed_replicas", "default/web-a",
                                                                       "web-a", "default/web")
    assert (v["time"], v["active"], v["bound"], v["replicas"], v["count"], v["last_time"]) == (10.3, 6, 5, 5, 2, 11.0)
    assert v["pods"] == ["web-a-10", "web-a-11", "web-a-6", "web-a-7", "web-a-8", "web-a-9"]
    assert v["detail"] == (
        "replicaset default/web-a (uid web-a, of deployment default/web) had 6 active pods at t=10.3 s, "
        "above spec.replicas = 5 (generation 2, observedGeneration 2); "
        "pods: web-a-10, web-a-11, web-a-6, web-a-7, web-a-8, web-a-9; "
        "over the bound at 2 checks, at most 6 pods, last at t=11.0 s")


def test_duplicate_pods_from_a_replicaset_controller() -> None:
    # After a failover a ReplicaSet controller with lost expectations creates pods it had already created.
    check = SurgeBound(settle_s=5.0)
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=3, surge=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=3))
    run_pods(check, 1.0, "web-a", 3)
    run_pods(check, 20.0, "web-a", 1, start=3)  # no spec changed: no window to wait for
    run_pods(check, 20.1, "web-a", 1, start=4)
    [v] = check.violations()  # the Deployment's ReplicaSets still ask for 3, well within 3 + 1
    assert (v["kind"], v["time"], v["active"], v["bound"], v["count"], v["peak"]) == (
        "pods_exceed_replicas", 20.0, 4, 3, 2, 5)
    assert v["pods"] == ["web-a-0", "web-a-1", "web-a-2", "web-a-3"]
    assert v["detail"].endswith("at most 5 pods, last at t=20.1 s")


def test_a_replicaset_scaled_up_and_down_keeps_the_highest_until_observed() -> None:
    check = SurgeBound()
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=2))
    check.observe(1.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=6, generation=2, observed=1))
    run_pods(check, 2.0, "web-a", 6)
    check.observe(3.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=1, generation=3, observed=1))
    check.observe(4.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=1, generation=3, observed=2))
    assert check.violations() == []
    check.observe(5.0, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=1, generation=3, observed=3))
    [v] = check.violations()
    assert (v["active"], v["bound"], v["generation"]) == (6, 1, 3)


def test_deleted_and_orphaned_replicasets_stop_counting() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=2, surge=0, unavailable=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=2))
    run_pods(check, 1.0, "web-a", 2)
    check.observe(2.0, "ReplicaSet", "DELETED", replicaset("web-a", replicas=2))  # its pods are the GC's now
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("web-b", replicas=2))
    run_pods(check, 3.0, "web-a", 3, start=2)  # late pod events of the deleted ReplicaSet
    # An orphaned ReplicaSet (ownerReference removed) no longer counts for the Deployment...
    check.observe(4.0, "ReplicaSet", "MODIFIED", replicaset("web-b", dep_uid=None, replicas=2))
    check.observe(4.0, "ReplicaSet", "ADDED", replicaset("web-c", replicas=2))
    check.check(5.0)
    assert check.violations() == []
    # ... but still answers for its own pods.
    run_pods(check, 6.0, "web-b", 3)
    [v] = check.violations()
    assert (v["kind"], v["replicaset"], v["deployment"], v["active"], v["bound"]) == (
        "pods_exceed_replicas", "default/web-b", None, 3, 2)
    assert v["detail"].startswith("replicaset default/web-b (uid web-b) had 3 active pods")
    # A deleted Deployment bounds nothing, and a deleted ReplicaSet's pods count for nothing.
    check.observe(7.0, "Deployment", "DELETED", deployment(replicas=2, surge=0, unavailable=1))
    check.observe(7.0, "ReplicaSet", "MODIFIED", replicaset("web-c", replicas=5, generation=2))
    check.observe(7.0, "ReplicaSet", "DELETED", replicaset("web-b", dep_uid=None, replicas=2))
    run_pods(check, 8.0, "web-b", 2, start=3)
    check.check(9.0)
    assert len(check.violations()) == 1
    assert "0 deployments went over" in check.summary() and "1 replicasets ran" in check.summary()


def test_deleted_pods_leave_the_count() -> None:
    check = SurgeBound()
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=3))
    pods = run_pods(check, 1.0, "web-a", 3)
    check.observe(2.0, "Pod", "DELETED", pods[0])
    run_pods(check, 3.0, "web-a", 1, start=3)
    # A pod whose controller changes moves to the other ReplicaSet's count.
    check.observe(3.0, "ReplicaSet", "ADDED", replicaset("web-b", replicas=1))
    moved = pod("web-a-1", "web-a-1", rs="web-b")
    check.observe(4.0, "Pod", "MODIFIED", moved)
    run_pods(check, 4.0, "web-a", 1, start=4)
    assert check.violations() == []


def test_events_in_any_order() -> None:
    # The pods' watch ran ahead of the ReplicaSets', which ran ahead of the Deployments'.
    check = SurgeBound()
    run_pods(check, 1.0, "web-a", 4)
    run_pods(check, 1.0, "web-x", 3)
    check.check(1.0)
    assert check.violations() == []
    check.observe(1.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=4))
    check.observe(1.0, "ReplicaSet", "ADDED", replicaset("web-x", dep_uid="d2", replicas=2))
    [v] = check.violations()
    assert (v["kind"], v["replicaset"], v["active"], v["bound"]) == ("pods_exceed_replicas", "default/web-x", 3, 2)
    check.observe(1.0, "Deployment", "ADDED", deployment(replicas=2, surge=1))
    _, v = check.violations()
    assert (v["kind"], v["deployment"], v["total"], v["bound"]) == ("surge_exceeded", "default/web", 4, 3)
    # A Deployment's status ahead of its spec's event is no different.
    check = SurgeBound()
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=4))
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=4, surge=1, generation=2, observed=2))
    check.observe(0.1, "ReplicaSet", "MODIFIED", replicaset("web-a", replicas=5, generation=2))
    assert check.violations() == []


def test_violations_hold_only_json() -> None:
    check = SurgeBound()
    check.observe(0.0, "Deployment", "ADDED", deployment(replicas=1, surge=0, unavailable=1))
    check.observe(0.0, "ReplicaSet", "ADDED", replicaset("web-a", replicas=2))
    run_pods(check, 0.0, "web-a", 3)
    first = jsonable(check.violations())
    assert [v["kind"] for v in first] == ["surge_exceeded", "pods_exceed_replicas"]
    first[0]["detail"] = "changed"
    assert check.violations()[0]["detail"] != "changed"


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


def test_a_replicaset_first_seen_mid_scale_down_is_not_judged_until_its_controller_observes_a_known_spec() -> None:
    """The watch began after the scale-down from 2 to 1 was written but before the ReplicaSet controller saw it:
    the bound it still acts on (2) was never seen, so nothing is judged until it observes generation 15."""
    check = SurgeBound(settle_s=2.0)
    check.observe(0.3, "ReplicaSet", "ADDED", replicaset("rs-1", replicas=1, generation=15, observed=14))
    run_pods(check, 0.3, "rs-1", 2)
    assert check.violations() == []
    check.observe(1.0, "ReplicaSet", "MODIFIED", replicaset("rs-1", replicas=1, generation=15, observed=15))
    check.check(2.0)  # inside the settle window after the observation: the deletion is under way
    assert check.violations() == []
    check.check(3.5)  # two pods still running a while after it observed replicas 1: that is a breach
    assert [v["kind"] for v in check.violations()] == ["pods_exceed_replicas"]
