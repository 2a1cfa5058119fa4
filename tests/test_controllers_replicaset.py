"""The ReplicaSet controller, driven synchronously over hand-filled caches (Kubernetes' replica_set_test.go style).

A :class:`FakeApi` records every call and answers at once (optionally
refusing chosen ones); the caches are :class:`DictStore`s; the informer is
played by calling ``controller.observe`` and putting objects in the stores.
"""

from __future__ import annotations

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, run_sync
from actors.controllers.expectations import (
    EXPECTATIONS_TIMEOUT_S,
    ControllerExpectations,
)
from actors.controllers.podcontrol import deletion_order, pod_from_template, pods_prefix
from actors.controllers.replicaset import ReplicaSetController

T0 = 1_750_000_000.0
"""Wall-clock seconds of every sync unless a test says otherwise."""

KEY = "default/web"
QUOTA = ApiError(403, "Forbidden", 'pods "web-00004" is forbidden: exceeded quota: pods, requested: pods=1, '
                                   "used: pods=3, limited: pods=3")


# --- fixtures ------------------------------------------------------------------------------------

def make_rs(replicas: int = 3, *, name: str = "web", uid: str = "uid-web", selector: dict | None = None,
            template_labels: dict | None = None, generation: int = 1, status: dict | None = None,
            min_ready_s: int = 0, deleting: bool = False, owner_uid: str | None = None) -> dict:
    meta = {"name": name, "namespace": "default", "uid": uid, "generation": generation, "resourceVersion": "7"}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0 - 1)
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "dep", "uid": owner_uid,
                                    "controller": True, "blockOwnerDeletion": True}]
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
          "spec": {"replicas": replicas, "minReadySeconds": min_ready_s,
                   "selector": {"matchLabels": selector or {"app": "web"}},
                   "template": {"metadata": {"labels": template_labels or {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    if status is not None:
        rs["status"] = status
    return rs


def owner_ref(rs: dict) -> dict:
    m = rs["metadata"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def make_pod(name: str, owner: dict | None = None, *, labels: dict | None = None, node: str = "n1",
             phase: str = "Running", ready: bool = True, ready_at: float | None = T0 - 3600,
             created: float = T0 - 7200, restarts: int = 0, cost: str | None = None, deleting: bool = False,
             uid: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                  "labels": {"app": "web"} if labels is None else labels, "creationTimestamp": rfc3339(created)}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0)
    condition: dict = {"type": "Ready", "status": "True" if ready else "False"}
    if ready_at is not None:
        condition["lastTransitionTime"] = rfc3339(ready_at)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": phase, "conditions": [condition],
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


class FakeApi:
    """Records calls; refuses the creates numbered in ``fail_creates`` (1-based) and what ``errors`` names."""

    def __init__(self, *, fail_creates: tuple[int, ...] = (), create_error: ApiError = QUOTA,
                 errors: dict[tuple[str, str], ApiError] | None = None) -> None:
        self.calls: list[tuple] = []
        self.created: list[dict] = []
        self.fail_creates = set(fail_creates)
        self.create_error = create_error
        self.errors = errors or {}
        self._creates = 0

    async def create(self, obj: dict) -> dict:
        self._creates += 1
        self.calls.append(("create", obj["metadata"]["generateName"]))
        if self._creates in self.fail_creates:
            raise self.create_error
        out = {**obj, "metadata": {**obj["metadata"], "name": f"{obj['metadata']['generateName']}{self._creates:05d}",
                                   "uid": f"uid-new-{self._creates}", "creationTimestamp": rfc3339(T0)}}
        out["metadata"].pop("generateName")
        self.created.append(out)
        return out

    async def delete(self, resource: str, name: str, namespace: str = "") -> dict:
        self.calls.append(("delete", resource, name))
        if ("delete", name) in self.errors:
            raise self.errors[("delete", name)]
        return {}

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic") -> dict:
        self.calls.append(("patch", resource, name, patch, patch_type))
        if ("patch", name) in self.errors:
            raise self.errors[("patch", name)]
        return {}

    async def update_status(self, obj: dict) -> dict:
        self.calls.append(("update_status", obj["status"]))
        return obj

    def verbs(self) -> list[str]:
        return [c[0] for c in self.calls]

    def statuses(self) -> list[dict]:
        return [c[1] for c in self.calls if c[0] == "update_status"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class World:
    """A controller, its caches, a fake API and recorder, and the time."""

    def __init__(self, rses: list[dict], pods: list[dict] = (), **api) -> None:
        self.rc = ReplicaSetController()
        self.rses = DictStore(rses)
        self.pods = DictStore(pods)
        self.api = FakeApi(**api)
        self.recorder = FakeRecorder()
        self.now = 100.0
        self.wall = T0
        for rs in rses:
            self.rc.observe("replicasets", "ADDED", rs, self.now)

    def sync(self, key: str = KEY):
        ctx = Context(caches={"replicasets": self.rses, "pods": self.pods}, api=self.api, recorder=self.recorder,
                      now=self.now, wall=self.wall)
        return run_sync(self.rc.sync(key, ctx))

    def sync_expecting(self, err_type=ApiError):
        with pytest.raises(err_type) as info:
            self.sync()
        return info.value

    def informer_adds(self, pods: list[dict]) -> None:
        for p in pods:
            self.pods.put(p)
            self.rc.observe("pods", "ADDED", p, self.now)

    def status_written(self) -> None:
        """The RS status write comes back through the informer."""
        rs = self.rses.get("web", "default")
        self.rses.put({**rs, "status": self.api.statuses()[-1]})
        self.api.calls.clear()


# --- pod_from_template ------------------------------------------------------------------------------

def test_pod_from_template_copies_labels_annotations_finalizers_and_spec_and_sets_the_owner():
    rs = make_rs()
    rs["spec"]["template"]["metadata"].update(annotations={"a": "1"}, finalizers=["example.com/keep"])
    pod = pod_from_template(rs["spec"]["template"], rs)
    assert pod == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "web-", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"a": "1"}, "finalizers": ["example.com/keep"],
                     "ownerReferences": [owner_ref(rs)]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    pod["spec"]["containers"][0]["image"] = "changed"
    pod["metadata"]["labels"]["x"] = "y"
    assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx", "the template is not shared"
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


@pytest.mark.parametrize(("name", "prefix"), [
    pytest.param("web", "web-", id="dash-appended"),
    pytest.param("x" * 253, "x" * 253, id="no-room-for-the-dash"),
])
def test_pods_prefix(name, prefix):
    assert pods_prefix(name) == prefix


def test_pod_from_template_takes_an_explicit_generate_name():
    rs = make_rs()
    assert pod_from_template(rs["spec"]["template"], rs, "web-7f9c-")["metadata"]["generateName"] == "web-7f9c-"


# --- scaling up: slow start, burst, expectations --------------------------------------------------

def test_scale_up_from_0_to_5_in_batches_of_1_2_2_and_a_failed_create_is_reported():
    w = World([make_rs(5)], fail_creates=(4,))
    err = w.sync_expecting()
    assert err is QUOTA
    # Batches 1, 2, 2: the 4th create fails, but the 5th is in the same batch and is still made.
    assert w.api.calls == [("create", "web-")] * 5 + [("update_status", {
        "replicas": 0, "observedGeneration": 1,
        "conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": rfc3339(T0),
                        "reason": "FailedCreate", "message": QUOTA.message}]})]
    assert w.recorder.events == [
        ("Normal", "SuccessfulCreate", "Created pod: web-00001"),
        ("Normal", "SuccessfulCreate", "Created pod: web-00002"),
        ("Normal", "SuccessfulCreate", "Created pod: web-00003"),
        ("Warning", "FailedCreate", f"Error creating: {QUOTA.message}"),
        ("Normal", "SuccessfulCreate", "Created pod: web-00005"),
    ]
    exp = w.rc.expectations.get(KEY)
    assert (exp.add, exp.delete) == (4, 0), "waits for the four pods made, not the refused one"
    created = w.api.created[0]
    assert created["metadata"]["ownerReferences"] == [owner_ref(make_rs())]
    assert created["metadata"]["labels"] == {"app": "web"}


@pytest.mark.parametrize(("replicas", "fail_at", "creates", "awaited"), [
    pytest.param(5, (), 5, 5, id="5-all-succeed-1+2+2"),
    pytest.param(5, (1,), 1, 0, id="first-fails-nothing-more"),
    pytest.param(5, (2,), 3, 2, id="batch-of-2-finishes-then-stops"),
    pytest.param(10, (4,), 7, 6, id="1+2+4-then-the-batch-of-3-is-skipped"),
    pytest.param(10, (8,), 10, 9, id="failure-in-the-last-batch"),
    pytest.param(600, (), 500, 500, id="burst-cap-500-per-sync"),
])
def test_slow_start_batches(replicas, fail_at, creates, awaited):
    w = World([make_rs(replicas)], fail_creates=fail_at)
    if fail_at:
        w.sync_expecting()
    else:
        assert w.sync() is None
    assert w.api.verbs().count("create") == creates
    assert w.rc.expectations.get(KEY).add == awaited


def test_expectations_stop_a_second_sync_until_the_informer_observes_the_pods():
    w = World([make_rs(3)])
    w.sync()
    assert w.api.verbs() == ["create"] * 3 + ["update_status"]
    w.status_written()

    w.now += 1
    w.sync()  # the cache still shows no pods, but the three are on their way
    assert w.api.calls == []

    w.informer_adds(w.api.created[:2])
    w.sync()
    assert w.api.verbs() == ["update_status"], "still one pod awaited: count, but do not create"
    assert w.api.statuses()[-1]["replicas"] == 2
    w.status_written()

    w.informer_adds(w.api.created[2:3])
    assert w.rc.expectations.satisfied(KEY, w.now)
    w.sync()
    assert w.api.verbs() == ["update_status"] and w.api.statuses()[-1]["replicas"] == 3


def test_expectations_never_met_expire_after_five_minutes():
    w = World([make_rs(2)])
    w.sync()
    w.status_written()
    w.now += EXPECTATIONS_TIMEOUT_S  # not yet *more* than the timeout
    w.sync()
    assert w.api.calls == []
    w.now += 0.5
    w.sync()
    assert w.api.verbs() == ["create", "create"], "the events were lost: act again"


def test_a_namespace_being_terminated_is_not_an_error_and_not_an_event():
    gone = ApiError(403, "Forbidden", 'pods "web-" is forbidden: unable to create new content in namespace '
                                      "default because it is being terminated")
    w = World([make_rs(2)], fail_creates=(1, 2, 3), create_error=gone)
    assert w.sync() is None
    assert w.api.verbs() == ["create", "create", "update_status"]
    assert w.recorder.events == []


def test_the_failure_condition_goes_once_a_sync_succeeds():
    w = World([make_rs(1)], fail_creates=(1,))
    w.sync_expecting()
    w.status_written()
    assert w.rses.get("web", "default")["status"]["conditions"][0]["reason"] == "FailedCreate"
    w.sync()
    assert w.api.verbs() == ["create", "update_status"]
    assert w.api.statuses()[-1] == {"replicas": 0, "observedGeneration": 1}


def test_a_replicaset_being_deleted_creates_nothing_but_reports_status():
    w = World([make_rs(3, deleting=True)])
    w.sync()
    assert w.api.calls == [("update_status", {"replicas": 0, "observedGeneration": 1})]


# --- scaling down: who goes first -------------------------------------------------------------------

RS = make_rs(1)

VICTIM_TABLE = [
    # (id, overrides for pod a, overrides for pod b, the one deleted)
    ("unassigned-before-assigned", {"node": "", "phase": "Pending", "ready": False},
     {"phase": "Pending", "ready": False}, "a"),
    ("pending-before-running", {"ready": False}, {"phase": "Pending", "ready": False}, "b"),
    ("unknown-before-running", {"ready": False}, {"phase": "Unknown", "ready": False}, "b"),
    ("pending-before-unknown", {"phase": "Unknown", "ready": False}, {"phase": "Pending", "ready": False}, "b"),
    ("not-ready-before-ready", {}, {"ready": False}, "b"),
    ("readiness-beats-deletion-cost", {"ready": False, "cost": "100"}, {"cost": "-100"}, "a"),
    ("lower-deletion-cost-first", {"cost": "10"}, {"cost": "-5"}, "b"),
    ("ready-more-recently-first", {"ready_at": T0 - 86400}, {"ready_at": T0 - 60}, "b"),
    ("more-restarts-first", {"restarts": 5}, {"restarts": 0}, "a"),
    ("ready-time-beats-restarts", {"ready_at": T0 - 30, "restarts": 0}, {"ready_at": T0 - 86400, "restarts": 9}, "a"),
    ("newer-first", {"created": T0 - 86400}, {"created": T0 - 600}, "b"),
    ("restarts-beat-age", {"created": T0 - 86400, "restarts": 1}, {"created": T0 - 600}, "a"),
    # LogarithmicScaleDown: 100 s and 101 s old fall in one power-of-two bucket, so the uid decides.
    ("same-age-bucket-lower-uid-first", {"created": T0 - 101}, {"created": T0 - 100}, "a"),
    # ... and for ready times the uid settles it there and then: restarts are not looked at.
    ("same-ready-bucket-uid-beats-restarts", {"ready_at": T0 - 101}, {"ready_at": T0 - 100, "restarts": 5}, "a"),
]


@pytest.mark.parametrize(("a", "b", "victim"), [pytest.param(a, b, v, id=i) for i, a, b, v in VICTIM_TABLE])
def test_scale_down_deletes_the_pod_kubernetes_ranks_first(a, b, victim):
    pods = [make_pod("a", RS, **a), make_pod("b", RS, **b)]
    w = World([RS], pods)
    w.sync()
    assert [c for c in w.api.calls if c[0] == "delete"] == [("delete", "pods", victim)]
    assert w.recorder.events == [("Normal", "SuccessfulDelete", f"Deleted pod: {victim}")]
    exp = w.rc.expectations.get(KEY)
    assert (exp.add, exp.delete, exp.pending_deletes) == (0, 1, {f"default/{victim}"})


def test_the_whole_deletion_order():
    pods = [
        make_pod("old-ready", RS, created=T0 - 10 * 86400, ready_at=T0 - 9 * 86400),
        make_pod("running-not-ready", RS, ready=False),
        make_pod("pending", RS, phase="Pending", ready=False),
        make_pod("unscheduled", RS, node="", phase="Pending", ready=False),
        make_pod("just-ready", RS, ready_at=T0 - 5),
        make_pod("crashy", RS, restarts=7, ready=False),
    ]
    order = [p["metadata"]["name"] for p in deletion_order(pods, [], T0)]
    assert order == ["unscheduled", "pending", "crashy", "running-not-ready", "just-ready", "old-ready"]


def test_pods_doubled_up_on_a_node_with_their_siblings_go_first():
    dep = "uid-dep"
    rs = make_rs(1, owner_uid=dep)
    sibling = make_rs(0, name="web-old", uid="uid-web-old", selector={"app": "web", "v": "1"},
                      template_labels={"app": "web", "v": "1"}, owner_uid=dep)
    mine = [make_pod("alone", rs, node="n2"), make_pod("crowded", rs, node="n1")]
    theirs = [make_pod(f"old-{i}", sibling, labels={"app": "web", "v": "1"}, node="n1") for i in range(2)]
    # The siblings' pods match this RS's selector too, but are controlled by the sibling: not claimed.
    w = World([rs, sibling], mine + theirs)
    w.sync()
    assert [c[2] for c in w.api.calls if c[0] == "delete"] == ["crowded"]


def test_scale_down_to_zero_deletes_all_and_awaits_each_deletion_once():
    w = World([make_rs(0)], [make_pod("a", RS), make_pod("b", RS)])
    w.sync()
    assert sorted(c[2] for c in w.api.calls if c[0] == "delete") == ["a", "b"]
    exp = w.rc.expectations
    a = w.pods.get("a", "default")
    terminating = {**a, "metadata": {**a["metadata"], "deletionTimestamp": rfc3339(T0)}}
    w.rc.observe("pods", "MODIFIED", terminating)  # a graceful delete starts
    w.rc.observe("pods", "DELETED", terminating)  # ... and ends: counted once
    assert exp.get(KEY).delete == 1 and not exp.satisfied(KEY, w.now)
    w.rc.observe("pods", "DELETED", w.pods.get("b", "default"))
    assert exp.satisfied(KEY, w.now)


def test_failed_deletes_lower_expectations_and_report_a_failure_but_not_found_is_fine():
    boom = ApiError(500, "InternalError", "Internal error occurred: etcd is sad")
    gone = ApiError(404, "NotFound", 'pods "b" not found')
    pods = [make_pod("a", RS, created=T0 - 10), make_pod("b", RS, created=T0 - 1000), make_pod("c", RS)]
    w = World([RS], pods, errors={("delete", "a"): boom, ("delete", "b"): gone})
    err = w.sync_expecting()
    assert err.message == "unable to delete pods: Internal error occurred: etcd is sad"
    assert w.recorder.events == [("Warning", "FailedDelete", "Error deleting: Internal error occurred: etcd is sad")]
    assert w.rc.expectations.satisfied(KEY, w.now), "neither failed delete will ever be observed"
    cond = w.api.statuses()[-1]["conditions"][0]
    assert (cond["reason"], cond["message"]) == ("FailedDelete", err.message)


# --- adoption and release ---------------------------------------------------------------------------

ADOPT = {"metadata": {"ownerReferences": [owner_ref(RS)], "uid": "uid-orphan"}}


@pytest.mark.parametrize(("pod", "rs", "patches", "replicas"), [
    pytest.param(make_pod("orphan"), RS, [("patch", "pods", "orphan", ADOPT, "strategic")], 1,
                 id="matching-orphan-adopted"),
    pytest.param(make_pod("orphan", labels={"app": "db"}), make_rs(0), [], 0, id="orphan-not-matching-ignored"),
    pytest.param(make_pod("orphan"), make_rs(1, deleting=True), [], 0, id="not-adopted-by-a-deleting-rs"),
    pytest.param(make_pod("orphan", deleting=True), make_rs(0), [], 0, id="terminating-orphan-not-adopted"),
    pytest.param(make_pod("theirs", make_rs(name="other", uid="uid-other")), make_rs(0), [], 0,
                 id="another-controllers-pod-untouched"),
])
def test_claiming(pod, rs, patches, replicas):
    w = World([rs], [pod])
    w.sync()
    assert [c for c in w.api.calls if c[0] == "patch"] == patches
    assert "create" not in w.api.verbs() and "delete" not in w.api.verbs()
    assert w.api.statuses()[-1]["replicas"] == replicas


def test_an_owned_pod_whose_labels_changed_is_released_and_replaced():
    w = World([RS], [make_pod("moved", RS, labels={"app": "debug"})])
    w.sync()
    release = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "uid-web"}], "uid": "uid-moved"}}
    assert w.api.calls[0] == ("patch", "pods", "moved", release, "strategic")
    assert w.api.verbs() == ["patch", "create", "update_status"]
    assert w.api.statuses()[-1]["replicas"] == 0


def test_a_replicaset_being_deleted_releases_nothing():
    rs = make_rs(1, deleting=True)
    w = World([rs], [make_pod("moved", rs, labels={"app": "debug"})])
    w.sync()
    assert w.api.verbs() == ["update_status"]


@pytest.mark.parametrize(("code", "raises"), [
    pytest.param(404, False, id="pod-gone"),
    pytest.param(422, False, id="reference-already-gone"),
    pytest.param(500, True, id="server-error-stops-the-sync"),
])
def test_release_errors(code, raises):
    err = ApiError(code, "X", "x")
    w = World([RS], [make_pod("moved", RS, labels={"app": "debug"})], errors={("patch", "moved"): err})
    if raises:
        assert w.sync_expecting() is err
        assert w.api.verbs() == ["patch"], "no scaling and no status on a claim failure"
    else:
        w.sync()
        assert w.api.verbs() == ["patch", "create", "update_status"]


# --- status -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pod", "min_ready_s", "ready", "available", "requeue"), [
    pytest.param({"ready": False}, 10, 0, 0, None, id="not-ready"),
    pytest.param({"ready_at": T0 - 30}, 10, 1, 1, None, id="ready-long-enough"),
    pytest.param({"ready_at": T0 - 4}, 10, 1, 0, 7.0, id="ready-4s-of-10-look-again-in-6+1"),
    pytest.param({"ready_at": T0 - 10}, 10, 1, 0, 1.0, id="exactly-10s-is-not-more-than-10"),
    pytest.param({"ready_at": None}, 10, 1, 0, None, id="no-transition-time-never-available"),
    pytest.param({"ready_at": T0}, 0, 1, 1, None, id="min-ready-0-available-at-once"),
])
def test_ready_and_available_counts(pod, min_ready_s, ready, available, requeue):
    rs = make_rs(1, min_ready_s=min_ready_s)
    w = World([rs], [make_pod("p", rs, **pod)])
    assert w.sync() == requeue
    status = w.api.statuses()[-1]
    assert (status["replicas"], status.get("readyReplicas", 0), status.get("availableReplicas", 0)) == (
        1, ready, available)


def test_fully_labeled_counts_pods_with_all_the_template_labels():
    rs = make_rs(2, template_labels={"app": "web", "tier": "front"})
    pods = [make_pod("full", rs, labels={"app": "web", "tier": "front", "x": "y"}), make_pod("partial", rs)]
    w = World([rs], pods)
    w.sync()
    assert w.api.statuses()[-1] == {"replicas": 2, "fullyLabeledReplicas": 1, "readyReplicas": 2,
                                    "availableReplicas": 2, "observedGeneration": 1}


def test_the_earliest_pod_to_become_available_sets_the_requeue():
    rs = make_rs(2, min_ready_s=30)
    w = World([rs], [make_pod("a", rs, ready_at=T0 - 20), make_pod("b", rs, ready_at=T0 - 5)])
    assert w.sync() == 11.0


def test_no_status_write_when_nothing_changed():
    status = {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
              "observedGeneration": 1}
    rs = make_rs(1, status=status)
    w = World([rs], [make_pod("p", rs)])
    assert w.sync() is None
    assert w.api.calls == [] and w.recorder.events == []


def test_a_new_generation_is_written_even_with_the_same_counts():
    status = {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
              "observedGeneration": 1}
    rs = make_rs(1, status=status, generation=2)
    w = World([rs], [make_pod("p", rs)])
    w.sync()
    assert w.api.statuses() == [{**status, "observedGeneration": 2}]


def test_inactive_pods_are_not_counted_and_are_replaced():
    pods = [make_pod("done", RS, phase="Succeeded"), make_pod("bye", RS, deleting=True)]
    w = World([RS], pods)
    w.sync()
    assert w.api.verbs() == ["create", "update_status"]


# --- a deleted ReplicaSet; keys; observe --------------------------------------------------------------

def test_a_deleted_replicaset_drops_its_expectations_and_does_nothing():
    w = World([make_rs(3)])
    w.sync()
    assert w.rc.expectations.get(KEY) is not None
    w.rses.remove(make_rs())
    w.api.calls.clear()
    assert w.sync() is None
    assert w.api.calls == [] and w.rc.expectations.get(KEY) is None


def test_deleting_and_recreating_under_the_same_name_starts_clean():
    w = World([make_rs(3)])
    w.sync()
    w.rc.observe("replicasets", "MODIFIED", make_rs(3, uid="uid-web-2"))
    assert w.rc.expectations.get(KEY) is None


OTHER_KIND = {**make_pod("p"), "metadata": {**make_pod("p")["metadata"], "ownerReferences": [
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": True}]}}


@pytest.mark.parametrize(("pod", "keys"), [
    pytest.param(make_pod("p", RS), [KEY], id="owned-by-its-replicaset"),
    pytest.param(make_pod("p"), ["default/web", "default/web-all"], id="orphan-to-every-matching-rs"),
    pytest.param(make_pod("p", labels={"app": "cache"}), [], id="orphan-nobody-selects"),
    pytest.param(make_pod("p", deleting=True), [], id="terminating-orphan"),
    pytest.param(OTHER_KIND, [], id="controlled-by-another-kind"),
])
def test_keys_of_pod_events(pod, keys):
    db = make_rs(name="db", uid="uid-db", selector={"app": "db"}, template_labels={"app": "db"})
    w = World([RS, make_rs(name="web-all", uid="uid-all"), db])
    assert sorted(w.rc.keys("pods", pod)) == keys


def test_keys_of_a_replicaset_is_its_own():
    assert list(ReplicaSetController().keys("replicasets", RS)) == [KEY]


def test_creations_are_observed_only_for_the_replicaset_with_the_owners_uid():
    w = World([make_rs(2)])
    w.sync()
    impostor = make_pod("x", make_rs(uid="uid-gone"))
    w.rc.observe("pods", "ADDED", impostor)
    w.rc.observe("pods", "ADDED", make_pod("orphan"))
    assert w.rc.expectations.get(KEY).add == 2
    w.rc.observe("pods", "ADDED", w.api.created[0])
    assert w.rc.expectations.get(KEY).add == 1


def test_a_pod_added_already_terminating_is_not_a_creation():
    w = World([make_rs(1)])
    w.sync()
    created = w.api.created[0]
    w.rc.observe("pods", "ADDED", {**created, "metadata": {**created["metadata"], "deletionTimestamp": rfc3339(T0)}})
    assert w.rc.expectations.get(KEY).add == 1


# --- expectations on their own -------------------------------------------------------------------------

@pytest.mark.parametrize(("steps", "satisfied"), [
    pytest.param([], True, id="none-recorded"),
    pytest.param([("expect_creations", 2)], False, id="two-awaited"),
    pytest.param([("expect_creations", 2), ("creation_observed",), ("creation_observed",)], True, id="both-seen"),
    pytest.param([("expect_creations", 1), ("creation_observed",), ("creation_observed",)], True,
                 id="more-seen-than-awaited"),
    pytest.param([("expect_deletions", ["ns/a"]), ("deletion_observed", "ns/b")], False, id="other-pod-deleted"),
    pytest.param([("expect_deletions", ["ns/a"]), ("deletion_observed", "ns/a")], True, id="awaited-pod-deleted"),
    pytest.param([("expect_deletions", []), ], True, id="nothing-to-delete"),
    pytest.param([("expect_creations", 3), ("lower", 3)], True, id="lowered-after-failures"),
    pytest.param([("expect_creations", 3), ("expect_deletions", ["ns/a"])], False, id="a-new-expectation-replaces"),
    pytest.param([("expect_creations", 3), ("delete",)], True, id="deleted"),
])
def test_controller_expectations(steps, satisfied):
    exp = ControllerExpectations()
    for verb, *args in steps:
        if verb == "lower":
            exp.lower("k", add=args[0])
        elif verb in ("creation_observed", "delete"):
            getattr(exp, verb)("k")
        elif verb == "deletion_observed":
            exp.deletion_observed("k", args[0])
        else:
            getattr(exp, verb)("k", args[0], 10.0)
    assert exp.satisfied("k", 10.0) is satisfied
    assert exp.satisfied("k", 10.0 + EXPECTATIONS_TIMEOUT_S + 0.1), "anything expires"


# --- everything together ---------------------------------------------------------------------------------

def test_converges_through_scale_up_and_down_with_the_informer_in_the_loop():
    """Each sync's writes are 'heard back' before the next, as the informer would deliver them."""
    w = World([make_rs(5)])
    seen: list[str] = []
    for _ in range(10):
        seen += w.api.verbs()
        w.api.calls.clear()
        w.api.created.clear()
        try:
            w.sync()
        except ApiError:
            pass
        w.informer_adds(w.api.created)
        for c in w.api.calls:
            if c[0] == "delete":
                gone = w.pods.get(c[2], "default")
                w.pods.remove(gone)
                w.rc.observe("pods", "DELETED", gone, w.now)
            elif c[0] == "update_status":
                rs = w.rses.get("web", "default")
                w.rses.put({**rs, "status": c[1]})
        if not w.api.calls:
            if len(w.pods.list()) == 5:
                w.rses.put({**w.rses.get("web", "default"), "spec": {**make_rs(2)["spec"]},
                            "metadata": {**make_rs()["metadata"], "generation": 2}})
                continue
            break
    # All five are alike and of an age: LogarithmicScaleDown lets the uid pick, lowest first.
    assert sorted(p["metadata"]["name"] for p in w.pods.list()) == ["web-00004", "web-00005"]
    assert w.rses.get("web", "default")["status"]["replicas"] == 2
    assert w.rc.expectations.satisfied(KEY, w.now)
    assert (seen.count("create"), seen.count("delete")) == (5, 3)
