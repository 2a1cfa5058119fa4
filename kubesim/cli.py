"""The ``kubesim`` command.

    kubesim run NAME        supervise process NAME of the cluster (a Procfile line)
    kubesim child NAME      run process NAME itself (what the supervisor starts)
    kubesim ctl NAME CMD    tell NAME's supervisor: status|kill|pause|resume|stop|start|restart
    kubesim faults NAME ... set or clear NAME's bus fault rules (drop, delay, ...)
    kubesim node restart-kubelet NODE   restart NODE's kubelet alone (its containers keep running)
    kubesim keys            generate the CURVE keys the cluster config needs
    kubesim procfile        write a Procfile for the cluster config
    kubesim check           validate the cluster config and say what it describes
    kubesim cluster status  which processes run (their supervisors), the nodes, who holds the leader leases
    kubesim store ...       read, write, watch and inspect the replicated store (see kubesim.store)
    kubesim cloud ...       the simulated cloud: terminate a node's instance (see kubesim.cloud)
    kubesim chaos run FILE  a chaos experiment: faults, workloads, checks, a verdict (see kubesim.chaos.cli)
    kubesim rollout ...     a Deployment's rollout: status, history, undo, pause, resume (see kubesim.rollout)
    kubesim dig NAME [TYPE] resolve a name through the cluster DNS, as a pod in -n NAMESPACE would
    kubesim proxy rules NODE     NODE's kube-proxy rules, as iptables-save prints them
    kubesim curl SERVICE[.NS][:PORT]   GET through a node's kube-proxy; says which pod answered (see kubesim.proxycli)
    kubesim apply -f FILE   create or update objects from manifests, as kubectl apply (see kubesim.kubectl)
    kubesim get KIND [NAME] list objects as kubectl tables, yaml, json or names; -w watches
    kubesim describe KIND NAME   an object in detail, with its events
    kubesim delete KIND NAME     also -f FILE, -l SELECTOR; --cascade, --grace-period, --now
    kubesim create namespace NAME
    kubesim scale KIND NAME --replicas N
    kubesim logs POD [-c CONTAINER] [-p] [-f]    a container's lines, from the log collector (see kubesim.logscli)
    kubesim logs --component NAME | --trace ID | --level LEVEL   a component's, a trace's, the warnings' lines

Every command takes ``--config`` (default ``config/cluster.yaml``). A bad
config stops the command with exit status 2 and a message naming the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kubesim.config import DEFAULT_CONFIG, ClusterConfig, ConfigError, load

#: Commands every process of a cluster runs (a supervisor and its child each): their parser leaves out the other
#: commands' modules, whose imports (the TLS library, the chaos runner, kubectl's tables) would cost every one of
#: a cluster's thirty-odd Python processes a few hundred milliseconds of start-up.
LEAN = ("run", "child", "ctl")


def _command_word(argv: list[str]) -> str:
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    lean = _command_word(argv) in LEAN
    parser = argparse.ArgumentParser(prog="kubesim", description="A Kubernetes cluster you can run, watch and break.")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="cluster file (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="supervise one process of the cluster (restarts it; obeys `kubesim ctl`); "
                                   "`kubesim run nodes --count N` runs N hollow nodes")
    p.add_argument("name")
    _hollow_flags(p)
    p = sub.add_parser("child", help="run one process of the cluster in the foreground, unsupervised")
    p.add_argument("name")
    _hollow_flags(p)
    p = sub.add_parser("ctl", help="send a command to a process's supervisor")
    p.add_argument("name")
    p.add_argument("cmd", choices=("status", "kill", "pause", "resume", "stop", "start", "restart"))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")
    if not lean:
        _add_the_other_commands(sub)

    # Options after the subcommand are accepted too (`kubesim run broker --config x.yaml`).
    for action in sub.choices.values():
        action.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    args, extra = parser.parse_known_args(argv)
    if extra:
        # kubectl takes flags anywhere (`get pods -n demo web`): argparse stops the positional list at the first
        # flag, so words left after it go back to the command's targets.
        if isinstance(getattr(args, "targets", None), list) and not any(w.startswith("-") for w in extra):
            args.targets.extend(extra)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        cfg = load(args.config)
        if args.command in ("run", "child", "ctl", "faults"):
            cfg = _with_hollow_nodes(cfg, args)
        return _commands(lean)[args.command](cfg, args)
    except ConfigError as exc:
        print(f"kubesim: invalid cluster config:\n{exc}", file=sys.stderr)
        return 2


def _add_the_other_commands(sub) -> None:
    from kubesim import cloud, dig, kubeconfig, kubectl, proxycli, rollout, store, trace
    from kubesim.chaos import cli as chaos

    p = sub.add_parser("faults", help="set or clear a process's bus fault rules, over the bus")
    p.add_argument("name")
    p.add_argument("action", choices=("set", "clear"))
    p.add_argument("rules", nargs="*", help='rules as JSON maps, e.g. \'{"action": "drop", "probability": 0.3}\'')
    p.add_argument("--seed", type=int, default=None, help="reseed the fault generator (replays a schedule)")
    p = sub.add_parser("node", help="act on a node's components, over the bus")
    ops = p.add_subparsers(dest="node_command", required=True)
    o = ops.add_parser("restart-kubelet", help="restart NODE's kubelet alone: its runtime and containers carry on")
    o.add_argument("node")
    o.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")
    o.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p = sub.add_parser("keys", help="generate CURVE keys for every process (and 'admin')")
    p.add_argument("--force", action="store_true", help="replace existing keys")
    p = sub.add_parser("procfile", help="write a Procfile with one line per process")
    p.add_argument("-o", "--output", type=Path, default=Path("Procfile"))
    sub.add_parser("check", help="validate the cluster config")
    p = sub.add_parser("cluster", help="the cluster as a whole: `kubesim cluster status` says which components are up")
    p.add_argument("cluster_command", choices=("status",))
    store.add_parser(sub)
    cloud.add_parser(sub)
    dig.add_parser(sub)
    trace.add_parser(sub)
    chaos.add_parser(sub)
    kubeconfig.add_parser(sub)
    proxycli.add_parsers(sub)
    rollout.add_parser(sub)
    kubectl.add_parsers(sub)


_HOLLOW_FLAGS = ("count", "prefix", "first")


def _hollow_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hollow nodes (`kubesim run nodes --count N`)")
    g.add_argument("--count", type=int, help="how many nodes the process hosts")
    g.add_argument("--prefix", help="node names are PREFIX1, PREFIX2, ... (default hollow-node-)")
    g.add_argument("--first", type=int, help="the number of the first node (default 1)")
    g.add_argument("--server", metavar="HOST:PORT", help="the API server's bus address (default: the cluster file's)")


def _hollow_argv(args) -> list[str]:
    """The hollow-node flags again, for the supervisor to give its child."""
    out = []
    for flag in (*_HOLLOW_FLAGS, "server"):
        if getattr(args, flag, None) is not None:
            out += [f"--{flag}", str(getattr(args, flag))]
    return out


def _with_hollow_nodes(cfg: ClusterConfig, args) -> ClusterConfig:
    """`run`/`child` of a hollow-nodes process: the one the file declares or, for `nodes`, a new one; flags applied."""
    from kubesim.workers import HOLLOW_NODES_PROCESS, hollow_process

    flags = _hollow_argv(args)
    declared = cfg.processes.get(args.name)
    hollow = declared.component == "hollow-nodes" if declared is not None else args.name == HOLLOW_NODES_PROCESS
    if not hollow and flags:
        raise ConfigError(f"--count, --prefix, --first and --server are for hollow-nodes processes; "
                          f"{args.name!r} is not one")
    if not hollow or declared is not None and not flags:
        return cfg
    return hollow_process(cfg, args.name, {f: getattr(args, f) for f in _HOLLOW_FLAGS}, args.server)


def _run(cfg: ClusterConfig, args) -> int:
    from kubesim.supervisor import supervise

    cfg.process(args.name)
    return supervise(cfg, args.name, args.config, _hollow_argv(args))


def _child(cfg: ClusterConfig, args) -> int:
    from actors.store.member import StoreFailed
    from actors.store.snapfile import CorruptSnapshot
    from actors.store.wal import CorruptWAL
    from bus.transport.curve import MissingKey
    from bus.transport.sockets import BindFailed
    from kubesim.process import run_child

    try:
        run_child(cfg, args.name)
    except (MissingKey, BindFailed, OSError, CorruptWAL, CorruptSnapshot, StoreFailed) as exc:
        print(f"kubesim child {args.name}: {exc}", file=sys.stderr)
        return 1
    return 0


def _ctl(cfg: ClusterConfig, args) -> int:
    from bus.transport.control import ControlUnreachable, request

    cfg.process(args.name)
    try:
        reply = request(cfg.control_socket(args.name), {"command": args.cmd}, args.timeout)
    except ControlUnreachable as exc:
        print(f"kubesim ctl: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0 if reply.get("ok") else 1


def _faults(cfg: ClusterConfig, args) -> int:
    from kubesim.client import FaultsFailed, set_faults

    cfg.process(args.name)
    try:
        rules = [json.loads(r) for r in args.rules] if args.action == "set" else []
    except json.JSONDecodeError as exc:
        print(f"kubesim faults: a rule is not JSON: {exc}", file=sys.stderr)
        return 2
    if args.action == "set" and not rules:
        print("kubesim faults: `set` needs at least one rule (use `clear` to remove them)", file=sys.stderr)
        return 2
    try:
        in_force = set_faults(cfg, args.name, rules, args.seed)
    except FaultsFailed as exc:
        print(f"kubesim faults: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"process": args.name, "rules": in_force}))
    return 0


def _node(cfg: ClusterConfig, args) -> int:
    from kubesim.client import RestartFailed, restart_kubelet

    try:
        reply = restart_kubelet(cfg, args.node, args.timeout)
    except RestartFailed as exc:
        print(f"kubesim node restart-kubelet: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"node": reply.node, "kubelet": "restarted", "pods": reply.pods}))
    return 0


def _keys(cfg: ClusterConfig, args) -> int:
    from bus.transport.curve import generate
    from kubesim.workers import HOLLOW_NODES_PROCESS

    # `nodes` too: the process `kubesim run nodes` starts without a line in the file.
    names = sorted(set(cfg.processes) | {"admin", HOLLOW_NODES_PROCESS} | set(cfg.security.fault_admins))
    made = generate(cfg.security.keys_dir, names, overwrite=args.force)
    print(f"keys in {cfg.security.keys_dir}: created {len(made)} ({', '.join(made) or 'none'}), "
          f"{len(names) - len(made)} already there")
    return 0


def _procfile(cfg: ClusterConfig, args) -> int:
    args.output.write_text(procfile_text(cfg, args.config))
    print(f"wrote {args.output} ({len(cfg.processes)} processes)")
    return 0


def procfile_text(cfg: ClusterConfig, config_path: Path) -> str:
    """One line per process, broker first (the others retry until it is up anyway)."""
    order = [cfg.broker_process] + [n for n in cfg.processes if n != cfg.broker_process]
    extra = "" if config_path == DEFAULT_CONFIG else f" --config {config_path}"
    width = max(len(n) for n in order)
    return "".join(f"{n}:{' ' * (width - len(n))} kubesim run {n}{extra}\n" for n in order)


def _check(cfg: ClusterConfig, args) -> int:
    print(f"{args.config}: ok — cluster {cfg.cluster.name!r}, {len(cfg.processes)} processes "
          f"({', '.join(f'{n}={p.component}' for n, p in cfg.processes.items())}), "
          f"broker tcp://{cfg.bus.host}:{cfg.bus.port}, curve {'on' if cfg.security.curve else 'off'}, "
          f"time_scale {cfg.cluster.time_scale:g}")
    return 0


def _cluster(cfg: ClusterConfig, args) -> int:
    from kubesim import clusterstatus

    return clusterstatus.run(cfg, args)


def _commands(lean: bool) -> dict:
    """Subcommand name -> handler(cfg, args) -> exit status."""
    commands = {"run": _run, "child": _child, "ctl": _ctl}
    if lean:
        return commands
    from kubesim import cloud, dig, kubeconfig, kubectl, proxycli, rollout, store, trace
    from kubesim.chaos import cli as chaos

    return {**commands, "cluster": _cluster, "faults": _faults, "node": _node, "keys": _keys, "procfile": _procfile,
            "check": _check, "store": store.run, "cloud": cloud.run, "dig": dig.run, "trace": trace.run,
            "chaos": chaos.run, "kubeconfig": kubeconfig.run, "rollout": rollout.run, **proxycli.COMMANDS,
            **kubectl.COMMANDS}
