"""Authentication: which Kubernetes user a bus identity is.

Every message reaches the API server with the sender's bus identity, which
the broker learned from the CURVE key when security is on, so it is not
what the peer claims. This module maps identities to the users and groups
RBAC (:mod:`actors.apiserver.rbac`) and node restriction
(:mod:`actors.apiserver.noderestriction`) reason about, playing the part of
Kubernetes' authenticators: ``scheduler`` becomes ``system:kube-scheduler``,
``node-1`` becomes ``system:node:node-1``; an identity no pattern matches is
no one, and the API server answers it 401 Unauthorized.

The table maps patterns to users. A pattern is an exact identity or a prefix
ending in ``*``; an exact match wins, then the longest prefix, so
``controller-manager*`` never claims ``cloud-controller-manager``, which does
not start with it. A user is a name, where ``{identity}`` stands for the
whole identity and ``{suffix}`` for what the ``*`` matched, or
``{"user": name, "groups": [...]}``. Groups are also derived as Kubernetes
derives them: ``system:node:*`` users are in ``system:nodes``, and everyone
authenticated is in ``system:authenticated`` (added last, as Kubernetes'
``AuthenticatedGroupAdder`` does). kubesim adds one: the user ``admin`` is in
``system:masters``, the group bound to cluster-admin, as kubeadm's admin
certificate is.

Pure: a table in, :class:`UserInfo` values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.apiserver.rbac import UserInfo

__all__ = ["ANONYMOUS", "DEFAULT_USERS", "Authenticator", "TokenAuthenticator", "UserInfo", "UsersError"]

DEFAULT_USERS: dict[str, str] = {
    "admin": "admin",
    "kubesim-cli-*": "admin",
    "scheduler*": "system:kube-scheduler",
    "controller-manager*": "system:kube-controller-manager",
    "cloud-controller-manager*": "system:cloud-controller-manager",
    "node-*": "system:node:{identity}",
    "dns*": "system:kube-dns",
    "kube-proxy*": "system:kube-proxy",
    "nodes*": "system:kubesim:hollow-nodes",  # `kubesim run nodes`: many kubelets, each impersonating its node
    "dashboard*": "system:kubesim:dashboard",  # the web dashboard: acts on the cluster for the person at the page
}
"""The identities of kubesim's own processes and CLI, as the default cluster names them."""

AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
NODES = "system:nodes"
NODE_USER_PREFIX = "system:node:"



class UsersError(ValueError):
    """A malformed identity table, named by its pattern; raised when the table is built."""


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_KNOWN = frozenset({"{identity}", "{suffix}"})


@dataclass(frozen=True, slots=True)
class _Template:
    """A user the table names, with its placeholders still in."""

    user: str
    groups: tuple[str, ...]

    def fill(self, identity: str, suffix: str) -> UserInfo | None:
        def sub(text: str) -> str:
            return text.replace("{identity}", identity).replace("{suffix}", suffix)

        name = sub(self.user)
        if not name:
            return None  # "{suffix}" of an identity that is all prefix names no one
        return UserInfo(name, _with_derived_groups(name, [sub(g) for g in self.groups]))


def _with_derived_groups(name: str, groups: list[str]) -> tuple[str, ...]:
    derived = list(groups)
    if name == "admin":
        derived.append(MASTERS)
    if name.startswith(NODE_USER_PREFIX):
        derived.append(NODES)
    derived.append(AUTHENTICATED)
    return tuple(dict.fromkeys(g for g in derived if g))  # deduplicated, in order


def _check_placeholders(text: str, pattern: str, where: str) -> None:
    for found in _PLACEHOLDER.findall(text):
        if found not in _KNOWN:
            raise UsersError(f"users[{pattern!r}]: {where} {text!r}: unknown placeholder "
                             f"{found}; use {{identity}} or {{suffix}}")
    if "{suffix}" in text and not pattern.endswith("*"):
        raise UsersError(f"users[{pattern!r}]: {where} {text!r}: {{suffix}} needs a "
                         "pattern ending in *")


def _template(pattern: Any, value: Any) -> _Template:
    if not isinstance(pattern, str) or not pattern:
        raise UsersError(f"users: pattern {pattern!r} must be a non-empty string")
    if "*" in pattern[:-1]:
        raise UsersError(f"users[{pattern!r}]: * may only end a pattern")
    if isinstance(value, str):
        user, groups = value, []
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - {"user", "groups"}, key=str)
        if unknown:
            raise UsersError(f"users[{pattern!r}]: unknown field {unknown[0]!r}; "
                             "expected user and groups")
        user, groups = value.get("user"), value.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise UsersError(f"users[{pattern!r}].groups: must be a list of non-empty strings")
    else:
        raise UsersError(f"users[{pattern!r}]: must be a user name or "
                         "{\"user\": ..., \"groups\": [...]}")
    if not isinstance(user, str) or not user:
        raise UsersError(f"users[{pattern!r}].user: must be a non-empty string")
    _check_placeholders(user, pattern, "user")
    for group in groups:
        _check_placeholders(group, pattern, "group")
    return _Template(user, tuple(groups))


class Authenticator:
    """Maps bus identities to users by a table of patterns (see the module docstring).

    Every entry is checked when the table is built; a malformed one is a
    :class:`UsersError` (a ``ValueError``) naming its pattern.
    """

    def __init__(self, users: Mapping[str, str | Mapping[str, Any]]) -> None:
        if not isinstance(users, Mapping):
            raise UsersError("users must map identity patterns to users")
        self._exact: dict[str, _Template] = {}
        prefixes: list[tuple[str, _Template]] = []
        for pattern, value in users.items():
            template = _template(pattern, value)
            if pattern.endswith("*"):
                prefixes.append((pattern[:-1], template))
            else:
                self._exact[pattern] = template
        # Longest first, so the first prefix that matches is the most specific.
        self._prefixes = tuple(sorted(prefixes, key=lambda p: -len(p[0])))

    def authenticate(self, identity: str) -> UserInfo | None:
        """The user ``identity`` is, or ``None`` when no pattern knows it (401)."""
        if not isinstance(identity, str) or not identity:
            return None
        exact = self._exact.get(identity)
        if exact is not None:
            return exact.fill(identity, "")
        for prefix, template in self._prefixes:
            if identity.startswith(prefix):
                return template.fill(identity, identity[len(prefix):])
        return None


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
"""Who a request without credentials is (kube-apiserver's --anonymous-auth, on by default)."""


class TokenAuthenticator:
    """Bearer tokens of the HTTPS front, as kube-apiserver's static token file maps them.

    ``tokens`` maps a token to a user, written as the identity table writes one
    (``"admin"`` or ``{"user": "alice", "groups": ["dev"]}``), so a token and a
    bus identity that name the same user get the same groups and the same RBAC
    answers. Placeholders mean nothing here: a token is one user.
    """

    def __init__(self, tokens: Mapping[str, str | Mapping[str, Any]]) -> None:
        if not isinstance(tokens, Mapping):
            raise UsersError("tokens must map bearer tokens to users")
        self._users: dict[str, UserInfo] = {}
        for token, value in tokens.items():
            if not isinstance(token, str) or not token or any(c.isspace() for c in token):
                raise UsersError("tokens: a token must be a non-empty string without spaces")
            shown = f"{token[:4]}..."  # never the whole secret in an error message
            template = _template(shown, value)
            if _PLACEHOLDER.search(template.user) or any(_PLACEHOLDER.search(g) for g in template.groups):
                raise UsersError(f"tokens[{shown!r}]: a token names one user; placeholders are for identities")
            self._users[token] = template.fill("", "")

    def authenticate(self, authorization: str | None) -> UserInfo | None:
        """The user of an ``Authorization`` header: ANONYMOUS without one, None for a bad one (401)."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._users.get(token.strip())
