"""Kubernetes protobuf request bodies, decoded into the JSON kubectl would have sent.

kubectl's typed clients (``kubectl create deployment|namespace|configmap|
secret|service|serviceaccount|job|cronjob``, ``kubectl auth can-i``, the
pods ``kubectl debug`` creates) do not send JSON: client-go gives built-in
kinds ``Content-Type: application/vnd.kubernetes.protobuf``, and
kube-apiserver accepts it. (``run``, ``expose``, ``apply``, ``create -f``,
``replace``, ``drain``'s evictions and every patch stay JSON.) Their
``Accept`` is ``application/vnd.kubernetes.protobuf,application/json``, so
the answer may stay JSON (client-go decodes a response by its own
``Content-Type``); only the request body has to be understood.

Such a body is the magic ``k8s\\x00`` and a ``runtime.Unknown`` message:
the object's ``apiVersion`` and ``kind`` (its ``TypeMeta``), and ``raw``, the
object's own proto2 message as generated from the Go types. This module
turns that into exactly the dict Go's ``encoding/json`` makes of the same
object, so the rest of the API server sees what a JSON client would have
sent: Kubernetes' camelCase names, ``omitempty`` honoured, pointers present
only when set, non-pointer structs always present (``resources: {}``,
``status: {}``, ``creationTimestamp: null``), quantities, int-or-strings,
times and ``[]byte`` (base64) in their JSON forms.

The wire carries numbers, not names, so decoding needs every message's
field numbers: :data:`MESSAGES` is kubesim's own table of them, for
Kubernetes 1.32, covering every field of every message reachable from the
kinds in :data:`KINDS`. Anything else is refused loudly, never dropped: a
field number the table does not know, a kind it does not decode, or
malformed wire data raise :class:`ProtobufError`, naming the message, field
and byte offset, with ``unsupported`` telling "kubesim does not decode
this" (the client may send JSON instead) from "this is not valid protobuf".

Pure: bytes in, a JSON-able dict or a :class:`ProtobufError` out.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["CONTENT_TYPE", "KINDS", "MAGIC", "MESSAGES", "ProtobufError", "decode", "is_protobuf"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
"""The media type of a Kubernetes protobuf body."""

MAGIC = b"k8s\x00"
"""What every Kubernetes protobuf body starts with (apimachinery's protobuf serializer prefix)."""


class ProtobufError(ValueError):
    """A body kubesim cannot decode, and why.

    ``unsupported`` is true when the body may be valid but names something
    kubesim does not decode (a kind, or a field number, it has no table
    for): the client can send that object as JSON instead. It is false when
    the bytes themselves are not a valid Kubernetes protobuf body.
    ``offset`` is where in the body (counting the magic) the problem is.
    """

    def __init__(self, message: str, *, offset: int | None = None, unsupported: bool = False):
        super().__init__(message)
        self.offset = offset
        self.unsupported = unsupported


def is_protobuf(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header names the Kubernetes protobuf encoding (parameters ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


# --- how a Go field becomes JSON ----------------------------------------------------------------
# The wire cannot say whether a Go field is a pointer or carries omitempty, yet encoding/json's
# output depends on both, so each table entry says which of these applies.

PTR = "ptr"
"""A pointer with ``omitempty`` (``*T``): in JSON exactly when on the wire, even if zero."""
NULLABLE = "nullable"
"""A pointer without ``omitempty`` (``DeploymentSpec.selector``, ``GRPCAction.service``): its
value when on the wire, else ``null``."""
OMIT = "omit"
"""A non-pointer scalar, slice or map with ``omitempty``: absent from JSON when zero or empty."""
REQ = "req"
"""No ``omitempty`` (or a non-pointer struct, which encoding/json never omits): always in JSON.
Absent from the wire, it takes Go's zero value: ``""``, ``0``, ``false``, ``null`` for a nil
slice or map, a struct's own zero rendering (``{}``, ``creationTimestamp: null``...)."""
INLINE = "inline"
"""An embedded struct (``json:",inline"``): its fields are spliced into the enclosing object."""

_VARINT_SCALARS = frozenset({"int32", "int64", "bool"})
_SCALARS = _VARINT_SCALARS | {"string", "bytes"}

# Zero time: Go's time.Time{} is 0001-01-01T00:00:00Z, i.e. this many seconds before the epoch.
_GO_ZERO_TIME_SECONDS = -62135596800


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    json: str
    shape: str          # "one", "list" or "map" (maps are keyed by string throughout Kubernetes)
    type: str           # a scalar name or a message name (a key of MESSAGES)
    presence: str       # PTR, NULLABLE, OMIT, REQ or INLINE


# --- wire reading ---------------------------------------------------------------------------------

def _varint(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A base-128 varint at ``pos`` as an unsigned 64-bit value, and the position after it."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise ProtobufError(f"truncated varint ({what}) at byte {start}", offset=start)
        if shift >= 64:
            raise ProtobufError(f"varint longer than 10 bytes ({what}) at byte {start}", offset=start)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7


def _signed(value: int, bits: int) -> int:
    # gogo-protobuf accumulates a varint straight into an intN: the low N bits, two's complement.
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(type_: str, value: Any) -> Any:
    if type_ == "int32":
        return _signed(value, 32)
    if type_ == "int64":
        return _signed(value, 64)
    if type_ == "bool":
        return value != 0
    return value


_WIRE_NAMES = {0: "varint", 1: "fixed64", 2: "length-delimited", 3: "start-group", 4: "end-group", 5: "fixed32"}


def _full_name(message: str) -> str:
    """``core.v1.PodSpec`` as Kubernetes names it (``io.k8s.api.core.v1.PodSpec``)."""
    package, _, name = message.rpartition(".")
    return f"{_PACKAGES[package]}.{name}"


def _where(offset: int, path: str) -> str:
    return f"at byte {offset}, in {path}" if path else f"at byte {offset}"


def _parse(message: str, data: bytes, segments: list[tuple[int, int]], path: str) -> dict[int, Any]:
    """The fields of ``message`` found in ``segments`` of ``data``, by number, still undecoded below.

    Several segments are one message sent in pieces: protobuf merges repeated
    occurrences of a non-repeated message field, and reading the pieces one
    after another into the same accumulator is exactly that merge (last
    scalar wins, lists append, maps add keys). Values: a scalar for a
    singular scalar; a list of segments for a singular message; a list of
    values (scalars, or one segment per element) for a list; a dict of key to
    value (a scalar, or a segment list) for a map.
    """
    fields = _FIELDS[message]
    raw: dict[int, Any] = {}
    for start, end in segments:
        pos = start
        while pos < end:
            tag_at = pos
            key, pos = _varint(data, pos, end, f"field tag of {_full_name(message)}")
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ProtobufError(f"{_full_name(message)} has an invalid field number 0 "
                                    f"({_where(tag_at, path)})", offset=tag_at)
            field = fields.get(number)
            if field is None:
                raise ProtobufError(
                    f"{_full_name(message)} field {number} ({_WIRE_NAMES.get(wire, f'wire type {wire}')}, "
                    f"{_where(tag_at, path)}) is not one kubesim decodes; send the object as JSON",
                    offset=tag_at, unsupported=True)
            varint_field = field.shape != "map" and field.type in _VARINT_SCALARS
            packed = varint_field and field.shape == "list" and wire == 2
            expected = 0 if varint_field and not packed else 2
            if wire != expected:
                raise ProtobufError(
                    f"{_full_name(message)} field {number} ({field.json or field.type}) has wire type "
                    f"{_WIRE_NAMES.get(wire, wire)}, expected {_WIRE_NAMES[expected]} "
                    f"({_where(tag_at, path)})", offset=tag_at)
            if wire == 0:
                value, pos = _varint(data, pos, end, f"{_full_name(message)} field {number}")
                value = _scalar(field.type, value)
                if field.shape == "list":
                    raw.setdefault(number, []).append(value)
                else:
                    raw[number] = value
                continue
            length_at = pos
            length, pos = _varint(data, pos, end, f"length of {_full_name(message)} field {number}")
            if length > end - pos:
                raise ProtobufError(
                    f"{_full_name(message)} field {number} ({field.json or field.type}) says {length} bytes "
                    f"at byte {length_at} but only {end - pos} remain"
                    + (f" (in {path})" if path else ""), offset=length_at)
            seg = (pos, pos + length)
            pos += length
            if packed:
                p, items = seg[0], raw.setdefault(number, [])
                while p < seg[1]:
                    value, p = _varint(data, p, seg[1], f"packed {_full_name(message)} field {number}")
                    items.append(_scalar(field.type, value))
            elif field.shape == "map":
                k, v = _map_entry(message, field, data, seg, path)
                raw.setdefault(number, {})[k] = v
            elif field.shape == "list":
                raw.setdefault(number, []).append(_bytes_value(field.type, data, seg, path) if field.type in _SCALARS
                                                  else seg)
            elif field.type in _SCALARS:
                raw[number] = _bytes_value(field.type, data, seg, path)
            else:
                raw.setdefault(number, []).append(seg)
    return raw


def _bytes_value(type_: str, data: bytes, seg: tuple[int, int], path: str) -> Any:
    chunk = data[seg[0]:seg[1]]
    if type_ == "bytes":
        return chunk
    # Go keeps invalid UTF-8 as it is and encoding/json writes U+FFFD for it; so do we.
    return chunk.decode("utf-8", errors="replace")


def _map_entry(message: str, field: _Field, data: bytes, seg: tuple[int, int], path: str) -> tuple[str, Any]:
    """A map entry: the message ``{key = 1; value = 2}`` protobuf writes for each key."""
    key: str = ""
    value: Any = None
    pos, end = seg
    where = f"{path}.{field.json}" if path else field.json
    while pos < end:
        tag_at = pos
        tag, pos = _varint(data, pos, end, f"map entry tag of {_full_name(message)} field {field.number}")
        number, wire = tag >> 3, tag & 7
        if number not in (1, 2):
            raise ProtobufError(
                f"map entry of {_full_name(message)} field {field.number} ({field.json}) has field {number} "
                f"({_where(tag_at, where)}); a map entry has only key (1) and value (2)",
                offset=tag_at, unsupported=True)
        expected = 0 if number == 2 and field.type in _VARINT_SCALARS else 2
        if wire != expected:
            raise ProtobufError(
                f"map entry of {_full_name(message)} field {field.number} ({field.json}) has wire type "
                f"{_WIRE_NAMES.get(wire, wire)} for its {'key' if number == 1 else 'value'}, expected "
                f"{_WIRE_NAMES[expected]} ({_where(tag_at, where)})", offset=tag_at)
        if wire == 0:
            v, pos = _varint(data, pos, end, f"map value of {_full_name(message)} field {field.number}")
            value = _scalar(field.type, v)
            continue
        length_at = pos
        length, pos = _varint(data, pos, end, f"map entry length in {_full_name(message)} field {field.number}")
        if length > end - pos:
            raise ProtobufError(
                f"map entry of {_full_name(message)} field {field.number} ({field.json}) says {length} bytes "
                f"at byte {length_at} but only {end - pos} remain", offset=length_at)
        sub = (pos, pos + length)
        pos += length
        if number == 1:
            key = _bytes_value("string", data, sub, where)
        elif field.type in _SCALARS:
            value = _bytes_value(field.type, data, sub, where)
        else:
            value = [sub]
    return key, value


# --- shaping into JSON ----------------------------------------------------------------------------

def _message(message: str, data: bytes, segments: list[tuple[int, int]], path: str) -> Any:
    """The JSON form of ``message`` read from ``segments`` (none: Go's zero value of the struct)."""
    raw = _parse(message, data, segments, path)
    leaf = _LEAVES.get(message)
    if leaf is not None:
        return leaf(raw, segments, path)
    out: dict[str, Any] = {}
    for field in _ORDER[message]:
        here = f"{path}.{field.json}" if path else field.json
        present = field.number in raw
        value = raw.get(field.number)
        if field.presence == INLINE:
            out.update(_message(field.type, data, value or [], path))
        elif field.shape == "list":
            if value:
                out[field.json] = [
                    _message(field.type, data, [item], f"{here}[{i}]") if field.type not in _SCALARS
                    else _json_scalar(field.type, item)
                    for i, item in enumerate(value)]
            elif field.presence == REQ:
                out[field.json] = None  # a nil slice without omitempty
        elif field.shape == "map":
            if value:
                out[field.json] = {
                    k: _map_value(field.type, data, v, f"{here}[{k!r}]") for k, v in sorted(value.items())}
            elif field.presence == REQ:
                out[field.json] = None
        elif not present and field.presence == NULLABLE:
            out[field.json] = None
        elif field.type in _SCALARS:
            if present:
                if field.presence == OMIT and not value:
                    continue
                out[field.json] = _json_scalar(field.type, value)
            elif field.presence == REQ:
                out[field.json] = None if field.type == "bytes" else _ZERO[field.type]
        elif present or field.presence == REQ:
            out[field.json] = _message(field.type, data, value or [], here)
    return out


_ZERO: dict[str, Any] = {"string": "", "int32": 0, "int64": 0, "bool": False}


def _json_scalar(type_: str, value: Any) -> Any:
    if type_ == "bytes":
        return base64.b64encode(value).decode("ascii")  # encoding/json writes []byte as base64
    return value


def _map_value(type_: str, data: bytes, value: Any, path: str) -> Any:
    if type_ in _SCALARS:
        if value is None:  # an entry without a value: Go's zero value of the map's element type
            value = b"" if type_ == "bytes" else _ZERO[type_]
        return _json_scalar(type_, value)
    return _message(type_, data, value or [], path)


# --- messages with JSON forms of their own (Go types with MarshalJSON) -----------------------------

def _time(raw: dict[int, Any], segments: list[tuple[int, int]], path: str) -> str | None:
    # meta/v1 Time: an empty message is the zero time, and Unmarshal keeps only the seconds
    # (Kubernetes' JSON has second precision). The zero time and a missing time are JSON null.
    if not raw:
        return None
    seconds = raw.get(1, 0)
    if seconds == _GO_ZERO_TIME_SECONDS:
        return None
    try:
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"time {seconds} s from the epoch is out of range"
                            + (f" (in {path})" if path else ""),
                            offset=segments[0][0] if segments else None) from None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when.year >= 1000 else \
        f"{when.year:04d}-{when.strftime('%m-%dT%H:%M:%SZ')}"


def _quantity(raw: dict[int, Any], segments: list[tuple[int, int]], path: str) -> str:
    # resource.Quantity travels as its canonical string, which is also its JSON; a zero Quantity is "0".
    return raw.get(1) or "0"


def _int_or_string(raw: dict[int, Any], segments: list[tuple[int, int]], path: str) -> int | str:
    kind = raw.get(1, 0)
    if kind == 0:
        return raw.get(2, 0)
    if kind == 1:
        return raw.get(3, "")
    raise ProtobufError(f"IntOrString type {kind} is neither 0 (int) nor 1 (string)"
                        + (f" (in {path})" if path else ""), offset=segments[0][0] if segments else None)


def _fields_v1(raw: dict[int, Any], segments: list[tuple[int, int]], path: str) -> Any:
    # FieldsV1 carries its JSON document as bytes, and its JSON form is that document.
    doc = raw.get(1)
    if not doc:
        return None
    try:
        return json.loads(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtobufError(f"FieldsV1 is not JSON ({exc})" + (f" (in {path})" if path else ""),
                            offset=segments[0][0] if segments else None) from None


def _extra_value(raw: dict[int, Any], segments: list[tuple[int, int]], path: str) -> list[str]:
    # authorization/v1 ExtraValue is a Go []string, wrapped in a message only because protobuf maps
    # cannot hold lists.
    return list(raw.get(1, []))


_LEAVES = {
    "meta.v1.Time": _time,
    "resource.Quantity": _quantity,
    "intstr.IntOrString": _int_or_string,
    "meta.v1.FieldsV1": _fields_v1,
    "authorization.v1.ExtraValue": _extra_value,
}


# --- the body -------------------------------------------------------------------------------------

def decode(body: bytes, content_type: str = CONTENT_TYPE) -> dict[str, Any]:
    """The object in a Kubernetes protobuf request body, as the dict its JSON would parse to.

    ``apiVersion`` and ``kind`` come from the envelope, the rest from the
    object's own message. Raises :class:`ProtobufError` for a body that is
    not protobuf, is malformed, or holds a kind or a field number kubesim does
    not decode; the message says which, and where.
    """
    if not is_protobuf(content_type):
        raise ProtobufError(f"Content-Type {content_type!r} is not {CONTENT_TYPE}", unsupported=True)
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ProtobufError(f"a {CONTENT_TYPE} body starts with {MAGIC!r}; this one starts with {body[:4]!r}",
                            offset=0)
    envelope = _parse("runtime.Unknown", body, [(len(MAGIC), len(body))], "")
    type_meta = _parse("runtime.TypeMeta", body, envelope.get(1, []), "typeMeta")
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    encoding = envelope.get(3, "")
    if encoding:
        raise ProtobufError(f"the object is encoded with {encoding!r}; kubesim decodes only unencoded objects",
                            unsupported=True)
    inner_type = envelope.get(4, "")
    if inner_type and not is_protobuf(inner_type):
        raise ProtobufError(f"the envelope says its object is {inner_type!r}, not {CONTENT_TYPE}",
                            unsupported=True)
    message = KINDS.get((api_version, kind))
    if message is None:
        known = ", ".join(f"{k} ({v})" for v, k in sorted(KINDS))
        raise ProtobufError(f"kubesim does not decode {kind or '(no kind)'} ({api_version or 'no apiVersion'}) "
                            f"from protobuf; send it as JSON. It decodes: {known}", unsupported=True)
    # raw is a bytes field, whose last occurrence wins (unlike a message's, which merge).
    obj = _message(message, body, envelope.get(2, [])[-1:], "")
    return {"apiVersion": api_version, "kind": kind, **obj}


# --- the table ------------------------------------------------------------------------------------

_PACKAGES = {
    "runtime": "io.k8s.apimachinery.pkg.runtime",
    "meta.v1": "io.k8s.apimachinery.pkg.apis.meta.v1",
    "resource": "io.k8s.apimachinery.pkg.api.resource",
    "intstr": "io.k8s.apimachinery.pkg.util.intstr",
    "core.v1": "io.k8s.api.core.v1",
    "apps.v1": "io.k8s.api.apps.v1",
    "batch.v1": "io.k8s.api.batch.v1",
    "authorization.v1": "io.k8s.api.authorization.v1",
    "policy.v1": "io.k8s.api.policy.v1",
}

KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.v1.Namespace",
    ("v1", "ConfigMap"): "core.v1.ConfigMap",
    ("v1", "Secret"): "core.v1.Secret",
    ("v1", "Service"): "core.v1.Service",
    ("v1", "ServiceAccount"): "core.v1.ServiceAccount",
    ("v1", "Pod"): "core.v1.Pod",
    ("apps/v1", "Deployment"): "apps.v1.Deployment",
    ("batch/v1", "Job"): "batch.v1.Job",
    ("batch/v1", "CronJob"): "batch.v1.CronJob",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authorization.v1.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "authorization.v1.SubjectAccessReview",
    ("policy/v1", "Eviction"): "policy.v1.Eviction",
}
"""``(apiVersion, kind)`` -> the message its body holds: what kubectl's typed clients send to
resources kubesim serves (``create``'s generators, ``auth can-i``, ``debug``), and the reviews
and evictions other client-go programs send."""

# message -> field number -> (JSON name, type, presence). Types are Go-like: "string", "int32",
# "int64", "bool", "bytes", a message name, "[]T" for a repeated field, "map[string]T" for a map.
# Entries are in the Go struct's order, which is the order encoding/json writes them in.
# Written from Kubernetes 1.32's generated.proto files (numbers, proto types) and types.go
# (JSON names, omitempty, pointers): k8s.io/api v0.32 and k8s.io/apimachinery v0.32.
MESSAGES: dict[str, dict[int, tuple[str, str, str]]] = {
    # --- the envelope and the messages with JSON forms of their own (see _LEAVES) ---
    "runtime.Unknown": {
        1: ("typeMeta", "runtime.TypeMeta", PTR), 2: ("raw", "runtime.Object", OMIT),
        3: ("contentEncoding", "string", OMIT), 4: ("contentType", "string", OMIT),
    },
    # Unknown.raw is bytes on the wire; naming it a message keeps where it lies in the body, so the
    # object is read in place, with offsets that are offsets in the body. Never decoded itself.
    "runtime.Object": {},
    "runtime.TypeMeta": {1: ("apiVersion", "string", OMIT), 2: ("kind", "string", OMIT)},
    "meta.v1.Time": {1: ("seconds", "int64", OMIT), 2: ("nanos", "int32", OMIT)},
    "resource.Quantity": {1: ("string", "string", OMIT)},
    "intstr.IntOrString": {1: ("type", "int64", OMIT), 2: ("intVal", "int32", OMIT), 3: ("strVal", "string", OMIT)},
    "meta.v1.FieldsV1": {1: ("Raw", "bytes", OMIT)},
    "authorization.v1.ExtraValue": {1: ("items", "[]string", OMIT)},
    # --- meta.v1 ---
    "meta.v1.Condition": {
        1: ("type", "string", REQ), 2: ("status", "string", REQ), 3: ("observedGeneration", "int64", OMIT),
        4: ("lastTransitionTime", "meta.v1.Time", REQ), 5: ("reason", "string", REQ),
        6: ("message", "string", REQ),
    },
    "meta.v1.DeleteOptions": {
        1: ("gracePeriodSeconds", "int64", PTR), 2: ("preconditions", "meta.v1.Preconditions", PTR),
        3: ("orphanDependents", "bool", PTR), 4: ("propagationPolicy", "string", PTR),
        5: ("dryRun", "[]string", OMIT), 6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "bool", PTR),
    },
    "meta.v1.FieldSelectorRequirement": {
        1: ("key", "string", REQ), 2: ("operator", "string", REQ), 3: ("values", "[]string", OMIT),
    },
    "meta.v1.LabelSelector": {
        1: ("matchLabels", "map[string]string", OMIT),
        2: ("matchExpressions", "[]meta.v1.LabelSelectorRequirement", OMIT),
    },
    "meta.v1.LabelSelectorRequirement": {
        1: ("key", "string", REQ), 2: ("operator", "string", REQ), 3: ("values", "[]string", OMIT),
    },
    "meta.v1.ManagedFieldsEntry": {
        1: ("manager", "string", OMIT), 2: ("operation", "string", OMIT), 3: ("apiVersion", "string", OMIT),
        4: ("time", "meta.v1.Time", PTR), 6: ("fieldsType", "string", OMIT),
        7: ("fieldsV1", "meta.v1.FieldsV1", PTR), 8: ("subresource", "string", OMIT),
    },
    "meta.v1.ObjectMeta": {
        1: ("name", "string", OMIT), 2: ("generateName", "string", OMIT), 3: ("namespace", "string", OMIT),
        4: ("selfLink", "string", OMIT), 5: ("uid", "string", OMIT), 6: ("resourceVersion", "string", OMIT),
        7: ("generation", "int64", OMIT), 8: ("creationTimestamp", "meta.v1.Time", REQ),
        9: ("deletionTimestamp", "meta.v1.Time", PTR), 10: ("deletionGracePeriodSeconds", "int64", PTR),
        11: ("labels", "map[string]string", OMIT), 12: ("annotations", "map[string]string", OMIT),
        13: ("ownerReferences", "[]meta.v1.OwnerReference", OMIT), 14: ("finalizers", "[]string", OMIT),
        17: ("managedFields", "[]meta.v1.ManagedFieldsEntry", OMIT),
    },
    "meta.v1.OwnerReference": {
        5: ("apiVersion", "string", REQ), 1: ("kind", "string", REQ), 3: ("name", "string", REQ),
        4: ("uid", "string", REQ), 6: ("controller", "bool", PTR), 7: ("blockOwnerDeletion", "bool", PTR),
    },
    "meta.v1.Preconditions": {1: ("uid", "string", PTR), 2: ("resourceVersion", "string", PTR)},

    # --- core.v1 ---
    "core.v1.AWSElasticBlockStoreVolumeSource": {
        1: ("volumeID", "string", REQ), 2: ("fsType", "string", OMIT), 3: ("partition", "int32", OMIT),
        4: ("readOnly", "bool", OMIT),
    },
    "core.v1.Affinity": {
        1: ("nodeAffinity", "core.v1.NodeAffinity", PTR), 2: ("podAffinity", "core.v1.PodAffinity", PTR),
        3: ("podAntiAffinity", "core.v1.PodAntiAffinity", PTR),
    },
    "core.v1.AppArmorProfile": {1: ("type", "string", REQ), 2: ("localhostProfile", "string", PTR)},
    "core.v1.AzureDiskVolumeSource": {
        1: ("diskName", "string", REQ), 2: ("diskURI", "string", REQ), 3: ("cachingMode", "string", PTR),
        4: ("fsType", "string", PTR), 5: ("readOnly", "bool", PTR), 6: ("kind", "string", PTR),
    },
    "core.v1.AzureFileVolumeSource": {
        1: ("secretName", "string", REQ), 2: ("shareName", "string", REQ), 3: ("readOnly", "bool", OMIT),
    },
    "core.v1.CSIVolumeSource": {
        1: ("driver", "string", REQ), 2: ("readOnly", "bool", PTR), 3: ("fsType", "string", PTR),
        4: ("volumeAttributes", "map[string]string", OMIT),
        5: ("nodePublishSecretRef", "core.v1.LocalObjectReference", PTR),
    },
    "core.v1.Capabilities": {1: ("add", "[]string", OMIT), 2: ("drop", "[]string", OMIT)},
    "core.v1.CephFSVolumeSource": {
        1: ("monitors", "[]string", REQ), 2: ("path", "string", OMIT), 3: ("user", "string", OMIT),
        4: ("secretFile", "string", OMIT), 5: ("secretRef", "core.v1.LocalObjectReference", PTR),
        6: ("readOnly", "bool", OMIT),
    },
    "core.v1.CinderVolumeSource": {
        1: ("volumeID", "string", REQ), 2: ("fsType", "string", OMIT), 3: ("readOnly", "bool", OMIT),
        4: ("secretRef", "core.v1.LocalObjectReference", PTR),
    },
    "core.v1.ClientIPConfig": {1: ("timeoutSeconds", "int32", PTR)},
    "core.v1.ClusterTrustBundleProjection": {
        1: ("name", "string", PTR), 2: ("signerName", "string", PTR),
        3: ("labelSelector", "meta.v1.LabelSelector", PTR), 5: ("optional", "bool", PTR),
        4: ("path", "string", REQ),
    },
    "core.v1.ConfigMap": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 4: ("immutable", "bool", PTR),
        2: ("data", "map[string]string", OMIT), 3: ("binaryData", "map[string]bytes", OMIT),
    },
    "core.v1.ConfigMapEnvSource": {1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("optional", "bool", PTR)},
    "core.v1.ConfigMapKeySelector": {
        1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("key", "string", REQ), 3: ("optional", "bool", PTR),
    },
    "core.v1.ConfigMapProjection": {
        1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("items", "[]core.v1.KeyToPath", OMIT),
        4: ("optional", "bool", PTR),
    },
    "core.v1.ConfigMapVolumeSource": {
        1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("items", "[]core.v1.KeyToPath", OMIT),
        3: ("defaultMode", "int32", PTR), 4: ("optional", "bool", PTR),
    },
    "core.v1.Container": {
        1: ("name", "string", REQ), 2: ("image", "string", OMIT), 3: ("command", "[]string", OMIT),
        4: ("args", "[]string", OMIT), 5: ("workingDir", "string", OMIT),
        6: ("ports", "[]core.v1.ContainerPort", OMIT), 19: ("envFrom", "[]core.v1.EnvFromSource", OMIT),
        7: ("env", "[]core.v1.EnvVar", OMIT), 8: ("resources", "core.v1.ResourceRequirements", REQ),
        23: ("resizePolicy", "[]core.v1.ContainerResizePolicy", OMIT), 24: ("restartPolicy", "string", PTR),
        9: ("volumeMounts", "[]core.v1.VolumeMount", OMIT), 21: ("volumeDevices", "[]core.v1.VolumeDevice", OMIT),
        10: ("livenessProbe", "core.v1.Probe", PTR), 11: ("readinessProbe", "core.v1.Probe", PTR),
        22: ("startupProbe", "core.v1.Probe", PTR), 12: ("lifecycle", "core.v1.Lifecycle", PTR),
        13: ("terminationMessagePath", "string", OMIT), 20: ("terminationMessagePolicy", "string", OMIT),
        14: ("imagePullPolicy", "string", OMIT), 15: ("securityContext", "core.v1.SecurityContext", PTR),
        16: ("stdin", "bool", OMIT), 17: ("stdinOnce", "bool", OMIT), 18: ("tty", "bool", OMIT),
    },
    "core.v1.ContainerPort": {
        1: ("name", "string", OMIT), 2: ("hostPort", "int32", OMIT), 3: ("containerPort", "int32", REQ),
        4: ("protocol", "string", OMIT), 5: ("hostIP", "string", OMIT),
    },
    "core.v1.ContainerResizePolicy": {1: ("resourceName", "string", REQ), 2: ("restartPolicy", "string", REQ)},
    "core.v1.ContainerState": {
        1: ("waiting", "core.v1.ContainerStateWaiting", PTR), 2: ("running", "core.v1.ContainerStateRunning", PTR),
        3: ("terminated", "core.v1.ContainerStateTerminated", PTR),
    },
    "core.v1.ContainerStateRunning": {1: ("startedAt", "meta.v1.Time", REQ)},
    "core.v1.ContainerStateTerminated": {
        1: ("exitCode", "int32", REQ), 2: ("signal", "int32", OMIT), 3: ("reason", "string", OMIT),
        4: ("message", "string", OMIT), 5: ("startedAt", "meta.v1.Time", REQ),
        6: ("finishedAt", "meta.v1.Time", REQ), 7: ("containerID", "string", OMIT),
    },
    "core.v1.ContainerStateWaiting": {1: ("reason", "string", OMIT), 2: ("message", "string", OMIT)},
    "core.v1.ContainerStatus": {
        1: ("name", "string", REQ), 2: ("state", "core.v1.ContainerState", REQ),
        3: ("lastState", "core.v1.ContainerState", REQ), 4: ("ready", "bool", REQ),
        5: ("restartCount", "int32", REQ), 6: ("image", "string", REQ), 7: ("imageID", "string", REQ),
        8: ("containerID", "string", OMIT), 9: ("started", "bool", PTR),
        10: ("allocatedResources", "map[string]resource.Quantity", OMIT),
        11: ("resources", "core.v1.ResourceRequirements", PTR),
        12: ("volumeMounts", "[]core.v1.VolumeMountStatus", OMIT), 13: ("user", "core.v1.ContainerUser", PTR),
        14: ("allocatedResourcesStatus", "[]core.v1.ResourceStatus", OMIT),
    },
    "core.v1.ContainerUser": {1: ("linux", "core.v1.LinuxContainerUser", PTR)},
    "core.v1.DownwardAPIProjection": {1: ("items", "[]core.v1.DownwardAPIVolumeFile", OMIT)},
    "core.v1.DownwardAPIVolumeFile": {
        1: ("path", "string", REQ), 2: ("fieldRef", "core.v1.ObjectFieldSelector", PTR),
        3: ("resourceFieldRef", "core.v1.ResourceFieldSelector", PTR), 4: ("mode", "int32", PTR),
    },
    "core.v1.DownwardAPIVolumeSource": {
        1: ("items", "[]core.v1.DownwardAPIVolumeFile", OMIT), 2: ("defaultMode", "int32", PTR),
    },
    "core.v1.EmptyDirVolumeSource": {1: ("medium", "string", OMIT), 2: ("sizeLimit", "resource.Quantity", PTR)},
    "core.v1.EnvFromSource": {
        1: ("prefix", "string", OMIT), 2: ("configMapRef", "core.v1.ConfigMapEnvSource", PTR),
        3: ("secretRef", "core.v1.SecretEnvSource", PTR),
    },
    "core.v1.EnvVar": {
        1: ("name", "string", REQ), 2: ("value", "string", OMIT), 3: ("valueFrom", "core.v1.EnvVarSource", PTR),
    },
    "core.v1.EnvVarSource": {
        1: ("fieldRef", "core.v1.ObjectFieldSelector", PTR),
        2: ("resourceFieldRef", "core.v1.ResourceFieldSelector", PTR),
        3: ("configMapKeyRef", "core.v1.ConfigMapKeySelector", PTR),
        4: ("secretKeyRef", "core.v1.SecretKeySelector", PTR),
    },
    "core.v1.EphemeralContainer": {
        1: ("", "core.v1.EphemeralContainerCommon", INLINE), 2: ("targetContainerName", "string", OMIT),
    },
    "core.v1.EphemeralContainerCommon": {
        1: ("name", "string", REQ), 2: ("image", "string", OMIT), 3: ("command", "[]string", OMIT),
        4: ("args", "[]string", OMIT), 5: ("workingDir", "string", OMIT),
        6: ("ports", "[]core.v1.ContainerPort", OMIT), 19: ("envFrom", "[]core.v1.EnvFromSource", OMIT),
        7: ("env", "[]core.v1.EnvVar", OMIT), 8: ("resources", "core.v1.ResourceRequirements", REQ),
        23: ("resizePolicy", "[]core.v1.ContainerResizePolicy", OMIT), 24: ("restartPolicy", "string", PTR),
        9: ("volumeMounts", "[]core.v1.VolumeMount", OMIT), 21: ("volumeDevices", "[]core.v1.VolumeDevice", OMIT),
        10: ("livenessProbe", "core.v1.Probe", PTR), 11: ("readinessProbe", "core.v1.Probe", PTR),
        22: ("startupProbe", "core.v1.Probe", PTR), 12: ("lifecycle", "core.v1.Lifecycle", PTR),
        13: ("terminationMessagePath", "string", OMIT), 20: ("terminationMessagePolicy", "string", OMIT),
        14: ("imagePullPolicy", "string", OMIT), 15: ("securityContext", "core.v1.SecurityContext", PTR),
        16: ("stdin", "bool", OMIT), 17: ("stdinOnce", "bool", OMIT), 18: ("tty", "bool", OMIT),
    },
    "core.v1.EphemeralVolumeSource": {1: ("volumeClaimTemplate", "core.v1.PersistentVolumeClaimTemplate", PTR)},
    "core.v1.ExecAction": {1: ("command", "[]string", OMIT)},
    "core.v1.FCVolumeSource": {
        1: ("targetWWNs", "[]string", OMIT), 2: ("lun", "int32", PTR), 3: ("fsType", "string", OMIT),
        4: ("readOnly", "bool", OMIT), 5: ("wwids", "[]string", OMIT),
    },
    "core.v1.FlexVolumeSource": {
        1: ("driver", "string", REQ), 2: ("fsType", "string", OMIT),
        3: ("secretRef", "core.v1.LocalObjectReference", PTR), 4: ("readOnly", "bool", OMIT),
        5: ("options", "map[string]string", OMIT),
    },
    "core.v1.FlockerVolumeSource": {1: ("datasetName", "string", OMIT), 2: ("datasetUUID", "string", OMIT)},
    "core.v1.GCEPersistentDiskVolumeSource": {
        1: ("pdName", "string", REQ), 2: ("fsType", "string", OMIT), 3: ("partition", "int32", OMIT),
        4: ("readOnly", "bool", OMIT),
    },
    "core.v1.GRPCAction": {1: ("port", "int32", REQ), 2: ("service", "string", NULLABLE)},
    "core.v1.GitRepoVolumeSource": {
        1: ("repository", "string", REQ), 2: ("revision", "string", OMIT), 3: ("directory", "string", OMIT),
    },
    "core.v1.GlusterfsVolumeSource": {
        1: ("endpoints", "string", REQ), 2: ("path", "string", REQ), 3: ("readOnly", "bool", OMIT),
    },
    "core.v1.HTTPGetAction": {
        1: ("path", "string", OMIT), 2: ("port", "intstr.IntOrString", REQ), 3: ("host", "string", OMIT),
        4: ("scheme", "string", OMIT), 5: ("httpHeaders", "[]core.v1.HTTPHeader", OMIT),
    },
    "core.v1.HTTPHeader": {1: ("name", "string", REQ), 2: ("value", "string", REQ)},
    "core.v1.HostAlias": {1: ("ip", "string", REQ), 2: ("hostnames", "[]string", OMIT)},
    "core.v1.HostIP": {1: ("ip", "string", REQ)},
    "core.v1.HostPathVolumeSource": {1: ("path", "string", REQ), 2: ("type", "string", PTR)},
    "core.v1.ISCSIVolumeSource": {
        1: ("targetPortal", "string", REQ), 2: ("iqn", "string", REQ), 3: ("lun", "int32", REQ),
        4: ("iscsiInterface", "string", OMIT), 5: ("fsType", "string", OMIT), 6: ("readOnly", "bool", OMIT),
        7: ("portals", "[]string", OMIT), 8: ("chapAuthDiscovery", "bool", OMIT),
        11: ("chapAuthSession", "bool", OMIT), 10: ("secretRef", "core.v1.LocalObjectReference", PTR),
        12: ("initiatorName", "string", PTR),
    },
    "core.v1.ImageVolumeSource": {1: ("reference", "string", OMIT), 2: ("pullPolicy", "string", OMIT)},
    "core.v1.KeyToPath": {1: ("key", "string", REQ), 2: ("path", "string", REQ), 3: ("mode", "int32", PTR)},
    "core.v1.Lifecycle": {
        1: ("postStart", "core.v1.LifecycleHandler", PTR), 2: ("preStop", "core.v1.LifecycleHandler", PTR),
    },
    "core.v1.LifecycleHandler": {
        1: ("exec", "core.v1.ExecAction", PTR), 2: ("httpGet", "core.v1.HTTPGetAction", PTR),
        3: ("tcpSocket", "core.v1.TCPSocketAction", PTR), 4: ("sleep", "core.v1.SleepAction", PTR),
    },
    "core.v1.LinuxContainerUser": {
        1: ("uid", "int64", REQ), 2: ("gid", "int64", REQ), 3: ("supplementalGroups", "[]int64", OMIT),
    },
    "core.v1.LoadBalancerIngress": {
        1: ("ip", "string", OMIT), 2: ("hostname", "string", OMIT), 3: ("ipMode", "string", PTR),
        4: ("ports", "[]core.v1.PortStatus", OMIT),
    },
    "core.v1.LoadBalancerStatus": {1: ("ingress", "[]core.v1.LoadBalancerIngress", OMIT)},
    "core.v1.LocalObjectReference": {1: ("name", "string", OMIT)},
    "core.v1.NFSVolumeSource": {
        1: ("server", "string", REQ), 2: ("path", "string", REQ), 3: ("readOnly", "bool", OMIT),
    },
    "core.v1.Namespace": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "core.v1.NamespaceSpec", REQ),
        3: ("status", "core.v1.NamespaceStatus", REQ),
    },
    "core.v1.NamespaceCondition": {
        1: ("type", "string", REQ), 2: ("status", "string", REQ), 4: ("lastTransitionTime", "meta.v1.Time", REQ),
        5: ("reason", "string", OMIT), 6: ("message", "string", OMIT),
    },
    "core.v1.NamespaceSpec": {1: ("finalizers", "[]string", OMIT)},
    "core.v1.NamespaceStatus": {
        1: ("phase", "string", OMIT), 2: ("conditions", "[]core.v1.NamespaceCondition", OMIT),
    },
    "core.v1.NodeAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "core.v1.NodeSelector", PTR),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]core.v1.PreferredSchedulingTerm", OMIT),
    },
    "core.v1.NodeSelector": {1: ("nodeSelectorTerms", "[]core.v1.NodeSelectorTerm", REQ)},
    "core.v1.NodeSelectorRequirement": {
        1: ("key", "string", REQ), 2: ("operator", "string", REQ), 3: ("values", "[]string", OMIT),
    },
    "core.v1.NodeSelectorTerm": {
        1: ("matchExpressions", "[]core.v1.NodeSelectorRequirement", OMIT),
        2: ("matchFields", "[]core.v1.NodeSelectorRequirement", OMIT),
    },
    "core.v1.ObjectFieldSelector": {1: ("apiVersion", "string", OMIT), 2: ("fieldPath", "string", REQ)},
    "core.v1.ObjectReference": {
        1: ("kind", "string", OMIT), 2: ("namespace", "string", OMIT), 3: ("name", "string", OMIT),
        4: ("uid", "string", OMIT), 5: ("apiVersion", "string", OMIT), 6: ("resourceVersion", "string", OMIT),
        7: ("fieldPath", "string", OMIT),
    },
    "core.v1.PersistentVolumeClaimSpec": {
        1: ("accessModes", "[]string", OMIT), 4: ("selector", "meta.v1.LabelSelector", PTR),
        2: ("resources", "core.v1.VolumeResourceRequirements", REQ), 3: ("volumeName", "string", OMIT),
        5: ("storageClassName", "string", PTR), 6: ("volumeMode", "string", PTR),
        7: ("dataSource", "core.v1.TypedLocalObjectReference", PTR),
        8: ("dataSourceRef", "core.v1.TypedObjectReference", PTR), 9: ("volumeAttributesClassName", "string", PTR),
    },
    "core.v1.PersistentVolumeClaimTemplate": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "core.v1.PersistentVolumeClaimSpec", REQ),
    },
    "core.v1.PersistentVolumeClaimVolumeSource": {1: ("claimName", "string", REQ), 2: ("readOnly", "bool", OMIT)},
    "core.v1.PhotonPersistentDiskVolumeSource": {1: ("pdID", "string", REQ), 2: ("fsType", "string", OMIT)},
    "core.v1.Pod": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "core.v1.PodSpec", REQ),
        3: ("status", "core.v1.PodStatus", REQ),
    },
    "core.v1.PodAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "[]core.v1.PodAffinityTerm", OMIT),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]core.v1.WeightedPodAffinityTerm", OMIT),
    },
    "core.v1.PodAffinityTerm": {
        1: ("labelSelector", "meta.v1.LabelSelector", PTR), 2: ("namespaces", "[]string", OMIT),
        3: ("topologyKey", "string", REQ), 4: ("namespaceSelector", "meta.v1.LabelSelector", PTR),
        5: ("matchLabelKeys", "[]string", OMIT), 6: ("mismatchLabelKeys", "[]string", OMIT),
    },
    "core.v1.PodAntiAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "[]core.v1.PodAffinityTerm", OMIT),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]core.v1.WeightedPodAffinityTerm", OMIT),
    },
    "core.v1.PodCondition": {
        1: ("type", "string", REQ), 2: ("status", "string", REQ), 3: ("lastProbeTime", "meta.v1.Time", REQ),
        4: ("lastTransitionTime", "meta.v1.Time", REQ), 5: ("reason", "string", OMIT),
        6: ("message", "string", OMIT),
    },
    "core.v1.PodDNSConfig": {
        1: ("nameservers", "[]string", OMIT), 2: ("searches", "[]string", OMIT),
        3: ("options", "[]core.v1.PodDNSConfigOption", OMIT),
    },
    "core.v1.PodDNSConfigOption": {1: ("name", "string", OMIT), 2: ("value", "string", PTR)},
    "core.v1.PodIP": {1: ("ip", "string", REQ)},
    "core.v1.PodOS": {1: ("name", "string", REQ)},
    "core.v1.PodReadinessGate": {1: ("conditionType", "string", REQ)},
    "core.v1.PodResourceClaim": {
        1: ("name", "string", REQ), 3: ("resourceClaimName", "string", PTR),
        4: ("resourceClaimTemplateName", "string", PTR),
    },
    "core.v1.PodResourceClaimStatus": {1: ("name", "string", REQ), 2: ("resourceClaimName", "string", PTR)},
    "core.v1.PodSchedulingGate": {1: ("name", "string", REQ)},
    "core.v1.PodSecurityContext": {
        1: ("seLinuxOptions", "core.v1.SELinuxOptions", PTR),
        8: ("windowsOptions", "core.v1.WindowsSecurityContextOptions", PTR), 2: ("runAsUser", "int64", PTR),
        6: ("runAsGroup", "int64", PTR), 3: ("runAsNonRoot", "bool", PTR),
        4: ("supplementalGroups", "[]int64", OMIT), 12: ("supplementalGroupsPolicy", "string", PTR),
        5: ("fsGroup", "int64", PTR), 7: ("sysctls", "[]core.v1.Sysctl", OMIT),
        9: ("fsGroupChangePolicy", "string", PTR), 10: ("seccompProfile", "core.v1.SeccompProfile", PTR),
        11: ("appArmorProfile", "core.v1.AppArmorProfile", PTR), 13: ("seLinuxChangePolicy", "string", PTR),
    },
    "core.v1.PodSpec": {
        1: ("volumes", "[]core.v1.Volume", OMIT), 20: ("initContainers", "[]core.v1.Container", OMIT),
        2: ("containers", "[]core.v1.Container", REQ),
        34: ("ephemeralContainers", "[]core.v1.EphemeralContainer", OMIT), 3: ("restartPolicy", "string", OMIT),
        4: ("terminationGracePeriodSeconds", "int64", PTR), 5: ("activeDeadlineSeconds", "int64", PTR),
        6: ("dnsPolicy", "string", OMIT), 7: ("nodeSelector", "map[string]string", OMIT),
        8: ("serviceAccountName", "string", OMIT), 9: ("serviceAccount", "string", OMIT),
        21: ("automountServiceAccountToken", "bool", PTR), 10: ("nodeName", "string", OMIT),
        11: ("hostNetwork", "bool", OMIT), 12: ("hostPID", "bool", OMIT), 13: ("hostIPC", "bool", OMIT),
        27: ("shareProcessNamespace", "bool", PTR), 14: ("securityContext", "core.v1.PodSecurityContext", PTR),
        15: ("imagePullSecrets", "[]core.v1.LocalObjectReference", OMIT), 16: ("hostname", "string", OMIT),
        17: ("subdomain", "string", OMIT), 18: ("affinity", "core.v1.Affinity", PTR),
        19: ("schedulerName", "string", OMIT), 22: ("tolerations", "[]core.v1.Toleration", OMIT),
        23: ("hostAliases", "[]core.v1.HostAlias", OMIT), 24: ("priorityClassName", "string", OMIT),
        25: ("priority", "int32", PTR), 26: ("dnsConfig", "core.v1.PodDNSConfig", PTR),
        28: ("readinessGates", "[]core.v1.PodReadinessGate", OMIT), 29: ("runtimeClassName", "string", PTR),
        30: ("enableServiceLinks", "bool", PTR), 31: ("preemptionPolicy", "string", PTR),
        32: ("overhead", "map[string]resource.Quantity", OMIT),
        33: ("topologySpreadConstraints", "[]core.v1.TopologySpreadConstraint", OMIT),
        35: ("setHostnameAsFQDN", "bool", PTR), 36: ("os", "core.v1.PodOS", PTR), 37: ("hostUsers", "bool", PTR),
        38: ("schedulingGates", "[]core.v1.PodSchedulingGate", OMIT),
        39: ("resourceClaims", "[]core.v1.PodResourceClaim", OMIT),
        40: ("resources", "core.v1.ResourceRequirements", PTR),
    },
    "core.v1.PodStatus": {
        1: ("phase", "string", OMIT), 2: ("conditions", "[]core.v1.PodCondition", OMIT),
        3: ("message", "string", OMIT), 4: ("reason", "string", OMIT), 11: ("nominatedNodeName", "string", OMIT),
        5: ("hostIP", "string", OMIT), 16: ("hostIPs", "[]core.v1.HostIP", OMIT), 6: ("podIP", "string", OMIT),
        12: ("podIPs", "[]core.v1.PodIP", OMIT), 7: ("startTime", "meta.v1.Time", PTR),
        10: ("initContainerStatuses", "[]core.v1.ContainerStatus", OMIT),
        8: ("containerStatuses", "[]core.v1.ContainerStatus", OMIT), 9: ("qosClass", "string", OMIT),
        13: ("ephemeralContainerStatuses", "[]core.v1.ContainerStatus", OMIT), 14: ("resize", "string", OMIT),
        15: ("resourceClaimStatuses", "[]core.v1.PodResourceClaimStatus", OMIT),
    },
    "core.v1.PodTemplateSpec": {1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "core.v1.PodSpec", REQ)},
    "core.v1.PortStatus": {1: ("port", "int32", REQ), 2: ("protocol", "string", REQ), 3: ("error", "string", PTR)},
    "core.v1.PortworxVolumeSource": {
        1: ("volumeID", "string", REQ), 2: ("fsType", "string", OMIT), 3: ("readOnly", "bool", OMIT),
    },
    "core.v1.PreferredSchedulingTerm": {
        1: ("weight", "int32", REQ), 2: ("preference", "core.v1.NodeSelectorTerm", REQ),
    },
    "core.v1.Probe": {
        1: ("", "core.v1.ProbeHandler", INLINE), 2: ("initialDelaySeconds", "int32", OMIT),
        3: ("timeoutSeconds", "int32", OMIT), 4: ("periodSeconds", "int32", OMIT),
        5: ("successThreshold", "int32", OMIT), 6: ("failureThreshold", "int32", OMIT),
        7: ("terminationGracePeriodSeconds", "int64", PTR),
    },
    "core.v1.ProbeHandler": {
        1: ("exec", "core.v1.ExecAction", PTR), 2: ("httpGet", "core.v1.HTTPGetAction", PTR),
        3: ("tcpSocket", "core.v1.TCPSocketAction", PTR), 4: ("grpc", "core.v1.GRPCAction", PTR),
    },
    "core.v1.ProjectedVolumeSource": {
        1: ("sources", "[]core.v1.VolumeProjection", REQ), 2: ("defaultMode", "int32", PTR),
    },
    "core.v1.QuobyteVolumeSource": {
        1: ("registry", "string", REQ), 2: ("volume", "string", REQ), 3: ("readOnly", "bool", OMIT),
        4: ("user", "string", OMIT), 5: ("group", "string", OMIT), 6: ("tenant", "string", OMIT),
    },
    "core.v1.RBDVolumeSource": {
        1: ("monitors", "[]string", REQ), 2: ("image", "string", REQ), 3: ("fsType", "string", OMIT),
        4: ("pool", "string", OMIT), 5: ("user", "string", OMIT), 6: ("keyring", "string", OMIT),
        7: ("secretRef", "core.v1.LocalObjectReference", PTR), 8: ("readOnly", "bool", OMIT),
    },
    "core.v1.ResourceClaim": {1: ("name", "string", REQ), 2: ("request", "string", OMIT)},
    "core.v1.ResourceFieldSelector": {
        1: ("containerName", "string", OMIT), 2: ("resource", "string", REQ),
        3: ("divisor", "resource.Quantity", REQ),
    },
    "core.v1.ResourceHealth": {1: ("resourceID", "string", REQ), 2: ("health", "string", OMIT)},
    "core.v1.ResourceRequirements": {
        1: ("limits", "map[string]resource.Quantity", OMIT), 2: ("requests", "map[string]resource.Quantity", OMIT),
        3: ("claims", "[]core.v1.ResourceClaim", OMIT),
    },
    "core.v1.ResourceStatus": {1: ("name", "string", REQ), 2: ("resources", "[]core.v1.ResourceHealth", OMIT)},
    "core.v1.SELinuxOptions": {
        1: ("user", "string", OMIT), 2: ("role", "string", OMIT), 3: ("type", "string", OMIT),
        4: ("level", "string", OMIT),
    },
    "core.v1.ScaleIOVolumeSource": {
        1: ("gateway", "string", REQ), 2: ("system", "string", REQ),
        3: ("secretRef", "core.v1.LocalObjectReference", NULLABLE), 4: ("sslEnabled", "bool", OMIT),
        5: ("protectionDomain", "string", OMIT), 6: ("storagePool", "string", OMIT),
        7: ("storageMode", "string", OMIT), 8: ("volumeName", "string", OMIT), 9: ("fsType", "string", OMIT),
        10: ("readOnly", "bool", OMIT),
    },
    "core.v1.SeccompProfile": {1: ("type", "string", REQ), 2: ("localhostProfile", "string", PTR)},
    "core.v1.Secret": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 5: ("immutable", "bool", PTR),
        2: ("data", "map[string]bytes", OMIT), 4: ("stringData", "map[string]string", OMIT),
        3: ("type", "string", OMIT),
    },
    "core.v1.SecretEnvSource": {1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("optional", "bool", PTR)},
    "core.v1.SecretKeySelector": {
        1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("key", "string", REQ), 3: ("optional", "bool", PTR),
    },
    "core.v1.SecretProjection": {
        1: ("", "core.v1.LocalObjectReference", INLINE), 2: ("items", "[]core.v1.KeyToPath", OMIT),
        4: ("optional", "bool", PTR),
    },
    "core.v1.SecretVolumeSource": {
        1: ("secretName", "string", OMIT), 2: ("items", "[]core.v1.KeyToPath", OMIT),
        3: ("defaultMode", "int32", PTR), 4: ("optional", "bool", PTR),
    },
    "core.v1.SecurityContext": {
        1: ("capabilities", "core.v1.Capabilities", PTR), 2: ("privileged", "bool", PTR),
        3: ("seLinuxOptions", "core.v1.SELinuxOptions", PTR),
        10: ("windowsOptions", "core.v1.WindowsSecurityContextOptions", PTR), 4: ("runAsUser", "int64", PTR),
        8: ("runAsGroup", "int64", PTR), 5: ("runAsNonRoot", "bool", PTR),
        6: ("readOnlyRootFilesystem", "bool", PTR), 7: ("allowPrivilegeEscalation", "bool", PTR),
        9: ("procMount", "string", PTR), 11: ("seccompProfile", "core.v1.SeccompProfile", PTR),
        12: ("appArmorProfile", "core.v1.AppArmorProfile", PTR),
    },
    "core.v1.Service": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "core.v1.ServiceSpec", REQ),
        3: ("status", "core.v1.ServiceStatus", REQ),
    },
    "core.v1.ServiceAccount": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("secrets", "[]core.v1.ObjectReference", OMIT),
        3: ("imagePullSecrets", "[]core.v1.LocalObjectReference", OMIT),
        4: ("automountServiceAccountToken", "bool", PTR),
    },
    "core.v1.ServiceAccountTokenProjection": {
        1: ("audience", "string", OMIT), 2: ("expirationSeconds", "int64", PTR), 3: ("path", "string", REQ),
    },
    "core.v1.ServicePort": {
        1: ("name", "string", OMIT), 2: ("protocol", "string", OMIT), 6: ("appProtocol", "string", PTR),
        3: ("port", "int32", REQ), 4: ("targetPort", "intstr.IntOrString", REQ), 5: ("nodePort", "int32", OMIT),
    },
    "core.v1.ServiceSpec": {
        1: ("ports", "[]core.v1.ServicePort", OMIT), 2: ("selector", "map[string]string", OMIT),
        3: ("clusterIP", "string", OMIT), 18: ("clusterIPs", "[]string", OMIT), 4: ("type", "string", OMIT),
        5: ("externalIPs", "[]string", OMIT), 7: ("sessionAffinity", "string", OMIT),
        8: ("loadBalancerIP", "string", OMIT), 9: ("loadBalancerSourceRanges", "[]string", OMIT),
        10: ("externalName", "string", OMIT), 11: ("externalTrafficPolicy", "string", OMIT),
        12: ("healthCheckNodePort", "int32", OMIT), 13: ("publishNotReadyAddresses", "bool", OMIT),
        14: ("sessionAffinityConfig", "core.v1.SessionAffinityConfig", PTR), 19: ("ipFamilies", "[]string", OMIT),
        17: ("ipFamilyPolicy", "string", PTR), 20: ("allocateLoadBalancerNodePorts", "bool", PTR),
        21: ("loadBalancerClass", "string", PTR), 22: ("internalTrafficPolicy", "string", PTR),
        23: ("trafficDistribution", "string", PTR),
    },
    "core.v1.ServiceStatus": {
        1: ("loadBalancer", "core.v1.LoadBalancerStatus", REQ), 2: ("conditions", "[]meta.v1.Condition", OMIT),
    },
    "core.v1.SessionAffinityConfig": {1: ("clientIP", "core.v1.ClientIPConfig", PTR)},
    "core.v1.SleepAction": {1: ("seconds", "int64", REQ)},
    "core.v1.StorageOSVolumeSource": {
        1: ("volumeName", "string", OMIT), 2: ("volumeNamespace", "string", OMIT), 3: ("fsType", "string", OMIT),
        4: ("readOnly", "bool", OMIT), 5: ("secretRef", "core.v1.LocalObjectReference", PTR),
    },
    "core.v1.Sysctl": {1: ("name", "string", REQ), 2: ("value", "string", REQ)},
    "core.v1.TCPSocketAction": {1: ("port", "intstr.IntOrString", REQ), 2: ("host", "string", OMIT)},
    "core.v1.Toleration": {
        1: ("key", "string", OMIT), 2: ("operator", "string", OMIT), 3: ("value", "string", OMIT),
        4: ("effect", "string", OMIT), 5: ("tolerationSeconds", "int64", PTR),
    },
    "core.v1.TopologySpreadConstraint": {
        1: ("maxSkew", "int32", REQ), 2: ("topologyKey", "string", REQ), 3: ("whenUnsatisfiable", "string", REQ),
        4: ("labelSelector", "meta.v1.LabelSelector", PTR), 5: ("minDomains", "int32", PTR),
        6: ("nodeAffinityPolicy", "string", PTR), 7: ("nodeTaintsPolicy", "string", PTR),
        8: ("matchLabelKeys", "[]string", OMIT),
    },
    "core.v1.TypedLocalObjectReference": {
        1: ("apiGroup", "string", NULLABLE), 2: ("kind", "string", REQ), 3: ("name", "string", REQ),
    },
    "core.v1.TypedObjectReference": {
        1: ("apiGroup", "string", NULLABLE), 2: ("kind", "string", REQ), 3: ("name", "string", REQ),
        4: ("namespace", "string", PTR),
    },
    "core.v1.Volume": {1: ("name", "string", REQ), 2: ("", "core.v1.VolumeSource", INLINE)},
    "core.v1.VolumeDevice": {1: ("name", "string", REQ), 2: ("devicePath", "string", REQ)},
    "core.v1.VolumeMount": {
        1: ("name", "string", REQ), 2: ("readOnly", "bool", OMIT), 7: ("recursiveReadOnly", "string", PTR),
        3: ("mountPath", "string", REQ), 4: ("subPath", "string", OMIT), 5: ("mountPropagation", "string", PTR),
        6: ("subPathExpr", "string", OMIT),
    },
    "core.v1.VolumeMountStatus": {
        1: ("name", "string", REQ), 2: ("mountPath", "string", REQ), 3: ("readOnly", "bool", OMIT),
        4: ("recursiveReadOnly", "string", PTR),
    },
    "core.v1.VolumeProjection": {
        1: ("secret", "core.v1.SecretProjection", PTR), 2: ("downwardAPI", "core.v1.DownwardAPIProjection", PTR),
        3: ("configMap", "core.v1.ConfigMapProjection", PTR),
        4: ("serviceAccountToken", "core.v1.ServiceAccountTokenProjection", PTR),
        5: ("clusterTrustBundle", "core.v1.ClusterTrustBundleProjection", PTR),
    },
    "core.v1.VolumeResourceRequirements": {
        1: ("limits", "map[string]resource.Quantity", OMIT), 2: ("requests", "map[string]resource.Quantity", OMIT),
    },
    "core.v1.VolumeSource": {
        1: ("hostPath", "core.v1.HostPathVolumeSource", PTR), 2: ("emptyDir", "core.v1.EmptyDirVolumeSource", PTR),
        3: ("gcePersistentDisk", "core.v1.GCEPersistentDiskVolumeSource", PTR),
        4: ("awsElasticBlockStore", "core.v1.AWSElasticBlockStoreVolumeSource", PTR),
        5: ("gitRepo", "core.v1.GitRepoVolumeSource", PTR), 6: ("secret", "core.v1.SecretVolumeSource", PTR),
        7: ("nfs", "core.v1.NFSVolumeSource", PTR), 8: ("iscsi", "core.v1.ISCSIVolumeSource", PTR),
        9: ("glusterfs", "core.v1.GlusterfsVolumeSource", PTR),
        10: ("persistentVolumeClaim", "core.v1.PersistentVolumeClaimVolumeSource", PTR),
        11: ("rbd", "core.v1.RBDVolumeSource", PTR), 12: ("flexVolume", "core.v1.FlexVolumeSource", PTR),
        13: ("cinder", "core.v1.CinderVolumeSource", PTR), 14: ("cephfs", "core.v1.CephFSVolumeSource", PTR),
        15: ("flocker", "core.v1.FlockerVolumeSource", PTR),
        16: ("downwardAPI", "core.v1.DownwardAPIVolumeSource", PTR), 17: ("fc", "core.v1.FCVolumeSource", PTR),
        18: ("azureFile", "core.v1.AzureFileVolumeSource", PTR),
        19: ("configMap", "core.v1.ConfigMapVolumeSource", PTR),
        20: ("vsphereVolume", "core.v1.VsphereVirtualDiskVolumeSource", PTR),
        21: ("quobyte", "core.v1.QuobyteVolumeSource", PTR),
        22: ("azureDisk", "core.v1.AzureDiskVolumeSource", PTR),
        23: ("photonPersistentDisk", "core.v1.PhotonPersistentDiskVolumeSource", PTR),
        26: ("projected", "core.v1.ProjectedVolumeSource", PTR),
        24: ("portworxVolume", "core.v1.PortworxVolumeSource", PTR),
        25: ("scaleIO", "core.v1.ScaleIOVolumeSource", PTR),
        27: ("storageos", "core.v1.StorageOSVolumeSource", PTR), 28: ("csi", "core.v1.CSIVolumeSource", PTR),
        29: ("ephemeral", "core.v1.EphemeralVolumeSource", PTR), 30: ("image", "core.v1.ImageVolumeSource", PTR),
    },
    "core.v1.VsphereVirtualDiskVolumeSource": {
        1: ("volumePath", "string", REQ), 2: ("fsType", "string", OMIT), 3: ("storagePolicyName", "string", OMIT),
        4: ("storagePolicyID", "string", OMIT),
    },
    "core.v1.WeightedPodAffinityTerm": {
        1: ("weight", "int32", REQ), 2: ("podAffinityTerm", "core.v1.PodAffinityTerm", REQ),
    },
    "core.v1.WindowsSecurityContextOptions": {
        1: ("gmsaCredentialSpecName", "string", PTR), 2: ("gmsaCredentialSpec", "string", PTR),
        3: ("runAsUserName", "string", PTR), 4: ("hostProcess", "bool", PTR),
    },

    # --- apps.v1 ---
    "apps.v1.Deployment": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "apps.v1.DeploymentSpec", REQ),
        3: ("status", "apps.v1.DeploymentStatus", REQ),
    },
    "apps.v1.DeploymentCondition": {
        1: ("type", "string", REQ), 2: ("status", "string", REQ), 6: ("lastUpdateTime", "meta.v1.Time", REQ),
        7: ("lastTransitionTime", "meta.v1.Time", REQ), 4: ("reason", "string", OMIT),
        5: ("message", "string", OMIT),
    },
    "apps.v1.DeploymentSpec": {
        1: ("replicas", "int32", PTR), 2: ("selector", "meta.v1.LabelSelector", NULLABLE),
        3: ("template", "core.v1.PodTemplateSpec", REQ), 4: ("strategy", "apps.v1.DeploymentStrategy", REQ),
        5: ("minReadySeconds", "int32", OMIT), 6: ("revisionHistoryLimit", "int32", PTR),
        7: ("paused", "bool", OMIT), 9: ("progressDeadlineSeconds", "int32", PTR),
    },
    "apps.v1.DeploymentStatus": {
        1: ("observedGeneration", "int64", OMIT), 2: ("replicas", "int32", OMIT),
        3: ("updatedReplicas", "int32", OMIT), 7: ("readyReplicas", "int32", OMIT),
        4: ("availableReplicas", "int32", OMIT), 5: ("unavailableReplicas", "int32", OMIT),
        6: ("conditions", "[]apps.v1.DeploymentCondition", OMIT), 8: ("collisionCount", "int32", PTR),
    },
    "apps.v1.DeploymentStrategy": {
        1: ("type", "string", OMIT), 2: ("rollingUpdate", "apps.v1.RollingUpdateDeployment", PTR),
    },
    "apps.v1.RollingUpdateDeployment": {
        1: ("maxUnavailable", "intstr.IntOrString", PTR), 2: ("maxSurge", "intstr.IntOrString", PTR),
    },

    # --- batch.v1 ---
    "batch.v1.CronJob": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "batch.v1.CronJobSpec", REQ),
        3: ("status", "batch.v1.CronJobStatus", REQ),
    },
    "batch.v1.CronJobSpec": {
        1: ("schedule", "string", REQ), 8: ("timeZone", "string", PTR),
        2: ("startingDeadlineSeconds", "int64", PTR), 3: ("concurrencyPolicy", "string", OMIT),
        4: ("suspend", "bool", PTR), 5: ("jobTemplate", "batch.v1.JobTemplateSpec", REQ),
        6: ("successfulJobsHistoryLimit", "int32", PTR), 7: ("failedJobsHistoryLimit", "int32", PTR),
    },
    "batch.v1.CronJobStatus": {
        1: ("active", "[]core.v1.ObjectReference", OMIT), 4: ("lastScheduleTime", "meta.v1.Time", PTR),
        5: ("lastSuccessfulTime", "meta.v1.Time", PTR),
    },
    "batch.v1.Job": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "batch.v1.JobSpec", REQ),
        3: ("status", "batch.v1.JobStatus", REQ),
    },
    "batch.v1.JobCondition": {
        1: ("type", "string", REQ), 2: ("status", "string", REQ), 3: ("lastProbeTime", "meta.v1.Time", REQ),
        4: ("lastTransitionTime", "meta.v1.Time", REQ), 5: ("reason", "string", OMIT),
        6: ("message", "string", OMIT),
    },
    "batch.v1.JobSpec": {
        1: ("parallelism", "int32", PTR), 2: ("completions", "int32", PTR),
        3: ("activeDeadlineSeconds", "int64", PTR), 11: ("podFailurePolicy", "batch.v1.PodFailurePolicy", PTR),
        16: ("successPolicy", "batch.v1.SuccessPolicy", PTR), 7: ("backoffLimit", "int32", PTR),
        12: ("backoffLimitPerIndex", "int32", PTR), 13: ("maxFailedIndexes", "int32", PTR),
        4: ("selector", "meta.v1.LabelSelector", PTR), 5: ("manualSelector", "bool", PTR),
        6: ("template", "core.v1.PodTemplateSpec", REQ), 8: ("ttlSecondsAfterFinished", "int32", PTR),
        9: ("completionMode", "string", PTR), 10: ("suspend", "bool", PTR),
        14: ("podReplacementPolicy", "string", PTR), 15: ("managedBy", "string", PTR),
    },
    "batch.v1.JobStatus": {
        1: ("conditions", "[]batch.v1.JobCondition", OMIT), 2: ("startTime", "meta.v1.Time", PTR),
        3: ("completionTime", "meta.v1.Time", PTR), 4: ("active", "int32", OMIT), 5: ("succeeded", "int32", OMIT),
        6: ("failed", "int32", OMIT), 11: ("terminating", "int32", PTR), 7: ("completedIndexes", "string", OMIT),
        10: ("failedIndexes", "string", PTR),
        8: ("uncountedTerminatedPods", "batch.v1.UncountedTerminatedPods", PTR), 9: ("ready", "int32", PTR),
    },
    "batch.v1.JobTemplateSpec": {1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "batch.v1.JobSpec", REQ)},
    "batch.v1.PodFailurePolicy": {1: ("rules", "[]batch.v1.PodFailurePolicyRule", REQ)},
    "batch.v1.PodFailurePolicyOnExitCodesRequirement": {
        1: ("containerName", "string", PTR), 2: ("operator", "string", REQ), 3: ("values", "[]int32", REQ),
    },
    "batch.v1.PodFailurePolicyOnPodConditionsPattern": {1: ("type", "string", REQ), 2: ("status", "string", REQ)},
    "batch.v1.PodFailurePolicyRule": {
        1: ("action", "string", REQ), 2: ("onExitCodes", "batch.v1.PodFailurePolicyOnExitCodesRequirement", PTR),
        3: ("onPodConditions", "[]batch.v1.PodFailurePolicyOnPodConditionsPattern", OMIT),
    },
    "batch.v1.SuccessPolicy": {1: ("rules", "[]batch.v1.SuccessPolicyRule", REQ)},
    "batch.v1.SuccessPolicyRule": {1: ("succeededIndexes", "string", PTR), 2: ("succeededCount", "int32", PTR)},
    "batch.v1.UncountedTerminatedPods": {1: ("succeeded", "[]string", OMIT), 2: ("failed", "[]string", OMIT)},

    # --- authorization.v1 ---
    "authorization.v1.FieldSelectorAttributes": {
        1: ("rawSelector", "string", OMIT), 2: ("requirements", "[]meta.v1.FieldSelectorRequirement", OMIT),
    },
    "authorization.v1.LabelSelectorAttributes": {
        1: ("rawSelector", "string", OMIT), 2: ("requirements", "[]meta.v1.LabelSelectorRequirement", OMIT),
    },
    "authorization.v1.NonResourceAttributes": {1: ("path", "string", OMIT), 2: ("verb", "string", OMIT)},
    "authorization.v1.ResourceAttributes": {
        1: ("namespace", "string", OMIT), 2: ("verb", "string", OMIT), 3: ("group", "string", OMIT),
        4: ("version", "string", OMIT), 5: ("resource", "string", OMIT), 6: ("subresource", "string", OMIT),
        7: ("name", "string", OMIT), 8: ("fieldSelector", "authorization.v1.FieldSelectorAttributes", PTR),
        9: ("labelSelector", "authorization.v1.LabelSelectorAttributes", PTR),
    },
    "authorization.v1.SelfSubjectAccessReview": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ),
        2: ("spec", "authorization.v1.SelfSubjectAccessReviewSpec", REQ),
        3: ("status", "authorization.v1.SubjectAccessReviewStatus", REQ),
    },
    "authorization.v1.SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "authorization.v1.ResourceAttributes", PTR),
        2: ("nonResourceAttributes", "authorization.v1.NonResourceAttributes", PTR),
    },
    "authorization.v1.SubjectAccessReview": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("spec", "authorization.v1.SubjectAccessReviewSpec", REQ),
        3: ("status", "authorization.v1.SubjectAccessReviewStatus", REQ),
    },
    "authorization.v1.SubjectAccessReviewSpec": {
        1: ("resourceAttributes", "authorization.v1.ResourceAttributes", PTR),
        2: ("nonResourceAttributes", "authorization.v1.NonResourceAttributes", PTR), 3: ("user", "string", OMIT),
        4: ("groups", "[]string", OMIT), 5: ("extra", "map[string]authorization.v1.ExtraValue", OMIT),
        6: ("uid", "string", OMIT),
    },
    "authorization.v1.SubjectAccessReviewStatus": {
        1: ("allowed", "bool", REQ), 4: ("denied", "bool", OMIT), 2: ("reason", "string", OMIT),
        3: ("evaluationError", "string", OMIT),
    },

    # --- policy.v1 ---
    "policy.v1.Eviction": {
        1: ("metadata", "meta.v1.ObjectMeta", REQ), 2: ("deleteOptions", "meta.v1.DeleteOptions", PTR),
    },
}


def _compile() -> tuple[dict[str, dict[int, _Field]], dict[str, list[_Field]]]:
    # Parse the Go-like type strings once, and check the table is closed: every message a field
    # names is in it, so a gap shows at import rather than on some rare request.
    fields: dict[str, dict[int, _Field]] = {}
    order: dict[str, list[_Field]] = {}
    for kind, message in KINDS.items():
        if message not in MESSAGES:
            raise AssertionError(f"{kind}: no table for {message}")
    for message, entries in MESSAGES.items():
        if message.rpartition(".")[0] not in _PACKAGES:
            raise AssertionError(f"{message}: unknown package")
        compiled = []
        for number, (name, type_, presence) in entries.items():
            if type_.startswith("[]"):
                shape, type_ = "list", type_[2:]
            elif type_.startswith("map[string]"):
                shape, type_ = "map", type_[len("map[string]"):]
            else:
                shape = "one"
            if type_ not in _SCALARS and type_ not in MESSAGES:
                raise AssertionError(f"{message} field {number}: no table for {type_}")
            if presence not in (PTR, NULLABLE, OMIT, REQ, INLINE):
                raise AssertionError(f"{message} field {number}: presence {presence!r}")
            compiled.append(_Field(number, name, shape, type_, presence))
        fields[message] = {f.number: f for f in compiled}
        order[message] = compiled
    return fields, order


_FIELDS, _ORDER = _compile()
