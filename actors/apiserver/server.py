"""The API server actor: the broker's own actor that holds the cluster's objects.

Every component talks to ``apiserver`` over the bus, as every Kubernetes
component talks to kube-apiserver. A request (:class:`~actors.messages.ApiRequest`)
goes through what kube-apiserver's handler chain does, in order:

1. **authentication** — the user comes from the bus identity the broker
   stamped on the frame (the CURVE key's name, or with CURVE off the
   registered name, which the config must list): :mod:`actors.apiserver.authn`;
2. **authorization** — RBAC rules, then node restriction for kubelets:
   :mod:`actors.apiserver.rbac`;
3. **admission and the registry strategy** — namespace lifecycle, defaults,
   validation, status/spec separation, finalizers, grace periods, ClusterIP
   and NodePort allocation: :mod:`actors.apiserver.objects`;
4. **storage** — one compare-and-swap transaction on the replicated store,
   keyed ``/registry/<resource>/<namespace>/<name>``, whose revision becomes
   the object's resourceVersion.

It keeps nothing but caches: a watch cache per resource
(:mod:`actors.apiserver.watchcache`) fed by one store watch each, which
serves ``resourceVersion=0`` lists and every client watch. Kill it at any
moment and a new one rebuilds the caches from the store; clients resume their
watches from their last resourceVersion.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from actors import jsonvalue
from actors.apiserver import objects as ob
from actors.apiserver import status as st
from actors.apiserver.allocators import (
    AllocationError,
    ClusterIPAllocator,
    PortAllocator,
)
from actors.apiserver.authn import AUTHENTICATED, Authenticator
from actors.apiserver.fielderrors import Path, invalid
from actors.apiserver.kinds import KINDS, Kind, lookup, registry_key, registry_prefix
from actors.apiserver.metrics import ApiServerMetrics
from actors.apiserver.noderestriction import admit_node_request
from actors.apiserver.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from actors.apiserver.rbac import Attributes, Authorizer, UserInfo, forbidden_message
from actors.apiserver.selectors import (
    SelectorError,
    check_field_selector,
    parse_field_selector,
    parse_label_selector,
)
from actors.apiserver.watchcache import (
    ADDED,
    Filter,
    Outbox,
    TooOld,
    WatchCache,
    candidates,
    filtered,
    indexed_fields,
)
from actors.messages import (
    ApiCancelWatch,
    ApiRequest,
    ApiResponse,
    ApiWatch,
    ApiWatchAck,
    ApiWatchEvents,
    ContainerLogs,
)
from actors.store.client import Indeterminate, StoreClient, StoreError, StoreUnavailable
from actors.store.mvcc import KeyValue, prefix_end
from bus.codec import pack_value
from bus.runtime import (
    Actor,
    Envelope,
    Future,
    Lock,
    MessageTooLarge,
    RemoteError,
    RequestFailed,
    handles,
)

READ_VERBS = frozenset({"get", "list"})
#: What each subresource serves (anything else is 405, as in Kubernetes).
SUBRESOURCE_VERBS = {
    "status": frozenset({"get", "update", "patch"}),
    "scale": frozenset({"get", "update", "patch"}),
    "binding": frozenset({"create"}),
    "log": frozenset({"get"}),
    "eviction": frozenset({"create"}),
}
#: Longest wait for a kubelet's answer to a pods/log request.
KUBELET_TIMEOUT_S = 10.0
_LOG_OPTIONS = {"container": str, "previous": bool, "tailLines": int, "sinceSeconds": int, "timestamps": bool}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
PATCH_TYPES = {
    "application/merge-patch+json": "merge", "merge": "merge",
    "application/strategic-merge-patch+json": "strategic", "strategic": "strategic",
    "application/json-patch+json": "json", "json": "json",
}
IP_RANGE_KEY = b"/registry/ranges/serviceips"
PORT_RANGE_KEY = b"/registry/ranges/servicenodeports"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: Conflicts an unconditional update retries before giving up (GuaranteedUpdate retries forever; we bound it).
MAX_RETRIES = 20


@dataclass(frozen=True)
class ApiServerOptions:
    service_cidr: str = "10.96.0.0/12"
    node_ports: tuple[int, int] = (30000, 32767)
    watch_cache_size: int = 10_000
    """Events each resource's cache keeps; a watch from before the window gets 410 Gone."""
    watch_window: int = 64
    """Watch messages a client may leave unacknowledged before the server waits."""
    watcher_buffer: int = 10_000
    """Events one watcher may have queued before it is cut off as too slow."""
    bookmark_interval_s: float = 60.0
    """A quiet watch gets a bookmark this often (kube-apiserver's watch cache: about once a minute);
    it doubles as the keepalive, so thousands of kubelets' watches cost little when nothing changes."""
    watch_expiry_s: float = 120.0
    """A watch neither acknowledged nor renewed for this long is dropped (its client is gone; clients
    renew every 30 s)."""
    compaction_interval_s: float = 300.0
    """Kubernetes' --etcd-compaction-interval: history older than one interval is compacted."""
    max_object_bytes: int = 1_500_000
    max_response_bytes: int = 900_000
    """A list stops short of this and hands out a continue token (responses must fit in a bus frame)."""
    default_list_limit: int = 0
    seed: int | None = None


@dataclass(slots=True)
class _Watcher:
    client: str
    watch_id: str
    kind: Kind
    filter: Filter
    outbox: Outbox
    heard: float
    identity: str = ""
    """Who opened it: only that identity may acknowledge, renew or cancel it."""
    queued_rv: int = 0
    """Every event up to this resourceVersion has been queued for this watcher (or filtered out).

    An indexed watcher that no event of a batch concerned keeps its older value: the next batch only
    holds later events anyway, and its bookmarks go by ``sent_rv`` and the cache's revision."""
    sent_rv: int = 0
    index: tuple[str, str] | None = None
    """The (field, value) its filter pins on an indexed field: only events touching that value wake it."""
    sink: Callable[[ApiWatchEvents], None] | None = None
    """Where a watch of another front (an HTTPS stream) takes its messages; None sends them on the bus.
    Such a watch lives as long as its connection, so it never expires."""


@dataclass(slots=True)
class _Cache:
    kind: Kind
    cache: WatchCache
    ready: Future = field(default_factory=Future)
    unindexed: dict[tuple[str, str], _Watcher] = field(default_factory=dict)
    """Watchers every event is filtered for."""
    indexed: dict[tuple[str, str], dict[tuple[str, str], _Watcher]] = field(default_factory=dict)
    """(field, value) -> the watchers pinned to it: woken only by events whose object has or had it."""

    def add(self, wkey: tuple[str, str], w: _Watcher) -> None:
        (self.unindexed if w.index is None else self.indexed.setdefault(w.index, {}))[wkey] = w

    def remove(self, wkey: tuple[str, str], w: _Watcher) -> None:
        if w.index is None:
            self.unindexed.pop(wkey, None)
            return
        group = self.indexed.get(w.index)
        if group is not None:
            group.pop(wkey, None)
            if not group:
                del self.indexed[w.index]

    def all_watchers(self) -> list[_Watcher]:
        return [*self.unindexed.values(), *(w for group in self.indexed.values() for w in group.values())]


class ApiServer(Actor):
    """Serves the Kubernetes API over the bus, from the replicated store."""

    def __init__(self, name: str, store: StoreClient, options: ApiServerOptions, authenticator: Authenticator,
                 authorizer: Authorizer, metrics: ApiServerMetrics | None = None) -> None:
        super().__init__(name)
        self.store = store
        self.options = options
        self.authn = authenticator
        self.authz = authorizer
        self.metrics = metrics or ApiServerMetrics()
        self.rng = random.Random(options.seed)
        self.caches: dict[str, _Cache] = {
            k.resource: _Cache(k, WatchCache(k.resource, options.watch_cache_size, indexed_fields(k.kind)))
            for k in KINDS.values()}
        self.ready = Future()
        self._watchers: dict[tuple[str, str], _Watcher] = {}
        self._compact_at = 0
        self._allocation = Lock()
        """Service IP and port allocations, one at a time (they all read and write the same range keys)."""
        self._namespace_written = 0
        """Revision of the last namespace write this server made."""

    # --- life cycle ---------------------------------------------------------------------
    def on_start(self) -> None:
        self.spawn(self._boot())
        self.call_every(self.options.bookmark_interval_s, self._bookmarks)
        self.call_every(min(5.0, self.options.watch_expiry_s / 4), self._expire_watches)
        self.call_every(self.options.compaction_interval_s, self._compact)

    async def _boot(self) -> None:
        # Every resource's cache fills at once: each waits for its store watch to catch up.
        for c in self.caches.values():
            self.spawn(self._refill(c))
        for c in self.caches.values():
            await c.ready
        while True:
            try:
                await self._bootstrap_objects()
                break
            except (StoreUnavailable, Indeterminate, StoreError, st.ApiError) as exc:
                self.log.warning("could not create the system objects; retrying", error=str(exc))
                await self.sleep(0.5)
        self.log.info("API server ready", revision=max(c.cache.revision for c in self.caches.values()))
        if not self.ready.done():
            self.ready.set_result(None)

    async def _fill(self, c: _Cache) -> None:
        """List the resource and start its store watch; the window reaches back to keep resumes working.

        After a restart, clients resume watches from the resourceVersions they
        had. Listing at an older revision and replaying the store's history from
        there (until the store compacted it) lets those resumes succeed instead
        of all clients relisting at once.
        """
        prefix = registry_prefix(c.kind).encode()
        end = prefix_end(prefix)
        head = await self.store.get(prefix, end, count_only=True)
        at = max(1, head["revision"] - self.options.watch_cache_size)
        try:
            items = await self._range_all(prefix, end, at)
        except StoreError as exc:
            if "compacted" not in str(exc):
                raise
            at = head["revision"]
            items = await self._range_all(prefix, end, at)
        c.cache.reset({kv.key.decode(): (self._decode(kv), len(kv.value)) for kv in items}, at)
        self.metrics.cache_revision.labels(c.kind.resource).set(at)
        caught_up = Future()

        def progressed(c=c) -> None:
            self.metrics.cache_revision.labels(c.kind.resource).set(c.cache.revision)
            if not caught_up.done() and c.cache.revision >= head["revision"]:
                caught_up.set_result(None)

        def on_events(events, revision, c=c) -> None:
            self._on_store_events(c, events)
            c.cache.progress(revision)
            progressed()

        def on_end(reason: str, c=c) -> None:
            self.log.warning("store watch ended; refilling cache", resource=c.kind.resource, reason=reason)
            c.ready = Future()  # nothing is served from this cache until it has caught up again
            self._close_all(c, st.gone(f"the watch cache was reset: {reason}"))
            self.spawn(self._refill(c))

        def on_progress(revision: int, c=c) -> None:
            c.cache.progress(revision)
            progressed()

        self.store.watch(prefix, end, start_revision=at + 1, prev_kv=False, on_events=on_events,
                         on_end=on_end, on_progress=on_progress)
        # Served only once it has replayed up to now: a cache still in the past would admit into a
        # namespace deleted since, or miss objects made since.
        await caught_up
        if not c.ready.done():
            c.ready.set_result(None)

    async def _refill(self, c: _Cache) -> None:
        while True:
            try:
                await self._fill(c)
                return
            except (StoreUnavailable, Indeterminate, StoreError) as exc:
                self.log.warning("cache refill failed; retrying", resource=c.kind.resource, error=str(exc))
                await self.sleep(0.5)

    async def _range_all(self, key: bytes, end: bytes, revision: int) -> list[KeyValue]:
        out: list[KeyValue] = []
        while True:
            body = await self.store.get(key, end, revision=revision, limit=1000)
            out.extend(body["kvs"])
            if not body.get("more") or not body["kvs"]:
                return out
            key = body["kvs"][-1].key + b"\0"

    async def _bootstrap_objects(self) -> None:
        """What every cluster has: the system namespaces and the ``kubernetes`` Service."""
        admin = UserInfo("system:apiserver", ("system:masters",))
        for ns in SYSTEM_NAMESPACES:
            if await self._read(registry_key("namespaces", None, ns)) is None:
                try:
                    await self._create(admin, KINDS["Namespace"], "", {
                        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                except st.ApiError as exc:
                    if exc.reason != "AlreadyExists":
                        raise
        if await self._read(registry_key("services", "default", "kubernetes")) is None:
            ip = ClusterIPAllocator(self.options.service_cidr).kubernetes_ip
            try:
                await self._create(admin, KINDS["Service"], "default", {
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})
            except st.ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise

    def _ready_cache(self, kind: Kind) -> WatchCache | None:
        """The resource's cache if it may be served from (not while it refills), else None."""
        c = self.caches[kind.resource]
        return c.cache if c.ready.done() else None

    # --- store helpers --------------------------------------------------------------------
    @staticmethod
    def _decode(kv: KeyValue) -> dict:
        obj = jsonvalue.loads(kv.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
        return obj

    def _encode(self, obj: dict) -> bytes:
        meta = obj.get("metadata") or {}
        rv = meta.pop("resourceVersion", None)
        try:
            data = jsonvalue.dumps(obj)
        except TypeError as exc:  # a number JSON cannot carry as an integer Kubernetes reads (past 64 bits)
            raise st.bad_request(f"the object cannot be stored as JSON: {exc}") from None
        finally:
            if rv is not None:
                meta["resourceVersion"] = rv
        # Stored as JSON, carried on the bus as msgpack (which can be the larger: 9 bytes a float):
        # an object must fit the limit in both, or a client could not read back what it wrote.
        # msgpack is at most 3x the JSON (a float written "0.5" takes 9 bytes), so only an object past a
        # third of the limit needs the second encoding to be measured.
        limit = self.options.max_object_bytes
        if len(data) > limit or (3 * len(data) > limit and len(pack_value(obj)) > limit):
            raise st.too_large(limit)
        return data

    async def _timed(self, operation: str, coro) -> Any:
        perf = self.clock.perf
        started = perf()
        try:
            return await coro
        except StoreUnavailable as exc:
            raise st.unavailable(f"the store is unavailable: {exc}") from None
        except Indeterminate as exc:
            raise st.timeout(f"the store did not answer in time; the write may or may not have been "
                             f"applied: {exc}") from None
        except StoreError as exc:
            if exc.code in ("request_too_large", "too_large"):
                raise st.too_large(self.options.max_object_bytes) from None
            raise st.internal(str(exc)) from None
        finally:
            self.metrics.store_duration.labels(operation).observe(perf() - started)

    async def _read(self, key: str) -> tuple[dict, int] | None:
        body = await self._timed("get", self.store.get(key.encode()))
        if not body["kvs"]:
            return None
        kv = body["kvs"][0]
        return self._decode(kv), kv.mod_revision

    async def _txn(self, operation: str, compare: list, success: list, failure: list) -> dict:
        return await self._timed(operation, self.store.txn(compare, success, failure))

    # --- requests -------------------------------------------------------------------------
    @handles(ApiRequest)
    async def on_request(self, msg: ApiRequest, env: Envelope) -> None:
        code, body = await self.serve_request(msg, lambda: self._user(env, msg.impersonate))
        try:
            self.reply(env, ApiResponse(code, body))
        except MessageTooLarge:
            err = st.internal("the response is larger than a bus frame; list with a limit")
            self.reply(env, ApiResponse(500, err.status()))

    async def serve_request(self, msg: ApiRequest, authenticate: Callable[[], UserInfo]) -> tuple[int, dict]:
        """One API call from any front (the bus, HTTPS): authenticate, authorize, serve; ``(code, body)``.

        Every refusal is a ``Status`` body with its code, counted; nothing the request holds can
        raise out of here.
        """
        perf = self.clock.perf
        started = perf()
        self.metrics.in_flight.inc()
        resource = msg.resource if msg.resource in self.caches else "unknown"
        try:
            code, body = 200, await self._serve(msg, authenticate())
            if isinstance(body, tuple):
                code, body = body
        except st.ApiError as exc:
            code, body = exc.code, exc.status()
            if exc.code in (400, 401, 403, 413, 415, 422):
                self.metrics.rejected.labels(exc.reason).inc()
        except (PatchError, SelectorError) as exc:
            code, body = 400, st.bad_request(str(exc)).status()
            self.metrics.rejected.labels("BadRequest").inc()
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            # Everything that reaches the store or the bus is turned into an ApiError on the way, so
            # what is left is a body shaped so oddly that the strategy code tripped over it: the
            # client's mistake (a 400), logged with its traceback in case it is ours.
            self.log.warning("malformed request", verb=msg.verb, resource=msg.resource, exc_info=True)
            code, body = 400, st.bad_request(f"the request is malformed: {type(exc).__name__}: {exc}").status()
            self.metrics.rejected.labels("Malformed").inc()
        finally:
            self.metrics.in_flight.dec()
        self.metrics.requests.labels(msg.verb, resource, str(code)).inc()
        self.metrics.duration.labels(msg.verb, resource).observe(perf() - started)
        return code, body

    def _user(self, env: Envelope, impersonate: Any = None) -> UserInfo:
        user = self.authn.authenticate(env.identity)
        if user is None:
            raise st.unauthorized(f"Unauthorized: unknown bus identity {env.identity!r}")
        return user if impersonate is None else self._impersonated(user, impersonate)

    def _impersonated(self, user: UserInfo, spec: Any) -> UserInfo:
        """The user ``user`` asks to act as, once RBAC allows it (``WithImpersonation``).

        ``impersonate`` on ``users`` (by name) and on ``groups`` (each by name)
        must be granted; the result is in the requested groups plus
        ``system:authenticated``. kubesim's hollow nodes use it: one process
        hosts many kubelets, each acting as its own ``system:node:<name>``.
        """
        if not isinstance(spec, dict) or set(spec) - {"user", "groups"}:
            raise st.bad_request('impersonate must be a map with "user" and optionally "groups"')
        name, groups = spec.get("user"), spec.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise st.bad_request("impersonate.groups must be a list of group names")
        if not isinstance(name, str) or not name:
            raise st.bad_request(f"requested {groups} without impersonating a user" if groups
                                 else "impersonate.user must be a user name")
        for attrs in (Attributes(user, "impersonate", "", "users", "", "", name),
                      *(Attributes(user, "impersonate", "", "groups", "", "", g) for g in groups)):
            decision = self.authz.authorize(attrs)
            if not decision.allowed:
                raise st.forbidden(forbidden_message(attrs, decision.reason))
        return UserInfo(name, tuple(dict.fromkeys([*groups, AUTHENTICATED])))

    async def _serve(self, msg: ApiRequest, user: UserInfo) -> Any:
        kind = lookup(msg.resource) if isinstance(msg.resource, str) else None
        if kind is None or msg.resource not in (kind.resource, ):
            raise st.ApiError(404, "NotFound", f"the server could not find the requested resource "
                              f"({msg.resource!r} is not a resource name)")
        if msg.subresource and msg.subresource not in kind.subresources:
            raise st.ApiError(404, "NotFound", f"the server could not find the requested resource "
                              f"({kind.resource}/{msg.subresource})")
        namespace = msg.namespace or ""
        if not kind.namespaced and namespace:
            raise st.ApiError(404, "NotFound", f"{kind.resource} is not namespaced")
        verb = msg.verb
        if verb not in READ_VERBS | WRITE_VERBS:
            raise st.method_not_allowed(f"verb {verb!r} is not supported (use get, list, create, update, "
                                        "patch, delete, deletecollection, or watch with api.Watch)")
        sub = msg.subresource
        if sub and verb not in SUBRESOURCE_VERBS.get(sub, ()):
            raise st.method_not_allowed(f"{verb} is not supported on {kind.resource}/{sub} (only "
                                        f"{', '.join(sorted(SUBRESOURCE_VERBS.get(sub, ())))})")
        one_object = verb in ("get", "update", "patch", "delete") or (verb == "create" and bool(sub))
        if one_object:
            if not msg.name or not isinstance(msg.name, str):
                raise st.bad_request(f"{verb} {kind.resource} needs a name")
            if kind.namespaced and not namespace:
                raise st.bad_request(f"{verb} {kind.resource}: a namespace is required ({kind.resource} "
                                     "are namespaced)")
        elif msg.name:
            raise st.bad_request(f"{verb} {kind.resource} takes no name (the name goes in the object)")
        options = msg.options or {}
        if not isinstance(options, dict):
            raise st.bad_request("options must be a map")
        # Kubernetes' request info carries a name only for requests on one object: a rule limited
        # to resourceNames never grants list, watch, deletecollection or a plain create.
        attrs = Attributes(user, verb, kind.group, kind.resource, sub, namespace, msg.name if one_object else "")
        decision = self.authz.authorize(attrs)
        if not decision.allowed:
            raise st.forbidden(forbidden_message(attrs, decision.reason))
        if not self.ready.done():
            await self.ready
        if verb == "get":
            return await self._get(kind, namespace, msg.name, sub, options)
        if verb == "list":
            return await self._list(kind, namespace, options)
        dry = _dry_run(options, msg.body if verb in ("delete", "deletecollection") else None)
        if verb == "create":
            if sub == "binding":
                return await self._bind(attrs, kind, namespace, msg.name, msg.body, dry)
            if sub == "eviction":
                return await self._evict(attrs, kind, namespace, msg.name, msg.body, dry)
            return 201, await self._create(user, kind, namespace, msg.body, options, attrs, dry)
        if verb == "update":
            if sub != "scale":
                _check_fields(options, msg.body)
            return await self._update(attrs, kind, namespace, msg.name, sub, msg.body, dry)
        if verb == "patch":
            return await self._patch(attrs, kind, namespace, msg.name, sub, msg.body, options, dry)
        if verb == "delete":
            return await self._delete(attrs, kind, namespace, msg.name, msg.body, options, dry)
        return await self._delete_collection(attrs, kind, namespace, msg.body, options, dry)

    # --- reads ----------------------------------------------------------------------------
    async def _get(self, kind: Kind, namespace: str, name: str, sub: str, options: dict) -> dict:
        key = registry_key(kind, namespace or None, name)
        cache = self._ready_cache(kind)
        if str(options.get("resourceVersion") or "") == "0" and cache is not None:
            obj = cache.objects.get(key)
            found = (obj, 0) if obj is not None else None
        else:
            found = await self._read(key)
        if found is None:
            raise st.not_found(kind.resource, name, kind.group)
        obj = found[0]
        if sub == "scale":
            return ob.scale_of(kind, obj)
        if sub == "log":
            return await self._pod_log(obj, options)
        return obj

    async def _pod_log(self, pod: dict, options: dict) -> dict:
        """``pods/log``: the API server asks the pod's kubelet, as it proxies ``GET /containerLogs`` in Kubernetes.

        The answer is ``{"text": ...}``. Options are kubectl's: container, previous, tailLines, sinceSeconds,
        timestamps.
        """
        for key, value in options.items():
            want = _LOG_OPTIONS.get(key)
            if want is None:
                continue  # resourceVersion and the like: not for logs
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise st.bad_request(f"{key} must be {'a boolean' if want is bool else want.__name__}")
        meta = pod["metadata"]
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
            name = options.get("container") or (containers[0] if containers else "")
            raise st.bad_request(f'container "{name}" in pod "{meta["name"]}" is waiting to start: '
                                 "the pod is not scheduled yet")
        request = ContainerLogs(meta["namespace"], meta["name"], options.get("container") or "",
                                bool(options.get("previous")), int(options.get("tailLines", -1)),
                                int(options.get("sinceSeconds", 0)), bool(options.get("timestamps")))
        try:
            reply = await self.request(f"{node}.kubelet", request, timeout_s=KUBELET_TIMEOUT_S)
        except RemoteError as exc:
            # The kubelet's refusal (no such container, several to choose from, not started yet) is the client's.
            raise st.bad_request(exc.message) from None
        except RequestFailed as exc:
            raise st.ApiError(502, "InternalError", f"Get logs of {meta['namespace']}/{meta['name']} from node "
                              f"{node}: the kubelet did not answer ({exc})") from None
        return {"text": reply.text}

    def _filter(self, kind: Kind, namespace: str, label_selector: Any, field_selector: Any) -> Filter:
        labels = fields = None
        if label_selector:
            if not isinstance(label_selector, str):
                raise st.bad_request("labelSelector must be a string")
            try:
                labels = parse_label_selector(label_selector)
            except SelectorError as exc:
                raise st.bad_request(str(exc)) from None
        if field_selector:
            if not isinstance(field_selector, str):
                raise st.bad_request("fieldSelector must be a string")
            try:
                fields = parse_field_selector(field_selector)
                check_field_selector(kind.kind, fields)
            except SelectorError as exc:
                raise st.bad_request(f'"{field_selector}" is not a known field selector: {exc}') from None
        return Filter(namespace, labels, fields)

    async def _list(self, kind: Kind, namespace: str, options: dict) -> dict:
        f = self._filter(kind, namespace, options.get("labelSelector"), options.get("fieldSelector"))
        limit = options.get("limit") or self.options.default_list_limit
        if not isinstance(limit, int) or limit < 0:
            raise st.bad_request(f"limit must be a non-negative integer, got {limit!r}")
        token = options.get("continue") or ""
        rv = str(options.get("resourceVersion") or "")
        cache = self._ready_cache(kind)
        if rv == "0" and not token and cache is not None:
            # "Any" semantics: served from the watch cache, possibly a little stale, limit ignored (as
            # Kubernetes does) unless the answer would not fit in one message: then page from the store.
            keys = cache.select(f)  # through the index when f pins an indexed field (spec.nodeName=...)
            if sum(cache.sizes.get(k, 0) for k in keys) <= self.options.max_response_bytes:
                items = sorted((cache.objects[k] for k in keys),
                               key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
                return ob.list_object(kind, items, str(cache.revision))
        prefix = registry_prefix(kind, namespace or None).encode()
        end = prefix_end(prefix)
        start, revision = prefix, 0
        if token:
            start, revision = self._decode_continue(token, prefix)
        items, size, budget = [], 0, self.options.max_response_bytes
        more_key = b""
        while True:
            page = limit - len(items) if limit else 500
            try:
                body = await self._timed("list", self.store.get(start, end, revision=revision, limit=max(page, 1)))
            except st.ApiError as exc:
                if "compacted" in exc.message:
                    raise st.gone("The provided continue parameter is too old to display a consistent list "
                                  "result. You can start a new list without the continue parameter.") from None
                raise
            revision = revision or body["revision"]
            kvs = body["kvs"]
            for i, kv in enumerate(kvs):
                obj = self._decode(kv)
                if not f.matches(obj):
                    continue
                if items and size + len(kv.value) > budget:
                    more_key = kv.key
                    break
                items.append(obj)
                size += len(kv.value)
                if limit and len(items) >= limit and (i + 1 < len(kvs) or body.get("more")):
                    more_key = kvs[i + 1].key if i + 1 < len(kvs) else kv.key + b"\0"
                    break
            if more_key or not body.get("more") or not kvs:
                break
            start = kvs[-1].key + b"\0"
        cont = self._encode_continue(revision, more_key) if more_key else ""
        return ob.list_object(kind, items, str(revision), cont)

    @staticmethod
    def _encode_continue(revision: int, key: bytes) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": key.decode()}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @staticmethod
    def _decode_continue(token: Any, prefix: bytes) -> tuple[bytes, int]:
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
            start, revision = data["start"].encode(), int(data["rv"])
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, binascii.Error):
            raise st.bad_request("continue key is not valid: a continue token comes from a previous list") from None
        if not start.startswith(prefix) or revision <= 0:
            raise st.bad_request("continue key is not valid: it belongs to another list")
        return start, revision

    # --- writes ---------------------------------------------------------------------------
    async def _namespace_admits(self, kind: Kind, namespace: str, name: str) -> None:
        """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
        if not kind.namespaced:
            return
        key = registry_key("namespaces", None, namespace)
        cache = self._ready_cache(KINDS["Namespace"])
        # The cache trails the store by a watch event. After a namespace write of our own it may not
        # show it yet: ask the store then, so a namespace just deleted refuses at once (read your writes).
        ns = cache.objects.get(key) if cache is not None and cache.revision >= self._namespace_written else None
        if ns is None:
            found = await self._read(key)
            ns = found[0] if found else None
        if ns is None:
            raise st.not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise st.forbidden(f'{kind.resource} "{name}" is forbidden: unable to create new '
                               f"content in namespace {namespace} because it is being terminated")

    def _node_admits(self, attrs: Attributes, old: dict | None, new: dict | None) -> None:
        reason = admit_node_request(attrs, old, new)
        if reason:
            raise st.forbidden(forbidden_message(attrs, reason))

    def _suffix(self) -> str:
        return "".join(self.rng.choice(ob.NAME_ALPHABET) for _ in range(ob.NAME_SUFFIX_LEN))

    async def _create(self, user: UserInfo, kind: Kind, namespace: str, body: Any, options: dict | None = None,
                      attrs: Attributes | None = None, dry: bool = False) -> dict:
        ob.decode_kind(body, kind)
        _check_fields(options, body)
        for attempt in range(MAX_RETRIES):  # generateName collisions and allocation races are retried
            obj = ob.prepare_create(kind, body, namespace=namespace, now=self.clock.wall(),
                                    uid=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                                    suffix=self._suffix())
            meta = obj["metadata"]
            ns = meta.get("namespace", "")
            if kind.kind == "PersistentVolumeClaim":
                classes = self.caches.get("storageclasses")
                if classes is not None and not classes.ready.done():
                    await classes.ready  # the admission plugin reads the classes from an informer that has synced
                ob.admit_default_storage_class(obj, classes.cache.objects.values() if classes is not None else ())
            if attrs is not None:
                if kind.namespaced and attrs.namespace and ns != attrs.namespace:
                    raise st.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
                if not attrs.namespace and kind.namespaced:
                    # Authorized cluster-wide but the object names its namespace: check that namespace.
                    a = Attributes(user, "create", kind.group, kind.resource, "", ns, "")
                    decision = self.authz.authorize(a)
                    if not decision.allowed:
                        raise st.forbidden(forbidden_message(a, decision.reason))
                self._node_admits(Attributes(user, "create", kind.group, kind.resource, "", ns, meta["name"]),
                                  None, obj)
            await self._namespace_admits(kind, ns, meta["name"])
            key = registry_key(kind, ns or None, meta["name"]).encode()
            compare = [{"key": key, "target": "create", "result": "=", "value": 0}]
            extra_ops: list = []
            service = kind.kind == "Service"
            if service:  # one allocation at a time here; the txn's compares guard against anyone else
                await self._allocation.acquire()
            try:
                if service:
                    obj, extra_cmp, extra_ops = await self._allocate(obj, None)
                    compare += extra_cmp
                success = [{"op": "put", "key": key, "value": self._encode(obj)}] + extra_ops
                if dry:  # (the put above was encoded: what a real create would refuse is refused)  # everything a create checks, nothing written (its allocations are not kept either)
                    if await self._read(key.decode()) is not None:
                        raise st.already_exists(kind.resource, meta["name"], kind.group)
                    return obj
                result = await self._txn("create", compare, success,
                                         [{"op": "range", "key": key, "count_only": True}])
            finally:
                if service:
                    self._allocation.release()
            if result["succeeded"] and kind.kind == "Namespace":
                self._namespace_written = max(self._namespace_written, result["revision"])
            if result["succeeded"]:
                meta["resourceVersion"] = str(result["revision"])
                return obj
            if kind.kind == "Service" and not result["responses"][0]["count"]:
                # An allocation range moved under us: allocate again, after a little while (many
                # Services created at once all contend for the same range key).
                await self.sleep(self.rng.uniform(0, 0.002 * (attempt + 1)))
                continue
            if body.get("metadata", {}).get("name") or not body.get("metadata", {}).get("generateName"):
                raise st.already_exists(kind.resource, meta["name"], kind.group)
        raise st.ApiError(500, "InternalError", f"could not create {kind.resource}: too many conflicts")

    async def _modify(self, attrs: Attributes, kind: Kind, namespace: str, name: str, change,
                      expected_rv: str = "", dry: bool = False) -> tuple[int, dict]:
        """Read, change, compare-and-swap; retried on conflict unless the caller pinned a resourceVersion.

        ``change(old) -> new`` returns the object to store, or None to delete it. As Kubernetes'
        GuaranteedUpdate does, the first attempt starts from the watch cache's copy: the swap
        compares the revision, so a stale copy costs a retry, never a wrong write. Anything
        decided against a copy that may be stale (a conflict, a refusal, "nothing changed") is
        decided again against the store's own before it is answered.
        """
        key = registry_key(kind, namespace or None, name)
        kb = key.encode()
        cache = self._ready_cache(kind)
        cached = cache.objects.get(key) if cache is not None else None
        found = (cached, int(cached["metadata"]["resourceVersion"])) if cached is not None else None
        fresh = False
        if found is None:
            found, fresh = await self._read(key), True
        for _ in range(MAX_RETRIES):
            if found is None:
                raise st.not_found(kind.resource, name, kind.group)
            old, mod = found
            try:
                if expected_rv and expected_rv != str(mod):
                    raise st.conflict(kind.resource, name, st.STALE, kind.group)
                new = change(old)
                if new is not None:
                    if ob.delete_now(new):
                        new = None
                    else:  # the stored form has none; equal objects must compare equal
                        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                self._node_admits(attrs, old, new)
            except Exception:  # a refusal, a patch that does not apply: maybe only to a stale copy
                if fresh:
                    raise
                found, fresh = await self._read(key), True
                continue
            if new == old:
                if not fresh:
                    found, fresh = await self._read(key), True
                    continue
                return 200, old  # nothing changed: no write, no new resourceVersion (as Kubernetes)
            if dry:
                if not fresh:  # answered from what the store holds now, like every other answer
                    found, fresh = await self._read(key), True
                    continue
                if new is not None:
                    self._encode(new)  # what a real write would refuse (too large, unencodable) is refused
                return 200, new if new is not None else old
            compare = [{"key": kb, "target": "mod", "result": "=", "value": mod}]
            extra_cmp: list = []
            extra_ops: list = []
            service = kind.kind == "Service"
            if service:
                await self._allocation.acquire()
            try:
                if service:
                    new, extra_cmp, extra_ops = await self._allocate(new, old)
                if new is None:
                    ops = [{"op": "delete", "key": kb}]
                else:
                    ops = [{"op": "put", "key": kb, "value": self._encode(new)}]
                result = await self._txn(attrs.verb, compare + extra_cmp, ops + extra_ops,
                                         [{"op": "range", "key": kb}])
            finally:
                if service:
                    self._allocation.release()
            if result["succeeded"]:
                if kind.kind == "Namespace":
                    self._namespace_written = max(self._namespace_written, result["revision"])
                if new is None:
                    gone = dict(old)
                    gone["metadata"] = dict(old["metadata"], resourceVersion=str(result["revision"]))
                    return 200, gone
                new["metadata"]["resourceVersion"] = str(result["revision"])
                return 200, new
            # The swap failed: the failure branch read the object as it is now.
            kvs = result["responses"][0]["kvs"]
            current = KeyValue(*kvs[0]) if kvs else None
            found, fresh = ((self._decode(current), current.mod_revision) if current else None), True
            if current is not None and current.mod_revision == mod:
                # The object is as it was: an allocation range moved under us. Back off a little.
                await self.sleep(self.rng.uniform(0, 0.005))
            if expected_rv and (current is None or current.mod_revision != mod):
                if current is None:
                    raise st.not_found(kind.resource, name, kind.group)
                raise st.conflict(kind.resource, name, st.STALE, kind.group)
        raise st.conflict(kind.resource, name, "too many concurrent changes; try again", kind.group)

    async def _update(self, attrs: Attributes, kind: Kind, namespace: str, name: str, sub: str,
                      body: Any, dry: bool = False) -> tuple[int, dict]:
        if sub == "scale":
            def change(old):
                return ob.apply_scale(old, body)
            code, obj = await self._modify(attrs, kind, namespace, name, change,
                                           str(((body or {}).get("metadata") or {}).get("resourceVersion") or ""),
                                           dry)
            return code, ob.scale_of(kind, obj)
        ob.decode_kind(body, kind)
        expected = str((body.get("metadata") or {}).get("resourceVersion") or "")

        def change(old):
            return ob.prepare_update(kind, old, body, subresource=sub, namespace=namespace, name=name)

        return await self._modify(attrs, kind, namespace, name, change, expected, dry)

    async def _patch(self, attrs: Attributes, kind: Kind, namespace: str, name: str, sub: str, body: Any,
                     options: dict, dry: bool = False) -> tuple[int, dict]:
        ptype = PATCH_TYPES.get(str(options.get("patchType") or "merge"))
        if ptype is None:
            raise st.ApiError(415, "UnsupportedMediaType",
                              f"the body of the request was in an unknown format - accepted media types "
                              f"include: {', '.join(k for k in PATCH_TYPES if '/' in k)}")
        if ptype == "json" and not isinstance(body, list):
            raise st.bad_request("a JSON patch is a list of operations")
        if ptype != "json" and not isinstance(body, dict):
            raise st.bad_request(f"a {ptype} merge patch is an object")
        pinned = ""
        if isinstance(body, dict):
            pinned = str((body.get("metadata") or {}).get("resourceVersion") or "")

        def change(old):
            target = ob.scale_of(kind, old) if sub == "scale" else old
            if ptype == "merge":
                patched = merge_patch(target, body)
            elif ptype == "strategic":
                patched = strategic_merge_patch(target, body, "Scale" if sub == "scale" else kind.kind)
            else:
                patched = json_patch(target, body)
            if sub == "scale":
                return ob.apply_scale(old, patched)
            _check_fields(options, patched)
            return ob.prepare_update(kind, old, patched, subresource=sub, namespace=namespace, name=name)

        code, obj = await self._modify(attrs, kind, namespace, name, change, pinned, dry)
        return code, ob.scale_of(kind, obj) if sub == "scale" else obj

    async def _delete(self, attrs: Attributes, kind: Kind, namespace: str, name: str, body: Any,
                      options: dict, dry: bool = False) -> tuple[int, dict]:
        opts = ob.DeleteOptions.parse(body if isinstance(body, dict) else None, options)
        now = self.clock.wall()

        def change(old):
            return ob.prepare_delete(kind, old, opts, now)

        return await self._modify(attrs, kind, namespace, name, change, dry=dry)

    async def _evict(self, attrs: Attributes, kind: Kind, namespace: str, name: str, body: Any,
                     dry: bool) -> tuple[int, dict]:
        """``pods/eviction``: a delete that disruption budgets may refuse (``kubectl drain`` evicts).

        kubesim serves no PodDisruptionBudgets, so every eviction is allowed, as it is in a
        cluster without budgets; it deletes with the Eviction's DeleteOptions.
        """
        if kind.kind != "Pod":
            raise st.method_not_allowed("eviction is a subresource of pods only")
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise st.bad_request("the body of an eviction must be an Eviction (policy/v1)")
        given = (body.get("metadata") or {}).get("name")
        if given and given != name:
            raise st.bad_request(f"name in URL does not match name in Eviction object: {name!r} != {given!r}")
        options = body.get("deleteOptions") or {}
        delete_attrs = Attributes(attrs.user, "delete", kind.group, kind.resource, "", namespace, name)
        await self._delete(delete_attrs, kind, namespace, name, options, {}, dry or _dry_run({}, options))
        return 201, st.status_ok() | {"code": 201}

    async def _delete_collection(self, attrs: Attributes, kind: Kind, namespace: str, body: Any,
                                 options: dict, dry: bool = False) -> dict:
        """Delete every matching object, page by page; the answer lists what was deleted (metadata only,
        so it fits in one message however many there were)."""
        query = {k: v for k, v in options.items() if k in ("labelSelector", "fieldSelector")}
        deleted, revision = [], ""
        while True:
            listed = await self._list(kind, namespace, query)
            revision = revision or listed["metadata"]["resourceVersion"]
            for obj in listed["items"]:
                meta = obj["metadata"]
                ns = meta.get("namespace", "")
                a = Attributes(attrs.user, "delete", kind.group, kind.resource, "", ns, meta["name"])
                try:
                    _, gone = await self._delete(a, kind, ns, meta["name"], body, options, dry)
                except st.ApiError as exc:
                    if exc.reason != "NotFound":
                        raise
                    continue
                deleted.append({"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {
                    k: gone["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion")
                    if k in gone["metadata"]}})
            if not listed["metadata"].get("continue"):
                return ob.list_object(kind, deleted, revision)
            query["continue"] = listed["metadata"]["continue"]

    async def _bind(self, attrs: Attributes, kind: Kind, namespace: str, name: str, body: Any,
                    dry: bool = False) -> tuple[int, dict]:
        if kind.kind != "Pod":
            raise st.method_not_allowed("binding is a subresource of pods only")
        now = ob.rfc3339(self.clock.wall())

        def change(old):
            return ob.bind(old, body, now)

        await self._modify(attrs, kind, namespace, name, change, dry=dry)
        return 201, st.status_ok({"name": name, "kind": "pods"}) | {"code": 201}

    # --- ClusterIP and NodePort allocation ---------------------------------------------------
    async def _allocate(self, new: dict | None, old: dict | None) -> tuple[dict | None, list, list]:
        """Allocate what ``new`` needs and release what ``old`` held, as compare + ops for the same txn."""
        old_ips = set(_cluster_ips(old)) if old else set()
        old_ports = set(_node_ports(old)) if old else set()
        wants_ports = new is not None and (new.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
        ip_body = await self._timed("get", self.store.get(IP_RANGE_KEY))
        port_body = await self._timed("get", self.store.get(PORT_RANGE_KEY))
        ips = (ClusterIPAllocator.from_dict(json.loads(ip_body["kvs"][0].value), rng=self.rng)
               if ip_body["kvs"] else ClusterIPAllocator(self.options.service_cidr, rng=self.rng))
        lo, hi = self.options.node_ports
        ports = (PortAllocator.from_dict(json.loads(port_body["kvs"][0].value), rng=self.rng)
                 if port_body["kvs"] else PortAllocator(lo, hi, rng=self.rng))
        before_ips = ips.to_dict() if ip_body["kvs"] else None
        before_ports = ports.to_dict() if port_body["kvs"] else None
        errors = []
        if new is not None:
            spec = new.setdefault("spec", {})
            name = new["metadata"].get("name", "")
            if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
                ip = spec.get("clusterIP") or None
                if ip is None or ip not in old_ips:
                    try:
                        ip = ips.allocate(ip)
                    except AllocationError as exc:
                        errors.append(invalid(Path("spec", "clusterIPs").index(0), ip, str(exc)))
                    except ValueError as exc:
                        errors.append(invalid(Path("spec", "clusterIP"), ip, str(exc)))
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            if wants_ports:
                for i, port in enumerate(spec.get("ports") or []):
                    if not isinstance(port, dict):
                        continue
                    want = port.get("nodePort") or None
                    if want is not None and want in old_ports:
                        continue
                    try:
                        port["nodePort"] = ports.allocate(want)
                    except AllocationError as exc:
                        errors.append(invalid(Path("spec", "ports").index(i).child("nodePort"), want, str(exc)))
                    except (ValueError, TypeError) as exc:
                        errors.append(invalid(Path("spec", "ports").index(i).child("nodePort"), want, str(exc)))
            else:
                for port in spec.get("ports") or []:
                    if isinstance(port, dict):
                        port.pop("nodePort", None)
            if errors:
                raise st.invalid("Service", name, errors)
        kept_ips = set(_cluster_ips(new)) if new else set()
        kept_ports = set(_node_ports(new)) if new else set()
        for ip in old_ips - kept_ips:
            ips.release(ip)
        for port in old_ports - kept_ports:
            ports.release(port)
        compare, ops = [], []
        ranges = ((IP_RANGE_KEY, ip_body, ips, before_ips), (PORT_RANGE_KEY, port_body, ports, before_ports))
        for key, body, alloc, before in ranges:
            if alloc.to_dict() == before:
                continue  # untouched: neither compared nor written, so other Services' writes do not collide
            mod = body["kvs"][0].mod_revision if body["kvs"] else 0
            compare.append({"key": key, "target": "mod", "result": "=", "value": mod})
            ops.append({"op": "put", "key": key, "value": json.dumps(alloc.to_dict()).encode()})
        return new, compare, ops

    # --- watches --------------------------------------------------------------------------
    @handles(ApiWatch)
    def on_watch(self, msg: ApiWatch, env: Envelope) -> None:
        wkey = (env.sender, msg.watch_id)
        if msg.renew:
            w = self._watchers.get(wkey)
            if w is not None and w.identity == env.identity:
                w.heard = self.clock.monotonic()
                return
            self._send_closed(env.sender, msg.watch_id, 1, st.ApiError(
                404, "NotFound", "unknown watch (the API server restarted?): watch again"))
            return
        try:
            w = self._start_watch(msg, self._user(env, msg.impersonate), env.sender, env.identity)
        except st.ApiError as exc:
            self._send_closed(env.sender, msg.watch_id, 1, exc)
            return
        self._flush(w)

    def open_watch(self, msg: ApiWatch, user: UserInfo, client: str,
                   sink: Callable[[ApiWatchEvents], None], window: int = 4) -> _Watcher:
        """A watch for another front: its messages go to ``sink``, which acknowledges them with
        :meth:`ack_watch` as its client takes them; :meth:`close_watch` ends it. Refusals raise ApiError.

        ``window`` (messages unacknowledged at once) is small: a front holds what it was sent in a
        socket buffer, so this is what one client that stops reading can cost it."""
        w = self._start_watch(msg, user, client, client, sink, window)
        self.call_later(0, self._flush, w)  # after the caller has kept the handle
        return w

    def ack_watch(self, w: _Watcher, seq: int) -> None:
        if self._watchers.get((w.client, w.watch_id)) is w:
            w.outbox.ack(seq)
            self._flush(w)

    def close_watch(self, w: _Watcher) -> None:
        if self._watchers.get((w.client, w.watch_id)) is w:
            self._drop(w)

    def _start_watch(self, msg: ApiWatch, user: UserInfo, client: str, identity: str,
                     sink: Callable[[ApiWatchEvents], None] | None = None, window: int | None = None) -> _Watcher:
        kind = lookup(msg.resource) if isinstance(msg.resource, str) else None
        if kind is None or kind.resource != msg.resource:
            raise st.ApiError(404, "NotFound", f"the server could not find the requested resource ({msg.resource!r})")
        attrs = Attributes(user, "watch", kind.group, kind.resource, "", msg.namespace, "")
        decision = self.authz.authorize(attrs)
        if not decision.allowed:
            raise st.forbidden(forbidden_message(attrs, decision.reason))
        f = self._filter(kind, msg.namespace, msg.label_selector, msg.field_selector)
        c = self.caches[kind.resource]
        if not c.ready.done():
            raise st.unavailable("the watch cache is not ready yet; watch again")
        wkey = (client, msg.watch_id)
        old = self._watchers.get(wkey)
        if old is not None and old.identity != identity:
            raise st.forbidden("a watch with that id belongs to another identity")
        self._drop(old)
        outbox = Outbox(window or self.options.watch_window, self.options.watcher_buffer,
                        max(1024, self.options.max_response_bytes // 2))
        w = _Watcher(client, msg.watch_id, kind, f, outbox, self.clock.monotonic(), identity,
                     index=f.index_term(c.cache.indexed), sink=sink)
        rv_text = msg.resource_version
        if rv_text in ("", "0"):
            initial = [(ADDED, c.cache.objects[k], c.cache.sizes.get(k, 0)) for k in c.cache.select(f)]
            initial.sort(key=lambda item: int(item[1]["metadata"]["resourceVersion"]))
            w.queued_rv = c.cache.revision
            outbox.push(initial)
        else:
            try:
                rv = int(rv_text)
            except ValueError:
                raise st.bad_request(f"resourceVersion: invalid value {rv_text!r}: must be an integer") from None
            try:
                events = c.cache.since_for(rv, f)
            except TooOld as exc:
                raise st.gone(f"too old resource version: {exc.requested} ({exc.oldest})") from None
            # Every event up to the cache's revision this watcher could see is in ``events``.
            w.queued_rv = max([rv, c.cache.revision] + [e.rv for e in events])
            outbox.push(filtered(events, f))
        # The backlog a new watch starts with is not held against it: it is sent as credit allows.
        w.sent_rv = int(rv_text) if rv_text not in ("", "0") else w.queued_rv
        self._watchers[wkey] = w
        c.add(wkey, w)
        self.metrics.watchers.labels(kind.resource).inc()
        return w

    @handles(ApiWatchAck)
    def on_ack(self, msg: ApiWatchAck, env: Envelope) -> None:
        w = self._watchers.get((env.sender, msg.watch_id))
        if w is None or w.identity != env.identity:
            return
        w.heard = self.clock.monotonic()
        w.outbox.ack(msg.seq)
        self._flush(w)

    @handles(ApiCancelWatch)
    def on_cancel(self, msg: ApiCancelWatch, env: Envelope) -> None:
        w = self._watchers.get((env.sender, msg.watch_id))
        if w is not None and w.identity == env.identity:
            self._drop(w)

    def _drop(self, w: _Watcher | None) -> None:
        if w is None:
            return
        key = (w.client, w.watch_id)
        if self._watchers.pop(key, None) is not None:
            self.caches[w.kind.resource].remove(key, w)
            self.metrics.watchers.labels(w.kind.resource).dec()

    def _on_store_events(self, c: _Cache, events: list) -> None:
        changes = []
        for ev in events:
            kv = ev.kv
            key = kv.key.decode()
            if ev.type == "PUT":
                try:
                    obj = self._decode(kv)
                except ValueError:
                    self.log.error("undecodable object in the store; skipped", key=key, revision=kv.mod_revision)
                    continue
                changes.append(("PUT", key, obj, kv.mod_revision, len(kv.value)))
            else:
                changes.append(("DELETE", key, None, kv.mod_revision, 0))
        made = c.cache.apply(changes)
        self.metrics.cache_revision.labels(c.kind.resource).set(c.cache.revision)
        if not made:
            return
        # Every unindexed watcher, and the indexed ones an event's object has or had the value of, each
        # with just those events: the others' filters could pass none of them (the cacher's triggers).
        for w, evs in candidates(made, c.cache.indexed, c.unindexed, c.indexed):
            items = filtered((e for e in evs if e.rv > w.queued_rv), w.filter)
            w.queued_rv = max(w.queued_rv, made[-1].rv)
            if not items:
                continue
            w.outbox.push(items)
            self._flush(w)
            if len(w.outbox.queue) > w.outbox.limit:
                self.metrics.terminated.labels(c.kind.resource).inc()
                self.log.warning("watcher too slow; cut off", client=w.client, resource=c.kind.resource,
                                 queued=len(w.outbox.queue))
                self._drop(w)
                self._closed(w, w.outbox.next_seq(), st.too_many_requests(
                    "the watcher fell too far behind and was cut off; watch again from the last resourceVersion"))

    def _flush(self, w: _Watcher) -> None:
        while True:
            batches = w.outbox.take()
            for i, (seq, batch) in enumerate(batches):
                rv = w.sent_rv
                events = []
                for typ, obj, _ in batch:
                    events.append([typ, obj])
                    rv = max(rv, int(obj["metadata"]["resourceVersion"]))
                try:
                    self._emit(w, ApiWatchEvents(w.watch_id, seq, events, str(rv)))
                except MessageTooLarge:
                    # Batches are sized by the stored JSON; on the bus an object can be larger.
                    if len(batch) == 1:
                        self._drop(w)
                        self._closed(w, seq, st.internal(
                            f"an object at resourceVersion {rv} does not fit in one watch message"))
                        return
                    w.outbox.give_back(batches[i:])
                    break
                w.sent_rv = rv
                self.metrics.watch_events.labels(w.kind.resource).inc(len(events))
            else:
                return

    def _emit(self, w: _Watcher, msg: ApiWatchEvents) -> None:
        if w.sink is None:
            self.send(w.client, msg)
            return
        try:
            w.sink(msg)
        except Exception:  # one front's broken stream must not stop the events every other watcher is owed
            self.log.exception("a watch sink failed; its watch is dropped", client=w.client,
                               resource=w.kind.resource)
            self._drop(w)

    def _send_closed(self, client: str, watch_id: str, seq: int, err: st.ApiError) -> None:
        self.send(client, ApiWatchEvents(watch_id, seq, [], "", err.status()))

    def _closed(self, w: _Watcher, seq: int, err: st.ApiError) -> None:
        self._emit(w, ApiWatchEvents(w.watch_id, seq, [], "", err.status()))

    def _close_all(self, c: _Cache, err: st.ApiError) -> None:
        for w in c.all_watchers():
            self._drop(w)
            self._closed(w, w.outbox.next_seq(), err)

    def _bookmarks(self) -> None:
        for w in list(self._watchers.values()):
            c = self.caches[w.kind.resource]
            if w.outbox.queue or w.outbox.credit <= 0 or not c.ready.done():
                continue
            rv = max(w.sent_rv, c.cache.revision)
            w.sent_rv = rv
            self._emit(w, ApiWatchEvents(w.watch_id, w.outbox.next_seq(), [], str(rv)))

    def _expire_watches(self) -> None:
        deadline = self.clock.monotonic() - self.options.watch_expiry_s
        for w in list(self._watchers.values()):
            if w.heard < deadline and w.sink is None:
                self.log.info("watch expired: client silent", client=w.client, resource=w.kind.resource)
                self._drop(w)

    def _compact(self) -> None:
        """Compact the store to the revision seen one interval ago, as kube-apiserver does."""
        target, self._compact_at = self._compact_at, max(c.cache.revision for c in self.caches.values())
        if target <= 0:
            return

        async def run() -> None:
            try:
                await self.store.compact(target)
                self.log.info("store compacted", revision=target)
            except (StoreUnavailable, Indeterminate, StoreError) as exc:
                if "compacted" not in str(exc):
                    self.log.warning("compaction failed", revision=target, error=str(exc))

        self.spawn(run())


def _dry_run(options: dict, body: Any) -> bool:
    """``dryRun=All`` (from the query, or a delete's DeleteOptions): do everything but the write."""
    value = options.get("dryRun")
    if value is None and isinstance(body, dict):
        value = body.get("dryRun")
    if value in (None, "", []):
        return False
    values = value if isinstance(value, list) else [value]
    if values != ["All"]:
        raise st.bad_request(f"Invalid dry run option: {value!r}: the only dry run option is All")
    return True


def _check_fields(options: dict | None, obj: Any) -> None:
    """``fieldValidation=Strict`` (what kubectl sends): an unknown field is a 400, not silently kept."""
    if not options or options.get("fieldValidation") != "Strict" or not isinstance(obj, dict):
        return
    unknown = ob.unknown_fields(obj)
    if unknown:
        raise st.bad_request("strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown))


def _cluster_ips(svc: dict | None) -> list[str]:
    if not svc:
        return []
    spec = svc.get("spec") or {}
    ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"]
    return [ip for ip in ips if isinstance(ip, str)]


def _node_ports(svc: dict | None) -> list[int]:
    if not svc:
        return []
    return [p["nodePort"] for p in (svc.get("spec") or {}).get("ports") or []
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]]
