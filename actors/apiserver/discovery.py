"""API discovery: what ``GET /api``, ``/apis`` and ``/apis/<group>/<version>`` answer.

Before it sends a single request about objects, ``kubectl`` asks the server
which resources exist, in which group and version, under which short names,
with which verbs, and which of them ``kubectl get all`` lists. It resolves
``po``, ``deploy`` or ``deployments.apps`` against that answer, not against
anything built in, so a real ``kubectl`` pointed at kubesim works only if
these documents are shaped exactly as kube-apiserver 1.32 shapes them:

- the legacy documents — ``APIVersions`` at ``/api``, ``APIGroupList`` at
  ``/apis``, ``APIGroup`` at ``/apis/<group>`` and one ``APIResourceList``
  per group version (``/api/v1``, ``/apis/apps/v1``...);
- the aggregated document (``APIGroupDiscoveryList``,
  ``apidiscovery.k8s.io/v2``), which kubectl 1.32 asks for first, in its
  ``Accept`` header, to learn everything in two requests instead of one per
  group version. :func:`negotiate_discovery` reads that header as
  kube-apiserver does; a client that does not ask gets the legacy form.

Both are computed from :data:`~actors.apiserver.kinds.KINDS` plus the small
tables below (what each subresource answers with, and the resources served
that are not stored kinds), so the two forms cannot disagree: client-go's
``SplitGroupsAndResources`` turns the aggregated one into exactly the
legacy lists.

Pure: strings in, JSON-able dicts out. The HTTP front decides routes and
status codes; ``None`` here means "no such group or version" (a 404 there).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from actors.apiserver.kinds import KINDS, UNSTORED, Kind

__all__ = [
    "AGGREGATED_VERSIONS",
    "EXTRA_RESOURCES",
    "STORED_VERBS",
    "SUBRESOURCES",
    "MediaRange",
    "Subresource",
    "aggregated",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "group_versions",
    "json_clauses",
    "negotiate_discovery",
    "parse_accept",
]

STORED_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
"""The verbs of every stored kind, in the (sorted) order Kubernetes lists them."""


@dataclass(frozen=True, slots=True)
class Subresource:
    """What one subresource allows and answers with."""

    verbs: tuple[str, ...]
    group_version: str | None = None
    """The response kind's ``group/version``; ``None``: the parent's."""
    kind: str | None = None
    """The response kind; ``None``: the parent's kind."""


# Each subresource name kubesim serves, as Kubernetes describes it. pods/log
# returns text, yet Kubernetes lists its kind as Pod: clients match on that.
SUBRESOURCES: dict[str, Subresource] = {
    "status": Subresource(("get", "patch", "update")),
    "scale": Subresource(("get", "patch", "update"), "autoscaling/v1", "Scale"),
    "log": Subresource(("get",)),
    "binding": Subresource(("create",), "v1", "Binding"),
    "eviction": Subresource(("create",), "policy/v1", "Eviction"),
}

EXTRA_RESOURCES = UNSTORED
"""Resources without storage (the access reviews), from :data:`~actors.apiserver.kinds.UNSTORED`."""

# Kubernetes lists groups by priority (kube-apiserver's apiVersionPriorities),
# not by name; groups it does not rank follow, by name.
_GROUP_ORDER = (
    "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
    "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
)


def _split(group_version: str) -> tuple[str, str]:
    group, _, version = group_version.rpartition("/")
    return group, version


def _storage_version_hash(kind: Kind) -> str:
    # discovery.StorageVersionHash: the first 8 bytes of sha256("group/version/kind").
    digest = hashlib.sha256(f"{kind.group}/{kind.version}/{kind.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


@dataclass(frozen=True, slots=True)
class _Resource:
    """One entry of an APIResourceList, before it is written out in either form."""

    name: str
    singular: str
    namespaced: bool
    group: str  # the response kind's group/version when it differs from the list's
    version: str
    kind: str
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    storage_version_hash: str = ""


def _subresource(parent: Kind, name: str) -> _Resource:
    shape = SUBRESOURCES[name]
    group = version = ""
    if shape.group_version is not None and shape.group_version != parent.api_version:
        group, version = _split(shape.group_version)
    return _Resource(name=f"{parent.resource}/{name}", singular="", namespaced=parent.namespaced,
                     group=group, version=version, kind=shape.kind or parent.kind, verbs=shape.verbs)


def _resources() -> dict[str, list[_Resource]]:
    """Every group version's resources, sorted by name as the API server installs them."""
    by_gv: dict[str, list[_Resource]] = {}
    for k in KINDS.values():
        listed = by_gv.setdefault(k.api_version, [])
        listed.append(_Resource(
            name=k.resource, singular=k.singular, namespaced=k.namespaced, group="", version="",
            kind=k.kind, verbs=STORED_VERBS, short_names=k.short_names, categories=k.categories,
            storage_version_hash=_storage_version_hash(k)))
        listed.extend(_subresource(k, name) for name in k.subresources)
    for extra in EXTRA_RESOURCES:
        by_gv.setdefault(extra.api_version, []).append(_Resource(
            name=extra.resource, singular=extra.singular, namespaced=extra.namespaced,
            group="", version="", kind=extra.kind, verbs=extra.verbs))
    for listed in by_gv.values():
        listed.sort(key=lambda r: r.name)
    return by_gv


# A subresource nobody described would be listed wrongly; say so at import.
for _k in KINDS.values():
    for _name in _k.subresources:
        assert _name in SUBRESOURCES, f"{_k.resource}/{_name}: no entry in SUBRESOURCES"
del _k, _name

_BY_GV = _resources()


def group_versions() -> list[str]:
    """Every group version served: ``v1`` first, then the groups in discovery order."""
    groups = {_split(gv)[0] for gv in _BY_GV if "/" in gv}
    ranked = [g for g in _GROUP_ORDER if g in groups]
    ordered = ranked + sorted(groups - set(ranked))
    out = ["v1"] if "v1" in _BY_GV else []
    for group in ordered:
        out += sorted(gv for gv in _BY_GV if _split(gv)[0] == group)
    return out


# --- Legacy documents ---------------------------------------------------------------------

def api_versions(server_address: str) -> dict:
    """``GET /api``: the legacy group's versions and where to reach the server."""
    # Like kube-apiserver, no apiVersion on this one.
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_versions_of(group: str) -> list[str]:
    return [gv for gv in group_versions() if "/" in gv and _split(gv)[0] == group]


def _group_body(group: str) -> dict:
    versions = [{"groupVersion": gv, "version": _split(gv)[1]} for gv in _group_versions_of(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    """``GET /apis``: every named group, its versions and the preferred one."""
    groups: list[str] = []
    for gv in group_versions():
        if "/" in gv and _split(gv)[0] not in groups:
            groups.append(_split(gv)[0])
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_body(g) for g in groups]}


def api_group(group: str) -> dict | None:
    """``GET /apis/<group>``; ``None`` for a group not served (including the legacy ``""``)."""
    if not group or not _group_versions_of(group):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_body(group)}


def _legacy_entry(r: _Resource) -> dict:
    entry: dict = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced}
    if r.group or r.version:
        entry["group"] = r.group
        entry["version"] = r.version
    entry["kind"] = r.kind
    entry["verbs"] = list(r.verbs)
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.storage_version_hash:
        entry["storageVersionHash"] = r.storage_version_hash
    return entry


def api_resource_list(group_version: str) -> dict | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``; ``None`` for one not served.

    Subresources are entries of their own (``pods/status``), with ``group``
    and ``version`` only where their kind lives elsewhere (``pods/eviction``
    in policy/v1, ``deployments/scale`` in autoscaling/v1).
    """
    resources = _BY_GV.get(group_version)
    if resources is None:
        return None
    body: dict = {"kind": "APIResourceList"}
    # kube-apiserver writes apiVersion on the named groups' lists, not on /api/v1's.
    if "/" in group_version:
        body["apiVersion"] = "v1"
    body["groupVersion"] = group_version
    body["resources"] = [_legacy_entry(r) for r in resources]
    return body


# --- Aggregated discovery (apidiscovery.k8s.io) ------------------------------------------

AGGREGATED_VERSIONS = ("v2", "v2beta1")


def _gvk(group: str, version: str, kind: str) -> dict:
    # Like the API server, the group and version stay empty when they are the list's own.
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resources(resources: list[_Resource]) -> list[dict]:
    out: list[dict] = []
    parents: dict[str, dict] = {}
    for r in resources:
        if "/" in r.name:
            continue
        entry: dict = {
            "resource": r.name,
            "responseKind": _gvk(r.group, r.version, r.kind),
            "scope": "Namespaced" if r.namespaced else "Cluster",
            "singularResource": r.singular,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        parents[r.name] = entry
    for r in resources:
        parent, slash, sub = r.name.partition("/")
        if slash:
            parents[parent].setdefault("subresources", []).append({
                "subresource": sub, "responseKind": _gvk(r.group, r.version, r.kind),
                "verbs": list(r.verbs)})
    return out


def aggregated(legacy: bool, version: str = "v2") -> dict:
    """The ``APIGroupDiscoveryList`` for ``/api`` (``legacy``) or ``/apis``.

    ``version`` is the ``apidiscovery.k8s.io`` version negotiated (``v2`` or
    ``v2beta1``: the same shape). ``/api`` has one item, the legacy group,
    whose name is empty; ``/apis`` one per named group, in discovery order.
    Every version is ``freshness: Current``: kubesim serves all groups
    itself, so none can be stale (client-go drops stale ones).
    """
    if version not in AGGREGATED_VERSIONS:
        raise ValueError(f"unknown aggregated discovery version {version!r}")
    items: list[dict] = []
    if legacy:
        items.append({"metadata": {}, "versions": [
            {"version": "v1", "resources": _aggregated_resources(_BY_GV.get("v1", [])),
             "freshness": "Current"}]})
    else:
        for group in api_group_list()["groups"]:
            items.append({"metadata": {"name": group["name"]}, "versions": [
                {"version": v["version"], "resources": _aggregated_resources(_BY_GV[v["groupVersion"]]),
                 "freshness": "Current"}
                for v in group["versions"]]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}


# --- Accept negotiation ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MediaRange:
    """One clause of an ``Accept`` header."""

    type: str
    subtype: str
    params: dict[str, str]
    q: float


def _less(a: MediaRange, b: MediaRange) -> bool:
    # goautoneg's ordering, quirks included: higher q first, then concrete types.
    if a.q > b.q:
        return True
    if a.type != "*" and b.type == "*":
        return True
    return a.subtype != "*" and b.subtype == "*"


def parse_accept(header: str) -> list[MediaRange]:
    """An ``Accept`` header's clauses in the order kube-apiserver tries them.

    That is goautoneg's ``ParseAccept``: clauses split at commas, parameters
    at semicolons, ``q`` taken out of the parameters, then sorted by an
    insertion sort (stable, so equal clauses keep the client's order).
    """
    clauses: list[MediaRange] = []
    for part in header.split(","):
        pieces = part.strip(" ").split(";")
        media = pieces[0].split("/")
        mtype = media[0].strip(" ")
        if len(media) == 1 and mtype == "*":
            subtype = "*"
        elif len(media) == 2:
            subtype = media[1].strip(" ")
        else:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for param in pieces[1:]:
            key, eq, value = param.partition("=")
            if not eq:
                continue
            key = key.strip(" ")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # Go's ParseFloat error leaves zero
            else:
                params[key] = value.strip(" ")
        clauses.append(MediaRange(mtype, subtype, params, q))
    for i in range(1, len(clauses)):
        j = i
        while j > 0 and _less(clauses[j], clauses[j - 1]):
            clauses[j], clauses[j - 1] = clauses[j - 1], clauses[j]
            j -= 1
    return clauses


def json_clauses(header: str) -> list[MediaRange]:
    """The clauses of ``header`` that JSON satisfies (the only encoding served), in order."""
    return [c for c in parse_accept(header)
            if c.type == "application" and c.subtype in ("json", "*")
            or c.type == "*" and c.subtype == "*"]


def negotiate_discovery(accept_header: str) -> str | None:
    """``"v2"`` / ``"v2beta1"`` when ``Accept`` asks for aggregated discovery first, else ``None``.

    As kube-apiserver does: the first JSON-satisfiable clause that asks for
    nothing (plain ``application/json``) or for a conversion it can make
    decides. A conversion to anything else (``as=Table`` at ``/apis``) is
    skipped, and with no clause left the legacy form is served.
    """
    for clause in json_clauses(accept_header or ""):
        convert = {k: clause.params[k] for k in ("as", "g", "v") if k in clause.params}
        if not convert:
            return None
        if convert.get("as") == "APIGroupDiscoveryList" and convert.get("g") == "apidiscovery.k8s.io" \
                and convert.get("v") in AGGREGATED_VERSIONS:
            return convert["v"]
    return None
