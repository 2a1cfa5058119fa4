"""Structural checks of every Grafana dashboard in grafana/dashboards/.

A dashboard that Grafana loads but lays out badly, points at another
datasource, rates over a fixed window, or queries a metric nobody exports
fails silently in the browser; these checks fail it here instead. Every
expression is also parsed by Prometheus' own parser (``promtool check
rules``), so a typo in PromQL cannot wait for someone to open the panel.
Whether each panel shows data from a running cluster is the integration
test's job; it reads the dashboards through tests/dashboards.py as these do.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import dashboards as dash

FILES = dash.dashboard_files()
DATASOURCE_UID = "kubesim-prometheus"
DATASOURCE_REFS = {"${datasource}", "$datasource", DATASOURCE_UID}
RATE_FUNCTIONS = ("rate", "irate", "increase")
NO_UNIT_TYPES = {"row", "text"}
SOURCE_DIRS = ("actors", "bus", "kubesim")
STORE_METRICS = dash.ROOT / "actors" / "store" / "metrics.py"


def ids(paths):
    return [p.name for p in paths]


@pytest.fixture(scope="module", params=FILES, ids=ids(FILES))
def board(request):
    return request.param, dash.load(request.param)


def test_the_dashboards_are_there():
    # Every check below is per file: with no files they would all pass, so insist on them.
    names = {p.stem for p in FILES}
    assert {"bus", "cluster", "store", "apiserver", "scheduler", "controllers", "nodes"} <= names
    assert all(dash.queries(dash.load(p)) for p in FILES)


def test_every_file_is_json_with_an_object():
    for path in FILES:
        assert isinstance(json.loads(path.read_text()), dict), path.name


def test_uids_are_unique_and_named_after_kubesim():
    uids = [dash.load(p)["uid"] for p in FILES]
    assert len(uids) == len(set(uids)), uids
    for path in FILES:
        d = dash.load(path)
        assert d["uid"].startswith("kubesim-") and len(d["uid"]) <= 40, (path.name, d["uid"])
        assert d["title"].startswith("kubesim / "), (path.name, d["title"])
        assert d["schemaVersion"] >= 39, path.name
        assert d.get("id") is None, f"{path.name}: a provisioned dashboard must not carry a database id"


def test_panel_ids_are_unique(board):
    path, d = board
    pids = [p["id"] for p in dash.panels(d)]
    assert len(pids) == len(set(pids)), (path.name, pids)


def test_panels_fit_the_24_column_grid(board):
    path, d = board
    for p in dash.panels(d):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1, (path.name, p["title"], g)
        assert g["x"] + g["w"] <= 24, (path.name, p["title"], g)


def test_panels_do_not_overlap(board):
    path, d = board
    laid_out = dash.top_level_panels(d)
    assert len(laid_out) > 1
    for a, b in itertools.combinations(laid_out, 2):
        assert not dash.overlaps(a["gridPos"], b["gridPos"]), (path.name, a["title"], b["title"])


def test_overlap_check_sees_overlaps():
    # The layout test is only as good as this predicate: touching is fine, sharing a cell is not.
    a = {"x": 0, "y": 0, "w": 12, "h": 8}
    assert dash.overlaps(a, {"x": 11, "y": 7, "w": 2, "h": 2})
    assert dash.overlaps(a, {"x": 0, "y": 0, "w": 24, "h": 1})
    assert not dash.overlaps(a, {"x": 12, "y": 0, "w": 12, "h": 8})
    assert not dash.overlaps(a, {"x": 0, "y": 8, "w": 24, "h": 1})


def test_targets_have_unique_ref_ids_and_an_expression(board):
    path, d = board
    for p in dash.panels(d):
        if p["type"] in NO_UNIT_TYPES:
            assert not p.get("targets"), (path.name, p["title"])
            continue
        refs = [t.get("refId") for t in p.get("targets", [])]
        assert refs, (path.name, p["title"], "panel has no targets")
        assert all(refs) and len(refs) == len(set(refs)), (path.name, p["title"], refs)
        for t in p["targets"]:
            assert t.get("expr", "").strip(), (path.name, p["title"], t.get("refId"))


def test_every_datasource_is_the_provisioned_prometheus(board):
    path, d = board
    (ds_var,) = [v for v in dash.variables(d) if v["type"] == "datasource"]
    assert ds_var["name"] == "datasource" and ds_var["query"] == "prometheus", path.name
    for p in dash.panels(d):
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] in DATASOURCE_REFS, (path.name, p["title"], p["datasource"])
        for t in p.get("targets", []):
            if "datasource" in t:
                assert t["datasource"]["uid"] in DATASOURCE_REFS, (path.name, p["title"], t["refId"])
    for v in dash.variables(d):
        if v["type"] == "query":
            assert v["datasource"]["uid"] in DATASOURCE_REFS, (path.name, v["name"])


def test_every_panel_has_a_unit(board):
    path, d = board
    for p in dash.panels(d):
        if p["type"] not in NO_UNIT_TYPES:
            assert p.get("fieldConfig", {}).get("defaults", {}).get("unit"), (path.name, p["title"])


def test_rates_use_the_rate_interval(board):
    path, d = board
    for q in dash.queries(d, path.name):
        for fn, arg in dash.call_arguments(q.expr, RATE_FUNCTIONS):
            ranges = dash.range_selectors(arg)
            assert ranges and all(r == "$__rate_interval" for r in ranges), (q.where(), fn, ranges)


def test_rate_interval_check_reads_calls():
    calls = dash.call_arguments('sum(rate(a{x="rate(b[5m])"}[1m])) / increase(c[$__rate_interval])',
                                RATE_FUNCTIONS)
    assert calls == [("rate", 'a{x=""}[1m]'), ("increase", "c[$__rate_interval]")]
    assert [dash.range_selectors(arg) for _, arg in calls] == [["1m"], ["$__rate_interval"]]


def test_variables_are_substituted_as_grafana_does():
    expr = 'rate(x{a=~"$a", b=~"${b}", c=~"${c:regex}"}[$__rate_interval]) > $__unknown'
    assert dash.substitute(expr, {"b": "node-1"}) == 'rate(x{a=~".*", b=~"node-1", c=~".*"}[1m]) > $__unknown'


def test_metric_names_skip_strings_and_histogram_suffixes():
    expr = ('histogram_quantile(0.99, sum by (le) (rate(kubesim_a_seconds_bucket{job="kubesim_b"}[1m])))'
            " + kubesim_c_total + up + kubesim_d_count:rate1m")
    assert dash.metric_names(expr) == {"kubesim_a_seconds", "kubesim_c_total", "kubesim_d_count:rate1m"}


def promtool() -> str:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    # Not a skip: CI installs Debian's prometheus package, and a missing promtool
    # would otherwise let every PromQL typo through unnoticed.
    assert os.access(found, os.X_OK), "promtool not found: install Debian's prometheus package (see .ci/run)"
    return found


def test_every_expression_parses_as_a_recording_rule(tmp_path: Path):
    qs = dash.all_queries()
    assert qs
    rules = [{"record": f"kubesim_dashboard:expr_{i}", "expr": dash.substitute(q.expr)} for i, q in enumerate(qs)]
    # JSON is YAML, so promtool reads this file as it is.
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}, indent=1))
    run = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    index = "\n".join(f"expr_{i}: {q.where()}: {r['expr']}" for i, (q, r) in enumerate(zip(qs, rules)))
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{index}"
    assert f"{len(rules)} rules found" in run.stdout, run.stdout


def test_promtool_check_catches_a_bad_expression(tmp_path: Path):
    # Proves the test above would fail: promtool, given what it writes, rejects bad PromQL.
    path = tmp_path / "bad.rules.yml"
    bad = dash.substitute("sum(rate(kubesim_x_total[$__rate_interval])")
    path.write_text(json.dumps({"groups": [{"name": "g", "rules": [{"record": "r:x", "expr": bad}]}]}))
    run = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0


def defined_metric_names() -> set[str]:
    """Every metric family name the sources define, as Prometheus will see it."""
    text = "\n".join(p.read_text() for d in SOURCE_DIRS for p in sorted((dash.ROOT / d).rglob("*.py")))
    names = set(re.findall(r"[\"'](kubesim_[a-z0-9_]+)[\"']", text))
    # The store names its families through small helpers: gauge("term", ...) -> kubesim_store_term.
    store = STORE_METRICS.read_text()
    names |= {"kubesim_store_" + n for n in re.findall(r"\b(?:gauge|counter|histogram)\(\s*[\"']([a-z0-9_]+)[\"']",
                                                       store)}
    return names


def exported(name: str, defined: set[str]) -> bool:
    # prometheus-client exports a counter defined as "x" or "x_total" as x_total.
    return name in defined or (name.endswith("_total") and name.removesuffix("_total") in defined)


def test_every_metric_a_dashboard_reads_is_defined_in_the_code():
    defined = defined_metric_names()
    assert "kubesim_store_term" in defined and "kubesim_bus_messages_sent" in defined
    missing = sorted({f"{name} ({q.where()})" for q in dash.all_queries() for name in dash.metric_names(q.expr)
                      if not exported(name, defined)})
    assert not missing, "\n".join(missing)


def test_metric_name_check_rejects_unknown_names():
    defined = {"kubesim_a", "kubesim_b_total", "kubesim_c_seconds"}
    assert exported("kubesim_a_total", defined) and exported("kubesim_b_total", defined)
    assert exported("kubesim_c_seconds", defined)
    assert not exported("kubesim_b", defined) and not exported("kubesim_c", defined)
