"""CURVE: only allow-listed keys get in, and identity comes from the key.

A real broker process runs with ``security.curve: true``; peers in the test
process hold keys made by ``kubesim keys``. A peer whose key is not on the
broker's allow-list never registers and none of its messages reach anyone.
"""

from __future__ import annotations

import pytest

from actors.messages import Ping, Pong
from bus.runtime import Indeterminate
from bus.transport.curve import generate, load_keypair, load_public
from bus.transport.sockets import BindRefused, Security, check_bind_host
from kubesim.config import ConfigError, load, parse
from tests.helpers import (
    BusClient,
    kubesim,
    kubesim_out,
    stop,
    wait_until,
    write_cluster,
)

pytestmark = pytest.mark.integration


def _security(keys, name: str) -> Security:
    return Security(curve=True, keypair=load_keypair(keys, name), broker_public=load_public(keys, "broker"))


def test_curve_admits_known_keys_only_and_stamps_identity_from_the_key(tmp_path):
    path = write_cluster(tmp_path, security={"curve": True})
    cfg = load(path)
    made = kubesim_out("keys", "--config", str(path))
    assert made.returncode == 0, made.stderr
    keys = cfg.security.keys_dir
    generate(keys, ["watcher"])  # on the allow-list
    generate(tmp_path / "elsewhere", ["intruder"])  # not on it
    assert (keys / "private" / "admin.key_secret").stat().st_mode & 0o077 == 0

    broker = kubesim("child", "broker", "--config", str(path))
    clients = []
    try:
        watcher = BusClient("watcher-proc", cfg.bus.port, security=_security(keys, "watcher"))
        # The admin's process *claims* to be called "pong"; the broker must not believe it.
        admin = BusClient("pong", cfg.bus.port, security=_security(keys, "admin"))
        intruder = BusClient("intruder", cfg.bus.port,
                             security=Security(curve=True, keypair=load_keypair(tmp_path / "elsewhere", "intruder"),
                                               broker_public=load_public(keys, "broker")))
        clients = [watcher, admin, intruder]

        def step_all():
            for c in clients:
                c.step()

        wait_until(lambda: watcher.rt.link.registered and admin.rt.link.registered, 20, "registration", step_all)

        fut = admin.rt._request(admin.probe, watcher.probe.name, Ping(1), 5.0, 0)
        wait_until(fut.done, 20, "the watcher's answer", step_all)
        assert isinstance(fut.result(), Pong)
        _, env = watcher.probe.seen[-1]
        assert env.identity == "admin" and env.sender == "pong-probe"

        # The intruder's request ends indeterminate at its own deadline; nothing got through.
        lost = intruder.rt._request(intruder.probe, watcher.probe.name, Ping(666), 1.0, 1)
        wait_until(lost.done, 20, "the intruder's request to end", step_all)
        with pytest.raises(Indeterminate):
            lost.result()
        assert not intruder.rt.link.registered
        assert all(msg.seq != 666 for msg, _ in watcher.probe.seen)
        assert len(watcher.probe.seen) == 1
    finally:
        for c in clients:
            c.close()
        stop(broker)


def test_no_binding_beyond_loopback_without_curve(tmp_path):
    check_bind_host("127.0.0.1", curve=False)
    check_bind_host("0.0.0.0", curve=True)
    with pytest.raises(BindRefused, match="unless security.curve is true"):
        check_bind_host("0.0.0.0", curve=False)
    with pytest.raises(ConfigError, match=r"bus.host|refusing to bind '10.1.2.3'"):
        parse({"bus": {"host": "10.1.2.3"}, "processes": {"b": {"component": "broker"}}})
    # With CURVE on, the same address is accepted.
    parse({"bus": {"host": "10.1.2.3"}, "security": {"curve": True},
           "processes": {"b": {"component": "broker"}}})
