"""How fast and how available is kubesim's replicated store, next to etcd and PySyncObj?

The store stands in for etcd, so its figures are measured in one run, on this
machine, next to the real etcd 3.4 and next to another Python raft
(PySyncObj), every system as 3 members on 127.0.0.1, every one driven by the
same client harness (``bench/store_load.py``: ``run_load`` keeps N puts of a
100-byte value in flight over 10,000 keys and times the steady state after a
warm-up; ``in_flight=1`` is one client writing sequentially). The peers are
started and driven by ``bench/store_peers.py``; kubesim's members by
``bench/store_kubesim.py`` (``kubesim child store-N`` processes with a
temporary cluster file, a ``StoreSession`` as the client).

(a) throughput  kubesim with fsync off, 1,000 writes in flight, against
                PySyncObj with 1,000 (PySyncObj keeps its log in memory and
                never fsyncs); kubesim with fsync on, 500 in flight, against
                etcd with 500 (fsync on; etcd's JSON gateway, to the leader).
                Each kubesim run uses a fresh cluster and writes as many
                puts as the peer it is compared with. ratio = kubesim
                writes/s / peer writes/s.
(b) sequential  one client, one put at a time: p50/p99 latency (target:
                p50 <= 1 ms with fsync off).
(c) stability   leader changes while no fault is injected, under the load of
                (a) and (b): the growth of ``kubesim_store_leader_changes_total``
                summed over the members (read from their /metrics before and
                after, so the initial election is not counted), and the
                leader's term before and after. Target: 0.
(d) failover    a fresh 3-member cluster, fsync on, per timing preset:
                ``default`` (heartbeat 100 ms, election timeout 1000 ms,
                etcd's defaults) and ``fast`` (50 ms / 300 ms). A writer
                starts a put every 5 ms (at most 20 outstanding; each attempt
                times out after 0.2 s, a call gives up after 10 s) and keeps
                going throughout. Then, per kill: find the leader (every
                member's status agrees), kill -9 its process, and measure

                    failover = t(first acknowledgement of a put that was
                               *started after* the kill) - t(kill)

                A put started after the kill can only be committed by a new
                leader, so this is "kill -9 of the leader to the next
                committed write" as a client sees it, including the client's
                own retry pacing (a call told "no leader yet" retries after
                10..100 ms; with up to 20 calls retrying, staggered, the
                first to succeed does so within a few ms of the new leader
                being able to commit). Puts lost with the old leader end as
                ``Indeterminate`` and are only counted. The killed member is
                then restarted and the next kill waits until it is a
                follower again with its applied index caught up with the
                leader's commit index. Targets: p99 <= 2 s (default) and
                <= 600 ms (fast). With 10 kills, the nearest-rank p99 is the
                maximum.

Reading the output: a line per measurement, then a summary; the last line is
one JSON object with every figure, the ratios, each target with its value and
whether it was met, and notes.

    .venv/bin/python bench/store.py [--quick] [--skip-peers] [--skip-failover] [--kills N] [--rounds N]
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
import time  # noqa: E402

from actors.store.client import (  # noqa: E402
    Indeterminate,
    StoreError,
    StoreSession,
    StoreUnavailable,
)
from bench.store_kubesim import MEMBERS, KubesimAdapter, KubesimStore  # noqa: E402
from bench.store_load import percentile, run_load  # noqa: E402
from bench.store_peers import (  # noqa: E402
    ETCD_IN_FLIGHT,
    ETCD_TOTAL,
    PYSYNCOBJ_IN_FLIGHT,
    PYSYNCOBJ_TOTAL,
    SEQ_TOTAL,
    PeerFailed,
    bench_etcd,
    bench_pysyncobj,
    sigterm_as_exit,
)

PRESETS = {
    "default": {"heartbeat_ms": 100, "election_ms": 1000, "target_p99_ms": 2000},
    "fast": {"heartbeat_ms": 50, "election_ms": 300, "target_p99_ms": 600},
}
SEQ_P50_TARGET_MS = 1.0
#: Extra KubesimStore options from the command line (--keep, --log-level): for post-mortems.
STORE_OPTIONS: dict = {}
WRITER_INTERVAL_S = 0.005
WRITER_MAX_OUTSTANDING = 20
WRITER_ATTEMPT_TIMEOUT_S = 0.2


def say(line: str) -> None:
    print(line, flush=True)


# --- (a)-(c) kubesim throughput, latency, stability ------------------------------------------


def bench_kubesim(fsync: bool, in_flight: int, total: int, seq_total: int) -> dict:
    """A fresh 3-member cluster: one concurrent run and one sequential, with the leader changes seen during them."""
    with KubesimStore(fsync=fsync, **STORE_OPTIONS) as store:
        label = f"kubesim store (fsync {'on' if fsync else 'off'}, data on {store.data_fs})"
        leader, term0 = store.wait_leader(10)
        say(f"kubesim: 3 members ready in {store.ready_s:.1f} s, leader {leader} (term {term0}), "
            f"fsync {'on' if fsync else 'off'}; logs and data in {store.tmp}")
        adapter = KubesimAdapter(store.session)
        c0 = store.counters()
        conc = run_load(adapter, in_flight=in_flight, total=total)
        c1 = store.counters()
        say(f"{label}: {conc.line()}")
        seq = run_load(adapter, in_flight=1, total=seq_total)
        c2 = store.counters()
        say(f"{label}: sequential {seq.line()}")
        store.check_alive()
        after = store.leader()
        changes = c2["leader_changes"] - c0["leader_changes"]
        elections = c2["elections"] - c0["elections"]
        term1 = after[1] if after else -1
        say(f"{label}: leader changes under load {changes:.0f} (concurrent {c1['leader_changes'] - c0['leader_changes']:.0f}),"
            f" elections started {elections:.0f}, term {term0} -> {term1}"
            + ("" if after else " (no single leader after the load!)"))
        return {
            "writes_per_s": round(conc.ops_per_s),
            "p50_ms": round(conc.p50_ms, 2),
            "p99_ms": round(conc.p99_ms, 2),
            "in_flight": in_flight,
            "writes": conc.completed,
            "errors": conc.errors + seq.errors,
            "first_error": conc.first_error or seq.first_error,
            "seq_writes_per_s": round(seq.ops_per_s),
            "seq_p50_ms": round(seq.p50_ms, 3),
            "seq_p99_ms": round(seq.p99_ms, 3),
            "client_cpu_pct": round(conc.client_cpu_pct),
            "leader_changes_under_load": int(changes),
            "leader_changes_concurrent_run": int(c1["leader_changes"] - c0["leader_changes"]),
            "elections_started_under_load": int(elections),
            "term_before": term0,
            "term_after": term1,
            "fsync": fsync,
            "data_dir_fs": store.data_fs,
            "snapshot_count": store.snapshot_count,
        }


# --- (d) failover ------------------------------------------------------------------------------


class PacedWriter:
    """Starts a put every ``interval_s`` on the session's loop (at most ``max_outstanding`` at once).

    It runs whenever the session's loop runs (``session.poll`` or ``session.run``).
    ``arm(t)`` makes it record ``first_ack``: the first acknowledgement of a put
    started at or after ``t``.
    """

    def __init__(self, session: StoreSession, interval_s: float, max_outstanding: int) -> None:
        self.session = session
        self.max_outstanding = max_outstanding
        self.outstanding = 0
        self.seq = 0
        self.ok = 0
        self.indeterminate = 0
        self.unavailable = 0
        self.other_errors = 0
        self.commit_seen = 1 << 62
        """The leader's commit index at the previous poll of ``stable_leader`` (none yet: unreachable)."""
        self.last_error = ""
        self.last_ok = 0.0
        self.since: float | None = None
        self.first_ack: float | None = None
        self.value = b"v" * 100
        self.timer = session.runtime.call_every(interval_s, self.pump)

    def arm(self, t: float) -> None:
        self.since, self.first_ack = t, None

    def pump(self) -> None:
        if self.outstanding >= self.max_outstanding:
            return
        self.outstanding += 1
        self.seq += 1
        started = time.perf_counter()
        self.session.start(self.session.client.put(b"failover/%04d" % (self.seq % 1000), self.value),
                           lambda ok, body: self.finished(started, ok, body))

    def finished(self, started: float, ok: bool, body) -> None:
        now = time.perf_counter()
        self.outstanding -= 1
        if ok:
            self.ok += 1
            self.last_ok = now
            if self.since is not None and self.first_ack is None and started >= self.since:
                self.first_ack = now
            return
        if isinstance(body, Indeterminate):
            self.indeterminate += 1
        elif isinstance(body, StoreUnavailable):
            self.unavailable += 1
        else:
            self.other_errors += 1
        self.last_error = f"{type(body).__name__}: {body}"

    def stop(self) -> None:
        self.timer.cancel()


def run_loop_for(session: StoreSession, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while (left := end - time.perf_counter()) > 0:
        session.poll(min(left, 0.01))


def wait_until(session: StoreSession, what: str, condition, timeout_s: float, every_s: float = 0.02):
    """Call ``condition()`` until it returns something truthy, running the session's loop in between."""
    deadline = time.perf_counter() + timeout_s
    while True:
        got = condition()
        if got:
            return got
        if time.perf_counter() > deadline:
            raise PeerFailed(f"timed out after {timeout_s} s waiting for {what}")
        run_loop_for(session, every_s)


def stable_leader(store: KubesimStore, writer: PacedWriter):
    """(leader, term) once all three members answer, agree on the leader, and the followers have caught up."""
    store.check_alive()
    st = store.statuses()
    if len(st) != len(MEMBERS):
        return None
    leaders = [s for s in st.values() if s.role == "leader"]
    if len(leaders) != 1:
        return None
    lead = leaders[0]
    if any(s.leader != lead.member or s.term != lead.term for s in st.values()):
        return None
    # Caught up: applied what the leader had committed at the previous poll. (Followers learn a
    # commit index with the next append or heartbeat, so under a steady writer they are always
    # an entry or two behind the leader's latest; "as of a moment ago" is the fair question.)
    floor = writer.commit_seen
    writer.commit_seen = lead.commit_index
    if any(s.role != "follower" or s.applied_index < floor for s in st.values() if s is not lead):
        return None
    if time.perf_counter() - writer.last_ok > 0.2:
        return None  # the writer must be committing right now
    return lead.member, lead.term


def diagnose(store: KubesimStore, writer: PacedWriter) -> str:
    """What the members and the writer say, for an error message."""
    lines = [f"writer: {writer.ok} ok, {writer.outstanding} outstanding, {writer.indeterminate} indeterminate, "
             f"{writer.unavailable} unavailable, {writer.other_errors} other; last error: {writer.last_error[:300]}"]
    for m in MEMBERS:
        try:
            lines.append(f"{m}: {store.status(m, timeout_s=0.5)}")
        except Exception as exc:
            lines.append(f"{m}: no status ({type(exc).__name__})")
    if store.keep:
        lines.append(f"logs and data kept in {store.tmp}")
    return "\n".join(lines) + "\n" + store.tail_logs()


def bench_failover(preset: str, kills: int) -> dict:
    p = PRESETS[preset]
    hb, el = p["heartbeat_ms"], p["election_ms"]
    samples: list[float] = []
    terms: list[int] = []
    restart_s: list[float] = []
    # Short attempts, so a put lost with the killed leader does not hold the writer. Status calls
    # go through the same session, so the writer keeps running while they wait.
    with KubesimStore(fsync=True, heartbeat_ms=hb, election_ms=el, client_timeout_s=WRITER_ATTEMPT_TIMEOUT_S,
                      client_deadline_s=10.0, **STORE_OPTIONS) as store:
        session = store.session
        writer = PacedWriter(session, WRITER_INTERVAL_S, WRITER_MAX_OUTSTANDING)
        try:
            say(f"failover {preset} (heartbeat {hb} ms, election timeout {el} ms, fsync on): "
                f"3 members ready in {store.ready_s:.1f} s; {kills} kills of the leader")
            for i in range(1, kills + 1):
                writer.commit_seen = 1 << 62  # a fresh wait: no floor from an earlier poll
                leader, term = wait_until(session, "a stable leader with caught-up followers",
                                          lambda: stable_leader(store, writer), 30)
                run_loop_for(session, 0.1)  # a moment of steady writing before the fault
                ind0 = writer.indeterminate
                t_kill = time.perf_counter()
                writer.arm(t_kill)
                store.kill(leader)
                try:
                    wait_until(session, f"a write committed after killing {leader}",
                               lambda: writer.first_ack, 15, every_s=0.001)
                except PeerFailed as exc:
                    raise PeerFailed(f"{exc}\n{diagnose(store, writer)}") from None
                failover = writer.first_ack - t_kill
                samples.append(failover)
                new = store.leader()
                new_leader, new_term = new if new else ("?", -1)
                terms.append(new_term - term if new else -1)
                t_restart = time.perf_counter()
                store.start_member(leader)
                writer.commit_seen = 1 << 62  # a fresh wait: no floor from an earlier poll
                wait_until(session, f"{leader} back as a caught-up follower",
                           lambda: stable_leader(store, writer), 30, every_s=0.05)
                restart_s.append(time.perf_counter() - t_restart)
                say(f"failover {preset} kill {i:2d}: killed {leader} (term {term}) -> first write committed "
                    f"after {failover * 1e3:7.1f} ms; new leader {new_leader} (term {new_term}); "
                    f"{writer.indeterminate - ind0} puts indeterminate; "
                    f"{leader} caught up {restart_s[-1]:.1f} s after its restart")
        finally:
            writer.stop()
    ms = sorted(s * 1e3 for s in samples)
    result = {
        "heartbeat_ms": hb,
        "election_timeout_ms": el,
        "kills": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(ms[-1], 1),
        "min_ms": round(ms[0], 1),
        "samples_ms": [round(s * 1e3, 1) for s in samples],
        "term_increase_per_kill": terms,
        "writes_ok": writer.ok,
        "writes_indeterminate": writer.indeterminate,
        "writes_unavailable": writer.unavailable,
        "writes_other_errors": writer.other_errors,
        "restart_catch_up_s_p50": round(percentile(sorted(restart_s), 50), 2),
    }
    say(f"failover {preset}: p50 {result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms  max {result['max_ms']:.0f} ms "
        f"over {len(ms)} kills (target p99 <= {p['target_p99_ms']} ms); writer: {writer.ok} ok, "
        f"{writer.indeterminate} indeterminate, {writer.unavailable} unavailable, {writer.other_errors} other"
        + (f" (last: {writer.last_error[:120]})" if writer.other_errors or writer.unavailable else ""))
    return result


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run: fewer writes, 3 kills per preset")
    ap.add_argument("--skip-peers", action="store_true", help="do not run etcd and PySyncObj")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--kills", type=int, help="leader kills per timing preset (default 10; 3 with --quick)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="throughput rounds per system; the best is reported (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep kubesim's temporary dirs (logs, data) for a post-mortem")
    ap.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                    help="the kubesim members' log level (default warning)")
    args = ap.parse_args(argv)
    STORE_OPTIONS.update(keep=args.keep, log_level=args.log_level)
    kills = args.kills or (3 if args.quick else 10)
    if kills < 1 or args.rounds < 1:
        ap.error("need --kills >= 1 and --rounds >= 1")
    sigterm_as_exit()
    t0 = time.monotonic()
    try:
        result = run(args, kills)
    except (PeerFailed, StoreError, StoreUnavailable, Indeterminate, TimeoutError) as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every store stopped", file=sys.stderr)
        return 130
    result["seconds"] = round(time.monotonic() - t0, 1)
    say(f"total time {result['seconds']:.0f} s")
    print(json.dumps(result))
    return 0


def run(args: argparse.Namespace, kills: int) -> dict:
    scale = 6 if args.quick else 1
    off_total, on_total = PYSYNCOBJ_TOTAL // scale, ETCD_TOTAL // scale
    seq_total = SEQ_TOTAL // (4 if args.quick else 1)
    rounds = args.rounds

    kub_off, kub_on, pso, etcd = [], [], [], []
    for r in range(1, rounds + 1):
        if rounds > 1:
            say(f"--- round {r} of {rounds}")
        # Each kubesim run right next to the peer it is compared with, so both see the same machine.
        kub_off.append(bench_kubesim(False, PYSYNCOBJ_IN_FLIGHT, off_total, seq_total))
        if not args.skip_peers:
            pso.append(bench_pysyncobj(PYSYNCOBJ_IN_FLIGHT, off_total, seq_total, log=say))
        kub_on.append(bench_kubesim(True, ETCD_IN_FLIGHT, on_total, seq_total))
        if not args.skip_peers:
            etcd.append(bench_etcd(ETCD_IN_FLIGHT, on_total, seq_total, log=say))

    def pick(runs: list[dict]) -> dict | None:
        if not runs:
            return None
        out = dict(max(runs, key=lambda d: d["writes_per_s"]))
        seq = min(runs, key=lambda d: d["seq_p50_ms"])  # the sequential figures of the round with the lowest p50
        out.update({k: seq[k] for k in ("seq_writes_per_s", "seq_p50_ms", "seq_p99_ms")})
        if len(runs) > 1:
            out["writes_per_s_rounds"] = [d["writes_per_s"] for d in runs]
        return out

    off, on = pick(kub_off), pick(kub_on)
    # Stability is judged on every round, not only the best one.
    changes = sum(d["leader_changes_under_load"] for d in kub_off + kub_on)
    result: dict = {
        "kubesim_fsync_off": off,
        "kubesim_fsync_on": on,
        "pysyncobj": pick(pso),
        "etcd": pick(etcd),
        "leader_changes_under_load": changes,
    }

    failover = {}
    if not args.skip_failover:
        for preset in PRESETS:
            failover[preset] = bench_failover(preset, kills)
    result["failover"] = failover or None

    ratios = {
        "fsync_off_vs_pysyncobj": round(off["writes_per_s"] / result["pysyncobj"]["writes_per_s"], 3) if pso else None,
        "fsync_on_vs_etcd": round(on["writes_per_s"] / result["etcd"]["writes_per_s"], 3) if etcd else None,
    }
    result["ratios"] = ratios

    def target(value, goal: str, met) -> dict:
        return {"value": value, "target": goal, "met": met}

    targets = {
        "fsync_off_vs_pysyncobj": target(ratios["fsync_off_vs_pysyncobj"], ">= 1.0",
                                         None if not pso else ratios["fsync_off_vs_pysyncobj"] >= 1.0),
        "fsync_on_vs_etcd": target(ratios["fsync_on_vs_etcd"], ">= 1.0",
                                   None if not etcd else ratios["fsync_on_vs_etcd"] >= 1.0),
        "seq_p50_ms_fsync_off": target(off["seq_p50_ms"], f"<= {SEQ_P50_TARGET_MS}", off["seq_p50_ms"] <= SEQ_P50_TARGET_MS),
        "leader_changes_under_load": target(changes, "== 0", changes == 0),
    }
    for preset, p in PRESETS.items():
        f = failover.get(preset)
        targets[f"failover_p99_ms_{preset}"] = target(f["p99_ms"] if f else None, f"<= {p['target_p99_ms']}",
                                                      None if not f else f["p99_ms"] <= p["target_p99_ms"])
    result["targets"] = targets
    measured = [t["met"] for t in targets.values() if t["met"] is not None]
    result["all_targets_met"] = all(measured) and len(measured) == len(targets)

    notes = [
        "pysyncobj does not fsync (log in memory): compare it with kubesim's fsync-off figure only",
        f"etcd: fsync on, JSON gateway, writes to the leader, {ETCD_IN_FLIGHT} in flight; "
        f"kubesim fsync on: {ETCD_IN_FLIGHT} in flight; kubesim fsync off and pysyncobj: {PYSYNCOBJ_IN_FLIGHT}",
        "pysyncobj runs the harness inside its leader process (it has no client protocol); kubesim and etcd are "
        "driven from a separate client process",
        "kubesim data dirs on " + off["data_dir_fs"] + (f", etcd's on {etcd[0]['data_dir_fs']}" if etcd else ""),
        "failover = kill -9 of the leader -> first acknowledgement of a put started after the kill; "
        f"writer: a put every {WRITER_INTERVAL_S * 1e3:g} ms, <= {WRITER_MAX_OUTSTANDING} outstanding, "
        f"attempt timeout {WRITER_ATTEMPT_TIMEOUT_S} s; fsync on; p99 is nearest-rank (the max for < 100 kills)",
        "leader changes under load: growth of kubesim_store_leader_changes_total summed over the 3 members "
        "across the concurrent and sequential runs (initial election excluded), every round",
    ]
    if rounds > 1:
        notes.append(f"best of {rounds} rounds for throughput; sequential figures from the round with the lowest p50")
    if args.quick:
        notes.append("--quick: fewer writes and kills; not the full benchmark")
    if args.skip_peers:
        notes.append("--skip-peers: no etcd or pysyncobj figures, no ratios")
    result["notes"] = notes

    say("--- summary")
    say(f"kubesim fsync off: {off['writes_per_s']:>7,} writes/s ({PYSYNCOBJ_IN_FLIGHT} in flight)  "
        f"sequential p50 {off['seq_p50_ms']:.2f} ms p99 {off['seq_p99_ms']:.2f} ms (target p50 <= {SEQ_P50_TARGET_MS} ms)")
    if pso:
        say(f"pysyncobj (no fsync): {result['pysyncobj']['writes_per_s']:>7,} writes/s  "
            f"ratio {ratios['fsync_off_vs_pysyncobj']:.2f} (target >= 1.0)")
    say(f"kubesim fsync on:  {on['writes_per_s']:>7,} writes/s ({ETCD_IN_FLIGHT} in flight)  "
        f"sequential p50 {on['seq_p50_ms']:.2f} ms p99 {on['seq_p99_ms']:.2f} ms")
    if etcd:
        say(f"etcd (fsync on):   {result['etcd']['writes_per_s']:>7,} writes/s  "
            f"ratio {ratios['fsync_on_vs_etcd']:.2f} (target >= 1.0)")
    say(f"leader changes under load: {changes} (target 0)")
    for preset, f in failover.items():
        say(f"failover {preset}: p50 {f['p50_ms']:.0f} ms p99 {f['p99_ms']:.0f} ms max {f['max_ms']:.0f} ms "
            f"({f['kills']} kills; target p99 <= {PRESETS[preset]['target_p99_ms']} ms)")
    missed = [k for k, t in targets.items() if t["met"] is False]
    say("targets: " + ("all met" if result["all_targets_met"] else
                       f"missed {', '.join(missed) or '-'}; not measured "
                       f"{', '.join(k for k, t in targets.items() if t['met'] is None) or '-'}"))
    return result


if __name__ == "__main__":
    sys.exit(main())
