"""From a pod spec to what the runtime is asked for: images, environment, volumes, sandbox and container configs.

Before a kubelet can start a container it turns the container's spec into a
CRI ``ContainerConfig``, and that takes decisions Kubernetes makes in fixed
ways, collected here:

- **image pull policy** (``SetDefaults_Container``; ``shouldPullImage`` in
  ``pkg/kubelet/images/image_manager.go``): Always, IfNotPresent, Never;
- **environment** (``makeEnvironmentVariables`` in
  ``pkg/kubelet/kubelet_pods.go``): ``envFrom`` first (a prefix, optional
  sources), then ``env`` in order — literal values with ``$(VAR)`` expanded
  against what came before (``third_party/forked/golang/expansion``),
  ``valueFrom`` configMapKeyRef / secretKeyRef / fieldRef — failing with
  Kubernetes' words (``configmap "x" not found``, ``couldn't find key k in
  ConfigMap ns/x``), which the kubelet reports as CreateContainerConfigError;
  command and args are then expanded against the result;
- **volumes** (the volume manager's ``WaitForAttachAndMount``): emptyDir and
  hostPath need nothing; configMap and secret volumes need their object (and
  the keys their ``items`` name) unless optional; a persistentVolumeClaim
  must exist and be Bound. :func:`volume_problems` says what is missing, as
  the FailedMount events say it;
- **the sandbox and container configs** (``generatePodSandboxConfig``,
  ``generateContainerConfig``): hostname, labels, annotations, ports, the
  memory limit, mounts, and the spec hash podsync compares later.

Pure: the pod and the objects the actor fetched come in, records and
strings go out. The objects a container needs (:func:`env_sources`,
:func:`volume_sources`) are named here so the actor can fetch exactly those.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actors.apiserver.defaults import image_pull_policy as default_pull_policy
from actors.apiserver.validation import parse_quantity
from actors.kubelet.backoff import go_duration
from actors.kubelet.podsync import HASH_ANNOTATION, hash_annotation_value
from actors.runtime import cri

Obj = dict[str, Any]

POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"
PODS_DIR = "/var/lib/kubelet/pods"
HOSTNAME_MAX = 63

# --- images -------------------------------------------------------------------------------------------

ALWAYS, IF_NOT_PRESENT, NEVER = "Always", "IfNotPresent", "Never"


def pull_policy(container: Mapping[str, Any]) -> str:
    """The container's ``imagePullPolicy``, defaulted as the API server does when it is missing."""
    return container.get("imagePullPolicy") or default_pull_policy(container.get("image"))


def should_pull(policy: str, present: bool) -> bool:
    """``shouldPullImage``: Never never pulls, IfNotPresent pulls a missing image, Always always pulls."""
    if policy == NEVER:
        return False
    return policy == ALWAYS or not present


def never_pull_message(image: str) -> str:
    """The ErrImageNeverPull waiting message (and event)."""
    return f'Container image "{image}" is not present with pull policy of Never'


def present_message(image: str) -> str:
    return f'Container image "{image}" already present on machine'


def pulled_message(image: str, pull_s: float, waited_s: float, size_bytes: int) -> str:
    """The Pulled event after a download: ``Successfully pulled image "x" in 1.2s (1.5s including waiting)...``."""
    return (f'Successfully pulled image "{image}" in {go_duration(_ms(pull_s))} '
            f"({go_duration(_ms(waited_s))} including waiting). Image size: {size_bytes} bytes.")


def _ms(seconds: float) -> float:
    return int(max(seconds, 0.0) * 1000) / 1000  # Duration.Truncate(time.Millisecond)


def grpc_error(code: str, message: str) -> str:
    """A CRI error as the kubelet quotes it: ``rpc error: code = NotFound desc = ...``."""
    return f"rpc error: code = {code} desc = {message}"


# --- $(VAR) expansion -------------------------------------------------------------------------------


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """``expansion.Expand``: ``$(NAME)`` becomes its value when ``lookup`` knows it and stays
    as written otherwise; ``$$`` is a literal ``$``; an unclosed ``$(`` stays."""
    out: list[str] = []
    checkpoint = cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            advance = 1
            if nxt == "$":
                out.append("$")
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close < 0:
                    out.append("$(")
                else:
                    name = text[cursor + 2:close]
                    value = lookup(name)
                    out.append(value if value is not None else f"$({name})")
                    advance = close - cursor
            else:
                out.append("$" + nxt)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


# --- the environment ---------------------------------------------------------------------------------


class ConfigError(Exception):
    """A container cannot be configured (CreateContainerConfigError); the message is Kubernetes'."""


@dataclass(frozen=True, slots=True)
class Sources:
    """The ConfigMaps and Secrets (names in the pod's namespace) something needs."""

    config_maps: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()

    def __or__(self, other: Sources) -> Sources:
        return Sources(self.config_maps | other.config_maps, self.secrets | other.secrets)


def env_sources(container: Mapping[str, Any]) -> Sources:
    """Every ConfigMap and Secret the container's ``env`` and ``envFrom`` read."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for source in container.get("envFrom") or []:
        if (ref := source.get("configMapRef")) is not None:
            cms.add(str(ref.get("name", "")))
        if (ref := source.get("secretRef")) is not None:
            secrets.add(str(ref.get("name", "")))
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        if (ref := value_from.get("configMapKeyRef")) is not None:
            cms.add(str(ref.get("name", "")))
        if (ref := value_from.get("secretKeyRef")) is not None:
            secrets.add(str(ref.get("name", "")))
    return Sources(frozenset(cms), frozenset(secrets))


def secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` decoded (base64 on the API), with any ``stringData`` the server has not folded yet."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            out[key] = str(value)
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def _optional(ref: Mapping[str, Any]) -> bool:
    return bool(ref.get("optional"))


def field_ref_value(pod: Mapping[str, Any], field_path: str, *, pod_ip: str, host_ip: str) -> str:
    """``podFieldSelectorRuntimeValue`` + ``ExtractFieldPathAsString``: a downward-API field as text."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    for prefix, key in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        values = meta.get(key) or {}
        if field_path == prefix:
            # FormatMap: key="value" lines, sorted.
            return "\n".join(f'{k}="{values[k]}"' for k in sorted(values))
        if field_path.startswith(prefix + "['") and field_path.endswith("']"):
            return str(values.get(field_path[len(prefix) + 2:-2], ""))
    raise ConfigError(f"unsupported fieldPath: {field_path}")


def resolve_env(pod: Mapping[str, Any], container: Mapping[str, Any], *,
                config_maps: Mapping[str, Mapping[str, Any] | None],
                secrets: Mapping[str, Mapping[str, Any] | None], pod_ip: str, host_ip: str) -> dict[str, str]:
    """``makeEnvironmentVariables``: the container's environment, in declaration order.

    ``config_maps`` / ``secrets``: the objects :func:`env_sources` named,
    None for one that does not exist. Raises :class:`ConfigError`.
    """
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    env: dict[str, str] = {}

    def config_map(name: str, optional: bool) -> Mapping[str, Any] | None:
        obj = config_maps.get(name)
        if obj is None and not optional:
            raise ConfigError(f'configmap "{name}" not found')
        return obj

    def secret(name: str, optional: bool) -> Mapping[str, str] | None:
        obj = secrets.get(name)
        if obj is None:
            if not optional:
                raise ConfigError(f'secret "{name}" not found')
            return None
        return secret_data(obj)

    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if (ref := source.get("configMapRef")) is not None:
            cm = config_map(str(ref.get("name", "")), _optional(ref))
            for key, value in ((cm or {}).get("data") or {}).items():
                env[prefix + key] = str(value)
        elif (ref := source.get("secretRef")) is not None:
            data = secret(str(ref.get("name", "")), _optional(ref))
            for key, value in (data or {}).items():
                env[prefix + key] = value

    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        value = var.get("value")
        value_from = var.get("valueFrom")
        if value:
            env[name] = expand(str(value), env.get)
            continue
        if not value_from:
            env[name] = ""
            continue
        if (ref := value_from.get("fieldRef")) is not None:
            env[name] = field_ref_value(pod, str(ref.get("fieldPath", "")), pod_ip=pod_ip, host_ip=host_ip)
        elif (ref := value_from.get("configMapKeyRef")) is not None:
            cm_name, key, optional = str(ref.get("name", "")), str(ref.get("key", "")), _optional(ref)
            cm = config_map(cm_name, optional)
            if cm is None:
                continue
            data = cm.get("data") or {}
            if key not in data:
                if optional:
                    continue
                raise ConfigError(f"couldn't find key {key} in ConfigMap {namespace}/{cm_name}")
            env[name] = str(data[key])
        elif (ref := value_from.get("secretKeyRef")) is not None:
            s_name, key, optional = str(ref.get("name", "")), str(ref.get("key", "")), _optional(ref)
            data = secret(s_name, optional)
            if data is None:
                continue
            if key not in data:
                if optional:
                    continue
                raise ConfigError(f"couldn't find key {key} in Secret {namespace}/{s_name}")
            env[name] = data[key]
        elif (ref := value_from.get("resourceFieldRef")) is not None:
            env[name] = _resource_field(container, ref)
        else:
            env[name] = ""
    return env


def _resource_field(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """``resourceFieldRef``: a limit or request in the divisor's units (rounded up), as Kubernetes does."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    values = resources.get(kind) or {}
    value = parse_quantity(values.get(name)) if name in values else None
    if value is None:
        if kind == "requests" and name in (resources.get("limits") or {}):
            value = parse_quantity(resources["limits"][name])
        else:
            return "0" if kind == "requests" else ""  # an unset limit is the node's allocatable: unknown here
    divisor = parse_quantity(ref.get("divisor") or "1") or 1
    quotient = value / divisor
    whole = int(quotient)
    return str(whole + (1 if quotient > whole else 0))


def expand_command(container: Mapping[str, Any], env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``ExpandContainerCommandAndArgs``: command and args with ``$(VAR)`` from the resolved environment."""
    command = tuple(expand(str(part), env.get) for part in container.get("command") or [])
    args = tuple(expand(str(part), env.get) for part in container.get("args") or [])
    return command, args


# --- volumes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolumeState:
    """What the actor fetched for the pod's volumes: objects by name (None: not found)."""

    config_maps: Mapping[str, Mapping[str, Any] | None]
    secrets: Mapping[str, Mapping[str, Any] | None]
    claims: Mapping[str, Mapping[str, Any] | None]


def volume_sources(pod: Mapping[str, Any]) -> tuple[Sources, frozenset[str]]:
    """The ConfigMaps and Secrets the pod's volumes need, and its PersistentVolumeClaims' names."""
    cms: set[str] = set()
    secrets: set[str] = set()
    claims: set[str] = set()
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if (cm := volume.get("configMap")) is not None:
            cms.add(str(cm.get("name", "")))
        elif (s := volume.get("secret")) is not None:
            secrets.add(str(s.get("secretName", "")))
        elif (pvc := volume.get("persistentVolumeClaim")) is not None:
            claims.add(str(pvc.get("claimName", "")))
        elif (projected := volume.get("projected")) is not None:
            for source in projected.get("sources") or []:
                if (cm := source.get("configMap")) is not None:
                    cms.add(str(cm.get("name", "")))
                if (s := source.get("secret")) is not None:
                    secrets.add(str(s.get("name", "")))
    return Sources(frozenset(cms), frozenset(secrets)), frozenset(claims)


def _missing_keys(items: Sequence[Mapping[str, Any]] | None, present: Mapping[str, Any]) -> list[str]:
    return [str(i.get("key")) for i in items or [] if i.get("key") not in present]


def volume_problems(pod: Mapping[str, Any], state: VolumeState) -> list[str]:
    """The FailedMount messages for the pod's volumes that cannot be set up now (empty: all ready).

    configMap / secret: ``MountVolume.SetUp failed for volume "v" : configmap "x" not found``
    (or a key its ``items`` name is missing); a claim that is missing or not
    Bound: ``Unable to attach or mount volumes: unmounted volumes=[v], ...
    error processing PVC ns/claim: PVC is not bound``.
    """
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace", "")
    problems: list[str] = []
    unbound: list[tuple[str, str]] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        vname = str(volume.get("name", ""))
        setup = f'MountVolume.SetUp failed for volume "{vname}" : '
        if (ref := volume.get("configMap")) is not None:
            problem = _config_map_problem(ref, state.config_maps)
            if problem:
                problems.append(setup + problem)
        elif (ref := volume.get("secret")) is not None:
            problem = _secret_problem(ref, str(ref.get("secretName", "")), state.secrets)
            if problem:
                problems.append(setup + problem)
        elif (ref := volume.get("projected")) is not None:
            for source in ref.get("sources") or []:
                problem = None
                if (cm := source.get("configMap")) is not None:
                    problem = _config_map_problem(cm, state.config_maps)
                elif (s := source.get("secret")) is not None:
                    problem = _secret_problem(s, str(s.get("name", "")), state.secrets)
                if problem:
                    problems.append(setup + problem)
                    break
        elif (ref := volume.get("persistentVolumeClaim")) is not None:
            claim_name = str(ref.get("claimName", ""))
            claim = state.claims.get(claim_name)
            if claim is None:
                unbound.append((vname, (f"error processing PVC {namespace}/{claim_name}: failed to fetch PVC from "
                                        f'API server: persistentvolumeclaims "{claim_name}" not found')))
            elif (claim.get("status") or {}).get("phase") != "Bound":
                unbound.append((vname, f"error processing PVC {namespace}/{claim_name}: PVC is not bound"))
    if unbound:
        names = " ".join(sorted(v for v, _ in unbound))
        problems.append(f"Unable to attach or mount volumes: unmounted volumes=[{names}], unattached volumes=[], "
                        f"failed to process volumes=[{names}]: {unbound[0][1]}")
    return problems


def _config_map_problem(ref: Mapping[str, Any], objects: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    name = str(ref.get("name", ""))
    obj = objects.get(name)
    if obj is None:
        return None if _optional(ref) else f'configmap "{name}" not found'
    present = {**(obj.get("data") or {}), **(obj.get("binaryData") or {})}
    missing = _missing_keys(ref.get("items"), present)
    if missing and not _optional(ref):
        return f"configmap references non-existent config key: {missing[0]}"
    return None


def _secret_problem(ref: Mapping[str, Any], name: str,
                    objects: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    obj = objects.get(name)
    if obj is None:
        return None if _optional(ref) else f'secret "{name}" not found'
    missing = _missing_keys(ref.get("items"), secret_data(obj))
    if missing and not _optional(ref):
        return f"references non-existent secret key: {missing[0]}"
    return None


_PLUGIN_DIRS = (("emptyDir", "kubernetes.io~empty-dir"), ("configMap", "kubernetes.io~configmap"),
                ("secret", "kubernetes.io~secret"), ("projected", "kubernetes.io~projected"),
                ("downwardAPI", "kubernetes.io~downward-api"), ("persistentVolumeClaim", "kubernetes.io~csi"))


def volume_host_path(pod: Mapping[str, Any], volume: Mapping[str, Any],
                     claims: Mapping[str, Mapping[str, Any] | None] | None = None) -> str:
    """Where the kubelet would have set the volume up on the node."""
    if (host := volume.get("hostPath")) is not None:
        return str(host.get("path", ""))
    uid = (pod.get("metadata") or {}).get("uid", "")
    name = str(volume.get("name", ""))
    if (pvc := volume.get("persistentVolumeClaim")) is not None:
        claim = (claims or {}).get(str(pvc.get("claimName", ""))) or {}
        name = (claim.get("spec") or {}).get("volumeName") or name
        return f"{PODS_DIR}/{uid}/volumes/kubernetes.io~csi/{name}/mount"
    plugin = next((d for key, d in _PLUGIN_DIRS if key in volume), "kubernetes.io~empty-dir")
    return f"{PODS_DIR}/{uid}/volumes/{plugin}/{name}"


def mounts(pod: Mapping[str, Any], container: Mapping[str, Any],
           claims: Mapping[str, Mapping[str, Any] | None] | None = None) -> tuple[dict[str, Any], ...]:
    """The container's volumeMounts as ContainerConfig mounts (``container_path``, ``host_path``, ``readonly``)."""
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    out = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None:
            continue
        host = volume_host_path(pod, volume, claims)
        if mount.get("subPath"):
            host = f"{host}/{mount['subPath']}"
        readonly = bool(mount.get("readOnly")) or "configMap" in volume or "secret" in volume \
            or "projected" in volume or "downwardAPI" in volume
        out.append({"container_path": str(mount.get("mountPath", "")), "host_path": host, "readonly": readonly})
    return tuple(out)


# --- configs -----------------------------------------------------------------------------------------


def pod_hostname(pod: Mapping[str, Any]) -> str:
    """``GeneratePodHostNameAndDomain``: ``spec.hostname`` or the pod's name, cut to 63 characters."""
    name = (pod.get("spec") or {}).get("hostname") or (pod.get("metadata") or {}).get("name", "")
    if len(name) > HOSTNAME_MAX:
        name = name[:HOSTNAME_MAX].rstrip("-.")
    return name


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    return {**(meta.get("labels") or {}), POD_NAME_LABEL: meta.get("name", ""),
            POD_NAMESPACE_LABEL: meta.get("namespace", ""), POD_UID_LABEL: meta.get("uid", "")}


def sandbox_config(pod: Mapping[str, Any], attempt: int, pod_ip: str) -> cri.PodSandboxConfig:
    """``generatePodSandboxConfig``: the pod's metadata and labels, its annotations, hostname and IP."""
    meta = pod.get("metadata") or {}
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", ""),
                                        attempt),
        hostname=pod_hostname(pod), labels=pod_labels(pod), annotations=dict(meta.get("annotations") or {}),
        pod_ip=pod_ip)


def _bytes(value: Any) -> int:
    amount = parse_quantity(value)
    return int(amount) if amount is not None else 0


def _millis(value: Any) -> int:
    amount = parse_quantity(value)
    return int(amount * 1000) if amount is not None else 0


def container_config(pod: Mapping[str, Any], container: Mapping[str, Any], *, attempt: int,
                     env: Mapping[str, str], claims: Mapping[str, Mapping[str, Any] | None] | None = None
                     ) -> cri.ContainerConfig:
    """``generateContainerConfig``: what CreateContainer gets for this container's ``attempt``-th instance."""
    meta = pod.get("metadata") or {}
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    command, args = expand_command(container, env)
    ports = tuple(cri.ContainerPort(int(p.get("containerPort", 0)), str(p.get("protocol") or "TCP"),
                                    str(p.get("name") or ""))
                  for p in container.get("ports") or [] if p.get("containerPort"))
    annotations = {**(meta.get("annotations") or {}), HASH_ANNOTATION: hash_annotation_value(container),
                   RESTART_COUNT_ANNOTATION: str(attempt)}
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(container["name"], attempt), image=str(container.get("image", "")),
        command=command, args=args, env=dict(env), ports=ports,
        memory_limit_bytes=_bytes(limits["memory"]) if "memory" in limits else 0,
        cpu_millis=_millis(limits.get("cpu") or requests.get("cpu") or 0),
        labels={POD_NAME_LABEL: meta.get("name", ""), POD_NAMESPACE_LABEL: meta.get("namespace", ""),
                POD_UID_LABEL: meta.get("uid", ""), CONTAINER_NAME_LABEL: container["name"]},
        annotations=annotations, mounts=mounts(pod, container, claims),
        stdin=bool(container.get("stdin")), tty=bool(container.get("tty")))


def next_attempt(statuses: Sequence[cri.ContainerStatus], name: str) -> int:
    """The restart count of the container's next instance: one more than its newest, else 0."""
    attempts = [s.metadata.attempt for s in statuses if s.metadata.name == name]
    return max(attempts) + 1 if attempts else 0


def container_spec(pod: Mapping[str, Any], name: str) -> tuple[Obj | None, bool]:
    """(the container named ``name``, whether it is an init container)."""
    spec = pod.get("spec") or {}
    for c in spec.get("initContainers") or []:
        if c.get("name") == name:
            return c, True
    for c in spec.get("containers") or []:
        if c.get("name") == name:
            return c, False
    return None, False


def field_path(pod: Mapping[str, Any], name: str) -> str:
    """The ``involvedObject.fieldPath`` of a container's events: ``spec.containers{web}``."""
    _, init = container_spec(pod, name)
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"


# --- the runtime's leftovers ---------------------------------------------------------------------------


def newest_sandbox(sandboxes: Sequence[cri.PodSandboxStatus]) -> cri.PodSandboxStatus | None:
    """The pod's newest sandbox (the kubelet keeps using only that one)."""
    best = None
    for s in sandboxes:
        if best is None or (s.created_at, s.metadata.attempt) >= (best.created_at, best.metadata.attempt):
            best = s
    return best


def containers_to_remove(statuses: Sequence[cri.ContainerStatus], keep_exited: int = 2) -> list[str]:
    """Container GC for one pod: exited instances beyond the newest ``keep_exited`` of each container name
    (the newest is the state, the one before it ``lastState``; the kubelet's GC keeps one dead container)."""
    by_name: dict[str, list[cri.ContainerStatus]] = {}
    for s in statuses:
        if s.state == cri.ContainerState.EXITED:
            by_name.setdefault(s.metadata.name, []).append(s)
    out = []
    for items in by_name.values():
        items.sort(key=lambda s: (s.created_at, s.metadata.attempt), reverse=True)
        out.extend(s.id for s in items[keep_exited:])
    return out


__all__ = [
    "ALWAYS", "IF_NOT_PRESENT", "NEVER", "ConfigError", "Sources", "VolumeState", "container_config",
    "container_spec", "containers_to_remove", "env_sources", "expand", "expand_command", "field_path",
    "field_ref_value", "grpc_error", "mounts", "never_pull_message", "newest_sandbox", "next_attempt",
    "pod_hostname", "pod_labels", "present_message", "pull_policy", "pulled_message", "resolve_env",
    "sandbox_config", "secret_data", "should_pull", "volume_host_path", "volume_problems", "volume_sources",
]
