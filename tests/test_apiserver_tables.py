"""kubectl get's tables (actors.apiserver.tables).

Every kind's header, plain and wide; each kind's cells from a representative
object; every branch of printPod's STATUS, READY and RESTARTS; services'
external IPs and ports; endpoints' "+ N more..."; jobs' status, completions
and duration; HumanDuration at each of its boundaries; RFC 3339 parsing; the
tabwriter layout (column blocks, minimum width, no trailing spaces); the
NAMESPACE and kind/name forms of ``-A`` and ``get all``; and the empty-list
messages. Time is fixed: ``NOW`` is 2026-11-22T08:00:00Z.
"""

from __future__ import annotations

import calendar
import time

import pytest

from actors.apiserver.tables import (
    access_modes,
    age,
    columns,
    empty_message,
    format_labels,
    format_table,
    human_duration,
    parse_time,
    pod_ready,
    pod_restarts,
    pod_status,
    row,
    table,
    tabwrite,
)

NOW = float(calendar.timegm((2026, 11, 22, 8, 0, 0, 0, 0, 0)))


def ts(seconds_ago: float) -> str:
    """The RFC 3339 time ``seconds_ago`` before NOW."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


CREATED = ts(17 * 60 + 58)  # 2026-11-22T07:42:02Z: every object's AGE is "17m"


def obj(kind: str, name: str = "x", namespace: str | None = "default", **fields) -> dict:
    meta = {"name": name, "uid": "u-" + name, "creationTimestamp": CREATED}
    if namespace:
        meta["namespace"] = namespace
    meta.update(fields.pop("metadata", {}))
    return {"kind": kind, "metadata": meta, **fields}


# --- Time ------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "expected"), [
    pytest.param(-3, "<invalid>", id="three seconds ahead is a skew"),
    pytest.param(-2, "<invalid>", id="two seconds ahead is a skew"),
    pytest.param(-1.5, "0s", id="under two seconds ahead truncates to -1"),
    pytest.param(-1, "0s", id="one second ahead is now"),
    pytest.param(0, "0s", id="zero"),
    pytest.param(0.999, "0s", id="fractions truncate"),
    pytest.param(45, "45s", id="seconds"),
    pytest.param(119, "119s", id="seconds up to two minutes"),
    pytest.param(120, "2m", id="two minutes"),
    pytest.param(125, "2m5s", id="minutes and seconds"),
    pytest.param(599, "9m59s", id="last minutes-and-seconds"),
    pytest.param(600, "10m", id="ten minutes drops seconds"),
    pytest.param(3 * 3600 - 1, "179m", id="minutes up to three hours"),
    pytest.param(3 * 3600, "3h", id="three hours"),
    pytest.param(3 * 3600 + 600, "3h10m", id="hours and minutes"),
    pytest.param(8 * 3600 - 1, "7h59m", id="last hours-and-minutes"),
    pytest.param(8 * 3600, "8h", id="eight hours drops minutes"),
    pytest.param(48 * 3600 - 1, "47h", id="hours up to two days"),
    pytest.param(48 * 3600, "2d", id="two days"),
    pytest.param(53 * 3600, "2d5h", id="days and hours"),
    pytest.param(8 * 86400 - 1, "7d23h", id="last days-and-hours"),
    pytest.param(8 * 86400, "8d", id="eight days drops hours"),
    pytest.param(400 * 86400, "400d", id="days up to two years"),
    pytest.param(730 * 86400, "2y", id="two years"),
    pytest.param((3 * 365 + 45) * 86400, "3y45d", id="years and days"),
    pytest.param(8 * 365 * 86400 - 1, "7y364d", id="last years-and-days"),
    pytest.param(8 * 365 * 86400, "8y", id="eight years drops days"),
    pytest.param((10 * 365 + 5) * 86400, "10y", id="years"),
    pytest.param(119.99999999999, "2m", id="float error does not lose a unit"),
])
def test_human_duration(seconds, expected):
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2026-11-22T07:42:02Z", NOW - 1078, id="utc"),
    pytest.param("2026-11-22T07:42:02.250000Z", NOW - 1078 + 0.25, id="micro time"),
    pytest.param("2026-11-22T07:42:02.123456789Z", NOW - 1078 + 0.123456789, id="nanoseconds"),
    pytest.param("2026-11-22T08:42:02+01:00", NOW - 1078, id="positive offset"),
    pytest.param("2026-11-22T02:12:02-05:30", NOW - 1078, id="negative offset"),
    pytest.param("2026-11-22t07:42:02z", NOW - 1078, id="lower case"),
    pytest.param("2026-11-22", None, id="date only"),
    pytest.param("2026-13-22T07:42:02Z", None, id="month 13"),
    pytest.param("yesterday", None, id="words"),
    pytest.param("", None, id="empty"),
])
def test_parse_time(text, expected):
    got = parse_time(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("timestamp", "expected"), [
    pytest.param(ts(45), "45s", id="seconds"),
    pytest.param(ts(2 * 86400 + 5 * 3600), "2d5h", id="days"),
    pytest.param(ts(-60), "<invalid>", id="in the future"),
    pytest.param(None, "<unknown>", id="missing"),
    pytest.param("", "<unknown>", id="empty"),
    pytest.param("not a time", "<unknown>", id="unparseable"),
])
def test_age(timestamp, expected):
    assert age(timestamp, NOW) == expected


# --- Headers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "plain", "wide_extra"), [
    pytest.param("Namespace", "NAME STATUS AGE", "", id="Namespace"),
    pytest.param("Node", "NAME STATUS ROLES AGE VERSION",
                 "INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME", id="Node"),
    pytest.param("Pod", "NAME READY STATUS RESTARTS AGE",
                 "IP NODE NOMINATED_NODE READINESS_GATES", id="Pod"),
    pytest.param("Service", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", "SELECTOR", id="Service"),
    pytest.param("Endpoints", "NAME ENDPOINTS AGE", "", id="Endpoints"),
    pytest.param("EndpointSlice", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", "", id="EndpointSlice"),
    pytest.param("ConfigMap", "NAME DATA AGE", "", id="ConfigMap"),
    pytest.param("Secret", "NAME TYPE DATA AGE", "", id="Secret"),
    pytest.param("ServiceAccount", "NAME SECRETS AGE", "", id="ServiceAccount"),
    pytest.param("Lease", "NAME HOLDER AGE", "", id="Lease"),
    pytest.param("Deployment", "NAME READY UP-TO-DATE AVAILABLE AGE", "CONTAINERS IMAGES SELECTOR",
                 id="Deployment"),
    pytest.param("ReplicaSet", "NAME DESIRED CURRENT READY AGE", "CONTAINERS IMAGES SELECTOR",
                 id="ReplicaSet"),
    pytest.param("DaemonSet", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE_SELECTOR AGE",
                 "CONTAINERS IMAGES SELECTOR", id="DaemonSet"),
    pytest.param("StatefulSet", "NAME READY AGE", "CONTAINERS IMAGES", id="StatefulSet"),
    pytest.param("Job", "NAME STATUS COMPLETIONS DURATION AGE", "CONTAINERS IMAGES SELECTOR", id="Job"),
    pytest.param("CronJob", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST_SCHEDULE AGE",
                 "CONTAINERS IMAGES SELECTOR", id="CronJob"),
    pytest.param("PersistentVolume", "NAME CAPACITY ACCESS_MODES RECLAIM_POLICY STATUS CLAIM STORAGECLASS "
                 "VOLUMEATTRIBUTESCLASS REASON AGE", "VOLUMEMODE", id="PersistentVolume"),
    pytest.param("PersistentVolumeClaim", "NAME STATUS VOLUME CAPACITY ACCESS_MODES STORAGECLASS "
                 "VOLUMEATTRIBUTESCLASS AGE", "VOLUMEMODE", id="PersistentVolumeClaim"),
    pytest.param("StorageClass", "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE",
                 "", id="StorageClass"),
    pytest.param("Widget", "NAME AGE", "", id="unknown kind"),
])
def test_columns(kind, plain, wide_extra):
    # Underscores stand for the spaces inside a header (NOMINATED NODE).
    def split(text):
        return [c.replace("_", " ") for c in text.split()]
    assert columns(kind) == split(plain)
    assert columns(kind, wide=True) == split(plain) + split(wide_extra)


def test_event_columns():
    assert columns("Event") == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert columns("Event", wide=True) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE",
                                           "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]


# --- Pods: printPod ---------------------------------------------------------------------

def pod(*, containers=1, init=0, sidecars=(), phase="Running", reason=None, statuses=(),
        init_statuses=(), conditions=(), deleting=False, **status_fields) -> dict:
    spec = {"containers": [{"name": f"c{i}", "image": "img"} for i in range(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": "img",
                                   **({"restartPolicy": "Always"} if i in sidecars else {})}
                                  for i in range(init)]
    status = {"phase": phase, **status_fields}
    if reason:
        status["reason"] = reason
    if statuses:
        status["containerStatuses"] = [{"name": f"c{i}", **s} for i, s in enumerate(statuses)]
    if init_statuses:
        status["initContainerStatuses"] = [{"name": f"i{i}", **s} for i, s in enumerate(init_statuses)]
    if conditions:
        status["conditions"] = [{"type": t, "status": s, **({"reason": r} if r else {})}
                                for t, s, r in conditions]
    meta = {"deletionTimestamp": ts(-30)} if deleting else {}
    return obj("Pod", "web", metadata=meta, spec=spec, status=status)


RUNNING = {"ready": True, "restartCount": 0, "state": {"running": {"startedAt": ts(600)}}}
NOT_READY = {"ready": False, "restartCount": 0, "state": {"running": {"startedAt": ts(600)}}}


def waiting(reason, restarts=0, **extra):
    return {"ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(exit_code=0, reason=None, signal=0, restarts=0):
    state = {"exitCode": exit_code, **({"reason": reason} if reason else {}),
             **({"signal": signal} if signal else {})}
    return {"ready": False, "restartCount": restarts, "state": {"terminated": state}}


def restarted(state, restarts, finished_ago):
    return {**state, "restartCount": restarts,
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(finished_ago)}}}


# name, pod, READY, STATUS, RESTARTS
POD_CASES = [
    pytest.param(obj("Pod", "web", spec={"containers": [{"name": "c", "image": "i"}]}),
                 "0/1", "Pending", "0", id="unscheduled pod without status is Pending"),
    pytest.param(pod(phase="Pending"), "0/1", "Pending", "0", id="pending"),
    pytest.param(pod(phase="Failed", reason="Evicted"), "0/1", "Evicted", "0", id="status reason wins over phase"),
    pytest.param(pod(phase="Pending", conditions=[("PodScheduled", "False", "SchedulingGated")]),
                 "0/1", "SchedulingGated", "0", id="scheduling gated"),
    pytest.param(pod(phase="Pending", init=2, init_statuses=[waiting("PodInitializing"), waiting("PodInitializing")],
                     statuses=[waiting("PodInitializing")]),
                 "0/1", "Init:0/2", "0", id="first init container running"),
    pytest.param(pod(phase="Pending", init=2, init_statuses=[{"state": {"running": {}}}, {"state": {}}]),
                 "0/1", "Init:0/2", "0", id="init container without a waiting reason"),
    pytest.param(pod(phase="Pending", init=2, init_statuses=[terminated(0, "Completed"), {"state": {"running": {}}}]),
                 "0/1", "Init:1/2", "0", id="second init container running"),
    pytest.param(pod(phase="Pending", init=1, init_statuses=[waiting("CrashLoopBackOff", restarts=4)]),
                 "0/1", "Init:CrashLoopBackOff", "4", id="init crash loop counts init restarts"),
    pytest.param(pod(phase="Pending", init=1, init_statuses=[terminated(1, "Error")]),
                 "0/1", "Init:Error", "0", id="init error"),
    pytest.param(pod(phase="Pending", init=1, init_statuses=[terminated(3)]),
                 "0/1", "Init:ExitCode:3", "0", id="init exit code without reason"),
    pytest.param(pod(phase="Pending", init=1, init_statuses=[terminated(137, signal=9)]),
                 "0/1", "Init:Signal:9", "0", id="init signal without reason"),
    pytest.param(pod(phase="Pending", statuses=[waiting("ContainerCreating")]),
                 "0/1", "ContainerCreating", "0", id="container creating"),
    pytest.param(pod(statuses=[restarted(waiting("CrashLoopBackOff"), 5, 30)]),
                 "0/1", "CrashLoopBackOff", "5 (30s ago)", id="crash loop with last restart"),
    pytest.param(pod(phase="Pending", statuses=[waiting("ErrImagePull")]),
                 "0/1", "ErrImagePull", "0", id="image pull error"),
    pytest.param(pod(phase="Pending", statuses=[waiting("ImagePullBackOff")]),
                 "0/1", "ImagePullBackOff", "0", id="image pull backoff"),
    pytest.param(pod(statuses=[terminated(137, "OOMKilled", restarts=1)]),
                 "0/1", "OOMKilled", "1", id="terminated reason; restarts without a time"),
    pytest.param(pod(statuses=[terminated(143, signal=15)]),
                 "0/1", "Signal:15", "0", id="terminated by signal without reason"),
    pytest.param(pod(statuses=[terminated(2)]), "0/1", "ExitCode:2", "0", id="exit code without reason"),
    pytest.param(pod(phase="Succeeded", statuses=[terminated(0, "Completed")]),
                 "0/1", "Completed", "0", id="completed"),
    pytest.param(pod(containers=2, statuses=[terminated(0, "Completed"), RUNNING],
                     conditions=[("Ready", "True", None)]),
                 "1/2", "Running", "0", id="completed container beside a running one is Running"),
    pytest.param(pod(containers=2, statuses=[terminated(0, "Completed"), RUNNING],
                     conditions=[("Ready", "False", None)]),
                 "1/2", "NotReady", "0", id="completed beside running without Ready is NotReady"),
    pytest.param(pod(containers=2, statuses=[RUNNING, RUNNING]), "2/2", "Running", "0", id="all ready"),
    pytest.param(pod(containers=2, statuses=[RUNNING, NOT_READY]), "1/2", "Running", "0",
                 id="one not ready"),
    pytest.param(pod(containers=2, statuses=[waiting("CrashLoopBackOff"), waiting("ErrImagePull")]),
                 "0/2", "CrashLoopBackOff", "0", id="first container's reason wins"),
    pytest.param(pod(containers=2, statuses=[restarted(RUNNING, 2, 3600), restarted(RUNNING, 1, 45)]),
                 "2/2", "Running", "3 (45s ago)", id="restarts summed, latest restart shown"),
    pytest.param(pod(statuses=[RUNNING], deleting=True), "1/1", "Terminating", "0", id="terminating"),
    pytest.param(pod(statuses=[RUNNING], deleting=True, reason="NodeLost"), "1/1", "Unknown", "0",
                 id="deleted on a lost node is Unknown"),
    pytest.param(pod(phase="Succeeded", statuses=[terminated(0, "Completed")], deleting=True),
                 "0/1", "Completed", "0", id="a finished pod being deleted keeps its status"),
    pytest.param(pod(init=1, sidecars=(0,), statuses=[RUNNING],
                     init_statuses=[{**restarted(RUNNING, 2, 120), "started": True}],
                     conditions=[("Initialized", "True", None)]),
                 "2/2", "Running", "2 (2m ago)", id="started sidecar counts as a ready container"),
    pytest.param(pod(phase="Pending", init=2, sidecars=(0,),
                     init_statuses=[{**RUNNING, "started": True}, waiting("PodInitializing")]),
                 "1/2", "Init:1/2", "0", id="sidecar started, next init container running"),
    pytest.param(pod(init=1, statuses=[restarted(RUNNING, 1, 60)],
                     init_statuses=[restarted(terminated(0, "Completed"), 7, 30)],
                     conditions=[("Initialized", "True", None)]),
                 "1/1", "Running", "1 (60s ago)", id="finished init containers' restarts no longer count"),
]


@pytest.mark.parametrize(("given", "ready", "status", "restarts"), POD_CASES)
def test_pod_columns(given, ready, status, restarts):
    assert (pod_ready(given), pod_status(given), pod_restarts(given, NOW)) == (ready, status, restarts)
    assert row(given, NOW) == ["web", ready, status, restarts, "17m"]


@pytest.mark.parametrize(("status", "spec", "expected"), [
    pytest.param({}, {}, ["<none>", "<none>", "<none>", "<none>"], id="nothing known"),
    pytest.param({"podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
                  "nominatedNodeName": "node-2"}, {"nodeName": "node-1"},
                 ["10.244.1.5", "node-1", "node-2", "<none>"], id="placed"),
    pytest.param({"podIP": "10.244.1.5"}, {}, ["10.244.1.5", "<none>", "<none>", "<none>"],
                 id="podIP without podIPs"),
    pytest.param({"conditions": [{"type": "example.com/gate", "status": "True"}]},
                 {"readinessGates": [{"conditionType": "example.com/gate"},
                                     {"conditionType": "example.com/other"}]},
                 ["<none>", "<none>", "<none>", "1/2"], id="readiness gates"),
])
def test_pod_wide(status, spec, expected):
    given = obj("Pod", "web", spec={"containers": [{"name": "c"}], **spec}, status={"phase": "Running", **status})
    assert row(given, NOW, wide=True)[5:] == expected


# --- Every other kind ---------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                    {"name": "log", "image": "busybox"}],
                     "nodeSelector": {"disk": "ssd", "arch": "amd64"}}}
SELECTOR = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In",
                                                                  "values": ["fe", "be"]}]}

# name, object, plain row, wide row (None: not checked beyond its length)
ROW_CASES = [
    pytest.param(obj("Namespace", "default", None, status={"phase": "Active"}),
                 ["default", "Active", "17m"], None, id="namespace"),
    pytest.param(obj("Namespace", "old", None, metadata={"deletionTimestamp": ts(5)},
                     status={"phase": "Terminating"}),
                 ["old", "Terminating", "17m"], None, id="namespace terminating"),
    pytest.param(obj("Node", "node-1", None,
                     metadata={"labels": {"node-role.kubernetes.io/control-plane": "",
                                          "node-role.kubernetes.io/etcd": "", "kubernetes.io/role": "infra"}},
                     status={"conditions": [{"type": "Ready", "status": "True"}],
                             "addresses": [{"type": "Hostname", "address": "node-1"},
                                           {"type": "InternalIP", "address": "10.0.0.11"}],
                             "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian 12",
                                          "kernelVersion": "6.1.0", "containerRuntimeVersion": "kubesim://1"}}),
                 ["node-1", "Ready", "control-plane,etcd,infra", "17m", "v1.32.0"],
                 ["node-1", "Ready", "control-plane,etcd,infra", "17m", "v1.32.0", "10.0.0.11", "<none>",
                  "Debian 12", "6.1.0", "kubesim://1"], id="node ready with roles"),
    pytest.param(obj("Node", "node-2", None, spec={"unschedulable": True},
                     status={"conditions": [{"type": "Ready", "status": "Unknown"}]}),
                 ["node-2", "NotReady,SchedulingDisabled", "<none>", "17m", ""],
                 ["node-2", "NotReady,SchedulingDisabled", "<none>", "17m", "", "<none>", "<none>",
                  "<unknown>", "<unknown>", "<unknown>"], id="node not ready and cordoned"),
    pytest.param(obj("Node", "node-3", None, spec={"unschedulable": True}),
                 ["node-3", "Unknown,SchedulingDisabled", "<none>", "17m", ""], None,
                 id="node without a Ready condition"),
    pytest.param(obj("Service", "web", spec={"type": "ClusterIP", "clusterIP": "10.96.0.10",
                                             "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                                             "ports": [{"port": 80, "protocol": "TCP"},
                                                       {"port": 53, "protocol": "UDP"}]}),
                 ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "17m"],
                 ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "17m", "app=web"],
                 id="service cluster ip"),
    pytest.param(obj("Service", "np", spec={"type": "NodePort", "clusterIPs": ["10.96.0.11"],
                                            "externalIPs": ["1.2.3.4", "5.6.7.8"],
                                            "ports": [{"port": 80, "nodePort": 30080}]}),
                 ["np", "NodePort", "10.96.0.11", "1.2.3.4,5.6.7.8", "80:30080/TCP", "17m"],
                 ["np", "NodePort", "10.96.0.11", "1.2.3.4,5.6.7.8", "80:30080/TCP", "17m", "<none>"],
                 id="service node port with external ips"),
    pytest.param(obj("Service", "lb", spec={"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"],
                                            "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
                 ["lb", "LoadBalancer", "10.96.0.12", "<pending>", "443:31443/TCP", "17m"], None,
                 id="service load balancer pending"),
    pytest.param(obj("Service", "lb2", spec={"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"],
                                             "externalIPs": ["9.9.9.9"], "ports": [{"port": 80}]},
                     status={"loadBalancer": {"ingress": [{"ip": "203.0.113.20"}, {"ip": "203.0.113.10"},
                                                          {"hostname": "lb.example.com"}]}}),
                 ["lb2", "LoadBalancer", "10.96.0.13", "203.0.113.10,...,9.9.9.9", "80/TCP", "17m"],
                 ["lb2", "LoadBalancer", "10.96.0.13", "203.0.113.10,203.0.113.20,lb.example.com,9.9.9.9",
                  "80/TCP", "17m", "<none>"], id="service load balancer ingress cut unless wide"),
    pytest.param(obj("Service", "ext", spec={"type": "ExternalName", "externalName": "db.example.com"}),
                 ["ext", "ExternalName", "<none>", "db.example.com", "<none>", "17m"], None,
                 id="service external name without ports"),
    pytest.param(obj("Service", "headless", spec={"clusterIP": "None", "clusterIPs": ["None"],
                                                  "ports": [{"port": 5432}]}),
                 ["headless", "ClusterIP", "None", "<none>", "5432/TCP", "17m"], None,
                 id="service headless; type and protocol defaulted"),
    pytest.param(obj("Endpoints", "none"), ["none", "<none>", "17m"], None, id="endpoints empty"),
    pytest.param(obj("Endpoints", "web", subsets=[{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                                                   "ports": [{"port": 80}]}]),
                 ["web", "10.0.0.1:80,10.0.0.2:80", "17m"], None, id="endpoints"),
    pytest.param(obj("Endpoints", "big", subsets=[
        {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)], "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]),
                 ["big", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 4 more...", "17m"], None,
                 id="endpoints more than three"),
    pytest.param(obj("Endpoints", "v6", subsets=[{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]},
                                                  {"addresses": [{"ip": "10.0.0.9"}]}]),
                 ["v6", "[fd00::1]:80,10.0.0.9", "17m"], None, id="endpoints ipv6 and headless subset"),
    pytest.param(obj("EndpointSlice", "web-abc12", addressType="IPv4",
                     ports=[{"port": 80}, {"name": "metrics"}, {}],
                     endpoints=[{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]},
                                {"addresses": ["10.0.0.4"]}]),
                 ["web-abc12", "IPv4", "80,metrics,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "17m"], None,
                 id="endpoint slice"),
    pytest.param(obj("EndpointSlice", "empty-x", addressType="IPv6"),
                 ["empty-x", "IPv6", "<unset>", "<unset>", "17m"], None, id="endpoint slice empty"),
    pytest.param(obj("ConfigMap", "cfg", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="}),
                 ["cfg", "3", "17m"], None, id="config map counts binary data"),
    pytest.param(obj("Secret", "tls", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""}),
                 ["tls", "kubernetes.io/tls", "2", "17m"], None, id="secret"),
    pytest.param(obj("ServiceAccount", "default", secrets=[{"name": "tok"}]), ["default", "1", "17m"], None,
                 id="service account"),
    pytest.param(obj("Lease", "node-1", "kube-node-lease", spec={"holderIdentity": "node-1"}),
                 ["node-1", "node-1", "17m"], None, id="lease"),
    pytest.param(obj("Lease", "free", spec={}), ["free", "", "17m"], None, id="lease without holder"),
    pytest.param(obj("Deployment", "web", spec={"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
                     status={"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
                 ["web", "2/3", "3", "2", "17m"],
                 ["web", "2/3", "3", "2", "17m", "web,log", "nginx:1.27,busybox", "app=web,tier in (be,fe)"],
                 id="deployment"),
    pytest.param(obj("Deployment", "bare", spec={"template": {"spec": {"containers": []}}}),
                 ["bare", "0/1", "0", "0", "17m"], ["bare", "0/1", "0", "0", "17m", "", "", ""],
                 id="deployment without selector or replicas"),
    pytest.param(obj("ReplicaSet", "web-7d4b9c", spec={"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
                     status={"replicas": 3, "readyReplicas": 1}),
                 ["web-7d4b9c", "3", "3", "1", "17m"],
                 ["web-7d4b9c", "3", "3", "1", "17m", "web,log", "nginx:1.27,busybox", "app=web,tier in (be,fe)"],
                 id="replica set"),
    pytest.param(obj("ReplicaSet", "bare", spec={"replicas": 0, "template": {"spec": {}}}),
                 ["bare", "0", "0", "0", "17m"], ["bare", "0", "0", "0", "17m", "", "", "<none>"],
                 id="replica set scaled to zero without selector"),
    pytest.param(obj("DaemonSet", "agent", spec={"selector": {"matchLabels": {"app": "agent"}},
                                                 "template": TEMPLATE},
                     status={"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                             "updatedNumberScheduled": 3, "numberAvailable": 2}),
                 ["agent", "3", "3", "2", "3", "2", "arch=amd64,disk=ssd", "17m"],
                 ["agent", "3", "3", "2", "3", "2", "arch=amd64,disk=ssd", "17m", "web,log",
                  "nginx:1.27,busybox", "app=agent"], id="daemon set"),
    pytest.param(obj("StatefulSet", "db", spec={"replicas": 3, "template": TEMPLATE},
                     status={"readyReplicas": 3}),
                 ["db", "3/3", "17m"], ["db", "3/3", "17m", "web,log", "nginx:1.27,busybox"], id="stateful set"),
    pytest.param(obj("CronJob", "backup", spec={"schedule": "*/5 * * * *", "suspend": False,
                                                "jobTemplate": {"spec": {"template": TEMPLATE}}},
                     status={"active": [{"name": "backup-1"}], "lastScheduleTime": ts(90)}),
                 ["backup", "*/5 * * * *", "<none>", "False", "1", "90s", "17m"],
                 ["backup", "*/5 * * * *", "<none>", "False", "1", "90s", "17m", "web,log", "nginx:1.27,busybox",
                  "<none>"], id="cron job"),
    pytest.param(obj("CronJob", "nightly", spec={"schedule": "0 3 * * *", "timeZone": "Europe/Paris",
                                                 "suspend": True, "jobTemplate": {"spec": {}}}),
                 ["nightly", "0 3 * * *", "Europe/Paris", "True", "0", "<none>", "17m"], None,
                 id="cron job suspended with time zone"),
    pytest.param(obj("CronJob", "raw", spec={"schedule": "@hourly"}),
                 ["raw", "@hourly", "<none>", "<unset>", "0", "<none>", "17m"], None,
                 id="cron job without suspend"),
    pytest.param(obj("PersistentVolume", "pv-1", None,
                     spec={"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce",
                                                                            "ReadWriteOnce"],
                           "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard",
                           "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
                     status={"phase": "Bound"}),
                 ["pv-1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "standard", "<unset>", "", "17m"],
                 ["pv-1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "standard", "<unset>", "", "17m",
                  "Filesystem"], id="persistent volume"),
    pytest.param(obj("PersistentVolume", "pv-2", None,
                     metadata={"deletionTimestamp": ts(1),
                               "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
                     spec={"accessModes": ["ReadWriteOncePod", "ReadOnlyMany"], "storageClassName": "standard",
                           "volumeAttributesClassName": "gold"},
                     status={"phase": "Failed", "reason": "Recycler failed"}),
                 ["pv-2", "0", "ROX,RWOP", "", "Terminating", "", "legacy", "gold", "Recycler failed", "17m"],
                 ["pv-2", "0", "ROX,RWOP", "", "Terminating", "", "legacy", "gold", "Recycler failed", "17m",
                  "<unset>"], id="persistent volume terminating with beta class annotation"),
    pytest.param(obj("PersistentVolumeClaim", "data",
                     spec={"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Block",
                           "resources": {"requests": {"storage": "5Gi"}}},
                     status={"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]}),
                 ["data", "Bound", "pv-1", "10Gi", "RWO", "standard", "<unset>", "17m"],
                 ["data", "Bound", "pv-1", "10Gi", "RWO", "standard", "<unset>", "17m", "Block"],
                 id="persistent volume claim bound"),
    pytest.param(obj("PersistentVolumeClaim", "wait", spec={"resources": {"requests": {"storage": "5Gi"}}},
                     status={"phase": "Pending", "accessModes": ["ReadWriteOnce"]}),
                 ["wait", "Pending", "", "", "", "", "<unset>", "17m"], None,
                 id="persistent volume claim pending shows no capacity"),
    pytest.param(obj("StorageClass", "standard", None,
                     metadata={"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                     provisioner="kubesim.io/hostpath", reclaimPolicy="Retain",
                     volumeBindingMode="WaitForFirstConsumer", allowVolumeExpansion=True),
                 ["standard (default)", "kubesim.io/hostpath", "Retain", "WaitForFirstConsumer", "true", "17m"],
                 None, id="storage class default"),
    pytest.param(obj("StorageClass", "slow", None, provisioner="kubesim.io/hostpath"),
                 ["slow", "kubesim.io/hostpath", "Delete", "Immediate", "false", "17m"], None,
                 id="storage class defaults"),
    pytest.param(obj("Widget", "w"), ["w", "17m"], ["w", "17m"], id="unknown kind"),
]


@pytest.mark.parametrize(("given", "plain", "wide"), ROW_CASES)
def test_rows(given, plain, wide):
    assert row(given, NOW) == plain
    if wide is not None:
        assert row(given, NOW, wide=True) == wide
    assert len(row(given, NOW, wide=True)) == len(columns(given["kind"], wide=True))
    assert len(plain) == len(columns(given["kind"]))


def job(conditions=(), deleting=False, **spec_status) -> dict:
    status = {k: v for k, v in spec_status.items() if k in ("succeeded", "startTime", "completionTime")}
    spec = {k: v for k, v in spec_status.items() if k in ("completions", "parallelism")}
    status["conditions"] = [{"type": t, "status": s} for t, s in conditions]
    meta = {"deletionTimestamp": ts(-30)} if deleting else {}
    return obj("Job", "pi", metadata=meta, spec={**spec, "selector": {"matchLabels": {"job": "pi"}},
                                                  "template": TEMPLATE}, status=status)


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param(job(completions=1, startTime=ts(30)), ["Running", "0/1", "30s"], id="running"),
    pytest.param(job([("Complete", "True")], completions=3, succeeded=3, startTime=ts(600),
                     completionTime=ts(475)), ["Complete", "3/3", "2m5s"], id="complete"),
    pytest.param(job([("FailureTarget", "True"), ("Failed", "True")], completions=1, startTime=ts(60),
                     completionTime=ts(0)), ["Failed", "0/1", "60s"], id="failed"),
    pytest.param(job([("Complete", "False")], deleting=True, startTime=ts(10)), ["Terminating", "0/1", "10s"],
                 id="terminating"),
    pytest.param(job([("Suspended", "True")], parallelism=3), ["Suspended", "0/1 of 3", ""],
                 id="suspended, parallel without completions, never started"),
    pytest.param(job([("FailureTarget", "True")], parallelism=1, succeeded=0, startTime=ts(5)),
                 ["FailureTarget", "0/1", "5s"], id="failure target"),
    pytest.param(job([("Suspended", "False")], succeeded=1, startTime=ts(3 * 3600)),
                 ["Running", "1/1", "3h"], id="resumed"),
])
def test_job_rows(given, expected):
    assert row(given, NOW) == ["pi", *expected, "17m"]
    assert row(given, NOW, wide=True)[5:] == ["web,log", "nginx:1.27,busybox", "job=pi"]


EVENT = {
    "kind": "Event",
    "metadata": {"name": "web.1797", "namespace": "default", "creationTimestamp": CREATED},
    "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "fieldPath": "spec.containers{web}"},
    "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container\n",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": ts(600), "lastTimestamp": ts(20), "count": 7,
}


@pytest.mark.parametrize(("given", "plain", "wide_tail"), [
    pytest.param(EVENT, ["20s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container"],
                 ["spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "10m", "7",
                  "web.1797"], id="repeated event"),
    pytest.param({**EVENT, "lastTimestamp": None, "firstTimestamp": None, "count": 0, "eventTime": ts(3),
                  "source": {}, "reportingController": "kubesim/scheduler", "reportingInstance": "sched-0",
                  "involvedObject": {"kind": "Node"}},
                 ["3s", "Warning", "BackOff", "node", "Back-off restarting failed container"],
                 ["", "kubesim/scheduler, sched-0", "Back-off restarting failed container", "3s", "1",
                  "web.1797"], id="new-style event without count or name"),
    pytest.param({**EVENT, "series": {"count": 12, "lastObservedTime": ts(4)}},
                 ["4s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container"],
                 ["spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "10m", "12",
                  "web.1797"], id="event series"),
    pytest.param({**EVENT, "firstTimestamp": None, "lastTimestamp": None, "eventTime": None},
                 ["<unknown>", "Warning", "BackOff", "pod/web", "Back-off restarting failed container"],
                 ["spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container",
                  "<unknown>", "7", "web.1797"], id="event without times"),
])
def test_event_rows(given, plain, wide_tail):
    assert row(given, NOW) == plain
    assert row(given, NOW, wide=True) == plain[:4] + wide_tail


@pytest.mark.parametrize(("modes", "expected"), [
    pytest.param([], "", id="none"),
    pytest.param(["ReadWriteOncePod", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOnce"], "RWO,ROX,RWX,RWOP",
                 id="fixed order"),
    pytest.param(["ReadWriteOnce", "ReadWriteOnce"], "RWO", id="duplicates once"),
])
def test_access_modes(modes, expected):
    assert access_modes(modes) == expected


@pytest.mark.parametrize(("labels", "expected"), [
    pytest.param(None, "<none>", id="none"),
    pytest.param({}, "<none>", id="empty"),
    pytest.param({"tier": "fe", "app": "web"}, "app=web,tier=fe", id="sorted by key"),
])
def test_format_labels(labels, expected):
    assert format_labels(labels) == expected


# --- Tables and their layout ---------------------------------------------------------------

PODS = [pod(statuses=[RUNNING]), {**pod(statuses=[RUNNING]), "metadata": {
    "name": "api-0", "namespace": "prod", "creationTimestamp": ts(3 * 86400)}}]


def test_table_plain():
    headers, rows = table("Pod", PODS, NOW)
    assert headers == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows == [["web", "1/1", "Running", "0", "17m"], ["api-0", "1/1", "Running", "0", "3d"]]


def test_table_all_namespaces_and_kinds():
    headers, rows = table("Deployment", [obj("Deployment", "web", spec={"replicas": 1})], NOW,
                          with_namespace=True, with_kind=True)
    assert headers == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows == [["default", "deployment.apps/web", "0/1", "0", "0", "17m"]]
    _, rows = table("Pod", PODS[:1], NOW, with_kind=True)
    assert rows[0][0] == "pod/web"


def test_table_cluster_scoped_kind_has_no_namespace_column():
    headers, rows = table("Node", [obj("Node", "node-1", None)], NOW, with_namespace=True, with_kind=True)
    assert headers[:2] == ["NAME", "STATUS"]
    assert rows[0][0] == "node/node-1"


def test_table_events_keep_their_columns_with_kind():
    headers, rows = table("Event", [EVENT], NOW, with_namespace=True, with_kind=True)
    assert headers == ["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[0][:2] == ["default", "20s"]


def test_table_reads_kind_from_argument():
    # Objects from a typed list may lack their kind.
    no_kind = {k: v for k, v in obj("ConfigMap", "cfg", data={"a": "b"}).items() if k != "kind"}
    assert table("ConfigMap", [no_kind], NOW)[1] == [["cfg", "1", "17m"]]


def test_format_table_pods():
    assert format_table(*table("Pod", PODS, NOW, with_namespace=True)) == (
        "NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE\n"
        "default     web     1/1     Running   0          17m\n"
        "prod        api-0   1/1     Running   0          3d\n")


@pytest.mark.parametrize(("headers", "rows", "expected"), [
    pytest.param(["NAME", "AGE"], [], "NAME   AGE\n", id="header only"),
    pytest.param(["NAME", "DATA", "AGE"], [["a", "1", "5d"], ["kube-root-ca.crt", "12", "3m"]],
                 "NAME               DATA   AGE\n"
                 "a                  1      5d\n"
                 "kube-root-ca.crt   12     3m\n", id="columns padded by three"),
    pytest.param(["A", "B", "C"], [["x", "y", "z"]], "A     B     C\nx     y     z\n",
                 id="narrow columns take the minimum width of six"),
    pytest.param(["NAME", "HOLDER", "AGE"], [["l", "", "1m"]], "NAME   HOLDER   AGE\nl               1m\n",
                 id="empty cell is padded"),
    pytest.param(["NAME", "MESSAGE"], [["e", ""]], "NAME   MESSAGE\ne\n", id="no trailing spaces"),
    pytest.param(["NAME", "NODE"], [["pödé", "ñ"]], "NAME   NODE\npödé   ñ\n", id="characters not bytes"),
])
def test_format_table(headers, rows, expected):
    assert format_table(headers, rows) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("a\tb\naaa\tb\n", "a    b\naaa  b\n", id="one block"),
    pytest.param("a\tb\nno cells here\naaa\tb\n", "a  b\nno cells here\naaa  b\n",
                 id="a line without cells ends the block"),
    pytest.param("Name:\tx\nIPs:\n  IP:\t1.2.3.4\nControlled By:\ty\n",
                 "Name:  x\nIPs:\n  IP:           1.2.3.4\nControlled By:  y\n",
                 id="describe's nested line aligns with the next block"),
    pytest.param("k:\tv\n\tw\n", "k:  v\n    w\n", id="continuation line"),
    pytest.param("a\tb\tc\naa\tb\n", "a   b  c\naa  b\n", id="the last cell is never padded"),
    pytest.param("a\tb\t", "a  b", id="unfinished line drops its empty last cell"),
    pytest.param("", "", id="empty"),
])
def test_tabwrite(text, expected):
    assert tabwrite(text, padding=2) == expected


@pytest.mark.parametrize(("kind", "namespace", "all_namespaces", "expected"), [
    pytest.param("Pod", "default", False, "No resources found in default namespace.", id="namespaced"),
    pytest.param("Deployment", "prod", False, "No resources found in prod namespace.", id="other namespace"),
    pytest.param("Pod", "default", True, "No resources found", id="all namespaces"),
    pytest.param("Node", "default", False, "No resources found", id="cluster scoped"),
    pytest.param("PersistentVolume", None, False, "No resources found", id="cluster scoped without namespace"),
    pytest.param("Widget", "default", False, "No resources found in default namespace.", id="unknown kind"),
])
def test_empty_message(kind, namespace, all_namespaces, expected):
    assert empty_message(kind, namespace, all_namespaces) == expected
