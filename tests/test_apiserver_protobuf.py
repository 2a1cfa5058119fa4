"""Kubernetes protobuf request bodies (actors.apiserver.protobuf).

The heart of these tests is ``tests/testdata/protobuf``: bodies the real
kubectl 1.32 sent (``<name>.pb``) beside the JSON the same command prints
with ``--dry-run=client -o json`` (``<name>.json``), both made by kubectl's
own Go code from one object. Decoding each body must give exactly that JSON,
with no normalisation at all: kubectl's client-side JSON and the object on
the wire are the same Go struct, so where the decoder and encoding/json
disagree (a pointer, an omitempty, a zero struct) the test fails.

Two of the bodies are kubectl copying a CronJob's job template into a Job
(``create job --from=cronjob/...``) from a CronJob the capture server made
up: one with every field of every message reachable from a JobSpec set to a
distinct non-zero value ("kitchen sink"), one with every message present and
every scalar left out ("sparse", Go's zero values). Between them every field
the table has for PodTemplateSpec, PodSpec, Container, volumes, probes,
affinity and the rest is checked against Go. The kinds' other fields
(statuses, services' specs, reviews, evictions) are hand-encoded below.
README.md beside the data says how it was captured.
"""

from __future__ import annotations

import base64
import calendar
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from actors.apiserver import protobuf
from actors.apiserver.protobuf import (
    CONTENT_TYPE,
    KINDS,
    MAGIC,
    MESSAGES,
    ProtobufError,
    decode,
    is_protobuf,
)

DATA = Path(__file__).parent / "testdata" / "protobuf"
PAIRS = sorted(p.stem for p in DATA.glob("*.pb") if p.with_suffix(".json").exists())


def body_of(name: str) -> bytes:
    return (DATA / f"{name}.pb").read_bytes()


# --- a tiny protobuf writer, for the bodies kubectl cannot be made to send -----------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | 0x80 if n else low)
        if not n:
            return bytes(out)


def vi(number: int, value: int) -> bytes:
    """A varint field."""
    return varint(number << 3) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def entry(number: int, key: str, value: bytes | str | None) -> bytes:
    """One map entry."""
    return ld(number, ld(1, key) + (b"" if value is None else ld(2, value)))


def envelope(api_version: str, kind: str, raw: bytes, tail: bytes = ld(3, "") + ld(4, "")) -> bytes:
    # kubectl writes contentEncoding and contentType as empty strings after raw; so do we.
    return MAGIC + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw) + tail


T = calendar.timegm((2024, 5, 6, 7, 8, 9))
T_JSON = "2024-05-06T07:08:09Z"
ZERO_META = {"creationTimestamp": None}


# --- what kubectl sent ----------------------------------------------------------------------------

def test_the_captures_are_there():
    assert len(PAIRS) >= 25, PAIRS
    assert {"deployment_full", "namespace", "configmap_files", "secret_tls", "service_nodeport",
            "serviceaccount", "job", "cronjob", "job_from_cronjob_kitchen_sink", "job_from_cronjob_sparse"} <= set(PAIRS)


@pytest.mark.parametrize("name", PAIRS)
def test_a_kubectl_body_decodes_to_the_json_kubectl_prints_for_it(name):
    # No normalisation: kubectl's --dry-run=client -o json is encoding/json of the very struct
    # whose protobuf encoding was sent, status: {} and creationTimestamp: null included.
    want = json.loads((DATA / f"{name}.json").read_text())
    assert decode(body_of(name), CONTENT_TYPE) == want


def _reachable(message: str, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if message not in seen:
        seen.add(message)
        for _, type_, _ in MESSAGES[message].values():
            element = type_.removeprefix("[]").removeprefix("map[string]")
            if element in MESSAGES:
                _reachable(element, seen)
    return seen


def _fields_seen(message: str, value, seen: set[tuple[str, int]]) -> None:
    # Which (message, field) pairs carry something other than null in a decoded object.
    if not isinstance(value, dict) or message in ("meta.v1.Time", "resource.Quantity", "intstr.IntOrString",
                                                 "meta.v1.FieldsV1", "authorization.v1.ExtraValue"):
        return
    for number, (name, type_, presence) in MESSAGES[message].items():
        if presence == protobuf.INLINE:
            seen.add((message, number))
            _fields_seen(type_, value, seen)
            continue
        if value.get(name) is None:
            continue
        seen.add((message, number))
        element = type_.removeprefix("[]").removeprefix("map[string]")
        if element not in MESSAGES:
            continue
        items = value[name] if type_.startswith("[]") else \
            list(value[name].values()) if type_.startswith("map[") else [value[name]]
        for item in items:
            _fields_seen(element, item, seen)


def test_the_kitchen_sink_capture_sets_every_field_of_every_message_a_pod_template_reaches():
    # So the comparison above checked every number and JSON name of those messages against Go.
    job = decode(body_of("job_from_cronjob_kitchen_sink"))
    seen: set[tuple[str, int]] = set()
    _fields_seen("batch.v1.JobSpec", job["spec"], seen)
    reachable = _reachable("batch.v1.JobSpec")
    assert len(reachable) > 100
    missing = [(m, n, MESSAGES[m][n][0]) for m in sorted(reachable) for n in MESSAGES[m] if (m, n) not in seen
               and m not in ("meta.v1.Time", "resource.Quantity", "intstr.IntOrString", "meta.v1.FieldsV1")]
    assert missing == []


def test_the_sparse_capture_shows_gos_zero_values():
    spec = decode(body_of("job_from_cronjob_sparse"))["spec"]["template"]["spec"]
    container = spec["containers"][0]
    # a pointer without omitempty is null, a struct without a pointer is {}, an int-or-string 0
    assert container["livenessProbe"]["grpc"] == {"port": 0, "service": None}
    assert container["livenessProbe"]["httpGet"]["port"] == 0
    assert spec["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"]["dataSource"] == \
        {"apiGroup": None, "kind": "", "name": ""}
    assert spec["volumes"][0]["downwardAPI"]["items"][0]["resourceFieldRef"] == {"resource": "", "divisor": "0"}


def test_kubectl_sends_protobuf_only_in_the_envelope_and_the_kinds_it_names_are_decoded():
    for name in PAIRS:
        body = body_of(name)
        assert body.startswith(MAGIC)
        obj = decode(body)
        assert (obj["apiVersion"], obj["kind"]) in KINDS


def test_auth_can_i_create_pods():
    assert decode(body_of("ssar_create_pods")) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": ZERO_META,
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
        "status": {"allowed": False}}


def test_auth_can_i_with_a_subresource_as_someone_else():
    # --as travels as the Impersonate-User header, not in the review.
    assert decode(body_of("ssar_subresource_as"))["spec"] == {"resourceAttributes": {
        "namespace": "x", "verb": "get", "resource": "pods", "subresource": "log"}}


def test_auth_can_i_a_non_resource_url():
    assert decode(body_of("ssar_non_resource"))["spec"] == {
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}


def test_auth_can_i_a_named_object_in_all_namespaces():
    assert decode(body_of("ssar_named_all_namespaces"))["spec"] == {"resourceAttributes": {
        "verb": "delete", "group": "apps", "resource": "deployments", "name": "web"}}


def test_kubectl_debug_sends_a_pod():
    pod = decode(body_of("pod_debug_node"))
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    assert pod["metadata"]["name"].startswith("node-debugger-n1-")
    spec = pod["spec"]
    assert spec["nodeName"] == "n1" and spec["hostPID"] and spec["hostNetwork"] and spec["hostIPC"]
    assert spec["volumes"] == [{"name": "host-root", "hostPath": {"path": "/"}}]
    assert spec["containers"] == [{
        "name": "debugger", "image": "busybox", "resources": {},
        "volumeMounts": [{"name": "host-root", "mountPath": "/host"}], "terminationMessagePolicy": "File"}]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert pod["status"] == {}
    copy = decode(body_of("pod_debug_copy"))
    assert [c["name"] for c in copy["spec"]["containers"]] == ["web", "dbg"]


def test_secret_data_is_base64_as_in_json():
    secret = decode(body_of("secret_generic"))
    assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == {"pass": b"s3cr3t", "user": b"admin"}
    files = decode(body_of("configmap_files"))
    assert base64.b64decode(files["binaryData"]["blob"]) == b"\x00\x01\x02\xff\xfe binary"


# --- what kubectl does not send, hand-encoded -----------------------------------------------------

def test_an_empty_object_is_gos_zero_value():
    assert decode(envelope("apps/v1", "Deployment", b"")) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ZERO_META,
        "spec": {"selector": None, "template": {"metadata": ZERO_META, "spec": {"containers": None}},
                 "strategy": {}},
        "status": {}}


def test_deployment_status_and_strategy():
    condition = ld(1, "Available") + ld(2, "True") + ld(6, vi(1, T)) + ld(4, "MinimumReplicasAvailable") + ld(5, "ok")
    raw = (ld(1, ld(1, "web"))
           + ld(2, vi(1, 2) + ld(4, ld(1, "RollingUpdate") + ld(2, ld(1, vi(1, 1) + ld(3, "25%")) + ld(2, vi(2, 1)))))
           + ld(3, vi(1, 4) + vi(2, 3) + vi(3, 3) + vi(7, 2) + vi(4, 2) + vi(5, 1) + ld(6, condition) + vi(8, 0)))
    got = decode(envelope("apps/v1", "Deployment", raw))
    assert got["spec"]["replicas"] == 2
    assert got["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}
    assert got["status"] == {
        "observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
        "unavailableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": T_JSON, "lastTransitionTime": None,
                        "reason": "MinimumReplicasAvailable", "message": "ok"}],
        "collisionCount": 0}  # a pointer: present on the wire, so present in JSON even though zero


def test_job_and_cronjob_status():
    job_status = (ld(1, ld(1, "Complete") + ld(2, "True") + ld(3, vi(1, T)) + ld(4, vi(1, T)))
                  + ld(2, vi(1, T)) + ld(3, vi(1, T + 60)) + vi(4, 0) + vi(5, 3) + vi(6, 1) + vi(11, 0)
                  + ld(7, "0-2") + ld(10, "") + ld(8, ld(1, "uid-a") + ld(2, "uid-b")) + vi(9, 0))
    assert decode(envelope("batch/v1", "Job", ld(3, job_status)))["status"] == {
        "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": T_JSON, "lastTransitionTime": T_JSON}],
        "startTime": T_JSON, "completionTime": "2024-05-06T07:09:09Z", "succeeded": 3, "failed": 1,
        "terminating": 0, "completedIndexes": "0-2", "failedIndexes": "",
        "uncountedTerminatedPods": {"succeeded": ["uid-a"], "failed": ["uid-b"]}, "ready": 0}
    cron_status = ld(1, ld(1, "Job") + ld(2, "default") + ld(3, "nightly-1") + ld(4, "u1") + ld(5, "batch/v1")) \
        + ld(4, vi(1, T)) + ld(5, b"")
    assert decode(envelope("batch/v1", "CronJob", ld(3, cron_status)))["status"] == {
        "active": [{"kind": "Job", "namespace": "default", "name": "nightly-1", "uid": "u1", "apiVersion": "batch/v1"}],
        "lastScheduleTime": T_JSON, "lastSuccessfulTime": None}


def test_cronjob_spec_fields_kubectl_does_not_set():
    spec = (ld(1, "@daily") + ld(8, "Europe/Paris") + vi(2, 100) + ld(3, "Forbid") + vi(4, 1)
            + ld(5, ld(2, ld(6, b""))) + vi(6, 3) + vi(7, 1))
    assert decode(envelope("batch/v1", "CronJob", ld(2, spec)))["spec"] == {
        "schedule": "@daily", "timeZone": "Europe/Paris", "startingDeadlineSeconds": 100, "concurrencyPolicy": "Forbid",
        "suspend": True,
        "jobTemplate": {"metadata": ZERO_META,
                        "spec": {"template": {"metadata": ZERO_META, "spec": {"containers": None}}}},
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}


def test_service_spec_and_status():
    port = ld(1, "http") + ld(2, "TCP") + ld(6, "kubernetes.io/h2c") + vi(3, 80) + ld(4, vi(1, 1) + ld(3, "web")) \
        + vi(5, 30080)
    spec = (ld(1, port) + entry(2, "app", "web") + ld(3, "10.0.0.10") + ld(18, "10.0.0.10") + ld(4, "LoadBalancer")
            + ld(5, "192.0.2.1") + ld(7, "ClientIP") + ld(8, "192.0.2.2") + ld(9, "10.0.0.0/8") + ld(10, "")
            + ld(11, "Local") + vi(12, 31000) + vi(13, 1) + ld(14, ld(1, vi(1, 600))) + ld(19, "IPv4")
            + ld(17, "SingleStack") + vi(20, 0) + ld(21, "example.com/lb") + ld(22, "Cluster") + ld(23, "PreferClose"))
    status = ld(1, ld(1, ld(1, "192.0.2.3") + ld(2, "lb.example.com") + ld(3, "VIP")
                       + ld(4, vi(1, 80) + ld(2, "TCP") + ld(3, "pending")))) \
        + ld(2, ld(1, "Ready") + ld(2, "True") + vi(3, 2) + ld(4, vi(1, T)) + ld(5, "Ok") + ld(6, "fine"))
    got = decode(envelope("v1", "Service", ld(1, ld(1, "lb")) + ld(2, spec) + ld(3, status)))
    assert got["spec"] == {
        "ports": [{"name": "http", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c", "port": 80,
                   "targetPort": "web", "nodePort": 30080}],
        "selector": {"app": "web"}, "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"], "type": "LoadBalancer",
        "externalIPs": ["192.0.2.1"], "sessionAffinity": "ClientIP", "loadBalancerIP": "192.0.2.2",
        "loadBalancerSourceRanges": ["10.0.0.0/8"], "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 31000, "publishNotReadyAddresses": True,
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}, "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack", "allocateLoadBalancerNodePorts": False,
        "loadBalancerClass": "example.com/lb", "internalTrafficPolicy": "Cluster", "trafficDistribution": "PreferClose"}
    assert got["status"] == {
        "loadBalancer": {"ingress": [{"ip": "192.0.2.3", "hostname": "lb.example.com", "ipMode": "VIP",
                                      "ports": [{"port": 80, "protocol": "TCP", "error": "pending"}]}]},
        "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2, "lastTransitionTime": T_JSON,
                        "reason": "Ok", "message": "fine"}]}


def test_a_service_port_without_target_port_shows_zero_as_go_does():
    got = decode(envelope("v1", "Service", ld(2, ld(1, vi(3, 80)))))
    assert got["spec"]["ports"] == [{"port": 80, "targetPort": 0}]
    assert got["status"] == {"loadBalancer": {}}


def test_namespace_service_account_secret_and_configmap_fields_kubectl_does_not_set():
    ns = decode(envelope("v1", "Namespace", ld(2, ld(1, "kubernetes")) + ld(3, ld(1, "Terminating") + ld(2, (
        ld(1, "NamespaceDeletionContentFailure") + ld(2, "False") + ld(4, vi(1, T)) + ld(5, "Done") + ld(6, "ok"))))))
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Terminating", "conditions": [{
        "type": "NamespaceDeletionContentFailure", "status": "False", "lastTransitionTime": T_JSON, "reason": "Done",
        "message": "ok"}]}
    sa = decode(envelope("v1", "ServiceAccount", ld(2, ld(3, "tok") + ld(7, "")) + ld(3, ld(1, "reg")) + vi(4, 0)))
    assert sa == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": ZERO_META,
                  "secrets": [{"name": "tok"}], "imagePullSecrets": [{"name": "reg"}],
                  "automountServiceAccountToken": False}
    secret = decode(envelope("v1", "Secret", vi(5, 1) + entry(2, "k", b"\x00\xff") + entry(4, "s", "plain")
                             + ld(3, "Opaque")))
    assert secret == {"apiVersion": "v1", "kind": "Secret", "metadata": ZERO_META, "immutable": True,
                      "data": {"k": "AP8="}, "stringData": {"s": "plain"}, "type": "Opaque"}
    cm = decode(envelope("v1", "ConfigMap", vi(4, 1) + entry(2, "a", "1")))
    assert cm == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ZERO_META, "immutable": True,
                  "data": {"a": "1"}}


def test_pod_status():
    running = ld(2, ld(1, vi(1, T)))
    terminated = ld(3, vi(1, 137) + vi(2, 9) + ld(3, "OOMKilled") + ld(4, "oom") + ld(5, vi(1, T)) + ld(6, vi(1, T))
                    + ld(7, "containerd://1"))
    status = (ld(1, "Running") + ld(2, ld(1, "Ready") + ld(2, "True")) + ld(11, "n2") + ld(5, "192.0.2.1")
              + ld(16, ld(1, "192.0.2.1")) + ld(6, "10.1.0.5") + ld(12, ld(1, "10.1.0.5")) + ld(7, vi(1, T))
              + ld(8, ld(1, "web") + ld(2, running) + ld(3, terminated) + vi(4, 1) + vi(5, 2) + ld(6, "nginx")
                   + ld(7, "sha256:x") + ld(8, "containerd://2") + vi(9, 1) + entry(10, "cpu", ld(1, "250m"))
                   + ld(12, ld(1, "data") + ld(2, "/data") + vi(3, 1))
                   + ld(13, ld(1, vi(1, 1000) + vi(2, 1000) + ld(3, b"\xe8\x07")))
                   + ld(14, ld(1, "claim:gpu") + ld(2, ld(1, "dev-0") + ld(2, "Healthy"))))
              + ld(9, "Burstable") + ld(15, ld(1, "gpu") + ld(2, "gpu-claim-1")))
    got = decode(envelope("v1", "Pod", ld(3, status)))["status"]
    assert got == {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None,
                                            "lastTransitionTime": None}],
        "nominatedNodeName": "n2", "hostIP": "192.0.2.1", "hostIPs": [{"ip": "192.0.2.1"}], "podIP": "10.1.0.5",
        "podIPs": [{"ip": "10.1.0.5"}], "startTime": T_JSON,
        "containerStatuses": [{
            "name": "web", "state": {"running": {"startedAt": T_JSON}},
            "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "OOMKilled", "message": "oom",
                                         "startedAt": T_JSON, "finishedAt": T_JSON,
                                         "containerID": "containerd://1"}},
            "ready": True, "restartCount": 2, "image": "nginx", "imageID": "sha256:x",
            "containerID": "containerd://2", "started": True, "allocatedResources": {"cpu": "250m"},
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
            # supplementalGroups is a packed repeated int64 here
            "user": {"linux": {"uid": 1000, "gid": 1000, "supplementalGroups": [1000]}},
            "allocatedResourcesStatus": [{"name": "claim:gpu", "resources": [{"resourceID": "dev-0",
                                                                              "health": "Healthy"}]}]}],
        "qosClass": "Burstable",
        "resourceClaimStatuses": [{"name": "gpu", "resourceClaimName": "gpu-claim-1"}]}


def test_subject_access_review_with_selectors_groups_and_extra():
    attributes = (ld(1, "ns") + ld(2, "list") + ld(3, "apps") + ld(4, "v1") + ld(5, "deployments") + ld(6, "scale")
                  + ld(7, "web") + ld(8, ld(1, "a=b") + ld(2, ld(1, "a") + ld(2, "In") + ld(3, "b")))
                  + ld(9, ld(1, "x=y")))
    spec = (ld(1, attributes) + ld(3, "alice") + ld(4, "devs") + ld(4, "ops")
            + entry(5, "scopes", ld(1, "s1") + ld(1, "s2")) + entry(5, "none", b"") + ld(6, "uid-1"))
    got = decode(envelope("authorization.k8s.io/v1", "SubjectAccessReview",
                          ld(2, spec) + ld(3, vi(1, 0) + vi(4, 1) + ld(2, "no") + ld(3, "boom"))))
    assert got["spec"] == {
        "resourceAttributes": {"namespace": "ns", "verb": "list", "group": "apps", "version": "v1",
                               "resource": "deployments", "subresource": "scale", "name": "web",
                               "fieldSelector": {"rawSelector": "a=b",
                                                 "requirements": [{"key": "a", "operator": "In", "values": ["b"]}]},
                               "labelSelector": {"rawSelector": "x=y"}},
        "user": "alice", "groups": ["devs", "ops"], "extra": {"none": [], "scopes": ["s1", "s2"]}, "uid": "uid-1"}
    assert got["status"] == {"allowed": False, "denied": True, "reason": "no", "evaluationError": "boom"}


def test_an_eviction_decodes_to_what_kubectl_drain_sends_as_json():
    # kubectl drain itself sends its evictions as JSON; this is that very body (from --dry-run=server),
    # and the same object in protobuf must decode to it.
    drain_json = {"kind": "Eviction", "apiVersion": "policy/v1",
                  "metadata": {"name": "p2", "namespace": "default", "creationTimestamp": None},
                  "deleteOptions": {"dryRun": ["All"]}}
    body = envelope("policy/v1", "Eviction", ld(1, ld(1, "p2") + ld(3, "default")) + ld(2, ld(5, "All")))
    assert decode(body) == drain_json
    full = ld(2, vi(1, 30) + ld(2, ld(1, "u-p2") + ld(2, "42")) + vi(3, 0) + ld(4, "Foreground") + vi(6, 1))
    assert decode(envelope("policy/v1", "Eviction", full))["deleteOptions"] == {
        "gracePeriodSeconds": 30, "preconditions": {"uid": "u-p2", "resourceVersion": "42"}, "orphanDependents": False,
        "propagationPolicy": "Foreground", "ignoreStoreReadErrorWithClusterBreakingPotential": True}


# --- the wire format's corners ----------------------------------------------------------------------

def test_negative_and_overlong_integers_read_as_go_reads_them():
    # A negative int32 is sign-extended to ten bytes; bits past 32 are dropped as gogo-protobuf drops them.
    assert decode(envelope("apps/v1", "Deployment", ld(2, vi(1, -1))))["spec"]["replicas"] == -1
    assert decode(envelope("apps/v1", "Deployment", ld(2, vi(1, (1 << 32) + 5))))["spec"]["replicas"] == 5
    pod = decode(envelope("v1", "Pod", ld(2, vi(4, -30))))
    assert pod["spec"]["terminationGracePeriodSeconds"] == -30


def _exit_codes_job(values: bytes) -> bytes:
    rule = ld(1, "FailJob") + ld(2, ld(2, "In") + values)
    return envelope("batch/v1", "Job", ld(2, ld(11, ld(1, rule))))


def test_repeated_integers_packed_or_not():
    packed = _exit_codes_job(ld(3, varint(1) + varint(2) + varint(42)))
    unpacked = _exit_codes_job(vi(3, 1) + vi(3, 2) + vi(3, 42))
    want = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 2, 42]}}]}
    assert decode(packed)["spec"]["podFailurePolicy"] == want
    assert decode(unpacked)["spec"]["podFailurePolicy"] == want
    # a list without omitempty is null when empty
    assert decode(_exit_codes_job(b""))["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] is None


def test_a_message_sent_twice_is_merged_and_a_scalar_sent_twice_is_the_last():
    raw = ld(1, ld(1, "first") + entry(11, "a", "1")) + ld(1, ld(1, "second") + entry(11, "b", "2") + entry(11, "a", "3"))
    meta = decode(envelope("v1", "ConfigMap", raw))["metadata"]
    assert meta == {"name": "second", "creationTimestamp": None, "labels": {"a": "3", "b": "2"}}


def test_map_entries_without_key_or_value_are_zero():
    assert decode(envelope("v1", "ConfigMap", entry(2, "k", None) + ld(2, ld(2, "v"))))["data"] == {"": "v", "k": ""}
    assert decode(envelope("v1", "Secret", entry(2, "k", None)))["data"] == {"k": ""}


@pytest.mark.parametrize("time_message,want", [
    (b"", None),                                       # the zero time is an empty message
    (vi(1, T), T_JSON),
    (vi(1, T) + vi(2, 999_999_999), T_JSON),           # Kubernetes keeps seconds only
    (vi(1, 0), "1970-01-01T00:00:00Z"),
    (vi(1, -62135596800), None),                       # Go's time.Time{}
    (vi(1, -62135596800 + 86400 * 400), "0002-02-05T00:00:00Z"),
])
def test_times(time_message, want):
    meta = decode(envelope("v1", "ConfigMap", ld(1, ld(8, time_message) + ld(9, time_message))))["metadata"]
    assert meta == {"creationTimestamp": want, "deletionTimestamp": want}


def test_int_or_string_and_fields_v1():
    # Container.readinessProbe (11) -> Probe's inlined ProbeHandler (1) -> httpGet (2) -> port (2)
    container = ld(1, "c") + ld(11, ld(1, ld(2, ld(2, vi(1, 0) + vi(2, 8080)))))
    containers = decode(envelope("v1", "Pod", ld(2, ld(2, container))))["spec"]["containers"]
    assert containers[0]["readinessProbe"] == {"httpGet": {"port": 8080}}
    managed = ld(17, ld(1, "kubectl") + ld(2, "Update") + ld(3, "v1") + ld(4, vi(1, T)) + ld(6, "FieldsV1")
                 + ld(7, ld(1, b'{"f:data":{"f:a":{}}}')) + ld(8, "status"))
    assert decode(envelope("v1", "ConfigMap", ld(1, managed)))["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": T_JSON, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:a": {}}}, "subresource": "status"}]


# --- refusals ----------------------------------------------------------------------------------------

def test_a_field_number_the_table_does_not_know_is_refused_naming_message_number_and_place():
    pod_spec = ld(2, ld(1, "c")) + vi(42, 1)
    raw = ld(2, ld(3, ld(2, pod_spec)))  # DeploymentSpec.template.spec
    body = envelope("apps/v1", "Deployment", raw)
    with pytest.raises(ProtobufError) as caught:
        decode(body)
    err = caught.value
    assert "io.k8s.api.core.v1.PodSpec field 42" in str(err)
    assert "spec.template.spec" in str(err)
    assert "send the object as JSON" in str(err)
    assert err.unsupported and isinstance(err, ValueError)
    assert body[err.offset:err.offset + 2] == varint(42 << 3)


def test_an_unknown_field_at_the_top_and_in_the_envelope():
    with pytest.raises(ProtobufError, match=r"io\.k8s\.api\.core\.v1\.ConfigMap field 9 "):
        decode(envelope("v1", "ConfigMap", ld(9, "x")))
    with pytest.raises(ProtobufError, match=r"io\.k8s\.apimachinery\.pkg\.runtime\.Unknown field 7 "):
        decode(envelope("v1", "ConfigMap", b"", tail=vi(7, 1)))


def test_a_kind_the_table_does_not_know_is_refused_by_name():
    with pytest.raises(ProtobufError, match=r"StatefulSet \(apps/v1\)") as caught:
        decode(envelope("apps/v1", "StatefulSet", b""))
    assert caught.value.unsupported
    assert "Deployment (apps/v1)" in str(caught.value)  # it says what it does decode
    with pytest.raises(ProtobufError, match=r"\(no kind\)"):
        decode(MAGIC)


@pytest.mark.parametrize("body", [b'{"kind":"Namespace"}', b"k8s\x01" + envelope("v1", "Namespace", b"")[4:],
                                  b"", b"k8s"])
def test_the_wrong_magic_is_refused(body):
    with pytest.raises(ProtobufError, match="starts with") as caught:
        decode(body)
    assert caught.value.offset == 0 and not caught.value.unsupported


def test_a_truncated_body_is_refused_wherever_it_is_cut():
    full = body_of("deployment_full")
    whole = decode(full)
    type_meta_end = len(MAGIC) + 2 + full[5]
    # kubectl ends the envelope with empty contentEncoding and contentType (4 bytes), after raw
    assert full.endswith(ld(3, "") + ld(4, ""))
    for cut in range(len(full)):
        if cut == type_meta_end:
            continue  # no raw at all: a valid envelope of an empty object
        if cut < len(full) - 4:
            with pytest.raises(ProtobufError):
                decode(full[:cut])
        else:
            try:
                assert decode(full[:cut]) == whole
            except ProtobufError as err:
                assert "truncated" in str(err)


def test_malformed_wire_data_says_what_and_where():
    cases = [
        # a string sent as a varint
        (envelope("v1", "ConfigMap", ld(1, vi(1, 5))), r"ObjectMeta field 1 \(name\) has wire type varint"),
        # an int32 sent as a string
        (envelope("apps/v1", "Deployment", ld(2, ld(1, "three"))), r"DeploymentSpec field 1 .* expected varint"),
        # a length past the end
        (envelope("v1", "ConfigMap", varint(1 << 3 | 2) + varint(50) + b"short"), r"says 50 bytes at byte \d+ but only 5"),
        # a varint that never ends
        (envelope("v1", "ConfigMap", ld(1, vi(7, 0)[:1] + b"\xff" * 11)), r"varint longer than 10 bytes"),
        (envelope("v1", "ConfigMap", ld(1, vi(7, 0)[:1] + b"\xff\xff")), r"truncated varint"),
        (envelope("v1", "ConfigMap", varint(0) + varint(1)), r"invalid field number 0"),
        (envelope("v1", "ConfigMap", varint(1 << 3 | 3)), r"wire type start-group"),
        (envelope("v1", "ConfigMap", ld(2, ld(1, "k") + vi(3, 1))),
         r"map entry of io\.k8s\.api\.core\.v1\.ConfigMap field 2 \(data\) has field 3"),
        (envelope("v1", "Service", ld(2, ld(1, ld(4, vi(1, 2))))), r"IntOrString type 2"),
        (envelope("v1", "ConfigMap", ld(1, ld(17, ld(7, ld(1, b"{not json"))))), r"FieldsV1 is not JSON"),
    ]
    for body, pattern in cases:
        with pytest.raises(ProtobufError, match=pattern) as caught:
            decode(body)
        assert not caught.value.unsupported or "has field 3" in pattern, pattern
        if caught.value.offset is not None:
            assert 0 <= caught.value.offset <= len(body)


def test_encoded_or_foreign_envelopes_are_refused():
    with pytest.raises(ProtobufError, match="gzip"):
        decode(envelope("v1", "ConfigMap", b"", tail=ld(3, "gzip")))
    with pytest.raises(ProtobufError, match="application/json"):
        decode(envelope("v1", "ConfigMap", b"", tail=ld(4, "application/json")))
    assert decode(envelope("v1", "ConfigMap", b"", tail=ld(4, CONTENT_TYPE)))["kind"] == "ConfigMap"
    with pytest.raises(ProtobufError, match="is not application/vnd.kubernetes.protobuf"):
        decode(envelope("v1", "ConfigMap", b""), "application/json")


@pytest.mark.parametrize("header,want", [
    ("application/vnd.kubernetes.protobuf", True),
    ("Application/VND.Kubernetes.Protobuf; charset=binary", True),
    (" application/vnd.kubernetes.protobuf ", True),
    ("application/vnd.kubernetes.protobuf;stream=watch", True),
    ("application/json", False),
    ("application/vnd.kubernetes.protobuf+json", False),
    ("", False),
    (None, False),
])
def test_is_protobuf(header, want):
    assert is_protobuf(header) is want


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hs.sampled_from(PAIRS), data=hs.data())
def test_a_damaged_body_decodes_or_raises_protobuf_error_never_anything_else(name, data):
    body = bytearray(body_of(name))
    for _ in range(data.draw(hs.integers(1, 4))):
        at = data.draw(hs.integers(0, len(body) - 1))
        body[at] = data.draw(hs.integers(0, 255))
    try:
        out = decode(bytes(body))
    except ProtobufError as err:
        assert str(err)
    else:
        json.dumps(out)  # whatever it decodes to is JSON-able


def test_every_kind_and_every_message_type_is_in_the_table():
    for message in KINDS.values():
        assert message in MESSAGES
    for message, fields in MESSAGES.items():
        for number, (name, type_, presence) in fields.items():
            element = type_.removeprefix("[]").removeprefix("map[string]")
            assert element in MESSAGES or element in ("string", "int32", "int64", "bool", "bytes"), (message, number)
