"""PATCH for the API server: JSON Merge Patch, JSON Patch and strategic merge patch.

``kubectl patch``, ``kubectl set image``, ``kubectl apply``, the kubelet's status
updates and every controller that adds a finalizer send PATCH requests in one of
three formats (the request's ``Content-Type`` says which). The API server reads
the stored object, applies the patch with one of these functions and writes the
result back with compare-and-swap on its resourceVersion. They are pure: plain
JSON-like data in, a new object out; the inputs are never mutated and the result
shares nothing with them.

- :func:`merge_patch` — ``application/merge-patch+json``, RFC 7386 exactly.
- :func:`json_patch` — ``application/json-patch+json``, RFC 6902: add, remove,
  replace, move, copy and test, addressed by JSON Pointer (RFC 6901). All or
  nothing: the first failing op raises :class:`PatchError`.
- :func:`strategic_merge_patch` — ``application/strategic-merge-patch+json``,
  Kubernetes' own format (apimachinery ``pkg/util/strategicpatch``). It is a
  merge patch in which some lists are merged element by element, matched on a
  *merge key* (containers by ``name``), instead of replaced. Kubernetes reads
  the strategies from Go struct tags; here they are :data:`PATCH_STRATEGIES`,
  one table for the fields kubesim's components patch. Every other list is
  replaced wholesale, as Kubernetes does for lists without a strategy, and a
  kind missing from the table (a custom resource, say) gets plain merge-patch
  semantics for all of its lists.

Strategic merge patch directives supported, with Kubernetes' meaning unless said:

- ``null`` deletes a key, as in a merge patch;
- ``{"$patch": "replace"}`` in a map replaces the map instead of merging it; as
  an element of a merged list it replaces the whole list with the patch's other
  elements (also accepted in a list of scalars, which Kubernetes rejects);
- ``{"$patch": "delete", <mergeKey>: v}`` in a merged list removes the element
  with that key; ``{"$patch": "delete"}`` in a map removes the map's key from its
  parent (Kubernetes' code leaves ``{}`` there instead; kubesim follows the
  directive's documented meaning, that the map goes);
- ``$deleteFromPrimitiveList/<field>: [values]`` removes those values from a
  list of scalars (any list of scalars, not only merged ones);
- ``$setElementOrder/<field>: [...]`` orders a merged list: the elements it names
  in its order, the others where they were, interleaved as Kubernetes'
  ``normalizeElementOrder`` does. It is checked against the patch list (same
  relative order) and accepted but ignored on a list that is replaced;
- ``$retainKeys: [keys]`` drops the map's keys not listed before merging.

Ordering without ``$setElementOrder`` follows Kubernetes too: the patched
elements keep their patch order and existing ones their place, so an element
that is new (an added container or finalizer) lands *before* the existing ones.
Any other ``$``-prefixed key, ``$patch: merge`` and lists of lists are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from actors.jsonvalue import clone

Json = Any
"""A JSON value as Python holds it: dict, list, str, int, float, bool or None."""


class PatchError(Exception):
    """A patch that cannot be applied to this object: a value, not a bug.

    The API server answers it with 422 Unprocessable Entity, as Kubernetes
    does. ``path`` says where in the object (a JSON Pointer for
    JSON Patch, a dotted path for the merge formats); ``op_index`` is the
    failing JSON Patch operation's position, None for the merge formats.
    """

    def __init__(self, path: str, reason: str, op_index: int | None = None):
        self.path = path
        self.reason = reason
        self.op_index = op_index
        where = f"at {path or '<root>'}"
        if op_index is not None:
            where = f"op {op_index}, path {path!r}"
        super().__init__(f"{where}: {reason}")


# ---------------------------------------------------------------- RFC 7386


def merge_patch(target: Json, patch: Json) -> Json:
    """Apply a JSON Merge Patch (RFC 7386) to ``target``; return the result.

    A patch that is not an object replaces the target; in an object, null
    deletes a key and any other value is merged in recursively. Lists are
    values like any other: replaced, never merged.
    """
    return _merge_patch(clone(target), patch)


def _merge_patch(target: Json, patch: Json) -> Json:
    # The RFC's pseudo-code, run on a private copy of the target.
    if not isinstance(patch, dict):
        return clone(patch)
    if not isinstance(target, dict):
        target = {}
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = _merge_patch(target.get(name), value)
    return target


# ---------------------------------------------------------------- RFC 6902


class _OpFailed(Exception):
    """One JSON Patch op cannot be applied; json_patch adds the op and its index."""


def json_patch(target: Json, ops: list[dict]) -> Json:
    """Apply a JSON Patch (RFC 6902), a list of operations, in order.

    Raises :class:`PatchError` naming the first op that fails (a malformed op,
    a path that does not exist, a ``test`` whose value differs) and its index.
    The ops run on a copy, so a failure leaves nothing half-applied.
    """
    if not isinstance(ops, list):
        raise PatchError("", "a JSON Patch must be a list of operations")
    document = clone(target)
    for index, op in enumerate(ops):
        try:
            document = _apply_op(document, op)
        except _OpFailed as failure:
            raise _op_error(op, index, failure) from None
    return document


def _op_error(op: Json, index: int, failure: _OpFailed) -> PatchError:
    if not isinstance(op, dict):
        return PatchError("", str(failure), op_index=index)
    path = op.get("path")
    reason = f"{op.get('op')}: {failure}"
    if "from" in op:
        reason += f" (from {op['from']!r})"
    return PatchError(path if isinstance(path, str) else "", reason, op_index=index)


def _apply_op(document: Json, op: Json) -> Json:
    if not isinstance(op, dict):
        raise _OpFailed("an operation must be an object")
    apply = _OPERATIONS.get(op.get("op"))
    if apply is None:
        raise _OpFailed(f"unknown operation {op.get('op')!r}")
    # Members other than those the op uses are ignored (RFC 6902 §4, A.11).
    return apply(document, op)


def _op_add(document: Json, op: dict) -> Json:
    return _add(document, _tokens(_member(op, "path")), _member(op, "value"))


def _op_remove(document: Json, op: dict) -> Json:
    _remove(document, _tokens(_member(op, "path")))
    return document


def _op_replace(document: Json, op: dict) -> Json:
    tokens = _tokens(_member(op, "path"))
    value = clone(_member(op, "value"))
    if not tokens:
        return value
    parent, token = _resolve(document, tokens[:-1]), tokens[-1]
    _child(parent, token)  # the target must exist, unlike add's
    parent[_key(parent, token, appending=False)] = value
    return document


def _op_move(document: Json, op: dict) -> Json:
    source, path = _member(op, "from"), _member(op, "path")
    if path.startswith(source + "/"):
        raise _OpFailed(f"cannot move {source!r} into its own child")
    value = _remove(document, _tokens(source))
    return _add(document, _tokens(path), value)


def _op_copy(document: Json, op: dict) -> Json:
    value = _resolve(document, _tokens(_member(op, "from")))
    return _add(document, _tokens(_member(op, "path")), value)


def _op_test(document: Json, op: dict) -> Json:
    actual = _resolve(document, _tokens(_member(op, "path")))
    expected = _member(op, "value")
    if not json_equal(actual, expected):
        raise _OpFailed(f"value is {actual!r}, not {expected!r}")
    return document


_OPERATIONS: dict[str, Callable[[Json, dict], Json]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


def _member(op: dict, name: str) -> Json:
    if name not in op:
        raise _OpFailed(f"missing {name!r} member")
    value = op[name]
    if name in ("path", "from") and not isinstance(value, str):
        raise _OpFailed(f"{name!r} must be a string, not {value!r}")
    return value


def _add(document: Json, tokens: list[str], value: Json) -> Json:
    value = clone(value)
    if not tokens:
        return value
    parent, token = _resolve(document, tokens[:-1]), tokens[-1]
    if isinstance(parent, list):
        parent.insert(_key(parent, token, appending=True), value)
    elif isinstance(parent, dict):
        parent[token] = value
    else:
        raise _OpFailed(f"cannot add {token!r} to a scalar")
    return document


def _remove(document: Json, tokens: list[str]) -> Json:
    if not tokens:
        raise _OpFailed("cannot remove the whole document")
    parent, token = _resolve(document, tokens[:-1]), tokens[-1]
    _child(parent, token)
    return parent.pop(_key(parent, token, appending=False))


def _resolve(document: Json, tokens: list[str]) -> Json:
    node = document
    for token in tokens:
        node = _child(node, token)
    return node


def _child(node: Json, token: str) -> Json:
    if isinstance(node, dict):
        if token not in node:
            raise _OpFailed(f"no member {token!r}")
        return node[token]
    if isinstance(node, list):
        return node[_key(node, token, appending=False)]
    raise _OpFailed(f"cannot look up {token!r} in a scalar")


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def _key(container: Json, token: str, *, appending: bool) -> Json:
    """The dict key or list index ``token`` names; "-" is one past the end."""
    if isinstance(container, dict):
        return token
    if token == "-" and appending:
        return len(container)
    if not _ARRAY_INDEX.fullmatch(token):
        raise _OpFailed(f"{token!r} is not an array index")
    index, limit = int(token), len(container) + (1 if appending else 0)
    if index >= limit:
        raise _OpFailed(f"index {index} is out of range for {len(container)} elements")
    return index


_BAD_ESCAPE = re.compile(r"~(?![01])")


def _tokens(pointer: str) -> list[str]:
    """Split a JSON Pointer (RFC 6901) into unescaped reference tokens."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _OpFailed(f"JSON Pointer {pointer!r} must be empty or start with '/'")
    if _BAD_ESCAPE.search(pointer):
        raise _OpFailed(f"JSON Pointer {pointer!r} has a '~' not followed by 0 or 1")
    # ~1 first, so that "~01" decodes to "~1", not "/" (RFC 6901 §4).
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def json_equal(a: Json, b: Json) -> bool:
    """JSON equality: numbers by value (1 == 1.0); true is not 1, "1" is not 1."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _is_number(value: Json) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------- strategic merge patch


class ListStrategy(NamedTuple):
    """How a list field is patched: merged (by ``merge_key``, or as a set of
    scalars when that is None) or replaced wholesale."""

    merge: bool
    merge_key: str | None = None


REPLACE = ListStrategy(merge=False)
"""Replace the list: the default for any list not in the table."""

MERGE_SCALARS = ListStrategy(merge=True)
"""A set-like list of scalars: the patch's values are added, duplicates dropped."""


def by(merge_key: str) -> ListStrategy:
    """Merge a list of objects element by element, matched on ``merge_key``."""
    return ListStrategy(merge=True, merge_key=merge_key)


_POD_SPEC_LISTS: dict[str, ListStrategy] = {
    "containers": by("name"),
    "containers.ports": by("containerPort"),
    "containers.env": by("name"),
    "containers.volumeMounts": by("mountPath"),
    "initContainers": by("name"),
    "initContainers.ports": by("containerPort"),
    "initContainers.env": by("name"),
    "initContainers.volumeMounts": by("mountPath"),
    "volumes": by("name"),
    "tolerations": REPLACE,  # no patch tag in k8s: atomic; listed so nobody "fixes" it
    "imagePullSecrets": by("name"),
}
"""The merged lists of a PodSpec (k8s ``core/v1`` patch tags), relative to it."""

POD_SPEC_PATHS: dict[str, str] = {
    "Pod": "spec",
    "Deployment": "spec.template.spec",
    "ReplicaSet": "spec.template.spec",
    "DaemonSet": "spec.template.spec",
    "StatefulSet": "spec.template.spec",
    "Job": "spec.template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
}
"""Where each workload kind keeps its PodSpec."""

_OBJECT_META_LISTS: dict[str, ListStrategy] = {
    "metadata.finalizers": MERGE_SCALARS,
    "metadata.ownerReferences": by("uid"),
}
"""The merged lists of ObjectMeta, which every known kind has."""

KNOWN_KINDS: frozenset[str] = frozenset(
    [*POD_SPEC_PATHS, "Service", "Node", "Namespace", "ConfigMap", "Secret",
     "ServiceAccount", "Endpoints", "Event", "Lease"]
)
"""Kinds with strategic semantics; any other kind's lists are all replaced."""

PATCH_STRATEGIES: dict[tuple[str, str], ListStrategy] = {
    **{
        (kind, f"{spec}.{field}"): strategy
        for kind, spec in POD_SPEC_PATHS.items()
        for field, strategy in _POD_SPEC_LISTS.items()
    },
    **{
        (kind, field): strategy
        for kind in KNOWN_KINDS
        for field, strategy in _OBJECT_META_LISTS.items()
    },
    ("Service", "spec.ports"): by("port"),
    ("Pod", "status.conditions"): by("type"),
    ("Node", "status.conditions"): by("type"),
}
"""(kind, dotted field path) → list strategy. A path names fields only: list
elements are transparent, so ``spec.containers.env`` is every container's env."""

_PATCH = "$patch"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_RETAIN_KEYS = "$retainKeys"


class _Absent:
    """A field the patch names only in a directive, or a value to drop."""


_ABSENT = _Absent()


@dataclass(frozen=True, slots=True)
class _Where:
    """Where the merge is: the kind, the schema path for the table, the path to show."""

    kind: str
    fields: tuple[str, ...] = ()
    shown: str = ""

    def field(self, name: str) -> _Where:
        shown = f"{self.shown}.{name}" if self.shown else name
        return _Where(self.kind, (*self.fields, name), shown)

    def element(self, merge_key: str, value: Json) -> _Where:
        return _Where(self.kind, self.fields, f"{self.shown}[{merge_key}={value}]")

    def strategy(self) -> ListStrategy:
        return PATCH_STRATEGIES.get((self.kind, ".".join(self.fields)), REPLACE)


def strategic_merge_patch(target: Json, patch: Json, kind: str) -> Json:
    """Apply a Kubernetes strategic merge patch to an object of ``kind``.

    See the module docstring for the directives supported. Raises
    :class:`PatchError` for a malformed patch: an unknown directive, a merged
    list element without its merge key, a ``$setElementOrder`` list that
    contradicts the patch.
    """
    if not isinstance(patch, dict):
        raise PatchError("", "a strategic merge patch must be an object")
    base = clone(target) if isinstance(target, dict) else {}
    # The merge builds fresh containers from the patch, so this copy is only a
    # guard: the result must never alias a caller's patch.
    merged = _merge_map(base, clone(patch), _Where(kind))
    return {} if merged is _ABSENT else merged


def _merge_map(original: dict, patch: dict, where: _Where) -> dict | _Absent:
    """Merge ``patch`` into ``original`` (a private copy, changed in place)."""
    directive = patch.get(_PATCH)
    if directive == "delete":
        return _ABSENT
    if directive == "replace":
        rest = {k: v for k, v in patch.items() if k != _PATCH}
        return _merge_map({}, rest, where)
    if directive is not None:
        raise PatchError(where.shown, f"unknown $patch {directive!r} in a map")
    fields, orders, removals, retain = _split_directives(patch, where)
    if retain is not None:
        original = _retain_keys(original, fields, retain, where)
    for name in dict.fromkeys([*fields, *orders, *removals]):
        _merge_field(original, name, fields.get(name, _ABSENT), where.field(name),
                     orders.get(name), removals.get(name))
    return original


def _split_directives(patch: dict, where: _Where) -> tuple[dict, dict, dict, Json]:
    """Separate the fields of a map patch from its $-directives."""
    fields, orders, removals, retain = {}, {}, {}, None
    for key, value in patch.items():
        if key.startswith(_SET_ORDER):
            field = key.removeprefix(_SET_ORDER)
            orders[field] = _directive_list(key, value, where)
        elif key.startswith(_DELETE_FROM):
            field = key.removeprefix(_DELETE_FROM)
            removals[field] = _directive_list(key, value, where)
        elif key == _RETAIN_KEYS:
            retain = _directive_list(key, value, where)
        elif key.startswith("$"):
            raise PatchError(where.shown, f"unknown directive {key!r}")
        else:
            fields[key] = value
    return fields, orders, removals, retain


def _directive_list(key: str, value: Json, where: _Where) -> list:
    if not isinstance(value, list):
        raise PatchError(where.shown, f"{key} must be a list, not {value!r}")
    return value


def _retain_keys(original: dict, fields: dict, retain: list, where: _Where) -> dict:
    # Used for union types (a volume's source, a Deployment's strategy): setting
    # one member must clear the others, which a merge alone would keep.
    missing = [name for name in fields if name not in retain]
    if missing:
        raise PatchError(where.shown, f"$retainKeys lacks patched keys {missing}")
    return {name: value for name, value in original.items() if name in retain}


def _merge_field(parent: dict, name: str, value: Json, where: _Where,
                 order: list | None, removals: list | None) -> None:
    if value is None:
        parent.pop(name, None)
        return
    current = parent.get(name, _ABSENT)
    if isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, where)
    elif isinstance(value, list) or value is _ABSENT:
        merged = _merge_list_field(current, value, where, order, removals)
    else:
        merged = value
    if merged is _ABSENT:
        parent.pop(name, None)
    else:
        parent[name] = merged


def _merge_list_field(current: Json, value: list | _Absent, where: _Where,
                      order: list | None, removals: list | None) -> Json:
    if value is _ABSENT and not isinstance(current, list):
        return current  # a directive for a list that is not there: nothing to do
    if not isinstance(current, list):
        current = []
    strategy = where.strategy()
    if strategy.merge:
        merged = _merge_list(current, [] if value is _ABSENT else value,
                             strategy.merge_key, where, order)
    elif value is _ABSENT:
        merged = current  # $setElementOrder alone, on a list that is replaced
    else:
        merged = _replace_list(value, where)
    if removals is not None:
        merged = _remove_scalars(merged, removals, where)
    return merged


def _replace_list(patch_list: list, where: _Where) -> list:
    # A "$patch: replace" element means what replacing does anyway; a delete
    # cannot be honoured without a merge key, so it is an error, not ignored.
    elements = []
    for element in patch_list:
        if _is_directive(element):
            if element[_PATCH] != "replace":
                raise PatchError(where.shown, f"{element!r} needs a list merged by key")
            continue
        if isinstance(element, list):
            raise PatchError(where.shown, "lists of lists cannot be patched")
        if isinstance(element, dict):
            element = _merge_map({}, element, where)
        elements.append(element)
    return elements


def _is_directive(element: Json) -> bool:
    return isinstance(element, dict) and _PATCH in element


def _merge_list(current: list, patch_list: list, merge_key: str | None,
                where: _Where, order: list | None) -> list:
    if merge_key is None:
        merged, patched, server = _merge_scalars(current, patch_list, where)
        identify = _identity
    else:
        merged, patched, server = _merge_by_key(current, patch_list, merge_key, where)
        identify = _merge_key_of(merge_key, where)
    if order is not None:
        _check_order(patched, order, identify, where)
        patched = order
    return _normalize_order(merged, patched, server, identify)


def _merge_scalars(current: list, patch_list: list,
                   where: _Where) -> tuple[list, list, list]:
    """Union of a set-like list with the patch's values, first occurrence kept.

    Returns the merged list, the patch's own elements (their order wins) and
    the server's elements (the order for the others).
    """
    values, replace = [], False
    for element in patch_list:
        if _is_directive(element) and element[_PATCH] == "replace":
            replace = True
        elif isinstance(element, (dict, list)):
            raise PatchError(where.shown, f"{element!r} in a list of scalars")
        else:
            values.append(element)
    server = [] if replace else current
    return _dedupe([*server, *values]), values, server


def _merge_by_key(current: list, patch_list: list, merge_key: str,
                  where: _Where) -> tuple[list, list, list]:
    """Apply the list's directives, then merge each element into its match."""
    identify = _merge_key_of(merge_key, where)
    plain = []
    server = list(current)
    for element in patch_list:
        if not isinstance(element, dict):
            raise PatchError(where.shown, f"{element!r} in a list merged by key")
        directive = element.get(_PATCH)
        if directive is None:
            plain.append(element)
        elif directive == "delete":
            key = identify(element)
            server = [item for item in server if not _matches(item, merge_key, key)]
        elif directive == "replace":
            server = []
        else:
            raise PatchError(where.shown, f"unknown $patch {directive!r} in a list")
    merged = list(server)
    for element in plain:
        key = identify(element)
        at = _find(merged, merge_key, key)
        inner = where.element(merge_key, key)
        if at is None:
            merged.append(_merge_map({}, element, inner))
        else:
            merged[at] = _merge_map(merged[at], element, inner)
    return merged, plain, server


def _merge_key_of(merge_key: str, where: _Where) -> Callable[[Json], Json]:
    def identify(element: Json) -> Json:
        if not isinstance(element, dict) or merge_key not in element:
            raise PatchError(where.shown, f"{element!r} has no merge key {merge_key!r}")
        return element[merge_key]

    return identify


def _identity(element: Json) -> Json:
    return element


def _matches(item: Json, merge_key: str, key: Json) -> bool:
    if not isinstance(item, dict) or merge_key not in item:
        return False
    return json_equal(item[merge_key], key)


def _find(items: list, merge_key: str, key: Json) -> int | None:
    for at, item in enumerate(items):
        if _matches(item, merge_key, key):
            return at
    return None


def _dedupe(values: list) -> list:
    unique: list = []
    for value in values:
        if _index(unique, value) < 0:
            unique.append(value)
    return unique


def _index(values: list, value: Json) -> int:
    for at, candidate in enumerate(values):
        if json_equal(candidate, value):
            return at
    return -1


def _remove_scalars(merged: list, removals: list, where: _Where) -> list:
    if any(isinstance(value, (dict, list)) for value in removals):
        raise PatchError(where.shown, "$deleteFromPrimitiveList takes scalars")
    return [value for value in merged if _index(removals, value) < 0]


def _check_order(patched: list, order: list, identify: Callable[[Json], Json],
                 where: _Where) -> None:
    """The patch's elements must appear in $setElementOrder, in the same order."""
    wanted = [identify(element) for element in order]
    position = 0
    for element in patched:
        key = identify(element)
        while position < len(wanted) and not json_equal(wanted[position], key):
            position += 1
        if position == len(wanted):
            raise PatchError(where.shown, f"$setElementOrder does not list {key!r} "
                             "in the patch's order")
        position += 1


def _normalize_order(merged: list, patched: list, server: list,
                     identify: Callable[[Json], Json]) -> list:
    """Kubernetes' normalizeElementOrder: the elements the patch names in the
    patch's order, the others in the server's, interleaved by server position."""
    patch_keys = [identify(element) for element in patched]
    server_keys = [identify(element) for element in server]

    def in_patch(element: Json) -> bool:
        return _index(patch_keys, identify(element)) >= 0

    ours = sorted((e for e in merged if in_patch(e)),
                  key=lambda e: _index(patch_keys, identify(e)))
    theirs = sorted((e for e in merged if not in_patch(e)),
                    key=lambda e: _index(server_keys, identify(e)))
    return _interleave(theirs, ours, server_keys, identify)


def _interleave(theirs: list, ours: list, server_keys: list,
                identify: Callable[[Json], Json]) -> list:
    """Kubernetes' mergeSortedSlice: take a server-only element first only when
    both it and the next patch element are on the server and it comes first;
    this is why an element new to the list lands before the existing ones."""
    result, i, j = [], 0, 0
    while i < len(theirs) or j < len(ours):
        if j == len(ours):
            result.append(theirs[i])
            i += 1
        elif i == len(theirs) or not _before(theirs[i], ours[j], server_keys, identify):
            result.append(ours[j])
            j += 1
        else:
            result.append(theirs[i])
            i += 1
    return result


def _before(left: Json, right: Json, server_keys: list,
            identify: Callable[[Json], Json]) -> bool:
    left_at = _index(server_keys, identify(left))
    right_at = _index(server_keys, identify(right))
    return 0 <= left_at < right_at
