"""A real Prometheus against the default cluster: every process is found and up, and every /metrics is clean.

The default cluster (config/cluster.yaml: three store members, the API
server, scheduler, controller managers, DNS, three nodes and the demo pair,
each under its ``kubesim run`` supervisor) runs as real processes with free
ports and its state in a temporary directory, and Debian's ``prometheus``
runs with ``config/prometheus.yml`` as shipped: it finds the processes only
through the file_sd target files they write. The README's example workloads
are applied, so the cluster has pods, volumes, Services and a crash loop to
report. ``promtool`` (from the same package) lints every endpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.dashboards import all_queries, substitute
from tests.helpers import (
    ROOT,
    default_cluster,
    free_port,
    kubesim,
    kubesim_out,
    wait_until,
)

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


class Prom:
    """The Prometheus HTTP API at ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> list[dict]:
        doc = get_json(f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def targets(self) -> list[dict]:
        return get_json(f"{self.base}/api/v1/targets?state=active")["data"]["activeTargets"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The default cluster and a Prometheus scraping it; yields (Prom, cluster file, process names)."""
    tmp = tmp_path_factory.mktemp("prometheus")
    config, names = default_cluster(tmp, addons=True)
    logs = tmp / "logs"
    logs.mkdir()
    procs = []
    prom = None
    try:
        for name in names:
            procs.append(kubesim("--config", str(config), "run", name,
                                 stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT))
        # config/prometheus.yml as shipped, beside the cluster's state as it is beside the project's.
        (tmp / "config").mkdir()
        shutil.copy(ROOT / "config" / "prometheus.yml", tmp / "config" / "prometheus.yml")
        port = free_port()
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={tmp / 'config' / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=open(logs / "prometheus.log", "w"), stderr=subprocess.STDOUT)
        p = Prom(f"http://127.0.0.1:{port}")

        def nodes_ready() -> bool:
            try:
                out = kubesim_out("--config", str(config), "get", "nodes")
            except subprocess.TimeoutExpired:  # fifteen processes starting at once on two cores: ask again
                return False
            return out.returncode == 0 and out.stdout.count(" Ready ") == 3
        wait_until(nodes_ready, 120, "three Ready nodes")
        applied = kubesim_out("--config", str(config), "apply", "-f", str(ROOT / "config" / "examples"),
                              timeout_s=60)
        assert applied.returncode == 0, applied.stderr
        yield p, config, names
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(20)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_prometheus_finds_every_process_through_the_target_files_and_all_are_up(cluster):
    prom, _, names = cluster
    # Each `kubesim run NAME` is a supervisor and its child, each with a /metrics of its own.
    expected = set(names) | {f"{name}-supervisor" for name in names}

    def all_up() -> set[str] | None:
        try:
            targets = prom.targets()
        except OSError:
            return None  # Prometheus still starting
        up = {t["labels"].get("process") for t in targets if t["health"] == "up"}
        return up if up >= expected and all(t["health"] == "up" for t in targets) else None
    up = wait_until(all_up, 90, "every target up in Prometheus")
    assert up == expected
    assert {r["metric"]["process"] for r in prom.query('up{job="kubesim"} == 1')} == expected


@pytest.mark.timeout(300)
def test_every_panel_of_every_dashboard_shows_data(cluster):
    prom, _, _ = cluster
    queries = all_queries()
    assert len({q.file for q in queries}) >= 7, "a dashboard went missing"
    empty = {q.where(): substitute(q.expr) for q in queries}
    # Rates need two scrapes inside their window and some series need the examples to get going (a crash
    # loop's restarts, a Job's completion): ask again until every panel answers or the deadline passes.

    def every_panel_answers() -> bool:
        for where, expr in list(empty.items()):
            if prom.query(expr):
                del empty[where]
        return not empty
    try:
        wait_until(every_panel_answers, 150, "every panel query to return a series")
    except AssertionError:
        pytest.fail(f"{len(empty)} of {len(queries)} panel queries returned no series:\n" + "\n".join(
            f"  {where}: {expr}" for where, expr in sorted(empty.items())))


def test_promtool_finds_nothing_to_lint_in_any_processs_metrics(cluster):
    prom, _, _ = cluster
    targets = wait_until(lambda: [t for t in prom.targets() if t["health"] == "up"] or None, 90, "a target up")
    problems = {}
    for target in targets:
        with urllib.request.urlopen(target["scrapeUrl"], timeout=10) as resp:
            text = resp.read()
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60)
        if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
            problems[target["labels"]["process"]] = (lint.stdout + lint.stderr).decode()
    assert not problems, "\n".join(f"{p}:\n{text}" for p, text in sorted(problems.items()))


def test_the_lint_is_not_vacuous_promtool_flags_a_counter_without_total():
    bad = b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=bad, capture_output=True, timeout=60)
    assert lint.returncode != 0 and b'"_total" suffix' in lint.stdout + lint.stderr


def test_the_shipped_config_passes_promtool_check_config():
    check = subprocess.run([PROMTOOL, "check", "config", str(ROOT / "config" / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
