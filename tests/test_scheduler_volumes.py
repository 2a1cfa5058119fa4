"""VolumeBinding (actors.scheduler.plugins.volumes) places pods where their claims can be served.

Tables of named cases over two zones — node ``a1`` in zone a, ``b1`` in
zone b — and a small set of PersistentVolumes and StorageClasses: PreFilter
refuses pods whose claims no node could serve, Filter refuses nodes that
cannot serve them, and for the nodes that pass, the CycleState records what
binding would do there (which PV each claim takes, or that it is
provisioned).
"""

from __future__ import annotations

import pytest

from actors.scheduler.framework import Code, CycleState, NodeInfo
from actors.scheduler.plugins.volumes import (
    ERR_BIND_CONFLICT,
    ERR_NODE_CONFLICT,
    ERR_PV_NOT_EXIST,
    ERR_UNBOUND_IMMEDIATE,
    NAME,
    PRE_FILTER_KEY,
    STORAGE_KEY,
    PodVolumes,
    StorageSnapshot,
    filter,
    pre_filter,
)

ZONE = "topology.kubernetes.io/zone"


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return dict(argvalues=[c[1:] for c in cases], ids=[c[0] for c in cases])


# --- Builders --------------------------------------------------------------------------

def mkpod(*claims, ephemeral=(), name="app", uid="pod-uid"):
    volumes = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
               for i, c in enumerate(claims)]
    volumes += [{"name": v, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}} for v in ephemeral]
    volumes.append({"name": "scratch", "emptyDir": {}})
    return {"metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"volumes": volumes}}


def claim(name, storage_class="local", size="10Gi", volume="", modes=("ReadWriteOnce",),
          **meta):
    return {"metadata": {"name": name, "namespace": "default", **meta},
            "spec": {"storageClassName": storage_class, "volumeName": volume,
                     "accessModes": list(modes), "resources": {"requests": {"storage": size}}}}


def zone_affinity(*zones):
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": ZONE, "operator": "In", "values": list(zones)}]}]}}


def pv(name, size="10Gi", storage_class="local", zone=None, modes=("ReadWriteOnce",),
       claim_ref=None, phase="Available", **labels):
    spec = {"storageClassName": storage_class, "capacity": {"storage": size},
            "accessModes": list(modes)}
    if zone:
        spec["nodeAffinity"] = zone_affinity(zone)
    if claim_ref:
        spec["claimRef"] = {"namespace": "default", "name": claim_ref}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec,
            "status": {"phase": phase}}


def sc(name, mode="WaitForFirstConsumer", provisioner="kubernetes.io/no-provisioner",
       topologies=None):
    out = {"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode}
    if topologies:
        out["allowedTopologies"] = [{"matchLabelExpressions": [
            {"key": ZONE, "values": list(topologies)}]}]
    return out


CLASSES = [sc("local"), sc("fast", provisioner="csi.example.com"),
           sc("zonal", provisioner="csi.example.com", topologies=["a"]),
           sc("instant", mode="Immediate", provisioner="csi.example.com")]


def snapshot(claims=(), volumes=()) -> StorageSnapshot:
    return StorageSnapshot(
        claims={f"default/{c['metadata']['name']}": c for c in claims},
        volumes={v["metadata"]["name"]: v for v in volumes},
        classes={c["metadata"]["name"]: c for c in CLASSES})


def nodes() -> list[NodeInfo]:
    return [NodeInfo({"metadata": {"name": n, "labels": {ZONE: z}}}) for n, z in
            (("a1", "a"), ("b1", "b"))]


def run(pod, storage) -> tuple[dict[str, str], dict[str, PodVolumes]]:
    """Each node's verdict after PreFilter passed, and what the state records per node."""
    state = CycleState()
    assert pre_filter(pod, nodes(), state, storage) is None
    out = {}
    for info in nodes():
        status = filter(pod, info, state)
        if status is None:
            out[info.name] = "ok"
        else:
            assert status.plugin == NAME and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
            out[info.name] = "; ".join(status.reasons)
    return out, state[PRE_FILTER_KEY].pod_volumes_by_node


OK = "ok"


# --- PreFilter: the pod's claims --------------------------------------------------------

PRE_FILTER = table(
    ("missing claim", mkpod("data"), snapshot(),
     'persistentvolumeclaim "data" not found'),
    ("ephemeral claim not created yet", mkpod(ephemeral=["cache"]), snapshot(),
     'waiting for ephemeral volume controller to create the persistentvolumeclaim "app-cache"'),
    ("ephemeral claim owned by someone else",
     mkpod(ephemeral=["cache"]), snapshot([claim("app-cache", "fast")]),
     "PVC default/app-cache was not created for pod default/app (pod is not owner)"),
    ("claim being deleted",
     mkpod("data"), snapshot([claim("data", deletionTimestamp="2024-01-01T00:00:00Z")]),
     'persistentvolumeclaim "data" is being deleted'),
    ("claim lost its volume",
     mkpod("data"), snapshot([{**claim("data", volume="gone"), "status": {"phase": "Lost"}}]),
     'persistentvolumeclaim "data" bound to non-existent persistentvolume "gone"'),
    ("unbound claim of an Immediate class",
     mkpod("data"), snapshot([claim("data", "instant")]), ERR_UNBOUND_IMMEDIATE),
    ("unbound claim without a class binds immediately",
     mkpod("data"), snapshot([claim("data", "")]), ERR_UNBOUND_IMMEDIATE),
    ("unbound claim of an unknown class binds immediately",
     mkpod("data"), snapshot([claim("data", "nosuch")]), ERR_UNBOUND_IMMEDIATE),
)


@pytest.mark.parametrize("pod, storage, reason", **PRE_FILTER)
def test_prefilter_refuses_the_pod_everywhere(pod, storage, reason):
    status = pre_filter(pod, nodes(), CycleState(), storage)
    assert status is not None
    assert (status.code, status.reasons, status.plugin) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (reason,), NAME)


def test_pod_without_claims_fits_anywhere():
    # Kubernetes skips the plugin: nothing to bind is recorded.
    assert run(mkpod(), snapshot()) == ({"a1": OK, "b1": OK}, {})


def test_owned_ephemeral_claim_is_accepted():
    owned = claim("app-cache", "fast",
                  ownerReferences=[{"kind": "Pod", "name": "app", "uid": "pod-uid",
                                    "controller": True}])
    verdict, _ = run(mkpod(ephemeral=["cache"]), snapshot([owned]))
    assert verdict == {"a1": OK, "b1": OK}


def test_storage_may_come_from_the_cycle_state():
    state = CycleState({STORAGE_KEY: snapshot([claim("data", "instant")])})
    status = pre_filter(mkpod("data"), nodes(), state)
    assert status is not None and status.reasons == (ERR_UNBOUND_IMMEDIATE,)


# --- Filter: bound claims ------------------------------------------------------------------

BOUND = table(
    ("PV pinned to zone a: a1 ok, b1 conflicts",
     [pv("pv-a", zone="a", claim_ref="data")], {"a1": OK, "b1": ERR_NODE_CONFLICT}),
    ("PV without node affinity: anywhere",
     [pv("pv-a", claim_ref="data")], {"a1": OK, "b1": OK}),
    ("PV gone: nowhere",
     [], {"a1": ERR_PV_NOT_EXIST, "b1": ERR_PV_NOT_EXIST}),
)


@pytest.mark.parametrize("volumes, expected", **BOUND)
def test_bound_claim(volumes, expected):
    storage = snapshot([claim("data", volume="pv-a")], volumes)
    verdict, planned = run(mkpod("data"), storage)
    assert verdict == expected
    assert all(p == PodVolumes() for p in planned.values())  # nothing left to bind


# --- Filter: WaitForFirstConsumer claims ----------------------------------------------------

WFFC = table(
    ("local PV in zone a: binding deferred to a1; b1 has none",
     [claim("data")], [pv("pv-a", zone="a")],
     {"a1": OK, "b1": ERR_BIND_CONFLICT},
     {"a1": PodVolumes((("default/data", "pv-a"),))}),
    ("a local PV per zone: each node binds its own",
     [claim("data")], [pv("pv-a", zone="a"), pv("pv-b", zone="b")],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((("default/data", "pv-a"),)),
      "b1": PodVolumes((("default/data", "pv-b"),))}),
    ("the smallest PV that fits: 8Gi takes 10Gi, not 5Gi or 20Gi",
     [claim("data", size="8Gi")], [pv("big", "20Gi"), pv("mid", "10Gi"), pv("small", "5Gi")],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((("default/data", "mid"),)), "b1": PodVolumes((("default/data", "mid"),))}),
    ("two claims never share a PV: the smaller request picks first",
     [claim("logs", size="1Gi"), claim("data", size="5Gi")],
     [pv("pv-1", "1Gi", zone="a"), pv("pv-5", "5Gi", zone="a")],
     {"a1": OK, "b1": ERR_BIND_CONFLICT},
     {"a1": PodVolumes((("default/logs", "pv-1"), ("default/data", "pv-5")))}),
    ("one PV for two claims: the second has no PV and no provisioner",
     [claim("logs"), claim("data")], [pv("only", zone="a")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV too small", [claim("data", size="20Gi")], [pv("pv-a", "10Gi")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV of another class", [claim("data")], [pv("pv-a", storage_class="other")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV lacks the access mode",
     [claim("data", modes=("ReadWriteMany",))], [pv("pv-a")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV claimed by another claim", [claim("data")], [pv("pv-a", claim_ref="other")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV already released", [claim("data")], [pv("pv-a", phase="Released")],
     {"a1": ERR_BIND_CONFLICT, "b1": ERR_BIND_CONFLICT}, {}),
    ("PV not yet processed (Pending) is available: kubesim has no PV controller",
     [claim("data")], [pv("pv-a", phase="Pending")],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((("default/data", "pv-a"),)), "b1": PodVolumes((("default/data", "pv-a"),))}),
    ("claim selector picks by PV label",
     [{**claim("data"), "spec": {**claim("data")["spec"],
                                 "selector": {"matchLabels": {"disk": "ssd"}}}}],
     [pv("hdd", zone="a", disk="hdd"), pv("ssd", zone="b", disk="ssd")],
     {"a1": ERR_BIND_CONFLICT, "b1": OK}, {"b1": PodVolumes((("default/data", "ssd"),))}),
    ("PV pre-bound to the claim wins even if a smaller one fits",
     [claim("data", size="1Gi")], [pv("tiny", "1Gi"), pv("mine", "50Gi", claim_ref="data")],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((("default/data", "mine"),)),
      "b1": PodVolumes((("default/data", "mine"),))}),
    ("PV pre-bound to the claim but pinned to zone b: nothing else is tried on a1",
     [claim("data")], [pv("free", zone="a"), pv("mine", zone="b", claim_ref="data")],
     {"a1": ERR_BIND_CONFLICT, "b1": OK}, {"b1": PodVolumes((("default/data", "mine"),))}),
    # Dynamic provisioning.
    ("a provisioner serves any node",
     [claim("data", "fast")], [],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((), ("default/data",)), "b1": PodVolumes((), ("default/data",))}),
    ("an available PV is preferred to provisioning",
     [claim("data", "fast")], [pv("pv-a", storage_class="fast", zone="a")],
     {"a1": OK, "b1": OK},
     {"a1": PodVolumes((("default/data", "pv-a"),)), "b1": PodVolumes((), ("default/data",))}),
    ("allowedTopologies limit provisioning to zone a",
     [claim("data", "zonal")], [],
     {"a1": OK, "b1": ERR_BIND_CONFLICT}, {"a1": PodVolumes((), ("default/data",))}),
    ("provisioning already started for b1 (selected-node)",
     [claim("data", "fast", annotations={"volume.kubernetes.io/selected-node": "b1"})], [],
     {"a1": ERR_BIND_CONFLICT, "b1": OK}, {"b1": PodVolumes((), ("default/data",))}),
)


@pytest.mark.parametrize("claims, volumes, expected, planned", **WFFC)
def test_wait_for_first_consumer(claims, volumes, expected, planned):
    names = [c["metadata"]["name"] for c in claims]
    assert run(mkpod(*names), snapshot(claims, volumes)) == (expected, planned)


def test_bound_and_unbound_conflicts_are_both_reported_in_kubernetes_order():
    # "data" is bound to a zone-b PV; "logs" waits for a zone-b local PV: a1 fails both.
    storage = snapshot([claim("data", volume="pv-b"), claim("logs")],
                       [pv("pv-b", zone="b", claim_ref="data"), pv("local-b", zone="b")])
    verdict, planned = run(mkpod("data", "logs"), storage)
    assert verdict == {"a1": f"{ERR_NODE_CONFLICT}; {ERR_BIND_CONFLICT}", "b1": OK}
    assert planned == {"b1": PodVolumes((("default/logs", "local-b"),))}
