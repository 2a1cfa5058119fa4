"""The endpoint controllers: which pods back a Service, written as EndpointSlices and as legacy Endpoints.

kube-proxy and DNS do not read pods; they read, for each Service with a
selector, the list of the selected pods' addresses and ports. Kubernetes keeps
that list twice, and so does kubesim:

- :class:`EndpointSliceController` (``pkg/controller/endpointslice``, the
  reconciler in ``staging/src/k8s.io/endpointslice``) writes
  ``discovery.k8s.io/v1`` EndpointSlices of at most 100 endpoints each, one
  group of slices per distinct port list (a named ``targetPort`` may resolve
  to a different number on different pods). Every endpoint carries the
  ``ready``, ``serving`` and ``terminating`` conditions, so terminating pods
  stay listed (not ready) while they drain. Existing slices are reused and
  filled before new ones are made, so a pod coming or going rewrites one
  slice, not all of them; with no endpoints at all one empty "placeholder"
  slice is kept, as Kubernetes does.
- :class:`EndpointsController` (``pkg/controller/endpoint``) writes the one
  ``v1`` Endpoints object named like the Service: ``subsets`` grouping the
  addresses that offer the same ports, ready pods under ``addresses`` and the
  others under ``notReadyAddresses`` (terminating pods are left out unless the
  Service publishes not-ready addresses), at most 1000 addresses.

Services without a selector are left alone by both (their endpoints are
written by hand), as are ExternalName Services. A deleted Service's slices go
with the garbage collector (they carry an ownerReference to it); its Endpoints
object, which has none, is deleted here, as Kubernetes does.

Both are the usual controller shape: :meth:`keys` maps a pod event to the
Services whose selector matches the pod's labels (the manager asks for the old
and the new pod, so a pod leaving a selector reaches its old Service), and
``sync`` compares the desired objects, computed by the pure functions below,
with the cache. Each also remembers the writes its cache has not shown yet
(:class:`WriteTracker`, the EndpointSlice tracker of Kubernetes): until they
come back, a sync does nothing and looks again later, because acting on a cache
that misses its own new slice would create that slice twice.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.apiserver.status import ApiError
from actors.controllers.base import (
    Context,
    Controller,
    Store,
    key_of,
    owner_reference,
    split_key,
)

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
_RESERVED_LABELS = frozenset({SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL})

IPV4 = "IPv4"
#: kube-controller-manager's --max-endpoints-per-slice default.
MAX_ENDPOINTS_PER_SLICE = 100
#: Addresses one Endpoints object keeps; beyond this it is truncated and annotated.
MAX_ENDPOINTS_ADDRESSES = 1000
#: How long a sync waits for its own writes to show in the cache before it stops waiting (controller expectations).
EXPECTATIONS_TIMEOUT_S = 300.0
#: When a sync found its cache behind its own writes, it looks again after this (endpointSliceChangeMinSyncDelay).
STALE_RETRY_S = 1.0

_DELETED = -1
"""The resourceVersion an expectation records for a deletion."""


# --- pods and services ------------------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def is_pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True (podutil.IsPodReady)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def pod_ipv4(pod: Obj) -> str | None:
    """The pod's IPv4 address, from ``status.podIPs`` (or ``podIP``), written in canonical form."""
    status = pod.get("status") or {}
    candidates = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict)]
    for text in candidates or [status.get("podIP")]:
        try:
            ip = ipaddress.ip_address(str(text or "").strip())
        except ValueError:
            continue
        if ip.version == 4:
            return str(ip)
    return None


def should_be_in_endpoints(pod: Obj, *, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not finished, has an address, and not terminating unless asked for."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if pod_ipv4(pod) is None:
        return False
    return include_terminating or not _meta(pod).get("deletionTimestamp")


def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector, or None when it has none (an empty one counts as none: it would select every pod)."""
    selector = (service.get("spec") or {}).get("selector")
    return dict(selector) if isinstance(selector, Mapping) and selector else None


def manages(service: Obj) -> bool:
    """Whether these controllers write endpoints for ``service`` (it has a selector and is not ExternalName)."""
    return (service.get("spec") or {}).get("type") != "ExternalName" and service_selector(service) is not None


def _selects(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    # A Service selector is a plain label map: equality on every key (labels.SelectorFromSet).
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selected_pods(pods: Store, service: Obj) -> list[Obj]:
    """The pods of the Service's namespace its selector matches, by name."""
    selector = service_selector(service)
    if selector is None:
        return []
    ns = _meta(service).get("namespace") or ""
    return sorted((p for p in pods.list()
                   if (_meta(p).get("namespace") or "") == ns and _selects(selector, _meta(p).get("labels"))),
                  key=_name)


def is_service_ip_set(service: Obj) -> bool:
    """Not headless: a cluster IP other than ``None`` is set."""
    return (service.get("spec") or {}).get("clusterIP") not in (None, "", "None")


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """The container port a Service port's ``targetPort`` means on ``pod`` (podutil.FindPort), or None.

    A number is itself; a name is looked up, with the Service port's protocol,
    in the containers' ports and then in sidecars' (init containers that
    restart always).
    """
    target = service_port.get("targetPort")
    if target is None or target == "":
        target = service_port.get("port")  # what the API server defaults it to
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if not isinstance(target, str):
        return None
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or []
                   if isinstance(c, dict) and c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in (container or {}).get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _should_set_hostname(pod: Obj, service: Obj) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == _name(service) and (
        _meta(pod).get("namespace") == _meta(service).get("namespace"))


def _target_ref(pod: Obj) -> Obj:
    meta = _meta(pod)
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", "")}


def _without_rv(ref: Any) -> Any:
    # Endpoints are compared without the pod's resourceVersion: a pod annotation must not rewrite them.
    return {k: v for k, v in ref.items() if k != "resourceVersion"} if isinstance(ref, dict) else ref


# --- EndpointSlices: the pure part ---------------------------------------------------------------

PortKey = tuple[tuple[str, str, int, str], ...]


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The slice ports for ``pod``: each Service port whose ``targetPort`` resolves on it (getEndpointPorts)."""
    ports = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is None:
            continue  # Kubernetes logs and leaves that port out for this pod
        port = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def port_key(ports: Iterable[Mapping[str, Any]]) -> PortKey:
    """What slices are grouped by: the set of ports, order ignored (endpointsliceutil.NewPortMapKey)."""
    return tuple(sorted((p.get("name") or "", p.get("protocol") or "TCP", int(p.get("port") or 0),
                         p.get("appProtocol") or "") for p in ports))


def pod_to_endpoint(pod: Obj, service: Obj, node: Obj | None = None) -> Obj:
    """One slice endpoint for ``pod`` (podToEndpoint); ``node`` gives the zone, if known."""
    serving = is_pod_ready(pod)
    terminating = bool(_meta(pod).get("deletionTimestamp"))
    # "ready" is never true for a terminating pod, unless the Service publishes not-ready addresses.
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint: Obj = {"addresses": [pod_ipv4(pod)],
                     "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                     "targetRef": _target_ref(pod)}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = (_meta(node).get("labels") or {}).get(ZONE_LABEL) if node else None
    if zone:
        endpoint["zone"] = zone
    if _should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


def endpoint_id(endpoint: Mapping[str, Any]) -> tuple:
    """What makes two endpoints the same one (hashEndpoint): addresses, hostname, the pod's namespace and name."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or [])), endpoint.get("hostname") or "",
            ref.get("namespace") or "", ref.get("name") or "")


def endpoints_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal beyond :func:`endpoint_id` (EndpointsEqualBeyondHash): node, zone, conditions, targetRef."""
    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    return (a.get("nodeName") == b.get("nodeName") and a.get("zone") == b.get("zone")
            and all(ca.get(c) == cb.get(c) for c in ("ready", "serving", "terminating"))
            and _without_rv(a.get("targetRef")) == _without_rv(b.get("targetRef")))


def slice_labels(service: Obj) -> dict[str, str]:
    """The Service's labels, the headless label if it has no cluster IP, and the two reserved ones."""
    labels = {k: v for k, v in (_meta(service).get("labels") or {}).items() if k not in _RESERVED_LABELS}
    if not is_service_ip_set(service):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = _name(service)
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    return labels


def _service_owner(service: Obj) -> Obj:
    return owner_reference({"apiVersion": "v1", "kind": "Service", "metadata": _meta(service)})


def owned_by(slice_: Obj, service: Obj) -> bool:
    """The slice has an ownerReference to this very Service (same uid: not an older one of the same name)."""
    uid = _meta(service).get("uid")
    return any(isinstance(r, dict) and r.get("uid") == uid and r.get("kind") == "Service"
               and r.get("apiVersion") == "v1" for r in _meta(slice_).get("ownerReferences") or [])


def new_slice(service: Obj, ports: list[Obj], labels: Mapping[str, str]) -> Obj:
    """An empty slice for ``service`` with ``ports``; the API server completes its name (generateName)."""
    meta = _meta(service)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace", ""),
                         "labels": dict(labels), "ownerReferences": [_service_owner(service)]},
            "addressType": IPV4, "endpoints": [], "ports": copy.deepcopy(ports)}


def _editable(slice_: Obj) -> Obj:
    out = copy.deepcopy(slice_)  # never change the cache's object
    out.setdefault("apiVersion", "discovery.k8s.io/v1")
    out.setdefault("kind", "EndpointSlice")
    out["endpoints"] = list(out.get("endpoints") or [])
    return out


@dataclass
class SlicePlan:
    """The writes that make a Service's slices what they should be."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    """Full objects, with the resourceVersion they were read at."""
    delete: list[Obj] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def desired_endpoints(service: Obj, pods: Iterable[Obj], nodes: Store | None = None,
                      ) -> dict[PortKey, tuple[list[Obj], dict[tuple, Obj]]]:
    """The endpoints wanted, grouped by port list: port key -> (ports, endpoint id -> endpoint)."""
    groups: dict[PortKey, tuple[list[Obj], dict[tuple, Obj]]] = {}
    for pod in sorted(pods, key=_name):
        if not should_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = endpoint_ports(service, pod)
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = nodes.get(node_name) if nodes is not None and node_name else None
        endpoint = pod_to_endpoint(pod, service, node)
        groups.setdefault(port_key(ports), (ports, {}))[1][endpoint_id(endpoint)] = endpoint
    return groups


def plan_endpoint_slices(service: Obj, pods: Iterable[Obj], slices: Iterable[Obj], *, nodes: Store | None = None,
                         max_endpoints: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """Compare the slices wanted for ``service`` with the ones it has (the reconciler's reconcileByAddressType).

    ``slices`` are the Service's slices managed by this controller. Changed
    endpoints are rewritten in the slice that holds them; new ones fill the
    slices being rewritten anyway, then the unchanged slice they fit best,
    then new slices; slices of a port list no longer wanted, or owned by an
    older Service of the same name, are deleted, or reused for a slice that
    would be created.
    """
    assert max_endpoints >= 1
    slices = sorted(slices, key=_name)
    labels = slice_labels(service)
    plan = SlicePlan()
    existing: dict[PortKey, list[Obj]] = {}
    for s in slices:
        if s.get("addressType") == IPV4 and owned_by(s, service):
            existing.setdefault(port_key(s.get("ports") or []), []).append(s)
        else:
            plan.delete.append(s)
    desired = desired_endpoints(service, pods, nodes)
    for key, (ports, endpoints) in desired.items():
        _plan_port_group(service, labels, ports, existing.get(key, []), endpoints, max_endpoints, plan)
    for key, group in existing.items():
        if key not in desired:
            plan.delete.extend(group)
    # With no endpoints at all, one empty slice stays, so readers can tell "none" from "not yet written".
    if len(slices) == len(plan.delete) and not plan.create:
        placeholder = new_slice(service, [], labels)
        if len(plan.delete) == 1 and _same_placeholder(plan.delete[0], placeholder):
            plan.delete.clear()
        else:
            plan.create.append(placeholder)
    _reuse_deleted(service, plan)
    return plan


def _plan_port_group(service: Obj, labels: Mapping[str, str], ports: list[Obj], slices: list[Obj],
                     desired: dict[tuple, Obj], max_endpoints: int, plan: SlicePlan) -> None:
    """reconcileByPortMapping: the writes for the slices of one port list. ``desired`` is consumed."""
    to_update: dict[str, Obj] = {}
    unchanged: dict[str, Obj] = {}
    # 1. Keep the endpoints still wanted where they are, in their desired form.
    for s in slices:
        kept, changed = [], False
        for endpoint in s.get("endpoints") or []:
            want = desired.pop(endpoint_id(endpoint), None)
            if want is not None:
                kept.append(want)
                changed = changed or not endpoints_equal(want, endpoint)
        labels_changed = (_meta(s).get("labels") or {}) != labels
        if changed or len(kept) != len(s.get("endpoints") or []):
            if not kept:
                plan.delete.append(s)
                continue
            edited = _editable(s)
            edited["endpoints"] = kept
            edited["metadata"]["labels"] = dict(labels)
            to_update[_name(s)] = edited
        elif labels_changed:
            edited = _editable(s)
            edited["metadata"]["labels"] = dict(labels)
            to_update[_name(s)] = edited
        else:
            unchanged[_name(s)] = s
    # 2. New endpoints first fill the slices being rewritten anyway, fullest first.
    for s in sorted(to_update.values(), key=lambda s: -len(s["endpoints"])):
        _fill(s, desired, max_endpoints)
    # 3. Then the unchanged slice they fit into most snugly, then new slices.
    while desired:
        target = None
        if len(desired) < max_endpoints and unchanged:
            target = _slice_to_fill(list(unchanged.values()), len(desired), max_endpoints)
        if target is None:
            target = new_slice(service, ports, labels)
            plan.create.append(target)
        else:
            name = _name(target)
            del unchanged[name]
            target = to_update[name] = _editable(target)
        _fill(target, desired, max_endpoints)
    plan.update.extend(to_update.values())


def _fill(slice_: Obj, desired: dict[tuple, Obj], max_endpoints: int) -> None:
    while desired and len(slice_["endpoints"]) < max_endpoints:
        slice_["endpoints"].append(desired.pop(next(iter(desired))))


def _slice_to_fill(slices: list[Obj], count: int, max_endpoints: int) -> Obj | None:
    """getSliceToFill: the slice that ``count`` more endpoints bring closest to full without overflowing."""
    best, best_room = None, max_endpoints
    for s in slices:
        room = max_endpoints - (count + len(s.get("endpoints") or []))
        if 0 <= room < best_room:
            best, best_room = s, room
    return best


def _same_placeholder(existing: Obj, placeholder: Obj) -> bool:
    return (not existing.get("endpoints") and not existing.get("ports")
            and existing.get("addressType") == placeholder["addressType"]
            and (_meta(existing).get("labels") or {}) == placeholder["metadata"]["labels"]
            and _meta(existing).get("ownerReferences") == placeholder["metadata"]["ownerReferences"])


def _reuse_deleted(service: Obj, plan: SlicePlan) -> None:
    """finalize: a slice about to be created takes over one about to be deleted (an update, not two writes)."""
    i = 0
    while i < len(plan.delete) and plan.create:
        old = plan.delete[i]
        if old.get("addressType") == IPV4 and owned_by(old, service):
            new = plan.create.pop()
            reused = _editable(old)
            reused["metadata"]["labels"] = new["metadata"]["labels"]
            reused.update(addressType=new["addressType"], endpoints=new["endpoints"], ports=new["ports"])
            plan.update.append(reused)
            del plan.delete[i]
        else:
            i += 1


# --- Endpoints: the pure part ------------------------------------------------------------------

_NO_PORT = ("", -1, "", "")
"""The port of a headless Service without ports: its addresses are kept, with no ports listed."""


def endpoints_labels(service: Obj) -> dict[str, str]:
    labels = dict(_meta(service).get("labels") or {})
    if is_service_ip_set(service):
        labels.pop(HEADLESS_LABEL, None)
    else:
        labels[HEADLESS_LABEL] = ""
    return labels


def desired_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The Endpoints ``subsets`` for ``service``, in canonical form (RepackSubsets, then sorted).

    Each address is listed once per port it offers; the addresses offering
    the same ports share a subset. An address not ready for one port is not
    ready for it whatever another entry said (not ready wins).
    """
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    by_port: dict[tuple, dict[tuple, tuple[Obj, bool]]] = {}

    def add(port: tuple, address: Obj, ready: bool) -> None:
        seen = by_port.setdefault(port, {})
        key = (address["ip"], address["targetRef"]["uid"])
        if key not in seen or seen[key][1]:
            seen[key] = (address, ready)

    for pod in sorted(pods, key=_name):
        if not should_be_in_endpoints(pod, include_terminating=tolerate):
            continue
        address: Obj = {"ip": pod_ipv4(pod), "targetRef": _target_ref(pod)}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        if _should_set_hostname(pod, service):
            address["hostname"] = pod["spec"]["hostname"]
        ready = tolerate or is_pod_ready(pod)
        if not service_ports:
            if spec.get("clusterIP") == "None":  # only a headless Service may have no ports
                add(_NO_PORT, address, ready)
            continue
        for sp in service_ports:
            number = find_port(pod, sp)
            if number is not None:
                add((sp.get("name") or "", number, sp.get("protocol") or "TCP", sp.get("appProtocol") or ""),
                    address, ready)

    ports_of: dict[frozenset, list[tuple]] = {}
    addresses_of: dict[frozenset, dict[tuple, tuple[Obj, bool]]] = {}
    for port, seen in by_port.items():
        signature = frozenset((key, ready) for key, (_, ready) in seen.items())
        ports_of.setdefault(signature, []).append(port)
        addresses_of[signature] = seen
    subsets = []
    for signature, ports in ports_of.items():
        entries = sorted(addresses_of[signature].items())
        subset: Obj = {}
        ready = [address for _, (address, ok) in entries if ok]
        not_ready = [address for _, (address, ok) in entries if not ok]
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        listed = [_endpoint_port(p) for p in sorted(ports) if p != _NO_PORT]
        if listed:
            subset["ports"] = listed
        subsets.append(subset)
    return sorted(subsets, key=lambda s: json.dumps(s, sort_keys=True))


def _endpoint_port(port: tuple) -> Obj:
    name, number, protocol, app_protocol = port
    out: Obj = {"name": name, "port": number, "protocol": protocol}
    if app_protocol:
        out["appProtocol"] = app_protocol
    return out


def canonical_subsets(subsets: Any) -> list[Obj]:
    """Subsets as read back, in the form :func:`desired_subsets` writes (no empty lists, no pod resourceVersions)."""
    out = []
    for subset in subsets or []:
        clean: Obj = {}
        for key in ("addresses", "notReadyAddresses"):
            addresses = [{**a, "targetRef": _without_rv(a["targetRef"])} if a.get("targetRef") else dict(a)
                         for a in subset.get(key) or []]
            if addresses:
                clean[key] = addresses
        if subset.get("ports"):
            clean["ports"] = list(subset["ports"])
        out.append(clean)
    return out


def truncate_subsets(subsets: list[Obj], max_addresses: int = MAX_ENDPOINTS_ADDRESSES) -> bool:
    """Cut ``subsets`` (in place) to ``max_addresses`` addresses, ready ones first; True if it cut anything.

    truncateEndpoints: each subset keeps its proportional share, rounded up.
    A subset left with no address at all is dropped (it would not validate).
    """
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= max_addresses:
        return False
    cut_ready = total_ready > max_addresses
    budget = max_addresses if cut_ready else max_addresses - total_ready
    total = total_ready if cut_ready else total_not_ready
    field_ = "addresses" if cut_ready else "notReadyAddresses"
    room = budget
    for subset in subsets:
        listed = subset.get(field_) or []
        keep = min(math.ceil(len(listed) / total * budget), room)
        subset[field_] = listed[:keep]
        room -= len(subset[field_])
        if cut_ready:
            subset.pop("notReadyAddresses", None)
        for key in ("addresses", "notReadyAddresses"):
            if key in subset and not subset[key]:
                del subset[key]
    subsets[:] = [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]
    return True


def plan_endpoints(service: Obj, pods: Iterable[Obj], current: Obj | None) -> Obj | None:
    """The Endpoints object to write for ``service`` (create if ``current`` is None), or None if it is right."""
    subsets = desired_subsets(service, pods)
    truncated = truncate_subsets(subsets)
    labels = endpoints_labels(service)
    if current is not None:
        annotations = _meta(current).get("annotations") or {}
        if (canonical_subsets(current.get("subsets")) == subsets and (_meta(current).get("labels") or {}) == labels
                and (OVER_CAPACITY_ANNOTATION in annotations) == truncated):
            return None
        out = copy.deepcopy(current)
    else:
        meta = _meta(service)
        out = {"metadata": {"name": meta["name"], "namespace": meta.get("namespace", "")}}
    out.update(apiVersion="v1", kind="Endpoints", subsets=subsets)
    out["metadata"]["labels"] = labels
    annotations = dict(out["metadata"].get("annotations") or {})
    if truncated:
        annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
    else:
        annotations.pop(OVER_CAPACITY_ANNOTATION, None)
    if annotations:
        out["metadata"]["annotations"] = annotations
    else:
        out["metadata"].pop("annotations", None)
    return out


# --- writes not yet seen in the cache (endpointSliceTracker) ------------------------------------

def _rv(obj: Obj | None) -> int | None:
    try:
        return int(_meta(obj or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return None


class WriteTracker:
    """Per key, the writes a controller made that its cache has not shown yet.

    A write is shown once the cache holds the object at that resourceVersion
    or later (or, for a delete, no longer holds it). An expectation not met
    within ``timeout_s`` is dropped, so a lost event cannot stop a key for
    good. Bounded by the keys with writes in flight.
    """

    def __init__(self, timeout_s: float = EXPECTATIONS_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pending: dict[str, dict[str, tuple[int, float]]] = {}
        """key -> object name -> (resourceVersion written, or _DELETED; when)."""

    def wrote(self, key: str, obj: Any, now: float) -> None:
        rv = _rv(obj) if isinstance(obj, dict) else None
        if rv is not None and _name(obj):
            self._pending.setdefault(key, {})[_name(obj)] = (rv, now)

    def deleted(self, key: str, name: str, now: float) -> None:
        self._pending.setdefault(key, {})[name] = (_DELETED, now)

    def gone(self, key: str, name: str) -> None:
        """The informer saw ``name`` deleted: whatever was written to it will never show."""
        pending = self._pending.get(key)
        if pending is not None:
            pending.pop(name, None)
            if not pending:
                del self._pending[key]

    def pending(self, key: str) -> bool:
        return bool(self._pending.get(key))

    def satisfied(self, key: str, observed: Mapping[str, Obj], now: float) -> bool:
        """Whether the cache (``observed``: name -> object) shows every write made for ``key``."""
        pending = self._pending.get(key)
        if not pending:
            return True
        for name, (rv, at) in list(pending.items()):
            seen = observed.get(name)
            if rv == _DELETED:
                shown = seen is None
            else:
                shown = seen is not None and (_rv(seen) or 0) >= rv
            if shown or now - at > self.timeout_s:
                del pending[name]
        if not pending:
            del self._pending[key]
        return not pending

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)


def _namespace_terminating(err: ApiError) -> bool:
    """A create refused because the namespace is going away: it will keep failing, so it is dropped."""
    if err.code != 403:
        return False
    causes = (err.details or {}).get("causes") or []
    return any(isinstance(c, dict) and c.get("type") == "NamespaceTerminating" for c in causes) or (
        "is being terminated" in err.message)


# --- the controllers ----------------------------------------------------------------------------

class _ServiceEndpoints(Controller):
    """What both controllers share: a Service key per event, and the index of Service selectors behind it."""

    workers = 5  # --concurrent-service-endpoint-syncs / --concurrent-endpointslice-syncs
    owned = ""
    """The resource this controller writes."""

    def __init__(self) -> None:
        self.selectors: dict[str, dict[str, dict[str, str]]] = {}
        """Namespace -> Service name -> selector, for the Services that have one (kept by :meth:`observe`)."""
        self.tracker = WriteTracker()

    def observe(self, resource: str, event: str, obj: Obj, now: float) -> None:
        """Keep the selector index from Service events; forget expectations of objects seen deleted."""
        if resource == "services":
            ns, name = _meta(obj).get("namespace") or "", _name(obj)
            selector = service_selector(obj)
            if event == "DELETED" or selector is None or not manages(obj):
                in_ns = self.selectors.get(ns, {})
                in_ns.pop(name, None)
                if not in_ns:
                    self.selectors.pop(ns, None)
            else:
                self.selectors.setdefault(ns, {})[name] = selector
        elif resource == self.owned and event == "DELETED":
            for key in self._owned_keys(obj):
                self.tracker.gone(key, _name(obj))

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        if resource == "services":
            return [key_of(obj)]
        if resource == "pods":
            return self.services_for_pod(obj)
        if resource == self.owned:
            return self._owned_keys(obj)
        return []

    def services_for_pod(self, pod: Obj) -> list[str]:
        """The keys of the Services in the pod's namespace whose selector matches its labels."""
        ns = _meta(pod).get("namespace") or ""
        labels = _meta(pod).get("labels") or {}
        return sorted(f"{ns}/{name}" for name, selector in self.selectors.get(ns, {}).items()
                      if _selects(selector, labels))

    def _owned_keys(self, obj: Obj) -> list[str]:
        raise NotImplementedError


class EndpointSliceController(_ServiceEndpoints):
    """Keeps each selecting Service's EndpointSlices (see the module docstring)."""

    name = "endpointslice"
    watches = ("services", "pods", "endpointslices")
    owned = "endpointslices"

    def __init__(self, *, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__()
        assert max_endpoints_per_slice >= 1
        self.max_endpoints_per_slice = max_endpoints_per_slice

    def _owned_keys(self, obj: Obj) -> list[str]:
        # A slice concerns its Service only if it is ours: someone else's slices are theirs to keep.
        labels = _meta(obj).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME_LABEL):
            return []
        return [f"{_meta(obj).get('namespace') or ''}/{labels[SERVICE_NAME_LABEL]}"]

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        service = ctx.caches["services"].get(name, ns)
        if service is None:
            self.tracker.forget(key)  # its slices go with the garbage collector
            return None
        if not manages(service):
            return None
        slices = {_name(s): s for s in ctx.caches["endpointslices"].list() if _slice_of(s, ns, name)}
        if not self.tracker.satisfied(key, slices, ctx.now):
            return STALE_RETRY_S
        plan = plan_endpoint_slices(service, selected_pods(ctx.caches["pods"], service), slices.values(),
                                    nodes=ctx.caches.get("nodes"), max_endpoints=self.max_endpoints_per_slice)
        if plan:
            try:
                await self._write(key, service, plan, ctx)
            except ApiError as err:
                ctx.recorder.event(service, "Warning", "FailedToUpdateEndpointSlices",
                                   f"Error updating Endpoint Slices for Service {ns}/{name}: {err}")
                raise
        return None

    async def _write(self, key: str, service: Obj, plan: SlicePlan, ctx: Context) -> None:
        # A Service being deleted gets no new slices: the garbage collector would race them.
        if not _meta(service).get("deletionTimestamp"):
            for obj in plan.create:
                try:
                    created = await ctx.api.create(obj)
                except ApiError as err:
                    if _namespace_terminating(err):
                        return
                    raise
                self.tracker.wrote(key, created, ctx.now)
        for obj in plan.update:
            self.tracker.wrote(key, await ctx.api.update(obj), ctx.now)
        for obj in plan.delete:
            try:
                await ctx.api.delete("endpointslices", _name(obj), _meta(obj).get("namespace") or "")
            except ApiError as err:
                if err.code != 404:
                    raise
                continue
            self.tracker.deleted(key, _name(obj), ctx.now)


def _slice_of(slice_: Obj, ns: str, service_name: str) -> bool:
    """A slice of that Service managed by this controller, and not on its way out."""
    meta = _meta(slice_)
    labels = meta.get("labels") or {}
    return ((meta.get("namespace") or "") == ns and labels.get(SERVICE_NAME_LABEL) == service_name
            and labels.get(MANAGED_BY_LABEL) == MANAGED_BY and not meta.get("deletionTimestamp"))


class EndpointsController(_ServiceEndpoints):
    """Keeps each selecting Service's v1 Endpoints object (see the module docstring)."""

    name = "endpoints"
    watches = ("services", "pods", "endpoints")
    owned = "endpoints"

    def _owned_keys(self, obj: Obj) -> list[str]:
        # Only Endpoints of a Service we write for: a hand-made one (no Service yet) is not ours to judge.
        ns = _meta(obj).get("namespace") or ""
        return [key_of(obj)] if _name(obj) in self.selectors.get(ns, {}) else []

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        service = ctx.caches["services"].get(name, ns)
        current = ctx.caches["endpoints"].get(name, ns)
        if service is None:
            # Endpoints carry no ownerReference: the Service's go with it here.
            if current is not None or self.tracker.pending(key):
                try:
                    await ctx.api.delete("endpoints", name, ns)
                except ApiError as err:
                    if err.code != 404:
                        raise
            self.tracker.forget(key)
            return None
        if not manages(service):
            return None
        if not self.tracker.satisfied(key, {name: current} if current is not None else {}, ctx.now):
            return STALE_RETRY_S
        desired = plan_endpoints(service, selected_pods(ctx.caches["pods"], service), current)
        if desired is None:
            return None
        try:
            written = await (ctx.api.create(desired) if current is None else ctx.api.update(desired))
        except ApiError as err:
            if current is None and _namespace_terminating(err):
                return None
            if current is None:
                ctx.recorder.event(desired, "Warning", "FailedToCreateEndpoint",
                                   f"Failed to create endpoint for service {ns}/{name}: {err}")
            else:
                ctx.recorder.event(desired, "Warning", "FailedToUpdateEndpoint",
                                   f"Failed to update endpoint {ns}/{name}: {err}")
            raise
        self.tracker.wrote(key, written, ctx.now)
        return None
