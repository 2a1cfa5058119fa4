"""What ``kubectl get`` prints: each kind's table columns and cells, as Kubernetes computes them.

``kubectl get`` does not decide what a pod's STATUS or a deployment's READY
column says: it asks the API server for a ``Table``, and the server fills it
with the printer handlers of ``k8s.io/kubernetes``
(``pkg/printers/internalversion/printers.go``, as of Kubernetes 1.32).
People read those cells — ``CrashLoopBackOff``, ``Init:0/2``,
``3 (45s ago)``, ``<pending>`` — as the cluster's state, so kubesim
computes them the same way, from the same fields, for the twenty kinds it
serves. Ages are apimachinery's ``duration.HumanDuration`` and the layout
is Go's ``text/tabwriter`` with kubectl's settings, so that the text is the
text a real cluster gives.

Pure: objects (plain dicts shaped like Kubernetes objects) and ``now`` (epoch
seconds) in, strings out. Fields the API server always defaults (a pod's
phase, a service's type, a port's protocol) are read with those defaults, so
an object that skipped defaulting still prints sensibly.

:func:`tabwrite` is Go's ``text/tabwriter`` itself (column blocks and all);
``kubesim.describe`` lays out ``kubectl describe`` with it too.

A real ``kubectl`` does no layout of its own: it asks the API server for a
``meta.k8s.io`` ``Table`` (:func:`wants_table` reads its ``Accept`` header)
and prints the columns that come back. :func:`table_object` builds that
Table from the same cells, with Kubernetes' column definitions and cell
types, so kubesim's own CLI and a real kubectl print the same text.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from typing import Any

from actors.apiserver.discovery import json_clauses
from actors.apiserver.kinds import KINDS
from actors.apiserver.selectors import SelectorError, selector_from_dict

__all__ = [
    "INCLUDE_OBJECT",
    "access_modes",
    "age",
    "columns",
    "empty_message",
    "format_labels",
    "format_table",
    "human_duration",
    "node_roles",
    "parse_time",
    "pod_ready",
    "pod_restarts",
    "pod_status",
    "row",
    "table",
    "table_columns",
    "table_object",
    "tabwrite",
    "wants_table",
]

Obj = Mapping[str, Any]

# --- Time ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

_NS_PER_S = 1_000_000_000


def parse_time(timestamp: str) -> float | None:
    """RFC 3339 (``2026-11-22T07:42:02Z``, fractions, ``+01:00`` offsets) to epoch seconds.

    ``None`` for anything else, so a malformed time prints as ``<unknown>``
    rather than stopping a whole listing.
    """
    if not isinstance(timestamp, str):
        return None
    m = _RFC3339.fullmatch(timestamp.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = float(m.group(7)) if m.group(7) else 0.0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds + fraction


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: two or three significant figures.

    Go works on integer nanoseconds and truncates at every step; so does this
    (rounding the float to the nearest nanosecond first, so that 119.9999999
    from float arithmetic is still two minutes). More than a second in the
    future is ``<invalid>``, as kubectl prints a clock skew.
    """
    ns = round(seconds * _NS_PER_S)
    whole = abs(ns) // _NS_PER_S * (1 if ns >= 0 else -1)  # Go truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = ns // (60 * _NS_PER_S)
    if minutes < 10:
        s = whole % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // (3600 * _NS_PER_S)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: float) -> str:
    """``translateTimestampSince``: the human duration since ``timestamp``, or ``<unknown>``."""
    when = parse_time(timestamp) if timestamp else None
    if when is None:
        return "<unknown>"
    return human_duration(now - when)


# --- Small readers and formatters ------------------------------------------------------

def dig(obj: Any, *path: str) -> Any:
    """The value at ``path`` in nested maps, or None where the path runs out."""
    node = obj
    for name in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
    return node


def _int(value: Any) -> int:
    # Counts are int32 in Kubernetes: a missing one is 0.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _meta(obj: Obj, field: str) -> Any:
    return dig(obj, "metadata", field)


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.FormatLabels``: ``a=1,b=2`` sorted by key, or ``<none>``."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(selector: Any) -> str | None:
    """``LabelSelectorAsSelector(s).String()``; ``None`` when it does not parse."""
    try:
        return str(selector_from_dict(selector))
    except SelectorError:
        return None


def _format_label_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` for empty, ``<error>`` for invalid."""
    text = _selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _containers_cells(pod_spec: Any) -> list[str]:
    """``layoutContainerCells``: container names and images, comma-joined."""
    containers = [c for c in _list(dig(pod_spec, "containers")) if isinstance(c, Mapping)]
    return [",".join(_str(c.get("name")) for c in containers),
            ",".join(_str(c.get("image")) for c in containers)]


def _condition_true(conditions: Any, kind: str) -> bool:
    """The first condition of ``kind`` is True (``hasJobCondition``)."""
    for c in _list(conditions):
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c.get("status") == "True"
    return False


def _list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    """``listWithMoreString``: the first three, ``+ N more...``, or ``<unset>``."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _join_host_port(host: str, port: Any) -> str:
    # net.JoinHostPort: IPv6 literals are bracketed.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                 ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: Any) -> str:
    """``GetAccessModesAsString``: ``RWO,ROX,RWX,RWOP`` in that fixed order, duplicates once."""
    present = set(_list(modes))
    return ",".join(short for long, short in _ACCESS_MODES if long in present)


# --- Pods: printPod ---------------------------------------------------------------------

def _restartable_init(container: Any) -> bool:
    # A sidecar: an init container that keeps running (restartPolicy Always).
    return isinstance(container, Mapping) and container.get("restartPolicy") == "Always"


def _last_terminated_at(status: Mapping[str, Any]) -> float | None:
    finished = dig(status, "lastState", "terminated", "finishedAt")
    if dig(status, "lastState", "terminated") is None:
        return None
    # A terminated state without a time is Go's zero time: known, but never "later".
    return parse_time(finished) if finished else None


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    reason = _str(terminated.get("reason"))
    if reason:
        return prefix + reason
    signal = _int(terminated.get("signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _pod_summary(pod: Obj) -> tuple[int, int, str, int, float | None]:
    """printPod's walk over the container statuses.

    Returns (ready, total, status, restarts, last restart time). Kept as one
    function because the init containers' verdict decides whether the main
    containers are looked at at all, exactly as in Kubernetes.
    """
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    init_specs = {c.get("name"): c for c in _list(spec.get("initContainers"))
                  if isinstance(c, Mapping)}
    total = len(_list(spec.get("containers")))
    total += sum(1 for c in init_specs.values() if _restartable_init(c))
    # The API server sets phase Pending on create: a pod without one is Pending.
    phase = _str(status.get("phase")) or "Pending"
    reason = _str(status.get("reason")) or phase
    conditions = _list(status.get("conditions"))
    for c in conditions:
        if isinstance(c, Mapping) and c.get("type") == "PodScheduled" \
                and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    ready = restarts = sidecar_restarts = 0
    last_restart: float | None = None
    last_sidecar_restart: float | None = None
    initializing = False
    init_statuses = [s for s in _list(status.get("initContainerStatuses")) if isinstance(s, Mapping)]
    n_init = len(_list(spec.get("initContainers")))
    for i, cs in enumerate(init_statuses):
        restarts += _int(cs.get("restartCount"))
        finished = _last_terminated_at(cs)
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished
        sidecar = _restartable_init(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            if finished is not None and (last_sidecar_restart is None or finished > last_sidecar_restart):
                last_sidecar_restart = finished
        state = _dict(cs.get("state"))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            ready += 1 if cs.get("ready") else 0
            continue
        if isinstance(terminated, Mapping):
            reason = _terminated_reason(terminated, "Init:")
        elif isinstance(waiting, Mapping) and waiting.get("reason") \
                and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + _str(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed([s for s in _list(status.get("containerStatuses")) if isinstance(s, Mapping)]):
            restarts += _int(cs.get("restartCount"))
            finished = _last_terminated_at(cs)
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = _dict(cs.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = _str(waiting.get("reason"))
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and isinstance(state.get("running"), Mapping):
                has_running = True
                ready += 1
        # A pod whose finished containers say Completed is still Running while one runs.
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if _meta(pod, "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return ready, total, reason, restarts, last_restart


def pod_status(pod: Obj) -> str:
    """The STATUS column: phase or reason, refined by init and container states."""
    return _pod_summary(pod)[2]


def pod_ready(pod: Obj) -> str:
    """The READY column: ready containers (and started sidecars) over all of them."""
    ready, total, _, _, _ = _pod_summary(pod)
    return f"{ready}/{total}"


def pod_restarts(pod: Obj, now: float) -> str:
    """The RESTARTS column: ``3 (45s ago)`` when the last restart's time is known."""
    _, _, _, restarts, last = _pod_summary(pod)
    return _restarts_text(restarts, last, now)


def _restarts_text(restarts: int, last: float | None, now: float) -> str:
    if restarts != 0 and last is not None:
        return f"{restarts} ({human_duration(now - last)} ago)"
    return str(restarts)


def _pod_row(pod: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    ready, total, reason, restarts, last = _pod_summary(pod)
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    ips = [i for i in _list(status.get("podIPs")) if isinstance(i, Mapping)]
    # The server mirrors podIP into podIPs; read podIP if a writer skipped that.
    ip = _str(ips[0].get("ip")) if ips else _str(status.get("podIP"))
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        by_type: dict[str, Any] = {}
        for c in _list(status.get("conditions")):
            if isinstance(c, Mapping):
                by_type.setdefault(c.get("type"), c)
        true = sum(1 for g in gates if isinstance(g, Mapping)
                   and dig(by_type.get(g.get("conditionType")), "status") == "True")
        gates_text = f"{true}/{len(gates)}"
    wide_cells = [ip or "<none>", _str(spec.get("nodeName")) or "<none>",
                  _str(status.get("nominatedNodeName")) or "<none>", gates_text]
    cells = [f"{ready}/{total}", reason, _restarts_text(restarts, last, now), _created(pod, now)]
    return cells, wide_cells


# --- The other kinds ---------------------------------------------------------------------

def _created(obj: Obj, now: float) -> str:
    return age(_meta(obj, "creationTimestamp"), now)


def _namespace_row(ns: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    return [_str(dig(ns, "status", "phase")), _created(ns, now)], []


def node_roles(labels: Mapping[str, Any]) -> list[str]:
    """``findNodeRoles``: ``node-role.kubernetes.io/<role>`` keys and ``kubernetes.io/role`` values."""
    roles = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/") and len(key) > len("node-role.kubernetes.io/"):
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(_str(value))
    return sorted(roles)


def _node_status(node: Obj) -> str:
    status = []
    ready = None
    for c in _list(dig(node, "status", "conditions")):
        if isinstance(c, Mapping) and c.get("type") == "Ready":
            ready = c  # the last one wins, as in Kubernetes' condition map
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    else:
        status.append("Unknown")
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_address(node: Obj, kind: str) -> str:
    for a in _list(dig(node, "status", "addresses")):
        if isinstance(a, Mapping) and a.get("type") == kind:
            return _str(a.get("address"))
    return "<none>"


def _node_row(node: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    info = _dict(dig(node, "status", "nodeInfo"))
    roles = ",".join(node_roles(_dict(_meta(node, "labels")))) or "<none>"
    wide = [_node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            _str(info.get("osImage")) or "<unknown>",
            _str(info.get("kernelVersion")) or "<unknown>",
            _str(info.get("containerRuntimeVersion")) or "<unknown>"]
    return [_node_status(node), roles, _created(node, now), _str(info.get("kubeletVersion"))], wide


_LOAD_BALANCER_WIDTH = 16


def _load_balancer_ips(svc: Obj, wide: bool) -> str:
    # loadBalancerStatusStringer: a sorted set, cut to 16 characters unless wide.
    found = set()
    for ing in _list(dig(svc, "status", "loadBalancer", "ingress")):
        if isinstance(ing, Mapping):
            if ing.get("ip"):
                found.add(_str(ing["ip"]))
            elif ing.get("hostname"):
                found.add(_str(ing["hostname"]))
    text = ",".join(sorted(found))
    if not wide and len(text) > _LOAD_BALANCER_WIDTH:
        text = text[:_LOAD_BALANCER_WIDTH - 3] + "..."
    return text


def _service_external_ip(svc: Obj, wide: bool) -> str:
    spec = _dict(svc.get("spec"))
    kind = _str(spec.get("type")) or "ClusterIP"
    external = [_str(ip) for ip in _list(spec.get("externalIPs"))]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(svc, wide)
        if external:
            return ",".join((lb.split(",") if lb else []) + external)
        return lb or "<pending>"
    if kind == "ExternalName":
        return _str(spec.get("externalName"))
    return "<unknown>"


def _service_ports(ports: Any) -> str:
    pieces = []
    for p in _list(ports):
        if not isinstance(p, Mapping):
            continue
        protocol = _str(p.get("protocol")) or "TCP"
        node_port = _int(p.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{_str(p.get('port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_str(p.get('port'))}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_row(svc: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec = _dict(svc.get("spec"))
    ips = _list(spec.get("clusterIPs"))
    cluster_ip = _str(ips[0]) if ips else _str(spec.get("clusterIP"))
    return ([_str(spec.get("type")) or "ClusterIP", cluster_ip or "<none>",
             _service_external_ip(svc, wide), _service_ports(spec.get("ports")), _created(svc, now)],
            [format_labels(_dict(spec.get("selector")))])


def _endpoints_text(ep: Obj) -> str:
    """``formatEndpoints`` with all ports: ``ip:port`` for each port of each subset."""
    subsets = [s for s in _list(ep.get("subsets")) if isinstance(s, Mapping)]
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for ss in subsets:
        addresses = [a for a in _list(ss.get("addresses")) if isinstance(a, Mapping)]
        ports = [p for p in _list(ss.get("ports")) if isinstance(p, Mapping)]
        if not ports:
            # A headless service may have no ports: the addresses alone.
            count += len(addresses)
            shown += [_str(a.get("ip")) for a in addresses]
            continue
        for port in ports:
            count += len(addresses)
            shown += [_join_host_port(_str(a.get("ip")), _str(port.get("port"))) for a in addresses]
    text = ",".join(shown[:3])
    if count > 3:
        return f"{text} + {count - 3} more..."
    return text


def _endpoints_row(ep: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    return [_endpoints_text(ep), _created(ep, now)], []


def _endpoint_slice_row(eps: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    ports = []
    for p in _list(eps.get("ports")):
        if not isinstance(p, Mapping):
            continue
        if p.get("port") is not None:
            ports.append(_str(p.get("port")))
        elif p.get("name") is not None:
            ports.append(_str(p.get("name")))
        else:
            ports.append("*")
    addresses = [_str(a) for e in _list(eps.get("endpoints")) if isinstance(e, Mapping)
                 for a in _list(e.get("addresses"))]
    return ([_str(eps.get("addressType")), _list_with_more(ports, len(ports)),
             _list_with_more(addresses, len(addresses)), _created(eps, now)], [])


def _config_map_row(cm: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    count = len(_dict(cm.get("data"))) + len(_dict(cm.get("binaryData")))
    return [str(count), _created(cm, now)], []


def _secret_row(secret: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    # The server folds stringData into data on write; Kubernetes counts data.
    return [_str(secret.get("type")) or "Opaque", str(len(_dict(secret.get("data")))),
            _created(secret, now)], []


def _service_account_row(sa: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    return [str(len(_list(sa.get("secrets")))), _created(sa, now)], []


def _event_source(event: Obj) -> str:
    """``formatEventSource``: component (or reportingController), then host (or instance)."""
    component = _str(dig(event, "source", "component")) or _str(event.get("reportingController"))
    host = _str(dig(event, "source", "host")) or _str(event.get("reportingInstance"))
    return f"{component}, {host}" if host else component


def _event_row(event: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    # Unlike the others, both results are whole rows (events have no leading
    # NAME): the plain one and the wide one, which reorders the columns.
    first = age(event.get("firstTimestamp"), now) if event.get("firstTimestamp") \
        else age(event.get("eventTime"), now)
    last = age(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, Mapping):
        last = age(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = _dict(event.get("involvedObject"))
    target = _str(involved.get("kind")).lower()
    if involved.get("name"):
        target = f"{target}/{_str(involved.get('name'))}"
    message = _str(event.get("message")).strip()
    cells = [last, _str(event.get("type")), _str(event.get("reason")), target]
    wide = [_str(involved.get("fieldPath")), _event_source(event), message, first, str(count),
            _str(_meta(event, "name"))]
    return cells + [message], cells + wide


def _lease_row(lease: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    return [_str(dig(lease, "spec", "holderIdentity")), _created(lease, now)], []


def _deployment_row(d: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(d.get("spec")), _dict(d.get("status"))
    replicas = _int(spec.get("replicas")) if "replicas" in spec else 1
    selector = _selector_string(spec.get("selector"))
    return ([f"{_int(status.get('readyReplicas'))}/{replicas}", str(_int(status.get("updatedReplicas"))),
             str(_int(status.get("availableReplicas"))), _created(d, now)],
            _containers_cells(dig(spec, "template", "spec"))
            + ["<invalid>" if selector is None else selector])


def _replica_set_row(rs: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(rs.get("spec")), _dict(rs.get("status"))
    replicas = _int(spec.get("replicas")) if "replicas" in spec else 1
    return ([str(replicas), str(_int(status.get("replicas"))), str(_int(status.get("readyReplicas"))),
             _created(rs, now)],
            _containers_cells(dig(spec, "template", "spec"))
            + [_format_label_selector(spec.get("selector"))])


def _daemon_set_row(ds: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(ds.get("spec")), _dict(ds.get("status"))
    counts = [_int(status.get(f)) for f in ("desiredNumberScheduled", "currentNumberScheduled",
                                             "numberReady", "updatedNumberScheduled", "numberAvailable")]
    node_selector = format_labels(_dict(dig(spec, "template", "spec", "nodeSelector")))
    return ([str(n) for n in counts] + [node_selector, _created(ds, now)],
            _containers_cells(dig(spec, "template", "spec"))
            + [_format_label_selector(spec.get("selector"))])


def _stateful_set_row(sts: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec = _dict(sts.get("spec"))
    replicas = _int(spec.get("replicas")) if "replicas" in spec else 1
    return ([f"{_int(dig(sts, 'status', 'readyReplicas'))}/{replicas}", _created(sts, now)],
            _containers_cells(dig(spec, "template", "spec")))


def _job_status(job: Obj) -> str:
    conditions = dig(job, "status", "conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _meta(job, "deletionTimestamp"):
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(job: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(job.get("spec")), _dict(job.get("status"))
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec.get('completions'))}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    start = parse_time(status["startTime"]) if status.get("startTime") else None
    end = parse_time(status["completionTime"]) if status.get("completionTime") else None
    duration = ""
    if start is not None:
        duration = human_duration((end if end is not None else now) - start)
    return ([_job_status(job), completions, duration, _created(job, now)],
            _containers_cells(dig(spec, "template", "spec"))
            + [_format_label_selector(spec.get("selector"))])


def _bool_ptr(value: Any) -> str:
    """``printBoolPtr``: ``True``, ``False`` or ``<unset>``."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return "<unset>"


def _cron_job_row(cj: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(cj.get("spec")), _dict(cj.get("status"))
    last = age(status["lastScheduleTime"], now) if status.get("lastScheduleTime") else "<none>"
    job_spec = dig(spec, "jobTemplate", "spec")
    return ([_str(spec.get("schedule")), _str(spec.get("timeZone")) or "<none>",
             _bool_ptr(spec.get("suspend")), str(len(_list(status.get("active")))), last,
             _created(cj, now)],
            _containers_cells(dig(job_spec, "template", "spec"))
            + [_format_label_selector(dig(job_spec, "selector"))])


_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"


def _storage_class_of(obj: Obj) -> str:
    # GetPersistentVolume(Claim)Class: the beta annotation wins over the field.
    annotations = _dict(_meta(obj, "annotations"))
    if _BETA_STORAGE_CLASS in annotations:
        return _str(annotations[_BETA_STORAGE_CLASS])
    return _str(dig(obj, "spec", "storageClassName"))


def _phase_or_terminating(obj: Obj) -> str:
    if _meta(obj, "deletionTimestamp"):
        return "Terminating"
    return _str(dig(obj, "status", "phase"))


def _pv_row(pv: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec = _dict(pv.get("spec"))
    claim = ""
    if isinstance(spec.get("claimRef"), Mapping):
        claim = f"{_str(spec['claimRef'].get('namespace'))}/{_str(spec['claimRef'].get('name'))}"
    # Quantity.String() of a missing capacity is "0".
    capacity = _str(dig(spec, "capacity", "storage")) or "0"
    return ([capacity, access_modes(spec.get("accessModes")),
             _str(spec.get("persistentVolumeReclaimPolicy")), _phase_or_terminating(pv), claim,
             _storage_class_of(pv), _str(spec.get("volumeAttributesClassName")) or "<unset>",
             _str(dig(pv, "status", "reason")), _created(pv, now)],
            [_str(spec.get("volumeMode")) or "<unset>"])


def _pvc_row(pvc: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    spec, status = _dict(pvc.get("spec")), _dict(pvc.get("status"))
    capacity = modes = ""
    if spec.get("volumeName"):
        # Capacity and modes are the bound volume's, known only once bound.
        capacity = _str(dig(status, "capacity", "storage")) or "0"
        modes = access_modes(status.get("accessModes"))
    return ([_phase_or_terminating(pvc), _str(spec.get("volumeName")), capacity, modes,
             _storage_class_of(pvc), _str(spec.get("volumeAttributesClassName")) or "<unset>",
             _created(pvc, now)],
            [_str(spec.get("volumeMode")) or "<unset>"])


_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")


def _storage_class_row(sc: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    expansion = sc.get("allowVolumeExpansion")
    return ([_str(sc.get("provisioner")), _str(sc.get("reclaimPolicy")) or "Delete",
             _str(sc.get("volumeBindingMode")) or "Immediate",
             "true" if expansion is True else "false", _created(sc, now)], [])


def _storage_class_name(sc: Obj) -> str:
    annotations = _dict(_meta(sc, "annotations"))
    default = any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS)
    name = _str(_meta(sc, "name"))
    return f"{name} (default)" if default else name


def _generic_row(obj: Obj, now: float, wide: bool) -> tuple[list[str], list[str]]:
    return [_created(obj, now)], []


# --- The table of tables -----------------------------------------------------------------

# A printer: (object, now, wide) -> (cells after NAME, wide-only cells). Only
# the Service printer looks at wide: it cuts load-balancer addresses otherwise.
RowFn = Callable[[Obj, float, bool], tuple[list[str], list[str]]]

# kind -> (columns after NAME, wide-only columns, cells). The wide columns
# follow the others, as the server's Priority-1 columns do.
_PRINTERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], RowFn]] = {
    "Namespace": (("STATUS", "AGE"), (), _namespace_row),
    "Node": (("STATUS", "ROLES", "AGE", "VERSION"),
             ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"),
             _node_row),
    "Pod": (("READY", "STATUS", "RESTARTS", "AGE"),
            ("IP", "NODE", "NOMINATED NODE", "READINESS GATES"), _pod_row),
    "Service": (("TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",), _service_row),
    "Endpoints": (("ENDPOINTS", "AGE"), (), _endpoints_row),
    "EndpointSlice": (("ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"), (), _endpoint_slice_row),
    "ConfigMap": (("DATA", "AGE"), (), _config_map_row),
    "Secret": (("TYPE", "DATA", "AGE"), (), _secret_row),
    "ServiceAccount": (("SECRETS", "AGE"), (), _service_account_row),
    "Lease": (("HOLDER", "AGE"), (), _lease_row),
    "Deployment": (("READY", "UP-TO-DATE", "AVAILABLE", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
                   _deployment_row),
    "ReplicaSet": (("DESIRED", "CURRENT", "READY", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
                   _replica_set_row),
    "DaemonSet": (("DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"),
                  ("CONTAINERS", "IMAGES", "SELECTOR"), _daemon_set_row),
    "StatefulSet": (("READY", "AGE"), ("CONTAINERS", "IMAGES"), _stateful_set_row),
    "Job": (("STATUS", "COMPLETIONS", "DURATION", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"), _job_row),
    "CronJob": (("SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"),
                ("CONTAINERS", "IMAGES", "SELECTOR"), _cron_job_row),
    "PersistentVolume": (("CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                          "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"), ("VOLUMEMODE",), _pv_row),
    "PersistentVolumeClaim": (("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                               "VOLUMEATTRIBUTESCLASS", "AGE"), ("VOLUMEMODE",), _pvc_row),
    "StorageClass": (("PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"),
                     (), _storage_class_row),
}

# Events have no NAME column up front: LAST SEEN leads, and the wide table
# moves MESSAGE before the extra columns and puts NAME last.
_EVENT_COLUMNS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
_EVENT_WIDE_COLUMNS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE",
                       "FIRST SEEN", "COUNT", "NAME"]


def columns(kind: str, wide: bool = False) -> list[str]:
    """The header kubectl prints for ``kind`` (``-o wide`` adds the extra columns)."""
    if kind == "Event":
        return list(_EVENT_WIDE_COLUMNS if wide else _EVENT_COLUMNS)
    cols, wide_cols, _ = _PRINTERS.get(kind, (("AGE",), (), _generic_row))
    return ["NAME", *cols, *(wide_cols if wide else ())]


def row(obj: dict, now: float, wide: bool = False) -> list[str]:
    """One object's cells, in :func:`columns` order for its ``kind``."""
    kind = _str(obj.get("kind"))
    if kind == "Event":
        cells, wide_cells = _event_row(obj, now, wide)
        return wide_cells if wide else cells
    _, _, fn = _PRINTERS.get(kind, ((), (), _generic_row))
    cells, extra = fn(obj, now, wide)
    name = _storage_class_name(obj) if kind == "StorageClass" else _str(_meta(obj, "name"))
    return [name, *cells, *(extra if wide else ())]


def _kind_prefix(kind: str) -> str:
    """``kind.group/`` as kubectl writes names when several kinds are listed."""
    known = KINDS.get(kind)
    if known is not None and known.group:
        return f"{kind.lower()}.{known.group}/"
    return f"{kind.lower()}/"


def table(kind: str, objects: list[dict], now: float, *, wide: bool = False,
          with_namespace: bool = False, with_kind: bool = False,
          ) -> tuple[list[str], list[list[str]]]:
    """The header and rows of ``kubectl get <kind>``.

    ``with_namespace`` puts a NAMESPACE column first (``-A``); kubectl drops
    it for cluster-scoped kinds, and so does this. ``with_kind`` writes the
    NAME cell as ``pod/web`` or ``deployment.apps/web`` (``kubectl get all``).
    Rows come in the order given: the API server lists by name.
    """
    headers = columns(kind, wide)
    known = KINDS.get(kind)
    namespaced = with_namespace and (known is None or known.namespaced)
    name_at = headers.index("NAME") if "NAME" in headers else None
    rows = []
    for obj in objects:
        cells = row({**obj, "kind": obj.get("kind") or kind}, now, wide)
        if with_kind and name_at is not None:
            cells[name_at] = _kind_prefix(kind) + cells[name_at]
        if namespaced:
            cells = [_str(_meta(obj, "namespace")), *cells]
        rows.append(cells)
    if namespaced:
        headers = ["NAMESPACE", *headers]
    return headers, rows


def empty_message(kind: str, namespace: str | None, all_namespaces: bool) -> str:
    """What kubectl says on stderr when a listing is empty.

    ``No resources found in <ns> namespace.`` for a namespaced kind in one
    namespace; plain ``No resources found`` with ``-A`` or a cluster-scoped
    kind.
    """
    known = KINDS.get(kind)
    namespaced = known is None or known.namespaced
    if namespaced and not all_namespaces and namespace:
        return f"No resources found in {namespace} namespace."
    return "No resources found"


# --- Layout: Go's text/tabwriter ---------------------------------------------------------

def tabwrite(text: str, *, min_width: int = 0, padding: int = 1) -> str:
    """Align tab-separated cells as Go's ``text/tabwriter`` does (space padding, no flags).

    A cell is text ended by a tab; the text after a line's last tab is not a
    cell and is never padded. A column is aligned over a *block*: the run of
    consecutive lines that all have a cell in it, so a line with fewer cells
    ends the block and the next one is measured afresh. That is why
    ``kubectl describe``'s ``Labels:`` value lines up with ``Name:`` above it
    but not with a table further down. Widths count characters, as Go counts
    runes.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    # An unfinished last line keeps an empty last cell only once it is ended.
    if len(lines[-1]) > 1 and lines[-1][-1] == "":
        lines[-1].pop()
    out: list[str] = []
    _format_block(lines, [], 0, len(lines), out, min_width, padding)
    return "\n".join(out)


def _format_block(lines: list[list[str]], widths: list[int], line0: int, line1: int,
                  out: list[str], min_width: int, padding: int) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        # A cell in this column starts a block: print what came before it.
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = min_width
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format_block(lines, [*widths, width], line0, this, out, min_width, padding)
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int,
                 out: list[str]) -> None:
    for cells in lines[line0:line1]:
        out.append("".join(cell.ljust(widths[j]) if j < len(widths) else cell
                           for j, cell in enumerate(cells)))


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """The table as kubectl prints it: tabwriter with minimum width 6 and padding 3.

    Lines carry no trailing spaces (an empty last cell would leave some in
    kubectl; dropped here so the text compares cleanly) and the text ends
    with a newline.
    """
    body = "".join("\t".join(cells) + "\n" for cells in [headers, *rows])
    laid_out = tabwrite(body, min_width=6, padding=3)
    return "".join(line.rstrip(" ") + "\n" for line in laid_out.split("\n")[:-1])


# --- The server's Table (meta.k8s.io) ----------------------------------------------------
#
# A real kubectl does not lay out `kubectl get` itself: it asks the API server
# for a Table and prints whatever columns and cells come back. The server
# fills every row as if for -o wide (pkg/printers/storage's TableConvertor
# passes Wide: true) and marks the wide-only columns priority 1; kubectl
# shows those only with -o wide. Cells are the ones above, typed as the
# printers type them: a Deployment's UP-TO-DATE is an int64, a
# StorageClass's ALLOWVOLUMEEXPANSION a bool, whatever the column's declared
# "type" says (Kubernetes declares both "string").

_NAME_DOC = "Name must be unique within a namespace."
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
            "was created.")
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."
_SELECTOR_DOC = "A label query over pods that are managed by this object."


class _Column:
    """One TableColumnDefinition, and how its cells are typed in the rows."""

    __slots__ = ("cell", "description", "format", "name", "priority", "type")

    def __init__(self, name: str, description: str, *, type: str = "string", priority: int = 0,
                 format: str = "", cell: str = "string") -> None:
        self.name, self.description, self.type = name, description, type
        self.priority, self.format, self.cell = priority, format, cell

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


def _name_col(priority: int = 0) -> _Column:
    return _Column("Name", _NAME_DOC, format="name", priority=priority)


def _age_col() -> _Column:
    return _Column("Age", _AGE_DOC)


def _template_cols(selector: bool = True) -> tuple[_Column, ...]:
    cols = (_Column("Containers", _CONTAINERS_DOC, priority=1),
            _Column("Images", _IMAGES_DOC, priority=1))
    return cols + ((_Column("Selector", _SELECTOR_DOC, priority=1),) if selector else ())


def _count(name: str, description: str, type: str = "integer") -> _Column:
    # An int64 cell; some printers still declare the column "string".
    return _Column(name, description, type=type, cell="integer")


# Kubernetes' column definitions (printers.go AddHandlers, 1.32), all columns
# in row order; names as declared there: kubectl upper-cases them.
_TABLE_COLUMNS: dict[str, tuple[_Column, ...]] = {
    "Namespace": (_name_col(), _Column("Status", "The status of the namespace"), _age_col()),
    "Node": (_name_col(), _Column("Status", "The status of the node"),
             _Column("Roles", "The roles of the node"), _age_col(),
             _Column("Version", "Kubelet Version reported by the node."),
             _Column("Internal-IP", "List of addresses reachable to the node.", priority=1),
             _Column("External-IP", "List of addresses reachable to the node.", priority=1),
             _Column("OS-Image", "OS Image reported by the node.", priority=1),
             _Column("Kernel-Version", "Kernel Version reported by the node.", priority=1),
             _Column("Container-Runtime", "ContainerRuntime Version reported by the node.",
                     priority=1)),
    "Pod": (_name_col(), _Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _Column("Status", "The aggregate status of the containers in this pod."),
            _Column("Restarts", "The number of times the containers in this pod have been restarted "
                                "and when the last container in this pod has restarted."),
            _age_col(),
            _Column("IP", "IP address allocated to the pod.", priority=1),
            _Column("Node", "The node the pod is bound to.", priority=1),
            _Column("Nominated Node", "The node the scheduler nominated for this pod after preempting "
                                      "others.", priority=1),
            _Column("Readiness Gates", "Conditions evaluated for pod readiness besides the containers'.",
                    priority=1)),
    "Service": (_name_col(), _Column("Type", "How the Service is exposed."),
                _Column("Cluster-IP", "The IP address of the service."),
                _Column("External-IP", "IP addresses outside the cluster the service is reachable at."),
                _Column("Port(s)", "The ports exposed by this service."), _age_col(),
                _Column("Selector", "Route service traffic to pods with labels matching this selector.",
                        priority=1)),
    "Endpoints": (_name_col(), _Column("Endpoints", "The set of all endpoints is the union of all subsets."),
                  _age_col()),
    "EndpointSlice": (_name_col(), _Column("AddressType", "The type of address carried by this slice."),
                      _Column("Ports", "The network ports exposed by each endpoint."),
                      _Column("Endpoints", "The unique endpoints in this slice."), _age_col()),
    "ConfigMap": (_name_col(), _count("Data", "The number of keys in data and binaryData.", "string"),
                  _age_col()),
    "Secret": (_name_col(), _Column("Type", "Used to facilitate programmatic handling of secret data."),
               _count("Data", "The number of keys in data.", "string"), _age_col()),
    "ServiceAccount": (_name_col(), _count("Secrets", "The number of secrets referenced.", "string"),
                       _age_col()),
    # Events lead with LAST SEEN; NAME is a wide column, last (see columns()).
    "Event": (_Column("Last Seen", "The time at which the most recent occurrence of this event was "
                                   "recorded."),
              _Column("Type", "Type of this event (Normal, Warning)."),
              _Column("Reason", "A short, machine understandable string that gives the reason for the "
                                "event."),
              _Column("Object", "The object that this event is about."),
              _Column("Subobject", "The part of the object the event is about.", priority=1),
              _Column("Source", "The component reporting this event.", priority=1),
              _Column("Message", "A human-readable description of the status of this operation."),
              _Column("First Seen", "The time at which the event was first recorded.", priority=1),
              _Column("Count", "The number of times this event has occurred.", priority=1,
                      cell="integer"),
              _name_col(priority=1)),
    "Lease": (_name_col(), _Column("Holder", "The identity of the holder of the current lease."),
              _age_col()),
    "Deployment": (_name_col(), _Column("Ready", "Number of the pod with ready state"),
                   _count("Up-to-date", "Total number of non-terminated pods targeted by this deployment "
                                        "that have the desired template spec.", "string"),
                   _count("Available", "Total number of available pods targeted by this deployment.",
                          "string"),
                   _age_col(), *_template_cols()),
    "ReplicaSet": (_name_col(), _count("Desired", "The number of desired replicas."),
                   _count("Current", "The most recently observed number of replicas."),
                   _count("Ready", "The number of pods targeted by this ReplicaSet with a Ready "
                                   "Condition."),
                   _age_col(), *_template_cols()),
    "DaemonSet": (_name_col(),
                  _count("Desired", "The total number of nodes that should be running the daemon pod."),
                  _count("Current", "The number of nodes running at least one daemon pod that are "
                                    "supposed to."),
                  _count("Ready", "The number of nodes with a ready daemon pod."),
                  _count("Up-to-date", "The number of nodes running the updated daemon pod."),
                  _count("Available", "The number of nodes with an available daemon pod."),
                  _Column("Node Selector", "Labels a node must have for the pod to run on it."),
                  _age_col(), *_template_cols()),
    "StatefulSet": (_name_col(), _Column("Ready", "Number of the pod with ready state"), _age_col(),
                    *_template_cols(selector=False)),
    "Job": (_name_col(), _Column("Status", "Status of the job."),
            _Column("Completions", "The number of pods which reached phase Succeeded."),
            _Column("Duration", "Time required to complete the job."), _age_col(), *_template_cols()),
    "CronJob": (_name_col(), _Column("Schedule", "The schedule in Cron format."),
                _Column("Timezone", "The time zone name for the given schedule."),
                _Column("Suspend", "Whether subsequent executions are suspended.", type="boolean"),
                _count("Active", "The number of currently running jobs."),
                _Column("Last Schedule", "Information when was the last time the job was successfully "
                                         "scheduled."),
                _age_col(), *_template_cols()),
    "PersistentVolume": (_name_col(), _Column("Capacity", "The actual resources of the volume."),
                         _Column("Access Modes", "All ways the volume can be mounted."),
                         _Column("Reclaim Policy", "What happens to a persistent volume when released "
                                                   "from its claim."),
                         _Column("Status", "Phase indicates if a volume is available, bound to a claim, "
                                           "or released by a claim."),
                         _Column("Claim", "Part of a bi-directional binding between "
                                          "PersistentVolume and PersistentVolumeClaim."),
                         _Column("StorageClass", "StorageClass of the pv"),
                         _Column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
                         _Column("Reason", "A brief CamelCase string that describes any failure."),
                         _age_col(),
                         _Column("VolumeMode", "Whether the volume is a formatted filesystem or a raw "
                                               "block device.", priority=1)),
    "PersistentVolumeClaim": (_name_col(), _Column("Status", "The current phase of "
                                                             "PersistentVolumeClaim."),
                              _Column("Volume", "The binding reference to the PersistentVolume backing "
                                                "this claim."),
                              _Column("Capacity", "The actual resources of the underlying volume."),
                              _Column("Access Modes", "The actual access modes the volume backing the "
                                                      "PVC has."),
                              _Column("StorageClass", "StorageClass of the pvc"),
                              _Column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
                              _age_col(),
                              _Column("VolumeMode", "Whether the volume is a formatted filesystem or a "
                                                    "raw block device.", priority=1)),
    "StorageClass": (_name_col(), _Column("Provisioner", "The type of the provisioner."),
                     _Column("ReclaimPolicy", "What happens to volumes of this class when released."),
                     _Column("VolumeBindingMode", "How PersistentVolumeClaims should be provisioned and "
                                                  "bound."),
                     _Column("AllowVolumeExpansion", "Whether the storage class allows volume expand.",
                             cell="boolean"),
                     _age_col()),
}

_GENERIC_COLUMNS = (_name_col(), _age_col())

# The two tables must agree, column for column, or kubectl would print a
# header over the wrong cells: checked here rather than trusted.
for _kind_name, _cols in _TABLE_COLUMNS.items():
    assert [c.name.upper() for c in _cols] == columns(_kind_name, wide=True), _kind_name
    assert [c.name.upper() for c in _cols if c.priority == 0] == columns(_kind_name), _kind_name
del _kind_name, _cols

# printPod marks finished pods' rows Completed (kubectl's table printer can use it).
_POD_ROW_CONDITIONS = {
    "Succeeded": [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}],
    "Failed": [{"type": "Completed", "status": "True", "reason": "Failed",
                "message": "The pod failed."}],
}

INCLUDE_OBJECT = ("None", "Metadata", "Object")
"""The values of ``?includeObject=`` (``TableOptions.IncludeObject``)."""


def table_columns(kind: str) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` of ``kind``'s Table: every column, wide ones priority 1."""
    return [c.definition() for c in _TABLE_COLUMNS.get(kind, _GENERIC_COLUMNS)]


def _typed(cell: str, how: str) -> Any:
    if how == "integer":
        return int(cell)
    if how == "boolean":
        return cell == "true"
    return cell


def _row_object(obj: Mapping[str, Any], kind: str, include: str, api_version: str) -> Any:
    if include == "Object":
        full = dict(obj)
        known = KINDS.get(kind)
        # A stored object has both; a hand-made one still goes out self-describing.
        full.setdefault("kind", kind)
        if known is not None:
            full.setdefault("apiVersion", known.api_version)
        return full
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version,
            "metadata": dict(_dict(obj.get("metadata")))}


def table_object(kind: str, objects: list[dict], now: float, *, include_object: str = "Metadata",
                 api_version: str = "meta.k8s.io/v1", resource_version: str = "",
                 continue_token: str = "", remaining: int | None = None) -> dict:
    """The ``Table`` the API server answers ``kubectl get`` with, for ``objects`` of ``kind``.

    ``columnDefinitions`` are Kubernetes' (name, type, format, description,
    priority); each row has cells for every column, normal and wide, typed
    as Kubernetes types them, and ``object`` as ``include_object`` asks:
    ``"None"`` leaves it out, ``"Metadata"`` (also ``""``, the default) is a
    ``PartialObjectMetadata`` in ``api_version``'s group version, ``"Object"``
    the object itself. ``api_version`` is the Table's own
    (``meta.k8s.io/v1`` or ``meta.k8s.io/v1beta1``, as :func:`wants_table`
    negotiated). The list metadata carries ``resource_version``,
    ``continue_token`` and ``remaining`` when given. Rows keep the order of
    ``objects``. An unknown ``include_object`` is a ``ValueError`` with
    Kubernetes' message (a 400).
    """
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise ValueError(f"unrecognized includeObject value: {include_object!r}")
    cols = _TABLE_COLUMNS.get(kind, _GENERIC_COLUMNS)
    rows = []
    for obj in objects:
        cells = row({**obj, "kind": kind}, now, wide=True)
        entry: dict[str, Any] = {"cells": [_typed(cell, c.cell) for cell, c in zip(cells, cols, strict=True)]}
        if kind == "Pod":
            conditions = _POD_ROW_CONDITIONS.get(_str(dig(obj, "status", "phase")))
            if conditions:
                entry["conditions"] = [dict(c) for c in conditions]
        if include != "None":
            entry["object"] = _row_object(obj, kind, include, api_version)
        rows.append(entry)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {"kind": "Table", "apiVersion": api_version, "metadata": metadata,
            "columnDefinitions": [c.definition() for c in cols], "rows": rows}


_TABLE_VERSIONS = ("v1", "v1beta1")


def wants_table(accept: str) -> tuple[str, str] | None:
    """``("meta.k8s.io", "v1" | "v1beta1")`` when ``Accept`` asks for a Table first, else ``None``.

    Negotiated as kube-apiserver does for a resource: clauses in goautoneg's
    order, only those JSON satisfies; the first that asks for plain JSON or
    for a conversion the server makes decides. ``as=Table`` in meta.k8s.io
    v1 or v1beta1 is a Table; ``as=PartialObjectMetadata(List)`` is a
    conversion too, but not a Table (``None``: the caller handles it apart);
    any other ``as=`` is skipped, as the server skips what it cannot serve.
    """
    for clause in json_clauses(accept or ""):
        convert = {k: clause.params[k] for k in ("as", "g", "v") if k in clause.params}
        if not convert:
            return None
        if convert.get("g") != "meta.k8s.io" or convert.get("v") not in _TABLE_VERSIONS:
            continue
        if convert.get("as") == "Table":
            return "meta.k8s.io", convert["v"]
        if convert.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return None
    return None
