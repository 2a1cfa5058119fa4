"""How fast does kubesim's scheduler place pods, end to end and on its own?

The workload is kube-scheduler's own CI floor (``SchedulingBasic``, 5000 nodes,
10,000 pods): its published lower bound is 270 pods/s (Go, many cores). The
target here is the same 270 pods/s end to end, on this machine (2 cores).

One run starts a real control plane on 127.0.0.1 from a temporary cluster file:
three store members (``kubesim child store-N``, fsync on as in the default
cluster; ``--no-fsync`` turns it off), the API server, and ONE scheduler
(``kubesim child scheduler``, component ``scheduler`` with short lease timings,
so it takes the Lease as soon as it starts). Clients are worker processes
(``bench/scheduler_load.py``) using the same ``ApiSession`` every kubesim
component uses, each keeping many creates in flight.

(1) nodes      ``--nodes`` (5000) Node objects (32 cpu, 256Gi, 110 pods each,
               Ready, labelled with their hostname), created from
               ``--clients`` (4) processes x ``--in-flight`` (64) as fast as the
               API server answers; then the scheduler is given time to take
               them into its cache (until its CPU falls quiet).
(2) pods       one watch on pods in the namespace opens, then ``--pods``
               (10,000) Pods (one container requesting 100m cpu / 128Mi) are
               created the same way. For every pod: its creation time (when the
               create's answer reached the client) and its bind time (when the
               watch delivered the event with ``spec.nodeName`` set).
               pods/s = pods bound / (last bind - first bind);
               scheduling latency = bind seen - create answered (p50/p99/max);
               also from the watch's own ADDED event (one clock for both ends).
               Every pod must be bound, within capacity. The CPU the
               scheduler, the API server, the members and the clients used
               meanwhile (from /proc) and the scheduler's own metrics (cycles,
               mean cycle time) are reported.
(3) algorithm  in this process, after the cluster is stopped (the machine is
               quiet): the same Node objects (listed from the API server) and
               the same Pod objects (as the watch delivered them, in that
               order) through what the scheduler runs per pod without I/O — its
               cache's snapshot (``SchedulerCache.node_infos``), the cycle state,
               ``Algorithm.schedule`` with ``default_profile()``, and
               ``SchedulerCache.assume`` of the chosen node. If it is slow it
               stops after ``--algo-seconds`` and reports how many pods it
               scheduled in how long (never extrapolated).

Both rates are compared with the anchor: ratio = pods/s / 270.

``--py-spy FILE`` samples the scheduler process with py-spy during (2) (raw
collapsed stacks in FILE, the hottest functions printed); ``--cprofile FILE``
runs (3) under cProfile (slower: its rate is not comparable then).
``--algo-only`` skips the cluster: (3) on objects built here and defaulted as
the API server would.

Reading the output: one line per measurement (and a progress line every 2 s
while pods are bound), then a summary; the LAST line is one JSON object with
every figure. ``--quick`` takes about 25 s; the default about 50 s on 2 cores
(binding the 10,000 pods takes ~25 s of it at ~430 pods/s; the algorithm alone
then takes ~10 s).

    .venv/bin/python bench/scheduler.py [--quick] [--nodes 5000] [--pods 10000] [--no-fsync]
                                        [--clients 4] [--in-flight 64] [--algo-seconds 120]
                                        [--py-spy FILE] [--cprofile FILE] [--algo-only] [--keep]
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
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter  # noqa: E402

from bench.apiserver import (  # noqa: E402
    CORES,
    MEMBERS,
    ApiBenchCluster,
    Workers,
    metric_delta,
    parse_metrics,
    run_bench,
    say,
)
from bench.apiserver_load import now, percentile  # noqa: E402
from bench.scheduler_load import NODE_SPEC, POD_SPEC, node, pod  # noqa: E402
from bench.store_peers import (  # noqa: E402
    HOST,
    PeerFailed,
    Processes,
    wait_for,
)

ANCHOR_PODS_PER_S = 270.0
"""kube-scheduler's CI floor for SchedulingBasic 5000 nodes / 10,000 pods (published; Go, many cores)."""
SCHEDULER = "scheduler"
"""The process name: the default identity table maps ``scheduler*`` to system:kube-scheduler."""
LEASE = {"lease_duration_s": 5.0, "renew_deadline_s": 4.0, "retry_period_s": 0.5}
NS = "bench"
VENV_BIN = os.path.dirname(sys.executable)


# --- the cluster ------------------------------------------------------------------------------


class SchedulerBenchCluster(ApiBenchCluster):
    """Three store members, the API server and one scheduler, as ``kubesim child`` processes."""

    TMP_PREFIX = "kss-"
    EXTRA_PORTS = 1

    def extra_processes(self) -> dict:
        (self.scheduler_metrics_port,) = self.extra_ports
        return {SCHEDULER: {"component": "scheduler", "metrics_port": self.scheduler_metrics_port,
                            "args": dict(LEASE)}}

    def after_ready(self) -> None:
        # The scheduler starts once the API answers, so the time it takes to lead is its own.
        t1 = time.monotonic()
        self.start_proc(SCHEDULER)

        def leads():
            self.check_alive()
            if self.scheduler_metrics().get(("kubesim_scheduler_is_leader", frozenset())) != 1.0:
                return False
            lease = self.session.run(self.api.get("leases", "kube-scheduler", "kube-system"), timeout_s=5)
            return lease["spec"].get("holderIdentity") == SCHEDULER
        try:
            wait_for("the scheduler to take the lease", leads, self.start_timeout_s, every_s=0.2)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self.tail_logs()}") from None
        self.scheduler_ready_s = time.monotonic() - t1

    def start_worker(self, wid: int, procs: Processes) -> subprocess.Popen:
        log = open(os.path.join(self.tmp, f"worker-{wid}.log"), "ab")
        try:
            return procs.start([sys.executable, os.path.join(_HERE, "scheduler_load.py"), "--config", self.config,
                                "--id", str(wid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               cwd=os.path.dirname(_HERE))
        finally:
            log.close()

    def tail_logs(self, names=None) -> str:
        return super().tail_logs(names or [*MEMBERS, "apiserver", *([SCHEDULER] if SCHEDULER in self.procs else [])])

    def scheduler_metrics(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.scheduler_metrics_port}/metrics", timeout=3) as r:
                return parse_metrics(r.read().decode())
        except OSError:
            return {}


class CpuWindow:
    """CPU (% of one core) of every process between two samples of ``cluster.cpu``."""

    def __init__(self, a: dict, b: dict) -> None:
        self.seconds = max(1e-9, b["_t"] - a["_t"])
        self.pct = {k: 100 * (b[k] - a[k]) / self.seconds for k in a if not k.startswith("_machine") and k != "_t"}
        busy = b["_machine"][0] - a["_machine"][0]
        total = b["_machine"][1] - a["_machine"][1]
        self.machine_busy_pct = 100 * busy / total if total else 0.0
        mine = sum(self.pct.values())
        self.others_pct = max(0.0, self.machine_busy_pct * CORES - mine)

    def figures(self) -> dict:
        p = self.pct
        return {
            "scheduler_cpu_pct": round(p.get(SCHEDULER, 0.0)),
            "apiserver_cpu_pct": round(p.get("apiserver", 0.0)),
            "store_cpu_pct": {m: round(p.get(m, 0.0)) for m in MEMBERS},
            "client_processes_cpu_pct": round(p.get("_clients", 0.0)),
            "bench_parent_cpu_pct": round(p.get("_self", 0.0)),
            "other_programs_cpu_pct": round(self.others_pct),
            "machine_busy_pct": round(self.machine_busy_pct),
        }

    def line(self) -> str:
        p = self.pct
        stores = "/".join(f"{p.get(m, 0):.0f}" for m in MEMBERS)
        return (f"CPU (% of a core): scheduler {p.get(SCHEDULER, 0):.0f}, apiserver {p.get('apiserver', 0):.0f}, "
                f"stores {stores}, clients {p.get('_clients', 0) + p.get('_self', 0):.0f}, other programs "
                f"{self.others_pct:.0f}; machine {self.machine_busy_pct:.0f}% busy ({CORES} cores)")


# --- worker plumbing -------------------------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge_creates(results: list[dict]) -> dict:
    """The workers' create reports as one: per object its answer time; rates over first send .. last answer."""
    acks = {n: t for r in results for n, t in zip(r["names"], r["acks"])}
    sent = [t for r in results for t in r["sent"]]
    lat = sorted(a - s for r in results for s, a in zip(r["sent"], r["acks"]))
    errors: Counter = Counter()
    for r in results:
        errors.update(r["errors_by_code"])
    started = min(r["started"] for r in results)
    last = max(acks.values(), default=started)
    return {
        "acks": acks,
        "created": len(acks),
        "errors": sum(errors.values()),
        "errors_by_code": dict(errors),
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "unanswered": sum(r["unanswered"] for r in results),
        "started": started,
        "first_sent": min(sent, default=started),
        "last_ack": last,
        "per_s": round(len(acks) / (last - started), 1) if last > started else 0.0,
        "p50_ms": round(percentile(lat, 50) * 1e3, 1),
        "p99_ms": round(percentile(lat, 99) * 1e3, 1),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
    }


# --- (1) nodes --------------------------------------------------------------------------------


def nodes_phase(cluster: SchedulerBenchCluster, workers: Workers, n: int, in_flight: int) -> dict:
    counts = split(n, workers.n)
    t0 = now() + 0.3
    first = 0
    for i, c in enumerate(counts):
        workers.send(i, {"cmd": "nodes", "first": first, "count": c, "in_flight": in_flight, "t0": t0})
        first += c
    cpu0 = cluster.cpu([p.pid for p in workers.procs])
    results = workers.collect(600, "node creates")
    cpu1 = cluster.cpu([p.pid for p in workers.procs])
    m = merge_creates(results)
    win = CpuWindow(cpu0, cpu1)
    out = {k: v for k, v in m.items() if k != "acks"}
    out.update(win.figures())
    err = f", {m['errors']} errors {m['errors_by_code']} (first: {m['first_error']!r})" if m["errors"] else ""
    say(f"nodes: {m['created']:,} of {n:,} created in {m['last_ack'] - m['started']:.1f} s = {m['per_s']:,.0f}/s "
        f"(create p50 {m['p50_ms']:.0f} ms, p99 {m['p99_ms']:.0f} ms; {workers.n}x{in_flight} in flight{err})")
    say(f"nodes: {win.line()}")
    if m["created"] != n:
        raise PeerFailed(f"only {m['created']} of {n} nodes were created: {m['first_error']}")
    # The scheduler takes the nodes in through its informer; wait until it has digested them (its CPU falls).
    t = now()
    quiet = 0
    prev = cluster.cpu()
    while now() - t < 120 and quiet < 2:
        cluster.pump(0.5)
        cur = cluster.cpu()
        pct = 100 * (cur[SCHEDULER] - prev[SCHEDULER]) / (cur["_t"] - prev["_t"])
        quiet = quiet + 1 if pct < 10 else 0
        prev = cur
    out["scheduler_settle_s"] = round(now() - t, 1)
    say(f"nodes: the scheduler's CPU fell quiet {out['scheduler_settle_s']:.1f} s after the last create "
        f"(its informer has taken the nodes in)")
    return out


# --- (2) pods ---------------------------------------------------------------------------------


class PodWatch:
    """One watch on the namespace's pods: when each was first seen, when it was first seen bound, and where."""

    def __init__(self) -> None:
        self.added: dict[str, float] = {}
        self.objects: dict[str, dict] = {}
        self.bound: dict[str, float] = {}
        self.node: dict[str, str] = {}
        self.errors: list[str] = []
        self.events = 0

    def on_event(self, typ: str, obj: dict) -> None:
        t = now()
        if typ == "ERROR":
            self.errors.append(str(obj.get("message", obj))[:200])
            return
        self.events += 1
        name = obj["metadata"]["name"]
        if name not in self.added:
            self.added[name] = t
            if typ == "ADDED":
                self.objects[name] = obj
        where = (obj.get("spec") or {}).get("nodeName")
        if where and name not in self.bound:
            self.bound[name] = t
            self.node[name] = where


class PySpy:
    """``py-spy record`` on one process, raw collapsed stacks to a file; stopped with SIGINT (it then writes)."""

    def __init__(self, pid: int, path: str, procs: Processes, rate: int = 100) -> None:
        self.path = path
        exe = os.path.join(VENV_BIN, "py-spy")
        self.proc = procs.start([exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                 "--nonblocking", "-o", path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return summarize_stacks(self.path)


def _frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"; line numbers split one function otherwise.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(path.split("/")[-2:])
    return f"{name} ({short})"


def summarize_stacks(path: str, top: int = 25) -> dict:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    self_c: Counter = Counter()
    incl: Counter = Counter()
    total = 0
    try:
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                n = int(count)
                frames = [_frame_name(fr) for fr in stack.split(";") if not fr.startswith("process ")
                          and not fr.startswith("thread ")]
                if not frames:
                    continue
                total += n
                self_c[frames[-1]] += n
                for fr in set(frames):
                    incl[fr] += n
    except OSError:
        return {"samples": 0}
    pct = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {"samples": total,
            "self_pct": {k: pct(v) for k, v in self_c.most_common(top)},
            "inclusive_pct": {k: pct(v) for k, v in incl.most_common(top)}}


def pods_phase(cluster: SchedulerBenchCluster, workers: Workers, n: int, in_flight: int, *, stall_s: float,
               limit_s: float, py_spy: str | None) -> tuple[dict, PodWatch]:
    api, session = cluster.api, cluster.session
    rv = session.run(api.list("pods", NS, limit=1), timeout_s=30)["metadata"]["resourceVersion"]
    w = PodWatch()
    watch = api.watch("pods", NS, resource_version=rv, on_event=w.on_event)
    cluster.pump(0.3)
    pids = [p.pid for p in workers.procs]
    sm0, am0 = cluster.scheduler_metrics(), cluster.metrics()
    spy_procs = Processes()
    spy = PySpy(cluster.procs[SCHEDULER].pid, py_spy, spy_procs) if py_spy else None
    t0 = now() + 0.3
    for i, c in enumerate(split(n, workers.n)):
        workers.send(i, {"cmd": "pods", "count": c, "in_flight": in_flight, "t0": t0, "namespace": NS})
    samples = [(now(), cluster.cpu(pids))]
    got: list[dict | None] = [None] * workers.n
    last_line = now()
    last_bound, last_change = 0, now()
    expected = n
    try:
        while True:
            cluster.pump(0.01)
            for i, r in enumerate(workers.readers):
                if got[i] is None:
                    lines = r.lines(0)
                    if lines:
                        msg = json.loads(lines[0])
                        if "error" in msg:
                            raise PeerFailed(f"worker {i} failed (pod creates): {msg['error']}\n" + workers._tail(i))
                        got[i] = msg
                    elif r.eof or workers.procs[i].poll() is not None:
                        raise PeerFailed(f"worker {i} exited (pod creates)\n" + workers._tail(i))
            t = now()
            if len(w.bound) != last_bound:
                last_bound, last_change = len(w.bound), t
            creating = any(g is None for g in got)
            if not creating:
                expected = sum(len(g["names"]) for g in got)  # type: ignore[index]
                if len(w.bound) >= expected:
                    break
            if t - samples[-1][0] >= 0.5:
                samples.append((t, cluster.cpu(pids)))
                cluster.check_alive()
            if t - last_line >= 2.0:
                last_line = t
                prev = next(s for s in reversed(samples) if s[0] <= t - 1.9) if len(samples) > 4 else samples[0]
                win = CpuWindow(prev[1], samples[-1][1])
                recent = sum(1 for b in w.bound.values() if b > t - 2.0) / 2.0
                sm = cluster.scheduler_metrics()
                active = sm.get(("kubesim_scheduler_pending_pods", frozenset({("queue", "active")})), 0)
                say(f"  t+{t - t0:5.1f}s  seen {len(w.added):6,}  bound {len(w.bound):6,} ({recent:5.0f}/s)  "
                    f"scheduler queue {active:6,.0f}  {win.line()}")
            if not creating and t - last_change > stall_s:
                say(f"  no pod bound for {stall_s:g} s: giving up with {len(w.bound):,} of {expected:,} bound")
                break
            if t - t0 > limit_s:
                say(f"  time limit {limit_s:g} s reached: {len(w.bound):,} of {expected:,} bound")
                break
        samples.append((now(), cluster.cpu(pids)))
        sm1, am1 = cluster.scheduler_metrics(), cluster.metrics()
    finally:
        spy_summary = spy.stop() if spy else None
        spy_procs.__exit__(None, None, None)
        watch.stop()
    if any(g is None for g in got):
        # Creates still running (time limit): wait for the answers so the workers can be reused/stopped.
        rest = workers.collect(120, "pod creates")
        got = [g if g is not None else rest[i] for i, g in enumerate(got)]
    m = merge_creates(got)  # type: ignore[arg-type]
    acks = m.pop("acks")
    binds = sorted(w.bound.values())
    first_bind, last_bind = (binds[0], binds[-1]) if binds else (t0, t0)
    span = last_bind - first_bind
    rate = len(binds) / span if span > 0 else 0.0
    lat = sorted(w.bound[p] - acks[p] for p in w.bound if p in acks)
    lat_added = sorted(w.bound[p] - w.added[p] for p in w.bound if p in w.added)
    # CPU over the bind window: the last sample at or before the first bind .. the first at or after the last.
    s_a = max((s for s in samples if s[0] <= first_bind), key=lambda s: s[0], default=samples[0])
    s_b = min((s for s in samples if s[0] >= last_bind), key=lambda s: s[0], default=samples[-1])
    bind_cpu = CpuWindow(s_a[1], s_b[1])
    create_cpu = CpuWindow(samples[0][1], min((s for s in samples if s[0] >= m["last_ack"]), key=lambda s: s[0],
                                              default=samples[-1])[1])
    per_node = Counter(w.node.values())
    attempts = {r: round(metric_delta(sm0, sm1, "kubesim_scheduler_schedule_attempts_total", result=r))
                for r in ("scheduled", "unschedulable", "error")}
    cyc_n = metric_delta(sm0, sm1, "kubesim_scheduler_scheduling_attempt_duration_seconds_count")
    cyc_s = metric_delta(sm0, sm1, "kubesim_scheduler_scheduling_attempt_duration_seconds_sum")

    def server_ms(verb: str, resource: str) -> float:
        c = metric_delta(am0, am1, "kubesim_apiserver_request_duration_seconds_count", verb=verb, resource=resource)
        s = metric_delta(am0, am1, "kubesim_apiserver_request_duration_seconds_sum", verb=verb, resource=resource)
        return round(1e3 * s / c, 2) if c else 0.0

    out = {
        "pods": n,
        "pods_created": m["created"],
        "create_errors": m["errors"],
        "create_errors_by_code": m["errors_by_code"],
        "first_create_error": m["first_error"],
        "pod_creates_per_s": m["per_s"],
        "pod_create_p50_ms": m["p50_ms"],
        "pod_create_p99_ms": m["p99_ms"],
        "creates_done_after_s": round(m["last_ack"] - m["started"], 2),
        "pods_bound": len(binds),
        "all_bound": len(binds) == m["created"] == n,
        "first_bind_after_s": round(first_bind - m["started"], 3) if binds else None,
        "bind_window_s": round(span, 3),
        "pods_per_s": round(rate, 1),
        "latency_p50_ms": round(percentile(lat, 50) * 1e3, 1),
        "latency_p99_ms": round(percentile(lat, 99) * 1e3, 1),
        "latency_max_ms": round(lat[-1] * 1e3, 1) if lat else 0.0,
        "latency_negative": sum(1 for x in lat if x < 0),
        "latency_from_watch_added_p50_ms": round(percentile(lat_added, 50) * 1e3, 1),
        "latency_from_watch_added_p99_ms": round(percentile(lat_added, 99) * 1e3, 1),
        "nodes_used": len(per_node),
        "max_pods_per_node": max(per_node.values(), default=0),
        "scheduler_attempts": attempts,
        "scheduler_cycles": round(cyc_n),
        "scheduler_cycle_mean_ms": round(1e3 * cyc_s / cyc_n, 2) if cyc_n else 0.0,
        "scheduler_cycle_share_of_bind_window": round(cyc_s / span, 3) if span > 0 else 0.0,
        # The API server labels a binding as a create on pods: the first figure mixes pod creates and bindings.
        "server_mean_ms": {"create pods (creates and bindings)": server_ms("create", "pods"),
                           "create events": server_ms("create", "events")},
        "watch_events": w.events,
        "watch_errors": len(w.errors),
        "first_watch_error": w.errors[0] if w.errors else None,
        "watch_resumes": watch.gaps + watch.restarts,
        "bind_window_cpu": bind_cpu.figures(),
        "create_window_cpu": create_cpu.figures(),
        "client_cpu_s": m["client_cpu_s"],
    }
    if spy_summary is not None:
        out["py_spy"] = spy_summary
    say(f"pods: {m['created']:,} of {n:,} created in {out['creates_done_after_s']:.1f} s = {m['per_s']:,.0f}/s "
        f"(create p50 {m['p50_ms']:.0f} ms, p99 {m['p99_ms']:.0f} ms; {workers.n}x{in_flight} in flight"
        + (f", {m['errors']} errors {m['errors_by_code']} (first: {m['first_error']!r})" if m["errors"] else "")
        + f"); {create_cpu.line()}")
    say(f"pods: {len(binds):,} bound; first bind {out['first_bind_after_s']} s after the first create, last "
        f"{span:.1f} s later: {rate:,.1f} pods/s; scheduling latency (create answered -> bind seen) p50 "
        f"{out['latency_p50_ms'] / 1e3:.2f} s, p99 {out['latency_p99_ms'] / 1e3:.2f} s, max "
        f"{out['latency_max_ms'] / 1e3:.2f} s ({out['latency_negative']} negative)")
    say(f"pods: placed on {len(per_node):,} nodes, at most {out['max_pods_per_node']} per node; scheduler: "
        f"{attempts['scheduled']:,} scheduled, {attempts['unschedulable']} unschedulable, {attempts['error']} errors, "
        f"mean cycle {out['scheduler_cycle_mean_ms']:.2f} ms (their sum = "
        f"{100 * out['scheduler_cycle_share_of_bind_window']:.0f}% of the bind window); API server mean: "
        f"pod creates and bindings {out['server_mean_ms']['create pods (creates and bindings)']:.1f} ms, event creates "
        f"{out['server_mean_ms']['create events']:.1f} ms")
    say(f"pods: bind window {bind_cpu.line()}; watch: {w.events:,} events, {out['watch_resumes']} resumes, "
        f"{len(w.errors)} errors")
    if spy_summary is not None:
        say(f"py-spy on the scheduler ({spy_summary['samples']:,} samples at 100/s, idle excluded; py-spy's own "
            f"CPU counts as 'other programs' above) -> {py_spy}")
        for k, v in list(spy_summary.get("self_pct", {}).items())[:15]:
            say(f"  self {v:5.1f}%  {k}")
        for k, v in list(spy_summary.get("inclusive_pct", {}).items())[:25]:
            say(f"  incl {v:5.1f}%  {k}")
    return out, w


# --- (3) the algorithm alone ----------------------------------------------------------------------


def local_inputs(nodes: int, pods: int) -> tuple[list[dict], list[dict]]:
    """Nodes and pods as the API server would store them (defaults and admission applied, a uid each)."""
    from actors.apiserver.defaults import apply_defaults
    node_objs = [apply_defaults(node(i)) for i in range(nodes)]
    pod_objs = []
    for i in range(pods):
        p = apply_defaults(pod(f"p-{i % 4}-{i // 4}", NS))
        p["metadata"]["uid"] = f"00000000-0000-4000-8000-{i:012d}"
        pod_objs.append(p)
    return node_objs, pod_objs


def algorithm_phase(nodes: list[dict], pods: list[dict], namespaces: dict[str, dict], *, budget_s: float,
                    cprofile: str | None = None, chunk: int = 1000) -> dict:
    from actors.scheduler.algorithm import Algorithm, FitError
    from actors.scheduler.cache import SchedulerCache
    from actors.scheduler.scheduler import cycle_state, default_profile

    cache = SchedulerCache()
    t = time.perf_counter()
    for n in nodes:
        cache.set_node(n)
    load_s = time.perf_counter() - t
    algorithm = Algorithm(default_profile(), random.Random(1))
    perf = time.perf_counter
    snap_s = sched_s = assume_s = 0.0
    chunks: list[float] = []
    unschedulable = 0
    done = 0
    profiler = None
    if cprofile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    start = chunk_start = perf()
    for p in pods:
        a = perf()
        # As Scheduler._schedule_one builds them for every cycle.
        state = cycle_state(cache, {}, {}, {}, namespaces)  # the informers: no claims, volumes or classes
        infos = cache.node_infos()
        b = perf()
        try:
            result = algorithm.schedule(p, infos, state)
        except FitError:
            unschedulable += 1
            result = None
        c = perf()
        if result is not None:
            cache.assume(p, result.node)
        d = perf()
        snap_s += b - a
        sched_s += c - b
        assume_s += d - c
        done += 1
        if done % chunk == 0:
            chunks.append(d - chunk_start)
            chunk_start = d
        if d - start > budget_s:
            break
    total_s = perf() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(cprofile)
    rate = done / total_s if total_s > 0 else 0.0
    per_node = Counter(cache.assumed.values())
    out = {
        "nodes": len(nodes),
        "pods_given": len(pods),
        "pods_scheduled": done - unschedulable,
        "pods_measured": done,
        "unschedulable": unschedulable,
        "complete": done == len(pods),
        "seconds": round(total_s, 2),
        "pods_per_s": round(rate, 1),
        "mean_ms": round(1e3 * total_s / done, 3) if done else 0.0,
        "snapshot_ms": round(1e3 * snap_s / done, 3) if done else 0.0,
        "schedule_ms": round(1e3 * sched_s / done, 3) if done else 0.0,
        "assume_ms": round(1e3 * assume_s / done, 3) if done else 0.0,
        "per_chunk_pods_per_s": [round(chunk / s, 1) for s in chunks],
        "chunk": chunk,
        "cache_load_s": round(load_s, 2),
        "max_pods_per_node": max(per_node.values(), default=0),
        "cprofile": bool(cprofile),
    }
    note = "" if out["complete"] else f" (stopped after the {budget_s:g} s budget; not extrapolated)"
    say(f"algorithm alone: {done:,} of {len(pods):,} pods on {len(nodes):,} nodes in {total_s:.1f} s = "
        f"{rate:,.1f} pods/s{note}{'; UNDER cProfile' if cprofile else ''}")
    say(f"algorithm alone: per pod {out['mean_ms']:.2f} ms = snapshot (node_infos + cycle state) "
        f"{out['snapshot_ms']:.2f} + schedule {out['schedule_ms']:.2f} + assume {out['assume_ms']:.2f} ms; "
        f"{unschedulable} unschedulable"
        + (f"; per {chunk} pods: " + ", ".join(f"{r:.0f}" for r in out["per_chunk_pods_per_s"]) + " pods/s"
           if chunks else ""))
    if cprofile:
        import io
        import pstats
        buf = io.StringIO()
        pstats.Stats(cprofile, stream=buf).sort_stats("tottime").print_stats(15)
        say("cProfile (tottime), top 15:")
        for line in buf.getvalue().splitlines():
            if line.strip() and (line.lstrip()[0].isdigit() or "ncalls" in line):
                say("  " + line.rstrip())
    return out


# --- main ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    result: dict = {"nodes": args.nodes, "pods": args.pods, "anchor_pods_per_s": ANCHOR_PODS_PER_S,
                    "node_spec": NODE_SPEC, "pod_requests": POD_SPEC}
    e2e = None
    if args.algo_only:
        say(f"--- algorithm alone (no cluster): {args.nodes:,} nodes, {args.pods:,} pods built here")
        nodes, pods = local_inputs(args.nodes, args.pods)
        namespaces = {n: {"metadata": {"name": n}} for n in ("default", "kube-system", "kube-public",
                                                              "kube-node-lease", NS)}
    else:
        with SchedulerBenchCluster(fsync=not args.no_fsync, log_level=args.log_level, keep=args.keep) as cluster:
            say(f"cluster: 3 store members (fsync {'off' if args.no_fsync else 'on'}, data on {cluster.data_fs}), "
                f"the API server answering in {cluster.ready_s:.1f} s, the scheduler leading "
                f"{cluster.scheduler_ready_s:.1f} s after it started (lease {LEASE['lease_duration_s']:g}/"
                f"{LEASE['renew_deadline_s']:g}/{LEASE['retry_period_s']:g} s); store leader {cluster.leader()}; "
                f"logs in {cluster.tmp}")
            cluster.session.run(cluster.api.create({"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NS}}), timeout_s=30)
            with Workers(cluster, args.clients) as workers:
                say(f"--- (1) nodes: {args.nodes:,} Node objects ({NODE_SPEC['cpu']} cpu, {NODE_SPEC['memory']}, "
                    f"{NODE_SPEC['pods']} pods each)")
                result["nodes_phase"] = nodes_phase(cluster, workers, args.nodes, args.in_flight)
                say(f"--- (2) pods: {args.pods:,} Pods ({POD_SPEC['cpu']} cpu / {POD_SPEC['memory']} requests) "
                    f"created as fast as the API takes them; one watch records create -> bind")
                e2e, watch = pods_phase(cluster, workers, args.pods, args.in_flight, stall_s=args.stall_seconds,
                                        limit_s=args.limit_seconds, py_spy=args.py_spy)
            result["pods_phase"] = e2e
            # The algorithm's inputs, untimed: the nodes as stored, the pods as the watch delivered them.
            nodes = cluster.session.run(cluster.api.list("nodes"), timeout_s=120)["items"]
            namespaces = {ns["metadata"]["name"]: ns
                          for ns in cluster.session.run(cluster.api.list("namespaces"), timeout_s=30)["items"]}
            order = sorted(watch.objects, key=lambda name: watch.added[name])
            pods = [watch.objects[name] for name in order]
            cluster.check_alive()
            lease = cluster.session.run(cluster.api.get("leases", "kube-scheduler", "kube-system"), timeout_s=30)
            result["lease_transitions"] = lease["spec"].get("leaseTransitions")
            result["lease_holder_after"] = lease["spec"].get("holderIdentity")
            result["store_leader_after"] = cluster.leader()
            result["data_dir_fs"] = cluster.data_fs
        say("cluster stopped")
    if args.skip_algo:
        algo = None
    else:
        say(f"--- (3) the algorithm alone, in this process: {len(nodes):,} nodes, {len(pods):,} pods "
            f"(budget {args.algo_seconds:g} s)")
        algo = algorithm_phase(nodes, pods, namespaces, budget_s=args.algo_seconds, cprofile=args.cprofile)
        result["algorithm"] = algo

    result["fsync"] = not args.no_fsync
    say("--- summary")
    if e2e is not None:
        r = e2e["pods_per_s"]
        result.update({
            "e2e_pods_per_s": r,
            "e2e_ratio_vs_anchor": round(r / ANCHOR_PODS_PER_S, 3),
            "e2e_target_met": r >= ANCHOR_PODS_PER_S and e2e["all_bound"],
            "all_bound": e2e["all_bound"],
            "pods_bound": e2e["pods_bound"],
            "pods_created": e2e["pods_created"],
            "latency_p50_ms": e2e["latency_p50_ms"],
            "latency_p99_ms": e2e["latency_p99_ms"],
            "scheduler_cpu_pct": e2e["bind_window_cpu"]["scheduler_cpu_pct"],
            "apiserver_cpu_pct": e2e["bind_window_cpu"]["apiserver_cpu_pct"],
            "scheduler_cycle_mean_ms": e2e["scheduler_cycle_mean_ms"],
        })
        say(f"end to end: {r:,.1f} pods/s ({e2e['pods_bound']:,} of {e2e['pods_created']:,} created pods bound; "
            f"{'all' if e2e['all_bound'] else 'NOT ALL'}) = {r / ANCHOR_PODS_PER_S:.3f} x the anchor "
            f"({ANCHOR_PODS_PER_S:g} pods/s): target {'met' if result['e2e_target_met'] else 'MISSED'}; "
            f"latency p50 {e2e['latency_p50_ms'] / 1e3:.2f} s, p99 {e2e['latency_p99_ms'] / 1e3:.2f} s; scheduler "
            f"CPU {e2e['bind_window_cpu']['scheduler_cpu_pct']}% of a core while binding")
    if algo is not None:
        a = algo["pods_per_s"]
        result.update({
            "algo_pods_per_s": a,
            "algo_pods_measured": algo["pods_measured"],
            "algo_seconds": algo["seconds"],
            "algo_complete": algo["complete"],
            "algo_ratio_vs_anchor": round(a / ANCHOR_PODS_PER_S, 3),
        })
        say(f"algorithm alone: {a:,.1f} pods/s over {algo['pods_measured']:,} of {algo['pods_given']:,} pods = "
            f"{a / ANCHOR_PODS_PER_S:.3f} x the anchor" + ("" if algo["complete"] else " (a measured subset)"))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 nodes, 1000 pods (unless --nodes/--pods say)")
    ap.add_argument("--nodes", type=int, help="Node objects (default 5000; 500 with --quick)")
    ap.add_argument("--pods", type=int, help="Pods (default 10000; 1000 with --quick)")
    ap.add_argument("--no-fsync", action="store_true", help="the store members do not fsync their WAL")
    ap.add_argument("--clients", type=int, default=4, help="client processes creating nodes and pods")
    ap.add_argument("--in-flight", type=int, default=64, help="creates in flight per client process")
    ap.add_argument("--algo-seconds", type=float, default=120.0,
                    help="stop the in-process algorithm run after this long (reports what it measured)")
    ap.add_argument("--stall-seconds", type=float, default=60.0, help="give up when no pod is bound for this long")
    ap.add_argument("--limit-seconds", type=float, default=900.0, help="give up on binding after this long")
    ap.add_argument("--py-spy", metavar="FILE", help="sample the scheduler with py-spy during (2) (raw stacks)")
    ap.add_argument("--cprofile", metavar="FILE", help="run (3) under cProfile, stats to FILE")
    ap.add_argument("--algo-only", action="store_true", help="only (3), on objects built here (no cluster)")
    ap.add_argument("--skip-algo", action="store_true", help="no (3)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data, cluster file)")
    ap.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    args.nodes = args.nodes or (500 if args.quick else 5000)
    args.pods = args.pods or (1000 if args.quick else 10000)
    if args.nodes < 1 or args.pods < 1 or args.clients < 1 or args.in_flight < 1 or args.algo_seconds <= 0:
        ap.error("counts and durations must be positive")
    if args.algo_only and args.skip_algo:
        ap.error("--algo-only and --skip-algo leave nothing to do")
    if args.py_spy and not os.path.exists(os.path.join(VENV_BIN, "py-spy")):
        ap.error(f"--py-spy: no py-spy next to {sys.executable} (pip install py-spy)")
    return run_bench(run, args)


if __name__ == "__main__":
    sys.exit(main())
