"""The controller manager actor: shared informers, a work queue per controller, workers, leader election.

kube-controller-manager runs many controllers over one set of *shared*
informers: a pod event is seen once and handed to every controller that
watches pods. Each controller has its own :class:`WorkQueue`; its callbacks
only map the event to keys (:meth:`Controller.keys`) and enqueue them, and up
to ``workers`` keys per controller are synced at once. A sync that raises is
retried with the queue's per-key backoff; one that returns a delay is looked
at again after it. Only the holder of the ``kube-system/kube-controller-manager``
Lease syncs; a standby keeps its caches warm and takes over when the lease
runs out.

Metrics: client-go's work-queue metrics per controller; a controller with a
``collect()`` method is a Prometheus collector of its own (the node lifecycle
controller's evictions); and the kube-controller-manager's leader exports
the cluster-state gauges (:mod:`actors.controllers.statemetrics`) from its
informer caches.
"""

from __future__ import annotations

import os
import random
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from actors import events
from actors.apiserver.client import ApiClient, ApiError, Informer
from actors.controllers import statemetrics
from actors.controllers.base import INDEXERS, Context, Controller
from actors.controllers.workqueue import WorkQueue
from actors.leaderelection import Contender, LeaderElector
from bus.runtime import Actor

Obj = dict[str, Any]

LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-controller-manager"


def default_controllers(*, cluster_cidr: str | None = None, node_cidr_mask_size: int | None = None,
                        service_cidr: str | None = None) -> list[Controller]:
    """The controllers kubesim has, as kube-controller-manager enables them by default; the node IPAM
    controller splits ``cluster_cidr`` (``--cluster-cidr``) into ``/node_cidr_mask_size`` blocks."""
    from actors.controllers.cronjob import CronJobController
    from actors.controllers.daemonset import DaemonSetController
    from actors.controllers.deployment import DeploymentController
    from actors.controllers.endpoints import (
        EndpointsController,
        EndpointSliceController,
    )
    from actors.controllers.garbagecollector import GarbageCollector
    from actors.controllers.job import JobController
    from actors.controllers.namespace import NamespaceController
    from actors.controllers.nodeipam import NodeIpamController
    from actors.controllers.nodelifecycle import NodeLifecycleController
    from actors.controllers.persistentvolume import PersistentVolumeController
    from actors.controllers.replicaset import ReplicaSetController
    from actors.controllers.statefulset import StatefulSetController

    ipam = {k: v for k, v in (("cluster_cidr", cluster_cidr), ("node_mask_size", node_cidr_mask_size),
                              ("service_cidr", service_cidr)) if v is not None}
    return [DeploymentController(), ReplicaSetController(), DaemonSetController(), StatefulSetController(),
            JobController(), CronJobController(), EndpointSliceController(), EndpointsController(), NodeLifecycleController(),
            NodeIpamController(**ipam),
            PersistentVolumeController(), GarbageCollector(), NamespaceController()]


class WorkQueueMetrics:
    """client-go's workqueue metrics, per controller (``name``), ``kubesim_`` prefixed."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        """Where the manager also registers its other collectors (controllers', cluster state)."""
        self.depth = Gauge("kubesim_workqueue_depth", "Keys waiting in a controller's queue.", ["name"],
                           registry=registry)
        self.adds = Counter("kubesim_workqueue_adds_total", "Keys put in a controller's queue.", ["name"],
                            registry=registry)
        self.retries = Counter("kubesim_workqueue_retries_total", "Keys re-queued after a failed sync.", ["name"],
                               registry=registry)
        self.queue_duration = Histogram("kubesim_workqueue_queue_duration_seconds",
                                        "How long a key waited before a worker took it.", ["name"],
                                        buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60), registry=registry)
        self.work_duration = Histogram("kubesim_workqueue_work_duration_seconds", "How long one sync took.",
                                       ["name"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10),
                                       registry=registry)
        self.leader = Gauge("kubesim_controller_manager_is_leader", "1 while this instance holds the lease.",
                            registry=registry)


class _Recorder:
    """Events from controllers, written through the API in the background (failures only logged)."""

    def __init__(self, manager: ControllerManager) -> None:
        self.manager = manager

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.manager.spawn(self.manager.record(obj, type_, reason, message))


class ControllerManager(Actor):
    def __init__(self, name: str, api: ApiClient, controllers: list[Controller], *, identity: str,
                 lease_duration_s: float = 15.0, renew_deadline_s: float = 10.0, retry_period_s: float = 2.0,
                 lease_name: str = LEASE_NAME, seed: int | None = None,
                 metrics: WorkQueueMetrics | None = None, cluster_state_metrics: bool | None = None) -> None:
        """``cluster_state_metrics``: export the cluster-state gauges while leading; by default only the
        kube-controller-manager does (the cloud controller manager runs this class under another lease,
        and both exporting would count every pod twice)."""
        super().__init__(name)
        self.event_correlator = events.EventCorrelator()
        self.api = api
        self.controllers = controllers
        self.queues = {c.name: WorkQueue(c.name) for c in controllers}
        self.lease_name = lease_name
        self.elector = LeaderElector(identity, LEASE_NAMESPACE, lease_name, lease_duration_s=lease_duration_s,
                                     renew_deadline_s=renew_deadline_s, retry_period_s=retry_period_s)
        self.contender = Contender(self, self.elector, api)
        self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self.metrics = metrics or WorkQueueMetrics()
        self.informers: dict[str, Informer] = {}
        self.recorder = _Recorder(self)
        self._in_flight = {c.name: 0 for c in controllers}
        self._adds_counted = {c.name: 0 for c in controllers}
        self.cluster_state_metrics = (lease_name == LEASE_NAME if cluster_state_metrics is None
                                      else cluster_state_metrics)
        for c in controllers:
            if callable(getattr(c, "collect", None)):
                self.metrics.registry.register(c)
        if self.cluster_state_metrics:
            self.metrics.registry.register(statemetrics.StateCollector(self.informers, self._exports_state))

    # --- life cycle -------------------------------------------------------------------------
    def on_start(self) -> None:
        watched = {r for c in self.controllers for r in c.watches}
        if self.cluster_state_metrics:
            watched.update(statemetrics.RESOURCES)  # the default controllers watch them all already
        for resource in sorted(watched):
            self.informers[resource] = Informer(
                self.api, resource,
                on_add=lambda obj, r=resource: self._event(r, "ADDED", None, obj),
                on_update=lambda old, new, r=resource: self._event(r, "MODIFIED", old, new),
                on_delete=lambda obj, r=resource: self._event(r, "DELETED", None, obj),
                indexers=INDEXERS.get(resource))
            self.informers[resource].start()
        self.call_every(self.elector.retry_period_s, self._elect)
        self.runtime.call_soon(self._elect)
        self.call_every(0.01, self._work)
        self.call_every(1.0, self._publish)

    # --- events into keys -------------------------------------------------------------------
    def _event(self, resource: str, kind: str, old: Obj | None, obj: Obj) -> None:
        now = self.clock.monotonic()
        for c in self.controllers:
            if resource not in c.watches:
                continue
            observe = getattr(c, "observe", None)
            if observe is not None:
                observe(resource, kind, obj, now)
            keys = set(c.keys(resource, obj))
            if old is not None:
                keys.update(c.keys(resource, old))
            queue = self.queues[c.name]
            for key in keys:
                queue.add(key, now)
            self._count_adds(c.name)

    def _count_adds(self, name: str) -> None:
        """Bring the adds counter up to the queue's own count (events, due delayed keys, retries)."""
        added = self.queues[name].adds - self._adds_counted[name]
        if added:
            self.metrics.adds.labels(name).inc(added)
            self._adds_counted[name] += added

    # --- workers ----------------------------------------------------------------------------------
    def _ready(self) -> bool:
        return self.elector.is_leader(self.clock.monotonic()) and all(
            i.synced.done() for i in self.informers.values())

    def _work(self) -> None:
        if not self._ready():
            return
        now = self.clock.monotonic()
        for c in self.controllers:
            queue = self.queues[c.name]
            while self._in_flight[c.name] < c.workers:
                key = queue.get(now)
                self._count_adds(c.name)
                if key is None:
                    break
                for waited in queue.latencies:
                    self.metrics.queue_duration.labels(c.name).observe(waited)
                queue.latencies.clear()
                self._in_flight[c.name] += 1
                self.spawn(self._sync(c, key))

    async def _sync(self, c: Controller, key: str) -> None:
        queue = self.queues[c.name]
        perf = self.clock.perf
        started = perf()
        ctx = Context(caches=self.informers, api=self.api, recorder=self.recorder, now=self.clock.monotonic(),
                      wall=self.clock.wall())
        try:
            again = await c.sync(key, ctx)
        except Exception as exc:  # a failed sync is retried with backoff, whatever went wrong
            delay = queue.add_rate_limited(key, self.clock.monotonic())
            self.metrics.retries.labels(c.name).inc()
            level = self.log.warning if isinstance(exc, ApiError) else self.log.exception
            level("sync failed; retrying", controller=c.name, key=key, retry_in_s=round(delay, 3),
                  error=str(exc))
        else:
            queue.forget(key)
            if again is not None:
                queue.add_after(key, again, self.clock.monotonic())
        finally:
            queue.done(key, self.clock.monotonic())
            self._in_flight[c.name] -= 1
            self.metrics.work_duration.labels(c.name).observe(perf() - started)

    async def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        await events.record(self.api, obj, type_, reason, message, component="controller-manager",
                            rng=self.rng, wall=self.clock.wall(), log=self.log, correlator=self.event_correlator)

    # --- leader election -----------------------------------------------------------------------
    def _elect(self) -> None:
        self.contender.start()

    def _exports_state(self) -> bool:
        """Whether a scrape gets the cluster-state gauges: only the leader's, and only once its caches of
        those kinds are listed (a half-listed cache would be a wrong count, worse than none). Called from the
        scrape thread: it only reads."""
        if not self.elector.is_leader(self.clock.monotonic()):
            return False
        informers = [self.informers.get(r) for r in statemetrics.RESOURCES]
        return all(i is not None and i.synced.done() for i in informers)

    def _publish(self) -> None:
        for name, queue in self.queues.items():
            self._count_adds(name)
            self.metrics.depth.labels(name).set(len(queue))
        self.metrics.leader.set(1 if self.elector.is_leader(self.clock.monotonic()) else 0)

