"""An in-process store cluster for member-level tests: real members, a fake network, a hand-moved clock.

Why it exists
-------------
``tests/store_cluster.py`` runs members as processes over loopback: right for
end-to-end checks, useless for the bugs that need one message at one moment
(a read-index answer that arrives after its sender restarted, a snapshot
that crashes its receiver between two writes, a renewal that overtakes a lost
watch request). ``tests/raft_sim.py`` drives the raft core alone, without
the member around it (WAL, snapshots, MVCC, watches, client answers).

Here every member is a real :class:`~actors.store.member.StoreMember` with
its own data directory, hosted on a :class:`FakeRuntime` that gives it a
:class:`~bus.clock.ManualClock`, timers and a message queue instead of
sockets. Messages are packed and unpacked with the real codec (so a body over
the frame limit raises :class:`MessageTooLarge` at the sender, as it does in
:class:`bus.runtime.Runtime`), and go through :class:`Rule`\\ s that drop,
delay or hold them by sender, receiver, kind and raft type.

Everything is deterministic: members are seeded, time moves only in
:meth:`Cluster.advance` (straight to the next timer, no fixed steps and no
sleeping), messages are delivered in the order they were sent. A member can
be killed (:meth:`Cluster.kill`, or by raising :class:`Crash` inside it: kill
-9 at that point) and restarted from its data directory
(:meth:`Cluster.restart`). A :class:`ClientAddress` stands for a client:
it sends requests and collects what comes back. A real
:class:`~actors.store.client.StoreClient` can be added too
(:meth:`Cluster.add_client`).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from actors.messages import RaftMessage
from actors.store.member import StoreMember, StoreOptions
from actors.store.metrics import StoreMetrics
from bus.clock import ManualClock
from bus.codec import Header, pack_body, unpack_body
from bus.messages import Error, Message
from bus.runtime.actor import Actor, Envelope
from bus.runtime.futures import (
    Future,
    Indeterminate,
    MessageTooLarge,
    RemoteError,
    Task,
)
from bus.settings import BusSettings

TRACEPARENT = "00-" + "0" * 32 + "-" + "0" * 16 + "-01"
#: kubesim's default store.max_message_bytes.
DEFAULT_MAX_FRAME = 64 * 1024 * 1024


class Crash(BaseException):
    """Raise it inside a member (e.g. from a patched method) to kill -9 it right there.

    A BaseException, so the member's own ``except Exception`` does not catch it;
    the cluster catches it, drops the member and records it in ``Cluster.crashes``.
    """


# --- The network ------------------------------------------------------------------------


@dataclass
class Packet:
    """One message in flight, as the wire has it (header and packed body)."""

    src: str
    dst: str
    header: Header
    body: bytes

    def message(self) -> Message:
        return unpack_body(self.header, self.body, 1 << 40)


def _names(x: str | Iterable[str] | None) -> frozenset[str] | None:
    if x is None:
        return None
    return frozenset([x]) if isinstance(x, str) else frozenset(x)


@dataclass(eq=False)
class Rule:
    """What happens to matching messages at the moment they are sent.

    ``action`` is ``drop`` (lost), ``hold`` (kept in :attr:`held` until
    :meth:`Cluster.release`) or ``delay`` (delivered ``delay_s`` cluster
    seconds later). A message matches when every given criterion does:
    ``src``/``dst`` (a name or names), ``kind`` (message classes),
    ``raft_type`` (``RaftMessage.type`` values) and ``when(src, dst, msg)``.
    The first matching rule applies.
    """

    action: str
    src: frozenset[str] | None = None
    dst: frozenset[str] | None = None
    kind: tuple[type, ...] | None = None
    raft_type: frozenset[str] | None = None
    when: Callable[[str, str, Message], bool] | None = None
    delay_s: float = 0.0
    held: list[Packet] = field(default_factory=list)
    matched: int = 0

    def matches(self, src: str, dst: str, msg: Message) -> bool:
        if self.src is not None and src not in self.src:
            return False
        if self.dst is not None and dst not in self.dst:
            return False
        if self.kind is not None and not isinstance(msg, self.kind):
            return False
        if self.raft_type is not None and (not isinstance(msg, RaftMessage) or msg.type not in self.raft_type):
            return False
        return self.when is None or bool(self.when(src, dst, msg))

    def held_messages(self) -> list[Message]:
        return [p.message() for p in self.held]


class _Timer:
    __slots__ = ("args", "cancelled", "deadline", "fn", "interval")

    def __init__(self, deadline: float, interval: float | None, fn: Callable, args: tuple) -> None:
        self.deadline, self.interval, self.fn, self.args = deadline, interval, fn, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _FakeLink:
    """A member's or client's direct link: nothing to connect, the cluster routes by name."""

    def listen(self, host: str, port: int) -> None:
        pass

    def connect(self, *args: Any) -> None:
        pass


class FakeRuntime:
    """What an actor needs from :class:`bus.runtime.Runtime`, on the cluster's clock and queue."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.clock = cluster.clock
        self.settings = BusSettings(max_frame_bytes=cluster.max_frame)
        self.alive = True
        self._pending: dict[int, tuple[Future, _Timer]] = {}
        self._trace_ids = itertools.count(1)

    def direct_link(self) -> _FakeLink:
        return _FakeLink()

    def call_soon(self, fn: Callable, *args: Any) -> None:
        self.cluster._ready.append((self, fn, args))

    def call_later(self, delay_s: float, fn: Callable, *args: Any) -> _Timer:
        return self.cluster._add_timer(self, max(0.0, delay_s), None, fn, args)

    def call_every(self, interval_s: float, fn: Callable, *args: Any) -> _Timer:
        return self.cluster._add_timer(self, interval_s, interval_s, fn, args)

    def _new_trace_id(self) -> str:
        return f"{next(self._trace_ids):032x}"

    def _task_failed(self, task: Task, exc: Exception) -> None:
        self.cluster.task_errors.append((self.name, task.name, exc))

    def _send(self, sender: str, dst: str, msg: Message, *, reply_to: int = 0, wants_reply: bool = False,
              msg_id: int = 0, traceparent: str | None = None) -> int:
        return self.cluster._send(self, sender, dst, msg, reply_to, wants_reply, msg_id)

    def _request(self, actor: Actor, dst: str, msg: Message, timeout_s: float | None,
                 retries: int | None) -> Future:
        """A request with a deadline (no retries: the store client always asks for none)."""
        future = Future()
        msg_id = next(self.cluster._ids)
        timer = self.call_later(self.settings.request_timeout_s if timeout_s is None else timeout_s,
                                self._timed_out, msg_id)
        self._pending[msg_id] = (future, timer)
        try:
            self._send(actor.name, dst, msg, wants_reply=True, msg_id=msg_id)
        except MessageTooLarge:
            del self._pending[msg_id]
            timer.cancel()
            raise
        return future

    def _timed_out(self, msg_id: int) -> None:
        pending = self._pending.pop(msg_id, None)
        if pending is not None:
            pending[0].set_exception(Indeterminate(f"request {msg_id}: no reply"))

    def _take_reply(self, header: Header, msg: Message) -> bool:
        pending = self._pending.pop(header.reply_to, None) if header.reply_to else None
        if pending is None:
            return False
        future, timer = pending
        timer.cancel()
        if isinstance(msg, Error):
            future.set_exception(RemoteError(msg.code, msg.message))
        else:
            future.set_result(msg)
        return True


class ClientAddress:
    """A client that is only an address: it sends requests and keeps whatever arrives for it."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.received: list[tuple[Header, Message]] = []

    def request(self, dst: str, msg: Message) -> int:
        """Send ``msg`` to ``dst`` as a request; returns its id (what the answer's ``reply_to`` names)."""
        return self.cluster._send(None, self.name, dst, msg, 0, True, 0)

    def send(self, dst: str, msg: Message) -> int:
        return self.cluster._send(None, self.name, dst, msg, 0, False, 0)

    def answers(self, request_id: int) -> list[Message]:
        return [m for h, m in self.received if h.reply_to == request_id]

    def answer(self, request_id: int) -> Message | None:
        """The one answer to ``request_id`` (None if none yet; two answers fail the test)."""
        got = self.answers(request_id)
        assert len(got) <= 1, f"request {request_id} answered {len(got)} times: {got}"
        return got[0] if got else None

    def of_type(self, kind: type) -> list[Message]:
        return [m for _, m in self.received if isinstance(m, kind)]


# --- The cluster ------------------------------------------------------------------------


class Cluster:
    """Store members named ``names``, each with a data directory under ``tmp``.

    ``options`` go to every member's :class:`StoreOptions` (``fsync`` is off:
    a killed member's writes are in the page cache, which a kill -9 keeps).
    """

    def __init__(self, tmp: Path, names: Iterable[str] = ("s0", "s1", "s2"), *,
                 max_frame: int = DEFAULT_MAX_FRAME, **options: Any) -> None:
        self.tmp = Path(tmp)
        self.names = list(names)
        self.addresses = {n: ("127.0.0.1", 0) for n in self.names}
        self.max_frame = max_frame
        self.options = options
        self.clock = ManualClock()
        self.members: dict[str, StoreMember] = {}
        self.clients: dict[str, ClientAddress] = {}
        self.actors: dict[str, tuple[Actor, FakeRuntime]] = {}
        self.rules: list[Rule] = []
        self.crashes: list[tuple[str, str]] = []
        self.lost: list[Packet] = []
        """Messages that found nobody at their address (a member that is down)."""
        self.task_errors: list[tuple[str, str, Exception]] = []
        self.too_large: list[tuple[str, str, Message]] = []
        """Sends refused as over the frame limit (sender, destination, message)."""
        self.incarnation = {n: 0 for n in self.names}
        self._ids = itertools.count(1)
        self._queue: deque[Packet] = deque()
        self._delayed: list[tuple[float, int, Packet]] = []
        self._ready: deque[tuple[FakeRuntime, Callable, tuple]] = deque()
        self._timers: list[tuple[float, int, FakeRuntime, _Timer]] = []
        self._seq = itertools.count()
        for n in self.names:
            self.start(n)

    # --- Members ----------------------------------------------------------------------
    def start(self, name: str, seed: int | None = None) -> StoreMember:
        """Start ``name`` from its data directory (a first start, or a restart after :meth:`kill`)."""
        assert name not in self.actors, f"{name} is running"
        i = self.names.index(name)
        if seed is None:
            seed = 1 + i + 100 * self.incarnation[name]
        self.incarnation[name] += 1
        opts = StoreOptions(data_dir=self.tmp / name, fsync=False, seed=seed, **self.options)
        member = StoreMember(name, self.addresses, opts, metrics=StoreMetrics(name, CollectorRegistry()))
        rt = FakeRuntime(self, name)
        member.runtime = rt
        self.members[name] = member
        self.actors[name] = (member, rt)
        self._guard(rt, member.on_start)
        return member

    def kill(self, name: str) -> None:
        """kill -9: the member stops where it is; what it wrote stays on disk, in-flight messages to it are lost."""
        actor, rt = self.actors.pop(name)
        rt.alive = False
        self.members.pop(name, None)
        if isinstance(actor, StoreMember) and actor.wal is not None:
            actor.wal.close()  # the OS closes a killed process's files

    def restart(self, name: str, seed: int | None = None) -> StoreMember:
        if name in self.actors:
            self.kill(name)
        return self.start(name, seed)

    def leader(self) -> StoreMember | None:
        leaders = [m for m in self.members.values() if m.raft.role == "leader"]
        assert len(leaders) <= 1 or len({m.raft.term for m in leaders}) == len(leaders)
        return max(leaders, key=lambda m: m.raft.term) if leaders else None

    def followers(self) -> list[StoreMember]:
        return [m for m in self.members.values() if m.raft.role != "leader"]

    def elect(self, within_s: float = 10.0) -> StoreMember:
        """Run until one leader is known to every running member; returns it."""
        end = self.clock.monotonic() + within_s
        while self.clock.monotonic() < end:
            self.advance(0.1)
            lead = self.leader()
            if lead is not None and all(m.raft.lead == lead.name for m in self.members.values()):
                return lead
        raise AssertionError(f"no leader within {within_s} s")

    # --- Clients ----------------------------------------------------------------------
    def client(self, name: str = "client") -> ClientAddress:
        if name not in self.clients:
            self.clients[name] = ClientAddress(self, name)
        return self.clients[name]

    def add_client(self, actor: Actor) -> Actor:
        """Host a real client actor (e.g. a :class:`StoreClient`) on the cluster's clock and queue."""
        rt = FakeRuntime(self, actor.name)
        actor.runtime = rt
        self.actors[actor.name] = (actor, rt)
        self._guard(rt, actor.on_start)
        return actor

    def call(self, actor: Actor, coro, within_s: float = 30.0) -> Any:
        """Run ``coro`` on ``actor`` (e.g. ``client.put(...)``) until it ends; returns or raises its outcome."""
        outcome: list = []

        async def capture():
            try:
                outcome.append((True, await coro))
            except Exception as exc:  # noqa: BLE001 (any outcome goes back to the caller)
                outcome.append((False, exc))

        Task(actor.runtime, capture(), None, "call")
        end = self.clock.monotonic() + within_s
        self.settle()
        while not outcome and self.clock.monotonic() < end:
            self.advance(0.01)
        assert outcome, f"no outcome within {within_s} s"
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    # --- Faults -----------------------------------------------------------------------
    def rule(self, action: str, *, src: str | Iterable[str] | None = None, dst: str | Iterable[str] | None = None,
             kind: type | tuple[type, ...] | None = None, raft_type: str | Iterable[str] | None = None,
             when: Callable[[str, str, Message], bool] | None = None, delay_s: float = 0.0) -> Rule:
        assert action in ("drop", "hold", "delay"), action
        r = Rule(action, _names(src), _names(dst), (kind if isinstance(kind, tuple) else (kind,)) if kind else None,
                 _names(raft_type), when, delay_s)
        self.rules.append(r)
        return r

    def drop(self, **criteria: Any) -> Rule:
        return self.rule("drop", **criteria)

    def hold(self, **criteria: Any) -> Rule:
        return self.rule("hold", **criteria)

    def delay(self, delay_s: float, **criteria: Any) -> Rule:
        return self.rule("delay", delay_s=delay_s, **criteria)

    def isolate(self, name: str) -> list[Rule]:
        """Cut ``name`` off from the other members (clients still reach it)."""
        others = [n for n in self.names if n != name]
        return [self.drop(src=name, dst=others), self.drop(src=others, dst=name)]

    def remove(self, *rules: Rule) -> None:
        """Stop applying ``rules`` (held messages stay held until :meth:`release`)."""
        for r in rules:
            if r in self.rules:
                self.rules.remove(r)

    def release(self, rule: Rule) -> None:
        """Put the messages ``rule`` held back on the wire, in the order they were sent."""
        self.remove(rule)
        held, rule.held = rule.held, []
        self._queue.extend(held)

    def heal(self) -> None:
        self.rules.clear()

    # --- Sending and delivering -------------------------------------------------------
    def _send(self, rt: FakeRuntime | None, sender: str, dst: str, msg: Message, reply_to: int,
              wants_reply: bool, msg_id: int) -> int:
        body = pack_body(msg)
        if len(body) > self.max_frame:
            self.too_large.append((sender, dst, msg))
            raise MessageTooLarge(f"{msg.KIND} to {dst}: body of {len(body)} bytes > max_frame_bytes "
                                  f"{self.max_frame}")
        msg_id = msg_id or next(self._ids)
        header = Header(msg.KIND, msg_id, reply_to, wants_reply, sender, TRACEPARENT, self.clock.wall())
        packet = Packet(sender, dst, header, body)
        for r in self.rules:
            if r.matches(sender, dst, msg):
                r.matched += 1
                if r.action == "hold":
                    r.held.append(packet)
                elif r.action == "delay":
                    heapq.heappush(self._delayed, (self.clock.monotonic() + r.delay_s, next(self._seq), packet))
                return msg_id  # dropped, held or delayed
        self._queue.append(packet)
        return msg_id

    def inject(self, packet: Packet) -> None:
        """Put a packet (e.g. one held earlier) on the wire now."""
        self._queue.append(packet)

    def _deliver(self, p: Packet) -> None:
        if p.dst in self.clients:
            self.clients[p.dst].received.append((p.header, p.message()))
            return
        target = self.actors.get(p.dst)
        if target is None:
            self.lost.append(p)
            return
        actor, rt = target
        msg = p.message()
        if rt._take_reply(p.header, msg):
            return
        handler = actor._handlers.get(type(msg))
        assert handler is not None, f"{p.dst} has no handler for {msg.KIND}"
        self._guard(rt, handler, actor, msg, Envelope(p.dst, p.header.sender, p.header))

    def _guard(self, rt: FakeRuntime, fn: Callable, *args: Any) -> None:
        """Run ``fn`` for ``rt``'s actor; a :class:`Crash` kills that actor, anything else propagates."""
        if not rt.alive:
            return
        try:
            fn(*args)
        except Crash as crash:
            self.crashes.append((rt.name, str(crash)))
            if rt.name in self.actors:
                self.kill(rt.name)

    def settle(self, limit: int = 1_000_000) -> int:
        """Deliver messages and run ``call_soon`` work until nothing is left (no time passes)."""
        n = 0
        while self._queue or self._ready:
            while self._ready:
                rt, fn, args = self._ready.popleft()
                self._guard(rt, fn, *args)
            if self._queue:
                self._deliver(self._queue.popleft())
                n += 1
                assert n < limit, "messages keep coming: a livelock?"
        return n

    def _add_timer(self, rt: FakeRuntime, delay: float, interval: float | None, fn: Callable,
                   args: tuple) -> _Timer:
        t = _Timer(self.clock.monotonic() + delay, interval, fn, args)
        heapq.heappush(self._timers, (t.deadline, next(self._seq), rt, t))
        return t

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, firing every timer and delayed message on its time."""
        self.settle()
        end = self.clock.monotonic() + seconds
        while True:
            due = min(self._timers[0][0] if self._timers else end, self._delayed[0][0] if self._delayed else end)
            if due > end:
                break
            if due > self.clock.monotonic():
                self.clock.advance(due - self.clock.monotonic())
            now = self.clock.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                self._queue.append(heapq.heappop(self._delayed)[2])
            while self._timers and self._timers[0][0] <= now:
                _, _, rt, t = heapq.heappop(self._timers)
                if t.cancelled or not rt.alive:
                    continue
                if t.interval is not None:
                    t.deadline += t.interval
                    heapq.heappush(self._timers, (t.deadline, next(self._seq), rt, t))
                self._guard(rt, t.fn, *t.args)
                self.settle()
            self.settle()
            if due >= end:
                break
        if end > self.clock.monotonic():
            self.clock.advance(end - self.clock.monotonic())
        self.settle()

    def run_until(self, condition: Callable[[], Any], within_s: float, step_s: float = 0.05) -> Any:
        """Advance in steps of ``step_s`` until ``condition()`` is truthy; fails after ``within_s``."""
        end = self.clock.monotonic() + within_s
        while True:
            value = condition()
            if value:
                return value
            if self.clock.monotonic() >= end:
                raise AssertionError(f"not within {within_s} s of cluster time")
            self.advance(step_s)

    def close(self) -> None:
        for name in list(self.actors):
            actor, _ = self.actors[name]
            if isinstance(actor, StoreMember):
                self.kill(name)
