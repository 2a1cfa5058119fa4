"""The garbage collector: dependents go with their owners, as ownerReferences and the delete's policy say.

Kubernetes' garbage collector (``pkg/controller/garbagecollector``) keeps a
graph of ``ownerReferences`` and acts on three situations:

- **Background** (the default): the owner is gone from the API, so each
  dependent whose owners are all gone is deleted. A dependent that still has
  a live owner only loses the dangling reference.
- **Foreground**: the owner carries the ``foregroundDeletion`` finalizer and
  a deletionTimestamp. Its dependents are deleted first — themselves in the
  foreground when they have dependents of their own, so a chain goes from
  the bottom up; one that still has another live owner only loses the
  reference. When no dependent with ``blockOwnerDeletion`` is left, the
  finalizer is removed and the API server deletes the owner.
- **Orphan**: the owner carries the ``orphan`` finalizer. Its dependents lose
  their reference to it (they stay), then the finalizer is removed.

Here the graph is an index from an owner's uid to its dependents, kept from
the informer events (:meth:`observe`). Before deleting anything because its
owner is missing, the owner is looked up live: a cache that has not seen the
owner yet must not get a fresh object deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.apiserver.kinds import KINDS
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, Controller, key_of, split_key

Obj = dict[str, Any]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

#: The kinds kubesim's controllers own or are owned by.
RESOURCES = ("deployments", "replicasets", "pods", "daemonsets", "statefulsets", "jobs", "cronjobs", "services",
             "endpointslices", "endpoints", "persistentvolumeclaims", "configmaps", "secrets")


def _node(resource: str, obj: Obj) -> str:
    return f"{resource}:{key_of(obj)}"


def _refs(obj: Obj) -> list[Obj]:
    return [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict)]


def _parse(node: str) -> tuple[str, str, str]:
    resource, _, key = node.partition(":")
    ns, name = split_key(key)
    return resource, ns, name


class GarbageCollector(Controller):
    name = "garbagecollector"
    watches = RESOURCES
    workers = 10

    def __init__(self) -> None:
        self.dependents: dict[str, set[str]] = {}
        """Owner uid -> graph nodes (``resource:ns/name``) of the objects that reference it."""
        self.uids: dict[str, str] = {}
        """Object uid -> its graph node."""
        self._refs: dict[str, set[str]] = {}
        """Graph node -> the owner uids it references (to undo the index on change)."""

    # --- the graph -------------------------------------------------------------------------------
    def observe(self, resource: str, event: str, obj: Obj, now: float) -> None:
        node = _node(resource, obj)
        meta = obj.get("metadata") or {}
        for uid in self._refs.pop(node, set()):
            self.dependents.get(uid, set()).discard(node)
        if event == "DELETED":
            self.uids.pop(meta.get("uid", ""), None)
            return
        if meta.get("uid"):
            self.uids[meta["uid"]] = node
        refs = {r.get("uid") for r in meta.get("ownerReferences") or [] if isinstance(r, dict) and r.get("uid")}
        self._refs[node] = refs
        for uid in refs:
            self.dependents.setdefault(uid, set()).add(node)

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        meta = obj.get("metadata") or {}
        out = [_node(resource, obj)]
        # The owners: a dependent that changed (or went) may let a foreground deletion finish.
        for ref in meta.get("ownerReferences") or []:
            owner = self.uids.get(ref.get("uid", "")) if isinstance(ref, dict) else None
            if owner:
                out.append(owner)
        # The dependents: an owner that went (or is being deleted) concerns them.
        out.extend(sorted(self.dependents.get(meta.get("uid", ""), ())))  # sorted: the same order every run
        return out

    # --- one object ------------------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        resource, ns, name = _parse(key)
        obj = ctx.caches[resource].get(name, ns)
        if obj is None:
            return None
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan(resource, obj, ctx)
            return None
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            return await self._foreground(resource, obj, ctx)
        if meta.get("deletionTimestamp"):
            return None  # already going; nothing for the collector to add
        if _refs(obj):
            await self._attempt_to_delete(resource, obj, ctx)
        return None

    def _dependents_of(self, obj: Obj, ctx: Context) -> list[tuple[str, Obj]]:
        out = []
        for node in sorted(self.dependents.get(obj["metadata"].get("uid", ""), ())):
            resource, ns, name = _parse(node)
            dep = ctx.caches[resource].get(name, ns)
            if dep is not None:
                out.append((resource, dep))
        return out

    def _has_dependents(self, obj: Obj, ctx: Context) -> bool:
        return bool(self._dependents_of(obj, ctx))

    async def _orphan(self, resource: str, owner: Obj, ctx: Context) -> None:
        uid = owner["metadata"]["uid"]
        for dep_resource, dep in self._dependents_of(owner, ctx):
            refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            await self._ignore_missing(ctx.api.patch(
                dep_resource, dep["metadata"]["name"], {"metadata": {"ownerReferences": refs or None}},
                dep["metadata"].get("namespace", ""), patch_type="merge"))
        await self._drop_finalizer(resource, owner, ORPHAN, ctx)

    async def _foreground(self, resource: str, owner: Obj, ctx: Context) -> float | None:
        """processDeletingDependentsItem: each dependent is looked at as attemptToDeleteItem would; the
        finalizer comes off once no dependent with ``blockOwnerDeletion`` is left."""
        blocking = 0
        for dep_resource, dep in self._dependents_of(owner, ctx):
            ref = next((r for r in _refs(dep) if r.get("uid") == owner["metadata"]["uid"]), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not dep["metadata"].get("deletionTimestamp"):
                await self._attempt_to_delete(dep_resource, dep, ctx, waiting_owner=owner)
        if blocking:
            return 1.0  # look again once they are gone (their delete events also bring us back)
        await self._drop_finalizer(resource, owner, FOREGROUND, ctx)
        return None

    async def _owner_state(self, ref: Obj, ns: str, ctx: Context, waiting_owner: Obj | None) -> str:
        """``solid``, ``dangling`` (gone, or another object under its name) or ``waiting`` (being deleted in
        the foreground) — classifyReferences. An owner of a kind kubesim does not serve counts as solid."""
        if waiting_owner is not None and ref.get("uid") == waiting_owner["metadata"].get("uid"):
            return "waiting"
        kind = KINDS.get(ref.get("kind", ""))
        if kind is None:
            return "solid"
        owner_ns = ns if kind.namespaced else ""
        owner = ctx.caches[kind.resource].get(ref.get("name", ""), owner_ns) if kind.resource in ctx.caches else None
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            # Absent from the cache: ask the API server before believing it.
            try:
                owner = await ctx.api.get(kind.resource, ref.get("name", ""), owner_ns)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                owner = None
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return "dangling"
        ometa = owner["metadata"]
        if ometa.get("deletionTimestamp") and FOREGROUND in (ometa.get("finalizers") or []):
            return "waiting"
        return "solid"

    async def _attempt_to_delete(self, resource: str, obj: Obj, ctx: Context,
                                 waiting_owner: Obj | None = None) -> None:
        """attemptToDeleteItem: act on ``obj`` from the state of its owners.

        With a live owner left, only the references to gone owners and to owners
        being deleted in the foreground are removed (the object stays). Otherwise it
        is deleted: in the foreground if an owner waits for it and it has dependents
        of its own (so they go first), else as its own finalizers say, else in the
        background.
        """
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        refs = _refs(obj)
        states = [await self._owner_state(ref, ns, ctx, waiting_owner) for ref in refs]
        if "solid" in states:
            if states.count("solid") == len(states):
                return
            keep = [r for r, state in zip(refs, states, strict=True) if state == "solid"]
            await self._ignore_missing(ctx.api.patch(resource, meta["name"], {"metadata": {"ownerReferences": keep}},
                                                     ns, patch_type="merge"))
            return
        finalizers = meta.get("finalizers") or []
        if "waiting" in states and self._has_dependents(obj, ctx):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._ignore_missing(ctx.api.delete(resource, meta["name"], ns, propagation=policy))
        reason = "its owner is gone" if "waiting" not in states else "its owner is being deleted"
        ctx.recorder.event(obj, "Normal", "GarbageCollected", f"{obj.get('kind')} {meta['name']} deleted: {reason}")

    async def _drop_finalizer(self, resource: str, obj: Obj, finalizer: str, ctx: Context) -> None:
        meta = obj["metadata"]
        rest = [f for f in meta.get("finalizers") or [] if f != finalizer]
        # The resourceVersion pins the patch to what we decided from (a JSON merge patch replaces the list).
        await self._ignore_missing(ctx.api.patch(
            resource, meta["name"], {"metadata": {"finalizers": rest or None,
                                                  "resourceVersion": meta.get("resourceVersion")}},
            meta.get("namespace", ""), patch_type="merge"))

    @staticmethod
    async def _ignore_missing(coro) -> None:
        try:
            await coro
        except ApiError as exc:
            if exc.code != 404:
                raise
