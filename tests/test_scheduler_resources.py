"""The scheduler's resource arithmetic (actors.scheduler.resources) matches Kubernetes'.

Tables of named pods and nodes with the amounts kube-scheduler would count:
``PodRequests`` (containers summed, init containers max'ed, sidecars added,
overhead added, rounded up once at the end), the non-zero variant the scoring
plugins use (100m / 200 MiB for missing requests), node allocatable, and a
NodeInfo's sums kept in step as pods come and go.
"""

from __future__ import annotations

import pytest

from actors.scheduler.framework import Resources
from actors.scheduler.resources import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    add_pod,
    is_scalar_resource,
    new_node_info,
    node_allocatable,
    pod_non_zero_requests,
    pod_requests,
    remove_pod,
)

Mi = 1024**2
Gi = 1024**3


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


def ctr(requests: dict | None = None, restart: str | None = None) -> dict:
    """A container requesting ``requests``; ``restart="Always"`` makes an init container a sidecar."""
    c: dict = {"name": "c", "image": "busybox"}
    if requests is not None:
        c["resources"] = {"requests": requests}
    if restart:
        c["restartPolicy"] = restart
    return c


def pod(*containers: dict, init: tuple = (), overhead: dict | None = None,
        name: str = "p", uid: str | None = None) -> dict:
    spec: dict = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if overhead:
        spec["overhead"] = overhead
    meta = {"name": name, "namespace": "default"}
    if uid:
        meta["uid"] = uid
    return {"kind": "Pod", "metadata": meta, "spec": spec}


def node(allocatable: dict | None = None, capacity: dict | None = None) -> dict:
    status = {}
    if allocatable is not None:
        status["allocatable"] = allocatable
    if capacity is not None:
        status["capacity"] = capacity
    return {"kind": "Node", "metadata": {"name": "n1"}, "status": status}


def res(cpu: int = 0, mem: int = 0, eph: int = 0, pods: int = 1,
        scalar: dict[str, int] | None = None) -> Resources:
    """The Resources a test expects; ``pods`` is 1, as for one pod's request."""
    return Resources(milli_cpu=cpu, memory=mem, ephemeral_storage=eph, pods=pods,
                     scalar=scalar or {})


# --- pod_requests ---------------------------------------------------------------------

POD_REQUESTS = table(
    ("no requests at all", pod(ctr(), ctr()), res()),
    ("containers add up",
     pod(ctr({"cpu": "100m", "memory": "64Mi"}), ctr({"cpu": "200m", "memory": "128Mi"})),
     res(cpu=300, mem=192 * Mi)),
    ("an init container larger than the containers wins",
     pod(ctr({"cpu": "1500m"}), init=(ctr({"cpu": "2"}),)),
     res(cpu=2000)),
    ("an init container smaller than the containers does not count",
     pod(ctr({"cpu": "1"}), ctr({"cpu": "1"}), init=(ctr({"cpu": "1500m"}),)),
     res(cpu=2000)),
    # Kubernetes' own example (computePodResourceRequest): IC1 2/1G, IC2 2/3G,
    # C1 2/1G, C2 1/1G -> CPU max(2+1, 2) = 3, memory max(1G+1G, 3G) = 3G.
    ("the max is taken per resource",
     pod(ctr({"cpu": "2", "memory": "1G"}), ctr({"cpu": "1", "memory": "1G"}),
         init=(ctr({"cpu": "2", "memory": "1G"}), ctr({"cpu": "2", "memory": "3G"}))),
     res(cpu=3000, mem=3 * 10**9)),
    ("a sidecar adds to the containers",
     pod(ctr({"cpu": "1"}), init=(ctr({"cpu": "500m"}, restart="Always"),)),
     res(cpu=1500)),
    # sidecar 500m runs while init 2 runs: 2.5 > containers 1 + sidecar 0.5.
    ("a sidecar started before an init container adds to it",
     pod(ctr({"cpu": "1"}),
         init=(ctr({"cpu": "500m"}, restart="Always"), ctr({"cpu": "2"}))),
     res(cpu=2500)),
    # init 2 runs alone, before the sidecar starts: max(2, 1 + 0.5) = 2.
    ("an init container before the sidecar runs alone",
     pod(ctr({"cpu": "1"}),
         init=(ctr({"cpu": "2"}), ctr({"cpu": "500m"}, restart="Always"))),
     res(cpu=2000)),
    # s1 100m + s2 200m keep running under init 1: 1.3 > 0 + 0.3.
    ("sidecars accumulate",
     pod(ctr(), init=(ctr({"cpu": "100m"}, restart="Always"),
                      ctr({"cpu": "200m"}, restart="Always"), ctr({"cpu": "1"}))),
     res(cpu=1300)),
    ("init containers with restartPolicy other than Always are ordinary",
     pod(ctr({"cpu": "1"}), init=(ctr({"cpu": "500m"}, restart="Never"),)),
     res(cpu=1000)),
    ("overhead is added",
     pod(ctr({"cpu": "1", "memory": "1Gi"}), overhead={"cpu": "250m", "memory": "120Mi"}),
     res(cpu=1250, mem=Gi + 120 * Mi)),
    ("overhead is added after the init max",
     pod(ctr({"cpu": "1"}), init=(ctr({"cpu": "3"}),), overhead={"cpu": "100m"}),
     res(cpu=3100)),
    ("cpu rounds up to a milli", pod(ctr({"cpu": "0.0001"})), res(cpu=1)),
    # 500u + 500u is exactly 1m: Kubernetes adds quantities before rounding.
    ("amounts are added before rounding",
     pod(ctr({"cpu": "500u"}), ctr({"cpu": "500u"})), res(cpu=1)),
    ("memory rounds up to a byte", pod(ctr({"memory": "1500m"})), res(mem=2)),
    ("decimal and binary suffixes",
     pod(ctr({"memory": "1G"}), ctr({"memory": "1Gi"})), res(mem=10**9 + Gi)),
    ("plain numbers", pod(ctr({"cpu": 2, "memory": 1024})), res(cpu=2000, mem=1024)),
    ("ephemeral storage", pod(ctr({"ephemeral-storage": "2Gi"})), res(eph=2 * Gi)),
    ("extended resources and hugepages are scalar",
     pod(ctr({"nvidia.com/gpu": "2", "hugepages-2Mi": "4Mi"})),
     res(scalar={"nvidia.com/gpu": 2, "hugepages-2Mi": 4 * Mi})),
    ("unknown native names are ignored", pod(ctr({"cpus": "2"})), res()),
    ("an explicit zero stays zero", pod(ctr({"cpu": "0", "memory": "0"})), res()),
)


@pytest.mark.parametrize("the_pod, expected", **POD_REQUESTS)
def test_pod_requests(the_pod, expected):
    assert pod_requests(the_pod) == expected


# --- pod_non_zero_requests ------------------------------------------------------------

DEF_CPU = DEFAULT_MILLI_CPU_REQUEST
DEF_MEM = DEFAULT_MEMORY_REQUEST

NON_ZERO = table(
    ("nothing requested: the defaults", pod(ctr()), (DEF_CPU, DEF_MEM)),
    ("the defaults are 100m and 200Mi", pod(ctr()), (100, 200 * Mi)),
    ("cpu requested, memory defaulted", pod(ctr({"cpu": "1"})), (1000, DEF_MEM)),
    ("memory requested, cpu defaulted", pod(ctr({"memory": "1Gi"})), (DEF_CPU, Gi)),
    ("an explicit zero is not defaulted", pod(ctr({"cpu": "0"})), (0, DEF_MEM)),
    ("each container gets the defaults", pod(ctr(), ctr()), (2 * DEF_CPU, 2 * DEF_MEM)),
    # containers 2 x 100m = 200m beat the defaulted init container's 100m.
    ("init containers are defaulted too, then max'ed",
     pod(ctr(), ctr(), init=(ctr(),)), (2 * DEF_CPU, 2 * DEF_MEM)),
    ("a best-effort sidecar adds the defaults",
     pod(ctr(), init=(ctr(restart="Always"),)), (2 * DEF_CPU, 2 * DEF_MEM)),
    ("overhead is added to the defaults",
     pod(ctr(), overhead={"cpu": "50m"}), (DEF_CPU + 50, DEF_MEM)),
    ("other resources are not carried",
     pod(ctr({"ephemeral-storage": "1Gi", "nvidia.com/gpu": "1"})), (DEF_CPU, DEF_MEM)),
)


@pytest.mark.parametrize("the_pod, expected", **NON_ZERO)
def test_pod_non_zero_requests(the_pod, expected):
    cpu, mem = expected
    assert pod_non_zero_requests(the_pod) == Resources(milli_cpu=cpu, memory=mem)


# --- node_allocatable -------------------------------------------------------------------

ALLOCATABLE = table(
    ("allocatable",
     node({"cpu": "3500m", "memory": "7Gi", "pods": "110", "ephemeral-storage": "50Gi"},
          capacity={"cpu": "4", "memory": "8Gi", "pods": "110"}),
     res(cpu=3500, mem=7 * Gi, eph=50 * Gi, pods=110)),
    ("capacity when allocatable is absent",
     node(capacity={"cpu": "4", "memory": "8Gi", "pods": "110"}),
     res(cpu=4000, mem=8 * Gi, pods=110)),
    # Defaulting copies capacity only when allocatable is missing altogether.
    ("a partial allocatable is not filled from capacity",
     node({"cpu": "2"}, capacity={"cpu": "4", "memory": "8Gi"}),
     res(cpu=2000, pods=0)),
    ("neither: nothing", node(), res(pods=0)),
    ("extended resources kept, unknown names dropped",
     node({"cpu": "1", "example.com/foo": "3", "bogus": "9"}),
     res(cpu=1000, pods=0, scalar={"example.com/foo": 3})),
)


@pytest.mark.parametrize("the_node, expected", **ALLOCATABLE)
def test_node_allocatable(the_node, expected):
    assert node_allocatable(the_node) == expected


SCALAR = table(
    ("extended", "nvidia.com/gpu", True),
    ("hugepages", "hugepages-1Gi", True),
    ("attachable volumes", "attachable-volumes-aws-ebs", True),
    ("kubernetes.io prefixed", "kubernetes.io/something", True),
    ("cpu is native", "cpu", False),
    ("a bare unknown name is native", "gpus", False),
    ("the quota prefix is not extended", "requests.example.com/foo", False),
    ("an invalid qualified name is not extended", "example.com/-bad-", False),
)


@pytest.mark.parametrize("name, expected", **SCALAR)
def test_is_scalar_resource(name, expected):
    assert is_scalar_resource(name) is expected


# --- NodeInfo ---------------------------------------------------------------------------

NODE = node({"cpu": "4", "memory": "8Gi", "pods": "110"})
P1 = pod(ctr({"cpu": "1", "memory": "1Gi"}), name="p1", uid="u1")
P2 = pod(ctr(), name="p2", uid="u2")  # best effort: counts only in the non-zero sum


def test_new_node_info_sums_its_pods():
    info = new_node_info(NODE, [P1, P2])
    assert info.name == "n1"
    assert info.allocatable == res(cpu=4000, mem=8 * Gi, pods=110)
    assert info.requested == res(cpu=1000, mem=Gi, pods=2)
    assert info.non_zero_requested == Resources(milli_cpu=1000 + 100, memory=Gi + 200 * Mi)
    assert [p["metadata"]["name"] for p in info.pods] == ["p1", "p2"]


def test_add_then_remove_returns_to_empty():
    info = new_node_info(NODE)
    add_pod(info, P1)
    add_pod(info, P2)
    assert remove_pod(info, P1) is True
    assert info.requested == res(cpu=0, mem=0, pods=1)
    assert info.non_zero_requested == Resources(milli_cpu=100, memory=200 * Mi)
    assert remove_pod(info, P2) is True
    assert info.pods == []
    assert info.requested == res(pods=0)
    assert info.non_zero_requested == Resources()


REMOVE = table(
    ("by uid, even with another spec", P1, pod(ctr({"cpu": "3"}), name="p1", uid="u1"), True),
    ("by namespace/name when neither has a uid",
     pod(ctr({"cpu": "1"}), name="p1"), pod(ctr(), name="p1"), True),
    ("an unknown pod", P1, pod(ctr(), name="p9", uid="u9"), False),
)


@pytest.mark.parametrize("counted, to_remove, removed", **REMOVE)
def test_remove_pod(counted, to_remove, removed):
    info = new_node_info(NODE, [counted])
    assert remove_pod(info, to_remove) is removed
    # The counted copy's request leaves the sums, whatever the argument's spec says.
    assert info.requested.milli_cpu == (0 if removed else 1000)
    assert len(info.pods) == (0 if removed else 1)
