"""``kubesim dig NAME``: ask the cluster DNS what a pod would get for a name.

    kubesim dig web -n demo             A record of the Service web in namespace demo, as a pod there resolves it
    kubesim dig web.demo.svc.cluster.local
    kubesim dig _http._tcp.web.demo SRV
    kubesim dig db-0.db.demo            a StatefulSet pod behind a headless Service

The query carries the search path of a pod in ``-n NAMESPACE`` (dnsPolicy
ClusterFirst: ``NS.svc.DOMAIN svc.DOMAIN DOMAIN``, ndots 5), so short names
resolve as they do inside the cluster. The answer is printed as ``dig`` prints
it; the exit status is 0 for NOERROR with records, 1 otherwise.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from actors.dns.records import (
    DEFAULT_CLUSTER_DOMAIN,
    NOERROR,
    Answer,
    Record,
    render_answer,
    search_path,
)
from actors.messages import DnsAnswer, DnsQuery
from bus.runtime import RequestFailed

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

DNS_ACTOR = "kube-dns"
"""The DNS server actor's name (the default cluster's ``dns`` process hosts it)."""


def add_parser(sub) -> None:
    p = sub.add_parser("dig", help="resolve a name through the cluster DNS, as a pod would")
    p.add_argument("name")
    p.add_argument("qtype", nargs="?", default="A", help="A (default), SRV, PTR, CNAME, TXT, AAAA or ANY")
    p.add_argument("-n", "--namespace", default="default", help="resolve as a pod in this namespace would")


def query_for(name: str, qtype: str, namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> DnsQuery:
    return DnsQuery(name, qtype.upper(), tuple(search_path(namespace, cluster_domain)), 5)


def to_answer(msg: DnsAnswer) -> Answer:
    def records(rows) -> tuple[Record, ...]:
        return tuple(Record(str(n), str(t), int(ttl), str(d)) for n, t, ttl, d in rows)
    return Answer(msg.rcode, msg.qname, msg.qtype, records(msg.records), records(msg.additional), tuple(msg.tried))


def run(cfg: ClusterConfig, args) -> int:
    from bus import logs
    from kubesim.apiserver import session_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    with session_for(cfg) as s:
        try:
            reply = s.run(s.api.request(DNS_ACTOR, query_for(args.name, args.qtype, args.namespace), timeout_s=5))
        except RequestFailed as exc:
            print(f"Error: the cluster DNS did not answer: {exc}", file=sys.stderr)
            return 2
    answer = to_answer(reply)
    sys.stdout.write(render_answer(answer))
    return 0 if answer.rcode == NOERROR and answer.records else 1
