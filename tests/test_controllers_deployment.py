"""The Deployment controller with hand-filled caches and a fake API that records calls.

The fake API also plays the informer: what it is asked to write lands in the
caches, so a test can sync, then play the ReplicaSet controller and the
kubelets by hand (:meth:`Cluster.settle`, :meth:`Cluster.come_up`), and sync
again — one rollout step at a time, checking the invariants after each.
"""

from __future__ import annotations

import copy
import re

import pytest

from actors.apiserver.objects import rfc3339
from actors.apiserver.status import ApiError
from actors.controllers.base import Context, DictStore, key_of, run_sync
from actors.controllers.deployment import (
    CHANGE_CAUSE,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    POD_TEMPLATE_HASH,
    REVISION,
    REVISION_HISTORY,
    DeploymentController,
    RollbackError,
    by_creation,
    history,
    max_surge,
    max_unavailable,
    pod_template_hash,
    resolve_fenceposts,
    rollback_template,
    templates_equal,
)

NS = "default"
T0 = 1_800_000_000.0
"""Wall-clock seconds at the start of every test."""


# --- the fakes ------------------------------------------------------------------------------------------

class FakeApi:
    """Records every write and applies it to the caches, as the API server and the informers would."""

    def __init__(self, caches: dict[str, DictStore]) -> None:
        self.caches = caches
        self.calls: list[tuple] = []
        self.rv = 100
        self.created = 0
        self.fail_create: ApiError | None = None

    def _rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    async def create(self, obj, namespace=""):
        self.calls.append(("create", obj["metadata"]["name"], obj["spec"]["replicas"]))
        if self.fail_create is not None:
            raise self.fail_create
        store = self.caches["replicasets"]
        if store.get(obj["metadata"]["name"], obj["metadata"]["namespace"]) is not None:
            raise ApiError(409, "AlreadyExists", f'replicasets.apps "{obj["metadata"]["name"]}" already exists')
        stored = copy.deepcopy(obj)
        self.created += 1
        stored["metadata"].update(uid=f"rs-uid-{self.created}", resourceVersion=self._rv(), generation=1,
                                  creationTimestamp=rfc3339(T0 + self.created))
        stored["status"] = {}
        store.put(stored)
        return copy.deepcopy(stored)

    async def update(self, obj, *, subresource=""):
        meta = obj["metadata"]
        self.calls.append(("update", meta["name"], obj["spec"]["replicas"]))
        store = self.caches["replicasets"]
        old = store.get(meta["name"], meta["namespace"])
        if old is None or old["metadata"]["resourceVersion"] != meta["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        stored = copy.deepcopy(obj)
        stored["status"] = copy.deepcopy(old.get("status") or {})
        stored["metadata"]["resourceVersion"] = self._rv()
        if stored["spec"] != old["spec"]:
            stored["metadata"]["generation"] = old["metadata"]["generation"] + 1
        store.put(stored)
        return copy.deepcopy(stored)

    async def update_status(self, obj):
        self.calls.append(("update_status", obj["metadata"]["name"], copy.deepcopy(obj["status"])))
        self.last_status_body = copy.deepcopy(obj)
        store = self.caches["deployments"]
        stored = copy.deepcopy(store.get(obj["metadata"]["name"], obj["metadata"]["namespace"]))
        stored["status"] = copy.deepcopy(obj["status"])
        if isinstance(obj["metadata"].get("annotations"), dict):
            # As kubesim's API server (deploymentStatusStrategy): the revision annotation rides along.
            stored["metadata"]["annotations"] = copy.deepcopy(obj["metadata"]["annotations"])
        stored["metadata"]["resourceVersion"] = self._rv()
        store.put(stored)
        return copy.deepcopy(stored)

    async def delete(self, resource, name, namespace="", *, propagation="", grace_period_s=None):
        self.calls.append(("delete", resource, name))
        store = self.caches[resource]
        obj = store.get(name, namespace)
        if obj is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        store.remove(obj)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj, type_, reason, message):
        self.seen.append((type_, reason, message))


TEMPLATE_V1 = {"metadata": {"labels": {"app": "web"}},
               "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}


def template(image: str) -> dict:
    t = copy.deepcopy(TEMPLATE_V1)
    t["spec"]["containers"][0]["image"] = image
    return t


def deployment(replicas: int = 3, *, surge: int | str = "25%", unavailable: int | str = "25%",
               strategy: str = "RollingUpdate", **spec) -> dict:
    strat: dict = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS, "uid": "d-uid", "generation": 1, "resourceVersion": "1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": copy.deepcopy(TEMPLATE_V1), "strategy": strat,
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, **spec},
            "status": {}}


class Cluster:
    """One Deployment, its caches, the fake API, and hands to play the other controllers."""

    def __init__(self, d: dict, replicasets=(), pods=()) -> None:
        self.caches = {"deployments": DictStore([d]), "replicasets": DictStore(replicasets),
                       "pods": DictStore(pods)}
        self.api = FakeApi(self.caches)
        self.events = Events()
        self.wall = T0
        self.controller = DeploymentController()

    def sync(self):
        ctx = Context(self.caches, self.api, self.events, now=self.wall - T0, wall=self.wall)
        return run_sync(self.controller.sync(f"{NS}/web", ctx))

    @property
    def d(self) -> dict:
        return self.caches["deployments"].get("web", NS)

    def rss(self) -> list[dict]:
        return by_creation(self.caches["replicasets"].list())

    def rs(self, name: str) -> dict:
        return self.caches["replicasets"].get(name, NS)

    def edit(self, **spec) -> None:
        """A user's update of the Deployment's spec (the generation goes up)."""
        d = copy.deepcopy(self.d)
        d["spec"].update(spec)
        d["metadata"]["generation"] += 1
        d["metadata"]["resourceVersion"] = self.api._rv()
        self.caches["deployments"].put(d)

    def settle(self) -> None:
        """The ReplicaSet controller acts on the new sizes: surplus pods go at once (available ones
        first — the worst case for availability), missing pods are created but not ready yet."""
        for rs in self.rss():
            st = rs.setdefault("status", {})
            spec = rs["spec"]["replicas"]
            st["replicas"] = spec
            st["availableReplicas"] = min(st.get("availableReplicas", 0), spec)
            st["readyReplicas"] = min(st.get("readyReplicas", 0), spec)
            st["observedGeneration"] = rs["metadata"]["generation"]

    def come_up(self) -> None:
        """Every pod turns ready and available."""
        self.settle()
        for rs in self.rss():
            rs["status"]["availableReplicas"] = rs["status"]["readyReplicas"] = rs["spec"]["replicas"]

    def steady(self) -> dict:
        """Sync and bring pods up until a sync has nothing left to write: all replicas updated and
        available, the rollout reported complete (at most 20 rounds). The new ReplicaSet; the calls
        made so far are forgotten."""
        d = self.d
        for _ in range(20):
            self.api.calls.clear()
            self.sync()
            self.come_up()
            status, replicas = self.d["status"], d["spec"]["replicas"]
            if (not self.api.calls and status.get("updatedReplicas", 0) == replicas
                    and status.get("availableReplicas", 0) == replicas == status.get("replicas", 0)
                    and _progressing(status).get("reason") == "NewReplicaSetAvailable"):
                break
        else:
            raise AssertionError("the rollout did not finish in 20 rounds")
        return next(rs for rs in self.rss() if templates_equal(rs["spec"]["template"], self.d["spec"]["template"]))


def _condition(status: dict, type_: str) -> dict:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def _progressing(status: dict) -> dict:
    return _condition(status, "Progressing")


def _sizes(cluster: Cluster) -> list[tuple[str, int]]:
    return [(rs["metadata"]["name"], rs["spec"]["replicas"]) for rs in cluster.rss()]


# --- pure helpers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("surge", "unavailable", "desired", "want"), [
    ("25%", "25%", 4, (1, 1)),   # 25% of 4 = 1 exactly
    ("25%", "25%", 3, (1, 0)),   # 0.75: surge rounds up to 1, unavailable down to 0
    ("25%", "25%", 10, (3, 2)),  # 2.5: up 3, down 2
    (0, 1, 3, (0, 1)),
    (0, 0, 3, (0, 1)),           # both zero: unavailable 1, so the rollout can move
    ("0%", "1%", 2, (0, 1)),     # 1% of 2 rounds down to 0: the same rescue
    (2, "50%", 5, (2, 2)),
])
def test_fenceposts_round_surge_up_and_unavailable_down(surge, unavailable, desired, want):
    assert resolve_fenceposts(surge, unavailable, desired) == want


def test_max_unavailable_is_capped_by_replicas_and_zero_for_recreate():
    assert max_unavailable(deployment(2, surge=0, unavailable=5)) == 2
    assert max_unavailable(deployment(0)) == 0
    assert max_unavailable(deployment(3, strategy="Recreate")) == 0
    assert max_surge(deployment(3, strategy="Recreate")) == 0
    assert max_surge(deployment(3)) == 1


def test_the_template_hash_is_stable_short_and_safe():
    h = pod_template_hash(TEMPLATE_V1)
    assert h == pod_template_hash(copy.deepcopy(TEMPLATE_V1))
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", h) and len(h) >= 8
    assert pod_template_hash(template("nginx:1.26")) != h
    assert pod_template_hash(TEMPLATE_V1, 1) != h  # a collision count makes another name


def test_templates_compare_without_the_hash_label_and_empty_fields():
    a = template("nginx:1.25")
    b = copy.deepcopy(a)
    b["metadata"]["labels"][POD_TEMPLATE_HASH] = "abc"
    b["metadata"]["annotations"] = {}
    assert templates_equal(a, b)
    assert not templates_equal(a, template("nginx:1.26"))


# --- the first sync --------------------------------------------------------------------------------------

def test_first_sync_creates_the_new_replicaset():
    c = Cluster(deployment(3))
    assert c.sync() == pytest.approx(601.0)  # the progress deadline is watched: 600 s, + 1 s margin
    h = pod_template_hash(TEMPLATE_V1)
    name = f"web-{h}"
    assert [call[:3] for call in c.api.calls] == [("create", name, 3), ("update_status", "web", c.d["status"])]
    rs = c.rs(name)
    assert rs["metadata"]["labels"] == {"app": "web", POD_TEMPLATE_HASH: h}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", POD_TEMPLATE_HASH: h}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", POD_TEMPLATE_HASH: h}
    assert rs["spec"]["template"]["spec"] == TEMPLATE_V1["spec"]
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": "d-uid", "controller": True, "blockOwnerDeletion": True}]
    # 3 replicas, maxSurge 25% of 3 = 0.75, rounded up: 1, so at most 4 pods.
    assert rs["metadata"]["annotations"] == {REVISION: "1", DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}
    assert c.events.seen == [("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to 3")]
    status = c.d["status"]
    assert status["observedGeneration"] == 1
    assert _progressing(status) == {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                                    "message": f'Created new replica set "{name}"',
                                    "lastUpdateTime": rfc3339(T0), "lastTransitionTime": rfc3339(T0)}
    # No pod is up yet, and maxUnavailable 25% of 3 rounds down to 0: all 3 must be available.
    assert _condition(status, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert _condition(status, "Available")["message"] == "Deployment does not have minimum availability."
    assert status["unavailableReplicas"] == 3
    # Kubernetes sends the Deployment's own revision annotation along with its status.
    assert c.api.last_status_body["metadata"]["annotations"][REVISION] == "1"


def test_the_deployments_annotations_are_copied_to_its_new_replicaset_but_not_its_own():
    d = deployment(3)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "kubectl apply", "team": "a",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}", REVISION: "9"}
    c = Cluster(d)
    c.sync()
    assert c.rss()[0]["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "kubectl apply", "team": "a",
        REVISION: "1", DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}
    assert history(c.d, c.rss()) == [(1, "kubectl apply")]


def test_a_deployment_being_deleted_only_gets_its_status():
    d = deployment(3)
    d["metadata"]["deletionTimestamp"] = rfc3339(T0)
    c = Cluster(d)
    c.sync()
    assert [call[0] for call in c.api.calls] == ["update_status"]


def test_an_empty_selector_is_warned_about_and_not_acted_on():
    d = deployment(3)
    d["spec"]["selector"] = {}
    c = Cluster(d)
    c.sync()
    assert c.events.seen == [("Warning", "SelectingAll",
                              "This deployment is selecting all pods. A non-empty selector is required.")]
    assert c.api.calls == [("update_status", "web", {"observedGeneration": 1})]


def test_the_deployment_gone_from_the_cache_is_nothing_to_do():
    c = Cluster(deployment(3))
    c.caches["deployments"].remove(c.d)
    assert c.sync() is None and c.api.calls == []


# --- status ------------------------------------------------------------------------------------------------

def test_status_and_conditions_of_a_finished_rollout():
    c = Cluster(deployment(3))
    new = c.steady()
    name = new["metadata"]["name"]
    status = c.d["status"]
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    assert _condition(status, "Available") | {"lastUpdateTime": "", "lastTransitionTime": ""} == {
        "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
        "message": "Deployment has minimum availability.", "lastUpdateTime": "", "lastTransitionTime": ""}
    assert _progressing(status)["reason"] == "NewReplicaSetAvailable"
    assert _progressing(status)["message"] == f'ReplicaSet "{name}" has successfully progressed.'
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]


def test_no_writes_when_nothing_changed():
    c = Cluster(deployment(3))
    c.steady()
    c.api.calls.clear()
    c.events.seen.clear()
    assert c.sync() is None  # complete: no deadline to watch
    assert c.api.calls == [] and c.events.seen == []


def test_a_status_that_differs_only_by_absent_zero_counts_is_not_written():
    c = Cluster(deployment(3))
    c.steady()
    d = copy.deepcopy(c.d)
    d["status"]["unavailableReplicas"] = 0  # Go would have left it out; same status
    c.caches["deployments"].put(d)
    c.api.calls.clear()
    c.sync()
    assert c.api.calls == []


# --- scaling a steady Deployment -------------------------------------------------------------------------

def test_a_steady_deployment_scales_up_and_down():
    c = Cluster(deployment(3))
    name = c.steady()["metadata"]["name"]
    c.api.calls.clear()
    c.events.seen.clear()

    c.edit(replicas=5)
    c.sync()
    rs = c.rs(name)
    # A scaling event (the ReplicaSet was sized for 3): one resize, no rollout step.
    # 5 replicas: maxSurge 25% of 5 = 1.25, rounded up: 2, so max-replicas 7.
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"][DESIRED_REPLICAS] == "5"
    assert rs["metadata"]["annotations"][MAX_REPLICAS] == "7"
    assert c.events.seen == [("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 3 to 5")]
    assert c.d["status"]["observedGeneration"] == 2
    c.come_up()
    c.sync()
    assert c.d["status"]["availableReplicas"] == 5

    c.events.seen.clear()
    c.edit(replicas=2)
    c.sync()
    assert c.rs(name)["spec"]["replicas"] == 2
    assert c.rs(name)["metadata"]["annotations"][MAX_REPLICAS] == "3"  # 2 + ceil(0.5)
    assert c.events.seen == [("Normal", "ScalingReplicaSet", f"Scaled down replica set {name} from 5 to 2")]
    assert [call[0] for call in c.api.calls if call[0] == "create"] == []


# --- rolling updates, step by step -------------------------------------------------------------------------

def roll(c: Cluster, *, replicas: int, surge: int, unavailable: int) -> list[list[int]]:
    """Sync, settle, come up — until the old ReplicaSet is at 0 and the new one full; the sizes
    (old, new) after every sync. The invariants are checked after each sync and each settle."""
    steps = []
    for _ in range(20):
        c.sync()
        sizes = [rs["spec"]["replicas"] for rs in c.rss()]
        steps.append(sizes)
        # The ReplicaSets' spec.replicas never add up to more than replicas + maxSurge ...
        assert sum(sizes) <= replicas + surge, sizes
        c.settle()
        # ... and, even when the pods removed were available ones and the new ones are not ready yet,
        # at least replicas - maxUnavailable pods stay available.
        assert sum(rs["status"]["availableReplicas"] for rs in c.rss()) >= replicas - unavailable, sizes
        c.come_up()
        if sizes[0] == 0 and sizes[-1] == replicas:
            break
    return steps


def test_rolling_update_25_percent_surge_and_unavailable_with_4_replicas():
    # 4 replicas, 25%: maxSurge = ceil(1.0) = 1 → at most 5 pods; maxUnavailable = floor(1.0) = 1 → at least 3.
    c = Cluster(deployment(4))
    old = c.steady()["metadata"]["name"]
    c.api.calls.clear()
    c.edit(template=template("nginx:1.26"))
    steps = roll(c, replicas=4, surge=1, unavailable=1)
    assert steps == [
        # [old, new] spec.replicas after each sync (pods come up between syncs):
        [3, 1],  # new created with 5 - 4 = 1 (the cap); in the same sync the old one may go down by
                 # all 5 - minAvailable 3 - unavailable new 1 = 1, and available 4 > 3 allows 1: old 4 → 3
        [3, 2],  # room 5 - 4 = 1: new 1 → 2 (a scale-up ends the step)
        [1, 2],  # at the cap; available 5 - 3 = 2: old 3 → 1
        [1, 4],  # room 5 - 3 = 2: new 2 → 4
        [0, 4],  # available 5 - 3 = 2, only 1 left: old 1 → 0
    ]
    new = c.rss()[-1]["metadata"]["name"]
    assert [e[2] for e in c.events.seen[-6:]] == [
        f"Scaled up replica set {new} from 0 to 1",
        f"Scaled down replica set {old} from 4 to 3",
        f"Scaled up replica set {new} from 1 to 2",
        f"Scaled down replica set {old} from 3 to 1",
        f"Scaled up replica set {new} from 2 to 4",
        f"Scaled down replica set {old} from 1 to 0",
    ]
    assert c.rs(new)["metadata"]["annotations"][REVISION] == "2"
    c.sync()
    assert _progressing(c.d["status"])["reason"] == "NewReplicaSetAvailable"


def test_rolling_update_no_surge_one_unavailable_with_3_replicas():
    # 3 replicas, maxSurge 0 → at most 3 pods; maxUnavailable 1 → at least 2 available.
    c = Cluster(deployment(3, surge=0, unavailable=1))
    c.steady()
    c.edit(template=template("nginx:1.26"))
    steps = roll(c, replicas=3, surge=0, unavailable=1)
    assert steps == [
        # [old, new] spec.replicas after each sync:
        [2, 0],  # new created at 0 (3 pods is already the cap); in the same sync old 3 → 2
                 # (all 3 - minAvailable 2 - unavailable new 0 = 1; available 3 > 2 allows 1)
        [2, 1],  # room 3 - 2 = 1: new 0 → 1
        [1, 1],  # at the cap; available 3 - 2 = 1: old 2 → 1
        [1, 2],  # room 1: new 1 → 2
        [0, 2],  # available 3 - 2 = 1: old 1 → 0
        [0, 3],  # room 1: new 2 → 3
    ]


def come_up_one(c: Cluster) -> bool:
    """One not-ready pod turns ready and available (the newest ReplicaSet's first); whether one did."""
    for rs in reversed(c.rss()):
        st = rs["status"]
        if st.get("availableReplicas", 0) < st.get("replicas", 0):
            st["availableReplicas"] = st["readyReplicas"] = st.get("availableReplicas", 0) + 1
            return True
    return False


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [
    (1, "25%", "25%"),   # surge ceil(0.25) = 1, unavailable floor(0.25) = 0
    (2, 0, 1),
    (3, "100%", 0),      # surge 3: the whole new set at once, nothing may go unavailable
    (5, 2, 0),
    (5, "30%", "30%"),   # surge ceil(1.5) = 2, unavailable floor(1.5) = 1
    (6, 1, "50%"),       # unavailable 3
    (10, "25%", "25%"),  # surge ceil(2.5) = 3, unavailable floor(2.5) = 2
    (10, 0, "10%"),      # no surge, unavailable 1: one pod at a time
])
def test_every_step_of_a_rollout_and_of_a_second_one_mid_way_stays_within_surge_and_unavailable(
        replicas, surge, unavailable):
    limit_surge, limit_unavailable = resolve_fenceposts(surge, unavailable, replicas)
    limit_unavailable = min(limit_unavailable, replicas)
    c = Cluster(deployment(replicas, surge=surge, unavailable=unavailable))
    c.steady()
    c.edit(template=template("nginx:1.26"))
    for step in range(300):
        if step == 3:  # a second update before the first finished: three ReplicaSets for a while
            c.edit(template=template("nginx:1.27"))
        c.sync()
        sizes = [rs["spec"]["replicas"] for rs in c.rss()]
        assert sum(sizes) <= replicas + limit_surge, (step, sizes)
        c.settle()  # surplus pods go (available ones first), missing ones start not ready
        available = sum(rs["status"]["availableReplicas"] for rs in c.rss())
        assert available >= replicas - limit_unavailable, (step, sizes, available)
        newest = c.rss()[-1]
        if (templates_equal(newest["spec"]["template"], template("nginx:1.27")) and sizes[:-1] == [0] * (len(sizes) - 1)
                and newest["status"]["availableReplicas"] == replicas):
            break
        come_up_one(c)  # one pod at a time turns ready: many small steps
    else:
        raise AssertionError("the rollouts did not finish")
    assert len(c.rss()) == 3
    c.sync()
    assert _progressing(c.d["status"])["reason"] == "NewReplicaSetAvailable"


def test_new_pods_that_never_become_ready_stop_the_rollout_and_time_out():
    c = Cluster(deployment(4))
    c.steady()
    c.edit(template=template("nginx:broken"))
    c.wall += 10
    for _ in range(4):
        delay = c.sync()
        c.settle()  # the new pods never turn ready
        sizes = [rs["spec"]["replicas"] for rs in c.rss()]
        assert sum(sizes) <= 5
        assert sum(rs["status"]["availableReplicas"] for rs in c.rss()) >= 3
    # old 4 → 3 (the 1 allowed unavailable), new 1 → 2; then nothing moves: 5 - 3 - 2 unavailable new = 0.
    assert sizes == [3, 2]
    assert _progressing(c.d["status"])["reason"] == "ReplicaSetUpdated"
    last_progress = _progressing(c.d["status"])["lastUpdateTime"]
    assert delay == pytest.approx(600 + 1 - (c.wall - parsed(last_progress)))
    c.wall = parsed(last_progress) + 601
    c.api.calls.clear()
    assert c.sync() is None  # timed out: no more deadline to watch
    cond = _progressing(c.d["status"])
    new = c.rss()[-1]["metadata"]["name"]
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"] == f'ReplicaSet "{new}" has timed out progressing.'
    assert [call[0] for call in c.api.calls] == ["update_status"]


def parsed(ts: str) -> float:
    from actors.apiserver.objects import parse_rfc3339
    return parse_rfc3339(ts)


def test_progress_moves_the_deadline():
    c = Cluster(deployment(4))
    c.steady()
    c.edit(template=template("nginx:1.26"))
    c.wall += 100
    c.sync()  # creates the new ReplicaSet: NewReplicaSetCreated at +100
    c.come_up()
    c.wall += 50
    delay = c.sync()  # old scaled down; the pods that came up are progress: ReplicaSetUpdated at +150
    cond = _progressing(c.d["status"])
    assert cond["reason"] == "ReplicaSetUpdated" and cond["lastUpdateTime"] == rfc3339(T0 + 150)
    # Progressing has been True since the first rollout finished at T0: no transition since.
    assert cond["lastTransitionTime"] == rfc3339(T0)
    assert delay == pytest.approx(601.0)


def test_scaling_during_a_rollout_is_proportional():
    c = Cluster(deployment(4))
    old = c.steady()["metadata"]["name"]
    c.edit(template=template("nginx:1.26"))
    for _ in range(2):  # to old 3, new 2 (see the 25% rollout above)
        c.sync()
        c.come_up()
    new = c.rss()[-1]["metadata"]["name"]
    assert _sizes(c) == [(old, 3), (new, 2)]
    c.events.seen.clear()
    c.edit(replicas=8)
    c.sync()
    # 8 replicas: maxSurge = ceil(2.0) = 2, so 10 allowed; 5 now, 5 to add, shared by size against the
    # max-replicas (5) each was made for, bigger first: old 3·10/5 = 6 (+3), new 2·10/5 = 4 (+2).
    assert _sizes(c) == [(old, 6), (new, 4)]
    assert [e[2] for e in c.events.seen] == [f"Scaled up replica set {old} from 3 to 6",
                                             f"Scaled up replica set {new} from 2 to 4"]
    assert all(rs["metadata"]["annotations"][MAX_REPLICAS] == "10" for rs in c.rss())


# --- Recreate ----------------------------------------------------------------------------------------------

def pod(name: str, rs: dict, *, phase: str = "Running", deleting: bool = False) -> dict:
    meta = {"name": name, "namespace": NS, "uid": f"pod-{name}",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                 "uid": rs["metadata"]["uid"], "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(T0)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": {"phase": phase}}


def test_recreate_scales_old_to_zero_waits_for_their_pods_then_creates_the_new():
    c = Cluster(deployment(3, strategy="Recreate"))
    old = c.steady()
    old_name = old["metadata"]["name"]
    c.events.seen.clear()
    c.api.calls.clear()
    c.edit(template=template("nginx:1.26"))

    c.sync()  # 1. old to 0; nothing new yet
    assert [call[:3] for call in c.api.calls if call[0] != "update_status"] == [("update", old_name, 0)]
    assert c.events.seen == [("Normal", "ScalingReplicaSet", f"Scaled down replica set {old_name} from 3 to 0")]

    # 2. The ReplicaSet still counts its pods (status.replicas 3): wait.
    c.api.calls.clear()
    c.sync()
    assert [call[0] for call in c.api.calls if call[0] != "update_status"] == []

    # 3. It counts none, but one pod is still terminating: still wait.
    c.settle()
    old_rs = c.rs(old_name)
    c.caches["pods"].put(pod("web-a", old_rs, deleting=True))
    c.caches["pods"].put(pod("web-b", old_rs, phase="Succeeded"))  # finished pods do not count
    c.sync()
    assert [call[0] for call in c.api.calls if call[0] != "update_status"] == []
    assert len(c.rss()) == 1

    # 4. The pod is gone: the new ReplicaSet is created at full size at once.
    c.caches["pods"].remove(pod("web-a", old_rs))
    c.sync()
    new_name = f"web-{pod_template_hash(template('nginx:1.26'))}"
    assert ("create", new_name, 3) in c.api.calls
    assert c.events.seen[-1] == ("Normal", "ScalingReplicaSet", f"Scaled up replica set {new_name} from 0 to 3")
    assert c.rs(new_name)["metadata"]["annotations"][MAX_REPLICAS] == "3"  # no surge with Recreate


def test_pod_events_map_to_the_deployment_only_for_recreate():
    ctl = DeploymentController()
    d = deployment(3, strategy="Recreate")
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-abc", "namespace": NS, "uid": "rs-1",
                       "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d-uid",
                                            "controller": True}]}}
    ctl.observe("deployments", "ADDED", d)
    ctl.observe("replicasets", "ADDED", rs)
    assert list(ctl.keys("replicasets", rs)) == [f"{NS}/web"]
    assert list(ctl.keys("pods", pod("web-abc-x", rs))) == [f"{NS}/web"]
    rolling = deployment(3)
    ctl.observe("deployments", "MODIFIED", rolling)
    assert list(ctl.keys("pods", pod("web-abc-x", rs))) == []
    assert list(ctl.keys("deployments", rolling)) == [key_of(rolling)]
    orphan = {"metadata": {"name": "x", "namespace": NS}}
    assert list(ctl.keys("replicasets", orphan)) == []


# --- rollback and history ---------------------------------------------------------------------------------

def test_rollback_to_the_previous_template_bumps_the_old_replicasets_revision():
    c = Cluster(deployment(3))
    v1 = c.steady()["metadata"]["name"]
    c.edit(template=template("nginx:1.26"))
    v2 = c.steady()["metadata"]["name"]
    assert c.rs(v2)["metadata"]["annotations"][REVISION] == "2"

    # kubesim rollout undo: the Deployment gets revision 1's template back.
    back = rollback_template(c.d, c.rss())
    assert templates_equal(back, TEMPLATE_V1) and POD_TEMPLATE_HASH not in back["metadata"]["labels"]
    c.edit(template=back)
    c.sync()
    # No new ReplicaSet: the old one is the new one again, at revision 3, its old number kept; the
    # rollout step follows in the same sync (with maxSurge 1 of 3: 0 → 1).
    assert [call[:3] for call in c.api.calls if call[0] != "update_status"] == [("update", v1, 0), ("update", v1, 1)]
    ann = c.rs(v1)["metadata"]["annotations"]
    assert (ann[REVISION], ann[REVISION_HISTORY]) == ("3", "1")
    c.steady()
    assert _sizes(c) == [(v1, 3), (v2, 0)]
    assert history(c.d, c.rss()) == [(2, ""), (3, "")]


def replicaset(name: str, rev: int, replicas: int, *, created: int, image: str, cause: str = "",
               status_replicas: int | None = None) -> dict:
    t = template(image)
    h = pod_template_hash(t)
    t["metadata"]["labels"][POD_TEMPLATE_HASH] = h
    ann = {REVISION: str(rev), DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    n = replicas if status_replicas is None else status_replicas
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "5",
                         "generation": 1, "creationTimestamp": rfc3339(T0 - 1000 + created), "annotations": ann,
                         "labels": {"app": "web", POD_TEMPLATE_HASH: h},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": "d-uid", "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", POD_TEMPLATE_HASH: h}},
                     "template": t},
            "status": {"replicas": n, "availableReplicas": n, "readyReplicas": n, "observedGeneration": 1}}


def test_history_and_rollback_template_for_the_cli():
    d = deployment(3)
    d["spec"]["template"] = template("v3")
    rss = [replicaset("web-a", 1, 0, created=1, image="v1", cause="kubectl create"),
           replicaset("web-c", 3, 3, created=3, image="v3", cause="kubectl set image v3"),
           replicaset("web-b", 2, 0, created=2, image="v2")]
    other = replicaset("other", 9, 0, created=4, image="v9")
    other["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert history(d, rss + [other]) == [(1, "kubectl create"), (2, ""), (3, "kubectl set image v3")]
    assert templates_equal(rollback_template(d, rss), template("v2"))  # the one before the latest
    assert templates_equal(rollback_template(d, rss, to_revision=1), template("v1"))
    assert templates_equal(rollback_template(d, rss, to_revision=3), d["spec"]["template"])  # CLI: "skipped"
    with pytest.raises(RollbackError, match="unable to find specified revision 7 in history"):
        rollback_template(d, rss, to_revision=7)
    with pytest.raises(RollbackError, match='no rollout history found for deployment "web"'):
        rollback_template(d, rss[1:2])


# --- revisionHistoryLimit -----------------------------------------------------------------------------------

def test_old_replicasets_beyond_the_history_limit_go_oldest_revision_first():
    d = deployment(3, revisionHistoryLimit=2)
    d["spec"]["template"] = template("v5")
    d["status"] = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                   "readyReplicas": 3}
    rss = [
        replicaset("web-r2", 2, 0, created=1, image="v2"),  # created first, but revision 2 (a rollback)
        replicaset("web-r1", 1, 0, created=2, image="v1"),
        replicaset("web-r3", 3, 0, created=3, image="v3", status_replicas=1),  # still has a pod: kept
        replicaset("web-r4", 4, 0, created=4, image="v4"),
        replicaset("web-r5", 5, 3, created=5, image="v5"),
    ]
    c = Cluster(d, rss)
    c.sync()
    # 4 old, limit 2: the 2 lowest revisions are candidates (r1, r2); r3 would be next but is not reached.
    assert [call for call in c.api.calls if call[0] == "delete"] == [("delete", "replicasets", "web-r1"),
                                                                     ("delete", "replicasets", "web-r2")]
    c2 = Cluster(copy.deepcopy(d) | {"spec": d["spec"] | {"revisionHistoryLimit": 1}}, copy.deepcopy(rss))
    c2.sync()
    # Limit 1: r1, r2, r3 are candidates, but r3 still has a pod.
    assert [call[2] for call in c2.api.calls if call[0] == "delete"] == ["web-r1", "web-r2"]


def test_no_cleanup_while_a_rollout_is_under_way():
    d = deployment(3, revisionHistoryLimit=0)
    d["spec"]["template"] = template("v2")
    rss = [replicaset("web-r0", 1, 0, created=0, image="v0"),
           replicaset("web-r1", 2, 3, created=1, image="v1")]
    c = Cluster(d, rss)
    c.sync()  # a rollout starts: the status read is not complete
    assert not [call for call in c.api.calls if call[0] == "delete"]


# --- pause -------------------------------------------------------------------------------------------------

def test_a_paused_deployment_gets_its_status_but_no_rollout():
    c = Cluster(deployment(3))
    c.steady()
    c.api.calls.clear()
    c.edit(paused=True, template=template("nginx:1.26"))
    assert c.sync() is None
    assert [call[0] for call in c.api.calls] == ["update_status"]
    cond = _progressing(c.d["status"])
    assert (cond["status"], cond["reason"], cond["message"]) == ("Unknown", "DeploymentPaused",
                                                                 "Deployment is paused")
    assert len(c.rss()) == 1
    c.api.calls.clear()
    c.edit(paused=False)
    c.sync()
    assert c.api.calls[0][0] == "create"
    # Resumed, then the new ReplicaSet's creation replaces the reason within the same sync.
    assert _progressing(c.d["status"])["reason"] == "NewReplicaSetCreated"


# --- failures -----------------------------------------------------------------------------------------------

def test_a_failed_create_is_reported_and_raised():
    c = Cluster(deployment(3))
    c.api.fail_create = ApiError(403, "Forbidden", "exceeded quota: pods")
    with pytest.raises(ApiError):
        c.sync()
    name = f"web-{pod_template_hash(TEMPLATE_V1)}"
    msg = f'Failed to create new replica set "{name}": exceeded quota: pods'
    cond = _progressing(c.d["status"])
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "ReplicaSetCreateError", msg)
    assert c.events.seen == [("Warning", "ReplicaSetCreateError", msg)]


def test_a_hash_collision_bumps_the_collision_count_and_the_next_name_differs():
    c = Cluster(deployment(3))
    squatter = replicaset(f"web-{pod_template_hash(TEMPLATE_V1)}", 1, 1, created=0, image="other")
    squatter["metadata"]["ownerReferences"][0]["uid"] = "not-ours"
    c.caches["replicasets"].put(squatter)
    with pytest.raises(ApiError) as err:
        c.sync()
    assert err.value.reason == "AlreadyExists"
    assert c.d["status"]["collisionCount"] == 1
    c.sync()
    assert ("create", f"web-{pod_template_hash(TEMPLATE_V1, 1)}", 3) in c.api.calls


def test_a_create_that_races_our_own_earlier_one_uses_it():
    c = Cluster(deployment(3))
    c.sync()
    created = c.rss()[0]
    # The informer has not delivered it yet, so the next sync does not see it ...
    c.caches["replicasets"].remove(created)
    c.caches["deployments"].put(c.d | {"status": {}})
    api_create = c.api.create

    async def create_then_show(obj, namespace=""):
        c.caches["replicasets"].put(created)  # ... but the API server has it
        return await api_create(obj, namespace)

    c.api.create = create_then_show
    c.sync()  # AlreadyExists, and the namesake is ours with our template: no collision
    assert "collisionCount" not in c.d["status"]
    assert _progressing(c.d["status"]).get("reason") != "ReplicaSetCreateError"


# --- the CLI's undo, pause and resume (kubectl's rollback and pause) ----------------------------------------

def _apply_user_patch(c: Cluster, ops: list[dict]) -> None:
    from actors.apiserver.patch import json_patch
    d = json_patch(c.d, ops)
    if d["spec"] != c.d["spec"] or d["metadata"].get("annotations") != c.d["metadata"].get("annotations"):
        d["metadata"]["generation"] += 1  # as the API server counts a Deployment's changes
    d["metadata"]["resourceVersion"] = c.api._rv()
    c.caches["deployments"].put(d)


def test_undo_puts_back_the_template_and_the_change_cause_so_history_stays_true():
    from kubesim.rollout import undo_plan
    d = deployment(3)
    d["metadata"]["annotations"] = {CHANGE_CAUSE: "kubectl create"}
    c = Cluster(d)
    v1 = c.steady()["metadata"]["name"]
    d2 = copy.deepcopy(c.d)
    d2["metadata"]["annotations"][CHANGE_CAUSE] = "kubectl set image v2"
    d2["spec"]["template"] = template("nginx:1.26")
    d2["metadata"]["generation"] += 1
    c.caches["deployments"].put(d2)
    v2 = c.steady()["metadata"]["name"]
    assert history(c.d, c.rss()) == [(1, "kubectl create"), (2, "kubectl set image v2")]

    message, ops = undo_plan(c.d, c.rss())
    assert message == "rolled back"
    assert ops[0] == {"op": "replace", "path": "/spec/template", "value": TEMPLATE_V1}
    # The Deployment keeps its own revision annotation; the rest comes from revision 1's ReplicaSet.
    assert ops[1] == {"op": "replace", "path": "/metadata/annotations",
                      "value": {REVISION: "2", CHANGE_CAUSE: "kubectl create"}}
    _apply_user_patch(c, ops)
    c.steady()
    # Revision 1's ReplicaSet is revision 3 now, and still says what made it.
    assert history(c.d, c.rss()) == [(2, "kubectl set image v2"), (3, "kubectl create")]
    assert _sizes(c) == [(v1, 3), (v2, 0)]


def test_undo_to_the_current_template_is_skipped_with_kubectls_words():
    from kubesim.rollout import undo_plan
    c = Cluster(deployment(3))
    c.steady()
    c.edit(template=template("nginx:1.26"))
    c.steady()
    assert undo_plan(c.d, c.rss(), 2) == ("skipped rollback (current template already matches revision 2)", None)
    with pytest.raises(RollbackError, match="unable to find specified revision 5 in history"):
        undo_plan(c.d, c.rss(), 5)


def test_undo_of_a_paused_deployment_is_refused():
    from kubesim.rollout import undo_plan
    c = Cluster(deployment(3))
    c.steady()
    c.edit(template=template("nginx:1.26"))
    c.steady()
    c.edit(paused=True)
    with pytest.raises(RollbackError, match="you cannot rollback a paused deployment; resume it first with "
                                            "'kubesim rollout resume deployment/web' and try again"):
        undo_plan(c.d, c.rss())


def test_pause_and_resume_patches_and_their_complaints():
    from kubesim.rollout import pause_patch
    d = deployment(3)
    assert pause_patch(d, True) == {"spec": {"paused": True}}
    with pytest.raises(ValueError, match='deployments.apps "web" is not paused'):
        pause_patch(d, False)
    d["spec"]["paused"] = True
    assert pause_patch(d, False) == {"spec": {"paused": None}}
    with pytest.raises(ValueError, match='deployments.apps "web" is already paused'):
        pause_patch(d, True)


# --- conditions from the ReplicaSets, and minReadySeconds ---------------------------------------------------

def test_a_replicasets_failure_becomes_the_deployments_replica_failure_condition_and_goes_with_it():
    c = Cluster(deployment(3))
    name = c.steady()["metadata"]["name"]
    rs = copy.deepcopy(c.rs(name))
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": 'pods "web-x" is forbidden: exceeded quota: pods', "lastTransitionTime": rfc3339(T0 + 5)}
    rs["status"]["conditions"] = [failure]
    c.caches["replicasets"].put(rs)
    c.wall += 10
    c.sync()
    assert _condition(c.d["status"], "ReplicaFailure") == {
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": failure["message"],
        "lastUpdateTime": rfc3339(T0 + 5), "lastTransitionTime": rfc3339(T0 + 5)}
    del rs["status"]["conditions"]
    c.caches["replicasets"].put(rs)
    c.sync()
    assert _condition(c.d["status"], "ReplicaFailure") == {}


def test_min_ready_seconds_is_passed_on_to_the_new_replicaset():
    c = Cluster(deployment(3))
    name = c.steady()["metadata"]["name"]
    c.api.calls.clear()
    c.edit(minReadySeconds=10)
    c.sync()
    assert [call[:2] for call in c.api.calls if call[0] == "update"] == [("update", name)]
    assert c.rs(name)["spec"]["minReadySeconds"] == 10
    assert len(c.rss()) == 1, "not a new template: no new ReplicaSet"
