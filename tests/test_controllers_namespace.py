"""The namespace controller: contents first, then the finalizer."""

from __future__ import annotations

from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.namespace import NAMESPACED, RECHECK_S, NamespaceController


class FakeApi:
    def __init__(self, left: dict[str, int]) -> None:
        self.left = left
        self.calls: list[tuple] = []
        self.options: dict[str, dict | None] = {}

    async def call(self, verb, resource, namespace="", name="", *, subresource="", body=None, options=None):
        self.calls.append((verb, resource, namespace))
        if verb == "deletecollection":
            self.options[resource] = options
            return {"items": []}
        return {"items": [{}] * self.left.get(resource, 0)}

    async def update(self, obj):
        self.calls.append(("update", obj["metadata"]["name"], obj["spec"]["finalizers"]))
        return obj


def namespace(deleting: bool) -> dict:
    meta = {"name": "demo", "uid": "u", "resourceVersion": "3"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-22T09:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating" if deleting else "Active"}}


def run(ns: dict, left: dict[str, int]):
    api = FakeApi(left)
    ctx = Context({"namespaces": DictStore([ns])}, api, None, 0.0, 0.0)
    return run_sync(NamespaceController().sync("demo", ctx)), api


def test_an_active_namespace_is_left_alone():
    again, api = run(namespace(False), {})
    assert again is None and api.calls == []


def test_every_kind_is_emptied_then_the_finalizer_removed():
    again, api = run(namespace(True), {})
    assert again is None
    deleted = [c[1] for c in api.calls if c[0] == "deletecollection"]
    assert deleted == list(NAMESPACED) and "pods" in deleted and "deployments" in deleted
    assert api.calls[-1] == ("update", "demo", [])


def test_contents_are_deleted_in_the_background_even_jobs_whose_default_is_orphan():
    _, api = run(namespace(True), {})
    assert api.options["jobs"] == {"propagationPolicy": "Background"}
    assert all(o == {"propagationPolicy": "Background"} for o in api.options.values())


def test_content_still_terminating_holds_the_finalizer_and_is_checked_again():
    again, api = run(namespace(True), {"pods": 2})
    assert again == RECHECK_S
    assert not any(c[0] == "update" for c in api.calls)
