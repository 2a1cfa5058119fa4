"""The Job controller: run a Job's pods to completion, count every finished pod exactly once.

Kubernetes' ``pkg/controller/job/job_controller.go`` (1.32, with the
JobPodReplacementPolicy, JobSuccessPolicy and JobManagedBy features on as
they are by default) in kubesim's controller shape
(:mod:`actors.controllers.base`). One :meth:`JobController.sync` per key:

1. the Job from the cache; gone, or already finished (``Complete`` or
   ``Failed``) — forget its memory, done;
2. its pods: every pod of the namespace it controls, after adopting matching
   orphans (which get the tracking finalizer) and releasing owned pods that
   no longer match (:func:`podcontrol.claim_pods`);
3. the counts: ``succeeded`` and ``failed`` are the status' counters, plus the
   pods already written to ``status.uncountedTerminatedPods``, plus the
   finished pods that still carry the ``batch.kubernetes.io/job-tracking``
   finalizer and are in neither list (see *Counting once* below);
4. a finish: a ``FailureTarget`` condition already written, more failures
   than ``backoffLimit`` (or, for ``restartPolicy: OnFailure``, container
   restarts reaching it), ``activeDeadlineSeconds`` run out — the Job fails
   and its active pods are deleted; ``completions`` successes (or, without
   ``completions``, one success and no pod left running) — it succeeds;
5. otherwise, only if its expectations are satisfied and it is not being
   deleted: a suspended Job loses its active pods (``Suspended``
   condition); a running one gets pods up to ``min(parallelism, completions
   - succeeded)``, in slow-start batches, at most 500 a sync — unless a
   recent pod failure makes it wait (10 s after the first failure since the
   last success, doubling, at most 6 minutes: Kubernetes'
   DefaultJobPodFailureBackOff); surplus pods are deleted;
6. the status: written when ``active``, ``ready`` or ``terminating``
   changed, a condition changed, or pods were counted. The terminal
   condition comes in two steps, as in Kubernetes: first the interim
   ``FailureTarget`` / ``SuccessCriteriaMet``, then, once no counted pod is
   uncounted and no pod is still terminating, ``Failed`` / ``Complete`` (with
   ``completionTime``) and its event.

**Counting once.** Every pod the controller creates carries the tracking
finalizer, so it cannot vanish before it is counted. A finished pod with the
finalizer is first added by uid to ``status.uncountedTerminatedPods`` (that
status write must succeed), then its finalizer is removed, and only then
is it moved into ``succeeded``/``failed``. A pod without the finalizer, or
already in the uncounted lists, or whose finalizer removal this controller
is still waiting to hear about (:class:`UidExpectations`), is never counted
again — whichever step a crash or a stale cache interrupts. Indexed Jobs
count successes by completion index (``status.completedIndexes``) instead.

**Orphans.** A pod that keeps the finalizer after its Job went away (deleted,
or deleted with ``propagationPolicy: Orphan``) or finished would never be
deleted; :meth:`keys` turns an event on such a pod into the key
``pod:<namespace>/<name>``, whose sync removes the finalizer
(Kubernetes' orphan queue).

Simplifications: no ``podFailurePolicy`` rules, ``successPolicy``,
``backoffLimitPerIndex`` or ``managedBy``; pods to delete on scale-down are
ranked with :func:`podcontrol.deletion_order` (Kubernetes uses the older
``ActivePods`` order, without deletion cost). Time comes from the context:
``ctx.wall`` for timestamps, backoff and deadlines (pods' finish times are
wall-clock), ``ctx.now`` for expectations; nothing here reads a clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from actors.apiserver.objects import rfc3339
from actors.apiserver.selectors import (
    NOTHING,
    LabelSelector,
    SelectorError,
    selector_from_dict,
)
from actors.apiserver.status import ApiError
from actors.controllers.base import (
    Context,
    Controller,
    Obj,
    controller_of,
    key_of,
    split_key,
)
from actors.controllers.expectations import ControllerExpectations
from actors.controllers.podcontrol import (
    claim_pods,
    create_pod,
    delete_pod,
    deletion_order,
    is_pod_active,
    is_pod_ready,
    namespace_terminating,
    parse_time,
    pod_key,
    slow_start_batch,
)

JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
"""Holds a Job's pod until the controller has counted it."""

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation (and label) with an Indexed Job pod's completion index."""

COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"

ORPHAN_POD_KEY_PREFIX = "pod:"
"""Keys of pods whose tracking finalizer must go (their Job is gone or finished)."""

DEFAULT_POD_FAILURE_BACKOFF_S = 10.0
"""Wait after the first pod failure since the last success (DefaultJobPodFailureBackOff)."""

MAX_POD_FAILURE_BACKOFF_S = 360.0
"""The backoff doubles per failure up to this (MaxJobPodFailureBackOff)."""

MAX_POD_CREATE_DELETE_PER_SYNC = 500
MAX_UNCOUNTED_PODS = 500
"""At most this many uids in ``uncountedTerminatedPods`` (the status stays small; big Jobs take turns)."""

SLOW_START_INITIAL_BATCH = 1

# Condition types, reasons and messages, as Kubernetes writes them.
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")

REMOVE_FINALIZER_PATCH: Obj = {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}
ADD_FINALIZER_PATCH: Obj = {"metadata": {"finalizers": [JOB_TRACKING_FINALIZER]}}


# --- reading Jobs and pods (pure) ---------------------------------------------------------------

def _spec(job: Obj) -> Obj:
    return job.get("spec") or {}


def parallelism_of(job: Obj) -> int:
    parallelism = _spec(job).get("parallelism")
    return 1 if parallelism is None else int(parallelism)


def completions_of(job: Obj) -> int | None:
    completions = _spec(job).get("completions")
    return None if completions is None else int(completions)


def backoff_limit_of(job: Obj) -> int:
    limit = _spec(job).get("backoffLimit")
    return 6 if limit is None else int(limit)


def is_suspended(job: Obj) -> bool:
    return _spec(job).get("suspend") is True


def is_indexed(job: Obj) -> bool:
    return _spec(job).get("completionMode") == "Indexed"


def only_replace_failed_pods(job: Obj) -> bool:
    """Wait for a terminating pod to be Failed before replacing it (podReplacementPolicy: Failed)."""
    spec = _spec(job)
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def find_condition(job: Obj, type_: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def _condition_true(job: Obj, type_: str) -> bool:
    c = find_condition(job, type_)
    return c is not None and c.get("status") == "True"


def is_job_finished(job: Obj) -> bool:
    """``Complete`` or ``Failed`` is True (IsJobFinished)."""
    return _condition_true(job, COMPLETE) or _condition_true(job, FAILED)


def new_condition(type_: str, status: str, reason: str, message: str, wall: float) -> Obj:
    """A JobCondition; reason and message left out when empty (``omitempty``)."""
    now = rfc3339(wall)
    c: Obj = {"type": type_, "status": status, "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def ensure_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str,
                     wall: float) -> bool:
    """Set the condition ``type_`` in place; whether the list changed (ensureJobConditionStatus).

    A missing condition is not added just to say False: going from nothing to
    False means nothing.
    """
    for i, c in enumerate(conditions):
        if c.get("type") == type_:
            if (c.get("status"), c.get("reason", ""), c.get("message", "")) != (status, reason, message):
                conditions[i] = new_condition(type_, status, reason, message, wall)
                return True
            return False
    if status != "False":
        conditions.append(new_condition(type_, status, reason, message, wall))
        return True
    return False


def has_tracking_finalizer(pod: Obj) -> bool:
    return JOB_TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def _phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def _uid(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def is_pod_terminating(pod: Obj) -> bool:
    """Being deleted but not finished (CountTerminatingPods)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and _phase(pod) not in ("Succeeded", "Failed")


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed — or, unless only Failed pods are replaced, being deleted without having succeeded (isPodFailed)."""
    if _phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and _phase(pod) != "Succeeded"


def pod_finished_time(pod: Obj) -> float:
    """When a pod finished, in wall-clock seconds (getFinishedTime).

    The latest container ``finishedAt`` if every container terminated; else
    the Ready=False condition's transition; else the deletion time minus its
    grace period; else the creation time.
    """
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    finished = [parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt")) for c in statuses]
    if statuses and all(t is not None for t in finished):
        return max(t for t in finished if t is not None)
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "False":
            t = parse_time(c.get("lastTransitionTime"))
            if t is not None:
                return t
    meta = pod.get("metadata") or {}
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - int(meta.get("deletionGracePeriodSeconds") or 0)
    return parse_time(meta.get("creationTimestamp")) or 0.0


def past_backoff_limit_on_failure(job: Obj, pods: Iterable[Obj]) -> bool:
    """With ``restartPolicy: OnFailure``, the running pods' container restarts reach ``backoffLimit``."""
    template_spec = (_spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if _phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += int(c.get("restartCount") or 0)
    limit = backoff_limit_of(job)
    return restarts > 0 if limit == 0 else restarts >= limit


def want_active(job: Obj, active: int, succeeded: int) -> int:
    """How many pods should run now (manageJob's wantActive)."""
    completions = completions_of(job)
    if completions is None:
        # A work queue: after the first success, let the running pods finish but start no more.
        return active if succeeded > 0 else parallelism_of(job)
    return max(0, min(completions - succeeded, parallelism_of(job)))


# --- pod failure backoff (backoff_utils.go) -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BackoffRecord:
    """What the controller remembers of a Job's recent pod failures."""

    failures_after_last_success: int = 0
    last_failure_time: float | None = None
    """Wall-clock seconds the last counted failure finished."""


def next_backoff_record(old: BackoffRecord, new_succeeded: list[Obj], new_failed: list[Obj]) -> BackoffRecord:
    """The record after pods newly seen finished (newBackoffRecord).

    A success resets the count, except for failures that finished after the
    last success.
    """
    failed_times = sorted(pod_finished_time(p) for p in new_failed)
    if not new_succeeded:
        if not failed_times:
            return old
        return BackoffRecord(old.failures_after_last_success + len(failed_times), failed_times[-1])
    last_success = max(pod_finished_time(p) for p in new_succeeded)
    later = [t for t in failed_times if t > last_success]
    return BackoffRecord(len(later), later[-1] if later else None)


def backoff_delay_s(failures: int, base_s: float = DEFAULT_POD_FAILURE_BACKOFF_S,
                    cap_s: float = MAX_POD_FAILURE_BACKOFF_S) -> float:
    """The wait after ``failures`` consecutive failures: base, doubled per further failure, capped."""
    if failures <= 0:
        return 0.0
    return min(cap_s, base_s * 2 ** min(failures - 1, 32))


def backoff_remaining_s(record: BackoffRecord, wall: float) -> float:
    """Seconds before a replacement pod may be created (getRemainingTime); 0 if it may now."""
    if record.failures_after_last_success == 0 or record.last_failure_time is None:
        return 0.0
    return max(0.0, backoff_delay_s(record.failures_after_last_success) - (wall - record.last_failure_time))


# --- completion indexes (indexed_job_utils.go) -------------------------------------------------------

def completion_index(pod: Obj) -> int | None:
    """The pod's completion index (annotation, else label); None if missing or malformed."""
    meta = pod.get("metadata") or {}
    for source in (meta.get("annotations") or {}, meta.get("labels") or {}):
        text = source.get(COMPLETION_INDEX)
        if text is not None:
            try:
                ix = int(str(text))
            except ValueError:
                return None
            return ix if ix >= 0 else None
    return None


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"0,2-4"`` as a set, keeping indexes below ``completions`` (malformed parts are skipped)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            continue
        out.update(range(max(first, 0), min(last, completions - 1) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted indexes with runs collapsed: ``{0, 2, 3, 4}`` -> ``"0,2-4"``."""
    runs: list[list[int]] = []
    for ix in sorted(set(indexes)):
        if runs and ix == runs[-1][1] + 1:
            runs[-1][1] = ix
        else:
            runs.append([ix, ix])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def first_pending_indexes(active: Iterable[Obj], succeeded: set[int], count: int, completions: int) -> list[int]:
    """The lowest ``count`` indexes neither succeeded nor held by an active pod."""
    taken = succeeded | {ix for p in active if (ix := completion_index(p)) is not None}
    out: list[int] = []
    for ix in range(completions):
        if len(out) >= count:
            break
        if ix not in taken:
            out.append(ix)
    return out


def indexed_surplus(active: list[Obj], completions: int, wall: float) -> list[Obj]:
    """Active pods of an Indexed Job with no valid index, or a second pod for one index (the least advanced go)."""
    by_index: dict[int, list[Obj]] = {}
    surplus: list[Obj] = []
    for p in active:
        ix = completion_index(p)
        if ix is None or ix >= completions:
            surplus.append(p)
        else:
            by_index.setdefault(ix, []).append(p)
    for pods in by_index.values():
        if len(pods) > 1:
            surplus.extend(deletion_order(pods, [], wall)[:-1])
    return surplus


def indexed_template(template: Obj, job_name: str, ix: int) -> Obj:
    """The pod template for index ``ix``: annotation, label, hostname and the JOB_COMPLETION_INDEX variable."""
    t = copy.deepcopy(template)
    meta = t.setdefault("metadata", {})
    meta.setdefault("annotations", {})[COMPLETION_INDEX] = str(ix)
    meta.setdefault("labels", {})[COMPLETION_INDEX] = str(ix)
    spec = t.setdefault("spec", {})
    spec["hostname"] = f"{job_name}-{ix}"
    env_var = {"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        env = c.setdefault("env", [])
        if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
            env.append(copy.deepcopy(env_var))
    return t


# --- finalizer-removal expectations ------------------------------------------------------------------

class UidExpectations:
    """Pods whose finalizer removal a Job's sync asked for and has not yet seen (uidTrackingExpectations).

    While a uid is here its pod is never counted, whatever the cache still
    shows: the removal is in flight and the pod has been counted already.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, set[str]] = {}

    def expect_removed(self, key: str, uids: Iterable[str]) -> None:
        self._by_key.setdefault(key, set()).update(uids)

    def removal_observed(self, key: str, uid: str) -> None:
        uids = self._by_key.get(key)
        if uids is not None:
            uids.discard(uid)
            if not uids:
                del self._by_key[key]

    def expected(self, key: str) -> frozenset[str]:
        return frozenset(self._by_key.get(key, ()))

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)


# --- one sync's working state --------------------------------------------------------------------------

@dataclass(slots=True)
class _Round:
    """What one sync of one Job works with (syncJobCtx)."""

    key: str
    job: Obj
    """A private copy of the Job; its status is the one written."""
    pods: list[Obj]
    active: list[Obj]
    ready: int
    terminating: int
    uncounted_succeeded: frozenset[str]
    """``status.uncountedTerminatedPods`` as read at the start of the sync."""
    uncounted_failed: frozenset[str]
    expected_rm: frozenset[str]
    backoff: BackoffRecord = BackoffRecord()
    succeeded: int = 0
    failed: int = 0
    finished: Obj | None = None
    """The condition the Job is about to finish with, if any."""
    prev_succeeded_indexes: set[int] = field(default_factory=set)
    succeeded_indexes: set[int] = field(default_factory=set)
    delays: list[float] = field(default_factory=list)
    """Seconds after which to look again (a deadline, a backoff)."""

    @property
    def status(self) -> Obj:
        return self.job["status"]

    @property
    def uncounted(self) -> Obj:
        return self.status["uncountedTerminatedPods"]


@dataclass(frozen=True, slots=True)
class _Indexed:
    uid: str
    selector: LabelSelector


class JobController(Controller):
    """Runs each Job's pods to completion; see the module docstring."""

    name = "job"
    watches = ("jobs", "pods")
    kind = "Job"

    def __init__(self) -> None:
        self.expectations = ControllerExpectations()
        self.finalizer_expectations = UidExpectations()
        self.backoff: dict[str, BackoffRecord] = {}
        """Job key -> recent failures (Kubernetes' podBackoffStore), updated after each counting write."""
        self._index: dict[str, dict[str, _Indexed]] = {}
        """namespace -> Job name -> uid and selector, from the events observed."""

    # --- informer events ---------------------------------------------------------------------
    def observe(self, resource: str, event_type: str, obj: Obj, now: float = 0.0) -> None:
        """Lower expectations from an informer event (and index Jobs); called before :meth:`keys`."""
        if resource == "jobs":
            self._observe_job(event_type, obj)
            return
        if resource != "pods":
            return
        owner = self._owner_key(obj)
        if owner is None:
            return
        deleted = event_type == "DELETED"
        if deleted or (obj.get("metadata") or {}).get("deletionTimestamp"):
            self.expectations.deletion_observed(owner, pod_key(obj))
        elif event_type == "ADDED":
            self.expectations.creation_observed(owner)
        if deleted or not has_tracking_finalizer(obj):
            self.finalizer_expectations.removal_observed(owner, _uid(obj))

    def _observe_job(self, event_type: str, job: Obj) -> None:
        meta = job["metadata"]
        ns, name, key = meta.get("namespace", ""), meta["name"], key_of(job)
        in_ns = self._index.setdefault(ns, {})
        known = in_ns.get(name)
        if event_type == "DELETED":
            in_ns.pop(name, None)
            self._forget(key)
            return
        if known is not None and known.uid != meta.get("uid"):
            self._forget(key)  # deleted and re-created under the same name: start clean
        in_ns[name] = _Indexed(str(meta.get("uid") or ""), _selector(job) or NOTHING)

    def _forget(self, key: str) -> None:
        self.expectations.delete(key)
        self.finalizer_expectations.delete(key)
        self.backoff.pop(key, None)

    def _owner_key(self, pod: Obj) -> str | None:
        """The key of the Job controlling ``pod``, if this controller knows that Job (same uid)."""
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        ns = (pod.get("metadata") or {}).get("namespace", "")
        known = self._index.get(ns, {}).get(ref.get("name"))
        if known is None or known.uid != ref.get("uid"):
            return None
        return f"{ns}/{ref['name']}"

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A Job's own key; for a pod, its Job (or the Jobs that would adopt an orphan), and its
        orphan key if it holds the tracking finalizer without a live Job to count it.
        """
        if resource == "jobs":
            return [key_of(obj)]
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "")
        ref = controller_of(obj)
        out: list[str] = []
        if ref is not None:
            if ref.get("kind") != self.kind:
                return []
            out.append(f"{ns}/{ref['name']}")
            if has_tracking_finalizer(obj) and self._owner_key(obj) is None:
                out.append(ORPHAN_POD_KEY_PREFIX + pod_key(obj))
            return out
        if has_tracking_finalizer(obj):
            out.append(ORPHAN_POD_KEY_PREFIX + pod_key(obj))
        if not meta.get("deletionTimestamp"):
            labels = meta.get("labels") or {}
            out += [f"{ns}/{name}" for name, known in sorted(self._index.get(ns, {}).items())
                    if known.selector.matches(labels)]
        return out

    # --- the reconcile -------------------------------------------------------------------------
    async def sync(self, key: str, ctx: Context) -> float | None:
        if key.startswith(ORPHAN_POD_KEY_PREFIX):
            await self._sync_orphan_pod(key[len(ORPHAN_POD_KEY_PREFIX):], ctx)
            return None
        ns, name = split_key(key)
        cached = ctx.caches["jobs"].get(name, ns)
        if cached is None:
            self._forget(key)
            return None
        if is_job_finished(cached):
            self.backoff.pop(key, None)
            return None
        mode = _spec(cached).get("completionMode") or "NonIndexed"
        if mode not in ("NonIndexed", "Indexed"):
            ctx.recorder.event(cached, "Warning", "UnknownCompletionMode",
                               "Skipped Job sync because completion mode is unknown")
            return None
        selector = _selector(cached)
        if selector is None:
            return None  # an invalid selector selects nothing; retrying will not fix it
        if is_indexed(cached) and completions_of(cached) is None:
            return None  # validation requires completions for Indexed Jobs

        job = copy.deepcopy(cached)
        status = job.setdefault("status", {})
        status.setdefault("uncountedTerminatedPods", {})
        # Read before the pods: a pod created after this point only defers the sync.
        satisfied = self.expectations.satisfied(key, ctx.now)
        pods = await self._pods_for_job(job, selector, ctx)
        rnd = self._start_round(key, job, pods, ctx.wall)
        self._decide_failure(rnd, ctx.wall)

        manage_err: ApiError | None = None
        suspend_changed = False
        active = len(rnd.active)
        if rnd.finished is not None:
            deleted_ready, deleted, manage_err = await self._delete_active_pods(rnd, ctx)
            if deleted != active or not satisfied:
                rnd.finished = None  # pods may still be on their way: finish on a later sync
            active -= deleted
            rnd.terminating += deleted
            rnd.ready -= deleted_ready
        else:
            manage_called = False
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                active, manage_err = await self._manage_job(rnd, ctx)
                manage_called = True
            completions = completions_of(job)
            if completions is None:
                complete = rnd.succeeded > 0 and active == 0
            else:
                complete = rnd.succeeded >= completions and active == 0
            if complete:
                rnd.finished = new_condition(SUCCESS_CRITERIA_MET, "True", *COMPLETIONS_REACHED, ctx.wall)
            elif manage_called:
                suspend_changed = self._suspend_condition(rnd, ctx)

        needs_write = (suspend_changed or active != int(status.get("active") or 0)
                       or status.get("ready") != rnd.ready or status.get("terminating") != rnd.terminating)
        _set_count(status, "active", active)
        status["ready"] = rnd.ready
        status["terminating"] = rnd.terminating
        await self._track_status(rnd, needs_write, ctx)
        if manage_err is not None:
            raise manage_err
        return min(rnd.delays) if rnd.delays else None

    def _start_round(self, key: str, job: Obj, pods: list[Obj], wall: float) -> _Round:
        """Count what the pods and the status say (the first half of syncJob)."""
        status = job["status"]
        uncounted = status["uncountedTerminatedPods"]
        active = [p for p in pods if is_pod_active(p)]
        rnd = _Round(key=key, job=job, pods=pods, active=active, ready=sum(1 for p in active if is_pod_ready(p)),
                     terminating=sum(1 for p in pods if is_pod_terminating(p)),
                     uncounted_succeeded=frozenset(uncounted.get("succeeded") or ()),
                     uncounted_failed=frozenset(uncounted.get("failed") or ()),
                     expected_rm=self.finalizer_expectations.expected(key))
        new_succeeded, new_failed = self._new_finished_pods(rnd)
        rnd.succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(rnd.uncounted_succeeded)
        rnd.failed = int(status.get("failed") or 0) + len(new_failed) + len(rnd.uncounted_failed)
        if is_indexed(job):
            completions = completions_of(job) or 0
            rnd.prev_succeeded_indexes = parse_indexes(status.get("completedIndexes"), completions)
            rnd.succeeded_indexes = rnd.prev_succeeded_indexes | {
                ix for p in pods if _phase(p) == "Succeeded" and has_tracking_finalizer(p)
                and (ix := completion_index(p)) is not None and ix < completions}
            rnd.succeeded = len(rnd.succeeded_indexes)
        if not status.get("startTime") and not is_suspended(job):
            status["startTime"] = rfc3339(wall)
        rnd.backoff = next_backoff_record(self.backoff.get(key, BackoffRecord()), new_succeeded, new_failed)
        return rnd

    def _new_finished_pods(self, rnd: _Round) -> tuple[list[Obj], list[Obj]]:
        """Finished pods not counted anywhere yet: they hold the finalizer, are in no uncounted list and
        no finalizer removal is awaited for them (getNewFinishedPods)."""
        succeeded: list[Obj] = []
        failed: list[Obj] = []
        indexed, completions = is_indexed(rnd.job), completions_of(rnd.job) or 0
        for p in rnd.pods:
            uid = _uid(p)
            if not has_tracking_finalizer(p) or uid in rnd.expected_rm:
                continue
            if indexed and ((ix := completion_index(p)) is None or ix >= completions):
                continue
            if _phase(p) == "Succeeded" and uid not in rnd.uncounted_succeeded:
                succeeded.append(p)
            elif is_pod_failed(p, rnd.job) and uid not in rnd.uncounted_failed:
                failed.append(p)
        return succeeded, failed

    def _decide_failure(self, rnd: _Round, wall: float) -> None:
        """Has the Job failed (or already succeeded)? Else, when must its deadline be looked at?"""
        job = rnd.job
        scm = find_condition(job, SUCCESS_CRITERIA_MET)
        if scm is not None and scm.get("status") == "True":
            rnd.finished = scm
            return
        target = find_condition(job, FAILURE_TARGET)
        if target is not None and target.get("status") == "True":
            rnd.finished = new_condition(FAILED, "True", target.get("reason", ""), target.get("message", ""), wall)
            return
        deadline = _spec(job).get("activeDeadlineSeconds")
        started = parse_time(rnd.status.get("startTime"))
        if rnd.failed > backoff_limit_of(job) or past_backoff_limit_on_failure(job, rnd.pods):
            rnd.finished = new_condition(FAILURE_TARGET, "True", *BACKOFF_LIMIT_EXCEEDED, wall)
        elif deadline is not None and started is not None and not is_suspended(job):
            left = started + int(deadline) - wall
            if left <= 0:
                rnd.finished = new_condition(FAILURE_TARGET, "True", *DEADLINE_EXCEEDED, wall)
            else:
                rnd.delays.append(left)

    def _suspend_condition(self, rnd: _Round, ctx: Context) -> bool:
        """The Suspended condition follows ``spec.suspend``; resuming restarts the deadline clock."""
        conditions = rnd.status.setdefault("conditions", [])
        if is_suspended(rnd.job):
            changed = ensure_condition(conditions, SUSPENDED, "True", "JobSuspended", "Job suspended", ctx.wall)
            if changed:
                ctx.recorder.event(rnd.job, "Normal", "Suspended", "Job suspended")
        else:
            changed = ensure_condition(conditions, SUSPENDED, "False", "JobResumed", "Job resumed", ctx.wall)
            if changed:
                ctx.recorder.event(rnd.job, "Normal", "Resumed", "Job resumed")
                rnd.status["startTime"] = rfc3339(ctx.wall)
        if not conditions:
            del rnd.status["conditions"]
        return changed

    # --- pods ---------------------------------------------------------------------------------------
    async def _pods_for_job(self, job: Obj, selector: LabelSelector, ctx: Context) -> list[Obj]:
        """The pods the Job controls, after adoption and release (getPodsForJob).

        An adopted pod also gets the tracking finalizer, so that it too is
        counted once; pods that vanished meanwhile are left out.
        """
        ns = job["metadata"].get("namespace", "")
        in_ns = [p for p in ctx.caches["pods"].list() if (p.get("metadata") or {}).get("namespace", "") == ns]
        claimed, errors = await claim_pods(ctx.api, job, lambda p: selector.matches(p["metadata"].get("labels")),
                                           in_ns)
        if errors:
            raise errors[0]
        pods: list[Obj] = []
        for pod in claimed:
            if controller_of(pod) is None and not has_tracking_finalizer(pod):  # just adopted
                meta = pod["metadata"]
                try:
                    await ctx.api.patch("pods", meta["name"], ADD_FINALIZER_PATCH, ns, patch_type="strategic")
                except ApiError as err:
                    if err.code == 404:
                        continue
                    raise
                pod = {**pod, "metadata": {**meta, "finalizers": [*(meta.get("finalizers") or []),
                                                                  JOB_TRACKING_FINALIZER]}}
            pods.append(pod)
        return pods

    async def _manage_job(self, rnd: _Round, ctx: Context) -> tuple[int, ApiError | None]:
        """Delete or create pods towards the wanted number; the active count after, and the first failure."""
        job, key = rnd.job, rnd.key
        active = len(rnd.active)
        if is_suspended(job):
            return await self._delete_job_pods(rnd, deletion_order(rnd.active, [], ctx.wall), ctx)
        want = want_active(job, active, rnd.succeeded)
        surplus: list[Obj] = []
        if is_indexed(job):
            surplus = indexed_surplus(rnd.active, completions_of(job) or 0, ctx.wall)
        if len(surplus) < active - want:
            chosen = {id(p) for p in surplus}
            rest = [p for p in rnd.active if id(p) not in chosen]
            surplus += deletion_order(rest, [], ctx.wall)[:active - want - len(surplus)]
        if surplus:
            return await self._delete_job_pods(rnd, surplus[:MAX_POD_CREATE_DELETE_PER_SYNC], ctx)

        terminating = rnd.terminating if only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        wait = backoff_remaining_s(rnd.backoff, ctx.wall)
        if wait > 0:
            rnd.delays.append(wait)
            return active, None
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int] = []
        if is_indexed(job):
            indexes = first_pending_indexes(rnd.active, rnd.succeeded_indexes, diff, completions_of(job) or 0)
            diff = len(indexes)
            if diff == 0:
                return active, None
        template = copy.deepcopy(_spec(job).get("template") or {})
        tmeta = template.setdefault("metadata", {})
        if JOB_TRACKING_FINALIZER not in (tmeta.get("finalizers") or []):
            tmeta["finalizers"] = [*(tmeta.get("finalizers") or []), JOB_TRACKING_FINALIZER]
        self.expectations.expect_creations(key, diff, ctx.now)
        pending = list(indexes)
        name = job["metadata"]["name"]

        async def create_one() -> ApiError | None:
            this, generate_name = template, None
            if pending:
                ix = pending.pop(0)
                this, generate_name = indexed_template(template, name, ix), f"{name}-{ix}-"
            try:
                await create_pod(ctx.api, ctx.recorder, this, job, generate_name)
            except ApiError as err:
                return None if namespace_terminating(err) else err
            return None

        created, err = await slow_start_batch(diff, SLOW_START_INITIAL_BATCH, create_one)
        # The pods refused or never attempted will not be observed: stop waiting for them.
        self.expectations.lower(key, add=diff - created)
        return active + created, err

    async def _delete_job_pods(self, rnd: _Round, victims: list[Obj], ctx: Context) -> tuple[int, ApiError | None]:
        """Delete pods the Job no longer wants (suspended, scaled down): finalizer first, so they are
        not counted as failures (deleteJobPods). Returns the active count after, and the first failure."""
        key, job = rnd.key, rnd.job
        ns = job["metadata"].get("namespace", "")
        self.expectations.expect_deletions(key, [pod_key(p) for p in victims], ctx.now)
        removed, first = 0, None
        for pod in victims:
            name = pod["metadata"]["name"]
            try:
                if has_tracking_finalizer(pod):
                    await ctx.api.patch("pods", name, REMOVE_FINALIZER_PATCH, ns, patch_type="strategic")
                await delete_pod(ctx.api, ctx.recorder, ns, name, job)
            except ApiError as err:
                self.expectations.deletion_observed(key, pod_key(pod))
                if err.code != 404:
                    first = first or err
                    continue
            removed += 1
            rnd.terminating += 1
            rnd.ready -= int(is_pod_ready(pod))
        return len(rnd.active) - removed, first

    async def _delete_active_pods(self, rnd: _Round, ctx: Context) -> tuple[int, int, ApiError | None]:
        """A finishing Job's active pods are deleted, finalizers kept: they will be counted as failed
        (deleteActivePods). Returns (ready deleted, deleted, first failure)."""
        ns = rnd.job["metadata"].get("namespace", "")
        ready, deleted, first = 0, 0, None
        for pod in rnd.active:
            try:
                await delete_pod(ctx.api, ctx.recorder, ns, pod["metadata"]["name"], rnd.job)
            except ApiError as err:
                if err.code != 404:
                    first = first or err
                    continue
            deleted += 1
            ready += int(is_pod_ready(pod))
        return ready, deleted, first

    # --- counting and the status (trackJobStatusAndRemoveFinalizers) ------------------------------------
    async def _track_status(self, rnd: _Round, needs_write: bool, ctx: Context) -> None:
        """Count finished pods once and write the status; finish the Job if it may.

        Order matters: uids into ``uncountedTerminatedPods`` (written), then
        finalizers off, then uids out of the lists and into the counters.
        """
        job, status = rnd.job, rnd.status
        indexed, completions = is_indexed(job), completions_of(job) or 0
        with_finalizer = {_uid(p) for p in rnd.pods if has_tracking_finalizer(p) and _uid(p) not in rnd.expected_rm}
        needs_write |= move_counted(status, with_finalizer)
        uncounted = rnd.uncounted
        to_release: list[Obj] = []
        new_indexes: list[int] = []
        reached_max = False
        for pod in rnd.pods:
            uid = _uid(pod)
            if not has_tracking_finalizer(pod) or uid in rnd.expected_rm:
                continue  # counted by an earlier sync
            failed = is_pod_failed(pod, job)
            if not (job["metadata"].get("deletionTimestamp") or rnd.finished is not None
                    or _phase(pod) == "Succeeded" or failed):
                continue  # still running: keep the finalizer
            to_release.append(pod)
            if _phase(pod) == "Succeeded" and uid not in rnd.uncounted_failed:
                if indexed:
                    ix = completion_index(pod)
                    if ix is not None and ix < completions and ix not in rnd.prev_succeeded_indexes:
                        new_indexes.append(ix)
                        needs_write = True
                elif uid not in rnd.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_write = True
            elif failed or (rnd.finished is not None and rnd.finished["type"] != SUCCESS_CRITERIA_MET):
                # A Job that fails takes its unfinished pods down with it: they count as failed.
                ix = completion_index(pod)
                if uid not in rnd.uncounted_failed and (not indexed or (ix is not None and ix < completions)):
                    uncounted.setdefault("failed", []).append(uid)
                    needs_write = True
            if len(new_indexes) + len(uncounted.get("succeeded") or ()) + len(uncounted.get("failed") or ()) \
                    >= MAX_UNCOUNTED_PODS:
                reached_max = True  # the rest next time; the status write re-queues the Job
                break
        if indexed:
            rnd.succeeded_indexes = rnd.prev_succeeded_indexes | set(new_indexes)
            text = format_indexes(rnd.succeeded_indexes)
            if text != (status.get("completedIndexes") or ""):
                needs_write = True
            status["completedIndexes"] = text
            _set_count(status, "succeeded", len(rnd.succeeded_indexes))
        if rnd.finished is not None and rnd.finished["type"] == FAILURE_TARGET:
            status.setdefault("conditions", []).append(rnd.finished)
            needs_write = True
            rnd.finished = new_condition(FAILED, "True", rnd.finished.get("reason", ""),
                                         rnd.finished.get("message", ""), ctx.wall)
        if rnd.finished is not None and rnd.finished["type"] == SUCCESS_CRITERIA_MET:
            if find_condition(job, SUCCESS_CRITERIA_MET) is None:
                status.setdefault("conditions", []).append(rnd.finished)
                needs_write = True
            rnd.finished = new_condition(COMPLETE, "True", rnd.finished.get("reason", ""),
                                         rnd.finished.get("message", ""), ctx.wall)
        needs_write = await self._flush_and_release(rnd, to_release, with_finalizer, needs_write, ctx)
        finished = not reached_max and self._enact_finished(rnd, ctx.wall)
        if finished or needs_write:
            rnd.job = copy.deepcopy(await ctx.api.update_status(rnd.job))
            if finished:
                self._record_finished(rnd, ctx)

    async def _flush_and_release(self, rnd: _Round, to_release: list[Obj], with_finalizer: set[str],
                                 needs_write: bool, ctx: Context) -> bool:
        """Write the uncounted uids, remove the finalizers, move what was released into the counters
        (flushUncountedAndRemoveFinalizers). Returns whether the status still needs writing."""
        if needs_write:
            rnd.job = copy.deepcopy(await ctx.api.update_status(rnd.job))
            rnd.status.setdefault("uncountedTerminatedPods", {})
            # The failures are on record: they now count towards the next pod's backoff.
            self.backoff[rnd.key] = rnd.backoff
            needs_write = False
        first: ApiError | None = None
        if to_release:
            ns = rnd.job["metadata"].get("namespace", "")
            self.finalizer_expectations.expect_removed(rnd.key, [_uid(p) for p in to_release])
            for pod in to_release:
                try:
                    await ctx.api.patch("pods", pod["metadata"]["name"], REMOVE_FINALIZER_PATCH, ns,
                                        patch_type="strategic")
                except ApiError as err:
                    # No update will come for this pod: stop waiting for one.
                    self.finalizer_expectations.removal_observed(rnd.key, _uid(pod))
                    if err.code != 404:
                        first = first or err
                        continue
                with_finalizer.discard(_uid(pod))
        if move_counted(rnd.status, with_finalizer):
            needs_write = True
        if first is not None:
            if needs_write:
                rnd.job = copy.deepcopy(await ctx.api.update_status(rnd.job))
            raise first
        return needs_write

    def _enact_finished(self, rnd: _Round, wall: float) -> bool:
        """Set the terminal condition if nothing is left uncounted or terminating (enactJobFinished)."""
        if rnd.finished is None:
            return False
        uncounted = rnd.status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or rnd.terminating > 0:
            return False
        c = rnd.finished
        ensure_condition(rnd.status.setdefault("conditions", []), c["type"], c["status"], c.get("reason", ""),
                         c.get("message", ""), wall)
        if c["type"] == COMPLETE:
            rnd.status["completionTime"] = c["lastTransitionTime"]
        return True

    def _record_finished(self, rnd: _Round, ctx: Context) -> None:
        job, c = rnd.job, rnd.finished
        assert c is not None
        if c["type"] == COMPLETE:
            completions = completions_of(job)
            if completions is not None and int((job.get("status") or {}).get("succeeded") or 0) > completions:
                ctx.recorder.event(job, "Warning", "TooManySucceededPods",
                                   "Too many succeeded pods running after completion count reached")
            ctx.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            ctx.recorder.event(job, "Warning", c.get("reason", ""), c.get("message", ""))

    # --- orphans ---------------------------------------------------------------------------------------
    async def _sync_orphan_pod(self, key: str, ctx: Context) -> None:
        """Remove the tracking finalizer from a pod no live Job will count (syncOrphanPod)."""
        ns, name = split_key(key)
        pod = ctx.caches["pods"].get(name, ns)
        if pod is None or not has_tracking_finalizer(pod):
            return
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") != self.kind or ref.get("apiVersion") != "batch/v1":
                return  # someone else's pod: not ours to touch
            job = ctx.caches["jobs"].get(ref.get("name", ""), ns)
            if job is not None and job["metadata"].get("uid") == ref.get("uid") and not is_job_finished(job):
                return  # its Job will count it
        try:
            await ctx.api.patch("pods", name, REMOVE_FINALIZER_PATCH, ns, patch_type="strategic")
        except ApiError as err:
            if err.code != 404:
                raise


# --- status helpers ---------------------------------------------------------------------------------------

def _set_count(status: Obj, field_: str, value: int) -> None:
    """Counters are left out at zero, as Go's ``omitempty`` leaves them out."""
    if value:
        status[field_] = value
    else:
        status.pop(field_, None)


def move_counted(status: Obj, with_finalizer: set[str]) -> bool:
    """Move the uncounted uids whose pods no longer hold the finalizer into the counters
    (cleanUncountedPodsWithoutFinalizers); whether anything moved."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    changed = False
    for field_ in ("succeeded", "failed"):
        uids = uncounted.get(field_) or []
        keep = [uid for uid in uids if uid in with_finalizer]
        if len(keep) != len(uids):
            changed = True
            _set_count(status, field_, int(status.get(field_) or 0) + len(uids) - len(keep))
        if keep:
            uncounted[field_] = keep
        else:
            uncounted.pop(field_, None)
    return changed


def _selector(job: Obj) -> LabelSelector | None:
    """The Job's selector; None if invalid. An empty one selects nothing, never everything."""
    try:
        selector = selector_from_dict(_spec(job).get("selector"))
    except SelectorError:
        return None
    return NOTHING if selector.empty else selector
