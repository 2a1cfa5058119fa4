"""The node Filter plugins (actors.scheduler.plugins.node) answer as kube-scheduler's do.

Tables of named pod/node pairs with the verdict Kubernetes 1.32 gives: pass
(``None``), or the status code and the exact reason strings users see in
``0/3 nodes are available: ...``. Toleration and node-selector matching
follow k8s.io/component-helpers/scheduling/corev1.
"""

from __future__ import annotations

import pytest

from actors.scheduler.framework import Code, CycleState, Resources, Status
from actors.scheduler.plugins.node import (
    FILTERS,
    FIT_STATE_KEY,
    node_affinity,
    node_name,
    node_resources_fit,
    node_unschedulable,
    taint_toleration,
    term_matches,
    tolerates,
)
from actors.scheduler.resources import new_node_info


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


def make_pod(requests: dict | None = None, *, node_name: str | None = None,
             tolerations: list | None = None, node_selector: dict | None = None,
             affinity: dict | None = None, name: str = "p") -> dict:
    container: dict = {"name": "c", "image": "busybox"}
    if requests is not None:
        container["resources"] = {"requests": requests}
    spec: dict = {"containers": [container]}
    if node_name:
        spec["nodeName"] = node_name
    if tolerations:
        spec["tolerations"] = tolerations
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = {"nodeAffinity": affinity}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def make_node(name: str = "n1", *, labels: dict | None = None, taints: list | None = None,
              unschedulable: bool = False, allocatable: dict | None = None) -> dict:
    spec: dict = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    alloc = allocatable or {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {"kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec, "status": {"allocatable": alloc}}


def run(filter_fn, pod, node, pods=()):
    return filter_fn(pod, new_node_info(node, pods), CycleState())


def taint(key: str, effect: str, value: str | None = None) -> dict:
    t = {"key": key, "effect": effect}
    if value is not None:
        t["value"] = value
    return t


def tol(key: str | None = None, op: str | None = None, value: str | None = None,
        effect: str | None = None) -> dict:
    fields = {"key": key, "operator": op, "value": value, "effect": effect}
    return {k: v for k, v in fields.items() if v is not None}


# --- NodeName -------------------------------------------------------------------------

NAME_MISMATCH = Status.unresolvable("NodeName", "node(s) didn't match the requested node name")

NODE_NAME = table(
    ("no nodeName: any node", make_pod(), None),
    ("the named node", make_pod(node_name="n1"), None),
    ("another node", make_pod(node_name="n2"), NAME_MISMATCH),
)


@pytest.mark.parametrize("pod, expected", **NODE_NAME)
def test_node_name(pod, expected):
    assert run(node_name, pod, make_node("n1")) == expected


# --- Tolerations ------------------------------------------------------------------------

GPU_NOSCHED = taint("gpu", "NoSchedule", "true")

TOLERATES = table(
    ("equal key, value and effect", tol("gpu", "Equal", "true", "NoSchedule"), GPU_NOSCHED, True),
    ("empty operator means Equal", tol("gpu", None, "true", "NoSchedule"), GPU_NOSCHED, True),
    ("equal with another value", tol("gpu", "Equal", "false", "NoSchedule"), GPU_NOSCHED, False),
    ("exists ignores the value", tol("gpu", "Exists", None, "NoSchedule"), GPU_NOSCHED, True),
    ("empty effect matches every effect", tol("gpu", "Exists"), GPU_NOSCHED, True),
    ("another effect", tol("gpu", "Exists", None, "NoExecute"), GPU_NOSCHED, False),
    ("another key", tol("disk", "Exists"), GPU_NOSCHED, False),
    ("empty key with Exists tolerates everything", tol(op="Exists"), GPU_NOSCHED, True),
    ("empty key with Exists and an effect", tol(op="Exists", effect="NoExecute"),
     GPU_NOSCHED, False),
    ("an unknown operator tolerates nothing", tol("gpu", "Gt", "1"), GPU_NOSCHED, False),
    ("equal with no value matches a taint with no value",
     tol("dedicated", "Equal"), taint("dedicated", "NoSchedule"), True),
    ("equal with no value against a valued taint", tol("gpu", "Equal"), GPU_NOSCHED, False),
)


@pytest.mark.parametrize("toleration, the_taint, expected", **TOLERATES)
def test_tolerates(toleration, the_taint, expected):
    assert tolerates(toleration, the_taint) is expected


# --- NodeUnschedulable ---------------------------------------------------------------

CORDONED = Status.unresolvable("NodeUnschedulable", "node(s) were unschedulable")
UNSCHED_KEY = "node.kubernetes.io/unschedulable"

NODE_UNSCHEDULABLE = table(
    ("schedulable node", make_node(), make_pod(), None),
    ("cordoned node", make_node(unschedulable=True), make_pod(), CORDONED),
    ("cordoned, tolerated exactly",
     make_node(unschedulable=True),
     make_pod(tolerations=[tol(UNSCHED_KEY, "Exists", effect="NoSchedule")]), None),
    ("cordoned, tolerated by Equal with no value",
     make_node(unschedulable=True),
     make_pod(tolerations=[tol(UNSCHED_KEY, "Equal", effect="NoSchedule")]), None),
    ("cordoned, tolerated by a wildcard",
     make_node(unschedulable=True), make_pod(tolerations=[tol(op="Exists")]), None),
    ("cordoned, a NoExecute toleration is not enough",
     make_node(unschedulable=True),
     make_pod(tolerations=[tol(UNSCHED_KEY, "Exists", effect="NoExecute")]), CORDONED),
)


@pytest.mark.parametrize("node, pod, expected", **NODE_UNSCHEDULABLE)
def test_node_unschedulable(node, pod, expected):
    assert run(node_unschedulable, pod, node) == expected


# --- TaintToleration ------------------------------------------------------------------


def untolerated(key: str, value: str) -> Status:
    return Status.unresolvable("TaintToleration",
                               f"node(s) had untolerated taint {{{key}: {value}}}")


TAINT_TOLERATION = table(
    ("no taints", [], [], None),
    ("an untolerated NoSchedule taint", [taint("dedicated", "NoSchedule", "gpu")], [],
     untolerated("dedicated", "gpu")),
    ("the text for a taint without a value",
     [taint("node-role.kubernetes.io/control-plane", "NoSchedule")], [],
     Status.unresolvable("TaintToleration", "node(s) had untolerated taint "
                         "{node-role.kubernetes.io/control-plane: }")),
    ("NoExecute counts", [taint("node.kubernetes.io/not-ready", "NoExecute")], [],
     untolerated("node.kubernetes.io/not-ready", "")),
    ("PreferNoSchedule is only a score", [taint("spot", "PreferNoSchedule", "yes")], [], None),
    ("tolerated", [taint("dedicated", "NoSchedule", "gpu")],
     [tol("dedicated", "Equal", "gpu", "NoSchedule")], None),
    ("the first untolerated taint is named",
     [taint("a", "NoSchedule", "1"), taint("b", "NoExecute", "2"), taint("c", "NoSchedule", "3")],
     [tol("a", "Exists")], untolerated("b", "2")),
    ("one toleration for all", [taint("a", "NoSchedule"), taint("b", "NoExecute")],
     [tol(op="Exists")], None),
)


@pytest.mark.parametrize("taints, tolerations, expected", **TAINT_TOLERATION)
def test_taint_toleration(taints, tolerations, expected):
    assert run(taint_toleration, make_pod(tolerations=tolerations),
               make_node(taints=taints)) == expected


# --- NodeResourcesFit -----------------------------------------------------------------
# The node: 4 CPU, 8Gi, 10Gi ephemeral storage, 2 example.com/foo, 3 pod slots.

FIT_NODE = make_node(allocatable={"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi",
                                  "example.com/foo": "2", "pods": "3"})
USED_3CPU_6GI = make_pod({"cpu": "3", "memory": "6Gi"}, name="used")


def fit(*reasons: str) -> Status:
    return Status.unschedulable("NodeResourcesFit", *reasons)


NODE_RESOURCES_FIT = table(
    ("fits an empty node", [], {"cpu": "1", "memory": "1Gi"}, None),
    # 4 - 3 = 1 CPU free, 8 - 6 = 2Gi free: an exact fit is a fit.
    ("an exact fit", [USED_3CPU_6GI], {"cpu": "1", "memory": "2Gi"}, None),
    ("one milli too much cpu", [USED_3CPU_6GI], {"cpu": "1001m"}, fit("Insufficient cpu")),
    ("too much memory", [USED_3CPU_6GI], {"memory": "3Gi"}, fit("Insufficient memory")),
    ("too much ephemeral storage", [], {"ephemeral-storage": "11Gi"},
     fit("Insufficient ephemeral-storage")),
    ("too many of an extended resource", [], {"example.com/foo": "3"},
     fit("Insufficient example.com/foo")),
    ("an extended resource the node lacks", [], {"nvidia.com/gpu": "1"},
     fit("Insufficient nvidia.com/gpu")),
    ("no pod slot left",
     [make_pod(name="a"), make_pod(name="b"), make_pod(name="c")], None, fit("Too many pods")),
    ("every reason, in Kubernetes' order",
     [make_pod({"cpu": "4", "memory": "8Gi"}, name=n) for n in "abc"],
     {"cpu": "1", "memory": "1", "ephemeral-storage": "20Gi",
      "nvidia.com/gpu": "1", "example.com/foo": "5"},
     fit("Too many pods", "Insufficient cpu", "Insufficient memory",
         "Insufficient ephemeral-storage", "Insufficient example.com/foo",
         "Insufficient nvidia.com/gpu")),
    # Kubernetes lets a pod without requests onto a node that is already overcommitted.
    ("a pod without requests fits a full node",
     [make_pod({"cpu": "5", "memory": "9Gi"}, name="over")], None, None),
    ("an explicit zero request fits a full node",
     [USED_3CPU_6GI, make_pod({"cpu": "1"}, name="rest")], {"cpu": "0"}, None),
    ("a zero extended request is skipped", [], {"nvidia.com/gpu": "0"}, None),
)


@pytest.mark.parametrize("existing, requests, expected", **NODE_RESOURCES_FIT)
def test_node_resources_fit(existing, requests, expected):
    assert run(node_resources_fit, make_pod(requests), FIT_NODE, existing) == expected


def test_node_resources_fit_is_unschedulable_so_preemption_may_help():
    status = run(node_resources_fit, make_pod({"cpu": "5"}), FIT_NODE)
    assert status is not None and status.code == Code.UNSCHEDULABLE


def test_node_resources_fit_computes_the_request_once_per_cycle():
    state = CycleState()
    node_resources_fit(make_pod({"cpu": "1"}), new_node_info(FIT_NODE), state)
    assert state[FIT_STATE_KEY] == Resources(milli_cpu=1000, pods=1)
    # A later node in the same cycle reads the cached request, not the pod.
    state[FIT_STATE_KEY] = Resources(milli_cpu=9000, pods=1)
    assert node_resources_fit(make_pod({"cpu": "1"}), new_node_info(FIT_NODE), state) == \
        fit("Insufficient cpu")


# --- NodeAffinity ------------------------------------------------------------------------

AFFINITY_MISMATCH = Status.unresolvable("NodeAffinity",
                                        "node(s) didn't match Pod's node affinity/selector")
ZONE_A = {"zone": "a", "disk": "ssd", "cores": "8"}


def expr(key: str, op: str, *values: str) -> dict:
    e = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


def term(*expressions: dict, fields: tuple = ()) -> dict:
    t: dict = {}
    if expressions:
        t["matchExpressions"] = list(expressions)
    if fields:
        t["matchFields"] = list(fields)
    return t


def required(*terms: dict) -> dict:
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}


TERMS = table(
    ("In", term(expr("zone", "In", "a", "b")), True),
    ("In, other values", term(expr("zone", "In", "b", "c")), False),
    ("In, label missing", term(expr("rack", "In", "r1")), False),
    ("NotIn", term(expr("zone", "NotIn", "b")), True),
    ("NotIn, value listed", term(expr("zone", "NotIn", "a")), False),
    ("NotIn, label missing matches", term(expr("rack", "NotIn", "r1")), True),
    ("Exists", term(expr("disk", "Exists")), True),
    ("Exists, label missing", term(expr("gpu", "Exists")), False),
    ("DoesNotExist", term(expr("gpu", "DoesNotExist")), True),
    ("DoesNotExist, label present", term(expr("disk", "DoesNotExist")), False),
    ("Gt", term(expr("cores", "Gt", "4")), True),
    ("Gt is strict", term(expr("cores", "Gt", "8")), False),
    ("Lt", term(expr("cores", "Lt", "16")), True),
    ("Lt is strict", term(expr("cores", "Lt", "8")), False),
    ("Gt on a label that is not a number", term(expr("zone", "Gt", "1")), False),
    ("Gt on a missing label", term(expr("memory-gb", "Gt", "1")), False),
    ("expressions are ANDed", term(expr("zone", "In", "a"), expr("disk", "In", "hdd")), False),
    ("all expressions hold", term(expr("zone", "In", "a"), expr("disk", "In", "ssd")), True),
    ("an empty term matches nothing", term(), False),
    ("matchFields on the node name", term(fields=(expr("metadata.name", "In", "n1"),)), True),
    ("matchFields, another name", term(fields=(expr("metadata.name", "In", "n2"),)), False),
    ("matchFields NotIn", term(fields=(expr("metadata.name", "NotIn", "n2"),)), True),
    ("matchFields and expressions are ANDed",
     term(expr("zone", "In", "b"), fields=(expr("metadata.name", "In", "n1"),)), False),
    # Terms Kubernetes cannot parse never match (the API server refuses such pods).
    ("an unknown operator", term(expr("zone", "Equals", "a")), False),
    ("In without values", term(expr("zone", "In")), False),
    ("Exists with values", term(expr("disk", "Exists", "ssd")), False),
    ("Gt with two values", term(expr("cores", "Gt", "1", "2")), False),
    ("Gt with a value that is not an integer", term(expr("cores", "Gt", "four")), False),
    ("Gt with a negative bound (not a valid label value)", term(expr("cores", "Gt", "-1")), False),
    ("an invalid key", term(expr("bad key", "Exists")), False),
    ("matchFields with Exists", term(fields=(expr("metadata.name", "Exists"),)), False),
    ("matchFields with two values", term(fields=(expr("metadata.name", "In", "n1", "n2"),)),
     False),
)


@pytest.mark.parametrize("the_term, expected", **TERMS)
def test_term_matches(the_term, expected):
    assert term_matches(the_term, make_node("n1", labels=ZONE_A)) is expected


NODE_AFFINITY = table(
    ("nothing asked", make_pod(), None),
    ("nodeSelector matches", make_pod(node_selector={"zone": "a", "disk": "ssd"}), None),
    ("nodeSelector, one label differs", make_pod(node_selector={"zone": "a", "disk": "hdd"}),
     AFFINITY_MISMATCH),
    ("nodeSelector, label missing", make_pod(node_selector={"gpu": "true"}), AFFINITY_MISMATCH),
    ("required term matches", make_pod(affinity=required(term(expr("zone", "In", "a")))), None),
    ("terms are ORed",
     make_pod(affinity=required(term(expr("zone", "In", "b")), term(expr("disk", "Exists")))),
     None),
    ("no term matches",
     make_pod(affinity=required(term(expr("zone", "In", "b")), term(expr("gpu", "Exists")))),
     AFFINITY_MISMATCH),
    ("an empty term list matches nothing", make_pod(affinity=required()), AFFINITY_MISMATCH),
    ("an empty term beside a matching one",
     make_pod(affinity=required(term(), term(expr("zone", "In", "a")))), None),
    ("a malformed term beside a matching one",
     make_pod(affinity=required(term(expr("zone", "In")), term(expr("zone", "In", "a")))), None),
    ("nodeSelector and affinity must both hold",
     make_pod(node_selector={"disk": "hdd"}, affinity=required(term(expr("zone", "In", "a")))),
     AFFINITY_MISMATCH),
    ("only preferred terms: no requirement",
     make_pod(affinity={"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 1, "preference": term(expr("zone", "In", "b"))}]}), None),
)


@pytest.mark.parametrize("pod, expected", **NODE_AFFINITY)
def test_node_affinity(pod, expected):
    assert run(node_affinity, pod, make_node("n1", labels=ZONE_A)) == expected


# --- The filter list ----------------------------------------------------------------


def test_filters_in_default_order():
    assert [name for name, _, _ in FILTERS] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit"]


def test_every_filter_passes_a_plain_pod_on_a_plain_node():
    info = new_node_info(make_node())
    state = CycleState()
    assert [fn(make_pod({"cpu": "100m"}), info, state) for _, fn, _ in FILTERS] == [None] * 5
