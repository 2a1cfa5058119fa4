"""RBAC and node restriction (actors.apiserver.rbac, actors.apiserver.noderestriction).

Tables of named cases: the authorization matrix of the default policy with
node restriction applied after an allow, as the API server applies it; the
exact Forbidden texts Kubernetes prints; rule matching with wildcards,
subresources and resource names; the allow reasons; roles and bindings from
the cluster file and its errors. Expected texts are Kubernetes' own
(``responsewriters.forbiddenMessage``, ``apierrors.NewForbidden``, the
NodeRestriction admission plugin).
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.apiserver.kinds import KINDS
from actors.apiserver.noderestriction import admit_node_request, node_name
from actors.apiserver.rbac import (
    Attributes,
    Authorizer,
    Binding,
    Decision,
    PolicyRule,
    UserInfo,
    default_policy,
    forbidden_message,
    merge_policies,
    policy_from_config,
    rule_allows,
)

AUTH = "system:authenticated"
ADMIN = UserInfo("admin", ("system:masters", AUTH))
SCHEDULER = UserInfo("system:kube-scheduler", (AUTH,))
KCM = UserInfo("system:kube-controller-manager", (AUTH,))
CCM = UserInfo("system:cloud-controller-manager", (AUTH,))
NODE1 = UserInfo("system:node:node-1", ("system:nodes", AUTH))
DNS = UserInfo("system:kube-dns", (AUTH,))
PROXY = UserInfo("system:kube-proxy", (AUTH,))
ALICE = UserInfo("alice", (AUTH,))


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return {"argvalues": [c[1:] for c in cases], "ids": [c[0] for c in cases]}


def request(user: UserInfo, verb: str, what: str, namespace: str = "",
            name: str = "") -> Attributes:
    """Attributes from ``resource[.group][/subresource]``, e.g. ``deployments.apps/status``."""
    resource_group, _, subresource = what.partition("/")
    resource, _, group = resource_group.partition(".")
    return Attributes(user, verb, group, resource, subresource, namespace, name)


def pod(name: str, node: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}}


def mirror_pod(name: str, node: str) -> dict[str, Any]:
    p = pod(name, node)
    p["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    return p


def node(name: str, *taints: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"taints": [{"key": t, "effect": "NoSchedule"} for t in taints]}}


def lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"}}


DEFAULTS = Authorizer(*default_policy())


def decide(authorizer: Authorizer, a: Attributes, old: Any = None, new: Any = None) -> str | None:
    """What the API server does: authorize, then node restriction; the 403 message or None."""
    decision = authorizer.authorize(a)
    if not decision.allowed:
        return forbidden_message(a, decision.reason)
    refusal = admit_node_request(a, old, new)
    return None if refusal is None else forbidden_message(a, refusal)


# --- The authorization matrix of the default policy ------------------------------------

ON_1, ON_2 = pod("web-1", "node-1", app="web"), pod("web-2", "node-2", app="web")

MATRIX = table(
    # The scheduler binds and preempts pods, and nothing else.
    ("scheduler binds a pod", SCHEDULER, "create", "pods/binding", "default", "web-1", None, None, True),
    ("scheduler posts a Binding", SCHEDULER, "create", "bindings", "default", "", None, None, True),
    ("scheduler updates pod status", SCHEDULER, "update", "pods/status", "default", "web-1", None, None, True),
    ("scheduler patches pod status", SCHEDULER, "patch", "pods/status", "default", "web-1", None, None, True),
    ("scheduler preempts a pod", SCHEDULER, "delete", "pods", "default", "web-1", None, None, True),
    ("scheduler watches pods", SCHEDULER, "watch", "pods", "", "", None, None, True),
    ("scheduler lists nodes", SCHEDULER, "list", "nodes", "", "", None, None, True),
    ("scheduler lists replicasets", SCHEDULER, "list", "replicasets.apps", "", "", None, None, True),
    ("scheduler creates events", SCHEDULER, "create", "events", "default", "", None, None, True),
    ("scheduler creates events.k8s.io events", SCHEDULER, "create", "events.events.k8s.io", "default", "", None, None, True),
    ("scheduler creates a lease", SCHEDULER, "create", "leases.coordination.k8s.io", "kube-system", "", None, None, True),
    ("scheduler renews its lease", SCHEDULER, "update", "leases.coordination.k8s.io", "kube-system", "kube-scheduler", None, None, True),
    ("scheduler updates a claim (volume binding)", SCHEDULER, "update", "persistentvolumeclaims", "default", "data", None, None, True),
    ("scheduler reads storage classes", SCHEDULER, "list", "storageclasses.storage.k8s.io", "", "", None, None, True),
    ("scheduler may not delete nodes", SCHEDULER, "delete", "nodes", "", "node-2", None, None, False),
    ("scheduler may not create deployments", SCHEDULER, "create", "deployments.apps", "default", "", None, None, False),
    ("scheduler may not create pods", SCHEDULER, "create", "pods", "default", "", None, None, False),
    ("scheduler may not update pods", SCHEDULER, "update", "pods", "default", "web-1", None, None, False),
    ("scheduler may not update node status", SCHEDULER, "update", "nodes/status", "", "node-1", None, None, False),
    ("scheduler may not renew another lease", SCHEDULER, "update", "leases.coordination.k8s.io", "kube-system", "kube-controller-manager", None, None, False),
    ("scheduler may not read secrets", SCHEDULER, "get", "secrets", "default", "token", None, None, False),
    # The controller manager: the union of the controllers' roles.
    ("kcm creates pods", KCM, "create", "pods", "default", "", None, None, True),
    ("kcm deletes pods", KCM, "delete", "pods", "default", "web-1", None, None, True),
    ("kcm updates deployment status", KCM, "update", "deployments.apps/status", "default", "web", None, None, True),
    ("kcm creates replicasets", KCM, "create", "replicasets.apps", "default", "", None, None, True),
    ("kcm creates jobs", KCM, "create", "jobs.batch", "default", "", None, None, True),
    ("kcm binds daemon pods", KCM, "create", "pods/binding", "default", "ds-1", None, None, True),
    ("kcm creates endpointslices", KCM, "create", "endpointslices.discovery.k8s.io", "default", "", None, None, True),
    ("kcm deletes a dead node", KCM, "delete", "nodes", "", "node-2", None, None, True),
    ("kcm updates node status", KCM, "update", "nodes/status", "", "node-2", None, None, True),
    ("kcm evicts a pod", KCM, "create", "pods/eviction", "default", "web-2", None, None, True),
    ("kcm patches anything (gc)", KCM, "patch", "configmaps", "default", "cfg", None, None, True),
    ("kcm deletes a collection (namespace)", KCM, "deletecollection", "pods", "doomed", "", None, None, True),
    ("kcm finalizes a namespace", KCM, "update", "namespaces/finalize", "", "doomed", None, None, True),
    ("kcm creates persistent volumes", KCM, "create", "persistentvolumes", "", "", None, None, True),
    ("kcm may not create deployments", KCM, "create", "deployments.apps", "default", "", None, None, False),
    ("kcm may not create nodes", KCM, "create", "nodes", "", "", None, None, False),
    ("kcm may not create configmaps", KCM, "create", "configmaps", "default", "", None, None, False),
    # The cloud controller manager.
    ("ccm deletes a node", CCM, "delete", "nodes", "", "node-2", None, None, True),
    ("ccm patches service status", CCM, "patch", "services/status", "default", "lb", None, None, True),
    ("ccm updates node status", CCM, "update", "nodes/status", "", "node-1", None, None, True),
    ("ccm may not create pods", CCM, "create", "pods", "default", "", None, None, False),
    # Nodes: RBAC's system:node, then node restriction.
    ("node-1 updates its node status", NODE1, "update", "nodes/status", "", "node-1", node("node-1"), node("node-1"), True),
    ("node-1 may not update node-2's status", NODE1, "update", "nodes/status", "", "node-2", node("node-2"), node("node-2"), False),
    ("node-1 patches its node", NODE1, "patch", "nodes", "", "node-1", node("node-1"), node("node-1"), True),
    ("node-1 registers itself", NODE1, "create", "nodes", "", "", None, node("node-1"), True),
    ("node-1 may not register node-2", NODE1, "create", "nodes", "", "", None, node("node-2"), False),
    ("node-1 may not untaint itself", NODE1, "update", "nodes", "", "node-1", node("node-1", "t"), node("node-1"), False),
    ("node-1 may not delete its node", NODE1, "delete", "nodes", "", "node-1", node("node-1"), None, False),
    ("node-1 may not delete node-2", NODE1, "delete", "nodes", "", "node-2", node("node-2"), None, False),
    ("node-1 patches status of its pod", NODE1, "patch", "pods/status", "default", "web-1", ON_1, ON_1, True),
    ("node-1 updates status of its pod", NODE1, "update", "pods/status", "default", "web-1", ON_1, ON_1, True),
    ("node-1 may not patch status of node-2's pod", NODE1, "patch", "pods/status", "default", "web-2", ON_2, ON_2, False),
    ("node-1 may not relabel through status", NODE1, "patch", "pods/status", "default", "web-1", ON_1, pod("web-1", "node-1", app="db"), False),
    ("node-1 deletes its pod", NODE1, "delete", "pods", "default", "web-1", ON_1, None, True),
    ("node-1 may not delete node-2's pod", NODE1, "delete", "pods", "default", "web-2", ON_2, None, False),
    ("node-1 may not update a pod", NODE1, "update", "pods", "default", "web-1", ON_1, ON_1, False),
    ("node-1 creates its mirror pod", NODE1, "create", "pods", "default", "", None, mirror_pod("static-1", "node-1"), True),
    ("node-1 may not create an ordinary pod", NODE1, "create", "pods", "default", "", None, pod("web-3", "node-1"), False),
    ("node-1 may not create a mirror pod for node-2", NODE1, "create", "pods", "default", "", None, mirror_pod("static-2", "node-2"), False),
    ("node-1 evicts its pod", NODE1, "create", "pods/eviction", "default", "web-1", ON_1, None, True),
    ("node-1 may not evict node-2's pod", NODE1, "create", "pods/eviction", "default", "web-2", ON_2, None, False),
    ("node-1 may not bind pods", NODE1, "create", "pods/binding", "default", "web-1", ON_1, None, False),
    ("node-1 renews its lease", NODE1, "update", "leases.coordination.k8s.io", "kube-node-lease", "node-1", lease("node-1"), lease("node-1"), True),
    ("node-1 creates its lease", NODE1, "create", "leases.coordination.k8s.io", "kube-node-lease", "", None, lease("node-1"), True),
    ("node-1 may not renew node-2's lease", NODE1, "update", "leases.coordination.k8s.io", "kube-node-lease", "node-2", lease("node-2"), lease("node-2"), False),
    ("node-1 may not touch a lease elsewhere", NODE1, "update", "leases.coordination.k8s.io", "default", "node-1", None, None, False),
    ("node-1 reads services", NODE1, "get", "services", "default", "web", None, None, True),
    ("node-1 watches services", NODE1, "watch", "services", "", "", None, None, True),
    ("node-1 lists endpointslices (kube-proxy)", NODE1, "list", "endpointslices.discovery.k8s.io", "", "", None, None, True),
    ("node-1 reads a secret", NODE1, "get", "secrets", "default", "token", None, None, True),
    ("node-1 reads node-2 (reads unrestricted)", NODE1, "get", "nodes", "", "node-2", None, None, True),
    ("node-1 creates events", NODE1, "create", "events", "default", "", None, None, True),
    ("node-1 may not delete services", NODE1, "delete", "services", "default", "web", None, None, False),
    ("node-1 may not create deployments", NODE1, "create", "deployments.apps", "default", "", None, None, False),
    # Add-ons.
    ("dns watches services", DNS, "watch", "services", "", "", None, None, True),
    ("dns lists endpointslices", DNS, "list", "endpointslices.discovery.k8s.io", "", "", None, None, True),
    ("dns may not read secrets", DNS, "get", "secrets", "default", "token", None, None, False),
    ("proxy lists endpoints", PROXY, "list", "endpoints", "", "", None, None, True),
    ("proxy gets its node", PROXY, "get", "nodes", "", "node-1", None, None, True),
    ("proxy may not update services", PROXY, "update", "services", "default", "web", None, None, False),
    # Admin and strangers.
    ("admin deletes a node", ADMIN, "delete", "nodes", "", "node-2", None, None, True),
    ("admin creates a deployment", ADMIN, "create", "deployments.apps", "default", "", None, None, True),
    ("admin updates any pod status", ADMIN, "update", "pods/status", "default", "web-2", ON_2, ON_2, True),
    ("admin deletes a collection", ADMIN, "deletecollection", "secrets", "default", "", None, None, True),
    ("unbound user may not get pods", ALICE, "get", "pods", "default", "web-1", None, None, False),
    ("unbound user may not list namespaces", ALICE, "list", "namespaces", "", "", None, None, False),
    ("system:authenticated alone grants nothing", UserInfo("bob", (AUTH,)), "get", "namespaces", "", "default", None, None, False),
)


@pytest.mark.parametrize("user, verb, what, namespace, name, old, new, allowed", **MATRIX)
def test_default_policy_matrix(user, verb, what, namespace, name, old, new, allowed):
    outcome = decide(DEFAULTS, request(user, verb, what, namespace, name), old, new)
    assert (outcome is None) == allowed, outcome


# --- Exact Forbidden texts --------------------------------------------------------------

FORBIDDEN = table(
    ("rbac, cluster scope, named", SCHEDULER, "delete", "nodes", "", "node-2", None, None,
     ('nodes "node-2" is forbidden: User "system:kube-scheduler" cannot delete resource '
      '"nodes" in API group "" at the cluster scope')),
    ("rbac, node deleting a node", NODE1, "delete", "nodes", "", "node-2", None, None,
     ('nodes "node-2" is forbidden: User "system:node:node-1" cannot delete resource '
      '"nodes" in API group "" at the cluster scope')),
    ("rbac, namespaced, grouped, unnamed", SCHEDULER, "create", "deployments.apps", "default", "", None, None,
     ('deployments.apps is forbidden: User "system:kube-scheduler" cannot create resource '
      '"deployments" in API group "apps" in the namespace "default"')),
    ("rbac, subresource", ALICE, "create", "pods/binding", "default", "web-1", None, None,
     ('pods "web-1" is forbidden: User "alice" cannot create resource "pods/binding" in '
      'API group "" in the namespace "default"')),
    ("rbac, grouped subresource", SCHEDULER, "update", "deployments.apps/status", "default", "web", None, None,
     ('deployments.apps "web" is forbidden: User "system:kube-scheduler" cannot update '
      'resource "deployments/status" in API group "apps" in the namespace "default"')),
    ("rbac, all-namespace list", ALICE, "list", "pods", "", "", None, None,
     ('pods is forbidden: User "alice" cannot list resource "pods" in API group "" at '
      'the cluster scope')),
    ("node status of another node", NODE1, "update", "nodes/status", "", "node-2", node("node-2"), node("node-2"),
     'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'),
    ("pod status of another node's pod", NODE1, "patch", "pods/status", "default", "web-2", ON_2, ON_2,
     ('pods "web-2" is forbidden: node "node-1" can only update pod status for pods with '
      'spec.nodeName set to itself')),
    ("deleting another node's pod", NODE1, "delete", "pods", "default", "web-2", ON_2, None,
     ('pods "web-2" is forbidden: node "node-1" can only delete pods with spec.nodeName '
      'set to itself')),
    ("evicting another node's pod", NODE1, "create", "pods/eviction", "default", "web-2", ON_2, None,
     ('pods "web-2" is forbidden: node node-1 can only evict pods with spec.nodeName set '
      'to itself')),
    ("another node's lease", NODE1, "update", "leases.coordination.k8s.io", "kube-node-lease", "node-2", lease("node-2"), lease("node-2"),
     ('leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with '
      'the same name as the requesting node')),
    ("a lease outside kube-node-lease", NODE1, "update", "leases.coordination.k8s.io", "default", "node-1", None, None,
     ('leases.coordination.k8s.io "node-1" is forbidden: can only access leases in the '
      '"kube-node-lease" system namespace')),
    ("creating an ordinary pod", NODE1, "create", "pods", "default", "", None, pod("web-3", "node-1"),
     ('pods is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, '
      'node "node-1" can only create mirror pods')),
)


@pytest.mark.parametrize("user, verb, what, namespace, name, old, new, message", **FORBIDDEN)
def test_forbidden_texts(user, verb, what, namespace, name, old, new, message):
    assert decide(DEFAULTS, request(user, verb, what, namespace, name), old, new) == message


ADMISSION = table(
    ("mirror pod for another node", "create", "pods", "", None, mirror_pod("s", "node-2"),
     'node "node-1" can only create pods with spec.nodeName set to itself'),
    ("updating a pod", "update", "pods", "web-1", ON_1, ON_1,
     'unexpected operation "UPDATE", node "node-1" can only create and delete mirror pods'),
    ("patching a pod is an update", "patch", "pods", "web-1", ON_1, ON_1,
     'unexpected operation "UPDATE", node "node-1" can only create and delete mirror pods'),
    ("deleting pod status", "delete", "pods/status", "web-1", ON_1, None,
     'unexpected operation "DELETE"'),
    ("evicting by delete", "delete", "pods/eviction", "web-1", ON_1, None,
     "unexpected operation DELETE"),
    ("binding a pod", "create", "pods/binding", "web-1", ON_1, None,
     "unexpected pod subresource \"binding\", only 'status' and 'eviction' are allowed"),
    ("relabelling through status", "update", "pods/status", "web-1", ON_1, pod("web-1", "node-1", app="db"),
     'node "node-1" cannot update labels through pod status'),
    ("unscheduled pod's status", "update", "pods/status", "web-0", pod("web-0", ""), pod("web-0", ""),
     'node "node-1" can only update pod status for pods with spec.nodeName set to itself'),
    ("deleting a pod it cannot see", "delete", "pods", "gone", None, None,
     'node "node-1" can only delete pods with spec.nodeName set to itself'),
    ("deleting a collection of pods", "deletecollection", "pods", "", None, None,
     'node "node-1" can only delete pods with spec.nodeName set to itself'),
    ("changing its taints", "update", "nodes", "node-1", node("node-1", "a"), node("node-1", "b"),
     'node "node-1" is not allowed to modify taints'),
    ("deleting another node", "delete", "nodes", "node-2", node("node-2"), None,
     'node "node-1" is not allowed to modify node "node-2"'),
    ("registering another node", "create", "nodes", "", None, node("node-2"),
     'node "node-1" is not allowed to modify node "node-2"'),
    ("creating another node's lease", "create", "leases.coordination.k8s.io", "", None, lease("node-2"),
     "can only access node lease with the same name as the requesting node"),
)


@pytest.mark.parametrize("verb, what, name, old, new, message", **ADMISSION)
def test_node_restriction_texts(verb, what, name, old, new, message):
    namespace = "kube-node-lease" if what.startswith("leases") else (
        "" if what == "nodes" else "default")
    a = request(NODE1, verb, what, namespace, name)
    assert admit_node_request(a, old, new) == message


PASSES = table(
    ("reads are not restricted", NODE1, "get", "pods", "web-2", ON_2, None),
    ("lists are not restricted", NODE1, "list", "pods", "", None, None),
    ("events are fine", NODE1, "create", "events", "", None, {"metadata": {"name": "e"}}),
    ("own mirror pod", NODE1, "create", "pods", "", None, mirror_pod("s", "node-1")),
    ("own node, same taints", NODE1, "update", "nodes", "node-1", node("node-1", "t"), node("node-1", "t")),
    ("nil and empty taints are equal", NODE1, "update", "nodes", "node-1",
     {"metadata": {"name": "node-1"}, "spec": {}}, node("node-1")),
    ("status patch keeping the labels", NODE1, "patch", "pods/status", "web-1", ON_1, ON_1),
    ("not a node: the scheduler", SCHEDULER, "delete", "pods", "web-2", ON_2, None),
    ("not a node: admin deletes a node", ADMIN, "delete", "nodes", "node-2", node("node-2"), None),
    ("node name without the nodes group", UserInfo("system:node:node-1", (AUTH,)), "delete", "pods", "web-2", ON_2, None),
)


@pytest.mark.parametrize("user, verb, what, name, old, new", **PASSES)
def test_node_restriction_passes(user, verb, what, name, old, new):
    namespace = "" if what == "nodes" else "default"
    assert admit_node_request(request(user, verb, what, namespace, name), old, new) is None


def test_a_node_with_no_name_is_refused():
    nameless = UserInfo("system:node:", ("system:nodes",))
    a = request(nameless, "update", "nodes/status", "", "node-1")
    assert admit_node_request(a, node("node-1"), node("node-1")) == (
        'could not determine node from user "system:node:"')


@pytest.mark.parametrize("user, expected", **table(
    ("a node", NODE1, "node-1"),
    ("dotted node name", UserInfo("system:node:ip-10-0-0-1.ec2", ("system:nodes",)), "ip-10-0-0-1.ec2"),
    ("name but not the group", UserInfo("system:node:node-1", (AUTH,)), None),
    ("group but not the name", UserInfo("kubelet", ("system:nodes",)), None),
    ("the scheduler", SCHEDULER, None),
    ("empty node name", UserInfo("system:node:", ("system:nodes",)), ""),
))
def test_node_name(user, expected):
    assert node_name(user) == expected


# --- forbidden_message ------------------------------------------------------------------

@pytest.mark.parametrize("a, message", **table(
    ("named core", Attributes(ALICE, "get", "", "pods", "", "default", "web"),
     'pods "web" is forbidden: R'),
    ("unnamed core", Attributes(ALICE, "list", "", "pods", "", "default"), "pods is forbidden: R"),
    ("grouped", Attributes(ALICE, "get", "apps", "deployments", "scale", "default", "web"),
     'deployments.apps "web" is forbidden: R'),
    ("no resource", Attributes(ALICE, "get", "", ""), "forbidden: R"),
    ("quotes in the name are escaped", Attributes(ALICE, "get", "", "pods", "", "default", 'a"b'),
     'pods "a\\"b" is forbidden: R'),
))
def test_forbidden_message_shapes(a, message):
    assert forbidden_message(a, "R") == message


def test_refusal_text_escapes_html():
    a = request(UserInfo("<b>&", ()), "get", "pods", "default", "web")
    assert DEFAULTS.authorize(a).reason == (
        'User "&lt;b&gt;&amp;" cannot get resource "pods" in API group "" in the namespace "default"')


# --- Rule matching ----------------------------------------------------------------------

def rule(verbs: str, resources: str, groups: tuple[str, ...] = ("",), names: str = "") -> PolicyRule:
    return PolicyRule(tuple(verbs.split()), groups, tuple(resources.split()), tuple(names.split()))


RULES = table(
    ("exact", rule("get", "pods"), "get", "pods", "", True),
    ("verb wildcard", rule("*", "pods"), "deletecollection", "pods", "", True),
    ("verb mismatch", rule("get list", "pods"), "watch", "pods", "", False),
    ("verbs are case-sensitive", rule("GET", "pods"), "get", "pods", "", False),
    ("group wildcard", rule("get", "deployments", ("*",)), "get", "deployments.apps", "", True),
    ("core rule, apps request", rule("get", "deployments"), "get", "deployments.apps", "", False),
    ("apps rule, core request", rule("get", "pods", ("apps",)), "get", "pods", "", False),
    ("resource wildcard: object", rule("get", "*"), "get", "pods", "", True),
    ("resource wildcard: subresource", rule("update", "*"), "update", "pods/status", "", True),
    ("object rule, subresource request", rule("update", "pods"), "update", "pods/status", "", False),
    ("subresource rule", rule("update", "pods/status"), "update", "pods/status", "", True),
    ("subresource rule, object request", rule("update", "pods/status"), "update", "pods", "", False),
    ("subresource rule, other subresource", rule("create", "pods/status"), "create", "pods/binding", "", False),
    ("*/status matches any status", rule("update", "*/status", ("*",)), "update", "deployments.apps/status", "", True),
    ("*/status matches pods/status", rule("update", "*/status"), "update", "pods/status", "", True),
    ("*/status is not the object", rule("update", "*/status"), "update", "pods", "", False),
    ("*/status is not scale", rule("update", "*/status", ("*",)), "update", "deployments.apps/scale", "", False),
    ("*/scale", rule("get update", "*/scale", ("*",)), "update", "statefulsets.apps/scale", "", True),
    ("pods/* is no wildcard", rule("get", "pods/*"), "get", "pods/log", "", False),
    ("named: match", rule("get update", "leases", ("coordination.k8s.io",), "kube-scheduler"),
     "update", "leases.coordination.k8s.io", "kube-scheduler", True),
    ("named: other name", rule("get", "configmaps", names="a b"), "get", "configmaps", "c", False),
    ("named: list has no name", rule("list", "configmaps", names="a"), "list", "configmaps", "", False),
    ("named: a create never matches", rule("create", "configmaps", names="a"), "create", "configmaps", "a", False),
    ("named: subresource create has a name", rule("create", "pods/eviction", names="web"), "create", "pods/eviction", "web", True),
    ("unnamed rule: any name", rule("delete", "pods"), "delete", "pods", "anything", True),
)


@pytest.mark.parametrize("r, verb, what, name, allowed", **RULES)
def test_rule_matching(r, verb, what, name, allowed):
    assert rule_allows(r, request(ALICE, verb, what, "default", name)) == allowed


# --- Bindings and allow reasons ---------------------------------------------------------

POD_READER = {"name": "pod-reader", "users": ["alice"], "groups": [], "namespace": "default",
              "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}
WITH_ALICE = Authorizer(*merge_policies(default_policy(), policy_from_config([POD_READER])))

ROLEBINDING = table(
    ("get in its namespace", "get", "pods", "default", "web", True),
    ("list in its namespace", "list", "pods", "default", "", True),
    ("not in another namespace", "get", "pods", "kube-system", "web", False),
    ("not across all namespaces", "list", "pods", "", "", False),
    ("only the verbs granted", "delete", "pods", "default", "web", False),
    ("only the resources granted", "get", "services", "default", "web", False),
    ("not a subresource", "get", "pods/log", "default", "web", False),
)


@pytest.mark.parametrize("verb, what, namespace, name, allowed", **ROLEBINDING)
def test_namespaced_binding_grants_only_in_its_namespace(verb, what, namespace, name, allowed):
    assert WITH_ALICE.authorize(request(ALICE, verb, what, namespace, name)).allowed == allowed


REASONS = table(
    ("user subject", SCHEDULER, "create", "pods/binding", "default",
     ('RBAC: allowed by ClusterRoleBinding "system:kube-scheduler" of ClusterRole '
      '"system:kube-scheduler" to User "system:kube-scheduler"')),
    ("second role of the same user", SCHEDULER, "update", "persistentvolumeclaims", "default",
     ('RBAC: allowed by ClusterRoleBinding "system:volume-scheduler" of ClusterRole '
      '"system:volume-scheduler" to User "system:kube-scheduler"')),
    ("group subject", ADMIN, "delete", "nodes", "",
     ('RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" '
      'to Group "system:masters"')),
    ("node group", NODE1, "update", "nodes/status", "",
     ('RBAC: allowed by ClusterRoleBinding "system:node" of ClusterRole "system:node" '
      'to Group "system:nodes"')),
    ("role binding", ALICE, "get", "pods", "default",
     ('RBAC: allowed by RoleBinding "pod-reader/default" of ClusterRole "pod-reader" '
      'to User "alice"')),
)


@pytest.mark.parametrize("user, verb, what, namespace, reason", **REASONS)
def test_allow_reasons(user, verb, what, namespace, reason):
    assert WITH_ALICE.authorize(request(user, verb, what, namespace, "x")) == Decision(True, reason)


def test_cluster_bindings_are_visited_before_role_bindings():
    roles = {"r": (rule("get", "pods"),)}
    authorizer = Authorizer(roles, [Binding("r", users=("alice",), namespace="default"),
                                    Binding("r", users=("alice",))])
    assert authorizer.authorize(request(ALICE, "get", "pods", "default")).reason == (
        'RBAC: allowed by ClusterRoleBinding "r" of ClusterRole "r" to User "alice"')


def test_a_binding_to_an_unknown_role_is_refused():
    with pytest.raises(ValueError) as e:
        Authorizer({"r": ()}, [Binding("r"), Binding("nope", users=("alice",))])
    assert str(e.value) == 'binding 1: role "nope" is not defined'


def test_an_empty_policy_refuses_everything():
    assert not Authorizer({}, []).authorize(request(ADMIN, "get", "pods", "default")).allowed


# --- The default policy's shape ---------------------------------------------------------

# Names the default policy may use besides the served kinds and their
# subresources: Kubernetes' rules for kinds kubesim may serve later, kept so
# the components' rules read as Kubernetes' do.
EXTRAS = {"bindings", "pods/binding", "pods/eviction", "pods/log", "namespaces/finalize",
          "serviceaccounts/token", "replicationcontrollers", "poddisruptionbudgets",
          "csinodes", "csidrivers", "csistoragecapacities",
          "users", "groups"}  # impersonate: not objects, but what RBAC names for impersonation


def test_default_policy_names_only_served_kinds():
    served = {k.resource for k in KINDS.values()}
    served |= {f"{k.resource}/{s}" for k in KINDS.values() for s in k.subresources}
    roles, _ = default_policy()
    named = {r for rules in roles.values() for rule_ in rules for r in rule_.resources}
    named = {r for r in named if r != "*" and not r.startswith("*/")}
    assert named - served - EXTRAS == set()


def test_default_policy_is_fresh_each_time():
    roles, bindings = default_policy()
    roles.clear()
    bindings.clear()
    assert default_policy()[0] and default_policy()[1]


def test_merge_refuses_a_redefined_role():
    with pytest.raises(ValueError) as e:
        merge_policies(default_policy(), ({"system:node": (rule("*", "*"),)}, []))
    assert str(e.value) == 'role "system:node" is defined twice with different rules'


def test_merge_accepts_the_same_role_twice():
    roles, bindings = merge_policies(default_policy(), default_policy())
    assert roles == default_policy()[0] and len(bindings) == 2 * len(default_policy()[1])


# --- policy_from_config -----------------------------------------------------------------

def test_policy_from_config_reads_the_example():
    assert policy_from_config([POD_READER]) == (
        {"pod-reader": (PolicyRule(("get", "list"), ("",), ("pods",)),)},
        [Binding("pod-reader", users=("alice",), namespace="default")])


def test_policy_from_config_binds_a_default_role():
    roles, bindings = policy_from_config([{"name": "cluster-admin", "groups": ["ops"]}])
    assert roles == {} and bindings == [Binding("cluster-admin", groups=("ops",))]
    authorizer = Authorizer(*merge_policies(default_policy(), (roles, bindings)))
    assert authorizer.authorize(request(UserInfo("carol", ("ops",)), "delete", "nodes", "", "n")).allowed


def test_policy_from_config_role_without_subjects_and_resource_names():
    entries = [{"name": "cm-one", "rules": [{"verbs": ["get"], "apiGroups": [""],
                                             "resources": ["configmaps"], "resourceNames": ["one"]}]},
               {"name": "cm-one", "users": ["dave"], "namespace": "default"}]
    roles, bindings = policy_from_config(entries)
    authorizer = Authorizer(roles, bindings)
    dave = UserInfo("dave", ())
    assert authorizer.authorize(request(dave, "get", "configmaps", "default", "one")).allowed
    assert not authorizer.authorize(request(dave, "get", "configmaps", "default", "two")).allowed


GOOD_RULE = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
GOOD = {"name": "ok", "rules": [GOOD_RULE], "users": ["u"]}

CONFIG_ERRORS = table(
    ("not a list", {"name": "x"}, "rbac entries must be a list"),
    ("entry not an object", [GOOD, ["x"]],
     "rbac entry 1: must be an object with name, rules, users, groups and namespace"),
    ("unknown field", [{"name": "x", "user": ["a"]}],
     "rbac entry 0: user: unknown field; expected one of name, rules, users, groups, namespace"),
    ("missing name", [{"rules": [GOOD_RULE], "users": ["u"]}],
     "rbac entry 0: name: Required value: must be a non-empty string"),
    ("name not a string", [{"name": 7, "users": ["u"]}],
     "rbac entry 0: name: Required value: must be a non-empty string"),
    ("rules not a list", [{"name": "x", "rules": GOOD_RULE}],
     "rbac entry 0: rules: must be a non-empty list of rules"),
    ("rules empty", [{"name": "x", "rules": []}],
     "rbac entry 0: rules: must be a non-empty list of rules"),
    ("rule not an object", [{"name": "x", "rules": ["get pods"]}],
     "rbac entry 0: rules[0]: must be an object with verbs, apiGroups and resources"),
    ("unknown rule field", [{"name": "x", "rules": [{**GOOD_RULE, "nonResourceURLs": ["/x"]}]}],
     ("rbac entry 0: rules[0].nonResourceURLs: unknown field; expected one of verbs, "
      "apiGroups, resources, resourceNames")),
    ("no verbs", [GOOD, {"name": "x", "rules": [GOOD_RULE, {**GOOD_RULE, "verbs": []}]}],
     "rbac entry 1: rules[1].verbs: Required value: verbs must contain at least one value"),
    ("verbs not strings", [{"name": "x", "rules": [{**GOOD_RULE, "verbs": [1]}]}],
     "rbac entry 0: rules[0].verbs: must be a list of strings"),
    ("verbs a string", [{"name": "x", "rules": [{**GOOD_RULE, "verbs": "get"}]}],
     "rbac entry 0: rules[0].verbs: must be a list of strings"),
    ("no apiGroups", [{"name": "x", "rules": [{"verbs": ["get"], "resources": ["pods"]}]}],
     ("rbac entry 0: rules[0].apiGroups: Required value: resource rules must supply at "
      "least one api group")),
    ("no resources", [{"name": "x", "rules": [{**GOOD_RULE, "resources": []}]}],
     ("rbac entry 0: rules[0].resources: Required value: resource rules must supply at "
      "least one resource")),
    ("empty resource", [{"name": "x", "rules": [{**GOOD_RULE, "resources": [""]}]}],
     "rbac entry 0: rules[0].resources: must not contain an empty string"),
    ("resourceNames not a list", [{"name": "x", "rules": [{**GOOD_RULE, "resourceNames": "a"}]}],
     "rbac entry 0: rules[0].resourceNames: must be a list of strings"),
    ("empty user", [{"name": "x", "rules": [GOOD_RULE], "users": [""]}],
     "rbac entry 0: users: must not contain an empty string"),
    ("groups not a list", [{"name": "x", "rules": [GOOD_RULE], "groups": "ops"}],
     "rbac entry 0: groups: must be a list of strings"),
    ("namespace not a string", [{"name": "x", "rules": [GOOD_RULE], "users": ["u"], "namespace": 3}],
     "rbac entry 0: namespace: must be a string"),
    ("does nothing", [{"name": "x", "namespace": "default"}],
     "rbac entry 0: rules: Required value: an entry needs rules, or users or groups to bind"),
    ("role defined twice", [GOOD, {"name": "ok", "rules": [GOOD_RULE]}],
     'rbac entry 1: name: role "ok" is already defined by another entry'),
)


@pytest.mark.parametrize("entries, message", **CONFIG_ERRORS)
def test_policy_from_config_errors(entries, message):
    with pytest.raises(ValueError) as e:
        policy_from_config(entries)
    assert str(e.value) == message

