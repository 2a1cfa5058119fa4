"""Events: a repeat is counted on the earlier Event (client-go's EventLogger), not written again."""

from __future__ import annotations

import asyncio

from actors import events
from actors.apiserver.status import ApiError

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "demo", "uid": "u1"}}


def backoff(suffix: str, wall: float, message: str = "Back-off restarting failed container app") -> dict:
    return events.event_for(POD, "Warning", "BackOff", message, component="kubelet", suffix=suffix, wall=wall)


class Log:
    def debug(self, *args, **kw) -> None:
        pass


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.stored: dict[str, dict] = {}

    async def create(self, obj: dict) -> dict:
        self.calls.append(("create", obj["metadata"]["name"], obj["count"]))
        self.stored[obj["metadata"]["name"]] = obj
        return obj

    async def patch(self, resource: str, name: str, patch: dict, namespace: str, *, patch_type: str) -> dict:
        self.calls.append(("patch", name, patch["count"]))
        if name not in self.stored:
            raise ApiError(404, "NotFound", f'events "{name}" not found')
        self.stored[name].update(patch)
        return self.stored[name]


def test_the_same_event_again_is_a_count_on_the_first_one():
    c = events.EventCorrelator()
    first = backoff("a", 100.0)
    assert c.observe(first) is None
    again = backoff("b", 130.0)
    assert c.observe(again) == {"count": 2, "lastTimestamp": again["lastTimestamp"]}
    assert again["metadata"] == {"namespace": "demo", "name": "web-0.a"}
    assert again["firstTimestamp"] == first["firstTimestamp"]
    assert c.observe(backoff("c", 160.0))["count"] == 3
    # Another message (or reason, type, object) is another event.
    assert c.observe(backoff("d", 170.0, message="Back-off pulling image")) is None


def test_the_cache_forgets_the_least_recently_used():
    c = events.EventCorrelator(max_entries=2)
    for i in range(3):
        c.observe(backoff(str(i), 100.0, message=f"m{i}"))
    assert c.observe(backoff("x", 101.0, message="m0")) is None, "m0 was the oldest: forgotten"
    assert c.observe(backoff("y", 102.0, message="m2")) is not None


def test_emit_patches_repeats_and_starts_over_when_the_first_is_gone():
    api, c = FakeApi(), events.EventCorrelator()
    for i, wall in enumerate((100.0, 110.0, 120.0)):
        asyncio.run(events.emit(api, backoff(str(i), wall), c, Log()))
    assert api.calls == [("create", "web-0.0", 1), ("patch", "web-0.0", 2), ("patch", "web-0.0", 3)]
    assert api.stored["web-0.0"]["count"] == 3
    del api.stored["web-0.0"]  # expired (events live an hour) or deleted
    asyncio.run(events.emit(api, backoff("3", 130.0), c, Log()))
    assert api.calls[-2:] == [("patch", "web-0.0", 4), ("create", "web-0.0.4", 1)]
    asyncio.run(events.emit(api, backoff("4", 140.0), c, Log()))
    assert api.calls[-1] == ("patch", "web-0.0.4", 2)
