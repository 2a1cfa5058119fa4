"""Cluster-state gauges, exported once for the whole cluster as kube-state-metrics does.

kube-state-metrics turns the objects in the API into gauges (pods by phase,
nodes by condition, deployment replicas...). kubesim needs no separate
process for it: the controller manager already holds informer caches of
pods, nodes, deployments and PersistentVolumeClaims, so the leading
controller manager exports them from those caches (a standby exports none of
these names, so two controller managers never count the cluster twice).

:func:`cluster_state` is the pure core: lists of objects in, metric families
(name, help, label names, {label values: value}) out. :class:`StateCollector`
is the thin shell prometheus-client calls at scrape time.

The gauges are computed when Prometheus scrapes, in prometheus-client's HTTP
thread, not on a timer in the actor loop: the loop then spends nothing on
numbers nobody reads, and a scrape sees the caches as they are. That is safe
without a lock because an informer never changes a cached object in place —
an event replaces the object under its key — so a copy of the cache's value
list (one C-level ``list()`` under the GIL) is a consistent set of objects
that the loop cannot change under us. Should a copy still meet a concurrent
change (``RuntimeError``), it is taken again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily

Obj = dict[str, Any]

PODS, NODES, DEPLOYMENTS, CLAIMS = "pods", "nodes", "deployments", "persistentvolumeclaims"
RESOURCES = (PODS, NODES, DEPLOYMENTS, CLAIMS)
"""The kinds the gauges are computed from (informers the manager must hold)."""

CONDITION_STATUSES = ("True", "False", "Unknown")
"""Every status a node condition can have; each is exported (0 included) for every condition seen."""

_COPY_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Family:
    """One gauge family: what :class:`StateCollector` turns into a ``GaugeMetricFamily``."""

    name: str
    doc: str
    labels: tuple[str, ...]
    samples: Mapping[tuple[str, ...], float]


# --- the pure core -------------------------------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _count(value: Any) -> int:
    """A count field as an int; a malformed one counts 0 rather than failing the whole scrape."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def pods_by_phase(pods: Iterable[Obj]) -> dict[tuple[str, str, str], int]:
    """(namespace, phase, node) -> pods; a pod without a phase is Pending, an unscheduled one on node ""."""
    return dict(Counter((_meta(p).get("namespace") or "", _status(p).get("phase") or "Pending",
                         _spec(p).get("nodeName") or "") for p in pods))


def nodes_by_condition(nodes: Iterable[Obj]) -> dict[tuple[str, str], int]:
    """(condition, status) -> nodes, zero-filled over True/False/Unknown for every condition reported.

    A node without a Ready condition (it never posted status) counts as Ready=Unknown, as the node
    lifecycle controller treats it. Ready is always exported, so "no node is ready" is a 0, not a gap.
    """
    counts: Counter[tuple[str, str]] = Counter()
    seen = {"Ready"}
    for node in nodes:
        statuses: dict[str, str] = {}
        for c in _status(node).get("conditions") or []:
            if isinstance(c, dict) and isinstance(c.get("type"), str):
                statuses.setdefault(c["type"], c.get("status") or "Unknown")  # the first of a duplicated type
        statuses.setdefault("Ready", "Unknown")
        seen.update(statuses)
        counts.update(statuses.items())
    out = {(cond, status): 0 for cond in seen for status in CONDITION_STATUSES}
    out.update(counts)
    return out


def deployment_replicas(deployments: Iterable[Obj]) -> tuple[dict[tuple[str, str], int],
                                                                dict[tuple[str, str], int]]:
    """((namespace, name) -> spec.replicas, (namespace, name) -> status.availableReplicas).

    spec.replicas absent is 1 (the API's default); availableReplicas absent is 0 (none yet)."""
    spec: dict[tuple[str, str], int] = {}
    available: dict[tuple[str, str], int] = {}
    for d in deployments:
        key = (_meta(d).get("namespace") or "", _meta(d).get("name") or "")
        replicas = _spec(d).get("replicas")
        spec[key] = 1 if replicas is None else _count(replicas)
        available[key] = _count(_status(d).get("availableReplicas"))
    return spec, available


def claims_by_phase(claims: Iterable[Obj]) -> dict[tuple[str, str], int]:
    """(namespace, phase) -> PersistentVolumeClaims; a claim without a phase is Pending."""
    return dict(Counter((_meta(c).get("namespace") or "", _status(c).get("phase") or "Pending") for c in claims))


def container_restarts(pods: Iterable[Obj]) -> dict[tuple[str], int]:
    """(namespace,) -> the restartCount of every container status of its pods, summed (0 for a namespace
    whose pods never restarted, so the series exists before the first restart)."""
    out: dict[tuple[str], int] = {}
    for p in pods:
        key = (_meta(p).get("namespace") or "",)
        restarts = sum(_count(cs.get("restartCount")) for cs in _status(p).get("containerStatuses") or []
                       if isinstance(cs, dict))
        out[key] = out.get(key, 0) + restarts
    return out


def cluster_state(pods: list[Obj], nodes: list[Obj], deployments: list[Obj], claims: list[Obj]) -> list[Family]:
    """Every cluster-state gauge, from the objects of the four kinds."""
    spec, available = deployment_replicas(deployments)
    return [
        Family("kubesim_kube_pods", "Pods by namespace, phase and node (kube_pod_status_phase, summed).",
               ("namespace", "phase", "node"), pods_by_phase(pods)),
        Family("kubesim_kube_nodes", "Nodes whose condition has the status (kube_node_status_condition, summed).",
               ("condition", "status"), nodes_by_condition(nodes)),
        Family("kubesim_kube_deployment_spec_replicas", "Desired pods of a deployment.",
               ("namespace", "deployment"), spec),
        Family("kubesim_kube_deployment_status_replicas_available", "Available pods of a deployment.",
               ("namespace", "deployment"), available),
        Family("kubesim_kube_persistentvolumeclaims", "PersistentVolumeClaims by namespace and phase.",
               ("namespace", "phase"), claims_by_phase(claims)),
        Family("kubesim_kube_pod_container_restarts",
               "Container restarts of the pods in a namespace (kube_pod_container_status_restarts_total, summed).",
               ("namespace",), container_restarts(pods)),
    ]


# --- the shell -------------------------------------------------------------------------------------------

class Cache(Protocol):
    def list(self) -> list[Obj]: ...


def snapshot(cache: Cache) -> list[Obj]:
    """The cache's objects, copied from another thread than the one that changes the cache."""
    for _ in range(_COPY_ATTEMPTS):
        try:
            return cache.list()
        except RuntimeError:  # "dictionary changed size during iteration": take it again
            continue
    return cache.list()


class StateCollector:
    """Exposes :func:`cluster_state` over the caches in ``caches`` while ``exporting()`` says so.

    ``caches`` is read at every scrape (the manager fills it when it starts);
    ``exporting`` is true only on the leader with synced caches, so a standby
    or a leader still listing exports nothing rather than a partial count.
    """

    def __init__(self, caches: Mapping[str, Cache], exporting: Callable[[], bool]) -> None:
        self.caches = caches
        self.exporting = exporting

    def describe(self) -> list:
        return []  # names vary with leadership; nothing to check against other collectors up front

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self.exporting():
            return
        objects = [snapshot(self.caches[r]) for r in RESOURCES]
        for family in cluster_state(*objects):
            gauge = GaugeMetricFamily(family.name, family.doc, labels=list(family.labels))
            for labels, value in sorted(family.samples.items()):
                gauge.add_metric(list(labels), value)
            yield gauge
