"""The registry strategies (actors.apiserver.objects) do what Kubernetes' do.

Tables, one per function: ``prepare_create`` (identity stamped, generateName,
server-owned metadata dropped, generation, status reset per kind, defaults,
422 / 400 refusals), ``prepare_update`` (status kept out of a spec write and
spec out of a status write, generation bumps, immutable fields, finalizers on
an object being deleted), ``delete_now``, ``DeleteOptions.parse``,
``prepare_delete`` (finalizers, propagation, a pod's grace period, deleting
again, namespaces, preconditions), ``qos_class``, ``bind``, ``scale_of`` /
``apply_scale`` and ``list_object``.

The expected values are Kubernetes' (``k8s.io/apiserver/pkg/registry/rest``
BeforeCreate / BeforeUpdate / BeforeDelete, ``generic/registry/store.go``,
``pkg/registry/<group>/<kind>/strategy.go``), messages included. Everything is
pure: a fixed clock, uid and name suffix, and every function must leave its
inputs untouched.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actors.apiserver import objects as ob
from actors.apiserver.kinds import KINDS
from actors.apiserver.objects import DeleteOptions
from actors.apiserver.status import ApiError

NOW = 1_700_000_000.0
NOW_TEXT = "2023-11-14T22:13:20Z"
UID = "uid-1"
SUFFIX = "x7k2q"


def at(seconds: float) -> str:
    """The RFC 3339 time ``seconds`` after NOW."""
    return ob.rfc3339(NOW + seconds)


# ----------------------------------------------------------------------------- builders


def pod(name: str = "p", **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def deployment(name: str = "d", app: str = "web", **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                     **spec}}


def workload(kind: str, name: str = "w") -> dict:
    """A minimal valid object of an apps/batch kind."""
    template = {"metadata": {"labels": {"app": "w"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    selector = {"matchLabels": {"app": "w"}}
    if kind == "Deployment":
        return deployment(name, "w")
    if kind in ("ReplicaSet", "DaemonSet"):
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"selector": selector, "template": template}}
    if kind == "StatefulSet":
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"selector": selector, "serviceName": "w", "template": template}}
    job_template = {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"template": job_template}}
    assert kind == "CronJob"
    return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": job_template}}}}


def config_map(name: str = "cm", **meta: Any) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"k": "v"}}


def service(name: str = "s", cluster_ip: str = "10.96.0.10") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": cluster_ip, "ports": [{"port": 80}]}}


def node(name: str = "n1") -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "phase": "Running"}}


def namespace(name: str = "team") -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def create(body: dict, namespace_: str = "default", *, now: float = NOW) -> dict:
    """``prepare_create`` of ``body`` by the kind it names, with the fixed uid and suffix."""
    kind = KINDS[body["kind"]]
    return ob.prepare_create(kind, body, namespace=namespace_ if kind.namespaced else "", now=now,
                             uid=UID, suffix=SUFFIX)


def stored(body: dict, rv: str = "5", status: dict | None = None) -> dict:
    """``body`` as the store would hold it after a create: stamped, defaulted, with a resourceVersion."""
    obj = create(body)
    obj["metadata"]["resourceVersion"] = rv
    if status:
        obj.setdefault("status", {}).update(status)
    return obj


def update(old: dict, new: dict, **kw: Any) -> dict:
    return ob.prepare_update(KINDS[old["kind"]], old, new, **kw)


def delete(obj: dict, opts: DeleteOptions | None = None, now: float = NOW) -> dict | None:
    return ob.prepare_delete(KINDS[obj["kind"]], obj, opts or DeleteOptions(), now)


def raises(fn, *args, **kw) -> ApiError:
    with pytest.raises(ApiError) as caught:
        fn(*args, **kw)
    return caught.value


def bound(obj: dict, node_name: str = "n1", phase: str = "Running") -> dict:
    obj = copy.deepcopy(obj)
    obj["spec"]["nodeName"] = node_name
    obj["status"]["phase"] = phase
    return obj


# --------------------------------------------------------------------------- rfc3339


def test_rfc3339_is_whole_seconds_utc_and_round_trips():
    assert ob.rfc3339(NOW + 0.9) == NOW_TEXT
    assert ob.parse_rfc3339(NOW_TEXT) == NOW


# ---------------------------------------------------------------------- prepare_create


def test_create_stamps_identity_and_leaves_the_body_alone():
    body = pod()
    before = copy.deepcopy(body)
    obj = create(body)
    assert obj["metadata"]["uid"] == UID
    assert obj["metadata"]["creationTimestamp"] == NOW_TEXT
    assert obj["metadata"]["namespace"] == "default"
    assert body == before


CREATE_METADATA_CASES = [
    pytest.param({"generateName": "web-"}, {"name": "web-" + SUFFIX}, (), id="generateName-completed"),
    pytest.param({"name": "given", "generateName": "web-"}, {"name": "given"}, (), id="name-wins-over-generateName"),
    pytest.param({"generateName": "a" * 70}, {"name": "a" * 58 + SUFFIX}, (),
                 id="long-generateName-truncated-to-58"),
    pytest.param({"name": "p", "resourceVersion": "42"}, {}, ("resourceVersion",), id="resourceVersion-dropped"),
    pytest.param({"name": "p", "deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 30}, {},
                 ("deletionTimestamp", "deletionGracePeriodSeconds"), id="deletion-fields-dropped"),
    pytest.param({"name": "p", "uid": "client-chosen", "creationTimestamp": "2001-01-01T00:00:00Z"},
                 {"uid": UID, "creationTimestamp": NOW_TEXT}, (), id="uid-and-creationTimestamp-are-the-servers"),
    pytest.param({"name": "p", "selfLink": "/api/x", "managedFields": [{"manager": "kubectl"}]}, {},
                 ("selfLink", "managedFields"), id="selfLink-and-managedFields-dropped"),
    pytest.param({"name": "p", "finalizers": ["example.com/f"], "labels": {"a": "b"}},
                 {"finalizers": ["example.com/f"], "labels": {"a": "b"}}, (), id="finalizers-and-labels-kept"),
    pytest.param({"name": "p", "generation": 7}, {}, ("generation",), id="generation-dropped-for-a-configmap"),
]


@pytest.mark.parametrize("meta, expected, absent", CREATE_METADATA_CASES)
def test_create_metadata(meta, expected, absent):
    body = config_map()
    body["metadata"] = meta
    got = create(body)["metadata"]
    for key, value in expected.items():
        assert got[key] == value
    for key in absent:
        assert key not in got


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"])
def test_create_sets_generation_1_for_apps_and_batch_kinds(kind):
    body = workload(kind)
    body["metadata"]["generation"] = 9
    assert create(body)["metadata"]["generation"] == 1


@pytest.mark.parametrize("body", [pod(), config_map(), service(), namespace()], ids=lambda b: b["kind"])
def test_create_sets_no_generation_for_other_kinds(body):
    body = copy.deepcopy(body)
    body["metadata"]["generation"] = 3
    assert "generation" not in create(body)["metadata"]


def test_create_generates_a_jobs_selector_from_its_uid():
    got = create(workload("Job"))
    assert got["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    labels = {"job-name": "w", "batch.kubernetes.io/job-name": "w",
              "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID}
    assert got["spec"]["template"]["metadata"]["labels"] == labels
    assert got["metadata"]["labels"] == labels  # SetDefaults_Job: a Job without labels takes its template's


def test_create_job_with_manual_selector_needs_one():
    body = workload("Job")
    body["spec"]["manualSelector"] = True
    err = raises(create, body)
    assert err.message == 'Job.batch "w" is invalid: spec.selector: Required value'
    body["spec"]["selector"] = {"matchLabels": {"app": "w"}}
    body["spec"]["template"]["metadata"] = {"labels": {"app": "w"}}
    got = create(body)
    assert got["spec"]["selector"] == {"matchLabels": {"app": "w"}}
    assert got["spec"]["template"]["metadata"]["labels"] == {"app": "w"}


CREATE_STATUS_CASES = [
    pytest.param(pod(), {"phase": "Running", "podIP": "10.0.0.9"}, {"phase": "Pending", "qosClass": "BestEffort"},
                 id="pod-pending-with-qos"),
    pytest.param(node(), None, {"capacity": {"cpu": "4", "memory": "8Gi"},
                                "allocatable": {"cpu": "4", "memory": "8Gi"}, "phase": "Running"},
                 id="node-keeps-its-status"),
    pytest.param(namespace(), {"phase": "Terminating"}, {"phase": "Active"}, id="namespace-active"),
    pytest.param(deployment(), {"replicas": 3, "readyReplicas": 3}, {}, id="deployment-status-cleared"),
    pytest.param(service(), {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}, {}, id="service-status-cleared"),
]


@pytest.mark.parametrize("body, given_status, expected", CREATE_STATUS_CASES)
def test_create_resets_status_per_kind(body, given_status, expected):
    body = copy.deepcopy(body)
    if given_status is not None:
        body["status"] = given_status
    assert create(body)["status"] == expected


def test_create_pod_status_has_the_pods_qos_class():
    body = pod()
    body["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert create(body)["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


CREATE_DEFAULTS_CASES = [
    pytest.param(pod(), ("spec", "restartPolicy"), "Always", id="pod-restartPolicy"),
    pytest.param(pod(), ("spec", "serviceAccountName"), "default", id="pod-serviceAccount-admission"),
    pytest.param(pod(), ("spec", "terminationGracePeriodSeconds"), 30, id="pod-grace-period"),
    pytest.param(deployment(), ("spec", "replicas"), 1, id="deployment-replicas"),
    pytest.param(service(), ("spec", "type"), "ClusterIP", id="service-type"),
    pytest.param(namespace(), ("spec", "finalizers"), ["kubernetes"], id="namespace-finalizer"),
]


@pytest.mark.parametrize("body, path, expected", CREATE_DEFAULTS_CASES)
def test_create_applies_defaults(body, path, expected):
    value: Any = create(copy.deepcopy(body))
    for key in path:
        value = value[key]
    assert value == expected


CREATE_INVALID_CASES = [
    pytest.param(pod(), lambda b: b["spec"].update(containers=[]),
                 'Pod "p" is invalid: spec.containers: Required value', "Pod", "", id="pod-without-containers"),
    pytest.param(config_map(), lambda b: b["metadata"].pop("name"),
                 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
                 "ConfigMap", "", id="no-name"),
    pytest.param(config_map(), lambda b: b["metadata"].update(name="Bad_Name"),
                 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 '
                 "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
                 "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                 "ConfigMap", "", id="bad-name"),
    pytest.param(deployment(), lambda b: b["spec"].update(replicas=-1),
                 'Deployment.apps "d" is invalid: spec.replicas: Invalid value: -1: '
                 "must be greater than or equal to 0", "Deployment", "apps", id="deployment-negative-replicas"),
]


@pytest.mark.parametrize("body, breaks, message, kind, group", CREATE_INVALID_CASES)
def test_create_refuses_invalid_objects_with_422(body, breaks, message, kind, group):
    body = copy.deepcopy(body)
    breaks(body)
    err = raises(create, body)
    assert (err.code, err.reason) == (422, "Invalid")
    assert err.message == message
    assert err.details["kind"] == kind
    assert err.details.get("group", "") == group
    assert err.details["causes"]


def test_create_refuses_a_namespace_other_than_the_requests():
    body = config_map()
    body["metadata"]["namespace"] = "other"
    err = raises(create, body, "default")
    assert (err.code, err.reason) == (400, "BadRequest")
    assert err.message == ("the namespace of the provided object does not match the namespace "
                           "sent on the request")


@pytest.mark.parametrize("body_ns, request_ns, expected", [
    pytest.param("", "team", "team", id="from-request"),
    pytest.param("team", "team", "team", id="same"),
    pytest.param("team", "", "team", id="from-body"),
    pytest.param("", "", "default", id="default"),
])
def test_create_namespace_comes_from_request_or_body(body_ns, request_ns, expected):
    body = config_map()
    if body_ns:
        body["metadata"]["namespace"] = body_ns
    assert create(body, request_ns)["metadata"]["namespace"] == expected


def test_create_drops_a_namespace_on_a_cluster_scoped_object():
    body = node()
    body["metadata"]["namespace"] = "default"
    assert "namespace" not in create(body)["metadata"]


@pytest.mark.parametrize("resource_kind, body", [
    pytest.param("Pod", service(), id="service-to-pods"),
    pytest.param("Deployment", {**deployment(), "apiVersion": "v1"}, id="deployment-in-wrong-version"),
    pytest.param("ConfigMap", {"apiVersion": "v1", "metadata": {"name": "x"}}, id="no-kind"),
])
def test_create_refuses_a_body_of_another_kind_with_400(resource_kind, body):
    err = raises(ob.prepare_create, KINDS[resource_kind], body, namespace="default", now=NOW, uid=UID,
                 suffix=SUFFIX)
    assert (err.code, err.reason) == (400, "BadRequest")


def test_decode_kind_messages():
    assert raises(ob.decode_kind, [1]).message == "the request body must be an object, not list"
    assert raises(ob.decode_kind, {"kind": "Pod"}).message == "Object 'apiVersion' is missing"
    assert ob.decode_kind(pod(), KINDS["Pod"]) is KINDS["Pod"]


# ---------------------------------------------------------------------- prepare_update


def test_main_write_keeps_the_stored_status_and_server_metadata():
    old = stored(deployment(), status={"replicas": 3, "readyReplicas": 2})
    old["metadata"]["generation"] = 4
    body = copy.deepcopy(old)
    body["status"] = {"replicas": 99}
    body["metadata"].update(creationTimestamp="2001-01-01T00:00:00Z", generation=99, uid="")
    body["metadata"].pop("uid")
    body["metadata"]["labels"] = {"team": "a"}
    before = copy.deepcopy(body)
    new = update(old, body)
    assert new["status"] == {"replicas": 3, "readyReplicas": 2}
    assert new["metadata"]["uid"] == UID
    assert new["metadata"]["creationTimestamp"] == NOW_TEXT
    assert new["metadata"]["generation"] == 4
    assert new["metadata"]["labels"] == {"team": "a"}
    assert body == before


def test_main_write_cannot_remove_a_deletion_timestamp():
    old = stored(config_map(finalizers=["example.com/f"]))
    old["metadata"].update(deletionTimestamp=NOW_TEXT, deletionGracePeriodSeconds=0)
    body = copy.deepcopy(old)
    del body["metadata"]["deletionTimestamp"], body["metadata"]["deletionGracePeriodSeconds"]
    new = update(old, body)
    assert new["metadata"]["deletionTimestamp"] == NOW_TEXT
    assert new["metadata"]["deletionGracePeriodSeconds"] == 0


def test_main_write_with_another_uid_is_refused():
    old = stored(config_map())
    body = copy.deepcopy(old)
    body["metadata"]["uid"] = "someone-else"
    err = raises(update, old, body)
    assert err.code == 422
    assert 'metadata.uid: Invalid value: "someone-else": field is immutable' in err.message


def test_status_write_changes_only_status():
    old = stored(pod(), status={"phase": "Pending"})
    old["metadata"].update(labels={"a": "1"}, annotations={"n": "1"}, finalizers=["example.com/f"])
    body = copy.deepcopy(old)
    body["status"] = {"phase": "Running", "podIP": "10.0.0.9"}
    body["metadata"].update(labels={"a": "2"}, annotations={}, finalizers=[])
    body["spec"]["containers"][0]["image"] = "nginx:2"
    new = update(old, body, subresource="status")
    assert new["status"] == {"phase": "Running", "podIP": "10.0.0.9"}
    expected = copy.deepcopy(old)
    expected["status"] = new["status"]
    assert new == expected


GENERATION_CASES = [
    pytest.param(deployment(), lambda o: o["spec"].update(replicas=5), "", 2, id="deployment-spec-change"),
    pytest.param(deployment(), lambda o: o["metadata"].update(labels={"x": "y"}), "", 1,
                 id="deployment-label-change"),
    # Deployments also bump on annotations: they are copied to the ReplicaSets.
    pytest.param(deployment(), lambda o: o["metadata"].update(annotations={"x": "y"}), "", 2,
                 id="deployment-annotation-change"),
    pytest.param(deployment(), lambda o: o.update(status={"replicas": 1}), "status", 1,
                 id="deployment-status-write"),
    pytest.param(deployment(), lambda o: o["spec"].update(replicas=5), "status", 1,
                 id="deployment-spec-in-status-write-ignored"),
    pytest.param(workload("ReplicaSet"), lambda o: o["metadata"].update(annotations={"x": "y"}), "", 1,
                 id="replicaset-annotation-change"),
    pytest.param(workload("ReplicaSet"), lambda o: o["spec"].update(replicas=3), "", 2,
                 id="replicaset-spec-change"),
    pytest.param(workload("StatefulSet"), lambda o: o["spec"].update(replicas=3), "", 2,
                 id="statefulset-spec-change"),
    pytest.param(workload("Job"), lambda o: o["spec"].update(parallelism=2), "", 2, id="job-spec-change"),
    pytest.param(workload("CronJob"), lambda o: o["spec"].update(suspend=True), "", 2, id="cronjob-spec-change"),
    pytest.param(workload("DaemonSet"), lambda o: o["metadata"].update(labels={"x": "y"}), "", 1,
                 id="daemonset-metadata-change"),
    pytest.param(deployment(), lambda o: None, "", 1, id="no-change"),
    pytest.param(config_map(), lambda o: o.update(data={"k": "w"}), "", None, id="configmap-has-no-generation"),
]


@pytest.mark.parametrize("body, change, subresource, generation", GENERATION_CASES)
def test_generation_bumps_on_spec_change_only(body, change, subresource, generation):
    old = stored(body)
    new_body = copy.deepcopy(old)
    change(new_body)
    assert update(old, new_body, subresource=subresource)["metadata"].get("generation") == generation


IMMUTABLE_CASES = [
    pytest.param(deployment(), lambda o: (o["spec"]["selector"]["matchLabels"].update(app="api"),
                                          o["spec"]["template"]["metadata"]["labels"].update(app="api")),
                 "spec.selector", id="deployment-selector"),
    pytest.param(service(), lambda o: o["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"]),
                 "spec.clusterIP", id="service-clusterIP"),
    pytest.param(pod(), lambda o: o["spec"].update(restartPolicy="Never"), "spec", id="pod-spec"),
]


@pytest.mark.parametrize("body, change, field", IMMUTABLE_CASES)
def test_update_of_an_immutable_field_is_refused(body, change, field):
    old = stored(body)
    new_body = copy.deepcopy(old)
    change(new_body)
    err = raises(update, old, new_body)
    assert (err.code, err.reason) == (422, "Invalid")
    assert field in [c["field"] for c in err.details["causes"]]


def test_no_finalizer_can_be_added_to_an_object_being_deleted():
    old = stored(config_map(finalizers=["example.com/a"]))
    old["metadata"].update(deletionTimestamp=NOW_TEXT, deletionGracePeriodSeconds=0)
    body = copy.deepcopy(old)
    body["metadata"]["finalizers"] = ["example.com/a", "example.com/c", "example.com/b"]
    err = raises(update, old, body)
    assert (err.code, err.reason) == (422, "Invalid")
    assert err.message == ('ConfigMap "cm" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                           'added if the object is being deleted, found new finalizers '
                           '[]string{"example.com/b", "example.com/c"}')
    # Removing one is what finalizers are for.
    body["metadata"]["finalizers"] = []
    assert update(old, body)["metadata"]["finalizers"] == []


def test_finalizers_can_be_added_before_deletion():
    old = stored(config_map())
    body = copy.deepcopy(old)
    body["metadata"]["finalizers"] = ["example.com/a"]
    assert update(old, body)["metadata"]["finalizers"] == ["example.com/a"]


@pytest.mark.parametrize("body_name, url_name, message", [
    pytest.param("other", "cm", "the name of the object (other) does not match the name on the URL (cm)",
                 id="body-vs-url"),
    pytest.param("other", "", "the name of the object (other) does not match the name on the URL (cm)",
                 id="body-vs-stored"),
])
def test_update_with_another_name_is_a_400(body_name, url_name, message):
    old = stored(config_map())
    body = copy.deepcopy(old)
    body["metadata"]["name"] = body_name
    err = raises(update, old, body, name=url_name)
    assert (err.code, err.reason, err.message) == (400, "BadRequest", message)


def test_update_body_without_name_takes_the_urls():
    old = stored(config_map())
    body = copy.deepcopy(old)
    del body["metadata"]["name"]
    assert update(old, body, name="cm")["metadata"]["name"] == "cm"


def test_update_with_another_namespace_is_a_400():
    old = stored(config_map())
    body = copy.deepcopy(old)
    body["metadata"]["namespace"] = "other"
    err = raises(update, old, body, namespace="default")
    assert (err.code, err.reason) == (400, "BadRequest")


def test_update_with_a_body_of_another_kind_is_a_400():
    # A merge patch can rewrite "kind"; the result must not be stored under pods.
    old = stored(pod())
    body = copy.deepcopy(old)
    body["kind"] = "Service"
    err = raises(update, old, body)
    assert (err.code, err.reason) == (400, "BadRequest")


def test_namespace_update_can_remove_its_spec_finalizer():
    # kubesim serves no namespaces/finalize: the namespace controller empties
    # spec.finalizers with an update, which defaulting must not undo.
    old = stored(namespace())
    old["metadata"]["deletionTimestamp"] = NOW_TEXT
    old["metadata"]["deletionGracePeriodSeconds"] = 0
    old["status"] = {"phase": "Terminating"}
    body = copy.deepcopy(old)
    body["spec"]["finalizers"] = []
    new = update(old, body)
    assert new["spec"]["finalizers"] == []
    assert ob.delete_now(new)


def test_namespace_update_without_spec_keeps_its_finalizers():
    old = stored(namespace())
    body = copy.deepcopy(old)
    del body["spec"]
    assert update(old, body)["spec"]["finalizers"] == ["kubernetes"]


# -------------------------------------------------------------------------- delete_now


DELETE_NOW_CASES = [
    pytest.param({}, None, False, id="not-being-deleted"),
    pytest.param({"deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 0}, None, True, id="done"),
    pytest.param({"deletionTimestamp": NOW_TEXT}, None, True, id="no-grace-recorded"),
    pytest.param({"deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 0, "finalizers": ["f"]}, None,
                 False, id="finalizer-holds"),
    pytest.param({"deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 30}, None, False,
                 id="grace-period-running"),
    pytest.param({"deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 0}, ["kubernetes"], False,
                 id="namespace-spec-finalizer-holds"),
    pytest.param({"deletionTimestamp": NOW_TEXT, "deletionGracePeriodSeconds": 0}, [], True,
                 id="namespace-emptied"),
]


@pytest.mark.parametrize("meta, ns_finalizers, expected", DELETE_NOW_CASES)
def test_delete_now(meta, ns_finalizers, expected):
    obj = namespace() if ns_finalizers is not None else config_map()
    obj["metadata"].update(meta)
    if ns_finalizers is not None:
        obj["spec"] = {"finalizers": ns_finalizers}
    assert ob.delete_now(obj) is expected


# ---------------------------------------------------------------------- DeleteOptions


PARSE_CASES = [
    pytest.param(None, None, DeleteOptions(), id="nothing"),
    pytest.param(None, {"propagationPolicy": "Foreground", "gracePeriodSeconds": 10},
                 DeleteOptions("Foreground", 10), id="query"),
    pytest.param({"propagationPolicy": "Orphan", "gracePeriodSeconds": 0}, None, DeleteOptions("Orphan", 0),
                 id="body"),
    pytest.param({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5}, {}, DeleteOptions("", 5),
                 id="body-with-typemeta"),
    # A body, when there is one, is the options; the query is read only without one.
    pytest.param({"propagationPolicy": "Orphan"}, {"propagationPolicy": "Foreground", "gracePeriodSeconds": 3},
                 DeleteOptions("Orphan"), id="body-wins-over-query"),
    pytest.param({}, {"gracePeriodSeconds": 3}, DeleteOptions("", 3), id="empty-body-reads-query"),
    pytest.param(None, {"gracePeriodSeconds": "7"}, DeleteOptions("", 7), id="grace-as-query-string"),
    pytest.param(None, {"gracePeriodSeconds": -5}, DeleteOptions("", 1), id="negative-grace-is-1"),
    pytest.param({"orphanDependents": True}, None, DeleteOptions("Orphan"), id="orphanDependents-true"),
    pytest.param({"orphanDependents": False}, None, DeleteOptions("Background"), id="orphanDependents-false"),
    pytest.param({"preconditions": {"uid": "u", "resourceVersion": "9"}}, None,
                 DeleteOptions(preconditions_uid="u", preconditions_rv="9"), id="preconditions"),
    pytest.param({"propagationPolicy": None, "gracePeriodSeconds": None}, None, DeleteOptions(), id="nulls"),
]


@pytest.mark.parametrize("body, query, expected", PARSE_CASES)
def test_delete_options_parse(body, query, expected):
    assert DeleteOptions.parse(body, query) == expected


PARSE_ERROR_CASES = [
    pytest.param({"propagationPolicy": "Sideways"}, None, 422,
                 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": '
                 'supported values: "Foreground", "Background", "Orphan", "nil"', id="bad-propagation"),
    pytest.param({"propagationPolicy": "Foreground", "orphanDependents": True}, None, 422,
                 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Foreground": '
                 "orphanDependents and deletionPropagation cannot be both set", id="orphan-and-propagation"),
    pytest.param(None, {"gracePeriodSeconds": "soon"}, 400, None, id="grace-not-an-integer"),
    pytest.param(None, ["x"], 400, "DeleteOptions must be an object", id="options-not-a-map"),
]


@pytest.mark.parametrize("body, query, code, message", PARSE_ERROR_CASES)
def test_delete_options_parse_refusals(body, query, code, message):
    err = raises(DeleteOptions.parse, body, query)
    assert err.code == code
    if message is not None:
        assert err.message == message


# ---------------------------------------------------------------------- prepare_delete


FIRST_DELETE_CASES = [
    pytest.param(config_map(), DeleteOptions(), None, id="no-finalizers-gone-at-once"),
    pytest.param(deployment(), DeleteOptions(), None, id="deployment-background-by-default"),
    pytest.param(workload("Job"), DeleteOptions("Background"), None, id="job-explicit-background"),
    pytest.param(config_map(finalizers=["example.com/f"]), DeleteOptions(), ["example.com/f"],
                 id="finalizer-holds"),
    pytest.param(config_map(), DeleteOptions("Foreground"), ["foregroundDeletion"], id="foreground"),
    pytest.param(config_map(), DeleteOptions("Orphan"), ["orphan"], id="orphan"),
    pytest.param(workload("Job"), DeleteOptions(), ["orphan"], id="job-orphans-by-default"),
    pytest.param(config_map(finalizers=["example.com/f", "orphan"]), DeleteOptions("Background"),
                 ["example.com/f"], id="explicit-background-drops-orphan"),
    pytest.param(config_map(finalizers=["foregroundDeletion"]), DeleteOptions("Orphan"), ["orphan"],
                 id="explicit-orphan-replaces-foreground"),
    pytest.param(config_map(finalizers=["orphan"]), DeleteOptions("Foreground"), ["foregroundDeletion"],
                 id="explicit-foreground-replaces-orphan"),
    pytest.param(config_map(finalizers=["foregroundDeletion"]), DeleteOptions("Background"), None,
                 id="explicit-background-drops-foreground"),
    pytest.param(config_map(finalizers=["orphan"]), DeleteOptions(), ["orphan"], id="existing-orphan-kept"),
    pytest.param({**workload("Job"), "metadata": {"name": "w", "finalizers": ["foregroundDeletion"]}},
                 DeleteOptions(), ["foregroundDeletion"], id="job-default-yields-to-existing-foreground"),
]


@pytest.mark.parametrize("body, opts, finalizers", FIRST_DELETE_CASES)
def test_first_delete(body, opts, finalizers):
    obj = stored(body)
    before = copy.deepcopy(obj)
    got = delete(obj, opts)
    assert obj == before
    if finalizers is None:
        assert got is None
        return
    meta = got["metadata"]
    assert meta["finalizers"] == finalizers
    assert meta["deletionTimestamp"] == NOW_TEXT
    assert meta["deletionGracePeriodSeconds"] == 0
    assert not ob.delete_now(got)


def test_first_delete_bumps_the_generation_of_an_object_it_keeps():
    obj = stored(deployment())
    assert delete(obj, DeleteOptions("Foreground"))["metadata"]["generation"] == 2


POD_GRACE_CASES = [
    pytest.param(bound(stored(pod())), DeleteOptions(), 30, id="default-from-spec"),
    pytest.param(bound(stored(pod(terminationGracePeriodSeconds=10))), DeleteOptions(), 10, id="spec-grace"),
    pytest.param(bound(stored(pod(terminationGracePeriodSeconds=10))), DeleteOptions(grace_period_s=3), 3,
                 id="option-overrides-spec"),
    pytest.param(bound(stored(pod(terminationGracePeriodSeconds=10))), DeleteOptions(grace_period_s=0), None,
                 id="grace-0-gone-at-once"),
    pytest.param(bound(stored(pod(terminationGracePeriodSeconds=-5))), DeleteOptions(), 1,
                 id="negative-spec-grace-is-1"),
    pytest.param(stored(pod()), DeleteOptions(grace_period_s=30), None, id="unbound-gone-at-once"),
    pytest.param(bound(stored(pod()), phase="Succeeded"), DeleteOptions(), None, id="succeeded-gone-at-once"),
    pytest.param(bound(stored(pod()), phase="Failed"), DeleteOptions(grace_period_s=30), None,
                 id="failed-gone-at-once"),
    pytest.param(bound(stored(pod()), phase="Pending"), DeleteOptions(), 30, id="bound-pending-gets-grace"),
]


@pytest.mark.parametrize("obj, opts, grace", POD_GRACE_CASES)
def test_pod_grace_period(obj, opts, grace):
    got = delete(obj, opts)
    if grace is None:
        assert got is None
        return
    assert got["metadata"]["deletionGracePeriodSeconds"] == grace
    assert got["metadata"]["deletionTimestamp"] == at(grace)
    assert "finalizers" not in got["metadata"]
    assert not ob.delete_now(got)


def test_bound_pod_with_finalizer_gets_both():
    obj = bound(stored(pod()))
    obj["metadata"]["finalizers"] = ["example.com/f"]
    got = delete(obj, DeleteOptions(grace_period_s=0))
    assert got["metadata"]["finalizers"] == ["example.com/f"]
    assert got["metadata"]["deletionGracePeriodSeconds"] == 0


REDELETE_CASES = [
    # The first delete at NOW gave 30 s (deletionTimestamp NOW+30); the second comes at NOW+10.
    pytest.param(DeleteOptions(grace_period_s=5), 5, at(5), id="shorter-grace-counts-from-the-first-delete"),
    pytest.param(DeleteOptions(grace_period_s=60), 30, at(30), id="longer-grace-ignored"),
    pytest.param(DeleteOptions(grace_period_s=30), 30, at(30), id="same-grace-ignored"),
    pytest.param(DeleteOptions(), 30, at(30), id="no-grace-ignored"),
    pytest.param(DeleteOptions(grace_period_s=0), None, None, id="grace-0-deletes"),
]


@pytest.mark.parametrize("opts, grace, timestamp", REDELETE_CASES)
def test_deleting_a_pod_again(opts, grace, timestamp):
    first = delete(bound(stored(pod())), DeleteOptions())
    assert first["metadata"]["deletionTimestamp"] == at(30)
    got = delete(first, opts, now=NOW + 10)
    if grace is None:
        assert got is None
        return
    assert got["metadata"]["deletionGracePeriodSeconds"] == grace
    assert got["metadata"]["deletionTimestamp"] == timestamp


def test_deleting_again_without_grace_does_not_fall_back_to_the_spec():
    first = delete(bound(stored(pod())), DeleteOptions(grace_period_s=60))
    assert delete(first, DeleteOptions(), now=NOW + 1) == first


def test_deleting_a_terminated_pod_again_waits_for_its_grace():
    first = delete(bound(stored(pod())), DeleteOptions())
    first["status"]["phase"] = "Succeeded"
    assert delete(first, DeleteOptions(), now=NOW + 1) == first


def test_deleting_again_with_grace_0_keeps_an_object_with_finalizers():
    obj = bound(stored(pod()))
    obj["metadata"]["finalizers"] = ["example.com/f"]
    first = delete(obj, DeleteOptions())
    got = delete(first, DeleteOptions(grace_period_s=0), now=NOW + 1)
    assert got["metadata"]["deletionGracePeriodSeconds"] == 0
    assert got["metadata"]["finalizers"] == ["example.com/f"]
    assert not ob.delete_now(got)


def test_deleting_a_finalizing_object_again_changes_nothing_but_propagation():
    first = delete(stored(config_map(finalizers=["example.com/f"])), DeleteOptions(), now=NOW)
    assert delete(first, DeleteOptions(), now=NOW + 5) == first
    again = delete(first, DeleteOptions("Orphan"), now=NOW + 5)
    assert again["metadata"]["finalizers"] == ["example.com/f", "orphan"]
    assert again["metadata"]["deletionTimestamp"] == NOW_TEXT


def test_deleting_a_namespace_makes_it_terminating():
    obj = stored(namespace())
    got = delete(obj)
    assert got["status"]["phase"] == "Terminating"
    assert got["metadata"]["deletionTimestamp"] == NOW_TEXT
    assert got["spec"]["finalizers"] == ["kubernetes"]
    assert not ob.delete_now(got)
    assert delete(got, now=NOW + 60) == got  # still waiting for the namespace controller


PRECONDITION_CASES = [
    pytest.param(pod(), DeleteOptions(preconditions_uid="other"),
                 'Operation cannot be fulfilled on Pod "p": the UID in the precondition (other) does not match the '
                 "UID in record (uid-1). The object might have been deleted and then recreated", id="pod-uid"),
    pytest.param(deployment(), DeleteOptions(preconditions_rv="4"),
                 'Operation cannot be fulfilled on Deployment.apps "d": the ResourceVersion in the precondition (4) '
                 "does not match the ResourceVersion in record (5). The object might have been modified",
                 id="deployment-rv"),
    pytest.param(namespace(), DeleteOptions(preconditions_uid="other"),
                 'Operation cannot be fulfilled on namespaces "team": Precondition failed: UID in precondition: '
                 "other, UID in object meta: uid-1", id="namespace-uid"),
    pytest.param(namespace(), DeleteOptions(preconditions_rv="4"),
                 'Operation cannot be fulfilled on namespaces "team": Precondition failed: ResourceVersion in '
                 "precondition: 4, ResourceVersion in object meta: 5", id="namespace-rv"),
]


@pytest.mark.parametrize("body, opts, message", PRECONDITION_CASES)
def test_delete_preconditions_mismatch_is_a_409(body, opts, message):
    err = raises(delete, stored(body), opts)
    assert (err.code, err.reason, err.message) == (409, "Conflict", message)


def test_delete_preconditions_that_match_proceed():
    assert delete(stored(config_map()), DeleteOptions(preconditions_uid=UID, preconditions_rv="5")) is None


# --------------------------------------------------------------------------- qos_class


def res(requests: dict | None = None, limits: dict | None = None) -> dict:
    c: dict = {"name": "c", "image": "x", "resources": {}}
    if requests is not None:
        c["resources"]["requests"] = requests
    if limits is not None:
        c["resources"]["limits"] = limits
    return c


GUARANTEED = {"cpu": "1", "memory": "1Gi"}

QOS_CASES = [
    pytest.param([res()], [], "BestEffort", id="nothing"),
    pytest.param([res({"cpu": "0", "memory": "0"})], [], "BestEffort", id="zero-requests"),
    pytest.param([res({"ephemeral-storage": "1Gi"}, {"ephemeral-storage": "1Gi"})], [], "BestEffort",
                 id="only-unsupported-resources"),
    pytest.param([res(limits=GUARANTEED)], [], "Guaranteed", id="limits-only"),
    pytest.param([res(GUARANTEED, GUARANTEED)], [], "Guaranteed", id="requests-equal-limits"),
    pytest.param([res({"cpu": "1000m", "memory": "1024Mi"}, GUARANTEED)], [], "Guaranteed",
                 id="equal-quantities-written-differently"),
    pytest.param([res(GUARANTEED, GUARANTEED), res(GUARANTEED, GUARANTEED)], [res(limits=GUARANTEED)],
                 "Guaranteed", id="all-containers-and-init"),
    pytest.param([res({"cpu": "500m"}, GUARANTEED)], [], "Burstable", id="requests-below-limits"),
    pytest.param([res({"cpu": "1"})], [], "Burstable", id="requests-only"),
    pytest.param([res(limits={"cpu": "1"})], [], "Burstable", id="cpu-limit-only"),
    pytest.param([res(limits=GUARANTEED), res()], [], "Burstable", id="one-container-without-limits"),
    pytest.param([res()], [res({"memory": "1Gi"})], "Burstable", id="init-container-counts"),
]


@pytest.mark.parametrize("containers, init_containers, expected", QOS_CASES)
def test_qos_class(containers, init_containers, expected):
    spec: dict = {"containers": containers}
    if init_containers:
        spec["initContainers"] = init_containers
    assert ob.qos_class(spec) == expected


def test_qos_class_ignores_ephemeral_containers():
    spec = {"containers": [res(limits=GUARANTEED)], "ephemeralContainers": [res()]}
    assert ob.qos_class(spec) == "Guaranteed"


# -------------------------------------------------------------------------------- bind


def binding(node_name: Any = "n1", kind: Any = None, name: str = "p") -> dict:
    target: dict = {"name": node_name}
    if kind is not None:
        target["kind"] = kind
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": target}


def test_bind_sets_the_node_and_pod_scheduled():
    obj = stored(pod())
    obj["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": NOW_TEXT},
        {"type": "Other", "status": "True"}]
    before = copy.deepcopy(obj)
    got = ob.bind(obj, binding(), at(5))
    assert obj == before
    assert got["spec"]["nodeName"] == "n1"
    scheduled = [c for c in got["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled == [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": at(5)}]
    assert {"type": "Other", "status": "True"} in got["status"]["conditions"]


def pod_being_deleted() -> dict:
    obj = stored(pod())
    obj["metadata"]["deletionTimestamp"] = NOW_TEXT
    return obj


def pod_with_gates() -> dict:
    obj = stored(pod())
    obj["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
    return obj


BIND_ERROR_CASES = [
    pytest.param(lambda: bound(stored(pod()), "n0"), binding(), 409,
                 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n0"',
                 id="already-bound"),
    pytest.param(pod_being_deleted, binding(), 409,
                 'Operation cannot be fulfilled on pods/binding "p": pod p is being deleted, '
                 "cannot be assigned to a host", id="being-deleted"),
    pytest.param(pod_with_gates, binding(), 409,
                 'Operation cannot be fulfilled on pods/binding "p": pod p has non-empty .spec.schedulingGates',
                 id="scheduling-gates"),
    pytest.param(lambda: stored(pod()), binding(""), 422, 'Binding "p" is invalid: target.name: Required value',
                 id="no-target-name"),
    pytest.param(lambda: stored(pod()), {"metadata": {"name": "p"}, "target": None}, 422,
                 'Binding "p" is invalid: target.name: Required value', id="no-target"),
    pytest.param(lambda: stored(pod()), binding(kind="Pod"), 422,
                 'Binding "p" is invalid: target.kind: Unsupported value: "Pod": supported values: "Node", '
                 '"<empty>"', id="target-not-a-node"),
    pytest.param(lambda: stored(pod()), binding(name="q"), 400,
                 "name in URL does not match name in Binding object", id="binding-for-another-pod"),
    pytest.param(lambda: stored(pod()), {"target": {"name": "n1"}}, 400,
                 "name in URL does not match name in Binding object", id="binding-without-name"),
    pytest.param(lambda: stored(pod()), ["n1"], 400, None, id="not-an-object"),
]


@pytest.mark.parametrize("make_pod, body, code, message", BIND_ERROR_CASES)
def test_bind_refusals(make_pod, body, code, message):
    err = raises(ob.bind, make_pod(), body, NOW_TEXT)
    assert err.code == code
    if message is not None:
        assert err.message == message


def test_bind_accepts_an_explicit_node_kind():
    assert ob.bind(stored(pod()), binding(kind="Node"), NOW_TEXT)["spec"]["nodeName"] == "n1"


# ------------------------------------------------------------------- scale_of / apply_scale


def test_scale_of_a_deployment():
    obj = stored(deployment(replicas=3), status={"replicas": 2})
    obj["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "fe"},
                               "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}
    assert ob.scale_of(KINDS["Deployment"], obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "d", "namespace": "default", "uid": UID, "resourceVersion": "5",
                     "creationTimestamp": NOW_TEXT},
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=web,env in (a,b),tier=fe"},
    }


APPLY_SCALE_CASES = [
    pytest.param(5, 5, 2, id="scale-up-bumps-generation"),
    pytest.param(0, 0, 2, id="scale-to-zero"),
    pytest.param(1, 1, 1, id="same-replicas-no-bump"),
]


@pytest.mark.parametrize("replicas, expected, generation", APPLY_SCALE_CASES)
def test_apply_scale(replicas, expected, generation):
    obj = stored(deployment())
    before = copy.deepcopy(obj)
    got = ob.apply_scale(obj, {"spec": {"replicas": replicas}})
    assert obj == before
    assert got["spec"]["replicas"] == expected
    assert got["metadata"]["generation"] == generation


@pytest.mark.parametrize("scale, code, message", [
    pytest.param({"spec": {"replicas": -1}}, 422,
                 'Scale.autoscaling "d" is invalid: spec.replicas: Invalid value: -1: '
                 "must be greater than or equal to 0", id="negative"),
    pytest.param({"spec": {"replicas": "3"}}, 400, None, id="string"),
    pytest.param({"spec": {}}, 400, None, id="missing"),
    pytest.param([], 400, None, id="not-an-object"),
])
def test_apply_scale_refusals(scale, code, message):
    err = raises(ob.apply_scale, stored(deployment()), scale)
    assert err.code == code
    if message is not None:
        assert err.message == message


# --------------------------------------------------------------------------- list_object


@pytest.mark.parametrize("kind, token, expected_meta", [
    pytest.param("Pod", "", {"resourceVersion": "12"}, id="pods"),
    pytest.param("Deployment", "abc", {"resourceVersion": "12", "continue": "abc"}, id="deployments-continued"),
])
def test_list_object(kind, token, expected_meta):
    items = [{"metadata": {"name": "a"}}]
    got = ob.list_object(KINDS[kind], items, "12", token)
    assert got == {"kind": f"{kind}List", "apiVersion": KINDS[kind].api_version, "metadata": expected_meta,
                   "items": items}


def _storage_class(name: str, default: bool, created: str) -> dict:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations, "creationTimestamp": created}}


@pytest.mark.parametrize("spec, classes, expected", [
    # No class named: the default one; of two defaults the newer (Kubernetes 1.26+).
    ({}, [_storage_class("standard", True, "2026-01-01T00:00:00Z")], "standard"),
    ({}, [_storage_class("old", True, "2026-01-01T00:00:00Z"), _storage_class("new", True, "2026-02-01T00:00:00Z"),
          _storage_class("fast", False, "2026-03-01T00:00:00Z")], "new"),
    # No default class: left unset; an explicit name, even "", is kept (the claim wants no class).
    ({}, [_storage_class("fast", False, "2026-01-01T00:00:00Z")], None),
    ({"storageClassName": ""}, [_storage_class("standard", True, "2026-01-01T00:00:00Z")], ""),
    ({"storageClassName": "fast"}, [_storage_class("standard", True, "2026-01-01T00:00:00Z")], "fast"),
])
def test_default_storage_class_admission(spec, classes, expected):
    claim = {"spec": dict(spec)}
    ob.admit_default_storage_class(claim, classes)
    assert claim["spec"].get("storageClassName") == expected
