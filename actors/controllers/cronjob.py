"""The CronJob controller: a Job at each time the schedule names, within the concurrency policy.

Kubernetes' ``pkg/controller/cronjob/cronjob_controllerv2.go`` and
``utils.go`` in kubesim's controller shape (:mod:`actors.controllers.base`),
with robfig/cron's schedule arithmetic (:class:`CronSchedule`) written out
here. One :meth:`CronJobController.sync` per CronJob key:

1. the CronJob from the cache (gone: nothing to do), and the Jobs it controls
   (controller reference with its uid);
2. history: finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit`` are deleted, oldest start first;
3. the active list: a finished Job leaves it (``SawCompletedJob``), a Job the
   API says is gone leaves it (``MissingJob``), an unfinished Job missing from
   it is reported (``UnexpectedJob``) unless a fresh read of the CronJob
   shows it; ``lastSuccessfulTime`` follows the latest completion;
4. unless the CronJob is being deleted, is suspended, or its schedule or time
   zone is bad: the most recent scheduled time since ``lastScheduleTime`` (or
   creation) — and since ``now - startingDeadlineSeconds``, when set — that has
   not been acted on. Only that one is started, however many were missed
   (more than 100 missed earns a ``TooManyMissedTimes`` warning);
   ``concurrencyPolicy`` Forbid skips it while a Job is active, Replace
   deletes the active Jobs first, Allow just starts it;
5. the Job is ``<cronjob>-<scheduled time in minutes since the epoch>``: the
   name is the lock that stops one scheduled time from running twice, even
   when the status write that records it is lost. It carries the
   ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation, the
   template's labels and annotations, and a controller reference;
6. the status (``active``, ``lastScheduleTime``, ``lastSuccessfulTime``) is
   written once if anything changed, and the sync returns the seconds until
   the next scheduled time (+0.1 s, as Kubernetes pads for clock skew).

Times are wall-clock seconds (``ctx.wall``, UTC); the schedule is read in
``spec.timeZone`` (IANA name, default UTC). Nothing here reads a clock.
Deviation: where Kubernetes returns without re-queueing after finding its Job
already there, this controller still returns the delay to the next schedule.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import math
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.apiserver.validation import cron_error
from actors.controllers.base import (
    Context,
    Controller,
    Obj,
    controller_of,
    key_of,
    owner_reference,
    split_key,
)
from actors.controllers.podcontrol import namespace_terminating, parse_time

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
"""Annotation on a Job: the time it was scheduled for, RFC 3339 in the CronJob's time zone."""

NEXT_SCHEDULE_DELTA_S = 0.1
"""Added to the wait for the next scheduled time, so the sync lands just after it (nextScheduleDelta)."""

TOO_MANY_MISSED = 100
"""More missed times than this earn a warning (and are not walked one by one)."""

SEARCH_YEARS = 5
"""A schedule matching no time within this many years matches none (robfig/cron's limit)."""

FORBID, REPLACE = "Forbid", "Replace"


class ScheduleError(ValueError):
    """A schedule (or time zone) that cannot be read; the message is robfig/cron's or Go's."""


# --- schedules (robfig/cron v3, standard parser) ---------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                            "nov", "dec"))}
_WEEKDAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _WEEKDAYS))
"""Bounds and names of minute, hour, day of month, month, day of week (0 = Sunday)."""

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

_GO_DURATION_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                        "h": 3600.0}
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed schedule: the values each field allows, read in ``zone``; or a constant period."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday."""
    either_day: bool
    """Neither day field starts with ``*``: a day matches if day of month OR day of week does (cron's rule)."""
    zone: dt.tzinfo
    every_s: int | None = None
    """``@every <duration>``: a period in whole seconds, from any time, ignoring the fields."""

    def next(self, after: float) -> float | None:
        """The first scheduled time strictly after ``after`` (epoch seconds); None if none within 5 years.

        Times are whole minutes in ``zone``. A local time skipped by a
        daylight-saving jump runs at the instant it maps to (an hour later on
        the wall clock); a local time that occurs twice runs at its first
        occurrence only.
        """
        if self.every_s is not None:
            return math.floor(after) + self.every_s
        t = (dt.datetime.fromtimestamp(math.floor(after), self.zone).replace(second=0, tzinfo=None, fold=0)
             + dt.timedelta(minutes=1))
        last_year = t.year + SEARCH_YEARS
        while t.year <= last_year:
            if t.month not in self.months:
                t = dt.datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
            elif not self._day_matches(t):
                t = dt.datetime(t.year, t.month, t.day) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                when = t.replace(tzinfo=self.zone).timestamp()
                if when > after:
                    return when
                t += dt.timedelta(minutes=1)  # an hour repeated by a daylight-saving change
        return None

    def _day_matches(self, t: dt.datetime) -> bool:
        dom = t.day in self.days
        dow = (t.weekday() + 1) % 7 in self.weekdays
        return (dom or dow) if self.either_day else (dom and dow)


def load_zone(name: str | None) -> dt.tzinfo:
    """An IANA time zone; empty, ``UTC`` and ``Local`` (the controller's zone, UTC here) are UTC."""
    if not name or name in ("UTC", "Local"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name}") from exc


def _expand(text: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values of one field, and whether it counts as ``*`` for the day rule (already validated)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if range_ in ("*", "?"):
            start, end = lo, hi
            star = star or step == 1
        else:
            first, _, last = range_.partition("-")
            start = names[first.lower()] if first.lower() in names else int(first)
            if last:
                end = names[last.lower()] if last.lower() in names else int(last)
            else:
                end = hi if step_text else start  # "N/step" means "N-max/step"
        values.update(range(start, end + 1, step))
    return values, star


def _go_duration_s(text: str) -> float:
    """Go's ``time.ParseDuration`` of an ``@every`` schedule's period, in seconds."""
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.removeprefix("+"))
    if body == "0":
        return 0.0
    parts = _GO_DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ScheduleError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
    return sign * sum(float(n) * _GO_DURATION_UNITS_S[u] for n, u in parts)


def parse_schedule(schedule: str, tz: str | None = None) -> CronSchedule:
    """Parse a standard 5-field schedule, a descriptor (``@hourly`` …) or ``@every <duration>``.

    ``tz`` is the CronJob's ``timeZone``; a ``TZ=``/``CRON_TZ=`` prefix in the
    schedule (which validation refuses on new CronJobs) overrides it.
    Raises :class:`ScheduleError` with cron's message for a bad schedule.
    """
    message = cron_error(schedule)
    if message is not None:
        raise ScheduleError(message)
    fields = schedule.split()
    if fields[0].startswith(("TZ=", "CRON_TZ=")):
        tz, fields = fields[0].partition("=")[2], fields[1:]
    zone = load_zone(tz)
    if fields[0] == "@every":
        period = _go_duration_s(fields[1])
        return CronSchedule(frozenset(), frozenset(), frozenset(), frozenset(), frozenset(), False, zone,
                            every_s=max(1, int(period)))
    if fields[0].startswith("@"):
        fields = _DESCRIPTORS[fields[0]].split()
    expanded = [_expand(text, lo, hi, names) for text, (lo, hi, names) in zip(fields, _FIELDS, strict=True)]
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = expanded
    return CronSchedule(frozenset(minutes), frozenset(hours), frozenset(days), frozenset(months),
                        frozenset(weekdays), not (dom_star or dow_star), zone)


def next_schedule_time(schedule: str, after: float, tz: str | None = None) -> float | None:
    """The first time ``schedule`` names strictly after ``after`` (epoch seconds), read in time zone ``tz``.

    None if no time within 5 years matches (``0 0 30 2 *``); raises
    :class:`ScheduleError` for a schedule cron would refuse.
    """
    return parse_schedule(schedule, tz).next(after)


def most_recent_schedule_time(schedule: CronSchedule, earliest: float, now: float) -> tuple[float | None, int]:
    """The latest scheduled time in ``(earliest, now]`` and how many there are (counted up to 101).

    Up to :data:`TOO_MANY_MISSED` times are walked one by one; beyond that
    the search goes back from ``now`` in doubling steps, so a CronJob that
    missed years of minutes costs little.
    """
    t = schedule.next(earliest)
    if t is None or t > now:
        return None, 0
    last, count = t, 1
    while count <= TOO_MANY_MISSED:
        following = schedule.next(last)
        if following is None or following > now:
            return last, count
        last, count = following, count + 1
    span = 60.0
    while True:
        probe = max(last, now - span)
        found = None
        t = schedule.next(probe)
        while t is not None and t <= now:
            found, t = t, schedule.next(t)
        if found is not None:
            return found, count
        if probe == last:
            return last, count
        span *= 2


def go_rfc3339(when: float, zone: dt.tzinfo) -> str:
    """Go's ``time.RFC3339`` of ``when`` in ``zone``: ``2025-01-15T10:00:00+01:00``, ``Z`` for a zero offset."""
    local = dt.datetime.fromtimestamp(math.floor(when), zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    offset = local.utcoffset() or dt.timedelta()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- CronJobs and their Jobs (pure) ----------------------------------------------------------------------

def job_name(cronjob: Obj, scheduled: float) -> str:
    """``<cronjob>-<scheduled time in minutes since the epoch>`` (getJobName)."""
    return f"{cronjob['metadata']['name']}-{int(scheduled) // 60}"


def job_from_template(cronjob: Obj, scheduled: float, zone: dt.tzinfo) -> Obj:
    """The Job to create for ``scheduled`` (getJobFromTemplate2)."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": job_name(cronjob, scheduled), "namespace": cronjob["metadata"].get("namespace", "")}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    meta["annotations"] = {**(tmeta.get("annotations") or {}), SCHEDULED_TIMESTAMP: go_rfc3339(scheduled, zone)}
    meta["ownerReferences"] = [owner_reference(cronjob)]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def finished_type(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` if that condition is True, else None (getFinishedStatus)."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


def job_reference(job: Obj) -> Obj:
    """The ObjectReference kept in ``status.active``."""
    meta = job["metadata"]
    ref = {"kind": "Job", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta.get("uid", ""),
           "apiVersion": "batch/v1"}
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    return ref


def _in_active(cronjob: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (cronjob.get("status") or {}).get("active") or [])


def _remove_active(cronjob: Obj, uid: str) -> None:
    status = cronjob.setdefault("status", {})
    active = [ref for ref in status.get("active") or [] if ref.get("uid") != uid]
    if active:
        status["active"] = active
    else:
        status.pop("active", None)


def _by_start_time(job: Obj) -> tuple[bool, float, str]:
    """Oldest start first, never-started last, name breaking ties (byJobStartTime)."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    return started is None, started or 0.0, job["metadata"]["name"]


@dataclass(slots=True)
class _Outcome:
    """What :meth:`CronJobController._sync_cronjob` decided."""

    requeue_s: float | None = None
    status_changed: bool = False
    error: ApiError | None = None


class CronJobController(Controller):
    """Starts each CronJob's Jobs on schedule; see the module docstring."""

    name = "cronjob"
    watches = ("cronjobs", "jobs")
    kind = "CronJob"

    def keys(self, resource: str, obj: Obj) -> Iterable[str]:
        """A CronJob's own key; for a Job, the CronJob controlling it."""
        if resource == "cronjobs":
            return [key_of(obj)]
        ref = controller_of(obj)
        if ref is None or ref.get("kind") != self.kind:
            return []
        return [f"{(obj.get('metadata') or {}).get('namespace', '')}/{ref['name']}"]

    async def sync(self, key: str, ctx: Context) -> float | None:
        ns, name = split_key(key)
        cached = ctx.caches["cronjobs"].get(name, ns)
        if cached is None:
            return None
        cronjob = copy.deepcopy(cached)
        uid = cronjob["metadata"].get("uid")
        jobs = [j for j in ctx.caches["jobs"].list()
                if (j.get("metadata") or {}).get("namespace", "") == ns
                and (ref := controller_of(j)) is not None and ref.get("kind") == self.kind and ref.get("uid") == uid]
        cleaned = await self._cleanup_finished_jobs(cronjob, jobs, ctx)
        outcome = await self._sync_cronjob(cronjob, jobs, ctx)
        if cleaned or outcome.status_changed:
            await ctx.api.update_status(cronjob)
        if outcome.requeue_s is None and outcome.error is not None:
            raise outcome.error
        return outcome.requeue_s

    # --- the active list and the schedule (syncCronJob) ---------------------------------------------------
    async def _sync_cronjob(self, cronjob: Obj, jobs: list[Obj], ctx: Context) -> _Outcome:
        out = _Outcome()
        meta, spec = cronjob["metadata"], cronjob.get("spec") or {}
        ns = meta.get("namespace", "")
        status = cronjob.setdefault("status", {})
        try:
            await self._reconcile_active(cronjob, jobs, out, ctx)
        except ApiError as err:
            out.error = err
            return out
        if meta.get("deletionTimestamp"):
            return out
        tz = spec.get("timeZone")
        try:
            zone = load_zone(tz)
        except ScheduleError as err:
            ctx.recorder.event(cronjob, "Warning", "UnknownTimeZone", f'invalid timeZone: "{tz}": {err}')
            return out
        if spec.get("suspend") is True:
            return out
        schedule_text = spec.get("schedule") or ""
        if "TZ" in schedule_text:
            ctx.recorder.event(cronjob, "Warning", "UnsupportedSchedule",
                               f'CRON_TZ or TZ used in schedule "{schedule_text}" is not officially supported, '
                               "see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ "
                               "for more details")
        try:
            schedule = parse_schedule(schedule_text, tz)
        except ScheduleError as err:
            ctx.recorder.event(cronjob, "Warning", "UnparseableSchedule",
                               f'unparseable schedule: "{schedule_text}" : {err}')
            return out
        now = ctx.wall
        earliest = self._earliest(cronjob)
        if schedule.next(earliest) is None:
            ctx.recorder.event(cronjob, "Warning", "InvalidSchedule",
                               f"invalid schedule: {schedule_text} : no time in the next {SEARCH_YEARS} years "
                               "matches it")
            return out
        deadline = spec.get("startingDeadlineSeconds")
        window_start = earliest if deadline is None else max(earliest, now - int(deadline))
        scheduled, count = most_recent_schedule_time(schedule, window_start, now)
        out.requeue_s = self._until_next(cronjob, schedule, now)
        if count > TOO_MANY_MISSED:
            ctx.recorder.event(cronjob, "Warning", "TooManyMissedTimes",
                               "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                               "or check clock skew")
        if scheduled is None:
            return out
        if deadline is not None and scheduled + int(deadline) < now:
            when = email.utils.format_datetime(dt.datetime.fromtimestamp(scheduled, dt.UTC))
            ctx.recorder.event(cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}")
            return out
        name = job_name(cronjob, scheduled)
        active = status.get("active") or []
        if any(ref.get("name") == name for ref in active) or parse_time(status.get("lastScheduleTime")) == scheduled:
            return out  # this time was acted on already
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == FORBID and active:
            ctx.recorder.event(cronjob, "Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and concurrency policy is Forbid")
            return out
        if policy == REPLACE:
            for ref in list(active):
                try:
                    job = await ctx.api.get("jobs", ref["name"], ref.get("namespace") or ns)
                except ApiError as err:
                    ctx.recorder.event(cronjob, "Warning", "FailedGet", f"Get job: {err.message}")
                    return _Outcome(None, out.status_changed, err)
                err = await self._delete_job(cronjob, job, ctx)
                if err is not None:
                    return _Outcome(None, out.status_changed, err)
                out.status_changed = True
        created = await self._create_job(cronjob, scheduled, zone, out, ctx)
        if created is None:
            return out
        status.setdefault("active", []).append(job_reference(created))
        status["lastScheduleTime"] = rfc3339(scheduled)
        out.status_changed = True
        out.requeue_s = self._until_next(cronjob, schedule, now)
        return out

    async def _reconcile_active(self, cronjob: Obj, jobs: list[Obj], out: _Outcome, ctx: Context) -> None:
        """Bring ``status.active`` and ``lastSuccessfulTime`` in line with the Jobs (the first half of syncCronJob)."""
        meta = cronjob["metadata"]
        ns = meta.get("namespace", "")
        unknown = [j for j in jobs if finished_type(j) is None and not _in_active(cronjob, j["metadata"].get("uid"))]
        if unknown:
            # Our own status write may just not have reached the cache yet: ask the API server.
            fresh = await ctx.api.get("cronjobs", meta["name"], ns)
            if fresh["metadata"].get("uid") == meta.get("uid") and any(
                    _in_active(fresh, j["metadata"].get("uid")) for j in unknown):
                cronjob["status"] = copy.deepcopy(fresh.get("status") or {})
                meta["resourceVersion"] = fresh["metadata"].get("resourceVersion")
            for j in unknown:
                if not _in_active(cronjob, j["metadata"].get("uid")):
                    ctx.recorder.event(cronjob, "Warning", "UnexpectedJob",
                                       f"Saw a job that the controller did not create or forgot: "
                                       f"{j['metadata']['name']}")
        status = cronjob.setdefault("status", {})
        for j in jobs:
            jmeta = j["metadata"]
            done = finished_type(j)
            if done is not None and _in_active(cronjob, jmeta.get("uid")):
                _remove_active(cronjob, jmeta.get("uid"))
                ctx.recorder.event(cronjob, "Normal", "SawCompletedJob",
                                   f"Saw completed job: {jmeta['name']}, status: {done}")
                out.status_changed = True
            if done == "Complete":
                completed = (j.get("status") or {}).get("completionTime")
                last = parse_time(status.get("lastSuccessfulTime"))
                when = parse_time(completed)
                if when is not None and (last is None or when > last):
                    status["lastSuccessfulTime"] = completed
                    out.status_changed = True
        children = {j["metadata"].get("uid") for j in jobs}
        for ref in list(status.get("active") or []):
            if ref.get("uid") in children:
                continue
            try:
                # The cache may lag behind a Job just created: only the API server may say it is gone.
                await ctx.api.get("jobs", ref["name"], ref.get("namespace") or ns)
            except ApiError as err:
                if err.code != 404:
                    raise
                ctx.recorder.event(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref['name']}")
                _remove_active(cronjob, ref.get("uid"))
                out.status_changed = True

    async def _create_job(self, cronjob: Obj, scheduled: float, zone: dt.tzinfo, out: _Outcome,
                          ctx: Context) -> Obj | None:
        """Create the Job for ``scheduled``; the Job to list as active, or None (``out`` says why)."""
        request = job_from_template(cronjob, scheduled, zone)
        name, ns = request["metadata"]["name"], request["metadata"]["namespace"]
        try:
            created = await ctx.api.create(request)
        except ApiError as err:
            if namespace_terminating(err):
                return None  # every create will fail: wait for the next scheduled time
            if err.code != 409 or err.reason != "AlreadyExists":
                ctx.recorder.event(cronjob, "Warning", "FailedCreate", f"Error creating job: {err.message}")
                out.requeue_s, out.error = None, err
                return None
            # Created by an earlier sync whose status write was lost, or by someone else.
            try:
                existing = await ctx.api.get("jobs", name, ns)
            except ApiError as get_err:
                out.requeue_s, out.error = None, get_err
                return None
            ref = controller_of(existing)
            if ref is None or ref.get("uid") != cronjob["metadata"].get("uid"):
                return None
            if _in_active(cronjob, existing["metadata"].get("uid")):
                return None
            return existing
        ctx.recorder.event(cronjob, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    # --- history (cleanupFinishedJobs) ---------------------------------------------------------------------
    async def _cleanup_finished_jobs(self, cronjob: Obj, jobs: list[Obj], ctx: Context) -> bool:
        spec = cronjob.get("spec") or {}
        changed = False
        for done, field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            finished = sorted((j for j in jobs if finished_type(j) == done), key=_by_start_time)
            for job in finished[:max(0, len(finished) - int(limit))]:
                if await self._delete_job(cronjob, job, ctx) is None:
                    changed = True
        return changed

    async def _delete_job(self, cronjob: Obj, job: Obj, ctx: Context) -> ApiError | None:
        """Delete a Job and its pods (background propagation) and drop it from the active list (deleteJob)."""
        meta = job["metadata"]
        try:
            await ctx.api.delete("jobs", meta["name"], meta.get("namespace", ""), propagation="Background")
        except ApiError as err:
            ctx.recorder.event(cronjob, "Warning", "FailedDelete", f"Deleted job: {err.message}")
            return err
        _remove_active(cronjob, meta.get("uid"))
        ctx.recorder.event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}")
        return None

    # --- time -------------------------------------------------------------------------------------------------
    @staticmethod
    def _earliest(cronjob: Obj) -> float:
        """``lastScheduleTime``, else the creation time: nothing before it is owed."""
        status, meta = cronjob.get("status") or {}, cronjob["metadata"]
        last = parse_time(status.get("lastScheduleTime"))
        return last if last is not None else (parse_time(meta.get("creationTimestamp")) or 0.0)

    def _until_next(self, cronjob: Obj, schedule: CronSchedule, now: float) -> float | None:
        """Seconds until the scheduled time after the most recent one (nextScheduleTimeDuration)."""
        earliest = self._earliest(cronjob)
        recent, _ = most_recent_schedule_time(schedule, earliest, now)
        following = schedule.next(recent if recent is not None else earliest)
        return None if following is None else following + NEXT_SCHEDULE_DELTA_S - now
