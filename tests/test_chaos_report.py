"""The chaos report page: a pure renderer, checked as data and in a real browser.

Why these tests exist: report.html is how a chaos run's outcome is read, often
offline and from aborted runs. So the tests pin down that the timeline is
drawn where the journal says (a fault window from 20 s to 30 s sits between
the 20 and 30 axis ticks), that names from user files cannot inject markup,
that partial or malformed journals still render, that 100,000 operations make
a page of bounded size, and — with headless Chromium, which CI installs — that
a browser parses the page and paints the timeline.
"""

from __future__ import annotations

import html
import random
import struct
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest

from kubesim.chaos import report
from kubesim.chaos.report import render, write
from tests.chromium import chromium

SVG = "{http://www.w3.org/2000/svg}"


# --- synthetic runs ------------------------------------------------------------------------


def synthetic_history(
    rng: random.Random,
    duration_s: float = 60.0,
    fault: tuple[float, float] = (20.0, 30.0),
    workloads: tuple[str, ...] = ("register",),
    rate: float = 100.0,
    processes: int = 5,
) -> list[dict[str, Any]]:
    """Invoke/complete pairs per process; inside the fault window fewer ops complete, slowly, many as info."""
    events: list[dict[str, Any]] = []
    for process in range(processes):
        for workload in workloads:
            t = rng.uniform(0, 0.05)
            while t < duration_s:
                in_fault = fault[0] <= t < fault[1]
                f = rng.choice(("read", "write", "cas"))
                key = f"r{rng.randrange(5)}"
                if in_fault and rng.random() < 0.3:
                    # The client timed out: the operation may or may not have happened.
                    kind, latency, error = "info", 1.0, "timeout"
                elif rng.random() < 0.01:
                    kind, latency, error = "fail", rng.uniform(0.001, 0.01), "cas mismatch"
                else:
                    kind, error = "ok", None
                    latency = rng.lognormvariate(-5.0, 0.4) * (8 if in_fault else 1)
                common = {"process": process, "f": f, "key": key, "value": rng.randrange(10), "workload": workload}
                events.append({"time": t, "type": "invoke", **common})
                done = {"time": t + latency, "type": kind, **common, "latency": latency}
                if error:
                    done["error"] = error
                events.append(done)
                t += latency + rng.expovariate(rate / processes)
    events.sort(key=lambda e: e["time"])
    for index, event in enumerate(events):
        event["index"] = index
    return events


def synthetic_journal(**overrides: Any) -> dict[str, Any]:
    journal: dict[str, Any] = {
        "name": "store-leader-kill",
        "description": "Kill the store leader; the register stays linearizable.",
        "file": "config/chaos/store-leader-kill.yaml",
        "seed": 42,
        "verdict": "fail",
        "reasons": ["recovery: new store leader took 1.3 s, expected within 1.0 s"],
        "started_at": "2026-11-22T20:01:02Z",
        "time_scale": 10,
        "duration_s": 60.0,
        "reproduce": "kubesim chaos run config/chaos/store-leader-kill.yaml --seed 42",
        "phases": [
            {"name": "before", "start": 0, "end": 15},
            {"name": "faults", "start": 15, "end": 35},
            {"name": "recovery", "start": 35, "end": 41.5},
            {"name": "after", "start": 41.5, "end": 60},
        ],
        "probes": [
            {"name": "one-store-leader", "phase": "during", "time": t / 2, "ok": not 40 <= t < 44, "detail": f"t{t}"}
            for t in range(120)
        ],
        "faults": [
            {
                "id": "f1",
                "name": "kill the leader",
                "action": "kill",
                "targets": ["store-1"],
                "selected_at": 19.9,
                "injected_at": 20.0,
                "healed_at": 30.0,
                "error": None,
            }
        ],
        "recovery": [
            {"measure": "new store leader", "fault": "f1", "seconds": 1.3, "expected_s": 1.0,
             "expected": "election timeout"},
            {"measure": "steady state", "fault": None, "seconds": 6.5, "expected_s": 60, "expected": "recovery.within"},
        ],
        "checks": [{"name": "linearizable", "result": "pass", "detail": "5 keys", "operations": []}],
        "workloads": {"register": {"ok": 9000, "fail": 30, "info": 4}},
        "cluster": {"config": "config/cluster.yaml", "processes": ["store-0", "store-1", "store-2"]},
    }
    journal.update(overrides)
    return journal


def timeline(page: str) -> ET.Element:
    """The timeline SVG parsed as XML: it must be well-formed, not just tolerated by a browser."""
    start = page.index('<svg id="timeline"')
    end = page.index("</svg>", start) + len("</svg>")
    return ET.fromstring(page[start:end])


def find(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(SVG + tag) if cls in (e.get("class") or "").split()]


def x_ticks(svg: ET.Element) -> dict[str, float]:
    return {e.text or "": float(e.get("x", "nan")) for e in find(svg, "text", "x-tick")}


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return synthetic_history(random.Random(7))


# --- the timeline, as data -------------------------------------------------------------------


def test_fault_window_spans_its_seconds_on_the_axis(history: list[dict[str, Any]]) -> None:
    svg = timeline(render(synthetic_journal(), history))
    [window] = [r for r in find(svg, "rect", "fault-window") if r.get("data-fault") == "f1"]
    x, width = float(window.get("x", "nan")), float(window.get("width", "nan"))

    ticks = x_ticks(svg)
    assert x == pytest.approx(ticks["20"], abs=0.15), ticks
    assert x + width == pytest.approx(ticks["30"], abs=0.15), ticks

    # The same from the axis mapping the SVG declares.
    t_min, t_max = float(svg.get("data-t-min", "nan")), float(svg.get("data-t-max", "nan"))
    x_min, x_max = float(svg.get("data-x-min", "nan")), float(svg.get("data-x-max", "nan"))
    assert x == pytest.approx(x_min + (20 - t_min) / (t_max - t_min) * (x_max - x_min), abs=0.15)

    # Shaded across every lane: throughput, latency and probes.
    lanes = find(svg, "rect", "lane")
    assert len(lanes) == 3
    top = float(window.get("y", "nan"))
    bottom = top + float(window.get("height", "nan"))
    assert top <= min(float(r.get("y", "nan")) for r in lanes)
    assert bottom >= max(float(r.get("y", "nan")) + float(r.get("height", "nan")) for r in lanes) - 0.15
    assert any("kill the leader" in "".join(t.itertext()) for t in find(svg, "text", "fault-label"))


def test_axis_ticks_are_round_numbers(history: list[dict[str, Any]]) -> None:
    ticks = x_ticks(timeline(render(synthetic_journal(), history)))
    assert list(ticks) == [str(s) for s in range(0, 65, 5)]
    xs = list(ticks.values())
    assert xs == sorted(xs)


def test_a_line_per_workload_and_the_dip_in_the_fault_window() -> None:
    events = synthetic_history(random.Random(11), workloads=("register", "service"))
    svg = timeline(render(synthetic_journal(), events))
    lines = {p.get("data-workload"): p for p in find(svg, "polyline", "throughput")}
    assert set(lines) == {"register", "service"}
    assert {p.get("data-workload") for p in find(svg, "path", "latency-p50")} == {"register", "service"}
    assert {p.get("data-workload") for p in find(svg, "path", "latency-max")} == {"register", "service"}

    # Throughput is lower inside the window: y grows downwards, so its points sit lower.
    ticks = x_ticks(svg)
    points = [tuple(map(float, p.split(","))) for p in (lines["register"].get("points") or "").split()]
    inside = [y for x, y in points if ticks["20"] + 5 < x < ticks["30"] - 5]
    outside = [y for x, y in points if ticks["5"] < x < ticks["15"] or ticks["40"] < x < ticks["55"]]
    assert sum(inside) / len(inside) > sum(outside) / len(outside) + 20

    # The timed-out (info) operations are marked, and only where they completed:
    # invoked in the window, they time out 1 s later.
    per_second = (ticks["30"] - ticks["20"]) / 10
    info = find(svg, "path", "mark-info")
    assert info
    for mark in info:
        mx = float((mark.get("d") or "M0 ")[1:].split()[0])
        assert ticks["20"] + 0.5 * per_second <= mx <= ticks["30"] + 1.5 * per_second
    assert find(svg, "path", "mark-fail")  # the 1 % cas mismatches


def test_phases_and_failed_probes_are_on_the_timeline(history: list[dict[str, Any]]) -> None:
    svg = timeline(render(synthetic_journal(), history))
    ticks = x_ticks(svg)
    boundaries = sorted(float(e.get("x1", "nan")) for e in find(svg, "line", "phase-boundary"))
    assert len(boundaries) == 5  # 0, 15, 35, 41.5, 60
    assert boundaries[1] == pytest.approx(ticks["15"], abs=0.15)
    assert [t.text for t in find(svg, "text", "phase-label")] == ["before", "faults", "recovery", "after"]

    # Probes failed from t=20 to t=22: red marks there and nowhere else.
    failed = find(svg, "rect", "probe-fail")
    assert failed
    for mark in failed:
        assert ticks["20"] - 0.2 <= float(mark.get("x", "nan")) < ticks["25"]


def test_never_healed_and_failed_faults() -> None:
    journal = synthetic_journal(
        faults=[
            {"id": "f1", "name": "pause", "action": "pause", "targets": ["apiserver-0"],
             "injected_at": 40.0, "healed_at": None},
            {"id": "f2", "name": "partition", "action": "partition", "selected_at": 10.0,
             "injected_at": None, "error": "no such process"},
        ]
    )
    page = render(journal, [])
    svg = timeline(page)
    [open_window] = find(svg, "rect", "fault-window")
    assert "unhealed" in (open_window.get("class") or "")
    x_max = float(svg.get("data-x-max", "nan"))
    assert float(open_window.get("x", "nan")) + float(open_window.get("width", "nan")) == pytest.approx(x_max, abs=0.15)
    assert [e.get("data-fault") for e in find(svg, "line", "fault-failed")] == ["f2"]
    assert "never healed" in page and "no such process" in page and "not injected" in page


# --- the tables --------------------------------------------------------------------------------


def test_verdict_badge_reasons_and_reproduce(history: list[dict[str, Any]]) -> None:
    page = render(synthetic_journal(), history)
    assert 'class="badge verdict-fail"' in page
    assert "took 1.3 s, expected within 1.0 s" in page
    assert '<code id="reproduce">kubesim chaos run config/chaos/store-leader-kill.yaml --seed 42</code>' in page
    for verdict, cls in (("pass", "pass"), ("unknown", "unknown"), ("weird", "unknown"), (None, "unknown")):
        assert f'class="badge verdict-{cls}"' in render(synthetic_journal(verdict=verdict), [])


def test_recovery_slower_than_expected_is_highlighted() -> None:
    journal = synthetic_journal(
        recovery=[
            {"measure": "new store leader", "fault": "f1", "seconds": 1.3, "expected_s": 1.0,
             "expected": "etcd default"},
            {"measure": "steady state", "fault": None, "seconds": 6.5, "expected_s": 60},
            {"measure": "endpoints", "fault": "f1", "seconds": None, "expected_s": 5},
        ]
    )
    page = render(journal, [])
    section = page[page.index("<h2>Recovery times</h2>") :]
    section = section[: section.index("</table>")]
    rows = section.split("<tr")[2:]
    assert 'class="slow"' in rows[0] and "slower than expected" in rows[0]
    assert 'class="ok"' in rows[1] and "within expectation" in rows[1]
    assert 'class="slow"' in rows[2] and "never observed" in rows[2]


def test_checks_list_offending_operations_in_pre() -> None:
    operations = [f"key r1: read -> {i} by process 4 at t=12.300 s cannot be linearized" for i in range(80)]
    journal = synthetic_journal(
        checks=[{"name": "linearizable", "result": "fail", "detail": "1 key", "operations": operations}]
    )
    page = render(journal, [])
    pre = html.unescape(page[page.index("<pre>") : page.index("</pre>")])
    assert operations[0] in pre and operations[report.MAX_OPERATIONS_SHOWN - 1] in pre
    assert operations[report.MAX_OPERATIONS_SHOWN] not in pre
    assert "and 30 more in journal.json" in pre
    assert 'class="pill pill-fail"' in page


def test_probe_summary_per_name_and_phase() -> None:
    probes = [
        {"name": "leader", "phase": "before", "time": 1.0, "ok": True},
        {"name": "leader", "phase": "during", "time": 21.0, "ok": False, "detail": "no leader"},
        {"name": "leader", "phase": "during", "time": 22.0, "ok": False, "detail": "still none"},
        {"name": "leader", "phase": "during", "time": 23.0, "ok": True},
    ]
    page = render(synthetic_journal(probes=probes), [])
    section = page[page.index("<h2>Probes</h2>") :]
    rows = section[: section.index("</table>")].split("<tr")[2:]
    assert len(rows) == 2
    cells = [c.rsplit(">", 1)[1] for c in rows[1].split("</td>")[:-1]]
    assert cells[:5] == ["leader", "during", "3", "1", "2"]
    assert "21.00 s: no leader" in cells[5]


def test_workload_counts_come_from_the_journal_and_latencies_from_the_history(history: list[dict[str, Any]]) -> None:
    page = render(synthetic_journal(), history)
    section = page[page.index("<h2>Workloads</h2>") :]
    row = section[: section.index("</table>")].split("<tr")[2]
    assert ">9,000<" in row and ">30<" in row and ">4<" in row
    assert " ms<" in row  # p50 from the history
    assert "info: timeout" in row


# --- hostile and broken inputs -------------------------------------------------------------------


def test_names_from_user_files_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    journal = synthetic_journal(
        name=evil,
        description=evil,
        reasons=[evil],
        reproduce=f"kubesim chaos run '{evil}'",
        phases=[{"name": evil, "start": 0, "end": 60}],
        faults=[{"id": '"f1', "name": evil, "action": evil, "targets": [evil],
                 "injected_at": 20, "healed_at": 30, "error": evil}],
        probes=[{"name": evil, "phase": evil, "time": 21, "ok": False, "detail": evil}],
        recovery=[{"measure": evil, "fault": evil, "seconds": 1, "expected_s": 2, "expected": evil}],
        checks=[{"name": evil, "result": evil, "detail": evil, "operations": [f"</pre>{evil}"]}],
        workloads={evil: {"ok": 1}},
        cluster={"config": evil, "processes": [evil]},
    )
    events = synthetic_history(random.Random(3), duration_s=40.0, workloads=(evil,), rate=20.0)
    for event in events[:50]:
        event["error"] = evil
    page = render(journal, events)
    assert "<script>alert" not in page
    assert "</pre><script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-fault="&quot;f1"' in page
    svg = timeline(page)  # still well-formed XML
    assert [p.get("data-workload") for p in find(svg, "polyline", "throughput")] == [evil]


@pytest.mark.parametrize(
    "journal",
    [
        {},
        {"name": "aborted before anything"},
        {"name": "aborted mid-fault", "verdict": "unknown", "phases": [{"name": "before", "start": 0}],
         "faults": [{"id": "f1", "injected_at": 3.0}]},
        synthetic_journal(history=None, probes=[], checks=[], recovery=[], workloads={}),
    ],
    ids=["empty", "name-only", "mid-fault", "no-history"],
)
def test_partial_journals_render(journal: dict[str, Any]) -> None:
    page = render(journal, [])
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    svg = timeline(page)
    assert find(svg, "text", "x-tick")
    assert "no workload operations recorded" in page


JUNK: list[Any] = [None, "x", 3, -1.5, float("nan"), True, [], {}, [None, 1, "a"], [{}], {"a": {"b": None}}]
FIELDS = [
    "name", "description", "file", "seed", "verdict", "reasons", "started_at", "time_scale", "duration_s",
    "reproduce", "phases", "probes", "faults", "recovery", "checks", "workloads", "cluster",
]


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_malformed_fields_do_not_crash(junk: Any) -> None:
    # Every field at once, then inside the list items, then the history's records.
    assert "<svg" in render({field: junk for field in FIELDS}, [])
    nested = {
        field: [{key: junk for key in ("name", "id", "start", "end", "time", "ok", "injected_at", "healed_at",
                                      "seconds", "expected_s", "operations", "targets", "result", "phase")}]
        for field in ("phases", "probes", "faults", "recovery", "checks")
    }
    assert "<svg" in render(nested, [])
    records = [junk, {"time": junk}, {"time": 1.0, "type": junk, "latency": junk, "workload": junk, "error": junk}]
    assert "<svg" in render({}, records)  # type: ignore[arg-type]
    assert "<svg" in render(junk, junk)  # type: ignore[arg-type]


# --- size and write ------------------------------------------------------------------------------


def test_a_hundred_thousand_operations_make_a_small_page() -> None:
    rng = random.Random(100_000)
    events = synthetic_history(rng, workloads=("register", "deployment-churn", "service"), rate=1000.0, processes=10)
    # Exactly 100,000, spread over the whole run.
    events = sorted(rng.sample(events, 100_000), key=lambda e: e["time"])
    assert len(events) == 100_000
    journal = synthetic_journal(
        probes=[{"name": f"probe-{i % 12}", "phase": "during", "time": i * 0.012, "ok": i % 7 != 0, "detail": "x" * 40}
                for i in range(5000)],
        checks=[{"name": "linearizable", "result": "fail", "detail": "", "operations": ["op " * 30] * 5000}],
    )
    started = time.perf_counter()
    page = render(journal, events)
    elapsed = time.perf_counter() - started
    print(f"100,000 events: {len(page.encode()):,} bytes of HTML in {elapsed:.2f} s")
    assert len(page.encode()) < 1_000_000
    assert elapsed < 10
    svg = timeline(page)
    assert len(find(svg, "polyline", "throughput")) == 3
    marks = find(svg, "path", "mark-fail") + find(svg, "path", "mark-info")
    assert len(marks) <= report.MAX_MARKS


def test_write_creates_only_report_html(tmp_path: Path, history: list[dict[str, Any]]) -> None:
    directory = tmp_path / "runs" / "store-leader-kill" / "20261122T200102Z-seed42"
    path = write(directory, synthetic_journal(), history)
    assert path == directory / "report.html"
    assert [p.name for p in directory.iterdir()] == ["report.html"]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# --- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory, history: list[dict[str, Any]]) -> Path:
    return write(tmp_path_factory.mktemp("report"), synthetic_journal(), history)


def test_chromium_parses_the_timeline(report_file: Path) -> None:
    result = chromium("--dump-dom", report_file.as_uri(), timeout_s=60)
    assert result.returncode == 0, result.stderr
    dom = result.stdout
    assert '<svg id="timeline"' in dom, result.stderr[-2000:]
    assert 'class="fault-window" data-fault="f1"' in dom, result.stderr[-2000:]
    assert 'class="throughput" data-workload="register"' in dom, result.stderr[-2000:]
    # The optional script ran: the copy button was revealed.
    assert 'class="copy" data-target="reproduce">Copy</button>' in dom, result.stderr[-2000:]


def test_chromium_screenshot_shows_the_timeline(report_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    result = chromium(f"--screenshot={png}", "--window-size=1280,2000", report_file.as_uri(), timeout_s=60)
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]
    print(f"screenshot: {png}")

    width, height, pixels = read_png(png.read_bytes())
    assert (width, height) == (1280, 2000)
    colours = Counter(pixels)
    assert len(colours) > 100, "the screenshot is (nearly) blank"
    assert colours[(255, 255, 255)] < 0.95 * width * height

    # Painted, not just parsed: the fault shading over a lane, a workload's
    # line and the verdict badge are on screen in their exact colours.
    shade = blend(report.FAULT_FILL, report.FAULT_OPACITY, over=report.LANE_FILL)
    assert near(colours, shade) > 5000, f"no fault-window shading {shade} in {png}"
    assert near(colours, rgb(report.PALETTE[0])) > 50, f"no throughput line in {png}"
    assert near(colours, rgb(report.VERDICT_COLOURS["fail"])) > 4000, f"no verdict badge in {png}"


# --- a tiny PNG reader (no Pillow): enough for Chromium's 8-bit RGB(A) screenshots -----------------


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and every pixel's RGB, from a non-interlaced 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1)

    # Rows are filtered against the row above; None/Up/Sub are done a whole row
    # at a time (bytewise addition on big integers, running sums per channel),
    # Average and Paeth byte by byte. About half a second for 1280 x 2000.
    low7 = int.from_bytes(b"\x7f" * stride, "big")
    high1 = int.from_bytes(b"\x80" * stride, "big")
    mask = (255).__and__
    previous = bytes(stride)
    pixels: list[tuple[int, int, int]] = []
    for r in range(height):
        kind, line = raw[r * (stride + 1)], raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)]
        if kind == 0:
            row = bytes(line)
        elif kind == 2:  # Up: add the byte above, modulo 256, without carries between bytes
            a, b = int.from_bytes(line, "big"), int.from_bytes(previous, "big")
            row = (((a & low7) + (b & low7)) ^ ((a ^ b) & high1)).to_bytes(stride, "big")
        elif kind == 1:  # Sub: a running sum per channel
            out = bytearray(stride)
            for c in range(bpp):
                out[c::bpp] = bytes(map(mask, accumulate(line[c::bpp])))
            row = bytes(out)
        elif kind in (3, 4):
            out = bytearray(line)
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                up = previous[i]
                if kind == 3:
                    out[i] = (out[i] + ((left + up) >> 1)) & 255
                    continue
                upper_left = previous[i - bpp] if i >= bpp else 0
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else upper_left)) & 255
            row = bytes(out)
        else:
            raise AssertionError(f"unknown PNG filter {kind} in row {r}")
        pixels.extend(zip(row[0::bpp], row[1::bpp], row[2::bpp]))
        previous = row
    return width, height, pixels


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def blend(colour: str, opacity: float, over: str) -> tuple[int, int, int]:
    top, bottom = rgb(colour), rgb(over)
    return tuple(round(t * opacity + b * (1 - opacity)) for t, b in zip(top, bottom))  # type: ignore[return-value]


def near(colours: Counter[tuple[int, int, int]], target: tuple[int, int, int], tolerance: int = 2) -> int:
    """How many pixels are within ``tolerance`` of ``target`` in every channel."""
    return sum(n for c, n in colours.items() if all(abs(a - b) <= tolerance for a, b in zip(c, target)))
