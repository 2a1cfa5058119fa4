"""The API server's Table responses (actors.apiserver.tables.table_object, wants_table).

Column definitions against the header kubectl prints (every column, in
order, wide ones priority 1); cells typed as Kubernetes' printers type them
and equal, as text, to the rows kubesim's own CLI prints; the row object for
each ``includeObject``; the list metadata; pods' Completed row conditions;
the Event table's own layout; and the ``Accept`` negotiation that asks for
a Table. Time is fixed: ``NOW`` is 2026-11-22T08:00:00Z.
"""

from __future__ import annotations

import calendar
import copy
import json
import time

import pytest

from actors.apiserver.kinds import KINDS
from actors.apiserver.tables import (
    columns,
    row,
    table_columns,
    table_object,
    wants_table,
)

NOW = float(calendar.timegm((2026, 11, 22, 8, 0, 0, 0, 0, 0)))


def ts(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


CREATED = ts(17 * 60 + 58)  # every object's AGE is "17m"


def obj(kind: str, name: str = "x", namespace: str | None = "default", **fields) -> dict:
    meta = {"name": name, "uid": "u-" + name, "resourceVersion": "7", "creationTimestamp": CREATED}
    if namespace:
        meta["namespace"] = namespace
    meta.update(fields.pop("metadata", {}))
    known = KINDS.get(kind)
    head = {"apiVersion": known.api_version} if known else {}
    return {**head, "kind": kind, "metadata": meta, **fields}


TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
SELECTOR = {"matchLabels": {"app": "web"}}

# A representative object of every kind, with counts that are not all zero.
SAMPLES = {
    "Namespace": obj("Namespace", "prod", None, status={"phase": "Active"}),
    "Node": obj("Node", "node-a", None, status={
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
        "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "kubesim", "kernelVersion": "6.1",
                     "containerRuntimeVersion": "sim://1"}}),
    "Pod": obj("Pod", "web-1", spec={"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx"}]},
               status={"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}], "containerStatuses": [
                   {"name": "app", "ready": True, "restartCount": 2,
                    "state": {"running": {"startedAt": ts(30)}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(45)}}}]}),
    "Service": obj("Service", "web", spec={"type": "ClusterIP", "clusterIPs": ["10.96.0.10"],
                                           "ports": [{"port": 80, "protocol": "TCP"}],
                                           "selector": {"app": "web"}}),
    "Endpoints": obj("Endpoints", "web", subsets=[{"addresses": [{"ip": "10.244.1.5"}],
                                                   "ports": [{"port": 8080}]}]),
    "EndpointSlice": obj("EndpointSlice", "web-abc", addressType="IPv4", ports=[{"port": 8080}],
                         endpoints=[{"addresses": ["10.244.1.5"]}]),
    "ConfigMap": obj("ConfigMap", "cfg", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="}),
    "Secret": obj("Secret", "tls", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""}),
    "ServiceAccount": obj("ServiceAccount", "default", secrets=[{"name": "t"}]),
    "Event": obj("Event", "web-1.17f", involvedObject={"kind": "Pod", "name": "web-1",
                                                       "fieldPath": "spec.containers{app}"},
                 reason="Pulled", message="Pulled image ", type="Normal",
                 source={"component": "kubelet", "host": "node-a"},
                 firstTimestamp=ts(300), lastTimestamp=ts(60), count=4),
    "Lease": obj("Lease", "kube-scheduler", spec={"holderIdentity": "sched-1"}),
    "Deployment": obj("Deployment", "web", spec={"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
                      status={"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
    "ReplicaSet": obj("ReplicaSet", "web-5d4", spec={"replicas": 3, "selector": SELECTOR,
                                                    "template": TEMPLATE},
                      status={"replicas": 3, "readyReplicas": 1}),
    "DaemonSet": obj("DaemonSet", "agent", spec={"selector": SELECTOR, "template": TEMPLATE},
                     status={"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                             "updatedNumberScheduled": 3, "numberAvailable": 2}),
    "StatefulSet": obj("StatefulSet", "db", spec={"replicas": 2, "selector": SELECTOR, "template": TEMPLATE},
                       status={"readyReplicas": 1}),
    "Job": obj("Job", "once", spec={"completions": 1, "selector": SELECTOR, "template": TEMPLATE},
               status={"succeeded": 1, "startTime": ts(120), "completionTime": ts(60),
                       "conditions": [{"type": "Complete", "status": "True"}]}),
    "CronJob": obj("CronJob", "tick", spec={"schedule": "*/5 * * * *", "suspend": False,
                                            "jobTemplate": {"spec": {"template": TEMPLATE}}},
                   status={"active": [{"name": "tick-1"}], "lastScheduleTime": ts(120)}),
    "PersistentVolume": obj("PersistentVolume", "pv-1", None, spec={
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
        "claimRef": {"namespace": "default", "name": "data"}}, status={"phase": "Bound"}),
    "PersistentVolumeClaim": obj("PersistentVolumeClaim", "data", spec={
        "volumeName": "pv-1", "storageClassName": "standard"},
        status={"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}),
    "StorageClass": obj("StorageClass", "standard", None, provisioner="sim.io/hostpath",
                        allowVolumeExpansion=True),
}


def test_there_is_a_sample_of_every_kind():
    assert sorted(SAMPLES) == sorted(KINDS)


def as_text(cell) -> str:
    """A cell as kubectl prints it (Go's fmt of the decoded JSON value)."""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)


# --- Column definitions -------------------------------------------------------------------

@pytest.mark.parametrize("kind", [*KINDS, "Widget"])
def test_column_definitions_match_the_printed_header(kind):
    defs = table_object(kind, [], NOW)["columnDefinitions"]
    # kubectl upper-cases the names; with -o wide it prints every column,
    # without it only priority 0.
    assert [d["name"].upper() for d in defs] == columns(kind, wide=True)
    assert [d["name"].upper() for d in defs if d["priority"] == 0] == columns(kind)
    assert defs == table_columns(kind)


@pytest.mark.parametrize("kind", [*KINDS, "Widget"])
def test_column_definition_fields(kind):
    for d in table_columns(kind):
        assert list(d) == ["name", "type", "format", "description", "priority"]
        assert d["type"] in ("string", "integer", "boolean")
        assert d["format"] == ("name" if d["name"] == "Name" else "")
        assert d["priority"] in (0, 1)
        assert d["description"] and "\n" not in d["description"]


def test_pod_columns_as_kubernetes_declares_them():
    defs = {d["name"]: d for d in table_columns("Pod")}
    assert list(defs) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
                          "Readiness Gates"]
    assert {n: d["priority"] for n, d in defs.items()} == {
        "Name": 0, "Ready": 0, "Status": 0, "Restarts": 0, "Age": 0,
        "IP": 1, "Node": 1, "Nominated Node": 1, "Readiness Gates": 1}
    # RESTARTS reads "3 (45s ago)": a string column since Kubernetes 1.22.
    assert {d["type"] for d in defs.values()} == {"string"}


@pytest.mark.parametrize(("kind", "name", "type"), [
    ("ReplicaSet", "Desired", "integer"),
    ("DaemonSet", "Up-to-date", "integer"),
    ("CronJob", "Suspend", "boolean"),
    ("CronJob", "Active", "integer"),
    # Kubernetes declares these "string", though their cells are numbers.
    ("Deployment", "Up-to-date", "string"),
    ("ConfigMap", "Data", "string"),
    ("Event", "Count", "string"),
])
def test_declared_types(kind, name, type):
    assert next(d for d in table_columns(kind) if d["name"] == name)["type"] == type


def test_wide_columns_are_priority_one():
    for kind in KINDS:
        plain = len(columns(kind))
        if kind == "Event":
            continue  # MESSAGE sits between wide columns (below)
        assert [d["priority"] for d in table_columns(kind)] == \
            [0] * plain + [1] * (len(columns(kind, wide=True)) - plain), kind


# --- Rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_cells_print_as_the_wide_row(kind):
    (r,) = table_object(kind, [SAMPLES[kind]], NOW)["rows"]
    assert [as_text(c) for c in r["cells"]] == row(SAMPLES[kind], NOW, wide=True)


@pytest.mark.parametrize(("kind", "expected"), [
    ("Pod", ["web-1", "1/1", "Running", "2 (45s ago)", "17m", "10.244.1.5", "node-a", "<none>", "<none>"]),
    ("Deployment", ["web", "2/3", 3, 2, "17m", "app", "nginx:1.27", "app=web"]),
    ("ReplicaSet", ["web-5d4", 3, 3, 1, "17m", "app", "nginx:1.27", "app=web"]),
    ("DaemonSet", ["agent", 3, 3, 2, 3, 2, "<none>", "17m", "app", "nginx:1.27", "app=web"]),
    ("ConfigMap", ["cfg", 3, "17m"]),
    ("Secret", ["tls", "kubernetes.io/tls", 2, "17m"]),
    ("ServiceAccount", ["default", 1, "17m"]),
    ("CronJob", ["tick", "*/5 * * * *", "<none>", "False", 1, "2m", "17m", "app", "nginx:1.27", "<none>"]),
    ("StorageClass", ["standard", "sim.io/hostpath", "Delete", "Immediate", True, "17m"]),
    ("Event", ["60s", "Normal", "Pulled", "pod/web-1", "spec.containers{app}", "kubelet, node-a",
               "Pulled image", "5m", 4, "web-1.17f"]),
])
def test_cells_are_typed_as_kubernetes_types_them(kind, expected):
    (r,) = table_object(kind, [SAMPLES[kind]], NOW)["rows"]
    assert r["cells"] == expected
    # bool is an int in Python: check the JSON types too.
    assert [type(c) for c in r["cells"]] == [type(c) for c in expected]


@pytest.mark.parametrize("kind", [*KINDS, "Widget"])
def test_bare_objects_still_fill_every_cell(kind):
    (r,) = table_object(kind, [{"metadata": {"name": "bare"}}], NOW)["rows"]
    assert len(r["cells"]) == len(columns(kind, wide=True))


def test_age_cells_are_human_durations():
    for kind in KINDS:
        cells = table_object(kind, [SAMPLES[kind]], NOW)["rows"][0]["cells"]
        names = [d["name"] for d in table_columns(kind)]
        if "Age" in names:
            assert cells[names.index("Age")] == "17m", kind


def test_rows_keep_the_given_order():
    pods = [obj("Pod", n) for n in ("b", "a", "c")]
    rows = table_object("Pod", pods, NOW)["rows"]
    assert [r["cells"][0] for r in rows] == ["b", "a", "c"]


def test_empty_list():
    body = table_object("Pod", [], NOW, resource_version="9")
    assert body["rows"] == [] and len(body["columnDefinitions"]) == 9


def test_kind_argument_decides_the_printer():
    # A list item without its kind (as in a PodList) still prints as a pod.
    bare = {k: v for k, v in SAMPLES["Pod"].items() if k != "kind"}
    assert table_object("Pod", [bare], NOW)["rows"][0]["cells"][2] == "Running"


@pytest.mark.parametrize(("phase", "expected"), [
    ("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}]),
    ("Failed", [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
    ("Running", None),
    ("Pending", None),
])
def test_finished_pods_rows_are_completed(phase, expected):
    (r,) = table_object("Pod", [obj("Pod", status={"phase": phase})], NOW)["rows"]
    assert r.get("conditions") == expected


# --- Row objects -----------------------------------------------------------------------------

def test_default_object_is_partial_metadata():
    pod = SAMPLES["Pod"]
    (r,) = table_object("Pod", [pod], NOW)["rows"]
    assert r["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": pod["metadata"]}


def test_empty_include_object_means_metadata():
    (r,) = table_object("Pod", [SAMPLES["Pod"]], NOW, include_object="")["rows"]
    assert r["object"]["kind"] == "PartialObjectMetadata"


def test_v1beta1_table_and_its_partial_objects():
    body = table_object("Pod", [SAMPLES["Pod"]], NOW, api_version="meta.k8s.io/v1beta1")
    assert body["apiVersion"] == "meta.k8s.io/v1beta1"
    assert body["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_include_none_leaves_the_object_out():
    (r,) = table_object("Pod", [SAMPLES["Pod"]], NOW, include_object="None")["rows"]
    assert "object" not in r


def test_include_object_is_the_whole_object():
    (r,) = table_object("Deployment", [SAMPLES["Deployment"]], NOW, include_object="Object")["rows"]
    assert r["object"] == SAMPLES["Deployment"]


def test_include_object_names_its_kind():
    bare = {"metadata": {"name": "cfg", "namespace": "default"}, "data": {}}
    (r,) = table_object("ConfigMap", [bare], NOW, include_object="Object")["rows"]
    assert (r["object"]["kind"], r["object"]["apiVersion"]) == ("ConfigMap", "v1")
    assert "kind" not in bare  # the caller's dict is left alone


def test_unknown_include_object():
    with pytest.raises(ValueError, match="unrecognized includeObject value: 'All'"):
        table_object("Pod", [], NOW, include_object="All")


def test_objects_are_not_modified():
    before = copy.deepcopy(SAMPLES)
    for kind, sample in SAMPLES.items():
        for include in ("None", "Metadata", "Object"):
            table_object(kind, [sample], NOW, include_object=include)
    assert SAMPLES == before


# --- The Table itself ---------------------------------------------------------------------------

def test_table_envelope():
    body = table_object("Pod", [SAMPLES["Pod"]], NOW)
    assert list(body) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert (body["kind"], body["apiVersion"], body["metadata"]) == ("Table", "meta.k8s.io/v1", {})
    assert json.loads(json.dumps(body)) == body


def test_list_metadata():
    body = table_object("Pod", [], NOW, resource_version="4711", continue_token="tok", remaining=12)
    assert body["metadata"] == {"resourceVersion": "4711", "continue": "tok", "remainingItemCount": 12}


def test_remaining_zero_is_kept():
    assert table_object("Pod", [], NOW, remaining=0)["metadata"] == {"remainingItemCount": 0}


def test_event_table():
    body = table_object("Event", [SAMPLES["Event"]], NOW)
    defs = body["columnDefinitions"]
    # No NAME up front: LAST SEEN leads; NAME is a wide column, last.
    assert [d["name"] for d in defs] == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source",
                                         "Message", "First Seen", "Count", "Name"]
    assert [d["priority"] for d in defs] == [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]
    assert defs[-1]["format"] == "name" and defs[0]["format"] == ""
    cells = body["rows"][0]["cells"]
    plain = [c for c, d in zip(cells, defs, strict=True) if d["priority"] == 0]
    assert plain == row(SAMPLES["Event"], NOW)


# --- Accept negotiation ---------------------------------------------------------------------

KUBECTL_GET = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
               "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(KUBECTL_GET, ("meta.k8s.io", "v1"), id="kubectl get"),
    pytest.param("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                 ("meta.k8s.io", "v1beta1"), id="v1beta1"),
    pytest.param("application/json", None, id="plain json"),
    pytest.param("", None, id="no header"),
    pytest.param("*/*", None, id="anything"),
    pytest.param("application/json, */*", None, id="client-go default"),
    pytest.param("application/json,application/json;as=Table;v=v1;g=meta.k8s.io", None,
                 id="plain json asked first"),
    pytest.param("application/json;q=0.9,application/json;as=Table;v=v1;g=meta.k8s.io",
                 ("meta.k8s.io", "v1"), id="q ranks above order"),
    pytest.param("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json",
                 None, id="partial metadata list is not a table"),
    pytest.param("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io," + KUBECTL_GET,
                 None, id="partial metadata asked first"),
    pytest.param("application/json;as=Table,application/json", None, id="table without group version"),
    pytest.param("application/json;as=Table;v=v2;g=meta.k8s.io," + KUBECTL_GET, ("meta.k8s.io", "v1"),
                 id="unknown table version skipped"),
    pytest.param("application/json;as=Table;v=v1;g=example.com,application/json", None, id="wrong group"),
    pytest.param("application/json;as=Widget;v=v1;g=meta.k8s.io," + KUBECTL_GET, ("meta.k8s.io", "v1"),
                 id="unknown conversion skipped"),
    pytest.param("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json", None,
                 id="protobuf tables are not served"),
    pytest.param("*/*;as=Table;v=v1;g=meta.k8s.io", ("meta.k8s.io", "v1"), id="wildcard"),
    pytest.param(" application/json ; as=Table ; v=v1 ; g=meta.k8s.io ", ("meta.k8s.io", "v1"), id="spaces"),
])
def test_wants_table(accept, expected):
    assert wants_table(accept) == expected
