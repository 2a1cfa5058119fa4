"""Hollow nodes: ``kubesim run nodes --count N`` hosts N complete nodes in one process.

The first tests need no cluster: how ``hollow_process`` makes (or adjusts)
the process from the cluster file and the flags, ``HollowNodesArgs``, the
actors ``add_hollow_nodes`` puts in a runtime, and the CLI refusing the flags
for a process that is not hollow (``kubesim`` processes that exit at once:
none of these tests starts a process that stays up).

The integration tests share one cluster (module fixture): the control plane
(store members, API server, scheduler, controller manager) as ``kubesim
child`` processes, and ``kubesim run nodes --count 20 --prefix hn-`` started
through its supervisor, as a Procfile line would be. Its 20 kubelets register,
get podCIDRs and run a Deployment's pods; each kubelet acts through the API
server as its own node by impersonation, which the last test checks from
the outside: what the process's own identity may and may not do.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from actors.apiserver.client import ApiClient
from actors.apiserver.status import ApiError
from actors.kubelet.kubelet import Kubelet
from actors.proxy.proxy import Proxy
from actors.runtime.server import RuntimeServer
from bus.clock import ManualClock
from bus.runtime import Runtime
from bus.settings import BusSettings
from bus.transport.control import request as control_request
from kubesim import config
from kubesim.config import ConfigError
from kubesim.workers import (
    HOLLOW_NODES_PROCESS,
    HollowNodesArgs,
    add_hollow_nodes,
    hollow_process,
)
from tests.api_cluster import ApiCluster
from tests.helpers import (
    container_identity,
    kubesim,
    kubesim_out,
    ready,
    running_and_ready,
    stop,
    wait_until,
    write_cluster,
)

FAST_LEASE = {"lease_duration_s": 3.0, "renew_deadline_s": 2.0, "retry_period_s": 0.5}
COUNT = 20
PREFIX = "hn-"
NAMES = [f"{PREFIX}{i}" for i in range(1, COUNT + 1)]
ZONE = "topology.kubernetes.io/zone"
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


# --- pure: the process from the file and the flags ------------------------------------------------------------


def cluster_file(tmp_path: Path, **more: dict) -> config.ClusterConfig:
    processes = {"apiserver": {"component": "apiserver"}, "scheduler": {"component": "scheduler"}, **more}
    return config.load(write_cluster(tmp_path, processes))


def args_of(cfg: config.ClusterConfig, name: str = HOLLOW_NODES_PROCESS) -> HollowNodesArgs:
    proc = cfg.process(name)
    assert proc.component == "hollow-nodes"
    return HollowNodesArgs.model_validate(proc.args)


def test_a_nodes_process_is_added_when_the_file_has_none(tmp_path):
    cfg = cluster_file(tmp_path)
    assert HOLLOW_NODES_PROCESS not in cfg.processes
    out = hollow_process(cfg, HOLLOW_NODES_PROCESS, {"count": None, "prefix": None, "first": None}, None)
    assert out.process("nodes").component == "hollow-nodes"
    assert args_of(out).names() == ["hollow-node-1"], "the defaults: one node, hollow-node-1"
    assert set(out.processes) == {*cfg.processes, "nodes"}
    assert (out.bus.host, out.bus.port) == (cfg.bus.host, cfg.bus.port)
    assert HOLLOW_NODES_PROCESS not in cfg.processes, "the config given is left alone"


def test_count_prefix_and_first_flags_are_applied(tmp_path):
    cfg = cluster_file(tmp_path)
    out = hollow_process(cfg, "nodes", {"count": 3, "prefix": "hn-", "first": 7}, None)
    args = args_of(out)
    assert (args.count, args.prefix, args.first) == (3, "hn-", 7)
    assert args.names() == ["hn-7", "hn-8", "hn-9"]


def test_a_declared_hollow_process_keeps_its_args_and_only_the_given_flags_change(tmp_path):
    declared = {"component": "hollow-nodes", "metrics_port": 0,
                "args": {"count": 5, "prefix": "big-", "zones": ["z1", "z2"], "node_cidr": "10.9.0.0/24",
                         "record_events": False}}
    cfg = cluster_file(tmp_path, fleet=declared)
    out = hollow_process(cfg, "fleet", {"count": 2, "prefix": None, "first": None}, None)
    args = args_of(out, "fleet")
    assert (args.count, args.prefix, args.first) == (2, "big-", 1)
    assert (args.zones, args.node_cidr, args.record_events) == (["z1", "z2"], "10.9.0.0/24", False)
    assert HOLLOW_NODES_PROCESS not in out.processes, "no second process: the declared one is used"
    untouched = hollow_process(cfg, "fleet", {}, None)
    assert args_of(untouched, "fleet").names() == [f"big-{i}" for i in range(1, 6)]


def test_server_changes_the_bus_address(tmp_path):
    cfg = cluster_file(tmp_path)
    out = hollow_process(cfg, "nodes", {"count": 2}, "127.0.0.2:6000")
    assert (out.bus.host, out.bus.port) == ("127.0.0.2", 6000)
    assert out.bus_settings().broker_port == 6000
    # Another host's broker only over CURVE, as the file's bus.host would be refused without it.
    with pytest.raises(ConfigError, match="refusing to bind '10.1.2.3': the bus binds 127.0.0.1 unless security.curve"):
        hollow_process(cfg, "nodes", {"count": 2}, "10.1.2.3:6000")
    curve = config.load(write_cluster(tmp_path, {"apiserver": {"component": "apiserver"}}, security={"curve": True}))
    remote = hollow_process(curve, "nodes", {"count": 2}, "10.1.2.3:6000")
    assert (remote.bus.host, remote.bus.port) == ("10.1.2.3", 6000)


@pytest.mark.parametrize("server", ["10.1.2.3", "10.1.2.3:", ":5555", "host:port", "10.1.2.3:99999"])
def test_a_bad_server_is_a_config_error(tmp_path, server):
    cfg = cluster_file(tmp_path)
    with pytest.raises(ConfigError) as err:
        hollow_process(cfg, "nodes", {"count": 2}, server)
    assert "HOST:PORT" in str(err.value) or "bus.port" in str(err.value), str(err.value)


def test_a_declared_process_that_is_not_hollow_is_refused(tmp_path):
    cfg = cluster_file(tmp_path)
    with pytest.raises(ConfigError, match="process 'scheduler' runs component 'scheduler', not hollow-nodes"):
        hollow_process(cfg, "scheduler", {"count": 3}, None)


def test_bad_flag_values_are_refused_as_config_errors(tmp_path):
    cfg = cluster_file(tmp_path)
    with pytest.raises(ConfigError, match=r"processes\.nodes\.args\.count"):
        hollow_process(cfg, "nodes", {"count": -1}, None)
    with pytest.raises(ConfigError, match=r"processes\.nodes\.args\.prefix"):
        hollow_process(cfg, "nodes", {"prefix": "Bad_"}, None)


def test_hollow_args_names_and_address_room():
    assert HollowNodesArgs().names() == ["hollow-node-1"]
    assert HollowNodesArgs(count=3, prefix="x-", first=0).names() == ["x-0", "x-1", "x-2"]
    assert HollowNodesArgs(count=0).names() == []
    # A /30 has four addresses: network, .2 and .3 are for nodes 1 and 2, but .3 is the broadcast address.
    assert HollowNodesArgs(count=1, node_cidr="10.0.0.0/30").names() == ["hollow-node-1"]
    with pytest.raises(ValidationError, match=r"node_cidr 10\.0\.0\.0/30 has too few addresses for nodes 1\.\.2"):
        HollowNodesArgs(count=2, node_cidr="10.0.0.0/30")
    with pytest.raises(ValidationError, match="too few addresses"):
        HollowNodesArgs(count=65_534, node_cidr="172.19.0.0/16")
    HollowNodesArgs(count=65_533, node_cidr="172.19.0.0/16")
    with pytest.raises(ValidationError):
        HollowNodesArgs(node_cidr="not-a-network")
    with pytest.raises(ValidationError):
        HollowNodesArgs(countt=3)  # a misspelt argument is an error


def test_add_hollow_nodes_makes_complete_nodes_that_impersonate_themselves(tmp_path):
    cfg = cluster_file(tmp_path)
    rt = Runtime("nodes", BusSettings(), ManualClock(), seed=1)
    args = HollowNodesArgs(count=4, prefix="hn-", zones=["a", "b", "c"])
    add_hollow_nodes(rt, args, cfg, "nodes")
    actors = {a.name: a for a in rt._actors.values()}
    shared = actors["nodes.api"]
    assert isinstance(shared, ApiClient) and shared.impersonate is None
    kubelets, proxies = {}, []
    for i, name in enumerate(args.names(), start=1):
        api, kubelet, proxy = actors[f"{name}.api"], actors[f"{name}.kubelet"], actors[f"{name}.proxy"]
        assert isinstance(actors[f"{name}.runtime"], RuntimeServer)
        assert isinstance(api, ApiClient)
        assert api.impersonate == {"user": f"system:node:{name}", "groups": ["system:nodes"]}
        assert isinstance(kubelet, Kubelet) and kubelet.api is api
        assert (kubelet.cfg.name, kubelet.cfg.internal_ip, kubelet.cfg.zone) == \
            (name, f"172.19.0.{i + 1}", "abc"[i % 3])
        assert kubelet.cfg.cloud_provider_external is False
        assert isinstance(proxy, Proxy) and proxy.api is None and proxy.shared
        assert proxy.node_ips == (kubelet.cfg.internal_ip,)
        proxies.append(proxy)
        kubelets[name] = kubelet
    assert len({k.cfg.machine_id for k in kubelets.values()}) == 4
    # The runtime's own bus actor, the shared client, the informers' starter, and four per node.
    per_node = [f"{n}.{a}" for n in args.names() for a in ("api", "runtime", "kubelet", "proxy")]
    assert sorted(actors) == sorted(["nodes.bus", "nodes.api", "nodes.informers", *per_node])
    # One Services and one EndpointSlices informer, of the process's own client, for all the proxies.
    first = proxies[0].informers
    assert sorted(first) == ["endpointslices", "services"] and all(i.client is shared for i in first.values())
    assert all(p.informers[r] is first[r] for p in proxies for r in first)


# --- the CLI (`kubesim` processes that exit at once): the flags only for hollow processes -------------------


@pytest.mark.integration  # a `kubesim` process, which exits
def test_the_cli_refuses_hollow_flags_for_a_process_that_is_not_hollow(tmp_path):
    path = write_cluster(tmp_path, {"apiserver": {"component": "apiserver"}, "scheduler": {"component": "scheduler"}})
    out = kubesim_out("run", "scheduler", "--count", "3", "--config", str(path))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "--count, --prefix, --first and --server are for hollow-nodes processes; 'scheduler' is not one" \
        in out.stderr, out.stderr
    out = kubesim_out("child", "apiserver", "--server", "10.0.0.1:5555", "--config", str(path))
    assert out.returncode == 2 and "'apiserver' is not one" in out.stderr, out.stderr
    # A process name that is neither declared nor `nodes` takes no flags either.
    out = kubesim_out("run", "fleet", "--count", "3", "--config", str(path))
    assert out.returncode == 2 and "'fleet' is not one" in out.stderr, out.stderr


@pytest.mark.integration  # a `kubesim` process, which exits
def test_the_cli_refuses_bad_hollow_flags_before_starting_anything(tmp_path):
    path = write_cluster(tmp_path, {"apiserver": {"component": "apiserver"}})
    out = kubesim_out("run", "nodes", "--server", "nowhere", "--config", str(path))
    assert out.returncode == 2 and "--server 'nowhere': expected HOST:PORT" in out.stderr, out.stderr
    out = kubesim_out("run", "nodes", "--count", "-2", "--config", str(path))
    assert out.returncode == 2 and "processes.nodes.args.count" in out.stderr, out.stderr
    assert not (tmp_path / "state" / "run" / "nodes.sock").exists(), "no supervisor was started"


@pytest.mark.integration  # a `kubesim` process, which exits
def test_keys_makes_a_key_for_the_nodes_process(tmp_path):
    path = write_cluster(tmp_path, {"apiserver": {"component": "apiserver"}})
    out = kubesim_out("keys", "--config", str(path))
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "nodes" in out.stdout
    assert (tmp_path / "keys" / "public" / "nodes.key").exists() and \
        (tmp_path / "keys" / "private" / "nodes.key_secret").exists()


# --- integration: 20 hollow nodes in one supervised process ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("hollow"), extra={
        "controller-manager": {"component": "controller-manager", "args": FAST_LEASE},
        "scheduler": {"component": "scheduler", "args": FAST_LEASE},
    }).start_all()
    log = open(c.tmp / "nodes.log", "ab")
    # As a Procfile line runs it: the supervisor, which starts `kubesim child nodes` with the same flags.
    c.supervisor = kubesim("run", "nodes", "--count", str(COUNT), "--prefix", PREFIX, "--config", str(c.config),
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        c.admin = c.session()
        c.wait_ready(c.admin)
        s = c.admin

        def all_ready() -> bool:
            nodes = {n["metadata"]["name"]: n for n in s.run(s.api.list("nodes"))["items"]}
            return all(n in nodes and ready(nodes[n]) and nodes[n]["spec"].get("podCIDR") for n in NAMES)

        try:
            wait_until(all_ready, 60, f"{COUNT} hollow nodes Ready with podCIDRs", step=lambda: s.poll(0.1))
        except AssertionError:
            raise AssertionError(f"{c.log_tail('nodes')}\n---\n{c.log_tail('controller-manager')}") from None
        yield c
    finally:
        stop(c.supervisor, timeout_s=15)
        log.close()
        c.close()


@pytest.mark.integration
def test_the_supervisor_passes_the_flags_to_its_child(cluster):
    reply = control_request(cluster.cfg.control_socket("nodes"), {"command": "status"}, 5.0)
    assert reply["ok"] and reply["state"] == "running" and reply["restarts"] == 0, reply
    argv = Path(f"/proc/{reply['pid']}/cmdline").read_bytes().decode().split("\0")
    assert argv[argv.index("-m") + 1:argv.index("-m") + 4] == ["kubesim", "child", "nodes"], argv
    assert ["--count", str(COUNT)] == argv[argv.index("--count"):argv.index("--count") + 2], argv
    assert ["--prefix", PREFIX] == argv[argv.index("--prefix"):argv.index("--prefix") + 2], argv
    s = cluster.admin
    names = {n["metadata"]["name"] for n in s.run(s.api.list("nodes"))["items"]}
    assert names == set(NAMES), "the child made exactly the flags' nodes (no hollow-node-1)"


@pytest.mark.integration
def test_hollow_nodes_register_with_zones_addresses_cidrs_and_leases(cluster):
    s = cluster.admin
    nodes = {n["metadata"]["name"]: n for n in s.run(s.api.list("nodes"))["items"]}
    zones = ["zone-a", "zone-b", "zone-c"]
    cidrs = set()
    for i, name in enumerate(NAMES, start=1):
        node = nodes[name]
        assert ready(node), node["status"]
        labels = node["metadata"]["labels"]
        assert labels[ZONE] == zones[i % 3], (name, labels)
        assert labels["kubernetes.io/hostname"] == name
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"] == f"172.19.0.{i + 1}", (name, addresses)
        assert not any(t["key"] == UNINITIALIZED for t in node["spec"].get("taints") or []), node["spec"]
        cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        assert cidr.subnet_of(ipaddress.ip_network("10.244.0.0/16")) and cidr.prefixlen == 24, cidr
        cidrs.add(cidr)
        lease = s.run(s.api.get("leases", name, "kube-node-lease"))
        assert lease["spec"]["holderIdentity"] == name, lease["spec"]
    assert len(cidrs) == COUNT, "every node has a block of its own"


@pytest.mark.integration
def test_a_deployment_spreads_over_the_hollow_nodes_and_its_logs_are_served(cluster):
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hollow"}}))
    s.run(s.api.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "hollow"},
        "spec": {"replicas": 40, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                     "name": "nginx", "image": "nginx", "resources": {"requests": {"cpu": "50m"}}}]}}}}))

    def pods() -> list[dict]:
        return s.run(s.api.list("pods", "hollow", label_selector="app=web"))["items"]

    def all_running() -> bool:
        now = pods()
        return len(now) == 40 and all(running_and_ready(p) for p in now)

    wait_until(all_running, 60, "40 Running and Ready pods", step=lambda: s.poll(0.1))
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
             for n in s.run(s.api.list("nodes"))["items"]}
    placed = [(p["spec"]["nodeName"], p["status"]["podIP"]) for p in pods()]
    assert {node for node, _ in placed} <= set(NAMES)
    assert len({node for node, _ in placed}) > 1, placed
    assert all(ipaddress.ip_address(ip) in cidrs[node] for node, ip in placed), (placed, cidrs)
    assert len({ip for _, ip in placed}) == 40, "pod IPs are unique"

    # kubesim logs: the API server asks the hollow kubelet, which reads its runtime's log.
    name = pods()[0]["metadata"]["name"]
    out = cluster.cli("logs", name, "-n", "hollow")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "/docker-entrypoint.sh: Configuration complete; ready for start up" in out.stdout, out.stdout
    assert "[notice] 1#1: start worker processes" in out.stdout, out.stdout


@pytest.mark.integration
def test_restarting_a_hollow_kubelet_keeps_its_containers(cluster):
    s = cluster.admin
    s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "resync"}}))
    node = NAMES[0]
    for name in ("a", "b"):
        s.run(s.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "resync"},
                            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                     "containers": [{"name": "nginx", "image": "nginx"}]}}))

    def pod(name: str) -> dict | None:
        items = s.run(s.api.list("pods", "resync"))["items"]
        return next((p for p in items if p["metadata"]["name"] == name), None)

    wait_until(lambda: all((p := pod(n)) and running_and_ready(p) for n in ("a", "b")), 60,
               f"two Running and Ready pods on {node}", step=lambda: s.poll(0.1))
    before = {n: container_identity(pod(n)) for n in ("a", "b")}
    assert all(restarts == 0 and ip and running for _, restarts, ip, running in before.values()), before

    log = cluster.tmp / "nodes.log"
    seen = log.stat().st_size

    def logged_since() -> list[str]:
        with log.open("rb") as f:
            f.seek(seen)
            return f.read().decode(errors="replace").splitlines()

    def mine(event: str) -> bool:
        return any(event in line and f"node={node} " in line + " " for line in logged_since())

    out = cluster.cli("node", "restart-kubelet", node)
    assert out.returncode == 0, (out.stdout, out.stderr)
    answer = json.loads(out.stdout)
    assert answer["node"] == node and answer["kubelet"] == "restarted" and answer["pods"] >= 2, answer
    wait_until(lambda: mine("node registered"), 20, f"{node}'s fresh kubelet to register",
               step=lambda: s.poll(0.1))
    assert mine("kubelet restarting")
    assert not any("kubelet restarting" in line and f"node={node} " not in line + " " for line in logged_since()), \
        "only that node's kubelet restarted"

    # It re-syncs (a few of its sync periods): the same containers keep running, with the same IPs.
    settle_until = time.monotonic() + 4
    while time.monotonic() < settle_until:
        s.poll(0.1)
        for n in ("a", "b"):
            p = pod(n)
            assert p is not None and running_and_ready(p), p
            assert container_identity(p) == before[n], (n, container_identity(p), before[n])
    assert ready(s.run(s.api.get("nodes", node))), "its lease and status go on"
    s.run(s.api.delete("pods", "a", "resync"))
    wait_until(lambda: pod("a") is None, 30, "the deleted pod gone (the fresh kubelet confirms it)",
               step=lambda: s.poll(0.1))


@pytest.mark.integration
def test_the_process_identity_may_only_impersonate_nodes(cluster):
    # Without CURVE a bus identity is the runtime's name: `nodes-...` authenticates as the hollow-nodes process.
    s = cluster.session(name="nodes-authz")
    with pytest.raises(ApiError) as err:
        s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mine"}}))
    assert err.value.code == 403 and "system:kubesim:hollow-nodes" in err.value.message, err.value.message
    # What its kube-proxies read, it may read as itself.
    assert s.run(s.api.list("endpointslices"))["kind"] == "EndpointSliceList"

    s.api.impersonate = {"user": "system:node:hn-1", "groups": ["system:nodes"]}
    own = s.run(s.api.get("nodes", "hn-1"))
    assert own["metadata"]["name"] == "hn-1"
    other = s.run(s.api.get("nodes", "hn-2"))
    with pytest.raises(ApiError) as err:
        s.run(s.api.update_status(other))
    assert err.value.code == 403 and "hn-2" in err.value.message, err.value.message
    with pytest.raises(ApiError) as err:
        s.run(s.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mine"}}))
    assert err.value.code == 403, err.value.message

    s.api.impersonate = {"user": "system:node:hn-1", "groups": ["system:masters"]}
    with pytest.raises(ApiError) as err:
        s.run(s.api.list("secrets", "kube-system"))
    assert err.value.code == 403 and "impersonate" in err.value.message and "system:masters" in err.value.message, \
        err.value.message
