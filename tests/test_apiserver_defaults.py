"""Kubernetes' defaults (actors.apiserver.defaults).

Each case gives a minimal object and the fields defaulting must add, compared
as whole sub-objects where the shape matters. Then, over every case: given
values are never replaced, the input is never mutated, and defaulting twice
gives what defaulting once gives. imagePullPolicy is tested by tag and digest.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.defaults import apply_defaults, image_pull_policy

TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]

CONTAINER = {"name": "c", "image": "nginx:1.25"}
DEFAULTED_CONTAINER = {
    "name": "c",
    "image": "nginx:1.25",
    "imagePullPolicy": "IfNotPresent",
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
TEMPLATE_SPEC = {
    "containers": [DEFAULTED_CONTAINER],
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}
POD_SPEC = {
    **TEMPLATE_SPEC,
    "enableServiceLinks": True,
    "serviceAccountName": "default",
    "serviceAccount": "default",
    "priority": 0,
    "preemptionPolicy": "PreemptLowerPriority",
    "tolerations": TOLERATIONS,
}


def template() -> dict:
    return {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [dict(CONTAINER)]}}


def obj(api_version: str, kind: str, **fields) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "default"}, **fields}


def get(o: dict, path: str):
    for part in path.split("."):
        o = o[int(part)] if isinstance(o, list) else o[part]
    return o


# name, object, {dotted path: expected value after defaulting}
CASES = [
    ("pod", obj("v1", "Pod", spec={"containers": [dict(CONTAINER)]}), {"spec": POD_SPEC}),
    ("pod keeps its tolerations and adds the missing one",
     obj("v1", "Pod", spec={"containers": [dict(CONTAINER)], "tolerations": [
         {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
          "tolerationSeconds": 5}]}),
     {"spec.tolerations": [
         {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
          "tolerationSeconds": 5},
         TOLERATIONS[0]]}),
    ("pod tolerating everything gets none added",
     obj("v1", "Pod", spec={"containers": [dict(CONTAINER)], "tolerations": [{"operator": "Exists"}]}),
     {"spec.tolerations": [{"operator": "Exists"}]}),
    ("pod NoSchedule toleration does not cover NoExecute",
     obj("v1", "Pod", spec={"containers": [dict(CONTAINER)], "tolerations": [
         {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}]}),
     {"spec.tolerations": [
         {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}, *TOLERATIONS]}),
    ("pod ports, probes, env, volumes",
     obj("v1", "Pod", spec={
         "containers": [{
             "name": "c", "image": "nginx",
             "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
             "livenessProbe": {"httpGet": {"port": 80}},
             "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 3},
             "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "resources": {"limits": {"cpu": "1"}},
         }],
         "initContainers": [{"name": "i", "image": "busybox:latest"}],
         "volumes": [{"name": "e"}, {"name": "s", "secret": {"secretName": "s"}},
                     {"name": "h", "hostPath": {"path": "/tmp"}}],
     }),
     {"spec.containers.0.imagePullPolicy": "Always",
      "spec.containers.0.ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
      "spec.containers.0.livenessProbe": {
          "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
          "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
      "spec.containers.0.readinessProbe.periodSeconds": 3,
      "spec.containers.0.env.0.valueFrom.fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"},
      "spec.containers.0.resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
      "spec.initContainers.0.imagePullPolicy": "Always",
      "spec.initContainers.0.terminationMessagePolicy": "File",
      "spec.volumes": [{"name": "e", "emptyDir": {}},
                       {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}},
                       {"name": "h", "hostPath": {"path": "/tmp", "type": ""}}]}),
    ("pod on the host network gets host ports",
     obj("v1", "Pod", spec={"hostNetwork": True, "containers": [{"name": "c", "image": "i", "ports": [
         {"containerPort": 80}]}]}),
     {"spec.containers.0.ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": 80}]}),
    ("pod deprecated serviceAccount carries over",
     obj("v1", "Pod", spec={"containers": [dict(CONTAINER)], "serviceAccount": "robot"}),
     {"spec.serviceAccountName": "robot", "spec.serviceAccount": "robot"}),
    ("deployment",
     obj("apps/v1", "Deployment", spec={"selector": {"matchLabels": {"app": "a"}}, "template": template()}),
     {"spec": {
         "selector": {"matchLabels": {"app": "a"}},
         "template": {"metadata": {"labels": {"app": "a"}}, "spec": TEMPLATE_SPEC},
         "replicas": 1,
         "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
         "revisionHistoryLimit": 10,
         "progressDeadlineSeconds": 600}}),
    ("deployment recreate gets no rollingUpdate",
     obj("apps/v1", "Deployment", spec={"strategy": {"type": "Recreate"}}),
     {"spec.strategy": {"type": "Recreate"}}),
    ("replicaset", obj("apps/v1", "ReplicaSet", spec={"template": template()}),
     {"spec.replicas": 1, "spec.template.spec": TEMPLATE_SPEC}),
    ("daemonset", obj("apps/v1", "DaemonSet", spec={"template": template()}),
     {"spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
      "spec.revisionHistoryLimit": 10, "spec.template.spec": TEMPLATE_SPEC}),
    ("statefulset",
     obj("apps/v1", "StatefulSet", spec={"template": template(), "volumeClaimTemplates": [
         {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}),
     {"spec.replicas": 1, "spec.podManagementPolicy": "OrderedReady",
      "spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
      "spec.revisionHistoryLimit": 10,
      "spec.persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
      "spec.volumeClaimTemplates.0": {
          "metadata": {"name": "data"},
          "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"},
          "status": {"phase": "Pending"}},
      "spec.template.spec": TEMPLATE_SPEC}),
    ("statefulset explicit RollingUpdate keeps no rollingUpdate",
     obj("apps/v1", "StatefulSet", spec={"updateStrategy": {"type": "RollingUpdate"}}),
     {"spec.updateStrategy": {"type": "RollingUpdate"}}),
    ("job", obj("batch/v1", "Job", spec={"template": template()}),
     {"spec.parallelism": 1, "spec.completions": 1, "spec.backoffLimit": 6, "spec.completionMode": "NonIndexed",
      "spec.suspend": False, "spec.podReplacementPolicy": "TerminatingOrFailed",
      "metadata.labels": {"app": "a"},
      # Defaulted like any pod template's; validation then rejects Always.
      "spec.template.spec.restartPolicy": "Always"}),
    ("job work queue: parallelism without completions",
     obj("batch/v1", "Job", spec={"parallelism": 3, "template": template()}),
     {"spec.parallelism": 3, "spec.completions": None}),
    ("job completions without parallelism",
     obj("batch/v1", "Job", spec={"completions": 5}),
     {"spec.parallelism": 1, "spec.completions": 5}),
    ("job keeps its restartPolicy",
     obj("batch/v1", "Job", spec={"template": {"spec": {"restartPolicy": "Never", "containers": [dict(CONTAINER)]}}}),
     {"spec.template.spec.restartPolicy": "Never"}),
    ("cronjob",
     obj("batch/v1", "CronJob", spec={"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template()}}}),
     {"spec.concurrencyPolicy": "Allow", "spec.suspend": False, "spec.successfulJobsHistoryLimit": 3,
      "spec.failedJobsHistoryLimit": 1, "spec.jobTemplate.spec.template.spec": TEMPLATE_SPEC,
      "spec.jobTemplate.spec.backoffLimit": None}),
    ("service",
     obj("v1", "Service", spec={"selector": {"app": "a"}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP",
                                                                                   "targetPort": "dns"}]}),
     {"spec": {"selector": {"app": "a"},
               "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                         {"port": 53, "protocol": "UDP", "targetPort": "dns"}],
               "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
               "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}}),
    ("service nodeport", obj("v1", "Service", spec={"type": "NodePort", "ports": [{"port": 80}]}),
     {"spec.externalTrafficPolicy": "Cluster", "spec.internalTrafficPolicy": "Cluster"}),
    ("service loadbalancer", obj("v1", "Service", spec={"type": "LoadBalancer"}),
     {"spec.externalTrafficPolicy": "Cluster", "spec.allocateLoadBalancerNodePorts": True}),
    ("service clusterip has no externalTrafficPolicy", obj("v1", "Service", spec={}),
     {"spec.externalTrafficPolicy": None}),
    ("service clientIP affinity", obj("v1", "Service", spec={"sessionAffinity": "ClientIP"}),
     {"spec.sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}),
    ("service headless without selector", obj("v1", "Service", spec={"clusterIP": "None"}),
     {"spec.ipFamilyPolicy": "RequireDualStack", "spec.ipFamilies": ["IPv4", "IPv6"]}),
    ("service externalname",
     obj("v1", "Service", spec={"type": "ExternalName", "externalName": "example.com"}),
     {"spec.internalTrafficPolicy": None, "spec.ipFamilyPolicy": None, "spec.sessionAffinity": "None"}),
    ("secret", obj("v1", "Secret", data={}), {"type": "Opaque"}),
    ("pvc", obj("v1", "PersistentVolumeClaim", spec={}),
     {"spec.volumeMode": "Filesystem", "status.phase": "Pending"}),
    ("pv", obj("v1", "PersistentVolume", spec={"hostPath": {"path": "/d"}}),
     {"spec.persistentVolumeReclaimPolicy": "Retain", "spec.volumeMode": "Filesystem",
      "spec.hostPath.type": "", "status.phase": "Pending"}),
    ("storageclass", obj("storage.k8s.io/v1", "StorageClass", provisioner="p"),
     {"reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
    ("namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}},
     {"metadata.labels": {"kubernetes.io/metadata.name": "prod"}, "spec.finalizers": ["kubernetes"],
      "status.phase": "Active"}),
    ("node allocatable from capacity",
     {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}},
     {"status.allocatable": {"cpu": "4"}}),
    ("endpoints", obj("v1", "Endpoints", subsets=[{"ports": [{"port": 80}]}]),
     {"subsets.0.ports.0": {"port": 80, "protocol": "TCP"}}),
    ("endpointslice", obj("discovery.k8s.io/v1", "EndpointSlice", addressType="IPv4", ports=[{"port": 80}]),
     {"ports.0": {"port": 80, "name": "", "protocol": "TCP"}}),
]


def _lookup(o: dict, path: str):
    try:
        return get(o, path)
    except (KeyError, IndexError):
        return None


@pytest.mark.parametrize(("name", "given", "expected"), CASES, ids=[c[0] for c in CASES])
def test_defaults(name, given, expected):
    got = apply_defaults(given)
    for path, value in expected.items():
        assert _lookup(got, path) == value, path


@pytest.mark.parametrize(("name", "given", "expected"), CASES, ids=[c[0] for c in CASES])
def test_input_not_mutated_and_idempotent(name, given, expected):
    before = copy.deepcopy(given)
    once = apply_defaults(given)
    assert given == before
    assert apply_defaults(once) == once
    assert once is not given


def _leaves(o, prefix=()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _leaves(v, (*prefix, i))
    else:
        yield prefix, o


@pytest.mark.parametrize(("name", "given", "expected"), CASES, ids=[c[0] for c in CASES])
def test_given_values_are_kept(name, given, expected):
    got = apply_defaults(given)
    for path, value in _leaves(given):
        where = got
        for part in path:
            where = where[part]
        assert where == value, path


GIVEN_CASES = [
    ("pod spec", obj("v1", "Pod", spec={
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "dnsPolicy": "Default",
        "schedulerName": "mine", "enableServiceLinks": False, "serviceAccountName": "robot", "priority": 7,
        "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Never"}]}),
     {"spec.restartPolicy": "Never", "spec.terminationGracePeriodSeconds": 0, "spec.dnsPolicy": "Default",
      "spec.schedulerName": "mine", "spec.enableServiceLinks": False, "spec.serviceAccountName": "robot",
      "spec.priority": 7, "spec.containers.0.imagePullPolicy": "Never"}),
    ("deployment zeros", obj("apps/v1", "Deployment", spec={
        "replicas": 0, "revisionHistoryLimit": 0, "strategy": {"rollingUpdate": {"maxSurge": 0}}}),
     {"spec.replicas": 0, "spec.revisionHistoryLimit": 0,
      "spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"}}),
    ("service", obj("v1", "Service", spec={"type": "NodePort", "externalTrafficPolicy": "Local",
                                            "ipFamilyPolicy": "PreferDualStack"}),
     {"spec.externalTrafficPolicy": "Local", "spec.ipFamilies": ["IPv4"]}),
    ("namespace finalizers are appended to",
     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "spec": {"finalizers": ["x"]}},
     {"spec.finalizers": ["x", "kubernetes"]}),
    ("null counts as absent", obj("apps/v1", "ReplicaSet", spec={"replicas": None}), {"spec.replicas": 1}),
]


@pytest.mark.parametrize(("name", "given", "expected"), GIVEN_CASES, ids=[c[0] for c in GIVEN_CASES])
def test_given_values_win(name, given, expected):
    got = apply_defaults(given)
    for path, value in expected.items():
        assert _lookup(got, path) == value, path
    assert apply_defaults(got) == got


def test_templates_get_no_pod_only_or_admission_defaults():
    got = apply_defaults(obj("apps/v1", "Deployment", spec={"template": template()}))
    spec = got["spec"]["template"]["spec"]
    for field in ("enableServiceLinks", "serviceAccountName", "priority", "tolerations"):
        assert field not in spec


def test_admission_can_be_left_out():
    got = apply_defaults(obj("v1", "Pod", spec={"containers": [dict(CONTAINER)]}), admission=False)
    assert got["spec"]["enableServiceLinks"] is True
    for field in ("serviceAccountName", "priority", "tolerations"):
        assert field not in got["spec"]


@pytest.mark.parametrize(
    "given",
    [
        {"apiVersion": "v1", "kind": "Widget", "spec": {}},
        {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "spec": {}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Pod", "spec": ["not", "a", "dict"]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": "x", "template": 3}},
        {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "x", "tolerations": "y"}},
        "not an object",
    ],
    ids=["unknown kind", "wrong version", "configmap", "pod spec a list", "malformed deployment",
         "malformed pod fields", "string"],
)
def test_unknown_or_malformed_objects_come_back_unchanged_where_malformed(given):
    before = copy.deepcopy(given)
    got = apply_defaults(given)
    assert given == before
    if isinstance(given, dict) and given["kind"] != "Pod" and given["kind"] != "Deployment":
        assert got == given
    assert apply_defaults(got) == got


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("repo:5000/img", "Always"),
        ("repo:5000/img:v1", "IfNotPresent"),
        ("registry.k8s.io/pause:3.9", "IfNotPresent"),
        ("library/nginx", "Always"),
        ("img@sha256:" + "a" * 64, "IfNotPresent"),
        ("img:latest@sha256:" + "a" * 64, "Always"),
        ("img:1.0@sha256:" + "a" * 64, "IfNotPresent"),
        ("localhost/img", "Always"),
        ("", "IfNotPresent"),
        ("Nginx", "IfNotPresent"),  # does not parse: Kubernetes ignores the error
        ("nginx:", "IfNotPresent"),
        (None, "IfNotPresent"),
    ],
)
def test_image_pull_policy_by_tag(image, policy):
    assert image_pull_policy(image) == policy
    pod = apply_defaults(obj("v1", "Pod", spec={"containers": [{"name": "c", "image": image}]}))
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy
