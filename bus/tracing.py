"""Spans: what each process remembers of the requests it served and made, for following one object's life.

Every message carries a W3C traceparent; a handler's requests, the tasks it
spawns and the timers it sets continue its trace. So one action — the
scheduler binding a pod, a kubelet starting it — is one trace through every
process it touches. Each process keeps the spans of its recent requests in
a bounded ring (:class:`SpanLog`): the *server* side when it answers one
(received → answered), the *client* side when an answer arrives from
another process (sent → answered; a call inside the process, a kubelet's
to its container runtime, has its server span only: the same story, told
once, at half the cost on the busiest path of a hollow node). A message may name the API object it is about
(:meth:`bus.messages.Message.span_object`, e.g. ``pods demo/web-1``).

``kubesim trace pod/NAME`` asks every process for the spans about the pod,
takes the traces they belong to, asks again for every span of those traces,
and prints them in time order: the pod's creation, its binding by the
scheduler, the kubelet's calls to the runtime and its status writes, each
with the processes it crossed and the time each step took. Watch events do
not carry the trace of the write that caused them (the scheduler's bind
starts a trace of its own), so the traces of one object are joined by the
object, as an audit log would be.

Recording costs about a microsecond per span (a tuple and a deque append),
on the loop's thread; queries copy the ring. Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

#: Spans a process keeps: seconds of a busy API server's requests, minutes of a quiet one (~250 bytes each).
DEFAULT_SPANS = 20_000


class Span(NamedTuple):
    """One request, as one side saw it. Times are cluster wall-clock seconds."""

    trace_id: str
    process: str
    actor: str
    """The actor that served the request (server side) or made it (client side)."""
    peer: str
    """The other side: who sent the request (server side), or whom it was sent to (client side)."""
    kind: str
    """The request's message kind."""
    side: str
    """``server`` or ``client``."""
    obj: str
    """The API object the request is about (``pods demo/web-1``), or ""."""
    note: str
    """What was asked, briefly (``create pods/binding``), or ""."""
    start: float
    duration_s: float
    outcome: str
    """The answer's kind (an error reply says so)."""


class SpanLog:
    """The last ``maxlen`` spans of one process.

    Kept as plain tuples of strings and numbers, made into :class:`Span` only when asked for: the collector
    stops tracking such a tuple at its first young collection, so spans that live for thousands of requests
    and then die never reach (and never churn) the old generation, whose full collections on a busy process
    cost far more than the spans themselves.
    """

    def __init__(self, maxlen: int = DEFAULT_SPANS) -> None:
        self._spans: deque[tuple] = deque(maxlen=maxlen)
        self.recorded = 0

    def record(self, span: tuple) -> None:
        """``span``: a :class:`Span`'s fields as a plain tuple (a Span itself works too, tracked)."""
        self._spans.append(span)
        self.recorded += 1

    def __len__(self) -> int:
        return len(self._spans)

    def __iter__(self):
        return iter([Span._make(s) for s in list(self._spans)])

    def query(self, trace_ids: Iterable[str] = (), obj: str = "", limit: int = 5_000) -> list[Span]:
        """The spans of the given traces, and those about ``obj``; oldest first, at most ``limit`` (the newest)."""
        wanted = set(trace_ids)
        found = [s for s in list(self._spans) if s[0] in wanted or (obj and s[6] == obj)]
        return [Span._make(s) for s in found[-limit:]]


#: Verbs that read: a trace made only of reads of the object (a ``kubectl get``) is not part of its life.
READS = frozenset({"get", "list", "watch"})


def changes(spans: Iterable[Span]) -> list[Span]:
    """The spans of requests that changed their object (not a ``get`` or ``list`` of it)."""
    return [s for s in spans if s.note.partition(" ")[0] not in READS]


def belongs_to(span: Span, obj: str) -> bool:
    """Whether ``span`` may be part of ``obj``'s life: it is about ``obj`` or one of its Events, stores one
    of their keys, or names no object (a call to a container runtime). A trace can hold more than one
    object's steps (a kubelet starts the pods of one watch event in one trace); the others' are not shown."""
    resource, _, where = obj.partition(" ")
    if span.obj:
        return span.obj == obj or span.obj.startswith(f"events {where}.")
    _, _, key = span.note.partition("/registry/")
    if key:  # a store write: /registry/<resource>/<namespace>/<name>
        return key == f"{resource}/{where}" or key.startswith(f"events/{where}.")
    return True


def spans_from(wire: Iterable) -> list[Span]:
    """The spans of a ``bus.TraceSpans`` answer (a malformed one is left out)."""
    return [Span(*s) for s in wire if isinstance(s, list) and len(s) == len(Span._fields)]


def story(obj: str, about: list[Span], found: list[Span]) -> list[Span]:
    """``obj``'s life, in order: the spans about it and those of the traces they belong to (``found``), less the
    other objects' steps those traces also hold."""
    return timeline([s for s in about + found if belongs_to(s, obj)])


def trace_ids_of(spans: Iterable[Span]) -> list[str]:
    """The traces ``spans`` belong to, in the order they first appear."""
    return list(dict.fromkeys(s.trace_id for s in spans))


def timeline(spans: Iterable[Span]) -> list[Span]:
    """Spans in the order things happened: by start, a client before the server it called at the same instant."""
    unique = {(s.trace_id, s.process, s.actor, s.peer, s.kind, s.side, s.start): s for s in spans}
    return sorted(unique.values(), key=lambda s: (s.start, s.side != "client", s.process))


def render(spans: list[Span]) -> list[str]:
    """A table of the spans, times relative to the first, one line each."""
    if not spans:
        return []
    t0 = spans[0].start
    rows = [("AT", "PROCESS", "ACTOR", "", "PEER", "STEP", "TOOK", "TRACE")]
    for s in spans:
        arrow = "<-" if s.side == "server" else "->"
        step = s.note or s.kind
        if s.obj:  # "create pods" about "pods demo/web": "create pods demo/web"
            step = f"{step} {s.obj.partition(' ')[2]}" if s.note else f"{step} {s.obj}"
        if s.outcome and s.outcome not in ("ok",):
            step = f"{step} ({s.outcome})"
        rows.append((f"+{(s.start - t0) * 1000:.1f}ms", s.process, s.actor, arrow, s.peer, step,
                     f"{s.duration_s * 1000:.1f}ms", s.trace_id[:8]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
