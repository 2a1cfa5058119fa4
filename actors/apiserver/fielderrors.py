"""Field errors and the name and label rules every kind's validation shares.

The API server answers a bad object with 422 Invalid and a message such as::

    Pod "x" is invalid: [spec.containers[0].image: Required value, metadata.labels: ...]

Clients and people match on that text, and kubectl users know it by heart, so
this module reproduces Kubernetes' wording to the character:

- :class:`Path` and :class:`FieldError` are ``k8s.io/apimachinery/pkg/util/
  validation/field`` (``Path``, ``Error``, ``ErrorBody``); the constructors
  below (:func:`required`, :func:`invalid`, ...) are its ``field.Required``,
  ``field.Invalid``, ...; :func:`aggregate_message` is ``apierrors.NewInvalid``
  over ``ErrorList.ToAggregate()``.
- The ``is_*`` rules are ``pkg/util/validation``: each returns the list of
  messages Kubernetes would return, empty when the value is valid. The
  ``name_is_*`` functions are the ``ValidateNameFunc`` family of
  ``pkg/api/validation``, and :func:`validate_object_meta` is its
  ``ValidateObjectMeta``, trimmed to name, namespace, labels and annotations.

Everything here is a pure function of its arguments. Lengths are counted in
UTF-8 bytes, as Go's ``len`` counts them; regexes must match the whole value,
as Go's ``^...$`` does (Python's ``$`` would also accept a trailing newline).
The texts follow Kubernetes 1.30-1.33; newer releases reword a few of them
(noted where they do).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, TypeAlias

# -------------------------------------------------------------------------------- paths


class Path:
    """Where in an object a field lives, rendered as Kubernetes renders it.

    ``Path("spec").child("containers").index(0).child("image")`` is
    ``spec.containers[0].image``; ``Path("metadata", "labels").key("app")`` is
    ``metadata.labels[app]`` (map keys are not quoted, as in Kubernetes).
    Paths are immutable: every step returns a new one, so a validator can hand
    the same parent to many children.
    """

    __slots__ = ("_parts",)

    # Each part is (is_subscript, text): a name renders as ".name", a
    # subscript (list index or map key) as "[text]".
    _parts: tuple[tuple[bool, str], ...]

    def __init__(self, *names: str) -> None:
        self._parts = tuple((False, name) for name in names)

    @classmethod
    def _of(cls, parts: tuple[tuple[bool, str], ...]) -> Path:
        path = cls.__new__(cls)
        path._parts = parts
        return path

    def child(self, name: str, *more: str) -> Path:
        """This path followed by one or more field names."""
        return Path._of(self._parts + tuple((False, n) for n in (name, *more)))

    def index(self, i: int) -> Path:
        """This path followed by a list index: ``[i]``."""
        return Path._of(self._parts + ((True, str(i)),))

    def key(self, key: str) -> Path:
        """This path followed by a map key: ``[key]``."""
        return Path._of(self._parts + ((True, key),))

    def __str__(self) -> str:
        out: list[str] = []
        for subscript, text in self._parts:
            if subscript:
                out.append(f"[{text}]")
            else:
                if out and text:
                    out.append(".")
                out.append(text)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and other._parts == self._parts

    def __hash__(self) -> int:
        return hash(self._parts)


# ------------------------------------------------------------------------------- errors


class ErrorType(Enum):
    """Why a field is wrong. The value is Kubernetes' cause type, which goes
    into a Status's ``details.causes[].reason``; ``str()`` is the phrase that
    goes into messages."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"

    def __str__(self) -> str:
        return _TYPE_PHRASES[self]


_TYPE_PHRASES = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
}

# These types never print the bad value: Required and Forbidden have none,
# Too long would echo the very blob that was too long, and Internal is not
# the user's fault.
_VALUELESS = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}
)


class _Omit:
    """The value of an error that has none to show (Kubernetes' ``omitValue``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"

    def __reduce__(self) -> str:
        # Copies and pickles resolve to the module's one instance, so
        # ``value is OMIT`` still holds for a copied error.
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as a :class:`FieldError` value to print the type and detail only."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with one field: ``str()`` is Kubernetes' ``Error()``."""

    path: Path | str
    """The field, e.g. ``Path("spec").child("replicas")``."""
    type: ErrorType
    """Why it is wrong."""
    value: Any = OMIT
    """The offending value, printed as Kubernetes prints it (strings quoted)."""
    detail: str = ""
    """What the value should have been; appended after ``": "`` when non-empty."""

    @property
    def field(self) -> str:
        """The rendered path, e.g. ``spec.containers[0].image``."""
        return str(self.path)

    def body(self) -> str:
        """The message without the field (``ErrorBody``), as a Status cause has it."""
        text = str(self.type)
        if self.type not in _VALUELESS and self.value is not OMIT:
            text = f"{text}: {render_value(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


ErrorList: TypeAlias = list[FieldError]
"""Validators return and concatenate plain lists of :class:`FieldError`."""


def not_found(path: Path, value: Any) -> FieldError:
    """A referenced value does not exist (``field.NotFound``)."""
    return FieldError(path, ErrorType.NOT_FOUND, value)


def required(path: Path, detail: str = "") -> FieldError:
    """A value that must be given was not (``field.Required``)."""
    return FieldError(path, ErrorType.REQUIRED, OMIT, detail)


def duplicate(path: Path, value: Any) -> FieldError:
    """A value that must be unique is repeated (``field.Duplicate``)."""
    return FieldError(path, ErrorType.DUPLICATE, value)


def invalid(path: Path, value: Any, detail: str) -> FieldError:
    """A malformed or out-of-bounds value (``field.Invalid``)."""
    return FieldError(path, ErrorType.INVALID, value, detail)


def not_supported(path: Path, value: Any, valid_values: Iterable[str]) -> FieldError:
    """A value outside an enumeration (``field.NotSupported``).

    The values are listed in the order given, as Kubernetes does; callers pass
    them sorted, as Kubernetes' callers mostly do.
    """
    quoted = [go_quote(str(v)) for v in valid_values]
    detail = f"supported values: {', '.join(quoted)}" if quoted else ""
    return FieldError(path, ErrorType.NOT_SUPPORTED, value, detail)


def forbidden(path: Path, detail: str) -> FieldError:
    """A well-formed value that is not allowed here (``field.Forbidden``)."""
    return FieldError(path, ErrorType.FORBIDDEN, OMIT, detail)


def too_long(path: Path, max_length: int) -> FieldError:
    """A value longer than ``max_length`` bytes (``field.TooLong``; Kubernetes
    before 1.32 said "must have at most N bytes")."""
    if max_length < 0:
        detail = "value is too long"
    else:
        unit = "byte" if max_length == 1 else "bytes"
        detail = f"may not be more than {max_length} {unit}"
    return FieldError(path, ErrorType.TOO_LONG, OMIT, detail)


def too_many(path: Path, actual: int, max_items: int) -> FieldError:
    """A list with more than ``max_items`` items (``field.TooMany``); a
    negative ``actual`` leaves the count out."""
    if max_items < 0:
        detail = "has too many items"
    else:
        detail = (
            f"must have at most {max_items} {'item' if max_items == 1 else 'items'}"
        )
    return FieldError(path, ErrorType.TOO_MANY, actual if actual >= 0 else OMIT, detail)


def internal_error(path: Path, err: BaseException | str) -> FieldError:
    """Validation itself failed, not the user (``field.InternalError``)."""
    return FieldError(path, ErrorType.INTERNAL, OMIT, str(err))


def dedupe(errors: Iterable[FieldError]) -> ErrorList:
    """The errors with repeated messages dropped, first kept (``ToAggregate``)."""
    seen: set[str] = set()
    out: ErrorList = []
    for err in errors:
        text = str(err)
        if text not in seen:
            seen.add(text)
            out.append(err)
    return out


def filter_out(errors: Iterable[FieldError], *types: ErrorType) -> ErrorList:
    """The errors whose type is none of ``types`` (``ErrorList.Filter`` with
    type matchers): e.g. drop Required errors when validating a patch."""
    return [err for err in errors if err.type not in types]


def aggregate(errors: Iterable[FieldError]) -> str:
    """The errors as one string: one bare, several as ``[a, b]`` (Kubernetes'
    ``Aggregate.Error``); repeated messages count once; ``""`` if none."""
    texts = [str(err) for err in dedupe(errors)]
    if not texts:
        return ""
    if len(texts) == 1:
        return texts[0]
    return "[" + ", ".join(texts) + "]"


def aggregate_message(
    kind: str, name: str, errors: Iterable[FieldError], group: str = ""
) -> str:
    """The message of the apiserver's 422 Invalid (``apierrors.NewInvalid``):
    ``Pod "x" is invalid: [...]``; with a group, ``Deployment.apps "x" ...``."""
    errors = list(errors)
    # NewInvalid is only ever called with errors; an empty list here is a
    # validator bug, not a user error.
    assert errors, "aggregate_message needs at least one error"
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified} {go_quote(name)} is invalid: {aggregate(errors)}"


def status_causes(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    """``details.causes`` of the Invalid Status, one per error, as Kubernetes
    serializes ``metav1.StatusCause``."""
    return [
        {"reason": err.type.value, "message": err.body(), "field": err.field}
        for err in errors
    ]


# ----------------------------------------------------------- printing values as Go does


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` / ``strconv.Quote`` prints it: double quotes,
    backslash escapes for quotes, backslashes and unprintable characters,
    printable non-ASCII kept as is."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def render_value(value: Any) -> str:
    """A bad value as ``ErrorBody`` prints it: booleans and numbers plain
    (``%v``), strings quoted (``%q``), anything else as Go's compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    try:
        text = json.dumps(
            value,
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=True,
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return str(value)
    # encoding/json escapes HTML-significant characters and the JS line separators.
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _go_float(value: float) -> str:
    """Go's ``%v`` for a float64: the shortest digits that round-trip, in
    exponent form when the decimal exponent is below -4 or at least 6 (Go's
    ``%g`` cut-over for shortest precision), so 1e6 prints as ``1e+06``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text_digits = "".join(map(str, digits))
    exp10 = len(digits) - 1 + exponent  # the exponent of the leading digit
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text_digits[0] + (
            "." + text_digits[1:] if len(text_digits) > 1 else ""
        )
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    return prefix + format(Decimal(repr(abs(value))).normalize(), "f")


# ------------------------------------------------- rule functions (pkg/util/validation)


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``RegexError``: the message, examples, and the regex itself."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _byte_len(value: str) -> int:
    return len(value.encode("utf-8"))


DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MAX_LENGTH = 63
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MAX_LENGTH = 63
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MAX_LENGTH = 63
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_MAX_LENGTH = 63
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)

# ASCII only: Go's character classes never match non-ASCII letters, and
# re.ASCII keeps Python's from doing so either.
_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT, re.ASCII)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT, re.ASCII)
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT, re.ASCII)
_QUALIFIED_NAME_RE = re.compile(QUALIFIED_NAME_FMT, re.ASCII)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT, re.ASCII)


def is_dns1123_label(value: str) -> list[str]:
    """An RFC 1123 label (namespace names, most DNS-facing names), at most 63."""
    errs = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain but not a valid label: with length already
            # checked, the only difference left is the dots.
            errs.append("must not contain dots")
        else:
            errs.append(
                regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc")
            )
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """An RFC 1123 subdomain (most object names), at most 253."""
    errs = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(
            regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com")
        )
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """An RFC 1035 label (Service names: they become DNS names and env var
    prefixes, so they must start with a letter), at most 63."""
    errs = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(
            regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123")
        )
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A qualified name (label and annotation keys): ``[prefix/]name``, the
    prefix a DNS subdomain, the name at most 63. (Kubernetes 1.34 renamed this
    IsLabelKey and says "a valid label key" for the too-many-slashes case.)"""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(
                _QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
            + " with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + regex_error(
                _QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
            )
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or a qualified name without prefix, at most 63."""
    errs = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            regex_error(
                _LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"
            )
        )
    return errs


def is_valid_port_num(port: int) -> list[str]:
    """A non-zero TCP/UDP port."""
    if 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


_SLOPPY_IPV4_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)", re.ASCII)


def _parse_ip_sloppy(
    value: str,
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, bool]:
    """(address, strict): the address as Go's ParseIPSloppy reads it, and
    whether the strict parser reads it too (it does not when an IPv4 octet has
    leading zeros, which some software reads as octal)."""
    if "%" not in value:  # Go's parsers take no IPv6 zone; Python's does
        try:
            return ipaddress.ip_address(value), True
        except ValueError:
            pass
    match = _SLOPPY_IPV4_RE.fullmatch(value)
    if match and all(int(octet) <= 255 for octet in match.groups()):
        return ipaddress.IPv4Address(
            ".".join(str(int(octet)) for octet in match.groups())
        ), False
    return None, False


def _is_ipv4_mapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    )


def is_valid_ip(value: str) -> list[str]:
    """An IP address, as Kubernetes validates new fields (``IsValidIP``):
    no leading zeros, no IPv4-mapped IPv6, and in canonical form."""
    address, strict = _parse_ip_sloppy(value)
    if address is None:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    if not strict:
        return ["must not have leading 0s"]
    if _is_ipv4_mapped(address):
        return ["must not be an IPv4-mapped IPv6 address"]
    if str(address) != value:
        return [f"must be in canonical form ({go_quote(str(address))})"]
    return []


def is_cidr(value: str) -> list[str]:
    """A subnet in CIDR form, as Kubernetes validates new fields
    (``IsValidCIDR``): no leading zeros, no host bits, canonical form."""
    invalid_msg = ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    address_text, slash, prefix_text = value.partition("/")
    if not slash or not prefix_text.isascii() or not prefix_text.isdigit():
        return invalid_msg
    address, strict = _parse_ip_sloppy(address_text)
    if address is None or int(prefix_text) > address.max_prefixlen:
        return invalid_msg
    if not strict or (len(prefix_text) > 1 and prefix_text.startswith("0")):
        return ["must not have leading 0s in IP or prefix length"]
    if _is_ipv4_mapped(address):
        return ["must not have an IPv4-mapped IPv6 address"]
    network = ipaddress.ip_network(f"{address}/{int(prefix_text)}", strict=False)
    if network.network_address != address:
        return ["must not have bits set beyond the prefix length"]
    if str(network) != value:
        return [f"must be in canonical form ({go_quote(str(network))})"]
    return []


# ------------------------------------------- names and object meta (pkg/api/validation)

NameFn: TypeAlias = Callable[[str, bool], list[str]]
"""``(name, prefix) -> messages``: a kind's name rule. ``prefix`` is true for a
``generateName``, which gets five random characters appended, so a trailing
``-`` is allowed there."""


def _mask_trailing_dash(name: str) -> str:
    # Kubernetes' maskTrailingDash, quirk included: it drops the last *two*
    # characters before appending "a". Kept, so the same generateNames pass.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """The name rule of most kinds (Pod, ConfigMap, Deployment, Node, ...)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """The name rule of Namespaces."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """The name rule of Services."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024
"""Kubernetes' limit on the sum of all annotation keys and values, in bytes."""


def validate_object_meta(
    meta: Mapping[str, Any],
    namespaced: bool,
    name_fn: NameFn,
    path: Path | None = None,
) -> ErrorList:
    """The errors in an object's ``metadata`` (``ValidateObjectMeta``).

    ``meta`` is the decoded ``metadata`` map; fields are assumed to have the
    schema's types (strings, string-to-string maps). Checks, in Kubernetes'
    order: ``generateName`` and ``name`` against ``name_fn``, ``namespace``
    required for namespaced kinds and forbidden otherwise, label keys and
    values, annotation keys and their total size.

    One deliberate difference: Kubernetes generates the name from
    ``generateName`` before it validates, so there a missing name is always an
    error; here a ``generateName`` alone is accepted, so the server may
    validate before it generates.
    """
    path = path if path is not None else Path("metadata")
    errs: ErrorList = []
    name = meta.get("name") or ""
    generate_name = meta.get("generateName") or ""
    namespace = meta.get("namespace") or ""

    if generate_name:
        errs += [
            invalid(path.child("generateName"), generate_name, msg)
            for msg in name_fn(generate_name, True)
        ]
    if name:
        errs += [invalid(path.child("name"), name, msg) for msg in name_fn(name, False)]
    elif not generate_name:
        errs.append(required(path.child("name"), "name or generateName is required"))

    if namespaced:
        if not namespace:
            errs.append(required(path.child("namespace")))
        else:
            errs += [
                invalid(path.child("namespace"), namespace, msg)
                for msg in name_is_dns_label(namespace, False)
            ]
    elif namespace:
        errs.append(forbidden(path.child("namespace"), "not allowed on this type"))

    errs += validate_labels(meta.get("labels") or {}, path.child("labels"))
    errs += validate_annotations(
        meta.get("annotations") or {}, path.child("annotations")
    )
    return errs


def validate_labels(labels: Mapping[str, str], path: Path) -> ErrorList:
    """Label keys and values. As in Kubernetes, the errors point at the whole
    map (``metadata.labels``), the bad key or value being the error's value."""
    errs: ErrorList = []
    for key, value in labels.items():
        errs += [invalid(path, key, msg) for msg in is_qualified_name(key)]
        errs += [invalid(path, value, msg) for msg in is_valid_label_value(value)]
    return errs


def validate_annotations(annotations: Mapping[str, str], path: Path) -> ErrorList:
    """Annotation keys (qualified names, case-insensitive) and the total size."""
    errs: ErrorList = []
    total = 0
    for key, value in annotations.items():
        errs += [invalid(path, key, msg) for msg in is_qualified_name(key.lower())]
        total += _byte_len(key) + _byte_len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errs
