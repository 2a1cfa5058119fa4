"""The actor runtime: one event loop per process, hosting any number of actors.

- :mod:`bus.runtime.actor` — ``Actor``, ``@handles``, ``Envelope``, the per-process ``BusControl``;
- :mod:`bus.runtime.futures` — how requests end, ``Future``, ``Task``, ``Timer``;
- :mod:`bus.runtime.loop` — ``Runtime``: the loop, sending, requests, dispatch, faults;
- :mod:`bus.runtime.peer_link` / :mod:`bus.runtime.broker_link` — the two kinds of socket a process has.

With :mod:`bus.transport`, this package is the only place that touches ZeroMQ.
"""

from bus.runtime.actor import Actor, BusControl, Envelope, handles
from bus.runtime.futures import (
    Cancelled,
    Future,
    Indeterminate,
    Lock,
    MessageTooLarge,
    RemoteError,
    RequestFailed,
    Task,
    Timer,
    UndeliverableError,
)
from bus.runtime.loop import Runtime

__all__ = [
    "Actor", "BusControl", "Cancelled", "Envelope", "Future", "Indeterminate", "Lock", "MessageTooLarge",
    "RemoteError", "RequestFailed", "Runtime", "Task", "Timer", "UndeliverableError", "handles",
]
