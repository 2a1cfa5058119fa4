"""The StatefulSet controller, driven synchronously over hand-filled caches (stateful_set_control_test.go style).

A :class:`FakeApi` records every call and answers at once; the caches are
:class:`DictStore`s; :meth:`World.deliver` plays the informer (the API's
answers land in the stores and ``controller.observe`` hears them) and
:meth:`World.set_phase` the kubelet.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.statefulset import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    StatefulSetController,
    claims_for,
    identity_matches,
    new_pod,
    parent_and_ordinal,
    revision_name,
    storage_matches,
)

T0 = 1_750_000_000.0
KEY = "default/web"
UID = "uid-web"


# --- fixtures ------------------------------------------------------------------------------------

def make_sts(replicas: int = 3, *, image: str = "nginx:1", policy: str = "OrderedReady", claims: bool = True,
             strategy: dict | None = None, status: dict | None = None, generation: int = 1, min_ready_s: int = 0,
             start: int | None = None, deleting: bool = False, uid: str = UID) -> dict:
    spec: dict = {
        "replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy, "minReadySeconds": min_ready_s,
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image,
                                              "volumeMounts": [{"name": "www", "mountPath": "/www"}]}],
                              "volumes": [{"name": "config", "configMap": {"name": "cfg"}}]}},
    }
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "www", "labels": {"tier": "data"}},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "1Gi"}}}}]
    if start is not None:
        spec["ordinals"] = {"start": start}
    meta = {"name": "web", "namespace": "default", "uid": uid, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0 - 1)
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
    if status is not None:
        sts["status"] = status
    return sts


def make_pod(sts: dict, ordinal: int, *, phase: str = "Running", ready: bool = True,
             ready_at: float = T0 - 3600, revision_of: dict | None = None) -> dict:
    """Pod ``ordinal`` as the controller makes it from ``revision_of`` (``sts`` by default), as the kubelet left it."""
    source = revision_of or sts
    pod = new_pod(sts, source["spec"]["template"], ordinal, revision_name(source))
    pod["metadata"].update(uid=f"uid-web-{ordinal}", creationTimestamp=rfc3339(T0 - 7200))
    pod["spec"]["nodeName"] = "n1"
    pod["status"] = _status(phase, ready, ready_at)
    return pod


def _status(phase: str, ready: bool, ready_at: float) -> dict:
    return {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                            "lastTransitionTime": rfc3339(ready_at)}]}


def make_claim(sts: dict, ordinal: int, *, deleting: bool = False) -> dict:
    claim = claims_for(sts, ordinal)[0]
    if deleting:
        claim["metadata"]["deletionTimestamp"] = rfc3339(T0)
    return claim


class FakeApi:
    """Records calls as ``(verb, kind-or-resource, name)`` and answers at once; ``errors`` refuses chosen ones."""

    def __init__(self, errors: dict[tuple[str, str], ApiError] | None = None) -> None:
        self.calls: list[tuple] = []
        self.created: list[dict] = []
        self.updated: list[dict] = []
        self.errors = errors or {}
        self._n = 0

    async def create(self, obj: dict) -> dict:
        name = obj["metadata"]["name"]
        self.calls.append(("create", obj["kind"], name))
        if ("create", name) in self.errors:
            raise self.errors[("create", name)]
        self._n += 1
        out = copy.deepcopy(obj)
        out["metadata"].update(uid=f"uid-new-{self._n}", creationTimestamp=rfc3339(T0))
        self.created.append(out)
        return out

    async def delete(self, resource: str, name: str, namespace: str = "") -> dict:
        self.calls.append(("delete", resource, name))
        if ("delete", name) in self.errors:
            raise self.errors[("delete", name)]
        return {}

    async def update(self, obj: dict) -> dict:
        self.calls.append(("update", obj["kind"], obj["metadata"]["name"]))
        self.updated.append(obj)
        return obj

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic") -> dict:
        self.calls.append(("patch", resource, name))
        return {}

    async def update_status(self, obj: dict) -> dict:
        self.calls.append(("update_status", obj["status"]))
        return obj

    def writes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "update_status"]

    def statuses(self) -> list[dict]:
        return [c[1] for c in self.calls if c[0] == "update_status"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class World:
    def __init__(self, sts: dict, pods: list[dict] = (), claims: list[dict] = (), **api) -> None:
        self.sc = StatefulSetController()
        self.sets = DictStore([sts])
        self.pods = DictStore(pods)
        self.claims = DictStore(claims)
        self.api = FakeApi(**api)
        self.recorder = FakeRecorder()
        self.now = 100.0
        self.wall = T0
        self.sc.observe("statefulsets", "ADDED", sts, self.now)

    def sync(self):
        ctx = Context(caches={"statefulsets": self.sets, "pods": self.pods, "persistentvolumeclaims": self.claims},
                      api=self.api, recorder=self.recorder, now=self.now, wall=self.wall)
        return run_sync(self.sc.sync(KEY, ctx))

    @property
    def sts(self) -> dict:
        return self.sets.get("web", "default")

    def change(self, **overrides) -> None:
        """The user edits the spec (a new generation); the informer delivers it."""
        new = make_sts(**overrides)
        new["metadata"]["generation"] = self.sts["metadata"]["generation"] + 1
        new["status"] = self.sts.get("status", {})
        self.sets.put(new)
        self.sc.observe("statefulsets", "MODIFIED", new, self.now)

    def deliver(self) -> None:
        """The informer hears the API's writes: new pods appear Pending, claims appear, deletes go, the status lands."""
        for obj in self.api.created:
            if obj["kind"] == "Pod":
                pod = {**obj, "status": {"phase": "Pending"}}
                self.pods.put(pod)
                self.sc.observe("pods", "ADDED", pod, self.now)
            else:
                self.claims.put(obj)
        for verb, *args in self.api.calls:
            if verb == "delete":
                gone = self.pods.get(args[1], "default")
                self.pods.remove(gone)
                self.sc.observe("pods", "DELETED", gone, self.now)
            elif verb == "update_status":
                self.sets.put({**self.sts, "status": args[0]})
        for pod in self.api.updated:
            self.pods.put(pod)
        self.api.calls.clear()
        self.api.created.clear()
        self.api.updated.clear()

    def set_phase(self, name: str, phase: str = "Running", ready: bool = True) -> None:
        pod = copy.deepcopy(self.pods.get(name, "default"))
        pod["status"] = _status(phase, ready, self.wall)
        self.pods.put(pod)

    def step(self) -> list[tuple]:
        """One sync and its writes heard back; the writes it made."""
        self.sync()
        writes = self.api.writes()
        self.deliver()
        return writes

    def names(self) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.pods.list())

    def revisions(self) -> dict[str, str]:
        return {p["metadata"]["name"]: p["metadata"]["labels"][REVISION_LABEL] for p in self.pods.list()}


def created(*names: str) -> list[tuple]:
    """The calls that create pod ``web-i`` with its claim first."""
    out = []
    for name in names:
        out += [("create", "PersistentVolumeClaim", f"www-{name}"), ("create", "Pod", name)]
    return out


# --- what a pod and its claims look like -----------------------------------------------------------------

def test_a_pod_has_a_stable_name_hostname_subdomain_identity_labels_and_its_claim_mounted():
    sts = make_sts()
    pod = new_pod(sts, sts["spec"]["template"], 2, "web-rev")
    assert pod["metadata"] == {
        "name": "web-2", "namespace": "default",
        "labels": {"app": "web", POD_NAME_LABEL: "web-2", POD_INDEX_LABEL: "2", REVISION_LABEL: "web-rev"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": UID,
                             "controller": True, "blockOwnerDeletion": True}]}
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-2", "nginx")
    assert pod["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-2"}},
                                      {"name": "config", "configMap": {"name": "cfg"}}]
    assert identity_matches(sts, pod) and storage_matches(sts, pod)
    assert "hostname" not in sts["spec"]["template"]["spec"], "the template is not changed"


def test_claims_are_named_per_pod_and_carry_the_selector_labels():
    assert claims_for(make_sts(), 0) == [{
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "www-web-0", "namespace": "default", "labels": {"tier": "data", "app": "web"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]


@pytest.mark.parametrize(("name", "parsed"), [
    ("web-0", ("web", 0)), ("my-web-12", ("my-web", 12)), ("web", ("", -1)), ("web-x", ("", -1)), ("-3", ("", 3)),
])
def test_parent_and_ordinal(name, parsed):
    assert parent_and_ordinal({"metadata": {"name": name}}) == parsed


def test_the_revision_name_is_the_set_and_a_stable_template_hash():
    a, b = revision_name(make_sts()), revision_name(make_sts(replicas=7, generation=4))
    assert a == b and a.startswith("web-")
    assert revision_name(make_sts(image="nginx:2")) != a


# --- OrderedReady: one at a time, each waiting for the one before ------------------------------------------

def test_ordered_creation_waits_for_each_pod_to_be_running_and_ready():
    w = World(make_sts(3))
    assert w.step() == created("web-0"), "the claim comes before its pod"
    assert w.step() == [], "web-0 is Pending"
    w.set_phase("web-0", "Running", ready=False)
    assert w.step() == [], "web-0 runs but is not Ready"
    w.set_phase("web-0")
    assert w.step() == created("web-1")
    w.set_phase("web-1")
    assert w.step() == created("web-2")
    w.set_phase("web-2")
    assert w.step() == []
    assert w.names() == ["web-0", "web-1", "web-2"]
    assert sorted(c["metadata"]["name"] for c in w.claims.list()) == ["www-web-0", "www-web-1", "www-web-2"]
    rev = revision_name(make_sts())
    assert w.sts["status"] == {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                               "updatedReplicas": 3, "currentRevision": rev, "updateRevision": rev,
                               "collisionCount": 0, "availableReplicas": 3}
    assert w.recorder.events[:2] == [
        ("Normal", "SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web success"),
        ("Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")]


def test_min_ready_seconds_holds_the_next_pod_until_the_previous_is_available():
    w = World(make_sts(2, min_ready_s=10), [make_pod(make_sts(), 0, ready_at=T0 - 4)],
              [make_claim(make_sts(), 0)])
    assert w.sync() == 7.0, "look again when web-0 has been ready 10 s (+1)"
    assert w.api.writes() == []
    w.wall += 7
    w.sync()
    assert w.api.writes() == created("web-1")


def test_expectations_stop_a_sync_on_a_cache_that_has_not_seen_the_new_pod():
    w = World(make_sts(2))
    w.sync()
    w.api.calls.clear()
    w.sync()
    assert w.api.writes() == [], "web-0 was created but the cache does not show it yet"


def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time():
    sts = make_sts(1)
    pods = [make_pod(sts, i) for i in range(4)]
    w = World(sts, pods, [make_claim(sts, i) for i in range(4)])
    w.sync()
    assert w.api.writes() == [("delete", "pods", "web-3")]
    assert w.recorder.events == [("Normal", "SuccessfulDelete", "delete Pod web-3 in StatefulSet web successful")]
    # web-3 terminates gracefully: while it is going, nothing else goes.
    terminating = copy.deepcopy(w.pods.get("web-3", "default"))
    terminating["metadata"]["deletionTimestamp"] = rfc3339(T0)
    w.pods.put(terminating)
    w.sc.observe("pods", "MODIFIED", terminating, w.now)
    w.api.calls.clear()
    w.sync()
    assert w.api.writes() == []
    w.pods.remove(terminating)
    w.sc.observe("pods", "DELETED", terminating, w.now)
    assert w.step() == [("delete", "pods", "web-2")]
    assert w.step() == [("delete", "pods", "web-1")]
    assert w.step() == []
    assert w.names() == ["web-0"]
    assert len(w.claims.list()) == 4, "claims are retained"


def test_scale_down_waits_while_a_remaining_pod_is_unhealthy():
    sts = make_sts(2)
    pods = [make_pod(sts, 0, ready=False), make_pod(sts, 1), make_pod(sts, 2)]
    w = World(sts, pods, [make_claim(sts, i) for i in range(3)])
    w.sync()
    assert w.api.writes() == []


def test_scale_down_deletes_a_healthy_pod_or_the_first_unhealthy_one_only():
    sts = make_sts(2)
    claims = [make_claim(sts, i) for i in range(4)]
    pods = [make_pod(sts, 0), make_pod(sts, 1), make_pod(sts, 2, ready=False), make_pod(sts, 3, ready=False)]
    w = World(sts, pods, claims)
    w.sync()
    assert w.api.writes() == [], "web-3 is unhealthy and web-2, the first unhealthy pod, is before it: blocked"
    pods[3] = make_pod(sts, 3)
    w = World(sts, pods, claims)
    assert w.step() == [("delete", "pods", "web-3")], "web-3 is healthy: it goes"
    assert w.step() == [("delete", "pods", "web-2")], "web-2 is the first unhealthy pod: it may go"


def test_a_failed_pod_is_deleted_and_created_again_with_the_same_name():
    sts = make_sts(3)
    pods = [make_pod(sts, 0), make_pod(sts, 1, phase="Failed", ready=False), make_pod(sts, 2)]
    w = World(sts, pods, [make_claim(sts, i) for i in range(3)])
    assert w.step() == [("delete", "pods", "web-1")], "web-2 is left alone meanwhile"
    assert w.step() == [("create", "Pod", "web-1")], "its claim is still there: only the pod is made"
    assert w.names() == ["web-0", "web-1", "web-2"]
    assert w.pods.get("web-1", "default")["metadata"]["uid"] != "uid-web-1"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_being_deleted_is_waited_for(phase):
    sts = make_sts(2)
    pod = make_pod(sts, 0, phase=phase, ready=False)
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0)
    w = World(sts, [pod, make_pod(sts, 1)], [make_claim(sts, 0), make_claim(sts, 1)])
    w.sync()
    assert w.api.writes() == []


# --- Parallel ------------------------------------------------------------------------------------------------

def test_parallel_creates_every_pod_at_once_without_waiting():
    w = World(make_sts(3, policy="Parallel"))
    assert w.step() == created("web-0", "web-1", "web-2")
    assert w.step() == [], "all three exist, Pending"


def test_parallel_scales_down_all_at_once_even_when_pods_are_not_ready():
    sts = make_sts(0, policy="Parallel")
    pods = [make_pod(sts, 0, ready=False), make_pod(sts, 1), make_pod(sts, 2, phase="Pending", ready=False)]
    w = World(sts, pods, [make_claim(sts, i) for i in range(3)])
    w.sync()
    assert sorted(c[2] for c in w.api.writes()) == ["web-0", "web-1", "web-2"]


def test_parallel_stops_after_a_failing_slow_start_batch():
    boom = ApiError(403, "Forbidden", "exceeded quota: pods")
    w = World(make_sts(5, policy="Parallel", claims=False), errors={("create", "web-1"): boom})
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value is boom
    # Batches of 1 then 2: web-1 fails in the second, which is finished, and no third batch starts.
    assert w.api.writes() == [("create", "Pod", "web-0"), ("create", "Pod", "web-1"), ("create", "Pod", "web-2")]
    assert w.recorder.events[1] == ("Warning", "FailedCreate",
                                    "create Pod web-1 in StatefulSet web failed error: exceeded quota: pods")
    assert w.sc.expectations.get(KEY).add == 2, "the refused and the untried pods are not awaited"
    assert w.api.statuses(), "the status is written before the error is raised"


# --- claims ------------------------------------------------------------------------------------------------

def test_existing_claims_are_reused_not_created_again():
    sts = make_sts(1)
    w = World(sts, claims=[make_claim(sts, 0)])
    assert w.step() == [("create", "Pod", "web-0")]


def test_a_claim_already_there_but_not_yet_in_the_cache_is_fine():
    exists = ApiError(409, "AlreadyExists", 'persistentvolumeclaims "www-web-0" already exists')
    w = World(make_sts(1), errors={("create", "www-web-0"): exists})
    w.sync()
    assert w.api.writes() == created("web-0")


def test_a_failed_claim_create_means_no_pod():
    boom = ApiError(500, "InternalError", "etcd is sad")
    w = World(make_sts(1), errors={("create", "www-web-0"): boom})
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value.message == "failed to create PVC www-web-0: etcd is sad"
    assert w.api.writes() == [("create", "PersistentVolumeClaim", "www-web-0")]
    assert w.recorder.events == [
        ("Warning", "FailedCreate", "create Claim www-web-0 for Pod web-0 in StatefulSet web failed error: etcd is sad"),
        ("Warning", "FailedCreate",
         "create Pod web-0 in StatefulSet web failed error: failed to create PVC www-web-0: etcd is sad")]
    assert w.sc.expectations.satisfied(KEY, w.now)


def test_a_claim_being_deleted_blocks_its_pod():
    sts = make_sts(1)
    w = World(sts, claims=[make_claim(sts, 0, deleting=True)])
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value.message == "pvc www-web-0 is being deleted"
    assert w.api.writes() == []


def test_a_pending_pod_whose_claim_vanished_gets_it_back():
    sts = make_sts(2)
    w = World(sts, [make_pod(sts, 0, phase="Pending", ready=False)])
    w.sync()
    assert w.api.writes() == [("create", "PersistentVolumeClaim", "www-web-0")]


# --- rolling update ---------------------------------------------------------------------------------------------

def test_rolling_update_goes_from_the_highest_ordinal_down_and_stops_at_the_partition():
    v1 = make_sts(4)
    w = World(v1, [make_pod(v1, i) for i in range(4)], [make_claim(v1, i) for i in range(4)])
    assert w.step() == []
    rev1 = revision_name(v1)
    w.change(replicas=4, image="nginx:2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    rev2 = revision_name(w.sts)
    assert w.step() == [("delete", "pods", "web-3")]
    assert w.step() == [("create", "Pod", "web-3")], "the same name, at the new revision"
    assert w.revisions()["web-3"] == rev2
    assert w.pods.get("web-3", "default")["spec"]["containers"][0]["image"] == "nginx:2"
    assert w.step() == [], "web-3 is not ready yet: web-2 waits"
    w.set_phase("web-3")
    assert w.step() == [("delete", "pods", "web-2")]
    assert w.step() == [("create", "Pod", "web-2")]
    w.set_phase("web-2")
    assert w.step() == [], "web-1 and web-0 are below the partition"
    assert w.revisions() == {"web-0": rev1, "web-1": rev1, "web-2": rev2, "web-3": rev2}
    status = w.sts["status"]
    assert (status["currentRevision"], status["updateRevision"]) == (rev1, rev2)
    assert (status["currentReplicas"], status["updatedReplicas"], status["readyReplicas"]) == (2, 2, 4)
    assert status["observedGeneration"] == 2

    # A pod below the partition that fails comes back at the *current* revision.
    w.set_phase("web-0", "Failed", ready=False)
    assert w.step() == [("delete", "pods", "web-0")]
    assert w.step() == [("create", "Pod", "web-0")]
    assert w.revisions()["web-0"] == rev1
    assert w.pods.get("web-0", "default")["spec"]["containers"][0]["image"] == "nginx:1"
    w.set_phase("web-0")

    # Partition 0: the rest follow, and the update revision becomes the current one.
    w.change(replicas=4, image="nginx:2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    assert w.step() == [("delete", "pods", "web-1")]
    assert w.step() == [("create", "Pod", "web-1")]
    w.set_phase("web-1")
    assert w.step() == [("delete", "pods", "web-0")]
    assert w.step() == [("create", "Pod", "web-0")]
    w.set_phase("web-0")
    assert w.step() == []
    assert set(w.revisions().values()) == {rev2}
    status = w.sts["status"]
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) == (rev2, 4, 4)


def test_a_rolling_update_step_lowers_current_replicas_at_once():
    v1 = make_sts(2)
    w = World(make_sts(2, image="nginx:2", status={"currentRevision": revision_name(v1)}),
              [make_pod(v1, i) for i in range(2)], [make_claim(v1, i) for i in range(2)])
    w.sc.observe("statefulsets", "ADDED", v1, w.now)  # it had seen the old template
    w.sc.observe("statefulsets", "MODIFIED", w.sts, w.now)
    w.sync()
    assert w.api.writes() == [("delete", "pods", "web-1")]
    assert w.api.statuses()[-1]["currentReplicas"] == 1


def test_on_delete_leaves_old_pods_until_someone_deletes_them():
    v1 = make_sts(2)
    w = World(v1, [make_pod(v1, i) for i in range(2)], [make_claim(v1, i) for i in range(2)])
    w.step()
    w.change(replicas=2, image="nginx:2", strategy={"type": "OnDelete"})
    assert w.step() == []
    w.pods.remove(w.pods.get("web-1", "default"))
    assert w.step() == [("create", "Pod", "web-1")]
    assert w.revisions()["web-1"] == revision_name(w.sts)


def test_after_a_restart_an_unknown_current_template_falls_back_to_the_update_one():
    v1, v2 = make_sts(2), make_sts(2, image="nginx:2",
                                   strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    v2["status"] = {"currentRevision": revision_name(v1), "updateRevision": revision_name(v2)}
    w = World(v2, [make_pod(v1, 1)], [make_claim(v1, 0), make_claim(v1, 1)])
    w.sync()
    assert w.api.writes() == [("create", "Pod", "web-0")]
    made = w.api.created[0]
    assert made["metadata"]["labels"][REVISION_LABEL] == revision_name(v2)
    assert made["spec"]["containers"][0]["image"] == "nginx:2"


# --- the rest ---------------------------------------------------------------------------------------------------

def test_a_drifted_identity_is_put_right():
    sts = make_sts(1)
    pod = make_pod(sts, 0)
    del pod["metadata"]["labels"][POD_NAME_LABEL]
    w = World(sts, [pod], [make_claim(sts, 0)])
    w.sync()
    assert w.api.writes() == [("update", "Pod", "web-0")]
    assert w.api.updated[0]["metadata"]["labels"][POD_NAME_LABEL] == "web-0"
    assert w.recorder.events == [("Normal", "SuccessfulUpdate", "update Pod web-0 in StatefulSet web successful")]


def test_start_ordinal_shifts_the_names():
    w = World(make_sts(2, start=5, claims=False))
    assert w.step() == [("create", "Pod", "web-5")]
    w.set_phase("web-5")
    assert w.step() == [("create", "Pod", "web-6")]


def test_a_set_being_deleted_only_reports():
    sts = make_sts(3, deleting=True)
    w = World(sts, [make_pod(sts, 0)], [make_claim(sts, 0)])
    w.sync()
    assert w.api.writes() == []
    assert w.api.statuses()[-1]["replicas"] == 1


def test_orphans_named_for_the_set_are_adopted_others_are_not():
    sts = make_sts(1)
    mine, stranger = make_pod(sts, 0), make_pod(sts, 0)
    del mine["metadata"]["ownerReferences"]
    del stranger["metadata"]["ownerReferences"]
    stranger["metadata"]["name"] = "db-0"
    w = World(sts, [mine, stranger], [make_claim(sts, 0)])
    w.sync()
    assert [c for c in w.api.calls if c[0] == "patch"] == [("patch", "pods", "web-0")]


def test_keys():
    w = World(make_sts())
    orphan = make_pod(make_sts(), 0)
    del orphan["metadata"]["ownerReferences"]
    assert list(w.sc.keys("statefulsets", make_sts())) == [KEY]
    assert list(w.sc.keys("pods", make_pod(make_sts(), 1))) == [KEY]
    assert list(w.sc.keys("pods", orphan)) == [KEY]
    assert list(w.sc.keys("persistentvolumeclaims", make_claim(make_sts(), 0))) == [KEY]
    other = make_claim(make_sts(), 0)
    other["metadata"]["labels"] = {"app": "db"}
    assert list(w.sc.keys("persistentvolumeclaims", other)) == []


def test_a_deleted_set_is_forgotten():
    w = World(make_sts())
    w.sync()
    w.sets.remove(make_sts())
    assert w.sync() is None
    assert w.sc.expectations.get(KEY) is None


def test_no_status_write_when_nothing_changed():
    sts = make_sts(1)
    w = World(sts, [make_pod(sts, 0)], [make_claim(sts, 0)])
    w.step()
    w.sync()
    assert w.api.calls == []
