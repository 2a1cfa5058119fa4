"""The HTTPS front's pure parts: URLs to API calls, query options, bodies, bearer tokens."""

from __future__ import annotations

import pytest

from actors.apiserver import status as st
from actors.apiserver.authn import ANONYMOUS, TokenAuthenticator, UsersError
from actors.apiserver.rest import decode_body, parse_call, patch_type, query_options


@pytest.mark.parametrize("method,path,query,want", [
    ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
    ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "pods", "default", "", "")),
    ("GET", "/api/v1/namespaces/default/pods/web", {}, ("get", "", "pods", "default", "web", "")),
    ("GET", "/api/v1/namespaces/default/pods/web/log", {"follow": ["true"]}, ("get", "", "pods", "default", "web", "log")),
    ("GET", "/api/v1/namespaces/default/pods", {"watch": ["1"]}, ("watch", "", "pods", "default", "", "")),
    ("GET", "/api/v1/namespaces/kube-system", {}, ("get", "", "namespaces", "", "kube-system", "")),
    ("PUT", "/api/v1/namespaces/demo/status", {}, ("update", "", "namespaces", "", "demo", "status")),
    ("GET", "/api/v1/nodes/node-1", {}, ("get", "", "nodes", "", "node-1", "")),
    ("POST", "/apis/apps/v1/namespaces/default/deployments", {}, ("create", "apps", "deployments", "default", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", {},
     ("patch", "apps", "deployments", "default", "web", "scale")),
    ("DELETE", "/apis/apps/v1/namespaces/default/replicasets", {}, ("deletecollection", "apps", "replicasets", "default", "", "")),
    ("POST", "/api/v1/namespaces/default/pods/web/eviction", {}, ("create", "", "pods", "default", "web", "eviction")),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {},
     ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "")),
])
def test_urls_name_the_call_kube_apiserver_would_make(method, path, query, want):
    call = parse_call(method, path, query)
    assert (call.verb, call.group, call.resource, call.namespace, call.name, call.subresource) == want


@pytest.mark.parametrize("method,path,code", [
    ("GET", "/api/v1/widgets", 404),                        # no such resource
    ("GET", "/apis/apps/v1/pods", 404),                     # pods are not in apps
    ("GET", "/apis/apps/v2/deployments", 404),              # no such version
    ("GET", "/api/v1/namespaces/default/nodes", 404),       # nodes are cluster-scoped
    ("GET", "/api/v1/namespaces/default/pods/web/exec", 404),  # not a served subresource
    ("GET", "/api/v1/namespaces/a/pods/b/log/extra", 404),
    ("POST", "/api/v1/namespaces/default/pods/web", 405),   # create takes the collection
    ("PUT", "/api/v1/namespaces/default/pods", 405),        # update takes a name
    ("PATCH", "/api/v1/pods", 405),
    ("GET", "/apis", 404),
])
def test_urls_that_name_nothing_served_are_refused_with_kubernetes_codes(method, path, code):
    with pytest.raises(st.ApiError) as err:
        parse_call(method, path, {})
    assert err.value.code == code


def test_query_options_are_typed_as_the_api_server_reads_them():
    got = query_options({"limit": ["500"], "watch": ["true"], "allowWatchBookmarks": ["1"], "dryRun": ["All"],
                         "labelSelector": ["app=web"], "timeoutSeconds": ["300"], "follow": ["false"]})
    assert got == {"limit": 500, "watch": True, "allowWatchBookmarks": True, "dryRun": ["All"],
                   "labelSelector": "app=web", "timeoutSeconds": 300, "follow": False}
    with pytest.raises(st.ApiError, match="limit: invalid value 'ten'"):
        query_options({"limit": ["ten"]})
    with pytest.raises(st.ApiError, match="watch: invalid value 'maybe'"):
        query_options({"watch": ["maybe"]})


def test_patch_content_types_and_bodies():
    assert patch_type("application/strategic-merge-patch+json") == "strategic"
    assert patch_type("application/merge-patch+json; charset=utf-8") == "merge"
    assert patch_type("application/json-patch+json") == "json"
    with pytest.raises(st.ApiError) as err:
        patch_type("text/plain")
    assert err.value.code == 415 and "accepted media types include" in err.value.message
    assert decode_body(b'{"a": 1}', "application/json") == {"a": 1}
    assert decode_body(b"a: 1\n", "application/apply-patch+yaml") == {"a": 1}
    assert decode_body(b"", "application/json") is None
    with pytest.raises(st.ApiError) as err:
        decode_body(b"{not json", "application/json")
    assert err.value.code == 400 and "JSON" in err.value.message
    with pytest.raises(st.ApiError) as err:
        decode_body(b"<xml/>", "application/xml")
    assert err.value.code == 415


def test_bearer_tokens_name_users_with_the_same_groups_as_bus_identities():
    auth = TokenAuthenticator({"s3cret-admin": "admin", "alice-token": {"user": "alice", "groups": ["dev"]}})
    admin = auth.authenticate("Bearer s3cret-admin")
    assert admin.name == "admin" and "system:masters" in admin.groups
    alice = auth.authenticate("bearer alice-token")
    assert alice.name == "alice" and alice.groups == ("dev", "system:authenticated")
    assert auth.authenticate(None) == ANONYMOUS                       # no credentials: anonymous
    assert auth.authenticate("Bearer wrong") is None                  # a wrong token: 401
    assert auth.authenticate("Basic YWRtaW46eA==") is None            # another scheme: 401
    with pytest.raises(UsersError, match="without spaces"):
        TokenAuthenticator({"has space": "admin"})
    with pytest.raises(UsersError) as err:
        TokenAuthenticator({"abcdefgh": "{identity}"})
    assert "abcd..." in str(err.value) and "abcdefgh" not in str(err.value)  # the secret is not echoed


def test_the_deprecated_watch_prefix_is_a_watch():
    call = parse_call("GET", "/api/v1/watch/namespaces/default/pods", {})
    assert (call.verb, call.resource, call.namespace) == ("watch", "pods", "default")
