"""The scheduler actor: kube-scheduler's loop around the pure pieces.

Informers keep the cache (nodes and the pods counted on them) and the queue
(pending pods) in step with the API server. While this instance holds the
``kube-system/kube-scheduler`` Lease it pops pods one at a time, runs a
scheduling cycle (:mod:`actors.scheduler.algorithm`), assumes the pod on the
chosen node in the cache, and writes the binding in the background — the next
pod is decided while the binding is in flight. A binding that fails is
forgotten and the pod retried after its backoff. A pod that fits nowhere gets
``PodScheduled=False`` with Kubernetes' message and a ``FailedScheduling``
event, and waits in the queue until a node, a deleted pod or a bound claim
might change the answer.
"""

from __future__ import annotations

import os
import random
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from actors import events
from actors.apiserver.client import ApiClient, ApiError, Informer
from actors.apiserver.objects import rfc3339
from actors.leaderelection import Contender, LeaderElector
from actors.scheduler.algorithm import SKIP, Algorithm, FitError, Profile, ScorePlugin
from actors.scheduler.cache import SchedulerCache
from actors.scheduler.framework import CycleState
from actors.scheduler.plugins import interpod, topology, volumes
from actors.scheduler.plugins import node as node_plugins
from actors.scheduler.plugins import scores as score_plugins
from actors.scheduler.queue import (
    NODE_ADDED,
    NODE_CHANGED,
    POD_DELETED,
    PVC_CHANGED,
    SchedulingQueue,
    pod_key,
)
from actors.scheduler.resources import has_pod_affinity
from bus.runtime import Actor

Obj = dict[str, Any]

DEFAULT_SCHEDULER = "default-scheduler"
LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-scheduler"
#: Seconds of scheduling per turn of the loop before it yields to other work (informer events, bindings).
TICK_BUDGET_S = 0.015


def _spread(pod: Obj, when: str) -> bool:
    return any(isinstance(c, dict) and c.get("whenUnsatisfiable", "DoNotSchedule") == when
               for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or [])


#: CycleState key: whether any pod the cache counts has affinity terms (the cache keeps count, so a
#: cycle need not look at every node to know).
HAVE_AFFINITY_KEY = "HavePodsWithAffinity"


def _affinity_anywhere(pod: Obj, nodes, state: CycleState) -> bool:
    """The pod has affinity terms, or some counted pod does (whose terms may concern this one)."""
    if has_pod_affinity(pod):
        return True
    known = state.get(HAVE_AFFINITY_KEY)
    return known if known is not None else any(info.pods_with_affinity for info in nodes)


def cycle_state(cache: SchedulerCache, claims: dict, volumes_: dict, classes: dict,
                namespaces: dict) -> CycleState:
    """What a cycle's plugins read besides the nodes: the informers' stores and the cache's affinity count."""
    state = CycleState()
    state[volumes.STORAGE_KEY] = volumes.StorageSnapshot(claims, volumes_, classes)
    state[interpod.NAMESPACE_LABELS_KEY] = {
        name: (ns.get("metadata") or {}).get("labels") or {} for name, ns in namespaces.items()}
    state[HAVE_AFFINITY_KEY] = cache.have_pods_with_affinity()
    return state


def _affinity_filtered(pod: Obj, nodes, state: CycleState) -> bool:
    """PreScore runs when PreFilter did (it looked at every node, not only the feasible ones)."""
    return interpod.PRE_FILTER_KEY in state


def _unless(needed, step):
    """Run the PreFilter/PreScore ``step`` only when ``needed(pod, nodes)``; else Skip the plugin this cycle
    (kube-scheduler's plugins return Skip the same way for pods that give them nothing to check)."""
    def run(pod: Obj, nodes, state: CycleState):
        return step(pod, nodes, state) if needed(pod, nodes, state) else SKIP
    return run


def default_profile(percentage_of_nodes_to_score: int = 0) -> Profile:
    """kube-scheduler's default plugins that kubesim has, in its order, with its default weights."""
    weights = score_plugins.DEFAULT_WEIGHTS
    return Profile(
        pre_filters=(
            (volumes.NAME, _unless(lambda pod, nodes, state: bool(volumes.pod_claim_names(pod)),
                                   volumes.pre_filter)),
            (topology.NAME, _unless(lambda pod, nodes, state: _spread(pod, "DoNotSchedule"), topology.pre_filter)),
            (interpod.NAME, _unless(_affinity_anywhere, interpod.pre_filter))),
        filters=(*node_plugins.FILTERS, (volumes.NAME, volumes.filter), (topology.NAME, topology.filter),
                 (interpod.NAME, interpod.filter)),
        pre_scores=(
            *((p.name, p.pre_score) for p in score_plugins.SCORES if p.pre_score is not None),
            (topology.NAME, _unless(lambda pod, nodes, state: _spread(pod, "ScheduleAnyway"), topology.pre_score)),
            (interpod.NAME, _unless(_affinity_filtered, interpod.pre_score))),
        scores=(*(ScorePlugin(p.name, p.score, weights.get(p.name, 1), p.normalize, p.many)
                  for p in score_plugins.SCORES),
                ScorePlugin(topology.NAME, topology.score, weights[score_plugins.POD_TOPOLOGY_SPREAD],
                            topology.normalize_score),
                ScorePlugin(interpod.NAME, interpod.score, weights[score_plugins.INTER_POD_AFFINITY],
                            interpod.normalize_score)),
        percentage_of_nodes_to_score=percentage_of_nodes_to_score,
    )


class SchedulerMetrics:
    """kube-scheduler's metrics, ``kubesim_`` prefixed."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.attempts = Counter("kubesim_scheduler_schedule_attempts_total",
                                "Scheduling attempts by result (scheduled, unschedulable, error).", ["result"],
                                registry=registry)
        self.duration = Histogram("kubesim_scheduler_scheduling_attempt_duration_seconds",
                                  "Time of one scheduling cycle (no binding), by result.", ["result"],
                                  buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1, 0.25, 0.5, 1), registry=registry)
        self.pending = Gauge("kubesim_scheduler_pending_pods", "Pending pods by queue.", ["queue"],
                             registry=registry)
        self.leader = Gauge("kubesim_scheduler_is_leader", "1 while this scheduler holds the lease.",
                            registry=registry)


class Scheduler(Actor):
    """Schedules pods whose ``spec.schedulerName`` is ours, while it leads."""

    def __init__(self, name: str, api: ApiClient, *, identity: str, scheduler_name: str = DEFAULT_SCHEDULER,
                 lease_duration_s: float = 15.0, renew_deadline_s: float = 10.0, retry_period_s: float = 2.0,
                 profile: Profile | None = None, seed: int | None = None,
                 metrics: SchedulerMetrics | None = None) -> None:
        super().__init__(name)
        self.api = api
        self.scheduler_name = scheduler_name
        self.elector = LeaderElector(identity, LEASE_NAMESPACE, LEASE_NAME, lease_duration_s=lease_duration_s,
                                     renew_deadline_s=renew_deadline_s, retry_period_s=retry_period_s)
        self.contender = Contender(self, self.elector, api)
        self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self.algorithm = Algorithm(profile or default_profile(), self.rng)
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue()
        self.metrics = metrics or SchedulerMetrics()
        self.informers: dict[str, Informer] = {}
        self._binding: set[str] = set()
        self.event_correlator = events.EventCorrelator()

    # --- life cycle -----------------------------------------------------------------------
    def on_start(self) -> None:
        api = self.api
        self.informers = {
            "nodes": Informer(api, "nodes", on_add=self._node_added, on_update=self._node_updated,
                              on_delete=self._node_deleted),
            "pods": Informer(api, "pods", on_add=self._pod_added, on_update=lambda old, new: self._pod_added(new),
                             on_delete=self._pod_deleted),
            "persistentvolumeclaims": Informer(api, "persistentvolumeclaims",
                                               on_add=self._claim_changed,
                                               on_update=lambda old, new: self._claim_changed(new)),
            "persistentvolumes": Informer(api, "persistentvolumes"),
            "storageclasses": Informer(api, "storageclasses"),
            "namespaces": Informer(api, "namespaces"),
        }
        for informer in self.informers.values():
            informer.start()
        self.call_every(self.elector.retry_period_s, self._elect)
        self.call_every(0.01, self._schedule_some)
        self.call_every(1.0, self._publish)
        self.call_soon_elect()

    def call_soon_elect(self) -> None:
        self.runtime.call_soon(self._elect)

    # --- informer events --------------------------------------------------------------------
    def _ours(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or DEFAULT_SCHEDULER) == self.scheduler_name

    def _pod_added(self, pod: Obj) -> None:
        spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
        if spec.get("nodeName"):
            self.cache.set_pod(pod)
            self.queue.delete(pod)
        elif meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            self.queue.delete(pod)
        elif self._ours(pod) and pod_key(pod) not in self._binding:
            self.queue.add(pod, self.clock.monotonic())

    def _pod_deleted(self, pod: Obj) -> None:
        self.queue.delete(pod)
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.remove_pod(pod)
            self.queue.cluster_event(POD_DELETED, self.clock.monotonic())

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.cluster_event(NODE_ADDED, self.clock.monotonic())

    def _node_updated(self, old: Obj, node: Obj) -> None:
        self.cache.set_node(node)
        if old.get("spec") != node.get("spec") or old["metadata"].get("labels") != node["metadata"].get("labels") \
                or (old.get("status") or {}).get("allocatable") != (node.get("status") or {}).get("allocatable"):
            self.queue.cluster_event(NODE_CHANGED, self.clock.monotonic())

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _claim_changed(self, claim: Obj) -> None:
        if (claim.get("status") or {}).get("phase") == "Bound":
            self.queue.cluster_event(PVC_CHANGED, self.clock.monotonic())

    # --- leader election ----------------------------------------------------------------------
    def _elect(self) -> None:
        self.contender.start()

    # --- scheduling ------------------------------------------------------------------------------
    def _ready(self) -> bool:
        return (self.elector.is_leader(self.clock.monotonic())
                and all(i.synced.done() for i in self.informers.values()))

    def _schedule_some(self) -> None:
        if not self._ready():
            return
        # Bindings leave when this turn of the loop ends: a short turn sends them sooner and lets
        # informer events and lease renewals in between.
        perf = self.clock.perf
        until = perf() + TICK_BUDGET_S
        while perf() < until:
            qp = self.queue.pop(self.clock.monotonic())
            if qp is None:
                return
            self._schedule_one(qp)

    def _schedule_one(self, qp) -> None:
        pod = qp.pod
        perf = self.clock.perf
        started = perf()
        inf = self.informers
        # The informers' own dicts: keyed namespace/name for claims, name for volumes and classes.
        state = cycle_state(self.cache, inf["persistentvolumeclaims"].store, inf["persistentvolumes"].store,
                            inf["storageclasses"].store, inf["namespaces"].store)
        try:
            result = self.algorithm.schedule(pod, self.cache.node_infos(), state)
        except FitError as err:
            self.metrics.attempts.labels("unschedulable").inc()
            self.metrics.duration.labels("unschedulable").observe(perf() - started)
            self.queue.unschedulable(qp, err.diagnosis.plugins, self.clock.monotonic())
            self.spawn(self._report_unschedulable(pod, str(err)))
            return
        self.metrics.attempts.labels("scheduled").inc()
        self.metrics.duration.labels("scheduled").observe(perf() - started)
        self.cache.assume(pod, result.node)
        self._binding.add(qp.key)
        self.spawn(self._bind(qp, result.node))

    async def _bind(self, qp, node: str) -> None:
        pod = qp.pod
        meta = pod["metadata"]
        try:
            await self.api.bind(meta["namespace"], meta["name"], node)
        except ApiError as exc:
            self.cache.forget(pod)
            self._binding.discard(qp.key)
            if exc.code == 404:
                self.queue.done(qp.key)  # deleted meanwhile
                return
            if exc.code == 409 and "already assigned" in exc.message:
                self.queue.done(qp.key)  # bound by someone else; the informer will count it there
                return
            self.metrics.attempts.labels("error").inc()
            self.log.warning("binding failed; retrying after backoff", pod=qp.key, node=node, error=str(exc))
            self.queue.error(qp, self.clock.monotonic())
            return
        self._binding.discard(qp.key)
        self.queue.done(qp.key)
        await self._event(pod, "Normal", "Scheduled",
                          f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}")

    async def _report_unschedulable(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        now = rfc3339(self.clock.wall())
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": now}
        try:
            await self.api.patch("pods", meta["name"], {"status": {"conditions": [condition]}},
                                 meta["namespace"], patch_type="strategic", subresource="status")
        except ApiError as exc:
            if exc.code != 404:
                self.log.warning("could not report an unschedulable pod", pod=pod_key(pod), error=str(exc))
            return
        await self._event(pod, "Warning", "FailedScheduling", message)

    async def _event(self, pod: Obj, type_: str, reason: str, message: str) -> None:
        await events.record(self.api, pod, type_, reason, message, component=self.scheduler_name, rng=self.rng,
                            wall=self.clock.wall(), log=self.log, correlator=self.event_correlator)

    def _publish(self) -> None:
        for queue, count in self.queue.pending().items():
            self.metrics.pending.labels(queue).set(count)
        self.metrics.leader.set(1 if self.elector.is_leader(self.clock.monotonic()) else 0)

