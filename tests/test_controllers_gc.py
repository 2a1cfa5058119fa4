"""The garbage collector with hand-filled caches and a fake API that records calls."""

from __future__ import annotations

import copy

from actors.apiserver.kinds import KINDS
from actors.apiserver.objects import DeleteOptions, delete_now, prepare_delete
from actors.apiserver.patch import merge_patch
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
    # The pod has no dependents of its own: nothing to wait for below it, so it goes in the background.
    assert api.calls == [("delete", "pods", "default", "a", "Background")] and again == 1.0
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


# --- cascades through the API server's own delete rules ---------------------------------------------------

BY_RESOURCE = {k.resource: k for k in KINDS.values()}


class Cluster:
    """The collector, caches it reads, and an API that deletes and patches as kubesim's API server does
    (:func:`prepare_delete`, JSON merge patches, removal once the last finalizer goes). Every change reaches
    the caches and the collector's graph at once, and queues the keys it concerns, as the manager would."""

    def __init__(self, objects: dict[str, list[dict]]) -> None:
        self.gc = GarbageCollector()
        self.caches = {r: DictStore() for r in RESOURCES}
        self.queue: list[str] = []
        self.calls: list[tuple] = []
        self.gone: list[str] = []
        self.rv = 100
        self.wall = 1_800_000_000.0
        for resource, objs in objects.items():
            for obj in objs:
                self._apply(resource, "ADDED", None, copy.deepcopy(obj))
        self.queue.clear()

    def _apply(self, resource: str, event: str, old: dict | None, obj: dict) -> None:
        if event == "DELETED":
            self.caches[resource].remove(obj)
            self.gone.append(f"{resource}/{obj['metadata']['name']}")
        else:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.caches[resource].put(obj)
        self.gc.observe(resource, event, obj, 0.0)
        keys = list(self.gc.keys(resource, obj)) + (list(self.gc.keys(resource, old)) if old else [])
        self.queue.extend(k for k in keys if k not in self.queue)

    def obj(self, resource: str, name: str) -> dict | None:
        return self.caches[resource].get(name, "default")

    # --- the API the collector talks to ---
    async def get(self, resource, name, namespace=""):
        self.calls.append(("get", resource, name))
        obj = self.caches[resource].get(name, namespace)
        if obj is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        return copy.deepcopy(obj)

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        self.calls.append(("delete", resource, name, propagation))
        return self.user_delete(resource, name, propagation)

    async def patch(self, resource, name, patch, namespace="", *, patch_type="strategic", subresource=""):
        assert patch_type == "merge"
        self.calls.append(("patch", resource, name, patch))
        old = self.caches[resource].get(name, namespace)
        if old is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        want_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if want_rv is not None and want_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        new = merge_patch(old, patch)
        self._apply(resource, "DELETED" if delete_now(new) else "MODIFIED", old, new)
        return new

    # --- what a user does, and the work queue ---
    def user_delete(self, resource: str, name: str, propagation: str = "") -> None:
        old = self.caches[resource].get(name, "default")
        if old is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        new = prepare_delete(BY_RESOURCE[resource], old, DeleteOptions(propagation=propagation), self.wall)
        if new is None:
            self._apply(resource, "DELETED", None, old)
        else:
            self._apply(resource, "MODIFIED", old, new)

    def run(self) -> None:
        ctx = Context(self.caches, self, Events(), 0.0, self.wall)
        for _ in range(200):
            if not self.queue:
                return
            run_sync(self.gc.sync(self.queue.pop(0), ctx))
        raise AssertionError("the collector did not settle")


def deploy(name: str, uid: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default", "uid": uid}}


def owned_rs(name: str, uid: str, owner: dict) -> dict:
    return rs(name, uid, ownerReferences=pod("x", owner)["metadata"]["ownerReferences"])


def chain() -> dict[str, list[dict]]:
    """Deployment web -> ReplicaSet web-1 -> pods a, b; and a bystander pod of another ReplicaSet."""
    d = deploy("web", "d-uid")
    r = owned_rs("web-1", "rs-uid", d)
    other = rs("db-1", "db-uid")
    return {"deployments": [d], "replicasets": [r, other], "pods": [pod("a", r), pod("b", r), pod("db-a", other)]}


def test_background_cascade_goes_down_the_chain_after_the_owner_is_gone():
    c = Cluster(chain())
    c.user_delete("deployments", "web")  # kubectl's default: background
    assert c.gone == ["deployments/web"], "the owner goes at once"
    c.run()
    assert c.gone == ["deployments/web", "replicasets/web-1", "pods/a", "pods/b"]
    assert [call for call in c.calls if call[0] == "delete"] == [
        ("delete", "replicasets", "web-1", "Background"),
        ("delete", "pods", "a", "Background"), ("delete", "pods", "b", "Background")]
    assert c.obj("pods", "db-a") is not None and c.obj("replicasets", "db-1") is not None


def test_foreground_cascade_deletes_from_the_bottom_up_and_the_owner_last():
    c = Cluster(chain())
    c.user_delete("deployments", "web", "Foreground")
    d = c.obj("deployments", "web")
    assert d["metadata"]["deletionTimestamp"] and d["metadata"]["finalizers"] == ["foregroundDeletion"]
    c.run()
    # The ReplicaSet has pods of its own, so it too is deleted in the foreground: its pods go first, then
    # it, then the Deployment.
    assert ("delete", "replicasets", "web-1", "Foreground") in c.calls
    assert c.gone == ["pods/a", "pods/b", "replicasets/web-1", "deployments/web"]
    assert c.obj("pods", "db-a") is not None


def test_a_dependent_with_another_live_owner_survives_a_foreground_deletion_without_the_reference():
    objects = chain()
    keeper = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keeper", "namespace": "default",
                                                                    "uid": "cm-uid"}}
    shared = pod("shared", objects["replicasets"][0])
    shared["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper",
                                                  "uid": "cm-uid", "blockOwnerDeletion": False})
    objects["pods"].append(shared)
    objects["configmaps"] = [keeper]
    c = Cluster(objects)
    c.user_delete("replicasets", "web-1", "Foreground")
    c.run()
    assert "replicasets/web-1" in c.gone and "pods/shared" not in c.gone
    assert [r["uid"] for r in c.obj("pods", "shared")["metadata"]["ownerReferences"]] == ["cm-uid"]


def test_a_dependent_with_another_live_owner_loses_only_the_dangling_reference():
    objects = chain()
    shared = pod("shared", objects["replicasets"][0])
    shared["metadata"]["ownerReferences"].append(pod("x", objects["replicasets"][1])["metadata"]["ownerReferences"][0]
                                                 | {"controller": False})
    objects["pods"].append(shared)
    c = Cluster(objects)
    c.user_delete("replicasets", "web-1")
    c.run()
    assert c.gone == ["replicasets/web-1", "pods/a", "pods/b"]
    assert [r["uid"] for r in c.obj("pods", "shared")["metadata"]["ownerReferences"]] == ["db-uid"]


def test_orphan_cascade_keeps_the_dependents_and_frees_them():
    c = Cluster(chain())
    c.user_delete("replicasets", "web-1", "Orphan")
    assert c.obj("replicasets", "web-1")["metadata"]["finalizers"] == ["orphan"]
    c.run()
    assert c.gone == ["replicasets/web-1"]
    for name in ("a", "b"):
        assert "ownerReferences" not in c.obj("pods", name)["metadata"]
    assert c.obj("deployments", "web") is not None, "only dependents are orphaned, owners are not touched"
