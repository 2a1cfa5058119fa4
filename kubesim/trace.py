"""``kubesim trace pod/NAME``: the path of an object's life through the components, with the time each step took.

    kubesim trace pod/web-5d9c7-abcde -n demo
    kubesim trace pod web-5d9c7-abcde -n demo      (the same)
    kubesim trace deployment/web -n demo

Every process keeps the spans of the requests it served and made lately
(:mod:`bus.tracing`). This asks each process of the cluster file for the
spans about the object, then for every span of the traces those belong to,
and prints them in time order: for a pod, its creation (the client, the API
server, the store), the scheduler's binding, the kubelet's calls to its
container runtime and its status writes. ``<-`` is a process serving a
request, ``->`` one making it; TOOK is the time until the answer.
A process that does not answer is named at the end; what it did is missing.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bus.messages import TraceQuery, TraceSpans
from bus.tracing import (
    DEFAULT_SPANS,
    Span,
    changes,
    render,
    spans_from,
    story,
    trace_ids_of,
)

if TYPE_CHECKING:
    from kubesim.config import ClusterConfig

#: kubectl's short names and kinds for the resources a trace can start from.
RESOURCES = {"pod": "pods", "po": "pods", "pods": "pods", "deployment": "deployments", "deploy": "deployments",
             "deployments": "deployments", "replicaset": "replicasets", "rs": "replicasets",
             "replicasets": "replicasets", "service": "services", "svc": "services", "services": "services",
             "node": "nodes", "no": "nodes", "nodes": "nodes", "job": "jobs", "jobs": "jobs",
             "statefulset": "statefulsets", "sts": "statefulsets", "statefulsets": "statefulsets",
             "configmap": "configmaps", "cm": "configmaps", "configmaps": "configmaps"}
CLUSTER_SCOPED = {"nodes"}


def add_parser(sub) -> None:
    p = sub.add_parser("trace", help="the path of an object's life (pod/NAME) through the components, step by step")
    p.add_argument("target", nargs="+", help="TYPE/NAME or TYPE NAME, e.g. pod/web-1")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--reads", action="store_true", help="also the traces that only read the object (kubectl get)")


def object_key(words: list[str], namespace: str) -> str:
    """``pods demo/web-1`` from ``["pod/web-1"]`` or ``["pod", "web-1"]``; ValueError if it is neither."""
    if len(words) == 1 and "/" in words[0]:
        kind, name = words[0].split("/", 1)
    elif len(words) == 2:
        kind, name = words
    else:
        raise ValueError(f"expected TYPE/NAME or TYPE NAME, got {' '.join(words)!r}")
    resource = RESOURCES.get(kind.lower())
    if resource is None or not name:
        raise ValueError(f"cannot trace {kind!r}: one of {', '.join(sorted(set(RESOURCES.values())))}")
    return f"{resource} {name}" if resource in CLUSTER_SCOPED else f"{resource} {namespace}/{name}"


def gather(cfg: ClusterConfig, obj: str, reads: bool = False) -> tuple[list[Span], list[str]]:
    """Every span about ``obj`` and of its traces, from every process of ``cfg``; and who did not answer.
    Traces that only read the object are left out unless ``reads``."""
    from kubesim.client import ask_each

    dsts = [f"{p}.bus" for p in cfg.processes]
    silent: set[str] = set()

    def ask(msg: TraceQuery) -> list[Span]:
        spans = []
        for dst, answer in ask_each(cfg, dict.fromkeys(dsts, msg)).items():
            if isinstance(answer, TraceSpans):
                spans += spans_from(answer.spans)
            else:
                silent.add(dst.removesuffix(".bus"))
        return spans

    about = ask(TraceQuery([], obj))
    if not reads:
        about = changes(about)
    if not about:
        return [], sorted(silent)
    found = ask(TraceQuery(trace_ids_of(about)))
    return story(obj, about, found), sorted(silent)


def run(cfg: ClusterConfig, args) -> int:
    try:
        obj = object_key(args.target, args.namespace)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spans, silent = gather(cfg, obj, args.reads)
    if not spans:
        print(f"no spans about {obj}: no process remembers a request for it (spans are kept for the last "
              f"{DEFAULT_SPANS:,} requests of each process)", file=sys.stderr)
        return 1
    lines = [f"{obj}: {len(spans)} steps in {len(trace_ids_of(spans))} traces", *render(spans)]
    if silent:
        lines.append(f"(no answer from {', '.join(silent)}: their steps are missing)")
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `kubesim trace ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
