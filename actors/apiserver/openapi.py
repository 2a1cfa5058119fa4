"""OpenAPI for the API server: ``/openapi/v3``, ``/openapi/v3/<group version>``, ``/openapi/v2``.

A real ``kubectl`` reads the API's OpenAPI documents, not a copy built into
it: ``kubectl explain`` prints them, ``kubectl apply`` takes each field's
strategic-merge-patch strategy and merge key from them, and ``kubectl
create``/``apply``/``replace`` look in them for a ``fieldValidation`` query
parameter on the kind's PATCH operation to decide whether the server
validates fields itself (``--validate=strict``) or kubectl must. So kubesim
serves the documents kube-apiserver 1.32 serves, shaped as kube-openapi
shapes them, for the kinds kubesim stores and the few other endpoints its
HTTP front answers.

The types come from the JSON Schema of Kubernetes 1.32 that the
``kubernetes-validate`` package ships (Kubernetes' own schemas, descriptions
and ``x-kubernetes-*`` extensions), turned back into what kube-apiserver
writes: JSON Schema's nullable ``type: [X, "null"]`` becomes ``type: X``, the
``enum`` the JSON Schema generator put on every kind's ``apiVersion`` and
``kind`` goes, IntOrString and Quantity get kube-openapi's forms, and (in v3)
a ``$ref`` that has a description or a default beside it is wrapped in
``allOf``, as kube-openapi does since OpenAPI 3.0 ignores ``$ref``'s siblings.
The paths are generated from :data:`~actors.apiserver.kinds.KINDS` and the
tables below, with kube-apiserver's operation ids, actions, group-version-kind
extensions, parameters, request bodies and responses.

Two things the source does not carry and that are therefore approximated:

- the zero ``default`` kube-openapi writes for a Go field that is not a
  pointer (``"default": {}`` on a struct, ``""`` on a string...): pointers
  are gone from JSON Schema, so defaults are written where Kubernetes'
  fields are values by convention (list and map elements, required scalars,
  ``metadata``/``spec``/``status``/``template``);
- the ``enum`` lists and "Possible enum values" paragraphs of fields such as
  ``restartPolicy``: the source has neither, so neither is served.

:func:`unknown_fields` walks an object against the same schemas, for the
front's ``fieldValidation`` (Strict: 400, Warn: warnings).

Pure: the schema file is read once, on first use (the API server does not pay
for it until someone asks), and each document is built once and cached; the
returned documents are those cached objects and must not be mutated.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from actors.apiserver import kinds
from actors.apiserver.kinds import KINDS, UNSTORED, Kind, Unstored

__all__ = [
    "EXTRA_ENDPOINTS",
    "KUBERNETES_VERSION",
    "SUBRESOURCES",
    "TEXT",
    "Endpoint",
    "Subresource",
    "canonical_json",
    "unknown_fields",
    "v2_document",
    "v3_document",
    "v3_index",
]

Json = Any
"""A JSON value as Python holds it: dict, list, str, int, float, bool or None."""

KUBERNETES_VERSION = "v{}.{}.{}".format(*kinds.KUBERNETES_VERSION)
"""The release whose API the documents describe (``info.version``)."""

_SOURCE = ("kubernetes-json-schema", "v1.32.0-local", "_definitions.json")
_SRC_REF = "#/$defs/"
_V3_REF = "#/components/schemas/"
_V2_REF = "#/definitions/"

TEXT = "text"
"""A :class:`Subresource`'s body that is plain text, not an object (``pods/log``)."""


# --- what is served besides the kinds' own CRUD ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subresource:
    """How one subresource named in :attr:`Kind.subresources <actors.apiserver.kinds.Kind.subresources>` is served."""

    verbs: tuple[str, ...]
    """Kubernetes verbs: ``get``, ``create`` (POST), ``update`` (PUT), ``patch``."""
    definition: str | None = None
    """The body's definition; ``None``: the parent kind's own; :data:`TEXT`: plain text."""


SUBRESOURCES: dict[str, Subresource] = {
    "status": Subresource(("get", "update", "patch")),
    "scale": Subresource(("get", "update", "patch"), "io.k8s.api.autoscaling.v1.Scale"),
    "binding": Subresource(("create",), "io.k8s.api.core.v1.Binding"),
    "eviction": Subresource(("create",), "io.k8s.api.policy.v1.Eviction"),
    "log": Subresource(("get",), TEXT),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resource without storage the HTTP front serves, with :attr:`verbs` on :attr:`definition` bodies."""

    group_version: str
    """The document that lists it: ``authorization.k8s.io/v1``..."""
    resource: str
    definition: str
    """Its request and response body (its kind is the definition's own)."""
    verbs: tuple[str, ...]
    """Its Kubernetes verbs; only ``create`` is described so far."""
    namespaced: bool = False


def _definition_of(u: Unstored) -> str:
    """Kubernetes' definition name for a kind: ``io.k8s.api.<group's first label>.<version>.<Kind>``."""
    return f"io.k8s.api.{u.group.split('.')[0] or 'core'}.{u.version}.{u.kind}"


EXTRA_ENDPOINTS: tuple[Endpoint, ...] = tuple(
    Endpoint(u.api_version, u.resource, _definition_of(u), u.verbs, u.namespaced) for u in UNSTORED)
"""Endpoints beyond :data:`~actors.apiserver.kinds.KINDS`, from :data:`~actors.apiserver.kinds.UNSTORED`."""


def _check_subresources() -> None:
    """A subresource nobody described would be written wrongly: say so at import (no schema is read)."""
    for kind in KINDS.values():
        for sub in kind.subresources:
            assert sub in SUBRESOURCES, f"{kind.resource}/{sub}: no entry in openapi.SUBRESOURCES"


_check_subresources()

# kube-apiserver 1.32 still lists (and serves) the deprecated /watch/... paths, the only operations whose
# response is a WatchEvent. Listed here too, for fidelity: the front answers them as the list with ?watch=1.
_DEPRECATED_WATCH_PATHS = True

# Resources whose registry answers DELETE with the object, not a Status (ReturnDeletedObject).
_DELETE_RETURNS_OBJECT = frozenset({"pods", "services", "persistentvolumes", "persistentvolumeclaims"})
# Namespaces are deleted one at a time: their registry has no DeleteCollection.
_NO_DELETECOLLECTION = frozenset({"namespaces"})


# --- the schemas --------------------------------------------------------------------------------

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
_DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
_PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_WATCH_EVENT = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
_RESOURCE_LIST = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"

_INT_OR_STRING_DESCRIPTION = (
    "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and "
    "unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON "
    "field that can accept a name or number."
)
_QUANTITY_DESCRIPTION = (
    "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling "
    "in JSON and YAML, in addition to String() and AsInt64() accessors.\n\nThe serialization format is:\n\n"
    "``` <quantity>        ::= <signedNumber><suffix>\n\n\t(Note that <suffix> may be empty, from the \"\" "
    "case in <decimalSI>.)\n\n<digit>           ::= 0 | 1 | ... | 9 <digits>          ::= <digit> | "
    "<digit><digits> <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits> <sign>"
    "            ::= \"+\" | \"-\" <signedNumber>    ::= <number> | <sign><number> <suffix>          ::= "
    "<binarySI> | <decimalExponent> | <decimalSI> <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t"
    "(International System of units; See: http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>"
    "       ::= m | \"\" | k | M | G | T | P | E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose "
    "the capitalization.)\n\n<decimalExponent> ::= \"e\" <signedNumber> | \"E\" <signedNumber> ```\n\nNo "
    "matter which of the three exponent forms is used, no quantity may represent a number greater than "
    "2^63-1 in magnitude, nor may it have more than 3 decimal places. Numbers larger or more precise will "
    "be capped or rounded up. (E.g.: 0.1m will rounded up to 1m.) This may be extended in the future if we "
    "require larger or smaller quantities.\n\nWhen a Quantity is parsed from a string, it will remember the "
    "type of suffix it had, and will use the same type again when it is serialized.\n\nBefore serializing, "
    "Quantity will be put in \"canonical form\". This means that Exponent/suffix will be adjusted up or "
    "down (with a corresponding increase or decrease in Mantissa) such that:\n\n- No precision is lost - "
    "No fractional digits will be emitted - The exponent (or suffix) is as large as possible.\n\nThe sign "
    "will be omitted unless the number is negative.\n\nExamples:\n\n- 1.5 will be serialized as \"1500m\" "
    "- 1.5Gi will be serialized as \"1536Mi\"\n\nNote that the quantity will NEVER be internally "
    "represented by a floating point number. That is the whole point of this exercise.\n\nNon-canonical "
    "values will still parse as long as they are well formed, but will be re-emitted in their canonical "
    "form. (So always use canonical form, or don't diff.)\n\nThis format is intended to make it difficult "
    "to use these numbers without writing some sort of special handling code in the hopes that that will "
    "cause implementors to also use a fixed point implementation."
)

# kube-openapi writes these two types by hand (their Go types say how): a oneOf in v3, which kubectl
# explain prints as <IntOrString> / <Quantity>, and a plain string in v2.
_V3_SCALAR_UNIONS: dict[str, Json] = {
    _INT_OR_STRING: {"description": _INT_OR_STRING_DESCRIPTION, "format": "int-or-string",
                     "oneOf": [{"type": "integer"}, {"type": "string"}]},
    _QUANTITY: {"description": _QUANTITY_DESCRIPTION, "oneOf": [{"type": "string"}, {"type": "number"}]},
}
_V2_SCALAR_UNIONS: dict[str, Json] = {
    _INT_OR_STRING: {"description": _INT_OR_STRING_DESCRIPTION, "format": "int-or-string", "type": "string"},
    _QUANTITY: {"description": _QUANTITY_DESCRIPTION, "type": "string"},
}

# Fields that are Go struct values, not pointers, in every Kubernetes type: kube-openapi gives them
# "default": {} (the generator's zero value). Elements of lists and maps of structs get it too.
_VALUE_STRUCT_FIELDS = frozenset({"metadata", "spec", "status", "template", "jobTemplate"})
_ZERO = {"string": "", "integer": 0, "number": 0, "boolean": False}
_NO_DEFAULT = object()


@functools.cache
def _defs() -> dict[str, Json]:
    """Kubernetes 1.32's definitions, by name, in the form both renderers start from."""
    path = importlib.resources.files("kubernetes_validate").joinpath(*_SOURCE)
    source = orjson.loads(path.read_bytes())["$defs"]
    return {name: _clean_definition(schema) for name, schema in source.items()}


def _clean_definition(schema: Json) -> Json:
    cleaned = _clean(schema)
    if cleaned.get("x-kubernetes-group-version-kind"):
        # The JSON Schema generator pinned apiVersion and kind with an enum; Kubernetes has none.
        for name in ("apiVersion", "kind"):
            prop = cleaned.get("properties", {}).get(name)
            if prop is not None:
                prop.pop("enum", None)
    return cleaned


def _clean(node: Json) -> Json:
    """JSON Schema's nullable types back to OpenAPI's single type, recursively; a fresh copy."""
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            value = next(t for t in value if t != "null")
        elif key == "properties":
            value = {name: _clean(sub) for name, sub in value.items()}
        else:
            value = _clean(value)
        out[key] = value
    return out


def _ref_name(node: Json) -> str:
    ref = node["$ref"]
    assert ref.startswith(_SRC_REF), ref
    return ref[len(_SRC_REF):]


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, from the definitions' GVK extensions."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in _defs().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def _definition_of(kind: Kind, suffix: str = "") -> str:
    return _by_gvk()[(kind.group, kind.version, kind.kind + suffix)]


def _gvk_of(definition: str) -> dict[str, str]:
    """The first GVK a definition declares: for subresource and extra bodies, their own kind."""
    gvk = _defs()[definition]["x-kubernetes-group-version-kind"][0]
    return {"group": gvk["group"], "kind": gvk["kind"], "version": gvk["version"]}


def _refs(node: Json) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield _ref_name(node)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(roots: Iterable[str]) -> list[str]:
    """Every definition reachable from ``roots`` through ``$ref``s, sorted."""
    defs = _defs()
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(_refs(defs[name]))
    return sorted(seen)


# --- v3 and v2 forms of one schema --------------------------------------------------------------


def _v3_definition(name: str) -> Json:
    if name in _V3_SCALAR_UNIONS:
        return _V3_SCALAR_UNIONS[name]
    return _v3_node(_defs()[name])


def _v3_node(node: Json) -> Json:
    """A schema's own keywords in v3 form: its fields, elements and map values are declaration sites."""
    out = {}
    for key, value in node.items():
        if key == "properties":
            required = set(node.get("required", ()))
            value = {field: _v3_site(sub, field=field, required=field in required) for field, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _v3_site(value, element=True)
        out[key] = value
    return out


def _v3_site(node: Json, *, field: str = "", required: bool = False, element: bool = False) -> Json:
    """Where a field or element is declared: kube-openapi's zero default, and ``allOf`` around a ``$ref``.

    ``{"$ref": X, "description": d}`` becomes ``{"allOf": [{"$ref": X}], "description": d}``: OpenAPI 3.0
    ignores a ``$ref``'s siblings, so kube-openapi moves the reference one level down. The siblings
    (description, default, the ``x-kubernetes-patch-*`` extensions kubectl apply reads) stay outside.
    """
    default = _zero_default(node, field=field, required=required, element=element)
    if "$ref" not in node:
        out = _v3_node(node)
        if default is not _NO_DEFAULT:
            out["default"] = default
        return out
    ref = {"$ref": _V3_REF + _ref_name(node)}
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    if default is not _NO_DEFAULT:
        siblings["default"] = default
    if not siblings:
        return ref
    return {"allOf": [ref], **_v3_node(siblings)}


def _zero_default(node: Json, *, field: str, required: bool, element: bool) -> Any:
    if "$ref" in node:
        target = _defs()[_ref_name(node)]
        # Types with their own OpenAPI form (Time, Quantity, IntOrString...) get no default.
        if "properties" in target and (element or field in _VALUE_STRUCT_FIELDS):
            return {}
        return _NO_DEFAULT
    if element or required:
        return _ZERO.get(node.get("type"), _NO_DEFAULT)
    return _NO_DEFAULT


def _v2_definition(name: str) -> Json:
    if name in _V2_SCALAR_UNIONS:
        return _V2_SCALAR_UNIONS[name]
    return _v2_node(_defs()[name])


def _v2_node(node: Json) -> Json:
    """Swagger 2.0 keeps ``$ref`` with its siblings, as kube-apiserver's /openapi/v2 does."""
    if isinstance(node, list):
        return [_v2_node(v) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {**{k: _v2_node(v) for k, v in node.items() if k != "$ref"}, "$ref": _V2_REF + _ref_name(node)}
    return {k: _v2_node(v) for k, v in node.items()}


# --- paths ----------------------------------------------------------------------------------------

_NAMESPACE_DESCRIPTION = "object name and auth scope, such as for teams and projects"
_FIELD_MANAGER = (
    "fieldManager is a name associated with the actor or entity that is making these changes. The value "
    "must be less than or 128 characters long, and only contain printable characters, as defined by "
    "https://golang.org/pkg/unicode/#IsPrint."
)
_CONTINUE = (
    "The continue option should be set when retrieving more results from the server. Since this value is "
    "server defined, clients may only use the continue value from a previous query result with identical "
    "query parameters (except for the value of continue) and the server may reject a continue value it "
    "does not recognize. If the specified continue value is no longer valid whether due to expiration "
    "(generally five to fifteen minutes) or a configuration change on the server, the server will respond "
    "with a 410 ResourceExpired error together with a continue token. If the client needs a consistent "
    "list, it must restart their list without the continue field. Otherwise, the client may send another "
    "list request with the token received with the 410 error, the server will respond with a list "
    "starting from the next key, but from the latest snapshot, which is inconsistent from the previous "
    "list results - objects that are created, modified, or deleted after the first list request will be "
    "included in the response, as long as their keys are after the \"next key\".\n\nThis field is not "
    "supported when watch is true. Clients may start a watch from the last resourceVersion value returned "
    "by the server and not miss any modifications."
)
_LIMIT = (
    "limit is a maximum number of responses to return for a list call. If more items exist, the server "
    "will set the `continue` field on the list metadata to a value that can be used with the same initial "
    "query to retrieve the next set of results. Setting a limit may return fewer than the requested amount "
    "of items (up to zero items) in the event all requested objects are filtered out and clients should "
    "only use the presence of the continue field to determine whether more results are available. Servers "
    "may choose not to support the limit argument and will return all of the available results. If limit "
    "is specified and the continue field is empty, clients may assume that no more results are available. "
    "This field is not supported if watch is true.\n\nThe server guarantees that the objects returned when "
    "using continue will be identical to issuing a single list call without a limit - that is, no objects "
    "created, modified, or deleted after the first request is issued will be included in any subsequent "
    "continued requests. This is sometimes referred to as a consistent snapshot, and ensures that a client "
    "that is using limit to receive smaller chunks of a very large result can ensure they see all possible "
    "objects. If objects are updated during a chunked list the version of the object that was present at "
    "the time the first list result was calculated is returned."
)
_SEND_INITIAL_EVENTS = (
    "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
    "begin with synthetic events to produce the current state of objects in the collection. Once all such "
    "events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report the "
    "ResourceVersion (RV) corresponding to the set of objects, and be marked with "
    "`\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream will proceed as "
    "usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.\n\n"
    "When `sendInitialEvents` option is set, we require `resourceVersionMatch` option to also be set. The "
    "semantic of the watch request is as following: - `resourceVersionMatch` = NotOlderThan\n  is "
    "interpreted as \"data at least as new as the provided `resourceVersion`\"\n  and the bookmark event "
    "is send when the state is synced\n  to a `resourceVersion` at least as fresh as the one provided by "
    "the ListOptions.\n  If `resourceVersion` is unset, this is interpreted as \"consistent read\" and the\n"
    "  bookmark event is send when the state is synced at least to the moment\n  when request started "
    "being processed.\n- `resourceVersionMatch` set to any other value or unset\n  Invalid error is "
    "returned.\n\nDefaults to true if `resourceVersion=\"\"` or `resourceVersion=\"0\"` (for backward "
    "compatibility reasons) and to false otherwise."
)

# Every query parameter an operation lists: its type and Kubernetes' description.
_QUERY: dict[str, tuple[str, str]] = {
    "pretty": ("string", (
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a "
        "browser or command-line HTTP tool (curl and wget)."
    )),
    "dryRun": ("string", (
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
        "dryRun directive will result in an error response and no further processing of the request. Valid "
        "values are: - All: all dry run stages will be processed"
    )),
    "fieldManager": ("string", _FIELD_MANAGER),
    "fieldValidation": ("string", (
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
        "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
        "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
        "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
        "warning via the standard warning response header for each unknown field that is dropped from the "
        "object, and for each duplicate field that is encountered. The request will still succeed if there "
        "are no other errors, and will only persist the last of any duplicate fields. This is the default in "
        "v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be "
        "dropped from the object, or if any duplicate fields are present. The error returned from the server "
        "will contain all unknown and duplicate fields encountered."
    )),
    "force": ("boolean", (
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned "
        "by other people. Force flag must be unset for non-apply patch requests."
    )),
    "gracePeriodSeconds": ("integer", (
        "The duration in seconds before the object should be deleted. Value must be non-negative integer. "
        "The value zero indicates delete immediately. If this value is nil, the default grace period for the "
        "specified type will be used. Defaults to a per object value if not specified. zero means delete "
        "immediately."
    )),
    "ignoreStoreReadErrorWithClusterBreakingPotential": ("boolean", (
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
        "fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from "
        "the underlying storage successfully because of a) its data can not be transformed e.g. decryption "
        "failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer "
        "constraints, skips precondition checks, and removes the object from the storage. WARNING: This may "
        "potentially break the cluster if the workload associated with the resource being unsafe-deleted "
        "relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value "
        "is false, and the user must opt in to enable it"
    )),
    "orphanDependents": ("boolean", (
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the "
        "dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed "
        "from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."
    )),
    "propagationPolicy": ("string", (
        "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be "
        "set, but not both. The default policy is decided by the existing finalizer set in the "
        "metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - "
        "orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the "
        "background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."
    )),
    "allowWatchBookmarks": ("boolean", (
        "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement "
        "bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should "
        "not assume bookmarks are returned at any specific interval, nor may they assume the server will "
        "send any BOOKMARK event during a session. If this is not a watch, this field is ignored."
    )),
    "continue": ("string", _CONTINUE),
    "fieldSelector": ("string", (
        "A selector to restrict the list of returned objects by their fields. Defaults to everything."
    )),
    "labelSelector": ("string", (
        "A selector to restrict the list of returned objects by their labels. Defaults to everything."
    )),
    "limit": ("integer", _LIMIT),
    "resourceVersion": ("string", (
        "resourceVersion sets a constraint on what resource versions a request may be served from. See "
        "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for "
        "details.\n\nDefaults to unset"
    )),
    "resourceVersionMatch": ("string", (
        "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly "
        "recommended that resourceVersionMatch be set for list calls where resourceVersion is set See "
        "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for "
        "details.\n\nDefaults to unset"
    )),
    "sendInitialEvents": ("boolean", _SEND_INITIAL_EVENTS),
    "timeoutSeconds": ("integer", (
        "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity "
        "or inactivity."
    )),
    "watch": ("boolean", (
        "Watch for changes to the described resources and return them as a stream of add, update, and remove "
        "notifications. Specify resourceVersion."
    )),
    "container": ("string", (
        "The container for which to stream logs. Defaults to only container if there is one container in the "
        "pod."
    )),
    "follow": ("boolean", "Follow the log stream of the pod. Defaults to false."),
    "insecureSkipTLSVerifyBackend": ("boolean", (
        "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the "
        "serving certificate of the backend it is connecting to.  This will make the HTTPS connection "
        "between the apiserver and the backend insecure. This means the apiserver cannot verify the log data "
        "it is receiving came from the real kubelet.  If the kubelet is configured to verify the apiserver's "
        "TLS credentials, it does not mean the connection to the real kubelet is vulnerable to a man in the "
        "middle attack (e.g. an attacker could not intercept the actual log data coming from the real "
        "kubelet)."
    )),
    "limitBytes": ("integer", (
        "If set, the number of bytes to read from the server before terminating the log output. This may not "
        "display a complete final line of logging, and may return slightly more or slightly less than the "
        "specified limit."
    )),
    "previous": ("boolean", "Return previous terminated container logs. Defaults to false."),
    "sinceSeconds": ("integer", (
        "A relative time in seconds before the current time from which to show logs. If this value precedes "
        "the time a pod was started, only logs since the pod start will be returned. If this value is in the "
        "future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified."
    )),
    "tailLines": ("integer", (
        "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from "
        "the creation of the container or sinceSeconds or sinceTime"
    )),
    "timestamps": ("boolean", (
        "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. "
        "Defaults to false."
    )),
}
# The patch form of fieldManager says more (same name, so kept apart from _QUERY).
_PATCH_FIELD_MANAGER = _FIELD_MANAGER + (
    " This field is required for apply requests (application/apply-patch) but optional for non-apply "
    "patch types (JsonPatch, MergePatch, StrategicMergePatch)."
)

_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
                "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                  "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_PARAMS = tuple(sorted({*_DELETE_PARAMS, *_LIST_PARAMS} - {"allowWatchBookmarks", "watch"}))
_LOG_PARAMS = ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous", "sinceSeconds",
               "tailLines", "timestamps")

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_OBJECT_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_STREAM_TYPES = (*_OBJECT_TYPES, "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
_TEXT_TYPES = ("text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_RESPONSE_NAMES = {"200": "OK", "201": "Created", "202": "Accepted", "401": "Unauthorized"}


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    location: str  # "path" or "query"
    type: str
    description: str

    @property
    def required(self) -> bool:
        return self.location == "path"


@dataclass(frozen=True, slots=True)
class _Op:
    """One operation, before it is written in either OpenAPI version."""

    method: str  # get, put, post, patch, delete
    operation_id: str
    description: str
    action: str  # x-kubernetes-action
    gvk: dict[str, str] | None
    group_version: str  # for the tag
    params: tuple[_Param, ...] = ()
    body: str = ""  # request definition; "" for none
    responses: tuple[tuple[str, str], ...] = ()  # (code, definition or TEXT)
    stream: bool = False  # also answers in watch streams


@dataclass(frozen=True, slots=True)
class _Path:
    url: str
    params: tuple[_Param, ...]
    ops: tuple[_Op, ...]


def _query(*names: str) -> tuple[_Param, ...]:
    return tuple(_Param(n, "query", *_QUERY[n]) for n in names)


def _patch_params() -> tuple[_Param, ...]:
    return tuple(_Param(p.name, p.location, p.type, _PATCH_FIELD_MANAGER) if p.name == "fieldManager" else p
                 for p in _query(*_PATCH_PARAMS))


def _path_params(name_of: str = "", namespaced: bool = False, extra: tuple[_Param, ...] = ()) -> tuple[_Param, ...]:
    """A path's own parameters, sorted as Kubernetes lists them: {name}, {namespace}, then the queries."""
    params = list(extra)
    if name_of:
        params.append(_Param("name", "path", "string", f"name of the {name_of}"))
    if namespaced:
        params.append(_Param("namespace", "path", "string", _NAMESPACE_DESCRIPTION))
    params.extend(_query("pretty"))
    return tuple(sorted(params, key=lambda p: p.name))


def _group_word(group: str) -> str:
    """``apps`` -> ``Apps``, ``coordination.k8s.io`` -> ``Coordination``, the core group -> ``Core``."""
    if not group:
        return "Core"
    return "".join(part[:1].upper() + part[1:] for part in group.removesuffix(".k8s.io").split("."))


def _tag(group_version: str) -> str:
    group, _, version = group_version.rpartition("/")
    word = _group_word(group)
    return f"{word[:1].lower()}{word[1:]}_{version}"


def _article(noun: str) -> str:
    """kube-apiserver's getArticleForNoun: no article before a plural, "an" before a vowel."""
    if noun.endswith("s") and not noun.endswith("ss"):
        return " "
    return " an " if noun[:1].lower() in "aeiou" else " a "


def _prefix(group_version: str) -> str:
    return "/api/v1" if group_version == "v1" else f"/apis/{group_version}"


@dataclass(frozen=True, slots=True)
class _Names:
    """What a kind's operation ids and descriptions are built from."""

    stem: str  # e.g. AppsV1
    kind: str
    scope: str  # "Namespaced" or ""

    @classmethod
    def of(cls, group_version: str, kind: str, namespaced: bool) -> _Names:
        group, _, version = group_version.rpartition("/")
        return cls(_group_word(group) + version[:1].upper() + version[1:], kind, "Namespaced" if namespaced else "")

    def op_id(self, verb: str, suffix: str = "") -> str:
        return f"{verb}{self.stem}{self.scope}{self.kind}{suffix}"


def _kind_paths(kind: Kind) -> list[_Path]:
    """The paths kube-apiserver installs for one stored kind (without its subresources)."""
    names = _Names.of(kind.api_version, kind.kind, kind.namespaced)
    gvk = {"group": kind.group, "kind": kind.kind, "version": kind.version}
    definition, list_definition = _definition_of(kind), _definition_of(kind, "List")
    base = _prefix(kind.api_version)
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    collection = f"{base}{scope}/{kind.resource}"
    k = kind.kind

    def op(method: str, verb: str, action: str, description: str, **kw: Any) -> _Op:
        return _Op(method, names.op_id(verb), description, action, gvk, kind.api_version, **kw)

    collection_ops = [
        op("get", "list", "list", f"list or watch objects of kind {k}", params=_query(*_LIST_PARAMS),
           responses=(("200", list_definition),), stream=True),
        op("post", "create", "post", f"create{_article(k)}{k}", params=_query(*_WRITE_PARAMS), body=definition,
           responses=(("200", definition), ("201", definition), ("202", definition))),
    ]
    if kind.resource not in _NO_DELETECOLLECTION:
        collection_ops.insert(0, _Op(
            "delete", f"delete{names.stem}Collection{names.scope}{k}", f"delete collection of {k}",
            "deletecollection", gvk, kind.api_version, _query(*_DELETECOLLECTION_PARAMS), _DELETE_OPTIONS,
            (("200", _STATUS),)))
    deleted = definition if kind.resource in _DELETE_RETURNS_OBJECT else _STATUS
    item_ops = [
        op("delete", "delete", "delete", f"delete{_article(k)}{k}", params=_query(*_DELETE_PARAMS),
           body=_DELETE_OPTIONS, responses=(("200", deleted), ("202", deleted))),
        op("get", "read", "get", f"read the specified {k}", responses=(("200", definition),)),
        op("patch", "patch", "patch", f"partially update the specified {k}", params=_patch_params(), body=_PATCH,
           responses=(("200", definition), ("201", definition))),
        op("put", "replace", "put", f"replace the specified {k}", params=_query(*_WRITE_PARAMS), body=definition,
           responses=(("200", definition), ("201", definition))),
    ]
    paths = [
        _Path(collection, _path_params(namespaced=kind.namespaced), tuple(collection_ops)),
        _Path(f"{collection}/{{name}}", _path_params(k, kind.namespaced), tuple(item_ops)),
    ]
    if kind.namespaced:
        paths.append(_Path(f"{base}/{kind.resource}", _path_params(extra=_query(*_LIST_PARAMS)), (
            _Op("get", f"list{names.stem}{k}ForAllNamespaces", f"list or watch objects of kind {k}", "list", gvk,
                kind.api_version, responses=(("200", list_definition),), stream=True),)))
    if _DEPRECATED_WATCH_PATHS:
        paths.extend(_watch_paths(kind, names, gvk))
    return paths


def _watch_paths(kind: Kind, names: _Names, gvk: dict[str, str]) -> list[_Path]:
    """The deprecated ``/watch/`` paths: a list watch, a one-object watch and, if namespaced, an all-namespaces one."""
    base = f"{_prefix(kind.api_version)}/watch"
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    k, watch_params = kind.kind, _query(*_LIST_PARAMS)
    events = (("200", _WATCH_EVENT),)

    def watch(url: str, op_id: str, action: str, description: str, name_of: str = "",
              namespaced: bool = False) -> _Path:
        params = _path_params(name_of, namespaced, watch_params)
        return _Path(url, params, (_Op("get", op_id, description, action, gvk, kind.api_version,
                                       responses=events, stream=True),))

    paths = [
        watch(f"{base}{scope}/{kind.resource}", names.op_id("watch", "List"), "watchlist",
              f"watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list "
              "operation instead.", namespaced=kind.namespaced),
        watch(f"{base}{scope}/{kind.resource}/{{name}}", names.op_id("watch"), "watch",
              f"watch changes to an object of kind {k}. deprecated: use the 'watch' parameter with a list "
              "operation instead, filtered to a single item with the 'fieldSelector' parameter.",
              name_of=k, namespaced=kind.namespaced),
    ]
    if kind.namespaced:
        paths.append(watch(f"{base}/{kind.resource}", f"watch{names.stem}{k}ListForAllNamespaces", "watchlist",
                           f"watch individual changes to a list of {k}. deprecated: use the 'watch' parameter "
                           "with a list operation instead."))
    return paths


_SUB_VERBS = {  # kube verb -> HTTP method, operation id verb, action, description's verb
    "get": ("get", "read", "get", "read {sub} of the specified {kind}"),
    "update": ("put", "replace", "put", "replace {sub} of the specified {kind}"),
    "patch": ("patch", "patch", "patch", "partially update {sub} of the specified {kind}"),
    "create": ("post", "create", "post", "create {sub} of{article}{kind}"),
}


def _subresource_path(kind: Kind, sub: str) -> _Path:
    """``.../{name}/<sub>``: status and scale (get, replace, patch), binding and eviction (create), log (text)."""
    shape = SUBRESOURCES[sub]
    names = _Names.of(kind.api_version, kind.kind, kind.namespaced)
    definition = shape.definition or _definition_of(kind)
    if definition == TEXT:
        gvk, body_kind = {"group": kind.group, "kind": kind.kind, "version": kind.version}, kind.kind
    else:
        gvk = _gvk_of(definition)
        body_kind = gvk["kind"]
    ops = []
    for verb in shape.verbs:
        method, id_verb, action, text = _SUB_VERBS[verb]
        params = {"update": _query(*_WRITE_PARAMS), "create": _query(*_WRITE_PARAMS),
                  "patch": _patch_params()}.get(verb, ())
        writes = verb in ("update", "create", "patch")
        codes = {"get": ("200",), "update": ("200", "201"), "patch": ("200", "201"),
                 "create": ("200", "201", "202")}[verb]
        ops.append(_Op(method, names.op_id(id_verb, sub.capitalize()),
                       text.format(sub=sub, kind=kind.kind, article=_article(kind.kind)), action, gvk,
                       kind.api_version, params, (_PATCH if verb == "patch" else definition) if writes else "",
                       tuple((code, definition) for code in codes)))
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    extra = _query(*_LOG_PARAMS) if definition == TEXT else ()
    url = f"{_prefix(kind.api_version)}{scope}/{kind.resource}/{{name}}/{sub}"
    return _Path(url, _path_params(body_kind, kind.namespaced, extra), tuple(sorted(ops, key=lambda o: o.method)))


def _resource_path(extra: Endpoint) -> _Path:
    """A resource that is not stored: only its verbs (for the reviews, create) at its collection URL."""
    gvk = _gvk_of(extra.definition)
    names = _Names.of(extra.group_version, gvk["kind"], extra.namespaced)
    ops = []
    for verb in extra.verbs:
        method, id_verb, action, _ = _SUB_VERBS[verb]
        assert verb == "create", f"{extra.resource}: only create is described for resources without storage"
        ops.append(_Op(method, names.op_id(id_verb), f"create{_article(gvk['kind'])}{gvk['kind']}", action, gvk,
                       extra.group_version, _query(*_WRITE_PARAMS), extra.definition,
                       tuple((code, extra.definition) for code in ("200", "201", "202"))))
    scope = "/namespaces/{namespace}" if extra.namespaced else ""
    url = f"{_prefix(extra.group_version)}{scope}/{extra.resource}"
    return _Path(url, _path_params(namespaced=extra.namespaced), tuple(ops))


def _resources_path(group_version: str) -> _Path:
    """``/apis/<group>/<version>/``: the group version's APIResourceList."""
    names = _Names.of(group_version, "", False)
    op = _Op("get", f"get{names.stem}APIResources", "get available resources", "", None, group_version,
             responses=(("200", _RESOURCE_LIST),))
    return _Path(_prefix(group_version) + "/", (), (op,))


def _group_versions() -> list[str]:
    """Every group version with a document: those of the kinds and of :data:`EXTRA_ENDPOINTS`, sorted."""
    return sorted({k.api_version for k in KINDS.values()} | {e.group_version for e in EXTRA_ENDPOINTS})


def _paths(group_version: str) -> list[_Path]:
    paths = [_resources_path(group_version)]
    for kind in KINDS.values():
        if kind.api_version == group_version:
            paths.extend(_kind_paths(kind))
            paths.extend(_subresource_path(kind, sub) for sub in kind.subresources)
    paths.extend(_resource_path(e) for e in EXTRA_ENDPOINTS if e.group_version == group_version)
    return paths


def _op_definitions(paths: Iterable[_Path]) -> set[str]:
    found = set()
    for path in paths:
        for op in path.ops:
            if op.body:
                found.add(op.body)
            found.update(d for _, d in op.responses if d != TEXT)
    return found


# --- writing the documents ------------------------------------------------------------------------


def _v3_param(p: _Param) -> Json:
    out = {"description": p.description, "in": p.location, "name": p.name,
           "schema": {"type": p.type, "uniqueItems": True}}
    if p.required:
        out["required"] = True
    return out


def _v3_content(types: Iterable[str], schema: Json) -> Json:
    return {t: {"schema": schema} for t in types}


def _v3_op(op: _Op) -> Json:
    out: dict[str, Json] = {"description": op.description, "operationId": op.operation_id,
                            "tags": [_tag(op.group_version)]}
    if op.params:
        out["parameters"] = [_v3_param(p) for p in op.params]
    if op.body:
        types = _PATCH_TYPES if op.body == _PATCH else ("*/*",)
        out["requestBody"] = {"content": _v3_content(types, {"$ref": _V3_REF + op.body})}
        if op.body != _DELETE_OPTIONS:
            out["requestBody"]["required"] = True
    responses: dict[str, Json] = {}
    for code, definition in op.responses:
        if definition == TEXT:
            content = _v3_content(_TEXT_TYPES, {"type": "string"})
        else:
            content = _v3_content(_STREAM_TYPES if op.stream else _OBJECT_TYPES, {"$ref": _V3_REF + definition})
        responses[code] = {"content": content, "description": _RESPONSE_NAMES[code]}
    responses["401"] = {"description": _RESPONSE_NAMES["401"]}
    out["responses"] = responses
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.gvk is not None:
        # One object here (kubectl's query-param check reads it as a map); the schemas carry a list.
        out["x-kubernetes-group-version-kind"] = dict(op.gvk)
    return out


def _v3_path(path: _Path) -> Json:
    out: dict[str, Json] = {op.method: _v3_op(op) for op in path.ops}
    if path.params:
        out["parameters"] = [_v3_param(p) for p in path.params]
    return out


def _document_path(group_version: str) -> str:
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


_SECURITY_SCHEME = {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                    "name": "authorization", "type": "apiKey"}}


def _build_v3(group_version: str) -> Json:
    paths = _paths(group_version)
    schemas = {name: _v3_definition(name) for name in _closure(_op_definitions(paths))}
    return _sorted({
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEME},
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "openapi": "3.0.0",
        "paths": {p.url: _v3_path(p) for p in paths},
        "security": [{"BearerToken": []}],
    })


def _v2_param(p: _Param) -> Json:
    out = {"description": p.description, "in": p.location, "name": p.name, "type": p.type, "uniqueItems": True}
    if p.required:
        out["required"] = True
    return out


def _v2_op(op: _Op) -> Json:
    out: dict[str, Json] = {
        "consumes": list(_PATCH_TYPES if op.body == _PATCH else ("*/*",)),
        "description": op.description,
        "operationId": op.operation_id,
        "schemes": ["https"],
        "tags": [_tag(op.group_version)],
    }
    params = [_v2_param(p) for p in op.params]
    if op.body:
        body = {"in": "body", "name": "body", "schema": {"$ref": _V2_REF + op.body}}
        if op.body != _DELETE_OPTIONS:
            body["required"] = True
        params.insert(0, body)
    if params:
        out["parameters"] = params
    text = any(d == TEXT for _, d in op.responses)
    out["produces"] = list(_TEXT_TYPES if text else _STREAM_TYPES if op.stream else _OBJECT_TYPES)
    responses: dict[str, Json] = {}
    for code, definition in op.responses:
        schema = {"type": "string"} if definition == TEXT else {"$ref": _V2_REF + definition}
        responses[code] = {"description": _RESPONSE_NAMES[code], "schema": schema}
    responses["401"] = {"description": _RESPONSE_NAMES["401"]}
    out["responses"] = responses
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.gvk is not None:
        out["x-kubernetes-group-version-kind"] = dict(op.gvk)
    return out


def _build_v2() -> Json:
    paths = [p for gv in _group_versions() for p in _paths(gv)]
    v2_paths = {}
    for path in paths:
        entry: dict[str, Json] = {op.method: _v2_op(op) for op in path.ops}
        if path.params:
            entry["parameters"] = [_v2_param(p) for p in path.params]
        v2_paths[path.url] = entry
    return _sorted({
        "definitions": {name: _v2_definition(name) for name in _closure(_op_definitions(paths))},
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": v2_paths,
        "security": [{"BearerToken": []}],
        "securityDefinitions": _SECURITY_SCHEME,
        "swagger": "2.0",
    })


def _sorted(node: Json) -> Json:
    """A deep copy with every object's keys sorted, so that plain ``orjson.dumps`` gives the canonical bytes."""
    if isinstance(node, dict):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(v) for v in node]
    return node


def canonical_json(doc: Json) -> bytes:
    """The bytes a document's hash is taken of (and that the front may serve): compact, keys sorted, UTF-8."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _hash(doc: Json) -> str:
    # kube-openapi's ETag and ?hash=: the upper-case hex SHA-512 of the served JSON.
    return hashlib.sha512(canonical_json(doc)).hexdigest().upper()


@functools.cache
def _v3_cached(path: str) -> tuple[Json, str] | None:
    by_path = {_document_path(gv): gv for gv in _group_versions()}
    if path not in by_path:
        return None
    doc = _build_v3(by_path[path])
    return doc, _hash(doc)


def v3_document(path: str) -> tuple[Json, str] | None:
    """The OpenAPI 3.0 document of one group version and its hash; ``None`` for an unknown one.

    ``path`` is what follows ``/openapi/v3/``: ``api/v1`` or ``apis/<group>/<version>`` (a leading or
    trailing ``/`` and a ``?hash=...`` are ignored). The document is cached: do not mutate it.
    """
    return _v3_cached(path.partition("?")[0].strip("/"))


def v3_index() -> Json:
    """``GET /openapi/v3``: each group version's document URL, with its hash as kube-apiserver writes it."""
    entries = {}
    for gv in _group_versions():
        path = _document_path(gv)
        _, digest = _v3_cached(path)
        entries[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": dict(sorted(entries.items()))}


@functools.cache
def v2_document() -> Json:
    """``GET /openapi/v2``: one Swagger 2.0 document for every group version. Cached: do not mutate it."""
    return _build_v2()


# --- unknown fields -------------------------------------------------------------------------------


@functools.cache
def _definitions_by_kind() -> dict[str, str]:
    """Kind name -> definition, for the kinds stored and the bodies of the other endpoints."""
    found = {name: _definition_of(kind) for name, kind in KINDS.items()}
    bodies = [s.definition for s in SUBRESOURCES.values() if s.definition and s.definition != TEXT]
    bodies += [e.definition for e in EXTRA_ENDPOINTS]
    for definition in bodies:
        found.setdefault(_gvk_of(definition)["kind"], definition)
    return found


def unknown_fields(kind_name: str, obj: Json) -> list[str]:
    """The fields of ``obj`` that ``kind_name``'s schema does not declare, as kube-apiserver names them.

    Paths are those of the API server's strict decoding errors: ``spec.foo``,
    ``spec.template.spec.containers[0].imagee``, ``metadata.labelz`` (a map's key is
    ``.key``). Map keys (labels, annotations, ``data``) are never unknown; the walk
    stops at values whose schema accepts anything (IntOrString, Quantity, RawExtension,
    ``x-kubernetes-preserve-unknown-fields``) and does not look inside an unknown field.
    Sorted. A kind not served raises ``KeyError``; values of the wrong type are not
    this function's business and are skipped.
    """
    definition = _definitions_by_kind()[kind_name]
    found: list[str] = []
    _walk(_defs()[definition], obj, "", found)
    return sorted(found)


def _resolve(schema: Json) -> Json:
    while "$ref" in schema:
        schema = _defs()[_ref_name(schema)]
    return schema


def _opaque(schema: Json) -> bool:
    """A schema that accepts any value: nothing inside it can be unknown."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or "oneOf" in schema:
        return True
    return schema.get("type") == "object" and "properties" not in schema and "additionalProperties" not in schema


def _walk(schema: Json, value: Json, path: str, found: list[str]) -> None:
    schema = _resolve(schema)
    if _opaque(schema):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        values = schema.get("additionalProperties")
        for key, sub in value.items():
            child = f"{path}.{key}" if path else key
            if props is not None:
                if key in props:
                    _walk(props[key], sub, child, found)
                else:
                    found.append(child)
            elif isinstance(values, dict):
                _walk(values, sub, child, found)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _walk(schema["items"], item, f"{path}[{i}]", found)
