"""The garbage collector with hand-filled caches and a fake API that records calls."""

from __future__ import annotations

from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.garbagecollector import RESOURCES, GarbageCollector


class FakeApi:
    def __init__(self, live: dict[tuple[str, str, str], dict] | None = None) -> None:
        self.calls: list[tuple] = []
        self.live = live or {}

    async def get(self, resource, name, namespace=""):
        self.calls.append(("get", resource, namespace, name))
        if (resource, namespace, name) in self.live:
            return self.live[(resource, namespace, name)]
        raise ApiError(404, "NotFound", f'{resource} "{name}" not found')

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        self.calls.append(("delete", resource, namespace, name, propagation))

    async def patch(self, resource, name, patch, namespace="", *, patch_type="strategic", subresource=""):
        self.calls.append(("patch", resource, namespace, name, patch))


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def event(self, obj, type_, reason, message):
        self.seen.append((reason, message))


def rs(name: str, uid: str, **meta) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "7", **meta}}


def pod(name: str, owner: dict | None = None, block: bool = True) -> dict:
    meta: dict = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True, "blockOwnerDeletion": block}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def setup(objects: dict[str, list[dict]], live=None):
    gc = GarbageCollector()
    caches = {r: DictStore() for r in RESOURCES}
    for resource, objs in objects.items():
        for obj in objs:
            caches[resource].put(obj)
            gc.observe(resource, "ADDED", obj, 0.0)
    api = FakeApi(live)
    events = Events()
    return gc, Context(caches, api, events, 0.0, 1_000.0), api, events


def test_a_pod_whose_owner_is_gone_is_deleted_after_a_live_check():
    owner = rs("web-1", "rs-uid")
    p = pod("web-1-a", owner)
    gc, ctx, api, events = setup({"pods": [p]})  # the ReplicaSet is not in the cache, and not live
    run_sync(gc.sync("pods:default/web-1-a", ctx))
    assert api.calls == [("get", "replicasets", "default", "web-1"),
                         ("delete", "pods", "default", "web-1-a", "Background")]
    assert events.seen[0][0] == "GarbageCollected"


def test_an_owner_missing_from_the_cache_but_live_is_not_collected():
    owner = rs("web-1", "rs-uid")
    gc, ctx, api, _ = setup({"pods": [pod("web-1-a", owner)]},
                            live={("replicasets", "default", "web-1"): owner})
    run_sync(gc.sync("pods:default/web-1-a", ctx))
    assert [c[0] for c in api.calls] == ["get"]


def test_an_owner_recreated_with_another_uid_does_not_own_the_old_pod():
    old_owner = rs("web-1", "old-uid")
    gc, ctx, api, _ = setup({"pods": [pod("web-1-a", old_owner)], "replicasets": [rs("web-1", "new-uid")]},
                            live={("replicasets", "default", "web-1"): rs("web-1", "new-uid")})
    run_sync(gc.sync("pods:default/web-1-a", ctx))
    assert api.calls[-1] == ("delete", "pods", "default", "web-1-a", "Background")


def test_orphan_removes_the_references_then_the_finalizer():
    owner = rs("web-1", "rs-uid", deletionTimestamp="2026-11-22T09:00:00Z", finalizers=["orphan"])
    gc, ctx, api, _ = setup({"replicasets": [owner], "pods": [pod("a", owner), pod("b", owner)]})
    run_sync(gc.sync("replicasets:default/web-1", ctx))
    assert api.calls == [
        ("patch", "pods", "default", "a", {"metadata": {"ownerReferences": None}}),
        ("patch", "pods", "default", "b", {"metadata": {"ownerReferences": None}}),
        ("patch", "replicasets", "default", "web-1", {"metadata": {"finalizers": None, "resourceVersion": "7"}}),
    ]


def test_foreground_deletes_dependents_first_and_keeps_the_finalizer_while_they_block():
    owner = rs("web-1", "rs-uid", deletionTimestamp="2026-11-22T09:00:00Z", finalizers=["foregroundDeletion"])
    gc, ctx, api, _ = setup({"replicasets": [owner], "pods": [pod("a", owner)]})
    again = run_sync(gc.sync("replicasets:default/web-1", ctx))
    assert api.calls == [("delete", "pods", "default", "a", "Foreground")] and again == 1.0
    # The pod is gone: the finalizer comes off and the API server can delete the owner.
    ctx.caches["pods"].remove(pod("a", owner))
    gc.observe("pods", "DELETED", pod("a", owner), 1.0)
    api.calls.clear()
    assert run_sync(gc.sync("replicasets:default/web-1", ctx)) is None
    assert api.calls == [("patch", "replicasets", "default", "web-1",
                          {"metadata": {"finalizers": None, "resourceVersion": "7"}})]


def test_events_map_to_the_object_its_owner_and_its_dependents():
    owner = rs("web-1", "rs-uid")
    p = pod("a", owner)
    gc, _, _, _ = setup({"replicasets": [owner], "pods": [p]})
    assert set(gc.keys("pods", p)) == {"pods:default/a", "replicasets:default/web-1"}
    assert set(gc.keys("replicasets", owner)) == {"replicasets:default/web-1", "pods:default/a"}
