"""Message kinds: data, declared once, looked up by kind.

Every message on the bus is a frozen, slotted dataclass registered here under
a dotted *kind* string (``bus.Register``, ``demo.Ping``). The codec
(:mod:`bus.codec`) is the only place that turns bytes into these objects; it
uses :func:`lookup` and the per-kind field table that :func:`message` builds
when a class is declared, so a body whose fields are missing, extra or of the
wrong type is rejected before any handler sees it.

Component message kinds live in the ``actors`` layer and register themselves
with the same decorator; this module holds the kinds the bus itself speaks
(registration, heartbeats, routing errors, fault rules) and the protocol
constants.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, TypeVar, Union

# --- Protocol constants -------------------------------------------------------

#: The address (``dst`` frame) of the broker itself.
BROKER = "broker"
BROKER_B = BROKER.encode()

#: Parts of the envelope a peer sends: [dst, header, body] (see bus.codec.seal).
PEER_PARTS = 3
#: Parts of the envelope a peer receives: [sender identity stamped by the broker, dst, header, body].
DELIVERED_PARTS = 4
#: Bytes an envelope may add to its body: the header, two names and their lengths.
ENVELOPE_SLACK_BYTES = 8 * 1024

#: Kind of a frame that carries several messages for one destination (see bus.codec).
BATCH_KIND = "bus.Batch"
#: Most messages one batch may carry; a receiver rejects a larger one.
MAX_BATCH = 1024
#: Bytes a batch may add to ``max_frame_bytes`` for its own framing.
BATCH_SLACK_BYTES = 64 * 1024

#: Largest header accepted, in bytes; a header is a handful of short fields.
MAX_HEADER_BYTES = 4096
#: Longest actor name accepted in a ``dst`` frame.
MAX_NAME_BYTES = 253
#: Most actors one process may register (a hollow node hosts thousands of kubelets).
MAX_ACTORS_PER_PEER = 100_000


class Message:
    """Base of every message kind; subclasses are made by :func:`message`."""

    __slots__ = ()
    KIND: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]
    TYPES: ClassVar[tuple[tuple[type, ...] | None, ...]]

    def span_object(self) -> str:
        """The API object a request is about, as ``pods demo/web-1`` (see :mod:`bus.tracing`); "" if none."""
        return ""

    def span_note(self) -> str:
        """What a request asks, briefly, for its span (``create pods/binding``); "" to show the kind."""
        return ""


M = TypeVar("M", bound=type)

_REGISTRY: dict[str, type[Message]] = {}


def message(kind: str):
    """Declare a message kind: ``@message("demo.Ping") class Ping: ...``.

    Makes the class a frozen slotted dataclass, records its field names and
    the Python types each field accepts, and registers it under ``kind``.
    """

    def register(cls: M) -> M:
        if kind in _REGISTRY:
            raise ValueError(f"message kind {kind!r} is declared twice")
        ns = dict(cls.__dict__)
        ns.pop("__dict__", None)
        ns.pop("__weakref__", None)
        new = type(cls.__name__, (Message,), ns)
        new = dataclasses.dataclass(frozen=True, slots=True)(new)
        hints = typing.get_type_hints(new)
        fields = dataclasses.fields(new)
        new.KIND = kind
        new.FIELDS = tuple(f.name for f in fields)
        new.TYPES = tuple(_accepted_types(hints[f.name], new, f.name) for f in fields)
        _REGISTRY[kind] = new
        return new  # type: ignore[return-value]

    return register


def lookup(kind: str) -> type[Message] | None:
    """The class registered for ``kind``, or None if nobody declared it."""
    return _REGISTRY.get(kind)


def kinds() -> list[str]:
    """Every registered kind, sorted (for docs and metrics)."""
    return sorted(_REGISTRY)


def _accepted_types(hint: Any, cls: type, name: str) -> tuple[type, ...] | None:
    """Python types a decoded value may have for a field annotated ``hint``.

    None means "anything" (``Any``). Only what msgpack can carry is allowed
    in a message; anything else is a mistake in the declaration.
    """
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(hint):
            accepted = _accepted_types(arg, cls, name)
            if accepted is None:
                return None
            out.extend(accepted)
        return tuple(dict.fromkeys(out))
    base = origin or hint
    if base is type(None):
        return (type(None),)
    if base is float:
        return (float, int)
    if base in (str, int, bool, bytes, list, dict):
        return (base,)
    if base is tuple:
        return (list, tuple)
    raise TypeError(f"{cls.__name__}.{name}: type {hint!r} cannot travel on the bus")


# --- Bus kinds ----------------------------------------------------------------


@message("bus.Register")
class Register:
    """A peer process announces itself and the actors it hosts."""

    peer: str
    """The process's name, e.g. ``node-1``."""
    actors: list
    """Names of the actors this process hosts; the broker routes them here."""
    pid: int
    """OS process id, for people reading the registry."""


@message("bus.Registered")
class Registered:
    """The broker's answer to :class:`Register`."""

    identity: str
    """Who the broker believes the peer is (from its CURVE key when on)."""
    heartbeat_interval_s: float
    """How often the broker expects traffic, in real seconds."""
    refused: list
    """Actor names not routed here: a live peer of another identity holds them."""


@message("bus.Heartbeat")
class Heartbeat:
    """Sent when there is no other traffic, in both directions."""


@message("bus.Reregister")
class Reregister:
    """The broker does not know this connection: register again."""

    reason: str
    """Why the broker asks (restarted, declared dead, ...)."""


@message("bus.Undeliverable")
class Undeliverable:
    """The broker could not deliver a message; sent back to its sender."""

    dst: str
    """The destination that was asked for."""
    reason: str
    """``unknown_dst`` (nobody registered it; a dead peer's names are dropped),
    ``overloaded`` (the peer's pipe is full), ``unreachable`` (its connection is gone) or
    ``unregistered`` (the sender itself is not registered: the broker restarted or forgot it)."""


@message("bus.Error")
class Error:
    """A request failed at the receiver; the reply to it."""

    code: str
    """A short machine-readable reason, e.g. ``handler_failed``, ``bad_request``."""
    message: str
    """What went wrong, for a person."""


@message("bus.SetFaults")
class SetFaults:
    """Replace a process's fault rules (see :mod:`bus.faults`)."""

    rules: list
    """Rule dicts as :func:`bus.faults.FaultRule.from_dict` reads them."""
    seed: int | None = None
    """Reseed the fault generator, so a schedule can be replayed."""


@message("bus.ClearFaults")
class ClearFaults:
    """Remove every fault rule of a process."""


@message("bus.FaultsState")
class FaultsState:
    """The rules in force after a SetFaults/ClearFaults."""

    rules: list
    """The rules as dicts."""


@message("bus.SetClockSkew")
class SetClockSkew:
    """Set how far a process's wall clock is off (seconds, either sign; 0 heals it). Chaos's clock skew."""

    skew_s: float


@message("bus.ClockState")
class ClockState:
    """A process's wall clock after a :class:`SetClockSkew`."""

    skew_s: float
    wall: float


@message("bus.TraceQuery")
class TraceQuery:
    """Ask a process (its ``<process>.bus``) for the spans it keeps: those of ``trace_ids``, and those about
    ``obj`` (``pods demo/web-1``); see :mod:`bus.tracing`."""

    trace_ids: list
    obj: str = ""
    limit: int = 2000


@message("bus.TraceSpans")
class TraceSpans:
    """The spans a :class:`TraceQuery` found, oldest first: each a list of :class:`bus.tracing.Span`'s fields."""

    spans: list
    process: str = ""


@message("bus.Unregister")
class Unregister:
    """A peer that is shutting down cleanly; the broker drops its routes now."""


# --- Logs and the message flow (the logging and dashboard add-ons) -----------


@message("logs.Push")
class LogPush:
    """A process's log shipper hands the log collector the lines it gathered (see :mod:`bus.logship`).

    At least once: a batch whose answer is lost is sent again, and the collector drops a batch it has
    (by ``shipper`` and ``batch``)."""

    shipper: str
    """Who ships: the process's name and this run of it (``node-1@4711-1763860000``)."""
    batch: int
    """This batch's number, from 1, per shipper."""
    entries: list
    """Each line as a list of :data:`bus.logship.ENTRY_FIELDS`."""
    dropped: int = 0
    """Lines the shipper had to drop since its last batch (its buffer was full)."""


@message("logs.Pushed")
class LogPushed:
    """The collector has the batch."""

    batch: int


@message("logs.Pull")
class LogPull:
    """The collector fetches the lines of a process that is not on the broker's bus (a store member), over a
    direct link to it: the answer is a ``logs.Push`` (``batch`` 0 and no entries when it has none)."""

    ack: int = 0
    """The last batch the collector took from this process: it may forget that one and those before."""
    shipper: str = ""
    """Which run of the process ``ack`` is about (a restarted process numbers its batches from 1 again)."""


@message("bus.FlowQuery")
class FlowQuery:
    """Ask the broker's process (``<broker>.bus``) for the messages it routed lately, one in ``every``
    sampled (see :mod:`bus.flowtap`); asking turns the sampling on, and it stops when nobody has asked for a while."""

    after: int = 0
    """The sequence number of the last sample already seen (0: the newest few)."""


@message("bus.FlowSample")
class FlowSample:
    messages: list
    """``[seq, wall time, from process, to process, kind]`` each, oldest first."""
    every: int
    """One message in ``every`` is sampled."""
    last: int
    """The newest sample's sequence number (ask ``after`` it next)."""
