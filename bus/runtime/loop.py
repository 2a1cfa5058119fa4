"""The actor runtime: one event loop per process, hosting any number of actors.

An actor is a class whose methods handle message kinds (``@handles(Ping)``).
The runtime owns the process's one socket (a DEALER to the broker, or the
broker's ROUTER when the process *is* the broker), a heap of timers on the
injected :class:`~bus.clock.Clock`, the table of pending requests, the fault
filter and the metrics. Each wake-up drains every ready message (up to
``drain_budget``) before it looks at timers, and what the handlers sent is
written at the end of the turn, each run of messages to one destination as
one frame: throughput comes from batching, not threads.

Handlers are plain methods; a handler that is ``async def`` may ``await``
requests (``reply = await self.request(dst, msg)``) and ``self.sleep(s)``.
Those coroutines are driven by a small trampoline (:class:`Task`) on this same
loop, so a plain handler costs a method call, not a scheduler round trip.

Requests have deadlines and retries. A request whose attempts all time out
ends :class:`Indeterminate` — it may or may not have been carried out — and
one the broker could not deliver at all ends :class:`UndeliverableError`. An
exception in a handler is logged, counted and answered with ``bus.Error`` if
the sender waits; an ``AssertionError`` (a broken internal rule) stops the
process so its supervisor restarts it.
"""

from __future__ import annotations

import heapq
import inspect
import os
import signal
import socket
from collections import deque
from random import Random
from typing import Callable

import zmq

from bus import logs
from bus.clock import Clock
from bus.codec import (
    MAX_DETAIL_CHARS,
    Header,
    Rejected,
    pack_batch,
    pack_batch_header,
    pack_body,
    pack_header,
    unpack_batch,
    unpack_body,
    unpack_header,
)
from bus.faults import FaultFilter, FaultRule
from bus.flowtap import FlowTap
from bus.messages import (
    BATCH_KIND,
    BATCH_SLACK_BYTES,
    BROKER,
    BROKER_B,
    Error,
    Message,
    Undeliverable,
)
from bus.metrics import BusMetrics
from bus.runtime.actor import Actor, BusControl, Envelope
from bus.runtime.broker_link import BrokerLink
from bus.runtime.direct_link import DirectLink, NoLink
from bus.runtime.futures import (
    Future,
    Indeterminate,
    MessageTooLarge,
    RemoteError,
    Task,
    Timer,
    UndeliverableError,
)
from bus.runtime.peer_link import PeerLink
from bus.settings import BusSettings
from bus.tracing import SpanLog
from bus.transport.sockets import Security, new_context


class _Request:
    __slots__ = ("future", "actor", "dst", "msg", "id", "traceparent", "retries", "timeout_s",
                 "attempts", "timer", "maybe_delivered", "sent_at")

    def __init__(self, actor: Actor, dst: str, msg: Message, msg_id: int, traceparent: str,
                 retries: int, timeout_s: float, sent_at: float = 0.0) -> None:
        self.future = Future()
        self.actor = actor
        self.dst = dst
        self.msg = msg
        self.id = msg_id
        self.traceparent = traceparent
        self.retries = retries
        self.timeout_s = timeout_s
        self.attempts = 0
        self.timer: Timer | None = None
        self.maybe_delivered = False
        self.sent_at = sent_at
        """Cluster wall time of the first attempt: where the client's span starts."""



# --- The runtime ----------------------------------------------------------------


class Runtime:
    """One process's event loop. ``broker=True`` makes it the broker."""

    def __init__(
        self,
        process: str,
        settings: BusSettings,
        clock: Clock,
        *,
        broker: bool = False,
        security: Security = Security(),
        identity: str | None = None,
        seed: int | None = None,
        metrics: BusMetrics | None = None,
        fault_admins: frozenset[str] | None = None,
        standalone: bool = False,
    ) -> None:
        self.process = process
        self.fault_admins = fault_admins
        """Identities allowed to set fault rules; None lets anyone (a bus without CURVE has no identities)."""
        self.settings = settings
        self.clock = clock
        self.security = security
        self.identity = (identity or process).encode()
        self.metrics = metrics or BusMetrics(process)
        self.spans = SpanLog()
        """The requests this process served and made lately (``kubesim trace``)."""
        self.flow_tap: FlowTap | None = None
        """A broker's sample of the messages it routes, while someone asks for it (:mod:`bus.flowtap`)."""
        self.log = logs.get(f"{process}.runtime")
        self._rng = Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self.faults: FaultFilter[tuple] = FaultFilter(self._rng.getrandbits(64))
        self.metrics.faults_applied = self.faults.applied
        self._actors: dict[bytes, Actor] = {}
        self._pending: dict[int, _Request] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = 0
        self._compact_timers_at = 1024
        self._ready: deque[tuple[Callable, tuple]] = deque()
        self._local: deque[tuple] = deque()
        """Messages to actors of this process: (dst, identity, header bytes, body bytes) as received, or
        (dst, identity, Header, Message) as sent here (see _deliver_local)."""
        # Remote sends of this turn of the loop, coalesced per destination at its end.
        self._out: list[tuple[bytes, bytes, bytes]] = []
        self._batch_traceparent = f"00-{self._rng.getrandbits(128):032x}-{self._rng.getrandbits(64):016x}-00"
        # Ids start at random: a reply meant for an earlier incarnation of this
        # process, or a guessed one, does not match a request of this one.
        self._next_msg_id = self._rng.getrandbits(62)
        self._running = False
        self._stopping = False
        self._log_limits: dict[tuple[str, str], float] = {}
        self._ctx = new_context()
        self._poller = zmq.Poller()
        self._fd_handlers: dict[int, Callable[[], None]] = {}
        self._fd_writers: dict[int, Callable[[], None]] = {}
        """Handlers of fds that asked to hear when they can be written to again (a full socket buffer)."""
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        # Heartbeats are a transport matter: real seconds, turned into cluster seconds.
        self._heartbeat_s = settings.heartbeat_interval_s * clock.scale
        self.link: PeerLink | BrokerLink | NoLink
        if standalone:
            self.link = NoLink(self)  # direct links only (the store's members and their clients)
        else:
            self.link = BrokerLink(self) if broker else PeerLink(self)
        self.direct: DirectLink | None = None
        self.add(BusControl(f"{process}.bus"))

    # Set-up ------------------------------------------------------------------
    def add(self, actor: Actor) -> Actor:
        key = actor.name.encode()
        assert key not in self._actors, f"actor {actor.name} added twice"
        assert key != BROKER_B, f"{BROKER!r} is the broker's own address"
        actor.runtime = self
        self._actors[key] = actor
        errors = self.metrics.handler_errors
        for kind in actor._handlers:
            errors.setdefault(kind.KIND, 0)
        if self._running and isinstance(self.link, PeerLink):
            self.link.register()
        return actor

    def replace(self, actor: Actor) -> Actor:
        """Put ``actor`` where the actor of the same name was (a component restarting inside its process, e.g.
        ``Kubelet.restart``): messages to the name reach the new one from now on; replies to the old one's
        requests are dropped as late. The old actor's tasks and timers are its own business to stop."""
        key = actor.name.encode()
        assert key in self._actors, f"no actor {actor.name} to replace"
        actor.runtime = self
        self._actors[key] = actor
        return actor

    def direct_link(self) -> DirectLink:
        """This process's direct links, made on first use (see :mod:`bus.runtime.direct_link`)."""
        if self.direct is None:
            self.direct = DirectLink(self)
        return self.direct

    def actor_names(self) -> list[str]:
        return [k.decode() for k in self._actors]

    def actors(self) -> list[Actor]:
        return list(self._actors.values())

    def watch_fd(self, fd: int, on_readable: Callable[[], None]) -> None:
        """Wake the loop when ``fd`` is readable (e.g. a child process's pipe)."""
        self._fd_handlers[fd] = on_readable
        self._poller.register(fd, zmq.POLLIN)

    def want_write(self, fd: int, on_writable: Callable[[], None] | None) -> None:
        """Call ``on_writable`` once ``fd`` (already watched) can be written to; None stops asking.

        A non-blocking socket whose send buffer filled up (an HTTP client reading slowly) waits
        for this instead of spinning.
        """
        if on_writable is None:
            if self._fd_writers.pop(fd, None) is not None:
                self._poller.modify(fd, zmq.POLLIN)
            return
        if fd not in self._fd_writers:
            self._poller.modify(fd, zmq.POLLIN | zmq.POLLOUT)
        self._fd_writers[fd] = on_writable

    def unwatch_fd(self, fd: int) -> None:
        """Stop watching ``fd`` (call it before closing the fd)."""
        self._fd_writers.pop(fd, None)
        if self._fd_handlers.pop(fd, None) is not None:
            self._poller.unregister(fd)

    # Time --------------------------------------------------------------------
    def call_later(self, delay_s: float, fn: Callable, *args) -> Timer:
        timer = Timer(self.clock.monotonic() + max(0.0, delay_s), fn, args, None, logs.trace.trace_id)
        self._push_timer(timer)
        return timer

    def call_every(self, interval_s: float, fn: Callable, *args) -> Timer:
        assert interval_s > 0, "a repeating timer needs a positive interval"
        timer = Timer(self.clock.monotonic() + interval_s, fn, args, interval_s)
        self._push_timer(timer)
        return timer

    def call_soon(self, fn: Callable, *args) -> None:
        self._ready.append((fn, args))

    def _push_timer(self, timer: Timer) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (timer.deadline, self._timer_seq, timer))
        if len(self._timers) > self._compact_timers_at:
            # Cancelled timers (answered requests) wait in the heap until due;
            # sweep them whenever the heap has doubled, so it stays bounded.
            self._timers = [entry for entry in self._timers if not entry[2].cancelled]
            heapq.heapify(self._timers)
            self._compact_timers_at = max(1024, 2 * len(self._timers))

    def _run_timers(self) -> None:
        now = self.clock.monotonic()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            if timer.interval is not None:
                # After a stall, skip the missed ticks rather than firing them all at once.
                timer.deadline += timer.interval
                if timer.deadline <= now:
                    timer.deadline = now + timer.interval
                self._push_timer(timer)
                self._guarded(timer.fn, timer.args)
            else:
                # What a handler put off (a retry, a write after a pause) is still part of its trace.
                logs.trace.trace_id = timer.trace_id
                self._guarded(*timer.take())
                logs.trace.trace_id = None

    def _reregistered(self) -> None:
        """The broker had forgotten this process and it registered again: tell every actor."""
        for actor in list(self._actors.values()):
            self._guarded(actor.on_reregistered, ())

    def _guarded(self, fn: Callable, args: tuple) -> None:
        try:
            fn(*args)
        except AssertionError:
            raise
        except Exception:
            self.metrics.handler_errors["timer"] += 1
            self.log.exception("timer callback failed", callback=getattr(fn, "__qualname__", repr(fn)))

    # Sending -------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_msg_id += 1
        return self._next_msg_id

    def _new_trace_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _traceparent(self) -> str:
        trace_id = logs.trace.trace_id or self._new_trace_id()
        return f"00-{trace_id}-{self._rng.getrandbits(64):016x}-01"

    def _send(self, sender: str, dst: str, msg: Message, *, reply_to: int = 0, wants_reply: bool = False,
              msg_id: int = 0, traceparent: str | None = None) -> int:
        msg_id = msg_id or self._new_id()
        kind = msg.KIND
        dst_b = dst.encode()
        if dst_b in self._actors and not self.faults.active:
            # To an actor of this process: the message itself, not its encoding (see _deliver_local).
            header_obj = Header(kind, msg_id, reply_to, wants_reply, sender, traceparent or self._traceparent(),
                                self.clock.wall())
            self.metrics.sent[kind] += 1
            self._local.append((dst_b, self.identity, header_obj, msg))
            return msg_id
        header = pack_header(kind, msg_id, reply_to, wants_reply, sender,
                             traceparent or self._traceparent(), self.clock.wall())
        body = pack_body(msg)
        limit = self.settings.max_frame_bytes
        if (self.settings.peer_max_frame_bytes and dst_b not in self._actors
                and (self.direct is None or not self.direct.has_route(dst_b))):
            limit = self.settings.peer_max_frame_bytes  # a peer's socket takes no more than the bus limit
        if len(body) > limit:
            self.metrics.dropped_outbound["too_large"] += 1
            raise MessageTooLarge(f"{kind} to {dst}: body of {len(body)} bytes > max_frame_bytes {limit}")
        m = self.metrics
        m.sent[kind] += 1
        m.sent_bytes[kind] += len(header) + len(body)
        if self.faults.active:
            for delay, item in self.faults.apply("send", sender, dst, kind, (dst_b, header, body),
                                                 self.clock.monotonic()):
                if delay:
                    self.call_later(delay, self._emit, *item)
                else:
                    self._emit(*item)
            return msg_id
        self._emit(dst_b, header, body)
        return msg_id

    def _emit(self, dst_b: bytes, header: bytes, body: bytes) -> None:
        if dst_b in self._actors:
            self._local.append((dst_b, self.identity, header, body))
        else:
            self._out.append((dst_b, header, body))
            if len(self._out) >= self.settings.max_batch:
                self._flush_out()

    def _flush_out(self) -> None:
        """Hand this turn's remote sends to the link, each run of one destination as one batch.

        Only consecutive messages to the same destination are coalesced, so
        the order of everything this process sends is kept.
        """
        out = self._out
        if not out:
            return
        self._out = []
        send = self.link.send
        direct = self.direct
        direct_limit = self.settings.max_frame_bytes
        peer_limit = self.settings.peer_frame_limit
        most = self.settings.max_batch
        i, n = 0, len(out)
        while i < n:
            dst_b, header, body = out[i]
            limit = direct_limit if direct is not None and direct.has_route(dst_b) else peer_limit
            j, size = i + 1, len(header) + len(body)
            while j < n and out[j][0] == dst_b and j - i < most:
                size += len(out[j][1]) + len(out[j][2]) + 10
                if size > limit:
                    break
                j += 1
            if j - i > 1:
                frames = []
                for _, h, b in out[i:j]:
                    frames.append(h)
                    frames.append(b)
                header = pack_batch_header(self._new_id(), self.process, self._batch_traceparent,
                                           self.clock.wall())
                body = pack_batch(frames)
                self.metrics.batches_sent += 1
                self.metrics.batched_messages += j - i
            if direct is not None and direct.has_route(dst_b):
                failed = direct.send(dst_b, header, body)
                if failed:
                    self._not_sent(out[i:j], failed)
            else:
                send(dst_b, header, body)
            i = j

    def _not_sent(self, items: list[tuple[bytes, bytes, bytes]], reason: str) -> None:
        """A direct link could not take these: fail their requests now rather than at their deadline."""
        self.metrics.dropped_outbound[reason] += len(items)
        for dst_b, header_b, _ in items:
            header = unpack_header(header_b)  # our own header: it decodes
            req = self._pending.get(header.id) if header.wants_reply else None
            if req is not None and req.dst.encode() == dst_b:
                self.call_soon(self._bounced_locally, req, Undeliverable(req.dst, reason))

    def _bounced_locally(self, req: _Request, msg: Undeliverable) -> None:
        if self._pending.get(req.id) is req:
            self._on_reply(req, msg)

    # Requests ------------------------------------------------------------------
    def _request(self, actor: Actor, dst: str, msg: Message, timeout_s: float | None,
                 retries: int | None) -> Future:
        req = _Request(actor, dst, msg, self._new_id(), self._traceparent(),
                       self.settings.request_retries if retries is None else retries,
                       self.settings.request_timeout_s if timeout_s is None else timeout_s, self.clock.wall())
        self._pending[req.id] = req
        try:
            self._attempt(req)
        except Exception:  # too large, or a body the codec cannot pack: nothing was sent
            del self._pending[req.id]
            raise
        return req.future

    def _attempt(self, req: _Request) -> None:
        if self._pending.get(req.id) is not req:
            return
        self._send(req.actor.name, req.dst, req.msg, wants_reply=True, msg_id=req.id,
                   traceparent=req.traceparent)
        req.attempts += 1
        req.timer = self.call_later(req.timeout_s, self._attempt_timed_out, req)

    def _attempt_timed_out(self, req: _Request) -> None:
        if self._pending.get(req.id) is not req:
            return
        req.maybe_delivered = True
        if req.attempts <= req.retries:
            self._attempt(req)
            return
        del self._pending[req.id]
        self.metrics.requests_timed_out += 1
        req.future.set_exception(Indeterminate(
            f"{req.msg.KIND} to {req.dst}: no reply after {req.attempts} attempt(s) of {req.timeout_s:g} s"))

    def _on_reply(self, req: _Request, msg: Message) -> None:
        req.timer.cancel()
        if isinstance(msg, Undeliverable):
            if req.attempts <= req.retries:
                # The destination may be restarting: try again after a short pause.
                req.timer = self.call_later(min(req.timeout_s, 0.05 * 2 ** req.attempts), self._attempt, req)
                return
            self._client_span(req, "undeliverable")
            del self._pending[req.id]
            self.metrics.requests_undeliverable += 1
            text = f"{req.msg.KIND} to {req.dst}: {msg.reason}"
            req.future.set_exception(Indeterminate(text) if req.maybe_delivered else UndeliverableError(text))
            return
        del self._pending[req.id]
        self._client_span(req, msg.code if isinstance(msg, Error) else "ok")
        if isinstance(msg, Error):
            req.future.set_exception(RemoteError(msg.code, msg.message))
        else:
            req.future.set_result(msg)

    def _client_span(self, req: _Request, outcome: str) -> None:
        """The requester's side of an answered request, unless it was asked inside this process (the server
        span says the same)."""
        if req.dst.encode() not in self._actors:
            self._span(req.traceparent, req.actor.name, req.dst, req.msg, "client", req.sent_at, outcome)

    def _span(self, traceparent: str, actor: str, peer: str, msg: Message, side: str, start: float,
              outcome: str) -> None:
        """Remember one request as this side saw it (see :mod:`bus.tracing`)."""
        self.spans.record((traceparent[3:35], self.process, actor, peer, msg.KIND, side, msg.span_object(),
                           msg.span_note(), start, self.clock.wall() - start, outcome))

    def _task_failed(self, task: Task, exc: Exception) -> None:
        self.metrics.handler_errors["task"] += 1
        self.log.error("async handler failed", task=task.name, error=repr(exc))

    # Receiving ---------------------------------------------------------------------
    def _deliver(self, dst_b: bytes, identity_b: bytes | None, header_b: bytes, body_b: bytes,
                 in_batch: bool = False, learn: Callable[[str], None] | None = None) -> None:
        """Entry point of every frame addressed to an actor of this process.

        ``identity_b`` is who the sender was authenticated as; None (a direct
        link without CURVE) takes the sender the header names. ``learn`` is
        told each sender, so a direct link can route replies back.
        """
        try:
            header = unpack_header(header_b)
            if header.kind == BATCH_KIND:
                if in_batch:
                    raise Rejected("bad_batch", "a batch inside a batch")
                frames = unpack_batch(body_b, self.settings.max_frame_bytes + BATCH_SLACK_BYTES)
                for i in range(0, len(frames), 2):
                    self._deliver(dst_b, identity_b, frames[i], frames[i + 1], True, learn)
                return
        except Rejected as exc:
            self.reject(exc, identity_b or b"direct link")
            return
        if identity_b is None:
            identity_b = header.sender.encode()
        if learn is not None:
            learn(header.sender)
        if self.faults.active:
            for delay, item in self.faults.apply("recv", header.sender, dst_b.decode("utf-8", "replace"),
                                                 header.kind, (dst_b, identity_b, header, body_b),
                                                 self.clock.monotonic()):
                if delay:
                    self.call_later(delay, self._dispatch, *item)
                else:
                    self._dispatch(*item)
            return
        self._dispatch(dst_b, identity_b, header, body_b)

    def _deliver_next_local(self) -> None:
        """Deliver the oldest message queued for an actor of this process."""
        item = self._local.popleft()
        if type(item[2]) is Header:
            self._deliver_local(*item)
        else:
            self._deliver(*item)

    def _deliver_local(self, dst_b: bytes, identity_b: bytes, header: Header, msg: Message) -> None:
        """A message from an actor of this process, handed over as the object it is.

        Encoding it only to decode it again a moment later is most of what a
        message costs, and a hollow-nodes process sends a hundred thousand of
        them (CRI calls between each kubelet and its runtime). What the wire
        would check is known here: the sender is this process, the header was
        made by :meth:`_send`, the fields have the types the message declares.
        Messages are frozen, and what they carry is not changed by a handler
        (nor by a sender after sending), in-process or not. With a fault rule
        active every message takes the encoded path, so faults apply exactly
        as they would between processes. Local bytes are not counted.
        """
        actor = self._actors.get(dst_b)
        if actor is None:
            self.reject(Rejected("unknown_dst", f"no actor {dst_b[:64]!r} in {self.process}"), identity_b)
            return
        self.metrics.received[header.kind] += 1
        self._handle(actor, dst_b, identity_b, header, msg)

    def _dispatch(self, dst_b: bytes, identity_b: bytes, header: Header, body_b: bytes) -> None:
        actor = self._actors.get(dst_b)
        if actor is None:
            self.reject(Rejected("unknown_dst", f"no actor {dst_b[:64]!r} in {self.process}"), identity_b)
            return
        try:
            msg = unpack_body(header, body_b, self.settings.max_frame_bytes)
        except Rejected as exc:
            self.reject(exc, identity_b, header)
            self._answer_error(actor, header, "bad_request", exc.detail)
            return
        m = self.metrics
        m.received[header.kind] += 1
        m.received_bytes[header.kind] += header.size + len(body_b)
        self._handle(actor, dst_b, identity_b, header, msg)

    def _handle(self, actor: Actor, dst_b: bytes, identity_b: bytes, header: Header, msg: Message) -> None:
        kind = header.kind
        m = self.metrics
        if header.reply_to:
            req = self._pending.get(header.reply_to)
            if req is None or req.actor is not actor or not self._from_answerer(req, header, msg, identity_b):
                m.late_replies += 1
            else:
                self._on_reply(req, msg)
            return
        method = actor._handlers.get(type(msg))
        if method is None:
            self.reject(Rejected("no_handler", f"{actor.name} does not handle {kind}"), identity_b, header)
            self._answer_error(actor, header, "no_handler", f"{actor.name} does not handle {kind}")
            return
        perf = self.clock.perf
        outer_trace = logs.trace.trace_id  # a dispatch can happen inside another (released fault buffers)
        logs.trace.trace_id = header.trace_id
        started = perf()
        try:
            env = Envelope(dst_b.decode(), identity_b.decode("utf-8", "replace"), header, msg,
                           self.clock.wall() if header.wants_reply else 0.0)
            result = method(actor, msg, env)
            if result is not None and inspect.iscoroutine(result):
                on_error = None
                if header.wants_reply:
                    def on_error(exc: Exception, actor=actor, header=header) -> None:
                        self._answer_error(actor, header, "handler_failed", f"{type(exc).__name__}: {exc}")
                Task(self, result, header.trace_id, f"{actor.name}:{kind}", on_error)
        except AssertionError:
            raise
        except Exception as exc:
            m.handler_errors[kind] += 1
            actor.log.exception("handler failed", kind=kind, sender=header.sender)
            self._answer_error(actor, header, "handler_failed", f"{type(exc).__name__}: {exc}")
        finally:
            m.handler_histogram(kind).observe(perf() - started)
            logs.trace.trace_id = outer_trace

    def _answer_error(self, actor: Actor, header: Header, code: str, text: str) -> None:
        """Tell a waiting sender its request failed; the text is cut short, so the reply always fits."""
        if not header.wants_reply:
            return
        if len(text) > MAX_DETAIL_CHARS:
            text = text[:MAX_DETAIL_CHARS] + "…"
        self._send(actor.name, header.sender, Error(code, text), reply_to=header.id,
                   traceparent=header.traceparent)

    def _from_answerer(self, req: _Request, header: Header, msg: Message, identity_b: bytes) -> bool:
        """Whether a reply comes from where it should: the broker for a bounce, else the destination."""
        if isinstance(msg, Undeliverable):
            return identity_b == self.link.broker_identity
        return header.sender == req.dst

    def reject(self, exc: Rejected, sender: bytes | str, header: Header | None = None) -> None:
        """Count a rejected frame and log it, at most once per sender and reason every 10 s."""
        self.metrics.rejected[exc.reason] += 1
        who = sender.decode("utf-8", "replace") if isinstance(sender, bytes) else sender
        key = (who, exc.reason)
        now = self.clock.monotonic()
        if now - self._log_limits.get(key, -1e18) >= 10.0 * self.clock.scale:
            if len(self._log_limits) > 10_000:
                self._log_limits.clear()
            self._log_limits[key] = now
            self.log.warning("frame rejected", reason=exc.reason, detail=exc.detail, sender=who,
                             claimed_sender=header.sender if header else None,
                             total=self.metrics.rejected[exc.reason])

    # Faults ----------------------------------------------------------------------
    def set_faults(self, rules: list[FaultRule], seed: int | None) -> None:
        for _, item in self.faults.set_rules(rules, seed):
            self._release_held(item)

    def _release_held(self, item: tuple) -> None:
        if len(item) == 3:
            self._emit(*item)
        else:
            self._dispatch(*item)

    # The loop --------------------------------------------------------------------
    def start(self) -> None:
        """Open the socket, register, start the actors (``run`` does this for you)."""
        self.link.open()
        if self.link.sock is not None:
            self._poller.register(self.link.sock, zmq.POLLIN)
        self._running = True
        self.call_every(self._heartbeat_s, self.link.tick)
        for actor in list(self._actors.values()):
            actor.on_start()

    def run(self, install_signals: bool = True) -> None:
        """Run until :meth:`stop`, SIGTERM or SIGINT; then shut down cleanly."""
        if install_signals:
            self._install_signals()
        self.start()
        try:
            while self._running:
                self.run_once(1.0)
        finally:
            self.shutdown()

    def run_once(self, max_wait_s: float) -> None:
        """One wake-up: wait for I/O or the next timer, then do everything that is ready."""
        if self._ready or self._local:
            timeout_ms = 0
        else:
            wait = max_wait_s
            if self._timers:
                wait = min(wait, self.clock.real_delay(self._timers[0][0] - self.clock.monotonic()))
            timeout_ms = max(0, int(wait * 1000 + 0.999))
        link = self.link
        for sock, event in self._poller.poll(timeout_ms):
            if sock is link.sock:
                if event & zmq.POLLIN:
                    link.drain(self.settings.drain_budget)
                if event & zmq.POLLOUT:
                    link.flush()
            elif sock in self._fd_handlers:
                if event & zmq.POLLOUT and sock in self._fd_writers:
                    self._guarded(self._fd_writers[sock], ())
                # The handler may have been dropped by the writer (a connection it closed).
                if event & (zmq.POLLIN | zmq.POLLERR) and sock in self._fd_handlers:
                    self._guarded(self._fd_handlers[sock], ())
            elif isinstance(sock, int):
                continue  # an fd a handler earlier in this batch stopped watching (a closed connection)
            elif self.direct is not None:
                self.direct.drain(sock, self.settings.drain_budget)
        # Local messages and the callbacks they make ready (a task resuming with its reply), in
        # rounds until neither is left or the budget is spent: a chain of in-process requests (a
        # kubelet's CRI calls) runs to its end in one wake-up, instead of one step per wake-up
        # behind everything else the loop has to do.
        budget = self.settings.drain_budget
        local, ready = self._local, self._ready
        while budget > 0 and (local or ready):
            while local and budget > 0:
                budget -= 1
                self._deliver_next_local()
            for _ in range(len(ready)):
                budget -= 1
                fn, args = ready.popleft()
                self._guarded(fn, args)
        if self.faults.active:
            for _, item in self.faults.due(self.clock.monotonic()):
                self._release_held(item)
        self._run_timers()
        self._flush_out()
        link.want_write()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Drive the loop from outside (a CLI, a test) until ``done()`` holds; False after ``timeout_s``."""
        end = self.clock.monotonic() + timeout_s
        while not done():
            if self.clock.monotonic() > end:
                return False
            self.run_once(0.02)
        return True

    def stop(self) -> None:
        self._running = False

    def shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._running = False
        for actor in list(self._actors.values()):
            try:
                actor.on_stop()
            except Exception:
                self.log.exception("on_stop failed", actor=actor.name)
        self._flush_out()
        self.link.close()
        if self.direct is not None:
            self.direct.close()
        if self._wakeup_w is not None:
            signal.set_wakeup_fd(-1)
        for sock in (self._wakeup_r, self._wakeup_w):
            if sock is not None:
                sock.close()
        self._ctx.term()

    def _install_signals(self) -> None:
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        signal.set_wakeup_fd(self._wakeup_w.fileno())

        def on_signal(signum, _frame):
            self.log.info("stopping", signal=signal.Signals(signum).name)
            self._running = False

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        def drain_wakeup() -> None:
            try:
                while self._wakeup_r.recv(512):
                    pass
            except BlockingIOError:
                pass

        self.watch_fd(self._wakeup_r.fileno(), drain_wakeup)

    # For the links -------------------------------------------------------------
    def _control_frames(self, msg: Message) -> tuple[bytes, bytes]:
        """Header and body of a link-level message from this process."""
        header = pack_header(msg.KIND, self._new_id(), 0, False, self.process, self._traceparent(),
                             self.clock.wall())
        body = pack_body(msg)
        self.metrics.sent[msg.KIND] += 1
        self.metrics.sent_bytes[msg.KIND] += len(header) + len(body)
        return header, body

    def _decode(self, header_b: bytes, body_b: bytes, sender: bytes) -> tuple[Header, Message] | None:
        try:
            header = unpack_header(header_b)
            return header, unpack_body(header, body_b, self.settings.max_frame_bytes)
        except Rejected as exc:
            self.reject(exc, sender)
            return None
