"""The cluster DNS as a pure value: Services and EndpointSlices in, a zone out, and lookups against it.

Pods find Services by name because the kubelet points their resolv.conf at
the cluster DNS (CoreDNS with its ``kubernetes`` plugin) and gives them a
search path. This module is both halves, without sockets:

- :func:`build_zone` computes the records of the Kubernetes DNS specification
  (kubernetes/dns ``docs/specification.md``, schema 1.1.0) as CoreDNS's
  ``plugin/kubernetes`` serves them: ``svc.ns.svc.<domain>`` A/AAAA to the
  cluster IP, or for a headless Service to each ready endpoint, plus
  ``hostname.svc.ns.svc.<domain>`` per endpoint (the ``hostname`` a StatefulSet
  pod gets, else its IP with dashes); SRV ``_port._proto.svc.ns.svc.<domain>``
  for named ports, weights split as CoreDNS splits them (``floor(100 / n)``,
  priority 0); PTR for cluster IPs and headless endpoints; a CNAME for an
  ExternalName Service; ``a-b-c-d.ns.pod.<domain>`` as ``pods insecure`` answers.
- :func:`lookup` is the server: one exact name, NOERROR with the records,
  NOERROR with none (NODATA) for a name that exists with other types, or
  NXDOMAIN.
- :func:`resolve` is the pod's stub resolver (glibc's ``res_search``): a name
  with fewer than ``ndots`` dots tries the search list first, then itself;
  NODATA moves on to the next candidate as NXDOMAIN does.
- :func:`pod_resolv_conf` is the resolv.conf the kubelet gives a pod with
  dnsPolicy ClusterFirst (``pkg/kubelet/network/dns/dns.go``), written as
  containerd writes it.

Nothing here forwards upstream: a name outside the cluster's zones is NXDOMAIN
(kubesim has no Internet), so an ExternalName answer is the CNAME alone.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
#: The ttl kubeadm's Corefile sets for the kubernetes plugin (the plugin's own default is 5).
DEFAULT_TTL_S = 30
#: What CoreDNS answers for ``dns-version.<domain>`` TXT.
DNS_SCHEMA_VERSION = "1.1.0"
#: The kubelet's ndots for ClusterFirst pods: "web.demo" still goes through the search list first.
DEFAULT_NDOTS = 5
#: The conventional cluster DNS Service IP (kubeadm's 10th address of 10.96.0.0/12).
DEFAULT_NAMESERVER_IP = "10.96.0.10"
#: The kubelet's limit on a pod's search domains (MaxDNSSearchPaths); the rest are dropped.
MAX_SEARCH_DOMAINS = 32
#: How many CNAMEs a lookup follows inside the zone before it gives up.
MAX_CNAME_CHAIN = 8

NOERROR = "NOERROR"
NXDOMAIN = "NXDOMAIN"

A = "A"
AAAA = "AAAA"
SRV = "SRV"
CNAME = "CNAME"
PTR = "PTR"
TXT = "TXT"
ANY = "ANY"


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record, in presentation form."""

    name: str
    """The owner: fully qualified, lower case, with the trailing dot."""
    rtype: str
    ttl_s: int
    data: str
    """The RDATA as a zone file writes it: ``10.96.0.10``, ``0 100 80 web.demo.svc.cluster.local.``, …"""

    def __str__(self) -> str:
        return f"{self.name}\t{self.ttl_s}\tIN\t{self.rtype}\t{self.data}"


@dataclass(frozen=True, slots=True)
class Zone:
    """The records of the cluster's zones (``<domain>.`` and the reverse zones), rebuilt on every change."""

    domain: str
    """The cluster domain, without the trailing dot: ``cluster.local``."""
    ttl_s: int
    namespaces: frozenset[str]
    """Namespaces that exist: ``ns.svc.<domain>`` is NODATA for them, NXDOMAIN for others."""
    records: Mapping[str, tuple[Record, ...]] = field(hash=False)
    """Owner name -> its records, every type."""

    def names(self) -> list[str]:
        return sorted(self.records)


def _fqdn(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def _ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text or "").strip())
    except ValueError:
        return None


def _address_type(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return A if ip.version == 4 else AAAA


def _endpoint_hostname(endpoint: Mapping[str, Any], ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """endpointHostname: the endpoint's hostname, else its address with dashes (the spec's system-assigned name)."""
    hostname = str(endpoint.get("hostname") or "").lower()
    if hostname:
        return hostname
    return str(ip).replace(".", "-").replace(":", "-")


@dataclass(frozen=True, slots=True)
class _Srv:
    port: int
    target: str


class _ZoneBuilder:
    def __init__(self, domain: str, ttl_s: int) -> None:
        self.domain = domain
        self.ttl_s = ttl_s
        self.records: dict[str, dict[tuple[str, str], Record]] = {}
        self.srv: dict[str, set[_Srv]] = {}

    def add(self, owner: str, rtype: str, data: str) -> None:
        # Keyed by (type, data): the same record from two slices is one record.
        self.records.setdefault(owner, {})[(rtype, data)] = Record(owner, rtype, self.ttl_s, data)

    def add_srv(self, owner: str, port: int, target: str) -> None:
        self.srv.setdefault(owner, set()).add(_Srv(port, target))

    def zone(self, namespaces: frozenset[str]) -> Zone:
        for owner, srvs in self.srv.items():
            # CoreDNS gives every record of an answer priority 0 and an equal share of weight 100.
            weight = max(1, math.floor(100 / len(srvs)))
            for s in srvs:
                self.add(owner, SRV, f"0 {weight} {s.port} {s.target}")
        return Zone(domain=self.domain, ttl_s=self.ttl_s, namespaces=namespaces, records=MappingProxyType({
            owner: tuple(sorted(recs.values(), key=_record_order)) for owner, recs in sorted(self.records.items())}))


def _record_order(record: Record) -> tuple:
    ip = _ip(record.data) if record.rtype in (A, AAAA) else None
    return (record.rtype, ip.version if ip else 0, int(ip) if ip else 0, record.data)


def _ready_endpoints(slices: Iterable[Obj]) -> list[tuple[Obj, ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                        list[Obj]]]:
    """(endpoint, address, the slice's ports) for each ready endpoint, slices in name order."""
    out = []
    for slice_ in sorted(slices, key=lambda s: str((s.get("metadata") or {}).get("name") or "")):
        if slice_.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue  # FQDN slices are not addresses
        for endpoint in slice_.get("endpoints") or []:
            # An unset ready condition means ready (EndpointConditions); a not-ready pod is not published.
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for text in endpoint.get("addresses") or []:
                ip = _ip(text)
                if ip is not None:
                    out.append((endpoint, ip, list(slice_.get("ports") or [])))
    return out


def _reverse(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return ip.reverse_pointer + "."


def _add_service(b: _ZoneBuilder, service: Obj, slices: list[Obj]) -> None:
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    name, namespace = str(meta.get("name") or "").lower(), str(meta.get("namespace") or "").lower()
    owner = f"{name}.{namespace}.svc.{b.domain}."
    ports = [p for p in spec.get("ports") or [] if isinstance(p, Mapping)]

    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").strip().lower()
        if target and _ip(target) is None:  # CoreDNS answers only a name here; an IP gets no record
            b.add(owner, CNAME, _fqdn(target))
        return

    cluster_ip = spec.get("clusterIP")
    if cluster_ip in (None, ""):
        return  # not allocated yet: nothing to answer
    if cluster_ip != "None":
        for text in list(spec.get("clusterIPs") or []) or [cluster_ip]:
            ip = _ip(text)
            if ip is None:
                continue
            b.add(owner, _address_type(ip), str(ip))
            b.add(_reverse(ip), PTR, owner)
        for port in ports:
            number = int(port.get("port") or 0)
            protocol = str(port.get("protocol") or "TCP").lower()
            # A bare-name SRV query matches every port (the plugin's wildcard); _port._proto only named ones.
            b.add_srv(owner, number, owner)
            if port.get("name"):
                b.add_srv(f"_{str(port['name']).lower()}._{protocol}.{owner}", number, owner)
        return

    # Headless: the ready endpoints themselves. None ready means no records, so NXDOMAIN, as the spec says.
    for endpoint, ip, slice_ports in _ready_endpoints(slices):
        host = f"{_endpoint_hostname(endpoint, ip)}.{owner}"
        b.add(owner, _address_type(ip), str(ip))
        b.add(host, _address_type(ip), str(ip))
        b.add(_reverse(ip), PTR, host)
        for port in slice_ports:
            number = port.get("port")
            if not isinstance(number, int) or number <= 0:
                continue
            protocol = str(port.get("protocol") or "TCP").lower()
            # The endpoint's own port: a named targetPort may differ from pod to pod.
            b.add_srv(owner, number, host)
            if port.get("name"):
                b.add_srv(f"_{str(port['name']).lower()}._{protocol}.{owner}", number, host)


def build_zone(services: Iterable[Obj], slices: Iterable[Obj], *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
               namespaces: Iterable[str] | None = None, ttl_s: int = DEFAULT_TTL_S) -> Zone:
    """The zone for these Services and EndpointSlices. ``namespaces`` defaults to those the Services are in."""
    domain = cluster_domain.strip().strip(".").lower()
    services = list(services)
    by_service: dict[tuple[str, str], list[Obj]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            by_service.setdefault((str(meta.get("namespace") or ""), str(owner)), []).append(slice_)
    b = _ZoneBuilder(domain, ttl_s)
    b.add(f"dns-version.{domain}.", TXT, f'"{DNS_SCHEMA_VERSION}"')
    for service in services:
        meta = service.get("metadata") or {}
        _add_service(b, service, by_service.get((str(meta.get("namespace") or ""), str(meta.get("name") or "")), []))
    if namespaces is None:
        namespaces = ((s.get("metadata") or {}).get("namespace") or "" for s in services)
    return b.zone(frozenset(str(ns).lower() for ns in namespaces if ns))


# --- the server ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    """A DNS response, reduced to what a client looks at."""

    rcode: str
    """NOERROR or NXDOMAIN. NOERROR with no records is NODATA: the name exists, with no record of that type."""
    qname: str
    """The name answered: after a search, the candidate that succeeded (or the name itself, made absolute)."""
    qtype: str
    records: tuple[Record, ...] = ()
    """The answer section: the CNAME chain first, if any, then the records of the type asked for."""
    additional: tuple[Record, ...] = ()
    """For SRV, the addresses of the targets, so that the client need not ask again."""
    tried: tuple[str, ...] = ()
    """The names queried, in order (the search path expanded)."""

    @property
    def ok(self) -> bool:
        return self.rcode == NOERROR and bool(self.records)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The A and AAAA data of the answer (what getaddrinfo would return)."""
        return tuple(r.data for r in self.records if r.rtype in (A, AAAA))


def _exists_without_records(zone: Zone, name: str) -> bool:
    """Names CoreDNS answers NODATA for: the zone apex, ``svc.``/``pod.``, and the existing namespaces under them."""
    suffix = f"{zone.domain}."
    if name == suffix:
        return True
    if not name.endswith("." + suffix):
        return False
    labels = name[: -len(suffix) - 1].split(".")
    if labels[-1] not in ("svc", "pod"):
        return False
    return len(labels) == 1 or (len(labels) == 2 and labels[0] in zone.namespaces)


def _pod_records(zone: Zone, name: str) -> tuple[Record, ...]:
    """``a-b-c-d.ns.pod.<domain>.`` -> a.b.c.d, for any address, as CoreDNS's ``pods insecure`` mode answers."""
    suffix = f".pod.{zone.domain}."
    if not name.endswith(suffix):
        return ()
    labels = name[: -len(suffix)].split(".")
    if len(labels) != 2 or labels[1] not in zone.namespaces:
        return ()
    ip = _ip(labels[0].replace("-", "."))
    if ip is None or ip.version != 4:
        return ()
    return (Record(name, A, zone.ttl_s, str(ip)),)


def _records_at(zone: Zone, name: str) -> tuple[Record, ...] | None:
    """The records owned by ``name``, () when it exists with none, None when it does not exist."""
    records = zone.records.get(name) or _pod_records(zone, name)
    if records:
        return records
    return () if _exists_without_records(zone, name) else None


def lookup(zone: Zone, name: str, qtype: str = A, *, rng: random.Random | None = None) -> Answer:
    """The server's answer for exactly ``name`` (made absolute); ``rng`` shuffles addresses as ``loadbalance`` does."""
    qname, qtype = _fqdn(name), qtype.upper()
    chain: list[Record] = []
    current = qname
    for _ in range(MAX_CNAME_CHAIN):
        records = _records_at(zone, current)
        if records is None:
            # A CNAME pointing outside the zone (or nowhere) is still a NOERROR answer: the CNAME is the data.
            return Answer(NXDOMAIN if not chain else NOERROR, qname, qtype, tuple(chain))
        cname = next((r for r in records if r.rtype == CNAME), None)
        if cname is None or qtype in (CNAME, ANY):
            break
        chain.append(cname)
        current = cname.data
    else:
        return Answer(NOERROR, qname, qtype, tuple(chain))
    answers = [r for r in records if qtype == ANY or r.rtype == qtype]
    if rng is not None and qtype in (A, AAAA, ANY):
        rng.shuffle(answers)
    additional: list[Record] = []
    if qtype == SRV:
        for target in dict.fromkeys(r.data.split()[-1] for r in answers):
            additional += [r for r in zone.records.get(target, ()) if r.rtype in (A, AAAA)]
    return Answer(NOERROR, qname, qtype, tuple(chain + answers), tuple(additional))


# --- the pod's resolver ----------------------------------------------------------------------------

def search_candidates(name: str, search: Iterable[str] = (), ndots: int = DEFAULT_NDOTS) -> list[str]:
    """The names glibc's res_search queries for ``name``, in order.

    An absolute name (trailing dot) is queried alone. A name with at least
    ``ndots`` dots is tried as it is first, then with each search domain;
    one with fewer goes through the search list first and is tried as it is
    last. That is why ``web`` from namespace ``demo`` finds
    ``web.demo.svc.cluster.local`` on the first query, and why ``example.com``
    costs three NXDOMAINs before its own query.
    """
    name = name.strip().lower()
    if name.endswith("."):
        return [name]
    as_is = name + "."
    expanded = [f"{name}.{domain.strip().strip('.').lower()}." for domain in search if domain.strip().strip(".")]
    return [as_is, *expanded] if name.count(".") >= ndots else [*expanded, as_is]


def resolve(zone: Zone, name: str, qtype: str = A, *, search: Iterable[str] = (), ndots: int = DEFAULT_NDOTS,
            rng: random.Random | None = None) -> Answer:
    """What a pod's resolver gets for ``name``: the first candidate with records, else NODATA or NXDOMAIN.

    As in glibc, a NODATA answer does not end the search; if nothing answers,
    the result is the first-tried as-is name's outcome when it was tried
    first, else NODATA if any candidate had it, else NXDOMAIN.
    """
    clean = name.strip().lower()
    as_is_first = not clean.endswith(".") and clean.count(".") >= ndots
    tried: list[str] = []
    nodata = False
    first: Answer | None = None
    for candidate in search_candidates(clean, search, ndots):
        answer = lookup(zone, candidate, qtype, rng=rng)
        tried.append(candidate)
        if answer.records:
            return replace(answer, tried=tuple(tried))
        first = answer if first is None else first
        nodata = nodata or answer.rcode == NOERROR
    # glibc reports the as-is query's failure when it went first (saved_herrno), else NODATA over NXDOMAIN.
    rcode = first.rcode if as_is_first and first is not None else (NOERROR if nodata else NXDOMAIN)
    return Answer(rcode, _fqdn(clean), qtype.upper(), tried=tuple(tried))


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """A pod's /etc/resolv.conf."""

    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    ndots: int = DEFAULT_NDOTS

    def render(self) -> str:
        """As containerd writes it from the pod's DNSConfig: search, then nameservers, then options."""
        lines = []
        if self.search:
            lines.append("search " + " ".join(self.search))
        lines += [f"nameserver {ns}" for ns in self.nameservers]
        lines.append(f"options ndots:{self.ndots}")
        return "\n".join(lines) + "\n"


def search_path(namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> tuple[str, ...]:
    """The cluster's search domains for a pod in ``namespace``: its namespace's services, all services, the domain."""
    domain = cluster_domain.strip().strip(".").lower()
    return (f"{namespace.lower()}.svc.{domain}", f"svc.{domain}", domain)


def pod_resolv_conf(namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
                    nameserver_ip: str = DEFAULT_NAMESERVER_IP, *, host_search: Iterable[str] = ()) -> ResolvConf:
    """The resolv.conf the kubelet gives a dnsPolicy ClusterFirst pod: the cluster DNS, the cluster's search
    domains before the node's own (``host_search``), ndots 5."""
    search = list(dict.fromkeys([*search_path(namespace, cluster_domain),
                                 *(d.strip().strip(".").lower() for d in host_search if d.strip().strip("."))]))
    return ResolvConf(nameservers=(nameserver_ip,), search=tuple(search[:MAX_SEARCH_DOMAINS]))


def parse_resolv_conf(text: str) -> ResolvConf:
    """Read a resolv.conf back (the last ``search`` line wins, as in glibc; unknown lines are ignored)."""
    nameservers: list[str] = []
    search: tuple[str, ...] = ()
    ndots = 1  # glibc's default when no options line says otherwise
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            nameservers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = tuple(words[1:])
        elif words[0] == "options":
            for option in words[1:]:
                if option.startswith("ndots:") and option[6:].isdigit():
                    ndots = min(int(option[6:]), 15)  # glibc caps ndots at 15
    return ResolvConf(nameservers=tuple(nameservers), search=search, ndots=ndots)


# --- text -----------------------------------------------------------------------------------------

def render_zone(zone: Zone) -> str:
    """Every record, one per line, as a zone file lists them."""
    return "".join(f"{record}\n" for owner in zone.names() for record in zone.records[owner])


def render_answer(answer: Answer) -> str:
    """The answer as ``dig`` prints it (the parts kubesim has)."""
    lines = [f";; ->>HEADER<<- status: {answer.rcode}", "", ";; QUESTION SECTION:",
             f";{answer.qname}\t\tIN\t{answer.qtype}"]
    if answer.records:
        lines += ["", ";; ANSWER SECTION:", *map(str, answer.records)]
    if answer.additional:
        lines += ["", ";; ADDITIONAL SECTION:", *map(str, answer.additional)]
    return "\n".join(lines) + "\n"
