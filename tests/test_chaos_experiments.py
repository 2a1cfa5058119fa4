"""Every built-in chaos experiment passes on the default cluster (config/chaos/*.yaml).

One default cluster (config/cluster.yaml with free ports, its state under
tmp, at time_scale 10 as the experiments are written for) is started for the
module; each experiment then runs against it through the real command,
``kubesim chaos run FILE``, as a user would run it against their cluster,
and must come back with the verdict pass. The experiments heal what they
break, so each leaves the cluster as it found it for the next. The journal's
recovery times are printed (``pytest -s`` shows them) for the closing note.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kubesim.chaos.cluster import LocalCluster
from kubesim.config import load
from tests.chromium import chromium
from tests.helpers import ROOT, default_cluster, kubesim

pytestmark = [pytest.mark.integration, pytest.mark.serial]

BUILTIN = sorted((ROOT / "config" / "chaos").glob("*.yaml"))
#: Real seconds an experiment may take here (the longest, node-power-off, takes about a minute).
RUN_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("chaos")
    path, _ = default_cluster(tmp, time_scale=10, fsync=True)
    with LocalCluster(load(path), path, tmp / "logs"):
        yield path


def run_experiment(config: Path, experiment: Path, runs: Path, *extra: str) -> tuple[int, dict, str]:
    proc = kubesim("--config", str(config), "chaos", "run", str(experiment.relative_to(ROOT)), "--runs-dir",
                   str(runs), *extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{experiment.name} did not finish within {RUN_TIMEOUT_S} s:\n{out[-4000:]}")
    journals = sorted(runs.glob("*/*/journal.json"), key=lambda p: p.stat().st_mtime)
    assert journals, f"no journal written:\n{out[-4000:]}"
    return proc.returncode, json.loads(journals[-1].read_text()), out


def summary(journal: dict) -> str:
    lines = [f"{journal['name']}: {journal['verdict'].upper()} (seed {journal['seed']}, "
             f"{journal['duration_s']:.0f} cluster s)"]
    for r in journal["recovery"]:
        lines.append(f"  {r['measure']} ({r['subject']}): {r['seconds']} s, expected ≤ {r['expected_s']} s")
    for c in journal["checks"]:
        lines.append(f"  check {c['name']}: {c['result']} — {c['detail']}")
    return "\n".join(lines)


def test_the_builtin_experiments_are_valid_and_written_for_time_scale_10():
    assert len(BUILTIN) >= 9
    for path in BUILTIN:
        doc = yaml.safe_load(path.read_text())
        assert doc["cluster"]["time_scale"] == 10, path


@pytest.mark.parametrize("experiment", BUILTIN, ids=[p.stem for p in BUILTIN])
def test_builtin_experiment_passes(cluster, experiment, tmp_path):
    rc, journal, out = run_experiment(cluster, experiment, tmp_path / "runs")
    print("\n" + summary(journal))
    assert journal["verdict"] == "pass", f"{journal['reasons']}\n{out[-6000:]}"
    assert rc == 0
    # Every fault went in and came out, and every check ran.
    assert journal["faults"] and all(f["injected_at"] is not None and f["healed_at"] is not None
                                     for f in journal["faults"]), journal["faults"]
    assert {c["result"] for c in journal["checks"]} == {"pass"}
    assert journal["reproduce"].startswith(f"kubesim --config {cluster} chaos run config/chaos/{experiment.name}")
    if experiment.stem == "store-leader-kill":  # one real report through a real browser (the rest: test_chaos_report)
        report = next((tmp_path / "runs").glob("*/*/report.html"))
        dom = chromium("--dump-dom", report.as_uri()).stdout
        assert 'id="timeline"' in dom
        assert dom.count('class="fault-window"') >= len(journal["faults"]) == 2
        assert (report.parent / "history.jsonl").read_text().count('"type": "invoke"') > 100


TESTDATA = ROOT / "tests" / "testdata" / "chaos"


def supervisor_state(config: Path, process: str) -> str:
    from bus.transport.control import request

    return request(load(config).control_socket(process), {"command": "status"}, 5.0)["state"]


def test_every_kind_of_fault_goes_in_and_comes_out_and_the_cluster_recovers(cluster, tmp_path):
    rc, journal, out = run_experiment(cluster, TESTDATA / "every-fault.yaml", tmp_path / "runs")
    print("\n" + summary(journal))
    actions = {f["action"] for f in journal["faults"]}
    assert actions == {"pause", "stop", "restart", "crash-actor", "clock-skew", "fsync-error", "lose-unfsynced",
                       "bridge", "partition", "duplicate", "reorder", "terminate-instance"}
    not_in = [f for f in journal["faults"] if f["injected_at"] is None or f["healed_at"] is None]
    assert not not_in, not_in
    assert journal["verdict"] == "pass", f"{journal['reasons']}\n{out[-6000:]}"
    bridge = next(f for f in journal["faults"] if f["action"] == "bridge")
    assert len(bridge["targets"]) == 2  # the third member is the bridge, talking to both


def test_an_abort_condition_stops_the_run_heals_and_fails_it(cluster, tmp_path):
    rc, journal, out = run_experiment(cluster, TESTDATA / "abort.yaml", tmp_path / "runs")
    assert rc == 1 and journal["verdict"] == "fail", out[-3000:]
    assert any(r.startswith("aborted: nodes-ready failed for") for r in journal["reasons"]), journal["reasons"]
    assert journal["faults"][0]["healed_at"] < 300  # healed at the abort, not after its ten minutes
    assert supervisor_state(cluster, "apiserver") == "running"


def test_ctrl_c_heals_every_fault_before_the_runner_exits(cluster, tmp_path):
    import signal

    # Ctrl-C as a terminal sends it: a pytest started in the background (`... &`) inherits SIGINT ignored, and so
    # would the runner, unless its disposition is set back to the default.
    proc = kubesim("--config", str(cluster), "chaos", "run", str((TESTDATA / "abort.yaml").relative_to(ROOT)),
                   "--runs-dir", str(tmp_path / "runs"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stdout:  # progress is printed as it happens
        lines.append(line)
        if "fault f1" in line:
            break
    assert supervisor_state(cluster, "apiserver") == "stopped"
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "every fault was healed" in rest
    assert supervisor_state(cluster, "apiserver") == "running"
    journal = json.loads(next((tmp_path / "runs").glob("*/*/journal.json")).read_text())
    assert journal["verdict"] == "unknown" and "interrupted" in journal["reasons"][0]
