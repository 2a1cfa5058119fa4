"""What the dashboard draws, from the objects its informers hold: plain dicts made ready for the page.

The page is a picture, not a table dump: each view here picks what a person
learning the cluster looks at — a node's Ready condition and taints, a pod's
STATUS as ``kubectl get pods`` would show it, a Service's endpoints by
readiness, the newest events — and the page draws it. The shapes are the
contract with ``static/app.js`` (``/api/state``).

Pure: objects and ``now`` (cluster seconds) in, dicts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actors.apiserver.tables import parse_time, pod_ready, pod_status

#: Most nodes listed in full (a hollow cluster of thousands is summed up: nodes_total says how many).
MAX_NODES = 200
#: Most pods listed (those of the listed nodes, and unscheduled ones, first).
MAX_PODS = 2000
#: Newest events shown.
MAX_EVENTS = 100
ZONE_LABEL = "topology.kubernetes.io/zone"


def _meta(obj: Mapping, key: str, default: Any = "") -> Any:
    return (obj.get("metadata") or {}).get(key, default)


def _age(obj: Mapping, now: float) -> float:
    created = parse_time(_meta(obj, "creationTimestamp") or "")
    return round(max(0.0, now - created), 1) if created is not None else 0.0


def _condition(obj: Mapping, kind: str) -> Mapping:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c
    return {}


def node_view(node: Mapping, process_names: Iterable[str], pods_on: int) -> dict:
    ready = _condition(node, "Ready").get("status") or "Unknown"
    unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
    status = "Ready" if ready == "True" else "NotReady"  # as kubectl get nodes: Unknown is NotReady too
    if unschedulable:
        status += ",SchedulingDisabled"
    addresses = (node.get("status") or {}).get("addresses") or []
    internal = next((a.get("address", "") for a in addresses if isinstance(a, Mapping)
                     and a.get("type") == "InternalIP"), "")
    name = _meta(node, "name")
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, Mapping)]
    return {"name": name, "process": name if name in process_names else "", "status": status, "ready": ready,
            "unschedulable": unschedulable, "zone": (_meta(node, "labels") or {}).get(ZONE_LABEL, ""),
            "internal_ip": internal, "pod_cidr": (node.get("spec") or {}).get("podCIDR", ""), "taints": taints,
            "pods_total": pods_on}


def pod_view(pod: Mapping, now: float) -> dict:
    status = pod.get("status") or {}
    owners = _meta(pod, "ownerReferences") or []
    owner = next((f"{o.get('kind')}/{o.get('name')}" for o in owners if isinstance(o, Mapping)
                  and o.get("controller")), "")
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []
                   if isinstance(c, Mapping))
    return {"namespace": _meta(pod, "namespace"), "name": _meta(pod, "name"),
            "node": (pod.get("spec") or {}).get("nodeName") or "", "phase": status.get("phase") or "Pending",
            "status": pod_status(pod), "ready": pod_ready(pod),
            "is_ready": _condition(pod, "Ready").get("status") == "True", "restarts": restarts,
            "ip": status.get("podIP") or "", "owner": owner, "age_s": _age(pod, now)}


def deployment_view(d: Mapping) -> dict:
    status = d.get("status") or {}
    return {"namespace": _meta(d, "namespace"), "name": _meta(d, "name"),
            "replicas": int((d.get("spec") or {}).get("replicas", 1) or 0),
            "ready": int(status.get("readyReplicas") or 0), "updated": int(status.get("updatedReplicas") or 0),
            "available": int(status.get("availableReplicas") or 0)}


def service_view(svc: Mapping, slices: Iterable[Mapping], pod_nodes: Mapping[tuple[str, str], str]) -> dict:
    """A Service with its endpoints, from the EndpointSlices labelled with its name."""
    spec = svc.get("spec") or {}
    ns, name = _meta(svc, "namespace"), _meta(svc, "name")
    endpoints = []
    for s in slices:
        for ep in s.get("endpoints") or []:
            if not isinstance(ep, Mapping):
                continue
            ref = ep.get("targetRef") or {}
            pod = ref.get("name", "") if ref.get("kind") == "Pod" else ""
            ready = (ep.get("conditions") or {}).get("ready") is not False
            for ip in ep.get("addresses") or []:
                endpoints.append({"ip": ip, "pod": pod, "node": ep.get("nodeName") or pod_nodes.get((ns, pod), ""),
                                  "ready": ready})
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ports = [f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
             for p in spec.get("ports") or [] if isinstance(p, Mapping)]
    return {"namespace": ns, "name": name, "type": spec.get("type") or "ClusterIP",
            "cluster_ip": spec.get("clusterIP") or "",
            "external_ip": ",".join(i.get("ip", "") for i in ingress if isinstance(i, Mapping)),
            "ports": ports, "endpoints": sorted(endpoints, key=lambda e: e["ip"])}


def event_view(ev: Mapping, now: float) -> dict:
    involved = ev.get("involvedObject") or ev.get("regarding") or {}
    last = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev, "creationTimestamp") or "")
    return {"namespace": _meta(ev, "namespace"), "type": ev.get("type") or "Normal", "reason": ev.get("reason") or "",
            "object": f"{involved.get('kind', '')}/{involved.get('name', '')}", "message": ev.get("message") or "",
            "count": int(ev.get("count") or 1), "age_s": round(max(0.0, now - last), 1) if last else 0.0,
            "involved": {"kind": involved.get("kind", ""), "namespace": involved.get("namespace", ""),
                         "name": involved.get("name", "")}}


def events_about(events: Iterable[Mapping], kind: str, namespace: str, name: str, now: float) -> list[dict]:
    views = [event_view(e, now) for e in events]
    mine = [v for v in views if v["involved"]["kind"] == kind and v["involved"]["name"] == name
            and v["involved"]["namespace"] == namespace]
    return sorted(mine, key=lambda v: v["age_s"])


def conditions(obj: Mapping) -> list[dict]:
    return [{"type": c.get("type", ""), "status": c.get("status", ""), "reason": c.get("reason", ""),
             "message": c.get("message", ""), "last_transition": c.get("lastTransitionTime", "")}
            for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, Mapping)]


def cluster_picture(*, nodes: Iterable[Mapping], pods: Iterable[Mapping], deployments: Iterable[Mapping],
                    services: Iterable[Mapping], slices: Iterable[Mapping], events: Iterable[Mapping],
                    process_names: Iterable[str], now: float) -> dict:
    """The objects part of ``/api/state``: nodes with their pods, workloads, Services, the newest events."""
    names = set(process_names)
    all_nodes = sorted(nodes, key=lambda n: _meta(n, "name"))
    shown = all_nodes[:MAX_NODES]
    shown_names = {_meta(n, "name") for n in shown}
    pods = list(pods)
    per_node: dict[str, int] = {}
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName") or ""
        per_node[node] = per_node.get(node, 0) + 1
    first = [p for p in pods if ((p.get("spec") or {}).get("nodeName") or "") in shown_names | {""}]
    listed = sorted(first, key=lambda p: (_meta(p, "namespace"), _meta(p, "name")))[:MAX_PODS]
    pod_nodes = {(_meta(p, "namespace"), _meta(p, "name")): (p.get("spec") or {}).get("nodeName") or "" for p in pods}
    by_service: dict[tuple[str, str], list[Mapping]] = {}
    for s in slices:
        owner = (_meta(s, "labels") or {}).get("kubernetes.io/service-name")
        if owner:
            by_service.setdefault((_meta(s, "namespace"), owner), []).append(s)
    newest = sorted((event_view(e, now) for e in events), key=lambda v: v["age_s"])[:MAX_EVENTS]
    return {
        "nodes": [node_view(n, names, per_node.get(_meta(n, "name"), 0)) for n in shown],
        "nodes_total": len(all_nodes),
        "pods": [pod_view(p, now) for p in listed],
        "pods_total": len(pods),
        "deployments": sorted((deployment_view(d) for d in deployments), key=lambda d: (d["namespace"], d["name"])),
        "services": sorted((service_view(s, by_service.get((_meta(s, "namespace"), _meta(s, "name")), []), pod_nodes)
                            for s in services), key=lambda s: (s["namespace"], s["name"])),
        "events": newest,
    }


def leaders(leases: Iterable[Mapping]) -> dict[str, str]:
    """Lease name -> its holder's identity (the process holding it)."""
    return {_meta(lease, "name"): (lease.get("spec") or {}).get("holderIdentity") or "" for lease in leases}


#: The Lease each leader-elected component competes for.
LEASE_OF = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager",
            "cloud-controller-manager": "cloud-controller-manager"}


def component_views(rows: Iterable[Mapping], held: Mapping[str, str]) -> list[dict]:
    """The control-plane and add-on processes (not the store members), with their supervisor's state and,
    for the leader-elected ones, whether they hold their Lease."""
    out = []
    for r in rows:
        lease = LEASE_OF.get(r["component"], "")
        role = ("leader" if held.get(lease) == r["name"] else "standby") if lease else ""
        out.append({"name": r["name"], "component": r["component"], "state": r["state"], "pid": r.get("pid"),
                    "restarts": r.get("restarts", 0), "role": role, "lease": lease})
    return out
