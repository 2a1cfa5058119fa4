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

import copy
import datetime as _dt
from dataclasses import dataclass
from typing import Any

from actors.apiserver import status as st
from actors.apiserver.defaults import apply_defaults
from actors.apiserver.fielderrors import Path, forbidden
from actors.apiserver.kinds import Kind, UnknownKind, for_object
from actors.apiserver.validation import validate, validate_update

Obj = dict[str, Any]

#: Characters of a generateName suffix (apimachinery's rand.String: no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LEN = 5

#: Kinds whose spec changes bump metadata.generation (their controllers report observedGeneration).
GENERATION_KINDS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"})

#: Metadata the server owns: a client's update cannot change these.
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
#: Metadata a status write leaves as it was (ResetObjectMetaForStatus).
_STATUS_KEEPS_META = ("labels", "annotations", "finalizers", "ownerReferences")

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
    obj = copy.deepcopy(body)
    check_name_and_namespace(kind, obj, namespace)
    meta = _meta(obj)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{suffix}"
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
    obj = apply_defaults(obj, admission=True)
    errors = validate(obj, namespaced=kind.namespaced)
    if errors:
        raise _invalid(kind, obj, errors)
    return obj


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


def qos_class(spec: Obj) -> str:
    """The pod's QoS class, as ``GetPodQOS`` computes it from requests and limits."""
    containers = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                  if isinstance(c, dict)]
    requests_any = limits_any = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests_any |= any(k in ("cpu", "memory") for k in req)
        limits_any |= any(k in ("cpu", "memory") for k in lim)
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if requests_any or limits_any else "BestEffort"


def prepare_update(kind: Kind, old: Obj, body: Obj, *, subresource: str = "", namespace: str = "",
                   name: str = "") -> Obj:
    """The object to store for an update of ``old`` by ``body`` (via ``subresource``).

    A main-resource write keeps the stored status (for kinds with a status
    subresource); a status write keeps everything but status. Server-owned
    metadata is carried over; generation is bumped when the spec changed.
    Raises ApiError (400, 422).
    """
    new = copy.deepcopy(body)
    check_name_and_namespace(kind, new, namespace, name)
    meta, old_meta = _meta(new), old["metadata"]
    if meta.get("name") != old_meta.get("name"):
        raise st.bad_request(f"the name of the object ({meta.get('name')}) does not match the name "
                             f"on the URL ({old_meta.get('name')})")
    if subresource == "status":
        result = copy.deepcopy(old)
        result["status"] = new.get("status") or {}
        # Nodes' kubelets also report addresses etc. only in status; nothing else to carry.
        new = result
        meta = new["metadata"]
    else:
        for key in _SERVER_META:
            if key in old_meta:
                meta[key] = copy.deepcopy(old_meta[key])
            else:
                meta.pop(key, None)
        if has_status(kind):
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        new = apply_defaults(new, admission=False)
        meta = new["metadata"]
        if kind.kind in GENERATION_KINDS and new.get("spec") != old.get("spec"):
            meta["generation"] = int(old_meta.get("generation") or 1) + 1
    meta.pop("managedFields", None)
    meta.pop("selfLink", None)
    errors = validate_update(old, new, namespaced=kind.namespaced)
    if old_meta.get("deletionTimestamp"):
        added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        if added:
            errors.append(forbidden(Path("metadata", "finalizers"),
                                    f"no new finalizers can be added if the object is being deleted, "
                                    f"found new finalizers {sorted(added)!r}"))
    if errors:
        raise _invalid(kind, new, errors)
    return new


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
        """DeleteOptions from a body and/or query options (either may carry them, as in Kubernetes)."""
        merged: dict[str, Any] = {}
        for source in (body or {}, options or {}):
            if not isinstance(source, dict):
                raise st.bad_request("DeleteOptions must be an object")
            merged.update({k: v for k, v in source.items() if v is not None})
        propagation = merged.get("propagationPolicy") or ""
        if merged.get("orphanDependents") is True and not propagation:
            propagation = "Orphan"
        if propagation and propagation not in PROPAGATION:
            raise st.bad_request(f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                                 '"Orphan", "Background", "Foreground"')
        grace = merged.get("gracePeriodSeconds")
        if grace is not None:
            try:
                grace = int(grace)
            except (TypeError, ValueError):
                raise st.bad_request(f"gracePeriodSeconds: must be an integer, got {grace!r}") from None
            if grace < 0:
                grace = 1  # Kubernetes treats a negative grace period as 1 second
        pre = merged.get("preconditions") or {}
        return cls(propagation, grace, str(pre.get("uid") or ""), str(pre.get("resourceVersion") or ""))


def default_propagation(kind: Kind) -> str:
    # batch/v1 Jobs orphan their pods unless told otherwise (DefaultGarbageCollectionPolicy).
    return "Orphan" if kind.kind == "Job" else "Background"


def prepare_delete(kind: Kind, obj: Obj, opts: DeleteOptions, now: float) -> Obj | None:
    """What a DELETE does to ``obj``: None to remove it now, or the object to store instead.

    The object stays (with deletionTimestamp) while finalizers hold it, while
    a bound pod's grace period runs, or while a namespace is emptied.
    """
    meta = obj["metadata"]
    if opts.preconditions_uid and opts.preconditions_uid != meta.get("uid"):
        raise st.conflict(kind.resource, meta["name"],
                          f"Precondition failed: UID in precondition: {opts.preconditions_uid}, "
                          f"UID in object meta: {meta.get('uid')}", kind.group)
    if opts.preconditions_rv and opts.preconditions_rv != meta.get("resourceVersion"):
        raise st.conflict(kind.resource, meta["name"],
                          f"Precondition failed: ResourceVersion in precondition: {opts.preconditions_rv}, "
                          f"ResourceVersion in object meta: {meta.get('resourceVersion')}", kind.group)
    new = copy.deepcopy(obj)
    nmeta = new["metadata"]
    finalizers = list(nmeta.get("finalizers") or [])
    propagation = opts.propagation or default_propagation(kind)
    if propagation == "Orphan" and ORPHAN not in finalizers:
        finalizers.append(ORPHAN)
    elif propagation == "Foreground" and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    if propagation != "Orphan" and ORPHAN in finalizers and opts.propagation:
        finalizers.remove(ORPHAN)
    grace = _grace_period(kind, obj, opts)
    if meta.get("deletionTimestamp"):
        # Deleting again: only a shorter grace period changes anything.
        old_grace = meta.get("deletionGracePeriodSeconds")
        if old_grace is not None and grace < old_grace:
            nmeta["deletionGracePeriodSeconds"] = grace
            nmeta["deletionTimestamp"] = rfc3339(now + grace)
            return None if delete_now(new) and not finalizers else new
        return None if delete_now(new) else new
    if kind.kind == "Namespace":
        nmeta["deletionTimestamp"] = rfc3339(now)
        nmeta["deletionGracePeriodSeconds"] = 0
        nmeta["finalizers"] = finalizers
        new.setdefault("status", {})["phase"] = "Terminating"
        return None if delete_now(new) else new
    if not finalizers and grace == 0:
        return None
    nmeta["finalizers"] = finalizers
    nmeta["deletionTimestamp"] = rfc3339(now + grace)
    nmeta["deletionGracePeriodSeconds"] = grace
    if not finalizers:
        nmeta.pop("finalizers")
    return new


def _grace_period(kind: Kind, obj: Obj, opts: DeleteOptions) -> int:
    """Seconds the object gets to shut down: only bound, running pods get any (CheckGracefulDelete)."""
    if kind.kind != "Pod":
        return 0
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Failed", "Succeeded"):
        return 0
    if opts.grace_period_s is not None:
        return opts.grace_period_s
    value = spec.get("terminationGracePeriodSeconds")
    return int(value) if isinstance(value, int) else 30


def bind(pod: Obj, binding: Any, now: str) -> Obj:
    """The pod after a ``pods/binding`` create: its node set, PodScheduled true (``assignPod``)."""
    if not isinstance(binding, dict):
        raise st.bad_request("the binding must be an object")
    target = binding.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    name = pod["metadata"]["name"]
    if not node or not isinstance(node, str):
        raise st.invalid("Binding", name, [forbidden(Path("target", "name"), "a node name is required")])
    if target.get("kind") not in (None, "", "Node"):
        raise st.invalid("Binding", name, [forbidden(Path("target", "kind"), "must be empty or Node")])
    if pod["metadata"].get("deletionTimestamp"):
        raise st.conflict("pods", name, "pod is being deleted, cannot be assigned to a host")
    current = (pod.get("spec") or {}).get("nodeName")
    if current:
        raise st.conflict("pods", name, f"pod {name} is already assigned to node \"{current}\"")
    new = copy.deepcopy(pod)
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
    if not isinstance(scale, dict) or not isinstance((scale.get("spec") or {}).get("replicas"), int):
        raise st.bad_request("a Scale needs spec.replicas as an integer")
    replicas = scale["spec"]["replicas"]
    if replicas < 0:
        raise st.invalid("Scale", obj["metadata"]["name"], [
            forbidden(Path("spec", "replicas"), "must be greater than or equal to 0")], "autoscaling")
    new = copy.deepcopy(obj)
    new.setdefault("spec", {})["replicas"] = replicas
    return new


def list_object(kind: Kind, items: list[Obj], resource_version: str, continue_token: str = "") -> Obj:
    """A ``<Kind>List`` as a list call returns it."""
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta, "items": items}
