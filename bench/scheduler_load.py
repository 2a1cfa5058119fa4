"""The client side of ``bench/scheduler.py``: worker processes that create Nodes and Pods.

A worker is this file run as a process (``scheduler_load.py --config FILE --id N``):
the load worker of ``bench/apiserver_load.py`` (one ``ApiSession`` as
``kubesim-cli-bench-N-PID``, JSON commands on stdin, one JSON line answered on
stdout per command, its session's loop running in between) with two more
commands:

``{"cmd": "nodes", "first": I, "count": N, "in_flight": K, "t0": T, "spec": {...}}``
    From ``t0`` (``time.monotonic``, one clock for every process on Linux)
    create the Nodes ``node-<I>`` .. ``node-<I+N-1>`` with ``K`` creates in
    flight, as fast as the API server answers them.
``{"cmd": "pods", "count": N, "in_flight": K, "t0": T, "namespace": NS, "spec": {...}}``
    The same for ``N`` Pods ``p-<id>-<i>`` in NS; the answer lists, per pod
    created, its name and when the create's answer arrived (the pod's
    creation time for the scheduling latency).

``spec`` carries the object's sizes (``cpu``, ``memory``, ``pods`` for a node;
``cpu``, ``memory`` requests for a pod); :func:`node` and :func:`pod` build them,
and the parent uses the same functions for the in-process algorithm run.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]  # bench/bus.py would shadow the ``bus`` package
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402

from bench.apiserver_load import Worker, error_code, error_text, now, worker_main  # noqa: E402

NODE_SPEC = {"cpu": "32", "memory": "256Gi", "pods": "110"}
POD_SPEC = {"cpu": "100m", "memory": "128Mi"}


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def node(i: int, spec: dict | None = None) -> dict:
    """A Ready node offering ``spec`` (cpu, memory, pods), labelled with its hostname as the kubelet does."""
    s = dict(NODE_SPEC, **(spec or {}))
    name = node_name(i)
    amounts = {"cpu": s["cpu"], "memory": s["memory"], "pods": s["pods"]}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
            "status": {"capacity": dict(amounts), "allocatable": dict(amounts),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, namespace: str, spec: dict | None = None) -> dict:
    """A one-container pod requesting ``spec`` (cpu, memory), for the default scheduler."""
    s = dict(POD_SPEC, **(spec or {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": s["cpu"], "memory": s["memory"]}}}]}}


class SchedulerLoadWorker(Worker):
    def _create_all(self, objects: list[dict], in_flight: int, t0: float) -> dict:
        """Create ``objects`` with ``in_flight`` outstanding, from ``t0``; per object the answer's time."""
        api = self.api
        acked: list[tuple[str, float, float]] = []  # (name, sent, answered)
        errors: Counter = Counter()
        first_error: list[str] = []
        state = {"outstanding": 0, "next": 0}

        def launch(obj: dict) -> Callable:
            async def create():
                sent = now()
                try:
                    await api.create(obj)
                except Exception as exc:  # counted, reported
                    errors[error_code(exc)] += 1
                    if not first_error:
                        first_error.append(error_text(exc))
                else:
                    acked.append((obj["metadata"]["name"], sent, now()))
                finally:
                    state["outstanding"] -= 1
            return create

        self.pump_until(t0)
        started = now()
        cpu0 = time.process_time()
        total = len(objects)
        deadline = started + 600
        while (state["next"] < total or state["outstanding"]) and now() < deadline:
            while state["outstanding"] < in_flight and state["next"] < total:
                state["outstanding"] += 1
                api.spawn(launch(objects[state["next"]])())
                state["next"] += 1
            self.session.poll(0.005)
        ended = now()
        return {"worker": self.wid, "names": [a[0] for a in acked], "sent": [round(a[1], 6) for a in acked],
                "acks": [round(a[2], 6) for a in acked], "errors": sum(errors.values()),
                "errors_by_code": dict(errors), "first_error": first_error[0] if first_error else None,
                "unanswered": state["outstanding"], "started": started, "ended": ended,
                "cpu_s": round(time.process_time() - cpu0, 3)}

    def cmd_nodes(self, first: int, count: int, in_flight: int, t0: float, spec: dict | None = None) -> dict:
        objs = [node(i, spec) for i in range(first, first + count)]
        return self._create_all(objs, in_flight, t0)

    def cmd_pods(self, count: int, in_flight: int, t0: float, namespace: str, spec: dict | None = None) -> dict:
        objs = [pod(f"p-{self.wid}-{i}", namespace, spec) for i in range(count)]
        return self._create_all(objs, in_flight, t0)


def main(argv: list[str] | None = None) -> int:
    return worker_main(SchedulerLoadWorker, "a worker of bench/scheduler.py (started by it)", argv)

if __name__ == "__main__":
    sys.exit(main())
