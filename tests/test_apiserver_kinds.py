"""The kind table (actors.apiserver.kinds).

Covers the twenty kinds' apiVersions, resources, scopes, short names,
subresources and categories as ``kubectl api-resources`` shows them; lookup
by every name form kubectl accepts; ``for_object``'s errors for unknown
kinds, wrong versions and missing fields; and the store keys and prefixes.
"""

from __future__ import annotations

import pytest

from actors.apiserver.kinds import (
    KINDS,
    Kind,
    UnknownKind,
    for_object,
    lookup,
    registry_key,
    registry_prefix,
)

# kind, apiVersion, resource, namespaced, short names, subresources, in "all"
TABLE = [
    ("Namespace", "v1", "namespaces", False, ("ns",), ("status",), False),
    ("Node", "v1", "nodes", False, ("no",), ("status",), False),
    ("Pod", "v1", "pods", True, ("po",), ("status", "binding", "log", "eviction"), True),
    ("Service", "v1", "services", True, ("svc",), ("status",), True),
    ("Endpoints", "v1", "endpoints", True, ("ep",), (), False),
    ("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", True, (), (), False),
    ("ConfigMap", "v1", "configmaps", True, ("cm",), (), False),
    ("Secret", "v1", "secrets", True, (), (), False),
    ("ServiceAccount", "v1", "serviceaccounts", True, ("sa",), (), False),
    ("Event", "v1", "events", True, ("ev",), (), False),
    ("Lease", "coordination.k8s.io/v1", "leases", True, (), (), False),
    ("Deployment", "apps/v1", "deployments", True, ("deploy",), ("status", "scale"), True),
    ("ReplicaSet", "apps/v1", "replicasets", True, ("rs",), ("status", "scale"), True),
    ("DaemonSet", "apps/v1", "daemonsets", True, ("ds",), ("status",), True),
    ("StatefulSet", "apps/v1", "statefulsets", True, ("sts",), ("status", "scale"), True),
    ("Job", "batch/v1", "jobs", True, (), ("status",), True),
    ("CronJob", "batch/v1", "cronjobs", True, ("cj",), ("status",), True),
    ("PersistentVolume", "v1", "persistentvolumes", False, ("pv",), ("status",), False),
    ("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, ("pvc",), ("status",), False),
    ("StorageClass", "storage.k8s.io/v1", "storageclasses", False, ("sc",), (), False),
]


def test_the_table_has_exactly_the_twenty_kinds():
    assert list(KINDS) == [row[0] for row in TABLE]


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
def test_kind_matches_kubernetes_discovery(row):
    kind, api_version, resource, namespaced, short, sub, in_all = row
    k = KINDS[kind]
    group, _, version = api_version.rpartition("/")
    assert k == Kind(
        kind=kind,
        api_version=api_version,
        group=group,
        version=version,
        resource=resource,
        namespaced=namespaced,
        short_names=short,
        singular=kind.lower(),
        subresources=sub,
        categories=("all",) if in_all else (),
    )


def _names(k: Kind) -> list[str]:
    forms = [k.kind, k.kind.lower(), k.kind.upper(), k.resource, k.resource.upper(), k.singular, *k.short_names]
    if k.group:
        for base in (k.resource, k.singular, *k.short_names):
            forms += [f"{base}.{k.group}", f"{base}.{k.version}.{k.group}"]
    return forms


LOOKUP_CASES = [(form, k.kind) for k in KINDS.values() for form in _names(k)]


@pytest.mark.parametrize(("name", "kind"), LOOKUP_CASES, ids=[c[0] for c in LOOKUP_CASES])
def test_lookup_resolves_every_form(name, kind):
    assert lookup(name) is KINDS[kind]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "foo",
        "pod.",
        "pods.apps",  # core kinds take no group
        "pods.v1",
        "deployments.batch",  # the wrong group
        "deployments.v2.apps",
        "deployments.extensions",
        "leases.coordination",
        "ReplicationController",
        "podz",
        None,
        42,
    ],
)
def test_lookup_rejects(name):
    assert lookup(name) is None


FOR_OBJECT_CASES = [
    ("pod", {"apiVersion": "v1", "kind": "Pod"}, "Pod"),
    ("deployment", {"apiVersion": "apps/v1", "kind": "Deployment"}, "Deployment"),
    ("lease", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}, "Lease"),
    ("endpointslice", {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"}, "EndpointSlice"),
    ("storageclass", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass"}, "StorageClass"),
    ("cronjob", {"apiVersion": "batch/v1", "kind": "CronJob"}, "CronJob"),
]


@pytest.mark.parametrize(("name", "obj", "kind"), FOR_OBJECT_CASES, ids=[c[0] for c in FOR_OBJECT_CASES])
def test_for_object_finds_the_kind(name, obj, kind):
    assert for_object(obj) is KINDS[kind]


FOR_OBJECT_ERRORS = [
    ("unknown kind", {"apiVersion": "v1", "kind": "Foo"}, 'no matches for kind "Foo" in version "v1"'),
    ("deployment in core", {"apiVersion": "v1", "kind": "Deployment"},
     'no matches for kind "Deployment" in version "v1"'),
    ("old deployment version", {"apiVersion": "extensions/v1beta1", "kind": "Deployment"},
     'no matches for kind "Deployment" in version "extensions/v1beta1"'),
    ("pod in apps", {"apiVersion": "apps/v1", "kind": "Pod"}, 'no matches for kind "Pod" in version "apps/v1"'),
    ("events.k8s.io event", {"apiVersion": "events.k8s.io/v1", "kind": "Event"},
     'no matches for kind "Event" in version "events.k8s.io/v1"'),
    ("kind in lower case", {"apiVersion": "v1", "kind": "pod"}, 'no matches for kind "pod" in version "v1"'),
    ("no kind", {"apiVersion": "v1"}, "Object 'Kind' is missing"),
    ("empty kind", {"apiVersion": "v1", "kind": ""}, "Object 'Kind' is missing"),
    ("no apiVersion", {"kind": "Pod"}, "Object 'apiVersion' is missing"),
    ("non-string apiVersion", {"kind": "Pod", "apiVersion": 1}, "Object 'apiVersion' is missing"),
    ("not an object", ["Pod"], "expected an object, got list"),
]


@pytest.mark.parametrize(("name", "obj", "message"), FOR_OBJECT_ERRORS, ids=[c[0] for c in FOR_OBJECT_ERRORS])
def test_for_object_errors(name, obj, message):
    with pytest.raises(UnknownKind) as caught:
        for_object(obj)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


KEY_CASES = [
    ("namespaced", KINDS["Pod"], "default", "web", "/registry/pods/default/web"),
    ("by name", "deploy", "prod", "api", "/registry/deployments/prod/api"),
    ("grouped name", "leases.coordination.k8s.io", "kube-node-lease", "n1", "/registry/leases/kube-node-lease/n1"),
    ("cluster-scoped", KINDS["Node"], None, "node-1", "/registry/nodes/node-1"),
    ("cluster-scoped empty namespace", "ns", "", "default", "/registry/namespaces/default"),
    ("endpoints", "Endpoints", "default", "kubernetes", "/registry/endpoints/default/kubernetes"),
]


@pytest.mark.parametrize(("name", "kind", "namespace", "obj_name", "key"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_registry_key(name, kind, namespace, obj_name, key):
    assert registry_key(kind, namespace, obj_name) == key


KEY_ERRORS = [
    ("namespaced without namespace", "pods", None, "web", "pods is namespaced"),
    ("cluster-scoped with namespace", "nodes", "default", "n1", "nodes is not namespaced"),
    ("no name", "pods", "default", "", "a name is required"),
    ("unknown kind", "widgets", "default", "w", 'the server doesn\'t have a resource type "widgets"'),
]


@pytest.mark.parametrize(("name", "kind", "namespace", "obj_name", "message"), KEY_ERRORS,
                         ids=[c[0] for c in KEY_ERRORS])
def test_registry_key_errors(name, kind, namespace, obj_name, message):
    with pytest.raises(ValueError, match=message):
        registry_key(kind, namespace, obj_name)


PREFIX_CASES = [
    ("all namespaces", "pods", None, "/registry/pods/"),
    ("one namespace", "pods", "default", "/registry/pods/default/"),
    ("cluster-scoped", "pv", None, "/registry/persistentvolumes/"),
    ("grouped", "storageclasses.storage.k8s.io", None, "/registry/storageclasses/"),
]


@pytest.mark.parametrize(("name", "kind", "namespace", "prefix"), PREFIX_CASES, ids=[c[0] for c in PREFIX_CASES])
def test_registry_prefix(name, kind, namespace, prefix):
    assert registry_prefix(kind, namespace) == prefix


def test_prefixes_separate_kinds_and_namespaces():
    key = registry_key("pods", "default2", "web")
    assert key.startswith(registry_prefix("pods"))
    assert not key.startswith(registry_prefix("pods", "default"))
    # One kind's prefix never lists another's objects.
    for k in KINDS.values():
        for other in KINDS.values():
            if other is not k:
                assert not registry_prefix(other).startswith(registry_prefix(k))


def test_cluster_scoped_prefix_with_namespace_is_an_error():
    with pytest.raises(ValueError, match="not namespaced"):
        registry_prefix("nodes", "default")
