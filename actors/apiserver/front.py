"""The API server's HTTPS front: the Kubernetes REST API for real ``kubectl`` and client libraries.

Components reach the API server over the bus; people reach a real cluster
with ``kubectl``, and what they practise here should carry over. So the
broker process also listens on HTTPS (127.0.0.1, ``apiserver.secure_port``)
and serves what kube-apiserver serves there, over the same objects and the
same checks — a request from ``kubectl`` becomes the
:class:`~actors.messages.ApiRequest` a component would send and goes through
:meth:`ApiServer.serve_request <actors.apiserver.server.ApiServer.serve_request>`:

- **authentication**: a bearer token (``Authorization: Bearer ...``) names a
  user, as kube-apiserver's static token file does; no credentials is
  ``system:anonymous``; a wrong token is 401. ``Impersonate-User`` /
  ``Impersonate-Group`` (``kubectl --as``) go through the same RBAC check as
  a hollow node's impersonation on the bus;
- **the non-resource URLs**: ``/version``, ``/healthz``, ``/livez``,
  ``/readyz`` for everyone; discovery (``/api``, ``/apis``, aggregated when
  asked for) and OpenAPI (``/openapi/v2``, ``/openapi/v3``) for anyone
  authenticated, as the ``system:public-info-viewer`` and
  ``system:discovery`` roles grant them;
- **resources**: every verb, ``?watch=1`` as a chunked stream of JSON
  events (with bookmarks when asked), ``pods/log`` as text (``follow`` as a
  stream), ``pods/eviction``, subresources, ``dryRun``,
  ``fieldValidation``; a ``Table`` when the client asks for one, so ``kubectl
  get`` prints Kubernetes' columns; SelfSubjectAccessReview and
  SubjectAccessReview (``kubectl auth can-i``);
- **errors**: the API server's ``Status`` bodies, with their codes.

The socket work is :mod:`actors.apiserver.httpserver`; URL parsing is
:mod:`actors.apiserver.rest`; the answers' shapes are
:mod:`actors.apiserver.discovery`, :mod:`actors.apiserver.openapi` and
:mod:`actors.apiserver.tables`. This module is the glue, and the one place
that knows a request can outlive its first answer (watches, log streams).
"""

from __future__ import annotations

import itertools
import json
import resource
import ssl
from typing import Any

import orjson

from actors.apiserver import discovery, rest, tables
from actors.apiserver import status as st
from actors.apiserver.authn import AUTHENTICATED, TokenAuthenticator
from actors.apiserver.httpserver import (
    Exchange,
    HttpRequest,
    HttpServer,
    ServerCounters,
)
from actors.apiserver.kinds import KUBERNETES_VERSION, registry_key
from actors.apiserver.rbac import Attributes, UserInfo
from actors.apiserver.server import ApiServer
from actors.messages import ApiRequest, ApiWatch, ApiWatchEvents
from bus.runtime import Actor

__all__ = ["HttpsFront"]

JSON = "application/json"
#: A stream whose client has this much unread is not given more until it drains (its watch backs up
#: in the API server's bounded queue instead, and is cut off there if it never catches up).
STREAM_HIGH_WATER = 1 << 20
#: Paths anyone may read (system:public-info-viewer).
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
#: Paths any authenticated user may read (system:discovery, system:basic-user).
DISCOVERY_PREFIXES = ("/api", "/apis", "/openapi")
#: How often ``kubectl logs -f`` looks for new lines (cluster seconds): the kubelet is asked again.
LOG_FOLLOW_INTERVAL_S = 1.0


def _json(body: Any) -> bytes:
    return orjson.dumps(body)


def _status_body(code: int, message: str) -> bytes:
    reason = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
              413: "RequestEntityTooLarge", 503: "ServiceUnavailable"}.get(code, "InternalError")
    return _json(st.ApiError(code, reason, message).status())


class HttpsFront(Actor):
    """Serves the Kubernetes REST API on HTTPS from the API server actor in the same process."""

    def __init__(self, name: str, api: ApiServer, tokens: TokenAuthenticator, host: str, port: int,
                 ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(name)
        self.api = api
        self.tokens = tokens
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.server: HttpServer | None = None
        self.listening = False
        self._ids = itertools.count(1)

    # --- life cycle ------------------------------------------------------------------------
    def on_start(self) -> None:
        metrics = self.api.metrics
        self.server = HttpServer(
            runtime=self.runtime, host=self.host, port=self.port, ssl_context=self.ssl_context,
            handler=self._handle, error_body=_status_body, now=self.clock.monotonic,
            counters=ServerCounters(on_connection=metrics.http_connections.set,
                                    on_rejected=lambda reason: metrics.http_rejected.labels(reason).inc()),
            log_debug=self.log.debug, max_connections=_connection_limit())
        self._listen()
        self.call_every(30.0, self.server.close_idle)

    def _listen(self) -> None:
        try:
            self.server.listen()
        except OSError as exc:
            # The port may still be held by a previous instance that is shutting down: try again.
            self.log.warning("cannot listen for HTTPS yet; retrying", port=self.port, error=str(exc))
            self.call_later(1.0, self._listen)
            return
        self.listening = True
        self.log.info("HTTPS front listening", address=f"https://{self.host}:{self.server.port}")

    def on_stop(self) -> None:
        if self.server is not None:
            self.server.close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.server.port if self.server is not None else self.port}"

    # --- every request ---------------------------------------------------------------------
    def _handle(self, req: HttpRequest, ex: Exchange) -> None:
        try:
            self._route(req, ex)
        except st.ApiError as exc:
            self._status(ex, exc)

    def _status(self, ex: Exchange, exc: st.ApiError, headers: list[tuple[str, str]] = ()) -> None:
        # Refusals the front makes itself (credentials, URLs, bodies it cannot read); the API server
        # counts its own in kubesim_apiserver_rejected_requests_total.
        self.api.metrics.http_rejected.labels(exc.reason).inc()
        ex.respond(exc.code, [("content-type", JSON), *headers], _json(exc.status()))

    def _authenticate(self, req: HttpRequest) -> UserInfo:
        user = self.tokens.authenticate(req.header("authorization") or None)
        if user is None:
            raise st.unauthorized("Unauthorized")
        as_user = req.header("impersonate-user")
        as_groups = req.header_values("impersonate-group")
        if as_user or as_groups:
            spec: dict[str, Any] = {"user": as_user}
            if as_groups:
                spec["groups"] = as_groups
            user = self.api._impersonated(user, spec)
        return user

    def _route(self, req: HttpRequest, ex: Exchange) -> None:
        user = self._authenticate(req)
        path = req.path.rstrip("/") or "/"
        if path in PUBLIC_PATHS:
            self._public(path, req, ex)
            return
        if AUTHENTICATED not in user.groups:
            raise st.forbidden(f'forbidden: User "{user.name}" cannot {req.method.lower()} path "{req.path}"')
        if path in ("/api", "/apis") or path.startswith("/apis/") and path.count("/") <= 3 \
                or path == "/api/v1":
            self._discovery(path, req, ex)
            return
        if path.startswith("/openapi/"):
            self._openapi(path, req, ex)
            return
        self._resource(user, rest.parse_call(req.method, path, req.query), req, ex)

    # --- non-resource URLs -----------------------------------------------------------------
    def _public(self, path: str, req: HttpRequest, ex: Exchange) -> None:
        if path == "/version":
            major, minor, patch = KUBERNETES_VERSION
            ex.respond(200, [("content-type", JSON)], _json({
                "major": str(major), "minor": str(minor), "gitVersion": f"v{major}.{minor}.{patch}-kubesim",
                "gitCommit": "kubesim", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "python3", "compiler": "kubesim", "platform": "linux/amd64"}))
            return
        ready = path != "/readyz" or (self.api.ready.done() and self.listening)
        if ready:
            ex.respond(200, [("content-type", "text/plain; charset=utf-8")], b"ok")
        else:
            ex.respond(500, [("content-type", "text/plain; charset=utf-8")],
                       b"[-]informer-sync failed: the watch caches are still filling\nreadyz check failed")

    def _discovery(self, path: str, req: HttpRequest, ex: Exchange) -> None:
        accept = req.header("accept")
        if path in ("/api", "/apis"):
            version = discovery.negotiate_discovery(accept)
            if version is not None:
                body = discovery.aggregated(path == "/api", version)
                ex.respond(200, [("content-type", f"application/json;g=apidiscovery.k8s.io;v={version};"
                                                  "as=APIGroupDiscoveryList")], _json(body))
                return
            body = discovery.api_versions(self.address) if path == "/api" else discovery.api_group_list()
        elif path == "/api/v1":
            body = discovery.api_resource_list("v1")
        else:
            parts = path.split("/")[2:]
            body = (discovery.api_group(parts[0]) if len(parts) == 1
                    else discovery.api_resource_list("/".join(parts)))
        if body is None:
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource")
        ex.respond(200, [("content-type", JSON)], _json(body))

    def _openapi(self, path: str, req: HttpRequest, ex: Exchange) -> None:
        # Kubernetes' schemas: read only once a client asks for them.
        from actors.apiserver import openapi

        if path == "/openapi/v2":
            accept = req.header("accept", JSON)
            if JSON not in accept and "*/*" not in accept:
                # client-go asks for the protobuf form first and falls back to JSON when refused.
                raise st.ApiError(406, "NotAcceptable", "only application/json is served for /openapi/v2")
            ex.respond(200, [("content-type", JSON)], _json(openapi.v2_document()))
            return
        if path == "/openapi/v3":
            ex.respond(200, [("content-type", JSON)], _json(openapi.v3_index()))
            return
        found = openapi.v3_document(path[len("/openapi/v3/"):])
        if found is None:
            raise st.ApiError(404, "NotFound", "the server could not find the requested resource")
        doc, digest = found
        headers = [("content-type", JSON), ("etag", f'"{digest}"')]
        if req.param("hash") == digest:
            headers.append(("cache-control", "public, immutable"))  # what kube-apiserver says of a hashed URL
        ex.respond(200, headers, _json(doc))

    # --- resources --------------------------------------------------------------------------
    def _resource(self, user: UserInfo, call: rest.Call, req: HttpRequest, ex: Exchange) -> None:
        include = req.param("includeObject", "Metadata")
        if include not in tables.INCLUDE_OBJECT:
            raise st.bad_request(f'includeObject: unsupported value "{include}": must be one of '
                                 f'{", ".join(tables.INCLUDE_OBJECT)}')
        if call.virtual is not None:
            self._review(user, call, req, ex)
            return
        if call.verb == "watch":
            self._watch(user, call, req, ex)
            return
        if call.subresource == "log":
            if call.options.get("follow"):
                self.spawn(self._answering(ex, self._follow_log(user, call, ex)))
            else:
                self.spawn(self._answering(ex, self._log(user, call, ex)))
            return
        body = None
        options = dict(call.options)
        warnings: list[str] = []
        if call.verb in ("create", "update", "patch", "delete", "deletecollection"):
            content_type = req.header("content-type", JSON)
            if call.verb == "patch":
                ptype = rest.patch_type(content_type)
                if ptype == "apply":
                    raise st.ApiError(415, "UnsupportedMediaType",
                                      "server-side apply is not served by kubesim; use client-side "
                                      "`kubectl apply` (without --server-side)")
                options["patchType"] = ptype
            body = rest.decode_body(req.body, content_type)
            if call.verb in ("create", "update") and call.subresource in ("", "status") and isinstance(body, dict):
                # The URL names the kind: kube-apiserver's decoder defaults a body's missing apiVersion and
                # kind from it (the Python client sends none unless told to).
                body.setdefault("apiVersion", call.kind.api_version)
                body.setdefault("kind", call.kind.kind)
            warnings = self._field_validation(call, options, body)
        msg = ApiRequest(call.verb, call.resource, call.namespace, call.name, call.subresource, body, options)
        self.spawn(self._answering(ex, self._call(user, call, msg, req, ex, warnings)))

    def _field_validation(self, call: rest.Call, options: dict, body: Any) -> list[str]:
        """``fieldValidation``: Strict refuses unknown fields (400), Warn (the default) names them in
        ``Warning`` headers, Ignore drops them silently, as kube-apiserver's decoder does."""
        mode = options.get("fieldValidation") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise st.bad_request(f'fieldValidation: invalid value "{mode}": must be Strict, Warn or Ignore')
        if call.subresource or not isinstance(body, dict):
            return []
        if call.verb not in ("create", "update") and options.get("patchType") not in ("merge", "strategic"):
            return []
        from actors.apiserver import openapi

        # A strategic merge patch's directives ($patch, $setElementOrder/..., $retainKeys) are not fields.
        unknown = openapi.unknown_fields(call.kind.kind, _without_directives(body))
        if not unknown:
            return []
        if mode == "Strict":
            fields = ", ".join(f'unknown field "{f}"' for f in unknown)
            raise st.bad_request(f"{call.kind.kind} in version \"{call.kind.version}\" cannot be handled as a "
                                 f"{call.kind.kind}: strict decoding error: {fields}")
        # Warn and Ignore: the decoder drops what the schema does not have, so it is never stored.
        for path in unknown:
            _prune(body, path)
        options.pop("fieldValidation", None)  # what is left is known; the server's own check need not run
        return [] if mode == "Ignore" else [f'unknown field "{f}"' for f in unknown]

    async def _answering(self, ex: Exchange, work) -> None:
        """Run a request's task; if it fails, the client still gets an answer (or its connection closes)."""
        try:
            await work
        except Exception as exc:
            self.log.exception("an HTTPS request failed", error=repr(exc))
            if not ex.started:
                self._status(ex, st.internal(f"the request could not be served: {type(exc).__name__}"))
            else:
                ex.abort()

    async def _call(self, user: UserInfo, call: rest.Call, msg: ApiRequest, req: HttpRequest, ex: Exchange,
                    warnings: list[str]) -> None:
        code, body = await self.api.serve_request(msg, lambda: user)
        if ex.closed:
            return
        headers = [("content-type", JSON)]
        # RFC 7234 warn-text is a quoted string; JSON's escaping keeps it one line of ASCII whatever the field.
        headers += [("warning", f"299 - {json.dumps(w)}") for w in warnings]
        if code < 300 and call.verb in ("get", "list") and not call.subresource:
            table = tables.wants_table(req.header("accept"))
            if table is not None:
                body = self._table(call, body, table[1], req)
        ex.respond(code, headers, _json(body))

    def _table(self, call: rest.Call, body: dict, version: str, req: HttpRequest, event: bool = False) -> dict:
        include = req.param("includeObject", "Metadata")
        meta = body.get("metadata") or {}
        items = body.get("items") if call.verb == "list" and not event else [body]
        return tables.table_object(call.kind.kind, items or [], self.clock.wall(), include_object=include,
                                   api_version=f"meta.k8s.io/{version}",
                                   resource_version=str(meta.get("resourceVersion") or ""),
                                   continue_token=str(meta.get("continue") or "") if not event else "")

    # --- watches ------------------------------------------------------------------------------
    def _watch(self, user: UserInfo, call: rest.Call, req: HttpRequest, ex: Exchange) -> None:
        """A watch as one chunked response of newline-separated ``{"type", "object"}`` events."""
        opts = call.options
        if call.name:  # GET .../pods/NAME?watch=1 (kubectl get pod web -w): one object, by field selector
            selector = opts.get("fieldSelector") or ""
            opts = dict(opts, fieldSelector=",".join(filter(None, [selector, f"metadata.name={call.name}"])))
        msg = ApiWatch(f"w{next(self._ids)}", call.resource, call.namespace, opts.get("labelSelector") or "",
                       opts.get("fieldSelector") or "", str(opts.get("resourceVersion") or ""))
        table = tables.wants_table(req.header("accept"))
        stream = _WatchStream(self, call, req, ex, table[1] if table else None,
                              bool(opts.get("allowWatchBookmarks")), bool(opts.get("sendInitialEvents")))
        try:
            w = self.api.open_watch(msg, user, f"{self.name}/{msg.watch_id}", stream.on_events)
        except st.ApiError as exc:
            if exc.code != 410:
                raise
            # A resourceVersion too old to resume from is an ERROR event in a 200 stream, as kube-apiserver
            # sends it; client-go relists on it.
            ex.start(200, [("content-type", JSON)])
            stream.error(exc.status())
            return
        stream.begin(w)
        timeout = opts.get("timeoutSeconds")
        if timeout:
            self.call_later(float(timeout), stream.finish)

    # --- pods/log -------------------------------------------------------------------------------
    def _log_request(self, call: rest.Call, **extra: Any) -> ApiRequest:
        options = {k: v for k, v in call.options.items()
                   if k in ("container", "previous", "tailLines", "sinceSeconds", "timestamps")}
        options.update(extra)
        return ApiRequest("get", "pods", call.namespace, call.name, "log", None, options)

    async def _log(self, user: UserInfo, call: rest.Call, ex: Exchange) -> None:
        code, body = await self.api.serve_request(self._log_request(call), lambda: user)
        if code != 200:
            ex.respond(code, [("content-type", JSON)], _json(body))
            return
        text = _limit_bytes(body.get("text", ""), call.options.get("limitBytes"))
        ex.respond(200, [("content-type", "text/plain")], text.encode())

    async def _follow_log(self, user: UserInfo, call: rest.Call, ex: Exchange) -> None:
        """``kubectl logs -f``: what there is, then new lines as the container writes them, until it exits.

        The kubelet is asked again every second (cluster time) for the lines since the last one sent,
        with timestamps so that nothing is sent twice; the stream ends when the container has
        terminated, the pod is gone, or the client hangs up.
        """
        wants_ts = bool(call.options.get("timestamps"))
        code, body = await self.api.serve_request(self._log_request(call, timestamps=True), lambda: user)
        if code != 200:
            ex.respond(code, [("content-type", JSON)], _json(body))
            return
        ex.start(200, [("content-type", "text/plain")])
        cursor = _LogCursor(wants_ts)
        ex.write(cursor.take(body.get("text", "")).encode())
        while not ex.closed:
            await self.sleep(LOG_FOLLOW_INTERVAL_S)
            if ex.closed:
                return
            if ex.buffered > STREAM_HIGH_WATER:
                continue  # the client is not reading: fetch nothing more until it does
            finished = self._container_finished(call)
            since = max(1, int(self.clock.wall() - cursor.last_time) + 2) if cursor.last_time else None
            req = self._log_request(call, timestamps=True)
            req.options.pop("tailLines", None)  # the tail was for the first answer; now everything new
            if since is not None:
                req.options["sinceSeconds"] = since
            code, body = await self.api.serve_request(req, lambda: user)
            if code != 200:
                break
            ex.write(cursor.take(body.get("text", "")).encode())
            if finished:
                break
        ex.end()

    def _container_finished(self, call: rest.Call) -> bool:
        """Whether the container being followed has exited for good (or its pod is gone)."""
        cache = self.api._ready_cache(call.kind)
        if cache is None:
            return False
        pod = cache.objects.get(registry_key(call.kind, call.namespace, call.name))
        if pod is None:
            return True
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return True
        name = call.options.get("container")
        for cs in status.get("containerStatuses") or []:
            if (not name or cs.get("name") == name) and "terminated" in (cs.get("state") or {}):
                restart = (pod.get("spec") or {}).get("restartPolicy", "Always")
                return restart == "Never"
        return False

    # --- access reviews ----------------------------------------------------------------------
    def _review(self, user: UserInfo, call: rest.Call, req: HttpRequest, ex: Exchange) -> None:
        """SelfSubjectAccessReview (``kubectl auth can-i``) and SubjectAccessReview, answered by RBAC."""
        if call.verb != "create":
            raise st.method_not_allowed(f"{call.resource} only supports create")
        body = rest.decode_body(req.body, req.header("content-type", JSON))
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise st.bad_request(f"a {call.virtual.kind} needs a spec")
        spec = body["spec"]
        subject = user
        if call.virtual.kind == "SubjectAccessReview":
            asking = Attributes(user, "create", call.group, call.resource, "", "", "")
            decision = self.api.authz.authorize(asking)
            if not decision.allowed:
                raise st.forbidden(f'subjectaccessreviews.authorization.k8s.io is forbidden: User "{user.name}" '
                                   "cannot create resource \"subjectaccessreviews\" in API group "
                                   "\"authorization.k8s.io\" at the cluster scope")
            if not spec.get("user") and not spec.get("groups"):
                raise st.invalid(call.virtual.kind, "", [], call.group)
            subject = UserInfo(str(spec.get("user") or ""), tuple(spec.get("groups") or ()))
        allowed, reason = self._decide(subject, spec)
        status = {"allowed": allowed}
        if reason and allowed:  # RBAC explains an allow (which binding); a deny is just "no", as in Kubernetes
            status["reason"] = reason
        out = {"kind": call.virtual.kind, "apiVersion": f"{call.group}/{call.version}",
               "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
        ex.respond(201, [("content-type", JSON)], _json(out))

    def _decide(self, user: UserInfo, spec: dict) -> tuple[bool, str]:
        ra = spec.get("resourceAttributes")
        if isinstance(ra, dict):
            attrs = Attributes(user, str(ra.get("verb") or ""), str(ra.get("group") or ""),
                               str(ra.get("resource") or ""), str(ra.get("subresource") or ""),
                               str(ra.get("namespace") or ""), str(ra.get("name") or ""))
            decision = self.api.authz.authorize(attrs)
            return decision.allowed, decision.reason
        nra = spec.get("nonResourceAttributes")
        if isinstance(nra, dict):
            return _non_resource_allowed(user, str(nra.get("path") or ""), str(nra.get("verb") or ""))
        raise st.bad_request("exactly one of resourceAttributes and nonResourceAttributes must be given")


def _non_resource_allowed(user: UserInfo, path: str, verb: str) -> tuple[bool, str]:
    """The default ClusterRoles for URLs that are not resources, as RBAC would answer them."""
    if "system:masters" in user.groups:
        return True, 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin"'
    if verb != "get":
        return False, ""
    clean = path.rstrip("/") or "/"
    if clean in PUBLIC_PATHS:
        return True, 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer"'
    if AUTHENTICATED in user.groups and any(clean == p or clean.startswith(p + "/") for p in DISCOVERY_PREFIXES):
        return True, 'RBAC: allowed by ClusterRoleBinding "system:discovery"'
    return False, ""


def _connection_limit() -> int:
    """Connections the front accepts: half the file descriptors the process may open, at most 1000
    (the bus and the store links need the rest)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(1000, soft // 2))


def _without_directives(value: Any) -> Any:
    """A patch without its strategic-merge directives (keys starting with ``$``), for the schema check."""
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("$"))}
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value


def _prune(obj: Any, path: str) -> None:
    """Remove the field at ``path`` (``spec.template.spec.containers[0].imagee``) from ``obj``."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest_ = part.partition("[")
        if name:
            steps.append(name)
        for index in filter(None, rest_.replace("]", "").split("[")) if rest_ else ():
            steps.append(int(index))
    target = obj
    for step in steps[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(target, dict) and isinstance(steps[-1], str):
        target.pop(steps[-1], None)


def _limit_bytes(text: str, limit: Any) -> str:
    if isinstance(limit, int) and limit > 0:
        return text.encode()[:limit].decode(errors="ignore")
    return text


class _LogCursor:
    """Where a followed log has got to: lines arrive timestamped, each is sent once."""

    def __init__(self, with_timestamps: bool) -> None:
        self.with_timestamps = with_timestamps
        self.last_time = 0.0
        self._at_last: set[str] = set()

    def take(self, text: str) -> str:
        out = []
        for line in text.splitlines():
            stamp, _, rest_ = line.partition(" ")
            t = tables.parse_time(stamp)
            if t is None:
                continue
            if t < self.last_time or (t == self.last_time and line in self._at_last):
                continue
            if t > self.last_time:
                self.last_time, self._at_last = t, set()
            self._at_last.add(line)
            out.append((line if self.with_timestamps else rest_) + "\n")
        return "".join(out)


class _WatchStream:
    """One HTTP watch: API server watch messages in, newline-delimited JSON events out."""

    def __init__(self, front: HttpsFront, call: rest.Call, req: HttpRequest, ex: Exchange, table: str | None,
                 bookmarks: bool, initial_events: bool) -> None:
        self.front = front
        self.call = call
        self.req = req
        self.ex = ex
        self.table = table
        self.bookmarks = bookmarks
        self.initial_events = initial_events
        self.watcher = None
        self._unacked = 0
        ex.on_close = self.finish
        ex.on_drain = self._drained

    def begin(self, watcher) -> None:
        self.watcher = watcher
        # sendInitialEvents: the state the watch starts from is queued first; once that many events are
        # out, a bookmark at the revision it was taken at says so.
        self._initial_left = len(watcher.outbox.queue)
        self._initial_rv = str(watcher.queued_rv)
        self.ex.start(200, [("content-type", JSON)])
        if self.initial_events and self._initial_left == 0:
            self.front.call_later(0, self._initial_end, self._initial_rv)

    def on_events(self, msg: ApiWatchEvents) -> None:
        if self.ex.closed or self.ex.finished:
            return
        if msg.closed is not None:
            self.error(msg.closed)
            return
        kind = self.call.kind
        lines = []
        for typ, obj in msg.events:
            if self.table is not None:
                obj = self.front._table(self.call, obj, self.table, self.req, event=True)
            lines.append(_json({"type": typ, "object": obj}))
        if not msg.events and self.bookmarks:
            lines.append(_json({"type": "BOOKMARK", "object": {
                "kind": kind.kind, "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": msg.resource_version}}}))
        if lines:
            self.ex.write(b"\n".join(lines) + b"\n")
        if self.initial_events and msg.events:
            self._initial_left -= len(msg.events)
            if self._initial_left <= 0:
                self._initial_end(self._initial_rv)
        # Acknowledge on a later turn (acknowledging inside the API server's flush would reorder it),
        # and only while the client keeps up.
        self._unacked = max(self._unacked, msg.seq)
        if self.ex.buffered < STREAM_HIGH_WATER:
            self.front.call_later(0, self._ack)

    def _initial_end(self, rv: str) -> None:
        """``sendInitialEvents``: a bookmark marks the end of the initial state (the watch-list protocol)."""
        if not self.initial_events or self.ex.closed:
            return
        self.initial_events = False
        kind = self.call.kind
        self.ex.write(_json({"type": "BOOKMARK", "object": {
            "kind": kind.kind, "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}}}) + b"\n")

    def _ack(self) -> None:
        if self.watcher is not None and self._unacked:
            self.front.api.ack_watch(self.watcher, self._unacked)

    def _drained(self) -> None:
        self._ack()

    def error(self, status: dict) -> None:
        self.ex.write(_json({"type": "ERROR", "object": status}) + b"\n")
        self.finish()

    def finish(self) -> None:
        if self.watcher is not None:
            self.front.api.close_watch(self.watcher)
            self.watcher = None
        self.ex.end()

