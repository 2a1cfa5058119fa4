"""Label and field selectors, as Kubernetes parses, prints and matches them.

Every list and watch the API server answers can be narrowed by a
``labelSelector`` and a ``fieldSelector``, and every controller finds its
objects through one: a ReplicaSet its pods, a Service its endpoints, a
DaemonSet its nodes. ``kubectl -l`` and ``--field-selector`` send the string
forms; Deployments, ReplicaSets and Services carry the object forms. Clients
written against real Kubernetes expect the same grammar, the same canonical
string and the same error text, so this module follows apimachinery
(``pkg/labels/selector.go``, ``pkg/apis/meta/v1/helpers.go``,
``pkg/util/validation``, ``pkg/fields/selector.go``) rather than inventing
a dialect. It is pure: strings and dicts in, values or :class:`SelectorError`
out.

Which constructor means what (Kubernetes' own rules):

- :func:`parse_label_selector` — ``""`` selects everything.
- :func:`selector_from_dict` — a ``metav1.LabelSelector``: ``None`` selects
  *nothing*, ``{}`` selects *everything* (``LabelSelectorAsSelector``).
- :func:`selector_from_labels` — a plain label map, as in a Service's or a
  pod's ``nodeSelector``: ``None`` and ``{}`` both select everything
  (``SelectorFromSet``). A Service without a selector selects no pods
  because the endpoints controller skips it before asking, not because
  of the selector: callers must make that check themselves.
- :func:`parse_field_selector` — ``""`` selects everything.

Where this differs from Kubernetes, on purpose: a key error while parsing
names its field ``key`` where Kubernetes prints ``<nil>``; a NUL byte is an
ordinary (invalid) character rather than the end of the input; requirements
on the same key keep their written order (Kubernetes' sort is unstable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from actors.apiserver.fielderrors import (
    go_quote,
    is_qualified_name,
    is_valid_label_value,
)

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "check_field_selector",
    "field_value",
    "object_fields",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_dict",
    "selector_from_labels",
    "supported_fields",
]


class SelectorError(ValueError):
    """A selector the client sent is malformed or asks for an unsupported field.

    The API server answers it with 400 Bad Request and this message.
    """


# --- Shared rules and error text ------------------------------------------------------
# Label keys and values are checked by fielderrors' is_qualified_name and
# is_valid_label_value (k8s.io/apimachinery/pkg/util/validation), the same rules
# and messages every kind's metadata.labels gets.

# strconv.ParseInt(s, 10, 64), before its range check.
_INT64 = re.compile(r"[+-]?[0-9]+")


# field.Error's text, so messages read like the real API server's: strings as
# Go's %q prints them; other values (only in the type checks JSON decoding
# would do, which have no Kubernetes text) as Python prints them.

def _quote(value: Any) -> str:
    if isinstance(value, str):
        return go_quote(value)
    return repr(value)


def _invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_quote(value)}: {detail}"


def _raise_all(errors: list[str]) -> None:
    """Raise the errors as one, the way utilerrors.Aggregate prints them."""
    unique = list(dict.fromkeys(errors))
    if len(unique) == 1:
        raise SelectorError(unique[0])
    if unique:
        raise SelectorError("[" + ", ".join(unique) + "]")


# --- Label selectors --------------------------------------------------------------

class Operator(StrEnum):
    """A requirement's operator; the values are Kubernetes' ``selection.Operator``."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# How each operator is printed between key and values (Requirement.String).
_INFIX = {
    Operator.IN: " in ", Operator.NOT_IN: " notin ", Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==", Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """One condition on one label; a selector is the AND of its requirements."""

    key: str
    """The label key, already validated."""
    operator: Operator
    values: tuple[str, ...] = ()
    """Sorted. One for =, ==, !=, gt, lt; at least one for in, notin; none otherwise."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            # A missing label is "not equal": `tier!=db` selects unlabelled pods.
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        # gt / lt: a label that is missing or not an integer never matches.
        actual = labels.get(self.key)
        if actual is None or _parse_int64(actual) is None:
            return False
        bound = int(self.values[0])
        if op is Operator.GREATER_THAN:
            return int(actual) > bound
        return int(actual) < bound

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(self.values)
        if self.operator in (Operator.IN, Operator.NOT_IN):
            values = f"({values})"
        return self.key + _INFIX[self.operator] + values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """The AND of its requirements; or, with ``nothing``, one matching no object.

    ``nothing`` exists because Kubernetes distinguishes an absent
    ``metav1.LabelSelector`` (selects nothing) from an empty one (selects all).
    """

    requirements: tuple[Requirement, ...] = ()
    """Sorted by key, as Kubernetes keeps them."""
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when it selects everything (Kubernetes' ``Selector.Empty``)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        # The nothing-selector prints as "" too: like Kubernetes, it has no string form.
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _parse_int64(text: str) -> int | None:
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _new_requirement(key: str, op: Operator, values: list[str],
                     key_path: str = "key") -> Requirement:
    """Validate and build a requirement: labels.NewRequirement's rules and messages."""
    errors = []
    key_errors = is_qualified_name(key)
    if key_errors:
        errors.append(_invalid(key_path, key, "; ".join(key_errors)))
    if op in (Operator.IN, Operator.NOT_IN) and not values:
        errors.append(_invalid("values", values, "for 'in', 'notin' operators, "
                               "values set can't be empty"))
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) \
            and len(values) != 1:
        errors.append(_invalid("values", values,
                               "exact-match compatibility requires one single value"))
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        errors.append(_invalid("values", values, "values set must be empty for "
                               "exists and does not exist"))
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            errors.append(_invalid("values", values, "for 'Gt', 'Lt' operators, "
                                   "exactly one value is required"))
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                errors.append(_invalid(f"values[{i}]", value, "for 'Gt', 'Lt' "
                                       "operators, the value must be an integer"))
    for i, value in enumerate(values):
        value_errors = is_valid_label_value(value)
        if value_errors:
            errors.append(_invalid(f"values[{i}][{key}]", value,
                                   "; ".join(value_errors)))
    _raise_all(errors)
    return Requirement(key, op, tuple(sorted(values)))


def _selector(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# The string form. The lexer and the recursive-descent parser follow
# labels/selector.go token for token, so that the same inputs are accepted and
# the same "found X, expected: Y" messages come out.

_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_KEYWORDS = {"in", "notin"}
_BINARY = {"in": Operator.IN, "notin": Operator.NOT_IN, "=": Operator.EQUALS,
           "==": Operator.DOUBLE_EQUALS, "!=": Operator.NOT_EQUALS,
           ">": Operator.GREATER_THAN, "<": Operator.LESS_THAN}
_BINARY_NAMES = "in, notin, =, ==, !=, gt, lt"
_ID = "identifier"  # the token kind of keys and values
_END = ""  # the end of the input: Kubernetes prints it as '' in messages


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into (kind, literal); kind is a symbol, a keyword, _ID or _END."""
    tokens, i = [], 0
    while True:
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        if i == len(text):
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # The longest symbol wins: "!=" is one token, "=(" and "=!" are two.
            literal = text[i:i + 2] if text[i:i + 2] in ("==", "!=") else text[i]
            tokens.append((literal, literal))
            i += len(literal)
            continue
        start = i
        while i < len(text) and text[i] not in _WHITESPACE and text[i] not in _SPECIAL:
            i += 1
        literal = text[start:i]
        tokens.append((literal if literal in _KEYWORDS else _ID, literal))


class _Parser:
    """One pass over the tokens of a label selector string."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        # Where a value may stand, "in" and "notin" are ordinary words: `in in (in)`.
        kind, literal = self._tokens[self._pos]
        return (_ID if values and kind in _KEYWORDS else kind), literal

    def _take(self, values: bool = True) -> tuple[str, str]:
        token = self._peek(values)
        self._pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements = []
        # Each turn consumes at least one token, so the loop ends.
        while True:
            kind, literal = self._peek()
            if kind == _END:
                return requirements
            if kind not in (_ID, "!"):
                raise SelectorError(f"found '{literal}', expected: !, identifier, "
                                    "or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            kind, literal = self._take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or "
                                    "'end of string'")
            kind, literal = self._peek()
            if kind not in (_ID, "!"):
                raise SelectorError(f"found '{literal}', expected: identifier "
                                    "after ','")

    def _requirement(self) -> Requirement:
        negated = self._peek()[0] == "!"
        if negated:
            self._take()
        kind, key = self._take()
        if kind != _ID:
            raise SelectorError(f"found '{key}', expected: identifier")
        key_errors = is_qualified_name(key)
        if key_errors:
            raise SelectorError(_invalid("key", key, "; ".join(key_errors)))
        if negated:
            return _new_requirement(key, Operator.DOES_NOT_EXIST, [])
        if self._peek()[0] in (_END, ","):
            return _new_requirement(key, Operator.EXISTS, [])
        kind, literal = self._take(values=False)
        if kind not in _BINARY:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_NAMES}")
        op = _BINARY[kind]
        if op in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = {self._exact_value()}
        return _new_requirement(key, op, sorted(values))

    def _exact_value(self) -> str:
        kind, literal = self._peek()
        if kind in (_END, ","):
            return ""  # `a=` selects an empty value
        self._take()
        if kind != _ID:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return literal

    def _value_set(self) -> set[str]:
        kind, literal = self._take()
        if kind != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        kind, literal = self._peek()
        if kind == ")":
            self._take()
            return {""}  # `a in ()` is `a in ("")`
        if kind not in (_ID, ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._value_list()
        self._take()  # the ")" that _value_list stopped at
        return values

    def _value_list(self) -> set[str]:
        # Empty slots between commas are empty values: `(a,,b)`, `(,a)`, `(a,)`.
        values: set[str] = set()
        while True:
            kind, literal = self._take()
            if kind == _ID:
                values.add(literal)
                kind, literal = self._peek()
                if kind == ")":
                    return values
                if kind != ",":
                    raise SelectorError(f"found '{literal}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                kind, _ = self._peek()
                if kind == ")":
                    values.add("")
                    return values
                if kind == ",":
                    self._take()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form (``kubectl -l``, the ``labelSelector`` query).

    ``""`` selects everything. Raises :class:`SelectorError` with Kubernetes'
    message (``unable to parse requirement: ...``, ``found 'x', expected: ...``).
    """
    return _selector(_Parser(text).parse())


# The object forms.

_DICT_OPERATORS = {"In": Operator.IN, "NotIn": Operator.NOT_IN,
                   "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST}
_DICT_FIELDS = {"matchLabels", "matchExpressions"}
_EXPRESSION_FIELDS = {"key", "operator", "values"}


def _label_map_errors(labels: Any, path: str) -> list[str]:
    """ValidateLabels: every key a qualified name, every value a label value."""
    if not isinstance(labels, Mapping):
        return [_invalid(path, labels, "must be a map of label keys to values")]
    errors = []
    for key in sorted(labels, key=str):
        value = labels[key]
        if not isinstance(key, str) or not isinstance(value, str):
            errors.append(_invalid(path, {key: value}, "label keys and values "
                                   "must be strings"))
            continue
        errors += [_invalid(path, key, msg) for msg in is_qualified_name(key)]
        errors += [_invalid(path, value, msg) for msg in is_valid_label_value(value)]
    return errors


def _expression_errors(expr: Any, path: str) -> list[str]:
    """ValidateLabelSelectorRequirement, plus the type checks JSON decoding would do."""
    if not isinstance(expr, Mapping):
        return [_invalid(path, expr, "must be an object with key, operator and values")]
    errors = [f'unknown field "{path}.{name}"'
              for name in sorted(set(expr) - _EXPRESSION_FIELDS, key=str)]
    key, operator = expr.get("key", ""), expr.get("operator", "")
    values = expr.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return errors + [_invalid(f"{path}.values", values,
                                  "must be a list of strings")]
    if operator in ("In", "NotIn"):
        if not values:
            errors.append(f"{path}.values: Required value: must be specified when "
                          "`operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errors.append(f"{path}.values: Forbidden: may not be specified when "
                          "`operator` is 'Exists' or 'DoesNotExist'")
    else:
        errors.append(_invalid(f"{path}.operator", operator,
                               "not a valid selector operator"))
    if not isinstance(key, str):
        return errors + [_invalid(f"{path}.key", key, "must be a string")]
    errors += [_invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key)]
    for i, value in enumerate(values):
        errors += [_invalid(f"{path}.values[{i}]", value, msg)
                   for msg in is_valid_label_value(value)]
    return errors


def selector_from_dict(d: Mapping[str, Any] | None, *, path: str = "selector",
                       ) -> LabelSelector:
    """A ``metav1.LabelSelector`` (Deployment, ReplicaSet, Job... ``spec.selector``).

    ``None`` selects nothing and ``{}`` (or empty ``matchLabels`` and
    ``matchExpressions``) selects everything, as ``LabelSelectorAsSelector``
    does. Validation is ``ValidateLabelSelector``'s, every error reported at
    once and located under ``path`` (say ``spec.selector``). Unknown fields
    are refused, as kubectl's default strict validation does, because a typo
    such as ``matchLabel`` would otherwise silently select everything.
    """
    if d is None:
        return NOTHING
    if not isinstance(d, Mapping):
        raise SelectorError(_invalid(path, d, "must be an object"))
    errors = [f'unknown field "{path}.{name}"'
              for name in sorted(set(d) - _DICT_FIELDS, key=str)]
    match_labels = d.get("matchLabels") or {}
    expressions = d.get("matchExpressions") or []
    errors += _label_map_errors(match_labels, f"{path}.matchLabels")
    if not isinstance(expressions, list):
        errors.append(_invalid(f"{path}.matchExpressions", expressions,
                               "must be a list"))
        expressions = []
    for i, expr in enumerate(expressions):
        errors += _expression_errors(expr, f"{path}.matchExpressions[{i}]")
    _raise_all(errors)
    requirements = [Requirement(k, Operator.EQUALS, (v,))
                    for k, v in match_labels.items()]
    requirements += [Requirement(e["key"], _DICT_OPERATORS[e["operator"]],
                                 tuple(sorted(e.get("values") or ())))
                     for e in expressions]
    return _selector(requirements)


def selector_from_labels(d: Mapping[str, str] | None, *, path: str = "selector",
                         ) -> LabelSelector:
    """A plain label map, equality only: a Service's selector, a pod's nodeSelector.

    ``None`` and ``{}`` select everything (``SelectorFromSet``). Note that a
    Service with no selector has no endpoints at all: the endpoints
    controller checks for that before it calls this.
    """
    if not d:
        return EVERYTHING
    _raise_all(_label_map_errors(d, path))
    return _selector([Requirement(k, Operator.EQUALS, (v,)) for k, v in d.items()])


# --- Field selectors (k8s.io/apimachinery/pkg/fields) ------------------------------

@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``field=value`` or ``field!=value``; ``==`` is read as ``=``."""

    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A field the object lacks reads as "", as in Kubernetes' fields.Set.
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{_escape(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """The AND of field terms; no terms selects everything."""

    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(t.matches(fields) for t in self.terms)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape(value: str) -> str:
    # A value may hold ',' and '=' only escaped, so a term splits unambiguously.
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError("invalid field selector: invalid escape "
                                    f"sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError("invalid field selector: unescaped character "
                                f"in value: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    # Split on commas that are not escaped; the escapes stay for _unescape.
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``--field-selector`` or the ``fieldSelector`` query: ``f=v``, ``f!=v``.

    ``f==v`` is read as ``f=v``.

    Terms are comma-separated and sorted as written. Like Kubernetes, nothing
    is trimmed (``a = b`` is field ``"a "``) and the field is not checked
    here: :func:`check_field_selector` does that for a kind.
    """
    terms = []
    for part in sorted(_split_terms(text)) if text else ():
        if not part:
            continue
        # The first operator in the term splits it: the field cannot be escaped.
        split = re.search("!=|==|=", part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; "
                                f"can't understand '{part}'")
        terms.append(FieldTerm(part[:split.start()], _unescape(part[split.end():]),
                               negated=split.group() == "!="))
    return FieldSelector(tuple(terms))


# Which fields each kind can be filtered on, and how to read them from an
# object: the per-kind field label conversion functions and *ToSelectableFields
# of pkg/registry, in one table so the check and the values cannot drift apart.

def _at(*path: str) -> Callable[[Mapping[str, Any]], str]:
    def read(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for name in path:
            node = node.get(name) if isinstance(node, Mapping) else None
        return "" if node is None else str(node)
    return read


def _pod_ip(pod: Mapping[str, Any]) -> str:
    # Kubernetes reads the first of status.podIPs; status.podIP mirrors it.
    ips = (pod.get("status") or {}).get("podIPs") or []
    return str(ips[0].get("ip", "")) if ips else _at("status", "podIP")(pod)


def _unschedulable(node: Mapping[str, Any]) -> str:
    return "true" if (node.get("spec") or {}).get("unschedulable") else "false"


_META = {"metadata.name": _at("metadata", "name"),
         "metadata.namespace": _at("metadata", "namespace")}

_FIELDS: dict[str, dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "Pod": {
        **_META,
        "spec.nodeName": _at("spec", "nodeName"),
        "spec.restartPolicy": _at("spec", "restartPolicy"),
        "spec.schedulerName": _at("spec", "schedulerName"),
        "spec.serviceAccountName": _at("spec", "serviceAccountName"),
        "status.phase": _at("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": _at("status", "nominatedNodeName"),
    },
    "Event": {
        **_META,
        "involvedObject.kind": _at("involvedObject", "kind"),
        "involvedObject.name": _at("involvedObject", "name"),
        "involvedObject.namespace": _at("involvedObject", "namespace"),
        "involvedObject.uid": _at("involvedObject", "uid"),
        "reason": _at("reason"),
        "type": _at("type"),
    },
    # Nodes have no namespace, and Kubernetes refuses metadata.namespace for them.
    "Node": {"metadata.name": _at("metadata", "name"),
             "spec.unschedulable": _unschedulable},
    "Secret": {**_META, "type": _at("type")},
}


def supported_fields(kind: str) -> frozenset[str]:
    """The fields ``kind`` can be filtered on: other kinds get metadata's two."""
    return frozenset(_FIELDS.get(kind, _META))


def object_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    """The filterable fields of an object (by its ``kind``); missing ones are ``""``."""
    readers = _FIELDS.get(obj.get("kind", ""), _META)
    return {name: read(obj) for name, read in readers.items()}


def field_value(obj: Mapping[str, Any], name: str) -> str:
    """One filterable field of an object: ``object_fields(obj).get(name, "")`` without reading the others."""
    read = _FIELDS.get(obj.get("kind", ""), _META).get(name)
    return "" if read is None else read(obj)


def check_field_selector(kind: str, selector: FieldSelector) -> None:
    """Refuse a selector on a field the API server cannot filter ``kind`` by."""
    supported = supported_fields(kind)
    for term in selector.terms:
        if term.field not in supported:
            raise SelectorError(f"field label not supported: {term.field}")
