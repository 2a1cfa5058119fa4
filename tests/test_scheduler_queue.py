"""The scheduling queue: order, backoff, parking unschedulable pods, and the events that wake them."""

from __future__ import annotations

import pytest

from actors.scheduler.queue import MAX_UNSCHEDULABLE_S, NODE_ADDED, SchedulingQueue


def pod(name: str, priority: int | None = None, ns: str = "default") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def names(q: SchedulingQueue, now: float) -> list[str]:
    out = []
    while (qp := q.pop(now)) is not None:
        out.append(qp.pod["metadata"]["name"])
    return out


def test_higher_priority_first_then_oldest_first():
    q = SchedulingQueue()
    q.add(pod("old-low", 0), 1.0)
    q.add(pod("new-high", 1000), 3.0)
    q.add(pod("mid-low", 0), 2.0)
    q.add(pod("old-high", 1000), 2.5)
    assert names(q, 4.0) == ["old-high", "new-high", "old-low", "mid-low"]


@pytest.mark.parametrize(("attempts", "wait"), [
    pytest.param(1, 1.0, id="first-failure-1s"),
    pytest.param(2, 2.0, id="second-2s"),
    pytest.param(4, 8.0, id="fourth-8s"),
    pytest.param(5, 10.0, id="capped-10s"),
    pytest.param(9, 10.0, id="still-10s"),
])
def test_a_failed_pod_backs_off_1s_doubling_to_10s(attempts, wait):
    q = SchedulingQueue()
    q.add(pod("p"), 0.0)
    now = 0.0
    for _ in range(attempts):
        qp = q.pop(now)
        assert qp is not None
        q.error(qp, now)
        now = qp.backoff_until()
    # After the last failure (at `now - wait`) the pod is back exactly when its backoff ends.
    failed_at = now - wait
    assert q.pop(failed_at + wait - 0.001) is None
    assert q.pending()["backoff"] == 1
    assert q.pop(failed_at + wait) is not None


def test_an_unschedulable_pod_waits_for_an_event_then_respects_its_backoff():
    q = SchedulingQueue()
    q.add(pod("big"), 0.0)
    qp = q.pop(0.0)
    q.unschedulable(qp, {"NodeResourcesFit"}, 0.0)
    assert q.pending() == {"active": 0, "backoff": 0, "unschedulable": 1}
    assert q.pop(50.0) is None, "nothing changed in the cluster: not retried"
    assert q.cluster_event(NODE_ADDED, 0.5) == 1  # a node arrived half a second later
    assert q.pending()["backoff"] == 1 and q.pop(0.9) is None  # backoff 1 s from the failure at 0
    assert q.pop(1.0).pod["metadata"]["name"] == "big"


def test_an_event_after_the_backoff_sends_it_straight_to_active():
    q = SchedulingQueue()
    q.add(pod("big"), 0.0)
    q.unschedulable(q.pop(0.0), {"NodeResourcesFit"}, 0.0)
    q.cluster_event(NODE_ADDED, 30.0)
    assert q.pending()["active"] == 1


def test_a_parked_pod_is_retried_after_five_minutes_anyway():
    q = SchedulingQueue()
    q.add(pod("p"), 0.0)
    q.unschedulable(q.pop(0.0), {"TaintToleration"}, 0.0)
    assert q.pop(MAX_UNSCHEDULABLE_S - 1) is None
    assert q.pop(MAX_UNSCHEDULABLE_S) is not None


def test_an_update_to_a_parked_pod_moves_it_out():
    q = SchedulingQueue()
    q.add(pod("p"), 0.0)
    q.unschedulable(q.pop(0.0), {"NodeAffinity"}, 0.0)
    changed = pod("p")
    changed["spec"]["nodeSelector"] = {"disk": "ssd"}
    q.update(changed, 5.0)
    got = q.pop(5.0)
    assert got is not None and got.pod["spec"]["nodeSelector"] == {"disk": "ssd"}


def test_a_deleted_pod_is_never_handed_out():
    q = SchedulingQueue()
    q.add(pod("a"), 0.0)
    q.add(pod("b"), 1.0)
    q.delete(pod("a"))
    assert names(q, 2.0) == ["b"] and len(q) == 1


def test_a_pod_deleted_while_in_flight_is_not_parked():
    q = SchedulingQueue()
    q.add(pod("a"), 0.0)
    qp = q.pop(0.0)
    q.delete(pod("a"))
    q.unschedulable(qp, {"NodeResourcesFit"}, 0.0)
    assert q.pending() == {"active": 0, "backoff": 0, "unschedulable": 0}


def test_next_wakeup_is_the_earliest_backoff():
    q = SchedulingQueue()
    q.add(pod("a"), 0.0)
    q.add(pod("b"), 0.0)
    qa, qb = q.pop(0.0), q.pop(0.0)
    q.error(qa, 2.0)
    q.error(qb, 1.0)
    assert q.next_wakeup() == 2.0


def test_a_status_only_update_leaves_a_parked_pod_parked():
    """The scheduler's own PodScheduled=False write comes back as an update: no retry loop."""
    q = SchedulingQueue()
    q.add(pod("p"), 0.0)
    q.unschedulable(q.pop(0.0), {"NodeResourcesFit"}, 0.0)
    reported = pod("p")
    reported["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    q.update(reported, 5.0)
    assert q.pending()["unschedulable"] == 1 and q.pop(5.0) is None
