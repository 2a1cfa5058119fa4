"""The API server's OpenAPI documents (actors.apiserver.openapi).

What kubectl relies on, checked on the documents themselves: the v3 index
names every group version served with the hash of its document; every
``$ref`` of every document resolves inside it and no ``type`` is a JSON
Schema list; kinds carry their group-version-kind where ``kubectl explain``
looks for them (the schemas and the list/get operations); fields keep the
patch strategies and merge keys ``kubectl apply`` reads; every PATCH
operation lists ``fieldValidation`` (how kubectl decides the server validates
fields) and accepts a strategic merge patch. Then the Swagger 2.0 document,
and :func:`unknown_fields` against kube-apiserver's strict-decoding paths.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from actors.apiserver import openapi
from actors.apiserver.kinds import KINDS

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"
DEPLOYMENT_ITEM = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
METHODS = ("get", "put", "post", "patch", "delete")

SERVED = sorted({k.api_version for k in KINDS.values()} | {"authorization.k8s.io/v1"})


def doc_path(group_version: str) -> str:
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


def v3(group_version: str) -> dict:
    found = openapi.v3_document(doc_path(group_version))
    assert found is not None, group_version
    return found[0]


def walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON path, object) pair in a document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def operations(doc: dict) -> Iterator[tuple[str, str, dict]]:
    for url, entry in doc["paths"].items():
        for method in METHODS:
            if method in entry:
                yield url, method, entry[method]


# ---------------------------------------------------------------- the index and hashes


def test_index_lists_every_group_version_with_its_documents_hash():
    index = openapi.v3_index()
    assert sorted(index["paths"]) == sorted(doc_path(gv) for gv in SERVED)
    for path, entry in index["paths"].items():
        doc, digest = openapi.v3_document(path)
        assert entry == {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        assert digest == hashlib.sha512(openapi.canonical_json(doc)).hexdigest().upper()


def test_documents_serialize_to_their_canonical_bytes():
    # The front serves orjson.dumps(doc): those must be the bytes the hash was taken of.
    for gv in SERVED:
        doc = v3(gv)
        assert orjson.dumps(doc) == openapi.canonical_json(doc)
    assert orjson.dumps(openapi.v2_document()) == openapi.canonical_json(openapi.v2_document())


def test_schemas_load_lazily_and_hashes_are_stable_across_processes():
    script = (
        "from actors.apiserver import openapi\n"
        "assert openapi._defs.cache_info().currsize == 0, 'schemas loaded at import'\n"
        "print(openapi.v3_index()['paths']['apis/apps/v1']['serverRelativeURL'])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == openapi.v3_index()["paths"]["apis/apps/v1"]["serverRelativeURL"]


def test_document_lookup_accepts_kubectls_url_forms_and_refuses_unknown_ones():
    doc, digest = openapi.v3_document("apis/apps/v1")
    assert openapi.v3_document(f"/apis/apps/v1?hash={digest}") == (doc, digest)
    assert openapi.v3_document("apis/apps/v1/") == (doc, digest)
    assert openapi.v3_document("apis/apps/v2") is None
    assert openapi.v3_document("apis/policy/v1") is None
    assert openapi.v3_document("") is None


# ---------------------------------------------------------------- schemas


def test_document_header_is_kubernetes_1_32():
    doc = v3("apps/v1")
    assert doc["openapi"] == "3.0.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    assert doc["components"]["securitySchemes"]["BearerToken"]["type"] == "apiKey"


@pytest.mark.parametrize("group_version", SERVED)
def test_every_ref_resolves_inside_its_document_and_no_type_is_a_list(group_version):
    doc = v3(group_version)
    schemas = doc["components"]["schemas"]
    refs = 0
    for where, node in walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith(V3_REF), (where, ref)
            assert ref[len(V3_REF):] in schemas, (where, ref)
            assert set(node) == {"$ref"}, f"{where}: $ref with siblings, which OpenAPI 3.0 ignores"
            refs += 1
        if "type" in node and where.split("/")[-1] != "properties":
            assert isinstance(node["type"], str), (where, node["type"])
    assert refs > 0


@pytest.mark.parametrize("group_version", SERVED)
def test_no_schema_is_unused(group_version):
    doc = v3(group_version)
    used = {node["$ref"][len(V3_REF):] for _, node in walk(doc) if isinstance(node.get("$ref"), str)}
    assert set(doc["components"]["schemas"]) == used


def test_deployment_schema_has_its_gvk_and_a_described_spec():
    schemas = v3("apps/v1")["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["type"] == "object"
    spec = deployment["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": V3_REF + "io.k8s.api.apps.v1.DeploymentSpec"}]
    assert spec["description"] == "Specification of the desired behavior of the Deployment."
    assert spec["default"] == {}
    # The JSON Schema source pins apiVersion and kind with an enum; Kubernetes does not.
    assert deployment["properties"]["apiVersion"] == {
        "description": deployment["properties"]["apiVersion"]["description"], "type": "string"}
    assert "enum" not in deployment["properties"]["kind"]
    assert schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"] == ["selector", "template"]


def test_patch_strategies_and_merge_keys_are_kept_where_kubectl_apply_reads_them():
    schemas = v3("v1")["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"] == {"allOf": [{"$ref": V3_REF + "io.k8s.api.core.v1.Container"}], "default": {}}
    # A $ref with an extension beside it keeps the extension outside the allOf.
    strategy = v3("apps/v1")["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert strategy["allOf"] == [{"$ref": V3_REF + "io.k8s.api.apps.v1.DeploymentStrategy"}]
    finalizers = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"]
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    assert finalizers["items"] == {"default": "", "type": "string"}


def test_int_or_string_and_quantity_take_kube_openapis_forms():
    schemas = v3("apps/v1")["components"]["schemas"]
    int_or_string = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert int_or_string["format"] == "int-or-string"
    assert "type" not in int_or_string  # kubectl explain prints <IntOrString>, not <string>
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    assert quantity["oneOf"] == [{"type": "string"}, {"type": "number"}]
    assert quantity["description"].startswith("Quantity is a fixed-point representation of a number.")
    limits = v3("v1")["components"]["schemas"]["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": V3_REF + "io.k8s.apimachinery.pkg.api.resource.Quantity"}
    max_surge = schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert max_surge["allOf"] == [{"$ref": V3_REF + "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    assert "default" not in max_surge


def test_zero_defaults_follow_kube_openapi_where_the_source_allows():
    schemas = v3("apps/v1")["components"]["schemas"]
    condition = schemas["io.k8s.api.apps.v1.DeploymentCondition"]["properties"]
    assert condition["type"]["default"] == ""  # required string
    assert "default" not in condition["message"]  # optional
    assert "default" not in condition["lastTransitionTime"]  # Time has its own form
    assert "default" not in schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["selector"]  # a pointer
    labels = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"]
    assert labels["additionalProperties"] == {"default": "", "type": "string"}


@pytest.mark.parametrize("group_version", SERVED)
def test_schemas_and_operations_needed_by_the_paths_are_present(group_version):
    schemas = v3(group_version)["components"]["schemas"]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList" in schemas
    stored = [k for k in KINDS.values() if k.api_version == group_version]
    if stored:
        for name in ("Status", "DeleteOptions", "WatchEvent", "Patch", "ObjectMeta", "ListMeta"):
            assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{name}" in schemas
    for kind in stored:
        for suffix in ("", "List"):
            assert any({"group": kind.group, "kind": kind.kind + suffix, "version": kind.version}
                       in s.get("x-kubernetes-group-version-kind", ()) for s in schemas.values()), kind.kind + suffix


def test_subresource_and_extra_bodies_are_in_their_documents():
    core = v3("v1")["components"]["schemas"]
    assert {"io.k8s.api.policy.v1.Eviction", "io.k8s.api.core.v1.Binding"} <= set(core)
    assert "io.k8s.api.autoscaling.v1.Scale" in v3("apps/v1")["components"]["schemas"]
    authz = v3("authorization.k8s.io/v1")["components"]["schemas"]
    assert {"io.k8s.api.authorization.v1.SelfSubjectAccessReview",
            "io.k8s.api.authorization.v1.SubjectAccessReview"} <= set(authz)


# ---------------------------------------------------------------- paths


def test_patch_of_a_deployment_lists_field_validation_and_the_patch_types():
    patch = v3("apps/v1")["paths"][DEPLOYMENT_ITEM]["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    query = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= query
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
    assert patch["requestBody"]["content"]["application/strategic-merge-patch+json"]["schema"] == {
        "$ref": V3_REF + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    ok = patch["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": V3_REF + "io.k8s.api.apps.v1.Deployment"}


@pytest.mark.parametrize("group_version", SERVED)
def test_every_write_lists_field_validation_and_every_patch_takes_a_strategic_merge_patch(group_version):
    # kubectl's query-param verifier and apply look at whichever PATCH of the GVK they meet first.
    for url, method, op in operations(v3(group_version)):
        names = {p["name"] for p in op.get("parameters", ())}
        if method in ("post", "put", "patch"):
            assert "fieldValidation" in names, (url, method)
            assert "dryRun" in names and "fieldManager" in names, (url, method)
        if method == "patch":
            assert "force" in names
            assert "application/strategic-merge-patch+json" in op["requestBody"]["content"], url
            assert isinstance(op["x-kubernetes-group-version-kind"], dict), url


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.kind)
def test_kubectl_explain_finds_each_kinds_gvk_in_its_paths_and_schemas(kind):
    # kubectl explain's template: the GVK of the get/post/... op at /<prefix>/<v>[/namespaces/{namespace}]/<res>,
    # then the component schema whose x-kubernetes-group-version-kind list contains it.
    doc = v3(kind.api_version)
    prefix = "/api" if not kind.group else f"/apis/{kind.group}"
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    collection = doc["paths"][f"{prefix}/{kind.version}{scope}/{kind.resource}"]
    gvk = {"group": kind.group, "kind": kind.kind, "version": kind.version}
    assert collection["get"]["x-kubernetes-group-version-kind"] == gvk
    assert collection["get"]["x-kubernetes-action"] == "list"
    matches = [n for n, s in doc["components"]["schemas"].items() if gvk in s.get("x-kubernetes-group-version-kind", ())]
    assert len(matches) == 1
    assert doc["paths"][f"{prefix}/{kind.version}{scope}/{kind.resource}/{{name}}"]["get"][
        "x-kubernetes-group-version-kind"] == gvk


def test_paths_and_operation_ids_are_kube_apiservers():
    core, apps = v3("v1")["paths"], v3("apps/v1")["paths"]
    assert core["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]["operationId"] == "readCoreV1NamespacedPod"
    assert core["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert core["/api/v1/namespaces/{namespace}/pods"]["delete"]["x-kubernetes-action"] == "deletecollection"
    assert core["/api/v1/namespaces/{namespace}/pods"]["post"]["description"] == "create a Pod"
    assert core["/api/v1/namespaces/{namespace}/endpoints"]["post"]["description"] == "create Endpoints"
    assert core["/api/v1/namespaces/{namespace}/events"]["post"]["description"] == "create an Event"
    assert core["/api/v1/nodes/{name}"]["put"]["operationId"] == "replaceCoreV1Node"
    assert core["/api/v1/nodes/{name}/status"]["patch"]["operationId"] == "patchCoreV1NodeStatus"
    assert "delete" not in core["/api/v1/namespaces"]  # namespaces have no deletecollection
    assert core["/api/v1/watch/namespaces/{namespace}/pods"]["get"]["x-kubernetes-action"] == "watchlist"
    status = core["/api/v1/namespaces/{namespace}/pods/{name}/status"]
    assert set(status) == {"get", "put", "patch", "parameters"}
    assert status["get"]["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Pod", "version": "v1"}
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["operationId"] == "readAppsV1NamespacedDeploymentScale"
    assert scale["put"]["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale" not in apps
    assert apps["/apis/apps/v1/"]["get"]["operationId"] == "getAppsV1APIResources"
    item_params = {p["name"]: p for p in apps[DEPLOYMENT_ITEM]["parameters"]}
    assert item_params["name"] == {"description": "name of the Deployment", "in": "path", "name": "name",
                                   "required": True, "schema": {"type": "string", "uniqueItems": True}}
    assert item_params["namespace"]["required"] is True and "pretty" in item_params
    list_params = {p["name"] for p in apps["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]["parameters"]}
    assert {"labelSelector", "fieldSelector", "resourceVersion", "limit", "continue", "watch",
            "allowWatchBookmarks", "timeoutSeconds"} <= list_params


def test_extra_endpoints_are_served_as_kubernetes_serves_them():
    core = v3("v1")["paths"]
    eviction = core["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]
    assert set(eviction) == {"post", "parameters"}
    assert eviction["post"]["operationId"] == "createCoreV1NamespacedPodEviction"
    assert eviction["post"]["x-kubernetes-group-version-kind"] == {"group": "policy", "kind": "Eviction", "version": "v1"}
    assert eviction["post"]["requestBody"]["content"]["*/*"]["schema"] == {"$ref": V3_REF + "io.k8s.api.policy.v1.Eviction"}
    binding = core["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]
    assert binding["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Binding", "version": "v1"}
    log = core["/api/v1/namespaces/{namespace}/pods/{name}/log"]
    assert log["get"]["operationId"] == "readCoreV1NamespacedPodLog"
    assert log["get"]["responses"]["200"]["content"]["text/plain"]["schema"] == {"type": "string"}
    assert {"container", "follow", "previous", "tailLines", "timestamps"} <= {p["name"] for p in log["parameters"]}
    authz = v3("authorization.k8s.io/v1")["paths"]
    review = authz["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert set(review) == {"post", "parameters"}
    assert review["post"]["operationId"] == "createAuthorizationV1SelfSubjectAccessReview"
    assert review["post"]["x-kubernetes-group-version-kind"]["kind"] == "SelfSubjectAccessReview"
    assert authz["/apis/authorization.k8s.io/v1/subjectaccessreviews"]["post"]["operationId"] == \
        "createAuthorizationV1SubjectAccessReview"


def test_operation_ids_are_unique():
    ids = [op["operationId"] for gv in SERVED for _, _, op in operations(v3(gv))]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- v2


def test_v2_document_covers_every_kind_with_resolving_plain_refs():
    doc = openapi.v2_document()
    assert doc["swagger"] == "2.0"
    assert doc["info"]["version"] == "v1.32.0"
    definitions = doc["definitions"]
    for where, node in walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith(V2_REF) and ref[len(V2_REF):] in definitions, (where, ref)
        assert "allOf" not in node, where
        if "type" in node and where.split("/")[-1] != "properties":
            assert isinstance(node["type"], str), where
    for kind in KINDS.values():
        gvk = {"group": kind.group, "kind": kind.kind, "version": kind.version}
        assert any(gvk in d.get("x-kubernetes-group-version-kind", ()) for d in definitions.values()), kind.kind
    spec = definitions["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
    assert spec == {"$ref": V2_REF + "io.k8s.api.apps.v1.DeploymentSpec",
                    "description": "Specification of the desired behavior of the Deployment."}
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    patch = doc["paths"][DEPLOYMENT_ITEM]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "/api/v1/nodes/{name}"} <= set(doc["paths"])


# ---------------------------------------------------------------- unknown fields


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "any/key": "x"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web", "image": "nginx:1.25",
                        "ports": [{"containerPort": 80, "name": "http"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    }],
                    "nodeSelector": {"disk": "ssd"},
                },
            },
        },
        "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
    }


def test_a_valid_deployment_has_no_unknown_fields():
    assert openapi.unknown_fields("Deployment", deployment()) == []


def test_unknown_fields_are_named_as_strict_decoding_names_them():
    obj = deployment()
    obj["spec"]["foo"] = 1
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    obj["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox", "bogus": {"x": 1}})
    obj["metadata"]["labelz"] = {"a": "b"}
    obj["status"]["conditions"][0]["extra"] = None
    obj["Spec"] = {}  # the decoder is case-sensitive
    assert openapi.unknown_fields("Deployment", obj) == [
        "Spec",
        "metadata.labelz",
        "spec.foo",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.containers[1].bogus",
        "status.conditions[0].extra",
    ]


def test_map_keys_int_or_string_and_quantity_values_are_never_unknown():
    obj = deployment()
    obj["metadata"]["labels"]["whatever.example.com/anything"] = "v"
    obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 3
    assert openapi.unknown_fields("Deployment", obj) == []
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                  "data": {"any.key": "v", "other": "w"}, "binaryData": {"b": "AA=="}}
    assert openapi.unknown_fields("ConfigMap", config_map) == []
    config_map["datta"] = {}
    assert openapi.unknown_fields("ConfigMap", config_map) == ["datta"]


def test_opaque_values_stop_the_walk():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:anything": {}}}}]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert openapi.unknown_fields("Pod", pod) == []


def test_wrong_types_and_nulls_are_not_unknown_fields():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = {"not": "a list"}
    obj["spec"]["selector"] = None
    obj["metadata"]["labels"] = ["not", "a", "map"]
    assert openapi.unknown_fields("Deployment", obj) == []


def test_unknown_fields_of_subresource_and_review_bodies():
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
             "spec": {"replicas": 3, "replica": 4}}
    assert openapi.unknown_fields("Scale", scale) == ["spec.replica"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"},
                "deleteOptions": {"gracePeriodSeconds": 0, "grace": 1}}
    assert openapi.unknown_fields("Eviction", eviction) == ["deleteOptions.grace"]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "resourc": "x"}}}
    assert openapi.unknown_fields("SelfSubjectAccessReview", review) == ["spec.resourceAttributes.resourc"]


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.kind)
def test_every_stored_kind_can_be_checked(kind):
    obj = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": "x"}, "zzz": 1}
    assert openapi.unknown_fields(kind.kind, obj) == ["zzz"]


def test_an_unserved_kind_is_a_key_error():
    with pytest.raises(KeyError):
        openapi.unknown_fields("CustomResourceDefinition", {})
