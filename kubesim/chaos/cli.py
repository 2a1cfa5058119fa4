"""``kubesim chaos ...``: run chaos experiments and say what they found.

    kubesim chaos run FILE [--seed N] [--start-cluster] [--runs-dir DIR]
    kubesim chaos plan FILE [--seed N]     the fault schedule the seed gives, without running anything
    kubesim chaos list                     the built-in experiments (config/chaos/*.yaml)

``run`` exits 0 when the verdict is pass, 1 when it is fail, 3 when it is
unknown, 2 when the experiment file is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kubesim.config import ClusterConfig

BUILTIN_DIR = Path("config/chaos")
EXIT = {"pass": 0, "fail": 1, "unknown": 3}


def add_parser(sub) -> None:
    p = sub.add_parser("chaos", help="chaos experiments: inject faults, judge whether the cluster recovered "
                                     "and lost nothing")
    ops = p.add_subparsers(dest="chaos_command", required=True)
    o = ops.add_parser("run", help="run an experiment file against the cluster")
    o.add_argument("file", type=Path)
    o.add_argument("--seed", type=int, default=None, help="the run's seed (default: the file's)")
    o.add_argument("--start-cluster", action="store_true",
                   help="start the cluster of --config for this run, and stop it after")
    o.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where reports go (default: %(default)s)")
    o = ops.add_parser("plan", help="print the fault schedule a seed gives")
    o.add_argument("file", type=Path)
    o.add_argument("--seed", type=int, default=None)
    ops.add_parser("list", help="the built-in experiments")
    for action in ops.choices.values():
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(cfg: ClusterConfig, args) -> int:
    from kubesim.chaos.experiment import ExperimentError, load
    from kubesim.chaos.schedule import PlanError, plan

    if args.chaos_command == "list":
        try:
            _list()
        except BrokenPipeError:  # `kubesim chaos list | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    try:
        exp = load(args.file)
        seed = exp.seed if args.seed is None else args.seed
        schedule = plan(exp, seed)
    except (ExperimentError, PlanError) as exc:
        print(f"kubesim chaos: {exc}", file=sys.stderr)
        return 2
    if args.chaos_command == "plan":
        print(json.dumps({"name": exp.name, "seed": seed, "duration_s": schedule.duration_s,
                          "occurrences": [o.to_dict() for o in schedule.occurrences]}, indent=1))
        return 0
    return _run(cfg, args, exp, seed)


def _list() -> None:
    from kubesim.chaos.experiment import ExperimentError, load

    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        try:
            exp = load(path)
        except ExperimentError as exc:
            print(f"{path}: INVALID: {exc}")
            continue
        first = " ".join(exp.description.split()).split(". ")[0].rstrip(".")
        print(f"{path}\n    {first}.", flush=True)


def _at_time_scale(config: Path, scale: float, out: Path) -> tuple[ClusterConfig, Path]:
    """A copy of the cluster file at another time_scale, in the run's directory."""
    import yaml

    from kubesim.config import load

    data = yaml.safe_load(config.read_text())
    data.setdefault("cluster", {})["time_scale"] = scale
    out.mkdir(parents=True, exist_ok=True)
    path = out / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load(path), path


def _run(cfg: ClusterConfig, args, exp, seed: int) -> int:
    from bus import logs
    from kubesim.chaos.cluster import LocalCluster
    from kubesim.chaos.runner import Run, run_dir

    logs.configure("kubesim-chaos", "warning", cfg.logging.format)
    out = run_dir(args.runs_dir, exp.name, seed)

    def say(text: str) -> None:
        print(text, flush=True)

    config_path = args.config
    wanted = exp.cluster.time_scale
    if wanted is not None and wanted != cfg.cluster.time_scale:
        if args.start_cluster:
            cfg, config_path = _at_time_scale(args.config, wanted, out)
            say(f"the experiment is written for time_scale {wanted:g}: the cluster runs at it ({config_path})")
        else:
            say(f"note: the experiment is written for time_scale {wanted:g}; the cluster runs at "
                f"{cfg.cluster.time_scale:g}, so it takes {wanted / cfg.cluster.time_scale:g}x as long")
    cluster = LocalCluster(cfg, config_path, out / "cluster") if args.start_cluster else None
    try:
        if cluster is not None:
            say(f"starting the cluster of {config_path} ({len(cfg.processes)} processes; logs in {out}/cluster)")
            cluster.start()
        journal = Run(cfg, config_path, exp, seed, out, args.file, say, started_cluster=cluster is not None).execute()
    except KeyboardInterrupt:
        print(f"interrupted; every fault was healed; the report so far is in {out}", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"report: {out}/report.html")
    return EXIT[journal["verdict"]]
