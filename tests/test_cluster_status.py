"""``kubesim cluster status``: the tables it prints and when it says the cluster is healthy."""

from __future__ import annotations

from kubesim.clusterstatus import ProcessRow, healthy, node_rows, render


def node(name: str, ready: str | None, unschedulable: bool = False) -> dict:
    conditions = [{"type": "Ready", "status": ready}] if ready is not None else []
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}


def test_node_statuses_read_as_kubectl_get_nodes_shows_them():
    assert node_rows([node("b", "False"), node("a", "True", unschedulable=True), node("c", "Unknown"),
                      node("d", None)]) == [
        ("a", "Ready,SchedulingDisabled"), ("b", "NotReady"), ("c", "Unknown"), ("d", "Unknown")]


def test_the_view_has_processes_nodes_and_lease_holders():
    text = render([ProcessRow("apiserver", "apiserver", "running", 41, 0),
                   ProcessRow("node-1", "node", "stopped", None, 2)],
                  [("node-1", "NotReady")], [("kube-scheduler", "scheduler")])
    assert text.splitlines() == [
        "PROCESS     COMPONENT   STATE     PID   RESTARTS",
        "apiserver   apiserver   running   41    0",
        "node-1      node        stopped   -     2",
        "",
        "NODE     STATUS",
        "node-1   NotReady",
        "",
        "LEASE            HOLDER",
        "kube-scheduler   scheduler",
    ]
    assert render([], None, None, "the API server did not answer").endswith("API server: the API server did not answer\n")


def test_healthy_only_when_every_process_runs_and_the_api_answers():
    up = [ProcessRow("a", "apiserver", "running", 1)]
    assert healthy(up, True)
    assert not healthy(up, False)
    assert not healthy([*up, ProcessRow("n", "node", "stopped")], True)
    assert not healthy([*up, ProcessRow("n", "node", "no supervisor")], True)


def test_thousands_of_nodes_are_summed_up_with_only_the_unwell_listed():
    nodes = [(f"hollow-node-{i}", "Ready") for i in range(1, 4998)] + [
        ("hollow-node-4998", "NotReady"), ("hollow-node-4999", "Unknown"), ("hollow-node-5000", "Ready,SchedulingDisabled")]
    text = render([], nodes, [])
    assert text.splitlines()[2] == "5,000 nodes: 1 NotReady, 4,997 Ready, 1 Ready,SchedulingDisabled, 1 Unknown"
    assert "hollow-node-4998   NotReady" in text and "hollow-node-1 " not in text
    many = render([], [(f"n-{i}", "NotReady") for i in range(30)], [])
    assert "... and 10 more not Ready" in many
