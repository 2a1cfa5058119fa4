"""How requests end, and the futures, tasks and timers of the runtime's loop.

A request ends with a reply or with one of :class:`RequestFailed`'s kinds:
:class:`Indeterminate` when no reply came before the deadline and the
retries (the request may or may not have taken effect), :class:`UndeliverableError`
when the broker could reach nobody, :class:`RemoteError` when the receiver
answered ``bus.Error``. :class:`Task` drives an ``async`` handler on the
runtime's own loop: awaiting a :class:`Future` parks the coroutine until the
future ends, with no scheduler besides the loop itself.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from bus import logs

if TYPE_CHECKING:
    from bus.runtime.loop import Runtime

# --- Outcomes of requests -------------------------------------------------------


class RequestFailed(Exception):
    """Base of the ways a request can end without a reply."""


class Indeterminate(RequestFailed):
    """No reply before the deadline: the request may or may not have taken effect."""


class UndeliverableError(RequestFailed):
    """The request reached nobody (unknown or dead destination, overloaded peer)."""


class MessageTooLarge(ValueError):
    """An actor tried to send a body larger than ``max_frame_bytes``; nothing was sent."""


class Cancelled(Exception):
    """How a cancelled :class:`Task`'s future ends (see :meth:`Task.cancel`)."""


class RemoteError(RequestFailed):
    """The receiver answered with ``bus.Error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message



# --- Futures and coroutine tasks ------------------------------------------------


class Future:
    """The eventual outcome of a request (or a sleep). Await it in an async handler."""

    __slots__ = ("_done", "_value", "_error", "_callbacks")

    def __init__(self) -> None:
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        assert self._done, "result() of a pending future"
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self) -> BaseException | None:
        return self._error

    def add_done_callback(self, fn: Callable[[Future], None]) -> None:
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def set_result(self, value: Any) -> None:
        self._finish(value, None)

    def set_exception(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, value: Any, error: BaseException | None) -> None:
        assert not self._done, "a future ends once"
        self._done, self._value, self._error = True, value, error
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)

    def __await__(self):
        if not self._done:
            yield self
        return self.result()


class Task:
    """Drives one ``async`` handler on the runtime's loop."""

    __slots__ = ("runtime", "coro", "trace_id", "future", "name", "on_error", "cancelled")

    def __init__(self, runtime: Runtime, coro, trace_id: str | None, name: str,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.runtime = runtime
        self.coro = coro
        self.trace_id = trace_id
        self.name = name
        self.on_error = on_error
        """Called with the exception if the coroutine fails (e.g. to answer the request it handles)."""
        self.future = Future()
        self.cancelled = False
        runtime.call_soon(self._step, None)

    def cancel(self) -> None:
        """Stop the coroutine where it waits, as if its process had died there (a component restarting inside its
        process: see ``Kubelet.restart``): its ``finally`` blocks run, nothing after them does, and what it
        awaited is ignored when it ends. Its future fails with :class:`Cancelled`. A finished task is left as
        it is; a task may not cancel itself."""
        if self.cancelled or self.future.done():
            return
        assert not getattr(self.coro, "cr_running", False), f"{self.name}: a task cannot cancel itself"
        self.cancelled = True
        try:
            self.coro.close()
        except Exception as exc:  # noqa: BLE001 -- a ``finally`` that failed: count it, as a failed task
            self.runtime._task_failed(self, exc)
        self.future.set_exception(Cancelled(f"{self.name}: cancelled"))

    def _step(self, fut: Future | None) -> None:
        if self.cancelled:
            return  # what it awaited ended after all; nobody is waiting any more
        rt = self.runtime
        saved = logs.trace.trace_id
        logs.trace.trace_id = self.trace_id
        try:
            if fut is None:
                awaited = self.coro.send(None)
            elif fut._error is not None:
                awaited = self.coro.throw(fut._error)
            else:
                awaited = self.coro.send(fut._value)
        except StopIteration as stop:
            self.future.set_result(stop.value)
        except AssertionError:
            raise
        except Exception as exc:
            rt._task_failed(self, exc)
            if self.on_error is not None:
                self.on_error(exc)
            self.future.set_exception(exc)
        else:
            if not isinstance(awaited, Future):
                self.coro.close()
                raise TypeError(f"{self.name}: a handler may await only bus futures, got {awaited!r}")
            awaited.add_done_callback(lambda f: rt.call_soon(self._step, f))
        finally:
            logs.trace.trace_id = saved


def _nothing(*_args: Any) -> None:
    """What a cancelled timer would call."""


class Timer:
    """A scheduled call; :meth:`cancel` stops it (and its repeats)."""

    __slots__ = ("deadline", "fn", "args", "interval", "cancelled", "trace_id")

    def __init__(self, deadline: float, fn: Callable, args: tuple, interval: float | None,
                 trace_id: str | None = None) -> None:
        self.deadline = deadline
        self.fn = fn
        self.args = args
        self.interval = interval
        self.cancelled = False
        self.trace_id = trace_id
        """The trace a one-shot timer continues (the one it was set in); a repeating timer starts new ones."""

    def cancel(self) -> None:
        self.cancelled = True
        self.take()

    def take(self) -> tuple[Callable, tuple]:
        """What it calls, let go of by the timer: a one-shot timer that fired or was cancelled keeps nothing
        alive. A cancelled timer waits in the heap until its deadline, and a request and its timer referring
        to each other would be garbage only the cyclic collector finds (thousands a second on a node process)."""
        taken, (self.fn, self.args) = (self.fn, self.args), (_nothing, ())
        return taken


class Lock:
    """A mutex for coroutines on one runtime: ``await lock.acquire()`` ... ``lock.release()``.

    Waiters are served in arrival order, and ownership passes straight to the
    next one, so nobody can overtake a coroutine that was waiting.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[Future] = deque()

    @property
    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        if not self._held:
            self._held = True
            return
        fut = Future()
        self._waiters.append(fut)
        await fut

    def release(self) -> None:
        assert self._held, "release of a lock that is not held"
        if self._waiters:
            self._waiters.popleft().set_result(None)
        else:
            self._held = False
