"""The chaos runner's pure parts: the experiment file, the seeded plan, target selection, fault rules,
the history, recovery times and probe verdicts. Deterministic and fast; the runs themselves are in
tests/test_chaos_experiments.py and tests/test_chaos_planted.py."""

from __future__ import annotations

from random import Random

import pytest

from actors.messages import StoreStatusReply
from bus.faults import FaultFilter, FaultRule
from kubesim.chaos.experiment import ExperimentError, Target, load, parse
from kubesim.chaos.history import History
from kubesim.chaos.probes import Result, Streaks, judge, store_leader_verdict
from kubesim.chaos.recovery import RecoveryClock
from kubesim.chaos.schedule import (
    PlanError,
    actors_of,
    bridge_sides,
    cut_rules,
    message_rules,
    plan,
    process_seed,
    select,
)
from tests.helpers import ROOT

PROCESSES = {"apiserver": "apiserver", "scheduler": "scheduler", "node-1": "node", "node-2": "node",
             "node-3": "node", "store-0": "store", "store-1": "store", "store-2": "store"}


def experiment(**kw):
    return parse({"name": "t", **kw}, "t.yaml")


# --- the experiment file ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "chaos").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_builtin_experiment_loads_and_plans(path):
    exp = load(path)
    assert exp.description and exp.faults
    assert plan(exp, exp.seed).occurrences


@pytest.mark.parametrize("data, says", [
    ({"faults": [{"action": "kill", "target": {"role": "store", "select": "most"}}]},
     "t.yaml: faults.0.target.select: Input should be 'all', 'one', 'minority', 'majority', 'leader' or 'random'"),
    ({"faults": [{"action": "explode", "target": "store-0"}]}, "t.yaml: faults.0.action: Input should be"),
    ({"faults": [{"action": "kill"}]}, "t.yaml: faults.0: kill needs a target"),
    ({"faults": [{"action": "partition", "groups": [{"role": "store"}]}]}, "partition needs groups"),
    ({"faults": [{"action": "drop", "between": ["rest"]}]}, "drop needs between"),
    ({"faults": [{"action": "restart", "target": "store-0", "for": 3}]}, "restart is over at once"),
    ({"faults": [{"action": "crash-actor", "target": "node-1", "actor": "proxy"}]}, "crash-actor needs actor"),
    ({"faults": [{"action": "kill", "target": {"role": "store", "name": "x"}}]}, "exactly one of name"),
    ({"faults": [{"action": "kill", "target": "store-0", "times": 3}]}, "times > 1 needs every"),
    ({"workloads": [{"type": "regster"}]}, "t.yaml: workloads.0: Input tag 'regster'"),
    ({"steady_state": {"probes": [{"type": "deployment-available"}]}}, "deployment-available needs deployment"),
    ({"abort": [{"probe": "nope", "failing_for_s": 3}]}, "no probe is called 'nope'"),
    ({"checks": ["linearizable"]}, "linearizable needs the register workload"),
    ({"surprise": 1}, "t.yaml: surprise: Extra inputs are not permitted"),
])
def test_a_bad_experiment_is_refused_naming_the_key(data, says):
    with pytest.raises(ExperimentError) as err:
        experiment(**data)
    assert says in str(err.value)


def test_a_file_that_is_not_yaml_or_not_a_map_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("name: [unclosed")
    (tmp_path / "b.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ExperimentError, match="a.yaml: not valid YAML"):
        load(tmp_path / "a.yaml")
    with pytest.raises(ExperimentError, match="b.yaml: an experiment is a mapping, got list"):
        load(tmp_path / "b.yaml")
    with pytest.raises(ExperimentError, match="cannot read"):
        load(tmp_path / "missing.yaml")


def test_default_checks_follow_the_workloads():
    assert "linearizable" not in experiment().checks_to_run()
    assert experiment(workloads=[{"type": "register"}]).checks_to_run()[:2] == ["linearizable", "no-lost-writes"]


# --- the plan --------------------------------------------------------------------------------------------


def test_every_and_times_expand_and_heal_times_follow_for():
    exp = experiment(faults=[{"action": "pause", "target": "store-0", "at": 5, "every": 10, "times": 3, "for": 2},
                             {"action": "restart", "target": "node-1", "at": 7}])
    p = plan(exp, 1)
    assert [(o.id, o.at, o.heal_at, o.fault.action) for o in p.occurrences] == [
        ("f1", 5, 7, "pause"), ("f2", 7, None, "restart"), ("f3", 15, 17, "pause"), ("f4", 25, 27, "pause")]
    assert p.duration_s == 28.0  # the last heal + a second


def test_a_fault_without_for_lasts_until_the_end_and_kill_without_for_is_instant():
    exp = experiment(duration_s=30, faults=[{"action": "isolate", "target": "node-1", "at": 5},
                                            {"action": "kill", "target": "store-0", "at": 6},
                                            {"action": "kill", "target": "node-2", "at": 7, "for": 100}])
    heal = {o.fault.target.name: o.heal_at for o in plan(exp, 1).occurrences}
    assert heal == {"node-1": 30, "store-0": None, "node-2": 30}


def test_every_without_an_end_is_refused_and_repeats_stop_at_the_duration():
    with pytest.raises(PlanError, match="'every' without 'times'"):
        plan(experiment(faults=[{"action": "kill", "target": "store-0", "every": 5}]), 1)
    p = plan(experiment(duration_s=22, faults=[{"action": "kill", "target": "store-0", "every": 5}]), 1)
    assert [o.at for o in p.occurrences] == [0, 5, 10, 15, 20]


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    exp = load(ROOT / "config" / "chaos" / "store-minority-partition.yaml")
    a, b, c = plan(exp, 7), plan(exp, 7), plan(exp, 8)
    assert a == b
    assert [o.seed for o in a.occurrences] != [o.seed for o in c.occurrences]
    rng_a, rng_b = Random(a.occurrences[1].seed), Random(b.occurrences[1].seed)
    target = Target(role="store", select="one")
    assert select(target, PROCESSES, rng_a) == select(target, PROCESSES, rng_b)


def test_select_by_name_role_and_selector():
    rng = Random(1)
    assert select(Target(name="node-2"), PROCESSES, rng) == ["node-2"]
    assert select(Target(role="store"), PROCESSES, rng) == ["store-0", "store-1", "store-2"]
    assert len(select(Target(role="store", select="one"), PROCESSES, rng)) == 1
    assert len(select(Target(role="store", select="minority"), PROCESSES, rng)) == 1
    assert len(select(Target(role="store", select="majority"), PROCESSES, rng)) == 2
    assert 1 <= len(select(Target(role="node", select="random"), PROCESSES, rng)) <= 3
    assert select(Target(role="store", select="leader"), PROCESSES, rng, leader="store-2") == ["store-2"]
    with pytest.raises(PlanError, match="no leader among"):
        select(Target(role="store", select="leader"), PROCESSES, rng, leader=None)
    with pytest.raises(PlanError, match="no process has role 'etcd'"):
        select(Target(role="etcd"), PROCESSES, rng)
    with pytest.raises(PlanError, match="no process 'node-9'"):
        select(Target(name="node-9"), PROCESSES, rng)


def test_a_bridge_leaves_one_member_talking_to_both_halves():
    left, right = bridge_sides(["s0", "s1", "s2", "s3", "s4"], Random(3))
    assert len(left) == 2 and len(right) == 2 and not set(left) & set(right)
    with pytest.raises(PlanError):
        bridge_sides(["s0", "s1"], Random(3))


# --- fault rules, through the real filter ---------------------------------------------------------------


def delivered(rules: list[dict], direction: str, src: str, dst: str, kind: str = "store.Raft") -> bool:
    f: FaultFilter = FaultFilter(1)
    f.set_rules([FaultRule.from_dict(r) for r in rules])
    return bool(f.apply(direction, src, dst, kind, "m", 0.0))


def test_a_cut_blocks_both_ways_on_both_sides_and_nothing_else():
    rules = cut_rules(["store-0"], ["store-1", "store-2"])
    assert not delivered(rules["store-0"], "send", "store-0", "store-1")
    assert not delivered(rules["store-0"], "recv", "store-2", "store-0")
    assert not delivered(rules["store-1"], "send", "store-1", "store-0")
    assert not delivered(rules["store-1"], "recv", "store-0.bus", "store-1")
    assert delivered(rules["store-1"], "send", "store-1", "store-2")
    assert delivered(rules["store-0"], "send", "store-0", "kubesim-cli-chaos-1.register-0")  # clients still reach it
    assert delivered(rules["store-0"], "send", "store-0", "store-10")  # a name that merely starts the same


def test_a_one_way_cut_lets_the_other_direction_through():
    rules = cut_rules(["node-1"], ["apiserver"], one_way=True)
    assert not delivered(rules["node-1"], "send", "node-1.api", "apiserver")
    assert delivered(rules["node-1"], "recv", "apiserver", "node-1.api")
    assert delivered(rules["apiserver"], "send", "apiserver", "node-1.api")
    assert not delivered(rules["apiserver"], "recv", "node-1.api", "apiserver")


def test_message_rules_match_only_the_actor_and_kinds_between_the_sides():
    exp = experiment(faults=[{"action": "drop", "between": [{"role": "node"}, {"name": "apiserver"}],
                              "actor": "api", "kinds": ["api.*"]}])
    rules = message_rules(exp.faults[0], ["node-1"], ["apiserver"])["node-1"]
    assert not delivered(rules, "send", "node-1.api", "apiserver", "api.Request")
    assert not delivered(rules, "recv", "apiserver", "node-1.api", "api.Response")
    assert delivered(rules, "send", "node-1.runtime", "apiserver", "api.Request")
    assert delivered(rules, "send", "node-1.api", "apiserver", "bus.Heartbeat")
    assert delivered(rules, "send", "node-1.api", "dns", "api.Request")
    everyone = message_rules(exp.faults[0], ["node-1"], None)["node-1"]
    assert not delivered(everyone, "send", "node-1.api", "dns", "api.Request")
    assert delivered(everyone, "send", "node-1.api", "node-1.kubelet", "api.Request")


def test_actor_globs_and_process_seeds():
    assert actors_of(["a", "b"]) == "a|a.*|b|b.*"
    assert actors_of(["a"], "kubelet") == "a.kubelet"
    assert process_seed(5, "store-0") == process_seed(5, "store-0") != process_seed(5, "store-1")


# --- the history ------------------------------------------------------------------------------------------


def test_history_records_invoke_and_one_completion_with_latency():
    now = [0.0]
    h = History(lambda: now[0])
    p = h.new_process()
    op = h.invoke(p, "write", 3, key="r0", workload="register")
    now[0] = 0.25
    op.info("timed out")
    assert h.events[1] == {"index": 1, "time": 0.25, "process": p, "type": "info", "f": "write", "value": 3,
                           "workload": "register", "latency": 0.25, "key": "r0", "error": "timed out"}
    with pytest.raises(AssertionError, match="completed twice"):
        op.ok()
    assert h.summary() == {"register": {"ok": 0, "fail": 0, "info": 1}}
    assert h.new_process() != p


# --- recovery times ---------------------------------------------------------------------------------------


def test_recovery_clock_measures_leader_notready_eviction_and_steady_state():
    r = RecoveryClock(scale=10, election_timeout_s=1.0)
    r.store_leader(0.0, "store-0", 1)
    r.lease(0.0, "kube-system", "kube-scheduler", "scheduler")
    r.injected("f1", "kill", ["store-0"], PROCESSES, 5.0, {})
    r.injected("f2", "kill", ["node-1"], PROCESSES, 6.0, {"node-1": ["u1", "u2"]})
    r.injected("f3", "kill", ["scheduler"], PROCESSES, 7.0, {})
    r.store_leader(9.0, "store-0", 1)       # the same term: no new leader yet
    r.store_leader(12.5, "store-2", 2)
    r.node(40.0, "node-2", False)           # another node
    r.node(51.0, "node-1", False)
    r.pod(200.0, "node-1", "u1", False)
    r.lease(24.0, "kube-system", "kube-scheduler", "scheduler-2")
    r.pod(356.0, "node-1", "u2", False)
    r.available(360.0)
    r.healed(400.0, 60)
    r.steady(412.0)
    got = {m["measure"]: (m["seconds"], m["expected_s"]) for m in r.results()}
    assert got == {"new store leader": (7.5, 20.0), "node NotReady": (45.0, 55.0), "pods evicted": (350.0, 355.0),
                   "pods replaced": (354.0, 360.0), "standby took over": (17.0, 19.0), "steady state": (12.0, 60)}
    assert next(m for m in r.results() if m["measure"] == "new store leader")["real_seconds"] == 0.75


def test_a_partition_without_quorum_times_the_new_leader_from_its_heal_and_a_dead_quorum_adds_a_restart():
    r = RecoveryClock(scale=10, election_timeout_s=1.0)
    r.store_leader(0.0, "store-2", 4)
    r.injected("f0", "isolate", ["store-0"], PROCESSES, 5.0, {})  # the leader keeps a quorum: no new leader needed
    r.injected("f1", "isolate", ["store-0", "store-1"], PROCESSES, 10.0, {})  # the leader alone: it must go
    r.fault_healed("f1", 60.0)
    r.store_leader(75.0, "store-2", 5)
    r.injected("f2", "kill", ["store-0", "store-1", "store-2"], PROCESSES, 100.0, {})
    r.store_leader(130.0, "store-0", 6)
    (partition, killed) = r.results()
    assert partition["seconds"] == 15.0 and "from the heal" in partition["subject"]
    assert killed["seconds"] == 30.0 and killed["expected_s"] == 25.0 and "a quorum restarts first" in killed["expected"]


def test_no_eviction_is_waited_for_when_the_fault_ends_before_the_tolerations_run_out():
    r = RecoveryClock(scale=10, election_timeout_s=1.0)
    r.injected("f1", "isolate", ["node-1"], PROCESSES, 10.0, {"node-1": ["u1"]}, lasts_s=80)
    r.injected("f2", "isolate", ["node-2"], PROCESSES, 10.0, {"node-2": ["u2"]}, lasts_s=None)
    assert [(m["measure"], m["subject"]) for m in r.results()] == [
        ("node NotReady", "node-1"), ("node NotReady", "node-2"), ("pods evicted", "1 pods of node-2"),
        ("pods replaced", "1 pods of node-2")]


def test_a_measure_never_seen_stays_open():
    r = RecoveryClock(scale=1, election_timeout_s=1.0)
    r.injected("f1", "pause", ["node-1"], PROCESSES, 5.0, {})
    assert [m["seconds"] for m in r.results()] == [None]


# --- probe verdicts ---------------------------------------------------------------------------------------


def status(member: str, role: str, term: int, leader: str) -> StoreStatusReply:
    return StoreStatusReply(member, role, term, leader, 1, 1, 1, 0, 1, 0, 0, [])


def test_store_leader_verdict():
    ok = {"s0": status("s0", "leader", 3, "s0"), "s1": status("s1", "follower", 3, "s0"), "s2": None}
    assert store_leader_verdict(ok) == (True, "s0 leads term 3", "s0")
    assert not store_leader_verdict({"s0": ok["s0"], "s1": None, "s2": None})[0]  # no quorum answers
    two = {"s0": status("s0", "leader", 3, "s0"), "s1": status("s1", "leader", 3, "s1"), "s2": None}
    assert "2 leaders in term 3" in store_leader_verdict(two)[1]
    stale = {"s0": status("s0", "leader", 2, "s0"), "s1": status("s1", "candidate", 3, ""), "s2": None}
    assert store_leader_verdict(stale)[1] == "0 leaders in term 3 (an election is under way)"


def test_judge_and_streaks():
    assert judge(3, {}, 3, "nodes Ready") == (True, "3 nodes Ready (expected at least 3)")
    assert judge(2, {"min": 3}, 1, "x")[0] is False
    assert judge(2, {"equals": 2}, 9, "x") == (True, "2 x (expected 2)")
    s = Streaks()
    s.add(Result("p", 1.0, False, ""))
    s.add(Result("p", 3.0, False, ""))
    assert s.failing_for("p", 4.0) == 3.0
    s.add(Result("p", 5.0, True, ""))
    assert s.failing_for("p", 6.0) == 0.0
