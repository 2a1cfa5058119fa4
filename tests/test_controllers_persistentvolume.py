"""The PersistentVolume controller over hand-filled caches and a fake API that records calls.

Kubernetes' ``pv_controller_test.go`` style: put claims, volumes, classes and
pods in :class:`DictStore` caches, run one sync with :func:`run_sync`, and
compare the API calls made (in order) and the events said. ``FakeApi``
answers every write at once with a new resourceVersion and keeps what it
wrote, so :func:`deliver` can play the informer and a test can follow a
claim through several syncs.
"""

from __future__ import annotations

import copy

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, key_of, run_sync
from actors.controllers.persistentvolume import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_PROVISIONED_BY,
    ANN_STORAGE_PROVISIONER,
    PersistentVolumeController,
    claim_reference,
    default_class,
    find_best_match,
    mismatch,
    provisioned_volume,
)

T0 = 1_750_000_000.0
"""Wall-clock seconds of every sync."""
UID = "0b1c2d3e"
PROVISIONER = "csi.kubesim.io"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
_RESOURCES = {"PersistentVolume": "persistentvolumes", "PersistentVolumeClaim": "persistentvolumeclaims"}
_UNSET = object()


def table(*cases):
    """``pytest.mark.parametrize`` arguments from (id, *values) rows."""
    return {"argvalues": [c[1:] for c in cases], "ids": [c[0] for c in cases]}


# --- The fake API and the event recorder ------------------------------------------------------------

class FakeApi:
    """Records (verb, resource, key) per call and the bodies sent; answers writes with a bumped resourceVersion."""

    def __init__(self, live: dict | None = None, fail: dict | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.sent: list[dict] = []
        self.live = live or {}
        """(resource, key) -> object, for get."""
        self.fail = fail or {}
        """(verb, resource, key) -> ApiError to raise."""
        self.written: dict[tuple[str, str], dict | None] = {}
        """(resource, key) -> the latest object written, None once deleted: what deliver() replays."""
        self._rv = 100

    def _call(self, verb: str, resource: str, key: str) -> None:
        self.calls.append((verb, resource, key))
        if (verb, resource, key) in self.fail:
            raise self.fail[(verb, resource, key)]

    async def _store(self, verb: str, obj: dict) -> dict:
        resource, key = _RESOURCES[obj["kind"]], key_of(obj)
        self.sent.append(copy.deepcopy(obj))
        self._call(verb, resource, key)
        self._rv += 1
        out = copy.deepcopy(obj)
        out["metadata"]["resourceVersion"] = str(self._rv)
        if verb == "create":
            out["metadata"]["uid"] = f"uid-{key}"
            out["status"] = {"phase": "Pending"}
        self.written[(resource, key)] = out
        return out

    async def create(self, obj, namespace=""):
        return await self._store("create", obj)

    async def update(self, obj, *, subresource=""):
        return await self._store("update", obj)

    async def update_status(self, obj):
        return await self._store("update_status", obj)

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        key = f"{namespace}/{name}" if namespace else name
        self._call("delete", resource, key)
        self.written[(resource, key)] = None
        return {}

    async def get(self, resource, name, namespace=""):
        key = f"{namespace}/{name}" if namespace else name
        self._call("get", resource, key)
        if (resource, key) in self.live:
            return copy.deepcopy(self.live[(resource, key)])
        raise ApiError(404, "NotFound", f'{resource} "{name}" not found')

    def verbs(self) -> list[tuple[str, str, str]]:
        return list(self.calls)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    def event(self, obj, type_, reason, message):
        self.seen.append((key_of(obj), type_, reason, message))

    def reasons(self) -> list[str]:
        return [e[2] for e in self.seen]


# --- Builders ----------------------------------------------------------------------------------------

def claim(name="data", *, uid=UID, size="10Gi", cls=_UNSET, modes=("ReadWriteOnce",), volume="",
          volume_mode=None, selector=None, annotations=None, status=None, rv="10") -> dict:
    spec: dict = {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
                  "volumeMode": volume_mode or "Filesystem"}
    if cls is not None:
        spec["storageClassName"] = "standard" if cls is _UNSET else cls
    if volume:
        spec["volumeName"] = volume
    if selector is not None:
        spec["selector"] = selector
    meta = {"name": name, "namespace": "default", "uid": uid, "resourceVersion": rv}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec,
            "status": status if status is not None else {"phase": "Pending"}}


def pv(name, *, size="10Gi", cls="standard", modes=("ReadWriteOnce",), phase="Available", ref=None,
       policy="Retain", labels=None, annotations=None, hostname=None, volume_mode=None, deleting=False,
       rv="20") -> dict:
    spec: dict = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
                  "persistentVolumeReclaimPolicy": policy, "volumeMode": volume_mode or "Filesystem",
                  "hostPath": {"path": f"/mnt/{name}"}}
    if ref is not None:
        spec["claimRef"] = ref
    if hostname:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [hostname]}]}]}}
    meta: dict = {"name": name, "uid": f"uid-{name}", "resourceVersion": rv, "labels": dict(labels or {})}
    if annotations:
        meta["annotations"] = dict(annotations)
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0)
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta, "spec": spec,
            "status": {"phase": phase}}


def ref_to(c: dict, *, uid: bool = True) -> dict:
    out = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": c["metadata"]["name"]}
    if uid:
        out["uid"] = c["metadata"]["uid"]
    return out


def bound_pair(policy="Retain", size="10Gi") -> tuple[dict, dict]:
    """A claim and a PV the controller bound earlier, in their final state."""
    c = claim(volume="pv-a", annotations={ANN_BIND_COMPLETED: "yes", ANN_BOUND_BY_CONTROLLER: "yes"},
              status={"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}})
    v = pv("pv-a", size=size, phase="Bound", ref=claim_reference(c), policy=policy,
           annotations={ANN_BOUND_BY_CONTROLLER: "yes"})
    return c, v


def sc(name="standard", *, provisioner=PROVISIONER, mode="Immediate", reclaim=None, mount=None, default=False,
       created=T0 - 60) -> dict:
    out: dict = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": name, "creationTimestamp": rfc3339(created)},
                 "provisioner": provisioner, "volumeBindingMode": mode}
    if reclaim:
        out["reclaimPolicy"] = reclaim
    if mount:
        out["mountOptions"] = list(mount)
    if default:
        out["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return out


def pod(name, *claims, node="") -> dict:
    spec: dict = {"volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                              for i, c in enumerate(claims)]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                              "uid": f"uid-{name}"},
            "spec": spec, "status": {"phase": "Running" if node else "Pending"}}


def setup(claims=(), volumes=(), classes=(), pods=(), live=None, fail=None):
    ctrl = PersistentVolumeController()
    caches = {r: DictStore() for r in ctrl.watches}
    for resource, objs in zip(ctrl.watches, (claims, volumes, classes, pods), strict=True):
        for obj in objs:
            caches[resource].put(obj)
            ctrl.observe(resource, "ADDED", obj, 0.0)
    api, events = FakeApi(live, fail), Events()
    return ctrl, Context(caches, api, events, 0.0, T0), api, events


def sync(ctrl, ctx, *keys) -> None:
    for key in keys:
        assert run_sync(ctrl.sync(key, ctx)) is None


def deliver(ctrl, ctx, api) -> None:
    """Play the informers: everything the API wrote reaches the caches (and ``observe``)."""
    for (resource, key), obj in api.written.items():
        store = ctx.caches[resource]
        if obj is None:
            gone = store.objects.pop(key, None)
            if gone is not None:
                ctrl.observe(resource, "DELETED", gone, 0.0)
        else:
            store.put(obj)
            ctrl.observe(resource, "MODIFIED", obj, 0.0)
    api.written.clear()


# --- Matching ---------------------------------------------------------------------------------------

C = claim()
NODE_1 = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}}


@pytest.mark.parametrize("the_claim, volumes, node, delay, expected", **table(
    ("the smallest of those that fit", C, [pv("a", size="20Gi"), pv("b", size="10Gi"), pv("c", size="5Gi")],
     None, False, "b"),
    ("larger units compare by value", claim(size="1Gi"), [pv("a", size="2000Mi"), pv("b", size="1Ti")],
     None, False, "a"),
    ("none big enough", claim(size="50Gi"), [pv("a", size="20Gi")], None, False, None),
    ("access modes must be a superset", claim(modes=("ReadWriteOnce", "ReadOnlyMany")),
     [pv("a"), pv("b", size="20Gi", modes=("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"))],
     None, False, "b"),
    ("a size tie goes to fewer access modes", C,
     [pv("a", modes=("ReadWriteOnce", "ReadWriteMany")), pv("b")], None, False, "b"),
    ("the classes must be equal", C, [pv("a", cls="fast"), pv("b", size="20Gi")], None, False, "b"),
    ('class "" takes only PVs without a class', claim(cls=""), [pv("a"), pv("b", size="20Gi", cls="")],
     None, False, "b"),
    ("an unset class also takes only PVs without a class", claim(cls=None), [pv("a"), pv("b", cls="")],
     None, False, "b"),
    ("Block wants Block", claim(volume_mode="Block"), [pv("a"), pv("b", volume_mode="Block", size="20Gi")],
     None, False, "b"),
    ("the selector picks by labels", claim(selector={"matchLabels": {"tier": "gold"}}),
     [pv("a"), pv("b", size="20Gi", labels={"tier": "gold"})], None, False, "b"),
    ("only Available PVs", C, [pv("a", phase="Pending"), pv("b", phase="Released"), pv("c", phase="Failed")],
     None, False, None),
    ("a PV claimed by another claim is not free", C,
     [pv("a", ref={"namespace": "default", "name": "other", "uid": "x"})], None, False, None),
    ("the PV pre-bound to the claim wins over a smaller free one", C,
     [pv("a", size="5Gi"), pv("b", size="100Gi", phase="Bound", ref=ref_to(C))], None, False, "b"),
    ("pre-bound by name alone (no uid) counts", C, [pv("a"), pv("b", size="20Gi", ref=ref_to(C, uid=False))],
     None, False, "b"),
    ("pre-bound to an earlier claim of that name does not", C,
     [pv("a", ref=dict(ref_to(C), uid="older"))], None, False, None),
    ("a pre-bound PV too small is passed over", C, [pv("a", size="1Gi", ref=ref_to(C)), pv("b")],
     None, False, "b"),
    ("a deleting PV is passed over", C, [pv("a", deleting=True), pv("b", size="20Gi")], None, False, "b"),
    ("WaitForFirstConsumer without a node takes only a pre-bound PV", C,
     [pv("a"), pv("b", ref=ref_to(C))], None, True, "b"),
    ("WaitForFirstConsumer without a node and nothing pre-bound waits", C, [pv("a")], None, True, None),
    ("on a node, the PV's affinity must admit it", C,
     [pv("a", size="5Gi"), pv("b", hostname="n2"), pv("c", size="20Gi", hostname="n1")], NODE_1, True, "c"),
    ("on a node, a pre-bound PV pinned elsewhere is no match", C,
     [pv("a", ref=ref_to(C), hostname="n2"), pv("b", hostname="n1")], NODE_1, True, None),
))
def test_matching(the_claim, volumes, node, delay, expected):
    found = find_best_match(the_claim, volumes, node=node, delay_binding=delay)
    assert (found["metadata"]["name"] if found else None) == expected


@pytest.mark.parametrize("volume, reason", **table(
    ("fits", pv("a"), None),
    ("too small", pv("a", size="1Gi"), "requested PV is too small"),
    ("another class", pv("a", cls="fast"), "storageClassName does not match"),
    ("another volumeMode", pv("a", volume_mode="Block"), "incompatible volumeMode"),
    ("too few access modes", pv("a", modes=("ReadOnlyMany",)), "incompatible accessMode"),
))
def test_mismatch_reasons(volume, reason):
    assert mismatch(C, volume) == reason


# --- Binding ---------------------------------------------------------------------------------------

def test_binding_writes_the_volume_first_then_the_claim():
    ctrl, ctx, api, events = setup([claim()], [pv("big", size="100Gi"), pv("pv-a")], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update", "persistentvolumes", "pv-a"),
                         ("update_status", "persistentvolumes", "pv-a"),
                         ("update", "persistentvolumeclaims", "default/data"),
                         ("update_status", "persistentvolumeclaims", "default/data")]
    pv_spec, pv_status, claim_spec, claim_status = api.sent
    assert pv_spec["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": "default",
                                           "name": "data", "uid": UID, "apiVersion": "v1", "resourceVersion": "10"}
    assert pv_spec["metadata"]["annotations"] == {ANN_BOUND_BY_CONTROLLER: "yes"}
    assert pv_status["status"] == {"phase": "Bound", "lastPhaseTransitionTime": rfc3339(T0)}
    assert pv_status["metadata"]["resourceVersion"] == "101"  # written over the first write's answer
    assert claim_spec["spec"]["volumeName"] == "pv-a"
    assert claim_spec["metadata"]["annotations"] == {ANN_BIND_COMPLETED: "yes", ANN_BOUND_BY_CONTROLLER: "yes"}
    assert claim_status["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                      "capacity": {"storage": "10Gi"}}
    assert events.seen == []


def test_a_bound_pair_makes_no_writes():
    c, v = bound_pair()
    ctrl, ctx, api, events = setup([c], [v], [sc()])
    sync(ctrl, ctx, "claim:default/data", "volume:pv-a")
    assert api.calls == [] and events.seen == []


def test_a_bound_claims_capacity_is_not_rewritten():
    c, v = bound_pair(size="20Gi")
    c["status"]["capacity"] = {"storage": "10Gi"}  # a difference may be a resize under way: not ours to undo
    ctrl, ctx, api, _ = setup([c], [v], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == []


def test_the_controllers_own_writes_stand_in_for_a_stale_cache():
    ctrl, ctx, api, _ = setup([claim()], [pv("pv-a")], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    api.calls.clear()
    # The informers have not shown the four writes yet: syncing again must not redo them.
    sync(ctrl, ctx, "volume:pv-a", "claim:default/data")
    assert api.calls == []
    deliver(ctrl, ctx, api)
    sync(ctrl, ctx, "volume:pv-a", "claim:default/data")
    assert api.calls == [] and ctrl._written == {}


def test_a_volume_pre_bound_by_the_user_is_taken_and_stays_the_users():
    c = claim()
    ctrl, ctx, api, _ = setup([c], [pv("small", size="1Gi"), pv("mine", size="50Gi", ref=ref_to(c, uid=False))],
                              [sc()])
    sync(ctrl, ctx, "claim:default/data")
    pv_spec = api.sent[0]
    assert api.calls[0] == ("update", "persistentvolumes", "mine")
    assert pv_spec["spec"]["claimRef"]["uid"] == UID
    assert ANN_BOUND_BY_CONTROLLER not in (pv_spec["metadata"].get("annotations") or {})
    assert api.sent[2]["metadata"]["annotations"] == {ANN_BIND_COMPLETED: "yes", ANN_BOUND_BY_CONTROLLER: "yes"}
    assert api.sent[3]["status"]["capacity"] == {"storage": "50Gi"}


def test_a_claim_naming_its_volume_gets_it_and_the_claims_pointer_stays_the_users():
    ctrl, ctx, api, _ = setup([claim(volume="pv-b")], [pv("pv-a"), pv("pv-b", size="20Gi")], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert [c[2] for c in api.calls] == ["pv-b", "pv-b", "default/data", "default/data"]
    assert api.sent[0]["metadata"]["annotations"] == {ANN_BOUND_BY_CONTROLLER: "yes"}
    assert api.sent[2]["metadata"]["annotations"] == {ANN_BIND_COMPLETED: "yes"}


def test_a_claim_naming_a_volume_that_cannot_serve_it_waits_and_says_why_once():
    ctrl, ctx, api, events = setup([claim(volume="pv-a")], [pv("pv-a", size="1Gi")], [sc()])
    sync(ctrl, ctx, "claim:default/data", "claim:default/data")
    assert api.calls == []
    assert events.seen == [("default/data", "Warning", "VolumeMismatch",
                            'Cannot bind to requested volume "pv-a": requested PV is too small')]


def test_a_claim_naming_a_missing_or_taken_volume_waits():
    other = {"namespace": "default", "name": "other", "uid": "x"}
    ctrl, ctx, api, events = setup([claim(volume="pv-a"), claim("two", uid="u2", volume="pv-b")],
                                   [pv("pv-b", phase="Bound", ref=other)], [sc()])
    sync(ctrl, ctx, "claim:default/data", "claim:default/two")
    assert api.calls == [] and events.seen == []


def test_a_failed_write_is_raised_for_a_retry():
    conflict = ApiError(409, "Conflict", "the object has been modified")
    ctrl, ctx, api, _ = setup([claim()], [pv("pv-a")], [sc()],
                              fail={("update_status", "persistentvolumes", "pv-a"): conflict})
    with pytest.raises(ApiError):
        sync(ctrl, ctx, "claim:default/data")
    assert api.calls[-1] == ("update_status", "persistentvolumes", "pv-a")


def test_a_write_refused_as_stale_drops_the_controllers_own_copy():
    gone = ApiError(404, "NotFound", 'persistentvolumes "pv-a" not found')
    ctrl, ctx, api, _ = setup([claim()], [pv("pv-a")], [sc()],
                              fail={("update_status", "persistentvolumes", "pv-a"): gone})
    with pytest.raises(ApiError):
        sync(ctrl, ctx, "claim:default/data")
    # The claimRef write went through; the PV vanished before its phase did: the next try reads the cache.
    assert api.calls[0] == ("update", "persistentvolumes", "pv-a") and ctrl._written == {}


def test_a_claim_with_no_class_and_no_volume_waits_with_an_event():
    ctrl, ctx, api, events = setup([claim(cls="")], [pv("pv-a")], [sc()])
    sync(ctrl, ctx, "claim:default/data", "claim:default/data")
    assert api.calls == []
    assert events.seen == [("default/data", "Normal", "FailedBinding",
                            "no persistent volumes available for this claim and no storage class is set")]


def test_a_claim_without_a_class_gets_the_newest_default():
    classes = [sc("old", default=True, created=T0 - 600), sc("new", default=True), sc("other")]
    assert default_class(classes)["metadata"]["name"] == "new"
    ctrl, ctx, api, _ = setup([claim(cls=None)], [], classes)
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update", "persistentvolumeclaims", "default/data")]
    assert api.sent[0]["spec"]["storageClassName"] == "new"


# --- Provisioning ------------------------------------------------------------------------------------

def test_immediate_provisioning_makes_the_volume_and_then_binds_it():
    ctrl, ctx, api, events = setup([claim(size="3Gi")], [pv("too-small", size="1Gi")], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update", "persistentvolumeclaims", "default/data"),
                         ("create", "persistentvolumes", f"pvc-{UID}")]
    assert api.sent[0]["metadata"]["annotations"] == {
        ANN_STORAGE_PROVISIONER: PROVISIONER, "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER}
    made = api.sent[1]
    assert made["metadata"] == {"name": f"pvc-{UID}", "annotations": {ANN_BOUND_BY_CONTROLLER: "yes",
                                                                      ANN_PROVISIONED_BY: PROVISIONER}}
    assert made["spec"] == {
        "capacity": {"storage": "3Gi"}, "accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
        "claimRef": dict(claim_reference(claim()), resourceVersion="101"),
        "hostPath": {"path": f"/var/lib/kubesim/volumes/pvc-{UID}", "type": "DirectoryOrCreate"}}
    assert events.seen == [
        ("default/data", "Normal", "Provisioning", 'External provisioner is provisioning volume for claim "default/data"'),
        ("default/data", "Normal", "ProvisioningSucceeded",
         f"Successfully provisioned volume pvc-{UID} using {PROVISIONER}")]
    # The new PV's event brings the claim back: binding needs no PV spec write.
    deliver(ctrl, ctx, api)
    api.calls.clear()
    assert "claim:default/data" in ctrl.keys("persistentvolumes", ctx.caches["persistentvolumes"].get(f"pvc-{UID}"))
    sync(ctrl, ctx, "claim:default/data", f"volume:pvc-{UID}")
    assert api.calls == [("update_status", "persistentvolumes", f"pvc-{UID}"),
                         ("update", "persistentvolumeclaims", "default/data"),
                         ("update_status", "persistentvolumeclaims", "default/data")]
    assert api.sent[-1]["status"]["capacity"] == {"storage": "3Gi"}


def test_a_provisioned_volume_takes_the_class_policy_and_mount_options():
    made = provisioned_volume(claim(), sc(reclaim="Retain", mount=["noatime"]))
    assert made["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert made["spec"]["mountOptions"] == ["noatime"]
    assert "nodeAffinity" not in made["spec"]
    pinned = provisioned_volume(claim(), sc(), hostname="n1")
    assert pinned["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]


def test_provisioning_again_after_a_lost_answer_is_harmless():
    exists = ApiError(409, "AlreadyExists", f'persistentvolumes "pvc-{UID}" already exists')
    ctrl, ctx, _, events = setup([claim()], [], [sc()], fail={("create", "persistentvolumes", f"pvc-{UID}"): exists})
    sync(ctrl, ctx, "claim:default/data")
    assert events.reasons() == ["Provisioning"]


def test_a_provisioning_failure_is_said_and_retried():
    quota = ApiError(403, "Forbidden", "exceeded quota")
    ctrl, ctx, _, events = setup([claim()], [], [sc()], fail={("create", "persistentvolumes", f"pvc-{UID}"): quota})
    with pytest.raises(ApiError):
        sync(ctrl, ctx, "claim:default/data")
    assert events.seen[-1] == ("default/data", "Warning", "ProvisioningFailed",
                               'Failed to provision volume with StorageClass "standard": exceeded quota')


def test_a_missing_class_is_said_once_and_its_creation_wakes_the_claim():
    ctrl, ctx, api, events = setup([claim(cls="gold")], [], [sc()])
    sync(ctrl, ctx, "claim:default/data", "claim:default/data")
    assert api.calls == []
    assert events.seen == [("default/data", "Warning", "ProvisioningFailed",
                            'storageclass.storage.k8s.io "gold" not found')]
    assert list(ctrl.keys("storageclasses", sc("gold"))) == ["claim:default/data"]


def test_a_class_without_a_provisioner_waits_for_an_administrator():
    ctrl, ctx, api, events = setup([claim()], [], [sc(provisioner="kubernetes.io/no-provisioner")])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [] and events.reasons() == ["ExternalProvisioning"]


# --- WaitForFirstConsumer ------------------------------------------------------------------------------

def test_wait_for_first_consumer_waits_for_a_pod_bound_to_a_node_then_provisions_there():
    ctrl, ctx, api, events = setup([claim()], [pv("free")], [sc(mode="WaitForFirstConsumer")])
    sync(ctrl, ctx, "claim:default/data", "claim:default/data")
    assert api.calls == []
    assert events.seen == [("default/data", "Normal", "WaitForFirstConsumer",
                            "waiting for first consumer to be created before binding")]
    app = pod("app", "data")
    ctx.caches["pods"].put(app)
    assert list(ctrl.keys("pods", app)) == ["claim:default/data"]
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [] and events.seen[-1][2:] == ("WaitForPodScheduled", "waiting for pod app to be scheduled")
    ctx.caches["pods"].put(pod("app", "data", node="n1"))
    sync(ctrl, ctx, "claim:default/data")
    # The free PV has no node affinity, so it fits n1: the scheduler's choice, made here.
    assert api.calls == [("update", "persistentvolumes", "free"), ("update_status", "persistentvolumes", "free"),
                         ("update", "persistentvolumeclaims", "default/data"),
                         ("update_status", "persistentvolumeclaims", "default/data")]


def test_wait_for_first_consumer_provisions_on_the_pods_node():
    ctrl, ctx, api, events = setup([claim()], [pv("elsewhere", hostname="n2")], [sc(mode="WaitForFirstConsumer")],
                                   [pod("app", "data", node="n1")])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update", "persistentvolumeclaims", "default/data"),
                         ("create", "persistentvolumes", f"pvc-{UID}")]
    assert api.sent[0]["metadata"]["annotations"][ANN_SELECTED_NODE] == "n1"
    assert api.sent[1]["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
        "values"] == ["n1"]
    assert events.reasons() == ["Provisioning", "ProvisioningSucceeded"]


def test_wait_for_first_consumer_binds_a_volume_on_the_pods_node():
    volumes = [pv("on-n1", hostname="n1"), pv("on-n2", hostname="n2", size="20Gi")]
    ctrl, ctx, api, _ = setup([claim()], volumes, [sc(mode="WaitForFirstConsumer")],
                              [pod("done", "data", node="n1") | {"status": {"phase": "Succeeded"}},
                               pod("app", "data", node="n2")])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls[0] == ("update", "persistentvolumes", "on-n2")


def test_the_selected_node_annotation_wins_over_the_pods():
    ctrl, ctx, api, _ = setup([claim(annotations={ANN_SELECTED_NODE: "n2"})], [pv("on-n1", hostname="n1")],
                              [sc(mode="WaitForFirstConsumer")], [pod("app", "data", node="n1")])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls[-1] == ("create", "persistentvolumes", f"pvc-{UID}")


# --- Lost, Released, reclaimed --------------------------------------------------------------------------

def test_a_bound_claim_whose_volume_is_gone_is_lost():
    c, _ = bound_pair()
    ctrl, ctx, api, events = setup([c], [], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("get", "persistentvolumes", "pv-a"),
                         ("update_status", "persistentvolumeclaims", "default/data")]
    assert api.sent[0]["status"] == {"phase": "Lost"}
    assert events.seen == [("default/data", "Warning", "ClaimLost",
                            "Bound claim has lost its PersistentVolume. Data on the volume is lost!")]
    deliver(ctrl, ctx, api)
    api.calls.clear()
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [] and len(events.seen) == 1


def test_a_volume_missing_only_from_the_cache_does_not_lose_the_claim():
    c, v = bound_pair()
    ctrl, ctx, api, events = setup([c], [], [sc()], live={("persistentvolumes", "pv-a"): v})
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("get", "persistentvolumes", "pv-a")] and events.seen == []


def test_a_bound_claim_that_lost_its_volume_name_is_lost():
    c, v = bound_pair()
    del c["spec"]["volumeName"]
    ctrl, ctx, api, events = setup([c], [v], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update_status", "persistentvolumeclaims", "default/data")]
    assert events.seen[0][3] == "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"


def test_a_claim_whose_volume_serves_another_claim_is_lost():
    c, v = bound_pair()
    v["spec"]["claimRef"]["uid"] = "someone-else"
    ctrl, ctx, api, events = setup([c], [v], [sc()])
    sync(ctrl, ctx, "claim:default/data")
    assert api.calls == [("update_status", "persistentvolumeclaims", "default/data")]
    assert events.reasons() == ["ClaimMisbound", "ClaimLost"]


def test_a_volume_whose_claim_is_deleted_is_released_then_deleted():
    _, v = bound_pair(policy="Delete")
    ctrl, ctx, api, _ = setup([], [v], [sc()])
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == [("get", "persistentvolumeclaims", "default/data"),
                         ("update_status", "persistentvolumes", "pv-a"),
                         ("delete", "persistentvolumes", "pv-a")]
    assert api.sent[0]["status"]["phase"] == "Released"


def test_a_failed_volume_keeps_its_phase_while_it_is_reclaimed():
    _, v = bound_pair(policy="Delete")
    v["status"] = {"phase": "Failed", "message": "the deleter failed"}
    ctrl, ctx, api, _ = setup([], [v], [sc()])
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == [("delete", "persistentvolumes", "pv-a")]


def test_a_retained_volume_stays_released():
    _, v = bound_pair(policy="Retain")
    ctrl, ctx, api, _ = setup([], [v], [sc()])
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == [("get", "persistentvolumeclaims", "default/data"),
                         ("update_status", "persistentvolumes", "pv-a")]
    deliver(ctrl, ctx, api)
    api.calls.clear()
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == []
    assert ctx.caches["persistentvolumes"].get("pv-a")["status"]["phase"] == "Released"


def test_a_claim_recreated_under_the_same_name_does_not_keep_the_old_volume():
    _, v = bound_pair(policy="Retain")
    ctrl, ctx, api, _ = setup([claim(uid="new-uid")], [v], [sc()])
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == [("update_status", "persistentvolumes", "pv-a")]
    assert api.sent[0]["status"]["phase"] == "Released"


def test_a_claim_the_api_server_still_has_keeps_its_volume():
    c, v = bound_pair(policy="Delete")
    ctrl, ctx, api, _ = setup([], [v], [sc()], live={("persistentvolumeclaims", "default/data"): c})
    sync(ctrl, ctx, "volume:pv-a")
    assert api.calls == [("get", "persistentvolumeclaims", "default/data")]


def test_a_recycled_volume_is_free_again():
    _, v = bound_pair(policy="Recycle")
    ctrl, ctx, api, events = setup([], [v], [sc()])
    sync(ctrl, ctx, "volume:pv-a")
    assert [c[0] for c in api.calls] == ["get", "update_status", "update", "update_status"]
    assert "claimRef" not in api.sent[1]["spec"] and api.sent[1]["metadata"]["annotations"] == {}
    assert api.sent[2]["status"]["phase"] == "Available" and events.reasons() == ["VolumeRecycled"]


def test_a_free_volume_becomes_available():
    ctrl, ctx, api, _ = setup([], [pv("pv-a", phase="Pending"), pv("pv-b")], [sc()])
    sync(ctrl, ctx, "volume:pv-a", "volume:pv-b")
    assert api.calls == [("update_status", "persistentvolumes", "pv-a")]
    assert api.sent[0]["status"]["phase"] == "Available"


def test_a_provisioned_volume_whose_claim_took_another_is_deleted():
    c, _ = bound_pair()
    spare = pv(f"pvc-{UID}", phase="Bound", ref=claim_reference(c), policy="Delete",
               annotations={ANN_PROVISIONED_BY: PROVISIONER, ANN_BOUND_BY_CONTROLLER: "yes"})
    ctrl, ctx, api, _ = setup([c], [spare], [sc()])
    sync(ctrl, ctx, f"volume:pvc-{UID}")
    assert api.calls == [("update_status", "persistentvolumes", f"pvc-{UID}"),
                         ("delete", "persistentvolumes", f"pvc-{UID}")]


# --- Events into keys ---------------------------------------------------------------------------------

def test_events_map_to_claims_and_volumes():
    waiting, asking = claim("waiting", uid="u1"), claim("asking", uid="u2", volume="pv-x")
    other_class = claim("gold", uid="u3", cls="gold")
    c, v = bound_pair()
    ctrl, _, _, _ = setup([waiting, asking, other_class, c], [v], [sc()])
    assert list(ctrl.keys("persistentvolumeclaims", c)) == ["claim:default/data", "volume:pv-a"]
    assert list(ctrl.keys("persistentvolumes", v)) == ["volume:pv-a", "claim:default/data"]
    # A free PV wakes the unbound claims of its class, and the one asking for it by name.
    assert list(ctrl.keys("persistentvolumes", pv("new"))) == ["volume:new", "claim:default/waiting"]
    assert list(ctrl.keys("persistentvolumes", pv("pv-x", cls="x"))) == ["volume:pv-x", "claim:default/asking"]
    assert list(ctrl.keys("storageclasses", sc("gold"))) == ["claim:default/gold"]
    # A pod wakes only its claims that are still unbound.
    assert list(ctrl.keys("pods", pod("app", "waiting", "data", "absent"))) == ["claim:default/waiting"]
    ctrl.observe("persistentvolumeclaims", "DELETED", waiting)
    assert list(ctrl.keys("pods", pod("app", "waiting"))) == []
