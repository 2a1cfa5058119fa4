"""``kubesim proxy rules NODE`` and ``kubesim curl TARGET``: a node's kube-proxy, as a user looks at it.

    kubesim proxy rules node-1              node-1's rules, as iptables-save prints them on a real node
    kubesim curl web -n demo                GET / from the Service web in demo, through a node's kube-proxy
    kubesim curl web.demo:8080/healthz      a port and a path; SERVICE[.NAMESPACE][:PORT][/PATH]
    kubesim curl web.demo:http --count 20   a named port, twenty connections: which pods answered, how often
    kubesim curl 10.96.0.10:53 --node node-2   an address, from node-2

A name is resolved through the cluster DNS first, as a pod in ``-n NAMESPACE``
would resolve it (so ``web`` there, ``web.demo`` from anywhere); with no port
the Service's first port is used (80 for a bare address). The connection is
then opened through the kube-proxy of ``--node`` (by default the first Ready
node by name), which picks an endpoint as iptables would and carries the
request to the pod; the answer says which pod it was. ``--count N`` opens N
connections and tallies the pods, so load balancing (and ClientIP affinity:
``--client-ip``) shows. The exit status is 0 when every connection reached a
pod, 1 when one did not (refused, dropped, nothing there), 2 when the cluster
could not be asked.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from actors.apiserver.status import ApiError
from actors.dns.records import NOERROR
from actors.messages import ProxyConnect, ProxyGetRules, ProxyReply, ProxyRules
from bus.runtime import RemoteError, RequestFailed, UndeliverableError
from kubesim.dig import DNS_ACTOR, query_for, to_answer

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

MAX_COUNT = 10_000
#: How long the CLI waits for one connection's answer (the proxy gives up on a silent pod after 2 s).
CONNECT_WAIT_S = 10.0
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?")


class TargetError(ValueError):
    """A TARGET that is neither SERVICE[.NAMESPACE][:PORT][/PATH] nor ADDRESS[:PORT][/PATH]."""


@dataclass(frozen=True, slots=True)
class Target:
    """What ``kubesim curl`` was asked to reach."""

    host: str
    """A DNS name in lower case, or an IP address in canonical form."""
    port: int | None = None
    port_name: str | None = None
    """A Service port's name (``web:http``)."""
    path: str | None = None
    """The path the target carried (``web/healthz``), if any."""

    @property
    def is_ip(self) -> bool:
        return _is_ip(self.host)


def parse_target(text: str) -> Target:
    """Parse ``[http://]HOST[:PORT][/PATH]``; HOST is a DNS name, an IPv4 address or a bracketed IPv6 one."""
    rest = text.strip()
    if rest.lower().startswith("http://"):
        rest = rest[len("http://"):]
    elif "://" in rest:
        raise TargetError(f"{text!r}: only http:// is spoken")
    path = None
    if "/" in rest:
        rest, tail = rest.split("/", 1)
        path = "/" + tail
    if not rest:
        raise TargetError(f"{text!r}: no service or address")
    if rest.startswith("["):
        host, sep, after = rest[1:].partition("]")
        if not sep or (after and not after.startswith(":")):
            raise TargetError(f"{text!r}: an IPv6 address is written [ADDRESS]:PORT")
        port_text = after[1:] if after else None
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise TargetError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        if rest.count(":") > 1:
            try:
                return Target(str(ipaddress.IPv6Address(rest)), path=path)
            except ValueError:
                raise TargetError(f"{text!r}: write an IPv6 address with a port as [ADDRESS]:PORT") from None
        host, sep, port_text = rest.partition(":")
        port_text = port_text if sep else None
        host = host.lower()
        if not host:
            raise TargetError(f"{text!r}: no service or address before the port")
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            name = host[:-1] if host.endswith(".") else host  # a trailing dot: absolute, no search path
            if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
                raise TargetError(f"{text!r}: {host!r} is neither an IP address nor a DNS name "
                                  "(lower-case letters, digits and '-', dot-separated)") from None
            if all(label.isdigit() for label in name.split(".")):
                raise TargetError(f"{text!r}: {host!r} is not an IP address") from None
    if port_text is None:
        return Target(host, path=path)
    if port_text.isdigit():
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise TargetError(f"{text!r}: port {port} is not between 1 and 65535")
        return Target(host, port=port, path=path)
    if not port_text:
        raise TargetError(f"{text!r}: no port after ':'")
    if not _PORT_NAME.fullmatch(port_text) or port_text.isdigit() or "--" in port_text:
        raise TargetError(f"{text!r}: {port_text!r} is neither a port number nor a port name")
    if _is_ip(host):
        raise TargetError(f"{text!r}: a named port needs a Service name, not an address")
    return Target(host, port_name=port_text, path=path)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def service_of(fqdn: str) -> tuple[str, str] | None:
    """(namespace, service) a DNS answer's name belongs to: ``svc.ns.svc.DOMAIN`` or ``host.svc.ns.svc.DOMAIN``."""
    labels = fqdn.rstrip(".").split(".")
    for i in (0, 1):
        if len(labels) > i + 3 and labels[i + 2] == "svc":
            return labels[i + 1], labels[i]
    return None


def port_for(service: dict, target: Target) -> int:
    """The port to connect to on ``service``'s address: the one named or numbered, else its first.

    Behind a headless Service the answer is a pod, so it is the port's targetPort (when a number).
    """
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    name = f"{(service.get('metadata') or {}).get('namespace')}/{(service.get('metadata') or {}).get('name')}"
    if target.port is not None:
        return target.port
    if not ports:
        raise TargetError(f"Service {name} has no ports")
    chosen = ports[0]
    if target.port_name is not None:
        chosen = next((p for p in ports if p.get("name") == target.port_name), None)
        if chosen is None:
            names = ", ".join(str(p.get("name")) for p in ports if p.get("name")) or "none"
            raise TargetError(f"Service {name} has no port named {target.port_name!r} (named: {names})")
    if spec.get("clusterIP") == "None" and isinstance(chosen.get("targetPort"), int):
        return int(chosen["targetPort"])
    return int(chosen["port"])


def verdict_lines(reply: ProxyReply) -> list[str]:
    """What the rules did, for ``-v``: the verdict, and the chains the packet went through."""
    lines = [f"* {reply.action}: {reply.reason}"]
    if reply.chains:
        lines.append(f"* chains: {' -> '.join(reply.chains)}")
    return lines


def describe(reply: ProxyReply, verbose: bool = False) -> str:
    """One connection's outcome, as a line (or, verbose, with the verdict and chains before it)."""
    lines = verdict_lines(reply) if verbose else []
    if reply.connected:
        who = reply.pod or reply.endpoint_ip
        head = f"HTTP {reply.status} from {who} ({reply.endpoint_ip}:{reply.endpoint_port} on {reply.node})"
        if reply.status == 0:
            head = f"connected to {who} ({reply.endpoint_ip}:{reply.endpoint_port} on {reply.node}), no HTTP answer"
        body = reply.body.strip()
        if "\n" in body:
            lines.append(f"{head}:\n{body}")
        else:
            lines.append(f"{head}: {body}" if body else head)
    else:
        lines.append(f"curl: {reply.error or reply.reason}")
    return "\n".join(lines)


def tally(replies: list[ProxyReply]) -> str:
    """Connections per pod, most first, then the failures by reason."""
    pods = Counter((r.pod or r.endpoint_ip, r.endpoint_ip, r.endpoint_port, r.node) for r in replies if r.connected)
    failures = Counter(r.error or r.reason for r in replies if not r.connected)
    width = len(str(len(replies)))
    lines = [f"--- {len(replies)} connections: {sum(pods.values())} answered by {len(pods)} pod(s), "
             f"{sum(failures.values())} failed"]
    for (pod, ip, port, node), n in sorted(pods.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{n:>{width}}  {pod}  ({ip}:{port} on {node})")
    for why, n in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{n:>{width}}  failed: {why}")
    return "\n".join(lines)


# --- the commands ---------------------------------------------------------------------------------

def add_parsers(sub) -> None:
    p = sub.add_parser("proxy", help="a node's kube-proxy: its rules")
    ops = p.add_subparsers(dest="proxy_command", required=True)
    o = ops.add_parser("rules", help="NODE's service rules, as iptables-save prints them")
    o.add_argument("node")
    for action in ops.choices.values():  # `kubesim proxy rules n --config x.yaml` works too
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    p = sub.add_parser("curl", help="GET from a Service through a node's kube-proxy: which pod answers")
    p.add_argument("target", help="SERVICE[.NAMESPACE][:PORT][/PATH] or ADDRESS[:PORT][/PATH]")
    p.add_argument("-n", "--namespace", default="default", help="resolve names as a pod in this namespace would")
    p.add_argument("--node", help="whose kube-proxy carries the connection (default: the first Ready node)")
    p.add_argument("--path", help="the path to GET (default: the target's, else /)")
    p.add_argument("--count", type=int, default=1, help=f"connections to open, 1 to {MAX_COUNT}; tallied by pod")
    p.add_argument("--client-ip", default="", help="the client's address (ClientIP affinity keys on it; "
                                                   "default: the node's own)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print the rules' verdict and chains")


def _proxy_actor(node: str) -> str:
    return f"{node}.proxy"


def run_proxy(cfg: ClusterConfig, args) -> int:
    from bus import logs
    from kubesim.apiserver import session_for

    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    with session_for(cfg) as s:
        try:
            reply = s.run(s.api.request(_proxy_actor(args.node), ProxyGetRules(), timeout_s=5, retries=1))
        except UndeliverableError:
            print(f"Error: no kube-proxy answers for node {args.node!r} ({_proxy_actor(args.node)} is not on the "
                  "bus: is the node running?)", file=sys.stderr)
            return 2
        except RequestFailed as exc:
            print(f"Error: node {args.node}'s kube-proxy did not answer: {exc}", file=sys.stderr)
            return 2
    assert isinstance(reply, ProxyRules), reply
    sys.stdout.write(reply.text)
    return 0


class _Fail(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


async def _resolve(api, target: Target, namespace: str) -> tuple[str, int, str]:
    """(address, port, what it is) for ``target``: the DNS first for a name, the Service for the port."""
    if target.is_ip:
        return target.host, target.port or 80, target.host
    try:
        answer = to_answer(await api.request(DNS_ACTOR, query_for(target.host, "A", namespace), timeout_s=5))
    except RequestFailed as exc:
        raise _Fail(f"Error: the cluster DNS did not answer: {exc}", 2) from None
    addresses = [r for r in answer.records if r.rtype == "A"]
    if answer.rcode != NOERROR or not addresses:
        aliases = [r.data for r in answer.records if r.rtype == "CNAME"]
        why = f" (an alias of {aliases[0]}, outside the cluster)" if aliases else f" ({answer.rcode})"
        raise _Fail(f"curl: Could not resolve host: {target.host}{why}", 1)
    record = addresses[0]
    owner = service_of(record.name)
    if owner is None:
        return record.data, target.port or 80, record.name.rstrip(".")
    namespace, name = owner
    try:
        service = await api.get("services", name, namespace)
    except ApiError as exc:
        if target.port is None:
            raise _Fail(f"Error: cannot read Service {namespace}/{name} for its port: {exc}", 2) from None
        service = {"spec": {}}
    try:
        port = port_for(service, target)
    except TargetError as exc:
        raise _Fail(f"Error: {exc}", 2) from None
    return record.data, port, f"{namespace}/{name}"


async def _first_ready_node(api) -> str:
    nodes = (await api.list("nodes"))["items"]
    ready = sorted(n["metadata"]["name"] for n in nodes
                   if any(c.get("type") == "Ready" and c.get("status") == "True"
                          for c in (n.get("status") or {}).get("conditions") or []))
    if not ready:
        raise _Fail("Error: no node is Ready to send from; name one with --node", 2)
    return ready[0]


async def _curl(api, args, target: Target) -> int:
    ip, port, what = await _resolve(api, target, args.namespace)
    node = args.node or await _first_ready_node(api)
    path = args.path or target.path or "/"
    if args.verbose:
        print(f"* {target.host} is {what}: connecting to {ip}:{port} through node {node}'s kube-proxy")
    replies: list[ProxyReply] = []
    for _ in range(args.count):
        try:
            reply = await api.request(_proxy_actor(node), ProxyConnect(ip, port, "TCP", path, args.client_ip),
                                      timeout_s=CONNECT_WAIT_S, retries=0)
        except UndeliverableError:
            raise _Fail(f"Error: no kube-proxy answers for node {node!r} ({_proxy_actor(node)} is not on the bus: "
                        "is the node running?)", 2) from None
        except RemoteError as exc:
            raise _Fail(f"Error: node {node}'s kube-proxy refused the request: {exc}", 2) from None
        except RequestFailed as exc:
            raise _Fail(f"Error: node {node}'s kube-proxy did not answer: {exc}", 2) from None
        assert isinstance(reply, ProxyReply), reply
        replies.append(reply)
        if args.verbose:
            print("\n".join(verdict_lines(reply)), flush=True)
        print(describe(reply), file=sys.stdout if reply.connected or args.count > 1 else sys.stderr)
    if args.count > 1:
        print(tally(replies))
    return 0 if all(r.connected for r in replies) else 1


def run_curl(cfg: ClusterConfig, args) -> int:
    from bus import logs
    from kubesim.apiserver import session_for

    if not 1 <= args.count <= MAX_COUNT:
        print(f"Error: --count must be between 1 and {MAX_COUNT}", file=sys.stderr)
        return 2
    if args.path is not None and not args.path.startswith("/"):
        print("Error: --path must start with /", file=sys.stderr)
        return 2
    try:
        target = parse_target(args.target)
    except TargetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    logs.configure("kubesim-cli", "warning", cfg.logging.format)
    with session_for(cfg) as s:
        try:
            return s.run(_curl(s.api, args, target), timeout_s=CONNECT_WAIT_S * args.count + 60)
        except _Fail as exc:
            print(exc, file=sys.stderr)
            return exc.code
        except ApiError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2


COMMANDS = {"proxy": run_proxy, "curl": run_curl}
