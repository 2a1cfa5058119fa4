"""Authentication by bus identity (actors.apiserver.authn).

Tables of named cases: the default table's identities and the users and
groups they become; pattern precedence (exact, then longest prefix);
placeholders; derived groups; unknown identities; malformed tables; and a
few identities taken through to an authorization decision.
"""

from __future__ import annotations

import pytest

from actors.apiserver.authn import DEFAULT_USERS, Authenticator
from actors.apiserver.rbac import Attributes, Authorizer, UserInfo, default_policy

AUTH = "system:authenticated"


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return {"argvalues": [c[1:] for c in cases], "ids": [c[0] for c in cases]}


DEFAULT = Authenticator(DEFAULT_USERS)

DEFAULTS = table(
    ("admin", "admin", UserInfo("admin", ("system:masters", AUTH))),
    ("the CLI", "kubesim-cli-4242", UserInfo("admin", ("system:masters", AUTH))),
    ("scheduler", "scheduler", UserInfo("system:kube-scheduler", (AUTH,))),
    ("a second scheduler", "scheduler-2", UserInfo("system:kube-scheduler", (AUTH,))),
    ("controller manager", "controller-manager", UserInfo("system:kube-controller-manager", (AUTH,))),
    ("cloud controller manager is not the controller manager", "cloud-controller-manager",
     UserInfo("system:cloud-controller-manager", (AUTH,))),
    ("a node", "node-1", UserInfo("system:node:node-1", ("system:nodes", AUTH))),
    ("another node", "node-b7", UserInfo("system:node:node-b7", ("system:nodes", AUTH))),
    ("dns", "dns", UserInfo("system:kube-dns", (AUTH,))),
    ("a hollow-nodes process is not a node", "nodes", UserInfo("system:kubesim:hollow-nodes", (AUTH,))),
    ("unknown", "ponger", None),
    ("empty", "", None),
    ("CLI prefix needs its dash", "kubesim-cli", None),
    ("node prefix needs its dash", "node", None),
    ("identities are case-sensitive", "Admin", None),
    ("exact admin is not a prefix", "admin-2", None),
)


@pytest.mark.parametrize("identity, user", **DEFAULTS)
def test_default_users(identity, user):
    assert DEFAULT.authenticate(identity) == user


CUSTOM = table(
    ("exact beats a prefix", {"node-*": "system:node:{identity}", "node-special": "bob"},
     "node-special", UserInfo("bob", (AUTH,))),
    ("exact beats an equally long prefix", {"admin*": "someone", "admin": "admin"},
     "admin", UserInfo("admin", ("system:masters", AUTH))),
    ("longest prefix wins", {"a*": "short", "ab*": "long"}, "abc", UserInfo("long", (AUTH,))),
    ("shorter prefix when the longer fails", {"a*": "short", "ab*": "long"}, "ac",
     UserInfo("short", (AUTH,))),
    ("longest wins whatever the order", {"ab*": "long", "a*": "short"}, "abc",
     UserInfo("long", (AUTH,))),
    ("catch-all", {"*": "guest", "admin": "admin"}, "anything", UserInfo("guest", (AUTH,))),
    ("{identity}", {"kubelet-*": "system:node:{identity}"}, "kubelet-3",
     UserInfo("system:node:kubelet-3", ("system:nodes", AUTH))),
    ("{suffix}", {"worker-*": "system:node:{suffix}"}, "worker-7",
     UserInfo("system:node:7", ("system:nodes", AUTH))),
    ("{identity} twice", {"x*": "{identity}/{identity}"}, "x1", UserInfo("x1/x1", (AUTH,))),
    ("other braces are literal text", {"odd": "a{b"}, "odd", UserInfo("a{b", (AUTH,))),
    ("explicit groups first", {"ops-*": {"user": "{identity}", "groups": ["ops", "team:{suffix}"]}},
     "ops-red", UserInfo("ops-red", ("ops", "team:red", AUTH))),
    ("derived groups are not repeated", {"root": {"user": "admin", "groups": ["system:masters", AUTH]}},
     "root", UserInfo("admin", ("system:masters", AUTH))),
    ("groups may be omitted", {"x": {"user": "xavier"}}, "x", UserInfo("xavier", (AUTH,))),
    ("an empty name is no one", {"node-*": "{suffix}"}, "node-", None),
    ("no patterns", {}, "admin", None),
)


@pytest.mark.parametrize("users, identity, user", **CUSTOM)
def test_patterns(users, identity, user):
    assert Authenticator(users).authenticate(identity) == user


ERRORS = table(
    ("not a mapping", ["admin"], "users must map identity patterns to users"),
    ("empty pattern", {"": "x"}, "users: pattern '' must be a non-empty string"),
    ("star inside", {"a*b": "x"}, "users['a*b']: * may only end a pattern"),
    ("two stars", {"a**": "x"}, "users['a**']: * may only end a pattern"),
    ("empty user", {"a": ""}, "users['a'].user: must be a non-empty string"),
    ("user of the wrong type", {"a": 3},
     'users[\'a\']: must be a user name or {"user": ..., "groups": [...]}'),
    ("dict without user", {"a": {"groups": ["g"]}}, "users['a'].user: must be a non-empty string"),
    ("unknown field", {"a": {"name": "x"}}, "users['a']: unknown field 'name'; expected user and groups"),
    ("groups not a list", {"a": {"user": "x", "groups": "g"}},
     "users['a'].groups: must be a list of non-empty strings"),
    ("empty group", {"a": {"user": "x", "groups": [""]}},
     "users['a'].groups: must be a list of non-empty strings"),
    ("{suffix} without a star", {"a": "u-{suffix}"},
     "users['a']: user 'u-{suffix}': {suffix} needs a pattern ending in *"),
    ("unknown placeholder", {"a*": "{identiy}"},
     "users['a*']: user '{identiy}': unknown placeholder {identiy}; use {identity} or {suffix}"),
    ("unknown placeholder in a group", {"a*": {"user": "x", "groups": ["{who}"]}},
     "users['a*']: group '{who}': unknown placeholder {who}; use {identity} or {suffix}"),
)


@pytest.mark.parametrize("users, message", **ERRORS)
def test_malformed_tables(users, message):
    with pytest.raises(ValueError) as e:
        Authenticator(users)
    assert str(e.value) == message


def test_the_default_table_is_the_documented_one():
    assert DEFAULT_USERS == {
        "admin": "admin", "kubesim-cli-*": "admin", "scheduler*": "system:kube-scheduler",
        "controller-manager*": "system:kube-controller-manager",
        "cloud-controller-manager*": "system:cloud-controller-manager",
        "node-*": "system:node:{identity}", "dns*": "system:kube-dns",
        "kube-proxy*": "system:kube-proxy", "nodes*": "system:kubesim:hollow-nodes",
        "dashboard*": "system:kubesim:dashboard"}


# From identity to decision, as the API server chains them.
AUTHORIZER = Authorizer(*default_policy())

END_TO_END = table(
    ("the CLI deletes a node", "kubesim-cli-1", "delete", "", "nodes", "", "", "node-2", True),
    ("the scheduler binds", "scheduler", "create", "", "pods", "binding", "default", "web", True),
    ("the scheduler may not delete nodes", "scheduler", "delete", "", "nodes", "", "", "node-2", False),
    ("hollow nodes impersonate a node", "nodes", "impersonate", "", "users", "", "", "system:node:hn-1", True),
    ("... in system:nodes", "nodes", "impersonate", "", "groups", "", "", "system:nodes", True),
    ("... and no other group", "nodes", "impersonate", "", "groups", "", "", "system:masters", False),
    ("... and no other user", "nodes", "impersonate", "", "users", "", "", "system:kube-controller-manager", False),
    ("... not even admin", "nodes", "impersonate", "", "users", "", "", "admin", False),
    ("... but act on nothing as themselves", "nodes", "update", "", "nodes", "status", "", "hn-1", False),
    ("... but for what kube-proxy reads", "nodes", "watch", "discovery.k8s.io", "endpointslices", "", "", "", True),
    ("a node updates node status", "node-1", "update", "", "nodes", "status", "", "node-1", True),
    ("the cloud controller manager deletes nodes", "cloud-controller-manager", "delete", "",
     "nodes", "", "", "node-2", True),
    ("dns watches services", "dns", "watch", "", "services", "", "", "", True),
)


@pytest.mark.parametrize("identity, verb, group, resource, sub, namespace, name, allowed", **END_TO_END)
def test_identity_to_decision(identity, verb, group, resource, sub, namespace, name, allowed):
    user = DEFAULT.authenticate(identity)
    assert user is not None
    a = Attributes(user, verb, group, resource, sub, namespace, name)
    assert AUTHORIZER.authorize(a).allowed == allowed
