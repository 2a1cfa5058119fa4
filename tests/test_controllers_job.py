"""The Job controller, driven synchronously over hand-filled caches (Kubernetes' job_controller_test.go style).

:class:`FakeApi` is a tiny API server: it keeps objects with resourceVersions
(a status write from a stale copy is refused with 409), honours finalizers
(a deleted pod stays, with a deletionTimestamp, until its finalizers are gone
and the "kubelet" has stopped it) and records every call. Its writes reach the
caches only when the test calls :meth:`World.deliver` — the informer's lag is
in the test's hands, which is how "seen twice", "not seen yet" and "seen out of
order" are played. The kubelet is played by :meth:`World.finish`,
:meth:`World.run` and :meth:`World.reap`.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import STALE, ApiError, conflict, not_found
from actors.controllers.base import Context, DictStore, key_of, run_sync
from actors.controllers.job import (
    COMPLETION_INDEX,
    JOB_TRACKING_FINALIZER,
    ORPHAN_POD_KEY_PREFIX,
    BackoffRecord,
    JobController,
    backoff_delay_s,
    backoff_remaining_s,
    completion_index,
    ensure_condition,
    format_indexes,
    next_backoff_record,
    parse_indexes,
    pod_finished_time,
    want_active,
)

NS = "default"
KEY = "default/pi"
T0 = 1_750_000_000.0
"""Wall-clock seconds at the start of every test."""

QUOTA = ApiError(403, "Forbidden", 'pods "pi-00001" is forbidden: exceeded quota: pods')


# --- fixtures ---------------------------------------------------------------------------------------------

def make_job(*, name: str = "pi", uid: str = "uid-pi", completions: int | None = 1, parallelism: int = 1,
             backoff_limit: int = 6, suspend: bool = False, deadline_s: int | None = None,
             mode: str = "NonIndexed", restart: str = "Never", status: dict | None = None,
             replacement: str = "TerminatingOrFailed") -> dict:
    """A Job as the API server stores it: defaulted, with its generated selector and labels."""
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    spec: dict = {"parallelism": parallelism, "backoffLimit": backoff_limit, "completionMode": mode,
                  "suspend": suspend, "podReplacementPolicy": replacement, "manualSelector": False,
                  "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"restartPolicy": restart,
                                        "containers": [{"name": "pi", "image": "perl"}]}}}
    if completions is not None:
        spec["completions"] = completions
    if deadline_s is not None:
        spec["activeDeadlineSeconds"] = deadline_s
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "1",
                         "creationTimestamp": rfc3339(T0 - 60), "labels": labels},
            "spec": spec, "status": status or {}}


def job_ref(job: dict) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
            "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def make_pod(name: str, owner: dict | None, *, phase: str = "Running", finalizer: bool = True,
             labels: dict | None = None, finished_at: float | None = None, ready: bool = True,
             restarts: int = 0, index: int | None = None, ref: dict | None = None) -> dict:
    """A pod of ``owner`` as the cache holds it (no owner: an orphan)."""
    meta: dict = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "1",
                  "creationTimestamp": rfc3339(T0 - 30)}
    if owner is not None:
        meta["labels"] = dict(owner["spec"]["template"]["metadata"]["labels"])
        meta["ownerReferences"] = [job_ref(owner)]
    if ref is not None:
        meta["ownerReferences"] = [ref]
    if labels is not None:
        meta["labels"] = labels
    if finalizer:
        meta["finalizers"] = [JOB_TRACKING_FINALIZER]
    if index is not None:
        meta["annotations"] = {COMPLETION_INDEX: str(index)}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": "n1"}, "status": {}}
    _set_phase(pod, phase, finished_at if finished_at is not None else T0 - 10, ready, restarts)
    return pod


def _set_phase(pod: dict, phase: str, at: float, ready: bool = True, restarts: int = 0) -> None:
    if phase in ("Succeeded", "Failed"):
        state = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1, "finishedAt": rfc3339(at)}}
        pod["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "False",
                                                         "lastTransitionTime": rfc3339(at)}],
                         "containerStatuses": [{"name": "pi", "state": state, "restartCount": restarts}]}
    else:
        pod["status"] = {"phase": phase,
                         "conditions": [{"type": "Ready", "status": "True" if ready and phase == "Running"
                                         else "False"}],
                         "containerStatuses": [{"name": "pi", "state": {"running": {}}, "restartCount": restarts}]}


class FakeApi:
    """A tiny API server; see the module docstring."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.objects: dict[tuple[str, str], dict] = {}
        self.events: list[tuple[str, str, dict]] = []
        self.calls: list[tuple] = []
        self.rv = 100
        self.created = 0
        self.fail_creates: set[int] = set()
        """Creates refused with QUOTA, numbered from 1."""

    # --- plumbing -----------------------------------------------------------------------------------
    def seed(self, resource: str, obj: dict) -> None:
        self.objects[(resource, key_of(obj))] = copy.deepcopy(obj)

    def _emit(self, resource: str, type_: str, obj: dict) -> None:
        self.events.append((resource, type_, copy.deepcopy(obj)))

    def _bump(self, obj: dict) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _write(self, resource: str, obj: dict) -> None:
        self._bump(obj)
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("running"):
            del self.objects[(resource, key_of(obj))]
            self._emit(resource, "DELETED", obj)
        else:
            self.objects[(resource, key_of(obj))] = obj
            self._emit(resource, "MODIFIED", obj)

    def get_obj(self, resource: str, name: str) -> dict | None:
        return self.objects.get((resource, f"{NS}/{name}"))

    # --- the API ----------------------------------------------------------------------------------------
    async def create(self, obj: dict, namespace: str = "") -> dict:
        self.created += 1
        assert obj["kind"] == "Pod"
        name = f"{obj['metadata']['generateName']}{self.created:05d}"
        self.calls.append(("create", name))
        if self.created in self.fail_creates:
            raise QUOTA
        pod = copy.deepcopy(obj)
        meta = pod["metadata"]
        del meta["generateName"]
        meta.update(name=name, uid=f"uid-{name}", creationTimestamp=rfc3339(self.world.wall))
        pod["status"] = {"phase": "Pending"}
        self._bump(pod)
        self.objects[("pods", key_of(pod))] = pod
        self._emit("pods", "ADDED", pod)
        return copy.deepcopy(pod)

    async def update_status(self, obj: dict) -> dict:
        key = ("jobs", key_of(obj))
        current = self.objects[key]
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise conflict("jobs", obj["metadata"]["name"], STALE, "batch")
        self.calls.append(("update_status", copy.deepcopy(obj["status"])))
        new = copy.deepcopy(current)
        new["status"] = copy.deepcopy(obj["status"])
        self._write("jobs", new)
        return copy.deepcopy(new)

    async def patch(self, resource: str, name: str, patch: dict, namespace: str = "", *,
                    patch_type: str = "strategic") -> dict:
        assert resource == "pods" and patch_type == "strategic"
        pod = self.get_obj("pods", name)
        pmeta = patch["metadata"]
        if "$deleteFromPrimitiveList/finalizers" in pmeta:
            self.calls.append(("patch", name, "-finalizer"))
        elif "ownerReferences" in pmeta:
            self.calls.append(("patch", name, "adopt"))
        else:
            self.calls.append(("patch", name, "+finalizer"))
        if pod is None:
            raise not_found("pods", name)
        pod = copy.deepcopy(pod)
        meta = pod["metadata"]
        finalizers = [f for f in meta.get("finalizers") or []
                      if f not in pmeta.get("$deleteFromPrimitiveList/finalizers", [])]
        for f in pmeta.get("finalizers", []):
            if f not in finalizers:
                finalizers.append(f)
        meta["finalizers"] = finalizers
        if "ownerReferences" in pmeta:
            meta["ownerReferences"] = copy.deepcopy(pmeta["ownerReferences"])
        self._write("pods", pod)
        return copy.deepcopy(pod)

    async def delete(self, resource: str, name: str, namespace: str = "", *, propagation: str = "") -> dict:
        self.calls.append(("delete", name))
        pod = self.get_obj("pods", name)
        if pod is None:
            raise not_found("pods", name)
        pod = copy.deepcopy(pod)
        if not pod["metadata"].get("deletionTimestamp"):
            pod["metadata"]["deletionTimestamp"] = rfc3339(self.world.wall)
            pod["metadata"]["deletionGracePeriodSeconds"] = 30
            # A pod that was running stays until the kubelet has stopped it (World.reap).
            pod["metadata"]["running"] = pod["status"].get("phase") not in ("Succeeded", "Failed")
        self._write("pods", pod)
        return {}

    # --- reading the record ---------------------------------------------------------------------------
    def verbs(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "update_status"]

    def statuses(self) -> list[dict]:
        return [c[1] for c in self.calls if c[0] == "update_status"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    def reasons(self) -> list[str]:
        return [e[1] for e in self.events]


class World:
    """A JobController, its caches, the fake API server, a recorder and the time."""

    def __init__(self, *jobs: dict, pods: tuple[dict, ...] = (), controller: JobController | None = None) -> None:
        self.jc = controller or JobController()
        self.api = FakeApi(self)
        self.caches = {"jobs": DictStore(), "pods": DictStore()}
        self.recorder = FakeRecorder()
        self.now = 100.0
        self.wall = T0
        for resource, objs in (("jobs", jobs), ("pods", pods)):
            for obj in objs:
                self.api.seed(resource, obj)
                self.caches[resource].put(copy.deepcopy(obj))
                self.jc.observe(resource, "ADDED", obj, self.now)

    def sync(self, key: str = KEY):
        ctx = Context(caches=self.caches, api=self.api, recorder=self.recorder, now=self.now, wall=self.wall)
        return run_sync(self.jc.sync(key, ctx))

    def step(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds

    def deliver(self, resource: str | None = None) -> None:
        """The informers hear the server's events (only ``resource``'s if given), in order."""
        keep = []
        for res, type_, obj in self.api.events:
            if resource is not None and res != resource:
                keep.append((res, type_, obj))
                continue
            if type_ == "DELETED":
                self.caches[res].remove(obj)
            else:
                self.caches[res].put(obj)
            self.jc.observe(res, type_, obj, self.now)
        self.api.events = keep

    # --- the kubelet ----------------------------------------------------------------------------------------
    def _kubelet(self, name: str, change) -> None:
        pod = copy.deepcopy(self.api.get_obj("pods", name))
        change(pod)
        self.api._write("pods", pod)

    def run(self, *names: str, restarts: int = 0) -> None:
        for name in names:
            self._kubelet(name, lambda p: _set_phase(p, "Running", self.wall, True, restarts))

    def finish(self, *names: str, phase: str = "Succeeded") -> None:
        for name in names:
            self._kubelet(name, lambda p: _set_phase(p, phase, self.wall))

    def reap(self) -> None:
        """Every pod being deleted has stopped: those without finalizers go."""
        for (res, _), obj in list(self.api.objects.items()):
            if res == "pods" and obj["metadata"].get("running"):
                self._kubelet(obj["metadata"]["name"], lambda p: p["metadata"].update(running=False))

    # --- looking ---------------------------------------------------------------------------------------------
    def job(self, name: str = "pi") -> dict:
        return self.api.get_obj("jobs", name)

    def status(self, name: str = "pi") -> dict:
        return self.job(name)["status"]

    def pod_names(self, *, active_only: bool = False) -> list[str]:
        return sorted(o["metadata"]["name"] for (res, _), o in self.api.objects.items()
                      if res == "pods" and not (active_only and (o["metadata"].get("deletionTimestamp")
                                                                 or o["status"].get("phase") in ("Succeeded",
                                                                                                 "Failed"))))

    def conditions(self, name: str = "pi") -> list[tuple[str, str, str]]:
        return [(c["type"], c["status"], c.get("reason", "")) for c in self.status(name).get("conditions") or []]

    def settle(self) -> float | None:
        """Sync and deliver until a sync leaves nothing new to hear."""
        for _ in range(20):
            delay = self.sync()
            if not self.api.events:
                return delay
            self.deliver()
        raise AssertionError("the controller never settled")


# --- pure helpers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("failures", "delay"), [
    pytest.param(0, 0.0, id="none"), pytest.param(1, 10.0, id="first"), pytest.param(2, 20.0, id="second"),
    pytest.param(3, 40.0, id="third"), pytest.param(6, 320.0, id="sixth"), pytest.param(7, 360.0, id="capped"),
    pytest.param(100, 360.0, id="many"),
])
def test_backoff_delay_doubles_from_10s_up_to_6_minutes(failures, delay):
    assert backoff_delay_s(failures) == delay


def test_backoff_remaining_counts_from_the_last_failure():
    assert backoff_remaining_s(BackoffRecord(2, T0), T0 + 5) == 15.0
    assert backoff_remaining_s(BackoffRecord(2, T0), T0 + 25) == 0.0
    assert backoff_remaining_s(BackoffRecord(), T0) == 0.0


def test_a_success_resets_the_backoff_except_for_failures_after_it():
    job = make_job()
    failed_early = make_pod("a", job, phase="Failed", finished_at=T0)
    success = make_pod("b", job, phase="Succeeded", finished_at=T0 + 10)
    failed_late = make_pod("c", job, phase="Failed", finished_at=T0 + 20)
    old = BackoffRecord(3, T0 - 100)
    assert next_backoff_record(old, [], [failed_early]) == BackoffRecord(4, T0)
    assert next_backoff_record(old, [success], [failed_early]) == BackoffRecord(0, None)
    assert next_backoff_record(old, [success], [failed_early, failed_late]) == BackoffRecord(1, T0 + 20)
    assert next_backoff_record(old, [], []) is old


def test_a_pods_finish_time_comes_from_its_containers_else_its_ready_condition_else_its_deletion():
    pod = make_pod("a", None, phase="Failed", finished_at=T0 + 7)
    assert pod_finished_time(pod) == T0 + 7
    pod["status"]["containerStatuses"][0]["state"] = {"running": {}}
    pod["status"]["conditions"][0]["lastTransitionTime"] = rfc3339(T0 + 3)
    assert pod_finished_time(pod) == T0 + 3
    pod["status"]["conditions"] = []
    pod["metadata"].update(deletionTimestamp=rfc3339(T0 + 40), deletionGracePeriodSeconds=30)
    assert pod_finished_time(pod) == T0 + 10


@pytest.mark.parametrize(("completions", "parallelism", "active", "succeeded", "want"), [
    pytest.param(5, 2, 0, 0, 2, id="parallelism-bounds"),
    pytest.param(5, 2, 2, 4, 1, id="remaining-completions-bound"),
    pytest.param(5, 2, 0, 5, 0, id="done"),
    pytest.param(None, 3, 0, 0, 3, id="work-queue-starts-parallelism"),
    pytest.param(None, 3, 2, 1, 2, id="work-queue-after-a-success-starts-no-more"),
])
def test_want_active(completions, parallelism, active, succeeded, want):
    assert want_active(make_job(completions=completions, parallelism=parallelism), active, succeeded) == want


@pytest.mark.parametrize(("indexes", "text"), [
    pytest.param(set(), "", id="empty"), pytest.param({3}, "3", id="one"),
    pytest.param({0, 2, 3, 4, 7, 8}, "0,2-4,7-8", id="runs"),
])
def test_completed_indexes_are_written_as_runs_and_read_back(indexes, text):
    assert format_indexes(indexes) == text
    assert parse_indexes(text, 10) == indexes


def test_parse_indexes_drops_indexes_beyond_completions_and_malformed_parts():
    assert parse_indexes("0-3,x,9", 3) == {0, 1, 2}


def test_completion_index_is_read_from_the_annotation_else_the_label():
    assert completion_index(make_pod("a", None, index=4)) == 4
    pod = make_pod("b", None, labels={COMPLETION_INDEX: "2"})
    assert completion_index(pod) == 2
    pod["metadata"]["labels"][COMPLETION_INDEX] = "-1"
    assert completion_index(pod) is None


def test_ensure_condition_adds_replaces_and_never_adds_false():
    conditions: list[dict] = []
    assert not ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert not ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", T0 + 5)
    assert ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", T0 + 9)
    assert conditions == [{"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed",
                           "lastProbeTime": rfc3339(T0 + 9), "lastTransitionTime": rfc3339(T0 + 9)}]


# --- creating pods -------------------------------------------------------------------------------------------------

def test_first_sync_creates_parallelism_pods_with_the_tracking_finalizer_and_writes_the_start():
    job = make_job(completions=5, parallelism=2)
    w = World(job)
    assert w.sync() is None
    assert w.api.verbs() == [("create", "pi-00001"), ("create", "pi-00002")]
    pod = w.api.get_obj("pods", "pi-00001")
    assert pod["metadata"]["finalizers"] == [JOB_TRACKING_FINALIZER]
    assert pod["metadata"]["ownerReferences"] == [job_ref(job)]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == "uid-pi"
    assert w.api.statuses() == [{"active": 2, "ready": 0, "terminating": 0, "startTime": rfc3339(T0),
                                 "uncountedTerminatedPods": {}}]
    assert w.recorder.events == [("Normal", "SuccessfulCreate", "Created pod: pi-00001"),
                                 ("Normal", "SuccessfulCreate", "Created pod: pi-00002")]
    assert "finalizers" not in job["spec"]["template"]["metadata"], "the Job's template is not changed"


def test_expectations_hold_back_more_creates_until_the_pods_are_seen():
    w = World(make_job(completions=5, parallelism=2))
    w.sync()
    w.deliver("jobs")  # the status came back, the pods not yet
    w.sync()
    assert [c for c in w.api.verbs() if c[0] == "create"] == [("create", "pi-00001"), ("create", "pi-00002")]
    w.deliver()
    w.sync()
    assert w.api.created == 2


def test_stepping_through_completions_never_runs_more_than_parallelism_or_creates_more_than_completions():
    w = World(make_job(completions=5, parallelism=2))
    w.settle()
    for _ in range(10):
        running = w.pod_names(active_only=True)
        assert len(running) <= 2
        if not running:
            break
        w.step(5)
        w.finish(running[0])
        w.deliver()
        w.settle()
    assert w.api.created == 5
    status = w.status()
    assert status["succeeded"] == 5 and "active" not in status and "failed" not in status
    assert w.conditions() == [("SuccessCriteriaMet", "True", "CompletionsReached"),
                              ("Complete", "True", "CompletionsReached")]
    assert status["completionTime"] == rfc3339(w.wall)
    assert status["uncountedTerminatedPods"] == {}
    assert w.recorder.events[-1] == ("Normal", "Completed", "Job completed")
    assert all(JOB_TRACKING_FINALIZER not in (w.api.get_obj("pods", n)["metadata"].get("finalizers") or [])
               for n in w.pod_names()), "every pod may go"
    w.api.calls.clear()
    assert w.sync() is None and w.api.calls == [], "a finished Job is left alone"


def test_the_last_pods_are_bounded_by_the_completions_left():
    job = make_job(completions=3, parallelism=2)
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"), make_pod("b", job, phase="Succeeded")))
    w.sync()
    assert [c for c in w.api.verbs() if c[0] == "create"] == [("create", "pi-00001")]


def test_a_refused_create_is_retried_after_the_status_is_written():
    w = World(make_job(completions=4, parallelism=4))
    w.api.fail_creates = {2}
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value is QUOTA
    # Slow start: 1, then a batch of 2 with one refusal, then no more.
    assert [c for c in w.api.verbs() if c[0] == "create"] == [("create", "pi-00001"), ("create", "pi-00002"),
                                                              ("create", "pi-00003")]
    assert w.api.statuses()[-1]["active"] == 2
    assert ("Warning", "FailedCreate", f"Error creating: {QUOTA.message}") in w.recorder.events
    w.deliver()
    w.sync()  # the refused pods are not waited for
    assert w.api.created == 5


# --- counting once -------------------------------------------------------------------------------------------------

def test_a_succeeded_pod_is_written_uncounted_then_released_then_counted():
    job = make_job(completions=2, parallelism=1)
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"),))
    w.sync()
    base = {"active": 1, "ready": 0, "terminating": 0, "startTime": rfc3339(T0)}
    assert w.api.calls == [
        ("create", "pi-00001"),  # the second completion is started in the same sync
        ("update_status", {**base, "uncountedTerminatedPods": {"succeeded": ["uid-a"]}}),
        ("patch", "a", "-finalizer"),
        ("update_status", {**base, "uncountedTerminatedPods": {}, "succeeded": 1}),
    ]


def test_a_pod_seen_again_before_its_finalizer_removal_is_heard_is_not_counted_again():
    job = make_job(completions=3, parallelism=1)
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"),))
    w.sync()
    w.deliver("jobs")  # the Job's new status is seen; pod "a" still shows the finalizer
    assert JOB_TRACKING_FINALIZER in w.caches["pods"].get("a", NS)["metadata"]["finalizers"]
    w.api.calls.clear()
    w.sync()
    assert ("patch", "a", "-finalizer") not in w.api.calls
    assert w.status()["succeeded"] == 1
    w.deliver()
    w.sync()
    assert w.status()["succeeded"] == 1


def test_after_a_restart_a_pod_already_written_uncounted_is_counted_once():
    # The last controller wrote the uid, then stopped before removing the finalizer.
    job = make_job(completions=3, status={"succeeded": 1, "uncountedTerminatedPods": {"succeeded": ["uid-a"]}})
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"),))
    w.sync()
    assert ("patch", "a", "-finalizer") in w.api.calls
    assert w.status()["succeeded"] == 2
    assert w.status()["uncountedTerminatedPods"] == {}


def test_after_a_restart_a_released_pod_still_listed_uncounted_is_moved_to_the_counter_once():
    # The last controller removed the finalizer, then stopped before moving the uid into the counter.
    job = make_job(completions=3, status={"failed": 2, "uncountedTerminatedPods": {"failed": ["uid-a"]}})
    w = World(job, pods=(make_pod("a", job, phase="Failed", finalizer=False),))
    w.sync()
    assert w.status()["failed"] == 3
    assert not [c for c in w.api.calls if c[0] == "patch"]


def test_a_status_write_from_a_stale_job_is_refused_and_counts_nothing():
    job = make_job(completions=3, parallelism=1)
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"),))
    w.sync()
    w.deliver("pods")  # the pod is seen released, the Job's status not yet
    fresh = JobController()  # a restart forgets the awaited removals
    fresh.observe("jobs", "ADDED", job)
    w.jc = fresh
    w.api.objects[("pods", "default/b")] = make_pod("b", job, phase="Succeeded")
    w.caches["pods"].put(make_pod("b", job, phase="Succeeded"))
    with pytest.raises(ApiError) as info:
        w.sync()
    assert info.value.code == 409
    assert w.status()["succeeded"] == 1


# --- failures and backoff ---------------------------------------------------------------------------------------------

def test_a_failed_pod_is_counted_and_replaced_only_after_the_backoff():
    job = make_job(completions=1, parallelism=1)
    w = World(job)
    w.settle()
    w.step(5)
    w.finish("pi-00001", phase="Failed")
    w.deliver()
    w.step(1)
    assert w.settle() == pytest.approx(9.0)
    assert w.status()["failed"] == 1 and w.api.created == 1
    w.step(9)
    w.settle()
    assert w.api.created == 2, "replaced once the 10 s are over"
    w.step(2)
    w.finish("pi-00002", phase="Failed")
    w.deliver()
    w.step(1)
    assert w.settle() == pytest.approx(19.0), "the second failure in a row doubles the wait"
    assert w.status()["failed"] == 2


def test_backoff_limit_exceeded_fails_the_job_and_deletes_its_active_pods():
    job = make_job(completions=3, parallelism=3, backoff_limit=1)
    w = World(job)
    w.settle()
    w.run("pi-00003")
    w.finish("pi-00001", "pi-00002", phase="Failed")
    w.deliver()
    w.api.calls.clear()
    w.sync()
    assert ("delete", "pi-00003") in w.api.calls
    assert [c for c in w.api.calls if c[0] == "patch"] == [("patch", n, "-finalizer")
                                                         for n in ("pi-00001", "pi-00002", "pi-00003")]
    status = w.status()
    assert status["failed"] == 3, "the pod killed with the Job counts as failed"
    assert w.conditions() == [("FailureTarget", "True", "BackoffLimitExceeded")]
    assert status["terminating"] == 1 and "active" not in status
    assert "BackoffLimitExceeded" not in w.recorder.reasons(), "not Failed while a pod still terminates"
    w.deliver()
    w.sync()
    assert w.conditions() == [("FailureTarget", "True", "BackoffLimitExceeded")]
    w.reap()
    w.deliver()
    w.sync()
    assert w.conditions() == [("FailureTarget", "True", "BackoffLimitExceeded"),
                              ("Failed", "True", "BackoffLimitExceeded")]
    assert w.recorder.events[-1] == ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert "completionTime" not in w.status()
    assert w.api.created == 3, "no pod replaced"


def test_restarts_of_onfailure_containers_count_against_the_backoff_limit():
    job = make_job(completions=1, backoff_limit=2, restart="OnFailure")
    w = World(job, pods=(make_pod("a", job, restarts=2),))
    w.sync()
    assert w.conditions() == [("FailureTarget", "True", "BackoffLimitExceeded")]
    assert ("delete", "a") in w.api.calls


def test_a_deleted_running_pod_counts_as_failed_and_is_replaced_after_the_backoff():
    job = make_job(completions=1)
    pod = make_pod("a", job)
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0 - 1)  # someone deleted it (a drain, say)
    w = World(job, pods=(pod,))
    assert w.sync() == pytest.approx(9.0), "10 s from when it was deleted"
    assert w.status()["failed"] == 1
    assert w.api.verbs() == [("patch", "a", "-finalizer")]
    w.deliver()
    w.step(9)
    w.sync()
    assert w.api.created == 1


def test_with_replacement_policy_failed_a_terminating_pod_is_neither_counted_nor_replaced():
    job = make_job(completions=1, replacement="Failed")
    pod = make_pod("a", job)
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0 - 1)
    w = World(job, pods=(pod,))
    w.sync()
    assert "failed" not in w.status() and w.status()["terminating"] == 1
    assert w.api.created == 0


def test_active_deadline_fails_the_job_when_it_runs_out():
    job = make_job(completions=1, deadline_s=60)
    w = World(job)
    assert w.sync() == pytest.approx(60.0)
    w.deliver()
    w.run("pi-00001")
    w.deliver()
    w.step(45)
    assert w.sync() == pytest.approx(15.0)
    w.deliver()
    w.step(15)
    w.sync()
    assert ("delete", "pi-00001") in w.api.calls
    assert w.conditions() == [("FailureTarget", "True", "DeadlineExceeded")]
    w.reap()
    w.deliver()
    w.sync()
    assert w.conditions()[-1] == ("Failed", "True", "DeadlineExceeded")
    assert w.recorder.events[-1] == ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline")


# --- suspend, scale down, work queues ----------------------------------------------------------------------------------

def test_a_suspended_job_creates_nothing_and_has_not_started():
    w = World(make_job(completions=2, suspend=True))
    w.sync()
    assert w.api.created == 0
    assert "startTime" not in w.status()
    assert w.conditions() == [("Suspended", "True", "JobSuspended")]
    assert w.recorder.events == [("Normal", "Suspended", "Job suspended")]


def test_suspending_a_running_job_deletes_its_pods_without_counting_them():
    job = make_job(completions=4, parallelism=2)
    w = World(job)
    w.settle()
    w.run("pi-00001", "pi-00002")
    w.deliver()
    suspended = copy.deepcopy(w.job())
    suspended["spec"]["suspend"] = True
    w.api.seed("jobs", suspended)
    w.caches["jobs"].put(copy.deepcopy(suspended))
    w.api.calls.clear()
    w.sync()
    assert w.api.verbs() == [("patch", "pi-00001", "-finalizer"), ("delete", "pi-00001"),
                             ("patch", "pi-00002", "-finalizer"), ("delete", "pi-00002")]
    w.reap()
    w.deliver()
    w.settle()
    assert "failed" not in w.status() and "active" not in w.status()
    assert w.pod_names() == []
    assert ("Normal", "Suspended", "Job suspended") in w.recorder.events


def test_resuming_restarts_the_clock_and_the_pods():
    job = make_job(completions=2, parallelism=2, suspend=False,
                   status={"startTime": rfc3339(T0 - 3600), "conditions": [
                       {"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended",
                        "lastProbeTime": rfc3339(T0 - 600), "lastTransitionTime": rfc3339(T0 - 600)}]})
    w = World(job)
    w.sync()
    assert w.api.created == 2
    assert w.status()["startTime"] == rfc3339(T0)
    assert w.conditions() == [("Suspended", "False", "JobResumed")]
    assert ("Normal", "Resumed", "Job resumed") in w.recorder.events


def test_lowering_parallelism_deletes_the_surplus_without_counting_it():
    job = make_job(completions=10, parallelism=1)
    pods = (make_pod("a", job), make_pod("b", job, phase="Pending", ready=False), make_pod("c", job))
    w = World(job, pods=pods)
    w.sync()
    # The pending pod goes first; between the two running ones, equal in all else, the uid decides.
    assert w.api.verbs() == [("patch", "b", "-finalizer"), ("delete", "b"), ("patch", "a", "-finalizer"),
                             ("delete", "a")]
    w.reap()
    w.deliver()
    w.settle()
    assert "failed" not in w.status()


def test_a_work_queue_job_completes_when_one_pod_succeeded_and_none_runs():
    job = make_job(completions=None, parallelism=3)
    w = World(job)
    w.settle()
    w.finish("pi-00001")
    w.deliver()
    w.settle()
    assert w.api.created == 3, "no new pod after the first success"
    assert not any(c[0] == "Complete" for c in w.conditions())
    w.finish("pi-00002", "pi-00003")
    w.deliver()
    w.settle()
    assert w.status()["succeeded"] == 3
    assert w.conditions()[-1] == ("Complete", "True", "CompletionsReached")


# --- Indexed Jobs ----------------------------------------------------------------------------------------------------

def test_an_indexed_job_gives_each_pod_its_index_and_counts_indexes():
    job = make_job(completions=3, parallelism=2, mode="Indexed")
    w = World(job)
    w.settle()
    assert w.pod_names() == ["pi-0-00001", "pi-1-00002"]
    pod = w.api.get_obj("pods", "pi-1-00002")
    assert pod["metadata"]["annotations"][COMPLETION_INDEX] == "1"
    assert pod["metadata"]["labels"][COMPLETION_INDEX] == "1"
    assert pod["spec"]["hostname"] == "pi-1"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
    w.finish("pi-1-00002")
    w.deliver()
    w.settle()
    assert w.status()["completedIndexes"] == "1" and w.status()["succeeded"] == 1
    assert w.pod_names(active_only=True) == ["pi-0-00001", "pi-2-00003"], "the next free index is 2"
    w.finish("pi-0-00001", "pi-2-00003")
    w.deliver()
    w.settle()
    assert w.status()["completedIndexes"] == "0-2" and w.status()["succeeded"] == 3
    assert w.conditions()[-1] == ("Complete", "True", "CompletionsReached")


def test_an_indexed_job_deletes_a_second_pod_for_one_index():
    job = make_job(completions=2, parallelism=2, mode="Indexed")
    w = World(job, pods=(make_pod("x", job, index=0), make_pod("y", job, index=0, phase="Pending", ready=False),
                         make_pod("z", job, index=1)))
    w.sync()
    assert [c for c in w.api.verbs() if c[0] == "delete"] == [("delete", "y")]


# --- orphans and adoption -----------------------------------------------------------------------------------------------

def test_a_pod_left_with_the_finalizer_by_a_deleted_job_is_released():
    gone = make_job(name="old", uid="uid-old")
    pod = make_pod("a", gone)
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0)
    w = World(pods=(pod,))
    keys = list(w.jc.keys("pods", pod))
    assert keys == ["default/old", ORPHAN_POD_KEY_PREFIX + "default/a"]
    assert w.sync("default/old") is None and w.api.calls == []
    w.sync(ORPHAN_POD_KEY_PREFIX + "default/a")
    assert w.api.calls == [("patch", "a", "-finalizer")]


def test_a_pod_of_a_live_job_or_of_another_kind_keeps_its_finalizer():
    job = make_job()
    mine = make_pod("a", job)
    other = make_pod("b", None, ref={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u",
                                     "controller": True})
    w = World(job, pods=(mine, other))
    assert list(w.jc.keys("pods", mine)) == [KEY]
    assert list(w.jc.keys("pods", other)) == []
    w.sync(ORPHAN_POD_KEY_PREFIX + "default/a")
    w.sync(ORPHAN_POD_KEY_PREFIX + "default/b")
    assert w.api.calls == []


def test_a_finished_jobs_straggler_is_released():
    job = make_job(status={"conditions": [{"type": "Complete", "status": "True"}]})
    w = World(job, pods=(make_pod("a", job, phase="Succeeded"),))
    w.sync(ORPHAN_POD_KEY_PREFIX + "default/a")
    assert w.api.calls == [("patch", "a", "-finalizer")]


def test_a_matching_orphan_is_adopted_with_the_finalizer_and_counted_when_it_succeeds():
    job = make_job(completions=1)
    orphan = make_pod("a", None, labels=dict(job["spec"]["template"]["metadata"]["labels"]), finalizer=False)
    w = World(job, pods=(orphan,))
    assert list(w.jc.keys("pods", orphan)) == [KEY]
    w.sync()
    assert w.api.verbs() == [("patch", "a", "adopt"), ("patch", "a", "+finalizer")]
    w.deliver()
    w.finish("a")
    w.deliver()
    w.settle()
    assert w.status()["succeeded"] == 1 and w.api.created == 0


def test_a_deleted_job_forgets_its_expectations():
    job = make_job(completions=2, parallelism=2)
    w = World(job)
    w.sync()
    assert not w.jc.expectations.satisfied(KEY, w.now)
    w.jc.observe("jobs", "DELETED", job, w.now)
    assert w.jc.expectations.satisfied(KEY, w.now)
    w.caches["jobs"].remove(job)
    assert w.sync() is None


def test_an_unknown_completion_mode_is_reported_and_skipped():
    w = World(make_job(mode="Sideways"))
    w.sync()
    assert w.api.calls == []
    assert w.recorder.events == [("Warning", "UnknownCompletionMode",
                                  "Skipped Job sync because completion mode is unknown")]
