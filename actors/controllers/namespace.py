"""The namespace controller: a deleted namespace's contents go first, then the namespace itself.

Deleting a namespace only marks it (``Terminating``, with the ``kubernetes``
finalizer in ``spec.finalizers``). This controller
(``pkg/controller/namespace/deletion``) then deletes every kind of object in
it, waits until nothing is left (pods may take their grace period, objects
may wait on their own finalizers), and finally removes its finalizer, at
which point the API server deletes the namespace.
"""

from __future__ import annotations

from actors.apiserver.kinds import KINDS
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, Controller

FINALIZER = "kubernetes"
#: How soon to look again while content remains (Kubernetes waits and re-queues the same way).
RECHECK_S = 2.0

NAMESPACED = tuple(sorted(k.resource for k in KINDS.values() if k.namespaced))


class NamespaceController(Controller):
    name = "namespace"
    watches = ("namespaces",)
    workers = 2

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns = ctx.caches["namespaces"].get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        remaining = 0
        for resource in NAMESPACED:
            try:
                # Background, whatever the kind's default (a Job's is Orphan): the GC must not be asked
                # to keep anything, everything here goes (namespacedResourcesDeleter.deleteCollection).
                await ctx.api.call("deletecollection", resource, key, options={"propagationPolicy": "Background"})
                left = await ctx.api.call("list", resource, key, options={"limit": 1})
            except ApiError as exc:
                if exc.code == 404:
                    continue
                raise
            remaining += len(left["items"])
        if remaining:
            return RECHECK_S
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await ctx.api.update(dict(ns, spec=spec))
        except ApiError as exc:
            if exc.code != 404:
                raise
        return None
