"""The chaos run's report page: one self-contained HTML file, rendered in pure Python.

Why this exists: a chaos experiment ends with a journal (what was injected,
what recovered how fast, what the checkers concluded) and a history (every
workload operation). People read the outcome in a browser, often offline —
from a CI artifact, a copied ``runs/`` directory, a screenshot in a bug. So the
page carries everything inline: CSS, and an SVG timeline computed here, server
side. No scripts are needed to see anything (one tiny optional script adds a
"copy" button), no fonts, no CDN.

The renderer is a pure function of ``(journal, history)`` so it can be tested
without a cluster. It must survive journals from aborted runs, where any field
may be missing or of the wrong type, and histories of 100,000 events: the
timeline is drawn from fixed-size time buckets, so the page size depends on
the number of workloads and probes, not on the number of operations.

Public API: :func:`render` and :func:`write`.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["REPORT_FILE", "render", "write"]

REPORT_FILE = "report.html"

# About this many time buckets across the run. The bucket width is rounded up
# to a "nice" number (0.5 s rather than 0.306 s) so that ops/s per bucket is
# easy to read off; that leaves between 80 and 200 buckets.
TARGET_BUCKETS = 200
# Fail/info marks on the latency lane are one per (kind, bucket, workload);
# past this many they merge across workloads so the SVG stays small.
MAX_MARKS = 3000
# A check may list thousands of non-linearizable operations; the page shows
# the first ones, journal.json keeps them all.
MAX_OPERATIONS_SHOWN = 50
# Probe lane rows; further probe names share one "other probes" row.
MAX_PROBE_ROWS = 10
MAX_FAULT_LABEL_ROWS = 4

# Colour-blind-friendly-ish, distinct when printed in colour.
PALETTE = ("#1f6feb", "#e36209", "#2da44e", "#8250df", "#bf3989", "#0a7ea4", "#9a6700", "#57606a")
VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "unknown": "#b26b00"}
FAIL_COLOUR = "#cf222e"
INFO_COLOUR = "#b26b00"
FAULT_FILL = "#d1242f"
FAULT_OPACITY = 0.13
LANE_FILL = "#fbfcfd"  # a lane's background, a shade off white so that lanes read as boxes

# SVG geometry, in user units (the SVG scales to the page width; at a 1280 px
# window one unit is about one CSS pixel).
WIDTH = 1200
LEFT = 104  # room for the y tick labels and probe names
RIGHT = 18
PLOT_W = WIDTH - LEFT - RIGHT
CHAR_W = 6.4  # rough width of one 11 px sans-serif character, for label layout


# --- tolerant accessors: a journal from an aborted run may hold anything --------------


def _esc(value: Any) -> str:
    """Text from user files (experiment, fault and probe names) made safe for HTML and SVG."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float | None:
    """A finite number, or None: booleans and strings are not times."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list field; anything else in it is ignored."""
    if not isinstance(value, (list, tuple)):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: Any, default: str = "") -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def _strings(value: Any) -> list[str]:
    """A list of strings from a field that should be one (a lone string counts as one item)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [_text(item) for item in value if item is not None]
    return []


# --- number formatting ------------------------------------------------------------------


def _c(x: float) -> str:
    """An SVG coordinate: one decimal is below a pixel and keeps the file small."""
    s = f"{x:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _t(seconds: float | None, digits: int = 2) -> str:
    """A time since the run started, as shown in tables."""
    return "—" if seconds is None else f"{seconds:.{digits}f} s"


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _count(value: Any) -> str:
    number = _num(value)
    if number is None:
        return "—" if value is None else _esc(value)
    return f"{int(number):,}" if number == int(number) else f"{number:,.2f}"


def _compact(value: float) -> str:
    """A y tick label: 1200 -> 1.2k."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``raw``."""
    if not raw > 0 or not math.isfinite(raw):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if multiple * magnitude >= raw * (1 - 1e-9):
            return multiple * magnitude
    return 10.0 * magnitude


def _ticks(lo: float, hi: float, target: int) -> tuple[list[float], float]:
    """Nice tick values in [lo, hi], about ``target`` of them, and their step.

    The step is the 1, 2 or 5 times a power of ten nearest to span/target (not the
    next one up): a run of 60.3 s gets a tick every 5 s, not every 10 s.
    """
    raw = (hi - lo) / max(1, target)
    step = _nice_step(raw)
    if raw > 0 and math.isfinite(raw):
        exponent = math.floor(math.log10(raw))
        candidates = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1.0, 2.0, 5.0)]
        step = min(candidates, key=lambda c: abs(math.log(c / raw)))
    first = math.ceil(lo / step - 1e-9)
    ticks: list[float] = []
    i = first
    while i * step <= hi + step * 1e-9 and len(ticks) < 1000:
        ticks.append(round(i * step, 9))
        i += 1
    return ticks, step


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}"


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- the inputs, read once ----------------------------------------------------------------


@dataclass
class _Fault:
    id: str
    name: str
    action: str
    targets: list[str]
    selected: float | None
    injected: float | None
    healed: float | None
    error: str


def _faults(journal: Mapping[str, Any]) -> list[_Fault]:
    faults = []
    for i, raw in enumerate(_dicts(journal.get("faults"))):
        faults.append(
            _Fault(
                id=_text(raw.get("id")) or f"#{i + 1}",
                name=_text(raw.get("name")),
                action=_text(raw.get("action")),
                targets=_strings(raw.get("targets")),
                selected=_num(raw.get("selected_at")),
                injected=_num(raw.get("injected_at")),
                healed=_num(raw.get("healed_at")),
                error=_text(raw.get("error")),
            )
        )
    return faults


@dataclass
class _Phase:
    name: str
    start: float | None
    end: float | None


def _phases(journal: Mapping[str, Any]) -> list[_Phase]:
    return [
        _Phase(_text(p.get("name")), _num(p.get("start")), _num(p.get("end")))
        for p in _dicts(journal.get("phases"))
    ]


@dataclass
class _Probe:
    name: str
    phase: str
    time: float | None
    ok: bool
    detail: str


def _probes(journal: Mapping[str, Any]) -> list[_Probe]:
    # Anything but an explicit ok=true is a failure: a probe that could not
    # tell is not evidence the system was fine.
    return [
        _Probe(
            _text(p.get("name"), "(unnamed)"),
            _text(p.get("phase"), "—"),
            _num(p.get("time")),
            p.get("ok") is True,
            _text(p.get("detail")),
        )
        for p in _dicts(journal.get("probes"))
    ]


@dataclass
class _Event:
    time: float
    type: str
    workload: str
    latency: float | None
    error: str


def _events(history: Any) -> list[_Event]:
    """The history's completions and invocations that carry a time; the rest is ignored."""
    if not isinstance(history, (list, tuple)):
        return []
    events = []
    for raw in history:
        if not isinstance(raw, Mapping):
            continue
        time = _num(raw.get("time"))
        if time is None:
            continue
        events.append(
            _Event(
                time,
                _text(raw.get("type")),
                _text(raw.get("workload"), "workload"),
                _num(raw.get("latency")),
                _text(raw.get("error")),
            )
        )
    return events


def _domain(
    journal: Mapping[str, Any],
    events: Sequence[_Event],
    faults: Sequence[_Fault],
    phases: Sequence[_Phase],
    probes: Sequence[_Probe],
) -> tuple[float, float]:
    """The x range: from the run's start to the last thing that happened or was planned."""
    times: list[float] = [0.0]
    duration = _num(journal.get("duration_s"))
    if duration is not None:
        times.append(duration)
    if events:
        times.append(min(e.time for e in events))
        times.append(max(e.time for e in events))
    for fault in faults:
        times.extend(t for t in (fault.selected, fault.injected, fault.healed) if t is not None)
    for phase in phases:
        times.extend(t for t in (phase.start, phase.end) if t is not None)
    probe_times = [p.time for p in probes if p.time is not None]
    if probe_times:
        times.extend((min(probe_times), max(probe_times)))
    lo, hi = min(times), max(times)
    if hi - lo < 1e-9:
        hi = lo + 1.0
    return lo, hi


@dataclass
class _Workload:
    """One workload's operations, per time bucket (for the plot) and overall (for the table)."""

    ok: list[int]
    latencies: list[list[float]]
    # "fail"/"info" -> bucket -> (count, largest latency or None)
    bad: dict[str, dict[int, tuple[int, float | None]]] = field(default_factory=dict)
    types: Counter[str] = field(default_factory=Counter)
    all_ok_latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class _Buckets:
    lo: float
    width: float
    count: int

    def index(self, time: float) -> int:
        return min(self.count - 1, max(0, int((time - self.lo) / self.width)))

    def start(self, i: int) -> float:
        return self.lo + i * self.width


def _bucketise(events: Sequence[_Event], buckets: _Buckets) -> dict[str, _Workload]:
    workloads: dict[str, _Workload] = {}
    for e in events:
        w = workloads.get(e.workload)
        if w is None:
            w = workloads[e.workload] = _Workload(
                [0] * buckets.count, [[] for _ in range(buckets.count)]
            )
        w.types[e.type] += 1
        if e.type == "invoke":
            continue
        i = buckets.index(e.time)
        if e.type == "ok":
            w.ok[i] += 1
            if e.latency is not None:
                w.latencies[i].append(e.latency)
                w.all_ok_latencies.append(e.latency)
        elif e.type in ("fail", "info"):
            per_bucket = w.bad.setdefault(e.type, {})
            n, worst = per_bucket.get(i, (0, None))
            if e.latency is not None and (worst is None or e.latency > worst):
                worst = e.latency
            per_bucket[i] = (n + 1, worst)
            w.errors[f"{e.type}: {e.error or '(no error given)'}"] += 1
    return workloads


# --- the timeline ----------------------------------------------------------------------------


class _Svg:
    """An SVG document built as a list of strings; every attribute value passes through here."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(self, x: float, y: float, content: str, cls: str, anchor: str = "start", title: str = "") -> None:
        tip = f"<title>{_esc(title)}</title>" if title else ""
        self.add(
            f'<text class="{cls}" x="{_c(x)}" y="{_c(y)}" text-anchor="{anchor}">{_esc(content)}{tip}</text>'
        )


def _truncate(text: str, width_px: float) -> str:
    fits = max(1, int(width_px / CHAR_W))
    return text if len(text) <= fits else text[: max(1, fits - 1)] + "…"


def _timeline(
    domain: tuple[float, float],
    buckets: _Buckets,
    per_workload: Mapping[str, _Workload],
    faults: Sequence[_Fault],
    phases: Sequence[_Phase],
    probes: Sequence[_Probe],
    workload_names: Sequence[str],
) -> str:
    lo, hi = domain
    span = hi - lo
    width = buckets.width

    def x(t: float) -> float:
        return LEFT + (t - lo) / span * PLOT_W

    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(workload_names)}

    svg = _Svg()
    y = 4.0

    # Phase strip: named bands, so "faults" and "recovery" read at a glance.
    phase_top, phase_h = y, 18.0
    y += phase_h + 4

    # Fault labels: greedy rows so that overlapping windows keep readable labels.
    label_rows: list[float] = []  # right edge, in x, of the last label in each row
    labels: list[tuple[_Fault, int, str, float]] = []
    for fault in sorted(faults, key=lambda f: (f.injected if f.injected is not None else f.selected or lo)):
        start = fault.injected if fault.injected is not None else fault.selected
        if start is None:
            continue
        label = f"{fault.id} · {fault.name}" if fault.name else fault.id
        if fault.injected is None:
            label += " — injection failed"
        elif fault.healed is None:
            label += " (never healed)"
        label = label[:48] + "…" if len(label) > 49 else label
        x0 = x(start)
        x1 = x0 + 8 + CHAR_W * len(label)
        if x1 > LEFT + PLOT_W:  # keep labels near the right edge inside the plot
            x0 = max(LEFT, LEFT + PLOT_W - (x1 - x0))
            x1 = LEFT + PLOT_W
        row = next((r for r, edge in enumerate(label_rows) if edge < x0), None)
        if row is None:
            if len(label_rows) < MAX_FAULT_LABEL_ROWS:
                row = len(label_rows)
                label_rows.append(0.0)
            else:
                row = min(range(len(label_rows)), key=label_rows.__getitem__)
        label_rows[row] = x1
        labels.append((fault, row, label, x0))
    fault_label_top = y
    y += 15.0 * len(label_rows) + (4 if label_rows else 0)

    lanes_top = y
    lane_header = 18.0

    # Throughput lane.
    tp_top = y + lane_header
    tp_h = 170.0
    y = tp_top + tp_h + 8
    # Latency lane.
    lat_top = y + lane_header
    lat_h = 150.0
    y = lat_top + lat_h + 8
    # Probe lane: one row per probe name, failures in red.
    probe_names = _probe_rows(probes)
    row_h = 14.0
    pr_top = y + lane_header
    pr_h = max(26.0, row_h * len(probe_names) + 8)
    y = pr_top + pr_h
    lanes_bottom = y

    axis_y = lanes_bottom
    y += 34  # tick labels and the axis title
    legend_top = y

    # --- background: phase bands, fault windows, gridlines -----------------------------
    for i, phase in enumerate(phases):
        if phase.start is None:
            continue
        end = phase.end if phase.end is not None else hi
        x0, x1 = x(phase.start), x(max(end, phase.start))
        svg.add(
            f'<rect class="phase-band" x="{_c(x0)}" y="{_c(phase_top)}" width="{_c(max(0.5, x1 - x0))}" '
            f'height="{_c(phase_h)}" fill="{"#eef1f4" if i % 2 == 0 else "#e2e7ec"}"/>'
        )
        name = _truncate(phase.name, x1 - x0 - 6)
        if x1 - x0 >= CHAR_W * 2:
            svg.text(
                (x0 + x1) / 2, phase_top + 13, name, "phase-label", "middle",
                title=f"phase {phase.name}: {_t(phase.start)} – {_t(phase.end)}",
            )

    lane_boxes = ((tp_top, tp_h), (lat_top, lat_h), (pr_top, pr_h))
    for top, height in lane_boxes:
        svg.add(
            f'<rect class="lane" x="{LEFT}" y="{_c(top)}" width="{PLOT_W}" height="{_c(height)}" '
            f'fill="{LANE_FILL}" stroke="#d0d7de" stroke-width="1"/>'
        )

    for fault, row, label, label_x in labels:
        label_y = fault_label_top + 15.0 * row + 11
        if fault.injected is None:
            # Nothing was injected: a dashed line where it was attempted, no window.
            xs = x(fault.selected if fault.selected is not None else lo)
            svg.add(
                f'<line class="fault-failed" data-fault="{_esc(fault.id)}" x1="{_c(xs)}" y1="{_c(lanes_top)}" '
                f'x2="{_c(xs)}" y2="{_c(lanes_bottom)}" stroke="{FAIL_COLOUR}" stroke-width="1.5" '
                f'stroke-dasharray="4 3"><title>{_esc(fault.id)}: injection failed: {_esc(fault.error)}</title></line>'
            )
            svg.text(label_x + 3, label_y, label, "fault-label failed", title=f"{fault.id}: {fault.error}")
            continue
        healed = fault.healed if fault.healed is not None else hi
        x0, x1 = x(fault.injected), x(max(healed, fault.injected))
        cls = "fault-window" if fault.healed is not None else "fault-window unhealed"
        title = (
            f"{fault.id} {fault.name}: {fault.action} {', '.join(fault.targets)} — injected at "
            f"{_t(fault.injected)}, "
            + (f"healed at {_t(fault.healed)}" if fault.healed is not None else "never healed")
        )
        svg.add(
            f'<rect class="{cls}" data-fault="{_esc(fault.id)}" x="{_c(x0)}" y="{_c(lanes_top)}" '
            f'width="{_c(max(1.0, x1 - x0))}" height="{_c(lanes_bottom - lanes_top)}" '
            f'fill="{FAULT_FILL}" fill-opacity="{FAULT_OPACITY}"><title>{_esc(title)}</title></rect>'
        )
        svg.add(
            f'<line class="fault-edge" x1="{_c(x0)}" y1="{_c(label_y - 9)}" x2="{_c(x0)}" y2="{_c(lanes_bottom)}" '
            f'stroke="{FAULT_FILL}" stroke-opacity="0.55" stroke-width="1"/>'
        )
        if fault.healed is None:
            # The window runs off the end of the plot: an arrow says it never closed.
            ax = LEFT + PLOT_W
            svg.add(
                f'<path class="unhealed-mark" d="M{_c(ax - 8)} {_c(lanes_top + 2)}l8 6-8 6z" fill="{FAULT_FILL}"/>'
            )
        svg.text(label_x + 3, label_y, label, "fault-label", title=title)

    x_ticks, x_step = _ticks(lo, hi, 12)
    for tick in x_ticks:
        tx = x(tick)
        svg.add(
            f'<line class="grid" x1="{_c(tx)}" y1="{_c(tp_top)}" x2="{_c(tx)}" y2="{_c(axis_y)}" '
            'stroke="#d0d7de" stroke-width="0.6" stroke-dasharray="2 3"/>'
        )

    # Phase boundaries: thin lines through every lane.
    boundaries: dict[float, str] = {}
    for phase in phases:
        for t in (phase.start, phase.end):
            if t is not None:
                boundaries.setdefault(round(t, 6), phase.name)
    for t in sorted(boundaries):
        bx = x(t)
        svg.add(
            f'<line class="phase-boundary" x1="{_c(bx)}" y1="{_c(phase_top)}" x2="{_c(bx)}" y2="{_c(axis_y)}" '
            'stroke="#57606a" stroke-width="0.8" stroke-opacity="0.7"/>'
        )

    # --- lane headers ------------------------------------------------------------------------
    svg.text(
        LEFT, tp_top - 5,
        f"Throughput — ok operations/s per workload ({_tick_label(width, width)} s buckets)",
        "lane-title",
    )

    # --- throughput -----------------------------------------------------------------------------
    def rate(i: int, n: int) -> float | None:
        # The last bucket may be cut short by the end of the run: divide by the
        # time it covers, and leave out a sliver too short to mean anything.
        covered = min(width, hi - buckets.start(i))
        return n / covered if covered >= width / 4 else None

    peak = max(
        (r for w in per_workload.values() for i, n in enumerate(w.ok) if (r := rate(i, n)) is not None),
        default=0.0,
    )
    tp_ticks, _ = _ticks(0.0, peak if peak > 0 else 1.0, 4)
    tp_max = max(tp_ticks[-1], peak) if tp_ticks else 1.0
    if tp_max <= 0:
        tp_max = 1.0

    def ty(rate: float) -> float:
        return tp_top + tp_h - rate / tp_max * (tp_h - 6)

    # An empty lane gets no scale: numbers on nothing would suggest a measured zero.
    for tick in tp_ticks if per_workload else []:
        svg.add(
            f'<line class="grid" x1="{LEFT}" y1="{_c(ty(tick))}" x2="{LEFT + PLOT_W}" y2="{_c(ty(tick))}" '
            'stroke="#d0d7de" stroke-width="0.6"/>'
        )
        svg.text(LEFT - 6, ty(tick) + 4, _compact(tick), "y-tick", "end")

    def centre(i: int) -> float:
        return x(min(hi, buckets.start(i) + width / 2))

    if not per_workload:
        svg.text(LEFT + PLOT_W / 2, tp_top + tp_h / 2, "no workload operations recorded", "empty", "middle")
    for name in workload_names:
        w = per_workload.get(name)
        if w is None:
            continue
        points = " ".join(
            f"{_c(centre(i))},{_c(ty(r))}" for i, n in enumerate(w.ok) if (r := rate(i, n)) is not None
        )
        svg.add(
            f'<polyline class="throughput" data-workload="{_esc(name)}" points="{points}" fill="none" '
            f'stroke="{colours[name]}" stroke-width="1.8" stroke-linejoin="round"/>'
        )

    # --- latency ---------------------------------------------------------------------------------
    stats: dict[str, list[tuple[int, float, float]]] = {}  # workload -> (bucket, p50, max)
    values: list[float] = []
    for name, w in per_workload.items():
        rows = []
        for i, lats in enumerate(w.latencies):
            if lats:
                lats.sort()
                rows.append((i, _quantile(lats, 0.5), lats[-1]))
                values.append(rows[-1][1])
                values.append(lats[-1])
        stats[name] = rows
        for per_bucket in w.bad.values():
            values.extend(v for _, v in per_bucket.values() if v is not None)
    positive = [v for v in values if v > 0]
    log_scale = bool(positive) and max(positive) / min(positive) >= 30
    if log_scale:
        dec_lo = math.floor(math.log10(min(positive)))
        dec_hi = math.ceil(math.log10(max(positive)))
        if dec_hi <= dec_lo:
            dec_hi = dec_lo + 1
        floor_v = 10.0**dec_lo

        def ly(v: float) -> float:
            frac = (math.log10(max(v, floor_v)) - dec_lo) / (dec_hi - dec_lo)
            return lat_top + lat_h - min(1.0, frac) * (lat_h - 6)

        lat_ticks = [10.0**d for d in range(dec_lo, dec_hi + 1)]
    else:
        lat_ticks, _ = _ticks(0.0, max(values) if values and max(values) > 0 else 1.0, 4)
        lat_max = max(lat_ticks[-1], max(values, default=0.0)) or 1.0

        def ly(v: float) -> float:
            # Clamped: a negative latency (a clock step) must not leave the lane.
            return lat_top + lat_h - min(1.0, max(0.0, v / lat_max)) * (lat_h - 6)

    svg.text(
        LEFT, lat_top - 5,
        f"Latency of ok operations ({'log' if log_scale else 'linear'} scale) — "
        "p50 solid, max dashed; ✕ fail, ◆ info",
        "lane-title",
    )
    for tick in lat_ticks if values else []:
        svg.add(
            f'<line class="grid" x1="{LEFT}" y1="{_c(ly(tick))}" x2="{LEFT + PLOT_W}" y2="{_c(ly(tick))}" '
            'stroke="#d0d7de" stroke-width="0.6"/>'
        )
        svg.text(LEFT - 6, ly(tick) + 4, _latency(tick) if tick > 0 else "0", "y-tick", "end")

    def path(points: list[tuple[int, float]]) -> str:
        # Buckets with no ok operation leave a gap rather than a misleading line.
        parts: list[str] = []
        previous = -2
        for i, v in points:
            op = "L" if i == previous + 1 else "M"
            parts.append(f"{op}{_c(centre(i))} {_c(ly(v))}")
            previous = i
        return "".join(parts)

    for name in workload_names:
        rows = stats.get(name)
        if not rows:
            continue
        colour = colours[name]
        svg.add(
            f'<path class="latency-max" data-workload="{_esc(name)}" d="{path([(i, m) for i, _, m in rows])}" '
            f'fill="none" stroke="{colour}" stroke-width="1" stroke-dasharray="3 2" stroke-opacity="0.8" '
            'stroke-linecap="round"/>'
        )
        svg.add(
            f'<path class="latency-p50" data-workload="{_esc(name)}" d="{path([(i, p) for i, p, _ in rows])}" '
            f'fill="none" stroke="{colour}" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>'
        )
    if not values and per_workload:
        svg.text(LEFT + PLOT_W / 2, lat_top + lat_h / 2, "no latencies recorded", "empty", "middle")

    # Hover columns: a native tooltip per bucket with the numbers behind the lines.
    for i in range(buckets.count):
        lines = []
        for name in workload_names:
            w = per_workload.get(name)
            if w is None:
                continue
            lat = next((r for r in stats.get(name, []) if r[0] == i), None) if w.ok[i] else None
            ok_rate = rate(i, w.ok[i])
            bits = [f"{name}: {w.ok[i]} ok" + (f" ({ok_rate:.4g}/s)" if ok_rate is not None else "")]
            if lat is not None:
                bits.append(f"p50 {_latency(lat[1])}, max {_latency(lat[2])}")
            for kind in ("fail", "info"):
                n = w.bad.get(kind, {}).get(i, (0, None))[0]
                if n:
                    bits.append(f"{n} {kind}")
            if w.ok[i] or len(bits) > 1:
                lines.append(", ".join(bits))
        if not lines:
            continue
        x0 = x(buckets.start(i))
        x1 = x(min(hi, buckets.start(i) + width))
        t0 = buckets.start(i)
        tip = f"{_tick_label(t0, width)}–{_tick_label(t0 + width, width)} s\n" + "\n".join(lines)
        svg.add(
            f'<rect class="hover" x="{_c(x0)}" y="{_c(tp_top)}" width="{_c(max(0.5, x1 - x0))}" '
            f'height="{_c(lat_top + lat_h - tp_top)}" fill="#000" fill-opacity="0"><title>{_esc(tip)}</title></rect>'
        )

    # Fail and info completions, one mark per bucket (merged across workloads when there are many).
    marks: dict[tuple[str, int, str], tuple[int, float | None]] = {}
    for name, w in per_workload.items():
        for kind, per_bucket in w.bad.items():
            for i, (n, worst) in per_bucket.items():
                marks[(kind, i, name)] = (n, worst)
    if len(marks) > MAX_MARKS:
        merged: dict[tuple[str, int, str], tuple[int, float | None]] = {}
        for (kind, i, _name), (n, worst) in marks.items():
            m, w_worst = merged.get((kind, i, "all workloads"), (0, None))
            best = max((v for v in (worst, w_worst) if v is not None), default=None)
            merged[(kind, i, "all workloads")] = (m + n, best)
        marks = merged
    for (kind, i, name), (n, worst) in sorted(marks.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        mx = centre(i)
        my = ly(worst) if worst is not None else lat_top + 6
        my = min(lat_top + lat_h - 4, max(lat_top + 4, my))
        t0 = buckets.start(i)
        tip = (
            f"{n} {kind} completion{'s' if n != 1 else ''} of {name} in "
            f"{_tick_label(t0, width)}–{_tick_label(t0 + width, width)} s"
            + (f", slowest {_latency(worst)}" if worst is not None else "")
        )
        if kind == "fail":
            d = f"M{_c(mx - 3)} {_c(my - 3)}l6 6m0-6l-6 6"
            svg.add(
                f'<path class="mark-fail" data-workload="{_esc(name)}" d="{d}" stroke="{FAIL_COLOUR}" '
                f'stroke-width="1.6"><title>{_esc(tip)}</title></path>'
            )
        else:
            d = f"M{_c(mx)} {_c(my - 4)}l4 4-4 4-4-4z"
            svg.add(
                f'<path class="mark-info" data-workload="{_esc(name)}" d="{d}" fill="{INFO_COLOUR}">'
                f"<title>{_esc(tip)}</title></path>"
            )

    # --- probes ------------------------------------------------------------------------------------
    failed_total = sum(1 for p in probes if not p.ok)
    svg.text(
        LEFT, pr_top - 5,
        f"Probes — failed results in red ({failed_total:,} of {len(probes):,} failed), passing in grey",
        "lane-title",
    )
    if not probes:
        svg.text(LEFT + PLOT_W / 2, pr_top + pr_h / 2 + 4, "no probe results recorded", "empty", "middle")
    row_of = {name: r for r, name in enumerate(probe_names)}
    other_row = row_of.get("other probes")
    cells: dict[tuple[int, int], list[Any]] = {}  # (row, bucket) -> [passed, failed, first failure]
    for probe in probes:
        if probe.time is None:
            continue
        row = row_of.get(probe.name, other_row)
        if row is None:
            continue
        cell = cells.setdefault((row, buckets.index(probe.time)), [0, 0, None])
        if probe.ok:
            cell[0] += 1
        else:
            cell[1] += 1
            if cell[2] is None:
                cell[2] = probe
    for r, name in enumerate(probe_names):
        ry = pr_top + 4 + r * row_h
        svg.text(LEFT - 6, ry + 10, _truncate(name, LEFT - 8), "probe-name", "end", title=name)
    # Adjacent buckets in the same state merge into one mark: failures cluster
    # in fault windows, so a row is usually a few runs, not hundreds of cells.
    runs: list[tuple[int, int, int, bool, int, int, _Probe | None]] = []  # row, first, last, failed?, ...
    for (row, i), (passed, failed, first) in sorted(cells.items()):
        bad = failed > 0
        if runs and runs[-1][0] == row and runs[-1][2] == i - 1 and runs[-1][3] == bad:
            r, first_i, _, _, p, f, earliest = runs[-1]
            runs[-1] = (r, first_i, i, bad, p + passed, f + failed, earliest or first)
        else:
            runs.append((row, i, i, bad, passed, failed, first))
    for row, first_i, last_i, bad, passed, failed, first in runs:
        ry = pr_top + 4 + row * row_h
        x0, x1 = x(buckets.start(first_i)), x(min(hi, buckets.start(last_i) + width))
        if bad and first is not None:
            when = (
                f"{_tick_label(buckets.start(first_i), width)}–"
                f"{_tick_label(buckets.start(last_i) + width, width)} s"
            )
            tip = (
                f"{_truncate(probe_names[row], 80 * CHAR_W)}: {failed} failed, {passed} passed in {when}; "
                f"first failure at {_t(first.time)}: {_truncate(first.detail, 160 * CHAR_W)}"
            )
            svg.add(
                f'<rect class="probe-fail" x="{_c(x0)}" y="{_c(ry + 1)}" width="{_c(max(2.0, x1 - x0))}" '
                f'height="{_c(row_h - 4)}" fill="{FAIL_COLOUR}"><title>{_esc(tip)}</title></rect>'
            )
        else:
            svg.add(
                f'<rect class="probe-pass" x="{_c(x0)}" y="{_c(ry + 5)}" width="{_c(max(1.0, x1 - x0))}" '
                'height="2" fill="#8c959f" fill-opacity="0.6"/>'
            )

    # --- x axis --------------------------------------------------------------------------------------
    svg.add(
        f'<line class="axis" x1="{LEFT}" y1="{_c(axis_y)}" x2="{LEFT + PLOT_W}" y2="{_c(axis_y)}" stroke="#57606a"/>'
    )
    for tick in x_ticks:
        tx = x(tick)
        svg.add(f'<line x1="{_c(tx)}" y1="{_c(axis_y)}" x2="{_c(tx)}" y2="{_c(axis_y + 4)}" stroke="#57606a"/>')
        svg.text(tx, axis_y + 16, _tick_label(tick, x_step), "x-tick", "middle")
    svg.text(LEFT + PLOT_W / 2, axis_y + 30, "seconds since the run started (cluster time)", "axis-title", "middle")

    # --- legend (inside the SVG so that a screenshot of the plot alone is complete) --------------------
    items: list[tuple[str, str]] = []  # (swatch markup, label)
    for name in workload_names:
        if name in per_workload:
            items.append((f'<rect x="0" y="-6" width="16" height="3" fill="{colours[name]}"/>', name))
    fault_swatch = (
        f'<rect x="0" y="-10" width="14" height="12" fill="{FAULT_FILL}" fill-opacity="{FAULT_OPACITY * 2:g}"/>'
    )
    items.append((fault_swatch, "fault window"))
    items.append(('<line x1="7" y1="-11" x2="7" y2="3" stroke="#57606a"/>', "phase boundary"))
    items.append((f'<path d="M4 -7l6 6m0-6l-6 6" stroke="{FAIL_COLOUR}" stroke-width="1.6"/>', "fail"))
    items.append((f'<path d="M7 -8l4 4-4 4-4-4z" fill="{INFO_COLOUR}"/>', "info (indeterminate)"))
    items.append((f'<rect x="0" y="-9" width="6" height="10" fill="{FAIL_COLOUR}"/>', "probe failed"))
    lx, ly_ = float(LEFT), legend_top + 12
    for swatch, label in items:
        label = label if len(label) <= 40 else label[:39] + "…"
        item_w = 22 + CHAR_W * len(label) + 18
        if lx + item_w > LEFT + PLOT_W and lx > LEFT:
            lx, ly_ = float(LEFT), ly_ + 18
        svg.add(f'<g class="legend-item" transform="translate({_c(lx)} {_c(ly_)})">{swatch}</g>')
        svg.text(lx + 20, ly_, label, "legend-label")
        lx += item_w
    height = ly_ + 10

    head = (
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_c(height)}" '
        f'width="{WIDTH}" height="{_c(height)}" role="img" aria-label="Timeline of workload throughput and latency '
        f'with fault windows" data-t-min="{lo:g}" data-t-max="{hi:g}" data-x-min="{LEFT}" data-x-max="{LEFT + PLOT_W}" '
        f'data-bucket-s="{width:g}" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif" '
        'font-size="11">'
    )
    return head + "".join(svg.parts) + "</svg>"


def _probe_rows(probes: Sequence[_Probe]) -> list[str]:
    """Probe names for the lane's rows: those that failed first, at most MAX_PROBE_ROWS."""
    order: dict[str, int] = {}
    failed: set[str] = set()
    for p in probes:
        order.setdefault(p.name, len(order))
        if not p.ok:
            failed.add(p.name)
    names = sorted(order, key=lambda n: (n not in failed, order[n]))
    if len(names) > MAX_PROBE_ROWS:
        names = sorted(names[: MAX_PROBE_ROWS - 1], key=order.__getitem__) + ["other probes"]
    else:
        names = sorted(names, key=order.__getitem__)
    return names


# --- tables ----------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[str], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _faults_section(faults: Sequence[_Fault]) -> str:
    if not faults:
        return '<p class="empty">No faults were recorded.</p>'
    rows = []
    for f in faults:
        if f.injected is None:
            state, cls = "not injected", "bad"
        elif f.healed is None:
            state, cls = "never healed", "bad"
        else:
            state, cls = _t(f.healed - f.injected), ""
        targets = ", ".join(f"<code>{_esc(t)}</code>" for t in f.targets) or "—"
        rows.append(
            f'<tr class="{cls}"><td><code>{_esc(f.id)}</code></td><td>{_esc(f.name)}</td><td>{_esc(f.action)}</td>'
            f'<td>{targets}</td><td class="num">{_t(f.selected)}</td><td class="num">{_t(f.injected)}</td>'
            f'<td class="num">{_t(f.healed)}</td><td class="num">{_esc(state)}</td>'
            f'<td class="{"error" if f.error else ""}">{_esc(f.error) or "—"}</td></tr>'
        )
    return _table(["id", "fault", "action", "targets", "selected", "injected", "healed", "window", "error"], rows)


def _phases_section(phases: Sequence[_Phase]) -> str:
    if not phases:
        return ""
    cells = "".join(
        f"<li><strong>{_esc(p.name)}</strong> {_t(p.start, 1)} – {_t(p.end, 1)}</li>" for p in phases
    )
    return f'<ul class="phases">{cells}</ul>'


def _recovery_section(journal: Mapping[str, Any]) -> str:
    measures = _dicts(journal.get("recovery"))
    if not measures:
        return '<p class="empty">No recovery times were measured.</p>'
    rows = []
    for m in measures:
        seconds, expected_s = _num(m.get("seconds")), _num(m.get("expected_s"))
        if seconds is None:
            status, cls = "never observed", "slow"
        elif expected_s is not None and seconds > expected_s:
            factor = f" (×{seconds / expected_s:.1f})" if expected_s > 0 else ""
            status, cls = f"slower than expected{factor}", "slow"
        elif expected_s is not None:
            status, cls = "within expectation", "ok"
        else:
            status, cls = "no expectation", ""
        expected = _t(expected_s) if expected_s is not None else "—"
        why = _text(m.get("expected"))
        fault = f"<code>{_esc(m.get('fault'))}</code>" if m.get("fault") is not None else "—"
        subject = f'<br><span class="why">{_esc(m.get("subject"))}</span>' if m.get("subject") else ""
        rows.append(
            f'<tr class="{cls}"><td>{_esc(m.get("measure"))}{subject}</td><td>{fault}</td>'
            f'<td class="num">{_t(seconds)}</td><td class="num">{expected}</td><td class="why">{_esc(why)}</td>'
            f'<td class="status">{_esc(status)}</td></tr>'
        )
    return _table(["measure", "fault", "measured", "expected", "expectation from", "status"], rows)


def _result_badge(result: str) -> str:
    cls = result if result in VERDICT_COLOURS else "unknown"
    return f'<span class="pill pill-{cls}">{_esc(result or "unknown")}</span>'


def _checks_section(journal: Mapping[str, Any]) -> str:
    checks = _dicts(journal.get("checks"))
    if not checks:
        return '<p class="empty">No checks were run.</p>'
    rows = []
    for check in checks:
        result = _text(check.get("result"), "unknown")
        rows.append(
            f'<tr><td>{_esc(check.get("name"))}</td><td>{_result_badge(result)}</td>'
            f'<td>{_esc(check.get("detail"))}</td></tr>'
        )
        operations = _strings(check.get("operations"))
        if operations:
            shown = operations[:MAX_OPERATIONS_SHOWN]
            more = len(operations) - len(shown)
            note = f"\n… and {more:,} more in journal.json" if more > 0 else ""
            rows.append(
                f'<tr class="operations"><td colspan="3"><div class="ops-title">Offending operations '
                f"({len(operations):,})</div><pre>{_esc(chr(10).join(shown) + note)}</pre></td></tr>"
            )
    return _table(["check", "result", "detail"], rows, "checks")


def _probes_section(probes: Sequence[_Probe]) -> str:
    if not probes:
        return '<p class="empty">No probe results were recorded.</p>'
    summary: dict[tuple[str, str], list[Any]] = {}  # -> [passed, failed, first failure]
    for p in probes:
        entry = summary.setdefault((p.name, p.phase), [0, 0, None])
        if p.ok:
            entry[0] += 1
        else:
            entry[1] += 1
            if entry[2] is None:
                entry[2] = p
    rows = []
    for (name, phase), (passed, failed, first) in summary.items():
        where = f"{_t(first.time)}: {first.detail}" if first is not None else "—"
        rows.append(
            f'<tr class="{"bad" if failed else ""}"><td>{_esc(name)}</td><td>{_esc(phase)}</td>'
            f'<td class="num">{passed + failed:,}</td><td class="num">{passed:,}</td><td class="num">{failed:,}</td>'
            f'<td>{_esc(where)}</td></tr>'
        )
    return _table(["probe", "phase", "results", "passed", "failed", "first failure"], rows)


def _workload_count(kind: str, journal_counts: Mapping[str, Any], w: _Workload | None) -> str:
    # The journal's totals are authoritative; the history may be partial.
    if kind in journal_counts:
        return _count(journal_counts.get(kind))
    return f"{w.types[kind]:,}" if w is not None else "—"


def _workloads_section(
    journal: Mapping[str, Any], per_workload: Mapping[str, _Workload], names: Sequence[str]
) -> str:
    counted = _mapping(journal.get("workloads"))
    if not names:
        return '<p class="empty">No workload ran.</p>'
    rows = []
    for name in names:
        w = per_workload.get(name)
        journal_counts = _mapping(counted.get(name))
        ok, fail, info = (_workload_count(kind, journal_counts, w) for kind in ("ok", "fail", "info"))
        lats = sorted(w.all_ok_latencies) if w is not None else []
        p50 = _latency(_quantile(lats, 0.5)) if lats else "—"
        p99 = _latency(_quantile(lats, 0.99)) if lats else "—"
        worst = _latency(lats[-1]) if lats else "—"
        errors = "<br>".join(
            f"{n:,}× {_esc(e)}" for e, n in (w.errors.most_common(3) if w is not None else [])
        ) or "—"
        rows.append(
            f'<tr><td>{_esc(name)}</td><td class="num">{ok}</td><td class="num">{fail}</td>'
            f'<td class="num">{info}</td><td class="num">{p50}</td><td class="num">{p99}</td>'
            f'<td class="num">{worst}</td><td class="errors">{errors}</td></tr>'
        )
    return _table(["workload", "ok", "fail", "info", "p50 latency", "p99", "max", "most common errors"], rows)


def _cluster_section(journal: Mapping[str, Any]) -> str:
    cluster = _mapping(journal.get("cluster"))
    if not cluster:
        return ""
    processes = _strings(cluster.get("processes"))
    chips = " ".join(f"<code>{_esc(p)}</code>" for p in processes) or "—"
    return (
        '<section><h2>Cluster</h2><dl class="meta">'
        f'<dt>config</dt><dd><code>{_esc(cluster.get("config")) or "—"}</code></dd>'
        f'<dt>processes ({len(processes)})</dt><dd class="chips">{chips}</dd></dl></section>'
    )


# --- the page ------------------------------------------------------------------------------------------

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--unknown:#b26b00;--ink:#1f2328;--muted:#59636e;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 20px 40px}
code,pre{font-family:ui-monospace,SFMono-Regular,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
code{background:var(--soft);border:1px solid #e5e8eb;border-radius:4px;padding:0 4px}
header.top{display:flex;gap:24px;align-items:flex-start;justify-content:space-between;border-bottom:1px solid var(--line);padding-bottom:16px}
.kicker{margin:0;color:var(--muted);font-size:12px;letter-spacing:.08em;text-transform:uppercase}
h1{margin:2px 0 6px;font-size:28px;line-height:1.2;word-break:break-word}
h2{margin:0 0 10px;font-size:18px}
.description{margin:0 0 8px;max-width:80ch}
.badge{display:inline-block;min-width:150px;text-align:center;padding:12px 26px;border-radius:10px;color:#fff;font-size:28px;font-weight:800;letter-spacing:.08em;text-transform:uppercase}
.verdict-pass{background:var(--pass)}.verdict-fail{background:var(--fail)}.verdict-unknown{background:var(--unknown)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;color:var(--muted);font-size:13px}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;color:var(--ink)}
.reasons{margin:14px 0 0;padding:10px 14px 10px 30px;border-radius:8px;border-left:5px solid var(--unknown);background:#fff8e6}
.reasons.fail{border-color:var(--fail);background:#ffebe9}.reasons.pass{border-color:var(--pass);background:#dafbe1}
section{margin-top:28px}
.cmd{display:flex;gap:8px;align-items:stretch}
.cmd code{flex:1;display:block;padding:10px 12px;font-size:13px;background:#0d1117;color:#e6edf3;border:0;border-radius:6px;user-select:all;overflow-x:auto;white-space:pre}
.cmd button{border:1px solid var(--line);background:var(--soft);border-radius:6px;padding:0 14px;cursor:pointer;font:inherit}
.figure{border:1px solid var(--line);border-radius:8px;padding:10px 8px 6px}
#timeline{display:block;width:100%;height:auto}
#timeline .lane-title{font-size:12px;font-weight:600;fill:#1f2328}
#timeline .phase-label{font-size:11px;font-weight:600;fill:#424a53}
#timeline .fault-label{font-size:11px;font-weight:600;fill:#a40e26}
#timeline .y-tick,#timeline .x-tick,#timeline .probe-name{fill:#59636e}
#timeline .axis-title,#timeline .empty{fill:#59636e;font-style:italic}
#timeline .legend-label{fill:#1f2328}
#timeline .hover:hover{fill-opacity:.05}
.phases{list-style:none;display:flex;flex-wrap:wrap;gap:4px 18px;padding:0;margin:8px 0 0;color:var(--muted);font-size:13px}
table{width:100%;border-collapse:collapse;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.slow td,tr.bad td{background:#fff1f0}tr.slow td.status,tr.bad td.error{color:var(--fail);font-weight:600}
tr.ok td.status{color:var(--pass)}
td.errors,td.why{color:var(--muted)}
tr.operations td{background:#fafbfc}
.ops-title{font-size:12px;color:var(--muted);margin-bottom:4px}
pre{margin:0;padding:10px;background:#fff;border:1px solid var(--line);border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-word;max-height:420px;overflow-y:auto}
.pill{display:inline-block;padding:1px 10px;border-radius:999px;color:#fff;font-weight:700;font-size:12px;text-transform:uppercase}
.pill-pass{background:var(--pass)}.pill-fail{background:var(--fail)}.pill-unknown{background:var(--unknown)}
.empty{color:var(--muted);font-style:italic}
.chips code{display:inline-block;margin:0 4px 4px 0}
footer{margin-top:36px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
@media print{main{max-width:none;padding:0}.cmd button{display:none}section{break-inside:avoid}pre{max-height:none}}
"""

# Optional: a "Copy" button for the reproduce command. Without scripts it stays
# hidden and the command is still selectable with one click (user-select: all).
_SCRIPT = """
document.querySelectorAll("button.copy").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var text = document.getElementById(b.dataset.target).textContent;
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(function () { b.textContent = "Copied"; });
  });
});
"""


def render(journal: dict[str, Any], history: list[dict[str, Any]]) -> str:
    """The report page for one run: a complete HTML document, with nothing to fetch.

    ``journal`` is the run's journal.json; ``history`` the records of history.jsonl
    in time order. Either may be empty or partial (an aborted run): missing
    fields are shown as "—", never an error.
    """
    journal = _mapping(journal)
    events = _events(history)
    faults = _faults(journal)
    phases = _phases(journal)
    probes = _probes(journal)
    names = sorted({e.workload for e in events} | set(map(str, _mapping(journal.get("workloads")))))

    name = _text(journal.get("name"), "unnamed experiment")
    verdict = _text(journal.get("verdict"), "unknown")
    verdict_cls = verdict if verdict in VERDICT_COLOURS else "unknown"
    reasons = _strings(journal.get("reasons"))

    meta: list[tuple[str, str]] = []
    if journal.get("file") is not None:
        meta.append(("experiment file", f"<code>{_esc(journal.get('file'))}</code>"))
    if journal.get("seed") is not None:
        meta.append(("seed", _esc(journal.get("seed"))))
    if journal.get("started_at") is not None:
        meta.append(("started", _esc(journal.get("started_at"))))
    duration = _num(journal.get("duration_s"))
    if duration is not None:
        meta.append(("duration", f"{duration:.1f} s of cluster time"))
    scale = journal.get("time_scale")
    if scale is not None:
        meta.append(("time scale", f"×{_esc(scale)} (cluster seconds per wall second)"))
    meta_html = "".join(f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in meta)

    reasons_html = ""
    if reasons:
        items = "".join(f"<li>{_esc(r)}</li>" for r in reasons)
        reasons_html = f'<ul class="reasons {verdict_cls}">{items}</ul>'

    reproduce = _text(journal.get("reproduce"))
    reproduce_html = (
        '<section class="reproduce"><h2>Reproduce</h2><div class="cmd">'
        f'<code id="reproduce">{_esc(reproduce)}</code>'
        '<button type="button" class="copy" data-target="reproduce" hidden>Copy</button></div></section>'
        if reproduce
        else ""
    )

    # One pass over the history feeds both the timeline and the workload table.
    lo, hi = _domain(journal, events, faults, phases, probes)
    width = _nice_step((hi - lo) / TARGET_BUCKETS)
    buckets = _Buckets(lo, width, max(1, math.ceil((hi - lo) / width - 1e-9)))
    per_workload = _bucketise(events, buckets)
    timeline = _timeline((lo, hi), buckets, per_workload, faults, phases, probes, names)
    description = _text(journal.get("description"))

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(name)} — {_esc(verdict)} — kubesim chaos report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header class="top">
<div class="title">
<p class="kicker">kubesim chaos experiment</p>
<h1>{_esc(name)}</h1>
{f'<p class="description">{_esc(description)}</p>' if description else ""}
<dl class="meta">{meta_html}</dl>
</div>
<div class="verdict"><span class="badge verdict-{verdict_cls}" id="verdict">{_esc(verdict)}</span></div>
</header>
{reasons_html}
{reproduce_html}
<section class="timeline-section"><h2>Timeline</h2>
<div class="figure">{timeline}</div>
{_phases_section(phases)}
</section>
<section><h2>Faults</h2>{_faults_section(faults)}</section>
<section><h2>Recovery times</h2>{_recovery_section(journal)}</section>
<section><h2>Checks</h2>{_checks_section(journal)}</section>
<section><h2>Probes</h2>{_probes_section(probes)}</section>
<section><h2>Workloads</h2>{_workloads_section(journal, per_workload, names)}</section>
{_cluster_section(journal)}
<footer>Rendered by kubesim.chaos.report from <code>journal.json</code> and <code>history.jsonl</code>,
which sit next to this file. All times are seconds since the run started, in cluster time.</footer>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write(directory: Path, journal: dict[str, Any], history: list[dict[str, Any]]) -> Path:
    """Render the report into ``directory/report.html`` (creating the directory) and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REPORT_FILE
    path.write_text(render(journal, history), encoding="utf-8")
    return path
