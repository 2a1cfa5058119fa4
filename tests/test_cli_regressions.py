"""Regression tests for the kubectl verbs: one test per bug a review found (its docstring says
what went wrong before the fix). One control plane serves the module, as in
tests/test_cli_kubectl.py.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml

from actors.apiserver.status import ApiError
from tests.api_cluster import started
from tests.helpers import kubesim_out

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from started(tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="module")
def session(cluster):
    return cluster.sessions[0]


def deployment(name: str, **pod_spec) -> dict:
    spec = {"containers": [{"name": "main", "image": "nginx:1.27"}], **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr


# --- describe ----------------------------------------------------------------------------

def test_describe_secret_does_not_print_its_values():
    """describe.py:1013 sends a Secret to the generic describer, which prints every data value (and
    stringData in clear). kubectl's SecretDescriber prints only `key:  N bytes`."""
    from kubesim.describe import describe

    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "db", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
              "data": {"password": base64.b64encode(b"hunter2").decode()}}
    text = describe(secret, [], 0.0)
    assert "aHVudGVyMg==" not in text and "hunter2" not in text, text
    assert re.search(r"^password:\s+7 bytes$", text, re.M), text


# --- delete ------------------------------------------------------------------------------

def test_delete_grace_period_zero_without_force_is_not_a_force_delete(cluster, session):
    """kubectl.py:_delete_one sends gracePeriodSeconds=0 as given: a running pod's object vanishes at
    once. kubectl turns --grace-period=0 into 1 unless --force ("to prevent accidental data loss")."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "graceful", "namespace": "default"},
           "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}
    session.run(session.api.create(pod))
    result = cluster.cli("delete", "pod", "graceful", "--grace-period", "0")
    assert result.returncode == 0, result.stderr
    live = session.run(session.api.get("pods", "graceful", "default"))  # 404 today: force-deleted
    assert live["metadata"]["deletionGracePeriodSeconds"] == 1


def test_delete_now_and_grace_period_together_is_an_error(cluster):
    """kubectl.py:_delete_one lets --now silently override --grace-period; kubectl refuses:
    `error: --now and --grace-period cannot be specified together`."""
    result = cluster.cli("delete", "configmap", "whatever", "--now", "--grace-period", "5")
    assert (result.returncode, result.stderr) == (
        1, "error: --now and --grace-period cannot be specified together\n")


def test_delete_nothing_matched_says_so_on_stdout(cluster):
    """kubectl.py:699 writes `No resources found` to stderr; kubectl's delete writes it to stdout
    (o.Out) — only get's empty message goes to stderr."""
    result = cluster.cli("delete", "configmaps", "-l", "review-nothing=1")
    assert (result.returncode, result.stdout) == (0, "No resources found\n"), result.stderr


# --- manifests that crash the reader -------------------------------------------------------

def test_apply_unquoted_date_is_a_string_not_a_traceback(cluster, session):
    """kubectl.py:220 uses yaml.safe_load_all (YAML 1.1 timestamps): `built: 2024-05-01` becomes a
    datetime.date and apply dies in json.dumps (create: in msgpack). kubectl's YAML reader keeps
    timestamp-looking scalars as strings."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dated}\ndata: {built: 2024-05-01}\n"
    result = cluster.cli("apply", "-f", "-", stdin=text)
    no_traceback(result)
    assert (result.returncode, result.stdout) == (0, "configmap/dated created\n"), result.stderr
    assert session.run(session.api.get("configmaps", "dated", "default"))["data"] == {"built": "2024-05-01"}


def test_apply_list_with_scalar_items_is_an_error_not_a_traceback(cluster):
    """kubectl.py:226 expands `kind: List` items without checking they are objects; place() then
    crashes with AttributeError: 'str' object has no attribute 'get'."""
    result = cluster.cli("apply", "-f", "-", stdin="apiVersion: v1\nkind: List\nitems: [a, b]\n")
    no_traceback(result)
    assert result.returncode == 1 and result.stderr.startswith("error: ")


def test_apply_directory_with_a_non_utf8_file_is_an_error_not_a_traceback(cluster, tmp_path):
    """kubectl.py:211 read_text() raises UnicodeDecodeError (a traceback) for a .yaml file that is
    not UTF-8, e.g. a Latin-1 file or binary junk in the manifests directory."""
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: utf8-ok}\n")
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe binary\n")
    result = cluster.cli("apply", "-f", str(tmp_path))
    no_traceback(result)
    assert result.returncode == 1 and "error" in result.stderr


def test_missing_client_key_is_an_error_line_not_a_traceback(cluster, tmp_path):
    """kubectl.py:_run catches UsageError/ApiError/TimeoutError only: with CURVE on and no admin key,
    session_for raises MissingKey and the user gets a Python traceback instead of `error: ...`."""
    config = tmp_path / "curve.yaml"
    config.write_text(Path(cluster.config).read_text().replace("curve: false", "curve: true"))
    assert "curve: true" in config.read_text()
    result = kubesim_out("get", "ns", "--config", str(config))
    no_traceback(result)
    assert result.returncode == 1 and result.stderr.startswith("error: ")


# --- create ------------------------------------------------------------------------------

def test_create_from_file_with_generate_name(cluster):
    """kubectl.py:_create_one goes through place(), which insists on metadata.name (with apply's
    wording, "error when retrieving current configuration"). kubectl create -f accepts generateName."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "gen-"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox"}]}}}}
    result = cluster.cli("create", "-f", "-", stdin=yaml.safe_dump(job))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"job\.batch/gen-[a-z0-9]{5} created\n", result.stdout), result.stdout


# --- apply: the three-way patch ------------------------------------------------------------

def test_apply_switch_to_recreate_drops_rolling_update(cluster, session):
    """apply.py:_diff_map sends no $retainKeys. DeploymentSpec.strategy is patchStrategy=retainKeys in
    Kubernetes, so kubectl's patch clears the defaulted rollingUpdate; here it stays next to
    type: Recreate (an object Kubernetes' validation refuses)."""
    first = deployment("strat")
    cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(first))
    second = deployment("strat")
    second["spec"]["strategy"] = {"type": "Recreate"}
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(second))
    assert result.returncode == 0, result.stderr
    live = session.run(session.api.get("deployments", "strat", "default"))
    assert live["spec"]["strategy"] == {"type": "Recreate"}


def test_apply_changes_a_volume_source_of_an_object_created_without_apply(cluster, session):
    """apply.py: no $retainKeys for PodSpec.volumes (patchStrategy merge,retainKeys). On an object
    without last-applied (made by create), switching emptyDir -> configMap merges both sources and
    the server answers 422 "may not specify more than 1 volume type"; kubectl apply succeeds."""
    session.run(session.api.create(deployment("vols", volumes=[{"name": "v", "emptyDir": {}}])))
    changed = deployment("vols", volumes=[{"name": "v", "configMap": {"name": "cfg"}}])
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(changed))
    assert result.returncode == 0, result.stderr
    live = session.run(session.api.get("deployments", "vols", "default"))
    assert [sorted(v) for v in live["spec"]["template"]["spec"]["volumes"]] == [["configMap", "name"]]


def test_apply_reordered_env_is_applied(cluster, session):
    """apply.py:_diff_keyed emits $setElementOrder only when an element changed, so a pure reorder is
    `unchanged` and the order stays. kubectl sends $setElementOrder when the order differs
    (isOrderSame) — env order matters for $(VAR) references."""
    a, b = {"name": "A", "value": "1"}, {"name": "B", "value": "x-$(A)"}
    first = deployment("envorder")
    first["spec"]["template"]["spec"]["containers"][0]["env"] = [b, a]
    cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(first))
    fixed = deployment("envorder")
    fixed["spec"]["template"]["spec"]["containers"][0]["env"] = [a, b]
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(fixed))
    assert result.stdout == "deployment.apps/envorder configured\n", result.stderr
    live = session.run(session.api.get("deployments", "envorder", "default"))
    assert [e["name"] for e in live["spec"]["template"]["spec"]["containers"][0]["env"]] == ["A", "B"]


def test_apply_to_an_object_without_last_applied_warns_and_says_configured(cluster, session):
    """kubectl.py:398 prints `unchanged` although it just wrote the annotation, and no warning.
    kubectl: `Warning: resource configmaps/x is missing the ...last-applied-configuration annotation
    ...` on stderr and `configmap/x configured`."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "made-by-create", "namespace": "default"},
          "data": {"k": "v"}}
    session.run(session.api.create(cm))
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(cm))
    assert result.stdout == "configmap/made-by-create configured\n"
    assert result.stderr.startswith("Warning: resource configmaps/made-by-create is missing the "
                                    "kubectl.kubernetes.io/last-applied-configuration annotation")


# --- the API server, as apply exposes it -----------------------------------------------------

def test_secret_string_data_is_folded_into_data(cluster, session):
    """(API server) nothing merges stringData into data (validation.py:786 and tables.py:544 say it
    happens): `get secret` shows DATA 0 and the object keeps stringData in clear. Kubernetes stores
    data[k] = base64(v) and drops stringData."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd"}, "stringData": {"user": "admin"}}
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(secret))
    assert result.returncode == 0, result.stderr
    live = session.run(session.api.get("secrets", "sd", "default"))
    assert live.get("data") == {"user": base64.b64encode(b"admin").decode()}
    assert "stringData" not in live


def test_apply_nodeport_service_back_to_clusterip(cluster, session):
    """(API server, objects.py:233) Kubernetes' dropTypeDependentFields clears the allocated
    nodePorts when type goes NodePort -> ClusterIP and the user did not touch them; here apply
    fails with 422 `spec.ports[0].nodePort: Forbidden: may not be used when type is 'ClusterIP'`."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np"},
           "spec": {"type": "NodePort", "selector": {"app": "np"}, "ports": [{"port": 80}]}}
    cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(svc))
    svc["spec"]["type"] = "ClusterIP"
    result = cluster.cli("apply", "-f", "-", stdin=yaml.safe_dump(svc))
    assert (result.returncode, result.stdout) == (0, "service/np configured\n"), result.stderr
    live = session.run(session.api.get("services", "np", "default"))
    assert "nodePort" not in live["spec"]["ports"][0]


def test_apply_unknown_field_is_refused(cluster, session):
    """(API server) an unknown field (a typo) is stored as is. kubectl 1.32 applies with
    --validate=strict by default: `strict decoding error: unknown field "datta"`, exit 1."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndatta: {k: v}\n"
    result = cluster.cli("apply", "-f", "-", stdin=text)
    assert result.returncode == 1 and 'unknown field "datta"' in result.stderr, (result.stdout, result.stderr)
    with pytest.raises(ApiError):
        session.run(session.api.get("configmaps", "typo", "default"))


def test_get_json_output_keeps_configmap_data_strings(cluster, session):
    """(API server) `data: {n: 1}` is stored as the integer 1 in a ConfigMap (data is map[string]string);
    kubectl refuses it at decoding. Shown by -o json printing a number."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intdata}\ndata: {n: 1}\n"
    result = cluster.cli("apply", "-f", "-", stdin=text)
    if result.returncode == 0:
        got = json.loads(cluster.cli("get", "cm", "intdata", "-o", "json").stdout)
        assert isinstance(got["data"]["n"], str), got["data"]
