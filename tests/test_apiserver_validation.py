"""Per-kind validation (actors.apiserver.validation) reports Kubernetes' errors.

Each case takes a minimal valid object of one kind, breaks it in one way and
expects the exact error texts Kubernetes' validators give (core, apps and
batch ``validation.go``); a valid object of every kind gives none, and the
update cases check the fields Kubernetes keeps immutable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from actors.apiserver.validation import cron_error, validate, validate_update

LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', and must start and end with an alphanumeric character "
    "(e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)
CONFIG_KEY_RULE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)
ENV_RULE = (
    "a valid environment variable name must consist of alphabetic characters, digits, "
    "'_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
    "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
    "'[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
PORT_RANGE = "must be between 1 and 65535, inclusive"


def _pod_spec() -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": "nginx:1.25"}]}


def _template(labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {**_pod_spec(), **spec}}


def _ns(kind: str, api_version: str, **rest: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "namespace": "default"}, **rest}


def _cluster(kind: str, api_version: str, **rest: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, **rest}


APP = {"app": "web"}

# (kind, namespaced, minimal valid object)
VALID: dict[str, tuple[bool, dict[str, Any]]] = {
    "Pod": (True, _ns("Pod", "v1", spec=_pod_spec())),
    "Deployment": (True, _ns("Deployment", "apps/v1", spec={
        "replicas": 1, "selector": {"matchLabels": APP}, "template": _template(APP)})),
    "ReplicaSet": (True, _ns("ReplicaSet", "apps/v1", spec={
        "replicas": 1, "selector": {"matchLabels": APP}, "template": _template(APP)})),
    "DaemonSet": (True, _ns("DaemonSet", "apps/v1", spec={
        "selector": {"matchLabels": APP}, "template": _template(APP)})),
    "StatefulSet": (True, _ns("StatefulSet", "apps/v1", spec={
        "replicas": 1, "serviceName": "web", "selector": {"matchLabels": APP},
        "template": _template(APP)})),
    "Job": (True, _ns("Job", "batch/v1", spec={
        "selector": {"matchLabels": {"job-name": "x"}},
        "template": _template({"job-name": "x"}, restartPolicy="Never")})),
    "CronJob": (True, _ns("CronJob", "batch/v1", spec={
        "schedule": "*/5 * * * *",
        "jobTemplate": {"spec": {"template": _template({}, restartPolicy="OnFailure")}}})),
    "Service": (True, _ns("Service", "v1", spec={
        "selector": APP, "ports": [{"port": 80, "targetPort": 8080}]})),
    "ConfigMap": (True, _ns("ConfigMap", "v1", data={"app.conf": "x=1"})),
    "Secret": (True, _ns("Secret", "v1", data={"password": "aHVudGVyMg=="})),
    "Namespace": (False, _cluster("Namespace", "v1")),
    "Node": (False, _cluster("Node", "v1", spec={
        "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]})),
    "Lease": (True, _ns("Lease", "coordination.k8s.io/v1", spec={
        "holderIdentity": "a", "leaseDurationSeconds": 15})),
    "Event": (True, _ns("Event", "v1", involvedObject={
        "kind": "Pod", "name": "p", "namespace": "default"}, reason="Started")),
    "PersistentVolumeClaim": (True, _ns("PersistentVolumeClaim", "v1", spec={
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})),
    "PersistentVolume": (False, _cluster("PersistentVolume", "v1", spec={
        "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
        "hostPath": {"path": "/data"}})),
    "StorageClass": (False, _cluster("StorageClass", "storage.k8s.io/v1",
                                     provisioner="kubesim.io/hostpath")),
    "Endpoints": (True, _ns("Endpoints", "v1", subsets=[{
        "addresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 8080}]}])),
    "EndpointSlice": (True, _ns("EndpointSlice", "discovery.k8s.io/v1",
                                addressType="IPv4",
                                endpoints=[{"addresses": ["10.0.0.5"]}])),
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_minimal_valid_object_of_every_kind_has_no_errors(kind):
    namespaced, obj = VALID[kind]
    assert [str(e) for e in validate(obj, namespaced=namespaced)] == []


def test_an_unknown_kind_is_left_to_the_caller():
    assert validate({"kind": "Widget", "metadata": {}}, namespaced=True) == []
    assert validate_update({"kind": "Widget"}, {"kind": "Widget"}, namespaced=True) == []


def _at(obj: dict[str, Any], dotted: str) -> tuple[Any, str]:
    """The container and final key of a dotted path; ``containers.0`` indexes."""
    parts = dotted.split(".")
    node: Any = obj
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    return node, parts[-1]


def setp(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        node, last = _at(obj, dotted)
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def delp(dotted: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        node, last = _at(obj, dotted)
        del node[last]
    return mutate


C0 = "spec.containers.0"
T = "spec.template"
TC0 = "spec.template.spec.containers.0"

# (id, kind, mutation, expected errors)
CASES: list[tuple[str, str, Callable[[dict[str, Any]], None], list[str]]] = [
    # --- metadata, through validate_object_meta with each kind's name rule
    ("meta-pod-name-subdomain", "Pod", setp("metadata.name", "My_Pod"),
     [f'metadata.name: Invalid value: "My_Pod": {SUBDOMAIN_RULE}']),
    ("meta-pod-name-dots-ok", "Pod", setp("metadata.name", "a.b"), []),
    ("meta-namespace-name-label", "Namespace", setp("metadata.name", "a.b"),
     ['metadata.name: Invalid value: "a.b": must not contain dots']),
    ("meta-service-name-dns1035", "Service", setp("metadata.name", "1web"),
     [f'metadata.name: Invalid value: "1web": {DNS1035_RULE}']),
    ("meta-name-missing", "ConfigMap", delp("metadata.name"),
     ["metadata.name: Required value: name or generateName is required"]),
    ("meta-namespace-missing", "Pod", delp("metadata.namespace"),
     ["metadata.namespace: Required value"]),
    ("meta-namespace-on-cluster-kind", "Node", setp("metadata.namespace", "default"),
     ["metadata.namespace: Forbidden: not allowed on this type"]),
    # --- Pod
    ("pod-no-containers", "Pod", setp("spec.containers", []),
     ["spec.containers: Required value"]),
    ("pod-image-missing", "Pod", delp(f"{C0}.image"),
     ["spec.containers[0].image: Required value"]),
    ("pod-container-name-missing", "Pod", delp(f"{C0}.name"),
     ["spec.containers[0].name: Required value"]),
    ("pod-container-name-label", "Pod", setp(f"{C0}.name", "App"),
     [f'spec.containers[0].name: Invalid value: "App": {LABEL_RULE}']),
    ("pod-container-name-duplicate", "Pod",
     setp("spec.containers", [{"name": "a", "image": "i"}, {"name": "a", "image": "i"}]),
     ['spec.containers[1].name: Duplicate value: "a"']),
    ("pod-port-zero", "Pod", setp(f"{C0}.ports", [{"containerPort": 0}]),
     ["spec.containers[0].ports[0].containerPort: Required value"]),
    ("pod-port-too-big", "Pod", setp(f"{C0}.ports", [{"containerPort": 70000}]),
     [f"spec.containers[0].ports[0].containerPort: Invalid value: 70000: {PORT_RANGE}"]),
    ("pod-port-protocol", "Pod",
     setp(f"{C0}.ports", [{"containerPort": 80, "protocol": "HTTP"}]),
     ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": '
      'supported values: "SCTP", "TCP", "UDP"']),
    ("pod-port-name", "Pod",
     setp(f"{C0}.ports", [{"containerPort": 80, "name": "http--x"}]),
     ['spec.containers[0].ports[0].name: Invalid value: "http--x": '
      "must not contain consecutive hyphens"]),
    ("pod-restart-policy", "Pod", setp("spec.restartPolicy", "Sometimes"),
     ['spec.restartPolicy: Unsupported value: "Sometimes": '
      'supported values: "Always", "OnFailure", "Never"']),
    ("pod-env-name-missing", "Pod", setp(f"{C0}.env", [{"value": "1"}]),
     ["spec.containers[0].env[0].name: Required value"]),
    ("pod-env-name-digit", "Pod", setp(f"{C0}.env", [{"name": "1X", "value": "1"}]),
     [f'spec.containers[0].env[0].name: Invalid value: "1X": {ENV_RULE}']),
    ("pod-requests-over-limits", "Pod",
     setp(f"{C0}.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}),
     ['spec.containers[0].resources.requests: Invalid value: "2": '
      "must be less than or equal to cpu limit of 500m"]),
    ("pod-requests-equal-limits-ok", "Pod",
     setp(f"{C0}.resources", {"requests": {"memory": "1Gi"},
                              "limits": {"memory": "1024Mi"}}), []),
    ("pod-request-negative", "Pod", setp(f"{C0}.resources", {"requests": {"cpu": "-1"}}),
     ['spec.containers[0].resources.requests[cpu]: Invalid value: "-1": '
      "must be greater than or equal to 0"]),
    ("pod-volume-duplicate", "Pod",
     setp("spec.volumes", [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
     ['spec.volumes[1].name: Duplicate value: "v"']),
    ("pod-volume-no-source", "Pod", setp("spec.volumes", [{"name": "v"}]),
     ["spec.volumes[0]: Required value: must specify a volume type"]),
    ("pod-mount-unknown-volume", "Pod",
     setp(f"{C0}.volumeMounts", [{"name": "data", "mountPath": "/data"}]),
     ['spec.containers[0].volumeMounts[0].name: Not found: "data"']),
    ("pod-node-name", "Pod", setp("spec.nodeName", "Node_1"),
     [f'spec.nodeName: Invalid value: "Node_1": {SUBDOMAIN_RULE}']),
    ("pod-toleration-operator", "Pod",
     setp("spec.tolerations", [{"key": "k", "operator": "Maybe"}]),
     ['spec.tolerations[0].operator: Unsupported value: "Maybe": '
      'supported values: "Equal", "Exists"']),
    ("pod-toleration-effect", "Pod",
     setp("spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Never"}]),
     ['spec.tolerations[0].effect: Unsupported value: "Never": '
      'supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']),
    ("pod-toleration-empty-key", "Pod",
     setp("spec.tolerations", [{"operator": "Equal", "value": "v"}]),
     ['spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists '
      'when `key` is empty, which means "match all values and all keys"']),
    # --- workloads and their pod templates
    ("deploy-selector-missing", "Deployment", delp("spec.selector"),
     ["spec.selector: Required value"]),
    ("deploy-selector-empty", "Deployment", setp("spec.selector", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment."]),
    ("deploy-selector-mismatch", "Deployment",
     setp("spec.selector", {"matchLabels": {"app": "db"}}),
     ['spec.template.metadata.labels: Invalid value: {"app":"web"}: '
      "`selector` does not match template `labels`"]),
    ("deploy-selector-bad-operator", "Deployment",
     setp("spec.selector", {"matchExpressions": [{"key": "app", "operator": "Is"}]}),
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Is": '
      "not a valid selector operator"]),
    ("deploy-selector-two-errors", "Deployment",
     setp("spec.selector", {"matchLabels": {"app": "web", "tier": "a b"},
                            "matchExpressions": [{"key": "k", "operator": "In"}]}),
     ['spec.selector.matchLabels: Invalid value: "a b": a valid label must be an empty '
      "string or consist of alphanumeric characters, '-', '_' or '.', and must start "
      "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
      "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
      "[A-Za-z0-9])?')",
      "spec.selector.matchExpressions[0].values: Required value: must be specified "
      "when `operator` is 'In' or 'NotIn'"]),
    ("deploy-replicas-negative", "Deployment", setp("spec.replicas", -1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("deploy-template-image", "Deployment", delp(f"{TC0}.image"),
     ["spec.template.spec.containers[0].image: Required value"]),
    ("deploy-restart-never", "Deployment", setp(f"{T}.spec.restartPolicy", "Never"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": '
      'supported values: "Always"']),
    ("rs-selector-empty", "ReplicaSet", setp("spec.selector", {"matchLabels": {}}),
     ['spec.selector: Invalid value: {"matchLabels":{}}: '
      "empty selector is invalid for deployment."]),
    ("ds-selector-empty", "DaemonSet", setp("spec.selector", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]),
    ("sts-replicas-negative", "StatefulSet", setp("spec.replicas", -3),
     ["spec.replicas: Invalid value: -3: must be greater than or equal to 0"]),
    # A container may mount a volumeClaimTemplate: the controller gives each pod that volume.
    ("sts-mounts-claim-template", "StatefulSet",
     lambda o: o["spec"].update(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {
         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]) or
     o["spec"]["template"]["spec"]["containers"][0].update(volumeMounts=[{"name": "data", "mountPath": "/data"}]),
     []),
    ("sts-mounts-nothing", "StatefulSet", setp(f"{TC0}.volumeMounts", [{"name": "data", "mountPath": "/data"}]),
     ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"']),
    ("job-restart-always", "Job", delp(f"{T}.spec.restartPolicy"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Always": '
      'supported values: "OnFailure", "Never"']),
    ("job-selector-mismatch", "Job", setp(f"{T}.metadata.labels", {}),
     ["spec.template.metadata.labels: Invalid value: {}: "
      "`selector` does not match template `labels`"]),
    ("job-backoff-negative", "Job", setp("spec.backoffLimit", -1),
     ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"]),
    ("cronjob-schedule-missing", "CronJob", delp("spec.schedule"),
     ["spec.schedule: Required value"]),
    ("cronjob-schedule-fields", "CronJob", setp("spec.schedule", "* * *"),
     ['spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]']),
    ("cronjob-schedule-range", "CronJob", setp("spec.schedule", "61 * * * *"),
     ['spec.schedule: Invalid value: "61 * * * *": '
      "end of range (61) above maximum (59): 61"]),
    ("cronjob-job-restart", "CronJob",
     setp("spec.jobTemplate.spec.template.spec.restartPolicy", "Always"),
     ['spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": '
      'supported values: "OnFailure", "Never"']),
    ("cronjob-concurrency", "CronJob", setp("spec.concurrencyPolicy", "Sometimes"),
     ['spec.concurrencyPolicy: Unsupported value: "Sometimes": '
      'supported values: "Allow", "Forbid", "Replace"']),
    # --- Service
    ("svc-ports-missing", "Service", setp("spec.ports", []),
     ["spec.ports: Required value"]),
    ("svc-headless-no-ports-ok", "Service",
     lambda o: o["spec"].update(ports=[], clusterIP="None"), []),
    ("svc-external-name-no-ports-ok", "Service",
     lambda o: o["spec"].update(ports=[], type="ExternalName",
                                externalName="db.example.com"), []),
    ("svc-port-zero", "Service", setp("spec.ports.0.port", 0),
     [f"spec.ports[0].port: Invalid value: 0: {PORT_RANGE}"]),
    ("svc-names-required", "Service",
     setp("spec.ports", [{"port": 80, "name": "http"}, {"port": 443}]),
     ["spec.ports[1].name: Required value"]),
    ("svc-names-unique", "Service",
     setp("spec.ports", [{"port": 80, "name": "http"}, {"port": 81, "name": "http"}]),
     ['spec.ports[1].name: Duplicate value: "http"']),
    ("svc-type", "Service", setp("spec.type", "Magic"),
     ['spec.type: Unsupported value: "Magic": supported values: '
      '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"']),
    ("svc-cluster-ip", "Service", setp("spec.clusterIP", "10.0.0.300"),
     ['spec.clusterIPs[0]: Invalid value: "10.0.0.300": '
      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]),
    # --- ConfigMap, Secret
    ("cm-key", "ConfigMap", setp("data", {"a/b": "x"}),
     [f'data[a/b]: Invalid value: "a/b": {CONFIG_KEY_RULE}']),
    ("cm-key-dotdot", "ConfigMap", setp("data", {"..a": "x"}),
     ["data[..a]: Invalid value: \"..a\": must not start with '..'"]),
    ("cm-too-big", "ConfigMap", setp("data", {"a": "x" * (1024 * 1024 + 1)}),
     [": Too long: may not be more than 1048576 bytes"]),
    ("secret-key", "Secret", setp("data", {"a b": ""}),
     [f'data[a b]: Invalid value: "a b": {CONFIG_KEY_RULE}']),
    ("secret-tls-needs-keys", "Secret", setp("type", "kubernetes.io/tls"),
     ["data[tls.crt]: Required value", "data[tls.key]: Required value"]),
    # --- Node, Lease, Event
    ("node-taint-effect", "Node", setp("spec.taints.0.effect", ""),
     ["spec.taints[0].effect: Required value"]),
    ("lease-duration", "Lease", setp("spec.leaseDurationSeconds", 0),
     ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]),
    ("event-involved-missing", "Event", delp("involvedObject"),
     ["involvedObject: Required value"]),
    ("event-namespace-mismatch", "Event", setp("involvedObject.namespace", "other"),
     ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']),
    # --- storage
    ("pvc-access-modes", "PersistentVolumeClaim", setp("spec.accessModes", []),
     ["spec.accessModes: Required value: at least 1 access mode is required"]),
    ("pvc-storage", "PersistentVolumeClaim", setp("spec.resources", {}),
     ["spec.resources[storage]: Required value"]),
    ("pvc-storage-zero", "PersistentVolumeClaim",
     setp("spec.resources.requests.storage", "0"),
     ['spec.resources[storage]: Invalid value: "0": must be greater than zero']),
    ("pv-access-mode", "PersistentVolume", setp("spec.accessModes", ["ReadSometimes"]),
     ['spec.accessModes: Unsupported value: "ReadSometimes": supported values: '
      '"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"']),
    ("pv-no-source", "PersistentVolume", delp("spec.hostPath"),
     ["spec: Required value: must specify a volume type"]),
    ("sc-provisioner", "StorageClass", delp("provisioner"),
     ["provisioner: Required value"]),
    ("sc-reclaim", "StorageClass", setp("reclaimPolicy", "Recycle"),
     ['reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"']),
    # --- endpoints
    ("ep-no-addresses", "Endpoints", setp("subsets.0.addresses", []),
     ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]),
    ("ep-bad-ip", "Endpoints", setp("subsets.0.addresses.0.ip", "nope"),
     ['subsets[0].addresses[0].ip: Invalid value: "nope": '
      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]),
    ("eps-address-type", "EndpointSlice", setp("addressType", "IPv5"),
     ['addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']),
    ("eps-addresses", "EndpointSlice", setp("endpoints.0.addresses", []),
     ["endpoints[0].addresses: Required value: must contain at least 1 address"]),
]


@pytest.mark.parametrize(("kind", "mutate", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_one_broken_field_gives_kubernetes_errors(kind, mutate, expected):
    namespaced, valid = VALID[kind]
    obj = copy.deepcopy(valid)
    mutate(obj)
    assert [str(e) for e in validate(obj, namespaced=namespaced)] == expected


UPDATE_CASES: list[tuple[str, str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("meta-name", "ConfigMap", setp("metadata.name", "y"),
     ['metadata.name: Invalid value: "y": field is immutable']),
    ("meta-namespace", "Pod", setp("metadata.namespace", "other"),
     ['metadata.namespace: Invalid value: "other": field is immutable']),
    ("meta-labels-ok", "Pod", setp("metadata.labels", {"a": "b"}), []),
    ("pod-image-ok", "Pod", setp(f"{C0}.image", "nginx:1.26"), []),
    ("pod-status-ok", "Pod", setp("status", {"phase": "Running"}), []),
    ("pod-add-toleration-ok", "Pod",
     setp("spec.tolerations", [{"key": "k", "operator": "Exists"}]), []),
    ("pod-restart-policy", "Pod", setp("spec.restartPolicy", "Never"),
     ["spec: Forbidden: pod updates may not change fields other than "
      "`spec.containers[*].image`,`spec.initContainers[*].image`,"
      "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
      "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
      "it was previously negative)"]),
    ("pod-node-name", "Pod", setp("spec.nodeName", "n1"),
     ["spec: Forbidden: pod updates may not change fields other than "
      "`spec.containers[*].image`,`spec.initContainers[*].image`,"
      "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
      "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
      "it was previously negative)"]),
    ("svc-cluster-ip", "Service", setp("spec.clusterIP", "10.0.0.9"),
     ['spec.clusterIP: Invalid value: "10.0.0.9": field is immutable']),
    ("svc-cluster-ip-dropped", "Service", setp("spec.clusterIP", ""),
     ['spec.clusterIP: Invalid value: "": field is immutable']),
    ("svc-ports-ok", "Service", setp("spec.ports.0.port", 81), []),
    ("deploy-selector", "Deployment",
     lambda o: o["spec"].update(selector={"matchLabels": {"app": "web", "v": "2"}},
                                template=_template({"app": "web", "v": "2"})),
     ['spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: '
      "field is immutable"]),
    ("deploy-replicas-ok", "Deployment", setp("spec.replicas", 5), []),
    ("deploy-template-ok", "Deployment", setp(f"{TC0}.image", "nginx:2"), []),
    ("ds-selector", "DaemonSet",
     lambda o: o["spec"].update(selector={"matchLabels": {"app": "web", "v": "2"}},
                                template=_template({"app": "web", "v": "2"})),
     ['spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: '
      "field is immutable"]),
    ("sts-service-name", "StatefulSet", setp("spec.serviceName", "other"),
     ["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
      "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
      "and 'minReadySeconds' are forbidden"]),
    ("sts-replicas-ok", "StatefulSet", setp("spec.replicas", 3), []),
    ("job-template", "Job", setp(f"{TC0}.image", "busybox"),
     ['spec.template: Invalid value: {"metadata":{"labels":{"job-name":"x"}},'
      '"spec":{"containers":[{"image":"busybox","name":"app"}],"restartPolicy":"Never"}}: '
      "field is immutable"]),
    ("update-revalidates-new", "Pod", delp(f"{C0}.name"),
     ["spec: Forbidden: pod updates may not change fields other than "
      "`spec.containers[*].image`,`spec.initContainers[*].image`,"
      "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
      "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
      "it was previously negative)", "spec.containers[0].name: Required value"]),
]


@pytest.mark.parametrize(("kind", "mutate", "expected"), [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_updates_keep_immutable_fields(kind, mutate, expected):
    namespaced, valid = VALID[kind]
    old = copy.deepcopy(valid)
    if kind == "Service":
        old["spec"]["clusterIP"] = "10.0.0.5"
    new = copy.deepcopy(old)
    mutate(new)
    errors = validate_update(old, new, namespaced=namespaced)
    assert [str(e) for e in errors] == expected


@pytest.mark.parametrize(("schedule", "error"), [
    ("0 0 * * *", None),
    ("*/15 9-17 * jan-jun mon-fri", None),
    ("@hourly", None),
    ("", "empty spec string"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
], ids=["daily", "names-and-steps", "descriptor", "empty", "not-a-number",
        "below-minimum", "backwards", "zero-step", "hyphens"])
def test_cron_schedules_parse_as_robfig_cron_does(schedule, error):
    assert cron_error(schedule) == error
