"""The web dashboard: the cluster drawn live in a browser, with its controls and its chaos buttons.

Kubernetes' own dashboard is a web app that talks to the API server; this one
is an actor on the bus, so it sees what a user of the API sees (its informers
watch nodes, pods, workloads, Services, EndpointSlices, events and Leases)
and also what only the machinery sees: each process's supervisor state, the
store members' raft roles and terms, the messages the broker routes, each
process's spans (a pod's trace) and the log collector's lines.

The HTTP side is the same sans-I/O server the API server's HTTPS front uses
(:mod:`actors.apiserver.httpserver`, h11 on the actor loop, here without
TLS, on 127.0.0.1): no thread, no second event loop, so a request reads the
informers' caches directly. The page gets the cluster over one server-sent
event stream (``/api/stream``): the whole picture whenever it changed (at
most twice a second) and the sampled message flow; it never polls.

Acting on the cluster goes through the API (scale, delete, cordon, apply, as
the dashboard's user ``system:kubesim:dashboard``) and, for chaos, through the
chaos runner's injectors, handed in by the process that wires this actor.

The API here is for the page on the same origin: a request whose ``Host`` is
not this server's (DNS rebinding) is refused, and a POST must be JSON with no
foreign ``Origin`` (a page elsewhere cannot forge one without CORS, which this
server does not grant).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import yaml
from prometheus_client import REGISTRY, Counter, Gauge

from actors.apiserver.client import ApiClient, Informer
from actors.apiserver.httpserver import Exchange, HttpRequest, HttpServer
from actors.apiserver.kinds import lookup
from actors.apiserver.status import ApiError
from actors.dashboard import views
from actors.logcollector.store import LEVELS
from actors.messages import (
    ApiRequest,
    LogEntries,
    LogQuery,
    StoreStatus,
    StoreStatusReply,
)
from bus.logship import row_as_dict
from bus.messages import FlowQuery, FlowSample, TraceQuery, TraceSpans
from bus.runtime import Actor, RemoteError, RequestFailed
from bus.tracing import Span, changes, spans_from, story, trace_ids_of

STATIC_DIR = Path(__file__).parent / "static"
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-]+\.(js|css|html|svg|png)")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
          "html": "text/html; charset=utf-8", "svg": "image/svg+xml", "png": "image/png"}
#: Real seconds between looks at what changed (the picture goes out at most this often).
PUBLISH_S = 0.5
#: Publishing rounds after which the picture goes out even if nothing but ages changed.
REFRESH_TICKS = 4
#: Real seconds between asking the store members and the broker (flow) for their news.
STORE_POLL_S = 1.0
FLOW_POLL_S = 0.5
#: Real seconds between checks that the API server answers (the page says when it does not).
API_PROBE_S = 2.0
#: A stream whose client has not taken this much is cut (it reconnects and starts afresh).
MAX_STREAM_BUFFER = 4 * 1024 * 1024
MAX_BODY_BYTES = 1024 * 1024
SCALABLE = ("deployments", "statefulsets", "replicasets")
INFORMED = ("nodes", "pods", "deployments", "services", "endpointslices", "events", "leases")


class DashboardMetrics:
    def __init__(self, registry=REGISTRY) -> None:
        self.requests = Counter("kubesim_dashboard_http_requests_total", "Requests the dashboard answered.",
                                ["route", "code"], registry=registry)
        self.actions = Counter("kubesim_dashboard_actions_total", "Actions taken from the page, by outcome.",
                               ["action", "outcome"], registry=registry)
        self.streams = Gauge("kubesim_dashboard_streams", "Event streams open to browsers.", ["stream"],
                             registry=registry)
        for s in ("state", "logs"):
            self.streams.labels(s)


class BadRequest(ValueError):
    """What the page asked is malformed; the message says what."""


class Dashboard(Actor):
    def __init__(self, name: str, api: ApiClient, *, host: str, port: int, cluster: str, time_scale: float,
                 processes: Mapping[str, str], members: Mapping[str, tuple[str, int]], broker: str,
                 collector: str | None, process_rows: Callable[[], list[dict]],
                 chaos_factory: Callable[[Actor], Any] | None = None,
                 apply: Callable[[ApiClient, str], Awaitable[list[str]]] | None = None,
                 member_keys: Mapping[str, bytes] | None = None, registry=REGISTRY) -> None:
        super().__init__(name)
        self.api = api
        self.host, self.port = host, port
        self.cluster, self.time_scale = cluster, time_scale
        self.processes = dict(processes)
        """Every process of the cluster: name -> component."""
        self.members = dict(members)
        self.broker = broker
        self.collector = collector
        self.process_rows = process_rows
        self.chaos_factory = chaos_factory
        self.chaos = None
        self.apply_text = apply
        self.member_keys = dict(member_keys or {})
        self.metrics = DashboardMetrics(registry)
        self.informers: dict[str, Informer] = {}
        self.http: HttpServer | None = None
        self.streams: list[Exchange] = []
        self.store_rows: dict[str, dict] = {}
        self.flow_after = 0
        self._dirty = True
        self._last_state = b""
        self._ticks = 0
        self._flow_asking = False
        self._probing = False
        self._api_error = ""

    # --- life cycle ----------------------------------------------------------------------------
    def on_start(self) -> None:
        def changed(*_) -> None:
            self._dirty = True

        for resource in INFORMED:
            self.informers[resource] = Informer(self.api, resource, "kube-system" if resource == "leases" else "",
                                                on_add=changed, on_update=changed, on_delete=changed)
            self.informers[resource].start()
        link = self.runtime.direct_link()
        for member, (host, port) in sorted(self.members.items()):
            # Members are not on the broker's bus: their status and spans come over a direct link to each.
            link.connect([member, f"{member}.bus"], host, port, self.member_keys.get(member))
        if self.chaos_factory is not None:
            self.chaos = self.chaos_factory(self)
        self.http = HttpServer(self.runtime, self.host, self.port, None, self._serve,
                               lambda code, message: orjson.dumps({"ok": False, "error": message}),
                               self.clock.monotonic, max_body_bytes=MAX_BODY_BYTES, max_connections=256,
                               log_debug=self.log.debug)
        self.http.listen()  # a port in use ends the process with the error; its supervisor says so and retries
        self.port = self.http.port
        scale = self.clock.scale
        self.call_every(PUBLISH_S * scale, self._publish)
        self.call_every(STORE_POLL_S * scale, lambda: self.spawn(self._poll_store()))
        self.call_every(FLOW_POLL_S * scale, self._flow_tick)
        self.call_every(API_PROBE_S * scale, lambda: self.spawn(self._probe_api()))
        self.call_every(60 * scale, self.http.close_idle)
        self.log.info("dashboard serving", url=f"http://{self.host}:{self.port}/")

    def on_stop(self) -> None:
        if self.http is not None:
            self.http.close()

    # --- the picture ----------------------------------------------------------------------------
    def state(self) -> dict:
        now = self.clock.wall()
        i = self.informers
        rows = self.process_rows()
        held = views.leaders(i["leases"].store.values())
        picture = views.cluster_picture(
            nodes=i["nodes"].store.values(), pods=i["pods"].store.values(),
            deployments=i["deployments"].store.values(), services=i["services"].store.values(),
            slices=i["endpointslices"].store.values(), events=i["events"].store.values(),
            process_names=self.processes, now=now)
        by_name = {r["name"]: r for r in rows}
        store = []
        for member in sorted(self.members):
            seen = self.store_rows.get(member, {})
            store.append({"member": member, "state": by_name.get(member, {}).get("state", "unknown"),
                          "role": seen.get("role", ""), "term": seen.get("term", 0), "leader": seen.get("leader", ""),
                          "commit_index": seen.get("commit_index", 0), "applied_index": seen.get("applied_index", 0),
                          "reachable": bool(seen)})
        return {
            "cluster": {"name": self.cluster, "time_scale": self.time_scale, "now": now},
            "components": views.component_views([r for r in rows if r["name"] not in self.members], held),
            "store": store,
            **picture,
            "faults": self.chaos.active() if self.chaos is not None else [],
            "chaos_targets": self.chaos.targets() if self.chaos is not None else [],
            "chaos_actions": self.chaos.actions if self.chaos is not None else [],
            "logs": bool(self.collector),
            "api": "ok" if all(inf.synced.done() for inf in i.values()) and not self._api_error else
                   (self._api_error or "waiting for the API server"),
        }

    def _publish(self) -> None:
        """Send the picture when something in it changed, and every few seconds anyway (ages move on)."""
        if not self.streams:
            return
        self._ticks += 1
        others = orjson.dumps([self.process_rows(), self.store_rows,
                               self.chaos.active() if self.chaos is not None else []], default=str)
        if not self._dirty and others == self._last_state and self._ticks < REFRESH_TICKS:
            return
        self._dirty, self._last_state, self._ticks = False, others, 0
        self._send_all(b"event: state\ndata: " + orjson.dumps(self.state(), default=str) + b"\n\n")

    def _send_all(self, chunk: bytes) -> None:
        for ex in list(self.streams):
            if ex.closed or ex.buffered > MAX_STREAM_BUFFER:
                ex.abort()
                self._forget_stream(ex)
            else:
                ex.write(chunk)

    def _forget_stream(self, ex: Exchange) -> None:
        if ex in self.streams:
            self.streams.remove(ex)
            self.metrics.streams.labels("state").set(len(self.streams))

    async def _poll_store(self) -> None:
        rows: dict[str, dict] = {}
        futures = {m: self.request(m, StoreStatus(), timeout_s=0.8 * self.clock.scale, retries=0) for m in self.members}
        for member, fut in futures.items():
            try:
                st = await fut
            except RequestFailed:
                continue
            if isinstance(st, StoreStatusReply):
                rows[member] = {"role": st.role.replace("_", "-"), "term": st.term, "leader": st.leader,
                                "commit_index": st.commit_index, "applied_index": st.applied_index}
        self.store_rows = rows

    def _flow_tick(self) -> None:
        if self.streams and not self._flow_asking:
            self._flow_asking = True
            self.spawn(self._poll_flow())

    async def _probe_api(self) -> None:
        """Whether the API server answers now, and not 503 (the informers' caches go stale quietly when it
        does not): one attempt, a couple of real seconds."""
        if self._probing:
            return
        self._probing = True
        try:
            reply = await self.api.request_raw(ApiRequest("get", "namespaces", name="default"),
                                               2.0 * self.clock.scale)
            code = getattr(reply, "code", 500)
            self._api_error = f"the API server answers {code}" if code >= 500 else ""
        except RequestFailed as exc:
            self._api_error = f"the API server does not answer: {exc}"
        finally:
            self._probing = False

    async def _poll_flow(self) -> None:
        try:
            await self._ask_flow()
        finally:
            self._flow_asking = False

    async def _ask_flow(self) -> None:
        try:
            sample = await self.request(f"{self.broker}.bus", FlowQuery(self.flow_after),
                                        timeout_s=1.0 * self.clock.scale, retries=0)
        except RequestFailed:
            return
        if not isinstance(sample, FlowSample):
            return
        if sample.last < self.flow_after:  # the broker restarted: its numbering starts again
            self.flow_after = 0
        messages = [m[1:] for m in sample.messages]
        self.flow_after = sample.last
        if messages:
            self._send_all(b"event: flow\ndata: " + orjson.dumps({"sample": sample.every, "messages": messages})
                           + b"\n\n")

    # --- HTTP ------------------------------------------------------------------------------------
    def _serve(self, req: HttpRequest, ex: Exchange) -> None:
        route = req.path if req.path.startswith("/api/") else ("/static" if req.path.startswith("/static/") else "/")
        refused = self._foreign(req)
        if refused:
            self._json(ex, route, 403, {"ok": False, "error": refused})
            return
        handler = _ROUTES.get((req.method, req.path))
        try:
            if handler is not None:
                result = handler(self, req)
                if hasattr(result, "__await__"):
                    self.spawn(self._finish(route, ex, result))
                elif result is not None:
                    self._json(ex, route, 200, result)
                return
            if req.method in ("GET", "HEAD"):
                if req.path == "/api/stream":
                    self._open_stream(ex, head=req.method == "HEAD")
                    return
                if req.path == "/api/logs/stream":
                    self._open_log_stream(req, ex)
                    return
                if req.path in ("/", "/index.html"):
                    self._static(ex, "index.html")
                    return
                if req.path.startswith("/static/"):
                    self._static(ex, req.path.removeprefix("/static/"))
                    return
            known = req.path in _KNOWN_ROUTES
            self._json(ex, route, 405 if known else 404,
                       {"ok": False, "error": f"{req.method} {req.path}: " + ("method not allowed" if known else
                                                                             "no such page")})
        except BadRequest as exc:
            self._json(ex, route, 400, {"ok": False, "error": str(exc)})

    def _foreign(self, req: HttpRequest) -> str:
        """Why a request does not come from this dashboard's own page ("" if it may): another Host (a DNS
        rebinding) or another page's Origin."""
        ours = {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"{self.host}:{self.port}"}
        if req.header("host") not in ours:
            return f"Host {req.header('host')!r} is not this dashboard's ({self.host}:{self.port})"
        origin = req.header("origin")
        if origin and origin.removeprefix("http://") not in ours:
            return f"Origin {origin!r} is another site's: the dashboard's API is for its own page"
        return ""

    async def _finish(self, route: str, ex: Exchange, pending: Awaitable) -> None:
        try:
            result = await pending
        except BadRequest as exc:
            self._json(ex, route, 400, {"ok": False, "error": str(exc)})
            return
        except ApiError as exc:
            self._json(ex, route, exc.code if 400 <= exc.code < 600 else 500, {"ok": False, "error": exc.message})
            return
        except RemoteError as exc:  # the collector (or another actor) refused what was asked: the asker's fault
            self._json(ex, route, 400 if exc.code == "bad_request" else 503, {"ok": False, "error": exc.message})
            return
        except RequestFailed as exc:
            self._json(ex, route, 504, {"ok": False, "error": str(exc)})
            return
        except Exception as exc:  # a bug: said, logged, and the connection is not left waiting for ever
            self.log.exception("dashboard request failed", route=route)
            self._json(ex, route, 500, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        self._json(ex, route, 200, result)

    def _json(self, ex: Exchange, route: str, status: int, body: dict) -> None:
        self.metrics.requests.labels(route if route in _KNOWN_ROUTES else "other", str(status)).inc()
        if ex.closed:
            return
        ex.respond(status, [("content-type", "application/json"), ("cache-control", "no-store")],
                   orjson.dumps(body, default=str))

    def _static(self, ex: Exchange, name: str) -> None:
        path = STATIC_DIR / name
        if not _STATIC_NAME.fullmatch(name) or not path.is_file():
            self._json(ex, "/static", 404, {"ok": False, "error": f"no such file: {name}"})
            return
        self.metrics.requests.labels("/static", "200").inc()
        ex.respond(200, [("content-type", _TYPES[name.rsplit(".", 1)[1]]), ("cache-control", "no-cache")],
                   path.read_bytes())

    def _open_stream(self, ex: Exchange, head: bool = False) -> None:
        self.metrics.requests.labels("/api/stream", "200").inc()
        ex.start(200, [("content-type", "text/event-stream"), ("cache-control", "no-store")])
        if head:
            ex.end()
            return
        ex.on_close = lambda: self._forget_stream(ex)
        ex.write(b"retry: 1000\nevent: state\ndata: " + orjson.dumps(self.state(), default=str) + b"\n\n")
        self.streams.append(ex)
        self.metrics.streams.labels("state").set(len(self.streams))

    @staticmethod
    def _body(req: HttpRequest) -> dict:
        if not req.header("content-type").startswith("application/json"):
            raise BadRequest("the body must be JSON (Content-Type: application/json)")
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    @staticmethod
    def _field(body: Mapping, name: str, kind: type = str, *, required: bool = True) -> Any:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise BadRequest(f"{name}: expected {kind.__name__}, got {type(value).__name__ if value is not None else 'nothing'}")
        return value

    # --- reading ---------------------------------------------------------------------------------
    def get_state(self, req: HttpRequest) -> dict:
        return self.state()

    async def get_object(self, req: HttpRequest) -> dict:
        kind = lookup(req.param("kind"))
        if kind is None:
            raise BadRequest(f"kind: {req.param('kind')!r} is not a kind this cluster serves")
        namespace, name = req.param("namespace") if kind.namespaced else "", req.param("name")
        if not name:
            raise BadRequest("name: required")
        obj = await self.api.get(kind.resource, name, namespace)
        obj = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        return {"ok": True, "yaml": yaml.safe_dump(obj, sort_keys=False, default_flow_style=False),
                "conditions": views.conditions(obj),
                "events": views.events_about(self.informers["events"].store.values(), kind.kind, namespace, name,
                                             self.clock.wall())}

    async def get_trace(self, req: HttpRequest) -> dict:
        namespace, name = req.param("namespace") or "default", req.param("name")
        if not name:
            raise BadRequest("name: the pod to trace")
        obj = f"pods {namespace}/{name}"
        silent: set[str] = set()
        about = changes(await self._spans(TraceQuery([], obj), silent))
        spans = []
        if about:
            found = await self._spans(TraceQuery(trace_ids_of(about)), silent)
            spans = story(obj, about, found)
        # The diagram's lifelines are processes: a peer is an actor (``node-1.kubelet``), named by its process.
        rows = [{**s._asdict(), "peer": s.peer.partition(".")[0], "peer_actor": s.peer} for s in spans]
        return {"ok": True, "object": obj, "spans": rows, "silent": sorted(silent)}

    async def _spans(self, query: TraceQuery, silent: set[str]) -> list[Span]:
        futures = {p: self.request(f"{p}.bus", query, timeout_s=3.0 * self.clock.scale, retries=0)
                   for p in self.processes}
        out: list[Span] = []
        for process, fut in futures.items():
            try:
                answer = await fut
            except RequestFailed:
                silent.add(process)
                continue
            if isinstance(answer, TraceSpans):
                out += spans_from(answer.spans)
        return out

    def _log_query(self, req: HttpRequest, after: int = 0, wait_s: float = 0.0) -> LogQuery:
        if not self.collector:
            raise BadRequest("the cluster has no log collector")
        level = req.param("level")
        if level and level not in LEVELS:
            raise BadRequest(f"level: one of {', '.join(LEVELS)}, got {level!r}")
        try:
            since = float(req.param("since") or 0)
            limit = int(req.param("limit") or 500)
        except ValueError:
            raise BadRequest("since and limit are numbers") from None
        return LogQuery(component=req.param("component"), namespace=req.param("namespace"),
                        pod=req.param("pod"), container=req.param("container"), trace_id=req.param("trace"),
                        level=level, grep=req.param("grep"),
                        since=self._real_now() - since / self.time_scale if since > 0 else 0.0,
                        after_seq=after, limit=max(1, min(limit, 5000)), wait_s=wait_s)

    @staticmethod
    def _real_now() -> float:
        return time.time()  # log lines carry real times (see bus.logship)

    async def get_logs(self, req: HttpRequest) -> dict:
        answer = await self.request(self.collector, self._log_query(req), timeout_s=5.0 * self.clock.scale,
                                    retries=0)
        if not isinstance(answer, LogEntries):
            raise BadRequest(f"the log collector answered {type(answer).__name__}")
        return {"ok": True, "entries": [row_as_dict(row) for row in answer.entries], "last_seq": answer.last_seq}

    def _open_log_stream(self, req: HttpRequest, ex: Exchange) -> None:
        try:
            after = int(req.param("after") or 0)
        except ValueError:
            raise BadRequest("after: a sequence number") from None
        if not 0 <= after < 2**63:
            raise BadRequest(f"after: a sequence number, got {after}")
        query = self._log_query(req, after, wait_s=10.0)
        self.metrics.requests.labels("/api/logs/stream", "200").inc()
        ex.start(200, [("content-type", "text/event-stream"), ("cache-control", "no-store")])
        if req.method == "HEAD":
            ex.end()
            return
        ex.write(b"retry: 2000\n\n")
        self.metrics.streams.labels("logs").inc()
        task = self.spawn(self._follow_logs(ex, query))
        ex.on_close = task.cancel

    async def _follow_logs(self, ex: Exchange, query: LogQuery) -> None:
        after = query.after_seq
        try:
            while not ex.closed:
                try:
                    answer = await self.request(self.collector, replace(query, after_seq=after),
                                                timeout_s=(query.wait_s + 5.0) * self.clock.scale, retries=0)
                except RemoteError as exc:
                    if exc.code == "bad_request":  # it will never be answered otherwise: say so, and stop
                        ex.write(b"event: refused\ndata: " + orjson.dumps({"error": exc.message}) + b"\n\n")
                        ex.end()
                        return
                    await self.sleep(2.0 * self.clock.scale)
                    continue
                except RequestFailed:
                    await self.sleep(2.0 * self.clock.scale)
                    continue
                if ex.closed:
                    return
                if ex.buffered > MAX_STREAM_BUFFER:
                    ex.abort()
                    return
                if answer.entries:
                    after = max(row[0] for row in answer.entries)
                    ex.write(b"event: logs\ndata: " + orjson.dumps(
                        {"entries": [row_as_dict(r) for r in answer.entries], "last_seq": after}) + b"\n\n")
                else:
                    after = after or answer.last_seq
                    ex.write(b": keepalive\n\n")  # a browser that went away without a word is found out here
        except Exception:
            self.log.exception("log stream failed")
            ex.abort()
        finally:
            self.metrics.streams.labels("logs").dec()

    # --- acting ----------------------------------------------------------------------------------
    async def post_scale(self, req: HttpRequest) -> dict:
        body = self._body(req)
        kind, namespace, name = self._field(body, "kind"), self._field(body, "namespace"), self._field(body, "name")
        replicas = self._field(body, "replicas", int)
        if kind not in SCALABLE:
            raise BadRequest(f"kind: one of {', '.join(SCALABLE)}, got {kind!r}")
        if not 0 <= replicas <= 10_000:
            raise BadRequest(f"replicas: 0 to 10000, got {replicas}")
        await self._act("scale", self.api.patch(kind, name, {"spec": {"replicas": replicas}}, namespace,
                                                 patch_type="merge", subresource="scale"))
        return {"ok": True, "message": f"{lookup(kind).singular}/{name} scaled to {replicas}"}

    async def post_delete(self, req: HttpRequest) -> dict:
        body = self._body(req)
        kind = lookup(self._field(body, "kind"))
        if kind is None:
            raise BadRequest(f"kind: {body.get('kind')!r} is not a kind this cluster serves")
        name = self._field(body, "name")
        namespace = self._field(body, "namespace") if kind.namespaced else ""
        await self._act("delete", self.api.delete(kind.resource, name, namespace))
        return {"ok": True, "message": f"{kind.singular} \"{name}\" deleted"}

    async def post_cordon(self, req: HttpRequest) -> dict:
        body = self._body(req)
        name, off = self._field(body, "name"), self._field(body, "unschedulable", bool)
        await self._act("cordon" if off else "uncordon",
                        self.api.patch("nodes", name, {"spec": {"unschedulable": off or None}}, patch_type="merge"))
        return {"ok": True, "message": f"node/{name} {'cordoned' if off else 'uncordoned'}"}

    async def post_apply(self, req: HttpRequest) -> dict:
        body = self._body(req)
        text = self._field(body, "manifest")
        if self.apply_text is None:
            raise BadRequest("this dashboard cannot apply manifests")
        try:
            results = await self.apply_text(self.api, text)
        except ValueError as exc:  # the manifest does not parse, or names no kind the cluster serves
            self.metrics.actions.labels("apply", "refused").inc()
            raise BadRequest(str(exc)) from None
        self.metrics.actions.labels("apply", "ok").inc()
        return {"ok": True, "message": "; ".join(results), "results": results}

    async def post_chaos(self, req: HttpRequest) -> dict:
        body = self._body(req)
        if self.chaos is None:
            raise BadRequest("chaos is not available from this dashboard")
        action, target = self._field(body, "action"), self._field(body, "target")
        try:
            fault = await self.chaos.inject(action, target)
        except ValueError as exc:
            self.metrics.actions.labels("chaos", "refused").inc()
            raise BadRequest(str(exc)) from None
        self.metrics.actions.labels("chaos", "ok").inc()
        self.log.warning("fault put in from the dashboard", action=action, target=target,
                         fault=fault["id"] if fault else None)
        self._dirty = True
        return {"ok": True, "fault": fault,
                "message": fault["detail"] if fault else f"{action} {target}: done (nothing to heal)"}

    async def post_heal(self, req: HttpRequest) -> dict:
        body = self._body(req)
        if self.chaos is None:
            raise BadRequest("chaos is not available from this dashboard")
        fault_id = self._field(body, "id", required=False)
        try:
            errors = await self.chaos.heal(fault_id)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        self.log.warning("healed from the dashboard", fault=fault_id or "all", errors=errors)
        self.metrics.actions.labels("heal", "ok" if not errors else "partial").inc()
        return {"ok": not errors, "message": "; ".join(errors) or f"healed {fault_id or 'every fault'}"}

    async def _act(self, action: str, call: Awaitable) -> Any:
        try:
            result = await call
        except ApiError:
            self.metrics.actions.labels(action, "refused").inc()
            raise
        self.metrics.actions.labels(action, "ok").inc()
        return result


_ROUTES: dict[tuple[str, str], Callable] = {
    ("GET", "/api/state"): Dashboard.get_state,
    ("GET", "/api/object"): Dashboard.get_object,
    ("GET", "/api/trace"): Dashboard.get_trace,
    ("GET", "/api/logs"): Dashboard.get_logs,
    ("POST", "/api/scale"): Dashboard.post_scale,
    ("POST", "/api/delete"): Dashboard.post_delete,
    ("POST", "/api/cordon"): Dashboard.post_cordon,
    ("POST", "/api/apply"): Dashboard.post_apply,
    ("POST", "/api/chaos"): Dashboard.post_chaos,
    ("POST", "/api/heal"): Dashboard.post_heal,
}
_KNOWN_ROUTES = frozenset(path for _, path in _ROUTES) | {"/api/stream", "/api/logs/stream", "/", "/static"}
