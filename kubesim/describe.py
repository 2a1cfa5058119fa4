"""What ``kubectl describe`` prints, from an object and its events.

``kubectl describe`` is where people look first when something is wrong: a
pod's container states and exit codes, a node's conditions, the events with
their ``(x3 over 2m)`` counts. kubesim prints it in kubectl's own layout
(``k8s.io/kubectl/pkg/describe/describe.go``) so that habits, scripts and
documentation written against a real cluster read the same here.

The layout is kubectl's PrefixWriter over Go's ``text/tabwriter`` (minimum
width 0, padding 2): every ``Label:\\tvalue`` is a tab-separated cell, and a
run of consecutive lines with cells is aligned as one block. That is why
``Events:  <none>`` lines up with ``Tolerations:`` above it, and why the
events table, which kubectl starts after a flush, is aligned on its own.
:func:`actors.apiserver.tables.tabwrite` is that tabwriter.

The text is kubectl 1.32's. Where kubectl reads the local time zone, this
prints UTC (``+0000``); where it fetches a node's pods and lease, those
sections are left out; a deployment's ReplicaSets and a service's
EndpointSlices can be passed in. Quantities print as stored (kubectl
re-canonicalises them: ``0.5`` would read ``500m``). Pure: objects, events
and ``now`` in, text out.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from actors.apiserver.selectors import SelectorError, selector_from_dict
from actors.apiserver.tables import (
    age,
    dig,
    format_labels,
    node_roles,
    parse_time,
    tabwrite,
)

__all__ = ["describe"]

Obj = Mapping[str, Any]

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MAX_ANNOTATION_LEN = 140


class _Writer:
    """kubectl's PrefixWriter: two spaces per level, over a tabwriter that can be flushed."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._done: list[str] = []

    def write(self, level: int, text: str) -> None:
        self._pending.append("  " * level + text)

    def flush(self) -> None:
        # A flush ends every column block: what follows is measured afresh.
        self._done.append(tabwrite("".join(self._pending), padding=2))
        self._pending = []

    def text(self) -> str:
        self.flush()
        return "".join(self._done)


# --- Readers and formatters ------------------------------------------------------------

def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    """Go's ``%v`` of a JSON value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, an exponent below 1e-4 or from 1e6 up."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    power = len(digits) + exponent - 1
    minus = "-" if sign else ""
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return minus + format(abs(Decimal(repr(value))).normalize(), "f")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ZERO_TIME = "Mon, 01 Jan 0001 00:00:00 +0000"  # Go's zero time.Time, as RFC1123Z


def _rfc1123z(timestamp: Any) -> str:
    """Go's ``time.RFC1123Z`` in UTC: ``Sun, 22 Nov 2026 07:42:02 +0000``."""
    when = parse_time(timestamp) if isinstance(timestamp, str) else None
    if when is None:
        return _ZERO_TIME
    t = time.gmtime(int(when // 1))
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


def _or_none(text: str) -> str:
    return text or "<none>"


def _controller_of(obj: Obj) -> str:
    for ref in _maps(dig(obj, "metadata", "ownerReferences")):
        if ref.get("controller") is True:
            return f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}"
    return ""


def _int_or_string(value: Any) -> str:
    """``intstr.IntOrString.String()``; a missing one is a nil pointer."""
    return "<nil>" if value is None else _str(value)


# --- Sections every describer shares ---------------------------------------------------

def _labels(w: _Writer, title: str, labels: Any) -> None:
    """printLabelsMultiline: one ``key=value`` per line, sorted, or ``<none>``."""
    labels = _dict(labels)
    _multiline(w, title, [f"{key}={_str(labels[key])}" for key in sorted(labels)])


def _shorten(text: str, limit: int) -> str:
    # Go cuts bytes; cutting inside a character drops that character here.
    raw = text.encode()
    return raw[:limit].decode(errors="ignore") + "..." if len(raw) > limit else text


def _annotations(w: _Writer, title: str, annotations: Any) -> None:
    """printAnnotationsMultiline: long or multi-line values go on lines of their own."""
    w.write(0, f"{title}:\t")
    annotations = _dict(annotations)
    keys = sorted(k for k in annotations if k != _LAST_APPLIED)
    if not keys:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = _str(annotations[key]).removesuffix("\n")
        if len(value.encode()) + len(key.encode()) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for line in value.split("\n"):
                w.write(0, f"\t  {_shorten(line, _MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _multiline(w: _Writer, title: str, items: list[str]) -> None:
    # The first item beside the title, the others below it in the value column.
    w.write(0, f"{title}:\t")
    if not items:
        w.write(0, "<none>\n")
        return
    for i, item in enumerate(items):
        if i:
            w.write(0, "\t")
        w.write(0, f"{item}\n")


def _toleration(t: Mapping[str, Any]) -> str:
    text = _str(t.get("key"))
    if t.get("value"):
        text += f"={_str(t['value'])}"
    if t.get("effect"):
        text += f":{_str(t['effect'])}"
    # operator Exists without a value tolerates everything matching the key.
    if t.get("operator") == "Exists" and not t.get("value"):
        text += " op=Exists" if t.get("key") or t.get("effect") else "op=Exists"
    if t.get("tolerationSeconds") is not None:
        text += f" for {_str(t['tolerationSeconds'])}s"
    return text


def _tolerations(w: _Writer, title: str, tolerations: Any) -> None:
    items = sorted(_maps(tolerations), key=lambda t: _str(t.get("key")))
    _multiline(w, title, [_toleration(t) for t in items])


def _taint(t: Mapping[str, Any]) -> str:
    """``Taint.ToString``: ``key=value:Effect``."""
    key, value, effect = _str(t.get("key")), _str(t.get("value")), _str(t.get("effect"))
    if not effect:
        return f"{key}={value}:" if value else key
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def _event_age(event: Obj, now: float) -> str:
    """The Age cell: ``10s``, or ``2m (x3 over 10m)`` for a repeated event."""
    first = age(event.get("eventTime"), now) if event.get("eventTime") \
        else age(event.get("firstTimestamp"), now)
    series = event.get("series")
    if isinstance(series, Mapping):
        return f"{age(series.get('lastObservedTime'), now)} (x{_int(series.get('count'))} over {first})"
    count = _int(event.get("count"))
    if count > 1:
        return f"{age(event.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def _event_sort_key(event: Obj) -> float:
    # Sorted by lastTimestamp; a missing one is Go's zero time, before all others.
    when = parse_time(event.get("lastTimestamp")) if event.get("lastTimestamp") else None
    return float("-inf") if when is None else when


def _events(w: _Writer, events: Sequence[Obj], now: float) -> None:
    """DescribeEvents: a table of its own, oldest first, or ``Events:  <none>``."""
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in sorted(events, key=_event_sort_key):
        source = _str(dig(e, "source", "component")) or _str(e.get("reportingController"))
        message = _str(e.get("message")).strip()
        w.write(1, f"{_str(e.get('type'))}\t{_str(e.get('reason'))}\t{_event_age(e, now)}\t"
                   f"{source}\t{message}\n")


# --- Containers and volumes ------------------------------------------------------------

def _ports(ports: list[Mapping[str, Any]], field: str) -> str:
    return ", ".join(f"{_int(p.get(field))}/{_str(p.get('protocol')) or 'TCP'}" for p in ports)


def _probe(probe: Mapping[str, Any]) -> str:
    """DescribeProbe, with the API server's defaults for unset timings."""
    attrs = (f"delay={_int(probe.get('initialDelaySeconds'))}s "
             f"timeout={_int(probe.get('timeoutSeconds'), 1)}s "
             f"period={_int(probe.get('periodSeconds'), 10)}s "
             f"#success={_int(probe.get('successThreshold'), 1)} "
             f"#failure={_int(probe.get('failureThreshold'), 3)}")
    if isinstance(probe.get("exec"), Mapping):
        command = " ".join(_str(c) for c in probe["exec"].get("command") or [])
        return f"exec [{command}] {attrs}"
    if isinstance(probe.get("httpGet"), Mapping):
        get = probe["httpGet"]
        host, port = _str(get.get("host")), _str(get.get("port"))
        hostport = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}") if port else host
        scheme = (_str(get.get("scheme")) or "HTTP").lower()
        return f"http-get {scheme}://{hostport}{_str(get.get('path'))} {attrs}"
    if isinstance(probe.get("tcpSocket"), Mapping):
        sock = probe["tcpSocket"]
        return f"tcp-socket {_str(sock.get('host'))}:{_str(sock.get('port'))} {attrs}"
    if isinstance(probe.get("grpc"), Mapping):
        grpc = probe["grpc"]
        return f"grpc <pod>:{_int(grpc.get('port'))} {_str(grpc.get('service'))} {attrs}"
    return f"unknown {attrs}"


def _state(w: _Writer, title: str, state: Mapping[str, Any]) -> None:
    """describeStatus: Running with Started, Waiting with Reason, Terminated with exit code."""
    if isinstance(state.get("running"), Mapping):
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{_rfc1123z(state['running'].get('startedAt'))}\n")
    elif isinstance(state.get("waiting"), Mapping):
        w.write(2, f"{title}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{_str(state['waiting']['reason'])}\n")
    elif isinstance(state.get("terminated"), Mapping):
        t = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{_str(t['reason'])}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{_str(t['message'])}\n")
        w.write(3, f"Exit Code:\t{_int(t.get('exitCode'))}\n")
        if _int(t.get("signal")) > 0:
            w.write(3, f"Signal:\t{_int(t.get('signal'))}\n")
        w.write(3, f"Started:\t{_rfc1123z(t.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{_rfc1123z(t.get('finishedAt'))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")


def _resources(w: _Writer, resources: Any, level: int) -> None:
    for title in ("limits", "requests"):
        values = _dict(dig(resources, title))
        if values:
            w.write(level, f"{title.capitalize()}:\n")
        for name in sorted(values):
            w.write(level + 1, f"{name}:\t{_str(values[name])}\n")


# Pod fields an env var's fieldRef may name, as the kubelet resolves them.
_POD_FIELDS = {
    "metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"),
    "metadata.uid": ("metadata", "uid"), "spec.nodeName": ("spec", "nodeName"),
    "spec.serviceAccountName": ("spec", "serviceAccountName"),
    "status.hostIP": ("status", "hostIP"), "status.podIP": ("status", "podIP"),
}


def _field_ref_value(pod: Obj | None, path: str) -> str:
    """EnvValueRetriever: the pod field's value; empty for a template (no pod yet)."""
    if pod is None:
        return ""
    if path in _POD_FIELDS:
        return _str(dig(pod, *_POD_FIELDS[path]))
    for field in ("labels", "annotations"):
        prefix = f"metadata.{field}['"
        if path.startswith(prefix) and path.endswith("']"):
            return _str(dig(pod, "metadata", field, path[len(prefix):-2]))
    return ""


def _resource_ref_value(container: Mapping[str, Any], resource: str) -> str:
    # The container's own request or limit; an unset limit is the node's allocatable.
    section, _, name = resource.partition(".")
    value = _str(dig(container, "resources", section, name)) or "0"
    if value == "0" and resource in ("limits.cpu", "limits.memory"):
        return "node allocatable"
    return value


def _env(w: _Writer, container: Mapping[str, Any], pod: Obj | None) -> None:
    env = _maps(container.get("env"))
    w.write(2, "Environment:" + ("" if env else "\t<none>") + "\n")
    for e in env:
        name, source = _str(e.get("name")), _dict(e.get("valueFrom"))
        if not source:
            for i, line in enumerate(_str(e.get("value")).split("\n")):
                w.write(3, f"{name}:\t{line}\n" if i == 0 else f"\t{line}\n")
        elif isinstance(source.get("fieldRef"), Mapping):
            ref = source["fieldRef"]
            path = _str(ref.get("fieldPath"))
            w.write(3, f"{name}:\t{_field_ref_value(pod, path)} "
                       f"({_str(ref.get('apiVersion')) or 'v1'}:{path})\n")
        elif isinstance(source.get("resourceFieldRef"), Mapping):
            resource = _str(source["resourceFieldRef"].get("resource"))
            w.write(3, f"{name}:\t{_resource_ref_value(container, resource)} ({resource})\n")
        elif isinstance(source.get("secretKeyRef"), Mapping):
            ref = source["secretKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{_str(ref.get('key'))}' in secret "
                       f"'{_str(ref.get('name'))}'>\tOptional: {_str(ref.get('optional') is True)}\n")
        elif isinstance(source.get("configMapKeyRef"), Mapping):
            ref = source["configMapKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{_str(ref.get('key'))}' of config map "
                       f"'{_str(ref.get('name'))}'>\tOptional: {_str(ref.get('optional') is True)}\n")


def _env_from(w: _Writer, container: Mapping[str, Any]) -> None:
    w.write(2, "Environment Variables from:\n")
    for e in _maps(container.get("envFrom")):
        if isinstance(e.get("configMapRef"), Mapping):
            kind, ref = "ConfigMap", e["configMapRef"]
        elif isinstance(e.get("secretRef"), Mapping):
            kind, ref = "Secret", e["secretRef"]
        else:
            kind, ref = "", {}
        optional = _str(ref.get("optional") is True)
        if e.get("prefix"):
            w.write(3, f"{_str(ref.get('name'))}\t{kind} with prefix '{_str(e['prefix'])}'\t"
                       f"Optional: {optional}\n")
        else:
            w.write(3, f"{_str(ref.get('name'))}\t{kind}\tOptional: {optional}\n")


def _mounts(w: _Writer, container: Mapping[str, Any]) -> None:
    mounts = sorted(_maps(container.get("volumeMounts")), key=lambda m: _str(m.get("mountPath")))
    w.write(2, "Mounts:" + ("" if mounts else "\t<none>") + "\n")
    for m in mounts:
        flags = ["ro" if m.get("readOnly") else "rw"]
        if m.get("subPath"):
            flags.append(f'path="{_str(m["subPath"])}"')
        w.write(3, f"{_str(m.get('mountPath'))} from {_str(m.get('name'))} ({','.join(flags)})\n")


def _containers(w: _Writer, title: str, containers: list[Mapping[str, Any]],
                statuses: list[Mapping[str, Any]] | None, pod: Obj | None, space: str = "") -> None:
    """describeContainers: one block per container, with its status when there is one."""
    by_name = {_str(s.get("name")): s for s in statuses or []}
    w.write(0, f"{space}{title}:" + ("" if containers else " <none>") + "\n")
    for c in containers:
        status = by_name.get(_str(c.get("name")))
        w.write(1, f"{' ' if space else ''}{_str(c.get('name'))}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{_str(status.get('containerID'))}\n")
        w.write(2, f"Image:\t{_str(c.get('image'))}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{_str(status.get('imageID'))}\n")
        ports = _maps(c.get("ports"))
        for title_one, title_many, field in (("Port", "Ports", "containerPort"),
                                             ("Host Port", "Host Ports", "hostPort")):
            text = _ports(ports, field)
            w.write(2, f"{title_many}:\t{text}\n" if "," in text else f"{title_one}:\t{_or_none(text)}\n")
        for key, heading in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                w.write(2, f"{heading}:\n")
                for part in c[key]:
                    for line in _str(part).split("\n"):
                        w.write(3, f"{line}\n")
        if status is not None:
            _state(w, "State", _dict(status.get("state")))
            if isinstance(dig(status, "lastState", "terminated"), Mapping):
                _state(w, "Last State", _dict(status.get("lastState")))
            w.write(2, f"Ready:\t{'True' if status.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{_int(status.get('restartCount'))}\n")
        _resources(w, c.get("resources"), 2)
        for key, heading in (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"),
                             ("startupProbe", "Startup")):
            if isinstance(c.get(key), Mapping):
                w.write(2, f"{heading}:\t{_probe(c[key])}\n")
        if c.get("envFrom"):
            _env_from(w, c)
        _env(w, c, pod)
        _mounts(w, c)


def _volume_source(w: _Writer, volume: Mapping[str, Any]) -> None:
    """The common volume types; kubectl knows more, and prints ``<unknown>`` for the rest too."""
    if isinstance(volume.get("hostPath"), Mapping):
        src = volume["hostPath"]
        w.write(2, "Type:\tHostPath (bare host directory volume)\n"
                   f"    Path:\t{_str(src.get('path'))}\n"
                   f"    HostPathType:\t{_str(src.get('type')) or '<none>'}\n")
    elif isinstance(volume.get("emptyDir"), Mapping):
        src = volume["emptyDir"]
        limit = _str(src.get("sizeLimit"))
        limit = limit if limit and _quantity(limit) not in (None, Decimal(0)) else "<unset>"
        w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                   f"    Medium:\t{_str(src.get('medium'))}\n"
                   f"    SizeLimit:\t{limit}\n")
    elif isinstance(volume.get("secret"), Mapping):
        src = volume["secret"]
        w.write(2, "Type:\tSecret (a volume populated by a Secret)\n"
                   f"    SecretName:\t{_str(src.get('secretName'))}\n"
                   f"    Optional:\t{_str(src.get('optional') is True)}\n")
    elif isinstance(volume.get("configMap"), Mapping):
        src = volume["configMap"]
        w.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                   f"    Name:\t{_str(src.get('name'))}\n"
                   f"    Optional:\t{_str(src.get('optional') is True)}\n")
    elif isinstance(volume.get("persistentVolumeClaim"), Mapping):
        src = volume["persistentVolumeClaim"]
        w.write(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the "
                   "same namespace)\n"
                   f"    ClaimName:\t{_str(src.get('claimName'))}\n"
                   f"    ReadOnly:\t{_str(src.get('readOnly') is True)}\n")
    elif isinstance(volume.get("downwardAPI"), Mapping):
        w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
        for item in _maps(volume["downwardAPI"].get("items")):
            if isinstance(item.get("fieldRef"), Mapping):
                w.write(3, f"{_str(item['fieldRef'].get('fieldPath'))} -> {_str(item.get('path'))}\n")
            if isinstance(item.get("resourceFieldRef"), Mapping):
                w.write(3, f"{_str(item['resourceFieldRef'].get('resource'))} -> {_str(item.get('path'))}\n")
    elif isinstance(volume.get("projected"), Mapping):
        _projected(w, volume["projected"])
    else:
        w.write(1, "<unknown>\n")


def _projected(w: _Writer, projected: Mapping[str, Any]) -> None:
    w.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
    for source in _maps(projected.get("sources")):
        # kubectl 1.32 prints the optional flag's pointer: <nil> when unset.
        if isinstance(source.get("secret"), Mapping):
            w.write(2, f"SecretName:\t{_str(source['secret'].get('name'))}\n"
                       f"    SecretOptionalName:\t{_go_value(source['secret'].get('optional'))}\n")
        elif isinstance(source.get("downwardAPI"), Mapping):
            w.write(2, "DownwardAPI:\ttrue\n")
        elif isinstance(source.get("configMap"), Mapping):
            w.write(2, f"ConfigMapName:\t{_str(source['configMap'].get('name'))}\n"
                       f"    ConfigMapOptional:\t{_go_value(source['configMap'].get('optional'))}\n")
        elif isinstance(source.get("serviceAccountToken"), Mapping):
            seconds = _int(source["serviceAccountToken"].get("expirationSeconds"), 3600)
            w.write(2, f"TokenExpirationSeconds:\t{seconds}\n")


def _volumes(w: _Writer, volumes: Any, space: str = "") -> None:
    volumes = _maps(volumes)
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for v in volumes:
        w.write(1, f"{' ' if space else ''}{_str(v.get('name'))}:\n")
        _volume_source(w, v)


# --- Quantities, for the QoS class -----------------------------------------------------

_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _quantity(value: Any) -> Decimal | None:
    """A resource quantity's value (``100m``, ``1Gi``, ``1e3``), or ``None`` if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = _str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number, factor = text[:-len(suffix)], _SUFFIXES[suffix]
            break
    else:
        number, factor = text, 1
    try:
        return Decimal(number) * Decimal(factor)
    except InvalidOperation:
        return None


def _positive(resources: Any) -> dict[str, Decimal]:
    # Only cpu and memory count, and only when above zero.
    found = {}
    for name in ("cpu", "memory"):
        value = _quantity(dig(resources, name)) if dig(resources, name) is not None else None
        if value is not None and value > 0:
            found[name] = value
    return found


def _qos_class(pod: Obj) -> str:
    """GetPodQOS: ``status.qosClass`` when the kubelet set it, else ComputePodQOS.

    Requests and limits are summed over all containers (or taken from the
    pod-level resources); Guaranteed needs cpu and memory limits on every
    container and requests equal to limits.
    """
    if dig(pod, "status", "qosClass"):
        return _str(dig(pod, "status", "qosClass"))
    spec = _dict(pod.get("spec"))
    if isinstance(spec.get("resources"), Mapping):
        sources = [spec["resources"]]
    else:
        sources = [_dict(c.get("resources")) for c in _maps(spec.get("containers")) + _maps(spec.get("initContainers"))]
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for resources in sources:
        for name, value in _positive(resources.get("requests")).items():
            requests[name] = requests.get(name, Decimal(0)) + value
        container_limits = _positive(resources.get("limits"))
        for name, value in container_limits.items():
            limits[name] = limits.get(name, Decimal(0)) + value
        if set(container_limits) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    matching = all(limits.get(name) == value for name, value in requests.items())
    if guaranteed and matching and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# --- The describers --------------------------------------------------------------------

def _describe_pod(w: _Writer, pod: Obj, events: Sequence[Obj], now: float) -> None:
    meta, spec, status = _dict(pod.get("metadata")), _dict(pod.get("spec")), _dict(pod.get("status"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Namespace:\t{_str(meta.get('namespace'))}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{_str(spec['priority'])}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{_str(spec['priorityClassName'])}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{_str(spec['runtimeClassName'])}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{_str(spec['serviceAccountName'])}\n")
    if spec.get("nodeName"):
        w.write(0, f"Node:\t{_str(spec['nodeName'])}/{_str(status.get('hostIP'))}\n")
    else:
        w.write(0, "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{_rfc1123z(status['startTime'])}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    phase = _str(status.get("phase"))
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        # "lasts" counts from the deletion deadline, which lies ahead: kubectl
        # prints <invalid> for it until the grace period is over.
        lasts = age(meta["deletionTimestamp"], now)
        grace = _int(meta.get("deletionGracePeriodSeconds"),
                     _int(spec.get("terminationGracePeriodSeconds"), 30))
        w.write(0, f"Status:\tTerminating (lasts {lasts})\n")
        w.write(0, f"Termination Grace Period:\t{grace}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{_str(status['reason'])}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{_str(status['message'])}\n")
    w.write(0, f"IP:\t{_str(status.get('podIP'))}\n")
    ips = _maps(status.get("podIPs"))
    if ips:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{_str(ip.get('ip'))}\n")
    else:
        w.write(0, "IPs:\t<none>\n")
    if _controller_of(pod):
        w.write(0, f"Controlled By:\t{_controller_of(pod)}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{_str(status['nominatedNodeName'])}\n")
    if _dict(spec.get("resources")):
        w.write(0, "Resources:\n")
        _resources(w, spec["resources"], 1)
    if _maps(spec.get("initContainers")):
        _containers(w, "Init Containers", _maps(spec.get("initContainers")),
                    _maps(status.get("initContainerStatuses")), pod)
    _containers(w, "Containers", _maps(spec.get("containers")), _maps(status.get("containerStatuses")), pod)
    conditions = _maps(status.get("conditions"))
    gates = _maps(spec.get("readinessGates"))
    if gates:
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for g in gates:
            found = next((c for c in conditions if c.get("type") == g.get("conditionType")), None)
            w.write(1, f"{_str(g.get('conditionType'))} \t"
                       f"{'<none>' if found is None else _str(found.get('status'))} \n")
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in conditions:
            w.write(1, f"{_str(c.get('type'))} \t{_str(c.get('status'))} \n")
    _volumes(w, spec.get("volumes"))
    w.write(0, f"QoS Class:\t{_qos_class(pod)}\n")
    _labels(w, "Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "Tolerations", spec.get("tolerations"))
    _events(w, events, now)


def _pod_template(w: _Writer, template: Any) -> None:
    """DescribePodTemplate: the template's labels, containers and scheduling, indented."""
    w.write(0, "Pod Template:\n")
    meta, spec = _dict(dig(template, "metadata")), _dict(dig(template, "spec"))
    _labels(w, "  Labels", meta.get("labels"))
    if _dict(meta.get("annotations")):
        _annotations(w, "  Annotations", meta.get("annotations"))
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{_str(spec['serviceAccountName'])}\n")
    if _maps(spec.get("initContainers")):
        _containers(w, "Init Containers", _maps(spec.get("initContainers")), None, None, "  ")
    _containers(w, "Containers", _maps(spec.get("containers")), None, None, "  ")
    _volumes(w, spec.get("volumes"), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{_str(spec['priorityClassName'])}\n")
    _labels(w, "  Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "  Tolerations", spec.get("tolerations"))


def _without_hash(template: Any) -> Any:
    # EqualIgnoreHash: a ReplicaSet's template is its deployment's plus the hash label.
    template = dict(_dict(template))
    meta = dict(_dict(template.get("metadata")))
    labels = {k: v for k, v in _dict(meta.get("labels")).items() if k != "pod-template-hash"}
    meta["labels"] = labels
    template["metadata"] = meta
    return template


def _replica_sets_text(replica_sets: list[Mapping[str, Any]]) -> str:
    """printReplicaSetsByLabels: ``name (current/desired replicas created)``."""
    texts = [f"{_str(dig(rs, 'metadata', 'name'))} ({_int(dig(rs, 'status', 'replicas'))}/"
             f"{_int(dig(rs, 'spec', 'replicas'), 1)} replicas created)" for rs in replica_sets]
    return ", ".join(texts) or "<none>"


def _split_replica_sets(deployment: Obj, replica_sets: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """The deployment's old ReplicaSets and its new one, as deploymentutil finds them.

    Owned means controlled by the deployment's uid. The new one is the oldest
    whose template equals the deployment's (ignoring the hash label); the
    rest are old, in name order as the API lists them.
    """
    uid = dig(deployment, "metadata", "uid")
    owned = [rs for rs in replica_sets
             if any(ref.get("controller") is True and ref.get("uid") == uid
                    for ref in _maps(dig(rs, "metadata", "ownerReferences")))]
    owned.sort(key=lambda rs: _str(dig(rs, "metadata", "name")))
    wanted = _without_hash(dig(deployment, "spec", "template"))
    by_age = sorted(owned, key=lambda rs: (parse_time(_str(dig(rs, "metadata", "creationTimestamp")))
                                           or 0.0, _str(dig(rs, "metadata", "name"))))
    new = next((rs for rs in by_age if _without_hash(dig(rs, "spec", "template")) == wanted), None)
    old = [rs for rs in owned if rs is not new]
    return old, [new] if new is not None else []


def _describe_deployment(w: _Writer, d: Obj, events: Sequence[Obj], now: float,
                         replica_sets: Sequence[Obj] | None) -> None:
    meta, spec, status = _dict(d.get("metadata")), _dict(d.get("spec")), _dict(d.get("status"))
    try:
        selector = str(selector_from_dict(spec.get("selector")))
    except SelectorError:
        selector = "<invalid>"
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Namespace:\t{_str(meta.get('namespace'))}\n")
    w.write(0, f"CreationTimestamp:\t{_rfc1123z(meta.get('creationTimestamp'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{selector}\n")
    w.write(0, f"Replicas:\t{_int(spec.get('replicas'), 1)} desired | {_int(status.get('updatedReplicas'))} "
               f"updated | {_int(status.get('replicas'))} total | {_int(status.get('availableReplicas'))} "
               f"available | {_int(status.get('unavailableReplicas'))} unavailable\n")
    strategy = _dict(spec.get("strategy"))
    w.write(0, f"StrategyType:\t{_str(strategy.get('type'))}\n")
    w.write(0, f"MinReadySeconds:\t{_int(spec.get('minReadySeconds'))}\n")
    if isinstance(strategy.get("rollingUpdate"), Mapping):
        ru = strategy["rollingUpdate"]
        w.write(0, f"RollingUpdateStrategy:\t{_int_or_string(ru.get('maxUnavailable'))} max unavailable, "
                   f"{_int_or_string(ru.get('maxSurge'))} max surge\n")
    _pod_template(w, spec.get("template"))
    conditions = _maps(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for c in conditions:
            w.write(1, f"{_str(c.get('type'))} \t{_str(c.get('status'))}\t{_str(c.get('reason'))}\n")
    old, new = _split_replica_sets(d, replica_sets or [])
    if old or new:
        w.write(0, f"OldReplicaSets:\t{_replica_sets_text(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_replica_sets_text(new)}\n")
    _events(w, events, now)


_SYSTEM_INFO = (("Machine ID", "machineID"), ("System UUID", "systemUUID"), ("Boot ID", "bootID"),
                ("Kernel Version", "kernelVersion"), ("OS Image", "osImage"),
                ("Operating System", "operatingSystem"), ("Architecture", "architecture"),
                ("Container Runtime Version", "containerRuntimeVersion"),
                ("Kubelet Version", "kubeletVersion"), ("Kube-Proxy Version", "kubeProxyVersion"))


def _describe_node(w: _Writer, node: Obj, events: Sequence[Obj], now: float) -> None:
    meta, spec, status = _dict(node.get("metadata")), _dict(node.get("spec")), _dict(node.get("status"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Roles:\t{','.join(node_roles(_dict(meta.get('labels')))) or '<none>'}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{_rfc1123z(meta.get('creationTimestamp'))}\n")
    taints = sorted(_maps(spec.get("taints")),
                    key=lambda t: _str(t.get("effect")) + "," + _str(t.get("key")))
    _multiline(w, "Taints", [_taint(t) for t in taints])
    w.write(0, f"Unschedulable:\t{_str(spec.get('unschedulable') is True)}\n")
    conditions = _maps(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{_str(c.get('type'))} \t{_str(c.get('status'))} \t"
                       f"{_rfc1123z(c.get('lastHeartbeatTime'))} \t{_rfc1123z(c.get('lastTransitionTime'))} \t"
                       f"{_str(c.get('reason'))} \t{_str(c.get('message'))}\n")
    w.write(0, "Addresses:\n")
    for a in _maps(status.get("addresses")):
        w.write(1, f"{_str(a.get('type'))}:\t{_str(a.get('address'))}\n")
    for field, title in (("capacity", "Capacity"), ("allocatable", "Allocatable")):
        resources = _dict(status.get(field))
        if resources:
            w.write(0, f"{title}:\n")
            for name in sorted(resources):
                w.write(0, f"  {name}:\t{_str(resources[name])}\n")
    info = _dict(status.get("nodeInfo"))
    w.write(0, "System Info:\n")
    for title, field in _SYSTEM_INFO:
        w.write(0, f"  {title}:\t{_str(info.get(field))}\n")
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{_str(spec['podCIDR'])}\n")
    if spec.get("podCIDRs"):
        w.write(0, f"PodCIDRs:\t{','.join(_str(c) for c in spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{_str(spec['providerID'])}\n")
    _events(w, events, now)


def _load_balancer_ingress(ingress: list[Mapping[str, Any]]) -> str:
    texts = []
    for i in ingress:
        if i.get("ip"):
            texts.append(_str(i["ip"]) + (f" ({_str(i['ipMode'])})" if i.get("ipMode") else ""))
        else:
            texts.append(_str(i.get("hostname")))
    return ", ".join(texts)


def _endpoint_slices_text(slices: Sequence[Obj], port_name: str) -> str:
    """formatEndpointSlices for one port: ready ``ip:port`` pairs, three at most.

    Kubernetes' quirk is kept: the "more" flag is raised on reaching three
    entries even if the next endpoint is not ready, and only ready ones count.
    """
    if not slices:
        return "<none>"
    shown: list[str] = []
    more, count = False, 0
    for eps in slices:
        endpoints = _maps(eps.get("endpoints"))
        ports = _maps(eps.get("ports"))
        # A headless service may have no ports: the addresses alone.
        pairs = [(None, e) for e in endpoints] if not ports else \
            [(p, e) for p in ports if _str(p.get("name")) == port_name for e in endpoints]
        for port, e in pairs:
            if len(shown) == 3:
                more = True
            if dig(e, "conditions", "ready") is False:
                continue
            if not more:
                address = _str((e.get("addresses") or [""])[0])
                if port is not None:
                    address = f"[{address}]:{_str(port.get('port'))}" if ":" in address \
                        else f"{address}:{_str(port.get('port'))}"
                shown.append(address)
            count += 1
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if more else text


def _describe_service(w: _Writer, svc: Obj, events: Sequence[Obj], now: float,
                      endpoint_slices: Sequence[Obj] | None) -> None:
    meta, spec = _dict(svc.get("metadata")), _dict(svc.get("spec"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Namespace:\t{_str(meta.get('namespace'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{format_labels(_dict(spec.get('selector')))}\n")
    w.write(0, f"Type:\t{_str(spec.get('type'))}\n")
    if spec.get("ipFamilyPolicy"):
        w.write(0, f"IP Family Policy:\t{_str(spec['ipFamilyPolicy'])}\n")
    families = ",".join(_str(f) for f in spec.get("ipFamilies") or [])
    w.write(0, f"IP Families:\t{_or_none(families)}\n")
    w.write(0, f"IP:\t{_str(spec.get('clusterIP'))}\n")
    w.write(0, f"IPs:\t{_or_none(','.join(_str(ip) for ip in spec.get('clusterIPs') or []))}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(_str(ip) for ip in spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"Desired LoadBalancer IP:\t{_str(spec['loadBalancerIP'])}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{_str(spec['externalName'])}\n")
    ingress = _maps(dig(svc, "status", "loadBalancer", "ingress"))
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{_load_balancer_ingress(ingress)}\n")
    for p in _maps(spec.get("ports")):
        name = _str(p.get("name")) or "<unset>"
        protocol = _str(p.get("protocol")) or "TCP"
        # The API server defaults targetPort to the port.
        target = p.get("targetPort") if p.get("targetPort") is not None else p.get("port")
        w.write(0, f"Port:\t{name}\t{_str(p.get('port'))}/{protocol}\n")
        w.write(0, f"TargetPort:\t{_str(target)}/{protocol}\n")
        if _int(p.get("nodePort")):
            w.write(0, f"NodePort:\t{name}\t{_int(p.get('nodePort'))}/{protocol}\n")
        if endpoint_slices is not None:
            w.write(0, f"Endpoints:\t{_endpoint_slices_text(endpoint_slices, _str(p.get('name')))}\n")
    w.write(0, f"Session Affinity:\t{_str(spec.get('sessionAffinity'))}\n")
    for field, title in (("externalTrafficPolicy", "External Traffic Policy"),
                         ("internalTrafficPolicy", "Internal Traffic Policy")):
        if spec.get(field):
            w.write(0, f"{title}:\t{_str(spec[field])}\n")
    if _int(spec.get("healthCheckNodePort")):
        w.write(0, f"HealthCheck NodePort:\t{_int(spec.get('healthCheckNodePort'))}\n")
    if spec.get("loadBalancerSourceRanges"):
        w.write(0, f"LoadBalancer Source Ranges:\t{','.join(_str(r) for r in spec['loadBalancerSourceRanges'])}\n")
    _events(w, events, now)


def _describe_namespace(w: _Writer, ns: Obj) -> None:
    # kubesim has no ResourceQuota or LimitRange kinds: a namespace has neither.
    meta = _dict(ns.get("metadata"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{_str(dig(ns, 'status', 'phase'))}\n")
    conditions = _maps(dig(ns, "status", "conditions"))
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{_str(c.get('type'))}\t{_str(c.get('status'))}\t"
                       f"{_rfc1123z(c.get('lastTransitionTime'))}\t{_str(c.get('reason'))}\t"
                       f"{_str(c.get('message'))}\n")
    w.write(0, "\n")
    w.write(0, "No resource quota.\n")
    w.write(0, "\n")
    w.write(0, "No LimitRange resource.\n")


def _describe_secret(w: _Writer, secret: Obj) -> None:
    """SecretDescriber: the keys and their sizes, never the values."""
    meta = _dict(secret.get("metadata"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Namespace:\t{_str(meta.get('namespace'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "\n")
    w.write(0, f"Type:\t{_str(secret.get('type'))}\n")
    w.write(0, "\n")
    w.write(0, "Data\n====\n")
    data = _dict(secret.get("data"))
    for key in sorted(data):
        value = data[key]
        try:
            size = len(base64.b64decode(str(value), validate=True))
        except (ValueError, binascii.Error):
            size = len(str(value))
        w.write(0, f"{key}:\t{size} bytes\n")
    for key, value in sorted(_dict(secret.get("stringData")).items()):
        if key not in data:
            w.write(0, f"{key}:\t{len(str(value).encode())} bytes\n")


# --- The generic describer -------------------------------------------------------------

def _camel_split(word: str) -> list[str]:
    """fatih/camelcase.Split: runs of lower, upper, digit and other; ``PDFLoader`` is ``PDF Loader``."""
    def cls(ch: str) -> int:
        return 1 if ch.islower() else 2 if ch.isupper() else 3 if ch.isdigit() else 4
    runs: list[str] = []
    for ch in word:
        if runs and cls(runs[-1][-1]) == cls(ch):
            runs[-1] += ch
        else:
            runs.append(ch)
    for i in range(len(runs) - 1):
        if runs[i] and runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1] = runs[i][-1] + runs[i + 1]
            runs[i] = runs[i][:-1]
    return [r for r in runs if r]


_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}


def _smart_label(field: str) -> str:
    """smartLabelFor: ``apiVersion`` is ``API Version``, ``creationTimestamp`` ``Creation Timestamp``.

    Names with anything but letters and ``-`` (``app.kubernetes.io/name``,
    ``tls.crt``) are printed as they are.
    """
    if any(not (ch.isalpha() or ch == "-") for ch in field):
        return field
    words = []
    for part in _camel_split(field):
        if part.upper() in _ACRONYMS:
            words.append(part.upper())
        else:
            words.append(part[:1].upper() + part[1:])  # strings.Title of one word
    return " ".join(words)


_GENERIC_SKIP = {".metadata.managedFields", ".metadata.name", ".metadata.namespace",
                 ".metadata.labels", ".metadata.annotations"}


def _unstructured(w: _Writer, level: int, content: Mapping[str, Any], prefix: str = "") -> None:
    """printUnstructuredContent: every field, sorted, maps and lists nested one level deeper."""
    for field in sorted(content):
        value, path = content[field], f"{prefix}.{field}"
        if path in _GENERIC_SKIP:
            continue
        if isinstance(value, Mapping):
            w.write(level, f"{_smart_label(field)}:\n")
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{_smart_label(field)}:\n")
            for child in value:
                if isinstance(child, Mapping):
                    _unstructured(w, level + 1, child, path)
                else:
                    w.write(level + 1, f"{_go_value(child)}\n")
        else:
            w.write(level, f"{_smart_label(field)}:\t{_go_value(value)}\n")


def _go_value(value: Any) -> str:
    return "<nil>" if value is None else _str(value)


def _describe_generic(w: _Writer, obj: Obj, events: Sequence[Obj], now: float) -> None:
    meta = _dict(obj.get("metadata"))
    w.write(0, f"Name:\t{_str(meta.get('name'))}\n")
    w.write(0, f"Namespace:\t{_str(meta.get('namespace'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    _unstructured(w, 0, obj)
    _events(w, events, now)


def describe(obj: dict, events: list[dict], now: float, *,
             replica_sets: list[dict] | None = None,
             endpoint_slices: list[dict] | None = None) -> str:
    """``kubectl describe`` of ``obj``, with ``events`` (those about it) at the end.

    Pods, Deployments, Nodes, Services and Namespaces get kubectl's own
    describers; every other kind the generic one (its fields as an indented
    tree). ``now`` is epoch seconds, for the ages.

    kubectl fetches more objects for two kinds; pass them to get the same:
    ``replica_sets`` (the namespace's, or at least the deployment's) gives a
    Deployment its OldReplicaSets / NewReplicaSet lines, and
    ``endpoint_slices`` (the service's) a Service its Endpoints lines.
    Without them those lines are left out.
    """
    w = _Writer()
    kind = obj.get("kind")
    if kind == "Pod":
        _describe_pod(w, obj, events, now)
    elif kind == "Deployment":
        _describe_deployment(w, obj, events, now, replica_sets)
    elif kind == "Node":
        _describe_node(w, obj, events, now)
    elif kind == "Service":
        _describe_service(w, obj, events, now, endpoint_slices)
    elif kind == "Namespace":
        _describe_namespace(w, obj)
    elif kind == "Secret":
        _describe_secret(w, obj)
    else:
        _describe_generic(w, obj, events, now)
    return w.text()

