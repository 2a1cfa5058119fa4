"""The broker's registry (bus.broker.BrokerCore) driven with a hand-moved ``now``.

Covers registration and routing, heartbeat expiry after interval*liveness of
silence (and not before), traffic keeping a peer alive, re-registration of the
same identity+name from a new connection taking over the old one's routes,
refusal of a live peer's names to a different identity, names freeing up
after expiry, and remove().
"""

from __future__ import annotations

import pytest

from bus.broker import BrokerCore

T0 = 1000.0
INTERVAL = 0.25  # binary-exact, so expiry boundaries are exact
LIVENESS = 3
EXPIRY = INTERVAL * LIVENESS  # 0.75


@pytest.fixture
def core() -> BrokerCore:
    return BrokerCore(INTERVAL, LIVENESS)


def routed(core: BrokerCore) -> dict[str, bytes]:
    return {k.decode(): p.rid for k, p in core.routes.items()}


def test_expiry_is_interval_times_liveness(core):
    assert core.expiry_s == EXPIRY


@pytest.mark.parametrize("interval, liveness", [(0, 3), (-1, 3), (1.0, 0)])
def test_nonsense_settings_are_refused(interval, liveness):
    with pytest.raises(AssertionError):
        BrokerCore(interval, liveness)


def test_register_makes_actors_routable(core):
    reg = core.register(b"r1", "node-1", b"node-1", ["node-1.kubelet", "node-1.bus"], 42, T0)
    assert reg.refused == [] and reg.replaced == []
    peer = reg.peer
    assert (peer.rid, peer.name, peer.identity, peer.pid, peer.last_seen) == (b"r1", "node-1", b"node-1", 42, T0)
    assert peer.actors == {b"node-1.kubelet", b"node-1.bus"}
    assert core.peers == {b"r1": peer}
    assert core.route(b"node-1.kubelet") is peer
    assert core.route(b"node-1.bus") is peer
    assert core.route(b"node-2.kubelet") is None


def test_two_peers_route_separately(core):
    a = core.register(b"r1", "node-1", b"node-1", ["a1"], 1, T0).peer
    b = core.register(b"r2", "node-2", b"node-2", ["b1", "b2"], 2, T0).peer
    assert routed(core) == {"a1": b"r1", "b1": b"r2", "b2": b"r2"}
    assert core.route(b"a1") is a and core.route(b"b2") is b


def test_repeated_register_on_the_same_connection_updates_it(core):
    first = core.register(b"r1", "node-1", b"node-1", ["a"], 1, T0).peer
    again = core.register(b"r1", "node-1", b"node-1", ["a", "b"], 1, T0 + 0.5)
    assert again.peer is first and again.replaced == [] and again.refused == []
    assert first.last_seen == T0 + 0.5
    assert first.actors == {b"a", b"b"}
    assert len(core.peers) == 1


# --- Re-registration and ownership of names ---------------------------------------


def test_same_identity_and_name_from_a_new_connection_replaces_the_old(core):
    old = core.register(b"old", "node-1", b"node-1", ["node-1.kubelet", "node-1.bus"], 10, T0).peer
    reg = core.register(b"new", "node-1", b"node-1", ["node-1.kubelet", "node-1.bus"], 11, T0 + 0.125)
    assert reg.replaced == [old]
    assert reg.refused == []
    assert list(core.peers) == [b"new"]
    assert routed(core) == {"node-1.kubelet": b"new", "node-1.bus": b"new"}
    assert reg.peer.pid == 11
    # The old connection is gone: removing it later cannot take the routes away.
    assert core.remove(b"old") is None
    assert routed(core) == {"node-1.kubelet": b"new", "node-1.bus": b"new"}


def test_replacement_drops_names_the_new_connection_no_longer_hosts(core):
    core.register(b"old", "node-1", b"node-1", ["a", "b"], 10, T0)
    core.register(b"new", "node-1", b"node-1", ["a"], 11, T0)
    assert routed(core) == {"a": b"new"}


def test_same_identity_other_process_name_is_not_replaced_but_takes_the_names(core):
    # e.g. two processes sharing one CURVE key: the newer registration wins the names.
    first = core.register(b"r1", "proc-a", b"team", ["x", "y"], 1, T0).peer
    reg = core.register(b"r2", "proc-b", b"team", ["x"], 2, T0)
    assert reg.replaced == [] and reg.refused == []
    assert set(core.peers) == {b"r1", b"r2"}
    assert routed(core) == {"x": b"r2", "y": b"r1"}
    assert first.actors == {b"y"}
    # Removing the first connection does not take the moved name with it.
    core.remove(b"r1")
    assert routed(core) == {"x": b"r2"}


def test_a_different_identity_cannot_take_a_live_peers_name(core):
    owner = core.register(b"r1", "node-1", b"node-1", ["node-1.kubelet"], 1, T0).peer
    reg = core.register(b"r2", "evil", b"evil", ["node-1.kubelet", "evil.bus"], 2, T0)
    assert reg.refused == ["node-1.kubelet"]
    assert reg.replaced == []
    assert core.route(b"node-1.kubelet") is owner
    assert core.route(b"evil.bus") is reg.peer
    assert reg.peer.actors == {b"evil.bus"}
    assert owner.actors == {b"node-1.kubelet"}


def test_claiming_the_same_process_name_with_another_identity_replaces_nothing(core):
    owner = core.register(b"r1", "node-1", b"key-a", ["n"], 1, T0).peer
    reg = core.register(b"r2", "node-1", b"key-b", ["n"], 2, T0)
    assert reg.replaced == [] and reg.refused == ["n"]
    assert core.peers[b"r1"] is owner and core.route(b"n") is owner


# --- remove() -----------------------------------------------------------------------


def test_remove_drops_the_peer_and_its_routes(core):
    a = core.register(b"r1", "node-1", b"node-1", ["a1", "a2"], 1, T0).peer
    core.register(b"r2", "node-2", b"node-2", ["b1"], 2, T0)
    assert core.remove(b"r1") is a
    assert list(core.peers) == [b"r2"]
    assert routed(core) == {"b1": b"r2"}


def test_remove_of_an_unknown_connection_is_none(core):
    core.register(b"r1", "node-1", b"node-1", ["a"], 1, T0)
    assert core.remove(b"nope") is None
    assert routed(core) == {"a": b"r1"}


def test_a_silent_holder_loses_its_names_even_before_expire_runs(core):
    core.register(b"r1", "node-a", b"id-a", ["kubelet"], 1, T0)
    # id-b may not take a live peer's name...
    assert core.register(b"r2", "node-b", b"id-b", ["kubelet"], 2, T0 + EXPIRY).refused == ["kubelet"]
    # ...but once the holder has been silent past the expiry, the name is free.
    reg = core.register(b"r2", "node-b", b"id-b", ["kubelet"], 2, T0 + EXPIRY + 0.25)
    assert reg.refused == [] and routed(core)["kubelet"] == b"r2"


def test_registering_again_with_fewer_actors_drops_the_stale_routes(core):
    core.register(b"r1", "node-a", b"id-a", ["kubelet", "proxy"], 1, T0)
    core.register(b"r1", "node-a", b"id-a", ["kubelet"], 1, T0 + 0.25)
    assert routed(core) == {"kubelet": b"r1"}
    assert core.peers[b"r1"].actors == {b"kubelet"}
