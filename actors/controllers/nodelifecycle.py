"""The node lifecycle controller: notice nodes that went quiet, taint them, and evict their pods.

Kubernetes' ``pkg/controller/nodelifecycle/node_lifecycle_controller.go``
together with the taint manager (``pkg/controller/tainteviction``) in
kubesim's controller shape (:mod:`actors.controllers.base`), keyed by node
name. Lease and pod events map to their node's key. One :meth:`sync`:

1. **Health** (``tryUpdateNodeHealth``, :class:`HealthMonitor`). The node's
   heartbeats are its Lease ``kube-node-lease/<node>`` (``spec.renewTime``)
   and its Ready condition's ``lastHeartbeatTime``. Like leader election, the
   controller never compares those remote times with its own clock: it
   notes, on its own clock, when it last *saw either change*, and once
   ``grace_period_s`` (50 s, ``--node-monitor-grace-period``) has passed
   since then it writes the Ready, MemoryPressure, DiskPressure and
   PIDPressure conditions Unknown ("Kubelet stopped posting node status.").
   A node with no Ready condition yet gets the startup grace (60 s).
2. **Pods marked NotReady** (``MarkPodsNotReady``): when this controller turns
   a Ready node not-ready, every pod on it gets Ready=False (a Warning
   ``NodeNotReady`` event each); pods bound to the node later are marked as
   they appear. A kubelet that itself reports Ready=False is alive and
   looks after its own pods, so its pods are left alone.
3. **Taints.** ``NoSchedule`` taints follow the conditions at once
   (``doNoScheduleTaintingPass``: Ready False → ``not-ready``, Unknown →
   ``unreachable``, the pressure conditions, ``spec.unschedulable``). The
   ``NoExecute`` taint that evicts pods goes through a per-zone
   :class:`TaintQueue`, first come first served at ``eviction_rate`` nodes a
   second (0.1, burst 1: one node every 10 s). A node that turns from
   unreachable to not-ready (or back) has its NoExecute taint swapped at
   once; a Ready node loses both.
4. **Zones** (``handleDisruption``, :class:`Disruption`). Where at least 55 %
   of a zone's nodes (and more than two) are not ready, the zone is
   *partially disrupted*: its rate drops to ``secondary_eviction_rate``
   (0.01) if it has more than 50 nodes, else to 0. If every node of every
   zone is not ready, the fault is probably the control plane's own network:
   nothing is tainted NoExecute, the NoExecute taints come off, and when
   some node is back every node gets a fresh grace period.
5. **Eviction** (the taint manager, :class:`TaintEvictor`): a pod on a node
   with NoExecute taints it does not all tolerate is deleted now; one that
   tolerates them all with ``tolerationSeconds`` (300 s from admission) is
   deleted that long after the controller first saw it so placed; one that
   tolerates them forever stays. Each deletion gets the ``DisruptionTarget``
   condition first and a ``TaintManagerEviction`` event ("Marking for
   deletion Pod default/web-1"); a deletion cancelled because the taint went
   gets "Cancelling deletion of Pod …". Like the taint manager, the clock is
   the controller's own, started when it noticed — not the taint's
   ``timeAdded``, which is written for people to read.

Writes: the node's status with ``update_status`` (its cached
resourceVersion: a conflict retries the key), its taints with a merge patch
pinned to the cached resourceVersion, pods' Ready with ``update_status``,
their DisruptionTarget with a strategic patch of ``pods/status``, and their
deletion. A node is written at most once per version of it the cache has
shown, so the controller does not race its own writes. The sync returns
when to look again: when the grace period would run out for a healthy
node, every ``monitor_period_s`` (5 s) for an unhealthy one, and when a
toleration or an eviction token comes due.

Metrics: ``kubesim_node_collector_evictions_total{zone}`` (Kubernetes'
``node_collector_evictions_total``), the pods this controller deleted, per
zone. The controller counts in a plain dict and is itself the Prometheus
collector (:meth:`NodeLifecycleController.collect`, registered by the
manager), so a controller made in a test registers nothing anywhere.

The parts are plain objects with time passed in; only
:class:`NodeLifecycleController` talks to the API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import NODE_NAME, Context, Controller, Obj
from actors.controllers.podcontrol import parse_time, pod_key, ready_condition
from actors.ratelimit import TokenBucket
from actors.scheduler.plugins.node import tolerates

LEASE_NAMESPACE = "kube-node-lease"
"""Where kubelets renew their heartbeat Leases, one per node, named after it."""

# --- kube-controller-manager's defaults (Kubernetes 1.32) ---------------------------------------
NODE_MONITOR_GRACE_PERIOD_S = 50.0
"""--node-monitor-grace-period: a node unheard of this long is Unknown."""
NODE_STARTUP_GRACE_PERIOD_S = 60.0
"""--node-startup-grace-period: the same, for a node that never posted a Ready condition."""
NODE_MONITOR_PERIOD_S = 5.0
"""--node-monitor-period: how often an unhealthy node is looked at again."""
EVICTION_RATE = 0.1
"""--node-eviction-rate: nodes a second tainted NoExecute in a healthy zone."""
SECONDARY_EVICTION_RATE = 0.01
"""--secondary-node-eviction-rate: the same in a large, partially disrupted zone."""
LARGE_CLUSTER_THRESHOLD = 50
"""--large-cluster-size-threshold: a zone this size or smaller stops evicting when partially disrupted."""
UNHEALTHY_ZONE_THRESHOLD = 0.55
"""--unhealthy-zone-threshold: the not-ready fraction at which a zone is partially disrupted."""
EVICTION_BURST = 1
"""Every eviction rate limiter's burst (scheduler.EvictionRateLimiterBurst)."""

# --- taints --------------------------------------------------------------------------------------
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
EVICTION_TAINTS = frozenset({NOT_READY, UNREACHABLE})
"""The NoExecute taints this controller adds and removes (mutually exclusive, as Ready's states are)."""

CONDITION_TAINTS: Mapping[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
"""(condition, status) -> the NoSchedule taint it calls for (nodeConditionToTaintKeyStatusMap)."""
NO_SCHEDULE_KEYS = frozenset(CONDITION_TAINTS.values()) | {UNSCHEDULABLE}
"""The NoSchedule taints this controller owns; any others on the node are left alone."""

UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
"""Turned Unknown when the kubelet goes quiet (NetworkUnavailable belongs to the network plugin)."""
STOPPED_POSTING = "Kubelet stopped posting node status."
NEVER_POSTED = "Kubelet never posted node status."

EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
"""Nodes with this label do not count towards their zone's health."""
ZONE_LABELS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")
REGION_LABELS = ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region")

INITIAL, NORMAL, PARTIAL, FULL = "Initial", "Normal", "PartialDisruption", "FullDisruption"
"""Zone states (ZoneState)."""

DISRUPTION_TARGET = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                     "message": "Taint manager: deleting due to NoExecute taint"}
"""The condition a pod gets just before the taint manager deletes it."""

_EPSILON = 1e-9
"""Slack for float sums of seconds (10 × 0.1 s is not always exactly 1)."""


# --- reading nodes and pods ----------------------------------------------------------------------

def node_condition(node: Obj, type_: str) -> Obj | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def ready_status(node: Obj) -> str | None:
    """The node's Ready condition status ("True", "False", "Unknown"), None if it has none."""
    c = node_condition(node, "Ready")
    return None if c is None else str(c.get("status") or "")


def taints_of(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]


def no_execute_taints(node: Obj) -> list[Obj]:
    return [t for t in taints_of(node) if t.get("effect") == NO_EXECUTE]


def zone_of(node: Obj) -> str:
    """``region:\\0:zone`` from the node's labels, "" with neither (GetZoneKey)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = next((labels[k] for k in ZONE_LABELS if k in labels), "")
    region = next((labels[k] for k in REGION_LABELS if k in labels), "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_label(zone: str) -> str:
    """A zone key as a label value: "zone", or "region:zone" with a region label ("" with neither).

    Kubernetes exports the key itself, NUL byte and all ("region:\\0:zone"): legal in Prometheus, but
    unreadable in Grafana and in the text format, so kubesim writes it the way people say it."""
    region, _, name = zone.partition(":\x00:")
    return f"{region}:{name}" if region else name


def counts_for_disruption(node: Obj) -> bool:
    return EXCLUDE_DISRUPTION_LABEL not in ((node.get("metadata") or {}).get("labels") or {})


def no_schedule_keys(node: Obj) -> set[str]:
    """The NoSchedule taints the node's conditions and ``spec.unschedulable`` call for."""
    wanted = set()
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and (key := CONDITION_TAINTS.get((c.get("type"), c.get("status")))):
            wanted.add(key)
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.add(UNSCHEDULABLE)
    return wanted


def matching_tolerations(taints: list[Obj], tolerations: list[Obj]) -> tuple[bool, list[Obj]]:
    """Whether every taint is tolerated, and by which toleration each (the first that does)."""
    used = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_s(used: list[Obj]) -> float | None:
    """How long the pod may stay: the least ``tolerationSeconds`` (≤ 0 is 0); None if forever."""
    if not used:
        return 0.0
    bounded = [float(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not bounded:
        return None
    return max(0.0, min(bounded))


def compute_zone_state(statuses: list[str | None], unhealthy_threshold: float) -> tuple[int, str]:
    """How many of a zone's nodes are not ready, and the zone's state (ComputeZoneState)."""
    return zone_state(sum(1 for s in statuses if s == "True"), len(statuses), unhealthy_threshold)


def zone_state(ready: int, total: int, unhealthy_threshold: float) -> tuple[int, str]:
    """:func:`compute_zone_state` from the counts: ``ready`` of the zone's ``total`` nodes are Ready."""
    not_ready = total - ready
    if ready == 0 and not_ready > 0:
        return not_ready, FULL
    if not_ready > 2 and not_ready / total >= unhealthy_threshold:
        return not_ready, PARTIAL
    return not_ready, NORMAL


def conditions_unknown(node: Obj, wall: float) -> list[Obj]:
    """The node's conditions with the kubelet's turned Unknown, as the controller writes them."""
    now = rfc3339(wall)
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    for type_ in UNKNOWN_CONDITIONS:
        c = next((c for c in conditions if c.get("type") == type_), None)
        if c is None:
            conditions.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": NEVER_POSTED,
                               "lastHeartbeatTime": (node.get("metadata") or {}).get("creationTimestamp"),
                               "lastTransitionTime": now})
        elif c.get("status") != "Unknown":
            c.update(status="Unknown", reason="NodeStatusUnknown", message=STOPPED_POSTING, lastTransitionTime=now)
    return conditions


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _pod_ref(key: str) -> Obj:
    """Enough of a pod for an event about it once it may be gone."""
    ns, _, name = key.rpartition("/")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}}


# --- health -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Health:
    """What the controller last saw of one node's heartbeats, and when (its own clock)."""

    probe_at: float
    """When a heartbeat last changed (or the node was first seen)."""
    heartbeat: Any
    """The Ready condition's lastHeartbeatTime as last seen; None while it has no Ready condition."""
    has_ready: bool
    renew_at: float | None
    """The Lease's renewTime as last seen (a remote time: only compared with the next one)."""
    node: Obj


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """The outcome of one health check of one node."""

    observed: str | None
    """Ready's status in the cache (None: no Ready condition)."""
    current: str | None
    """Ready's status once this verdict is written."""
    conditions: list[Obj] | None
    """The conditions to write, or None if nothing changes."""
    expires_in_s: float
    """Seconds until the grace period runs out (≤ 0: it has)."""


class HealthMonitor:
    """Per-node heartbeat bookkeeping (the nodeHealthMap) and the grace-period verdict."""

    def __init__(self, grace_period_s: float, startup_grace_period_s: float) -> None:
        assert grace_period_s > 0 and startup_grace_period_s > 0
        self.grace_period_s = grace_period_s
        self.startup_grace_period_s = startup_grace_period_s
        self._health: dict[str, _Health] = {}

    def known(self, name: str) -> bool:
        return name in self._health

    def check(self, node: Obj, lease: Obj | None, now: float, wall: float) -> HealthVerdict:
        """Note what changed since the last look, and decide whether the node is Unknown now."""
        name = node["metadata"]["name"]
        ready = node_condition(node, "Ready")
        heartbeat = None if ready is None else ready.get("lastHeartbeatTime")
        h = self._health.get(name)
        if h is None:
            h = self._health[name] = _Health(now, heartbeat, ready is not None, None, node)
        elif h.has_ready != (ready is not None) or (ready is not None and h.heartbeat != heartbeat):
            h.probe_at, h.heartbeat, h.has_ready = now, heartbeat, ready is not None
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renew is not None and (h.renew_at is None or renew > h.renew_at):
            h.renew_at, h.probe_at = renew, now
        h.node = node
        grace = self.grace_period_s if ready is not None else self.startup_grace_period_s
        expires_in = h.probe_at + grace - now
        observed = None if ready is None else str(ready.get("status") or "")
        if expires_in > 0:
            return HealthVerdict(observed, observed, None, expires_in)
        conditions = conditions_unknown(node, wall)
        new_ready = next(c for c in conditions if c["type"] == "Ready")
        if ready is not None and new_ready == ready:
            return HealthVerdict(observed, observed, None, expires_in)  # already Unknown: nothing to write
        return HealthVerdict(observed, "Unknown", conditions, expires_in)

    def written(self, name: str, conditions: list[Obj]) -> None:
        """Our own write: its Ready condition is no heartbeat."""
        h = self._health[name]
        ready = next(c for c in conditions if c.get("type") == "Ready")
        h.heartbeat, h.has_ready = ready.get("lastHeartbeatTime"), True

    def reset_probes(self, now: float) -> None:
        """Every node starts a fresh grace period (leaving the all-zones-down mode)."""
        for h in self._health.values():
            h.probe_at = now

    def forget(self, name: str) -> Obj | None:
        """Drop a deleted node; the node as last seen, if it was known."""
        h = self._health.pop(name, None)
        return None if h is None else h.node


# --- rate limiting --------------------------------------------------------------------------------

class TaintQueue:
    """One zone's nodes waiting for a NoExecute taint: first come first served, one per token.

    Kubernetes' RateLimitedTimedQueue, for a controller that syncs one node
    at a time: only the node at the head may take a token; the others are
    told how long to wait. A node tainted stays *done* (not added again)
    until :meth:`remove` — when it is Ready again, or its taint went.
    """

    def __init__(self, rate_per_s: float, now: float) -> None:
        self.bucket = TokenBucket(rate_per_s, EVICTION_BURST, now)
        self._waiting: dict[str, None] = {}
        """Insertion-ordered: the head is first."""
        self._done: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self._waiting or name in self._done

    def waiting(self) -> list[str]:
        return list(self._waiting)

    def is_done(self, name: str) -> bool:
        return name in self._done

    def add(self, name: str) -> bool:
        if name in self:
            return False
        self._waiting[name] = None
        return True

    def remove(self, name: str) -> bool:
        found = name in self
        self._waiting.pop(name, None)
        self._done.discard(name)
        return found

    def done(self, name: str) -> None:
        """``name`` got its taint: out of the line, but not to be added again until removed."""
        self._waiting.pop(name, None)
        self._done.add(name)

    def take(self, name: str, now: float) -> float | None:
        """None if ``name`` is at the head and got a token (taint it now); else seconds to wait (inf: rate 0)."""
        assert name in self._waiting, f"{name} is not waiting"
        position = list(self._waiting).index(name)
        if position == 0 and self.bucket.try_accept(now):
            return None
        wait = self.bucket.wait_s(now)
        return wait + position / self.bucket.rate_per_s if math.isfinite(wait) else math.inf

    def swap_rate(self, rate_per_s: float, now: float) -> None:
        """A new rate; if the old bucket was empty the new one starts empty too (SwapLimiter)."""
        if rate_per_s == self.bucket.rate_per_s:
            return
        empty = not self.bucket.try_accept(now)
        self.bucket = TokenBucket(rate_per_s, EVICTION_BURST, now)
        if empty:
            self.bucket.try_accept(now)


# --- zones ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DisruptionChange:
    """What one look at the zones changed."""

    rates: dict[str, float]
    """Zone -> its new NoExecute tainting rate (only zones whose rate must change)."""
    exited: bool = False
    """Some node is ready again after every zone was down: every node gets a fresh grace period."""


class Disruption:
    """Zone states and the tainting rate each allows (handleDisruption)."""

    def __init__(self, *, eviction_rate: float, secondary_eviction_rate: float, large_cluster_threshold: int,
                 unhealthy_zone_threshold: float) -> None:
        self.eviction_rate = eviction_rate
        self.secondary_eviction_rate = secondary_eviction_rate
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.states: dict[str, str] = {}
        self.master = False
        """Every zone is fully disrupted: no NoExecute taints at all."""

    def rate_for(self, state: str, size: int) -> float:
        if state == PARTIAL:
            return self.secondary_eviction_rate if size > self.large_cluster_threshold else 0.0
        return self.eviction_rate  # Normal and FullDisruption alike (HealthyQPSFunc)

    def update(self, by_zone: Mapping[str, list[str | None]]) -> DisruptionChange:
        """Take every zone's Ready statuses; the rates that must change."""
        return self.update_counts({z: (sum(1 for s in statuses if s == "True"), len(statuses))
                                   for z, statuses in by_zone.items()})

    def update_counts(self, by_zone: Mapping[str, tuple[int, int]]) -> DisruptionChange:
        """:meth:`update` from each zone's (Ready nodes, nodes)."""
        new = {z: zone_state(ready, total, self.unhealthy_zone_threshold)[1] for z, (ready, total) in by_zone.items()}
        all_are = all(s == FULL for s in new.values())
        for zone in new:
            self.states.setdefault(zone, INITIAL)
        for zone in [z for z in self.states if z not in new]:
            del self.states[zone]
        all_were = all(s == FULL for s in self.states.values())
        if all_are and all_were:
            return DisruptionChange({})
        if all_are:  # entering: stop all tainting
            self.master = True
            self.states = dict.fromkeys(self.states, FULL)
            return DisruptionChange(dict.fromkeys(self.states, 0.0))
        self.master = False
        changed = {z: s for z, s in new.items() if all_were or self.states[z] != s}
        self.states.update(changed)
        return DisruptionChange({z: self.rate_for(s, by_zone[z][1]) for z, s in changed.items()}, all_were)


# --- the taint manager ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Scheduled:
    node: str
    fire_at: float
    fired: bool = False


@dataclass(frozen=True, slots=True)
class EvictionPlan:
    due: list[Obj]
    """Pods to delete now."""
    cancelled: list[str]
    """Keys of pods whose scheduled deletion was called off."""
    next_in_s: float | None
    """Seconds until the next scheduled deletion on the node, if any."""


class TaintEvictor:
    """Which pods on a node its NoExecute taints evict, and when (the taint manager's processPodOnNode).

    Each deletion is scheduled when first found necessary and kept as it is
    while it stays necessary; once done it is remembered while the pod is
    still in the cache, so a pod is not deleted twice.
    """

    def __init__(self) -> None:
        self._scheduled: dict[str, _Scheduled] = {}

    def scheduled(self, key: str) -> float | None:
        s = self._scheduled.get(key)
        return None if s is None or s.fired else s.fire_at

    def plan(self, node_name: str, taints: list[Obj], pods: list[Obj], now: float) -> EvictionPlan:
        """``pods``: every pod the cache has on the node; ``taints``: its NoExecute taints."""
        present = {pod_key(p): p for p in pods}
        cancelled = self._drop(node_name, lambda key, s: key not in present)
        if not taints:
            cancelled += self._drop(node_name, lambda key, s: not s.fired)
            return EvictionPlan([], cancelled, None)
        due, waits = [], []
        for key, pod in present.items():
            s = self._scheduled.get(key)
            if (s is not None and s.fired) or (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue  # deleted already, by us or by someone else
            tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
            all_tolerated, used = matching_tolerations(taints, tolerations)
            wait = min_toleration_s(used) if all_tolerated else 0.0
            if wait is None:  # tolerated forever
                if self._scheduled.pop(key, None) is not None:
                    cancelled.append(key)
                continue
            if s is not None and not all_tolerated and s.fire_at > now:
                cancelled.append(key)  # an untolerated taint came: the waiting deletion becomes one now
                s = None
            if s is None:
                s = self._scheduled[key] = _Scheduled(node_name, now + wait)
            if s.fire_at <= now + _EPSILON:
                due.append(pod)
            else:
                waits.append(s.fire_at - now)
        return EvictionPlan(due, cancelled, min(waits) if waits else None)

    def fired(self, key: str) -> None:
        self._scheduled[key].fired = True

    def forget_node(self, node_name: str) -> None:
        self._drop(node_name, lambda key, s: True)

    def _drop(self, node_name: str, which: Callable[[str, _Scheduled], bool]) -> list[str]:
        """Forget the node's entries ``which`` selects; the keys of those not yet carried out."""
        gone = [k for k, s in self._scheduled.items() if s.node == node_name and which(k, s)]
        return [k for k in gone if not self._scheduled.pop(k).fired]


# --- the controller -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _NoExecutePlan:
    add: str | None = None
    remove: frozenset[str] = frozenset()
    took_token: bool = False
    wait_s: float | None = None


class NodeLifecycleController(Controller):
    """Node health, condition taints, rate-limited NoExecute taints and taint-based eviction."""

    name = "nodelifecycle"
    watches = ("nodes", "leases", "pods")

    def __init__(self, *, grace_period_s: float = NODE_MONITOR_GRACE_PERIOD_S,
                 startup_grace_period_s: float = NODE_STARTUP_GRACE_PERIOD_S,
                 monitor_period_s: float = NODE_MONITOR_PERIOD_S, eviction_rate: float = EVICTION_RATE,
                 secondary_eviction_rate: float = SECONDARY_EVICTION_RATE,
                 large_cluster_threshold: int = LARGE_CLUSTER_THRESHOLD,
                 unhealthy_zone_threshold: float = UNHEALTHY_ZONE_THRESHOLD) -> None:
        assert monitor_period_s > 0 and eviction_rate > 0 and secondary_eviction_rate >= 0
        self.monitor_period_s = monitor_period_s
        self.eviction_rate = eviction_rate
        self.health = HealthMonitor(grace_period_s, startup_grace_period_s)
        self.disruption = Disruption(eviction_rate=eviction_rate, secondary_eviction_rate=secondary_eviction_rate,
                                     large_cluster_threshold=large_cluster_threshold,
                                     unhealthy_zone_threshold=unhealthy_zone_threshold)
        self.evictor = TaintEvictor()
        self.queues: dict[str, TaintQueue] = {}
        """Zone -> the nodes waiting there for a NoExecute taint."""
        self._queued_in: dict[str, str] = {}
        self._pods_seen: dict[str, set[str]] = {}
        """Node -> the pods it had at the last sync (to tell newly bound pods)."""
        self._retry_mark: set[str] = set()
        """Nodes whose pods could not all be marked NotReady."""
        self._written_from: dict[str, str] = {}
        """Node -> the resourceVersion our last write to it was based on, until the cache moves on."""
        self._zone_of: dict[str, tuple[str, str | None]] = {}
        """Node -> (zone, Ready status) as its last sync found it, for the zone states."""
        self._zone_counts: dict[str, list[int]] = {}
        """Zone -> [Ready nodes, nodes] over ``_zone_of``."""
        self._counted_at: float | None = None
        """When the zones were last counted from every node in the cache."""
        self.evictions: dict[str, int] = {}
        """Zone -> pods deleted by taint-based eviction; a zone appears at 0 when first seen, so its series
        exists before the first eviction."""

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A node's name; a node Lease's name; a pod's node."""
        meta = obj.get("metadata") or {}
        if resource == "nodes":
            return [meta["name"]]
        if resource == "leases":
            return [meta["name"]] if meta.get("namespace") == LEASE_NAMESPACE else []
        node = (obj.get("spec") or {}).get("nodeName") if resource == "pods" else None
        return [node] if node else []

    # --- the reconcile ---------------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        node = ctx.caches["nodes"].get(key)
        if node is None:
            self._forget(key, ctx)
            return None
        if not self.health.known(key):
            ctx.recorder.event(node, "Normal", "RegisteredNode", f"Registered Node {key} in Controller")
        verdict, may_write = await self._update_health(node, ctx)
        pods = ctx.caches["pods"].by_index(NODE_NAME, key)
        errors = await self._mark_pods_not_ready(node, verdict, pods, ctx)
        self._handle_disruption(node, verdict, ctx)
        healthy = verdict.current in ("True", None) and verdict.expires_in_s > 0
        waits = [verdict.expires_in_s if healthy else self.monitor_period_s]
        if may_write:
            waits.append(await self._reconcile_taints(node, verdict, ctx))
        wait, evict_errors = await self._evict(node, pods, ctx)
        waits.append(wait)
        errors += evict_errors
        if errors:
            raise errors[0]
        return max(_EPSILON, min(w for w in waits if w is not None))

    async def _update_health(self, node: Obj, ctx: Context) -> tuple[HealthVerdict, bool]:
        """Check the heartbeats and write the verdict; it, and whether the node may be written again now."""
        name = node["metadata"]["name"]
        verdict = self.health.check(node, ctx.caches["leases"].get(name, LEASE_NAMESPACE), ctx.now, ctx.wall)
        held = self._written_from.get(name)
        if held and held == _rv(node):
            # Our last write has not come back: act on it once it has, not on this older copy.
            return HealthVerdict(verdict.observed, verdict.observed, None, verdict.expires_in_s), False
        if verdict.conditions is None:
            return verdict, True
        status = {**(node.get("status") or {}), "conditions": verdict.conditions}
        written = await ctx.api.update_status({**node, "status": status})
        self.health.written(name, verdict.conditions)
        self._wrote(name, node, written)
        return verdict, False

    def _wrote(self, name: str, base: Obj, written: Any) -> None:
        """Hold further writes to the node until the cache shows a newer version than ``base``."""
        new_rv = _rv(written) if isinstance(written, dict) else ""
        if new_rv != _rv(base):
            self._written_from[name] = _rv(base)

    def _forget(self, name: str, ctx: Context) -> None:
        last = self.health.forget(name)
        if last is not None:
            ctx.recorder.event(last, "Normal", "RemovingNode", f"Removing Node {name} from Controller")
        self._dequeue(name)
        self._count_in_zone(name, None)
        self._pods_seen.pop(name, None)
        self._retry_mark.discard(name)
        self._written_from.pop(name, None)
        self.evictor.forget_node(name)  # its pods are the pod garbage collector's now

    # --- pods marked NotReady ---------------------------------------------------------------------
    async def _mark_pods_not_ready(self, node: Obj, verdict: HealthVerdict, pods: list[Obj],
                                   ctx: Context) -> list[ApiError]:
        name = node["metadata"]["name"]
        previous = self._pods_seen.get(name)
        self._pods_seen[name] = {pod_key(p) for p in pods}
        if verdict.current in ("True", None):
            self._retry_mark.discard(name)
            return []
        if verdict.observed == "True":
            # Report node event only once when status changed; every pod goes NotReady.
            ctx.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            targets = pods
        elif name in self._retry_mark:
            targets = pods
        elif previous is not None:
            targets = [p for p in pods if pod_key(p) not in previous]  # bound here since the last look
        else:
            targets = []
        self._retry_mark.discard(name)
        errors = await mark_pods_not_ready(ctx, targets)
        if errors:
            self._retry_mark.add(name)
        return errors

    # --- zones ------------------------------------------------------------------------------------
    def _handle_disruption(self, node: Obj, verdict: HealthVerdict, ctx: Context) -> None:
        """The zones' states with this node's verdict in, and the tainting rates they call for.

        The zones are counted from every node in the cache once a monitor period (as monitorNodeHealth's pass
        over all nodes does), and in between kept up to date with each synced node's verdict: a node's sync
        costs the zones, not every node of the cluster (a lease renewal every 10 s from each of 5,000 nodes
        would otherwise cost 25 million node reads a minute)."""
        name = node["metadata"]["name"]
        if self._counted_at is None or ctx.now - self._counted_at >= self.monitor_period_s:
            self._counted_at = ctx.now
            self._zone_of.clear()
            self._zone_counts.clear()
            for other in ctx.caches["nodes"].list():
                if other["metadata"]["name"] != name and counts_for_disruption(other):
                    self._count_in_zone(other["metadata"]["name"], (zone_of(other), ready_status(other)))
        self._count_in_zone(name, (zone_of(node), verdict.current) if counts_for_disruption(node) else None)
        change = self.disruption.update_counts({z: (c[0], c[1]) for z, c in self._zone_counts.items()})
        if change.exited:
            self.health.reset_probes(ctx.now)
        for zone, rate in change.rates.items():
            self._queue(zone, ctx.now).swap_rate(rate, ctx.now)

    def _count_in_zone(self, name: str, entry: tuple[str, str | None] | None) -> None:
        """Node ``name`` is now ``(zone, Ready status)`` for the zone counts, or not counted (None)."""
        old = self._zone_of.pop(name, None)
        if old is not None:
            counts = self._zone_counts[old[0]]
            counts[0] -= old[1] == "True"
            counts[1] -= 1
            if counts[1] == 0:
                del self._zone_counts[old[0]]
        if entry is not None:
            self.evictions.setdefault(entry[0], 0)
            self._zone_of[name] = entry
            counts = self._zone_counts.setdefault(entry[0], [0, 0])
            counts[0] += entry[1] == "True"
            counts[1] += 1

    def _queue(self, zone: str, now: float) -> TaintQueue:
        queue = self.queues.get(zone)
        if queue is None:
            queue = self.queues[zone] = TaintQueue(self.eviction_rate, now)
        return queue

    def _dequeue(self, name: str) -> None:
        zone = self._queued_in.pop(name, None)
        if zone is not None and zone in self.queues:
            self.queues[zone].remove(name)

    # --- taints -----------------------------------------------------------------------------------
    async def _reconcile_taints(self, node: Obj, verdict: HealthVerdict, ctx: Context) -> float | None:
        """Bring the node's controller-owned taints in line; seconds to wait for a NoExecute token, if any."""
        name = node["metadata"]["name"]
        taints = taints_of(node)
        plan = self._no_execute_plan(node, verdict, ctx.now)
        wanted = no_schedule_keys(node)
        have = {t.get("key") for t in taints if t.get("effect") == NO_SCHEDULE}
        new = [t for t in taints
               if not (t.get("effect") == NO_SCHEDULE and t.get("key") in NO_SCHEDULE_KEYS - wanted)
               and not (t.get("effect") == NO_EXECUTE and t.get("key") in plan.remove)]
        stamp = rfc3339(ctx.wall)
        new += [{"key": k, "effect": NO_SCHEDULE, "timeAdded": stamp} for k in sorted(wanted - have)]
        if plan.add is not None and not any(t.get("key") == plan.add and t.get("effect") == NO_EXECUTE
                                            for t in new):
            new.append({"key": plan.add, "effect": NO_EXECUTE, "timeAdded": stamp})
        if new != taints:
            written = await ctx.api.patch("nodes", name, {"metadata": {"resourceVersion": _rv(node)},
                                                          "spec": {"taints": new or None}}, patch_type="merge")
            self._wrote(name, node, written)
        if plan.took_token:
            self._queue(zone_of(node), ctx.now).done(name)
        return plan.wait_s

    def _no_execute_plan(self, node: Obj, verdict: HealthVerdict, now: float) -> _NoExecutePlan:
        """processTaintBaseEviction and the tainting pass, for one node (from its cached Ready status)."""
        name = node["metadata"]["name"]
        if verdict.current is None:
            return _NoExecutePlan()  # not yet heard from at all: its startup grace is still running
        if self.disruption.master:
            return _NoExecutePlan(remove=EVICTION_TAINTS)
        status = verdict.observed
        if status == "True":
            self._dequeue(name)
            return _NoExecutePlan(remove=EVICTION_TAINTS)
        if status not in ("False", "Unknown"):
            return _NoExecutePlan()
        wanted, opposite = (NOT_READY, UNREACHABLE) if status == "False" else (UNREACHABLE, NOT_READY)
        has = {t.get("key") for t in no_execute_taints(node)}
        if opposite in has:
            return _NoExecutePlan(add=wanted, remove=frozenset({opposite}))  # swapped at once
        queue = self._enqueue(name, zone_of(node), now)
        if wanted in has:
            queue.done(name)
            return _NoExecutePlan()
        wait = queue.take(name, now)
        if wait is None:
            return _NoExecutePlan(add=wanted, remove=frozenset({opposite}), took_token=True)
        return _NoExecutePlan(wait_s=self.monitor_period_s if math.isinf(wait) else wait)

    def _enqueue(self, name: str, zone: str, now: float) -> TaintQueue:
        """markNodeForTainting: the node waits in its zone's queue (again, if its taint has gone since)."""
        if self._queued_in.get(name, zone) != zone:
            self._dequeue(name)  # it moved to another zone
        queue = self._queue(zone, now)
        if queue.is_done(name):
            queue.remove(name)
        queue.add(name)
        self._queued_in[name] = zone
        return queue

    # --- eviction -----------------------------------------------------------------------------------
    async def _evict(self, node: Obj, pods: list[Obj], ctx: Context) -> tuple[float | None, list[ApiError]]:
        name = node["metadata"]["name"]
        plan = self.evictor.plan(name, no_execute_taints(node), pods, ctx.now)
        for key in plan.cancelled:
            ctx.recorder.event(_pod_ref(key), "Normal", "TaintManagerEviction", f"Cancelling deletion of Pod {key}")
        errors = []
        zone = zone_of(node)
        for pod in plan.due:
            key = pod_key(pod)
            ctx.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
            try:
                deleted = await delete_for_taint(ctx, pod)
            except ApiError as err:
                errors.append(err)
                continue
            self.evictor.fired(key)
            if deleted:  # a pod someone else deleted first was not evicted by us
                self.evictions[zone] = self.evictions.get(zone, 0) + 1
        return plan.next_in_s, errors

    # --- metrics ------------------------------------------------------------------------------------
    def collect(self) -> Iterable[CounterMetricFamily]:
        """The evictions, for prometheus-client (its scrape thread: the dict is copied in one C call)."""
        family = CounterMetricFamily("kubesim_node_collector_evictions",
                                     "Pods deleted by taint-based eviction, by zone (node_collector_evictions_total).",
                                     labels=["zone"])
        for zone, count in sorted(dict(self.evictions).items()):
            family.add_metric([zone_label(zone)], count)
        yield family


# --- writes to pods ---------------------------------------------------------------------------------

async def mark_pods_not_ready(ctx: Context, pods: list[Obj]) -> list[ApiError]:
    """Set each pod's Ready condition False (MarkPodsNotReady); the failures.

    A pod without a Ready condition, or with Ready already False, is left
    as it is; one already gone is no failure.
    """
    errors = []
    for pod in pods:
        cond = ready_condition(pod)
        if cond is None or cond.get("status") == "False":
            continue
        status = pod.get("status") or {}
        conditions = [dict(c, status="False", lastTransitionTime=rfc3339(ctx.wall)) if c is cond else c
                      for c in status.get("conditions") or []]
        try:
            await ctx.api.update_status({**pod, "status": {**status, "conditions": conditions}})
        except ApiError as err:
            if err.code != 404:
                errors.append(err)
            continue
        ctx.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
    return errors


async def delete_for_taint(ctx: Context, pod: Obj) -> bool:
    """Mark the pod a disruption target, then delete it (addConditionAndDeletePod); whether this deleted it
    (False: it was gone already, which is fine)."""
    meta = pod["metadata"]
    ns, name = meta.get("namespace", ""), meta["name"]
    conditions = (pod.get("status") or {}).get("conditions") or []
    try:
        if not any(isinstance(c, dict) and c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                   for c in conditions):
            condition = dict(DISRUPTION_TARGET, lastTransitionTime=rfc3339(ctx.wall))
            await ctx.api.patch("pods", name, {"status": {"conditions": [condition]}}, ns,
                                patch_type="strategic", subresource="status")
        await ctx.api.delete("pods", name, ns)
    except ApiError as err:
        if err.code != 404:
            raise
        return False
    return True
