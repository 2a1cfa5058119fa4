"""The CronJob controller: schedule arithmetic as a table, the sync over hand-filled caches.

The schedule table spells out every expected time. The sync tests use a fake
API server that keeps CronJobs and Jobs (refusing a status write from a stale
copy and a second Job of one name) and records calls; its writes reach the
caches only when the test calls :meth:`World.deliver`.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import STALE, already_exists, conflict, not_found
from actors.apiserver.validation import cron_error
from actors.controllers.base import Context, DictStore, key_of, run_sync
from actors.controllers.cronjob import (
    SCHEDULED_TIMESTAMP,
    CronJobController,
    ScheduleError,
    go_rfc3339,
    job_name,
    load_zone,
    most_recent_schedule_time,
    next_schedule_time,
    parse_schedule,
)

NS = "default"
KEY = "default/hello"


def at(text: str) -> float:
    """``2025-01-15T10:07:30`` (UTC) in epoch seconds."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


T0 = at("2025-01-15T10:00:00")
"""A Wednesday."""


# --- schedules -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("schedule", "after", "tz", "expected"), [
    pytest.param("* * * * *", "2025-01-15T10:07:30", None, "2025-01-15T10:08:00", id="every-minute"),
    pytest.param("*/15 * * * *", "2025-01-15T10:07:30", None, "2025-01-15T10:15:00", id="step"),
    pytest.param("5 * * * *", "2025-01-15T10:07:30", None, "2025-01-15T11:05:00", id="minute-passed-this-hour"),
    pytest.param("15 10 * * *", "2025-01-15T10:15:00", None, "2025-01-16T10:15:00", id="strictly-after"),
    pytest.param("30 6-16/4 * * *", "2025-01-15T10:07:30", None, "2025-01-15T10:30:00", id="hour-range-step"),
    pytest.param("30 6-16/4 * * *", "2025-01-15T14:30:00", None, "2025-01-16T06:30:00", id="hour-range-step-wraps"),
    pytest.param("0 9 * * mon-fri", "2025-01-17T09:00:00", None, "2025-01-20T09:00:00", id="weekdays-by-name"),
    pytest.param("0 12 * JAN,jul *", "2025-01-15T10:07:30", None, "2025-01-15T12:00:00", id="month-names-list"),
    pytest.param("0 0 ? * SUN", "2025-01-15T10:07:30", None, "2025-01-19T00:00:00", id="question-mark"),
    pytest.param("0 0 13 * *", "2025-01-15T10:07:30", None, "2025-02-13T00:00:00", id="day-of-month"),
    pytest.param("0 0 13 * 5", "2025-01-15T10:07:30", None, "2025-01-17T00:00:00",
                 id="day-of-month-or-friday"),
    pytest.param("0 0 1-7 * mon", "2025-01-15T10:07:30", None, "2025-01-20T00:00:00",
                 id="not-first-monday-but-any-monday"),
    pytest.param("0 0 */2 * *", "2025-01-15T10:07:30", None, "2025-01-17T00:00:00", id="odd-days"),
    pytest.param("0 0 29 2 *", "2025-01-15T10:07:30", None, "2028-02-29T00:00:00", id="leap-day"),
    pytest.param("@hourly", "2025-01-15T10:07:30", None, "2025-01-15T11:00:00", id="hourly"),
    pytest.param("@daily", "2025-01-15T10:07:30", None, "2025-01-16T00:00:00", id="daily"),
    pytest.param("@midnight", "2025-01-15T10:07:30", None, "2025-01-16T00:00:00", id="midnight"),
    pytest.param("@weekly", "2025-01-15T10:07:30", None, "2025-01-19T00:00:00", id="weekly-sunday"),
    pytest.param("@monthly", "2025-01-15T10:07:30", None, "2025-02-01T00:00:00", id="monthly"),
    pytest.param("@yearly", "2025-01-15T10:07:30", None, "2026-01-01T00:00:00", id="yearly"),
    pytest.param("@annually", "2025-01-15T10:07:30", None, "2026-01-01T00:00:00", id="annually"),
    pytest.param("@every 90s", "2025-01-15T10:07:30", None, "2025-01-15T10:09:00", id="every"),
    pytest.param("@every 1h30m", "2025-01-15T10:07:30", None, "2025-01-15T11:37:30", id="every-compound"),
    pytest.param("0 9 * * *", "2025-01-15T10:07:30", "Europe/Berlin", "2025-01-16T08:00:00", id="tz-winter"),
    pytest.param("0 9 * * *", "2025-07-01T00:00:00", "Europe/Berlin", "2025-07-01T07:00:00", id="tz-summer"),
    pytest.param("TZ=America/New_York 0 9 * * *", "2025-01-15T10:07:30", None, "2025-01-15T14:00:00",
                 id="tz-prefix"),
    pytest.param("30 2 * * *", "2025-03-09T05:00:00", "America/New_York", "2025-03-09T07:30:00",
                 id="dst-gap-runs-an-hour-later"),
    pytest.param("30 1 * * *", "2025-11-02T05:00:00", "America/New_York", "2025-11-02T05:30:00",
                 id="dst-repeated-hour-first"),
    pytest.param("30 1 * * *", "2025-11-02T05:30:00", "America/New_York", "2025-11-03T06:30:00",
                 id="dst-repeated-hour-only-once"),
])
def test_next_schedule_time(schedule, after, tz, expected):
    assert next_schedule_time(schedule, at(after), tz) == at(expected)


def test_a_schedule_no_date_satisfies_has_no_next_time():
    assert next_schedule_time("0 0 30 2 *", T0) is None


@pytest.mark.parametrize("schedule", [
    pytest.param("", id="empty"), pytest.param("* * * *", id="four-fields"),
    pytest.param("60 * * * *", id="minute-too-big"), pytest.param("* * * * 7", id="weekday-too-big"),
    pytest.param("@fortnightly", id="unknown-descriptor"), pytest.param("5-1 * * * *", id="backwards-range"),
    pytest.param("*/0 * * * *", id="zero-step"), pytest.param("x * * * *", id="not-a-number"),
])
def test_a_bad_schedule_is_refused_with_crons_message(schedule):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(schedule)
    assert str(info.value) == cron_error(schedule) is not None


def test_a_bad_every_period_and_an_unknown_time_zone_are_refused():
    with pytest.raises(ScheduleError, match='invalid duration "soon"'):
        parse_schedule("@every soon")
    with pytest.raises(ScheduleError, match="unknown time zone Mars/Olympus"):
        parse_schedule("* * * * *", "Mars/Olympus")
    assert load_zone("") is dt.UTC and load_zone("UTC") is dt.UTC


def test_most_recent_schedule_time_walks_a_few_and_searches_back_past_many():
    every_five = parse_schedule("*/5 * * * *")
    assert most_recent_schedule_time(every_five, at("2025-01-15T09:00:00"), at("2025-01-15T10:07:00")) == \
        (at("2025-01-15T10:05:00"), 13)
    assert most_recent_schedule_time(every_five, at("2025-01-15T10:05:00"), at("2025-01-15T10:09:59")) == (None, 0)
    minutely = parse_schedule("* * * * *")
    recent, count = most_recent_schedule_time(minutely, at("2024-01-15T10:00:00"), at("2025-01-15T10:07:30"))
    assert recent == at("2025-01-15T10:07:00") and count == 101
    office = parse_schedule("30 9-17 * * 1-5")  # dense by day, silent at night and at weekends
    recent, count = most_recent_schedule_time(office, at("2024-12-01T00:00:00"), at("2025-01-18T08:00:00"))
    assert recent == at("2025-01-17T17:30:00") and count == 101


def test_go_rfc3339_writes_the_offset_or_z():
    assert go_rfc3339(at("2025-01-15T10:00:00"), dt.UTC) == "2025-01-15T10:00:00Z"
    assert go_rfc3339(at("2025-01-15T10:00:00"), load_zone("Europe/Berlin")) == "2025-01-15T11:00:00+01:00"
    assert go_rfc3339(at("2025-01-15T10:00:00"), load_zone("America/New_York")) == "2025-01-15T05:00:00-05:00"
    assert go_rfc3339(at("2025-01-15T10:00:00"), load_zone("Europe/London")) == "2025-01-15T10:00:00Z"


# --- fixtures --------------------------------------------------------------------------------------------------

def make_cronjob(schedule: str = "*/5 * * * *", *, created: float = at("2025-01-15T09:58:00"),
                 policy: str = "Allow", deadline_s: int | None = None, suspend: bool = False,
                 tz: str | None = None, status: dict | None = None, success_limit: int | None = 3,
                 failed_limit: int | None = 1) -> dict:
    spec: dict = {"schedule": schedule, "concurrencyPolicy": policy, "suspend": suspend,
                  "jobTemplate": {"metadata": {"labels": {"app": "hello"}, "annotations": {"team": "a"}},
                                  "spec": {"backoffLimit": 2, "template": {"spec": {
                                      "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    if success_limit is not None:
        spec["successfulJobsHistoryLimit"] = success_limit
    if failed_limit is not None:
        spec["failedJobsHistoryLimit"] = failed_limit
    if deadline_s is not None:
        spec["startingDeadlineSeconds"] = deadline_s
    if tz is not None:
        spec["timeZone"] = tz
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": NS, "uid": "uid-cj", "resourceVersion": "1",
                         "creationTimestamp": rfc3339(created)},
            "spec": spec, "status": status or {}}


def make_job(scheduled: str, *, finished: str | None = None, started: str | None = None,
             completed: str | None = None, owner_uid: str = "uid-cj") -> dict:
    when = at(scheduled)
    name = f"hello-{int(when) // 60}"
    status: dict = {}
    if started is not None:
        status["startTime"] = rfc3339(at(started))
    if finished is not None:
        status["conditions"] = [{"type": finished, "status": "True"}]
    if completed is not None:
        status["completionTime"] = rfc3339(at(completed))
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "5",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                              "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}]},
            "spec": {}, "status": status}


def ref(job: dict) -> dict:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": NS, "name": meta["name"], "uid": meta["uid"], "apiVersion": "batch/v1",
            "resourceVersion": meta["resourceVersion"]}


class FakeApi:
    """Keeps CronJobs and Jobs; see the module docstring."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.objects: dict[tuple[str, str], dict] = {}
        self.events: list[tuple[str, str, dict]] = []
        self.calls: list[tuple] = []
        self.rv = 100

    def seed(self, resource: str, obj: dict) -> None:
        self.objects[(resource, key_of(obj))] = copy.deepcopy(obj)

    def _write(self, resource: str, type_: str, obj: dict) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(resource, key_of(obj))] = obj
        self.events.append((resource, type_, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    async def create(self, obj: dict, namespace: str = "") -> dict:
        name = obj["metadata"]["name"]
        self.calls.append(("create", name))
        if ("jobs", f"{NS}/{name}") in self.objects:
            raise already_exists("jobs", name, "batch")
        job = copy.deepcopy(obj)
        job["metadata"].update(uid=f"uid-{name}", creationTimestamp=rfc3339(self.world.wall))
        job["status"] = {}
        return self._write("jobs", "ADDED", job)

    async def get(self, resource: str, name: str, namespace: str = "") -> dict:
        self.calls.append(("get", resource, name))
        obj = self.objects.get((resource, f"{namespace}/{name}"))
        if obj is None:
            raise not_found(resource, name, "batch")
        return copy.deepcopy(obj)

    async def delete(self, resource: str, name: str, namespace: str = "", *, propagation: str = "") -> dict:
        self.calls.append(("delete", name, propagation))
        obj = self.objects.pop((resource, f"{namespace}/{name}"), None)
        if obj is None:
            raise not_found(resource, name, "batch")
        self.events.append((resource, "DELETED", copy.deepcopy(obj)))
        return {}

    async def update_status(self, obj: dict) -> dict:
        current = self.objects[("cronjobs", key_of(obj))]
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise conflict("cronjobs", obj["metadata"]["name"], STALE, "batch")
        self.calls.append(("update_status", copy.deepcopy(obj["status"])))
        new = copy.deepcopy(current)
        new["status"] = copy.deepcopy(obj["status"])
        return self._write("cronjobs", "MODIFIED", new)

    def writes(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("create", "delete")]

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
    def __init__(self, cronjob: dict, jobs: tuple[dict, ...] = (), *, wall: float = T0) -> None:
        self.cc = CronJobController()
        self.api = FakeApi(self)
        self.caches = {"cronjobs": DictStore(), "jobs": DictStore()}
        self.recorder = FakeRecorder()
        self.wall = wall
        for resource, objs in (("cronjobs", (cronjob,)), ("jobs", jobs)):
            for obj in objs:
                self.api.seed(resource, obj)
                self.caches[resource].put(copy.deepcopy(obj))

    def sync(self, key: str = KEY):
        ctx = Context(caches=self.caches, api=self.api, recorder=self.recorder, now=0.0, wall=self.wall)
        return run_sync(self.cc.sync(key, ctx))

    def deliver(self) -> None:
        for resource, type_, obj in self.api.events:
            if type_ == "DELETED":
                self.caches[resource].remove(obj)
            else:
                self.caches[resource].put(obj)
        self.api.events = []

    def status(self) -> dict:
        return self.api.objects[("cronjobs", KEY)]["status"]

    def job(self, scheduled: str) -> dict | None:
        return self.api.objects.get(("jobs", f"{NS}/hello-{int(at(scheduled)) // 60}"))


# --- the sync -----------------------------------------------------------------------------------------------------

def test_nothing_is_started_before_the_first_scheduled_time():
    w = World(make_cronjob(created=at("2025-01-15T10:01:00")), wall=at("2025-01-15T10:03:00"))
    assert w.sync() == pytest.approx(120.1)
    assert w.api.calls == [] and w.recorder.events == []


def test_the_job_for_a_scheduled_time_is_created_from_the_template_and_recorded():
    cronjob = make_cronjob()
    w = World(cronjob, wall=at("2025-01-15T10:05:02"))
    assert w.sync() == pytest.approx(298.1), "until 10:10 and a tenth"
    name = f"hello-{int(at('2025-01-15T10:05:00')) // 60}"
    assert name == "hello-28948925" == job_name(cronjob, at("2025-01-15T10:05:00"))
    job = w.api.objects[("jobs", f"{NS}/{name}")]
    assert job["metadata"]["labels"] == {"app": "hello"}
    assert job["metadata"]["annotations"] == {"team": "a", SCHEDULED_TIMESTAMP: "2025-01-15T10:05:00Z"}
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello",
                                                   "uid": "uid-cj", "controller": True, "blockOwnerDeletion": True}]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert w.status() == {"active": [ref(job)], "lastScheduleTime": "2025-01-15T10:05:00Z"}
    assert w.recorder.events == [("Normal", "SuccessfulCreate", f"Created job {name}")]


def test_a_time_already_acted_on_is_not_started_again():
    w = World(make_cronjob(), wall=at("2025-01-15T10:05:02"))
    w.sync()
    w.deliver()
    w.api.calls.clear()
    assert w.sync() == pytest.approx(298.1)
    assert w.api.writes() == []


def test_a_lost_status_write_is_repaired_by_the_job_name_not_a_second_job():
    # The Job for 10:05 exists, but the CronJob's status never recorded it.
    job = make_job("2025-01-15T10:05:00")
    w = World(make_cronjob(), (job,), wall=at("2025-01-15T10:05:30"))
    w.sync()
    assert ("Warning", "UnexpectedJob",
            f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}") in w.recorder.events
    assert w.api.writes() == [("create", job["metadata"]["name"])], "refused: it exists"
    assert w.status()["active"] == [ref(job)]
    assert len([k for k in w.api.objects if k[0] == "jobs"]) == 1


def test_a_job_seen_before_the_status_that_lists_it_is_no_surprise():
    job = make_job("2025-01-15T10:05:00")
    cronjob = make_cronjob()
    w = World(cronjob, (job,), wall=at("2025-01-15T10:05:30"))
    fresh = copy.deepcopy(cronjob)
    fresh["status"] = {"active": [ref(job)], "lastScheduleTime": "2025-01-15T10:05:00Z"}
    fresh["metadata"]["resourceVersion"] = "7"
    w.api.seed("cronjobs", fresh)  # the server has it; the cache not yet
    w.sync()
    assert "UnexpectedJob" not in w.recorder.reasons()
    assert w.api.writes() == []


def test_missed_times_start_only_the_most_recent():
    w = World(make_cronjob(created=at("2025-01-15T09:00:00")), wall=at("2025-01-15T10:07:00"))
    w.sync()
    assert w.api.writes() == [("create", f"hello-{int(at('2025-01-15T10:05:00')) // 60}")]
    assert w.status()["lastScheduleTime"] == "2025-01-15T10:05:00Z"
    assert "TooManyMissedTimes" not in w.recorder.reasons()


def test_more_than_a_hundred_missed_times_earn_a_warning_and_the_latest_still_runs():
    w = World(make_cronjob("* * * * *", created=at("2025-01-13T10:00:00")), wall=at("2025-01-15T10:07:30"))
    assert w.sync() == pytest.approx(30.1)
    assert w.recorder.events[0] == ("Warning", "TooManyMissedTimes", (
        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"))
    assert w.api.writes() == [("create", f"hello-{int(at('2025-01-15T10:07:00')) // 60}")]


@pytest.mark.parametrize(("deadline_s", "started"), [
    pytest.param(60, None, id="too-late-skipped"),
    pytest.param(600, "2025-01-15T10:00:00", id="within-the-deadline"),
])
def test_starting_deadline(deadline_s, started):
    cronjob = make_cronjob("0 * * * *", deadline_s=deadline_s, status={"lastScheduleTime": "2025-01-15T09:00:00Z"})
    w = World(cronjob, wall=at("2025-01-15T10:05:00"))
    assert w.sync() == pytest.approx(55 * 60 + 0.1), "either way, look again at 11:00"
    if started is None:
        assert w.api.writes() == []
    else:
        assert w.api.writes() == [("create", f"hello-{int(at(started)) // 60}")]


def test_forbid_skips_a_time_while_a_job_runs():
    running = make_job("2025-01-15T10:00:00")
    cronjob = make_cronjob(policy="Forbid", status={"active": [ref(running)],
                                                    "lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, (running,), wall=at("2025-01-15T10:05:01"))
    assert w.sync() == pytest.approx(299.1)
    assert w.api.writes() == []
    assert w.recorder.events == [("Normal", "JobAlreadyActive", (
        "Not starting job because prior execution is running and concurrency policy is Forbid"))]


def test_allow_runs_jobs_side_by_side():
    running = make_job("2025-01-15T10:00:00")
    cronjob = make_cronjob(status={"active": [ref(running)], "lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, (running,), wall=at("2025-01-15T10:05:01"))
    w.sync()
    new = w.job("2025-01-15T10:05:00")
    assert [r["name"] for r in w.status()["active"]] == [running["metadata"]["name"], new["metadata"]["name"]]


def test_replace_deletes_the_running_job_then_starts_the_new_one():
    running = make_job("2025-01-15T10:00:00")
    cronjob = make_cronjob(policy="Replace", status={"active": [ref(running)],
                                                     "lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, (running,), wall=at("2025-01-15T10:05:01"))
    w.sync()
    new_name = f"hello-{int(at('2025-01-15T10:05:00')) // 60}"
    assert w.api.writes() == [("delete", running["metadata"]["name"], "Background"), ("create", new_name)]
    assert [r["name"] for r in w.status()["active"]] == [new_name]
    assert w.recorder.reasons() == ["SuccessfulDelete", "SuccessfulCreate"]


def test_a_finished_job_leaves_the_active_list_and_a_success_is_remembered():
    done = make_job("2025-01-15T10:00:00", finished="Complete", started="2025-01-15T10:00:01",
                    completed="2025-01-15T10:02:00")
    cronjob = make_cronjob(status={"active": [ref(done)], "lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, (done,), wall=at("2025-01-15T10:03:00"))
    assert w.sync() == pytest.approx(120.1)
    assert w.status() == {"lastScheduleTime": "2025-01-15T10:00:00Z", "lastSuccessfulTime": "2025-01-15T10:02:00Z"}
    assert w.recorder.events == [("Normal", "SawCompletedJob",
                                  f"Saw completed job: {done['metadata']['name']}, status: Complete")]


def test_an_active_job_the_api_no_longer_has_is_dropped_but_one_only_the_cache_lacks_is_kept():
    gone = make_job("2025-01-15T09:55:00")
    lagging = make_job("2025-01-15T10:00:00")
    cronjob = make_cronjob(status={"active": [ref(gone), ref(lagging)], "lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, wall=at("2025-01-15T10:03:00"))
    w.api.seed("jobs", lagging)
    w.sync()
    assert w.status()["active"] == [ref(lagging)]
    assert w.recorder.events == [("Normal", "MissingJob", f"Active job went missing: {gone['metadata']['name']}")]


def test_finished_jobs_beyond_the_history_limits_are_deleted_oldest_first():
    succeeded = [make_job(f"2025-01-15T09:{m:02d}:00", finished="Complete", started=f"2025-01-15T09:{m:02d}:01",
                          completed=f"2025-01-15T09:{m:02d}:30") for m in (5, 10, 15, 20, 25)]
    failed = [make_job(f"2025-01-15T09:{m:02d}:00", finished="Failed", started=f"2025-01-15T09:{m:02d}:01")
              for m in (30, 35, 40)]
    cronjob = make_cronjob(status={"lastScheduleTime": "2025-01-15T09:40:00Z"})
    w = World(cronjob, (*succeeded, *failed), wall=at("2025-01-15T09:41:00"))
    w.sync()
    deleted = [c[1] for c in w.api.calls if c[0] == "delete"]
    assert deleted == [j["metadata"]["name"] for j in (*succeeded[:2], *failed[:2])]
    assert {c[2] for c in w.api.calls if c[0] == "delete"} == {"Background"}
    assert w.recorder.reasons().count("SuccessfulDelete") == 4
    assert w.status()["lastSuccessfulTime"] == "2025-01-15T09:25:30Z"


def test_a_suspended_cronjob_starts_nothing():
    w = World(make_cronjob(suspend=True), wall=at("2025-01-15T10:05:02"))
    assert w.sync() is None
    assert w.api.calls == []


def test_the_schedule_is_read_in_the_time_zone_and_the_annotation_written_in_it():
    w = World(make_cronjob("0 11 * * *", tz="Europe/Berlin"), wall=at("2025-01-15T10:00:30"))
    assert w.sync() == pytest.approx(24 * 3600 - 30 + 0.1)
    job = w.job("2025-01-15T10:00:00")
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2025-01-15T11:00:00+01:00"


@pytest.mark.parametrize(("changes", "reason", "message"), [
    pytest.param({"timeZone": "Mars/Olympus"}, "UnknownTimeZone",
                 'invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus', id="time-zone"),
    pytest.param({"schedule": "61 * * * *"}, "UnparseableSchedule",
                 f'unparseable schedule: "61 * * * *" : {cron_error("61 * * * *")}', id="schedule"),
    pytest.param({"schedule": "0 0 30 2 *"}, "InvalidSchedule",
                 "invalid schedule: 0 0 30 2 * : no time in the next 5 years matches it", id="impossible"),
])
def test_a_bad_schedule_or_time_zone_is_reported_and_not_retried(changes, reason, message):
    cronjob = make_cronjob()
    cronjob["spec"].update(changes)
    w = World(cronjob, wall=at("2025-01-15T10:05:02"))
    assert w.sync() is None
    assert w.recorder.events == [("Warning", reason, message)]
    assert w.api.writes() == []


def test_a_cronjob_being_deleted_only_tidies_its_status():
    done = make_job("2025-01-15T10:00:00", finished="Failed")
    cronjob = make_cronjob(status={"active": [ref(done)], "lastScheduleTime": "2025-01-15T10:00:00Z"})
    cronjob["metadata"]["deletionTimestamp"] = rfc3339(T0)
    w = World(cronjob, (done,), wall=at("2025-01-15T10:05:02"))
    assert w.sync() is None
    assert w.api.writes() == []
    assert "active" not in w.status()


def test_jobs_of_another_owner_are_not_its_concern():
    stranger = make_job("2025-01-15T10:00:00", finished="Complete", owner_uid="uid-someone-else")
    cronjob = make_cronjob(success_limit=0, status={"lastScheduleTime": "2025-01-15T10:00:00Z"})
    w = World(cronjob, (stranger,), wall=at("2025-01-15T10:03:00"))
    w.sync()
    assert w.api.writes() == []


def test_keys_map_a_job_to_its_cronjob():
    cc = CronJobController()
    assert list(cc.keys("cronjobs", make_cronjob())) == [KEY]
    assert list(cc.keys("jobs", make_job("2025-01-15T10:00:00"))) == [KEY]
    orphan = make_job("2025-01-15T10:00:00")
    del orphan["metadata"]["ownerReferences"]
    assert list(cc.keys("jobs", orphan)) == []
