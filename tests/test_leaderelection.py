"""Leader election decisions with explicit times: two candidates, one Lease, no overlap."""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.status import ApiError
from actors.controllers.base import run_sync
from actors.leaderelection import Contender, LeaderElector, contend


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


# --- contend: one round against the API ------------------------------------------------------------------

class LeaseApi:
    """One Lease, written with the API server's compare-and-swap on resourceVersion."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.rv = 0
        self.calls: list[str] = []

    async def get(self, resource, name, namespace=""):
        self.calls.append("get")
        if self.lease is None:
            raise ApiError(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found')
        return copy.deepcopy(self.lease)

    def _store(self, lease: dict) -> dict:
        self.rv += 1
        self.lease = copy.deepcopy(lease)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.lease)

    async def create(self, lease, namespace=""):
        self.calls.append("create")
        if self.lease is not None:
            raise ApiError(409, "AlreadyExists", "already exists")
        return self._store(lease)

    async def update(self, lease, *, subresource=""):
        self.calls.append("update")
        if lease["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._store(lease)


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_000.0 + self.now


def test_contend_creates_renews_and_a_standby_takes_over_only_after_the_lease_duration():
    api, clock = LeaseApi(), Clock()
    a = LeaderElector("cm-a", "kube-system", "kube-controller-manager")
    b = LeaderElector("cm-b", "kube-system", "kube-controller-manager")
    assert run_sync(contend(a, api, clock)) is True, "became the leader this round"
    assert api.calls == ["get", "create"] and a.is_leader(clock.now)
    assert run_sync(contend(b, api, clock)) is False and not b.is_leader(clock.now)
    for t in (2.0, 4.0):  # a renews every retry period; b keeps seeing a changing record
        clock.now = t
        assert run_sync(contend(a, api, clock)) is False, "renewing is not becoming the leader"
        assert a.is_leader(t)
        assert run_sync(contend(b, api, clock)) is False
    # a dies after its renewal at 4 s; b last saw the record change at 4 s.
    clock.now = 18.9
    assert run_sync(contend(b, api, clock)) is False
    assert not a.is_leader(14.0), "a stopped acting at its renew deadline, before b may start"
    clock.now = 19.0
    assert run_sync(contend(b, api, clock)) is True and b.is_leader(19.0)
    assert api.lease["spec"]["holderIdentity"] == "cm-b" and api.lease["spec"]["leaseTransitions"] == 1


def test_two_candidates_racing_for_one_expired_lease_only_one_wins():
    api, clock = LeaseApi(), Clock()
    a = LeaderElector("cm-a", "kube-system", "kube-controller-manager")
    b = LeaderElector("cm-b", "kube-system", "kube-controller-manager")
    dead = LeaderElector("cm-dead", "kube-system", "kube-controller-manager")
    run_sync(contend(dead, api, clock))
    for e in (a, b):
        e.observe(copy.deepcopy(api.lease), 0.0)
    clock.now = 15.0
    take_a, take_b = a.decide(15.0, 1_015.0), b.decide(15.0, 1_015.0)
    assert take_a.verb == take_b.verb == "update"
    run_sync(api.update(take_a.lease))
    with pytest.raises(ApiError) as lost:
        run_sync(api.update(take_b.lease))
    assert lost.value.code == 409
    # Through contend, the loser's 409 is just "not this round".
    api2, clock2 = LeaseApi(), Clock()
    run_sync(contend(dead, api2, clock2))
    b2 = LeaderElector("cm-b", "kube-system", "kube-controller-manager")
    b2.observe(copy.deepcopy(api2.lease), 0.0)
    clock2.now = 15.0
    stale = copy.deepcopy(api2.lease)
    api2.lease["metadata"]["resourceVersion"] = "99"  # someone else wrote it meanwhile

    async def get_stale(resource, name, namespace=""):
        return copy.deepcopy(stale)

    api2.get = get_stale
    assert run_sync(contend(b2, api2, clock2)) is False and not b2.is_leader(15.0)


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg, **kw) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg, **kw) -> None:
        self.lines.append(("warning", msg))


class Candidate:
    """What Contender needs of an actor: spawn, clock, log. Spawned rounds wait until the test runs them."""

    def __init__(self) -> None:
        self.clock, self.log, self.spawned = Clock(), Log(), []

    def spawn(self, coro) -> None:
        self.spawned.append(coro)


def test_a_contender_runs_one_round_at_a_time_and_logs_winning_and_failing():
    actor, api = Candidate(), LeaseApi()
    contender = Contender(actor, LeaderElector("a", "kube-system", "kube-scheduler"), api)
    contender.start()
    contender.start()  # the first round is still under way: no second one
    assert len(actor.spawned) == 1
    run_sync(actor.spawned.pop())
    assert actor.log.lines == [("info", "became the leader")]
    contender.start()
    assert len(actor.spawned) == 1, "a round may start again once the last has ended"

    async def broken(*args, **kw):
        raise ApiError(503, "ServiceUnavailable", "the API server did not answer")
    api.get = broken
    run_sync(actor.spawned.pop())
    assert actor.log.lines[-1] == ("warning", "leader election round failed")
    contender.start()
    assert len(actor.spawned) == 1, "a failed round does not block the next"
    actor.spawned.pop().close()
