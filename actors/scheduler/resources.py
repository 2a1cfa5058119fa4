"""What a pod asks of a node, and what a node offers: the numbers every resource plugin compares.

kube-scheduler never reads a pod's containers when it filters or scores; it
reads one :class:`~actors.scheduler.framework.Resources` per pod, computed
the way ``k8s.io/component-helpers/resource.PodRequests`` computes it, and
per node the sum of those over the pods counted there (``NodeInfo.Requested``).
A simulated scheduler that summed differently would place pods where the real
one would not, so this module follows Kubernetes' arithmetic exactly:

- Regular containers run together, so their requests add up.
- Init containers run one after another, before the regular ones, so the pod
  needs only the largest of them — but a *sidecar* (an init container with
  ``restartPolicy: Always``) keeps running, so it adds to the regular
  containers and to every init container started after it (KEP 753).
- ``spec.overhead`` (the RuntimeClass's cost) is added on top.
- Quantities are added exactly and rounded up once at the end, as
  ``Quantity.MilliValue()`` (CPU) and ``Quantity.Value()`` (the rest) do.

The scoring plugins use a second sum, :func:`pod_non_zero_requests`: a
container that requests no CPU counts as 100m and one that requests no
memory as 200 MiB, so that a node full of pods without requests does not
look empty (``pkg/scheduler/util``: ``DefaultMilliCPURequest``,
``DefaultMemoryRequest``). A request present but zero stays zero, as in
Kubernetes: only a *missing* key is defaulted.

Pure: dicts in, :class:`Resources` out; :func:`add_pod` and
:func:`remove_pod` change only the NodeInfo they are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from actors.apiserver.fielderrors import is_qualified_name
from actors.apiserver.validation import parse_quantity
from actors.scheduler.framework import NodeInfo, Obj, Resources

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "add_pod",
    "is_scalar_resource",
    "new_node_info",
    "node_allocatable",
    "pod_non_zero_requests",
    "pod_requests",
    "remove_pod",
    "update_node",
]

DEFAULT_MILLI_CPU_REQUEST = 100
"""What scoring counts for a container without a CPU request (schedutil.DefaultMilliCPURequest)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""What scoring counts for a container without a memory request, in bytes (DefaultMemoryRequest)."""

# A resource list as Kubernetes adds them: name -> exact amount.
_Amounts = dict[str, Decimal]

_NON_MISSING: Mapping[str, Decimal] = {
    "cpu": Decimal(DEFAULT_MILLI_CPU_REQUEST) / 1000,
    "memory": Decimal(DEFAULT_MEMORY_REQUEST),
}


# --- Resource lists ---------------------------------------------------------------

def _amounts(resource_list: Any) -> _Amounts:
    """A requests/overhead/allocatable map as exact numbers.

    A quantity Kubernetes could not decode never reaches its scheduler; here
    it counts as a zero that is *present*, so it is not defaulted either.
    """
    if not isinstance(resource_list, Mapping):
        return {}
    out: _Amounts = {}
    for name, text in resource_list.items():
        value = parse_quantity(text)
        out[str(name)] = value if value is not None else Decimal(0)
    return out


def _add(total: _Amounts, more: Mapping[str, Decimal]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, Decimal(0)) + value


def _max(total: _Amounts, other: Mapping[str, Decimal]) -> None:
    for name, value in other.items():
        if name not in total or value > total[name]:
            total[name] = value


def _with_defaults(requests: _Amounts, defaults: Mapping[str, Decimal]) -> _Amounts:
    # applyNonMissing: only an absent key is defaulted; an explicit 0 stays 0.
    return {**{k: v for k, v in defaults.items() if k not in requests}, **requests}


def _containers(spec: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    containers = spec.get(key)
    return [c for c in containers if isinstance(c, Mapping)] if isinstance(containers, list) else []


def _container_requests(container: Mapping[str, Any]) -> _Amounts:
    resources = container.get("resources")
    return _amounts(resources.get("requests") if isinstance(resources, Mapping) else None)


def _pod_amounts(pod: Obj, defaults: Mapping[str, Decimal]) -> _Amounts:
    """PodRequests: containers summed, init containers max'ed, sidecars added, overhead added."""
    spec = pod.get("spec") or {}
    total: _Amounts = {}
    for container in _containers(spec, "containers"):
        _add(total, _with_defaults(_container_requests(container), defaults))
    sidecars: _Amounts = {}  # the sidecars started so far: they keep running
    init_peak: _Amounts = {}
    for container in _containers(spec, "initContainers"):
        requests = _with_defaults(_container_requests(container), defaults)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            in_use = dict(sidecars)
        else:
            # While this init container runs, the sidecars before it run too.
            in_use = dict(requests)
            _add(in_use, sidecars)
        _max(init_peak, in_use)
    _max(total, init_peak)
    _add(total, _amounts(spec.get("overhead")))
    return total


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def is_scalar_resource(name: str) -> bool:
    """Whether the scheduler counts ``name`` beside cpu, memory and ephemeral-storage.

    schedutil.IsScalarResourceName: extended resources (``example.com/gpu``),
    hugepages, ``kubernetes.io/``-prefixed and attachable-volume resources.
    Any other name (a typo such as ``cpus``) is ignored, as Kubernetes does.
    """
    if name.startswith(("hugepages-", "attachable-volumes-")) or "kubernetes.io/" in name:
        return True
    # IsExtendedResourceName: not native (has a '/'), and a valid quota name.
    return ("/" in name and not name.startswith("requests.")
            and not is_qualified_name("requests." + name))


def _to_resources(amounts: Mapping[str, Decimal]) -> Resources:
    """framework.Resource.Add: CPU in milli, the rest in whole units, each rounded up."""
    out = Resources()
    for name, value in amounts.items():
        if name == "cpu":
            out.milli_cpu = _ceil(value * 1000)
        elif name == "memory":
            out.memory = _ceil(value)
        elif name == "ephemeral-storage":
            out.ephemeral_storage = _ceil(value)
        elif name == "pods":
            out.pods = _ceil(value)
        elif is_scalar_resource(name):
            out.scalar[name] = _ceil(value)
    return out


# --- Pods and nodes ---------------------------------------------------------------

def pod_requests(pod: Obj) -> Resources:
    """The pod's effective request, what NodeResourcesFit checks and NodeInfo.Requested sums.

    ``pods`` is always 1: a pod takes one of the node's pod slots.
    """
    out = _to_resources(_pod_amounts(pod, {}))
    out.pods = 1
    return out


def pod_non_zero_requests(pod: Obj) -> Resources:
    """The request LeastAllocated scores with: missing cpu/memory requests count as 100m / 200 MiB.

    Only ``milli_cpu`` and ``memory`` are set, as in Kubernetes' NonZeroRequested.
    """
    amounts = _pod_amounts(pod, _NON_MISSING)
    full = _to_resources({k: v for k, v in amounts.items() if k in ("cpu", "memory")})
    return Resources(milli_cpu=full.milli_cpu, memory=full.memory)


def node_allocatable(node: Obj) -> Resources:
    """What the node offers pods: ``status.allocatable``, or ``status.capacity`` when absent.

    The fallback is the API server's defaulting (SetDefaults_NodeStatus), which
    copies capacity only when allocatable is missing altogether.
    """
    status = node.get("status") or {}
    allocatable = status.get("allocatable")
    if allocatable is None:
        allocatable = status.get("capacity")
    return _to_resources(_amounts(allocatable))


def new_node_info(node: Obj, pods: Iterable[Obj] = ()) -> NodeInfo:
    """A NodeInfo for ``node`` counting ``pods`` (bound or assumed to it)."""
    info = NodeInfo(node=node, allocatable=node_allocatable(node))
    for pod in pods:
        add_pod(info, pod)
    return info


def update_node(info: NodeInfo, node: Obj) -> None:
    """A newer version of ``info``'s node: what it offers and what is read from it change, its pods stay."""
    info.set_node(node)
    info.allocatable = node_allocatable(node)


def add_pod(info: NodeInfo, pod: Obj) -> None:
    """Count ``pod`` on the node: it joins ``pods`` and both sums."""
    info.pods.append(pod)
    info.requested.add(pod_requests(pod))
    info.non_zero_requested.add(pod_non_zero_requests(pod))
    if has_pod_affinity(pod):
        info.pods_with_affinity.append(pod)


def has_pod_affinity(pod: Obj) -> bool:
    """Any podAffinity or podAntiAffinity at all: the cheap test most pods fail."""
    affinity = (pod.get("spec") or {}).get("affinity")
    return isinstance(affinity, dict) and bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity"))


def _pod_key(pod: Obj) -> tuple[str, ...]:
    # Kubernetes keys pods by UID; a pod not yet stored has none, so fall back to its name.
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    if uid:
        return ("uid", str(uid))
    return ("name", str(meta.get("namespace", "")), str(meta.get("name", "")))


def remove_pod(info: NodeInfo, pod: Obj) -> bool:
    """Stop counting ``pod`` (matched by UID, else namespace/name); False if it was not counted.

    The sums drop by the *counted* copy's requests, not the argument's, so a
    caller holding a newer version of the pod cannot skew them.
    """
    key = _pod_key(pod)
    for i, counted in enumerate(info.pods):
        if _pod_key(counted) == key:
            del info.pods[i]
            info.requested.sub(pod_requests(counted))
            info.non_zero_requested.sub(pod_non_zero_requests(counted))
            info.pods_with_affinity[:] = [p for p in info.pods_with_affinity if p is not counted]
            return True
    return False
