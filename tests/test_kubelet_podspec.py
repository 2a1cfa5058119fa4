"""From pod spec to CRI configs (actors.kubelet.podspec): pull policy, $(VAR) expansion, environment
resolution with Kubernetes' errors, volume readiness and FailedMount messages, sandbox and container configs,
and the runtime leftovers the kubelet garbage-collects.
"""

from __future__ import annotations

import base64

import pytest

from actors.kubelet import podspec
from actors.kubelet.podspec import ConfigError, Sources, VolumeState
from actors.kubelet.podsync import HASH_ANNOTATION, hash_annotation_value
from actors.runtime import cri


def make_pod(*containers: dict, volumes: list | None = None, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "demo", "uid": "uid-1", "labels": {"app": "web"},
                         "annotations": {"note": "x"}},
            "spec": {"nodeName": "node-1", "serviceAccountName": "default", "containers": list(containers),
                     "volumes": volumes or [], **spec}}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- images ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("container", "policy"), [
    ({"image": "nginx"}, "Always"),
    ({"image": "nginx:latest"}, "Always"),
    ({"image": "nginx:1.25"}, "IfNotPresent"),
    ({"image": "nginx@sha256:" + "a" * 64}, "IfNotPresent"),
    ({"image": "nginx:1.25", "imagePullPolicy": "Never"}, "Never"),
])
def test_pull_policy_defaults_as_kubernetes_does(container, policy):
    assert podspec.pull_policy(container) == policy


def test_should_pull_follows_the_policy():
    assert podspec.should_pull("Always", True)
    assert podspec.should_pull("IfNotPresent", False) and not podspec.should_pull("IfNotPresent", True)
    assert not podspec.should_pull("Never", False) and not podspec.should_pull("Never", True)
    assert podspec.never_pull_message("x:1") == 'Container image "x:1" is not present with pull policy of Never'


def test_pulled_message_is_the_kubelets():
    assert podspec.pulled_message("nginx:1.25", 1.23456, 1.5, 70) == (
        'Successfully pulled image "nginx:1.25" in 1.234s (1.5s including waiting). Image size: 70 bytes.')
    assert podspec.grpc_error("NotFound", "nope") == "rpc error: code = NotFound desc = nope"


# --- expansion --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "out"), [
    ("$(A)-$(B)", "1-$(B)"),
    ("$$(A)", "$(A)"),
    ("$$", "$"),
    ("a$", "a$"),
    ("$(A", "$(A"),
    ("$x$(A)", "$x1"),
    ("plain", "plain"),
    ("$()", "$()"),
])
def test_expand_as_kubernetes_expansion(text, out):
    assert podspec.expand(text, {"A": "1"}.get) == out


# --- environment ------------------------------------------------------------------------------------------


def test_env_sources_name_what_must_be_fetched():
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "s"}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "b", "key": "k"}}},
                 {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]}
    assert podspec.env_sources(c) == Sources(frozenset({"a", "b"}), frozenset({"s", "t"}))


def test_env_resolves_envfrom_then_env_with_expansion_and_refs():
    c = {"name": "c",
         "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "sec"}}],
         "env": [{"name": "GREETING", "value": "hello $(CFG_who) from $(POD_NAME)"},
                 {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "LATE", "value": "$(POD_NAME)"},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                 {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "who"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                 {"name": "EMPTY"}]}
    env = podspec.resolve_env(make_pod(c), c, config_maps={"cfg": {"data": {"who": "world"}}},
                              secrets={"sec": {"data": {"password": b64("s3cret")}}}, pod_ip="10.244.1.2",
                              host_ip="10.0.0.11")
    assert env == {"CFG_who": "world", "password": "s3cret",
                   "GREETING": "hello world from $(POD_NAME)",  # POD_NAME is declared later: not expanded
                   "POD_NAME": "web-0", "LATE": "web-0", "IP": "10.244.1.2", "NODE": "node-1", "NS": "demo",
                   "APP": "web", "KEY": "world", "PW": "s3cret", "EMPTY": ""}


def test_env_later_entries_override_earlier_ones():
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}], "env": [{"name": "A", "value": "mine"}]}
    env = podspec.resolve_env(make_pod(c), c, config_maps={"cfg": {"data": {"A": "theirs"}}}, secrets={},
                              pod_ip="", host_ip="")
    assert env == {"A": "mine"}


@pytest.mark.parametrize(("env", "config_maps", "secrets", "message"), [
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}], {"cfg": None}, {},
     'configmap "cfg" not found'),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}], {"cfg": {"data": {}}}, {},
     "couldn't find key k in ConfigMap demo/cfg"),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], {}, {"s": None},
     'secret "s" not found'),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], {}, {"s": {"data": {}}},
     "couldn't find key k in Secret demo/s"),
])
def test_a_missing_required_source_is_a_config_error(env, config_maps, secrets, message):
    c = {"name": "c", "env": env}
    with pytest.raises(ConfigError) as info:
        podspec.resolve_env(make_pod(c), c, config_maps=config_maps, secrets=secrets, pod_ip="", host_ip="")
    assert str(info.value) == message


def test_optional_sources_may_be_missing():
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "gone", "optional": True}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k", "optional": True}}},
                 {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}]}
    env = podspec.resolve_env(make_pod(c), c, config_maps={"gone": None, "cfg": {"data": {}}}, secrets={"s": None},
                              pod_ip="", host_ip="")
    assert env == {}


def test_command_and_args_expand_against_the_environment():
    c = {"name": "c", "command": ["echo", "$(A)"], "args": ["$(B)", "$$(A)"]}
    assert podspec.expand_command(c, {"A": "1", "B": "2"}) == (("echo", "1"), ("2", "$(A)"))


def test_resource_field_ref_rounds_up_in_the_divisor():
    c = {"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
         "env": [{"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                 {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}
    env = podspec.resolve_env(make_pod(c), c, config_maps={}, secrets={}, pod_ip="", host_ip="")
    assert env == {"MEM": "64", "CPU": "1"}


# --- volumes -------------------------------------------------------------------------------------------------


VOLUMES = [{"name": "scratch", "emptyDir": {}},
           {"name": "cfg", "configMap": {"name": "web-config", "items": [{"key": "index.html", "path": "i.html"}]}},
           {"name": "creds", "secret": {"secretName": "web-secret"}},
           {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}]


def test_volume_sources_name_configmaps_secrets_and_claims():
    sources, claims = podspec.volume_sources(make_pod({"name": "c"}, volumes=VOLUMES))
    assert sources == Sources(frozenset({"web-config"}), frozenset({"web-secret"}))
    assert claims == frozenset({"data-web-0"})


def test_volumes_ready_when_everything_exists_and_the_claim_is_bound():
    state = VolumeState({"web-config": {"data": {"index.html": "hi"}}}, {"web-secret": {"data": {}}},
                        {"data-web-0": {"status": {"phase": "Bound"}, "spec": {"volumeName": "pv-1"}}})
    assert podspec.volume_problems(make_pod({"name": "c"}, volumes=VOLUMES), state) == []


def test_volume_problems_say_what_kubernetes_says():
    state = VolumeState({"web-config": None}, {"web-secret": None}, {"data-web-0": {"status": {"phase": "Pending"}}})
    assert podspec.volume_problems(make_pod({"name": "c"}, volumes=VOLUMES), state) == [
        'MountVolume.SetUp failed for volume "cfg" : configmap "web-config" not found',
        'MountVolume.SetUp failed for volume "creds" : secret "web-secret" not found',
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process "
        "volumes=[data]: error processing PVC demo/data-web-0: PVC is not bound",
    ]


def test_a_missing_item_key_and_a_missing_claim():
    state = VolumeState({"web-config": {"data": {"other": "x"}}}, {"web-secret": {"data": {}}},
                        {"data-web-0": None})
    problems = podspec.volume_problems(make_pod({"name": "c"}, volumes=VOLUMES), state)
    assert problems[0] == ('MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config '
                           "key: index.html")
    assert 'persistentvolumeclaims "data-web-0" not found' in problems[1]


def test_optional_volume_sources_may_be_missing():
    volumes = [{"name": "cfg", "configMap": {"name": "gone", "optional": True}},
               {"name": "s", "secret": {"secretName": "gone", "optional": True}}]
    assert podspec.volume_problems(make_pod({"name": "c"}, volumes=volumes), VolumeState({}, {}, {})) == []


def test_mounts_point_at_the_volumes_on_the_node():
    c = {"name": "c", "volumeMounts": [{"name": "scratch", "mountPath": "/tmp/s"},
                                       {"name": "cfg", "mountPath": "/etc/web"},
                                       {"name": "data", "mountPath": "/data", "subPath": "web"}]}
    pod = make_pod(c, volumes=VOLUMES)
    mounts = podspec.mounts(pod, c, {"data-web-0": {"spec": {"volumeName": "pv-1"}}})
    assert mounts == (
        {"container_path": "/tmp/s", "host_path": "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~empty-dir/scratch",
         "readonly": False},
        {"container_path": "/etc/web", "host_path": "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~configmap/cfg",
         "readonly": True},
        {"container_path": "/data", "host_path": "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount/web",
         "readonly": False},
    )


# --- configs -------------------------------------------------------------------------------------------------


def test_sandbox_config_carries_the_pod():
    config = podspec.sandbox_config(make_pod({"name": "c"}), 2, "10.244.1.7")
    assert config.metadata == cri.PodSandboxMetadata("web-0", "demo", "uid-1", 2)
    assert config.hostname == "web-0" and config.pod_ip == "10.244.1.7"
    assert config.labels == {"app": "web", "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "demo",
                             "io.kubernetes.pod.uid": "uid-1"}
    assert config.annotations == {"note": "x"}


def test_hostname_is_spec_hostname_or_the_name_cut_to_63():
    assert podspec.pod_hostname(make_pod(hostname="db")) == "db"
    long = make_pod()
    long["metadata"]["name"] = "a" * 62 + "-b"
    assert podspec.pod_hostname(long) == "a" * 62


def test_container_config_has_what_create_container_needs():
    c = {"name": "web", "image": "nginx:1.25", "command": ["nginx"], "args": ["-g", "$(OPTS)"],
         "ports": [{"containerPort": 80, "name": "http"}],
         "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}}, "stdin": True}
    config = podspec.container_config(make_pod(c), c, attempt=3, env={"OPTS": "daemon off;"})
    assert config.metadata == cri.ContainerMetadata("web", 3)
    assert config.image == "nginx:1.25" and config.command == ("nginx",) and config.args == ("-g", "daemon off;")
    assert config.ports == (cri.ContainerPort(80, "TCP", "http"),)
    assert config.memory_limit_bytes == 128 * 2**20 and config.cpu_millis == 500 and config.stdin
    assert config.annotations[HASH_ANNOTATION] == hash_annotation_value(c)
    assert config.annotations["io.kubernetes.container.restartCount"] == "3"
    assert config.annotations["note"] == "x", "pod annotations reach the runtime (behaviour annotations)"
    assert config.labels["io.kubernetes.container.name"] == "web"


def test_next_attempt_and_field_path():
    statuses = [cri.ContainerStatus("a", "sb", cri.ContainerMetadata("web", 4), "nginx", "", cri.ContainerState.EXITED,
                                    1.0)]
    assert podspec.next_attempt(statuses, "web") == 5 and podspec.next_attempt(statuses, "side") == 0
    pod = make_pod({"name": "web"}, initContainers=[{"name": "init"}])
    assert podspec.field_path(pod, "web") == "spec.containers{web}"
    assert podspec.field_path(pod, "init") == "spec.initContainers{init}"


# --- leftovers -----------------------------------------------------------------------------------------------


def _cs(cid: str, name: str, attempt: int, state: str) -> cri.ContainerStatus:
    return cri.ContainerStatus(cid, "sb", cri.ContainerMetadata(name, attempt), "img", "", state, float(attempt))


def test_container_gc_keeps_the_newest_exited_instances_of_each_container():
    statuses = [_cs(f"w{i}", "web", i, cri.ContainerState.EXITED) for i in range(5)] + \
               [_cs("w5", "web", 5, cri.ContainerState.RUNNING), _cs("s0", "side", 0, cri.ContainerState.EXITED)]
    assert sorted(podspec.containers_to_remove(statuses, 2)) == ["w0", "w1", "w2"]


def test_newest_sandbox():
    def sb(sid: str, attempt: int, created: float) -> cri.PodSandboxStatus:
        return cri.PodSandboxStatus(sid, cri.PodSandboxMetadata("p", "ns", "u", attempt), cri.SandboxState.READY,
                                    created)
    assert podspec.newest_sandbox([]) is None
    assert podspec.newest_sandbox([sb("a", 0, 1.0), sb("b", 1, 2.0), sb("c", 2, 1.5)]).id == "b"
