"""Reading kubesim's Grafana dashboards the way Grafana would, for the tests that check them.

The structural tests (tests/test_dashboards.py) and the integration test that
evaluates every panel against a real Prometheus need the same things: every
dashboard file, its panels (rows and the panels inside collapsed rows
included), every query with where it came from, and each query with its
template variables substituted as Grafana substitutes them before it sends
the query. They live here so both read the dashboards identically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"

#: What Grafana's built-in interval variables become. 1m is at least four of the
#: 5 s scrape intervals, which is what $__rate_interval guarantees a rate() spans.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1m",
    "__rate_interval_ms": "60000",
    "__interval_ms": "60000",
    "__range_ms": "60000",
    "__range_s": "60",
}

#: A template variable with no value given matches everything, as the "All" option
#: (allValue ".*") does in every kubesim dashboard.
ALL = ".*"

# ${name}, ${name:format} and $name; names are word characters (Grafana's own rule).
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_IDENTIFIER = re.compile(r"(?<![\w:])[a-zA-Z_:][\w:]*")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Query:
    """One target of one panel: the expression and where it is."""

    file: str
    panel_id: int | None
    panel_title: str
    ref_id: str
    expr: str

    def where(self) -> str:
        return f"{self.file} panel {self.panel_id} {self.panel_title!r} target {self.ref_id}"


def dashboard_files(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included; a collapsed row keeps its panels inside it."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def top_level_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The panels laid out on the grid together (a collapsed row's own panels are not shown with them)."""
    return list(dashboard.get("panels", []))


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard.get("templating", {}).get("list", []))


def queries(dashboard: Mapping[str, Any], file: str = "") -> list[Query]:
    return [Query(file, p.get("id"), p.get("title", ""), t.get("refId", ""), t.get("expr", ""))
            for p in panels(dashboard) for t in p.get("targets", [])]


def all_queries(directory: Path = DASHBOARDS_DIR) -> list[Query]:
    return [q for path in dashboard_files(directory) for q in queries(load(path), path.name)]


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """``expr`` with its variables replaced as Grafana would before querying Prometheus.

    Built-in intervals become :data:`BUILTIN_VALUES`; a dashboard variable
    becomes ``values[name]``, or :data:`ALL` when not given. An unknown
    built-in (``$__something``) is left alone, so the query fails loudly
    rather than being quietly rewritten.
    """
    values = values or {}

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        if name.startswith("__"):
            return m.group(0)
        return values.get(name, ALL)

    return _VARIABLE.sub(replace, expr)


def without_strings(expr: str) -> str:
    """``expr`` with every string literal emptied, so label values are not read as names."""
    return _STRING.sub('""', expr)


def metric_names(expr: str, prefix: str = "kubesim_") -> set[str]:
    """Metric families ``expr`` reads whose names start with ``prefix``, histogram suffixes removed."""
    names = set()
    for ident in _IDENTIFIER.findall(without_strings(expr)):
        if not ident.startswith(prefix):
            continue
        for suffix in _HISTOGRAM_SUFFIXES:
            if ident.endswith(suffix):
                ident = ident[: -len(suffix)]
                break
        names.add(ident)
    return names


def call_arguments(expr: str, functions: tuple[str, ...]) -> list[tuple[str, str]]:
    """(function, argument text) for every call of one of ``functions`` in ``expr``."""
    found = []
    pattern = re.compile(r"(?<![\w:])(" + "|".join(map(re.escape, functions)) + r")\s*\(")
    text = without_strings(expr)
    for m in pattern.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        found.append((m.group(1), text[m.end():i - 1]))
    return found


def range_selectors(text: str) -> list[str]:
    """The contents of every ``[...]`` in ``text`` (range selectors and subqueries)."""
    return re.findall(r"\[([^\]]*)\]", text)


def overlaps(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    """Whether two gridPos rectangles share any cell."""
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
