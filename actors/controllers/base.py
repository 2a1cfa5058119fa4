"""What every controller is made of: a name, the resources it watches, a key mapper and one sync.

kube-controller-manager's controllers all have the same shape
(``pkg/controller/replicaset/replica_set.go`` is the model): informer
callbacks only turn an event into keys and enqueue them; a worker pops a key,
reads the *cache*, compares desired with observed, and acts through the API.
Success forgets the key; an exception re-queues it with backoff. This module
holds that shape, so a controller file is just its two functions:

- ``keys(resource, obj)`` — which keys an event on ``resource`` concerns
  (a pod event concerns the ReplicaSet that owns it);
- ``async sync(key, ctx)`` — reconcile one key; return a delay to be looked
  at again after it (a progress deadline, a toleration running out), or None.

:class:`Context` is everything a sync may touch: the caches (read-only views
of the informers), the API (anything with :class:`actors.apiserver.client.ApiClient`'s
``create``/``update``/``update_status``/``patch``/``delete``/``get``), an
event recorder, and the time. Tests pass a fake API that records calls and
caches filled by hand, and drive ``sync`` with :func:`run_sync`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Obj = dict[str, Any]


def key_of(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), client-go's MetaNamespaceKeyFunc."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


def pod_node_name(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("nodeName") or "")


NODE_NAME = "spec.nodeName"
"""The index of pods by the node they are bound to ("" for unbound), as kube-controller-manager's pod informer has."""

INDEXERS: dict[str, dict[str, Any]] = {"pods": {NODE_NAME: pod_node_name}}
"""Resource -> index name -> the function giving an object's value: what the shared informers keep indexed."""


class Store(Protocol):
    """A read-only view of one informer's cache."""

    def get(self, name: str, namespace: str = "") -> Obj | None: ...

    def list(self) -> list[Obj]: ...

    def by_index(self, index: str, value: str) -> list[Obj]: ...


class DictStore:
    """A :class:`Store` over a dict of ``key -> object`` (tests, and informers' ``store`` dicts)."""

    def __init__(self, objects: Mapping[str, Obj] | Iterable[Obj] = ()) -> None:
        if isinstance(objects, Mapping):
            self.objects = dict(objects)
        else:
            self.objects = {key_of(o): o for o in objects}

    def get(self, name: str, namespace: str = "") -> Obj | None:
        return self.objects.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        return list(self.objects.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        """A scan with the index's function (tests hold few objects)."""
        fn = next(f for by_name in INDEXERS.values() for name, f in by_name.items() if name == index)
        return [o for o in self.objects.values() if fn(o) == value]

    def put(self, obj: Obj) -> None:
        self.objects[key_of(obj)] = obj

    def remove(self, obj: Obj) -> None:
        self.objects.pop(key_of(obj), None)


class Recorder(Protocol):
    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None: ...


@dataclass
class Context:
    """What one sync may use."""

    caches: Mapping[str, Store]
    api: Any
    recorder: Recorder
    now: float
    """Cluster seconds (monotonic), for durations."""
    wall: float
    """Wall-clock seconds, for timestamps written into objects."""


class Controller:
    """Base of every controller: override :attr:`name`, :attr:`watches`, :meth:`keys` and :meth:`sync`."""

    name: str = ""
    watches: tuple[str, ...] = ()
    """Resources whose informers the controller reads (the first is its own kind)."""
    workers: int = 5
    """Keys synced at once (kube-controller-manager's --concurrent-*-syncs)."""

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """The keys an event on ``obj`` (of ``resource``) concerns; by default its own key."""
        if resource == self.watches[0]:
            return [key_of(obj)]
        return []

    async def sync(self, key: str, ctx: Context) -> float | None:
        raise NotImplementedError


def run_sync(coro) -> Any:
    """Drive a sync coroutine whose awaits all complete at once (a fake API's): for tests."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the sync awaited something that did not complete at once")


def owner_reference(owner: Obj, *, controller: bool = True) -> Obj:
    """An ownerReference to ``owner`` as controllers write it (blockOwnerDeletion set, as Kubernetes does)."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any (metav1.GetControllerOf)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None
