"""kubectl's verbs as ``kubesim`` subcommands, against a real API server.

One control plane (three store members and the API server, as processes)
serves the whole module; every command runs as its own ``python -m kubesim``
process, as a person or a script would run it, and the test checks its
output lines and exit status against kubectl's. The test's own
:class:`~actors.apiserver.client.ApiSession` checks what reached the server
and makes the changes a command must notice.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from actors.apiserver.apply import LAST_APPLIED
from actors.apiserver.status import ApiError
from tests.api_cluster import started
from tests.helpers import ROOT, kubesim, stop, wait_until

pytestmark = pytest.mark.integration

WEB = "config/examples/web.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started(tmp_path_factory.mktemp("kubectl"))


@pytest.fixture(scope="module")
def session(cluster):
    return cluster.sessions[0]


@pytest.fixture(scope="module")
def web(cluster):
    """config/examples/web.yaml applied once; the first apply's result."""
    return cluster.cli("apply", "-f", WEB)


@pytest.fixture(scope="module")
def examples(cluster, web):
    """Then the whole config/examples/ directory (web.yaml again among the others)."""
    return cluster.cli("apply", "-f", "config/examples/")


def lines(text: str) -> list[str]:
    return text.splitlines()


def deployment(name: str, namespace: str = "default", replicas: int = 1, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}},
    }


def write_manifests(path: Path, *docs: dict) -> str:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


# --- apply -------------------------------------------------------------------------------

def test_apply_creates_each_document_and_records_it(cluster, session, web):
    assert web.returncode == 0, web.stderr
    assert lines(web.stdout) == ["namespace/demo created", "configmap/web-config created",
                                 "deployment.apps/web created", "service/web created"]
    assert web.stderr == ""
    d = session.run(session.api.get("deployments", "web", "demo"))
    manifest = list(yaml.safe_load_all((ROOT / WEB).read_text()))[2]
    assert json.loads(d["metadata"]["annotations"][LAST_APPLIED]) == manifest
    assert d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"  # defaulted


def test_apply_again_is_unchanged_and_a_directory_goes_in_name_order(cluster, examples):
    assert examples.returncode == 0, examples.stderr
    assert lines(examples.stdout) == [
        "storageclass.storage.k8s.io/standard created",  # 00-storageclass.yaml
        "namespace/demo unchanged",  # 01-namespace.yaml (web.yaml made it)
        "configmap/app-config created", "secret/app-credentials created", "pod/config-demo created",
        "pod/crashloop created", "cronjob.batch/hello created", "daemonset.apps/node-agent created",
        "job.batch/countdown created", "service/web-lb created",
        "namespace/demo unchanged", "service/web-nodeport created",  # nodeport.yaml
        "service/redis created", "statefulset.apps/redis created",  # statefulset.yaml
        "namespace/demo unchanged", "configmap/web-config unchanged",  # web.yaml, applied before
        "deployment.apps/web unchanged", "service/web unchanged"]
    again = cluster.cli("apply", "-f", "config/examples")  # and a third time: nothing changes
    assert again.returncode == 0, again.stderr
    # ...but kubectl's three-way patch replaces the StatefulSet's claim templates whole, as the server
    # filled in volumeMode and status (an atomic list: kubernetes/kubernetes#66450), so it says configured.
    assert [line for line in lines(again.stdout) if not line.endswith(" unchanged")] == [
        "statefulset.apps/redis configured"]


def test_apply_modified_manifest_patches_three_ways(cluster, session, tmp_path):
    first = deployment("api", replicas=2, labels={"app": "api", "tier": "backend"})
    path = write_manifests(tmp_path / "api.yaml", first)
    assert lines(cluster.cli("apply", "-f", path).stdout) == ["deployment.apps/api created"]
    # Someone else labels it by hand: apply must leave that label alone.
    session.run(session.api.patch("deployments", "api", {"metadata": {"labels": {"owner": "ops"}}}, "default",
                                  patch_type="merge"))
    changed = deployment("api", replicas=5, labels={"app": "api"})
    write_manifests(tmp_path / "api.yaml", changed)
    result = cluster.cli("apply", "-f", path)
    assert (result.returncode, lines(result.stdout)) == (0, ["deployment.apps/api configured"]), result.stderr
    d = session.run(session.api.get("deployments", "api", "default"))
    assert d["spec"]["replicas"] == 5
    assert d["metadata"]["labels"] == {"app": "api", "owner": "ops"}  # tier removed, owner kept
    assert d["spec"]["revisionHistoryLimit"] == 10  # the server's default survives
    assert json.loads(d["metadata"]["annotations"][LAST_APPLIED]) == changed


def test_apply_reports_each_bad_document_and_applies_the_others(cluster, session):
    bad = deployment("bad")
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"}, "data": {"k": "v"}}
    alien = {"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump_all([bad, alien, good]))
    assert result.returncode == 1
    assert lines(result.stdout) == ["configmap/good created"]
    err = lines(result.stderr)
    assert err[0] == ('Error from server (Invalid): error when creating "STDIN": Deployment.apps "bad" is invalid: '
                      "spec.template.spec.containers[0].image: Required value")
    assert err[1].startswith('error: resource mapping not found for name: "w" namespace: "" from "STDIN": '
                             'no matches for kind "Widget" in version "v1"')
    assert session.run(session.api.get("configmaps", "good", "default"))["data"] == {"k": "v"}

    broken = cluster.cli("apply", "-f", "-", stdin="kind: ConfigMap\nmetadata: {name: x\n")
    assert broken.returncode == 1 and broken.stdout == ""
    assert broken.stderr.startswith("error: error parsing STDIN: ")


# --- get ---------------------------------------------------------------------------------

def test_get_prints_kubectl_tables(cluster, examples):
    deploys = cluster.cli("get", "deployments", "-n", "demo")
    assert deploys.returncode == 0, deploys.stderr
    header, row = lines(deploys.stdout)
    assert header == "NAME   READY   UP-TO-DATE   AVAILABLE   AGE"
    assert row.split()[:4] == ["web", "0/3", "0", "0"]

    both = cluster.cli("get", "deploy,svc", "-n", "demo", "-o", "wide")
    tables = both.stdout.split("\n\n")
    assert len(tables) == 2
    assert lines(tables[0])[0].startswith("NAME                  READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS")
    assert lines(tables[0])[1].startswith("deployment.apps/web   0/3")
    svc_header, redis_row, web_row, lb_row, nodeport_row = lines(tables[1])
    assert svc_header.startswith("NAME                   TYPE           CLUSTER-IP")
    assert svc_header.endswith("EXTERNAL-IP   PORT(S)        AGE   SELECTOR")
    assert redis_row.split()[0:3] == ["service/redis", "ClusterIP", "None"]  # headless
    assert web_row.split()[0:2] == ["service/web", "ClusterIP"] and "80/TCP" in web_row.split()
    assert lb_row.split()[0:2] == ["service/web-lb", "LoadBalancer"]
    assert lb_row.split()[3] == "<pending>"  # no cloud controller manager in this cluster
    assert nodeport_row.split()[0:2] == ["service/web-nodeport", "NodePort"]
    assert "80:30080/TCP" in nodeport_row.split()

    everything = cluster.cli("get", "all", "-n", "demo")
    assert everything.returncode == 0, everything.stderr
    names = [line.split()[0] for line in lines(everything.stdout) if line and not line.startswith("NAME")]
    # kubectl's order: core kinds first, then by group. No controllers run here: no ReplicaSets, no pods of theirs.
    assert names == ["pod/config-demo", "pod/crashloop", "service/redis", "service/web", "service/web-lb",
                     "service/web-nodeport", "daemonset.apps/node-agent", "deployment.apps/web",
                     "statefulset.apps/redis", "cronjob.batch/hello", "job.batch/countdown"]
    assert "\n\nNAME" in everything.stdout


def test_get_output_formats(cluster, examples):
    one = cluster.cli("get", "deploy/web", "-n", "demo", "-o", "json")
    obj = json.loads(one.stdout)
    assert (obj["kind"], obj["metadata"]["name"], obj["spec"]["replicas"]) == ("Deployment", "web", 3)
    assert one.stdout.startswith('{\n    "apiVersion": "apps/v1",')  # kubectl indents by four
    # Flags anywhere, as kubectl takes them: the name after -n is still a target.
    intermixed = cluster.cli("get", "deploy", "-n", "demo", "web", "-o", "name")
    assert intermixed.returncode == 0 and intermixed.stdout == "deployment.apps/web\n", intermixed.stderr
    assert cluster.cli("get", "deploy", "-n", "demo", "--bogus").returncode == 2

    several = yaml.safe_load(cluster.cli("get", "cm,svc", "-n", "demo", "-o", "yaml").stdout)
    assert several["kind"] == "List" and several["apiVersion"] == "v1"
    assert [(o["kind"], o["metadata"]["name"]) for o in several["items"]] == [
        ("ConfigMap", "app-config"), ("ConfigMap", "web-config"), ("Service", "redis"), ("Service", "web"),
        ("Service", "web-lb"), ("Service", "web-nodeport")]

    names = cluster.cli("get", "deploy,svc,cm", "-A", "-l", "app=web", "-o", "name")
    assert lines(names.stdout) == ["deployment.apps/web", "service/web", "service/web-lb", "service/web-nodeport",
                                   "configmap/web-config"]


def test_get_empty_not_found_and_unknown_kind(cluster, examples):
    empty = cluster.cli("get", "rs", "-n", "demo")  # no deployment controller here
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "No resources found in demo namespace.\n")

    missing = cluster.cli("get", "deploy", "nope", "-n", "demo")
    assert missing.returncode == 1
    assert missing.stderr == 'Error from server (NotFound): deployments.apps "nope" not found\n'

    unknown = cluster.cli("get", "foo")
    assert unknown.returncode == 1
    assert unknown.stderr == 'error: the server doesn\'t have a resource type "foo"\n'


def test_get_watch_prints_changes(cluster, session):
    session.run(session.api.create(deployment("watched", replicas=1)))
    proc = kubesim("get", "deploy", "watched", "-w", "--watch-timeout", "2", "--config", str(cluster.config),
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(out) >= 2, 20, "the watch's first table")
        assert out[0].startswith("NAME      READY   UP-TO-DATE")
        assert out[1].split()[:2] == ["watched", "0/1"]
        session.run(session.api.patch("deployments", "watched", {"spec": {"replicas": 7}}, "default",
                                      patch_type="merge"))
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        reader.join(5)
    finally:
        stop(proc)
    assert [line.split()[:2] for line in out[2:]] == [["watched", "0/7"]]


# --- describe, scale, create, delete -----------------------------------------------------

def test_describe_shows_the_object_and_its_events(cluster, session, examples):
    d = session.run(session.api.get("deployments", "web", "demo"))
    now = "2026-01-01T00:00:00Z"
    session.run(session.api.create({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "demo"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "demo",
                           "uid": d["metadata"]["uid"]},
        "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-abc to 3", "type": "Normal",
        "source": {"component": "deployment-controller"}, "firstTimestamp": now, "lastTimestamp": now,
        "count": 1,
    }))
    result = cluster.cli("describe", "deployment", "we", "-n", "demo")  # a prefix, as kubectl matches
    assert result.returncode == 0, result.stderr
    text = lines(result.stdout)
    assert text[0].split() == ["Name:", "web"] and text[1].split() == ["Namespace:", "demo"]
    assert "Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable" in text
    at = text.index("Events:")
    assert text[at + 1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert text[at + 3].split()[:2] == ["Normal", "ScalingReplicaSet"]
    assert text[at + 3].endswith("deployment-controller  Scaled up replica set web-abc to 3")


def test_scale_goes_through_the_scale_subresource(cluster, session):
    session.run(session.api.create(deployment("scaled", replicas=1)))
    result = cluster.cli("scale", "deploy/scaled", "--replicas", "4")
    assert (result.returncode, result.stdout) == (0, "deployment.apps/scaled scaled\n"), result.stderr
    assert session.run(session.api.get("deployments", "scaled", "default"))["spec"]["replicas"] == 4


def test_create_namespace(cluster, session):
    created = cluster.cli("create", "namespace", "scratch")
    assert (created.returncode, created.stdout) == (0, "namespace/scratch created\n"), created.stderr
    assert session.run(session.api.get("namespaces", "scratch"))["status"]["phase"] == "Active"
    again = cluster.cli("create", "ns", "scratch")
    assert again.returncode == 1
    assert again.stderr == 'Error from server (AlreadyExists): namespaces "scratch" already exists\n'


def test_delete_from_file(cluster, session, tmp_path):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "doomed"}, "data": {"a": "1"}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "doomed"},
           "spec": {"selector": {"app": "doomed"}, "ports": [{"port": 80}]}}
    path = write_manifests(tmp_path / "doomed.yaml", cm, svc)
    for obj in (cm, svc):
        session.run(session.api.create(obj, "default"))
    gone = cluster.cli("delete", "-f", path, "--now")
    assert (gone.returncode, lines(gone.stdout)) == (0, ['configmap "doomed" deleted', 'service "doomed" deleted'])
    for resource in ("configmaps", "services"):
        with pytest.raises(ApiError) as err:
            session.run(session.api.get(resource, "doomed", "default"))
        assert err.value.code == 404
    again = cluster.cli("delete", "-f", path)
    assert again.returncode == 1
    assert lines(again.stderr) == [
        f'Error from server (NotFound): error when deleting "{path}": configmaps "doomed" not found',
        f'Error from server (NotFound): error when deleting "{path}": services "doomed" not found']
    quiet = cluster.cli("delete", "configmap", "doomed", "--ignore-not-found")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


# --- the command line alone (no cluster) ------------------------------------------------

def test_targets_are_read_as_kubectl_reads_them():
    from kubesim.kubectl import UsageError, parse_targets

    def kinds(targets):
        return [(k.kind, names) for k, names in parse_targets(targets)]

    assert kinds(["deploy,svc", "web"]) == [("Deployment", ["web"]), ("Service", ["web"])]
    assert kinds(["deploy/web", "svc/web", "deployments.apps/api"]) == [("Deployment", ["web", "api"]),
                                                                      ("Service", ["web"])]
    assert kinds(["all"]) == [("Pod", []), ("Service", []), ("DaemonSet", []), ("Deployment", []),
                              ("ReplicaSet", []), ("StatefulSet", []), ("CronJob", []), ("Job", [])]
    for bad in ([], ["foo"], ["deploy/web", "svc"]):
        with pytest.raises(UsageError):
            parse_targets(bad)


def test_yaml_output_reads_like_kubectls():
    from kubesim.kubectl import _dump

    text = _dump({"metadata": {"annotations": {LAST_APPLIED: '{"a":1}\n'}, "resourceVersion": "9",
                               "creationTimestamp": "2026-01-01T00:00:00Z", "name": "web"},
                  "spec": {"ports": [{"port": 80}]}}, "yaml")
    assert text == ("metadata:\n"
                    "  annotations:\n"
                    f"    {LAST_APPLIED}: |\n"
                    '      {"a":1}\n'
                    '  creationTimestamp: "2026-01-01T00:00:00Z"\n'
                    "  name: web\n"
                    '  resourceVersion: "9"\n'
                    "spec:\n"
                    "  ports:\n"
                    "  - port: 80\n")


def test_a_directory_is_read_as_kubectl_reads_it(tmp_path):
    """``-f DIR``: its *.yaml, *.yml and *.json files in name order, not its subdirectories unless -R, which
    walks them as Go's filepath.Walk does (a subdirectory's files where its name sorts)."""
    import argparse

    from kubesim.kubectl import UsageError, add_parsers, read_manifests

    def cm(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}

    write_manifests(tmp_path / "b.yaml", cm("b1"), cm("b2"))
    write_manifests(tmp_path / "a.yml", cm("a"))
    (tmp_path / "c.json").write_text(json.dumps({"kind": "List", "apiVersion": "v1", "items": [cm("c")]}))
    (tmp_path / "README.md").write_text("# not a manifest\n")
    (tmp_path / "a0").mkdir()
    write_manifests(tmp_path / "a0" / "z.yaml", cm("a0-z"))
    (tmp_path / "a0" / "deeper").mkdir()
    write_manifests(tmp_path / "a0" / "deeper" / "y.yaml", cm("a0-deeper-y"))

    def names(recursive: bool) -> list[str]:
        return [m.obj["metadata"]["name"] for m in read_manifests([str(tmp_path)], "apply", recursive)]

    assert names(False) == ["a", "b1", "b2", "c"]
    assert names(True) == ["a", "a0-deeper-y", "a0-z", "b1", "b2", "c"]
    sources = [m.source for m in read_manifests([str(tmp_path)], "apply")]
    assert sources == [str(tmp_path / f) for f in ("a.yml", "b.yaml", "b.yaml", "c.json")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no objects passed to apply"):
        read_manifests([str(tmp_path / "empty")], "apply", True)

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    for verb in ("apply", "create", "delete"):
        assert parser.parse_args([verb, "-f", "config/examples/", "-R"]).recursive is True
        assert parser.parse_args([verb, "-f", "config/examples/"]).recursive is False
