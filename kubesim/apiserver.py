"""Builds the API server from the cluster file, and API sessions for the CLI and tests.

The ``apiserver`` component is the broker process with two more actors:
``apiserver`` (the API) and ``<process>.store`` (its client of the
replicated store, over direct links to the members).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.apiserver.allocators import ClusterIPAllocator
from actors.apiserver.authn import DEFAULT_USERS, Authenticator, TokenAuthenticator
from actors.apiserver.client import ApiSession
from actors.apiserver.front import HttpsFront
from actors.apiserver.rbac import (
    Authorizer,
    default_policy,
    merge_policies,
    policy_from_config,
)
from actors.apiserver.server import ApiServer, ApiServerOptions
from actors.store.client import StoreClient
from bus.clock import Clock, make_clock
from bus.runtime import Runtime

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

#: Bytes kept free in a bus frame around an object (the message's own fields, a list's envelope).
FRAME_SLACK = 64 * 1024


def options_for(cfg: ClusterConfig) -> ApiServerOptions:
    a = cfg.apiserver
    frame = cfg.bus.max_frame_bytes
    return ApiServerOptions(
        service_cidr=a.service_cluster_ip_range,
        node_ports=a.node_ports(),
        watch_cache_size=a.watch_cache_size,
        watcher_buffer=a.watcher_buffer,
        watch_window=a.watch_window,
        bookmark_interval_s=a.bookmark_interval_s,
        compaction_interval_s=a.compaction_interval_s,
        # An object must fit in the store's largest write and in one bus frame to a client.
        max_object_bytes=min(cfg.store.max_request_bytes, frame) - FRAME_SLACK,
        max_response_bytes=frame - FRAME_SLACK,
    )


def authorizer_for(cfg: ClusterConfig) -> Authorizer:
    roles, bindings = merge_policies(default_policy(), policy_from_config(cfg.apiserver.rbac))
    return Authorizer(roles, bindings)


def add_apiserver(rt: Runtime, cfg: ClusterConfig, process: str) -> ApiServer:
    from kubesim.store import server_keys

    store = StoreClient(f"{process}.store", cfg.store.endpoints(), server_keys=server_keys(cfg))
    rt.add(store)
    users = cfg.apiserver.users if cfg.apiserver.users is not None else DEFAULT_USERS
    server = ApiServer("apiserver", store, options_for(cfg), Authenticator(users), authorizer_for(cfg))
    rt.add(server)
    if cfg.apiserver.secure_port is not None:
        rt.add(https_front(cfg, server))
    return server


def https_front(cfg: ClusterConfig, server: ApiServer) -> HttpsFront:
    """The HTTPS front on 127.0.0.1:secure_port, with the cluster's certificates and tokens (made if missing)."""
    from kubesim.pki import ensure_admin_token, ensure_pki, server_ssl_context

    pki = ensure_pki(cfg.pki_dir(), service_ip=ClusterIPAllocator(cfg.apiserver.service_cluster_ip_range).kubernetes_ip)
    tokens = {**cfg.apiserver.tokens, ensure_admin_token(cfg.pki_dir()): "admin"}
    return HttpsFront("apiserver-https", server, TokenAuthenticator(tokens), "127.0.0.1", cfg.apiserver.secure_port,
                      server_ssl_context(pki))


def session_for(cfg: ClusterConfig, *, clock: Clock | None = None, timeout_s: float = 10.0,
                deadline_s: float = 30.0, name: str | None = None, key_name: str = "admin") -> ApiSession:
    """An API session for a program that is not an actor (the CLI), as user 'admin' by default."""
    from kubesim.process import security_for

    security = security_for(cfg, key_name, broker=False)
    return ApiSession(cfg.bus_settings(), clock=clock or make_clock(cfg.cluster.time_scale), security=security,
                      name=name, identity=key_name if cfg.security.curve else None, timeout_s=timeout_s,
                      deadline_s=deadline_s)
