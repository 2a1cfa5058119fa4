"""The wire format: the only module that turns messages into bytes and back.

A message travels as the parts::

    peer -> broker:   [dst, header, body]
    broker -> peer:   [sender, dst, header, body]

sealed into one ZeroMQ frame (an *envelope*: each part but the last behind
its length, see :func:`seal`). One frame, not a multipart message, because
libzmq aborts the process when a DEALER with ``IMMEDIATE`` loses its
connection while the application is between the parts of a message it is
reading (``Assertion failed: !_more (src/fq.cpp:80)``, libzmq #3485), and
silently drops the retry of a multipart send cut short the same way; a
single frame is always read or written whole. The broker reads only ``dst``
and relays a peer's envelope by sealing the sender in front of it.

``dst`` is the destination actor's name as raw UTF-8 bytes, so the broker
routes without decoding anything. ``sender`` is added by the broker: the
identity it authenticated the sending connection as (from its CURVE key when
CURVE is on), never what the sender claims. ``header`` is a small msgpack
map::

    {"k": kind, "i": msg id, "r": reply-to id (0 = none), "q": wants a reply,
     "s": sending actor, "t": W3C traceparent, "at": sent-at (cluster epoch s)}

``body`` is a msgpack map of the message's fields.

Messages that one process sends to the same destination back to back within
one turn of its loop travel as one *batch*: the same three parts, with a
header of kind ``bus.Batch`` and a body that is a msgpack array of the
messages' own header and body frames, ``[h1, b1, h2, b2, ...]``. The broker
routes a batch like any message (it never looks inside); the receiver
unpacks it and handles each message as if it had come alone. Batching is
where the bus's throughput comes from: the per-frame cost of ZeroMQ is paid
once per batch, not once per message.

Anything that does not
decode, names an unknown kind, or carries fields of the wrong name or type
raises :class:`Rejected` with a reason label for
``kubesim_bus_rejected_frames_total{reason}`` and a detail for the log.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack

from bus.messages import (
    BATCH_KIND,
    MAX_BATCH,
    MAX_HEADER_BYTES,
    MAX_NAME_BYTES,
    Message,
    lookup,
)

#: Longest detail a rejection carries: details reach logs and error replies,
#: and a peer must not be able to make them large.
MAX_DETAIL_CHARS = 300

_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


class Rejected(Exception):
    """A frame that cannot be accepted. ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS] + "…"
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_LENGTH = struct.Struct("<I")


def seal(*parts: bytes) -> bytes:
    """One frame carrying ``parts``: each part but the last behind its length (4 bytes, little-endian)."""
    pack = _LENGTH.pack
    out = []
    for part in parts[:-1]:
        out.append(pack(len(part)))
        out.append(part)
    out.append(parts[-1])
    return b"".join(out)


def unseal(frame: bytes, count: int) -> list[bytes]:
    """The ``count`` parts of an envelope made by :func:`seal`; raises :class:`Rejected`."""
    parts = []
    pos, end = 0, len(frame)
    unpack = _LENGTH.unpack_from
    for i in range(count - 1):
        if pos + 4 > end:
            raise Rejected("bad_envelope", f"an envelope of {end} bytes ends before part {i + 1} of {count}")
        (size,) = unpack(frame, pos)
        pos += 4
        if pos + size > end:
            raise Rejected("bad_envelope", f"part {i + 1} of {count} claims {size} bytes; "
                                           f"{end - pos} are left in the envelope")
        parts.append(frame[pos:pos + size])
        pos += size
    parts.append(frame[pos:])
    return parts


def first_part(frame: bytes) -> bytes:
    """An envelope's first part alone (the broker routes on ``dst`` without copying the rest)."""
    if len(frame) < 4:
        raise Rejected("bad_envelope", f"an envelope of {len(frame)} bytes has no first part")
    (size,) = _LENGTH.unpack_from(frame, 0)
    if 4 + size > len(frame):
        raise Rejected("bad_envelope", f"the first part claims {size} bytes; {len(frame) - 4} are in the envelope")
    return frame[4:4 + size]


@dataclass(slots=True)
class Header:
    """The decoded header frame."""

    kind: str
    """Registered message kind, e.g. ``demo.Ping``."""
    id: int
    """Sender-unique message id (per process); replies point back to it."""
    reply_to: int
    """Id of the request this answers; 0 when it is not a reply."""
    wants_reply: bool
    """The sender waits for an answer (so failures are answered with an error)."""
    sender: str
    """Name of the sending actor, as the sender states it."""
    traceparent: str
    """W3C trace context: ``00-<trace id>-<parent span id>-01``."""
    sent_at: float
    """When it was sent, in cluster epoch seconds."""
    size: int = field(default=0, compare=False)
    """Bytes of the header frame (for metrics)."""

    @property
    def trace_id(self) -> str:
        return self.traceparent[3:35]


#: (wire key, Header attribute, accepted types) for every header field.
_HEADER_TYPES = (
    ("k", "kind", (str,)), ("i", "id", (int,)), ("r", "reply_to", (int,)), ("q", "wants_reply", (bool,)),
    ("s", "sender", (str,)), ("t", "traceparent", (str,)), ("at", "sent_at", (float, int)),
)

_packer = msgpack.Packer(use_bin_type=True)
_pack = _packer.pack


def pack_header(kind: str, msg_id: int, reply_to: int, wants_reply: bool, sender: str, traceparent: str,
                sent_at: float) -> bytes:
    return _pack({"k": kind, "i": msg_id, "r": reply_to, "q": wants_reply, "s": sender, "t": traceparent,
                  "at": sent_at})


def pack_body(msg: Message) -> bytes:
    return _pack({name: getattr(msg, name) for name in msg.FIELDS})


def pack_value(value: Any) -> bytes:
    """Encode plain data (dicts, lists, strings, numbers) for local control sockets."""
    return _pack(value)


def _unpack(frame: bytes, max_bytes: int, reason: str, what: str) -> Any:
    """msgpack-decode one frame of at most ``max_bytes``; raises :class:`Rejected`."""
    if len(frame) > max_bytes:
        raise Rejected("oversize", f"{what} of {len(frame)} bytes > limit {max_bytes}")
    try:
        return msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise Rejected(reason, f"{what} is not msgpack: {exc}") from None


def unpack_value(data: bytes, max_bytes: int) -> Any:
    """Decode plain data written by :func:`pack_value`; raises :class:`Rejected`."""
    return _unpack(data, max_bytes, "bad_frame", "frame")


def unpack_header(frame: bytes) -> Header:
    h = _unpack(frame, MAX_HEADER_BYTES, "bad_header", "header")
    if type(h) is not dict:
        raise Rejected("bad_header", f"header is a {type(h).__name__}, not a map")
    try:
        header = Header(h["k"], h["i"], h["r"], h["q"], h["s"], h["t"], h["at"])
    except KeyError as exc:
        raise Rejected("bad_header", f"header lacks field {exc.args[0]!r}") from None
    if not (
        type(header.kind) is str
        and type(header.id) is int
        and type(header.reply_to) is int
        and type(header.wants_reply) is bool
        and type(header.sender) is str
        and type(header.traceparent) is str
        and type(header.sent_at) in (float, int)
    ):
        raise Rejected("bad_header", _wrong_header_field(header))
    if _TRACEPARENT.fullmatch(header.traceparent) is None:
        raise Rejected("bad_header", f"header field 't' is not a W3C traceparent: {header.traceparent!r:.80}")
    header.size = len(frame)
    return header


def _wrong_header_field(header: Header) -> str:
    """Name the first mistyped header field (the slow path of :func:`unpack_header`)."""
    for key, name, accepted in _HEADER_TYPES:
        value = getattr(header, name)
        if type(value) not in accepted:
            return (f"header field {key!r} ({name}) has the wrong type: {value!r:.60} is a "
                    f"{type(value).__name__}, expected {' or '.join(t.__name__ for t in accepted)}")
    raise AssertionError("called for a header with no mistyped field")


def pack_batch_header(msg_id: int, sender: str, traceparent: str, sent_at: float) -> bytes:
    return pack_header(BATCH_KIND, msg_id, 0, False, sender, traceparent, sent_at)


def pack_batch(frames: list[bytes]) -> bytes:
    """The body of a batch: the messages' header and body frames, alternating."""
    return _pack(frames)


def unpack_batch(frame: bytes, max_bytes: int) -> list[bytes]:
    """The header and body frames inside a batch body; raises :class:`Rejected`."""
    frames = _unpack(frame, max_bytes, "bad_batch", "batch body")
    if type(frames) is not list or len(frames) % 2 or not all(type(f) is bytes for f in frames):
        raise Rejected("bad_batch", "a batch body is an array of header and body frames (bytes), in pairs")
    if len(frames) > 2 * MAX_BATCH:
        raise Rejected("bad_batch", f"a batch of {len(frames) // 2} messages (at most {MAX_BATCH})")
    return frames


def unpack_body(header: Header, frame: bytes, max_bytes: int) -> Message:
    """Decode a body for ``header.kind``; raises :class:`Rejected`."""
    cls = lookup(header.kind)
    if cls is None:
        raise Rejected("unknown_kind", f"no message kind {header.kind!r}")
    fields = _unpack(frame, max_bytes, "bad_body", f"{header.kind} body")
    if type(fields) is not dict:
        raise Rejected("bad_body", f"{header.kind} body is a {type(fields).__name__}, not a map")
    for name, accepted in zip(cls.FIELDS, cls.TYPES):
        # Exact types: msgpack gives exactly these, and a bool must not pass for an int.
        if accepted is not None and name in fields and type(fields[name]) not in accepted:
            raise Rejected(
                "bad_body",
                f"{header.kind}.{name} is a {type(fields[name]).__name__}, "
                f"expected {' or '.join(t.__name__ for t in accepted)}",
            )
    try:
        return cls(**fields)
    except TypeError as exc:
        raise Rejected("bad_body", f"{header.kind}: {exc}") from None


def check_name(frame: bytes) -> str:
    """Decode a ``dst`` frame; raises :class:`Rejected`."""
    if not frame or len(frame) > MAX_NAME_BYTES:
        raise Rejected("bad_dst", f"destination of {len(frame)} bytes (1..{MAX_NAME_BYTES} allowed)")
    try:
        return frame.decode()
    except UnicodeDecodeError:
        raise Rejected("bad_dst", f"destination is not UTF-8: {frame[:40]!r}") from None
