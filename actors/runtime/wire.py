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
from typing import Any

from actors.runtime import cri
from actors.runtime.cri import Code, CriError

_FIELDS: dict[type, tuple[dataclasses.Field, ...]] = {}
"""A record class's fields, looked up once: ``dataclasses.fields`` on every call was a hollow node's top cost."""


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = dataclasses.fields(cls)
    return found


def to_wire(value: Any) -> Any:
    """A record (or list/tuple of them, or a plain value) as maps and lists."""
    cls = type(value)
    if cls in _FIELDS or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return {f.name: to_wire(getattr(value, f.name)) for f in _fields(cls)}
    if value is None or cls in (str, int, float, bool):
        return value
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, vars(cri))
    return hints


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        last: CriError | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except CriError as exc:
                last = exc
        raise last or CriError(Code.INVALID_ARGUMENT, f"{path}: unexpected {type(value).__name__}")
    if dataclasses.is_dataclass(hint):
        return from_wire(hint, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CriError(Code.INVALID_ARGUMENT, f"{path}: must be a list, not {type(value).__name__}")
        item = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise CriError(Code.INVALID_ARGUMENT, f"{path}: must be a map, not {type(value).__name__}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CriError(Code.INVALID_ARGUMENT, f"{path}: must be a number, not {type(value).__name__}")
        return float(value)
    if hint in (str, int, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise CriError(Code.INVALID_ARGUMENT, f"{path}: must be {hint.__name__}, not {type(value).__name__}")
        return value
    return value


def from_wire(cls: type, data: Any, path: str = "") -> Any:
    """The record ``cls`` from its map; CriError INVALID_ARGUMENT naming the field if it does not fit."""
    where = path or cls.__name__
    if not isinstance(data, dict):
        raise CriError(Code.INVALID_ARGUMENT, f"{where}: must be a map, not {type(data).__name__}")
    fields = {f.name: f for f in _fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CriError(Code.INVALID_ARGUMENT, f"{where}: unknown field {unknown[0]!r}")
    hints = _hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CriError(Code.INVALID_ARGUMENT, f"{where}.{name}: required")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


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
        out[name] = _convert(hint, args[name], f"{method}.{name}")
    return out
