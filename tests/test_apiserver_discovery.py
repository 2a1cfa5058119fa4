"""API discovery documents (actors.apiserver.discovery).

Every stored kind in its group version's APIResourceList with Kubernetes'
verbs, short names, categories, scope and storage version hash; the
subresources (status, scale, log, binding, eviction) with the kinds and
groups Kubernetes gives them; the resources served without storage; the
/api, /apis and /apis/<group> documents; the aggregated
APIGroupDiscoveryList, parsed back the way client-go parses it and compared
with the legacy lists; and the Accept negotiation that chooses between them.
"""

from __future__ import annotations

import base64
import json

import pytest

from actors.apiserver import discovery
from actors.apiserver.discovery import (
    EXTRA_RESOURCES,
    STORED_VERBS,
    aggregated,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    group_versions,
    negotiate_discovery,
    parse_accept,
)
from actors.apiserver.kinds import KINDS

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                  "application/json")


def entries(group_version: str) -> dict[str, dict]:
    body = api_resource_list(group_version)
    assert body is not None
    return {r["name"]: r for r in body["resources"]}


# --- Stored kinds ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS), ids=list(KINDS))
def test_every_kind_is_in_its_group_versions_list(kind):
    k = KINDS[kind]
    r = entries(k.api_version)[k.resource]
    assert r["kind"] == k.kind
    assert r["singularName"] == k.singular
    assert r["namespaced"] is k.namespaced
    assert r["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    assert r.get("shortNames", []) == list(k.short_names)
    assert r.get("categories", []) == list(k.categories)
    # Same group version as the list: Kubernetes leaves group and version out.
    assert "group" not in r and "version" not in r
    assert len(base64.b64decode(r["storageVersionHash"])) == 8


def test_empty_short_names_and_categories_are_left_out():
    secret = entries("v1")["secrets"]
    assert "shortNames" not in secret and "categories" not in secret


def test_categories_mark_what_get_all_lists():
    in_all = {name for gv in group_versions() for name, r in entries(gv).items()
              if "all" in r.get("categories", ())}
    assert in_all == {"pods", "services", "deployments", "replicasets", "daemonsets", "statefulsets",
                      "jobs", "cronjobs"}


@pytest.mark.parametrize(("group_version", "resource", "expected"), [
    # The values a real kube-apiserver 1.32 lists.
    ("v1", "pods", "xPOwRZ+Yhw8="),
    ("v1", "configmaps", "qFsyl6wFWjQ="),
    ("apps/v1", "deployments", "8aSe+NMegvE="),
])
def test_storage_version_hash_is_kubernetes(group_version, resource, expected):
    assert entries(group_version)[resource]["storageVersionHash"] == expected


def test_resources_are_sorted_by_name_and_unique():
    for gv in group_versions():
        names = [r["name"] for r in api_resource_list(gv)["resources"]]
        assert names == sorted(names)
        assert len(names) == len(set(names)), gv


# --- Subresources -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k].subresources],
                         ids=[k for k in KINDS if KINDS[k].subresources])
def test_every_subresource_is_listed(kind):
    k = KINDS[kind]
    listed = entries(k.api_version)
    for sub in k.subresources:
        r = listed[f"{k.resource}/{sub}"]
        assert r["namespaced"] is k.namespaced
        assert r["singularName"] == ""
        assert "storageVersionHash" not in r and "shortNames" not in r


@pytest.mark.parametrize(("group_version", "name", "group", "version", "kind", "verbs"), [
    ("v1", "pods/status", None, None, "Pod", ["get", "patch", "update"]),
    ("v1", "pods/log", None, None, "Pod", ["get"]),
    ("v1", "pods/binding", None, None, "Binding", ["create"]),
    ("v1", "pods/eviction", "policy", "v1", "Eviction", ["create"]),
    ("v1", "nodes/status", None, None, "Node", ["get", "patch", "update"]),
    ("apps/v1", "deployments/status", None, None, "Deployment", ["get", "patch", "update"]),
    ("apps/v1", "deployments/scale", "autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    ("apps/v1", "replicasets/scale", "autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    ("apps/v1", "statefulsets/scale", "autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    ("batch/v1", "jobs/status", None, None, "Job", ["get", "patch", "update"]),
])
def test_subresource_entries(group_version, name, group, version, kind, verbs):
    r = entries(group_version)[name]
    assert r.get("group") == group
    assert r.get("version") == version
    assert r["kind"] == kind
    assert r["verbs"] == verbs


def test_eviction_is_where_kubectl_drain_looks_for_it():
    # CheckEvictionSupport: name pods/eviction, kind Eviction, group and version set.
    evictions = [r for r in api_resource_list("v1")["resources"] if r["name"] == "pods/eviction"]
    assert evictions == [{"name": "pods/eviction", "singularName": "", "namespaced": True,
                          "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}]


def test_kinds_without_subresources_list_none():
    assert [n for n in entries("v1") if n.startswith("configmaps/")] == []
    assert [n for n in entries("storage.k8s.io/v1") if "/" in n] == []


# --- Resources without storage -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), [
    ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    ("subjectaccessreviews", "SubjectAccessReview"),
])
def test_access_reviews(name, kind):
    r = entries("authorization.k8s.io/v1")[name]
    assert r == {"name": name, "singularName": kind.lower(), "namespaced": False, "kind": kind,
                 "verbs": ["create"]}


def test_extra_resources_all_appear():
    for extra in EXTRA_RESOURCES:
        assert extra.resource in entries(extra.api_version)


def test_stored_verbs_are_kubernetes_order():
    assert list(STORED_VERBS) == sorted(STORED_VERBS)


# --- /api, /apis, /apis/<group> ---------------------------------------------------------------

def test_api_versions():
    assert api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}


def test_group_versions_cover_kinds_and_extras_once():
    served = {k.api_version for k in KINDS.values()} | {e.api_version for e in EXTRA_RESOURCES}
    assert sorted(group_versions()) == sorted(served)
    assert group_versions()[0] == "v1"


def test_api_group_list():
    body = api_group_list()
    assert body["kind"] == "APIGroupList" and body["apiVersion"] == "v1"
    names = [g["name"] for g in body["groups"]]
    # Kubernetes' priority order, not alphabetical: apps first.
    assert names == ["apps", "authorization.k8s.io", "batch", "storage.k8s.io", "coordination.k8s.io",
                     "discovery.k8s.io"]
    for g in body["groups"]:
        assert g["versions"] == [{"groupVersion": f"{g['name']}/v1", "version": "v1"}]
        assert g["preferredVersion"] == g["versions"][0]


def test_api_group():
    assert api_group("apps") == {
        "kind": "APIGroup", "apiVersion": "v1", "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}


@pytest.mark.parametrize("group", ["", "policy", "autoscaling", "nope.example.com"])
def test_api_group_not_served(group):
    # policy and autoscaling only name subresources' kinds; they serve nothing themselves.
    assert api_group(group) is None


@pytest.mark.parametrize("group_version", ["v2", "apps/v2", "policy/v1", "apps", "", "nope/v1"])
def test_api_resource_list_not_served(group_version):
    assert api_resource_list(group_version) is None


def test_resource_list_envelopes():
    legacy = api_resource_list("v1")
    # kube-apiserver writes no apiVersion on /api/v1's list, and does on the groups'.
    assert list(legacy)[:2] == ["kind", "groupVersion"] and "apiVersion" not in legacy
    apps = api_resource_list("apps/v1")
    assert (apps["kind"], apps["apiVersion"], apps["groupVersion"]) == ("APIResourceList", "v1", "apps/v1")


def test_documents_are_json():
    for doc in [api_versions("x:1"), api_group_list(), aggregated(True), aggregated(False, "v2beta1"),
                *(api_resource_list(gv) for gv in group_versions())]:
        assert json.loads(json.dumps(doc)) == doc


# --- Aggregated discovery ---------------------------------------------------------------------

def split_groups_and_resources(body: dict) -> tuple[list[dict], dict[str, list[dict]]]:
    """client-go's SplitGroupsAndResources (discovery/aggregated_discovery.go), in Python.

    Resources without a responseKind are dropped (only their subresources
    survive), as are subresources without one; stale versions are skipped.
    """
    groups: list[dict] = []
    by_gv: dict[str, list[dict]] = {}
    for item in body["items"]:
        name = item.get("metadata", {}).get("name", "")
        group = {"name": name, "versions": []}
        for v in item.get("versions", []):
            gv = f"{name}/{v['version']}" if name else v["version"]
            if v.get("freshness") == "Stale":
                continue
            group["versions"].append({"groupVersion": gv, "version": v["version"]})
            resources: list[dict] = []
            for r in v.get("resources", []):
                parent = {"name": r["resource"], "singularName": r["singularResource"],
                          "namespaced": r["scope"] == "Namespaced", "verbs": r["verbs"],
                          "shortNames": r.get("shortNames"), "categories": r.get("categories")}
                kind = r.get("responseKind") or {}
                if kind.get("kind") or kind.get("group") or kind.get("version"):
                    resources.append({**parent, "group": kind["group"], "version": kind["version"],
                                      "kind": kind["kind"]})
                for s in r.get("subresources", []):
                    sk = s.get("responseKind") or {}
                    if not (sk.get("kind") or sk.get("group") or sk.get("version")):
                        continue
                    resources.append({"name": f"{r['resource']}/{s['subresource']}",
                                      "singularName": parent["singularName"],
                                      "namespaced": parent["namespaced"], "group": sk["group"],
                                      "version": sk["version"], "kind": sk["kind"], "verbs": s["verbs"],
                                      "shortNames": None, "categories": None})
            by_gv[gv] = resources
        group["preferredVersion"] = group["versions"][0]
        groups.append(group)
    return groups, by_gv


def as_client_go(legacy_entry: dict, parent_singular: str | None) -> dict:
    """A legacy entry as client-go holds it after the aggregated conversion."""
    return {"name": legacy_entry["name"],
            # The conversion gives subresources their parent's singular name.
            "singularName": parent_singular if parent_singular is not None else legacy_entry["singularName"],
            "namespaced": legacy_entry["namespaced"], "verbs": legacy_entry["verbs"],
            "shortNames": legacy_entry.get("shortNames"), "categories": legacy_entry.get("categories"),
            "group": legacy_entry.get("group", ""), "version": legacy_entry.get("version", ""),
            "kind": legacy_entry["kind"]}


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_parses_into_the_legacy_lists(version):
    groups, by_gv = split_groups_and_resources(aggregated(False, version))
    legacy_groups, legacy_v1 = split_groups_and_resources(aggregated(True, version))
    assert legacy_groups == [{"name": "", "versions": [{"groupVersion": "v1", "version": "v1"}],
                              "preferredVersion": {"groupVersion": "v1", "version": "v1"}}]
    assert groups == api_group_list()["groups"]
    by_gv.update(legacy_v1)
    assert sorted(by_gv) == sorted(group_versions())
    for gv, got in by_gv.items():
        listed = api_resource_list(gv)["resources"]
        singular = {r["name"]: r["singularName"] for r in listed}
        want = [as_client_go(r, singular[r["name"].split("/")[0]] if "/" in r["name"] else None)
                for r in listed]
        assert sorted(got, key=lambda r: r["name"]) == want, gv


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_envelope(version):
    body = aggregated(False, version)
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    assert [i["metadata"]["name"] for i in body["items"]] == [g["name"] for g in api_group_list()["groups"]]
    for item in body["items"]:
        for v in item["versions"]:
            assert v["freshness"] == "Current"
            for r in v["resources"]:
                # Without a responseKind client-go would drop the resource.
                assert r["responseKind"]["kind"]
                assert r["scope"] in ("Namespaced", "Cluster")
                for s in r.get("subresources", []):
                    assert s["responseKind"]["kind"] and s["verbs"]


def test_aggregated_legacy_item():
    body = aggregated(True)
    assert len(body["items"]) == 1
    item = body["items"][0]
    assert item["metadata"].get("name", "") == ""
    assert [v["version"] for v in item["versions"]] == ["v1"]
    pods = next(r for r in item["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    assert pods["singularResource"] == "pod" and pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"] == {"subresource": "eviction",
                                "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
                                "verbs": ["create"]}
    assert sorted(subs) == ["binding", "eviction", "log", "status"]


def test_aggregated_scale_and_cluster_scope():
    apps = next(i for i in aggregated(False)["items"] if i["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    authz = next(i for i in aggregated(False)["items"] if i["metadata"]["name"] == "authorization.k8s.io")
    scopes = {r["resource"]: r["scope"] for r in authz["versions"][0]["resources"]}
    assert scopes == {"selfsubjectaccessreviews": "Cluster", "subjectaccessreviews": "Cluster"}


def test_aggregated_unknown_version():
    with pytest.raises(ValueError):
        aggregated(False, "v1")


# --- Accept negotiation ---------------------------------------------------------------------

AGG = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(KUBECTL_ACCEPT, "v2", id="kubectl 1.32"),
    pytest.param(AGG.format(v="v2beta1") + "," + AGG.format(v="v2") + ",application/json", "v2beta1",
                 id="the client's order"),
    pytest.param("application/json", None, id="plain json"),
    pytest.param("application/json, */*", None, id="kubectl's legacy request"),
    pytest.param("", None, id="no header"),
    pytest.param("*/*", None, id="anything"),
    pytest.param("application/json," + AGG.format(v="v2"), None, id="plain json asked first"),
    pytest.param("application/json;q=0.5," + AGG.format(v="v2"), "v2", id="q ranks above order"),
    pytest.param("application/json;as=Table;v=v1;g=meta.k8s.io," + AGG.format(v="v2"), "v2",
                 id="a conversion not served here is skipped"),
    pytest.param(AGG.format(v="v3") + ",application/json", None, id="unknown version skipped"),
    pytest.param("application/json;g=example.com;v=v2;as=APIGroupDiscoveryList", None, id="wrong group"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2", None, id="no as: not the aggregated kind"),
    pytest.param("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                 "application/json", None, id="protobuf is not served"),
    pytest.param("*/*;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2", id="wildcard type"),
    pytest.param("application/*;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", "v2beta1",
                 id="wildcard subtype"),
    pytest.param(" application/json ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList ", "v2",
                 id="spaces"),
    pytest.param("text/html," + AGG.format(v="v2"), "v2", id="unservable types skipped"),
])
def test_negotiate_discovery(accept, expected):
    assert negotiate_discovery(accept) == expected


def test_parse_accept_order():
    clauses = parse_accept("*/*;q=0.8, text/*, application/json;q=0.9, text/html, application/yaml")
    # goautoneg's comparison is not a strict order: a concrete subtype beats a
    # wildcard whatever their q, so json (0.9) passes text/* (1.0). Kept, as the
    # API server does the same.
    assert [(c.type, c.subtype, c.q) for c in clauses] == [
        ("text", "html", 1.0), ("application", "yaml", 1.0), ("application", "json", 0.9),
        ("text", "*", 1.0), ("*", "*", 0.8)]


def test_parse_accept_keeps_the_order_of_equals():
    clauses = parse_accept("application/yaml, application/json, application/vnd.kubernetes.protobuf")
    assert [c.subtype for c in clauses] == ["yaml", "json", "vnd.kubernetes.protobuf"]


def test_parse_accept_params_and_junk():
    (c,) = parse_accept("application/json;as=Table;v=v1;g=meta.k8s.io;flag,bogus")
    assert c.params == {"as": "Table", "v": "v1", "g": "meta.k8s.io"}
    assert [c.q for c in parse_accept("application/json;q=x")] == [0.0]


def test_the_module_lists_its_api():
    for name in discovery.__all__:
        assert hasattr(discovery, name)
