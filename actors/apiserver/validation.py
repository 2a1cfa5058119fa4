"""Per-kind validation of objects the API server is asked to store.

The API server answers a create or update whose object breaks Kubernetes'
rules with 422 Invalid and a list of field errors. Clients, controllers and
people written against real Kubernetes recognise those errors by their text,
so this module follows Kubernetes' own validators, check for check and message
for message, for the subset of fields kubesim's kinds use:

- ``pkg/apis/core/validation/validation.go``: ObjectMeta names, Pod and pod
  templates (containers, ports, env, resources, volumes, tolerations),
  Service, ConfigMap, Secret, Namespace, Node, Event, PersistentVolume(Claim),
  Endpoints, and the update rules (``ValidatePodUpdate``,
  ``ValidateServiceUpdate``, ``ValidateObjectMetaUpdate``);
- ``pkg/apis/apps/validation/validation.go``: Deployment, ReplicaSet,
  DaemonSet, StatefulSet;
- ``pkg/apis/batch/validation/validation.go``: Job and CronJob, with the
  schedule parsed as ``robfig/cron``'s ``ParseStandard`` parses it;
- ``pkg/apis/coordination``, ``storage`` and ``discovery`` validation:
  Lease, StorageClass and EndpointSlice.

Objects are validated as Kubernetes validates them *after defaulting*. Where
defaulting always fills a field (a port's protocol, a pod's restartPolicy and
dnsPolicy, a Service's type and sessionAffinity, ...), an absent or empty
value is read as its default here, so the result is the same whether or not
the caller has run defaulting first; the "Required value" errors Kubernetes
keeps for those fields can therefore never fire and are not reproduced.

Deliberate differences: quantities are printed as written, not in Go's
canonical form (``1000m`` stays ``1000m``); a Pod update's Forbidden message
omits the spec diff Kubernetes appends; an Event without ``involvedObject``
is refused outright (Kubernetes only checks its namespace). Everything here
is a pure function of its arguments: dicts in, :class:`FieldError` lists out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from actors.apiserver.fielderrors import (
    OMIT,
    ErrorList,
    ErrorType,
    FieldError,
    NameFn,
    Path,
    duplicate,
    forbidden,
    inclusive_range_error,
    invalid,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_ip,
    is_valid_label_value,
    is_valid_port_num,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    not_found,
    not_supported,
    regex_error,
    required,
    too_long,
    validate_annotations,
    validate_labels,
    validate_object_meta,
)
from actors.apiserver.selectors import LabelSelector, SelectorError, selector_from_dict
from actors.jsonvalue import clone

__all__ = ["validate", "validate_update"]

MAX_INT32 = 2**31 - 1
MAX_SECRET_SIZE_B = 1024 * 1024
"""ConfigMaps and Secrets hold at most 1 MiB of data (``core.MaxSecretSize``)."""

IMMUTABLE = "field is immutable"
NON_NEGATIVE = "must be greater than or equal to 0"
POSITIVE = "must be greater than zero"

# Kubernetes' enumerations, in the order its NotSupported calls list them.
PROTOCOLS = ("SCTP", "TCP", "UDP")  # sets.List: sorted
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RECLAIM_POLICIES_PV = ("Delete", "Recycle", "Retain")
RECLAIM_POLICIES_SC = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")

Validator = Callable[[Mapping[str, Any], bool], ErrorList]


# ------------------------------------------------------------------------------ helpers


def _map(value: Any) -> Mapping[str, Any]:
    # Absent and null sub-objects read as empty, as Go's zero values do.
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(obj.get("spec"))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(obj.get("metadata"))


def _msgs(path: Path, value: Any, messages: list[str]) -> ErrorList:
    """One Invalid error per rule message, as Kubernetes' ``for _, msg := range``."""
    return [invalid(path, value, msg) for msg in messages]


def _non_negative(path: Path, value: Any) -> ErrorList:
    """``ValidateNonnegativeField``."""
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, NON_NEGATIVE)]
    return []


def _dns_label(path: Path, value: str) -> ErrorList:
    return _msgs(path, value, is_dns1123_label(value))


def _dns_subdomain(path: Path, value: str) -> ErrorList:
    return _msgs(path, value, is_dns1123_subdomain(value))


_PORT_NAME_CHARSET = re.compile(r"[-a-z0-9]+", re.ASCII)


def is_valid_port_name(name: str) -> list[str]:
    """``IsValidPortName``: an IANA service name (container ports, targetPort)."""
    errs = []
    if len(name.encode()) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARSET.fullmatch(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


_ENV_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_NAME_RE = re.compile(_ENV_NAME_FMT, re.ASCII)


def is_env_var_name(name: str) -> list[str]:
    """``IsEnvVarName`` (the strict rule; ``RelaxedEnvironmentVariableValidation``
    off, as in Kubernetes before 1.32)."""
    if _ENV_NAME_RE.fullmatch(name):
        return []
    return [regex_error(
        "a valid environment variable name must consist of alphabetic characters, "
        "digits, '_', '-', or '.', and must not start with a digit",
        _ENV_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1")]


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY_FMT, re.ASCII)


def is_config_map_key(key: str) -> list[str]:
    """``IsConfigMapKey``: keys become file names in volumes, hence no ``..``."""
    errs = []
    if len(key.encode()) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY_RE.fullmatch(key):
        errs.append(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


# Quantities (k8s.io/apimachinery/pkg/api/resource): enough to compare them.
_QUANTITY_FMT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_RE = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)", re.ASCII)
_SUFFIXES = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30),
    "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


def parse_quantity(text: Any) -> Decimal | None:
    """A quantity's value, or None when Kubernetes would refuse to decode it."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return Decimal(str(text))
    if not isinstance(text, str):
        return None
    return _parse_quantity_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_quantity_text(text: str) -> Decimal | None:
    # Remembered: a cluster's pods repeat a handful of quantities ("100m", "128Mi") in every
    # request the scheduler, the kubelets and validation read, and a Decimal is immutable.
    match = _QUANTITY_RE.fullmatch(text)
    if not match:
        return None
    number, suffix = match.groups()
    try:
        if suffix in _SUFFIXES:
            return Decimal(number) * _SUFFIXES[suffix]
        if re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
    except InvalidOperation:
        return None
    return None


def _quantity_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _bad_quantity(path: Path, value: Any) -> FieldError:
    # Kubernetes fails such a quantity while decoding, with this text.
    return invalid(path, _quantity_text(value),
                   f"quantities must match the regular expression '{_QUANTITY_FMT}'")


def _selector_errors(exc: SelectorError, path: str) -> ErrorList:
    """The selectors module's errors, rebuilt as FieldErrors.

    ``selector_from_dict`` raises one message (an aggregate ``[a, b]`` when
    several); each part reads ``<field>: <type phrase>: <rest>``, which is
    turned back into a FieldError printing the same text.
    """
    text = str(exc)
    if text.startswith("[") and text.endswith("]"):
        parts = re.split(r", (?=(?:unknown field \")?" + re.escape(path) + r"\b)", text[1:-1])
    else:
        parts = [text]
    phrases = {str(t): t for t in ErrorType}
    out: ErrorList = []
    for part in parts:
        match = re.fullmatch(r"(\S+): ([A-Z][a-z]+(?: [a-z]+)?)(?:: (.*))?", part, re.S)
        if match and match.group(2) in phrases:
            out.append(FieldError(match.group(1), phrases[match.group(2)], OMIT,
                                  match.group(3) or ""))
        else:  # e.g. 'unknown field "spec.selector.x"': a decoding error
            out.append(FieldError(path, ErrorType.INVALID, OMIT, part))
    return out


def _label_selector(value: Any, path: Path) -> tuple[LabelSelector | None, ErrorList]:
    """``ValidateLabelSelector`` and ``LabelSelectorAsSelector`` in one."""
    try:
        return selector_from_dict(value, path=str(path)), []
    except SelectorError as exc:
        return None, _selector_errors(exc, str(path))


# --------------------------------------------------------------------------- pod specs

# Every key of a volume but its name is a source (emptyDir, configMap, ...):
# listing them would make an unfamiliar source look like "no source at all".
def _volume_sources(volume: Mapping[str, Any]) -> list[str]:
    return [key for key in volume if key != "name"]


def _volumes(volumes: list[Any], path: Path) -> tuple[ErrorList, set[str]]:
    """``ValidateVolumes``: the errors, and the names of the valid volumes
    (a mount may only refer to one of those)."""
    errs: ErrorList = []
    names: set[str] = set()
    for i, vol in enumerate(volumes):
        vol = _map(vol)
        idx = path.index(i)
        name = vol.get("name") or ""
        el: ErrorList = []
        sources = _volume_sources(vol)
        if not sources:
            el.append(required(idx, "must specify a volume type"))
        elif len(sources) > 1:
            el.append(forbidden(idx.child(sources[1]), "may not specify more than 1 volume type"))
        if not name:
            el.append(required(idx.child("name")))
        else:
            el += _dns_label(idx.child("name"), name)
        if name in names:
            el.append(duplicate(idx.child("name"), name))
        if el:
            errs += el
        else:
            names.add(name)
    return errs, names


def _container_ports(ports: list[Any], path: Path) -> ErrorList:
    """``validateContainerPorts``."""
    errs: ErrorList = []
    for i, port in enumerate(ports):
        port = _map(port)
        idx = path.index(i)
        if port.get("name"):
            errs += _msgs(idx.child("name"), port["name"], is_valid_port_name(port["name"]))
        number = port.get("containerPort") or 0
        if number == 0:
            errs.append(required(idx.child("containerPort")))
        else:
            errs += _msgs(idx.child("containerPort"), number, is_valid_port_num(number))
        host_port = port.get("hostPort") or 0
        if host_port:
            errs += _msgs(idx.child("hostPort"), host_port, is_valid_port_num(host_port))
        protocol = port.get("protocol") or "TCP"  # defaulted
        if protocol not in PROTOCOLS:
            errs.append(not_supported(idx.child("protocol"), protocol, PROTOCOLS))
    return errs


def _env(env: list[Any], path: Path) -> ErrorList:
    """``ValidateEnv``: names only (valueFrom sources are not modelled)."""
    errs: ErrorList = []
    for i, var in enumerate(env):
        name = _map(var).get("name") or ""
        if not name:
            errs.append(required(path.index(i).child("name")))
        else:
            errs += _msgs(path.index(i).child("name"), name, is_env_var_name(name))
    return errs


def _volume_mounts(mounts: list[Any], volumes: set[str], path: Path) -> ErrorList:
    """``ValidateVolumeMounts``."""
    errs: ErrorList = []
    seen: set[str] = set()
    for i, mount in enumerate(mounts):
        mount = _map(mount)
        idx = path.index(i)
        name = mount.get("name") or ""
        if not name:
            errs.append(required(idx.child("name")))
        if name not in volumes:
            errs.append(not_found(idx.child("name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            errs.append(required(idx.child("mountPath")))
        if mount_path in seen:
            errs.append(invalid(idx.child("mountPath"), mount_path, "must be unique"))
        seen.add(mount_path)
    return errs


def _resources(resources: Mapping[str, Any], path: Path) -> ErrorList:
    """``ValidateResourceRequirements``: non-negative, requests within limits."""
    errs: ErrorList = []
    limits, requests = _map(resources.get("limits")), _map(resources.get("requests"))
    parsed: dict[str, Decimal] = {}
    for field, values in (("limits", limits), ("requests", requests)):
        for name, text in values.items():
            value = parse_quantity(text)
            if value is None:
                errs.append(_bad_quantity(path.child(field).key(name), text))
            elif value < 0:
                errs.append(invalid(path.child(field).key(name), _quantity_text(text),
                                    NON_NEGATIVE))
            elif field == "limits":
                parsed[name] = value
    for name, text in requests.items():
        value = parse_quantity(text)
        if value is not None and name in parsed and value > parsed[name]:
            # The error points at the whole requests map, as Kubernetes' does.
            errs.append(invalid(
                path.child("requests"), _quantity_text(text),
                f"must be less than or equal to {name} limit of "
                f"{_quantity_text(limits[name])}"))
    return errs


def _containers(containers: list[Any], volumes: set[str], path: Path) -> ErrorList:
    """``validateContainers`` and ``validateContainerCommon``."""
    if not containers:
        return [required(path)]
    errs: ErrorList = []
    names: set[str] = set()
    for i, ctr in enumerate(containers):
        ctr = _map(ctr)
        idx = path.index(i)
        name = ctr.get("name") or ""
        if not name:
            errs.append(required(idx.child("name")))
        else:
            errs += _dns_label(idx.child("name"), name)
        if not ctr.get("image"):
            errs.append(required(idx.child("image")))
        errs += _container_ports(_list(ctr.get("ports")), idx.child("ports"))
        errs += _env(_list(ctr.get("env")), idx.child("env"))
        errs += _volume_mounts(_list(ctr.get("volumeMounts")), volumes,
                               idx.child("volumeMounts"))
        pull = ctr.get("imagePullPolicy")
        if pull and pull not in PULL_POLICIES:
            errs.append(not_supported(idx.child("imagePullPolicy"), pull, PULL_POLICIES))
        errs += _resources(_map(ctr.get("resources")), idx.child("resources"))
        if name in names:
            errs.append(duplicate(idx.child("name"), name))
        names.add(name)
    return errs


def _tolerations(tolerations: list[Any], path: Path) -> ErrorList:
    """``validateTolerations``."""
    errs: ErrorList = []
    for i, tol in enumerate(tolerations):
        tol = _map(tol)
        idx = path.index(i)
        key, operator = tol.get("key") or "", tol.get("operator") or ""
        value, effect = tol.get("value") or "", tol.get("effect") or ""
        if key:
            errs += _msgs(idx.child("key"), key, is_qualified_name(key))
        if not key and operator != "Exists":
            errs.append(invalid(idx.child("operator"), operator,
                                "operator must be Exists when `key` is empty, which means "
                                '"match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(idx.child("effect"), effect,
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(idx.child("operator"), value, ";".join(msgs)))
        elif operator == "Exists":
            if value:
                errs.append(invalid(idx.child("operator"), dict(tol),
                                    "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(idx.child("operator"), operator, TOLERATION_OPERATORS))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(idx.child("effect"), effect, TAINT_EFFECTS))
    return errs


def _pod_spec(spec: Mapping[str, Any], path: Path, claim_volumes: frozenset[str] = frozenset()) -> ErrorList:
    """``ValidatePodSpec``, in its order, for the fields kubesim uses.

    ``claim_volumes``: volumes the pod will have though the spec does not list
    them — a StatefulSet's volumeClaimTemplates, which its controller adds to
    each pod (Kubernetes does not validate a StatefulSet's pod spec at all, for
    this reason; kubesim validates it with them).
    """
    errs, volumes = _volumes(_list(spec.get("volumes")), path.child("volumes"))
    volumes |= claim_volumes
    errs += _containers(_list(spec.get("containers")), volumes, path.child("containers"))
    if spec.get("initContainers"):
        errs += _containers(_list(spec["initContainers"]), volumes,
                            path.child("initContainers"))
    restart = spec.get("restartPolicy") or "Always"  # defaulted
    if restart not in RESTART_POLICIES:
        errs.append(not_supported(path.child("restartPolicy"), restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy") or "ClusterFirst"  # defaulted
    if dns not in DNS_POLICIES:
        errs.append(not_supported(path.child("dnsPolicy"), dns, DNS_POLICIES))
    errs += validate_labels(_map(spec.get("nodeSelector")), path.child("nodeSelector"))
    if spec.get("serviceAccountName"):
        errs += _dns_subdomain(path.child("serviceAccountName"), spec["serviceAccountName"])
    if spec.get("nodeName"):
        errs += _dns_subdomain(path.child("nodeName"), spec["nodeName"])
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= MAX_INT32:
        errs.append(invalid(path.child("activeDeadlineSeconds"), deadline,
                            inclusive_range_error(1, MAX_INT32)))
    if spec.get("hostname"):
        errs += _dns_label(path.child("hostname"), spec["hostname"])
    errs += _tolerations(_list(spec.get("tolerations")), path.child("tolerations"))
    return errs


def _pod_template(template: Any, path: Path, claim_volumes: frozenset[str] = frozenset()) -> ErrorList:
    """``ValidatePodTemplateSpec``: labels, annotations and the pod spec."""
    template = _map(template)
    meta = _map(template.get("metadata"))
    errs = validate_labels(_map(meta.get("labels")), path.child("metadata", "labels"))
    errs += validate_annotations(_map(meta.get("annotations")),
                                 path.child("metadata", "annotations"))
    errs += _pod_spec(_map(template.get("spec")), path.child("spec"), claim_volumes)
    return errs


# ---------------------------------------------------------------------------- per kind


def _pod(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    return _pod_spec(_spec(obj), Path("spec"))


def _workload_selector(spec: Mapping[str, Any], path: Path, empty_msg: str | None,
                       ) -> tuple[LabelSelector | None, ErrorList]:
    """The selector checks the apps kinds share: required, valid, non-empty."""
    raw = spec.get("selector")
    if raw is None:
        return None, [required(path.child("selector"))]
    selector, errs = _label_selector(raw, path.child("selector"))
    raw_map = _map(raw)
    if empty_msg and not raw_map.get("matchLabels") and not raw_map.get("matchExpressions"):
        errs.append(invalid(path.child("selector"), raw, empty_msg))
    return selector, errs


def _template_matches(selector: LabelSelector | None, template: Any, path: Path,
                      ) -> ErrorList:
    """A controller finds its pods by its selector, so its template's pods
    must match it, or it would never see the pods it makes."""
    labels = _map(_map(_map(template).get("metadata")).get("labels"))
    if selector is None or selector.empty or selector.matches(labels):
        return []
    return [invalid(path.child("template", "metadata", "labels"), dict(labels),
                    "`selector` does not match template `labels`")]


def _always_restart(template: Any, path: Path) -> ErrorList:
    # Pods of long-running workloads are restarted by the kubelet, never by
    # the controller, so only Always makes sense.
    restart = _map(_map(template).get("spec")).get("restartPolicy") or "Always"
    if restart != "Always":
        return [not_supported(path.child("template", "spec", "restartPolicy"), restart,
                              ["Always"])]
    return []


def _apps_kind(empty_msg: str, has_replicas: bool) -> Validator:
    """A validator for Deployment, ReplicaSet, DaemonSet or StatefulSet."""

    def validate_apps(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
        spec, path = _spec(obj), Path("spec")
        errs: ErrorList = []
        if has_replicas:
            errs += _non_negative(path.child("replicas"), spec.get("replicas"))
        errs += _non_negative(path.child("minReadySeconds"), spec.get("minReadySeconds"))
        selector, sel_errs = _workload_selector(spec, path, empty_msg)
        errs += sel_errs
        template = spec.get("template")
        if template is None:
            return errs + [required(path.child("template"))]
        errs += _template_matches(selector, template, path)
        claims = frozenset(str(_map(_map(t).get("metadata")).get("name") or "")
                           for t in _list(spec.get("volumeClaimTemplates"))) - {""}
        errs += _pod_template(template, path.child("template"), claims)
        errs += _always_restart(template, path)
        return errs

    return validate_apps


def _job_spec(spec: Mapping[str, Any], path: Path, *, in_cronjob: bool) -> ErrorList:
    """``validateJobSpec``; a Job's own selector is generated before validation
    and must then match its template, a CronJob's job template has none."""
    errs: ErrorList = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs += _non_negative(path.child(field), spec.get(field))
    template = spec.get("template")
    if in_cronjob:
        if spec.get("selector") is not None:
            errs.append(invalid(path.child("selector"), spec["selector"],
                                "`selector` will be auto-generated"))
    else:
        selector, sel_errs = _workload_selector(spec, path, None)
        errs += sel_errs
        errs += _template_matches(selector, template, path)
    errs += _pod_template(template, path.child("template"))
    # A Job's pods run to completion: Always would restart them forever.
    restart = _map(_map(template).get("spec")).get("restartPolicy") or "Always"
    if restart not in ("OnFailure", "Never"):
        errs.append(not_supported(path.child("template", "spec", "restartPolicy"), restart,
                                  ["OnFailure", "Never"]))
    return errs


def _job(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    return _job_spec(_spec(obj), Path("spec"), in_cronjob=False)


# robfig/cron's standard bounds and names.
_CRON_FIELDS = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}),
    (1, 12, {m: i + 1 for i, m in enumerate(
        "jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    (0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily",
                     "@midnight", "@hourly"}


def _cron_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f'failed to parse int from {text}: strconv.Atoi: parsing '
                         f'"{text}": invalid syntax')
    number = int(text)
    if number < 0:
        raise ValueError(f"negative number ({number}) not allowed: {text}")
    return number


def _cron_range(expr: str, lo: int, hi: int, names: Mapping[str, int]) -> None:
    """robfig/cron's ``getRange``: raises ValueError with its message."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = names.get(low_high[0].lower()) if names else None
        start = _cron_int(low_high[0]) if start is None else start
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = names.get(low_high[1].lower()) if names else None
            end = _cron_int(low_high[1]) if end is None else end
        else:
            raise ValueError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _cron_int(range_and_step[1])
        if len(low_high) == 1:
            end = hi  # "N/step" means "N-max/step"
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")


def cron_error(schedule: str) -> str | None:
    """The error ``cron.ParseStandard`` gives for ``schedule``, or None."""
    fields = schedule.split()
    if not fields:
        return "empty spec string"
    if fields[0].startswith(("TZ=", "CRON_TZ=")):
        fields = fields[1:]
    if fields and fields[0].startswith("@"):
        if fields[0] in _CRON_DESCRIPTORS and len(fields) == 1:
            return None
        if fields[0] == "@every" and len(fields) == 2:
            return None
        return f"unrecognized descriptor: {' '.join(fields)}"
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    try:
        for text, (lo, hi, names) in zip(fields, _CRON_FIELDS, strict=True):
            for expr in text.split(","):
                _cron_range(expr, lo, hi, names)
    except ValueError as exc:
        return str(exc)
    return None


def _cronjob(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    spec, path = _spec(obj), Path("spec")
    errs: ErrorList = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required(path.child("schedule")))
    else:
        message = cron_error(schedule)
        if message:
            errs.append(invalid(path.child("schedule"), schedule, message))
        if "TZ" in schedule:
            errs.append(invalid(path.child("schedule"), schedule,
                                "cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                "instead"))
    errs += _non_negative(path.child("startingDeadlineSeconds"),
                          spec.get("startingDeadlineSeconds"))
    policy = spec.get("concurrencyPolicy") or "Allow"  # defaulted
    if policy not in CONCURRENCY_POLICIES:
        errs.append(not_supported(path.child("concurrencyPolicy"), policy,
                                  CONCURRENCY_POLICIES))
    job_template = _map(spec.get("jobTemplate"))
    errs += _job_spec(_map(job_template.get("spec")), path.child("jobTemplate", "spec"),
                      in_cronjob=True)
    return errs


def _service(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateService``, for the ClusterIP, NodePort and ExternalName kubesim runs."""
    spec, path = _spec(obj), Path("spec")
    errs: ErrorList = []
    kind = spec.get("type") or "ClusterIP"  # defaulted
    ports = _list(spec.get("ports"))
    cluster_ips = _list(spec.get("clusterIPs")) or (
        [spec["clusterIP"]] if spec.get("clusterIP") else [])
    headless = cluster_ips == ["None"]
    if not ports and not headless and kind != "ExternalName":
        errs.append(required(path.child("ports")))
    if kind == "ExternalName":
        if cluster_ips:
            errs.append(forbidden(path.child("clusterIPs"),
                                  "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs += _dns_subdomain(path.child("externalName"), cname)
        else:
            errs.append(required(path.child("externalName")))
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = _map(port)
        idx = path.child("ports").index(i)
        name = port.get("name") or ""
        # Several ports are told apart by name (in Endpoints, in SRV records).
        if len(ports) > 1 and not name:
            errs.append(required(idx.child("name")))
        elif name:
            errs += _dns_label(idx.child("name"), name)
            if name in names:
                errs.append(duplicate(idx.child("name"), name))
            names.add(name)
        errs += _msgs(idx.child("port"), port.get("port") or 0,
                      is_valid_port_num(port.get("port") or 0))
        protocol = port.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            errs.append(not_supported(idx.child("protocol"), protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            errs += _msgs(idx.child("targetPort"), target, is_valid_port_num(target))
        elif isinstance(target, str) and target:
            errs += _msgs(idx.child("targetPort"), target, is_valid_port_name(target))
        if kind == "ClusterIP" and port.get("nodePort"):
            errs.append(forbidden(idx.child("nodePort"),
                                  "may not be used when `type` is 'ClusterIP'"))
    if spec.get("selector") is not None:
        errs += validate_labels(_map(spec["selector"]), path.child("selector"))
    affinity = spec.get("sessionAffinity") or "None"
    if affinity not in SESSION_AFFINITIES:
        errs.append(not_supported(path.child("sessionAffinity"), affinity,
                                  SESSION_AFFINITIES))
    for i, ip in enumerate(cluster_ips):
        ip_path = path.child("clusterIPs").index(i)
        if ip == "None":
            if i > 0:
                errs.append(invalid(ip_path, ip, "'None' must be the first and only value"))
            continue
        errs += _msgs(ip_path, ip, is_valid_ip(ip))
    if kind not in SERVICE_TYPES:
        errs.append(not_supported(path.child("type"), kind, SERVICE_TYPES))
    return errs


def _data_keys(data: Mapping[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    for key in data:
        errs += _msgs(path.key(key), key, is_config_map_key(key))
    return errs


def _config_map(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateConfigMap``: keys become file names; 1 MiB fits in etcd."""
    data, binary = _map(obj.get("data")), _map(obj.get("binaryData"))
    errs = _data_keys(data, Path("data"))
    # data is map[string]string: Kubernetes' decoder refuses anything else before validation.
    errs += [invalid(Path("data").key(k), v, "must be a string") for k, v in data.items()
             if not isinstance(v, str)]
    errs += [invalid(Path("data").key(k), k, "duplicate of key present in binaryData")
             for k in data if k in binary]
    errs += _data_keys(binary, Path("binaryData"))
    errs += [invalid(Path("binaryData").key(k), k, "duplicate of key present in data")
             for k in binary if k in data]
    total = sum(len(str(v).encode()) for v in data.values())
    total += sum(_decoded_len(v) for v in binary.values())
    if total > MAX_SECRET_SIZE_B:
        errs.append(too_long(Path(""), MAX_SECRET_SIZE_B))
    return errs


def _decoded_len(value: Any) -> int:
    # Secret data and binaryData travel base64-encoded; the limit is on bytes.
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value).encode())


def _secret(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateSecret``; the API server has merged ``stringData`` into ``data`` by now
    (objects.fold_string_data), but a Secret validated on its own may still carry it."""
    data, string_data = _map(obj.get("data")), _map(obj.get("stringData"))
    path = Path("data")
    errs = _data_keys(data, path)
    errs += _data_keys({k: v for k, v in string_data.items() if k not in data}, path)
    total = sum(_decoded_len(v) for k, v in data.items() if k not in string_data)
    total += sum(len(str(v).encode()) for v in string_data.values())
    if total > MAX_SECRET_SIZE_B:
        errs.append(too_long(path, MAX_SECRET_SIZE_B))
    if obj.get("type") == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data and key not in string_data:
                errs.append(required(path.key(key)))
    return errs


def _no_spec(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    # Namespace: only its name (a DNS label, checked with the meta) matters.
    return []


def _node(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateNode``: taints (the scheduler and kubelet act on them)."""
    path = Path("spec", "taints")
    errs: ErrorList = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(_list(_spec(obj).get("taints"))):
        taint = _map(taint)
        idx = path.index(i)
        key, value, effect = (taint.get(f) or "" for f in ("key", "value", "effect"))
        errs += _msgs(idx.child("key"), key, is_qualified_name(key))
        msgs = is_valid_label_value(value)
        if msgs:
            errs.append(invalid(idx.child("value"), value, ";".join(msgs)))
        if not effect:
            errs.append(required(idx.child("effect")))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(idx.child("effect"), effect, TAINT_EFFECTS))
        if (key, effect) in seen:
            errs.append(FieldError(idx, ErrorType.DUPLICATE, dict(taint),
                                   "taints must be unique by key and effect pair"))
        seen.add((key, effect))
    return errs


def _lease(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateLeaseSpec``."""
    spec, path = _spec(obj), Path("spec")
    errs: ErrorList = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        errs.append(invalid(path.child("leaseDurationSeconds"), duration,
                            "must be greater than 0"))
    errs += _non_negative(path.child("leaseTransitions"), spec.get("leaseTransitions"))
    return errs


def _event(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateEventCreate`` (core/v1): the event lives where its object does."""
    involved = obj.get("involvedObject")
    if not isinstance(involved, Mapping) or not involved:
        return [required(Path("involvedObject"))]
    event_ns = _meta(obj).get("namespace") or ""
    object_ns = involved.get("namespace") or ""
    path = Path("involvedObject", "namespace")
    if not object_ns:
        # Cluster-scoped objects' events go in "default" (old clients) or nowhere.
        if event_ns not in ("", "default"):
            return [invalid(path, object_ns, "does not match event.namespace")]
    elif event_ns != object_ns:
        return [invalid(path, object_ns, "does not match event.namespace")]
    return []


def _access_modes(modes: list[Any], path: Path, required_detail: str) -> ErrorList:
    if not modes:
        return [required(path, required_detail)]
    return [not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]


def _pvc(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidatePersistentVolumeClaimSpec``."""
    spec, path = _spec(obj), Path("spec")
    errs = _access_modes(_list(spec.get("accessModes")), path.child("accessModes"),
                         "at least 1 access mode is required")
    if spec.get("selector") is not None:
        errs += _label_selector(spec["selector"], path.child("selector"))[1]
    storage_path = path.child("resources").key("storage")
    requests = _map(_map(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(required(storage_path))
    else:
        value = parse_quantity(requests["storage"])
        if value is None:
            errs.append(_bad_quantity(storage_path, requests["storage"]))
        elif value <= 0:
            errs.append(invalid(storage_path, _quantity_text(requests["storage"]), POSITIVE))
    return errs


def _pv(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidatePersistentVolumeSpec``."""
    spec, path = _spec(obj), Path("spec")
    errs = _access_modes(_list(spec.get("accessModes")), path.child("accessModes"), "")
    capacity = _map(spec.get("capacity"))
    if not capacity:
        errs.append(required(path.child("capacity")))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported(path.child("capacity"), dict(capacity), ["storage"]))
    for name, text in capacity.items():
        value = parse_quantity(text)
        if value is None:
            errs.append(_bad_quantity(path.child("capacity").key(name), text))
        elif value <= 0:
            errs.append(invalid(path.child("capacity").key(name), _quantity_text(text),
                                POSITIVE))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES_PV:
        errs.append(not_supported(path.child("persistentVolumeReclaimPolicy"), policy,
                                  RECLAIM_POLICIES_PV))
    sources = [k for k in spec if k in _PV_SOURCES]
    if not sources:
        errs.append(required(path, "must specify a volume type"))
    return errs


_PV_SOURCES = frozenset({
    "hostPath", "local", "nfs", "csi", "iscsi", "fc", "gcePersistentDisk",
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "rbd", "cinder",
    "flexVolume", "glusterfs", "portworxVolume", "quobyte", "scaleIO",
    "storageos", "vsphereVolume", "photonPersistentDisk", "flocker",
})


def _storage_class(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateStorageClass``: fields at the top level, there is no spec."""
    errs: ErrorList = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        errs.append(required(Path("provisioner")))
    else:
        errs += _msgs(Path("provisioner"), provisioner,
                      is_qualified_name(provisioner.lower()))
    policy = obj.get("reclaimPolicy") or "Delete"  # defaulted
    if policy not in RECLAIM_POLICIES_SC:
        errs.append(not_supported(Path("reclaimPolicy"), policy, RECLAIM_POLICIES_SC))
    mode = obj.get("volumeBindingMode") or "Immediate"  # defaulted
    if mode not in BINDING_MODES:
        errs.append(not_supported(Path("volumeBindingMode"), mode, BINDING_MODES))
    return errs


def _endpoint_ports(ports: list[Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    for i, port in enumerate(ports):
        port = _map(port)
        idx = path.index(i)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(idx.child("name")))
        elif name:
            errs += _dns_label(idx.child("name"), name)
        errs += _msgs(idx.child("port"), port.get("port") or 0,
                      is_valid_port_num(port.get("port") or 0))
        protocol = port.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            errs.append(not_supported(idx.child("protocol"), protocol, PROTOCOLS))
    return errs


def _endpoints(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateEndpoints``: subsets of addresses and ports."""
    errs: ErrorList = []
    for i, subset in enumerate(_list(obj.get("subsets"))):
        subset = _map(subset)
        idx = Path("subsets").index(i)
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append(required(idx, "must specify `addresses` or `notReadyAddresses`"))
        for field in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(_list(subset.get(field))):
                address = _map(address)
                ap = idx.child(field).index(j)
                errs += _msgs(ap.child("ip"), address.get("ip") or "",
                              is_valid_ip(address.get("ip") or ""))
                if address.get("hostname"):
                    errs += _dns_label(ap.child("hostname"), address["hostname"])
                if address.get("nodeName"):
                    errs += _dns_subdomain(ap.child("nodeName"), address["nodeName"])
        errs += _endpoint_ports(_list(subset.get("ports")), idx.child("ports"))
    return errs


def _endpoint_slice(obj: Mapping[str, Any], namespaced: bool) -> ErrorList:
    """``ValidateEndpointSlice``, basic: address type and non-empty addresses."""
    errs: ErrorList = []
    address_type = obj.get("addressType") or ""
    if not address_type:
        errs.append(required(Path("addressType")))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported(Path("addressType"), address_type, ADDRESS_TYPES))
    for i, endpoint in enumerate(_list(obj.get("endpoints"))):
        if not _list(_map(endpoint).get("addresses")):
            errs.append(required(Path("endpoints").index(i).child("addresses"),
                                 "must contain at least 1 address"))
    return errs


# Each kind's validator and name rule. Names end up in DNS (Namespaces,
# Services) or in URLs and file names (the rest), hence the different rules.
_VALIDATORS: dict[str, tuple[Validator, NameFn]] = {
    "Pod": (_pod, name_is_dns_subdomain),
    "Deployment": (_apps_kind("empty selector is invalid for deployment.", True),
                   name_is_dns_subdomain),
    # Kubernetes' ReplicaSet message says "deployment" too (a copy in its code).
    "ReplicaSet": (_apps_kind("empty selector is invalid for deployment.", True),
                   name_is_dns_subdomain),
    "DaemonSet": (_apps_kind("empty selector is invalid for daemonset", False),
                  name_is_dns_subdomain),
    "StatefulSet": (_apps_kind("empty selector is invalid for statefulset", True),
                    name_is_dns_subdomain),
    "Job": (_job, name_is_dns_subdomain),
    "CronJob": (_cronjob, name_is_dns_subdomain),
    "Service": (_service, name_is_dns1035_label),
    "ConfigMap": (_config_map, name_is_dns_subdomain),
    "Secret": (_secret, name_is_dns_subdomain),
    "Namespace": (_no_spec, name_is_dns_label),
    "Node": (_node, name_is_dns_subdomain),
    "Lease": (_lease, name_is_dns_subdomain),
    "Event": (_event, name_is_dns_subdomain),
    "PersistentVolumeClaim": (_pvc, name_is_dns_subdomain),
    "PersistentVolume": (_pv, name_is_dns_subdomain),
    "StorageClass": (_storage_class, name_is_dns_subdomain),
    "Endpoints": (_endpoints, name_is_dns_subdomain),
    "EndpointSlice": (_endpoint_slice, name_is_dns_subdomain),
}


def validate(obj: Mapping[str, Any], *, namespaced: bool) -> ErrorList:
    """Every error Kubernetes would report for creating ``obj`` (defaulted),
    metadata first. A kind not known here gives ``[]``: the API server
    refuses unknown kinds before it validates."""
    entry = _VALIDATORS.get(obj.get("kind") or "")
    if entry is None:
        return []
    check, name_fn = entry
    errs = validate_object_meta(_meta(obj), namespaced, name_fn)
    return errs + check(obj, namespaced)


# ------------------------------------------------------------------------------ updates


def _immutable(path: Path, new: Any, old: Any) -> ErrorList:
    """``ValidateImmutableField``."""
    return [] if new == old else [invalid(path, new, IMMUTABLE)]


def _meta_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> ErrorList:
    """``ValidateObjectMetaUpdate``: identity never changes."""
    path = Path("metadata")
    errs: ErrorList = []
    for field in ("name", "namespace", "uid"):
        errs += _immutable(path.child(field), new.get(field) or "", old.get(field) or "")
    return errs


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _pod_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> ErrorList:
    """``ValidatePodUpdate``: a running pod's spec is fixed but for the image,
    a shorter deadline and more tolerations; the kubelet acts on the rest once."""
    old_spec, new_spec, path = _spec(old), _spec(new), Path("spec")
    errs: ErrorList = []
    old_deadline = old_spec.get("activeDeadlineSeconds")
    new_deadline = new_spec.get("activeDeadlineSeconds")
    if old_deadline is not None:
        if new_deadline is None:
            errs.append(forbidden(path.child("activeDeadlineSeconds"),
                                  "must not update from a positive integer to nil value"))
        elif new_deadline > old_deadline:
            errs.append(invalid(path.child("activeDeadlineSeconds"), new_deadline,
                                "must be less than or equal to previous value"))
    old_tols = _list(old_spec.get("tolerations"))
    new_tols = _list(new_spec.get("tolerations"))
    if any(tol not in new_tols for tol in old_tols):
        errs.append(forbidden(path.child("tolerations"),
                              "existing toleration can not be modified except its "
                              "tolerationSeconds"))
    # Copy the mutable fields from new onto old: anything else that differs
    # is a forbidden change.
    munged = clone(dict(new_spec))
    for field in ("containers", "initContainers"):
        old_ctrs, new_ctrs = _list(old_spec.get(field)), _list(munged.get(field))
        if field in munged and len(old_ctrs) == len(new_ctrs):
            munged[field] = [dict(_map(n), image=_map(o).get("image"))
                             if "image" in _map(o) else n
                             for o, n in zip(old_ctrs, new_ctrs, strict=True)]
    for field in ("activeDeadlineSeconds", "tolerations"):
        if field in old_spec:
            munged[field] = old_spec[field]
        else:
            munged.pop(field, None)
    if munged != dict(old_spec):
        errs.append(forbidden(path, POD_UPDATE_FORBIDDEN))
    return errs


def _selector_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> ErrorList:
    # A controller that changed selector would orphan its pods and adopt others.
    return _immutable(Path("spec", "selector"), _spec(new).get("selector"),
                      _spec(old).get("selector"))


STATEFULSET_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
    "'minReadySeconds' are forbidden"
)
_STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                        "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _statefulset_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> ErrorList:
    """``ValidateStatefulSetUpdate``: identity, storage and service stay fixed."""
    def fixed(obj: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in _spec(obj).items() if k not in _STATEFULSET_MUTABLE}
    if fixed(old) != fixed(new):
        return [forbidden(Path("spec"), STATEFULSET_UPDATE_FORBIDDEN)]
    return []


def _job_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> ErrorList:
    """``ValidateJobSpecUpdate``: the pods a Job makes are fixed at creation."""
    errs = _selector_update(old, new)
    errs += _immutable(Path("spec", "template"), _spec(new).get("template"),
                       _spec(old).get("template"))
    return errs


def _service_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> ErrorList:
    """``ValidateServiceUpdate``: an allocated clusterIP stays, because
    kube-proxy rules and clients' caches hold it; ExternalName has none."""
    old_spec, new_spec = _spec(old), _spec(new)
    if "ExternalName" in (old_spec.get("type"), new_spec.get("type")):
        return []
    old_ip = old_spec.get("clusterIP") or ""
    if not old_ip:
        return []
    return _immutable(Path("spec", "clusterIP"), new_spec.get("clusterIP") or "", old_ip)


_UPDATE_VALIDATORS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], ErrorList]] = {
    "Pod": _pod_update,
    "Deployment": _selector_update,
    "ReplicaSet": _selector_update,
    "DaemonSet": _selector_update,
    "StatefulSet": _statefulset_update,
    "Job": _job_update,
    "Service": _service_update,
}


def validate_update(old: Mapping[str, Any], new: Mapping[str, Any], *, namespaced: bool,
                    ) -> ErrorList:
    """Every error Kubernetes would report for replacing ``old`` by ``new``:
    the immutability rules first, then :func:`validate` of ``new``, as the
    kinds' ``ValidateUpdate`` functions do. Status-only changes pass."""
    if (new.get("kind") or "") not in _VALIDATORS:
        return []
    errs = _meta_update(_meta(new), _meta(old))
    update = _UPDATE_VALIDATORS.get(new.get("kind") or "")
    if update is not None:
        errs += update(old, new)
    return errs + validate(new, namespaced=namespaced)
