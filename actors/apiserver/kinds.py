"""The kinds the API server serves, as Kubernetes' discovery describes them.

Every request names a kind one way or another: a manifest by ``apiVersion``
and ``kind``, ``kubectl get`` by a plural, a singular, a short name or
``resource.group``, a watch by the storage prefix. This module is the one
table all of those resolve against, so the API server, validation and the
client agree on names. The values are Kubernetes' own, as ``kubectl
api-resources`` prints them (the types' ``+genclient`` markers and each
registry's ``ShortNames()`` / ``Categories()`` in
``k8s.io/kubernetes/pkg/registry/*/*/storage/storage.go``), so manifests and
kubectl habits written for a real cluster work unchanged.

Storage keys follow the API server's etcd layout
(``/registry/<resource>/<namespace>/<name>``), simplified in one place on
purpose: Kubernetes stores Services under ``/registry/services/specs/`` and
Endpoints under ``/registry/services/endpoints/``; here every kind uses its
own resource name, so a prefix names exactly one kind.

Pure: strings and dicts in, :class:`Kind` values or :class:`UnknownKind` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "KUBERNETES_VERSION",
    "UNSTORED",
    "Kind",
    "Unstored",
    "UnknownKind",
    "for_object",
    "lookup",
    "registry_key",
    "registry_prefix",
]

REGISTRY_ROOT = "/registry"

KUBERNETES_VERSION = (1, 32, 0)
"""The Kubernetes release whose API kubesim serves (its ``/version``, its OpenAPI documents)."""


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of object the API server stores, with its discovery names."""

    kind: str
    """The ``kind`` field, e.g. ``Deployment``."""
    api_version: str
    """The ``apiVersion`` field: ``version`` for the core group, else ``group/version``."""
    group: str
    """The API group; ``""`` for the core (legacy) group."""
    version: str
    """The API version within the group, e.g. ``v1``."""
    resource: str
    """The plural resource name in URLs and storage keys, e.g. ``pods``."""
    namespaced: bool
    """Whether objects live in a namespace (``/registry/<resource>/<ns>/<name>``)."""
    short_names: tuple[str, ...]
    """kubectl's abbreviations, e.g. ``("deploy",)``."""
    singular: str
    """The lower-case singular name, e.g. ``deployment``."""
    subresources: tuple[str, ...]
    """Subresources served besides the object itself, e.g. ``("status", "scale")``."""
    categories: tuple[str, ...]
    """Discovery categories; ``("all",)`` when ``kubectl get all`` lists it."""


class UnknownKind(ValueError):
    """An object's ``apiVersion``/``kind`` pair, or a name, that no kind here matches.

    The API server answers it with 400 (a body it cannot decode) or 404 (a
    URL naming an unknown resource); the message is Kubernetes' text.
    """


def _kind(
    kind: str,
    group_version: str,
    resource: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = ("status",),
    all_: bool = False,
) -> Kind:
    group, _, version = group_version.rpartition("/")
    return Kind(
        kind=kind,
        api_version=group_version,
        group=group,
        version=version,
        resource=resource,
        namespaced=namespaced,
        short_names=short,
        singular=kind.lower(),
        subresources=sub,
        categories=("all",) if all_ else (),
    )


# Subresources are the ones kubesim serves, a subset of Kubernetes' (pods
# also have log, exec, eviction...; namespaces finalize). Kinds whose status
# is not a separate subresource in Kubernetes have none here either.
_ALL = (
    _kind("Namespace", "v1", "namespaces", namespaced=False, short=("ns",)),
    _kind("Node", "v1", "nodes", namespaced=False, short=("no",)),
    _kind("Pod", "v1", "pods", short=("po",), sub=("status", "binding", "log", "eviction"), all_=True),
    _kind("Service", "v1", "services", short=("svc",), all_=True),
    _kind("Endpoints", "v1", "endpoints", short=("ep",), sub=()),
    _kind("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", sub=()),
    _kind("ConfigMap", "v1", "configmaps", short=("cm",), sub=()),
    _kind("Secret", "v1", "secrets", sub=()),
    _kind("ServiceAccount", "v1", "serviceaccounts", short=("sa",), sub=()),
    _kind("Event", "v1", "events", short=("ev",), sub=()),
    _kind("Lease", "coordination.k8s.io/v1", "leases", sub=()),
    _kind("Deployment", "apps/v1", "deployments", short=("deploy",), sub=("status", "scale"), all_=True),
    _kind("ReplicaSet", "apps/v1", "replicasets", short=("rs",), sub=("status", "scale"), all_=True),
    _kind("DaemonSet", "apps/v1", "daemonsets", short=("ds",), all_=True),
    _kind("StatefulSet", "apps/v1", "statefulsets", short=("sts",), sub=("status", "scale"), all_=True),
    _kind("Job", "batch/v1", "jobs", all_=True),
    _kind("CronJob", "batch/v1", "cronjobs", short=("cj",), all_=True),
    _kind("PersistentVolume", "v1", "persistentvolumes", namespaced=False, short=("pv",)),
    _kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", short=("pvc",)),
    _kind("StorageClass", "storage.k8s.io/v1", "storageclasses", namespaced=False, short=("sc",), sub=()),
)

KINDS: dict[str, Kind] = {k.kind: k for k in _ALL}
"""Every kind served, by its ``kind`` name (``"Pod"``, ``"Deployment"``...)."""


@dataclass(frozen=True, slots=True)
class Unstored:
    """A resource served without storage: a request is answered and nothing is kept (nothing to list or watch)."""

    kind: str
    api_version: str
    resource: str
    verbs: tuple[str, ...] = ("create",)
    namespaced: bool = False

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def singular(self) -> str:
        return self.kind.lower()


UNSTORED: tuple[Unstored, ...] = (
    # kubectl auth can-i posts the first; webhooks and tools the second. RBAC answers both.
    Unstored("SelfSubjectAccessReview", "authorization.k8s.io/v1", "selfsubjectaccessreviews"),
    Unstored("SubjectAccessReview", "authorization.k8s.io/v1", "subjectaccessreviews"),
)
"""Resources served besides :data:`KINDS` (by the HTTPS front, discovery and OpenAPI alike)."""

# Every lower-case name a kind answers to. No two kinds share one (checked
# at import: a clash would make lookup ambiguous).
_NAMES: dict[str, Kind] = {}
for _k in _ALL:
    for _name in {_k.kind.lower(), _k.resource, _k.singular, *_k.short_names}:
        assert _name not in _NAMES, f"kind name {_name!r} is ambiguous"
        _NAMES[_name] = _k
del _k, _name

_BY_GVK: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in _ALL}


def lookup(name: str) -> Kind | None:
    """The kind a user-typed name means, or ``None``.

    Accepts what kubectl accepts: the kind name in any case (``Pod``,
    ``pod``), the plural resource (``pods``), the singular, a short name
    (``po``), each optionally qualified by its group (``deployments.apps``,
    ``deploy.apps``) or by version and group (``deployments.v1.apps``).
    Core kinds have no group, so ``pods`` takes no qualifier.
    """
    if not isinstance(name, str):
        return None
    lowered = name.lower()
    found = _NAMES.get(lowered)
    if found is not None:
        return found
    # Group names contain dots themselves, so split only at the first.
    head, dot, rest = lowered.partition(".")
    found = _NAMES.get(head)
    if not dot or found is None or not found.group:
        return None
    if rest == found.group or rest == f"{found.version}.{found.group}":
        return found
    return None


def for_object(obj: Mapping[str, Any]) -> Kind:
    """The kind of an object, from its ``apiVersion`` and ``kind``.

    Raises :class:`UnknownKind` with the message Kubernetes' decoder and
    RESTMapper give: a missing field, an unknown kind, or a known kind in
    the wrong version (``Deployment`` in ``v1``) alike.
    """
    if not isinstance(obj, Mapping):
        raise UnknownKind(f"expected an object, got {type(obj).__name__}")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise UnknownKind("Object 'Kind' is missing")
    if not isinstance(api_version, str) or not api_version:
        raise UnknownKind("Object 'apiVersion' is missing")
    found = _BY_GVK.get((api_version, kind))
    if found is None:
        raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"')
    return found


def _resolve(kind: Kind | str) -> Kind:
    if isinstance(kind, Kind):
        return kind
    found = lookup(kind)
    if found is None:
        raise UnknownKind(f'the server doesn\'t have a resource type "{kind}"')
    return found


def _check_scope(kind: Kind, namespace: str | None) -> None:
    if kind.namespaced and not namespace:
        raise ValueError(f"{kind.resource} is namespaced: a namespace is required")
    if not kind.namespaced and namespace:
        raise ValueError(f"{kind.resource} is not namespaced: got namespace {namespace!r}")


def registry_key(kind: Kind | str, namespace: str | None, name: str) -> str:
    """The store key of one object.

    ``/registry/<resource>/<namespace>/<name>`` for namespaced kinds,
    ``/registry/<resource>/<name>`` for cluster-scoped ones. A namespace
    missing for a namespaced kind, or given for a cluster-scoped one, is a
    ``ValueError``: the caller mixed up scopes, and a key built anyway would
    be found by no list.
    """
    k = _resolve(kind)
    if not name:
        raise ValueError("a name is required")
    _check_scope(k, namespace)
    if k.namespaced:
        return f"{REGISTRY_ROOT}/{k.resource}/{namespace}/{name}"
    return f"{REGISTRY_ROOT}/{k.resource}/{name}"


def registry_prefix(kind: Kind | str, namespace: str | None = None) -> str:
    """The store prefix that lists a kind, in all namespaces or in one.

    It ends with ``/`` so that a namespace's prefix does not also match
    namespaces whose names start with it (``default`` vs ``default2``).
    A namespace for a cluster-scoped kind is a ``ValueError``.
    """
    k = _resolve(kind)
    if namespace:
        _check_scope(k, namespace)
        return f"{REGISTRY_ROOT}/{k.resource}/{namespace}/"
    return f"{REGISTRY_ROOT}/{k.resource}/"
