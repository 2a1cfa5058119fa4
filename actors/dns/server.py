"""The cluster DNS add-on as an actor: CoreDNS's ``kubernetes`` plugin over the bus.

It keeps informers on Services, EndpointSlices and Namespaces, rebuilds its zone
(:func:`actors.dns.records.build_zone`) when they change — at most every
``rebuild_s``, so a rollout that touches a hundred slices costs one rebuild,
as CoreDNS's informer-driven cache would — and answers ``dns.Query`` with
:func:`actors.dns.records.resolve`. Until its informers have synced it
answers nothing but an error, as CoreDNS's ``ready`` plugin keeps it out of
service until then.

Metrics follow CoreDNS's names with kubesim's prefix: requests by type,
responses by rcode, request duration, and the zone's size.
"""

from __future__ import annotations

import random

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from actors.apiserver.client import ApiClient, Informer
from actors.dns.records import (
    AAAA,
    ANY,
    CNAME,
    DEFAULT_CLUSTER_DOMAIN,
    NOERROR,
    NXDOMAIN,
    PTR,
    SRV,
    TXT,
    A,
    Record,
    Zone,
    build_zone,
    resolve,
)
from actors.messages import DnsAnswer, DnsQuery
from bus.messages import Error
from bus.runtime import Actor, Envelope, handles

QTYPES = frozenset({A, AAAA, SRV, PTR, CNAME, TXT, ANY})
MAX_NAME_CHARS = 253
MAX_SEARCH = 32


class DnsMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = Counter("kubesim_dns_requests_total", "Queries answered, by type.", ["type"],
                                registry=registry)
        self.responses = Counter("kubesim_dns_responses_total", "Answers, by rcode (and refused queries).",
                                 ["rcode"], registry=registry)
        for rcode in (NOERROR, NXDOMAIN, "FORMERR", "SERVFAIL"):  # every rcode it answers with, from 0
            self.responses.labels(rcode)
        self.duration = Histogram("kubesim_dns_request_duration_seconds", "Time to answer one query.",
                                  buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
                                  registry=registry)
        self.records = Gauge("kubesim_dns_zone_records", "Records in the zone.", registry=registry)
        self.rebuilds = Counter("kubesim_dns_zone_rebuilds_total", "Zone rebuilds.", registry=registry)


def _wire(records: tuple[Record, ...]) -> tuple:
    return tuple((r.name, r.rtype, r.ttl_s, r.data) for r in records)


def query_problem(msg: DnsQuery) -> str | None:
    """What is wrong with a query, or None (a resolver would refuse to send it)."""
    if not msg.name or len(msg.name) > MAX_NAME_CHARS:
        return f"name must be 1 to {MAX_NAME_CHARS} characters"
    if msg.qtype.upper() not in QTYPES:
        return f"unsupported query type {msg.qtype!r} (one of {', '.join(sorted(QTYPES))})"
    if len(msg.search) > MAX_SEARCH or not all(isinstance(d, str) and d for d in msg.search):
        return f"search must be at most {MAX_SEARCH} non-empty domain names"
    if not 0 <= msg.ndots <= 15:
        return "ndots must be between 0 and 15 (resolv.conf caps it at 15)"
    return None


class DnsServer(Actor):
    """Answers ``dns.Query`` from a zone kept in step with the cluster's Services and EndpointSlices."""

    def __init__(self, name: str, api: ApiClient, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
                 rebuild_s: float = 0.1, seed: int | None = None, metrics: DnsMetrics | None = None) -> None:
        super().__init__(name)
        self.api = api
        self.cluster_domain = cluster_domain
        self.rebuild_s = rebuild_s
        self.rng = random.Random(seed)
        self.metrics = metrics or DnsMetrics()
        self.zone: Zone | None = None
        self._dirty = True
        self.informers: dict[str, Informer] = {}

    def on_start(self) -> None:
        def changed(*_) -> None:
            self._dirty = True

        self.informers = {r: Informer(self.api, r, on_add=changed, on_update=changed, on_delete=changed)
                          for r in ("services", "endpointslices", "namespaces")}
        for informer in self.informers.values():
            informer.start()
        self.call_every(self.rebuild_s, self._rebuild)

    def _rebuild(self) -> None:
        if not self._dirty or not all(i.synced.done() for i in self.informers.values()):
            return
        self._dirty = False
        self.zone = build_zone(self.informers["services"].store.values(),
                               self.informers["endpointslices"].store.values(), cluster_domain=self.cluster_domain,
                               namespaces=self.informers["namespaces"].store.keys())
        self.metrics.rebuilds.inc()
        self.metrics.records.set(sum(len(records) for records in self.zone.records.values()))

    @handles(DnsQuery)
    def on_query(self, msg: DnsQuery, env: Envelope) -> None:
        started = self.clock.perf()
        problem = query_problem(msg)
        if problem is not None:
            self.metrics.responses.labels("FORMERR").inc()
            self.reply(env, Error("bad_request", f"dns.Query: {problem}"))
            return
        if self.zone is None:
            self.metrics.responses.labels("SERVFAIL").inc()
            self.reply(env, Error("unavailable", "the DNS server has not synced with the API server yet"))
            return
        answer = resolve(self.zone, msg.name, msg.qtype.upper(), search=msg.search, ndots=msg.ndots, rng=self.rng)
        self.metrics.requests.labels(answer.qtype).inc()
        self.metrics.responses.labels(answer.rcode).inc()
        self.reply(env, DnsAnswer(answer.rcode, answer.qname, answer.qtype, _wire(answer.records),
                                  _wire(answer.additional), tuple(answer.tried)))
        self.metrics.duration.observe(self.clock.perf() - started)
