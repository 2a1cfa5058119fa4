"""The API server's patch formats (actors.apiserver.patch) behave as specified.

JSON Merge Patch against RFC 7386's Appendix A, JSON Patch against RFC 6902's
Appendix A (the error cases too) plus pointer and atomicity edge cases, and
strategic merge patch against what the Kubernetes API server does for the
patches kubectl and the components send: containers, env, ports, volumes by
their merge keys, the $patch / $setElementOrder / $deleteFromPrimitiveList /
$retainKeys directives, finalizers, `kubectl set image` on a Deployment, Service
ports and status conditions. Every function must leave its inputs untouched.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.patch import (
    PATCH_STRATEGIES,
    PatchError,
    json_equal,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# ---------------------------------------------------------------- RFC 7386

RFC7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]

RFC7386_SECTION_3 = (
    {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    },
    {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    },
    {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    },
)


@pytest.mark.parametrize(
    "target, patch, expected",
    [*RFC7386_APPENDIX_A, RFC7386_SECTION_3],
    ids=[f"rfc7386-A-{n}" for n in range(1, 16)] + ["rfc7386-section-3"],
)
def test_merge_patch(target, patch, expected):
    assert merge_patch(target, patch) == expected


# ---------------------------------------------------------------- RFC 6902

RFC6902_OK = [
    ("A.1-add-object-member",
     {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ("A.2-add-array-element",
     {"foo": ["bar", "baz"]},
     [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3-remove-object-member",
     {"baz": "qux", "foo": "bar"},
     [{"op": "remove", "path": "/baz"}],
     {"foo": "bar"}),
    ("A.4-remove-array-element",
     {"foo": ["bar", "qux", "baz"]},
     [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ("A.5-replace-value",
     {"baz": "qux", "foo": "bar"},
     [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6-move-value",
     {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7-move-array-element",
     {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8-test-success",
     {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"},
      {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.10-add-nested-member-object",
     {"foo": "bar"},
     [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11-ignore-unrecognized-elements",
     {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.14-escape-ordering",
     {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": 10}],
     {"/": 9, "~1": 10}),
    ("A.16-add-array-value",
     {"foo": ["bar"]},
     [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
    # Beyond the appendix: the edges of JSON Pointer and of each op.
    ("add-replaces-whole-document",
     {"foo": "bar"},
     [{"op": "add", "path": "", "value": [1]}],
     [1]),
    ("replace-whole-document",
     {"foo": "bar"},
     [{"op": "replace", "path": "", "value": {"baz": 1}}],
     {"baz": 1}),
    ("add-existing-member-replaces-it",
     {"foo": "bar"},
     [{"op": "add", "path": "/foo", "value": "baz"}],
     {"foo": "baz"}),
    ("add-at-array-end-by-index",
     {"foo": [1]},
     [{"op": "add", "path": "/foo/1", "value": 2}],
     {"foo": [1, 2]}),
    ("slash-escape-and-empty-key",
     {"a/b": 1, "": 2},
     [{"op": "replace", "path": "/a~1b", "value": 3},
      {"op": "replace", "path": "/", "value": 4}],
     {"a/b": 3, "": 4}),
    ("copy-is-deep",
     {"a": {"b": [1]}},
     [{"op": "copy", "from": "/a", "path": "/c"},
      {"op": "add", "path": "/c/b/-", "value": 2}],
     {"a": {"b": [1]}, "c": {"b": [1, 2]}}),
    ("move-to-same-path-is-a-no-op",
     {"a": 1},
     [{"op": "move", "from": "/a", "path": "/a"}],
     {"a": 1}),
    ("test-numbers-by-value",
     {"a": 1, "b": [{"c": None}]},
     [{"op": "test", "path": "/a", "value": 1.0},
      {"op": "test", "path": "/b", "value": [{"c": None}]}],
     {"a": 1, "b": [{"c": None}]}),
    ("kubectl-style-label-and-container-edit",
     {"metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "app", "image": "nginx:1.0"}]}},
     [{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.1"},
      {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
      {"op": "remove", "path": "/metadata/labels/app"}],
     {"metadata": {"labels": {"tier": "front"}},
      "spec": {"containers": [{"name": "app", "image": "nginx:1.1"}]}}),
]


@pytest.mark.parametrize(
    "target, ops, expected",
    [case[1:] for case in RFC6902_OK],
    ids=[case[0] for case in RFC6902_OK],
)
def test_json_patch(target, ops, expected):
    assert json_patch(target, ops) == expected


RFC6902_ERRORS = [
    ("A.9-test-error",
     {"baz": "qux"},
     [{"op": "test", "path": "/baz", "value": "bar"}],
     0, "/baz"),
    ("A.12-add-to-nonexistent-target",
     {"foo": "bar"},
     [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     0, "/baz/bat"),
    # A.13's duplicate "op" member cannot survive JSON decoding into a dict; the
    # last one wins, as in Python's json module, leaving a remove of a missing key.
    ("A.13-invalid-patch-document",
     {"foo": "bar"},
     [{"op": "remove", "path": "/baz", "value": "qux"}],
     0, "/baz"),
    ("A.15-compare-strings-and-numbers",
     {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": "10"}],
     0, "/~01"),
    ("test-true-is-not-1",
     {"a": 1},
     [{"op": "test", "path": "/a", "value": True}],
     0, "/a"),
    ("remove-missing-member",
     {"a": 1},
     [{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}],
     1, "/b"),
    ("replace-missing-member",
     {"a": 1},
     [{"op": "replace", "path": "/b", "value": 2}],
     0, "/b"),
    ("add-index-out-of-range",
     {"a": [1]},
     [{"op": "add", "path": "/a/2", "value": 2}],
     0, "/a/2"),
    ("index-with-leading-zero",
     {"a": [1, 2]},
     [{"op": "remove", "path": "/a/01"}],
     0, "/a/01"),
    ("dash-only-appends",
     {"a": [1]},
     [{"op": "remove", "path": "/a/-"}],
     0, "/a/-"),
    ("pointer-without-slash",
     {"a": 1},
     [{"op": "remove", "path": "a"}],
     0, "a"),
    ("bad-tilde-escape",
     {"a~2": 1},
     [{"op": "remove", "path": "/a~2"}],
     0, "/a~2"),
    ("add-into-scalar",
     {"a": 1},
     [{"op": "add", "path": "/a/b", "value": 2}],
     0, "/a/b"),
    ("move-into-own-child",
     {"a": {"b": {}}},
     [{"op": "move", "from": "/a", "path": "/a/b/c"}],
     0, "/a/b/c"),
    ("copy-missing-from",
     {"a": 1},
     [{"op": "copy", "from": "/x", "path": "/b"}],
     0, "/b"),
    ("missing-value",
     {"a": 1},
     [{"op": "add", "path": "/b"}],
     0, "/b"),
    ("unknown-op",
     {"a": 1},
     [{"op": "frobnicate", "path": "/a"}],
     0, "/a"),
    ("remove-root",
     {"a": 1},
     [{"op": "remove", "path": ""}],
     0, ""),
]


@pytest.mark.parametrize(
    "target, ops, op_index, path",
    [case[1:] for case in RFC6902_ERRORS],
    ids=[case[0] for case in RFC6902_ERRORS],
)
def test_json_patch_errors(target, ops, op_index, path):
    before = copy.deepcopy(target)
    with pytest.raises(PatchError) as raised:
        json_patch(target, ops)
    assert (raised.value.op_index, raised.value.path) == (op_index, path)
    assert f"op {op_index}" in str(raised.value) and repr(path) in str(raised.value)
    assert target == before


def test_json_patch_is_atomic():
    # The first op succeeds on the working copy; the second fails: nothing leaks.
    target = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "remove", "path": "/a/0"},
        {"op": "add", "path": "/b/c", "value": 2},
        {"op": "test", "path": "/b/c", "value": 1},
    ]
    with pytest.raises(PatchError, match=r"op 2, path '/b/c': test: value is 2, not 1"):
        json_patch(target, ops)
    assert target == {"a": [1, 2], "b": {"c": 1}}


def test_json_equal():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1) and not json_equal(0, False)
    assert not json_equal({"a": 1}, {"a": 1, "b": None})
    assert not json_equal([1], [1, 1])


# ------------------------------------------------------- strategic merge patch


def pod(**spec) -> dict:
    base = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.0",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "sidecar", "image": "envoy:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}},
                        {"name": "cache", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
    }
    base["spec"].update(spec)
    return base


def without(obj: dict, *paths: tuple[str, ...]) -> dict:
    for *parents, name in paths:
        node = obj
        for parent in parents:
            node = node[parent]
        del node[name]
    return obj


def containers(*items) -> dict:
    return {"spec": {"containers": list(items)}}


def with_containers(*items) -> dict:
    expected = pod()
    expected["spec"]["containers"] = list(items)
    return expected


APP = pod()["spec"]["containers"][0]
SIDECAR = pod()["spec"]["containers"][1]


def app(**changes) -> dict:
    return {**copy.deepcopy(APP), **changes}


def deployment(image: str) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a"]},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "init-db", "image": "busybox"},
                    {"name": "nginx", "image": image, "env": [{"name": "A"}]},
                    {"name": "log", "image": "fluent"},
                ]},
            },
        },
    }


def node(*conditions) -> dict:
    return {"kind": "Node", "metadata": {"name": "n1"},
            "status": {"conditions": list(conditions)}}


READY = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
PRESSURE = {"type": "MemoryPressure", "status": "False"}

STRATEGIC = [
    ("replace-container-field-by-name",
     "Pod", pod(),
     containers({"name": "sidecar", "image": "envoy:2"}),
     with_containers(APP, {"name": "sidecar", "image": "envoy:2"})),
    ("add-container-goes-first-as-in-k8s",
     "Pod", pod(),
     containers({"name": "debug", "image": "busybox"}),
     with_containers({"name": "debug", "image": "busybox"}, APP, SIDECAR)),
    ("add-container-with-set-element-order",
     "Pod", pod(),
     {"spec": {"$setElementOrder/containers": [
         {"name": "app"}, {"name": "sidecar"}, {"name": "debug"}],
         "containers": [{"name": "debug", "image": "busybox"}]}},
     with_containers(APP, SIDECAR, {"name": "debug", "image": "busybox"})),
    ("set-element-order-reorders",
     "Pod", pod(),
     {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}},
     with_containers(SIDECAR, APP)),
    ("delete-container-by-name",
     "Pod", pod(),
     containers({"name": "app", "$patch": "delete"}),
     with_containers(SIDECAR)),
    ("update-one-env-var",
     "Pod", pod(),
     containers({"name": "app", "env": [{"name": "B", "value": "two"}]}),
     with_containers(app(env=[{"name": "A", "value": "1"},
                              {"name": "B", "value": "two"}]), SIDECAR)),
    ("null-removes-env-value-keeps-var",
     "Pod", pod(),
     containers({"name": "app", "env": [{"name": "A", "value": None}]}),
     with_containers(app(env=[{"name": "A"}, {"name": "B", "value": "2"}]), SIDECAR)),
    ("add-port",
     "Pod", pod(),
     containers({"name": "app", "ports": [{"containerPort": 443}]}),
     with_containers(app(ports=[{"containerPort": 443},
                                {"containerPort": 80, "protocol": "TCP"}]), SIDECAR)),
    ("add-volume-mount-by-mount-path",
     "Pod", pod(),
     containers({"name": "app", "volumeMounts": [
         {"name": "data", "mountPath": "/data", "readOnly": True}]}),
     with_containers(app(volumeMounts=[
         {"name": "data", "mountPath": "/data", "readOnly": True}]), SIDECAR)),
    ("delete-volume",
     "Pod", pod(),
     {"spec": {"volumes": [{"name": "cache", "$patch": "delete"}]}},
     pod(volumes=[{"name": "data", "emptyDir": {}}])),
    ("replace-directive-in-list",
     "Pod", pod(),
     {"spec": {"volumes": [{"$patch": "replace"}, {"name": "new", "emptyDir": {}}]}},
     pod(volumes=[{"name": "new", "emptyDir": {}}])),
    ("replace-directive-in-map",
     "Pod", pod(),
     {"spec": {"volumes": [{"name": "data", "emptyDir": {"$patch": "replace",
                                                         "medium": "Memory"}}]}},
     pod(volumes=[{"name": "data", "emptyDir": {"medium": "Memory"}},
                  {"name": "cache", "emptyDir": {}}])),
    ("replace-directive-on-whole-map",
     "Pod", {"metadata": {"labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
     {"metadata": {"labels": {"c": "3"}}}),
    ("delete-directive-on-map",
     "Pod", pod(),
     {"metadata": {"$patch": "delete"}},
     without(pod(), ("metadata",))),
    ("null-deletes-key",
     "Pod", pod(),
     {"spec": {"tolerations": None}, "metadata": {"namespace": None}},
     without(pod(), ("spec", "tolerations"), ("metadata", "namespace"))),
    ("tolerations-are-replaced",
     "Pod", pod(),
     {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
     pod(tolerations=[{"key": "b", "operator": "Exists"}])),
    ("image-pull-secrets-by-name",
     "Pod", pod(imagePullSecrets=[{"name": "a"}]),
     {"spec": {"imagePullSecrets": [{"name": "b"}]}},
     pod(imagePullSecrets=[{"name": "b"}, {"name": "a"}])),
    ("init-containers-by-name",
     "Pod", pod(initContainers=[{"name": "i1", "image": "x"}, {"name": "i2"}]),
     {"spec": {"initContainers": [{"name": "i1", "image": "z"}]}},
     pod(initContainers=[{"name": "i1", "image": "z"}, {"name": "i2"}])),
    ("finalizers-merge-unique",
     "Pod", {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"finalizers": ["b", "c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ("finalizers-new-one-goes-first-as-in-k8s",
     "Pod", {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"finalizers": ["c"]}},
     {"metadata": {"finalizers": ["c", "a", "b"]}}),
    ("finalizers-delete-from-primitive-list",
     "Deployment", {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ("finalizers-kubectl-apply-shape",
     "Pod", {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$setElementOrder/finalizers": ["d", "a", "c"],
                   "$deleteFromPrimitiveList/finalizers": ["b"],
                   "finalizers": ["d"]}},
     {"metadata": {"finalizers": ["d", "a", "c"]}}),
    ("owner-references-by-uid",
     "ReplicaSet",
     {"metadata": {"ownerReferences": [
         {"uid": "u1", "name": "d1", "controller": True}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "controller": None},
                                       {"uid": "u2", "name": "d2"}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "name": "d1"},
                                       {"uid": "u2", "name": "d2"}]}}),
    ("deployment-set-image",
     # kubectl set image deployment/web nginx=nginx:1.9.1 sends exactly this.
     "Deployment", deployment("nginx:1.7"),
     {"spec": {"template": {"spec": {"containers": [
         {"name": "nginx", "image": "nginx:1.9.1"}]}}}},
     deployment("nginx:1.9.1")),
    ("cronjob-template-container",
     "CronJob",
     {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
         {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}}}},
     {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
         {"name": "b", "image": "z"}]}}}}}},
     {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
         {"name": "a", "image": "x"}, {"name": "b", "image": "z"}]}}}}}}),
    ("service-port-change",
     "Service",
     {"kind": "Service", "spec": {"ports": [
         {"name": "http", "port": 80, "targetPort": 8080},
         {"name": "https", "port": 443, "targetPort": 8443}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
     {"kind": "Service", "spec": {"ports": [
         {"name": "http", "port": 80, "targetPort": 9090},
         {"name": "https", "port": 443, "targetPort": 8443}]}}),
    ("node-condition-by-type",
     "Node", node(READY, PRESSURE),
     {"status": {"conditions": [{"type": "Ready", "status": "False",
                                 "reason": "KubeletNotReady"}]}},
     node({"type": "Ready", "status": "False", "reason": "KubeletNotReady"}, PRESSURE)),
    ("pod-condition-by-type-kubelet-shape",
     # The kubelet's status patch is a two-way diff: it carries the order.
     "Pod", {"status": {"phase": "Pending", "conditions": [
         {"type": "PodScheduled", "status": "True"}]}},
     {"status": {"phase": "Running",
                 "$setElementOrder/conditions": [{"type": "PodScheduled"},
                                                 {"type": "Ready"}],
                 "conditions": [{"type": "Ready", "status": "True"}]}},
     {"status": {"phase": "Running", "conditions": [
         {"type": "PodScheduled", "status": "True"},
         {"type": "Ready", "status": "True"}]}}),
    ("retain-keys-clears-other-union-members",
     "Deployment",
     {"spec": {"strategy": {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    ("lists-without-strategy-are-replaced",
     "Pod", pod(),
     containers({"name": "app", "args": ["--b"]}),
     with_containers(app(args=["--b"]), SIDECAR)),
    ("unknown-kind-lists-replace",
     "Widget", {"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "x"}]}},
     {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}]}},
     {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}]}}),
    ("unknown-kind-maps-still-merge",
     "Widget", {"spec": {"a": 1, "b": {"c": 2}}},
     {"spec": {"b": {"d": 3}, "a": None}},
     {"spec": {"b": {"c": 2, "d": 3}}}),
    ("new-element-has-its-nulls-and-directives-stripped",
     "Pod", {"spec": {}},
     {"spec": {"containers": [{"name": "a", "image": None,
                               "env": [{"name": "X", "value": "1"}]}]}},
     {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}),
]


@pytest.mark.parametrize(
    "kind, target, patch, expected",
    [case[1:] for case in STRATEGIC],
    ids=[case[0] for case in STRATEGIC],
)
def test_strategic_merge_patch(kind, target, patch, expected):
    assert strategic_merge_patch(target, patch, kind) == expected


STRATEGIC_ERRORS = [
    ("element-without-merge-key",
     containers({"image": "x"}), "spec.containers"),
    ("delete-without-merge-key",
     containers({"$patch": "delete"}), "spec.containers"),
    ("unknown-patch-directive",
     {"spec": {"$patch": "merge"}}, "spec"),
    ("unknown-dollar-key",
     {"spec": {"$frobnicate": 1}}, "spec"),
    ("set-element-order-contradicts-patch",
     {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
               "containers": [{"name": "app"}, {"name": "sidecar"}]}},
     "spec.containers"),
    ("nested-error-names-element",
     containers({"name": "app", "env": [{"value": "1"}]}),
     "spec.containers[name=app].env"),
    ("retain-keys-missing-patched-key",
     {"spec": {"$retainKeys": ["a"], "b": 1}}, "spec"),
    ("patch-not-an-object",
     ["x"], ""),
]


@pytest.mark.parametrize(
    "patch, path",
    [case[1:] for case in STRATEGIC_ERRORS],
    ids=[case[0] for case in STRATEGIC_ERRORS],
)
def test_strategic_merge_patch_errors(patch, path):
    with pytest.raises(PatchError) as raised:
        strategic_merge_patch(pod(), patch, "Pod")
    assert raised.value.path == path
    assert raised.value.op_index is None


def test_strategy_table_covers_every_pod_template():
    for kind, spec in [("Deployment", "spec.template.spec"),
                       ("StatefulSet", "spec.template.spec"),
                       ("CronJob", "spec.jobTemplate.spec.template.spec")]:
        assert PATCH_STRATEGIES[(kind, f"{spec}.containers.env")].merge_key == "name"
    assert ("Widget", "metadata.finalizers") not in PATCH_STRATEGIES


# ------------------------------------------------------------ no mutation

NO_MUTATION = [
    ("merge-patch", lambda t, p: merge_patch(t, p),
     pod(), {"spec": {"volumes": None, "containers": [{"name": "x"}]}}),
    ("json-patch", lambda t, p: json_patch(t, p),
     pod(), [{"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "C"}},
             {"op": "move", "from": "/spec/volumes", "path": "/metadata/volumes"}]),
    ("strategic", lambda t, p: strategic_merge_patch(t, p, "Pod"),
     pod(), {"$setElementOrder/x": [], "spec": {
         "volumes": [{"name": "data", "$patch": "delete"},
                     {"name": "z", "emptyDir": {}}],
         "containers": [{"name": "app", "env": [{"name": "A", "value": None}]}]}}),
]


@pytest.mark.parametrize(
    "apply, target, patch",
    [case[1:] for case in NO_MUTATION],
    ids=[case[0] for case in NO_MUTATION],
)
def test_inputs_are_not_mutated_and_result_shares_nothing(apply, target, patch):
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = apply(target, patch)
    assert (target, patch) == (target_before, patch_before)
    # Changing the result must not reach back into the inputs.
    result["spec"]["containers"][0]["name"] = "changed"
    result["metadata"]["name"] = "changed"
    assert (target, patch) == (target_before, patch_before)
