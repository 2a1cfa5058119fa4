"""Thousands of nodes: how long until they are Ready, and their pods Running, on the real control plane?

The anchor is KWOK's CI (a real Go apiserver and etcd, kubelets faked by one
controller): 5,000 nodes Ready in under 60 s, then 10,000 pods Running in
under 60 s. The target here is the same, on this machine (2 cores), with
nodes that are not faked: each is a kubelet, a container runtime and a
kube-proxy (kubesim's hollow nodes, ``kubesim run nodes``), registering,
renewing its Lease every 10 s, posting its status and running its pods as
the node components of the default cluster do.

One run starts, from a temporary cluster file, on 127.0.0.1 and at real time
(``time_scale`` 1, so Kubernetes' lease timings are the real ones): three
store members (fsync on, as in the default cluster; ``--no-fsync`` turns it
off), the API server, the scheduler and the controller manager (its cluster
CIDR ``10.128.0.0/9``: room for 32,768 nodes' /24 pod ranges), each as
``kubesim child``. Then:

(1) nodes   the hollow-nodes process (``--nodes``, 5000) starts. A watch on
            nodes records when each registered, got its podCIDR and was
            first Ready. Reported: time from the process's start to all
            Ready (and to all with a podCIDR).
(2) pods    ``--pods`` (10,000) Pods (``registry.k8s.io/pause:3.10``, which
            every node has: no image pull, as KWOK has none; 100m cpu) are
            created by ``--clients`` (4) worker processes x ``--in-flight``
            (64), straight through the API (as ``kwokctl scale pod`` does). A
            watch on pods records when each was created, bound and first
            reported Running. Reported: time from the first create to all
            Running, the create and Running rates, and the pods' own
            creation-to-Running latency (p50/p99).
(3) steady  ``--steady-s`` (300) seconds with nothing to do but what nodes
            do: renew leases, post status. Every Ready=True -> not-True
            transition the node watch sees is a flap (target: 0), counted
            during the pods phase too; the kubelets' failed lease renewals
            are read from the hollow process's /metrics.

For every process: CPU during each phase (% of one core, from /proc) and its
peak memory (``VmHWM``, the high-water mark of its resident set) at the end.
The kubelets' Events are off by default (``--events`` turns them on): KWOK's
faked kubelets write none, and for the scheduler and kubelet work the
comparison is about, 40,000 Event writes would be extra load the anchor does
not carry.

Reading the output: one line per measurement and a progress line every 2 s,
then a summary; the LAST line is one JSON object with every figure.
``--quick`` (500 nodes, 1,000 pods, 20 s steady) takes about a minute.

    .venv/bin/python bench/scale.py [--quick] [--nodes 5000] [--pods 10000] [--steady-s 300] [--events]
                                    [--no-fsync] [--clients 4] [--in-flight 64] [--limit-s 600] [--keep]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path and bench/bus.py
# would shadow the ``bus`` package; import bench.* from the repo root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from bench.apiserver import (  # noqa: E402
    CORES,
    MEMBERS,
    ApiBenchCluster,
    Workers,
    parse_metrics,
    run_bench,
    say,
)
from bench.apiserver_load import now, percentile  # noqa: E402
from bench.podstartup import node_ready, wall_s  # noqa: E402
from bench.scheduler import split  # noqa: E402
from bench.store_peers import HOST, PeerFailed, Processes, wait_for  # noqa: E402

ANCHOR_NODES_READY_S = 60.0
ANCHOR_PODS_RUNNING_S = 60.0
"""KWOK's CI: 5,000 nodes Ready < 60 s, 10,000 pods Running < 60 s (real apiserver and etcd, faked kubelets)."""
LEASE = {"lease_duration_s": 15.0, "renew_deadline_s": 10.0, "retry_period_s": 2.0}
CLUSTER_CIDR = "10.128.0.0/9"
NS = "scale"
HOLLOW = "nodes"
CONTROL = ("scheduler", "controller-manager")


class ScaleCluster(ApiBenchCluster):
    """The control plane as ``kubesim child`` processes, and one hollow-nodes process started on demand."""

    TMP_PREFIX = "ksz-"
    EXTRA_PORTS = len(CONTROL) + 1

    def __init__(self, *, nodes: int, events: bool, **kw) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.events = events

    def extra_processes(self) -> dict:
        self.component_metrics = dict(zip((*CONTROL, HOLLOW), self.extra_ports))
        cm = dict(LEASE, cluster_cidr=CLUSTER_CIDR)
        return {
            "scheduler": {"component": "scheduler", "metrics_port": self.component_metrics["scheduler"],
                          "args": dict(LEASE)},
            "controller-manager": {"component": "controller-manager",
                                   "metrics_port": self.component_metrics["controller-manager"], "args": cm},
            HOLLOW: {"component": "hollow-nodes", "metrics_port": self.component_metrics[HOLLOW],
                     "args": {"count": self.nodes, "record_events": self.events, "cluster_cidr": CLUSTER_CIDR,
                              "node_cidr": "172.16.0.0/12"}},
        }

    def after_ready(self) -> None:
        for name in CONTROL:
            self.start_proc(name)

        def leading():
            self.check_alive()
            holders = []
            for lease in ("kube-scheduler", "kube-controller-manager"):
                obj = self.session.run(self.api.get("leases", lease, "kube-system"), timeout_s=5)
                holders.append(obj["spec"].get("holderIdentity"))
            return holders == list(CONTROL)
        try:
            wait_for("the scheduler and the controller manager to lead", leading, 60, every_s=0.3)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self.tail_logs()}") from None
        self.session.run(self.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
                         timeout_s=10)

    def start_worker(self, wid: int, procs: Processes) -> subprocess.Popen:
        log = open(os.path.join(self.tmp, f"worker-{wid}.log"), "ab")
        try:
            return procs.start([sys.executable, os.path.join(_HERE, "scheduler_load.py"), "--config", self.config,
                                "--id", str(wid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               cwd=os.path.dirname(_HERE))
        finally:
            log.close()

    def tail_logs(self, names=None) -> str:
        return super().tail_logs(names or [n for n in (*MEMBERS, "apiserver", *CONTROL, HOLLOW) if n in self.procs])

    def component_scrape(self, name: str) -> dict:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.component_metrics[name]}/metrics", timeout=5) as r:
                return parse_metrics(r.read().decode())
        except OSError:
            return {}


def peak_rss_mib(pid: int) -> float:
    """The process's resident-set high-water mark (VmHWM), MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def cpu_pct(a: dict, b: dict) -> dict[str, int]:
    """CPU of each process between two ``cluster.cpu`` samples, % of one core; ``machine``: % of all cores."""
    dt = max(1e-9, b["_t"] - a["_t"])
    out = {k: round(100 * (b[k] - a[k]) / dt) for k in a if not k.startswith("_")}
    out["clients"] = round(100 * (b["_clients"] - a["_clients"] + b["_self"] - a["_self"]) / dt)
    busy, total = b["_machine"][0] - a["_machine"][0], b["_machine"][1] - a["_machine"][1]
    out["machine_busy_pct_of_all_cores"] = round(100 * busy / total) if total else 0
    return out


def cpu_line(p: dict) -> str:
    stores = "/".join(str(p.get(m, 0)) for m in MEMBERS)
    return (f"CPU % of a core: nodes {p.get(HOLLOW, 0)}, apiserver {p.get('apiserver', 0)}, stores {stores}, "
            f"scheduler {p.get('scheduler', 0)}, controller-manager {p.get('controller-manager', 0)}, "
            f"clients {p.get('clients', 0)}; machine {p.get('machine_busy_pct_of_all_cores', 0)}% busy ({CORES} cores)")


def ready_condition(obj: dict) -> dict | None:
    """The object's Ready condition (a node's or a pod's), or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


class _Watch:
    """A watch's event handler: what it records per object, and the errors the watch reported."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_event(self, typ: str, obj: dict) -> None:
        if typ == "ERROR":
            self.errors.append(str(obj.get("message", obj))[:200])
        else:
            self.seen_event(typ, obj, now())

    def seen_event(self, typ: str, obj: dict, t: float) -> None:
        raise NotImplementedError


class NodeWatch(_Watch):
    """Every node's registration, podCIDR and Ready times, and its Ready flaps (True, then not True)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, float] = {}
        self.cidr: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.now_ready: dict[str, bool] = {}
        self.flaps: list[tuple[float, str, str]] = []

    def seen_event(self, typ: str, obj: dict, t: float) -> None:
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            self.now_ready.pop(name, None)
            return
        self.seen.setdefault(name, t)
        if (obj.get("spec") or {}).get("podCIDR"):
            self.cidr.setdefault(name, t)
        ready = node_ready(obj)
        if ready:
            self.ready.setdefault(name, t)
        elif self.now_ready.get(name):
            self.flaps.append((t, name, str((ready_condition(obj) or {}).get("status", "?"))))
        self.now_ready[name] = ready

    def ready_count(self) -> int:
        return sum(1 for r in self.now_ready.values() if r)


class PodWatch(_Watch):
    """Every pod's creation, binding and first Running (watch arrival times; creationTimestamp for latency)."""

    def __init__(self) -> None:
        super().__init__()
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.latency_s: list[float] = []
        self.seen_after_s: list[float] = []
        """How long after its kubelet stamped it Ready this watch saw each pod Running (whole-second stamps)."""

    def seen_event(self, typ: str, obj: dict, t: float) -> None:
        name = obj["metadata"]["name"]
        self.added.setdefault(name, t)
        if (obj.get("spec") or {}).get("nodeName"):
            self.bound.setdefault(name, t)
        if (obj.get("status") or {}).get("phase") == "Running" and name not in self.running:
            self.running[name] = t
            created = wall_s(obj["metadata"].get("creationTimestamp"))
            if created is not None:
                # creationTimestamp has whole seconds: the latency is good to a second, as Kubernetes' SLI is.
                self.latency_s.append(time.time() - created)
            ready = ready_condition(obj)
            stamped = wall_s(ready.get("lastTransitionTime")) if ready and ready.get("status") == "True" else None
            if stamped is not None:
                self.seen_after_s.append(time.time() - stamped)


def progress_loop(cluster: ScaleCluster, done, line, *, limit_s: float, what: str, extra_pids=()) -> tuple[bool, dict]:
    """Pump the session until ``done()`` or ``limit_s``; a progress line every 2 s; returns (done, CPU % over the
    phase). A phase cut off by the limit is reported as far as it got, never extrapolated."""
    t0 = now()
    first = prev = cluster.cpu(list(extra_pids))
    last_line = t0
    while not done():
        cluster.pump(0.05)
        t = now()
        if t - last_line >= 2.0:
            cur = cluster.cpu(list(extra_pids))
            say(f"  t+{t - t0:5.1f}s  {line()}  {cpu_line(cpu_pct(prev, cur))}")
            prev, last_line = cur, t
            cluster.check_alive()
        if t - t0 > limit_s:
            say(f"  {what}: not done after {limit_s:g} s: {line()}")
            return False, cpu_pct(first, cluster.cpu(list(extra_pids)))
    return True, cpu_pct(first, cluster.cpu(list(extra_pids)))


def nodes_phase(cluster: ScaleCluster, nw: NodeWatch, n: int, limit_s: float) -> dict:
    t0 = now()
    cluster.start_proc(HOLLOW)
    finished, cpu = progress_loop(
        cluster, lambda: nw.ready_count() >= n and len(nw.cidr) >= n,
        lambda: f"registered {len(nw.seen):5,}  with podCIDR {len(nw.cidr):5,}  Ready {nw.ready_count():5,}",
        limit_s=limit_s, what="nodes")
    if not finished:
        raise PeerFailed(f"only {nw.ready_count():,} of {n:,} nodes Ready with {len(nw.cidr):,} podCIDRs after "
                         f"{limit_s:g} s\n{cluster.tail_logs()}")
    ready_s = max(nw.ready.values()) - t0
    cidr_s = max(nw.cidr.values()) - t0
    say(f"nodes: {n:,} Ready {ready_s:.1f} s after the hollow-nodes process started (all with podCIDRs at "
        f"{cidr_s:.1f} s; first Ready at {min(nw.ready.values()) - t0:.1f} s)")
    say(f"nodes: {cpu_line(cpu)}")
    return {"nodes": n, "nodes_ready_s": round(ready_s, 1), "nodes_with_pod_cidr_s": round(cidr_s, 1),
            "first_node_ready_s": round(min(nw.ready.values()) - t0, 1), "nodes_cpu_pct": cpu,
            "flaps_during_nodes_phase": len(nw.flaps)}


def pods_phase(cluster: ScaleCluster, workers: Workers, pw: PodWatch, nw: NodeWatch, n: int, in_flight: int,
               limit_s: float) -> dict:
    flaps_before = len(nw.flaps)
    t0 = now() + 0.3
    for i, c in enumerate(split(n, workers.n)):
        workers.send(i, {"cmd": "pods", "count": c, "in_flight": in_flight, "t0": t0, "namespace": NS})
    pids = [p.pid for p in workers.procs]
    finished, cpu = progress_loop(
        cluster, lambda: len(pw.running) >= n,
        lambda: f"created {len(pw.added):6,}  bound {len(pw.bound):6,}  Running {len(pw.running):6,}",
        limit_s=limit_s, what="pods", extra_pids=pids)
    cut_at = now()
    results = workers.collect(300, "pod creates")
    created = sum(len(r["names"]) for r in results)
    errors = sum(sum(r["errors_by_code"].values()) for r in results)
    first_sent = min(min(r["sent"], default=t0) for r in results)
    last_ack = max(max(r["acks"], default=t0) for r in results)
    running_s = (max(pw.running.values()) if finished else cut_at) - first_sent
    lat = sorted(pw.latency_s)
    # Where pods waited: watch arrival times of each stage (what this process saw, to the millisecond).
    to_bind = sorted(pw.bound[k] - pw.added[k] for k in pw.bound if k in pw.added)
    to_run = sorted(pw.running[k] - pw.bound[k] for k in pw.running if k in pw.bound)
    seen_after = sorted(pw.seen_after_s)
    kubelets = cluster.component_scrape(HOLLOW)

    def mean_of(metric: str, **labels: str) -> float | None:
        key = frozenset(labels.items())
        count = kubelets.get((f"{metric}_count", key), 0.0)
        return round(kubelets.get((f"{metric}_sum", key), 0.0) / count, 2) if count else None
    out = {
        "pods": n, "pods_created": created, "create_errors": errors,
        "pods_running": len(pw.running), "pods_all_running": finished,
        "pods_running_s": round(running_s, 1),
        "creates_s": round(last_ack - first_sent, 1),
        "creates_per_s": round(created / max(1e-9, last_ack - first_sent), 1),
        "running_per_s": round(len(pw.running) / max(1e-9, running_s), 1),
        "pods_bound": len(pw.bound),
        "last_bound_s": round(max(pw.bound.values(), default=first_sent) - first_sent, 1),
        "pod_startup_p50_s": round(percentile(lat, 50), 1) if lat else None,
        "pod_startup_p99_s": round(percentile(lat, 99), 1) if lat else None,
        "created_to_bound_p50_s": round(percentile(to_bind, 50), 1) if to_bind else None,
        "bound_to_running_p50_s": round(percentile(to_run, 50), 1) if to_run else None,
        "bound_to_running_p99_s": round(percentile(to_run, 99), 1) if to_run else None,
        "ready_stamp_to_seen_p50_s": round(percentile(seen_after, 50), 1) if seen_after else None,
        "ready_stamp_to_seen_p99_s": round(percentile(seen_after, 99), 1) if seen_after else None,
        # Inside the kubelets: first seen to Running computed, and a new pod's first sync.
        "kubelet_pod_start_mean_s": mean_of("kubesim_kubelet_pod_start_duration_seconds"),
        "kubelet_create_sync_mean_s": mean_of("kubesim_kubelet_pod_worker_duration_seconds", operation="create"),
        "pods_cpu_pct": cpu,
        "flaps_during_pods_phase": len(nw.flaps) - flaps_before,
    }
    say(f"pods: {len(pw.running):,} of {n:,} Running {running_s:.1f} s after the first create"
        f"{'' if finished else ' (cut off by --limit-s)'} (created in {out['creates_s']:.1f} s = "
        f"{out['creates_per_s']:,.0f}/s, last bound at {out['last_bound_s']:.1f} s; {errors} create errors); "
        f"creation to Running p50 {out['pod_startup_p50_s']} s, p99 {out['pod_startup_p99_s']} s")
    say(f"pods: seen created to bound p50 {out['created_to_bound_p50_s']} s; bound to Running p50 "
        f"{out['bound_to_running_p50_s']} s, p99 {out['bound_to_running_p99_s']} s; kubelet's Ready stamp to seen "
        f"here p50 {out['ready_stamp_to_seen_p50_s']} s, p99 {out['ready_stamp_to_seen_p99_s']} s (whole-second stamps); "
        f"in the kubelets: first seen to Running mean {out['kubelet_pod_start_mean_s']} s, a new pod's first sync "
        f"mean {out['kubelet_create_sync_mean_s']} s")
    say(f"pods: {cpu_line(cpu)}")
    return out


def steady_phase(cluster: ScaleCluster, nw: NodeWatch, seconds: float) -> dict:
    flaps_before = len(nw.flaps)
    before = cluster.component_scrape(HOLLOW)
    end = now() + seconds
    t0 = now()
    _, cpu = progress_loop(cluster, lambda: now() >= end,
                           lambda: f"Ready {nw.ready_count():5,}  flaps {len(nw.flaps) - flaps_before}",
                           limit_s=seconds + 30, what="steady state")
    took = now() - t0
    after = cluster.component_scrape(HOLLOW)

    def renewals(result: str, m: dict) -> float:
        return m.get(("kubesim_kubelet_lease_renewals_total", frozenset({("result", result)})), 0.0)
    failed = sum(renewals(r, after) - renewals(r, before) for r in ("error", "conflict"))
    ok = renewals("success", after) - renewals("success", before)
    flaps = nw.flaps[flaps_before:]
    say(f"steady: {seconds:g} s at real lease timings: {len(flaps)} NotReady flaps, {ok:,.0f} lease renewals "
        f"({ok / max(1e-9, took):,.0f}/s), {failed:,.0f} failed; {cpu_line(cpu)}")
    for t, name, status in flaps[:10]:
        say(f"  flap: {name} Ready={status}")
    return {"steady_s": seconds, "flaps_steady": len(flaps), "lease_renewals": int(ok),
            "lease_renewals_per_s": round(ok / max(1e-9, took), 1), "lease_renewals_failed": int(failed),
            "steady_cpu_pct": cpu}


def run(args: argparse.Namespace) -> dict:
    nodes = args.nodes or (500 if args.quick else 5000)
    pods = args.pods or (1000 if args.quick else 10000)
    steady = args.steady_s if args.steady_s is not None else (20.0 if args.quick else 300.0)
    say(f"scale: {nodes:,} hollow nodes, {pods:,} pods, {steady:g} s steady state; fsync "
        f"{'off' if args.no_fsync else 'on'}; kubelet Events {'on' if args.events else 'off'}; {CORES} cores")
    with ScaleCluster(nodes=nodes, events=args.events, fsync=not args.no_fsync, keep=args.keep) as cluster:
        if args.keep:
            say(f"cluster files in {cluster.tmp}")
        api = cluster.api
        nw, pw = NodeWatch(), PodWatch()
        rv = cluster.session.run(api.list("nodes", limit=1), timeout_s=30)["metadata"]["resourceVersion"]
        node_watch = api.watch("nodes", "", resource_version=rv, on_event=nw.on_event)
        rv = cluster.session.run(api.list("pods", NS, limit=1), timeout_s=30)["metadata"]["resourceVersion"]
        pod_watch = api.watch("pods", NS, resource_version=rv, on_event=pw.on_event)
        try:
            result = nodes_phase(cluster, nw, nodes, args.limit_s)
            with Workers(cluster, args.clients) as workers:
                result.update(pods_phase(cluster, workers, pw, nw, pods, args.in_flight, args.limit_s))
            result.update(steady_phase(cluster, nw, steady))
            result["peak_rss_mib"] = {name: peak_rss_mib(p.pid) for name, p in cluster.procs.items()}
        finally:
            node_watch.stop()
            pod_watch.stop()
        if nw.errors or pw.errors:
            result["watch_errors"] = (nw.errors + pw.errors)[:5]
    say("peak memory (MiB): " + ", ".join(f"{k} {v:,.0f}" for k, v in result["peak_rss_mib"].items()))
    result["flaps_total"] = result["flaps_during_nodes_phase"] + result["flaps_during_pods_phase"] + result["flaps_steady"]
    result.update(events=args.events, fsync=not args.no_fsync, cores=CORES,
                  anchor_nodes_ready_s=ANCHOR_NODES_READY_S, anchor_pods_running_s=ANCHOR_PODS_RUNNING_S,
                  ratio_nodes_ready=round(ANCHOR_NODES_READY_S / result["nodes_ready_s"], 2),
                  ratio_pods_running=round(ANCHOR_PODS_RUNNING_S / result["pods_running_s"], 2))
    met = result["nodes_ready_s"] < ANCHOR_NODES_READY_S and result["pods_all_running"] \
        and result["pods_running_s"] < ANCHOR_PODS_RUNNING_S and result["flaps_total"] == 0
    result["target_met"] = met
    say(f"summary: {nodes:,} nodes Ready in {result['nodes_ready_s']:.1f} s (KWOK < 60 s: ratio "
        f"{result['ratio_nodes_ready']:.2f}), {result['pods_running']:,} of {pods:,} pods Running in "
        f"{result['pods_running_s']:.1f} s (KWOK: all < 60 s: "
        f"ratio {result['ratio_pods_running']:.2f}), {result['flaps_total']} NotReady flaps "
        f"({result['flaps_steady']} in {steady:g} s steady): target {'met' if met else 'NOT met'}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 nodes, 1,000 pods, 20 s steady state")
    ap.add_argument("--nodes", type=int, help="hollow nodes (default 5000)")
    ap.add_argument("--pods", type=int, help="pods (default 10000)")
    ap.add_argument("--steady-s", type=float, help="seconds of steady state counted for flaps (default 300)")
    ap.add_argument("--events", action="store_true", help="the kubelets record Events (off: as KWOK)")
    ap.add_argument("--no-fsync", action="store_true", help="the store members do not fsync their WAL")
    ap.add_argument("--clients", type=int, default=4, help="pod-creating client processes")
    ap.add_argument("--in-flight", type=int, default=64, help="creates in flight per client process")
    ap.add_argument("--limit-s", type=float, default=600.0,
                    help="end a phase after this long (the pods phase is then reported as far as it got)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data, cluster file)")
    args = ap.parse_args(argv)
    if (args.nodes is not None and args.nodes < 1) or (args.pods is not None and args.pods < 1) or args.clients < 1:
        ap.error("counts must be positive")
    return run_bench(run, args)


if __name__ == "__main__":
    sys.exit(main())
