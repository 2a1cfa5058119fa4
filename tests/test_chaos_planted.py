"""The chaos checks catch planted bugs: a verdict of pass means something only if fail is possible.

Two store variants with planted bugs (tests/store_planted.py), each run under
the real supervisor so chaos can kill and partition them like any member:

- a member that acknowledges writes before they are durable: killing every
  member must lose acknowledged adds, and the verdict must fail naming them;
- a member that serves reads as leader without the read-index round (and
  without check-quorum): cut off from its peers it goes on answering reads
  from its stale state, and the linearizability check must fail naming the
  read that cannot be linearized.

And the partition against the honest store passes, so the failure comes
from the bug, not from the experiment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, free_port, kubesim, stop, write_cluster

pytestmark = [pytest.mark.integration, pytest.mark.serial]

MEMBERS = ("store-0", "store-1", "store-2")

KILL_ALL = {
    "name": "planted-kill-all",
    "seed": 11,
    "steady_state": {"interval_s": 0.5, "before_within_s": 60, "probes": [{"type": "store-leader"}]},
    "workloads": [{"type": "register", "keys": 2, "clients": 3, "rate": 60, "timeout_s": 2,
                   "mix": {"read": 0.2, "write": 0.2, "cas": 0.1, "add": 0.5}}],
    "faults": [{"name": "kill every member", "action": "kill", "target": {"role": "store", "select": "all"},
                "at": 4, "every": 6, "times": 2}],
    "duration_s": 13,
    "recovery": {"within_s": 60, "hold_s": 2},
    "checks": ["linearizable", "no-lost-writes", "raft"],
}

STALE_LEADER = {
    "name": "planted-deposed-leader",
    "seed": 12,
    "steady_state": {"interval_s": 0.5, "before_within_s": 60, "probes": [{"type": "store-leader"}]},
    "workloads": [{"type": "register", "keys": 2, "clients": 3, "rate": 80, "timeout_s": 1, "read_from": "any",
                   "mix": {"read": 0.6, "write": 0.4}}],
    "faults": [{"name": "cut the leader off from its peers", "action": "partition",
                "groups": [{"role": "store", "select": "leader"}, {"role": "store"}], "at": 3, "for": 8}],
    "duration_s": 12,
    "recovery": {"within_s": 60, "hold_s": 2},
    "checks": ["linearizable", "raft"],
}


class PlantedStore:
    """A broker and three store members, each under a supervisor, the members of ``variant`` (None: honest)."""

    def __init__(self, tmp: Path, variant: str | None, start: bool = True) -> None:
        self.tmp = tmp
        processes = {"broker": {"component": "broker", "metrics_port": 0}}
        processes |= {m: {"component": "store", "metrics_port": 0} for m in MEMBERS}
        self.config = write_cluster(tmp, processes, store={
            "members": {m: free_port() for m in MEMBERS}, "data_dir": str(tmp / "store"), "fsync": True,
            "heartbeat_interval_ms": 50, "election_timeout_ms": 500}, logging={"level": "info"})
        self.procs = []
        for name in ("broker", *MEMBERS) if start else ():
            log = open(tmp / f"{name}.log", "ab")
            if variant is None or name == "broker":
                self.procs.append(kubesim("run", name, "--config", str(self.config), stdout=log,
                                          stderr=subprocess.STDOUT))
            else:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tests.store_planted", "--supervise", str(self.config), name, variant],
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    def run(self, experiment: dict, *extra: str) -> dict:
        path = self.tmp / f"{experiment['name']}.yaml"
        path.write_text(yaml.safe_dump(experiment))
        proc = subprocess.run([sys.executable, "-m", "kubesim", "--config", str(self.config), "chaos", "run",
                               str(path), "--runs-dir", str(self.tmp / "runs"), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        journals = list((self.tmp / "runs" / experiment["name"]).glob("*/journal.json"))
        assert journals, f"no journal:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        journal = json.loads(journals[0].read_text())
        journal["_output"] = proc.stdout
        journal["_dir"] = str(journals[0].parent)
        journal["_rc"] = proc.returncode
        return journal

    def close(self) -> None:
        for p in self.procs:
            stop(p)


def check(journal: dict, name: str) -> dict:
    return next(c for c in journal["checks"] if c["name"] == name)


@pytest.fixture
def store(tmp_path, request):
    s = PlantedStore(tmp_path, request.param)
    yield s
    s.close()


@pytest.mark.parametrize("store", ["ack-before-durable"], indirect=True)
def test_a_store_that_acknowledges_before_fsync_fails_the_verdict_naming_the_lost_writes(store):
    journal = store.run(KILL_ALL)
    assert journal["verdict"] == "fail", journal["_output"][-3000:]
    assert journal["_rc"] == 1
    # Acknowledged writes that were never durable: lost adds, and (the same bug seen from raft) members whose
    # committed entries disagree after the restart. Whichever the run shows, it names what was lost.
    failed = {c["name"]: c for c in journal["checks"] if c["result"] == "fail"}
    assert failed.keys() & {"no-lost-writes", "raft"}, journal["checks"]
    assert all(c["operations"] for c in failed.values()), failed
    if "no-lost-writes" in failed:
        assert any("was acknowledged and is missing" in op for op in failed["no-lost-writes"]["operations"])


@pytest.mark.parametrize("store", ["stale-reads"], indirect=True)
def test_a_deposed_leader_serving_reads_fails_linearizability_naming_the_read(store):
    journal = store.run(STALE_LEADER)
    assert journal["verdict"] == "fail", journal["_output"][-3000:]
    lin = check(journal, "linearizable")
    assert lin["result"] == "fail", lin
    assert lin["operations"] and "read" in lin["operations"][0] and "process" in lin["operations"][0], lin


def test_the_honest_store_passes_in_a_cluster_the_runner_starts(tmp_path):
    """The partition that catches the planted stale reads finds none in the real store (and the kill of every
    member is tests/test_chaos_experiments.py's store-all-killed). ``--start-cluster``: the runner starts the
    cluster file's processes, runs, and stops them."""
    honest = PlantedStore(tmp_path, None, start=False)
    for experiment in (STALE_LEADER,):
        journal = honest.run(experiment, "--start-cluster")
        assert journal["verdict"] == "pass", (journal["reasons"], journal["_output"][-3000:])
        for c in journal["checks"]:
            assert c["result"] == "pass", c
        assert "--start-cluster" in journal["reproduce"]
        assert (Path(journal["_dir"]) / "cluster" / "store-0.log").exists()
    assert (tmp_path / "state" / "run").is_dir()
    assert not list((tmp_path / "state" / "run").glob("*.sock")), "the runner left its cluster running"
