"""How long does a pod take to start on kubesim's default cluster, at 20 pods/s?

Kubernetes' pod startup SLI: the time from a stateless pod's creation to when
all its containers are reported started and observed via watch, *excluding
time to pull images*; its SLO is p99 <= 5 s (sig-scalability's published
SLO, measured by ClusterLoader2's pod-startup-latency test). Target here:
p99 <= 1 s. The published SLO is the anchor: ratio = measured p99 / 5 s (and
/ the 1 s target).

One run starts the default cluster's processes on 127.0.0.1 from a temporary
cluster file, each as ``kubesim child NAME`` (as config/cluster.yaml lists
them, without the demo pair): three store members (fsync on, ``--no-fsync``
turns it off), the API server, the scheduler, the controller manager, the
cloud controller manager, the DNS and three worker nodes (``node-1..3``,
component ``node``: kubelet, container runtime and kube-proxy each; zones
zone-a/b/c; default capacity, 110 pods). The nodes register with the cloud
provider's ``uninitialized`` taint (``cloud_provider_external: true``, as in
the default cluster) and the cloud controller manager lifts it; the run waits
until all three are Ready, untainted and have a podCIDR, and the scheduler
leads.

(1) pre-pull   one pod per node (nodeSelector on its hostname) with the
               benchmark's image, ``registry.k8s.io/pause:3.9`` (0.3 MiB; a
               tagged image, so imagePullPolicy IfNotPresent; not 3.10, the
               runtime's sandbox image, which every node has preloaded), waited
               Running, then deleted and waited gone: each node must have
               pulled it once (its kubelet's pull counter), so the image is in
               every node's cache and the measurement excludes pulls as the SLI
               does. The pulls during (2) are counted and must be 0.
(2) pods       one watch on the namespace's pods (and one on its Events, for
               the per-step split), then plain pods (one pause container,
               requests 10m cpu / 16Mi) created open loop at ``--rate`` (20)
               per second for ``--seconds`` (60; 15 with ``--quick``): the send
               times are fixed in advance (t0 + i / rate) and a create is sent
               on time whatever earlier ones do. Per pod, on this process's
               clock (``time.monotonic``):
                 created   when the create's answer arrived (the API's
                           ``creationTimestamp`` has whole seconds only);
                 scheduled when the watch first showed ``spec.nodeName``;
                 running   when the watch first showed ``status.phase``
                           Running (the pause container started);
               startup latency = running - created (p50/p90/p99/max), split
               into created -> scheduled and scheduled -> running; also
               from the scheduled send time (which includes the create's own
               latency). Scheduled -> Running is split at the kubelet's first
               status write (the watch's first event with ``hostIP``): the
               scheduler's and kubelet's watches and the kubelet's pickup,
               then the start itself (sandbox, container, the Running status
               write) and the watch back. The arrival of the scheduler's
               ``Scheduled`` and the kubelet's ``Started`` Events (a watch on
               the namespace's Events) and what made the slowest 1 % slow are
               printed too. For reference only, the pod's own record:
               ``containerStatuses[].state.running.startedAt`` -
               ``creationTimestamp`` (both whole seconds).
               Nodes hold at most 110 pods, 330 in all, and 1,200 pods would
               not fit: pods are deleted as they go. The ``--window`` (90 =
               30 per node, the pod density of Kubernetes' density/pod-startup
               tests) most recently Running measured pods are kept; once one
               more is Running the oldest is deleted (graceful delete: its
               kubelet kills it, then removes the object), so the nodes run
               a steady ~30 pods each plus those starting and stopping, and
               the run measures startup under churn (creates and deletes at
               20/s each). ``--window 0`` deletes each pod once it is Running.
               A pod not Running within ``--stall-seconds`` of the last send
               (30) is counted as not started.

The CPU every process used during (2) (% of one core, from /proc), what other
programs on the machine used meanwhile, and from /metrics the API server's
mean time per request kind, the scheduler's cycles, and the kubelets' own
pod-start histogram, pod-worker times and status writes are reported; and
the store members' snapshots (a member snapshots synchronously, which stalls
its writes), with when they happened to within a second.

``--py-spy DIR`` samples processes with py-spy during (2) (``--py-spy-procs``,
default apiserver,scheduler,node-1; raw collapsed stacks in DIR/NAME.txt; the
hottest functions printed). py-spy's own CPU shows up as "other programs"
and slows the cluster a little.

Reading the output: one line per measurement (and a progress line every 5 s
while pods are created), then a summary; the LAST line is one JSON object with
every figure. ``--quick`` takes about 30 s, the default about 75 s.

    .venv/bin/python bench/podstartup.py [--quick] [--seconds 60] [--rate 20] [--window 90] [--no-fsync]
                                         [--py-spy DIR] [--py-spy-procs apiserver,scheduler,node-1] [--keep]
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
import calendar  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter, deque  # noqa: E402

from bench.apiserver import (  # noqa: E402
    CORES,
    MEMBERS,
    ApiBenchCluster,
    metric_delta,
    parse_metrics,
    run_bench,
    say,
)
from bench.apiserver_load import error_text, now, percentile  # noqa: E402
from bench.scheduler import VENV_BIN, PySpy  # noqa: E402
from bench.store_peers import HOST, PeerFailed, Processes, wait_for  # noqa: E402

SLO_P99_MS = 5000.0
"""Kubernetes' pod startup SLO (sig-scalability): p99 <= 5 s, image pulls excluded."""
TARGET_P99_MS = 1000.0
IMAGE = "registry.k8s.io/pause:3.9"
"""Not 3.10: that is the runtime's sandbox image, preloaded on every node, so nothing would be pulled."""
REQUESTS = {"cpu": "10m", "memory": "16Mi"}
NS = "startup"
NODES = {"node-1": "zone-a", "node-2": "zone-b", "node-3": "zone-c"}
CONTROL = ("scheduler", "controller-manager", "cloud-controller-manager", "dns")
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


# --- the cluster ------------------------------------------------------------------------------


class PodStartupCluster(ApiBenchCluster):
    """The default cluster's processes (no demo pair), each as ``kubesim child``."""

    TMP_PREFIX = "ksp-"
    EXTRA_PORTS = len(CONTROL) + len(NODES)

    def extra_processes(self) -> dict:
        self.component_metrics = dict(zip((*CONTROL, *NODES), self.extra_ports))
        procs = {name: {"component": name, "metrics_port": self.component_metrics[name]} for name in CONTROL}
        for name, zone in NODES.items():
            # cloud_provider_external stays true (the default): the cloud controller manager lifts the taint.
            procs[name] = {"component": "node", "metrics_port": self.component_metrics[name], "args": {"zone": zone}}
        return procs

    def after_ready(self) -> None:
        t1 = time.monotonic()
        for name in (*CONTROL, *NODES):
            self.start_proc(name)

        def nodes_ready():
            self.check_alive()
            items = self.session.run(self.api.list("nodes"), timeout_s=5)["items"]
            good = [n for n in items if node_ready(n) and (n.get("spec") or {}).get("podCIDR")
                    and not any(t.get("key") == UNINITIALIZED for t in (n.get("spec") or {}).get("taints") or [])]
            return len(good) == len(NODES)

        def scheduler_leads():
            self.check_alive()
            return self.component_scrape("scheduler").get(("kubesim_scheduler_is_leader", frozenset())) == 1.0
        try:
            wait_for("3 Ready nodes with podCIDRs and no uninitialized taint", nodes_ready, 90, every_s=0.2)
            wait_for("the scheduler to lead", scheduler_leads, 60, every_s=0.2)
        except PeerFailed as exc:
            raise PeerFailed(f"{exc}\n{self.tail_logs()}") from None
        self.nodes_ready_s = time.monotonic() - t1

    def tail_logs(self, names=None) -> str:
        return super().tail_logs(names or [*MEMBERS, "apiserver", *(n for n in (*CONTROL, *NODES) if n in self.procs)])

    def component_scrape(self, name: str) -> dict:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.component_metrics[name]}/metrics", timeout=3) as r:
                return parse_metrics(r.read().decode())
        except OSError:
            return {}

    def scrape_all(self) -> dict[str, dict]:
        out = {name: self.component_scrape(name) for name in (*CONTROL, *NODES)}
        out["apiserver"] = self.metrics()
        return out


def node_ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def pod(name: str, **spec_extra) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "podstartup"}},
            "spec": {"containers": [{"name": "pause", "image": IMAGE, "resources": {"requests": dict(REQUESTS)}}],
                     **spec_extra}}


def wall_s(stamp: str | None) -> float | None:
    """An RFC 3339 time (``...Z``, whole seconds or with a fraction) as Unix seconds."""
    if not stamp:
        return None
    try:
        head, _, frac = stamp.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None


class CpuWindow:
    """CPU (% of one core) of every process between two samples of ``cluster.cpu``."""

    def __init__(self, a: dict, b: dict) -> None:
        self.seconds = max(1e-9, b["_t"] - a["_t"])
        self.pct = {k: 100 * (b[k] - a[k]) / self.seconds for k in a if not k.startswith("_machine") and k != "_t"}
        busy = b["_machine"][0] - a["_machine"][0]
        total = b["_machine"][1] - a["_machine"][1]
        self.machine_busy_pct = 100 * busy / total if total else 0.0
        self.others_pct = max(0.0, self.machine_busy_pct * CORES - sum(self.pct.values()))

    def figures(self) -> dict:
        procs = {k: round(v, 1) for k, v in self.pct.items() if not k.startswith("_")}
        return {"cpu_pct": procs, "bench_parent_cpu_pct": round(self.pct.get("_self", 0.0), 1),
                "other_programs_cpu_pct": round(self.others_pct), "machine_busy_pct": round(self.machine_busy_pct)}

    def line(self) -> str:
        p = self.pct
        stores = "/".join(f"{p.get(m, 0):.0f}" for m in MEMBERS)
        nodes = "/".join(f"{p.get(n, 0):.0f}" for n in NODES)
        return (f"CPU (% of a core): apiserver {p.get('apiserver', 0):.0f}, stores {stores}, scheduler "
                f"{p.get('scheduler', 0):.0f}, controller-manager {p.get('controller-manager', 0):.0f}, ccm "
                f"{p.get('cloud-controller-manager', 0):.0f}, dns {p.get('dns', 0):.0f}, nodes {nodes}, bench "
                f"{p.get('_self', 0):.0f}, other programs {self.others_pct:.0f}; machine {self.machine_busy_pct:.0f}% "
                f"busy ({CORES} cores)")


# --- what the watches see -------------------------------------------------------------------------


class PodTimes:
    """One watch on the namespace's pods: per pod, when it was first seen bound, written by its kubelet, Running."""

    def __init__(self) -> None:
        self.bound: dict[str, float] = {}
        self.node: dict[str, str] = {}
        self.kubelet_seen: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.running_obj: dict[str, dict] = {}
        self.deleted: dict[str, float] = {}
        self.on_running = None
        self.errors: list[str] = []
        self.events = 0

    def on_event(self, typ: str, obj: dict) -> None:
        t = now()
        if typ == "ERROR":
            self.errors.append(str(obj.get("message", obj))[:200])
            return
        self.events += 1
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            self.deleted.setdefault(name, t)
            return
        where = (obj.get("spec") or {}).get("nodeName")
        if where and name not in self.bound:
            self.bound[name] = t
            self.node[name] = where
        status = obj.get("status") or {}
        if name not in self.kubelet_seen and (status.get("hostIP") or status.get("containerStatuses")):
            self.kubelet_seen[name] = t
        if status.get("phase") == "Running" and name not in self.running:
            self.running[name] = t
            self.running_obj[name] = obj
            if self.on_running is not None:
                self.on_running(name)


class EventTimes:
    """One watch on the namespace's Events: when each reason about each pod first arrived."""

    def __init__(self) -> None:
        self.first: dict[str, dict[str, float]] = {}
        self.reasons: Counter = Counter()

    def on_event(self, typ: str, obj: dict) -> None:
        if typ != "ADDED":
            return
        t = now()
        name = (obj.get("involvedObject") or {}).get("name", "")
        reason = obj.get("reason", "")
        self.reasons[reason] += 1
        self.first.setdefault(name, {}).setdefault(reason, t)


class SnapshotTimes:
    """When the store members took snapshots (a member snapshots synchronously: its writes wait), to within the
    ~1 s between two looks at their /metrics."""

    def __init__(self, cluster: PodStartupCluster) -> None:
        self.cluster = cluster
        self.seen = self._counts()
        self.times: list[tuple[float, float, str]] = []
        """(after, before, member): a snapshot happened between these two looks."""
        self.last = now()

    def _counts(self) -> dict[str, float]:
        return {m: sum(v for (n, _), v in d.items() if n == "kubesim_store_snapshot_save_duration_seconds_count")
                for m, d in self.cluster.scrape_stores().items()}

    def check(self, t: float) -> None:
        counts = self._counts()
        for m, c in counts.items():
            if c > self.seen.get(m, 0.0):
                self.times.append((self.last, t, m))
        self.seen, self.last = counts, t


# --- (1) pre-pull -----------------------------------------------------------------------------------


def prepull(cluster: PodStartupCluster) -> dict:
    api, session = cluster.api, cluster.session
    t = now()
    names = {n: f"prepull-{n}" for n in NODES}
    for node, name in names.items():
        session.run(api.create(pod(name, nodeSelector={"kubernetes.io/hostname": node})), timeout_s=30)

    def running() -> bool:
        items = session.run(api.list("pods", NS), timeout_s=10)["items"]
        return sum(1 for p in items if (p.get("status") or {}).get("phase") == "Running") == len(names)
    wait_for("the pre-pull pods to run", running, 120, every_s=0.2)
    ran_s = now() - t
    for name in names.values():
        session.run(api.delete("pods", name, NS), timeout_s=30)
    wait_for("the pre-pull pods to be gone", lambda: not session.run(api.list("pods", NS), timeout_s=10)["items"],
             120, every_s=0.2)
    pulls = {n: cluster.component_scrape(n).get(("kubesim_kubelet_image_pull_duration_seconds_count", frozenset()),
                                                0.0) for n in NODES}
    out = {"image": IMAGE, "running_after_s": round(ran_s, 2), "done_after_s": round(now() - t, 2),
           "pulls_per_node": {k: int(v) for k, v in pulls.items()}}
    say(f"pre-pull: one {IMAGE} pod per node Running after {ran_s:.1f} s, deleted and gone after "
        f"{out['done_after_s']:.1f} s; image pulls so far per node: "
        + ", ".join(f"{k} {v}" for k, v in out["pulls_per_node"].items()))
    if any(v < 1 for v in pulls.values()):
        raise PeerFailed(f"a node did not pull {IMAGE}: {out['pulls_per_node']}")
    return out


# --- (2) the measurement ------------------------------------------------------------------------------


def ms(values: list[float], p: float) -> float:
    return round(percentile(values, p) * 1e3, 1) if values else 0.0


def dist(values: list[float]) -> dict:
    v = sorted(values)
    return {"n": len(v), "p50_ms": ms(v, 50), "p90_ms": ms(v, 90), "p99_ms": ms(v, 99),
            "max_ms": round(v[-1] * 1e3, 1) if v else 0.0}


def dist_line(d: dict) -> str:
    return f"p50 {d['p50_ms']:.0f}  p90 {d['p90_ms']:.0f}  p99 {d['p99_ms']:.0f}  max {d['max_ms']:.0f} ms"


def spy_start(cluster: PodStartupCluster, directory: str | None, names: list[str], procs: Processes) -> dict:
    if not directory:
        return {}
    os.makedirs(directory, exist_ok=True)
    return {n: PySpy(cluster.procs[n].pid, os.path.join(directory, f"{n}.txt"), procs) for n in names}


def measure(cluster: PodStartupCluster, *, rate: float, seconds: float, window: int, stall_s: float,
            py_spy: str | None, py_spy_procs: list[str]) -> dict:
    api, session = cluster.api, cluster.session
    total = round(rate * seconds)
    rv = session.run(api.list("pods", NS, limit=1), timeout_s=30)["metadata"]["resourceVersion"]
    erv = session.run(api.list("events", NS, limit=1), timeout_s=30)["metadata"]["resourceVersion"]
    pods = PodTimes()
    evs = EventTimes()
    pod_watch = api.watch("pods", NS, resource_version=rv, on_event=pods.on_event)
    event_watch = api.watch("events", NS, resource_version=erv, on_event=evs.on_event)
    cluster.pump(0.5)

    sent: dict[str, float] = {}
    scheduled_send: dict[str, float] = {}
    acked: dict[str, float] = {}
    create_errors: list[str] = []
    delete_errors: list[str] = []
    lags: list[float] = []
    kept: deque[str] = deque()
    deletes = {"sent": 0, "done": 0}
    state = {"outstanding": 0, "max_outstanding": 0, "done": 0}

    async def create(i: int, at: float) -> None:
        name = f"p-{i:05d}"
        t = now()
        lags.append(t - at)
        sent[name], scheduled_send[name] = t, at
        try:
            await api.create(pod(name))
            acked[name] = now()
        except Exception as exc:  # noqa: BLE001 -- counted
            create_errors.append(error_text(exc))
        state["outstanding"] -= 1
        state["done"] += 1

    async def delete(name: str) -> None:
        try:
            await api.delete("pods", name, NS)
        except Exception as exc:  # noqa: BLE001 -- counted
            delete_errors.append(error_text(exc))
        deletes["done"] += 1

    def on_running(name: str) -> None:
        kept.append(name)
        while len(kept) > window:
            deletes["sent"] += 1
            api.spawn(delete(kept.popleft()))

    pods.on_running = on_running
    snapshots = SnapshotTimes(cluster)
    scrape0 = cluster.scrape_all()
    stores0 = cluster.scrape_stores()
    spy_procs = Processes()
    spies = spy_start(cluster, py_spy, py_spy_procs, spy_procs)
    interval = 1.0 / rate
    t0 = now() + 0.2
    cpu0 = cluster.cpu()
    samples = [(now(), cpu0)]
    last_line = now()
    i = 0
    poll = session.poll
    spy_summaries: dict = {}
    try:
        while i < total:
            t = now()
            while i < total and t0 + i * interval <= t:
                state["outstanding"] += 1
                state["max_outstanding"] = max(state["max_outstanding"], state["outstanding"])
                api.spawn(create(i, t0 + i * interval))
                i += 1
            if t - samples[-1][0] >= 1.0:
                samples.append((t, cluster.cpu()))
                snapshots.check(t)
                cluster.check_alive()
            if t - last_line >= 5.0:
                last_line = t
                prev = next((s for s in reversed(samples) if s[0] <= t - 4.9), samples[0])
                win = CpuWindow(prev[1], samples[-1][1])
                recent = sorted(pods.running[n] - acked[n] for n in pods.running
                                if n in acked and pods.running[n] > t - 5.0)
                say(f"  t+{t - t0:5.1f}s  sent {i:5,}  created {len(acked):5,}  bound {len(pods.bound):5,}  running "
                    f"{len(pods.running):5,}  deleted {len(pods.deleted):5,}  last 5 s: startup p50 "
                    f"{ms(recent, 50):5.0f} p99 {ms(recent, 99):5.0f} ms  {win.line()}")
            if i < total:
                poll(max(0.0, min(t0 + i * interval - now(), 0.005)))
        t_last_send = now()
        # Every create answered and every created pod Running, or nothing new Running for stall_s.
        last_count, last_change = len(pods.running), now()
        while True:
            poll(0.01)
            t = now()
            if len(pods.running) != last_count:
                last_count, last_change = len(pods.running), t
            if state["done"] >= total and all(n in pods.running for n in acked):
                break
            if t - last_change > stall_s:
                say(f"  nothing new Running for {stall_s:g} s: {len(pods.running):,} of {len(acked):,} created")
                break
            if t - samples[-1][0] >= 1.0:
                samples.append((t, cluster.cpu()))
                snapshots.check(t)
                cluster.check_alive()
        t_end = now()
        cpu1 = cluster.cpu()
        scrape1 = cluster.scrape_all()
        stores1 = cluster.scrape_stores()
    finally:
        for name, spy in spies.items():
            spy_summaries[name] = spy.stop()
        spy_procs.__exit__(None, None, None)
        pod_watch.stop()
        event_watch.stop()
    cluster.check_alive()
    win = CpuWindow(cpu0, cpu1)

    # --- figures
    measured = [n for n in acked if n in pods.running]
    startup = [pods.running[n] - acked[n] for n in measured]
    from_send = [pods.running[n] - scheduled_send[n] for n in measured]
    create_lat = [acked[n] - scheduled_send[n] for n in acked]
    to_bound = [pods.bound[n] - acked[n] for n in measured if n in pods.bound]
    bound_to_running = [pods.running[n] - pods.bound[n] for n in measured if n in pods.bound]
    ev = evs.first
    bound_to_kubelet = [pods.kubelet_seen[n] - pods.bound[n] for n in measured
                        if n in pods.kubelet_seen and n in pods.bound]
    kubelet_to_running = [pods.running[n] - pods.kubelet_seen[n] for n in measured if n in pods.kubelet_seen]
    # The slowest 1 %: which stretch made them slow (mean of each, ms).
    slow = sorted(measured, key=lambda n: pods.running[n] - acked[n])[-max(1, len(measured) // 100):]
    full = [n for n in slow if n in pods.bound and n in pods.kubelet_seen]

    def mean_ms(values: list[float]) -> float:
        return round(1e3 * sum(values) / len(values), 1) if values else 0.0
    slowest = {"pods": len(slow),
               "startup_mean_ms": mean_ms([pods.running[n] - acked[n] for n in slow]),
               "created_to_scheduled_mean_ms": mean_ms([pods.bound[n] - acked[n] for n in full]),
               "scheduled_to_kubelet_first_status_mean_ms": mean_ms([pods.kubelet_seen[n] - pods.bound[n]
                                                                     for n in full]),
               "kubelet_first_status_to_running_mean_ms": mean_ms([pods.running[n] - pods.kubelet_seen[n]
                                                                   for n in full]),
               "created_at_s": [round(acked[n] - t0, 1) for n in slow]}
    # Which of the slowest 1 % were created within 1 s before a store snapshot window (or inside one).
    near_snapshot = sum(1 for n in slow if any(a - 1.0 <= acked[n] <= b for a, b, _ in snapshots.times))
    slowest["near_store_snapshot"] = near_snapshot
    snap_at = sorted({round(b - t0, 1) for _, b, _ in snapshots.times})
    # The Events' arrival: the scheduler's Scheduled event, the kubelet's Started (fire-and-forget creates, so
    # they may arrive after the watch showed Running; reference only).
    sched_event = [ev[n]["Scheduled"] - acked[n] for n in measured if "Scheduled" in ev.get(n, {})]
    started_event = [ev[n]["Started"] - acked[n] for n in measured if "Started" in ev.get(n, {})]
    # The pod's own record, whole seconds: startedAt - creationTimestamp.
    own = []
    for n in measured:
        obj = pods.running_obj[n]
        created = wall_s((obj.get("metadata") or {}).get("creationTimestamp"))
        starts = [wall_s(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
                  for cs in (obj.get("status") or {}).get("containerStatuses") or []]
        starts = [s for s in starts if s is not None]
        if created is not None and starts:
            own.append(max(starts) - created)
    own.sort()
    per_node = Counter(pods.node[n] for n in measured if n in pods.node)
    lags.sort()

    def delta(name: str, metric: str, **labels) -> float:
        return metric_delta(scrape0.get(name, {}), scrape1.get(name, {}), metric, **labels)

    def api_ms(verb: str, resource: str) -> dict:
        c = delta("apiserver", "kubesim_apiserver_request_duration_seconds_count", verb=verb, resource=resource)
        s = delta("apiserver", "kubesim_apiserver_request_duration_seconds_sum", verb=verb, resource=resource)
        return {"per_s": round(c / win.seconds, 1), "mean_ms": round(1e3 * s / c, 2) if c else 0.0}

    kubelet_pulls = {n: int(delta(n, "kubesim_kubelet_image_pull_duration_seconds_count")) for n in NODES}
    ks_n = sum(delta(n, "kubesim_kubelet_pod_start_duration_seconds_count") for n in NODES)
    ks_s = sum(delta(n, "kubesim_kubelet_pod_start_duration_seconds_sum") for n in NODES)
    ks_le1 = sum(delta(n, "kubesim_kubelet_pod_start_duration_seconds_bucket", le="1.0") for n in NODES)
    ks_le05 = sum(delta(n, "kubesim_kubelet_pod_start_duration_seconds_bucket", le="0.5") for n in NODES)
    worker = {}
    for op in ("create", "sync", "kill"):
        c = sum(delta(n, "kubesim_kubelet_pod_worker_duration_seconds_count", operation=op) for n in NODES)
        s = sum(delta(n, "kubesim_kubelet_pod_worker_duration_seconds_sum", operation=op) for n in NODES)
        worker[op] = {"syncs": int(c), "mean_ms": round(1e3 * s / c, 1) if c else 0.0}
    status_writes = {r: int(sum(delta(n, "kubesim_kubelet_pod_status_updates_total", result=r) for n in NODES))
                     for r in ("ok", "conflict", "error")}
    sync_errors = int(sum(delta(n, "kubesim_kubelet_pod_sync_errors_total") for n in NODES))
    cyc_n = delta("scheduler", "kubesim_scheduler_scheduling_attempt_duration_seconds_count")
    cyc_s = delta("scheduler", "kubesim_scheduler_scheduling_attempt_duration_seconds_sum")
    attempts = {r: int(delta("scheduler", "kubesim_scheduler_schedule_attempts_total", result=r))
                for r in ("scheduled", "unschedulable", "error")}

    store = {"snapshots": 0, "snapshot_ms": 0.0, "leader_changes": 0, "fsync_mean_ms": {}}
    for mem in MEMBERS:
        a, b = stores0.get(mem, {}), stores1.get(mem, {})
        store["snapshots"] += int(metric_delta(a, b, "kubesim_store_snapshot_save_duration_seconds_count"))
        store["snapshot_ms"] += 1e3 * metric_delta(a, b, "kubesim_store_snapshot_save_duration_seconds_sum")
        store["leader_changes"] += int(metric_delta(a, b, "kubesim_store_leader_changes_total"))
        n = metric_delta(a, b, "kubesim_store_wal_fsync_duration_seconds_count")
        store["fsync_mean_ms"][mem] = round(1e3 * metric_delta(a, b, "kubesim_store_wal_fsync_duration_seconds_sum")
                                            / n, 2) if n else 0.0
    store["snapshot_ms"] = round(store["snapshot_ms"], 1)
    st = dist(startup)
    out = {
        "pods_planned": total,
        "pods_created": len(acked),
        "pods_running": len(measured),
        "pods_not_running": len(acked) - len(measured),
        "create_errors": len(create_errors),
        "first_create_error": create_errors[0] if create_errors else None,
        "deletes": deletes["sent"],
        "delete_errors": len(delete_errors),
        "first_delete_error": delete_errors[0] if delete_errors else None,
        "send_seconds": round(t_last_send - t0, 2),
        "achieved_rate_per_s": round(len(acked) / (t_last_send - t0 + interval), 2) if total else 0.0,
        "send_lag_p99_ms": ms(lags, 99),
        "send_lag_max_ms": round(lags[-1] * 1e3, 1) if lags else 0.0,
        "max_creates_outstanding": state["max_outstanding"],
        "startup": st,
        "startup_from_send": dist(from_send),
        "create": dist(create_lat),
        "created_to_scheduled": dist(to_bound),
        "scheduled_to_running": dist(bound_to_running),
        "scheduled_to_kubelet_first_status": dist(bound_to_kubelet),
        "kubelet_first_status_to_running": dist(kubelet_to_running),
        "created_to_scheduled_event_seen": dist(sched_event),
        "created_to_started_event_seen": dist(started_event),
        "slowest_1pct": slowest,
        "own_record_startedAt_minus_creationTimestamp_s": {
            "p50": percentile(own, 50) if own else None, "p99": percentile(own, 99) if own else None,
            "max": own[-1] if own else None, "note": "whole seconds; for reference only"},
        "pods_per_node": dict(sorted(per_node.items())),
        "events_by_reason": dict(evs.reasons.most_common()),
        "image_pulls_during": kubelet_pulls,
        "kubelet_pod_start_mean_ms": round(1e3 * ks_s / ks_n, 1) if ks_n else 0.0,
        "kubelet_pod_start_le_0_5s": round(ks_le05 / ks_n, 3) if ks_n else 0.0,
        "kubelet_pod_start_le_1s": round(ks_le1 / ks_n, 3) if ks_n else 0.0,
        "kubelet_pod_worker": worker,
        "kubelet_status_writes": status_writes,
        "kubelet_sync_errors": sync_errors,
        "scheduler_attempts": attempts,
        "scheduler_cycle_mean_ms": round(1e3 * cyc_s / cyc_n, 2) if cyc_n else 0.0,
        "api": {"create pods (and bindings)": api_ms("create", "pods"), "update pods (status)": api_ms("update", "pods"),
                "delete pods": api_ms("delete", "pods"), "create events": api_ms("create", "events"),
                "get pods": api_ms("get", "pods")},
        "store": dict(store, seen_at_s=snap_at),
        "watch_events": pods.events,
        "watch_errors": len(pods.errors),
        "watch_resumes": pod_watch.gaps + pod_watch.restarts,
        "measure_seconds": round(t_end - t0, 1),
        **win.figures(),
    }
    if spy_summaries:
        out["py_spy"] = spy_summaries

    say(f"pods: {len(acked):,} of {total:,} created at {out['achieved_rate_per_s']:g}/s (open loop, send lag p99 "
        f"{out['send_lag_p99_ms']:.1f} ms; {len(create_errors)} errors"
        + (f", first: {create_errors[0]!r}" if create_errors else "")
        + f"); {len(measured):,} Running, {out['pods_not_running']} never Running; {deletes['sent']:,} deleted "
        f"(window {window}; {len(delete_errors)} errors); placed " + ", ".join(f"{k} {v}" for k, v in per_node.items()))
    say(f"startup (create answered -> Running seen): {dist_line(st)}")
    say(f"  from the scheduled send time:          {dist_line(out['startup_from_send'])}")
    say(f"  create (send -> answer):               {dist_line(out['create'])}")
    say(f"  created -> scheduled (bind seen):      {dist_line(out['created_to_scheduled'])}")
    say(f"  scheduled -> Running seen:             {dist_line(out['scheduled_to_running'])}")
    say(f"    scheduled -> kubelet's first status: {dist_line(out['scheduled_to_kubelet_first_status'])}")
    say(f"    kubelet's first status -> Running:   {dist_line(out['kubelet_first_status_to_running'])}")
    say(f"  created -> Scheduled event seen:       {dist_line(out['created_to_scheduled_event_seen'])}")
    say(f"  created -> Started event seen:         {dist_line(out['created_to_started_event_seen'])}")
    say(f"  the slowest {slowest['pods']} (1%): startup mean {slowest['startup_mean_ms']:.0f} ms = created -> "
        f"scheduled {slowest['created_to_scheduled_mean_ms']:.0f} + -> kubelet's first status "
        f"{slowest['scheduled_to_kubelet_first_status_mean_ms']:.0f} + -> Running "
        f"{slowest['kubelet_first_status_to_running_mean_ms']:.0f} ms; created at t+ "
        + ", ".join(f"{x:g}" for x in slowest["created_at_s"]) + f" s ({near_snapshot} of them within 1 s before "
        "a store snapshot)")
    o = out["own_record_startedAt_minus_creationTimestamp_s"]
    say(f"  the pods' own record (startedAt - creationTimestamp, whole seconds, reference only): p50 {o['p50']} s, "
        f"p99 {o['p99']} s, max {o['max']} s")
    say(f"kubelets: pod start (first seen -> Running written) mean {out['kubelet_pod_start_mean_ms']:.0f} ms, "
        f"<= 0.5 s {100 * out['kubelet_pod_start_le_0_5s']:.0f}%, <= 1 s {100 * out['kubelet_pod_start_le_1s']:.0f}%; "
        "pod worker " + ", ".join(f"{k} {v['syncs']} x {v['mean_ms']:.0f} ms" for k, v in worker.items())
        + f"; status writes {status_writes}; sync errors {sync_errors}; image pulls during "
        f"{sum(kubelet_pulls.values())} (must be 0)")
    say(f"scheduler: {attempts['scheduled']:,} scheduled ({attempts['unschedulable']} unschedulable, "
        f"{attempts['error']} errors), mean cycle {out['scheduler_cycle_mean_ms']:.2f} ms; API server mean: "
        + ", ".join(f"{k} {v['mean_ms']:.1f} ms ({v['per_s']:g}/s)" for k, v in out["api"].items()))
    say("events: " + ", ".join(f"{k} {v}" for k, v in evs.reasons.most_common()) + f"; watch: {pods.events:,} "
        f"pod events, {out['watch_resumes']} resumes, {len(pods.errors)} errors")
    say(f"store: {store['snapshots']} snapshots ({store['snapshot_ms']:.0f} ms), {store['leader_changes']} leader "
        f"changes, WAL fsync mean " + "/".join(f"{v:.1f}" for v in store["fsync_mean_ms"].values()) + " ms; snapshots "
        "seen at t+ " + (", ".join(f"{x:g}" for x in snap_at) or "-") + " s")
    say(f"during (2): {win.line()}")
    for name, summary in spy_summaries.items():
        say(f"py-spy on {name} ({summary.get('samples', 0):,} samples at 100/s, idle excluded) -> "
            f"{os.path.join(py_spy, name + '.txt')}")
        for k, v in list(summary.get("self_pct", {}).items())[:8]:
            say(f"  self {v:5.1f}%  {k}")
        # Below the frames every sample shares (the process's main loop): where the loop's time goes.
        for k, v in [(k, v) for k, v in summary.get("inclusive_pct", {}).items() if v < 90][:12]:
            say(f"  incl {v:5.1f}%  {k}")
    return out


# --- main ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    with PodStartupCluster(fsync=not args.no_fsync, log_level=args.log_level, keep=args.keep) as cluster:
        say(f"cluster: 3 store members (fsync {'off' if args.no_fsync else 'on'}, data on {cluster.data_fs}), the API "
            f"server answering in {cluster.ready_s:.1f} s; scheduler, controller-manager, cloud-controller-manager, "
            f"dns and node-1..3 (zones a/b/c, registered with the cloud's uninitialized taint, lifted by the cloud "
            f"controller manager): 3 nodes Ready with podCIDRs {cluster.nodes_ready_s:.1f} s after they started; "
            f"store leader {cluster.leader()}; logs in {cluster.tmp}")
        cluster.session.run(cluster.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
                            timeout_s=30)
        say(f"--- (1) pre-pull {IMAGE} on every node")
        pre = prepull(cluster)
        total = round(args.rate * args.seconds)
        say(f"--- (2) {total:,} pods at {args.rate:g}/s for {args.seconds:g} s, open loop; keep the last "
            f"{args.window} Running, delete older ones")
        m = measure(cluster, rate=args.rate, seconds=args.seconds, window=args.window, stall_s=args.stall_seconds,
                    py_spy=args.py_spy, py_spy_procs=args.py_spy_procs)
        if sum(m["image_pulls_during"].values()):
            say(f"WARNING: {sum(m['image_pulls_during'].values())} image pulls during the measurement")
        store_leader = cluster.leader()
        data_fs = cluster.data_fs
    st = m["startup"]
    p99 = st["p99_ms"]
    ok = m["pods_not_running"] == 0 and m["create_errors"] == 0 and st["n"] > 0
    result = {
        "pods": m["pods_running"],
        "pods_created": m["pods_created"],
        "pods_not_running": m["pods_not_running"],
        "errors": m["create_errors"] + m["delete_errors"],
        "rate_per_s": args.rate,
        "achieved_rate_per_s": m["achieved_rate_per_s"],
        "seconds_of_load": args.seconds,
        "p50_ms": st["p50_ms"],
        "p90_ms": st["p90_ms"],
        "p99_ms": p99,
        "max_ms": st["max_ms"],
        "slo_p99_ms": SLO_P99_MS,
        "target_p99_ms": TARGET_P99_MS,
        "ratio_p99_vs_slo": round(p99 / SLO_P99_MS, 3),
        "ratio_p99_vs_target": round(p99 / TARGET_P99_MS, 3),
        "slo_met": ok and p99 <= SLO_P99_MS,
        "target_met": ok and p99 <= TARGET_P99_MS,
        "created_to_scheduled_p50_ms": m["created_to_scheduled"]["p50_ms"],
        "created_to_scheduled_p99_ms": m["created_to_scheduled"]["p99_ms"],
        "scheduled_to_running_p50_ms": m["scheduled_to_running"]["p50_ms"],
        "scheduled_to_running_p99_ms": m["scheduled_to_running"]["p99_ms"],
        "from_send_p99_ms": m["startup_from_send"]["p99_ms"],
        "create_p99_ms": m["create"]["p99_ms"],
        "image_pulls_during": sum(m["image_pulls_during"].values()),
        "window": args.window,
        "image": IMAGE,
        "fsync": not args.no_fsync,
        "data_dir_fs": data_fs,
        "store_leader_after": store_leader,
        "prepull": pre,
        "measure": m,
    }
    say("--- summary")
    say(f"pod startup at {args.rate:g} pods/s ({m['pods_running']:,} pods Running of {m['pods_created']:,} created, "
        f"{result['errors']} errors, {m['pods_not_running']} never Running; image pulls excluded, "
        f"{result['image_pulls_during']} during): p50 {st['p50_ms']:.0f} ms, p90 {st['p90_ms']:.0f} ms, p99 "
        f"{p99:.0f} ms, max {st['max_ms']:.0f} ms")
    say(f"  split p50/p99: created -> scheduled {m['created_to_scheduled']['p50_ms']:.0f}/"
        f"{m['created_to_scheduled']['p99_ms']:.0f} ms, scheduled -> Running {m['scheduled_to_running']['p50_ms']:.0f}/"
        f"{m['scheduled_to_running']['p99_ms']:.0f} ms")
    say(f"  vs Kubernetes' SLO (p99 <= 5 s): ratio {result['ratio_p99_vs_slo']:.3f}, "
        f"{'met' if result['slo_met'] else 'MISSED'}; vs the target (p99 <= 1 s): ratio "
        f"{result['ratio_p99_vs_target']:.3f}, {'met' if result['target_met'] else 'MISSED'}")
    cpu = m["cpu_pct"]
    say("  CPU (% of a core) during the load: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        + f", bench {m['bench_parent_cpu_pct']:.0f}, other programs {m['other_programs_cpu_pct']}; machine "
        f"{m['machine_busy_pct']}% busy")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="15 s of load instead of 60 (unless --seconds says)")
    ap.add_argument("--seconds", type=float, help="seconds of load (default 60; 15 with --quick)")
    ap.add_argument("--rate", type=float, default=20.0, help="pods created per second, open loop (default 20)")
    ap.add_argument("--window", type=int, default=90,
                    help="measured pods kept Running; older ones are deleted (default 90 = 30 per node)")
    ap.add_argument("--stall-seconds", type=float, default=30.0,
                    help="after the last send, give up when no pod became Running for this long")
    ap.add_argument("--no-fsync", action="store_true", help="the store members do not fsync their WAL")
    ap.add_argument("--py-spy", metavar="DIR", help="sample processes with py-spy during (2) (raw stacks in DIR)")
    ap.add_argument("--py-spy-procs", default="apiserver,scheduler,node-1",
                    help="comma-separated processes for --py-spy (default apiserver,scheduler,node-1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data, cluster file)")
    ap.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    args.seconds = args.seconds or (15.0 if args.quick else 60.0)
    if args.seconds <= 0 or args.rate <= 0 or args.window < 0 or args.stall_seconds <= 0:
        ap.error("the rate and durations must be positive, the window not negative")
    if args.window + 2 * args.rate > 300:
        ap.error("--window plus two seconds of pods must fit on 3 nodes x 110 pods (keep it <= 300 - 2 x rate)")
    args.py_spy_procs = [p for p in args.py_spy_procs.split(",") if p]
    known = {"apiserver", *MEMBERS, *CONTROL, *NODES}
    if args.py_spy:
        if not os.path.exists(os.path.join(VENV_BIN, "py-spy")):
            ap.error(f"--py-spy: no py-spy next to {sys.executable} (pip install py-spy)")
        bad = [p for p in args.py_spy_procs if p not in known]
        if bad:
            ap.error(f"--py-spy-procs: unknown processes {bad}; known: {sorted(known)}")
    return run_bench(run, args)


if __name__ == "__main__":
    sys.exit(main())
