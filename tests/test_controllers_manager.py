"""The controller manager's work loop and its work-queue metrics, driven with a manual clock.

No runtime and no sockets: the manager's event, work and publish steps are
called by hand, and what its controllers' syncs await completes at once.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from actors.apiserver.status import ApiError
from actors.controllers.base import Controller, run_sync
from actors.controllers.manager import ControllerManager, WorkQueueMetrics
from bus.clock import ManualClock


class Recording(Controller):
    """Syncs what it is given: raises for the keys in ``failing``, asks to be back after ``again``'s delay."""

    name = "recording"
    watches = ("pods",)
    workers = 2

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.again: dict[str, float] = {}
        self.synced: list[tuple[str, float]] = []

    async def sync(self, key, ctx):
        self.synced.append((key, ctx.now))
        if key in self.failing:
            raise ApiError(500, "InternalError", "etcd is sad")
        return self.again.get(key)


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}}


@pytest.fixture
def world():
    clock = ManualClock(start=100.0)
    registry = CollectorRegistry()
    ctl = Recording()
    mgr = ControllerManager("cm.controllers", api=None, controllers=[ctl], identity="cm-a",
                            metrics=WorkQueueMetrics(registry), seed=1)
    mgr.runtime = SimpleNamespace(clock=clock)
    mgr.spawn = run_sync  # every await in these syncs completes at once
    mgr._ready = lambda: True  # the leader, with synced informers

    def metric(name: str, **labels) -> float:
        value = registry.get_sample_value(name, {"name": "recording", **labels})
        return 0.0 if value is None else value

    return SimpleNamespace(clock=clock, ctl=ctl, mgr=mgr, metric=metric, registry=registry)


def test_events_become_deduplicated_keys_and_depth_adds_and_latency_are_published(world):
    mgr, clock = world.mgr, world.clock
    for _ in range(3):
        mgr._event("pods", "ADDED", None, pod("a"))
    mgr._event("pods", "MODIFIED", pod("b"), pod("b"))
    mgr._publish()
    assert world.metric("kubesim_workqueue_adds_total") == 2, "a key already waiting is not added again"
    assert world.metric("kubesim_workqueue_depth") == 2
    clock.advance(0.25)
    mgr._work()
    assert world.ctl.synced == [("default/a", 100.25), ("default/b", 100.25)]
    # Each key waited 0.25 s between its (first) add and the worker taking it.
    assert world.metric("kubesim_workqueue_queue_duration_seconds_count") == 2
    assert world.metric("kubesim_workqueue_queue_duration_seconds_sum") == pytest.approx(0.5)
    assert world.metric("kubesim_workqueue_work_duration_seconds_count") == 2
    mgr._publish()
    assert world.metric("kubesim_workqueue_depth") == 0
    assert world.registry.get_sample_value("kubesim_controller_manager_is_leader") == 0, "no lease held here"


def test_a_failed_sync_is_retried_with_backoff_and_counted(world):
    mgr, clock, ctl = world.mgr, world.clock, world.ctl
    ctl.failing.add("default/a")
    mgr._event("pods", "ADDED", None, pod("a"))
    mgr._work()
    assert world.metric("kubesim_workqueue_retries_total") == 1
    clock.advance(0.004)
    mgr._work()
    assert len(ctl.synced) == 1, "5 ms have not passed"
    clock.advance(0.001)
    mgr._work()
    assert len(ctl.synced) == 2 and world.metric("kubesim_workqueue_retries_total") == 2
    assert world.metric("kubesim_workqueue_adds_total") == 2, "the retry went through the queue again"
    clock.advance(0.009)
    mgr._work()
    assert len(ctl.synced) == 2, "the second failure doubled the wait to 10 ms"
    ctl.failing.clear()
    clock.advance(0.001)
    mgr._work()
    assert len(ctl.synced) == 3
    assert mgr.queues["recording"].num_requeues("default/a") == 0, "a success forgets the failures"


def test_a_sync_asking_to_be_back_later_is_synced_again_then(world):
    mgr, clock, ctl = world.mgr, world.clock, world.ctl
    ctl.again["default/a"] = 30.0  # a progress deadline, a toleration running out...
    mgr._event("pods", "ADDED", None, pod("a"))
    mgr._work()
    ctl.again.clear()
    assert mgr.queues["recording"].next_wakeup() == pytest.approx(130.0)
    clock.advance(29.9)
    mgr._work()
    assert len(ctl.synced) == 1
    clock.advance(0.1)
    mgr._work()
    assert ctl.synced[-1] == ("default/a", 130.0)
    assert world.metric("kubesim_workqueue_retries_total") == 0


def test_nothing_is_synced_while_not_the_leader(world):
    mgr = world.mgr
    del mgr._ready  # the real check: this instance has not won the lease
    mgr._event("pods", "ADDED", None, pod("a"))
    mgr._work()
    assert world.ctl.synced == []
    mgr._publish()
    assert world.metric("kubesim_workqueue_depth") == 1, "the standby keeps its queue filled, ready to take over"
