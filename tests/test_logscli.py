"""``kubesim logs`` against the log collector (kubesim.logscli), without a cluster: the pure parts.

Covers: parse_duration (``5m``, ``1h30m``, ``90s``, ``2.5s``, ``300``; anything else a ValueError); render
(a container's text alone when one container was asked for, with --timestamps its time first; otherwise time,
level or stream, where, message, fields and the trace's first 8 characters); query_from_args, with the real
``kubesim logs`` argument parser (--since in cluster time turned into a real Unix time with the cluster's
time_scale, pod/NAME and the names kubectl takes for pods, the container as -c or a second word, --tail as the
limit, and an error when nothing says whose lines).
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from actors.messages import LogQuery
from bus.logship import component_entry, container_entry, row_as_dict
from kubesim import kubectl
from kubesim.logscli import (
    PAGE_LINES,
    LogsError,
    parse_duration,
    query_from_args,
    render,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- durations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("5m", 300.0), ("1h30m", 5400.0), ("90s", 90.0), ("2.5s", 2.5), ("300", 300.0), ("1h", 3600.0),
    ("1h2m3s", 3723.0), ("0.5h", 1800.0), ("1.5", 1.5), (" 10s ", 10.0), ("0", 0.0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "  ", "5x", "m", "s", "5ms", "1h30", "30m1h", "5 m", "1d", "-5", "-5s",
                                  "abc", "1.2.3s", "h5"])
def test_what_is_not_a_duration_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["nan", "inf", "infinity", "-inf"])
def test_not_a_number_and_infinity_are_not_durations(text):
    # A regression test: float() takes these, and parse_duration once returned them (--since nan matched no line,
    # --since inf every line).
    with pytest.raises(ValueError):
        parse_duration(text)


# --- printing -----------------------------------------------------------------------------------------


def row(seq: int, entry: list) -> dict:
    return row_as_dict([seq, *entry])


COMPONENT = row(7, component_entry({"event": "pod bound", "level": "warning", "component": "scheduler-0.scheduler",
                                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "pod": "demo/web-1",
                                    "node": "node-3"}, T0 + 0.5, "scheduler-0", "scheduler"))
CONTAINER = row(8, container_entry(T0 + 61.25, "node-1", "node", "demo", "web-1", "app", 0, "stderr", "GET / 200"))


def test_a_row_as_a_dict_names_its_fields():
    assert COMPONENT["seq"] == 7 and COMPONENT["message"] == "pod bound" and COMPONENT["fields"]["node"] == "node-3"
    assert (CONTAINER["pod"], CONTAINER["stream"], CONTAINER["attempt"]) == ("web-1", "stderr", 0)


def test_a_component_line_says_when_how_bad_where_what_and_its_trace():
    assert render(COMPONENT, one_container=False, timestamps=False) == (
        "2026-01-01T00:00:00.500Z warning scheduler-0 scheduler-0.scheduler: pod bound pod=demo/web-1 node=node-3 "
        "trace=4bf92f35")
    assert render(COMPONENT, one_container=True, timestamps=False) == render(COMPONENT, one_container=False,
                                                                             timestamps=False), \
        "only a container's line is printed bare"


def test_a_line_without_fields_or_trace():
    plain = row(1, component_entry({"event": "ready", "level": "info", "component": "node-1.kubelet"}, T0, "node-1",
                                   "node"))
    assert render(plain, one_container=False, timestamps=True) == (
        "2026-01-01T00:00:00.000Z info    node-1 node-1.kubelet: ready")


def test_a_container_line_alone_is_its_text_as_kubectl_logs_prints_it():
    assert render(CONTAINER, one_container=True, timestamps=False) == "GET / 200"
    assert render(CONTAINER, one_container=True, timestamps=True) == "2026-01-01T00:01:01.250Z GET / 200"


def test_a_container_line_among_others_says_whose_it_is_and_its_stream():
    assert render(CONTAINER, one_container=False, timestamps=False) == (
        "2026-01-01T00:01:01.250Z stderr  demo/web-1/app: GET / 200")


# --- the query from the command line ------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    kubectl.add_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(["logs", *argv])


def cfg(time_scale: float = 1.0) -> SimpleNamespace:
    return SimpleNamespace(cluster=SimpleNamespace(time_scale=time_scale))


NOW = T0 + 3600


def test_a_pods_container_since_five_cluster_minutes_on_a_ten_times_faster_cluster():
    q = query_from_args(parse("pod/web-1", "-c", "nginx", "-n", "demo", "--since", "5m"), cfg(10.0), NOW)
    assert q == LogQuery(namespace="demo", pod="web-1", container="nginx", since=NOW - 30.0, limit=PAGE_LINES)


@pytest.mark.parametrize("word", ["web-1", "pod/web-1", "pods/web-1", "po/web-1"])
def test_a_pod_is_named_alone_or_as_pod_slash_name_in_the_default_namespace(word):
    q = query_from_args(parse(word), cfg(), NOW)
    assert (q.pod, q.namespace, q.container, q.since, q.previous) == ("web-1", "default", "", 0.0, False)


def test_the_container_may_be_the_second_word_and_tail_is_the_limit():
    q = query_from_args(parse("web-1", "sidecar", "--tail", "20", "-p"), cfg(), NOW)
    assert (q.container, q.limit, q.previous) == ("sidecar", 20, True)
    assert query_from_args(parse("web-1", "sidecar", "-c", "app"), cfg(), NOW).container == "app", "-c wins"


def test_component_trace_level_and_grep_need_no_pod_nor_namespace():
    q = query_from_args(parse("--component", "kubelet", "--level", "warning", "--since", "90s", "-n", "demo"),
                        cfg(2.0), NOW)
    assert q == LogQuery(component="kubelet", level="warning", since=NOW - 45.0, limit=PAGE_LINES)
    assert query_from_args(parse("--trace", "4bf92f35"), cfg(), NOW).trace_id == "4bf92f35"
    assert query_from_args(parse("--grep", "OOMKilled"), cfg(), NOW).grep == "OOMKilled"


def test_logs_takes_pods_only():
    with pytest.raises(LogsError, match="logs takes a pod \\(pod/NAME\\), not 'deployment'"):
        query_from_args(parse("deployment/web"), cfg(), NOW)


@pytest.mark.parametrize("argv", [(), ("-n", "demo"), ("-c", "app"), ("pod/",), ("--since", "5m")])
def test_it_is_an_error_to_name_nobodys_lines(argv):
    with pytest.raises(LogsError, match="say whose lines"):
        query_from_args(parse(*argv), cfg(), NOW)


def test_a_bad_since_is_an_error_naming_the_flag():
    with pytest.raises(LogsError, match="--since: expected a duration such as 30s, 5m or 1h, got '5 minutes'"):
        query_from_args(parse("web-1", "--since", "5 minutes"), cfg(), NOW)
