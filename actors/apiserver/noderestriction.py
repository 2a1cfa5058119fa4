"""Node restriction: a node may write only its own objects.

RBAC grants every node the same ``system:node`` role, so on its own it lets
node-1 update node-2's status, renew node-2's lease or delete pods running
elsewhere. Kubernetes closes that with the NodeRestriction admission plugin
(``plugin/pkg/admission/noderestriction/admission.go``), run after the
authorizer allowed a write; this module is that plugin for the kinds
kubesim serves, with its refusal texts, to be passed to
:func:`actors.apiserver.rbac.forbidden_message` as Kubernetes' admission
``NewForbidden`` would (``pods "web-1" is forbidden: node "node-1" can only
update pod status for pods with spec.nodeName set to itself``).

What it checks, for users ``system:node:<name>`` in group ``system:nodes``:

- Node objects (and ``nodes/status``): only its own, and an update may not
  change the taints (a node could otherwise untaint itself to attract pods).
- Leases: only ``kube-node-lease/<name>``.
- Pods: create only mirror pods (annotation ``kubernetes.io/config.mirror``)
  bound to itself; delete, update ``pods/status`` and create
  ``pods/eviction`` only for pods whose stored ``spec.nodeName`` is itself;
  a status update may not change the pod's labels.

Left out: the checks that need other objects or kinds kubesim lacks (the
mirror pod's owner reference to the Node and its UID, references to service
accounts, secrets and claims; token requests; PVC status; CSINodes), and
the node label allow-list. Reads are not restricted here: Kubernetes' Node
authorizer limits them by an object graph kubesim does not keep.

Pure: the request and the stored and proposed objects in, ``None`` or a
refusal text out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from actors.apiserver.rbac import Attributes, UserInfo

__all__ = [
    "MIRROR_POD_ANNOTATION",
    "NODES_GROUP",
    "NODE_LEASE_NAMESPACE",
    "NODE_USER_PREFIX",
    "admit_node_request",
    "node_name",
]

NODE_USER_PREFIX = "system:node:"
"""Node users are named ``system:node:<node name>``."""
NODES_GROUP = "system:nodes"
"""The group every node user belongs to."""
NODE_LEASE_NAMESPACE = "kube-node-lease"
"""Where nodes keep their heartbeat leases, each named after its node."""
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
"""Marks the API copy of a static pod, the only pods a node may create."""

# Admission sees operations, not verbs: a patch is an update.
_OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE",
               "delete": "DELETE", "deletecollection": "DELETE"}

Obj = Mapping[str, Any] | None


def node_name(user: UserInfo) -> str | None:
    """The node a user speaks for: ``"node-1"`` for ``system:node:node-1`` in ``system:nodes``.

    ``None`` for anyone else. A user named just ``system:node:`` in the group
    is a node whose name cannot be told, ``""``, which
    :func:`admit_node_request` refuses, as Kubernetes' node identifier does.
    """
    if not user.name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in user.groups:
        return None
    return user.name[len(NODE_USER_PREFIX):]


def _q(text: str) -> str:
    """Go's ``%q`` for the names that occur here."""
    return json.dumps(text, ensure_ascii=False)


def _get(obj: Obj, *path: str) -> Any:
    node: Any = obj
    for name in path:
        node = node.get(name) if isinstance(node, Mapping) else None
    return node


def _bound_node(pod: Obj) -> str:
    # A pod that is missing or unscheduled belongs to no node, so never to this one.
    return _get(pod, "spec", "nodeName") or ""


def _labels(obj: Obj) -> Mapping[str, Any]:
    # Kubernetes' labels.Equals: a missing map equals an empty one.
    return _get(obj, "metadata", "labels") or {}


def _target_name(a: Attributes, op: str, new: Obj) -> str:
    # A create's name comes from the object (it is not in the URL).
    if op == "CREATE":
        return _get(new, "metadata", "name") or a.name
    return a.name


def _admit_pod(node: str, op: str, a: Attributes, old: Obj, new: Obj) -> str | None:
    check = _POD_CHECKS.get(a.subresource)
    if check is None:
        return (f"unexpected pod subresource {_q(a.subresource)}, "
                "only 'status' and 'eviction' are allowed")
    return check(node, op, old, new)


def _admit_pod_object(node: str, op: str, old: Obj, new: Obj) -> str | None:
    if op == "CREATE":
        return _admit_mirror_pod(node, new)
    if op != "DELETE":
        return (f"unexpected operation {_q(op)}, "
                f"node {_q(node)} can only create and delete mirror pods")
    if _bound_node(old) != node:
        return f"node {_q(node)} can only delete pods with spec.nodeName set to itself"
    return None


def _admit_pod_status(node: str, op: str, old: Obj, new: Obj) -> str | None:
    if op != "UPDATE":
        return f"unexpected operation {_q(op)}"
    if _bound_node(old) != node:
        return (f"node {_q(node)} can only update pod status for pods with "
                "spec.nodeName set to itself")
    # Labels steer services and controllers; a status write must not move them.
    if new is not None and _labels(old) != _labels(new):
        return f"node {_q(node)} cannot update labels through pod status"
    return None


def _admit_eviction(node: str, op: str, old: Obj, new: Obj) -> str | None:
    # Kubernetes prints these two with %s, unquoted.
    if op != "CREATE":
        return f"unexpected operation {op}"
    if _bound_node(old) != node:
        return f"node {node} can only evict pods with spec.nodeName set to itself"
    return None


_POD_CHECKS: dict[str, Callable[[str, str, Obj, Obj], str | None]] = {
    "": _admit_pod_object,
    "status": _admit_pod_status,
    "eviction": _admit_eviction,
}


def _admit_mirror_pod(node: str, pod: Obj) -> str | None:
    if MIRROR_POD_ANNOTATION not in (_get(pod, "metadata", "annotations") or {}):
        return (f"pod does not have {_q(MIRROR_POD_ANNOTATION)} annotation, "
                f"node {_q(node)} can only create mirror pods")
    if _bound_node(pod) != node:
        return f"node {_q(node)} can only create pods with spec.nodeName set to itself"
    return None


def _admit_node(node: str, op: str, a: Attributes, old: Obj, new: Obj) -> str | None:
    requested = _target_name(a, op, new)
    if requested != node:
        return f"node {_q(node)} is not allowed to modify node {_q(requested)}"
    # Taints keep workloads away; Kubernetes compares them with nil equal to empty.
    if op == "UPDATE" and old is not None and new is not None and (
            (_get(old, "spec", "taints") or []) != (_get(new, "spec", "taints") or [])):
        return f"node {_q(node)} is not allowed to modify taints"
    return None


def _admit_lease(node: str, op: str, a: Attributes, old: Obj, new: Obj) -> str | None:
    if a.namespace != NODE_LEASE_NAMESPACE:
        return f"can only access leases in the {_q(NODE_LEASE_NAMESPACE)} system namespace"
    if _target_name(a, op, new) != node:
        return "can only access node lease with the same name as the requesting node"
    return None


_Check = Callable[[str, str, Attributes, Obj, Obj], str | None]

_CHECKS: dict[tuple[str, str], _Check] = {
    ("", "pods"): _admit_pod,
    ("", "nodes"): _admit_node,
    ("coordination.k8s.io", "leases"): _admit_lease,
}


def admit_node_request(a: Attributes, old: Obj, new: Obj) -> str | None:
    """``None`` if a node may make this write, else Kubernetes' refusal text.

    ``old`` is the stored object the request acts on (``None`` for a create):
    for ``pods/eviction`` the pod being evicted. ``new`` is the object as it
    would be stored (``None`` for a delete). Call it after the authorizer
    allowed the request. Reads, and requests from anyone but a node, always
    pass. Check a deletecollection object by object, each as ``old``: with
    no object to look at, a node's is refused for the kinds above.
    """
    node = node_name(a.user)
    op = _OPERATIONS.get(a.verb)
    if node is None or op is None:
        return None
    if not node:
        return f"could not determine node from user {_q(a.user.name)}"
    check = _CHECKS.get((a.api_group, a.resource))
    return check(node, op, a, old, new) if check is not None else None
