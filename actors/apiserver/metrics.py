"""The API server's Prometheus metrics, named after kube-apiserver's with the ``kubesim_`` prefix.

``apiserver_request_total`` and ``apiserver_request_duration_seconds`` by
verb, resource and code; in-flight requests; registered watchers, watch
events sent and watchers cut off, by resource; and how long the store took
(kube-apiserver's ``etcd_request_duration_seconds``).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# Kubernetes' own buckets for request latency (apiserver/pkg/endpoints/metrics), trimmed at 60 s.
_REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20,
                    30, 45, 60)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


#: Why a request is refused before it reaches the store: the Status reasons of 400, 401, 403, 413 and 422,
#: and "Malformed" for a body the strategy code could not read.
REJECT_REASONS = ("BadRequest", "Unauthorized", "Forbidden", "RequestEntityTooLarge", "Invalid", "Malformed",
                  "UnsupportedMediaType")
#: Why the HTTPS front refused a connection or a request before it became an API call.
HTTP_REJECT_REASONS = ("tls_handshake", "tls", "malformed_http", "request_too_large", "pipelined_too_much",
                       "too_many_connections",
                       "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed", "NotAcceptable",
                       "UnsupportedMediaType")


class ApiServerMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = Counter("kubesim_apiserver_request_total",
                                "API requests answered, by verb, resource and HTTP code.",
                                ["verb", "resource", "code"], registry=registry)
        self.duration = Histogram("kubesim_apiserver_request_duration_seconds",
                                  "Time to answer an API request, by verb and resource.",
                                  ["verb", "resource"], buckets=_REQUEST_BUCKETS, registry=registry)
        self.in_flight = Gauge("kubesim_apiserver_current_inflight_requests",
                               "API requests being served right now.", registry=registry)
        self.watchers = Gauge("kubesim_apiserver_registered_watchers", "Client watches open, by resource.",
                              ["resource"], registry=registry)
        self.watch_events = Counter("kubesim_apiserver_watch_events_total",
                                    "Watch events sent to clients, by resource.", ["resource"], registry=registry)
        self.terminated = Counter("kubesim_apiserver_terminated_watchers_total",
                                  "Watches the server ended because the client fell too far behind.",
                                  ["resource"], registry=registry)
        self.store_duration = Histogram("kubesim_apiserver_storage_request_duration_seconds",
                                        "Time the replicated store took to answer, by operation.",
                                        ["operation"], buckets=_STORE_BUCKETS, registry=registry)
        self.rejected = Counter("kubesim_apiserver_rejected_requests_total",
                                "Requests refused before they reached the store, by reason.",
                                ["reason"], registry=registry)
        for reason in REJECT_REASONS:  # known label values start at 0: a quiet cluster shows 0, not no data
            self.rejected.labels(reason)
        self.http_connections = Gauge("kubesim_apiserver_http_connections",
                                      "Open connections to the HTTPS front (kubectl, client libraries).",
                                      registry=registry)
        self.http_rejected = Counter("kubesim_apiserver_http_rejected_total",
                                     "Connections and requests the HTTPS front refused, by reason.",
                                     ["reason"], registry=registry)
        for reason in HTTP_REJECT_REASONS:
            self.http_rejected.labels(reason)
        self.cache_revision = Gauge("kubesim_apiserver_watch_cache_revision",
                                    "The store revision each resource's watch cache reflects.",
                                    ["resource"], registry=registry)
