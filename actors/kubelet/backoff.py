"""Restart and image-pull backoff, as the kubelet keeps them.

The kubelet holds two ``flowcontrol.Backoff`` tables
(``k8s.io/client-go/util/flowcontrol/backoff.go``), both created in
``pkg/kubelet/kubelet.go`` as ``NewBackOff(backOffPeriod=10s,
MaxContainerBackOff=300s)`` with no jitter:

- the *container* backoff, consulted by ``doBackOff`` in
  ``pkg/kubelet/kuberuntime/kuberuntime_manager.go`` before every container
  start (CrashLoopBackOff);
- the *image* backoff, consulted by ``EnsureImageExists`` in
  ``pkg/kubelet/images/image_manager.go`` before every pull (ImagePullBackOff).

How the numbers come out of that table, for a container that keeps crashing:
the first restart is immediate (no entry yet: ``Next`` creates one at 10 s);
each later restart waits the current delay, measured from the moment the
previous attempt *finished*, then doubles it: 10, 20, 40, 80, 160, 300, 300...
The table forgets the past when an attempt finishes more than ``2 × max``
(600 s, "ran for 10 minutes") after the restart that started it
(``hasExpired``), and ``GC`` drops entries not touched for ``2 × max``.

Pure: every time (``now``, ``event_s``) is passed in, in one clock (the
cluster's wall seconds, like the CRI's ``finished_at``). Nothing here reads a
clock or sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: pkg/kubelet/kubelet.go ``backOffPeriod``: the first delay.
INITIAL_S = 10.0
#: pkg/kubelet/kubelet.go ``MaxContainerBackOff``: the cap (and half the reset window).
MAX_S = 300.0

#: The waiting reasons these tables produce (``kubecontainer.ErrCrashLoopBackOff``, ``images.ErrImagePullBackOff``).
CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
ERR_IMAGE_PULL = "ErrImagePull"


@dataclass(slots=True)
class _Entry:
    backoff_s: float
    last_update_s: float


class Backoff:
    """``flowcontrol.Backoff`` without jitter: a per-key delay that doubles up to a cap.

    Method for method the Go type: :meth:`get`, :meth:`next`, :meth:`reset`,
    :meth:`in_backoff_since`, :meth:`in_backoff_since_update`, :meth:`gc`,
    :meth:`delete`. Keys are opaque strings (see :func:`container_key` and
    :func:`image_key`).
    """

    __slots__ = ("initial_s", "max_s", "_entries")

    def __init__(self, initial_s: float = INITIAL_S, max_s: float = MAX_S) -> None:
        assert 0 < initial_s <= max_s, (initial_s, max_s)
        self.initial_s = initial_s
        self.max_s = max_s
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        # A table, not a value: an empty one must not read as "no backoff given" (``backoff or Backoff()``).
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> float:
        """The current delay for ``key``; 0 when it has none."""
        entry = self._entries.get(key)
        return entry.backoff_s if entry else 0.0

    def next(self, key: str, event_s: float, now: float) -> None:
        """Move ``key`` to its next delay: start at ``initial_s`` (no entry, or the
        entry expired by ``event_s``), else double, capped at ``max_s``."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_s, entry):
            entry = self._entries[key] = _Entry(self.initial_s, now)
        else:
            entry.backoff_s = min(entry.backoff_s * 2, self.max_s)
        entry.last_update_s = now

    def reset(self, key: str) -> None:
        """Forget ``key`` (``Reset``)."""
        self._entries.pop(key, None)

    delete = reset  # DeleteEntry: the same thing under its other Go name

    def in_backoff_since(self, key: str, event_s: float, now: float) -> bool:
        """Whether less than the current delay has passed since ``event_s``
        (``IsInBackOffSince``: the container backoff, ``event_s`` = the last exit)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_s, entry):
            return False
        return now - event_s < entry.backoff_s

    def in_backoff_since_update(self, key: str, event_s: float) -> bool:
        """Whether less than the current delay has passed between the last
        :meth:`next` and ``event_s`` (``IsInBackOffSinceUpdate``: the image backoff,
        ``event_s`` = now)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_s, entry):
            return False
        return event_s - entry.last_update_s < entry.backoff_s

    def last_update_s(self, key: str) -> float | None:
        """When :meth:`next` last touched ``key`` (for a caller's retry timer)."""
        entry = self._entries.get(key)
        return entry.last_update_s if entry else None

    def gc(self, now: float) -> None:
        """Drop entries not updated for ``2 × max_s`` (``GC``; the kubelet calls it
        from housekeeping and after every successful pull)."""
        stale = [k for k, e in self._entries.items() if now - e.last_update_s > self.max_s * 2]
        for key in stale:
            del self._entries[key]

    def _expired(self, event_s: float, entry: _Entry) -> bool:
        # hasExpired: "consider stable if it's ok for twice the maxDuration".
        return event_s - entry.last_update_s > self.max_s * 2


# --- keys ------------------------------------------------------------------------------------------


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def container_hash(container: Mapping[str, Any]) -> int:
    """``kubecontainer.HashContainer``: FNV-32a over the fields a pod update may
    change (``pickFieldsToHash``: name and image). The kubelet stores it on the
    container it creates; a different hash later means "spec changed"."""
    # json.Marshal of a map[string]string: keys sorted, no spaces.
    name = str(container.get("name", ""))
    image = str(container.get("image", ""))
    text = json.dumps({"image": image, "name": name}, separators=(",", ":"), ensure_ascii=False)
    return _fnv32a(text.encode())


def container_key(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """``GetStableKey``: ``name_namespace_uid_container_hash``. One entry per
    (pod uid, container name); a new image starts a new entry, as in Kubernetes."""
    meta = pod.get("metadata") or {}
    return (f"{meta.get('name', '')}_{meta.get('namespace', '')}_{meta.get('uid', '')}"
            f"_{container.get('name', '')}_{container_hash(container):x}")


def image_key(pod_uid: str, image: str) -> str:
    """The image backoff's key: ``<pod uid>_<image>`` (image_manager.go)."""
    return f"{pod_uid}_{image}"


def format_pod(pod: Mapping[str, Any]) -> str:
    """``format.Pod``: ``name_namespace(uid)``, how the kubelet names a pod in messages."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` prints it: ``10s``, ``1m20s``, ``5m0s``, ``1.5s``."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        return f"{sign}{_trim(ms)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = sign
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    return f"{out}{_trim(secs)}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


# --- the two uses -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffDecision:
    """What ``doBackOff`` answered for one container start."""

    in_backoff: bool
    message: str = ""
    """``back-off 20s restarting failed container=web pod=web-1_default(uid)`` while in backoff."""
    retry_at_s: float = 0.0
    """When the backoff ends (the last exit plus the current delay); 0 when not in backoff."""


def do_backoff(backoff: Backoff, pod: Mapping[str, Any], container: Mapping[str, Any],
               last_exit_s: float | None, now: float) -> BackoffDecision:
    """``doBackOff``: may this container be (re)started now?

    ``last_exit_s`` is when its newest exited instance finished (None: it never
    exited, so there is nothing to back off from). Not in backoff → the table
    is advanced (``Next``), exactly as the kubelet does just before it starts
    the container; so call this once per start attempt.
    """
    if last_exit_s is None:
        return BackoffDecision(False)
    key = container_key(pod, container)
    if backoff.in_backoff_since(key, last_exit_s, now):
        delay_s = backoff.get(key)
        message = (f"back-off {go_duration(delay_s)} restarting failed container={container.get('name', '')} "
                   f"pod={format_pod(pod)}")
        return BackoffDecision(True, message, last_exit_s + delay_s)
    backoff.next(key, last_exit_s, now)
    return BackoffDecision(False)


def image_pull_backoff_message(image: str) -> str:
    """The ImagePullBackOff waiting message (and BackOff event): ``Back-off pulling image "x"``."""
    return f'Back-off pulling image "{image}"'


class ImagePullBackoff:
    """The image half of ``EnsureImageExists``: may this pod pull this image now?

    Sequence for an image that does not exist: pull → fails → :meth:`failed`
    (waiting reason ErrImagePull) → :meth:`check` says back off for 10 s
    (ImagePullBackOff) → pull again → fails → 20 s ... A successful pull calls
    :meth:`succeeded`, which GCs the table as the kubelet does.
    """

    __slots__ = ("backoff",)

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff if backoff is not None else Backoff()

    def check(self, pod_uid: str, image: str, now: float) -> str | None:
        """The ImagePullBackOff message while the pull must wait, else None (go ahead and pull)."""
        if self.backoff.in_backoff_since_update(image_key(pod_uid, image), now):
            return image_pull_backoff_message(image)
        return None

    def retry_at_s(self, pod_uid: str, image: str) -> float | None:
        """When the current backoff for this pull ends (None: no entry)."""
        key = image_key(pod_uid, image)
        last = self.backoff.last_update_s(key)
        return None if last is None else last + self.backoff.get(key)

    def failed(self, pod_uid: str, image: str, now: float) -> None:
        """A pull failed: lengthen the wait before the next one."""
        self.backoff.next(image_key(pod_uid, image), now, now)

    def succeeded(self, now: float) -> None:
        self.backoff.gc(now)
