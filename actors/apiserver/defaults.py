"""Kubernetes' defaults, filled into an object before it is validated and stored.

A manifest says only what its author cares about; the API server fills in the
rest, and controllers, kubelets and ``kubectl get -o yaml`` all read the
filled-in object. kubesim's components are written against what a real
cluster stores, so :func:`apply_defaults` sets the same fields to the same
values, in the same shape (plain dicts, as JSON would decode them).

Sources, in Kubernetes (``k8s.io/kubernetes``):

- ``pkg/apis/core/v1/defaults.go`` — Pod, PodSpec, Container, probes,
  volumes, Service, Secret, PersistentVolume(Claim), Namespace, Node,
  Endpoints;
- ``pkg/apis/apps/v1/defaults.go`` — Deployment, ReplicaSet, DaemonSet,
  StatefulSet;
- ``pkg/apis/batch/v1/defaults.go`` — Job, CronJob;
- ``pkg/apis/storage/v1/defaults.go`` — StorageClass;
- ``pkg/apis/discovery/v1/defaults.go`` — EndpointSlice ports.

A few values come from elsewhere in the API server; they are applied here
too, because the caller would otherwise have to know where each lives, and
are marked so in the code:

- admission plugins, on pods only (never on pod templates):
  ``ServiceAccount`` (``serviceAccountName: default``), ``Priority``
  (``priority: 0``, ``preemptionPolicy: PreemptLowerPriority``) and
  ``DefaultTolerationSeconds`` (tolerate ``node.kubernetes.io/not-ready``
  and ``/unreachable`` for 300 s). Kubernetes runs them on create only;
  pass ``admission=False`` to leave them out;
- the Namespace strategy (``spec.finalizers: [kubernetes]``) and the
  Service registry (``ipFamilyPolicy``/``ipFamilies``, as a single-stack
  IPv4 cluster sets them).

Not done here: anything that needs state or a clock (UIDs, timestamps,
cluster IPs, node ports, a Job's generated selector, a Pod's ``status``
on create), and zero values Kubernetes leaves out of the JSON
(``minReadySeconds: 0`` is never serialized, so it is not added).

Rules kept throughout: a value the author gave is never replaced (a string
field is defaulted when absent, ``null`` or ``""``, as Go's ``== ""``
checks do; a pointer field only when absent or ``null``); the input is never
mutated; defaulting twice gives what defaulting once gives; a malformed part
(a ``spec`` that is a list, say) is left for validation to report rather
than crashing here. Objects of kinds not in :data:`~actors.apiserver.kinds.KINDS`
come back as an unchanged copy: rejecting them is :func:`~actors.apiserver.kinds.for_object`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from actors.jsonvalue import clone

__all__ = [
    "DEFAULT_TOLERATION_SECONDS",
    "apply_defaults",
    "default_pod_spec",
    "image_pull_policy",
]

DEFAULT_TOLERATION_SECONDS = 300
"""How long pods stay on a not-ready or unreachable node (DefaultTolerationSeconds)."""

_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"

# Secret, ConfigMap, DownwardAPI and projected volumes' file mode: 0644.
_DEFAULT_MODE = 0o644

Obj = dict[str, Any]


# --- Small helpers ----------------------------------------------------------------------
# Go's defaulters check a string with == "" and a pointer with == nil; JSON's
# null decodes to either's zero, so both helpers treat None as absent.

def _str(d: Obj, key: str, value: str) -> None:
    if d.get(key) in (None, ""):
        d[key] = value


def _ptr(d: Obj, key: str, value: Any) -> None:
    if d.get(key) is None:
        d[key] = clone(value)


def _child(d: Obj, key: str, *, create: bool = True) -> Obj | None:
    """``d[key]`` if it is a dict (created empty when absent and ``create``), else None."""
    value = d.get(key)
    if value is None and create:
        value = d[key] = {}
    return value if isinstance(value, dict) else None


def _items(d: Obj, key: str) -> list[Obj]:
    """The dict elements of the list ``d[key]``; others are validation's business."""
    value = d.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


# --- Images -----------------------------------------------------------------------------
# The reference grammar of github.com/distribution/reference (regexp.go), which
# Kubernetes' parsers.ParseImageName uses. A domain needs a "." or ":" or to
# be "localhost" only to tell it from a path component; for finding the tag
# it makes no difference, so any first component before "/" may be one.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)


def image_pull_policy(image: Any) -> str:
    """The ``imagePullPolicy`` Kubernetes gives a container with this image.

    ``Always`` when the tag is ``latest``, which includes no tag and no
    digest (``nginx``, ``repo:5000/img``: ParseImageName then assumes
    ``latest``); ``IfNotPresent`` otherwise, including a digest without a
    tag and an image that does not parse (Kubernetes ignores the error
    here; validation or the kubelet reports it).
    """
    if not isinstance(image, str):
        return "IfNotPresent"
    match = _REFERENCE.fullmatch(image)
    if match is None or len(match["name"]) > 255:
        return "IfNotPresent"
    tag = match["tag"] or ("latest" if not match["digest"] else "")
    return "Always" if tag == "latest" else "IfNotPresent"


# --- Pod specs --------------------------------------------------------------------------

def _probe(probe: Obj) -> None:
    # SetDefaults_Probe.
    _ptr(probe, "timeoutSeconds", 1)
    _ptr(probe, "periodSeconds", 10)
    _ptr(probe, "successThreshold", 1)
    _ptr(probe, "failureThreshold", 3)
    _handler(probe)


def _handler(handler: Obj) -> None:
    # SetDefaults_HTTPGetAction, for probes and lifecycle hooks alike.
    http_get = _child(handler, "httpGet", create=False)
    if http_get is not None:
        _str(http_get, "path", "/")
        _str(http_get, "scheme", "HTTP")


def _container(container: Obj) -> None:
    # SetDefaults_Container, SetDefaults_ContainerPort, SetDefaults_ObjectFieldSelector.
    _str(container, "imagePullPolicy", image_pull_policy(container.get("image")))
    _str(container, "terminationMessagePath", "/dev/termination-log")
    _str(container, "terminationMessagePolicy", "File")
    # resources is a struct, not a pointer, in Go: it always serializes.
    _child(container, "resources")
    for port in _items(container, "ports"):
        _str(port, "protocol", "TCP")
    for env in _items(container, "env"):
        value_from = _child(env, "valueFrom", create=False)
        field_ref = value_from and _child(value_from, "fieldRef", create=False)
        if field_ref is not None:
            _str(field_ref, "apiVersion", "v1")
    for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = _child(container, probe_key, create=False)
        if probe is not None:
            _probe(probe)
    lifecycle = _child(container, "lifecycle", create=False)
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            handler = _child(lifecycle, hook, create=False)
            if handler is not None:
                _handler(handler)


def _volume(volume: Obj) -> None:
    # SetDefaults_Volume: a volume naming no source is an emptyDir.
    if set(volume) <= {"name"}:
        volume["emptyDir"] = {}
    for source_key in ("secret", "configMap", "downwardAPI", "projected"):
        source = _child(volume, source_key, create=False)
        if source is not None:
            _ptr(source, "defaultMode", _DEFAULT_MODE)
    host_path = _child(volume, "hostPath", create=False)
    if host_path is not None:
        # A pointer to "" (HostPathUnset), so it serializes as type: "".
        _ptr(host_path, "type", "")


def default_pod_spec(spec: Obj) -> None:
    """Fill in a pod spec's defaults, in place: SetDefaults_PodSpec and what it holds.

    The defaults every pod template gets; a Pod gets these and more (see
    :func:`apply_defaults`). Exposed for callers that build pod specs.
    """
    _str(spec, "dnsPolicy", "ClusterFirst")
    _str(spec, "restartPolicy", "Always")
    _child(spec, "securityContext")
    _ptr(spec, "terminationGracePeriodSeconds", 30)
    _str(spec, "schedulerName", "default-scheduler")
    # serviceAccount is the deprecated alias; v1 conversion copies one to the other.
    if spec.get("serviceAccountName") in (None, "") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _items(spec, key):
            _container(container)
    for volume in _items(spec, "volumes"):
        _volume(volume)


def _pod_template(template_holder: Obj) -> None:
    """Defaults for ``template`` inside a workload's spec: pod-spec defaults only."""
    template = _child(template_holder, "template", create=False)
    if template is None:
        return
    spec = _child(template, "spec")
    if spec is not None:
        default_pod_spec(spec)


def _admit_pod(spec: Obj) -> None:
    # ServiceAccount admission (plugin/pkg/admission/serviceaccount).
    _str(spec, "serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    # Priority admission: with no priorityClassName and no global default
    # class the priority is 0; a named class's value is not known here.
    if spec.get("priority") is None and not spec.get("priorityClassName"):
        spec["priority"] = 0
    if spec.get("priority") is not None:
        _str(spec, "preemptionPolicy", "PreemptLowerPriority")
    # DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds):
    # an existing toleration with that key, or no key, and the NoExecute effect
    # or no effect, already covers the taint.
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    added = list(tolerations)
    for key in (_NOT_READY, _UNREACHABLE):
        covered = any(
            isinstance(t, dict)
            and t.get("key") in (None, "", key)
            and t.get("effect") in (None, "", "NoExecute")
            for t in tolerations
        )
        if not covered:
            added.append({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            })
    spec["tolerations"] = added


def _pod(obj: Obj, admission: bool) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    # SetDefaults_Pod: pods only, not templates.
    for key in ("initContainers", "containers"):
        for container in _items(spec, key):
            resources = _child(container, "resources")
            limits = resources.get("limits") if resources is not None else None
            if isinstance(limits, dict) and limits:
                requests = _child(resources, "requests")
                if requests is not None:
                    for name, quantity in limits.items():
                        requests.setdefault(name, quantity)
            if spec.get("hostNetwork") is True:
                for port in _items(container, "ports"):
                    if port.get("hostPort") in (None, 0) and port.get("containerPort") is not None:
                        port["hostPort"] = port.get("containerPort")
    _ptr(spec, "enableServiceLinks", True)
    if admission:
        _admit_pod(spec)


# --- Workloads (apps/v1, batch/v1) ------------------------------------------------------

def _deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _ptr(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    if strategy is not None:
        _str(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = _child(strategy, "rollingUpdate")
            if rolling is not None:
                _ptr(rolling, "maxUnavailable", "25%")
                _ptr(rolling, "maxSurge", "25%")
    _ptr(spec, "revisionHistoryLimit", 10)
    _ptr(spec, "progressDeadlineSeconds", 600)
    _pod_template(spec)


def _replicaset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _ptr(spec, "replicas", 1)
    _pod_template(spec)


def _daemonset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    strategy = _child(spec, "updateStrategy")
    if strategy is not None:
        _str(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = _child(strategy, "rollingUpdate")
            if rolling is not None:
                _ptr(rolling, "maxUnavailable", 1)
                _ptr(rolling, "maxSurge", 0)
    _ptr(spec, "revisionHistoryLimit", 10)
    _pod_template(spec)


def _pvc_spec(spec: Obj) -> None:
    # SetDefaults_PersistentVolumeClaimSpec.
    _str(spec, "volumeMode", "Filesystem")


def _statefulset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _str(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if strategy is not None:
        # Unlike the other workloads, rollingUpdate is only created when the
        # type is defaulted too: an explicit RollingUpdate may go without it.
        if strategy.get("type") in (None, ""):
            strategy["type"] = "RollingUpdate"
            _ptr(strategy, "rollingUpdate", {})
        rolling = _child(strategy, "rollingUpdate", create=False)
        if strategy["type"] == "RollingUpdate" and rolling is not None:
            _ptr(rolling, "partition", 0)
    # StatefulSetAutoDeletePVC, on by default since 1.27.
    policy = _child(spec, "persistentVolumeClaimRetentionPolicy")
    if policy is not None:
        _str(policy, "whenDeleted", "Retain")
        _str(policy, "whenScaled", "Retain")
    _ptr(spec, "replicas", 1)
    _ptr(spec, "revisionHistoryLimit", 10)
    # The generated defaulter runs the PVC defaulters on each claim template.
    for claim in _items(spec, "volumeClaimTemplates"):
        _pvc(claim)
    _pod_template(spec)


def _job_spec(spec: Obj) -> None:
    # Both unset: a single pod, run once. Parallelism alone: a work queue,
    # so completions stays unset (the Job ends when any pod succeeds).
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _ptr(spec, "parallelism", 1)
    if spec.get("backoffLimitPerIndex") is not None:
        _ptr(spec, "backoffLimit", 2**31 - 1)
    _ptr(spec, "backoffLimit", 6)
    _str(spec, "completionMode", "NonIndexed")
    _ptr(spec, "suspend", False)
    # JobPodReplacementPolicy (beta, on since 1.29).
    replacement = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    _str(spec, "podReplacementPolicy", replacement)
    # The template's restartPolicy is defaulted like any pod template's, to
    # Always: validation then rejects it with Kubernetes' own message
    # (supported values: "OnFailure", "Never"), as a real cluster does.
    _pod_template(spec)


def _job(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _job_spec(spec)
    # SetDefaults_Job: a Job without labels takes its template's.
    template = _child(spec, "template", create=False)
    labels = _child(template, "metadata", create=False) if template is not None else None
    template_labels = labels.get("labels") if labels is not None else None
    metadata = _child(obj, "metadata")
    if isinstance(template_labels, dict) and metadata is not None and not metadata.get("labels"):
        metadata["labels"] = clone(template_labels)


def _cronjob(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _str(spec, "concurrencyPolicy", "Allow")
    _ptr(spec, "suspend", False)
    _ptr(spec, "successfulJobsHistoryLimit", 3)
    _ptr(spec, "failedJobsHistoryLimit", 1)
    # SetDefaults_Job is for Job objects; the template only gets pod defaults.
    job_template = _child(spec, "jobTemplate", create=False)
    job_spec = _child(job_template, "spec", create=False) if job_template is not None else None
    if job_spec is not None:
        _pod_template(job_spec)


# --- Core kinds -------------------------------------------------------------------------

def _service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _str(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = _child(spec, "sessionAffinityConfig")
        client_ip = _child(config, "clientIP") if config is not None else None
        if client_ip is not None:
            _ptr(client_ip, "timeoutSeconds", 10800)
    _str(spec, "type", "ClusterIP")
    kind = spec["type"]
    for port in _items(spec, "ports"):
        _str(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port.get("port")
    externally_accessible = kind in ("NodePort", "LoadBalancer") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if externally_accessible:
        _str(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        _str(spec, "internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _ptr(spec, "allocateLoadBalancerNodePorts", True)
    # The Service registry's IP family defaulting (pkg/registry/core/service/
    # storage/alloc.go) for a single-stack IPv4 cluster. A headless Service
    # without a selector has no IPs to allocate and gets both families.
    if kind == "ExternalName":
        return
    headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
    _str(spec, "ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
    if not spec.get("ipFamilies"):
        both = spec["ipFamilyPolicy"] == "RequireDualStack"
        spec["ipFamilies"] = ["IPv4", "IPv6"] if both else ["IPv4"]


def _secret(obj: Obj) -> None:
    _str(obj, "type", "Opaque")


def _pvc(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        _pvc_spec(spec)
    status = _child(obj, "status")
    if status is not None:
        _str(status, "phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        _str(spec, "persistentVolumeReclaimPolicy", "Retain")
        _str(spec, "volumeMode", "Filesystem")
        host_path = _child(spec, "hostPath", create=False)
        if host_path is not None:
            _ptr(host_path, "type", "")
    status = _child(obj, "status")
    if status is not None:
        _str(status, "phase", "Pending")


def _storageclass(obj: Obj) -> None:
    _str(obj, "reclaimPolicy", "Delete")
    _str(obj, "volumeBindingMode", "Immediate")


def _namespace(obj: Obj) -> None:
    metadata = _child(obj, "metadata")
    name = metadata.get("name") if metadata is not None else None
    # SetDefaults_Namespace: the immutable label that lets selectors pick namespaces by name.
    if metadata is not None and isinstance(name, str) and name:
        labels = _child(metadata, "labels")
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = name
    # The namespace strategy's PrepareForCreate: the namespace controller
    # removes "kubernetes" once everything inside is deleted.
    spec = _child(obj, "spec")
    if spec is not None:
        finalizers = spec.get("finalizers")
        if finalizers is None:
            finalizers = spec["finalizers"] = []
        if isinstance(finalizers, list) and "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
    status = _child(obj, "status")
    if status is not None:
        _str(status, "phase", "Active")


def _node(obj: Obj) -> None:
    # SetDefaults_NodeStatus: allocatable defaults to capacity. Everything
    # else on a Node is reported by its kubelet, not defaulted.
    status = _child(obj, "status", create=False)
    if status is not None and isinstance(status.get("capacity"), dict):
        _ptr(status, "allocatable", status["capacity"])


def _endpoints(obj: Obj) -> None:
    # SetDefaults_EndpointPort (core).
    for subset in _items(obj, "subsets"):
        for port in _items(subset, "ports"):
            _str(port, "protocol", "TCP")


def _endpointslice(obj: Obj) -> None:
    # discovery/v1 SetDefaults_EndpointPort: both are pointers there.
    for port in _items(obj, "ports"):
        _ptr(port, "name", "")
        _ptr(port, "protocol", "TCP")


def _nothing(obj: Obj) -> None:
    """ConfigMap, ServiceAccount, Event, Lease: Kubernetes defines no defaults."""


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "Node"): _node,
    ("v1", "Service"): _service,
    ("v1", "Endpoints"): _endpoints,
    ("discovery.k8s.io/v1", "EndpointSlice"): _endpointslice,
    ("v1", "ConfigMap"): _nothing,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _nothing,
    ("v1", "Event"): _nothing,
    ("coordination.k8s.io/v1", "Lease"): _nothing,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replicaset,
    ("apps/v1", "DaemonSet"): _daemonset,
    ("apps/v1", "StatefulSet"): _statefulset,
    ("batch/v1", "Job"): _job,
    ("batch/v1", "CronJob"): _cronjob,
    ("v1", "PersistentVolume"): _pv,
    ("v1", "PersistentVolumeClaim"): _pvc,
    ("storage.k8s.io/v1", "StorageClass"): _storageclass,
}


def apply_defaults(obj: Obj, *, admission: bool = True, in_place: bool = False) -> Obj:
    """A copy of ``obj`` with Kubernetes' defaults filled in; ``obj`` is untouched (``in_place``: ``obj`` itself,
    for a caller whose object is already its own copy).

    ``admission`` adds what the admission plugins add to a Pod on create
    (service account, priority, default tolerations); pass ``False`` for
    an update, where Kubernetes does not run them.
    """
    result = obj if in_place else clone(obj)
    if not isinstance(result, dict):
        return result
    key = (result.get("apiVersion"), result.get("kind"))
    if key == ("v1", "Pod"):
        _pod(result, admission)
        return result
    defaulter = _DEFAULTERS.get(key)  # type: ignore[arg-type]
    if defaulter is not None:
        defaulter(result)
    return result
