"""``kubesim logs`` against the log collector: every component's and container's lines, in one place.

    kubesim logs --component scheduler --since 5m      the schedulers' lines of the last 5 (cluster) minutes
    kubesim logs --component kubelet --level warning    every kubelet's warnings and errors
    kubesim logs --trace 4bf92f35                       every line of one trace, from every process
    kubesim logs pod/web-1 -c nginx -f -n demo          a container's lines, followed as they come
    kubesim logs pod/web-1 -p -n demo                   the previous run's, after a restart

The collector (a process running component ``log-collector``) keeps lines
after their pod is gone and their process has restarted; ``--from kubelet``
asks the pod's kubelet instead, as ``kubectl logs`` does (what a cluster
without the logging add-on has). Durations (``--since``) are cluster time,
as everything kubesim shows is; lines carry real times.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import orjson

from actors.messages import LogEntries, LogQuery
from bus.logship import row_as_dict
from bus.messages import Error

#: Most lines one query asks for; following pages through the rest.
PAGE_LINES = 5000
#: Real seconds the collector may hold a follower's query.
FOLLOW_WAIT_S = 10.0
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")


class LogsError(RuntimeError):
    """What the collector (or the command line) said was wrong."""


def parse_duration(text: str) -> float:
    """Seconds in ``5m``, ``1h30m``, ``90s``, ``2.5s`` or ``300``; ValueError for anything else."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        m = _DURATION.match(text)
        if not text or m is None or not any(m.groups()):
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {text!r}") from None
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    if not 0 <= seconds < float("inf"):  # also NaN, which float() takes
        raise ValueError(f"a duration is a non-negative number of seconds, got {text!r}")
    return seconds


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(e: dict[str, Any], *, one_container: bool, timestamps: bool) -> str:
    """A line as ``kubesim logs`` prints it: a container's text alone when the query named one container
    (as kubectl logs does), else time, level, where and the message with its fields."""
    if one_container and e["pod"]:
        return f"{_stamp(e['t'])} {e['message']}" if timestamps else e["message"]
    fields = " ".join(f"{k}={v}" for k, v in e["fields"].items())
    where = e["source"] if e["pod"] else f"{e['process']} {e['source']}"
    level = e["level"] or e["stream"]
    trace = f" trace={e['trace_id'][:8]}" if e["trace_id"] else ""
    return f"{_stamp(e['t'])} {level:<7} {where}: {e['message']}{' ' + fields if fields else ''}{trace}"


def query_from_args(args, cfg, now: float) -> LogQuery:
    pod = args.pod or ""
    if "/" in pod:
        kind, _, pod = pod.partition("/")
        if kind not in ("pod", "pods", "po"):
            raise LogsError(f"logs takes a pod (pod/NAME), not {kind!r}")
    container = args.container or args.container_arg or ""
    if not (pod or args.component or args.trace or args.level or args.grep):
        raise LogsError("say whose lines: a pod (pod/NAME), --component NAME, --trace ID, --level or --grep")
    try:
        since = parse_duration(args.since) if args.since else 0.0
    except ValueError as exc:
        raise LogsError(f"--since: {exc}") from None
    since_t = now - since / cfg.cluster.time_scale if args.since else 0.0  # --since 0s: from now on
    namespace = (args.namespace or "default") if pod else ""
    limit = args.tail if args.tail and args.tail > 0 else PAGE_LINES
    return LogQuery(component=args.component or "", namespace=namespace, pod=pod, container=container,
                    previous=bool(args.previous), trace_id=args.trace or "", level=args.level or "",
                    grep=args.grep or "", since=since_t, limit=limit)


def run(k, cfg) -> int:
    """``kubesim logs`` through the collector; ``k`` is the command's :class:`kubesim.kubectl.Kubectl`."""
    args = k.args
    try:
        query = query_from_args(args, cfg, time.time())
    except LogsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dst = f"{cfg.log_collector}.collector"
    one_container = bool(query.pod)
    as_json = getattr(args, "output", "") == "json"

    def ask(q: LogQuery) -> LogEntries:
        async def call():
            # Timeouts are cluster seconds: a few real ones beyond the collector's hold.
            return await k.api.request(dst, q, timeout_s=(q.wait_s + 5.0) * cfg.cluster.time_scale, retries=0)

        try:
            answer = k.call(call())
        except Exception as exc:  # RequestFailed and its kinds: the collector is down or cut off
            raise LogsError(f"the log collector ({dst}) did not answer: {exc}") from None
        if isinstance(answer, Error):
            raise LogsError(answer.message)
        if not isinstance(answer, LogEntries):
            raise LogsError(f"the log collector answered {type(answer).__name__}")
        return answer

    def emit(rows: list) -> None:
        for row in rows:
            e = row_as_dict(row)
            if as_json:
                sys.stdout.write(orjson.dumps(e).decode() + "\n")
            else:
                sys.stdout.write(render(e, one_container=one_container, timestamps=args.timestamps) + "\n")
        sys.stdout.flush()

    try:
        answer = ask(query)
        emit(answer.entries)
        if not args.follow or query.previous:  # a previous run writes no more
            return 0
        after = max(row[0] for row in answer.entries) if answer.entries else answer.last_seq
        follow = replace(query, since=0.0, limit=PAGE_LINES, wait_s=FOLLOW_WAIT_S)
        while True:
            answer = ask(replace(follow, after_seq=after))
            emit(answer.entries)
            if answer.entries:
                after = max(row[0] for row in answer.entries)
    except LogsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
