"""CRI records on the bus: the frozen dataclasses of :mod:`actors.runtime.cri` as plain maps, and back.

A ``cri.Request`` carries its arguments, and a ``cri.Response`` its result,
as msgpack can carry them: maps, lists, strings, numbers. :func:`to_wire`
flattens a record (nested records and tuples included); :func:`from_wire`
rebuilds one from a map, strictly — an unknown field, a missing required one
or a value of the wrong shape is a :class:`~actors.runtime.cri.CriError`
INVALID_ARGUMENT naming the field, never a crash of the runtime.

:data:`METHODS` is the CRI surface kubesim's runtime answers, by gRPC method
name, with each method's arguments: the runtime actor checks a request
against it before calling the core.

Pure.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from actors.runtime import cri
from actors.runtime.cri import Code, CriError

_Convert = Callable[[Any], Any]
"""Checks one value against a type and returns it as that type; raises :class:`_Bad`."""


class _Bad(Exception):
    """A value that does not fit: ``sub`` is where, below the value being converted (``.name[2]``)."""

    def __init__(self, sub: str, msg: str) -> None:
        super().__init__(msg)
        self.sub, self.msg = sub, msg


# Each record class and each type hint is turned into a converter once: looking fields and hints up on
# every call (``dataclasses.fields``, ``typing.get_origin``) was a hollow node's top cost. The path of
# a bad value is put together only when one is found, on the way up.

_ENCODERS: dict[type, tuple[str, ...]] = {}
_RECORDS: dict[type, tuple[frozenset[str], tuple[tuple[str, _Convert, bool], ...]]] = {}
_CONVERTERS: dict[Any, _Convert] = {}


def to_wire(value: Any) -> Any:
    """A record (or list/tuple of them, or a plain value) as maps and lists."""
    cls = type(value)
    if cls is str or cls is int or cls is float or cls is bool or value is None:
        return value
    names = _ENCODERS.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            if isinstance(value, (list, tuple)):
                return [to_wire(v) for v in value]
            if isinstance(value, dict):
                return {k: to_wire(v) for k, v in value.items()}
            return value
        names = _ENCODERS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {name: to_wire(getattr(value, name)) for name in names}


def _record(cls: type) -> tuple[frozenset[str], tuple[tuple[str, _Convert, bool], ...]]:
    found = _RECORDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls, vars(cri))
        fields = tuple((f.name, _converter(hints[f.name]),
                        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                       for f in dataclasses.fields(cls))
        found = _RECORDS[cls] = (frozenset(name for name, _, _ in fields), fields)
    return found


def _decode(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise _Bad("", f"must be a map, not {type(data).__name__}")
    names, fields = _record(cls)
    if not names.issuperset(data):
        raise _Bad("", f"unknown field {sorted(set(data) - names)[0]!r}")
    kwargs = {}
    for name, convert, required in fields:
        if name in data:
            try:
                kwargs[name] = convert(data[name])
            except _Bad as bad:
                raise _Bad(f".{name}{bad.sub}", bad.msg) from None
        elif required:
            raise _Bad(f".{name}", "required")
    return cls(**kwargs)


def _converter(hint: Any) -> _Convert:
    """The converter for ``hint``, made once."""
    found = _CONVERTERS.get(hint)
    if found is None:
        found = _CONVERTERS[hint] = _make_converter(hint)
    return found


def _make_converter(hint: Any) -> _Convert:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        optional = type(None) in args
        choices = [_converter(arg) for arg in args if arg is not type(None)]

        def union(value: Any) -> Any:
            if value is None and optional:
                return None
            last: _Bad | None = None
            for convert in choices:
                try:
                    return convert(value)
                except _Bad as bad:
                    last = bad
            raise last or _Bad("", f"unexpected {type(value).__name__}")
        return union
    if dataclasses.is_dataclass(hint):
        return lambda value: _decode(hint, value)
    if origin is tuple:
        args = typing.get_args(hint)
        item = _converter(args[0]) if args else _converter(Any)

        def sequence(value: Any) -> tuple:
            if not isinstance(value, (list, tuple)):
                raise _Bad("", f"must be a list, not {type(value).__name__}")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(item(v))
                except _Bad as bad:
                    raise _Bad(f"[{i}]{bad.sub}", bad.msg) from None
            return tuple(out)
        return sequence
    if origin is dict or hint is dict:
        def mapping(value: Any) -> dict:
            if not isinstance(value, dict):
                raise _Bad("", f"must be a map, not {type(value).__name__}")
            return dict(value)
        return mapping
    if hint is float:
        def number(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Bad("", f"must be a number, not {type(value).__name__}")
            return float(value)
        return number
    if hint in (str, int, bool):
        def exact(value: Any) -> Any:
            if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
                raise _Bad("", f"must be {hint.__name__}, not {type(value).__name__}")
            return value
        return exact
    return lambda value: value  # Any, and anything the records do not use


def from_wire(cls: type, data: Any, path: str = "") -> Any:
    """The record ``cls`` from its map; CriError INVALID_ARGUMENT naming the field if it does not fit."""
    try:
        return _decode(cls, data)
    except _Bad as bad:
        raise CriError(Code.INVALID_ARGUMENT, f"{path or cls.__name__}{bad.sub}: {bad.msg}") from None


@dataclasses.dataclass(frozen=True)
class Method:
    """One CRI call: its arguments (name -> type; a record type is rebuilt with from_wire) and which are optional."""

    args: dict[str, Any]
    optional: frozenset[str] = frozenset()


METHODS: dict[str, Method] = {
    "Version": Method({}),
    "RunPodSandbox": Method({"config": cri.PodSandboxConfig}),
    "StopPodSandbox": Method({"pod_sandbox_id": str}),
    "RemovePodSandbox": Method({"pod_sandbox_id": str}),
    "PodSandboxStatus": Method({"pod_sandbox_id": str}),
    "ListPodSandbox": Method({"state": str, "labels": dict}, frozenset({"state", "labels"})),
    "CreateContainer": Method({"pod_sandbox_id": str, "config": cri.ContainerConfig}),
    "StartContainer": Method({"container_id": str}),
    "StopContainer": Method({"container_id": str, "timeout": float}),
    "RemoveContainer": Method({"container_id": str}),
    "ContainerStatus": Method({"container_id": str}),
    "ListContainers": Method({"pod_sandbox_id": str, "state": str, "labels": dict},
                             frozenset({"pod_sandbox_id", "state", "labels"})),
    "ExecSync": Method({"container_id": str, "cmd": tuple[str, ...], "timeout": float}, frozenset({"timeout"})),
    "PullImage": Method({"image": str}),
    "ImageStatus": Method({"image": str}),
    "ListImages": Method({}),
    "RemoveImage": Method({"image": str}),
    "ContainerLogs": Method({"container_id": str, "tail": int, "since": float}, frozenset({"tail", "since"})),
    "ContainerStats": Method({}),
}


def parse_args(method: str, args: Any) -> dict[str, Any]:
    """A request's arguments checked against :data:`METHODS` and rebuilt; CriError if they do not fit."""
    spec = METHODS.get(method)
    if spec is None:
        raise CriError(Code.INVALID_ARGUMENT, f"unknown CRI method {method!r} (one of {', '.join(sorted(METHODS))})")
    if not isinstance(args, dict):
        raise CriError(Code.INVALID_ARGUMENT, f"{method}: arguments must be a map")
    unknown = sorted(set(args) - set(spec.args))
    if unknown:
        raise CriError(Code.INVALID_ARGUMENT, f"{method}: unknown argument {unknown[0]!r}")
    out = {}
    for name, hint in spec.args.items():
        if name not in args or (args[name] is None and name in spec.optional):
            if name not in spec.optional:
                raise CriError(Code.INVALID_ARGUMENT, f"{method}.{name}: required")
            continue
        try:
            out[name] = _converter(hint)(args[name])
        except _Bad as bad:
            raise CriError(Code.INVALID_ARGUMENT, f"{method}.{name}{bad.sub}: {bad.msg}") from None
    return out
