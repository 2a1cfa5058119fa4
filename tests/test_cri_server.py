"""The runtime actor, in one process on a manual clock: CRI calls answered when done, events fed to the kubelet,
foreign callers refused, bad arguments named."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from actors.messages import CriEvents, CriRequest, CriResponse, HttpGet, HttpResponse
from actors.runtime import cri
from actors.runtime.server import RuntimeMetrics, RuntimeServer
from actors.runtime.wire import from_wire, to_wire
from bus.clock import ManualClock
from bus.runtime import Actor, RemoteError, Runtime, handles
from bus.settings import BusSettings
from tests.helpers import advance, pump

T0 = 1_767_225_600.0


class FakeKubelet(Actor):
    def __init__(self) -> None:
        super().__init__("node-1.kubelet")
        self.events: list[dict] = []

    @handles(CriEvents)
    def on_events(self, msg: CriEvents, env) -> None:
        self.events.extend(msg.events)


class Node:
    """A node process without sockets: the runtime actor, a fake kubelet, and a caller, pumped by hand."""

    def __init__(self) -> None:
        self.clock = ManualClock(wall_start=T0)
        self.rt = Runtime("node-1", BusSettings(), self.clock, seed=1)
        self.server = self.rt.add(RuntimeServer("node-1", seed=7, metrics=RuntimeMetrics(CollectorRegistry())))
        self.kubelet = self.rt.add(FakeKubelet())
        self.caller = self.rt.add(Actor("node-1.caller"))

    def pump(self) -> None:
        pump(self.rt)

    def advance(self, seconds: float) -> None:
        advance(self.rt, self.clock, seconds)

    def call(self, method: str, **args):
        future = self.caller.request("node-1.runtime", CriRequest(method, to_wire(args)), timeout_s=600)
        self.pump()
        return future

    def result(self, method: str, **args):
        future = self.call(method, **args)
        assert future.done(), f"{method} should answer at once"
        return future.result().result


@pytest.fixture
def node():
    n = Node()
    yield n
    n.rt._ctx.term()


def sandbox_config() -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(cri.PodSandboxMetadata("web-0", "demo", "uid-1"), hostname="web-0",
                                pod_ip="10.244.1.2")


def test_a_pull_is_answered_when_the_download_is_done_and_a_cached_image_at_once(node):
    future = node.call("PullImage", image="nginx:1.27")
    assert not future.done(), "nginx takes simulated seconds to download"
    for _ in range(120):
        if future.done():
            break
        node.advance(0.5)
    assert future.done() and future.result().result.startswith("sha256:")
    assert node.call("PullImage", image="nginx:1.27").done(), "cached: answered at once"


def test_a_container_runs_serves_and_its_death_is_fed_to_the_kubelet(node):
    pull = node.call("PullImage", image="busybox:1.36")
    for _ in range(60):
        if pull.done():
            break
        node.advance(0.5)
    assert node.result("ImageStatus", image="busybox:1.36")["repo_tags"], "pulled"
    sandbox = node.result("RunPodSandbox", config=sandbox_config())
    config = cri.ContainerConfig(cri.ContainerMetadata("main"), "busybox:1.36", command=("sh", "-c", "sleep 5; exit 3"))
    cid = node.result("CreateContainer", pod_sandbox_id=sandbox, config=config)
    start = node.call("StartContainer", container_id=cid)
    node.advance(0.1)
    assert start.done()
    status = from_wire(cri.ContainerStatus, node.result("ContainerStatus", container_id=cid))
    assert status.state == cri.ContainerState.RUNNING
    node.advance(6)  # the runtime's own timer applies the exit and feeds the kubelet
    died = [e for e in node.kubelet.events if e["type"] == cri.EventType.CONTAINER_DIED]
    assert [(e["container_id"], e["exit_code"]) for e in died] == [(cid, 3)]
    status = from_wire(cri.ContainerStatus, node.result("ContainerStatus", container_id=cid))
    assert (status.state, status.exit_code, status.reason) == (cri.ContainerState.EXITED, 3, cri.Reason.ERROR)


def test_the_pod_network_answers_from_anywhere(node):
    reply = node.caller.request("node-1.runtime", HttpGet("10.244.9.9", 80, "/"))
    node.pump()
    assert isinstance(reply.result(), HttpResponse) and reply.result().connected is False


def test_bad_calls_are_refused_with_the_field_named(node):
    for method, args, code, text in (
            ("Frobnicate", {}, cri.Code.INVALID_ARGUMENT, "unknown CRI method 'Frobnicate'"),
            ("StartContainer", {}, cri.Code.INVALID_ARGUMENT, "StartContainer.container_id: required"),
            ("StopContainer", {"container_id": "x", "timeout": "soon"}, cri.Code.INVALID_ARGUMENT,
             "StopContainer.timeout: must be a number"),
            ("RunPodSandbox", {"config": {"metadata": {"name": "x"}}}, cri.Code.INVALID_ARGUMENT,
             "metadata.namespace: required"),
            ("RunPodSandbox", {"config": {"metadata": {"name": "x", "namespace": "d", "uid": 7}}},
             cri.Code.INVALID_ARGUMENT, "RunPodSandbox.config.metadata.uid: must be str, not int"),
            ("RunPodSandbox", {"config": {"metadata": {"name": "x", "namespace": "d", "colour": "red"}}},
             cri.Code.INVALID_ARGUMENT, "RunPodSandbox.config.metadata: unknown field 'colour'"),
            ("CreateContainer", {"pod_sandbox_id": "s", "config": {
                "metadata": {"name": "c"}, "image": "nginx", "ports": [{"container_port": 80}, {"container_port": "80"}]}},
             cri.Code.INVALID_ARGUMENT, "CreateContainer.config.ports[1].container_port: must be int, not str"),
            ("ExecSync", {"container_id": "x", "cmd": "ls"}, cri.Code.INVALID_ARGUMENT,
             "ExecSync.cmd: must be a list, not str"),
            ("ContainerStatus", {"container_id": "nope"}, cri.Code.NOT_FOUND, "nope")):
        future = node.caller.request("node-1.runtime", CriRequest(method, args))
        node.pump()
        with pytest.raises(RemoteError) as err:
            future.result()
        assert err.value.code == code and text in str(err.value), (method, str(err.value))


def test_a_cri_call_from_another_process_is_forbidden(node):
    replies = []
    node.server.reply = lambda env, msg: replies.append(msg)

    class Env:
        identity = "node-2"

    node.server.on_cri(CriRequest("ListContainers", {}), Env())
    assert replies[0].code == "forbidden" and "local to node node-1" in replies[0].message
    assert not isinstance(replies[0], CriResponse)
