"""RBAC: who may do what, decided the way Kubernetes' RBAC authorizer decides it.

The API server knows who sent a request from the bus identity
(:mod:`actors.apiserver.authn`) and asks :class:`Authorizer` whether that
user may do it. Components, tools and tests written against a real cluster
expect the same answers and the same refusal text, so this module follows
Kubernetes: rule matching is ``pkg/apis/rbac/v1/evaluation_helpers.go``
(``VerbMatches``, ``APIGroupMatches``, ``ResourceMatches``,
``ResourceNameMatches``), the allow reason is the RBAC authorizer's, the
refusal text is ``responsewriters.forbiddenMessage`` and the whole Status
message is ``apierrors.NewForbidden``'s.

A request is allowed when some binding names the user (or one of its groups)
and the bound role has a rule matching the request. There are no deny rules:
anything no rule grants is refused. A binding with no namespace stands for a
ClusterRoleBinding and grants everywhere; one with a namespace stands for a
RoleBinding and grants only requests in that namespace (never cluster-scoped
ones). Node restriction, the per-node limits RBAC cannot express, is
:mod:`actors.apiserver.noderestriction`, applied after an allow as
Kubernetes' admission plugin is.

The default policy (:func:`default_policy`) is Kubernetes' bootstrap policy
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``) cut down to the kinds
kubesim serves, with these differences, each for a kubesim reason:

- ``system:kube-controller-manager`` is the *union* of Kubernetes' narrow
  ``system:kube-controller-manager`` role and the per-controller
  ``system:controller:*`` roles of ``controller_policy.go`` (deployment,
  replicaset, daemonset, statefulset, job, cronjob, node lifecycle, endpoint,
  endpointslice, garbage collector, namespace, persistent volume binder,
  service account). Kubernetes runs each controller under its own service
  account; kubesim's controller manager runs them all under one identity, so
  it needs what any of them needs. The garbage collector's and namespace
  controller's wildcard rules make that union broad: it may read, update,
  patch and delete anything, and create what some controller creates. The
  node lifecycle controller may also create ``pods/eviction``, in case it
  evicts through the subresource rather than by deleting.
- ``system:node`` is bound to the group ``system:nodes``. Kubernetes leaves
  that binding empty and relies on the Node authorizer; kubesim has no
  object graph, so RBAC grants the role and node restriction narrows it. A
  kubesim node process also hosts kube-proxy under the node's identity, so
  the role may read endpoints and EndpointSlices, and reads PVCs and PVs
  with get, list and watch where Kubernetes grants only get.
- ``system:cloud-controller-manager`` follows the role the cloud provider
  documentation asks for; Kubernetes ships no bootstrap role for it.
- Rules for kinds kubesim does not serve (token and access reviews,
  certificate requests, volume attachments...) are left out; the
  scheduler's and controllers' read rules for storage and policy kinds are
  kept so that they work once served. ``system:basic-user``,
  ``system:discovery`` and the aggregated ``admin``/``edit``/``view`` roles
  are left out.

Pure: values in, :class:`Decision` values and strings out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Attributes",
    "Authorizer",
    "Binding",
    "Decision",
    "PolicyError",
    "PolicyRule",
    "UserInfo",
    "default_policy",
    "forbidden_message",
    "merge_policies",
    "policy_from_config",
    "rule_allows",
]

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate")
"""The verbs of resource requests, as Kubernetes' RequestInfo names them (``impersonate`` on ``users`` and
``groups``: acting as another user)."""

ALL = "*"
"""The wildcard of verbs, API groups and resources (and the ``*/`` of ``*/status``)."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated user, as Kubernetes' ``user.Info`` (without UID or extra)."""

    name: str
    """The user name, e.g. ``system:kube-scheduler`` or ``system:node:node-1``."""
    groups: tuple[str, ...] = ()
    """The groups the user belongs to, e.g. ``("system:nodes", "system:authenticated")``."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """One resource request to authorize (``authorizer.Attributes``).

    ``name`` is the object's name as the URL carries it: empty for list,
    deletecollection and a plain create (Kubernetes' authorizer never sees
    the name of an object being created).
    """

    user: UserInfo
    """Who asks."""
    verb: str
    """One of :data:`VERBS`."""
    api_group: str
    """The API group; ``""`` for the core group."""
    resource: str
    """The plural resource, e.g. ``pods``."""
    subresource: str = ""
    """The subresource, e.g. ``status`` or ``binding``; ``""`` for the object itself."""
    namespace: str = ""
    """The namespace; ``""`` for cluster-scoped kinds and all-namespace lists."""
    name: str = ""
    """The object's name; ``""`` when the request names none."""


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule of a role: these verbs on these resources in these groups.

    ``"*"`` in ``verbs``, ``api_groups`` or ``resources`` matches anything
    (in ``resources`` including every subresource). A resource entry
    ``"pods/status"`` matches that subresource only, ``"pods"`` the object
    only, and ``"*/status"`` the status subresource of every resource.
    Empty ``resource_names`` matches any name; otherwise the request must
    name one of them, so such a rule never grants list, watch of a whole
    collection, deletecollection or create.
    """

    verbs: tuple[str, ...]
    """Verbs granted, or ``("*",)``."""
    api_groups: tuple[str, ...]
    """API groups the resources belong to; ``""`` is the core group."""
    resources: tuple[str, ...]
    """Resources, ``resource/subresource`` pairs, ``*/subresource`` or ``*``."""
    resource_names: tuple[str, ...] = ()
    """Object names the rule is limited to; empty for all."""
    name_prefixes: tuple[str, ...] = ()
    """kubesim's built-in roles only (no cluster file can set it): names starting with one of these, as well.
    Kubernetes has no such thing; the hollow-nodes role needs "any system:node:<name>" and nothing wider."""


@dataclass(frozen=True, slots=True)
class Binding:
    """Grants a role to users and groups, everywhere or in one namespace."""

    role: str
    """The name of the role granted."""
    users: tuple[str, ...] = ()
    """User names it applies to."""
    groups: tuple[str, ...] = ()
    """Groups it applies to."""
    namespace: str = ""
    """``""``: a ClusterRoleBinding (all namespaces and cluster-scoped kinds);
    else a RoleBinding granting the role only in this namespace."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The authorizer's answer."""

    allowed: bool
    """Whether the request may proceed."""
    reason: str
    """Which binding allowed it (``RBAC: allowed by ...``), or Kubernetes'
    refusal text (``User "x" cannot ...``) to pass to :func:`forbidden_message`."""


Policy = tuple[dict[str, tuple[PolicyRule, ...]], list[Binding]]
"""Roles by name and the bindings that grant them."""


class PolicyError(ValueError):
    """A malformed policy: a config entry, a dangling binding, a role defined twice.

    Raised when the policy is built, so the API server refuses to start with
    it rather than answering 403 to requests the operator meant to allow.
    """


# --- Matching (evaluation_helpers.go) ------------------------------------------------

def _resource_matches(rule: PolicyRule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for entry in rule.resources:
        if entry == ALL or entry == combined:
            return True
        # "*/status" names one subresource of every resource, never an object.
        if subresource and entry == f"{ALL}/{subresource}":
            return True
    return False


def _name_matches(rule: PolicyRule, name: str) -> bool:
    if not rule.resource_names and not rule.name_prefixes:
        return True
    return name in rule.resource_names or bool(name) and any(name.startswith(p) for p in rule.name_prefixes)


def _request_name(a: Attributes) -> str:
    # A plain create has no name in its URL, so in Kubernetes resourceNames
    # can never grant it; ignore a name the caller filled in from the body.
    return "" if a.verb == "create" and not a.subresource else a.name


def rule_allows(rule: PolicyRule, a: Attributes) -> bool:
    """Whether ``rule`` grants request ``a`` (verb, group, resource and name all match)."""
    return ((ALL in rule.verbs or a.verb in rule.verbs)
            and (ALL in rule.api_groups or a.api_group in rule.api_groups)
            and _resource_matches(rule, a.resource, a.subresource)
            and _name_matches(rule, _request_name(a)))


# --- Texts ---------------------------------------------------------------------------

def _quote(text: str) -> str:
    """Go's ``%q`` for the names that occur here (JSON's escaping agrees with it there)."""
    return json.dumps(text, ensure_ascii=False)


def _sanitize(text: str) -> str:
    # responsewriters.Forbidden escapes these so a refusal never reads as HTML.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cannot(a: Attributes) -> str:
    """``responsewriters.forbiddenMessage`` for a resource request."""
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    head = (f"User {_quote(a.user.name)} cannot {a.verb} resource {_quote(resource)} "
            f"in API group {_quote(a.api_group)}")
    if a.namespace:
        return _sanitize(f"{head} in the namespace {_quote(a.namespace)}")
    return _sanitize(f"{head} at the cluster scope")


def forbidden_message(a: Attributes, reason: str) -> str:
    """The message of the 403 Forbidden Status, as ``apierrors.NewForbidden`` words it.

    ``reason`` is a refused :class:`Decision`'s reason or a node restriction
    refusal, and the result reads ``nodes "node-2" is forbidden: User
    "system:node:node-1" cannot delete resource "nodes" in API group "" at
    the cluster scope``. The resource is qualified by its group
    (``deployments.apps``) and carries no subresource; the name is left out
    when the request has none (``pods is forbidden: ...``).
    """
    if not a.resource and not a.api_group:
        return f"forbidden: {reason}"
    qualified = f"{a.resource}.{a.api_group}" if a.api_group else a.resource
    if not a.name:
        return f"{qualified} is forbidden: {reason}"
    return f"{qualified} {_quote(a.name)} is forbidden: {reason}"


# --- The authorizer ------------------------------------------------------------------

def _subject(binding: Binding, user: UserInfo) -> str | None:
    """How Kubernetes describes the subject of ``binding`` that ``user`` matches, if any."""
    if user.name in binding.users:
        return f"User {_quote(user.name)}"
    for group in binding.groups:
        if group in user.groups:
            return f"Group {_quote(group)}"
    return None


def _allowed_by(binding: Binding, subject: str) -> str:
    # Bindings here have no names of their own; Kubernetes' default bindings
    # are named after their roles, so use that.
    if binding.namespace:
        source = f"RoleBinding {_quote(binding.role + '/' + binding.namespace)}"
    else:
        source = f"ClusterRoleBinding {_quote(binding.role)}"
    return f"RBAC: allowed by {source} of ClusterRole {_quote(binding.role)} to {subject}"


class Authorizer:
    """Decides requests against a fixed set of roles and bindings.

    Every binding must name a role in ``roles`` (a :class:`PolicyError` otherwise:
    kubesim's policy is static, so a dangling binding is a configuration
    mistake to report at start, not a permission that silently never works).
    """

    def __init__(self, roles: Mapping[str, tuple[PolicyRule, ...]],
                 bindings: Iterable[Binding]) -> None:
        bindings = list(bindings)
        for i, binding in enumerate(bindings):
            if binding.role not in roles:
                raise PolicyError(f"binding {i}: role {_quote(binding.role)} is not defined")
        self._roles = {name: tuple(rules) for name, rules in roles.items()}
        # ClusterRoleBindings first, then RoleBindings, in the order Kubernetes
        # visits them; only the allow reason depends on it.
        self._bindings = tuple(sorted(bindings, key=lambda b: bool(b.namespace)))

    def authorize(self, a: Attributes) -> Decision:
        """Allow ``a`` if a binding for its user grants a matching rule, else refuse it."""
        for binding in self._bindings:
            if binding.namespace and binding.namespace != a.namespace:
                continue
            subject = _subject(binding, a.user)
            if subject is None:
                continue
            if any(rule_allows(rule, a) for rule in self._roles[binding.role]):
                return Decision(True, _allowed_by(binding, subject))
        return Decision(False, _cannot(a))


# --- The default policy (bootstrappolicy) --------------------------------------------

APPS = "apps"
BATCH = "batch"
COORDINATION = "coordination.k8s.io"
DISCOVERY = "discovery.k8s.io"
EVENTS_GROUP = "events.k8s.io"
POLICY = "policy"
STORAGE = "storage.k8s.io"

READ = "get list watch"
READ_UPDATE = "get list watch update patch"


def _rule(verbs: str, resources: str, *groups: str, names: str = "") -> PolicyRule:
    """A rule from space-separated verbs, resources and names; no groups means the core group."""
    return PolicyRule(tuple(verbs.split()), groups or ("",), tuple(resources.split()),
                      tuple(names.split()))


# eventsRule(): events are written through either API.
_EVENTS = _rule("create update patch", "events", "", EVENTS_GROUP)

_CLUSTER_ADMIN = (_rule(ALL, ALL, ALL),)

_SCHEDULER = (
    _EVENTS,
    # Leader election; Kubernetes limits the updates to the scheduler's lease.
    _rule("create", "leases", COORDINATION),
    _rule("get update", "leases", COORDINATION, names="kube-scheduler"),
    _rule(READ, "nodes"),
    _rule("get list watch delete", "pods"),  # delete: preemption
    _rule("create", "pods/binding bindings"),
    _rule("patch update", "pods/status"),  # the PodScheduled condition, nominatedNodeName
    # Things that select pods (spreading) and that pods use.
    _rule(READ, "services replicationcontrollers namespaces"),
    _rule(READ, "replicasets statefulsets", APPS),
    _rule(READ, "poddisruptionbudgets", POLICY),
    _rule(READ, "persistentvolumeclaims persistentvolumes"),
    _rule(READ, "csinodes csidrivers csistoragecapacities", STORAGE),
)

# Bound to the scheduler too: volume binding updates claims and volumes.
_VOLUME_SCHEDULER = (
    _rule(READ_UPDATE, "persistentvolumes persistentvolumeclaims"),
    _rule(READ, "storageclasses", STORAGE),
)

# The union described in the module docstring, one block per Kubernetes role.
_CONTROLLER_MANAGER = (
    # system:kube-controller-manager: leader election, shared informers, accounts.
    _EVENTS,
    _rule("create", "leases", COORDINATION),
    _rule("get update", "leases", COORDINATION, names="kube-controller-manager"),
    _rule("create update", "secrets serviceaccounts"),
    _rule("delete", "secrets"),
    _rule("get", "namespaces secrets serviceaccounts configmaps"),
    _rule("list watch", ALL, ALL),
    _rule("create", "serviceaccounts/token"),
    # deployment-controller
    _rule("get list watch update", "deployments", APPS),
    _rule("update", "deployments/status", APPS),
    _rule("get list watch create update patch delete", "replicasets", APPS),
    _rule("get list watch update", "pods"),
    # replicaset-controller
    _rule("update", "replicasets/status", APPS),
    _rule("list watch patch create delete", "pods"),
    # daemon-set-controller
    _rule(READ, "daemonsets", APPS),
    _rule("update", "daemonsets/status", APPS),
    _rule("list watch", "nodes"),
    _rule("create", "pods/binding"),
    # statefulset-controller (claims: creation, and deletion by the PVC retention policy)
    _rule(READ, "statefulsets", APPS),
    _rule("update", "statefulsets/status", APPS),
    _rule("get create delete update patch", "pods"),
    _rule("get create update delete", "persistentvolumeclaims"),
    # job-controller and cronjob-controller
    _rule("get list watch create update patch delete", "jobs", BATCH),
    _rule("update", "jobs/status", BATCH),
    _rule("get list watch update", "cronjobs", BATCH),
    _rule("update", "cronjobs/status", BATCH),
    # node-controller (node lifecycle and taint-based eviction)
    _rule("get list update delete patch", "nodes"),
    _rule("patch update", "nodes/status"),
    _rule("patch update", "pods/status"),
    _rule("create", "pods/eviction"),  # kubesim: Kubernetes' controller deletes instead
    # endpoint-controller and endpointslice-controller
    _rule(READ, "services pods nodes"),
    _rule("get list create update delete", "endpoints"),
    _rule("get list create update delete", "endpointslices", DISCOVERY),
    # generic-garbage-collector
    _rule("get list watch patch update delete", ALL, ALL),
    # namespace-controller
    _rule("get list watch delete", "namespaces"),
    _rule("update", "namespaces/finalize namespaces/status"),
    _rule("get list delete deletecollection", ALL, ALL),
    # persistent-volume-binder (volume-plugin specifics left out)
    _rule("get list watch update create delete", "persistentvolumes"),
    _rule("update", "persistentvolumes/status persistentvolumeclaims/status"),
    _rule("get list watch update", "persistentvolumeclaims"),
    _rule("list watch get create delete", "pods"),
    _rule(READ, "storageclasses", STORAGE),
    _rule("watch", "events"),
    # service-account-controller
    _rule("create", "serviceaccounts"),
)

_CLOUD_CONTROLLER_MANAGER = (
    _EVENTS,
    _rule("get create update", "leases", COORDINATION),
    _rule("create get list watch update", "endpoints"),
    _rule("get list watch update patch delete", "nodes"),  # delete: the instance is gone
    _rule("patch update", "nodes/status"),
    _rule("list watch patch update", "services"),
    _rule("patch update", "services/status"),  # load balancer ingress
    # kubesim's simulated cloud keeps its instance inventory in kube-system/kubesim-cloud.
    _rule("get list watch", "configmaps"),
)

# NodeRules(), plus the kube-proxy reads a kubesim node process needs.
_NODE = (
    _rule(READ, "services endpoints"),
    _rule(READ, "endpointslices", DISCOVERY),
    _rule("create get list watch", "nodes"),
    _rule("update patch", "nodes nodes/status"),
    _rule("create update patch", "events"),
    _rule(READ, "pods"),
    _rule("create delete", "pods"),  # mirror pods, narrowed by node restriction
    _rule("update patch", "pods/status"),
    _rule("create", "pods/eviction"),
    _rule(READ, "secrets configmaps"),
    _rule(READ, "persistentvolumeclaims persistentvolumes"),
    _rule("get create update patch delete", "leases", COORDINATION),
    _rule("create", "serviceaccounts/token"),
)

_KUBE_DNS = (  # system:coredns
    _rule("list watch", "endpoints services pods namespaces"),
    _rule("list watch", "endpointslices", DISCOVERY),
)

_NODE_PROXIER = (
    _rule(READ, "services endpoints nodes"),
    _rule(READ, "endpointslices", DISCOVERY),
    _EVENTS,
)

# kubesim's hollow-nodes processes (kubemark's idea): each of the process's kubelets acts as its own node by
# impersonation, and its kube-proxies share the process's informers. Kubernetes' resourceNames are exact names,
# so kubesim's own rule narrows the users by prefix (name_prefixes): system:node:<anything>, and only in the
# group system:nodes — never the scheduler, the controller manager or an admin.
HOLLOW_NODES_USER = "system:kubesim:hollow-nodes"
_HOLLOW_NODES = (
    PolicyRule(("impersonate",), ("",), ("users",), name_prefixes=("system:node:",)),
    _rule("impersonate", "groups", names="system:nodes"),
)

_DEFAULT_ROLES: dict[str, tuple[PolicyRule, ...]] = {
    "cluster-admin": _CLUSTER_ADMIN,
    "system:kube-scheduler": _SCHEDULER,
    "system:volume-scheduler": _VOLUME_SCHEDULER,
    "system:kube-controller-manager": _CONTROLLER_MANAGER,
    "system:cloud-controller-manager": _CLOUD_CONTROLLER_MANAGER,
    "system:node": _NODE,
    "system:kube-dns": _KUBE_DNS,
    "system:node-proxier": _NODE_PROXIER,
    HOLLOW_NODES_USER: _HOLLOW_NODES,
}

_DEFAULT_BINDINGS = (
    Binding("cluster-admin", groups=("system:masters",)),
    # The dashboard on 127.0.0.1 acts for whoever opens it, as `kubectl proxy` with an admin's kubeconfig does.
    Binding("cluster-admin", users=("system:kubesim:dashboard",)),
    Binding("system:kube-scheduler", users=("system:kube-scheduler",)),
    Binding("system:volume-scheduler", users=("system:kube-scheduler",)),
    Binding("system:kube-controller-manager", users=("system:kube-controller-manager",)),
    Binding("system:cloud-controller-manager", users=("system:cloud-controller-manager",)),
    Binding("system:node", groups=("system:nodes",)),
    Binding("system:kube-dns", users=("system:kube-dns",)),
    Binding("system:node-proxier", users=("system:kube-proxy",)),
    Binding(HOLLOW_NODES_USER, users=(HOLLOW_NODES_USER,)),
    Binding("system:node-proxier", users=(HOLLOW_NODES_USER,)),
)


def default_policy() -> Policy:
    """The bootstrap roles and bindings (a fresh dict and list the caller may extend)."""
    return dict(_DEFAULT_ROLES), list(_DEFAULT_BINDINGS)


def merge_policies(*policies: Policy) -> Policy:
    """Roles and bindings of several policies together, e.g. the defaults and the cluster file's.

    A role defined twice with different rules is a :class:`PolicyError` rather
    than one silently replacing the other.
    """
    roles: dict[str, tuple[PolicyRule, ...]] = {}
    bindings: list[Binding] = []
    for more_roles, more_bindings in policies:
        for name, rules in more_roles.items():
            if roles.get(name, rules) != rules:
                raise PolicyError(f"role {_quote(name)} is defined twice with different rules")
            roles[name] = rules
        bindings.extend(more_bindings)
    return roles, bindings


# --- Roles and bindings from the cluster file ----------------------------------------

_ENTRY_FIELDS = ("name", "rules", "users", "groups", "namespace")
_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames")


class _Invalid(Exception):
    """A malformed field: its path within the entry and what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path, self.problem = path, problem


def _unknown_fields(d: Mapping[Any, Any], known: tuple[str, ...], path: str) -> None:
    for field in d:
        if field not in known:
            # Refused, as kubectl's strict validation does: a typo such as
            # "resource" would otherwise grant or bind nothing, silently.
            raise _Invalid(f"{path}{field}", f"unknown field; expected one of {', '.join(known)}")


def _strings(value: Any, path: str, *, allow_empty_string: bool = False) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(path, "must be a list of strings")
    if not allow_empty_string and "" in value:
        raise _Invalid(path, "must not contain an empty string")
    return tuple(value)


def _rule_from(d: Any, path: str) -> PolicyRule:
    """One rule, checked as ``ValidatePolicyRule`` checks a resource rule."""
    if not isinstance(d, Mapping):
        raise _Invalid(path, "must be an object with verbs, apiGroups and resources")
    _unknown_fields(d, _RULE_FIELDS, f"{path}.")
    verbs = _strings(d.get("verbs"), f"{path}.verbs")
    groups = _strings(d.get("apiGroups"), f"{path}.apiGroups", allow_empty_string=True)
    resources = _strings(d.get("resources"), f"{path}.resources")
    names = _strings(d.get("resourceNames"), f"{path}.resourceNames")
    if not verbs:
        raise _Invalid(f"{path}.verbs", "Required value: verbs must contain at least one value")
    if not groups:
        raise _Invalid(f"{path}.apiGroups",
                       "Required value: resource rules must supply at least one api group")
    if not resources:
        raise _Invalid(f"{path}.resources",
                       "Required value: resource rules must supply at least one resource")
    return PolicyRule(verbs, groups, resources, names)


def _entry(d: Any) -> tuple[str, tuple[PolicyRule, ...] | None, Binding | None]:
    if not isinstance(d, Mapping):
        raise _Invalid("", "must be an object with name, rules, users, groups and namespace")
    _unknown_fields(d, _ENTRY_FIELDS, "")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid("name", "Required value: must be a non-empty string")
    rules = None
    if "rules" in d:
        if not isinstance(d["rules"], list) or not d["rules"]:
            raise _Invalid("rules", "must be a non-empty list of rules")
        rules = tuple(_rule_from(r, f"rules[{i}]") for i, r in enumerate(d["rules"]))
    users = _strings(d.get("users"), "users")
    groups = _strings(d.get("groups"), "groups")
    namespace = d.get("namespace") or ""
    if not isinstance(namespace, str):
        raise _Invalid("namespace", "must be a string")
    if rules is None and not users and not groups:
        raise _Invalid("rules", "Required value: an entry needs rules, or users or groups to bind")
    binding = Binding(name, users, groups, namespace) if users or groups else None
    return name, rules, binding


def policy_from_config(entries: list[dict[str, Any]]) -> Policy:
    """Extra roles and bindings from the cluster file.

    Each entry is ``{"name", "rules", "users", "groups", "namespace"}``.
    With ``rules`` it defines a role called ``name`` (rules are Kubernetes'
    ``PolicyRule`` in its JSON spelling: ``verbs``, ``apiGroups``,
    ``resources``, optional ``resourceNames``); with ``users`` or ``groups``
    it binds the role called ``name``, which it may define itself or which
    may be a default role (``{"name": "cluster-admin", "users": ["alice"]}``),
    cluster-wide, or in ``namespace`` only when one is given. Combine the
    result with :func:`default_policy` through :func:`merge_policies`.

    Raises :class:`PolicyError` (a ``ValueError``) naming the entry's index
    and the field on any malformed input, e.g. ``rbac entry 0: rules[1].verbs:
    Required value: verbs must contain at least one value``.
    """
    if not isinstance(entries, list):
        raise PolicyError("rbac entries must be a list")
    roles: dict[str, tuple[PolicyRule, ...]] = {}
    bindings: list[Binding] = []
    for i, d in enumerate(entries):
        try:
            name, rules, binding = _entry(d)
            if rules is not None and name in roles:
                raise _Invalid("name", f"role {_quote(name)} is already defined by another entry")
        except _Invalid as e:
            where = f"{e.path}: " if e.path else ""
            raise PolicyError(f"rbac entry {i}: {where}{e.problem}") from None
        if rules is not None:
            roles[name] = rules
        if binding is not None:
            bindings.append(binding)
    return roles, bindings
