"""The API client every component stands on: requests, watches that survive, informers.

client-go is what makes Kubernetes' components short: a typed request
helper, a *reflector* that lists then watches and relists on 410 Gone, and an
*informer* that keeps a local cache in step and calls handlers on add,
update and delete. This module is that, over the bus:

- :class:`ApiClient` (an actor; host one per process as ``<process>.api``):
  ``await api.get("pods", "web-1", namespace="default")`` and friends. An
  error is an :class:`~actors.apiserver.status.ApiError` carrying the
  server's ``Status``. Reads are retried until their deadline; a write that
  was sent and got no answer is *not* retried (it may have been applied) and
  ends with 504 Timeout.
- :class:`Watch`: ordered events with no gaps. It acknowledges what it has
  handled (the server's flow control), renews itself, and resumes from the
  last resourceVersion it saw after a lost message, a server restart or a
  cut-off; on 410 Gone it tells its owner, who must list again.
- :class:`Informer`: list, then watch from the list's resourceVersion;
  relist on 410 and turn the difference into add/update/delete calls; resync.
- :class:`ApiSession`: a runtime of its own holding an ApiClient, for code
  that is not an actor (the CLI, tests, benchmarks).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from typing import Any, Callable

from actors.apiserver.kinds import for_object, lookup
from actors.apiserver.status import ApiError
from actors.messages import (
    ApiCancelWatch,
    ApiRequest,
    ApiResponse,
    ApiWatch,
    ApiWatchAck,
    ApiWatchEvents,
)
from bus.clock import Clock, RealClock
from bus.runtime import (
    Actor,
    Envelope,
    Future,
    Indeterminate,
    MessageTooLarge,
    RemoteError,
    Runtime,
    UndeliverableError,
    handles,
)
from bus.settings import BusSettings
from bus.transport.sockets import Security

__all__ = ["ApiClient", "ApiError", "ApiSession", "Informer", "Watch", "object_key"]

API_SERVER = "apiserver"
READS = frozenset({"get", "list"})
#: How often a watch tells the server it is still there (and learns whether the server still knows it).
#: A restarted API server is learnt of at once (``on_reregistered``); this is the fallback.
RENEW_S = 30.0
#: A watch that hears nothing for this long (a bookmark comes every minute) starts again.
SILENCE_S = 150.0


def object_key(obj: dict) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def resource_of(obj: dict) -> tuple[str, str]:
    """(resource, namespace) of an object, from its apiVersion and kind."""
    try:
        kind = for_object(obj)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", str(exc)) from None
    ns = (obj.get("metadata") or {}).get("namespace") or ("default" if kind.namespaced else "")
    return kind.resource, ns


class ApiClient(Actor):
    """Requests to the API server from inside a runtime (``await api.create(obj)``)."""

    def __init__(self, name: str, *, server: str = API_SERVER, timeout_s: float = 10.0,
                 deadline_s: float = 30.0, impersonate: dict | None = None) -> None:
        super().__init__(name)
        self.server = server
        self.impersonate = impersonate
        """``{"user": ..., "groups": [...]}``: every request and watch acts as that user (see ApiRequest)."""
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self._watches: dict[str, Watch] = {}
        self._ids = itertools.count(1)
        self._prefix = os.urandom(3).hex()

    def on_start(self) -> None:
        self.call_every(RENEW_S, self._renew)

    def on_reregistered(self) -> None:
        """The API server's process restarted (its broker forgot us): ask after every watch now.

        One it does not know is answered 404, and the watch starts again from where it was.
        """
        for w in list(self._watches.values()):
            self._ask_after(w)

    def _ask_after(self, w: Watch) -> None:
        """Tell the server the watch is still wanted; it answers 404 if it no longer knows it."""
        self.send(self.server, ApiWatch(w.watch_id, w.resource, renew=True))

    # --- requests -------------------------------------------------------------------------
    async def call(self, verb: str, resource: str, namespace: str = "", name: str = "", *,
                      subresource: str = "", body: Any = None, options: dict | None = None) -> dict:
        """One API call; the object, list or Status it returned, or :class:`ApiError`."""
        msg = ApiRequest(verb, resource, namespace, name, subresource, body, options, self.impersonate)
        clock = self.clock
        deadline = clock.monotonic() + self.deadline_s
        pause = 0.02
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise ApiError(503, "ServiceUnavailable", f"{verb} {resource}: the API server did not answer "
                               f"within {self.deadline_s:g} s")
            try:
                reply = await self.request_raw(msg, min(self.timeout_s, remaining))
            except MessageTooLarge as exc:
                raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: {exc}") from None
            except UndeliverableError:
                # Never delivered (the API server is restarting): safe to send again.
                await self.sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            except Indeterminate as exc:
                if verb in READS:
                    continue
                raise ApiError(504, "Timeout", f"{verb} {resource}: no answer; the change may or may not "
                               f"have been made: {exc}") from None
            except RemoteError as exc:
                if exc.code == "bad_request":  # the bus refused the message itself (a mistyped field)
                    raise ApiError(400, "BadRequest", str(exc)) from None
                raise ApiError(500, "InternalError", f"Internal error occurred: {exc}") from None
            if not isinstance(reply, ApiResponse):
                raise ApiError(500, "InternalError", f"unexpected reply {type(reply).__name__}")
            if reply.code >= 400:
                if reply.code == 503 and verb in READS:
                    await self.sleep(pause)
                    pause = min(pause * 2, 0.5)
                    continue
                raise ApiError.from_status(reply.body)
            return reply.body

    def request_raw(self, msg: ApiRequest, timeout_s: float) -> Future:
        return self.request(self.server, msg, timeout_s=timeout_s, retries=0)

    async def get(self, resource: str, name: str, namespace: str = "", *, subresource: str = "") -> dict:
        return await self.call("get", resource, namespace, name, subresource=subresource)

    async def logs(self, namespace: str, pod: str, *, container: str = "", previous: bool = False,
                   tail_lines: int = -1, since_seconds: int = 0, timestamps: bool = False) -> str:
        """A container's log (``pods/log``, which the API server gets from the pod's kubelet)."""
        options: dict[str, Any] = {"previous": previous, "timestamps": timestamps}
        if container:
            options["container"] = container
        if tail_lines >= 0:
            options["tailLines"] = tail_lines
        if since_seconds > 0:
            options["sinceSeconds"] = since_seconds
        reply = await self.call("get", "pods", namespace, pod, subresource="log", options=options)
        return str(reply.get("text", ""))

    async def list(self, resource: str, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 500, resource_version: str = "") -> dict:
        """Every matching object, fetched a page at a time; one list with the first page's resourceVersion."""
        options: dict[str, Any] = {"limit": limit}
        if label_selector:
            options["labelSelector"] = label_selector
        if field_selector:
            options["fieldSelector"] = field_selector
        if resource_version:
            options["resourceVersion"] = resource_version
        result = await self.call("list", resource, namespace, options=options)
        while result["metadata"].get("continue"):
            options["continue"] = result["metadata"]["continue"]
            page = await self.call("list", resource, namespace, options=options)
            result["items"].extend(page["items"])
            result["metadata"]["continue"] = page["metadata"].get("continue", "")
        result["metadata"].pop("continue", None)
        return result

    async def create(self, obj: dict, namespace: str = "") -> dict:
        resource, ns = resource_of(obj)
        return await self.call("create", resource, namespace or ns, body=obj)

    async def update(self, obj: dict, *, subresource: str = "") -> dict:
        resource, ns = resource_of(obj)
        return await self.call("update", resource, ns, obj["metadata"]["name"], subresource=subresource,
                                  body=obj)

    async def update_status(self, obj: dict) -> dict:
        return await self.update(obj, subresource="status")

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "strategic", subresource: str = "") -> dict:
        return await self.call("patch", resource, namespace, name, subresource=subresource, body=patch,
                                  options={"patchType": patch_type})

    async def delete(self, resource: str, name: str, namespace: str = "", *, propagation: str = "",
                     grace_period_s: int | None = None) -> dict:
        options: dict[str, Any] = {}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period_s is not None:
            options["gracePeriodSeconds"] = grace_period_s
        return await self.call("delete", resource, namespace, name, options=options)

    async def bind(self, namespace: str, pod: str, node: str) -> dict:
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        return await self.call("create", "pods", namespace, pod, subresource="binding", body=body)

    # --- watches --------------------------------------------------------------------------
    def watch(self, resource: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
              resource_version: str = "", on_event: Callable[[str, dict], None],
              bookmarks: bool = False) -> Watch:
        """Events from ``resource_version`` on (empty: current objects as ADDED first).

        ``on_event(type, object)``: ADDED, MODIFIED, DELETED, BOOKMARK (if
        ``bookmarks``), or ERROR with a ``Status`` when the watch cannot go on
        (410 Gone: list again; 403...). After ERROR the watch is over.
        """
        if lookup(resource) is None:
            raise ApiError(404, "NotFound", f'the server doesn\'t have a resource type "{resource}"')
        w = Watch(self, resource, namespace, label_selector, field_selector, resource_version, on_event, bookmarks)
        self._start(w)
        return w

    def _start(self, w: Watch) -> None:
        if self._watches.pop(w.watch_id, None) is not None:
            self.send(self.server, ApiCancelWatch(w.watch_id))  # the server may still hold the old one
        w.watch_id = f"{self._prefix}-{next(self._ids)}"
        w.seq = 0
        w.heard = self.clock.monotonic()
        self._watches[w.watch_id] = w
        self.send(self.server, ApiWatch(w.watch_id, w.resource, w.namespace, w.label_selector, w.field_selector,
                                        w.resource_version, impersonate=self.impersonate))

    def _restart_later(self, w: Watch, delay_s: float) -> None:
        self._watches.pop(w.watch_id, None)
        w.watch_id = ""

        def again() -> None:
            if not w.stopped:
                self._start(w)

        self.call_later(delay_s, again)

    @handles(ApiWatchEvents)
    def on_watch_events(self, msg: ApiWatchEvents, env: Envelope) -> None:
        w = self._watches.get(msg.watch_id)
        if w is None or env.sender != self.server:
            return  # a stream we left behind
        w.heard = self.clock.monotonic()
        if msg.seq != w.seq + 1:
            w.gaps += 1
            self._start(w)  # something was lost: resume from the last event we handled
            return
        w.seq = msg.seq
        if msg.closed is not None:
            code = int(msg.closed.get("code") or 500)
            if code in (404, 429, 503, 504):
                # Unknown to a restarted server, cut off as too slow, or not ready: watch again.
                w.restarts += 1
                self._restart_later(w, 0.05 if code != 503 else 0.5)
                return
            self._watches.pop(w.watch_id, None)
            w.stopped = True
            w.on_event("ERROR", msg.closed)
            return
        for typ, obj in msg.events:
            w.resource_version = (obj.get("metadata") or {}).get("resourceVersion") or w.resource_version
            w.on_event(typ, obj)
            if w.stopped:
                return
        if not msg.events and msg.resource_version:
            w.resource_version = msg.resource_version
            if w.bookmarks:
                w.on_event("BOOKMARK", {"metadata": {"resourceVersion": msg.resource_version}})
        self.send(self.server, ApiWatchAck(w.watch_id, msg.seq))

    def _renew(self) -> None:
        now = self.clock.monotonic()
        for w in list(self._watches.values()):
            if now - w.heard > SILENCE_S:
                w.restarts += 1
                self._start(w)
            else:
                self._ask_after(w)

    def _stop(self, w: Watch) -> None:
        w.stopped = True
        if self._watches.pop(w.watch_id, None) is not None:
            self.send(self.server, ApiCancelWatch(w.watch_id))


class Watch:
    """A running watch; :meth:`stop` ends it. ``resource_version`` is where it would resume."""

    def __init__(self, client: ApiClient, resource: str, namespace: str, label_selector: str,
                 field_selector: str, resource_version: str, on_event: Callable[[str, dict], None],
                 bookmarks: bool) -> None:
        self.client = client
        self.resource, self.namespace = resource, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resource_version = resource_version
        self.on_event = on_event
        self.bookmarks = bookmarks
        self.watch_id = ""
        self.seq = 0
        self.heard = 0.0
        self.stopped = False
        self.gaps = 0
        """Times a lost message made the watch resume."""
        self.restarts = 0
        """Times the server forgot or cut off the watch and it started again."""

    def stop(self) -> None:
        self.client._stop(self)


class Informer:
    """A local copy of one resource kept in step by list-then-watch, with handlers.

    ``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)`` run on the
    owning runtime's loop. ``synced`` resolves after the first list. Every
    ``resync_s`` (0: never) ``on_update(obj, obj)`` is called for every
    object, as client-go's resync does, so a controller re-checks them all.
    ``indexers`` (name -> a function of an object giving its index value, as
    client-go's Indexers) keep ``by_index(name, value)`` a lookup, so "the
    pods on node X" costs the pods on X, not every pod in the cluster.
    """

    def __init__(self, client: ApiClient, resource: str, namespace: str = "", *, label_selector: str = "",
                 field_selector: str = "", resync_s: float = 0.0,
                 on_add: Callable[[dict], None] | None = None,
                 on_update: Callable[[dict, dict], None] | None = None,
                 on_delete: Callable[[dict], None] | None = None,
                 indexers: Mapping[str, Callable[[dict], str]] | None = None) -> None:
        self.client = client
        self.resource, self.namespace = resource, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resync_s = resync_s
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.store: dict[str, dict] = {}
        self.synced = Future()
        self.resource_version = ""
        self.relists = 0
        self._watch: Watch | None = None
        self._stopped = False
        self._resync_timer = None
        self._error_pause = 0.0
        self._gone = False
        """The watch ended with 410 Gone: the next list is a consistent one."""
        self.indexers = dict(indexers or {})
        self._indices: dict[str, dict[str, dict[str, dict]]] = {name: {} for name in self.indexers}

    def start(self) -> None:
        self.client.spawn(self._list_and_watch())
        if self.resync_s > 0:
            self._resync_timer = self.client.call_every(self.resync_s, self._resync)

    def stop(self) -> None:
        self._stopped = True
        if self._watch is not None:
            self._watch.stop()
        if self._resync_timer is not None:
            self._resync_timer.cancel()

    def get(self, name: str, namespace: str = "") -> dict | None:
        return self.store.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[dict]:
        return list(self.store.values())

    def by_index(self, index: str, value: str) -> list[dict]:
        """The objects whose ``index`` function gives ``value`` (KeyError for an index it does not keep)."""
        return list(self._indices[index].get(value, {}).values())

    def _put(self, key: str, obj: dict) -> dict | None:
        old = self.store.get(key)
        self.store[key] = obj
        for name, fn in self.indexers.items():
            before, after = (fn(old) if old is not None else None), fn(obj)
            if before != after and before is not None:
                self._unindex(name, before, key)
            self._indices[name].setdefault(after, {})[key] = obj
        return old

    def _pop(self, key: str) -> dict | None:
        old = self.store.pop(key, None)
        if old is not None:
            for name, fn in self.indexers.items():
                self._unindex(name, fn(old), key)
        return old

    def _unindex(self, name: str, value: str, key: str) -> None:
        bucket = self._indices[name].get(value)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._indices[name][value]

    async def _list_and_watch(self, delay_s: float = 0.0) -> None:
        if delay_s:
            await self.client.sleep(delay_s)
        pause = 0.1
        while not self._stopped:
            try:
                # As client-go's reflector: the first list, and a relist after a refused watch, are served from
                # the API server's watch cache (resourceVersion "0": cheap, possibly a moment stale, the watch
                # then carries on from there); only a relist after 410 Gone asks the store for the latest.
                listed = await self.client.list(self.resource, self.namespace, label_selector=self.label_selector,
                                                field_selector=self.field_selector,
                                                resource_version="" if self._gone else "0")
                self._gone = False
                break
            except ApiError as exc:
                self.client.log.warning("informer list failed; retrying", resource=self.resource, error=str(exc))
                await self.client.sleep(pause)
                pause = min(pause * 2, 5.0)
        if self._stopped:
            return
        self._replace(listed["items"])
        self.resource_version = listed["metadata"]["resourceVersion"]
        if not self.synced.done():
            self.synced.set_result(None)
        self._watch = self.client.watch(self.resource, self.namespace, label_selector=self.label_selector,
                                        field_selector=self.field_selector,
                                        resource_version=self.resource_version, on_event=self._on_event)

    def _replace(self, items: list[dict]) -> None:
        """Make the store equal the list, telling the handlers what changed (a relist's deltas)."""
        fresh = {object_key(o): o for o in items}
        for key in [k for k in self.store if k not in fresh]:
            gone = self._pop(key)
            if self.on_delete:
                self.on_delete(gone)
        for key, obj in fresh.items():
            old = self._put(key, obj)
            if old is None:
                if self.on_add:
                    self.on_add(obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                if self.on_update:
                    self.on_update(old, obj)

    def _on_event(self, typ: str, obj: dict) -> None:
        if typ == "ERROR":
            # 410 Gone: start over with a list at once. Anything else (the watch refused, say)
            # will not get better by asking again right away: back off, doubling up to 30 s.
            self.relists += 1
            self._watch = None
            if obj.get("code") == 410:
                self._error_pause = 0.0
                self._gone = True
            else:
                self.client.log.warning("informer watch refused; backing off", resource=self.resource,
                                        code=obj.get("code"), error=obj.get("message"))
                self._error_pause = min(max(self._error_pause * 2, 0.5), 30.0)
            if not self._stopped:
                self.client.spawn(self._list_and_watch(self._error_pause))
            return
        key = object_key(obj)
        self.resource_version = obj["metadata"].get("resourceVersion", self.resource_version)
        if typ == "DELETED":
            gone = self._pop(key)
            if gone is not None and self.on_delete:
                self.on_delete(obj)
            return
        old = self._put(key, obj)
        if old is None:
            if self.on_add:
                self.on_add(obj)
        elif self.on_update:
            self.on_update(old, obj)

    def _resync(self) -> None:
        if self.on_update and self.synced.done():
            for obj in list(self.store.values()):
                self.on_update(obj, obj)


class ApiSession:
    """A runtime of its own holding one :class:`ApiClient`, driven from ordinary code.

    ``session.run(session.api.get("pods", "x", "default"))`` runs the loop
    until the call ends and returns its result (or raises what it raised).
    """

    def __init__(self, settings: BusSettings, *, clock: Clock | None = None, security: Security = Security(),
                 name: str | None = None, identity: str | None = None, timeout_s: float = 10.0,
                 deadline_s: float = 30.0) -> None:
        name = name or f"kubesim-cli-{os.getpid()}-{os.urandom(2).hex()}"
        self.runtime = Runtime(name, settings, clock or RealClock(), security=security, identity=identity)
        self.api = ApiClient(f"{name}.api", timeout_s=timeout_s, deadline_s=deadline_s)
        self.runtime.add(self.api)
        self.runtime.start()

    def run(self, coro, timeout_s: float = 120.0) -> Any:
        outcome: list = []

        async def capture():
            try:
                outcome.append((True, await coro))
            except Exception as exc:  # the call's outcome, handed to the caller
                outcome.append((False, exc))

        self.api.spawn(capture())
        if not self.runtime.run_until(lambda: bool(outcome), timeout_s):
            raise TimeoutError(f"no result within {timeout_s:g} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def poll(self, timeout_s: float = 0.05) -> None:
        self.runtime.run_once(timeout_s)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Run the loop until ``condition()`` holds or ``timeout_s`` passes; whether it held."""
        return self.runtime.run_until(condition, timeout_s)

    def close(self) -> None:
        self.runtime.shutdown()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
