"""Actors: classes whose methods handle message kinds.

``@handles(Ping)`` marks a method as the handler of a kind; the class
collects its handlers when it is defined, so dispatch is one dict lookup.
An actor sends, requests, replies and sets timers through the runtime it
was added to. :class:`BusControl` is the actor every process hosts as
``<process>.bus``, through which fault rules are set at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar

from bus import flowtap, logs
from bus.clock import Clock
from bus.codec import (
    Header,
    check_name,
)
from bus.faults import FaultRule, RuleError
from bus.messages import (
    ClearFaults,
    ClockState,
    Error,
    FaultsState,
    FlowQuery,
    FlowSample,
    Message,
    SetClockSkew,
    SetFaults,
    TraceQuery,
    TraceSpans,
)
from bus.runtime.broker_link import BrokerLink
from bus.runtime.futures import Future, Task, Timer

if TYPE_CHECKING:
    from bus.runtime.loop import Runtime

# --- Actors ---------------------------------------------------------------------


def handles(*kinds: type[Message]):
    """Mark a method as the handler of one or more message kinds."""

    def mark(fn):
        fn._kubesim_handles = kinds
        return fn

    return mark


class Envelope:
    """What a handler knows about the message besides its body."""

    __slots__ = ("dst", "identity", "header", "msg", "received")

    def __init__(self, dst: str, identity: str, header: Header, msg: Message | None = None,
                 received: float = 0.0) -> None:
        self.dst = dst
        self.identity = identity
        """Who the broker authenticated the sending process as."""
        self.header = header
        self.msg = msg
        """The message itself (what a reply's span says was asked)."""
        self.received = received
        """Cluster wall time a request arrived (0 for a message that wants no reply)."""

    @property
    def sender(self) -> str:
        return self.header.sender

    @property
    def trace_id(self) -> str:
        return self.header.trace_id


class Actor:
    """Base class of every actor. Subclasses declare handlers with :func:`handles`."""

    _handlers: ClassVar[dict[type, Callable]] = {}

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        table: dict[type, Callable] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for kind in getattr(attr, "_kubesim_handles", ()):
                    table[kind] = attr
        cls._handlers = table

    def __init__(self, name: str) -> None:
        check_name(name.encode())
        self.name = name
        self.runtime: Runtime | None = None
        self.log = logs.get(name)

    # Life cycle hooks ------------------------------------------------------
    def on_start(self) -> None:
        """Called once the runtime starts, before any message is handled."""

    def on_stop(self) -> None:
        """Called when the runtime stops."""

    def on_reregistered(self) -> None:
        """Called when the broker had forgotten this process (it restarted) and it has registered again.

        Whatever the broker process held for this actor (an API server's watches) may be gone.
        """

    # What an actor can do --------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def send(self, dst: str, msg: Message) -> int:
        return self.runtime._send(self.name, dst, msg)

    def request(self, dst: str, msg: Message, timeout_s: float | None = None, retries: int | None = None) -> Future:
        return self.runtime._request(self, dst, msg, timeout_s, retries)

    def reply(self, env: Envelope, msg: Message) -> int:
        rt = self.runtime
        sent = rt._send(self.name, env.sender, msg, reply_to=env.header.id, traceparent=env.header.traceparent)
        if env.received and env.msg is not None:
            rt._span(env.header.traceparent, self.name, env.sender, env.msg, "server", env.received,
                     msg.code if isinstance(msg, Error) else "ok")
        return sent

    def call_later(self, delay_s: float, fn: Callable, *args) -> Timer:
        return self.runtime.call_later(delay_s, fn, *args)

    def call_every(self, interval_s: float, fn: Callable, *args) -> Timer:
        return self.runtime.call_every(interval_s, fn, *args)

    def sleep(self, delay_s: float) -> Future:
        fut = Future()
        self.runtime.call_later(delay_s, fut.set_result, None)
        return fut

    def spawn(self, coro) -> Task:
        """Run a coroutine on the loop; outside a handler it starts a trace of its own."""
        rt = self.runtime
        return Task(rt, coro, logs.trace.trace_id or rt._new_trace_id(), f"{self.name}:{coro.__qualname__}")


#: Largest clock skew chaos may set (a day), in seconds.
MAX_SKEW_S = 86400.0
#: Most spans one answer carries: a span is about 200 bytes packed, and an answer must fit in one frame.
MAX_TRACE_SPANS = 2000


class BusControl(Actor):
    """Every process hosts one, named ``<process>.bus``: fault rules at run time.

    When the runtime names ``fault_admins`` (CURVE on), only those
    identities may change the rules; the identity is the broker's, from the key.
    """

    def _allowed(self, env: Envelope) -> bool:
        admins = self.runtime.fault_admins
        if admins is None or env.identity in admins:
            return True
        self.log.warning("fault change refused", identity=env.identity)
        self.reply(env, Error("forbidden", f"{env.identity!r} may not change fault rules"))
        return False

    @handles(SetFaults)
    def on_set_faults(self, msg: SetFaults, env: Envelope) -> None:
        if not self._allowed(env):
            return
        try:
            rules = [FaultRule.from_dict(r) for r in msg.rules]
        except RuleError as exc:
            self.reply(env, Error("bad_request", f"SetFaults.rules: {exc}"))
            return
        self.runtime.set_faults(rules, msg.seed)
        self.log.warning("fault rules set", rules=[r.to_dict() for r in rules], by=env.identity)
        self.reply(env, FaultsState([r.to_dict() for r in rules]))

    @handles(TraceQuery)
    def on_trace_query(self, msg: TraceQuery, env: Envelope) -> None:
        ids = [t for t in msg.trace_ids if isinstance(t, str)]
        limit = max(1, min(msg.limit, MAX_TRACE_SPANS))
        spans = self.runtime.spans.query(ids, msg.obj, limit)
        self.reply(env, TraceSpans([list(s) for s in spans], self.runtime.process))

    @handles(FlowQuery)
    def on_flow_query(self, msg: FlowQuery, env: Envelope) -> None:
        rt = self.runtime
        if not isinstance(rt.link, BrokerLink):
            self.reply(env, Error("bad_request", f"{rt.process} is not the broker: only the broker routes messages"))
            return
        if rt.flow_tap is None:
            rt.flow_tap = flowtap.FlowTap()
            self._idle_check = self.call_every(flowtap.IDLE_S / 3 * rt.clock.scale, self._tap_idle)
        tap = rt.flow_tap
        tap.asked_at = rt.clock.monotonic()
        samples = tap.after(msg.after if type(msg.after) is int else 0)
        self.reply(env, FlowSample(samples, tap.every, tap.seq))

    def _tap_idle(self) -> None:
        rt = self.runtime
        if rt.flow_tap is not None and rt.clock.monotonic() - rt.flow_tap.asked_at > flowtap.IDLE_S * rt.clock.scale:
            rt.flow_tap = None
            self._idle_check.cancel()

    @handles(ClearFaults)
    def on_clear_faults(self, msg: ClearFaults, env: Envelope) -> None:
        if not self._allowed(env):
            return
        self.runtime.set_faults([], None)
        self.log.warning("fault rules cleared", by=env.identity)
        self.reply(env, FaultsState([]))

    @handles(SetClockSkew)
    def on_set_clock_skew(self, msg: SetClockSkew, env: Envelope) -> None:
        if not self._allowed(env):
            return
        skew = msg.skew_s
        if type(skew) not in (int, float) or not abs(skew) <= MAX_SKEW_S:
            self.reply(env, Error("bad_request", f"SetClockSkew.skew_s: expected seconds within ±{MAX_SKEW_S}, "
                                                 f"got {skew!r}"))
            return
        # Every actor of the process reads this one clock: the whole process is off, as a machine would be.
        self.runtime.clock.skew_s = float(skew)
        self.log.warning("wall clock skewed", skew_s=skew, by=env.identity)
        self.reply(env, ClockState(float(skew), self.runtime.clock.wall()))
