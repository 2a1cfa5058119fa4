"""Leader election decisions with explicit times: two candidates, one Lease, no overlap."""

from __future__ import annotations

import pytest

from actors.leaderelection import LeaderElector


def stored(lease: dict, rv: int) -> dict:
    """What the API server would return: the object with a resourceVersion."""
    out = dict(lease)
    out["metadata"] = dict(lease["metadata"], resourceVersion=str(rv))
    return out


def test_the_first_candidate_creates_the_lease_and_leads():
    a = LeaderElector("sched-a", "kube-system", "kube-scheduler")
    a.observe(None, 0.0)
    action = a.decide(0.0, 1_000.0)
    assert action.verb == "create"
    spec = action.lease["spec"]
    assert spec["holderIdentity"] == "sched-a" and spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0 and spec["acquireTime"] == spec["renewTime"]
    assert not a.is_leader(0.0), "not before the write succeeded"
    a.written(stored(action.lease, 5), 0.1)
    assert a.is_leader(0.1)


def test_renewing_keeps_acquire_time_and_transitions_and_sends_the_resource_version():
    a = LeaderElector("sched-a", "kube-system", "kube-scheduler")
    a.observe(None, 0.0)
    first = stored(a.decide(0.0, 1_000.0).lease, 5)
    a.written(first, 0.0)
    renew = a.decide(2.0, 1_002.0)
    assert renew.verb == "update" and renew.lease["metadata"]["resourceVersion"] == "5"
    assert renew.lease["spec"]["acquireTime"] == first["spec"]["acquireTime"]
    assert renew.lease["spec"]["renewTime"] != first["spec"]["renewTime"]
    assert renew.lease["spec"]["leaseTransitions"] == 0


def test_a_standby_waits_while_the_record_keeps_changing_and_takes_over_after_the_lease_duration():
    a = LeaderElector("sched-a", "kube-system", "kube-scheduler")
    b = LeaderElector("sched-b", "kube-system", "kube-scheduler")
    a.observe(None, 0.0)
    lease = stored(a.decide(0.0, 1_000.0).lease, 5)
    a.written(lease, 0.0)
    b.observe(lease, 0.0)
    # a renews every 2 s; b sees each renewal, so the countdown restarts each time.
    for t, rv in ((2.0, 6), (4.0, 7), (6.0, 8)):
        lease = stored(a.decide(t, 1_000.0 + t).lease, rv)
        a.written(lease, t)
        b.observe(lease, t)
        assert b.decide(t, 1_000.0 + t).verb == "wait"
    # a dies after t=6. b sees the same record until 6 + 15 = 21 s.
    b.observe(lease, 20.9)
    assert b.decide(20.9, 1_020.9).verb == "wait"
    take = b.decide(21.0, 1_021.0)
    assert take.verb == "update" and take.lease["spec"]["holderIdentity"] == "sched-b"
    assert take.lease["spec"]["leaseTransitions"] == 1
    assert take.lease["metadata"]["resourceVersion"] == "8", "a compare-and-swap on what b saw"
    # a stopped acting long before: its renew deadline (10 s) ran out at 16 s.
    assert not a.is_leader(16.0)
    assert a.is_leader(15.9)


def test_a_holder_that_cannot_renew_stops_before_the_lease_could_pass_to_another():
    a = LeaderElector("sched-a", "kube-system", "kube-scheduler")
    a.observe(None, 0.0)
    a.written(stored(a.decide(0.0, 1_000.0).lease, 5), 0.0)
    # Renewals fail (the API server is unreachable): a stops at 10 s; nobody may take over before 15 s.
    assert a.is_leader(9.99) and not a.is_leader(10.0)


def test_clock_skew_between_candidates_does_not_matter():
    """b's clock is an hour ahead of a's renewTime stamps: only the time since a change counts."""
    a = LeaderElector("sched-a", "kube-system", "kube-scheduler")
    b = LeaderElector("sched-b", "kube-system", "kube-scheduler")
    a.observe(None, 0.0)
    lease = stored(a.decide(0.0, 1_000.0).lease, 5)
    a.written(lease, 0.0)
    b.observe(lease, 3_600.0)
    assert b.decide(3_601.0, 4_601.0).verb == "wait"


@pytest.mark.parametrize(("duration", "deadline", "retry"), [
    pytest.param(10.0, 10.0, 2.0, id="deadline-not-below-duration"),
    pytest.param(15.0, 10.0, 10.0, id="retry-not-below-deadline"),
])
def test_timings_that_could_overlap_two_leaders_are_refused(duration, deadline, retry):
    with pytest.raises(AssertionError):
        LeaderElector("x", "kube-system", "l", lease_duration_s=duration, renew_deadline_s=deadline,
                      retry_period_s=retry)
