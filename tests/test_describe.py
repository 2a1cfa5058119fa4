"""kubectl describe's text (kubesim.describe).

Whole descriptions compared exactly, as kubectl 1.32 lays them out: a pod
with an init container, two containers (running after an OOM kill, and in a
crash loop), conditions, volumes, tolerations and events (a repeated one, a
series, one with a fieldPath); a deployment with its old and new
ReplicaSets; a cordoned, tainted node; a load-balanced service with its
endpoint slices; a terminating namespace; a kind without a describer of its
own (the generic tree). Then the parts one at a time: the events table, QoS
classes, container states, probes, environment, volumes, annotations, and
the generic describer's field labels. Time is fixed: ``NOW`` is
2026-11-22T08:00:00Z.
"""

from __future__ import annotations

import calendar
import copy
import re
import time

import pytest

from kubesim.describe import describe

NOW = float(calendar.timegm((2026, 11, 22, 8, 0, 0, 0, 0, 0)))


def ts(seconds_ago: float) -> str:
    """The RFC 3339 time ``seconds_ago`` before NOW."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


def lines(*text: str) -> str:
    """Expected output, one argument per line (so trailing spaces stay visible)."""
    return "\n".join(text) + "\n"


def event(reason: str, message: str, *, type_: str = "Normal", component: str = "kubelet",
          first: float | None = None, last: float | None = None, count: int = 1, **extra) -> dict:
    e = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"x.{reason}", "namespace": "default"},
         "type": type_, "reason": reason, "message": message, "count": count,
         "source": {"component": component} if component else {}, **extra}
    if first is not None:
        e["firstTimestamp"] = ts(first)
    if last is not None:
        e["lastTimestamp"] = ts(last)
    return e


POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "web-7d4b9c-x2x9p", "namespace": "default", "uid": "p-1", "creationTimestamp": ts(1078),
        "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "hello"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "rs-1",
                             "controller": True}],
    },
    "spec": {
        "nodeName": "node-1", "serviceAccountName": "default", "priority": 0,
        "initContainers": [{"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c"],
                            "args": ["echo migrating\necho done"]}],
        "containers": [
            {"name": "web", "image": "nginx:1.27",
             "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
             "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
             "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"}, "periodSeconds": 5},
             "env": [{"name": "MODE", "value": "prod"},
                     {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                     {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
             "volumeMounts": [{"name": "data", "mountPath": "/data", "subPath": "web"},
                              {"name": "config", "mountPath": "/etc/web", "readOnly": True}]},
            {"name": "log", "image": "busybox:1.36"},
        ],
        "volumes": [{"name": "config", "configMap": {"name": "web-config"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.11", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": ts(1078),
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"},
                       {"type": "ContainersReady", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
        "initContainerStatuses": [
            {"name": "migrate", "ready": True, "restartCount": 0, "containerID": "kubesim://i1",
             "imageID": "busybox@sha256:aa",
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(1070),
                                      "finishedAt": ts(1065)}}}],
        "containerStatuses": [
            {"name": "web", "ready": True, "restartCount": 3, "containerID": "kubesim://c1",
             "imageID": "nginx@sha256:bb", "state": {"running": {"startedAt": ts(45)}},
             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": ts(300),
                                          "finishedAt": ts(45)}}},
            {"name": "log", "ready": False, "restartCount": 5, "containerID": "kubesim://c2",
             "imageID": "busybox@sha256:aa",
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(100),
                                          "finishedAt": ts(99)}}},
        ],
    },
}

POD_EVENTS = [
    event("BackOff", "Back-off restarting failed container log in pod web-7d4b9c-x2x9p_default(p-1)",
          type_="Warning", first=900, last=20, count=12,
          involvedObject={"kind": "Pod", "name": "web-7d4b9c-x2x9p", "fieldPath": "spec.containers{log}"}),
    event("Scheduled", "Successfully assigned default/web-7d4b9c-x2x9p to node-1", component="default-scheduler",
          first=1078, last=1078),
    # An events.k8s.io-style event: eventTime, a series, the controller instead of a source.
    event("Pulled", '  Container image "nginx:1.27" already present on machine\n', component="",
          reportingController="kubelet", eventTime=ts(1060), last=45, count=0,
          series={"count": 4, "lastObservedTime": ts(45)}),
]

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                             "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                     "fieldPath": "metadata.name"}}}]}],
             "volumes": [{"name": "cache", "emptyDir": {}}]},
}

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "d-1", "creationTimestamp": ts(1078),
                 "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "minReadySeconds": 5,
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
             "template": TEMPLATE},
    "status": {"replicas": 4, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3,
               "unavailableReplicas": 1,
               "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                              {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]},
}


def replica_set(name: str, image: str, created_ago: float, owner_uid: str = "d-1") -> dict:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"]["pod-template-hash"] = name.rsplit("-", 1)[1]
    template["spec"]["containers"][0]["image"] = image
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": ts(created_ago),
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner_uid,
                                              "controller": True}]},
            "spec": {"replicas": 2, "template": template}, "status": {"replicas": 2}}


REPLICA_SETS = [replica_set("web-5f6d8", "nginx:1.27", 60), replica_set("api-6c7d9", "nginx:1.27", 30, "d-2"),
                replica_set("web-7d4b9c", "nginx:1.26", 1078)]

NODE = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "node-1", "uid": "n-1", "creationTimestamp": ts(3600),
                 "labels": {"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/worker": ""},
                 "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
    "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "providerID": "kubesim://node-1",
             "unschedulable": True,
             "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                        {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]},
    "status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": ts(10), "lastTransitionTime": ts(3600),
             "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
            {"type": "Ready", "status": "True", "lastHeartbeatTime": ts(10), "lastTransitionTime": ts(3590),
             "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}, {"type": "Hostname", "address": "node-1"}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
        "nodeInfo": {"machineID": "m-1", "systemUUID": "s-1", "bootID": "b-1", "kernelVersion": "6.1.0",
                     "osImage": "kubesim", "operatingSystem": "linux", "architecture": "amd64",
                     "containerRuntimeVersion": "kubesim://0.1", "kubeletVersion": "v1.32.0",
                     "kubeProxyVersion": "v1.32.0"},
    },
}

SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ts(1078), "labels": {"app": "web"}},
    "spec": {"type": "LoadBalancer", "selector": {"tier": "fe", "app": "web"}, "clusterIP": "10.96.0.10",
             "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "externalIPs": ["192.0.2.7"],
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080},
                       {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP", "nodePort": 30053}],
             "sessionAffinity": "None", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
             "internalTrafficPolicy": "Cluster"},
    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"},
                                            {"hostname": "lb.example.com"}]}},
}

SLICES = [
    {"kind": "EndpointSlice", "addressType": "IPv4",
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}],
     "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}},
                   {"addresses": ["10.244.2.6"]},
                   {"addresses": ["10.244.3.7"], "conditions": {"ready": False}}]},
    {"kind": "EndpointSlice", "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
     "endpoints": [{"addresses": ["10.244.4.8"]}, {"addresses": ["10.244.5.9"]}]},
]

NAMESPACE = {
    "apiVersion": "v1", "kind": "Namespace",
    "metadata": {"name": "prod", "labels": {"kubernetes.io/metadata.name": "prod", "team": "web"}},
    "status": {"phase": "Terminating",
               "conditions": [{"type": "NamespaceDeletionContentFailure", "status": "False",
                               "lastTransitionTime": ts(30), "reason": "ContentDeleted",
                               "message": "All content successfully deleted"}]},
}

LEASE = {
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "node-1", "namespace": "kube-node-lease", "uid": "l-1", "resourceVersion": "42",
                 "creationTimestamp": ts(3600), "labels": {"app.kubernetes.io/name": "lease"},
                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "n-1",
                                      "blockOwnerDeletion": True}],
                 "managedFields": [{"manager": "kubelet"}]},
    "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-11-22T07:59:50.123456Z",
             "ratio": 0.75, "preferredHolder": None, "strategy": ["OldestEmulationVersion", 3]},
}


# --- Whole descriptions -------------------------------------------------------------------

POD_TEXT = lines(
    "Name:             web-7d4b9c-x2x9p",
    "Namespace:        default",
    "Priority:         0",
    "Service Account:  default",
    "Node:             node-1/10.0.0.11",
    "Start Time:       Sun, 22 Nov 2026 07:42:02 +0000",
    "Labels:           app=web",
    "                  pod-template-hash=7d4b9c",
    "Annotations:      note: hello",
    "Status:           Running",
    "IP:               10.244.1.5",
    "IPs:",
    "  IP:           10.244.1.5",
    "Controlled By:  ReplicaSet/web-7d4b9c",
    "Init Containers:",
    "  migrate:",
    "    Container ID:  kubesim://i1",
    "    Image:         busybox:1.36",
    "    Image ID:      busybox@sha256:aa",
    "    Port:          <none>",
    "    Host Port:     <none>",
    "    Command:",
    "      sh",
    "      -c",
    "    Args:",
    "      echo migrating",
    "      echo done",
    "    State:          Terminated",
    "      Reason:       Completed",
    "      Exit Code:    0",
    "      Started:      Sun, 22 Nov 2026 07:42:10 +0000",
    "      Finished:     Sun, 22 Nov 2026 07:42:15 +0000",
    "    Ready:          True",
    "    Restart Count:  0",
    "    Environment:    <none>",
    "    Mounts:         <none>",
    "Containers:",
    "  web:",
    "    Container ID:   kubesim://c1",
    "    Image:          nginx:1.27",
    "    Image ID:       nginx@sha256:bb",
    "    Ports:          80/TCP, 443/TCP",
    "    Host Ports:     0/TCP, 0/TCP",
    "    State:          Running",
    "      Started:      Sun, 22 Nov 2026 07:59:15 +0000",
    "    Last State:     Terminated",
    "      Reason:       OOMKilled",
    "      Exit Code:    137",
    "      Started:      Sun, 22 Nov 2026 07:55:00 +0000",
    "      Finished:     Sun, 22 Nov 2026 07:59:15 +0000",
    "    Ready:          True",
    "    Restart Count:  3",
    "    Limits:",
    "      memory:  128Mi",
    "    Requests:",
    "      cpu:      100m",
    "      memory:   64Mi",
    "    Readiness:  http-get http://:80/healthz delay=0s timeout=1s period=5s #success=1 #failure=3",
    "    Environment:",
    "      MODE:    prod",
    "      POD_IP:  10.244.1.5 (v1:status.podIP)",
    "      TOKEN:   <set to the key 'token' in secret 'api'>  Optional: false",
    "    Mounts:",
    '      /data from data (rw,path="web")',
    "      /etc/web from config (ro)",
    "  log:",
    "    Container ID:   kubesim://c2",
    "    Image:          busybox:1.36",
    "    Image ID:       busybox@sha256:aa",
    "    Port:           <none>",
    "    Host Port:      <none>",
    "    State:          Waiting",
    "      Reason:       CrashLoopBackOff",
    "    Last State:     Terminated",
    "      Reason:       Error",
    "      Exit Code:    1",
    "      Started:      Sun, 22 Nov 2026 07:58:20 +0000",
    "      Finished:     Sun, 22 Nov 2026 07:58:21 +0000",
    "    Ready:          False",
    "    Restart Count:  5",
    "    Environment:    <none>",
    "    Mounts:         <none>",
    "Conditions:",
    "  Type              Status",
    "  Initialized       True ",
    "  Ready             False ",
    "  ContainersReady   False ",
    "  PodScheduled      True ",
    "Volumes:",
    "  config:",
    "    Type:      ConfigMap (a volume populated by a ConfigMap)",
    "    Name:      web-config",
    "    Optional:  false",
    "  data:",
    "    Type:        PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
    "    ClaimName:   web-data",
    "    ReadOnly:    false",
    "QoS Class:       Burstable",
    "Node-Selectors:  disk=ssd",
    "Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
    "                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
    "Events:",
    "  Type     Reason     Age                 From               Message",
    "  ----     ------     ----                ----               -------",
    "  Normal   Scheduled  17m                 default-scheduler  Successfully assigned default/web-7d4b9c-x2x9p to node-1",
    '  Normal   Pulled     45s (x4 over 17m)   kubelet            Container image "nginx:1.27" already present on machine',
    "  Warning  BackOff    20s (x12 over 15m)  kubelet            Back-off restarting failed container log in pod web-7d4b9c-x2x9p_default(p-1)",
)

DEPLOYMENT_TEXT = lines(
    "Name:                   web",
    "Namespace:              default",
    "CreationTimestamp:      Sun, 22 Nov 2026 07:42:02 +0000",
    "Labels:                 app=web",
    "Annotations:            deployment.kubernetes.io/revision: 2",
    "Selector:               app=web",
    "Replicas:               3 desired | 2 updated | 4 total | 3 available | 1 unavailable",
    "StrategyType:           RollingUpdate",
    "MinReadySeconds:        5",
    "RollingUpdateStrategy:  25% max unavailable, 1 max surge",
    "Pod Template:",
    "  Labels:  app=web",
    "  Containers:",
    "   web:",
    "    Image:      nginx:1.27",
    "    Port:       80/TCP",
    "    Host Port:  0/TCP",
    "    Environment:",
    "      POD_NAME:   (v1:metadata.name)",
    "    Mounts:      <none>",
    "  Volumes:",
    "   cache:",
    "    Type:          EmptyDir (a temporary directory that shares a pod's lifetime)",
    "    Medium:        ",
    "    SizeLimit:     <unset>",
    "  Node-Selectors:  <none>",
    "  Tolerations:     <none>",
    "Conditions:",
    "  Type           Status  Reason",
    "  ----           ------  ------",
    "  Available      True    MinimumReplicasAvailable",
    "  Progressing    True    ReplicaSetUpdated",
    "OldReplicaSets:  web-7d4b9c (2/2 replicas created)",
    "NewReplicaSet:   web-5f6d8 (2/2 replicas created)",
    "Events:",
    "  Type    Reason             Age   From                   Message",
    "  ----    ------             ----  ----                   -------",
    "  Normal  ScalingReplicaSet  60s   deployment-controller  Scaled up replica set web-5f6d8 to 2 from 0",
)

NODE_TEXT = lines(
    "Name:               node-1",
    "Roles:              worker",
    "Labels:             kubernetes.io/hostname=node-1",
    "                    node-role.kubernetes.io/worker=",
    "Annotations:        node.alpha.kubernetes.io/ttl: 0",
    "CreationTimestamp:  Sun, 22 Nov 2026 07:00:00 +0000",
    "Taints:             dedicated=gpu:NoExecute",
    "                    node.kubernetes.io/unschedulable:NoSchedule",
    "Unschedulable:      true",
    "Conditions:",
    "  Type             Status  LastHeartbeatTime                 LastTransitionTime                Reason                       Message",
    "  ----             ------  -----------------                 ------------------                ------                       -------",
    "  MemoryPressure   False   Sun, 22 Nov 2026 07:59:50 +0000   Sun, 22 Nov 2026 07:00:00 +0000   KubeletHasSufficientMemory   kubelet has sufficient memory available",
    "  Ready            True    Sun, 22 Nov 2026 07:59:50 +0000   Sun, 22 Nov 2026 07:00:10 +0000   KubeletReady                 kubelet is posting ready status",
    "Addresses:",
    "  InternalIP:  10.0.0.11",
    "  Hostname:    node-1",
    "Capacity:",
    "  cpu:     4",
    "  memory:  8Gi",
    "  pods:    110",
    "Allocatable:",
    "  cpu:     3800m",
    "  memory:  7Gi",
    "  pods:    110",
    "System Info:",
    "  Machine ID:                 m-1",
    "  System UUID:                s-1",
    "  Boot ID:                    b-1",
    "  Kernel Version:             6.1.0",
    "  OS Image:                   kubesim",
    "  Operating System:           linux",
    "  Architecture:               amd64",
    "  Container Runtime Version:  kubesim://0.1",
    "  Kubelet Version:            v1.32.0",
    "  Kube-Proxy Version:         v1.32.0",
    "PodCIDR:                      10.244.1.0/24",
    "PodCIDRs:                     10.244.1.0/24",
    "ProviderID:                   kubesim://node-1",
    "Events:",
    "  Type    Reason              Age   From     Message",
    "  ----    ------              ----  ----     -------",
    "  Normal  NodeNotSchedulable  2m    kubelet  Node node-1 status is now: NodeNotSchedulable",
)

SERVICE_TEXT = lines(
    "Name:                     web",
    "Namespace:                default",
    "Labels:                   app=web",
    "Annotations:              <none>",
    "Selector:                 app=web,tier=fe",
    "Type:                     LoadBalancer",
    "IP Family Policy:         SingleStack",
    "IP Families:              IPv4",
    "IP:                       10.96.0.10",
    "IPs:                      10.96.0.10",
    "External IPs:             192.0.2.7",
    "LoadBalancer Ingress:     203.0.113.10 (VIP), lb.example.com",
    "Port:                     http  80/TCP",
    "TargetPort:               http/TCP",
    "NodePort:                 http  30080/TCP",
    "Endpoints:                10.244.1.5:8080,10.244.2.6:8080,10.244.4.8:8080 + 1 more...",
    "Port:                     dns  53/UDP",
    "TargetPort:               5353/UDP",
    "NodePort:                 dns  30053/UDP",
    "Endpoints:                10.244.1.5:5353,10.244.2.6:5353",
    "Session Affinity:         None",
    "External Traffic Policy:  Local",
    "Internal Traffic Policy:  Cluster",
    "HealthCheck NodePort:     32000",
    "Events:                   <none>",
)

NAMESPACE_TEXT = lines(
    "Name:         prod",
    "Labels:       kubernetes.io/metadata.name=prod",
    "              team=web",
    "Annotations:  <none>",
    "Status:       Terminating",
    "Conditions:",
    "  Type                             Status  LastTransitionTime               Reason          Message",
    "  ----                             ------  ------------------               ------          -------",
    "  NamespaceDeletionContentFailure  False   Sun, 22 Nov 2026 07:59:30 +0000  ContentDeleted  All content successfully deleted",
    "",
    "No resource quota.",
    "",
    "No LimitRange resource.",
)

LEASE_TEXT = lines(
    "Name:         node-1",
    "Namespace:    kube-node-lease",
    "Labels:       app.kubernetes.io/name=lease",
    "Annotations:  <none>",
    "API Version:  coordination.k8s.io/v1",
    "Kind:         Lease",
    "Metadata:",
    "  Creation Timestamp:  2026-11-22T07:00:00Z",
    "  Owner References:",
    "    API Version:           v1",
    "    Block Owner Deletion:  true",
    "    Kind:                  Node",
    "    Name:                  node-1",
    "    UID:                   n-1",
    "  Resource Version:        42",
    "  UID:                     l-1",
    "Spec:",
    "  Holder Identity:         node-1",
    "  Lease Duration Seconds:  40",
    "  Preferred Holder:        <nil>",
    "  Ratio:                   0.75",
    "  Renew Time:              2026-11-22T07:59:50.123456Z",
    "  Strategy:",
    "    OldestEmulationVersion",
    "    3",
    "Events:  <none>",
)

SCALED = event("ScalingReplicaSet", "Scaled up replica set web-5f6d8 to 2 from 0", component="deployment-controller",
               first=60, last=60)
CORDONED = event("NodeNotSchedulable", "Node node-1 status is now: NodeNotSchedulable", first=120, last=120)


@pytest.mark.parametrize(("given", "events", "related", "expected"), [
    pytest.param(POD, POD_EVENTS, {}, POD_TEXT, id="pod"),
    pytest.param(DEPLOYMENT, [SCALED], {"replica_sets": REPLICA_SETS}, DEPLOYMENT_TEXT, id="deployment"),
    pytest.param(NODE, [CORDONED], {}, NODE_TEXT, id="node"),
    pytest.param(SERVICE, [], {"endpoint_slices": SLICES}, SERVICE_TEXT, id="service"),
    pytest.param(NAMESPACE, [], {}, NAMESPACE_TEXT, id="namespace"),
    pytest.param(LEASE, [], {}, LEASE_TEXT, id="kind without a describer"),
])
def test_describe(given, events, related, expected):
    assert describe(given, events, NOW, **related) == expected


def test_describe_does_not_change_its_inputs():
    given, events, sets = copy.deepcopy(POD), copy.deepcopy(POD_EVENTS), copy.deepcopy(REPLICA_SETS)
    describe(given, events, NOW)
    describe(DEPLOYMENT, [], NOW, replica_sets=sets)
    assert (given, events, sets) == (POD, POD_EVENTS, REPLICA_SETS)


def test_pending_pod():
    given = {"kind": "Pod", "metadata": {"name": "pending", "namespace": "default", "creationTimestamp": ts(5)},
             "spec": {"containers": [{"name": "app", "image": "app:v1"}]}, "status": {"phase": "Pending"}}
    assert describe(given, [], NOW) == lines(
        "Name:         pending",
        "Namespace:    default",
        "Node:         <none>",
        "Labels:       <none>",
        "Annotations:  <none>",
        "Status:       Pending",
        "IP:           ",
        "IPs:          <none>",
        "Containers:",
        "  app:",
        "    Image:        app:v1",
        "    Port:         <none>",
        "    Host Port:    <none>",
        "    Environment:  <none>",
        "    Mounts:       <none>",
        "Volumes:          <none>",
        "QoS Class:        BestEffort",
        "Node-Selectors:   <none>",
        "Tolerations:      <none>",
        "Events:           <none>",
    )


def test_terminating_pod():
    # The deletion timestamp is the end of the grace period, still ahead: kubectl says <invalid>.
    given = {"kind": "Pod",
             "metadata": {"name": "going", "namespace": "default", "deletionTimestamp": ts(-25),
                          "deletionGracePeriodSeconds": 30},
             "spec": {"nodeName": "node-2", "containers": [{"name": "app", "image": "app:v1"}]},
             "status": {"phase": "Running", "hostIP": "10.0.0.12"}}
    text = describe(given, [], NOW)
    assert "Status:                    Terminating (lasts <invalid>)\n" in text
    assert "Termination Grace Period:  30s\n" in text
    assert "Node:                      node-2/10.0.0.12\n" in text


def test_deployment_without_replica_sets_leaves_them_out():
    text = describe(DEPLOYMENT, [], NOW)
    assert "OldReplicaSets" not in text
    assert "NewReplicaSet:" not in text
    # Events: <none> then joins the conditions' column block.
    assert text.endswith("  Progressing   True    ReplicaSetUpdated\nEvents:         <none>\n")


def test_service_endpoints_only_when_slices_are_given():
    assert "Endpoints" not in describe(SERVICE, [], NOW)
    text = describe(SERVICE, [], NOW, endpoint_slices=[])
    assert text.count("Endpoints:                <none>\n") == 2


# --- The events table ------------------------------------------------------------------------

def events_of(events: list[dict]) -> str:
    """The Events section of a small object's description."""
    text = describe({"kind": "Widget", "metadata": {"name": "w"}}, events, NOW)
    return text[text.index("Events:"):]


@pytest.mark.parametrize(("events", "expected"), [
    pytest.param([], lines("Events:  <none>"), id="none"),
    pytest.param([event("Started", "Started container web", first=10, last=10)], lines(
        "Events:",
        "  Type    Reason   Age   From     Message",
        "  ----    ------   ----  ----     -------",
        "  Normal  Started  10s   kubelet  Started container web",
    ), id="one"),
    pytest.param([event("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503",
                        type_="Warning", first=600, last=5, count=3)], lines(
        "Events:",
        "  Type     Reason     Age               From     Message",
        "  ----     ------     ----              ----     -------",
        "  Warning  Unhealthy  5s (x3 over 10m)  kubelet  Readiness probe failed: HTTP probe failed with statuscode: 503",
    ), id="count over one"),
    pytest.param([event("Pulling", "Pulling image", component="", reportingController="kubelet", count=0,
                        eventTime=ts(200), series={"count": 2, "lastObservedTime": ts(130)})], lines(
        "Events:",
        "  Type    Reason   Age                    From     Message",
        "  ----    ------   ----                   ----     -------",
        "  Normal  Pulling  2m10s (x2 over 3m20s)  kubelet  Pulling image",
    ), id="series and reporting controller"),
    pytest.param([event("Created", "  Created container web\n", component="", count=1)], lines(
        "Events:",
        "  Type    Reason   Age        From  Message",
        "  ----    ------   ----       ----  -------",
        "  Normal  Created  <unknown>        Created container web",
    ), id="no times, no source, message trimmed"),
    pytest.param([event("Killing", "Stopping container web", first=30, last=30),
                  event("Scheduled", "Successfully assigned default/w to node-1", component="default-scheduler",
                        first=90, last=90),
                  event("Pulled", "Container image already present", first=80, last=60, count=2)], lines(
        "Events:",
        "  Type    Reason     Age                From               Message",
        "  ----    ------     ----               ----               -------",
        "  Normal  Scheduled  90s                default-scheduler  Successfully assigned default/w to node-1",
        "  Normal  Pulled     60s (x2 over 80s)  kubelet            Container image already present",
        "  Normal  Killing    30s                kubelet            Stopping container web",
    ), id="oldest last-seen first"),
])
def test_events(events, expected):
    assert events_of(events) == expected


# --- The parts, one at a time ----------------------------------------------------------------
# Alignment is covered by the whole descriptions above. Here the padding
# between a label and its value is squeezed to two spaces, so that each case
# shows only what it is about; indentation is still compared exactly.

def squeeze(line: str) -> str:
    return re.sub(r"(?<=\S) {2,}", "  ", line).rstrip()


def pod_with(container: dict | None = None, status: dict | None = None, **spec) -> dict:
    container = container or {"name": "app", "image": "app:v1"}
    pod_status = {"phase": "Running"}
    if status is not None:
        pod_status["containerStatuses"] = [{"name": container["name"], **status}]
    return {"kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [container], **spec}, "status": pod_status}


def has_lines(text: str, *expected: str) -> bool:
    """The expected lines appear in ``text`` one after another, padding squeezed.

    An expected line starting with a tab is a continuation line (a second
    label, a second toleration), whose indentation is the value column's.
    """
    got = [squeeze(line) for line in text.split("\n")]

    def same(line: str, want: str) -> bool:
        return line.lstrip() == want[1:] if want.startswith("\t") else line == squeeze(want)
    return any(all(same(got[i + j], want) for j, want in enumerate(expected))
               for i in range(len(got) - len(expected) + 1))


def resources(requests: dict | None = None, limits: dict | None = None) -> dict:
    return {"resources": {**({"requests": requests} if requests else {}), **({"limits": limits} if limits else {})}}


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param(pod_with(), "BestEffort", id="no resources"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "100m"})}), "Burstable", id="requests only"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "0.5", "memory": "1Gi"},
                                                    {"cpu": "500m", "memory": "1024Mi"})}),
                 "Guaranteed", id="equal requests and limits in other units"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "250m", "memory": "1Gi"},
                                                    {"cpu": "500m", "memory": "1Gi"})}),
                 "Burstable", id="limit above request"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "1"}, {"cpu": "1"})}), "Burstable",
                 id="cpu without memory"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "0", "memory": "0"})}), "BestEffort",
                 id="zero requests do not count"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})},
                          initContainers=[{"name": "init", "image": "i", **resources({"memory": "64Mi"})}]),
                 "Burstable", id="init containers count"),
    pytest.param(pod_with({"name": "a", **resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})},
                          resources={"requests": {"cpu": "2"}}), "Burstable", id="pod-level resources win"),
    pytest.param({**pod_with(), "status": {"phase": "Running", "qosClass": "Guaranteed"}}, "Guaranteed",
                 id="the kubelet's qosClass wins"),
])
def test_qos_class(given, expected):
    assert has_lines(describe(given, [], NOW), f"QoS Class:  {expected}")


@pytest.mark.parametrize(("status", "expected"), [
    pytest.param({"state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}, "restartCount": 0},
                 ["    State:  Waiting", "      Reason:  ErrImagePull", "    Ready:  False", "    Restart Count:  0"],
                 id="waiting with a reason"),
    pytest.param({"state": {}, "ready": False}, ["    State:  Waiting", "    Ready:  False"],
                 id="no state reads as waiting"),
    pytest.param({"state": {"terminated": {"exitCode": 143, "signal": 15, "reason": "Error",
                                           "message": "shutting down", "startedAt": ts(3600)}}},
                 ["    State:  Terminated", "      Reason:  Error", "      Message:  shutting down",
                  "      Exit Code:  143", "      Signal:  15", "      Started:  Sun, 22 Nov 2026 07:00:00 +0000",
                  "      Finished:  Mon, 01 Jan 0001 00:00:00 +0000"], id="terminated by a signal, no finish time"),
    pytest.param({"state": {"running": {"startedAt": ts(5)}}, "ready": True, "restartCount": 1,
                  "lastState": {"terminated": {"exitCode": 0, "startedAt": ts(60), "finishedAt": ts(6)}}},
                 ["    State:  Running", "      Started:  Sun, 22 Nov 2026 07:59:55 +0000",
                  "    Last State:  Terminated", "      Exit Code:  0",
                  "      Started:  Sun, 22 Nov 2026 07:59:00 +0000", "      Finished:  Sun, 22 Nov 2026 07:59:54 +0000",
                  "    Ready:  True", "    Restart Count:  1"], id="running after a clean exit"),
])
def test_container_states(status, expected):
    assert has_lines(describe(pod_with(status={"containerID": "kubesim://1", **status}), [], NOW), *expected)


@pytest.mark.parametrize(("probe", "expected"), [
    pytest.param({"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5},
                 "exec [cat /tmp/healthy] delay=5s timeout=1s period=10s #success=1 #failure=3", id="exec"),
    pytest.param({"httpGet": {"host": "example.com", "port": "http", "path": "/ready", "scheme": "HTTPS"},
                  "timeoutSeconds": 2, "periodSeconds": 3, "successThreshold": 1, "failureThreshold": 6},
                 "http-get https://example.com:http/ready delay=0s timeout=2s period=3s #success=1 #failure=6",
                 id="http get"),
    pytest.param({"tcpSocket": {"port": 5432}}, "tcp-socket :5432 delay=0s timeout=1s period=10s #success=1 "
                 "#failure=3", id="tcp socket"),
    pytest.param({"grpc": {"port": 9000, "service": "health"}},
                 "grpc <pod>:9000 health delay=0s timeout=1s period=10s #success=1 #failure=3", id="grpc"),
    pytest.param({}, "unknown delay=0s timeout=1s period=10s #success=1 #failure=3", id="no handler"),
])
def test_probes(probe, expected):
    text = describe(pod_with({"name": "app", "image": "app:v1", "livenessProbe": probe}), [], NOW)
    assert has_lines(text, f"    Liveness:  {expected}")


def test_environment():
    container = {
        "name": "app", "image": "app:v1", "resources": {"requests": {"memory": "64Mi"}},
        "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "creds", "optional": True},
                                                             "prefix": "DB_"}],
        "env": [
            {"name": "GREETING", "value": "hello\nworld"},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level",
                                                                "optional": True}}},
        ],
    }
    given = pod_with(container, nodeName="node-1")
    given["metadata"]["labels"] = {"team": "web"}
    assert has_lines(
        describe(given, [], NOW),
        "    Environment Variables from:",
        "      settings  ConfigMap  Optional: false",
        "      creds  Secret with prefix 'DB_'  Optional: true",
        "    Environment:",
        "      GREETING:  hello",
        "\tworld",
        "      NODE:  node-1 (v1:spec.nodeName)",
        "      TEAM:  web (v1:metadata.labels['team'])",
        "      CPU_LIMIT:  node allocatable (limits.cpu)",
        "      MEM:  64Mi (requests.memory)",
        "      LEVEL:  <set to the key 'level' of config map 'settings'>  Optional: true",
        "    Mounts:  <none>",
    )


def test_volumes():
    volumes = [
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "tls", "secret": {"secretName": "web-tls", "optional": True}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                                   {"path": "mem", "resourceFieldRef": {"resource": "limits.memory"}}]}},
        {"name": "share", "nfs": {"server": "nfs.example.com", "path": "/exports"}},
    ]
    assert has_lines(
        describe(pod_with(volumes=volumes), [], NOW),
        "Volumes:",
        "  host:",
        "    Type:  HostPath (bare host directory volume)",
        "    Path:  /var/log",
        "    HostPathType:  Directory",
        "  scratch:",
        "    Type:  EmptyDir (a temporary directory that shares a pod's lifetime)",
        "    Medium:  Memory",
        "    SizeLimit:  64Mi",
        "  tls:",
        "    Type:  Secret (a volume populated by a Secret)",
        "    SecretName:  web-tls",
        "    Optional:  true",
        "  info:",
        "    Type:  DownwardAPI (a volume populated by information about the pod)",
        "    Items:",
        "      metadata.labels -> labels",
        "      limits.memory -> mem",
        "  share:",
        "  <unknown>",
    )


def test_mounts_sorted_by_path():
    container = {"name": "app", "image": "app:v1", "volumeMounts": [
        {"name": "b", "mountPath": "/var/b", "readOnly": True}, {"name": "a", "mountPath": "/etc/a", "subPath": "x"}]}
    assert has_lines(describe(pod_with(container), [], NOW),
                     "    Mounts:", '      /etc/a from a (rw,path="x")', "      /var/b from b (ro)")


def test_annotations():
    long_value = "v" * 150
    given = {"kind": "Namespace", "metadata": {"name": "n", "annotations": {
        "a/short": "x", "b/multi": "one\ntwo\n", "c/long": long_value,
        "kubectl.kubernetes.io/last-applied-configuration": "{...}"}}, "status": {"phase": "Active"}}
    assert describe(given, [], NOW).startswith(lines(
        "Name:         n",
        "Labels:       <none>",
        "Annotations:  a/short: x",
        "              b/multi:",
        "                one",
        "                two",
        "              c/long:",
        "                " + "v" * 138 + "...",
        "Status:       Active",
    ))


def test_tolerations_and_taints():
    given = pod_with(tolerations=[
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "spot", "operator": "Exists"},
    ])
    assert has_lines(describe(given, [], NOW), "Tolerations:  op=Exists", "\tgpu=true:NoSchedule",
                     "\tspot op=Exists", "Events:  <none>")
    node = {"kind": "Node", "metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "z", "effect": "NoSchedule"}, {"key": "a", "value": "1"}, {"key": "b", "effect": "NoExecute"}]}}
    assert has_lines(describe(node, [], NOW), "Taints:  a=1:", "\tb:NoExecute", "\tz:NoSchedule",
                     "Unschedulable:  false")


@pytest.mark.parametrize(("field", "label"), [
    pytest.param("apiVersion", "API Version", id="acronym"),
    pytest.param("creationTimestamp", "Creation Timestamp", id="camel case"),
    pytest.param("uid", "UID", id="lower-case acronym"),
    pytest.param("osbVersion", "OSB Version", id="osb acronym"),
    pytest.param("HTTPServer", "HTTP Server", id="leading capitals"),
    pytest.param("clusterIPs", "Cluster I Ps", id="plural acronym splits as kubectl 1.32 does"),
    pytest.param("log-level", "Log - Level", id="dash"),
    pytest.param("MODE", "MODE", id="all capitals"),
    pytest.param("app.kubernetes.io/name", "app.kubernetes.io/name", id="dots kept as they are"),
    pytest.param("v2", "v2", id="digits kept as they are"),
])
def test_generic_field_labels(field, label):
    text = describe({"kind": "Widget", "metadata": {"name": "w"}, "spec": {field: "x"}}, [], NOW)
    assert has_lines(text, "Spec:", f"  {label}:  x")


def test_generic_values_print_as_go_does():
    given = {"kind": "Widget", "metadata": {"name": "w"},
             "spec": {"big": 1e7, "small": 0.00001, "half": 0.5, "on": False, "none": None, "count": 3}}
    assert has_lines(describe(given, [], NOW), "Spec:", "  Big:  1e+07", "  Count:  3", "  Half:  0.5",
                     "  None:  <nil>", "  On:  false", "  Small:  1e-05")
