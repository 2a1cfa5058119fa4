"""The store's client: finds the leader, follows redirects, retries only what is safe.

Any actor that keeps state in the store (the API server, the chaos runner's
register workload, ``kubesim store``) talks through a :class:`StoreClient`.
What it promises about a write:

- **committed** — the call returns the store's answer;
- **not applied** — :class:`StoreUnavailable` or :class:`StoreError`: the write
  certainly did not happen (no leader took it, or it was refused);
- **unknown** — :class:`Indeterminate`: it was sent and no answer came, or the
  member lost track of it. It may have been applied; a caller that needs to
  know reads the key back. It is never reported as failed.

Retries follow from that. A member that says "not the leader" has not
proposed the write, so the client goes where it points (or waits a little
while there is no leader) and tries again; a message that could not be sent
at all is retried on another member; ``proposal_lost`` (another leader's
entry replaced it) is retried. A write that timed out is *not* retried: it
might apply twice. Reads are always safe to retry until the deadline.

:class:`StoreSession` wraps a client in a runtime of its own, for programs
that are not actors (the CLI, tests, benchmarks).
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Callable

from actors.messages import (
    StoreCancelWatch,
    StoreCompact,
    StoreDelete,
    StoreNotLeader,
    StorePut,
    StoreRange,
    StoreStatus,
    StoreStatusReply,
    StoreTransferLeader,
    StoreTxn,
    StoreWatch,
    StoreWatchEvents,
)
from actors.store.member import WATCH_PROGRESS_S
from actors.store.mvcc import Event, KeyValue
from bus.clock import Clock, RealClock
from bus.messages import Message
from bus.runtime import (
    Actor,
    Envelope,
    Indeterminate,
    MessageTooLarge,
    RemoteError,
    Runtime,
    UndeliverableError,
    handles,
)
from bus.settings import BusSettings
from bus.transport.sockets import Security

__all__ = ["Indeterminate", "StoreClient", "StoreError", "StoreSession", "StoreUnavailable", "Watch"]

#: Longest wait between attempts while no member can take a request (an election takes ~1 s).
MAX_PAUSE_S = 0.1
#: Error codes after which the write certainly was not applied and may be sent again.
SAFE_TO_RETRY = frozenset({"proposal_lost", "too_many_requests"})


class StoreError(Exception):
    """The store refused the request (bad request, compacted revision...); nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class StoreUnavailable(Exception):
    """No member could take the request before the deadline; a write was certainly not applied."""


class StoreClient(Actor):
    """Requests to the store's members, from inside an actor runtime (``await client.put(...)``)."""

    def __init__(self, name: str, members: dict[str, tuple[str, int]], *, timeout_s: float = 5.0,
                 deadline_s: float = 15.0, server_keys: dict[str, bytes] | None = None) -> None:
        super().__init__(name)
        self.members = dict(members)
        self.timeout_s = timeout_s
        """Deadline of one attempt (cluster seconds)."""
        self.deadline_s = deadline_s
        """Deadline of a whole call, retries included."""
        self.leader: str | None = None
        self._server_keys = server_keys or {}
        self._order = sorted(self.members)
        self._next = itertools.count()
        self._watches: dict[str, Watch] = {}
        self._watch_ids = itertools.count(1)

    def on_start(self) -> None:
        link = self.runtime.direct_link()
        for name, (host, port) in sorted(self.members.items()):
            link.connect([name], host, port, self._server_keys.get(name))
        self.call_every(WATCH_PROGRESS_S, self._renew_watches)

    # --- Key-value calls --------------------------------------------------------
    async def put(self, key: bytes, value: bytes, prev_kv: bool = False) -> dict:
        return (await self._call(StorePut(key, value, prev_kv), write=True)).body

    async def get(self, key: bytes, range_end: bytes = b"", *, revision: int = 0, limit: int = 0,
                  keys_only: bool = False, count_only: bool = False, serializable: bool = False) -> dict:
        """A range read; linearizable unless ``serializable`` (then any member answers from its state)."""
        msg = StoreRange(key, range_end, revision, limit, keys_only, count_only, serializable)
        body = (await self._call(msg, write=False)).body
        body["kvs"] = [KeyValue(*kv) for kv in body.get("kvs", [])]
        return body

    async def delete(self, key: bytes, range_end: bytes = b"", prev_kv: bool = False) -> dict:
        return (await self._call(StoreDelete(key, range_end, prev_kv), write=True)).body

    async def txn(self, compare: list[dict], success: list[dict], failure: list[dict] | None = None) -> dict:
        return (await self._call(StoreTxn(compare, success, failure or []), write=True)).body

    async def compact(self, revision: int) -> dict:
        return (await self._call(StoreCompact(revision), write=True)).body

    async def status(self, member: str, timeout_s: float = 1.0) -> StoreStatusReply:
        """One member's own view; raises :class:`StoreUnavailable` if it does not answer in ``timeout_s``."""
        deadline = self.clock.monotonic() + timeout_s
        while True:
            remaining = deadline - self.clock.monotonic()
            try:
                return await self.request(member, StoreStatus(), timeout_s=max(remaining, 0.001), retries=0)
            except Indeterminate as exc:
                raise StoreUnavailable(f"{member}: {exc}") from None
            except UndeliverableError as exc:
                # Not connected (yet, or any more): a new connection takes a moment to come up.
                if remaining < 0.05:
                    raise StoreUnavailable(f"{member}: {exc}") from None
                await self.sleep(0.02)

    async def transfer_leader(self, to: str) -> StoreStatusReply:
        return await self._call(StoreTransferLeader(to), write=True)

    async def _call(self, msg: Message, write: bool) -> Any:
        """Send ``msg`` where it can be served, retrying what is safe, until an answer or the deadline."""
        clock = self.clock
        deadline = clock.monotonic() + self.deadline_s
        target = self.leader or self._rotate()
        pause = 0.01
        last = "no member answered"
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise StoreUnavailable(f"{msg.KIND}: {last} within {self.deadline_s:g} s")
            try:
                reply = await self.request(target, msg, timeout_s=min(self.timeout_s, remaining), retries=0)
            except MessageTooLarge as exc:
                raise StoreError("request_too_large", str(exc)) from None  # nothing was sent
            except UndeliverableError as exc:
                last = f"{target}: {exc}"  # never sent: any member may have it
                if target == self.leader:
                    self.leader = None
                target = self._rotate(avoid=target)
                await self.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_S)
                continue
            except Indeterminate as exc:
                if write:
                    self.leader = None
                    raise Indeterminate(f"{msg.KIND} sent to {target}; no answer: {exc}") from None
                last = f"{target}: no answer"
                target = self._rotate(avoid=target)
                continue
            except RemoteError as exc:
                if exc.code == "indeterminate":
                    raise Indeterminate(f"{msg.KIND} at {target}: {exc}") from None
                if exc.code not in SAFE_TO_RETRY:
                    raise StoreError(exc.code, str(exc).split(": ", 1)[-1]) from None
                last = f"{target}: {exc.code}"
                await self.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_S)
                continue
            if isinstance(reply, StoreNotLeader):
                last = f"{target}: not the leader (term {reply.term})"
                if reply.leader in self.members and reply.leader != target:
                    target = reply.leader  # a redirect: go at once
                else:
                    target = self._rotate(avoid=target)
                    await self.sleep(pause)  # an election is under way
                    pause = min(pause * 2, MAX_PAUSE_S)
                continue
            if write:
                self.leader = target
            return reply

    def _rotate(self, avoid: str | None = None) -> str:
        for _ in range(len(self._order)):
            name = self._order[next(self._next) % len(self._order)]
            if name != avoid:
                return name
        return self._order[0]

    # --- Watches ----------------------------------------------------------------
    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0, prev_kv: bool = False,
              on_events: Callable[[list[Event], int], None], on_end: Callable[[str], None] | None = None,
              on_progress: Callable[[int], None] | None = None) -> Watch:
        """Every change to the keys from ``start_revision`` on (0: from now), in order, with no gaps.

        ``on_events(events, revision)`` gets each batch; a lost message, a
        member that dies or a member that stops answering makes the watch
        resume, on another member if need be, from the revision after the last
        one seen. ``on_end(reason)`` is called if it cannot go on (the
        revision it needs was compacted) or is cancelled. ``on_progress(revision)``
        hears the member's progress notices: every change up to ``revision`` has been reported.
        """
        w = Watch(self, key, range_end, prev_kv, on_events, on_end, start_revision)
        w.on_progress = on_progress
        self._start_watch(w, self.leader or self._rotate())
        return w

    def _start_watch(self, w: Watch, member: str) -> None:
        self._watches.pop(w.watch_id, None)
        w.watch_id = f"w{next(self._watch_ids)}"
        w.member, w.seq, w.heard = member, 0, self.clock.monotonic()
        self._watches[w.watch_id] = w
        start = max(w.revision + 1, w.start_revision) if w.revision else w.start_revision
        self.send(member, StoreWatch(w.watch_id, w.key, w.range_end, start, w.prev_kv))

    @handles(StoreWatchEvents)
    def on_watch_events(self, msg: StoreWatchEvents, env: Envelope) -> None:
        w = self._watches.get(msg.watch_id)
        if w is None or env.sender != w.member:
            return  # an old stream's stragglers
        w.heard = self.clock.monotonic()
        if msg.seq != w.seq + 1:
            self._start_watch(w, w.member)  # a message was lost: resume from what we have
            return
        w.seq = msg.seq
        if msg.canceled:
            if msg.canceled.startswith(("compacted", "canceled", "too large")):  # no member can do better
                self._watches.pop(w.watch_id, None)
                if w.on_end is not None:
                    w.on_end(msg.canceled)
            else:
                self._start_watch(w, self._rotate(avoid=w.member))
            return
        # The member vouches that every change up to msg.revision has been reported: a resumed
        # watch starts after it, not after the last event (which, for a quiet key range, may be
        # long compacted away).
        vouched = msg.revision if msg.revision >= w.start_revision - 1 else 0
        if msg.events:
            events = [Event(t, KeyValue(*kv), KeyValue(*prev) if prev else None) for t, kv, prev in msg.events]
            w.revision = max(w.revision, events[-1].kv.mod_revision, vouched)
            w.on_events(events, msg.revision)
        else:
            w.revision = max(w.revision, vouched)
            if w.on_progress is not None:
                w.on_progress(msg.revision)

    def _renew_watches(self) -> None:
        now = self.clock.monotonic()
        for w in list(self._watches.values()):
            if now - w.heard > 2.5 * WATCH_PROGRESS_S:
                self.log.info("watch silent; resuming elsewhere", member=w.member, revision=w.revision)
                self._start_watch(w, self._rotate(avoid=w.member))
            else:
                self.send(w.member, StoreWatch(w.watch_id, w.key, w.range_end, 0, w.prev_kv, renew=True))

    def _cancel(self, w: Watch) -> None:
        if self._watches.pop(w.watch_id, None) is not None:
            self.send(w.member, StoreCancelWatch(w.watch_id))


class Watch:
    """A running watch; :meth:`cancel` ends it."""

    def __init__(self, client: StoreClient, key: bytes, range_end: bytes, prev_kv: bool,
                 on_events: Callable[[list[Event], int], None], on_end: Callable[[str], None] | None,
                 start_revision: int) -> None:
        self.client = client
        self.key, self.range_end, self.prev_kv = key, range_end, prev_kv
        self.on_events, self.on_end = on_events, on_end
        self.on_progress: Callable[[int], None] | None = None
        self.start_revision = start_revision
        self.revision = 0
        """The revision of the last event delivered (where a resumed watch starts after)."""
        self.watch_id = ""
        self.member = ""
        self.seq = 0
        self.heard = 0.0

    def cancel(self) -> None:
        self.client._cancel(self)


class StoreSession:
    """A runtime of its own holding one :class:`StoreClient`, driven from ordinary code.

    ``session.run(session.client.put(b"k", b"v"))`` runs the loop until the
    call ends and returns its result (or raises what it raised).
    """

    def __init__(self, members: dict[str, tuple[str, int]], *, settings: BusSettings | None = None,
                 clock: Clock | None = None, security: Security = Security(), name: str | None = None,
                 timeout_s: float = 5.0, deadline_s: float = 15.0,
                 server_keys: dict[str, bytes] | None = None) -> None:
        name = name or f"store-client-{os.getpid()}-{os.urandom(3).hex()}"
        settings = settings or BusSettings(max_frame_bytes=64 * 1024 * 1024)
        self.runtime = Runtime(name, settings, clock or RealClock(), security=security, standalone=True)
        self.client = StoreClient(name, members, timeout_s=timeout_s, deadline_s=deadline_s,
                                  server_keys=server_keys)
        self.runtime.add(self.client)
        self.runtime.start()
        self._unstarted: set = set()
        """Calls started but not yet run by the loop: closed on close(), not left to warn."""

    def run(self, coro, timeout_s: float = 60.0) -> Any:
        outcome: list = []
        self.start(coro, lambda ok, value: outcome.append((ok, value)))
        if not self.runtime.run_until(lambda: bool(outcome), timeout_s):
            raise TimeoutError(f"no result within {timeout_s:g} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def start(self, coro, done: Callable[[bool, Any], None]) -> None:
        """Start a call; ``done(True, result)`` or ``done(False, exception)`` runs on this loop when it ends."""

        async def capture():
            self._unstarted.discard(coro)
            self._unstarted.discard(wrapper)
            try:
                result = await coro
            except Exception as exc:  # an expected outcome here (Indeterminate...), not a crash to log
                done(False, exc)
            else:
                done(True, result)

        wrapper = capture()
        self._unstarted.update((coro, wrapper))
        self.client.spawn(wrapper)

    def poll(self, timeout_s: float) -> None:
        """Run the loop once (for callers that drive many calls at a time)."""
        self.runtime.run_once(timeout_s)

    def close(self) -> None:
        self.runtime.shutdown()
        for coro in self._unstarted:
            coro.close()
        self._unstarted.clear()

    def __enter__(self) -> StoreSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
