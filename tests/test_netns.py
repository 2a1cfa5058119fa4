"""Nothing assumes one host: the control plane and the hollow nodes in two network namespaces.

The control plane (three store members, the API server, the scheduler and
the controller manager) runs in one ``ip netns``, a ``kubesim run nodes
--count 5`` process in another; a veth pair with addresses of its own is the
only way between them, so each namespace has its own loopback. CURVE is on
(a bus beyond loopback needs it); the cluster file and the keys are shared
through the filesystem, as copied files and keys would be on two machines.
The nodes' copy of the file leaves the bus on loopback: the hollow nodes join
only through ``--server <cp address>:<bus port>``, which their supervisor
(``kubesim run nodes``) must hand on to its child. They register,
get podCIDRs, and run a Deployment's pods, whose logs the API server fetches
from their kubelets over the same link.

Needs root (``ip netns add``) and iproute2; skipped when not root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubesim import config
from tests.helpers import ROOT, free_port, kubesim_out, wait_until, write_cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (ip netns add)"),
]

FAST_LEASE = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}
CONTROL_PLANE = ["store-0", "store-1", "store-2", "apiserver", "scheduler", "controller-manager"]
NODES = 5
REPLICAS = 10
GREETING = "hello from the other namespace"

MANIFEST = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: far
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: far
spec:
  replicas: {REPLICAS}
  selector:
    matchLabels: {{app: echo}}
  template:
    metadata:
      labels: {{app: echo}}
    spec:
      containers:
      - name: echo
        image: busybox:1.36
        command: ["sh", "-c", "echo {GREETING}; sleep 3600"]
        resources:
          requests: {{cpu: 50m, memory: 32Mi}}
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


class NetnsCluster:
    """Two namespaces joined by a veth pair; the control plane in one, the hollow nodes in the other."""

    def __init__(self, tmp: Path) -> None:
        pid = os.getpid()
        self.tmp = tmp
        self.cp_ns, self.nodes_ns = f"ks-cp-{pid}", f"ks-nodes-{pid}"
        self.cp_if, self.nodes_if = f"kscp{pid}"[:15], f"ksnd{pid}"[:15]
        subnet = 1 + pid % 250
        self.cp_ip, self.nodes_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
        self.procs: dict[str, tuple[str, subprocess.Popen]] = {}
        self.config: Path | None = None
        """The cluster file; the control plane's processes and the CLI use it."""
        self.nodes_config: Path | None = None
        """A copy for the nodes' machine, its bus address left on loopback: `--server` says where to go."""
        self.bus_port = 0

    # The network ------------------------------------------------------------------
    def make_network(self) -> None:
        for ns in (self.cp_ns, self.nodes_ns):
            _ip("netns", "add", ns)
        # Created straight inside the namespaces: the names never appear in the host's.
        _ip("link", "add", self.cp_if, "netns", self.cp_ns, "type", "veth",
            "peer", "name", self.nodes_if, "netns", self.nodes_ns)
        for ns, link, addr in ((self.cp_ns, self.cp_if, self.cp_ip), (self.nodes_ns, self.nodes_if, self.nodes_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", link)
            _ip("-n", ns, "link", "set", link, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def delete_network(self) -> None:
        for ns in (self.cp_ns, self.nodes_ns):
            _ip("netns", "del", ns, check=False)

    # The cluster --------------------------------------------------------------------
    def write_config(self) -> None:
        members = {f"store-{i}": free_port() for i in range(3)}
        processes = {n: {"component": "store"} for n in members}
        processes["apiserver"] = {"component": "apiserver"}
        processes["scheduler"] = {"component": "scheduler", "args": FAST_LEASE}
        processes["controller-manager"] = {"component": "controller-manager", "args": FAST_LEASE}
        self.config = write_cluster(
            self.tmp, processes,
            bus={"host": self.cp_ip},
            security={"curve": True},
            store={"host": "127.0.0.1", "members": members, "data_dir": str(self.tmp / "store"), "fsync": False,
                   "heartbeat_interval_ms": 50, "election_timeout_ms": 500},
            logging={"level": "info"},
        )
        self.bus_port = config.load(self.config).bus.port
        made = kubesim_out("keys", "--config", str(self.config))
        assert made.returncode == 0, made.stderr
        # The nodes' machine has the file with the bus on its own loopback (another port, too): only --server,
        # which the supervisor must hand to its child, leads the hollow nodes to the API server.
        doc = yaml.safe_load(self.config.read_text())
        doc["bus"].update(host="127.0.0.1", port=free_port())
        self.nodes_config = self.tmp / "nodes.yaml"
        self.nodes_config.write_text(yaml.safe_dump(doc))

    def start(self, ns: str, log_name: str, *args: str, config_path: Path | None = None) -> None:
        log = open(self.tmp / f"{log_name}.log", "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # `ip netns exec` execs the command after entering the namespace: the Popen is the kubesim process.
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "kubesim", *args,
                                 "--config", str(config_path or self.config)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[log_name] = (ns, proc)

    def start_all(self) -> None:
        for name in CONTROL_PLANE:
            self.start(self.cp_ns, name, "child", name)
        self.start(self.nodes_ns, "nodes", "run", "nodes", "--count", str(NODES),
                   "--server", f"{self.cp_ip}:{self.bus_port}", config_path=self.nodes_config)

    def in_ns(self, ns: str, argv: list[str], timeout_s: float = 60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, env=dict(os.environ, PYTHONUNBUFFERED="1"), **kw)

    def cli(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
        """The kubesim CLI in the control plane's namespace (as 'admin', the CLI's key under CURVE)."""
        return self.in_ns(self.cp_ns, [sys.executable, "-m", "kubesim", *args, "--config", str(self.config)],
                          timeout_s)

    def get_json(self, *args: str) -> list[dict] | None:
        out = self.cli("get", *args, "-o", "json")
        if out.returncode != 0:
            return None
        doc = json.loads(out.stdout)
        return doc.get("items", [doc])

    def stop_all(self) -> None:
        # The nodes first (their supervisor stops its child), then the control plane.
        for name in ["nodes", *reversed(CONTROL_PLANE)]:
            if name not in self.procs:
                continue
            _, proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Whatever is still in a namespace (a supervisor's child, say) is killed before the namespace goes.
        for ns in (self.nodes_ns, self.cp_ns):
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            wait_until(lambda ns=ns: not _ip("netns", "pids", ns, check=False).stdout.split(), 10,
                       f"the processes in {ns} to end")

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.tmp / f"{name}.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def logs(self) -> str:
        return "\n".join(f"--- {n}.log\n{self.log_tail(n)}" for n in self.procs)


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    c = NetnsCluster(tmp_path_factory.mktemp("netns"))
    try:
        c.make_network()
        c.write_config()
        c.start_all()
        wait_until(lambda: c.get_json("namespaces") is not None, 60, "the API server to answer in its namespace")
        yield c
    finally:
        try:
            c.stop_all()
        finally:
            c.delete_network()


def ready(obj: dict) -> bool:
    return any(x.get("type") == "Ready" and x.get("status") == "True"
               for x in (obj.get("status") or {}).get("conditions") or [])


def _connect(c: NetnsCluster, host: str) -> subprocess.CompletedProcess:
    """A TCP connect to ``host:<bus port>`` from inside the nodes' namespace; prints 'ok' or the error's name."""
    code = ("import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(({host!r}, {c.bus_port}), timeout=3).close(); print('ok')\n"
            "except OSError as exc:\n"
            "    print(type(exc).__name__)\n")
    return c.in_ns(c.nodes_ns, [sys.executable, "-c", code], timeout_s=30)


def test_the_nodes_namespace_reaches_the_bus_only_over_the_veth(netns):
    # Its own loopback has no broker behind it; the control plane's address has.
    assert _connect(netns, "127.0.0.1").stdout.strip() == "ConnectionRefusedError"
    assert _connect(netns, netns.cp_ip).stdout.strip() == "ok"
    addrs = netns.in_ns(netns.nodes_ns, ["ip", "-o", "addr", "show"]).stdout
    assert netns.nodes_ip in addrs and netns.cp_ip not in addrs


def test_the_hollow_nodes_join_and_become_ready_with_pod_cidrs(netns):
    def nodes() -> list[dict]:
        return netns.get_json("nodes") or []

    try:
        wait_until(lambda: len(nodes()) == NODES and all(ready(n) and n["spec"].get("podCIDR") for n in nodes()), 90,
                   f"{NODES} Ready nodes with podCIDRs")
    except AssertionError:
        pytest.fail(f"nodes: {[(n['metadata']['name'], ready(n)) for n in nodes()]}\n{netns.logs()}")
    names = sorted(n["metadata"]["name"] for n in nodes())
    assert names == sorted(f"hollow-node-{i}" for i in range(1, NODES + 1))
    cidrs = [ipaddress.ip_network(n["spec"]["podCIDR"]) for n in nodes()]
    assert len(set(cidrs)) == NODES


def test_the_broker_sees_the_hollow_process_connect_from_the_veth_address(netns):
    """Both ends of the TCP connection, read from each namespace's /proc/PID/net/tcp: in the control plane's, the
    bus port has an established connection from the nodes' address; in the nodes', one to the bus over the veth."""
    bus = (ipaddress.ip_address(netns.cp_ip), netns.bus_port)
    nodes_ip = ipaddress.ip_address(netns.nodes_ip)
    _, apiserver = netns.procs["apiserver"]
    _, supervisor = netns.procs["nodes"]

    def broker_side() -> bool:
        return any(local == bus and remote[0] == nodes_ip for local, remote in _established(apiserver.pid))

    def nodes_side() -> bool:
        return any(local[0] == nodes_ip and remote == bus for local, remote in _established(supervisor.pid))

    wait_until(lambda: broker_side() and nodes_side(), 60, f"a connection from {netns.nodes_ip} to the bus")
    assert not any(remote[0].is_loopback and remote[1] == netns.bus_port for _, remote in
                   _established(supervisor.pid)), "nothing in the nodes' namespace reaches a bus on loopback"


def _established(pid: int) -> list[tuple[tuple[ipaddress.IPv4Address, int], tuple[ipaddress.IPv4Address, int]]]:
    """The established IPv4 TCP connections of the network namespace ``pid`` is in: (local, remote) pairs."""
    pairs = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01":  # ESTABLISHED
            pairs.append((_addr(local), _addr(remote)))
    return pairs


def _addr(hexaddr: str) -> tuple[ipaddress.IPv4Address, int]:
    """/proc/net/tcp's ``0100007F:15B3`` (the IPv4 address in host byte order, little-endian here; hex port)."""
    ip, port = hexaddr.split(":")
    return ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(ip), sys.byteorder)), int(port, 16)


def test_a_deployment_runs_on_the_hollow_nodes_and_its_logs_come_back(netns):
    manifest = netns.tmp / "echo.yaml"
    manifest.write_text(MANIFEST)
    out = netns.cli("apply", "-f", str(manifest))
    assert out.returncode == 0, out.stderr

    def pods() -> list[dict]:
        return netns.get_json("pods", "-n", "far", "-l", "app=echo") or []

    def running() -> bool:
        ps = pods()
        return len(ps) == REPLICAS and all(p["status"].get("phase") == "Running" and p["status"].get("podIP")
                                           for p in ps)

    try:
        wait_until(running, 90, f"{REPLICAS} Running pods with IPs")
    except AssertionError:
        pytest.fail(f"pods: {[(p['metadata']['name'], p['status'].get('phase')) for p in pods()]}\n{netns.logs()}")
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"]) for n in netns.get_json("nodes")}
    placed = [(p["spec"]["nodeName"], p["status"]["podIP"]) for p in pods()]
    assert all(node.startswith("hollow-node-") for node, _ in placed), placed
    assert all(ipaddress.ip_address(ip) in cidrs[node] for node, ip in placed), (placed, cidrs)
    assert len({ip for _, ip in placed}) == REPLICAS, "pod IPs are unique"

    # The API server asks the pod's kubelet, in the other namespace, for the container's log.
    name = pods()[0]["metadata"]["name"]
    out = netns.cli("logs", name, "-n", "far")
    assert out.returncode == 0 and GREETING in out.stdout, (out.stdout, out.stderr)
