"""The ClusterIP and NodePort allocators (actors.apiserver.allocators).

Covers allocating a tiny range until it is full with no duplicates, the
reserved ``kubernetes`` Service address, specific allocations and Kubernetes'
messages when they fail, release and reuse, the static band that dynamic
allocation keeps out of, serialization round trips, rebuilding from the
allocated values, determinism under a seed, and a /12 that stays cheap.
"""

from __future__ import annotations

import ipaddress
import json
import random

import pytest

from actors.apiserver import allocators
from actors.apiserver.allocators import (
    AllocationError,
    ClusterIPAllocator,
    PortAllocator,
)


def ips(*last_octets: int, prefix: str = "10.0.0.") -> set[str]:
    return {prefix + str(o) for o in last_octets}


# -------------------------------------------------------------- ClusterIPAllocator


def test_tiny_range_fills_without_duplicates_and_keeps_the_kubernetes_ip():
    alloc = ClusterIPAllocator("10.0.0.0/29", rng=random.Random(1))
    assert alloc.kubernetes_ip == "10.0.0.1"
    got = [alloc.allocate() for _ in range(5)]
    # .0 is the network, .7 the broadcast, .1 the kubernetes Service's.
    assert set(got) == ips(2, 3, 4, 5, 6)
    assert len(got) == len(set(got))
    with pytest.raises(AllocationError, match="^range is full$") as caught:
        alloc.allocate()
    assert caught.value.reason == AllocationError.FULL
    assert alloc.free_count() == 1  # the reserved address, still free
    assert alloc.allocate("10.0.0.1") == "10.0.0.1"
    assert alloc.free_count() == 0
    assert alloc.used_count() == 6
    with pytest.raises(AllocationError, match="^range is full$"):
        alloc.allocate()


SPECIFIC_CASES = [
    (
        "taken",
        "10.96.0.5",
        "failed to allocate IP 10.96.0.5: provided IP is already allocated",
        AllocationError.ALLOCATED,
    ),
    (
        "outside the cidr",
        "10.112.0.1",
        "failed to allocate IP 10.112.0.1: the provided IP (10.112.0.1) "
        "is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12",
        AllocationError.NOT_IN_RANGE,
    ),
    (
        "network address",
        "10.96.0.0",
        "failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) "
        "is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12",
        AllocationError.NOT_IN_RANGE,
    ),
    (
        "broadcast address",
        "10.111.255.255",
        "failed to allocate IP 10.111.255.255: the provided IP (10.111.255.255) "
        "is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12",
        AllocationError.NOT_IN_RANGE,
    ),
    (
        "ipv6 address",
        "2001:db8::1",
        "failed to allocate IP 2001:db8::1: the provided IP (2001:db8::1) "
        "is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/12",
        AllocationError.NOT_IN_RANGE,
    ),
]


@pytest.mark.parametrize(
    ("ip", "message", "reason"),
    [c[1:] for c in SPECIFIC_CASES],
    ids=[c[0] for c in SPECIFIC_CASES],
)
def test_specific_ip_refused(ip, message, reason):
    alloc = ClusterIPAllocator("10.96.0.0/12", rng=random.Random(0))
    assert alloc.allocate("10.96.0.5") == "10.96.0.5"
    before = alloc.to_dict()
    with pytest.raises(AllocationError) as caught:
        alloc.allocate(ip)
    assert str(caught.value) == message
    assert caught.value.reason == reason
    assert alloc.to_dict() == before  # a refusal changes nothing


def test_specific_ip_granted_anywhere_in_range():
    alloc = ClusterIPAllocator("10.96.0.0/12", rng=random.Random(0))
    for ip in ("10.96.0.1", "10.96.0.2", "10.100.7.9", "10.111.255.254"):
        assert alloc.allocate(ip) == ip
        assert alloc.is_allocated(ip)
    assert alloc.free_count() == 2**20 - 2 - 4


def test_unparseable_ip_is_a_caller_bug():
    with pytest.raises(ValueError):
        ClusterIPAllocator("10.0.0.0/29").allocate("10.0.0.300")


def test_release_and_reuse():
    alloc = ClusterIPAllocator("10.0.0.0/29", rng=random.Random(7))
    got = [alloc.allocate() for _ in range(5)]
    assert alloc.release(got[2]) is True
    assert not alloc.is_allocated(got[2])
    assert alloc.free_count() == 2
    assert alloc.allocate() == got[2]  # the only free unreserved address
    assert alloc.release("10.0.0.1") is False  # never allocated
    assert alloc.release("192.168.0.1") is False  # not in the range
    assert alloc.release(got[0]) is True
    assert alloc.release(got[0]) is False  # twice is harmless
    assert alloc.allocate(got[0]) == got[0]


def test_dynamic_allocation_prefers_the_upper_band():
    # A /27 has 30 usable addresses and a static band of 16 (Kubernetes'
    # min(max(16, 32/16), 256)): .1-.16. Dynamic picks take .17-.30 first.
    alloc = ClusterIPAllocator("10.0.0.0/27", rng=random.Random(3))
    first = {alloc.allocate() for _ in range(14)}
    assert first == ips(*range(17, 31))
    rest = {alloc.allocate() for _ in range(15)}
    assert rest == ips(*range(2, 17))
    with pytest.raises(AllocationError, match="^range is full$"):
        alloc.allocate()


def test_round_trip_serialization():
    alloc = ClusterIPAllocator("10.96.0.0/12", rng=random.Random(5))
    alloc.allocate(alloc.kubernetes_ip)
    for _ in range(20):
        alloc.allocate()
    data = json.loads(json.dumps(alloc.to_dict()))  # what the store would hold
    assert data["range"] == "10.96.0.0/12"
    assert data["allocated"][0] == "10.96.0.1"
    assert data["allocated"] == sorted(data["allocated"], key=ipaddress.IPv4Address)
    restored = ClusterIPAllocator.from_dict(data, rng=random.Random(5))
    assert restored.to_dict() == alloc.to_dict()
    assert restored.free_count() == alloc.free_count()
    assert all(restored.is_allocated(ip) for ip in data["allocated"])


def test_rebuild_from_allocated_values():
    alloc = ClusterIPAllocator(
        "10.0.0.0/29", allocated=["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    )
    assert {alloc.allocate(), alloc.allocate(), alloc.allocate()} == ips(4, 5, 6)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"range": "10.0.0.0/29", "allocated": ["10.0.0.2", "10.0.0.2"]},
            "failed to allocate IP 10.0.0.2: provided IP is already allocated",
        ),
        (
            {"range": "10.0.0.0/29", "allocated": ["10.0.0.9"]},
            "failed to allocate IP 10.0.0.9: the provided IP (10.0.0.9) "
            "is not in the valid range. "
            "The range of valid IPs is 10.0.0.0/29",
        ),
    ],
    ids=["listed twice", "outside the range"],
)
def test_corrupt_state_refused(data, message):
    with pytest.raises(AllocationError) as caught:
        ClusterIPAllocator.from_dict(data)
    assert str(caught.value) == message


def test_seeded_choices_repeat():
    def run(seed: int) -> list[str]:
        alloc = ClusterIPAllocator("10.96.0.0/12", rng=random.Random(seed))
        out = [alloc.allocate() for _ in range(30)]
        alloc.release(out[3])
        out += [alloc.allocate() for _ in range(30)]
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("2001:db8::/112", "IPv4"),
        ("10.0.0.0/31", "too small"),
        ("not-a-cidr", "does not appear"),
    ],
    ids=["ipv6", "slash 31", "garbage"],
)
def test_bad_cidr(cidr, message):
    with pytest.raises(ValueError, match=message):
        ClusterIPAllocator(cidr)


def test_host_bits_are_masked_as_kubernetes_does():
    assert ClusterIPAllocator("10.96.3.4/12").cidr == "10.96.0.0/12"


def test_slash_12_stays_small_and_random():
    alloc = ClusterIPAllocator("10.96.0.0/12", rng=random.Random(9))
    got = [alloc.allocate() for _ in range(3000)]
    assert len(set(got)) == 3000
    base = int(ipaddress.IPv4Address("10.96.0.1"))
    offsets = [int(ipaddress.IPv4Address(ip)) - base for ip in got]
    assert min(offsets) >= 256  # nothing from the static band while the rest has room
    assert max(offsets) - min(offsets) > 2**19  # spread over the range, not sequential
    assert alloc.free_count() == 2**20 - 2 - 3000


def test_nearly_full_band_falls_back_to_the_scan(monkeypatch):
    # Fill the dynamic band of a /24 but one address, and turn the random
    # probes off: the scan alone must find the hole.
    monkeypatch.setattr(allocators, "RANDOM_PROBES", 0)
    alloc = ClusterIPAllocator("10.0.0.0/24", rng=random.Random(2))
    static = 16  # min(max(16, 256/16), 256)
    hole = "10.0.0.200"
    for offset in range(static, 254):
        ip = str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.1")) + offset))
        if ip != hole:
            alloc.allocate(ip)
    assert alloc.allocate() == hole


# ------------------------------------------------------------------- PortAllocator


def test_tiny_port_range_fills_without_duplicates():
    alloc = PortAllocator(30000, 30007, rng=random.Random(1))
    got = [alloc.allocate() for _ in range(8)]
    assert sorted(got) == list(range(30000, 30008))
    with pytest.raises(AllocationError, match="^range is full$") as caught:
        alloc.allocate()
    assert caught.value.reason == AllocationError.FULL
    assert alloc.free_count() == 0


PORT_CASES = [
    ("taken", 30080, "provided port is already allocated", AllocationError.ALLOCATED),
    (
        "below",
        29999,
        "provided port is not in the valid range. "
        "The range of valid ports is 30000-32767",
        AllocationError.NOT_IN_RANGE,
    ),
    (
        "above",
        32768,
        "provided port is not in the valid range. "
        "The range of valid ports is 30000-32767",
        AllocationError.NOT_IN_RANGE,
    ),
]


@pytest.mark.parametrize(
    ("port", "message", "reason"),
    [c[1:] for c in PORT_CASES],
    ids=[c[0] for c in PORT_CASES],
)
def test_specific_port_refused(port, message, reason):
    alloc = PortAllocator()
    assert alloc.allocate(30080) == 30080
    with pytest.raises(AllocationError) as caught:
        alloc.allocate(port)
    assert str(caught.value) == message
    assert caught.value.reason == reason


def test_port_release_and_reuse():
    alloc = PortAllocator(30000, 30003, rng=random.Random(4))
    got = [alloc.allocate() for _ in range(4)]
    assert alloc.release(got[1]) is True
    assert alloc.release(got[1]) is False
    assert alloc.release(80) is False
    assert not alloc.is_allocated(got[1])
    assert alloc.allocate() == got[1]
    with pytest.raises(AllocationError, match="^range is full$"):
        alloc.allocate()


def test_default_ports_prefer_above_the_static_band():
    # 2768 ports: a static band of min(max(16, 2768/32), 128) = 86 ports.
    alloc = PortAllocator(rng=random.Random(8))
    got = [alloc.allocate() for _ in range(500)]
    assert len(set(got)) == 500
    assert min(got) >= 30086
    assert alloc.free_count() == 2768 - 500


def test_port_round_trip_and_determinism():
    alloc = PortAllocator(rng=random.Random(6))
    alloc.allocate(30000)
    for _ in range(10):
        alloc.allocate()
    data = json.loads(json.dumps(alloc.to_dict()))
    assert data["range"] == "30000-32767"
    assert data["allocated"] == sorted(data["allocated"])
    restored = PortAllocator.from_dict(data, rng=random.Random(6))
    assert restored.to_dict() == alloc.to_dict()

    def run(seed: int) -> list[int]:
        ports = PortAllocator(rng=random.Random(seed))
        return [ports.allocate() for _ in range(40)]

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 10), (100, 99), (65000, 65536)],
    ids=["zero", "reversed", "above 65535"],
)
def test_bad_port_range(lo, hi):
    with pytest.raises(ValueError):
        PortAllocator(lo, hi)
