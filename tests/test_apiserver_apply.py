"""kubectl apply's three-way patch (actors.apiserver.apply), table-driven.

Each case gives the last-applied manifest (*original*), the manifest applied
now (*modified*), the object as the server has it (*current*) and what the
object must be after the patch. The patch is checked by applying it with the
API server's own strategic merge patch, so a case says what apply *does*,
not how its patch is spelled.
"""

from __future__ import annotations

import copy
import json

import pytest

from actors.apiserver.apply import (
    LAST_APPLIED,
    changes,
    last_applied,
    original_of,
    three_way_patch,
    with_last_applied,
)
from actors.apiserver.patch import strategic_merge_patch


def deployment(containers: list[dict], *, replicas: int = 3, labels: dict | None = None, **spec) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": labels or {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, **spec,
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}},
    }


def nginx(image: str = "nginx:1.27", **extra) -> dict:
    return {"name": "nginx", "image": image, **extra}


def sidecar(**extra) -> dict:
    return {"name": "log", "image": "busybox", **extra}


def served(manifest: dict, **server_fields) -> dict:
    """``manifest`` as the server holds it after an apply: annotation, server fields, defaults."""
    obj = with_last_applied(manifest)
    obj["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z")
    for path, value in server_fields.items():
        node = obj
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(node, dict) else node[int(p)]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return obj


def containers_of(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def with_containers(obj: dict, containers: list[dict]) -> dict:
    obj = copy.deepcopy(obj)
    obj["spec"]["template"]["spec"]["containers"] = containers
    return obj


BASE = deployment([nginx()])

CASES = [
    # name, original, modified, current, expected (the object after the patch, annotation aside)
    ("add field",
     BASE, deployment([nginx()], minReadySeconds=5), served(BASE),
     lambda cur: {**cur, "spec": {**cur["spec"], "minReadySeconds": 5}}),
    ("change field",
     BASE, deployment([nginx()], replicas=5), served(BASE),
     lambda cur: {**cur, "spec": {**cur["spec"], "replicas": 5}}),
    ("remove a label the last apply set, keep the one someone else added",
     deployment([nginx()], labels={"app": "web", "tier": "front"}),
     deployment([nginx()], labels={"app": "web"}),
     served(deployment([nginx()], labels={"app": "web", "tier": "front", "team": "ops"})),
     lambda cur: {**cur, "metadata": {**cur["metadata"], "labels": {"app": "web", "team": "ops"}}}),
    ("remove a field the last apply set, keep defaults the server set",
     deployment([nginx()], minReadySeconds=5),
     BASE,
     served(deployment([nginx()], minReadySeconds=5), spec__revisionHistoryLimit=10),
     lambda cur: {**cur, "spec": {k: v for k, v in cur["spec"].items() if k != "minReadySeconds"}}),
    ("container added keeps the manifest's order",
     BASE, deployment([sidecar(), nginx()]), served(BASE),
     lambda cur: with_containers(cur, [sidecar(), nginx()])),
    ("container removed by name; one added by someone else stays",
     deployment([nginx(), sidecar()]), BASE,
     with_containers(served(deployment([nginx(), sidecar()])),
                     [nginx(), sidecar(), {"name": "mesh", "image": "envoy"}]),
     lambda cur: with_containers(cur, [nginx(), {"name": "mesh", "image": "envoy"}])),
    ("container changed by name, server defaults in it kept",
     BASE, deployment([nginx("nginx:1.28")]),
     with_containers(served(BASE), [nginx(imagePullPolicy="IfNotPresent")]),
     lambda cur: with_containers(cur, [nginx("nginx:1.28", imagePullPolicy="IfNotPresent")])),
    ("env var removed by name, the others kept",
     deployment([nginx(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]),
     deployment([nginx(env=[{"name": "A", "value": "1"}])]),
     served(deployment([nginx(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])])),
     lambda cur: with_containers(cur, [nginx(env=[{"name": "A", "value": "1"}])])),
    ("container port added merges by containerPort, defaults kept",
     deployment([nginx(ports=[{"containerPort": 80}])]),
     deployment([nginx(ports=[{"containerPort": 80}, {"containerPort": 443}])]),
     with_containers(served(deployment([nginx(ports=[{"containerPort": 80}])])),
                     [nginx(ports=[{"containerPort": 80, "protocol": "TCP"}])]),
     lambda cur: with_containers(cur, [nginx(ports=[{"containerPort": 80, "protocol": "TCP"},
                                                    {"containerPort": 443}])])),
    ("list without a merge key is replaced",
     deployment([nginx(args=["-g", "daemon off;"])]),
     deployment([nginx(args=["-c", "/etc/nginx.conf"])]),
     served(deployment([nginx(args=["-g", "daemon off;"])])),
     lambda cur: with_containers(cur, [nginx(args=["-c", "/etc/nginx.conf"])])),
    ("map removed whole",
     deployment([nginx(resources={"limits": {"cpu": "1"}})]), BASE,
     served(deployment([nginx(resources={"limits": {"cpu": "1"}})])),
     lambda cur: with_containers(cur, [nginx()])),
    ("null in the manifest removes a field",
     BASE, deployment([nginx()], minReadySeconds=None),
     served(deployment([nginx()], minReadySeconds=9)),
     lambda cur: {**cur, "spec": {k: v for k, v in cur["spec"].items() if k != "minReadySeconds"}}),
    ("never applied before: nothing deleted, fields set",
     None, deployment([nginx()], replicas=2, labels={"app": "web"}),
     {**copy.deepcopy(deployment([nginx(), sidecar()], labels={"app": "web", "x": "y"})),
      "status": {"replicas": 3}},
     lambda cur: {**cur, "spec": {**cur["spec"], "replicas": 2}}),
    ("service port changed, merged by port",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
      "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
      "spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
     served({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"},
                                {"port": 443, "protocol": "TCP"}], "clusterIP": "10.0.0.9"}}),
     lambda cur: {**cur, "spec": {"ports": [{"port": 80, "targetPort": 9090, "protocol": "TCP"}],
                                  "clusterIP": "10.0.0.9"}}),
    ("finalizer removed from a set-like list",
     {**BASE, "metadata": {**BASE["metadata"], "finalizers": ["a/x", "b/y"]}},
     {**BASE, "metadata": {**BASE["metadata"], "finalizers": ["a/x"]}},
     served({**BASE, "metadata": {**BASE["metadata"], "finalizers": ["a/x", "b/y"]}}),
     lambda cur: {**cur, "metadata": {**cur["metadata"], "finalizers": ["a/x"]}}),
]


def _without_annotation(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    annotations = obj["metadata"].get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if not annotations:
        obj["metadata"].pop("annotations", None)
    return obj


@pytest.mark.parametrize("name, original, modified, current, expected", CASES, ids=[c[0] for c in CASES])
def test_three_way_patch(name, original, modified, current, expected):
    before = copy.deepcopy((original, modified, current))
    patch = three_way_patch(original, modified, current, modified["kind"])
    assert (original, modified, current) == before, "inputs must not change"
    result = strategic_merge_patch(current, patch, modified["kind"])
    assert _without_annotation(result) == _without_annotation(expected(copy.deepcopy(current)))
    assert changes(patch), "every case changes something"
    # The annotation now records this apply, so applying the same manifest again is a no-op.
    assert original_of(result) == json.loads(last_applied(modified))
    assert three_way_patch(original_of(result), modified, result, modified["kind"]) == {}


def test_nothing_changed_is_an_empty_patch():
    current = served(BASE, spec__revisionHistoryLimit=10, status={"replicas": 3})
    assert three_way_patch(original_of(current), copy.deepcopy(BASE), current, "Deployment") == {}


def test_only_the_annotation_changes_when_a_removed_field_is_already_gone():
    original = deployment([nginx()], minReadySeconds=5)
    current = served(BASE)  # someone removed minReadySeconds by hand; the annotation still has it
    current["metadata"]["annotations"][LAST_APPLIED] = last_applied(original)
    patch = three_way_patch(original, BASE, current, "Deployment")
    assert changes(patch) == {}
    assert patch == {"metadata": {"annotations": {LAST_APPLIED: last_applied(BASE)}}}


def test_removed_container_is_a_delete_directive_and_order_follows_the_manifest():
    original = deployment([nginx(), sidecar()])
    patch = three_way_patch(original, BASE, served(original), "Deployment")
    pod = changes(patch)["spec"]["template"]["spec"]
    assert pod == {"$setElementOrder/containers": [{"name": "nginx"}],
                   "containers": [{"name": "log", "$patch": "delete"}]}


def test_last_applied_is_compact_sorted_json_without_itself():
    manifest = {"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": "c", "annotations": {LAST_APPLIED: "old", "a": "b"}}, "data": {"k": "v"}}
    text = last_applied(manifest)
    assert text == ('{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap",'
                    '"metadata":{"annotations":{"a":"b"},"name":"c"}}\n')
    created = with_last_applied(manifest)
    assert created["metadata"]["annotations"] == {"a": "b", LAST_APPLIED: text}
    assert manifest["metadata"]["annotations"][LAST_APPLIED] == "old"


def test_original_of_tolerates_missing_or_broken_annotations():
    assert original_of({"metadata": {}}) is None
    assert original_of({"metadata": {"annotations": {LAST_APPLIED: "{not json"}}}) is None
    assert original_of({"metadata": {"annotations": {LAST_APPLIED: '{"a": 1}'}}}) == {"a": 1}
