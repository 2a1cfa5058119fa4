"""The web dashboard and the logging add-on, end to end: a real cluster, a real browser, the real CLI.

One default cluster (config/cluster.yaml with free ports, time_scale 10)
runs for the module, dashboard and log collector included. Headless
Chromium (Debian's package, driven by Playwright for Python) opens the
dashboard and does what a person would: watches the nodes and pods appear,
applies a manifest, scales a Deployment, kills a node from the Chaos tab and
sees it turn NotReady, heals it, draws a pod's trace, reads the message flow
and the logs. ``kubesim logs`` then queries the collector by component, pod,
trace id and level, follows a container, and finds every line again after
the collector is killed with -9. The tests run in file order and build on
each other, as a session at the page would.

A screenshot of the page is kept in ``artifacts/dashboard.png`` (and one
per step beside it), for CI to keep and for people to look at.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.chromium import executable
from tests.helpers import (
    ROOT,
    default_cluster,
    kubesim,
    kubesim_out,
    stop_all,
    wait_until,
)

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "artifacts"
#: Chromium as the machine's browser tests run it (no sandbox as root, nothing fetched from the network).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WEB = (ROOT / "config" / "examples" / "web.yaml").read_text()


class Cluster:
    def __init__(self, config: Path, url: str) -> None:
        self.config, self.url = config, url

    def cli(self, *args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
        return kubesim_out("--config", str(self.config), *args, timeout_s=timeout_s)

    def out(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, f"kubesim {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    config, names = default_cluster(tmp, time_scale=10, addons=True)
    port = yaml.safe_load(config.read_text())["processes"]["dashboard"]["args"]["port"]
    logs = tmp / "logs"
    logs.mkdir()
    procs = [kubesim("--config", str(config), "run", name, stdout=open(logs / f"{name}.log", "w"),
                     stderr=subprocess.STDOUT) for name in names]
    try:
        c = Cluster(config, f"http://127.0.0.1:{port}/")
        wait_until(lambda: c.cli("get", "nodes").stdout.count(" Ready ") == 3, 120, "three Ready nodes")
        yield c
    finally:
        stop_all(procs)


@pytest.fixture(scope="module")
def page(cluster):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable(), args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(cluster.url)
        yield pg
        browser.close()
    assert not errors, f"the page threw: {errors}"


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chips(page, prefix: str) -> list[dict]:
    """The pod chips drawn for pods whose test id starts with ``prefix``, with their data attributes."""
    return page.eval_on_selector_all(
        f'[data-testid^="pod-{prefix}"]',
        "els => els.map(e => ({id: e.dataset.testid, status: e.dataset.status, ready: e.dataset.ready}))")


def wait_page(page, predicate, timeout_s: float, what: str):
    return wait_until(predicate, timeout_s, what, step=lambda: page.wait_for_timeout(250))


def status_line(page) -> str:
    return page.inner_text('[data-testid="status-line"]')


# --- the page ------------------------------------------------------------------------------

def test_the_page_loads_live_with_the_control_plane_and_the_nodes(page):
    page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=15_000)
    for node in ("node-1", "node-2", "node-3"):
        page.wait_for_selector(f'[data-testid="node-{node}"][data-status="Ready"]', timeout=30_000)
    for component in ("apiserver", "scheduler", "controller-manager", "log-collector"):
        page.wait_for_selector(f'[data-testid="component-{component}"][data-state="running"]', timeout=15_000)
    # The store's members with their raft roles: exactly one leader.
    wait_page(page, lambda: page.eval_on_selector_all(
        '[data-testid^="store-"]', "els => els.map(e => e.dataset.role)").count("leader") == 1, 30,
        "one store leader on the page")
    shot(page, "dashboard-start")


def test_a_manifest_applied_from_the_page_puts_pods_on_the_nodes(page):
    page.click('[data-testid="tab-apply"]')
    page.fill('[data-testid="apply-text"]', WEB)
    page.click('[data-testid="apply-button"]')
    wait_page(page, lambda: "deployment.apps/web created" in status_line(page)
              or "deployment.apps/web created" in page.inner_text("body"), 20, "apply's result on the page")
    # Three nginx pods, drawn inside node boxes, Running and ready.
    wait_page(page, lambda: len([c for c in chips(page, "demo-web-") if c["status"] == "Running"
                                 and c["ready"] == "true"]) == 3, 60, "three Running web pods on the page")
    placed = page.eval_on_selector_all('[data-testid^="node-"] [data-testid^="pod-demo-web-"]', "els => els.length")
    assert placed == 3, "each pod is drawn inside its node's box"


def test_scaling_from_the_page_changes_the_pods_shown(page, cluster):
    page.click('[data-testid="tab-workloads"]')
    page.fill('[data-testid="scale-input-demo-web"]', "5")
    page.click('[data-testid="scale-button-demo-web"]')
    started = time.monotonic()
    wait_page(page, lambda: len(chips(page, "demo-web-")) == 5, 30, "five web pods on the page")
    assert time.monotonic() - started < 30
    assert json.loads(cluster.out("get", "deployment", "web", "-n", "demo", "-o", "json"))["spec"]["replicas"] == 5
    wait_page(page, lambda: len([c for c in chips(page, "demo-web-") if c["ready"] == "true"]) == 5, 60,
              "five ready web pods")
    shot(page, "dashboard")  # the README's and the closing note's picture: five pods over three nodes


def test_killing_a_node_from_the_page_turns_it_notready_until_healed(page, cluster):
    page.click('[data-testid="tab-chaos"]')
    page.select_option('[data-testid="chaos-target"]', "node-3")
    page.click('[data-testid="chaos-kill"]')
    fault = page.wait_for_selector('[data-testid^="fault-f"]', timeout=15_000)
    assert "node-3" in fault.inner_text()
    page.wait_for_selector('[data-testid="component-node-3"][data-state="stopped"]', timeout=15_000)
    # The kubelet stops renewing its Lease: after the grace period (40 s, 4 s here) the node is NotReady.
    page.wait_for_selector('[data-testid="node-node-3"][data-status^="NotReady"]', timeout=60_000)
    assert "NotReady" in cluster.out("get", "node", "node-3")
    shot(page, "dashboard-node-killed")
    page.click('[data-testid="heal-all"]')
    page.wait_for_selector('[data-testid^="fault-f"]', state="detached", timeout=30_000)
    page.wait_for_selector('[data-testid="node-node-3"][data-status="Ready"]', timeout=90_000)


def test_cordon_from_the_node_details(page):
    page.click('[data-testid="node-node-2"]')
    page.click('[data-testid="action-cordon"]')
    page.wait_for_selector('[data-testid="node-node-2"][data-status="Ready,SchedulingDisabled"]', timeout=15_000)
    page.click('[data-testid="action-uncordon"]')
    page.wait_for_selector('[data-testid="node-node-2"][data-status="Ready"]', timeout=15_000)


def test_a_pods_trace_is_drawn_as_a_sequence_diagram(page):
    pod = chips(page, "demo-web-")[0]["id"].removeprefix("pod-demo-")
    page.click('[data-testid="tab-trace"]')
    page.select_option("#trace-pod", f"demo/{pod}")
    page.click('[data-testid="trace-button"]')
    page.wait_for_selector('[data-testid="trace-diagram"]', timeout=20_000)
    # A lifeline for each process its life crossed (the API server, the scheduler that bound it, its node),
    # and an arrow per call.
    lanes = page.eval_on_selector_all('[data-testid="trace-diagram"] .lane-name', "els => els.map(e => e.textContent)")
    assert "apiserver" in lanes, lanes
    for process in ("scheduler", "node-", "store-"):  # whichever scheduler leads, the pod's node, a member
        assert any(lane.startswith(process) for lane in lanes), lanes
    assert not any("." in lane for lane in lanes), f"lifelines are processes, not actors: {lanes}"
    assert page.eval_on_selector_all('[data-testid="trace-diagram"] line:not(.lifeline)', "els => els.length") >= 3


def test_the_message_flow_is_live(page):
    page.click('[data-testid="tab-messages"]')
    wait_page(page, lambda: page.eval_on_selector('[data-testid="flow-list"]', "e => e.children.length") >= 5, 20,
              "sampled messages in the flow view")
    assert "api." in page.inner_text('[data-testid="flow-list"]')


def test_the_page_shows_the_collectors_lines(page):
    page.click('[data-testid="tab-logs"]')
    page.fill('#log-form input[name="component"]', "scheduler")
    page.click('[data-testid="log-search"]')
    wait_page(page, lambda: "became the leader" in page.inner_text('[data-testid="log-lines"]'), 20,
              "the scheduler's lines on the page")


# --- kubesim logs, against the collector -----------------------------------------------------------

def test_logs_by_component_and_since(cluster):
    out = cluster.out("logs", "--component", "scheduler", "--since", "1h")
    assert "became the leader" in out
    lines = [line for line in out.splitlines() if line]
    assert lines and all(" scheduler" in line for line in lines), "only the schedulers' lines"
    kubelets = cluster.out("logs", "--component", "kubelet", "-o", "json")
    sources = {json.loads(line)["source"] for line in kubelets.splitlines()}
    assert sources == {"node-1.kubelet", "node-2.kubelet", "node-3.kubelet"}
    assert cluster.out("logs", "--component", "scheduler", "--since", "0s").strip() == ""


def test_logs_of_a_pod_are_its_containers_lines(cluster):
    pod = json.loads(cluster.out("get", "pods", "-n", "demo", "-l", "app=web", "-o", "json"))["items"][0]
    name = pod["metadata"]["name"]
    collected = cluster.out("logs", f"pod/{name}", "-c", "nginx", "-n", "demo")
    from_kubelet = cluster.out("logs", name, "-n", "demo", "--from", "kubelet")
    # What the kubelet still holds, the collector has too (it ships within a second; ask again until so).
    first = from_kubelet.splitlines()[0]
    assert first in collected.splitlines()
    assert "Configuration complete; ready for start up" in collected


def test_logs_by_trace_id_cross_processes(cluster):
    rows = [json.loads(line) for line in cluster.out("logs", "--component", "kubelet", "-o", "json").splitlines()]
    traced = [r for r in rows if r["trace_id"]]
    assert traced, "kubelet lines carry their trace"
    trace = traced[-1]["trace_id"]
    found = [json.loads(line) for line in cluster.out("logs", "--trace", trace[:8], "-o", "json").splitlines()]
    assert found and all(r["trace_id"] == trace for r in found)


def test_logs_by_level(cluster):
    rows = [json.loads(line) for line in cluster.out("logs", "--level", "warning", "-o", "json").splitlines()]
    assert rows, "the node kill left warnings"
    assert {r["level"] for r in rows} <= {"warning", "error", "critical"}


def test_logs_follow_prints_new_lines(cluster):
    pod = json.loads(cluster.out("get", "pods", "-n", "demo", "-l", "app=web", "-o", "json"))["items"][0]
    follow = kubesim("--config", str(cluster.config), "logs", f"pod/{pod['metadata']['name']}", "-n", "demo",
                     "-f", "--tail", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen: list[str] = []

        def two_lines() -> bool:
            import select

            while select.select([follow.stdout], [], [], 0.2)[0]:
                line = follow.stdout.readline()
                if not line:
                    break
                seen.append(line)
            return len(seen) >= 2
        # nginx writes an access line for every probe (every 10 s, 1 s here): the second line is a new one.
        wait_until(two_lines, 30, "kubesim logs -f to print a line written after it started")
    finally:
        follow.terminate()
        follow.wait(10)


def test_the_collector_keeps_its_lines_across_a_kill_9(cluster):
    before = cluster.out("logs", "--component", "scheduler")
    assert cluster.cli("ctl", "log-collector", "kill").returncode == 0
    wait_until(lambda: cluster.cli("logs", "--component", "scheduler").returncode == 0, 60,
               "the collector back after kill -9")
    after = cluster.out("logs", "--component", "scheduler")
    assert before.splitlines()[0] in after.splitlines()


def test_bad_log_queries_get_clear_errors(cluster):
    done = cluster.cli("logs", "--since", "5 minutes", "--component", "scheduler")
    assert done.returncode == 2 and "--since: expected a duration such as 30s" in done.stderr
    done = cluster.cli("logs")
    assert done.returncode == 2 and "say whose lines" in done.stderr
