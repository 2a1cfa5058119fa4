"""The cluster DNS (actors/dns/records.py): the zone built from Services and EndpointSlices, and lookups in it.

The expectations are the Kubernetes DNS specification's (kubernetes/dns
``docs/specification.md``) as CoreDNS's kubernetes plugin answers them, and
glibc's search-list rules for the resolver side.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from actors.controllers.endpoints import plan_endpoint_slices
from actors.dns.records import (
    DEFAULT_TTL_S,
    MAX_SEARCH_DOMAINS,
    NOERROR,
    NXDOMAIN,
    ResolvConf,
    build_zone,
    lookup,
    parse_resolv_conf,
    pod_resolv_conf,
    render_answer,
    render_zone,
    resolve,
    search_candidates,
    search_path,
)
from actors.dns.server import query_problem
from actors.messages import DnsQuery

DOMAIN = "cluster.local"


def svc(name: str, cluster_ip: str | None = "10.96.0.20", ports: list[dict] | None = None, *, ns: str = "demo",
        **spec) -> dict:
    ports = ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP"}]
    out = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "uid": f"u-{name}"},
           "spec": {"type": "ClusterIP", "ports": ports, **spec}}
    if cluster_ip is not None:
        out["spec"]["clusterIP"] = cluster_ip
        out["spec"]["clusterIPs"] = [cluster_ip]
    return out


def ep(ip: str, *, hostname: str | None = None, ready: bool = True) -> dict:
    out = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
    if hostname:
        out["hostname"] = hostname
    return out


def eps(service: str, endpoints: list[dict], ports: list[tuple[str, int]] | None = None, *, ns: str = "demo",
        name: str | None = None) -> dict:
    ports = ports if ports is not None else [("http", 8080)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service}-x1", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}


def data(answer) -> list[tuple[str, str, str]]:
    return [(r.name, r.rtype, r.data) for r in answer.records]


SERVICES = [
    svc("web", "10.96.0.20", [{"name": "http", "port": 80, "protocol": "TCP"},
                              {"name": "metrics", "port": 9100, "protocol": "TCP"}]),
    svc("plain", "10.96.0.21", [{"port": 8080, "protocol": "TCP"}]),
    svc("db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    svc("idle", "None"),
    svc("ext", None, [], type="ExternalName", externalName="www.example.com"),
    svc("alias", None, [], type="ExternalName", externalName="web.demo.svc.cluster.local"),
    svc("api", "10.96.1.5", ns="prod"),
]
SLICES = [
    eps("web", [ep("10.244.1.5")]),
    eps("db", [ep("10.244.1.10", hostname="db-0"), ep("10.244.2.10", hostname="db-1"),
               ep("10.244.3.10", hostname="db-2", ready=False), ep("10.244.3.11")], [("pg", 5432)]),
    eps("idle", [ep("10.244.1.20", ready=False)]),
]
ZONE = build_zone(SERVICES, SLICES)
SEARCH = search_path("demo")


def q(name: str, qtype: str = "A", **kw):
    return resolve(ZONE, name, qtype, search=SEARCH, ndots=5, **kw)


# --- the records ----------------------------------------------------------------------------------

def test_a_service_name_is_an_a_record_for_its_cluster_ip():
    a = lookup(ZONE, "web.demo.svc.cluster.local", "A")
    assert (a.rcode, data(a)) == (NOERROR, [("web.demo.svc.cluster.local.", "A", "10.96.0.20")])
    assert a.records[0].ttl_s == DEFAULT_TTL_S
    assert a.addresses == ("10.96.0.20",) and a.ok


def test_an_existing_name_with_no_record_of_the_type_is_nodata():
    for name, qtype in [("web.demo.svc.cluster.local", "AAAA"), ("web.demo.svc.cluster.local", "CNAME"),
                        ("demo.svc.cluster.local", "A"), ("svc.cluster.local", "A"), ("cluster.local", "A")]:
        a = lookup(ZONE, name, qtype)
        assert (a.rcode, a.records) == (NOERROR, ()), (name, qtype)


@pytest.mark.parametrize("name", [
    "nope.demo.svc.cluster.local", "web.nons.svc.cluster.local", "nons.svc.cluster.local",
    "web.demo.cluster.local", "_tcp.web.demo.svc.cluster.local", "example.com", "idle.demo.svc.cluster.local",
])
def test_unknown_names_are_nxdomain(name):
    a = lookup(ZONE, name, "A")
    assert (a.rcode, a.records) == (NXDOMAIN, ())


def test_named_ports_have_srv_records():
    a = lookup(ZONE, "_http._tcp.web.demo.svc.cluster.local", "SRV")
    assert data(a) == [("_http._tcp.web.demo.svc.cluster.local.", "SRV", "0 100 80 web.demo.svc.cluster.local.")]
    assert [(r.name, r.data) for r in a.additional] == [("web.demo.svc.cluster.local.", "10.96.0.20")]
    assert data(lookup(ZONE, "_metrics._tcp.web.demo.svc.cluster.local", "SRV"))[0][2] == (
        "0 100 9100 web.demo.svc.cluster.local.")
    assert lookup(ZONE, "_http._udp.web.demo.svc.cluster.local", "SRV").rcode == NXDOMAIN
    # The service name itself answers SRV for every port, the weight shared as CoreDNS shares it.
    assert [r.data for r in lookup(ZONE, "web.demo.svc.cluster.local", "SRV").records] == [
        "0 50 80 web.demo.svc.cluster.local.", "0 50 9100 web.demo.svc.cluster.local."]


def test_an_unnamed_port_has_no_port_srv_record():
    names = ZONE.names()
    assert not any(n.endswith("plain.demo.svc.cluster.local.") and n.startswith("_") for n in names)
    assert data(lookup(ZONE, "plain.demo.svc.cluster.local", "SRV")) == [
        ("plain.demo.svc.cluster.local.", "SRV", "0 100 8080 plain.demo.svc.cluster.local.")]


def test_a_headless_service_answers_with_its_ready_endpoints():
    a = lookup(ZONE, "db.demo.svc.cluster.local", "A")
    assert a.addresses == ("10.244.1.10", "10.244.2.10", "10.244.3.11")  # db-2 is not ready
    assert data(lookup(ZONE, "db-0.db.demo.svc.cluster.local", "A")) == [
        ("db-0.db.demo.svc.cluster.local.", "A", "10.244.1.10")]
    # An endpoint without a hostname is named by its address with dashes, as CoreDNS names it.
    assert lookup(ZONE, "10-244-3-11.db.demo.svc.cluster.local", "A").addresses == ("10.244.3.11",)
    assert lookup(ZONE, "db-2.db.demo.svc.cluster.local", "A").rcode == NXDOMAIN


def test_a_headless_service_with_no_ready_endpoint_is_nxdomain():
    assert lookup(ZONE, "idle.demo.svc.cluster.local", "A").rcode == NXDOMAIN


def test_headless_srv_records_point_at_each_endpoint():
    a = lookup(ZONE, "_pg._tcp.db.demo.svc.cluster.local", "SRV")
    assert [r.data for r in a.records] == [
        "0 33 5432 10-244-3-11.db.demo.svc.cluster.local.",
        "0 33 5432 db-0.db.demo.svc.cluster.local.",
        "0 33 5432 db-1.db.demo.svc.cluster.local.",
    ]
    assert sorted(r.data for r in a.additional) == ["10.244.1.10", "10.244.2.10", "10.244.3.11"]


def test_headless_srv_uses_the_endpoints_own_port():
    # A named targetPort can resolve to different numbers: the slices group endpoints by port list.
    zone = build_zone([svc("db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP"}])],
                      [eps("db", [ep("10.244.1.10", hostname="db-0")], [("pg", 5432)], name="db-a"),
                       eps("db", [ep("10.244.1.11", hostname="db-1")], [("pg", 6432)], name="db-b")])
    assert [r.data for r in lookup(zone, "_pg._tcp.db.demo.svc.cluster.local", "SRV").records] == [
        "0 50 5432 db-0.db.demo.svc.cluster.local.", "0 50 6432 db-1.db.demo.svc.cluster.local."]


def test_external_name_is_a_cname():
    a = lookup(ZONE, "ext.demo.svc.cluster.local", "A")
    assert (a.rcode, data(a)) == (NOERROR, [("ext.demo.svc.cluster.local.", "CNAME", "www.example.com.")])
    assert a.addresses == ()  # kubesim has no upstream to chase www.example.com with
    # A CNAME into the cluster's zone is followed.
    b = lookup(ZONE, "alias.demo.svc.cluster.local", "A")
    assert data(b) == [("alias.demo.svc.cluster.local.", "CNAME", "web.demo.svc.cluster.local."),
                       ("web.demo.svc.cluster.local.", "A", "10.96.0.20")]
    assert data(lookup(ZONE, "alias.demo.svc.cluster.local", "CNAME")) == [
        ("alias.demo.svc.cluster.local.", "CNAME", "web.demo.svc.cluster.local.")]


def test_an_external_name_that_is_an_ip_gets_no_record():
    zone = build_zone([svc("raw", None, [], type="ExternalName", externalName="192.0.2.1")], [])
    assert lookup(zone, "raw.demo.svc.cluster.local", "A").rcode == NXDOMAIN


def test_ptr_records_for_cluster_ips_and_headless_endpoints():
    assert data(lookup(ZONE, "20.0.96.10.in-addr.arpa", "PTR")) == [
        ("20.0.96.10.in-addr.arpa.", "PTR", "web.demo.svc.cluster.local.")]
    assert data(lookup(ZONE, "10.1.244.10.in-addr.arpa.", "PTR"))[0][2] == "db-0.db.demo.svc.cluster.local."
    assert lookup(ZONE, "99.0.96.10.in-addr.arpa", "PTR").rcode == NXDOMAIN


def test_schema_version_and_pod_records():
    assert data(lookup(ZONE, "dns-version.cluster.local", "TXT")) == [
        ("dns-version.cluster.local.", "TXT", '"1.1.0"')]
    assert lookup(ZONE, "10-244-1-5.demo.pod.cluster.local", "A").addresses == ("10.244.1.5",)
    assert lookup(ZONE, "10-244-1-5.nons.pod.cluster.local", "A").rcode == NXDOMAIN
    assert lookup(ZONE, "not-an-ip.demo.pod.cluster.local", "A").rcode == NXDOMAIN


def test_names_are_case_insensitive():
    assert lookup(ZONE, "WEB.Demo.SVC.cluster.LOCAL", "a").addresses == ("10.96.0.20",)


def test_a_custom_cluster_domain():
    zone = build_zone([svc("web")], [], cluster_domain="kubesim.test.")
    assert lookup(zone, "web.demo.svc.kubesim.test", "A").addresses == ("10.96.0.20",)
    assert lookup(zone, "web.demo.svc.cluster.local", "A").rcode == NXDOMAIN
    assert resolve(zone, "web", search=search_path("demo", "kubesim.test")).addresses == ("10.96.0.20",)


def test_namespaces_can_be_given():
    zone = build_zone([], [], namespaces=["empty"])
    assert (lookup(zone, "empty.svc.cluster.local").rcode, lookup(zone, "other.svc.cluster.local").rcode) == (
        NOERROR, NXDOMAIN)


def test_dual_stack_cluster_ips_answer_a_and_aaaa():
    service = svc("web")
    service["spec"]["clusterIPs"] = ["10.96.0.20", "fd00:10:96::20"]
    zone = build_zone([service], [])
    assert lookup(zone, "web.demo.svc.cluster.local", "AAAA").addresses == ("fd00:10:96::20",)
    assert lookup(zone, "web.demo.svc.cluster.local", "A").addresses == ("10.96.0.20",)


def test_the_zone_is_a_frozen_value_and_renders():
    again = build_zone(list(reversed(SERVICES)), list(reversed(SLICES)))
    assert again == ZONE
    with pytest.raises(dataclasses.FrozenInstanceError):
        ZONE.domain = "other"  # type: ignore[misc]
    text = render_zone(ZONE)
    assert "web.demo.svc.cluster.local.\t30\tIN\tA\t10.96.0.20\n" in text
    assert "db-2" not in text


def test_the_loadbalance_shuffle_only_reorders():
    orders = {lookup(ZONE, "db.demo.svc.cluster.local", "A", rng=random.Random(i)).addresses for i in range(20)}
    assert len(orders) > 1
    assert {tuple(sorted(o)) for o in orders} == {("10.244.1.10", "10.244.2.10", "10.244.3.11")}


# --- the resolver --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, ndots, expected", [
    ("web", 5, ["web.demo.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."]),
    ("web.prod", 5, ["web.prod.demo.svc.cluster.local.", "web.prod.svc.cluster.local.",
                     "web.prod.cluster.local.", "web.prod."]),
    # Four dots is still fewer than five: even this FQDN-looking name goes through the search list first.
    ("web.demo.svc.cluster.local", 5, ["web.demo.svc.cluster.local.demo.svc.cluster.local.",
                                       "web.demo.svc.cluster.local.svc.cluster.local.",
                                       "web.demo.svc.cluster.local.cluster.local.",
                                       "web.demo.svc.cluster.local."]),
    ("web.demo.svc.cluster.local", 4, ["web.demo.svc.cluster.local.",
                                       "web.demo.svc.cluster.local.demo.svc.cluster.local.",
                                       "web.demo.svc.cluster.local.svc.cluster.local.",
                                       "web.demo.svc.cluster.local.cluster.local."]),
    ("web.demo.svc.cluster.local.", 5, ["web.demo.svc.cluster.local."]),
    ("example.com", 1, ["example.com.", "example.com.demo.svc.cluster.local.", "example.com.svc.cluster.local.",
                        "example.com.cluster.local."]),
])
def test_search_candidates_follow_ndots(name, ndots, expected):
    assert search_candidates(name, SEARCH, ndots) == expected


@pytest.mark.parametrize("name, tried, address", [
    ("web", 1, "10.96.0.20"),
    ("web.demo", 2, "10.96.0.20"),
    ("web.demo.svc", 3, "10.96.0.20"),
    ("web.demo.svc.cluster.local", 4, "10.96.0.20"),
    ("web.demo.svc.cluster.local.", 1, "10.96.0.20"),
    ("api.prod", 2, "10.96.1.5"),
    ("db-1.db", 1, "10.244.2.10"),
])
def test_a_pod_in_demo_resolves_short_and_long_names(name, tried, address):
    a = q(name)
    assert (a.rcode, a.addresses, len(a.tried)) == (NOERROR, (address,), tried)
    assert a.qname == a.tried[-1]


def test_a_short_name_from_another_namespace_is_not_found():
    a = q("api")
    assert (a.rcode, a.records) == (NXDOMAIN, ())
    assert a.tried == ("api.demo.svc.cluster.local.", "api.svc.cluster.local.", "api.cluster.local.", "api.")
    assert a.qname == "api."


def test_nodata_does_not_stop_the_search_and_is_what_is_left():
    a = q("web", "AAAA")
    assert (a.rcode, a.records, len(a.tried)) == (NOERROR, (), 4)


def test_unknown_names_are_nxdomain_after_the_whole_search():
    assert q("nope").rcode == NXDOMAIN
    assert q("nope.demo.svc.cluster.local.").rcode == NXDOMAIN


def test_with_enough_dots_the_as_is_outcome_is_reported():
    # ndots 1: "ns.svc" is tried as is first (NXDOMAIN: not in the zone), then the search list, where
    # "ns.svc.cluster.local." exists without an A record; glibc still reports the first query's failure.
    zone = build_zone([svc("web", ns="ns")], [])
    a = resolve(zone, "ns.svc", "A", search=search_path("demo"), ndots=1)
    assert a.tried[0] == "ns.svc." and a.rcode == NXDOMAIN


def test_srv_through_the_search_path():
    a = q("_pg._tcp.db", "SRV")
    assert a.qname == "_pg._tcp.db.demo.svc.cluster.local." and len(a.records) == 3


def test_render_answer_reads_like_dig():
    text = render_answer(q("web"))
    assert ";; ->>HEADER<<- status: NOERROR" in text
    assert ";web.demo.svc.cluster.local.\t\tIN\tA" in text
    assert "web.demo.svc.cluster.local.\t30\tIN\tA\t10.96.0.20" in text
    assert "ANSWER SECTION" not in render_answer(q("nope"))


# --- resolv.conf -----------------------------------------------------------------------------------------

def test_pod_resolv_conf_for_cluster_first():
    conf = pod_resolv_conf("demo", "cluster.local", "10.96.0.10")
    assert conf.render() == (
        "search demo.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n")
    assert parse_resolv_conf(conf.render()) == conf
    assert resolve(ZONE, "web", search=conf.search, ndots=conf.ndots).addresses == ("10.96.0.20",)


def test_pod_resolv_conf_appends_the_nodes_search_domains_and_caps_them():
    conf = pod_resolv_conf("demo", host_search=["corp.example", "cluster.local", *[f"d{i}.example" for i in range(40)]])
    assert conf.search[:4] == ("demo.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example")
    assert len(conf.search) == MAX_SEARCH_DOMAINS


def test_parse_resolv_conf_defaults_and_comments():
    conf = parse_resolv_conf("# generated\nnameserver 10.0.0.1\nnameserver 10.0.0.2 # second\nsearch a b\n")
    assert conf == ResolvConf(nameservers=("10.0.0.1", "10.0.0.2"), search=("a", "b"), ndots=1)


# --- slices as kubesim's EndpointSlice controller writes them ---------------------------------------------------

def test_statefulset_pods_get_hostname_records_from_the_controllers_slices():
    service = svc("db", "None", [{"name": "pg", "port": 5432, "protocol": "TCP", "targetPort": 5432}],
                  selector={"app": "db"})
    pods = [{"metadata": {"name": f"db-{i}", "namespace": "demo", "uid": f"p{i}", "labels": {"app": "db"}},
             "spec": {"hostname": f"db-{i}", "subdomain": "db", "nodeName": "node-1", "containers": [{"name": "c"}]},
             "status": {"phase": "Running", "podIP": f"10.244.1.{10 + i}",
                        "conditions": [{"type": "Ready", "status": "True" if i < 2 else "False"}]}}
            for i in range(3)]
    slices = [dict(s, metadata=dict(s["metadata"], name=f"db-{n}"))
              for n, s in enumerate(plan_endpoint_slices(service, pods, []).create)]
    zone = build_zone([service], slices)
    assert resolve(zone, "db-1.db", search=search_path("demo")).addresses == ("10.244.1.11",)
    assert resolve(zone, "db", search=search_path("demo")).addresses == ("10.244.1.10", "10.244.1.11")
    assert resolve(zone, "db-2.db", search=search_path("demo")).rcode == NXDOMAIN  # not ready yet


@pytest.mark.parametrize("query, problem", [
    (DnsQuery("web"), None),
    (DnsQuery("web", "srv", ("demo.svc.cluster.local",)), None),
    (DnsQuery(""), "name must be 1 to 253 characters"),
    (DnsQuery("x" * 254), "name must be 1 to 253 characters"),
    (DnsQuery("web", "MX"), "unsupported query type 'MX'"),
    (DnsQuery("web", "A", ("",)), "search must be at most 32 non-empty domain names"),
    (DnsQuery("web", "A", (), 16), "ndots must be between 0 and 15"),
])
def test_a_malformed_query_is_refused_with_what_was_wrong(query, problem):
    found = query_problem(query)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem)), found
