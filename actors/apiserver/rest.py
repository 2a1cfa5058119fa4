"""The Kubernetes REST API's URLs and headers, turned into API calls.

``GET /apis/apps/v1/namespaces/default/deployments/web/scale`` is a ``get``
of the ``scale`` subresource of the Deployment ``web`` in ``default``;
``GET /api/v1/pods?watch=1`` is a watch of every pod; ``PATCH`` with
``Content-Type: application/strategic-merge-patch+json`` is a strategic
merge patch. This module reads those the way kube-apiserver's request info
resolver does (``k8s.io/apiserver/pkg/endpoints/request``), so the HTTPS
front can hand the API server the same :class:`~actors.messages.ApiRequest`
a component sends over the bus.

Pure: a method, a path, query parameters and headers in; a :class:`Call`
or an :class:`~actors.apiserver.status.ApiError` out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yaml

from actors.apiserver import protobuf
from actors.apiserver import status as st
from actors.apiserver.kinds import KINDS, UNSTORED, Kind, Unstored

__all__ = ["Call", "decode_body", "parse_call", "patch_type", "query_options"]

_UNSTORED: dict[tuple[str, str], Unstored] = {(u.group, u.resource): u for u in UNSTORED}

_BY_GROUP_RESOURCE: dict[tuple[str, str], Kind] = {(k.group, k.resource): k for k in KINDS.values()}

#: Query parameters with the type the API server wants them in (everything else is passed on as text).
_INT_PARAMS = frozenset({"limit", "timeoutSeconds", "gracePeriodSeconds", "tailLines", "sinceSeconds",
                         "limitBytes"})
_BOOL_PARAMS = frozenset({"watch", "allowWatchBookmarks", "follow", "previous", "timestamps", "force",
                          "orphanDependents", "sendInitialEvents", "pretty", "insecureSkipTLSVerifyBackend"})
_LIST_PARAMS = frozenset({"dryRun"})

#: What a PATCH's Content-Type says the patch is (the API server's patchType names).
PATCH_CONTENT_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


@dataclass(slots=True)
class Call:
    """One resource request, as the API server's request info names it."""

    verb: str
    """get, list, watch, create, update, patch, delete, deletecollection."""
    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    kind: Kind | None = None
    virtual: Unstored | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _not_found(path: str) -> st.ApiError:
    return st.ApiError(404, "NotFound", "the server could not find the requested resource", {
        "causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]})


def parse_call(method: str, path: str, query: dict[str, list[str]]) -> Call:
    """The call a resource URL makes; 404 for a URL that names nothing served, 405 for a method it does not take.

    ``/api/v1/...`` is the core group; ``/apis/<group>/<version>/...`` the others. After the
    group version: ``[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]``, where
    ``namespaces/<name>`` on its own is the Namespace object itself.
    """
    segments = [unquote(s) for s in path.split("/") if s]  # names are percent-encoded in URLs
    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise _not_found(path)
    if not rest:
        raise _not_found(path)
    options = query_options(query)
    if rest[0] == "watch":  # the deprecated /api/v1/watch/... form of ?watch=1, still served
        rest = rest[1:]
        options["watch"] = True
        if not rest:
            raise _not_found(path)
    namespace = ""
    # namespaces/NS/RESOURCE... is in a namespace, except namespaces/NAME/status and /finalize, which are
    # subresources of the Namespace itself (the request info resolver's namespaceSubresources).
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = rest[0], "", ""
    if len(rest) >= 2:
        name = rest[1]
    if len(rest) >= 3:
        sub = rest[2]
    if len(rest) > 3:
        raise _not_found(path)
    if resource == "namespaces" and namespace:
        raise _not_found(path)  # /api/v1/namespaces/a/namespaces/b
    kind = _BY_GROUP_RESOURCE.get((group, resource))
    virtual = _UNSTORED.get((group, resource)) if kind is None else None
    if kind is None and virtual is None:
        raise _not_found(path)
    if kind is not None:
        if kind.version != version:
            raise _not_found(path)
        if namespace and not kind.namespaced:
            raise _not_found(path)
        if sub and sub not in kind.subresources:
            raise _not_found(path)
    elif virtual.version != version or namespace or name:
        raise _not_found(path)
    verb = _verb(method, bool(name), bool(sub), options)
    if verb is None:
        raise st.method_not_allowed(f"the server does not allow this method on the requested resource "
                                    f"({method} {path})")
    return Call(verb, group, version, resource, namespace, name, sub, kind, virtual, options)


def _verb(method: str, named: bool, sub: bool, options: dict[str, Any]) -> str | None:
    if method == "HEAD":  # headers only: never a stream
        return "get" if named else "list"
    if method == "GET":
        if options.get("watch"):
            return "watch"
        return "get" if named else "list"
    if method == "POST":
        return "create" if (not named or sub) else None
    if method == "PUT":
        return "update" if named else None
    if method == "PATCH":
        return "patch" if named else None
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return None


def query_options(query: dict[str, list[str]]) -> dict[str, Any]:
    """Query parameters as the API server's options: ints, booleans and lists where Kubernetes has them.

    A malformed number or boolean is a 400 naming the parameter.
    """
    out: dict[str, Any] = {}
    for key, values in query.items():
        if not values:
            continue
        value = values[-1]
        if key in _LIST_PARAMS:
            out[key] = [v for v in values if v]
        elif key in _INT_PARAMS:
            if value == "":
                continue
            try:
                out[key] = int(value)
            except ValueError:
                raise st.bad_request(f"{key}: invalid value {value!r}: must be an integer") from None
        elif key in _BOOL_PARAMS:
            lowered = value.lower()
            if lowered in ("", "true", "1"):
                out[key] = True
            elif lowered in ("false", "0"):
                out[key] = False
            else:
                raise st.bad_request(f"{key}: invalid value {value!r}: must be true or false")
        else:
            out[key] = value
    return out


def patch_type(content_type: str) -> str:
    """The patch a ``Content-Type`` names; 415 with the accepted types for anything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    found = PATCH_CONTENT_TYPES.get(media)
    if found is None:
        raise st.ApiError(415, "UnsupportedMediaType",
                          f"the body of the request was in an unknown format - accepted media types include: "
                          f"{', '.join(PATCH_CONTENT_TYPES)}")
    return found


def decode_body(body: bytes, content_type: str) -> Any:
    """A request body: JSON (or YAML for an apply patch). Anything else, or bad syntax, is a 4xx that says so."""
    if not body:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if protobuf.is_protobuf(media):  # kubectl's typed clients (create, auth can-i) send protobuf
        try:
            return protobuf.decode(body, content_type)
        except protobuf.ProtobufError as exc:
            if exc.unsupported:
                raise st.ApiError(415, "UnsupportedMediaType", str(exc)) from None
            raise st.bad_request(f"error decoding the protobuf request body: {exc}") from None
    if media in ("application/yaml", "application/apply-patch+yaml"):
        try:
            return yaml.safe_load(body.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise st.bad_request(f"error decoding YAML: {exc}") from None
    if media and media not in ("application/json", *PATCH_CONTENT_TYPES) and not media.endswith("+json"):
        raise st.ApiError(415, "UnsupportedMediaType",
                          f'the body of the request was in an unknown format - accepted media types include: '
                          f'application/json, application/yaml (got "{media}")')
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise st.bad_request(f"error decoding the request body as JSON: {exc}") from None
