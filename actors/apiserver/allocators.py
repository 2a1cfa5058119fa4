"""Service ClusterIP and NodePort allocators: what is taken, what to hand out next.

Kubernetes keeps one allocator per range inside the API server and persists
it (a ``RangeAllocation``: the range plus a bitmap) so that two Services never
share an IP or a NodePort. These are the same allocators as pure objects: no
storage, no clock, randomness injected. The API server owns them, writes
:meth:`to_dict` next to the Service it creates, and after a restart either
loads that back with :meth:`from_dict` or rebuilds the allocator from the
values its Services hold (``allocated=``), as Kubernetes' repair loop does.

Both follow Kubernetes (``pkg/registry/core/service/ipallocator`` and
``portallocator``):

- **Messages** are Kubernetes' own, so the API server can put them in a field
  error unchanged: ``failed to allocate IP 10.96.0.5: provided IP is already
  allocated`` and ``provided port is already allocated``.
- **Random choice.** A dynamic allocation picks a random free value, so
  Services created at once do not collide on "the next one" and freed values
  are not handed straight back out. The ``random.Random`` is injected: a seed
  makes the sequence repeatable in tests and simulations.
- **Static band.** The bottom of each range (``min(max(16, size/16), 256)``
  addresses of a CIDR, ``min(max(16, size/32), 128)`` ports) is where users
  pick fixed values; dynamic allocation takes from the rest first and only
  then falls back to the band (Kubernetes' ServiceIPStaticSubrange and
  ServiceNodePortStaticSubrange), so a fixed choice rarely finds its value
  already taken.

A /12 holds about a million addresses, so nothing here is proportional to
the range: the state is the set of allocated offsets plus a count per band.
A pick tries a few random offsets, which almost always land on a free value
while the band is not nearly full, then falls back to one wrapping scan from
a random start, which is bounded by the band and only runs when the band is
known (from its count) to have a free value.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

__all__ = ["AllocationError", "ClusterIPAllocator", "PortAllocator"]

RANDOM_PROBES = 16
"""Random tries per band before the scan: with the band at most 15/16 full,
all sixteen miss with probability below 36%; at half full, below 1 in 65,000."""


class AllocationError(Exception):
    """A value could not be allocated. ``reason`` says why without parsing the
    message: :attr:`FULL` (Kubernetes answers 500), :attr:`ALLOCATED` or
    :attr:`NOT_IN_RANGE` (a 422 field error on the requested value)."""

    FULL: ClassVar[str] = "full"
    ALLOCATED: ClassVar[str] = "allocated"
    NOT_IN_RANGE: ClassVar[str] = "not-in-range"

    def __init__(self, message: str, reason: str = FULL) -> None:
        super().__init__(message)
        self.reason = reason


def _static_band_size(range_size: int, lo: int, hi: int, step: int) -> int:
    """Kubernetes' ``calculateRangeOffset``: ``min(max(lo, size/step), hi)``,
    and no band at all for ranges of ``lo`` values or fewer."""
    if range_size <= lo:
        return 0
    return min(max(lo, range_size // step), hi)


class _OffsetRange:
    """Offsets ``0..size-1``: which are allocated, and the next one to hand out.

    Offsets below ``static_size`` form the static band; ``reserved`` offsets
    are never handed out dynamically but may be allocated by request.
    """

    __slots__ = (
        "size",
        "static_size",
        "reserved",
        "allocated",
        "rng",
        "_capacity",
        "_used",
    )

    def __init__(
        self, size: int, static_size: int, reserved: frozenset[int], rng: random.Random
    ) -> None:
        assert 0 <= static_size < size, (static_size, size)
        self.size = size
        self.static_size = static_size
        self.reserved = reserved
        self.allocated: set[int] = set()
        self.rng = rng
        # Per band (0 = dynamic, 1 = static): how many offsets dynamic
        # allocation may use, and how many of those are taken. They answer
        # "is this band full?" without a scan.
        self._capacity = [0, 0]
        self._capacity[0] = (
            size - static_size - sum(1 for r in reserved if r >= static_size)
        )
        self._capacity[1] = static_size - sum(1 for r in reserved if r < static_size)
        self._used = [0, 0]

    def _band(self, offset: int) -> int:
        return 1 if offset < self.static_size else 0

    def take(self, offset: int) -> None:
        assert 0 <= offset < self.size and offset not in self.allocated, offset
        self.allocated.add(offset)
        if offset not in self.reserved:
            self._used[self._band(offset)] += 1

    def give_back(self, offset: int) -> bool:
        if offset not in self.allocated:
            return False
        self.allocated.remove(offset)
        if offset not in self.reserved:
            self._used[self._band(offset)] -= 1
        return True

    def next_free(self) -> int | None:
        """A free, unreserved offset, chosen at random; dynamic band first."""
        for band, (lo, hi) in enumerate(
            ((self.static_size, self.size), (0, self.static_size))
        ):
            if self._used[band] < self._capacity[band]:
                offset = self._pick(lo, hi)
                # The count said the band has a free offset; not finding one
                # means the count and the set disagree.
                assert offset is not None, (band, self._used, self._capacity)
                return offset
        return None

    def _pick(self, lo: int, hi: int) -> int | None:
        n = hi - lo
        for _ in range(RANDOM_PROBES):
            offset = lo + self.rng.randrange(n)
            if offset not in self.allocated and offset not in self.reserved:
                return offset
        start = self.rng.randrange(n)
        for i in range(n):
            offset = lo + (start + i) % n
            if offset not in self.allocated and offset not in self.reserved:
                return offset
        return None


class ClusterIPAllocator:
    """Service ClusterIPs out of one IPv4 CIDR (the service cluster IP range).

    The network and broadcast addresses are never handed out; any other
    address of the CIDR may be requested. The first usable address (10.96.0.1
    in the default ``10.96.0.0/12``) is the ``kubernetes`` Service's, as in
    every Kubernetes cluster: the API server claims it with
    ``allocate(allocator.kubernetes_ip)``, and dynamic allocation never picks
    it even while it is free. (Kubernetes only makes it unlikely, by keeping
    it at the bottom of the static band.)
    """

    def __init__(
        self,
        cidr: str,
        *,
        rng: random.Random | None = None,
        allocated: Iterable[str] = (),
    ) -> None:
        """``cidr``: e.g. ``"10.96.0.0/12"``, host bits ignored as Kubernetes
        does; at most /30, so that one address is left besides the reserved
        one. ``rng``: the source of choices (default: seeded with 0).
        ``allocated``: addresses already in use, e.g. read back from Services.
        """
        network = ipaddress.ip_network(cidr, strict=False)
        if network.version != 4:
            raise ValueError(f"ClusterIPAllocator takes an IPv4 CIDR, not {cidr}")
        if network.prefixlen > 30:
            raise ValueError(
                f"service CIDR {cidr} is too small: at least a /30 is needed"
            )
        self._network: ipaddress.IPv4Network = network
        # Offset 0 is network+1: the network address is outside the offsets,
        # and so is the broadcast address (size is num_addresses - 2).
        self._base = int(network.network_address) + 1
        size = network.num_addresses - 2
        static = _static_band_size(network.num_addresses, lo=16, hi=256, step=16)
        self._range = _OffsetRange(
            size, static, frozenset({0}), rng or random.Random(0)
        )
        for ip in allocated:
            self.allocate(ip)

    @property
    def cidr(self) -> str:
        """The range, normalized: ``10.96.0.0/12``."""
        return str(self._network)

    @property
    def kubernetes_ip(self) -> str:
        """The first usable address, kept for the ``kubernetes`` Service."""
        return str(ipaddress.IPv4Address(self._base))

    def allocate(self, specific: str | None = None) -> str:
        """Allocate ``specific``, or a random free address if None; return it.

        Raises :class:`AllocationError` if ``specific`` is taken or outside the
        range, or if no address is left. ``specific`` must parse as an IP
        address (validate it with ``fielderrors.is_valid_ip`` first): anything
        else raises ValueError.
        """
        if specific is None:
            offset = self._range.next_free()
            if offset is None:
                raise AllocationError("range is full", AllocationError.FULL)
            self._range.take(offset)
            return self._ip(offset)
        address = ipaddress.ip_address(specific)
        offset = self._offset(address)
        if offset is None:
            raise AllocationError(
                f"failed to allocate IP {specific}: the provided IP ({address}) "
                "is not in the valid range. "
                f"The range of valid IPs is {self._network}",
                AllocationError.NOT_IN_RANGE,
            )
        if offset in self._range.allocated:
            raise AllocationError(
                f"failed to allocate IP {specific}: provided IP is already allocated",
                AllocationError.ALLOCATED,
            )
        self._range.take(offset)
        return self._ip(offset)

    def release(self, ip: str) -> bool:
        """Free ``ip``; False (and nothing changes) if it was not allocated
        or is not in the range, as Kubernetes' Release ignores those."""
        offset = self._offset(ipaddress.ip_address(ip))
        return offset is not None and self._range.give_back(offset)

    def is_allocated(self, ip: str) -> bool:
        offset = self._offset(ipaddress.ip_address(ip))
        return offset is not None and offset in self._range.allocated

    def free_count(self) -> int:
        """Usable addresses not allocated, the reserved one included while it
        is free (Kubernetes' ``Free()``)."""
        return self._range.size - len(self._range.allocated)

    def used_count(self) -> int:
        return len(self._range.allocated)

    def to_dict(self) -> dict[str, Any]:
        """The state to persist: the range and the allocated addresses, sorted."""
        return {
            "range": self.cidr,
            "allocated": [self._ip(o) for o in sorted(self._range.allocated)],
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, rng: random.Random | None = None
    ) -> ClusterIPAllocator:
        """The allocator :meth:`to_dict` described. A stored address outside
        the range or listed twice raises :class:`AllocationError`: the stored
        state is corrupt or belongs to another range."""
        return cls(data["range"], rng=rng, allocated=data["allocated"])

    def _offset(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> int | None:
        if address.version != 4 or address not in self._network:
            return None
        offset = int(address) - self._base
        return offset if 0 <= offset < self._range.size else None

    def _ip(self, offset: int) -> str:
        return str(ipaddress.IPv4Address(self._base + offset))


class PortAllocator:
    """NodePorts out of an inclusive port range (Kubernetes' default 30000-32767)."""

    def __init__(
        self,
        lo: int = 30000,
        hi: int = 32767,
        *,
        rng: random.Random | None = None,
        allocated: Iterable[int] = (),
    ) -> None:
        """``lo``..``hi`` inclusive, ``rng`` the source of choices (default:
        seeded with 0), ``allocated`` the ports already in use."""
        if not 1 <= lo <= hi <= 65535:
            raise ValueError(f"invalid port range {lo}-{hi}")
        self.lo = lo
        self.hi = hi
        size = hi - lo + 1
        static = _static_band_size(size, lo=16, hi=128, step=32)
        self._range = _OffsetRange(size, static, frozenset(), rng or random.Random(0))
        for port in allocated:
            self.allocate(port)

    @property
    def port_range(self) -> str:
        """``30000-32767``, as Kubernetes prints a port range."""
        return f"{self.lo}-{self.hi}"

    def allocate(self, specific: int | None = None) -> int:
        """Allocate ``specific``, or a random free port if None; return it.
        Raises :class:`AllocationError` with Kubernetes' message otherwise."""
        if specific is None:
            offset = self._range.next_free()
            if offset is None:
                raise AllocationError("range is full", AllocationError.FULL)
            self._range.take(offset)
            return self.lo + offset
        if not self.lo <= specific <= self.hi:
            raise AllocationError(
                "provided port is not in the valid range. "
                f"The range of valid ports is {self.port_range}",
                AllocationError.NOT_IN_RANGE,
            )
        offset = specific - self.lo
        if offset in self._range.allocated:
            raise AllocationError(
                "provided port is already allocated", AllocationError.ALLOCATED
            )
        self._range.take(offset)
        return specific

    def release(self, port: int) -> bool:
        """Free ``port``; False if it was not allocated or not in the range."""
        return self.lo <= port <= self.hi and self._range.give_back(port - self.lo)

    def is_allocated(self, port: int) -> bool:
        return self.lo <= port <= self.hi and (port - self.lo) in self._range.allocated

    def free_count(self) -> int:
        return self._range.size - len(self._range.allocated)

    def used_count(self) -> int:
        return len(self._range.allocated)

    def to_dict(self) -> dict[str, Any]:
        """The state to persist: the range and the allocated ports, sorted."""
        return {
            "range": self.port_range,
            "allocated": [self.lo + o for o in sorted(self._range.allocated)],
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, rng: random.Random | None = None
    ) -> PortAllocator:
        """The allocator :meth:`to_dict` described (corrupt state raises, as
        for :meth:`ClusterIPAllocator.from_dict`)."""
        lo_text, sep, hi_text = str(data["range"]).partition("-")
        if not sep:
            raise ValueError(f"invalid port range {data['range']!r}")
        return cls(int(lo_text), int(hi_text), rng=rng, allocated=data["allocated"])
