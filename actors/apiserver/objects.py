"""What the API server does to an object on its way into the store: the registry strategies.

Kubernetes gives every kind a *strategy* (``pkg/registry/<group>/<kind>/strategy.go``)
that prepares an object for create, update and delete: it stamps uid and
creationTimestamp, resets status on create, keeps status out of a spec write
and spec out of a status write, bumps ``metadata.generation`` when the spec
changes, turns a delete into "set deletionTimestamp" while finalizers or a
grace period hold the object, and finally deletes it when the last finalizer
goes. These functions are that, for the kinds in :mod:`actors.apiserver.kinds`.

Pure: the time, the uid and the random name suffix are passed in; objects in,
new objects (or :class:`~actors.apiserver.status.ApiError`) out. The inputs are
never mutated. The actor shell (:mod:`actors.apiserver.server`) reads and
writes the store around them.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from actors.apiserver import status as st
from actors.apiserver.defaults import apply_defaults
from actors.apiserver.fielderrors import (
    Path,
    forbidden,
    go_quote,
    invalid,
    not_supported,
    required,
)
from actors.apiserver.kinds import Kind, UnknownKind, for_object
from actors.apiserver.validation import parse_quantity, validate, validate_update
from actors.jsonvalue import clone

Obj = dict[str, Any]

#: Characters of a generateName suffix (apimachinery's rand.String: no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LEN = 5
#: A generateName longer than this is cut first, so the name fits a DNS label (SimpleNameGenerator).
MAX_GENERATE_NAME_LEN = 63 - NAME_SUFFIX_LEN

#: Kinds whose spec changes bump metadata.generation (their controllers report observedGeneration).
GENERATION_KINDS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"})

#: Metadata the server owns: a client's update cannot change these.
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
#: Metadata a status write leaves as it was (ResetObjectMetaForStatus).
_STATUS_KEEPS_META = ("labels", "annotations", "finalizers", "ownerReferences")

#: A grace period longer than this is this (Go's int64 seconds would overflow a timestamp much later).
MAX_GRACE_S = 2**31 - 1

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
PROPAGATION = ("Orphan", "Background", "Foreground")


def rfc3339(wall: float) -> str:
    """A timestamp as Kubernetes writes metadata times: whole seconds, UTC, ``Z``."""
    return _dt.datetime.fromtimestamp(int(wall), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def has_status(kind: Kind) -> bool:
    """Whether status is written only through the status subresource."""
    return "status" in kind.subresources


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def decode_kind(obj: Any, expected: Kind | None = None) -> Kind:
    """The kind of a request body; a body of another kind than the URL's is a 400."""
    if not isinstance(obj, dict):
        raise st.bad_request(f"the request body must be an object, not {type(obj).__name__}")
    try:
        kind = for_object(obj)
    except UnknownKind as exc:
        raise st.bad_request(str(exc)) from None
    if expected is not None and kind is not expected:
        raise st.bad_request(f"the API version in the data ({obj.get('apiVersion')}) and kind "
                             f"({obj.get('kind')}) do not match the resource {expected.resource}")
    return kind


def check_name_and_namespace(kind: Kind, obj: Obj, namespace: str, name: str = "") -> None:
    """The body's namespace and name must agree with the request's (Kubernetes' 400s)."""
    meta = _meta(obj)
    if kind.namespaced:
        body_ns = meta.get("namespace") or ""
        if body_ns and namespace and body_ns != namespace:
            raise st.bad_request("the namespace of the provided object does not match the namespace "
                                 "sent on the request")
        meta["namespace"] = body_ns or namespace or "default"
    else:
        meta.pop("namespace", None)
    if name and meta.get("name") and meta["name"] != name:
        raise st.bad_request("the name of the object "
                             f"({meta['name']}) does not match the name on the URL ({name})")
    if name and not meta.get("name"):
        meta["name"] = name


def _invalid(kind: Kind, obj: Obj, errors: list) -> st.ApiError:
    return st.invalid(kind.kind, str(_meta(obj).get("name") or ""), errors, kind.group)


def prepare_create(kind: Kind, body: Obj, *, namespace: str, now: float, uid: str, suffix: str) -> Obj:
    """The object to store for a create: defaulted, validated, stamped.

    ``suffix`` completes a ``generateName``. Raises ApiError (400, 422).
    """
    decode_kind(body, kind)
    obj = clone(body)
    check_name_and_namespace(kind, obj, namespace)
    meta = _meta(obj)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{str(meta['generateName'])[:MAX_GENERATE_NAME_LEN]}{suffix}"
    for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                "managedFields"):
        meta.pop(key, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = rfc3339(now)
    if kind.kind in GENERATION_KINDS:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    _reset_status_on_create(kind, obj)
    if kind.kind == "Job":
        _generate_job_selector(obj)
    fold_string_data(obj)
    obj = apply_defaults(obj, admission=True, in_place=True)  # obj is this call's own copy
    errors = validate(obj, namespaced=kind.namespaced)
    if errors:
        raise _invalid(kind, obj, errors)
    return obj


DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def default_storage_class(classes: Iterable[Obj]) -> str | None:
    """The DefaultStorageClass admission plugin's pick: the class annotated default; of several, the newest
    (by creationTimestamp, then name), as Kubernetes 1.26+ picks."""
    defaults = [c for c in classes if ((c.get("metadata") or {}).get("annotations") or {})
                .get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not defaults:
        return None
    newest = max(defaults, key=lambda c: (c["metadata"].get("creationTimestamp") or "", c["metadata"]["name"]))
    return newest["metadata"]["name"]


def admit_default_storage_class(obj: Obj, classes: Iterable[Obj]) -> None:
    """A new claim that names no class (the field absent, not "") gets the default class, if there is one."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and "storageClassName" not in spec:
        name = default_storage_class(classes)
        if name is not None:
            spec["storageClassName"] = name


def _reset_status_on_create(kind: Kind, obj: Obj) -> None:
    # The strategies' PrepareForCreate: a new object's status is the server's
    # to set. Nodes keep theirs (the kubelet registers a Node with its capacity),
    # and kinds without a status subresource keep whatever they carry.
    if not has_status(kind) or kind.kind == "Node":
        return
    if kind.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    elif kind.kind in ("PersistentVolume", "PersistentVolumeClaim"):
        obj["status"] = {"phase": "Pending"}
    elif kind.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    else:
        obj["status"] = {}


def _generate_job_selector(job: Obj) -> None:
    """The Job strategy's generateSelector: unless ``spec.manualSelector``, the
    Job selects its pods by its uid, and its template labels them so."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        return  # validation reports it
    meta, tmeta = _meta(job), _meta(template)
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    for key in ("job-name", "batch.kubernetes.io/job-name"):
        labels.setdefault(key, meta.get("name", ""))
    for key in ("controller-uid", "batch.kubernetes.io/controller-uid"):
        labels.setdefault(key, meta.get("uid", ""))
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    if not isinstance(selector.get("matchLabels"), dict):
        selector["matchLabels"] = {}
    selector["matchLabels"].setdefault("batch.kubernetes.io/controller-uid", meta.get("uid", ""))


def qos_class(spec: Obj) -> str:
    """The pod's QoS class, as ``ComputePodQOS`` computes it from requests and limits.

    Only cpu and memory count, and only positive amounts; requests and limits
    are summed over containers and init containers and compared as
    quantities (``1`` equals ``1000m``). A missing request counts as its
    limit, as defaulting makes it. Guaranteed needs both limits on every
    container and requests equal to limits.
    """
    containers = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                  if isinstance(c, dict)]
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        lim = res.get("limits") or {}
        req = {**lim, **(res.get("requests") or {})}  # SetDefaults_Pod copies limits into requests
        for totals, amounts in ((requests, req), (limits, lim)):
            for name in ("cpu", "memory"):
                value = parse_quantity(amounts.get(name)) if name in amounts else None
                if value is not None and value > 0:
                    totals[name] = totals.get(name, 0) + value
        if not all(name in lim and (parse_quantity(lim[name]) or 0) > 0 for name in ("cpu", "memory")):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests.keys() == limits.keys() and all(limits[n] == v for n, v in requests.items()):
        return "Guaranteed"
    return "Burstable"


def prepare_update(kind: Kind, old: Obj, body: Obj, *, subresource: str = "", namespace: str = "",
                   name: str = "") -> Obj:
    """The object to store for an update of ``old`` by ``body`` (via ``subresource``).

    A main-resource write keeps the stored status (for kinds with a status
    subresource); a status write keeps everything but status. Server-owned
    metadata is carried over; generation is bumped when the spec changed.
    Raises ApiError (400, 422).
    """
    decode_kind(body, kind)  # a patch may have rewritten kind or apiVersion
    new = clone(body)
    check_name_and_namespace(kind, new, namespace, name)
    if kind.kind == "Service" and not subresource:
        keep_allocated_values(old, new)
    meta, old_meta = _meta(new), old["metadata"]
    if meta.get("name") != old_meta.get("name"):
        raise st.bad_request(f"the name of the object ({meta.get('name')}) does not match the name "
                             f"on the URL ({old_meta.get('name')})")
    if subresource == "status":
        # A copy of the stored object but for its status, which is replaced (not worth copying).
        result = {key: clone(value) for key, value in old.items() if key != "status"}
        result["status"] = new.get("status") or {}
        if kind.kind == "Deployment" and isinstance(meta.get("annotations"), dict):
            # deploymentStatusStrategy keeps only spec and labels: the controller records the
            # revision annotation with its status write.
            result["metadata"]["annotations"] = clone(meta["annotations"])
        new = result
        meta = new["metadata"]
    else:
        for key in _SERVER_META:
            if key == "uid" and meta.get("uid"):
                continue  # another uid is refused by validation as immutable; none means the stored one
            if key in old_meta:
                meta[key] = clone(old_meta[key])
            else:
                meta.pop(key, None)
        if has_status(kind):
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        fold_string_data(new)
        new = apply_defaults(new, admission=False, in_place=True)  # new is this call's own copy
        meta = new["metadata"]
        if kind.kind == "Namespace":
            _keep_namespace_finalizers(new, body, old)
        # Deployments also count annotation changes: they are copied to their ReplicaSets.
        if kind.kind in GENERATION_KINDS and (
                new.get("spec") != old.get("spec")
                or (kind.kind == "Deployment" and meta.get("annotations") != old_meta.get("annotations"))):
            meta["generation"] = int(old_meta.get("generation") or 1) + 1
    meta.pop("managedFields", None)
    meta.pop("selfLink", None)
    errors = validate_update(old, new, namespaced=kind.namespaced)
    if old_meta.get("deletionTimestamp"):
        added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        if added:
            found = ", ".join(go_quote(f) for f in sorted(added))  # Go's %#v of a []string
            errors.append(forbidden(Path("metadata", "finalizers"),
                                    f"no new finalizers can be added if the object is being deleted, "
                                    f"found new finalizers []string{{{found}}}"))
    if errors:
        raise _invalid(kind, new, errors)
    return new


def _keep_namespace_finalizers(new: Obj, body: Obj, old: Obj) -> None:
    # Defaulting adds "kubernetes" to spec.finalizers, which is right on create
    # only. kubesim serves no namespaces/finalize, so an update that names
    # spec.finalizers sets them (the namespace controller empties them this
    # way); one that does not keeps the stored ones.
    body_spec = body.get("spec")
    if isinstance(body_spec, dict) and body_spec.get("finalizers") is not None:
        finalizers = body_spec["finalizers"]
    else:
        finalizers = (old.get("spec") or {}).get("finalizers") or []
    if isinstance(new.get("spec"), dict):
        new["spec"]["finalizers"] = clone(finalizers)


_NEEDS_NODE_PORTS = ("NodePort", "LoadBalancer")


def keep_allocated_values(old: Obj, new: Obj) -> None:
    """An update that leaves out a Service's ClusterIP or NodePorts keeps the allocated ones.

    Kubernetes' ``patchAllocatedValues``: ``kubectl replace`` with a manifest
    that never named them must not fail as "immutable" nor draw new ports.
    Changes ``new`` in place.
    """
    old_spec, spec = old.get("spec"), new.get("spec")
    if not isinstance(old_spec, dict) or not isinstance(spec, dict):
        return
    if spec.get("type", "ClusterIP") != "ExternalName" and old_spec.get("type", "ClusterIP") != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = clone(old_spec["clusterIPs"])
    allocated = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                 for p in old_spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")}
    if spec.get("type") in _NEEDS_NODE_PORTS and old_spec.get("type") in _NEEDS_NODE_PORTS:
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                found = allocated.get((port.get("port"), port.get("protocol", "TCP")))
                if found:
                    port["nodePort"] = found
    elif old_spec.get("type") in _NEEDS_NODE_PORTS:
        # dropTypeDependentFields: leaving NodePort, the ports the server allocated go with it
        # (a nodePort the user changed stays, and validation tells them it is not allowed).
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") and \
                    port["nodePort"] == allocated.get((port.get("port"), port.get("protocol", "TCP"))):
                del port["nodePort"]


def fold_string_data(obj: Obj) -> None:
    """A Secret's ``stringData`` is written into ``data`` (base64), and is never stored itself."""
    string_data = obj.get("stringData")
    if obj.get("kind") != "Secret" or not isinstance(string_data, dict):
        return
    data = obj.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    obj["data"] = data
    del obj["stringData"]


_COMMON_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
#: Top-level fields of each kind besides apiVersion/kind/metadata (the Go types' JSON names).
_TOP_FIELDS: dict[str, frozenset[str]] = {
    "ConfigMap": frozenset({"data", "binaryData", "immutable"}),
    "Secret": frozenset({"data", "stringData", "type", "immutable"}),
    "ServiceAccount": frozenset({"secrets", "imagePullSecrets", "automountServiceAccountToken"}),
    "Endpoints": frozenset({"subsets"}),
    "EndpointSlice": frozenset({"addressType", "endpoints", "ports"}),
    "Event": frozenset({"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp",
                        "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
                        "reportingInstance"}),
    "StorageClass": frozenset({"provisioner", "parameters", "reclaimPolicy", "mountOptions",
                               "allowVolumeExpansion", "volumeBindingMode", "allowedTopologies"}),
}
_META_FIELDS = frozenset({"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                          "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                          "annotations", "ownerReferences", "finalizers", "managedFields"})


def unknown_fields(obj: Obj) -> list[str]:
    """Top-level and metadata fields the kind does not have (``kubectl apply``'s strict decoding).

    Only these two levels are checked: a full check needs the kinds' schemas.
    """
    allowed = _COMMON_FIELDS | _TOP_FIELDS.get(str(obj.get("kind")), frozenset({"spec", "status"}))
    found = [name for name in obj if name not in allowed]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        found += [f"metadata.{name}" for name in meta if name not in _META_FIELDS]
    return found


def delete_now(obj: Obj) -> bool:
    """Whether an object being deleted may go: deletionTimestamp set, no finalizers, no grace left.

    (``ShouldDeleteDuringUpdate``: a pod whose grace period runs still waits
    for its kubelet's final delete with grace 0.)
    """
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    if obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
        return False
    return not meta.get("deletionGracePeriodSeconds")


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    propagation: str = ""
    """``Orphan``, ``Background`` or ``Foreground``; empty takes the kind's default."""
    grace_period_s: int | None = None
    preconditions_uid: str = ""
    preconditions_rv: str = ""

    @classmethod
    def parse(cls, body: dict | None, options: dict | None) -> DeleteOptions:
        """DeleteOptions from a body or query options, as Kubernetes' delete handler reads them.

        A non-empty body is the options and the query is not read; without one
        the query is. Invalid options are a 422 on ``DeleteOptions.meta.k8s.io``.
        """
        for source in (body, options):
            if source is not None and not isinstance(source, dict):
                raise st.bad_request("DeleteOptions must be an object")
        given = {k: v for k, v in (body or options or {}).items() if v is not None}
        propagation = given.get("propagationPolicy")
        orphan = given.get("orphanDependents")
        errors = []
        if orphan is not None and propagation is not None:
            errors.append(invalid(Path("propagationPolicy"), propagation,
                                  "orphanDependents and deletionPropagation cannot be both set"))
        if propagation is not None and propagation not in PROPAGATION:
            errors.append(not_supported(Path("propagationPolicy"), propagation,
                                        ["Foreground", "Background", "Orphan", "nil"]))
        if errors:
            raise st.invalid("DeleteOptions", "", errors, "meta.k8s.io")
        if orphan is True:
            propagation = "Orphan"
        elif orphan is False:
            propagation = "Background"  # an explicit "do not orphan" overrides a kind's Orphan default
        grace = given.get("gracePeriodSeconds")
        if grace is not None:
            try:
                grace = int(grace)
            except (TypeError, ValueError, OverflowError):
                raise st.bad_request(f"gracePeriodSeconds: must be an integer, got {grace!r}") from None
            if grace < 0:
                grace = 1  # Kubernetes treats a negative grace period as 1 second
            grace = min(grace, MAX_GRACE_S)
        pre = given.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise st.bad_request("preconditions must be an object with uid and/or resourceVersion")
        return cls(propagation or "", grace, str(pre.get("uid") or ""), str(pre.get("resourceVersion") or ""))


def default_propagation(kind: Kind) -> str:
    # batch/v1 Jobs orphan their pods unless told otherwise (DefaultGarbageCollectionPolicy).
    return "Orphan" if kind.kind == "Job" else "Background"


def _gc_finalizers(kind: Kind, finalizers: list[str], opts: DeleteOptions) -> list[str]:
    """The finalizers after a delete (``deletionFinalizersForGarbageCollection``).

    An explicit policy wins, then an orphan or foregroundDeletion finalizer
    already present, then the kind's default; the other GC finalizer goes.
    """
    present = next((f for f in finalizers if f in (ORPHAN, FOREGROUND)), None)
    policy = opts.propagation or {ORPHAN: "Orphan", FOREGROUND: "Foreground"}.get(present or "") \
        or default_propagation(kind)
    wanted = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if policy == "Orphan":
        wanted.append(ORPHAN)
    elif policy == "Foreground":
        wanted.append(FOREGROUND)
    return list(finalizers) if set(wanted) == set(finalizers) else wanted


def _check_preconditions(kind: Kind, meta: Obj, opts: DeleteOptions) -> None:
    name, uid, rv = meta["name"], meta.get("uid"), meta.get("resourceVersion")
    if kind.kind == "Namespace":  # the namespace registry's own Delete and wording
        if opts.preconditions_uid and opts.preconditions_uid != uid:
            raise st.conflict(kind.resource, name, f"Precondition failed: UID in precondition: "
                              f"{opts.preconditions_uid}, UID in object meta: {uid}", kind.group)
        if opts.preconditions_rv and opts.preconditions_rv != rv:
            raise st.conflict(kind.resource, name, f"Precondition failed: ResourceVersion in precondition: "
                              f"{opts.preconditions_rv}, ResourceVersion in object meta: {rv}", kind.group)
        return
    # BeforeDelete names the kind where the resource would go, as Kubernetes does.
    if opts.preconditions_uid and opts.preconditions_uid != uid:
        raise st.conflict(kind.kind, name, f"the UID in the precondition ({opts.preconditions_uid}) does not "
                          f"match the UID in record ({uid}). The object might have been deleted and then "
                          "recreated", kind.group)
    if opts.preconditions_rv and opts.preconditions_rv != rv:
        raise st.conflict(kind.kind, name, f"the ResourceVersion in the precondition ({opts.preconditions_rv}) "
                          f"does not match the ResourceVersion in record ({rv}). The object might have been "
                          "modified", kind.group)


def _bump_generation(meta: Obj) -> None:
    # Controllers must see that their object is going away (BeforeDelete, markAsDeleting).
    if int(meta.get("generation") or 0) > 0:
        meta["generation"] = int(meta["generation"]) + 1


def prepare_delete(kind: Kind, obj: Obj, opts: DeleteOptions, now: float) -> Obj | None:
    """What a DELETE does to ``obj``: None to remove it now, or the object to store instead.

    The object stays (with deletionTimestamp) while finalizers hold it, while
    a bound pod's grace period runs, or while a namespace is emptied. Deleting
    again only shortens a running grace period (counted from the first
    delete) or, once no grace period runs, changes the GC finalizers.
    """
    meta = obj["metadata"]
    _check_preconditions(kind, meta, opts)
    new = clone(obj)
    nmeta = new["metadata"]
    if kind.kind == "Namespace":
        if not meta.get("deletionTimestamp"):
            nmeta["deletionTimestamp"] = rfc3339(now)
            nmeta["deletionGracePeriodSeconds"] = 0
            _set_finalizers(nmeta, _gc_finalizers(kind, nmeta.get("finalizers") or [], opts))
            new.setdefault("status", {})["phase"] = "Terminating"
            return None if delete_now(new) else new
        if (new.get("spec") or {}).get("finalizers"):
            return new  # the namespace controller is still emptying it
    graceful = False
    old_grace = meta.get("deletionGracePeriodSeconds")
    if meta.get("deletionTimestamp") and old_grace:
        # A grace period runs: only a shorter one, given explicitly, changes anything.
        grace = opts.grace_period_s
        if grace is None or grace >= old_grace:
            return new
        started = parse_rfc3339(meta["deletionTimestamp"]) - old_grace
        nmeta["deletionTimestamp"] = rfc3339(started + grace)
        nmeta["deletionGracePeriodSeconds"] = grace
        graceful = True
    elif not meta.get("deletionTimestamp") and kind.kind == "Pod":
        grace = _grace_period(obj, opts)
        nmeta["deletionTimestamp"] = rfc3339(now + grace)
        nmeta["deletionGracePeriodSeconds"] = grace
        _bump_generation(nmeta)
        graceful = True
    finalizers = _gc_finalizers(kind, list(nmeta.get("finalizers") or []), opts)
    _set_finalizers(nmeta, finalizers)
    if graceful:
        return new if finalizers or nmeta["deletionGracePeriodSeconds"] > 0 else None
    if not finalizers:
        return None
    # markAsDeleting: held by finalizers, with nothing left to wait for but them.
    if not meta.get("deletionTimestamp"):
        _bump_generation(nmeta)
        nmeta["deletionTimestamp"] = rfc3339(now)
    elif parse_rfc3339(meta["deletionTimestamp"]) > now:
        nmeta["deletionTimestamp"] = rfc3339(now)
    nmeta["deletionGracePeriodSeconds"] = 0
    return new


def _set_finalizers(meta: Obj, finalizers: list[str]) -> None:
    if finalizers:
        meta["finalizers"] = finalizers
    elif "finalizers" in meta:
        meta["finalizers"] = []


def _grace_period(obj: Obj, opts: DeleteOptions) -> int:
    """Seconds a pod gets to shut down: only bound, running pods get any (CheckGracefulDelete)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Failed", "Succeeded"):
        return 0
    if opts.grace_period_s is not None:
        grace = opts.grace_period_s
    else:
        value = spec.get("terminationGracePeriodSeconds")
        grace = int(value) if isinstance(value, int) else 30
    return 1 if grace < 0 else min(grace, MAX_GRACE_S)


def bind(pod: Obj, binding: Any, now: str) -> Obj:
    """The pod after a ``pods/binding`` create: its node set, PodScheduled true (``assignPod``)."""
    if not isinstance(binding, dict):
        raise st.bad_request("the binding must be an object")
    name = pod["metadata"]["name"]
    bmeta = binding.get("metadata")
    if not isinstance(bmeta, dict) or bmeta.get("name") != name:
        raise st.bad_request("name in URL does not match name in Binding object")
    target = binding.get("target")
    target = target if isinstance(target, dict) else {}
    node, target_kind = target.get("name"), target.get("kind")
    errors = []  # ValidatePodBinding
    if target_kind not in (None, "", "Node"):
        errors.append(not_supported(Path("target", "kind"), target_kind, ["Node", "<empty>"]))
    if not node or not isinstance(node, str):
        errors.append(required(Path("target", "name")))
    if errors:
        raise st.invalid("Binding", name, errors)
    spec = pod.get("spec") or {}
    why = ""
    if pod["metadata"].get("deletionTimestamp"):
        why = f"pod {name} is being deleted, cannot be assigned to a host"
    elif spec.get("nodeName"):
        why = f"pod {name} is already assigned to node {go_quote(spec['nodeName'])}"
    elif spec.get("schedulingGates"):
        why = f"pod {name} has non-empty .spec.schedulingGates"
    if why:
        raise st.conflict("pods/binding", name, why)
    new = clone(pod)
    new["spec"]["nodeName"] = node
    conditions = [c for c in (new.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": now})
    new["status"]["conditions"] = conditions
    return new


def scale_of(kind: Kind, obj: Obj) -> Obj:
    """The ``Scale`` object (autoscaling/v1) a ``<kind>/scale`` read returns."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    from actors.apiserver.selectors import (
        selector_from_dict,  # the selector as a string, as Kubernetes prints it
    )

    try:
        text = str(selector_from_dict(selector))
    except Exception:
        text = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": text},
    }


def apply_scale(obj: Obj, scale: Any) -> Obj:
    """The object after a ``<kind>/scale`` write: its spec.replicas, and generation bumped if that changed.

    (Kubernetes writes a Scale through the kind's own update, whose strategy
    counts the new replicas as a spec change.)
    """
    spec_in = scale.get("spec") if isinstance(scale, dict) else None
    replicas = spec_in.get("replicas") if isinstance(spec_in, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise st.bad_request("a Scale needs spec.replicas as an integer")
    if replicas < 0 or replicas > 2**31 - 1:  # an int32 in Kubernetes
        raise st.invalid("Scale", obj["metadata"]["name"], [
            invalid(Path("spec", "replicas"), replicas, "must be greater than or equal to 0" if replicas < 0
                    else "must be less than or equal to 2147483647")], "autoscaling")
    new = clone(obj)
    spec = new.setdefault("spec", {})
    if spec.get("replicas") != replicas and obj.get("kind") in GENERATION_KINDS:
        new["metadata"]["generation"] = int(new["metadata"].get("generation") or 1) + 1
    spec["replicas"] = replicas
    return new


def list_object(kind: Kind, items: list[Obj], resource_version: str, continue_token: str = "") -> Obj:
    """A ``<Kind>List`` as a list call returns it."""
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta, "items": items}
