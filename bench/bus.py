"""How fast is the kubesim bus, compared with the ZeroMQ relay it is built on?

Every message between kubesim components crosses the broker, so the bus's
per-message cost bounds how big and how fast a simulated cluster can be. This
bench puts a number on that cost by running the same traffic two ways, and
times a request/reply:

(a) raw      a bare pyzmq relay: a ROUTER process swaps frames between a
             sender DEALER and a receiver DEALER (``ROUTER_MANDATORY``,
             blocking sends, HWM 100 000). Nothing is decoded: this is what
             the same pyzmq calls cost without the bus around them.
(b) kubesim  a broker ``Runtime(broker=True)``, a sender actor and a receiver
             actor, each in its own process; the sender sends one-way
             ``demo.Ping`` with a 100-byte payload. The broker drops what a
             full pipe cannot take, so the sender paces itself with
             end-to-end credit (``bench.Credit``, see ``Sender``). The
             runtime coalesces the messages a turn of its loop sends to one
             destination into one frame (``bus.Batch``), as the cluster does;
             the same traffic is run again with ``max_batch=1`` (one message
             per frame) to show what a message costs when it travels alone.
(c) rtt      one actor awaiting ``request(Ping) -> Pong`` from ``demo.Ponger``
             through the broker, one at a time, after a warm-up; and, for
             scale, the same through the raw relay (a DEALER that echoes).

Each role runs in its own process, all on 127.0.0.1 with ports picked by the
OS, so both paths pay for three processes and their ZeroMQ I/O threads on the
same cores. Throughput is counted at the receiver, from the first message to
the last: ``(messages - 1) / (t_last - t_first)``.

Reading the output: one line per round, then the summary. ``ratio`` is
kubesim / raw msgs/s with the cluster's default batching; the target is >= 0.8.
``unbatched_ratio`` is the same with every message in its own frames: there
the runtime's codec, dispatch and metrics, and its envelope per hop,
are paid per message.
The last line is one JSON object for scripts. A kubesim round that lost
messages (``dropped`` at the broker) never completes and fails at --timeout.

    .venv/bin/python bench/bus.py [--messages 200000] [--rounds 3] [--round-trips 5000]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path, and this
# file (bench/bus.py) would shadow the ``bus`` package. Drop that entry.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

import zmq  # noqa: E402

from actors.demo import Ponger  # noqa: E402
from actors.messages import Ping  # noqa: E402
from bus import logs  # noqa: E402
from bus.clock import RealClock  # noqa: E402
from bus.messages import message  # noqa: E402
from bus.runtime import Actor, Envelope, Runtime, handles  # noqa: E402
from bus.settings import BusSettings  # noqa: E402

HOST = "127.0.0.1"
HWM = 100_000
PAYLOAD = bytes(100)
#: How often a blocked raw socket call wakes up to look at its deadline.
POLL_MS = 100

SENDER, RECEIVER = "bench-sender", "bench-receiver"
REQUESTER, PONGER = "bench-requester", "bench-ponger"


@message("bench.Credit")
class Credit:
    """Receiver -> sender: how many Pings have arrived so far (a running total)."""

    received: int


class BenchFailed(RuntimeError):
    """A role reported an error, died, or missed its deadline."""


# --- Process plumbing ----------------------------------------------------------------


def role(fn):
    """Run ``fn(conn, ...)`` in a child; report an exception to the parent instead of dying silently."""

    def entry(conn: Connection, *args) -> None:
        try:
            fn(conn, *args)
        except BaseException:
            conn.send(("error", f"{fn.__name__}: {traceback.format_exc()}"))
            raise

    entry.__name__ = entry.__qualname__ = fn.__name__
    return entry


class Roles:
    """The processes of one measurement; all are stopped and reaped when the block ends."""

    def __init__(self, ctx: mp.context.BaseContext, timeout_s: float) -> None:
        self.ctx = ctx
        self.deadline = time.monotonic() + timeout_s
        """Absolute ``time.monotonic()`` deadline, shared with every child (same clock on Linux)."""
        self.stop = ctx.Event()
        self.procs: list[mp.process.BaseProcess] = []

    def start(self, target, *args) -> Connection:
        """Start ``target(conn, *args)``; returns the end of the pipe the child reports on."""
        parent_end, child_end = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=target, args=(child_end, *args), name=target.__name__, daemon=True)
        proc.start()
        child_end.close()
        self.procs.append(proc)
        return parent_end

    def expect(self, conn: Connection, tag: str):
        """The next report from ``conn``, which must be ``tag``; waits until the deadline at most."""
        left = self.deadline - time.monotonic()
        if left <= 0 or not conn.poll(left):
            raise BenchFailed(f"deadline passed waiting for {tag!r}")
        try:
            got, value = conn.recv()
        except EOFError:
            raise BenchFailed(f"a role died before reporting {tag!r}") from None
        if got == "error":
            raise BenchFailed(value)
        if got != tag:
            raise BenchFailed(f"expected {tag!r}, got {got!r}")
        return value

    def __enter__(self) -> Roles:
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=5)
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join()


def rate(count: int, seconds: float) -> float:
    """Messages per second between the first and the last arrival."""
    return (count - 1) / seconds if seconds > 0 else math.inf


# --- (a) The raw relay -----------------------------------------------------------------
# It moves frames with recv_multipart/send_multipart, the pyzmq calls the bus itself
# uses, so the ratio shows what the bus adds on top of them (envelopes, the codec,
# routing, dispatch), not a difference in how pyzmq is driven.


def raw_socket(ctx: zmq.Context, kind: int, routing_id: bytes | None = None) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, POLL_MS)
    sock.setsockopt(zmq.SNDTIMEO, POLL_MS)
    if routing_id is not None:
        sock.setsockopt(zmq.ROUTING_ID, routing_id)
    return sock


@role
def raw_broker(conn: Connection, stop, deadline: float) -> None:
    """[src, dst, payload] in, [dst, src, payload] out. A send blocks while dst's pipe is full."""
    ctx = zmq.Context()
    sock = raw_socket(ctx, zmq.ROUTER)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    conn.send(("port", sock.bind_to_random_port(f"tcp://{HOST}")))
    recv, send = sock.recv_multipart, sock.send_multipart
    while True:
        try:
            src, dst, payload = recv()
        except zmq.Again:  # idle: the only moment the loop looks at the clock
            if stop.is_set() or time.monotonic() > deadline:
                break
            continue
        while True:
            try:
                send((dst, src, payload))
                break
            except zmq.Again:  # dst's pipe stayed full for POLL_MS; keep waiting, within the deadline
                if time.monotonic() > deadline:
                    raise TimeoutError("raw broker: receiver stopped reading") from None
    sock.close()
    ctx.term()


def raw_connect(port: int, routing_id: bytes) -> tuple[zmq.Context, zmq.Socket]:
    """A DEALER the broker knows by ``routing_id``, once the broker has answered a hello."""
    ctx = zmq.Context()
    sock = raw_socket(ctx, zmq.DEALER, routing_id)
    sock.connect(f"tcp://{HOST}:{port}")
    sock.send_multipart((routing_id, b"hello"))  # to itself: proves the route works end to end
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    sock.recv_multipart()
    sock.setsockopt(zmq.RCVTIMEO, POLL_MS)
    return ctx, sock


@role
def raw_receiver(conn: Connection, port: int, n: int, deadline: float) -> None:
    ctx, sock = raw_connect(port, RECEIVER.encode())
    conn.send(("ready", None))
    recv, count, first = sock.recv_multipart, 0, 0.0
    while count < n:
        try:
            recv()
        except zmq.Again:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw receiver: {count} of {n} messages before the deadline") from None
            continue
        count += 1
        if count == 1:
            first = time.perf_counter()
    conn.send(("done", (count, time.perf_counter() - first)))
    sock.close()
    ctx.term()


@role
def raw_sender(conn: Connection, port: int, n: int, deadline: float) -> None:
    ctx, sock = raw_connect(port, SENDER.encode())
    send, frames = sock.send_multipart, (RECEIVER.encode(), PAYLOAD)
    for _ in range(n):
        while True:
            try:
                send(frames)
                break
            except zmq.Again:  # backpressure from the broker; keep waiting, within the deadline
                if time.monotonic() > deadline:
                    raise TimeoutError("raw sender: broker stopped reading") from None
    conn.send(("sent", n))
    sock.setsockopt(zmq.LINGER, 10_000)  # let queued messages leave before the socket closes
    sock.close()
    ctx.term()


@role
def raw_echo(conn: Connection, port: int, stop, deadline: float) -> None:
    """Answers every [src, payload] with [src, payload]: the raw peer of ``demo.Ponger``."""
    ctx, sock = raw_connect(port, PONGER.encode())
    conn.send(("ready", None))
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            src, payload = sock.recv_multipart()
        except zmq.Again:
            continue
        sock.send_multipart((src, payload))
    sock.close()
    ctx.term()


@role
def raw_requester(conn: Connection, port: int, warmup: int, count: int, deadline: float) -> None:
    ctx, sock = raw_connect(port, REQUESTER.encode())
    perf, samples = time.perf_counter, []
    frames = (PONGER.encode(), PAYLOAD)
    for i in range(warmup + count):
        started = perf()
        sock.send_multipart(frames)
        while True:
            try:
                sock.recv_multipart()
                break
            except zmq.Again:
                if time.monotonic() > deadline:
                    raise TimeoutError("raw requester: no echo before the deadline") from None
        if i >= warmup:
            samples.append(perf() - started)
    conn.send(("rtt", samples))
    sock.close()
    ctx.term()


def measure_raw_rtt(ctx, warmup: int, count: int, timeout_s: float) -> tuple[float, float]:
    """p50 and p99 of request/reply through the raw relay, in microseconds."""
    with Roles(ctx, timeout_s) as roles:
        broker = roles.start(raw_broker, roles.stop, roles.deadline)
        port = roles.expect(broker, "port")
        echo = roles.start(raw_echo, port, roles.stop, roles.deadline)
        roles.expect(echo, "ready")
        requester = roles.start(raw_requester, port, warmup, count, roles.deadline)
        samples = sorted(roles.expect(requester, "rtt"))
    return percentile(samples, 50) * 1e6, percentile(samples, 99) * 1e6


def measure_raw(ctx, n: int, timeout_s: float) -> float:
    with Roles(ctx, timeout_s) as roles:
        broker = roles.start(raw_broker, roles.stop, roles.deadline)
        port = roles.expect(broker, "port")
        receiver = roles.start(raw_receiver, port, n, roles.deadline)
        roles.expect(receiver, "ready")
        sender = roles.start(raw_sender, port, n, roles.deadline)
        count, seconds = roles.expect(receiver, "done")
        roles.expect(sender, "sent")
    return rate(count, seconds)


# --- (b), (c) kubesim --------------------------------------------------------------------


def kubesim_runtime(process: str, port: int, *, broker: bool = False, max_batch: int = BusSettings.max_batch) -> Runtime:
    logs.configure(process, level="warning")
    return Runtime(process, BusSettings(broker_port=port, max_batch=max_batch), RealClock(), broker=broker)


def when_registered(rt: Runtime, fn) -> None:
    """Call ``fn()`` once the broker has acknowledged this process (its actors are routable)."""

    def check() -> None:
        if rt.link.registered:
            timer.cancel()
            fn()

    timer = rt.call_every(0.005, check)


def run_until_stopped(rt: Runtime, stop, deadline: float) -> None:
    """Run a started runtime until the parent says stop or the deadline passes; then shut it down."""
    done = False

    def check() -> None:  # on a timer, so the hot loop never touches the Event's lock
        nonlocal done
        done = stop.is_set() or time.monotonic() > deadline

    rt.call_every(0.05, check)
    try:
        while not done:
            rt.run_once(0.05)
    finally:
        rt.shutdown()


@role
def kubesim_broker(conn: Connection, stop, deadline: float) -> None:
    rt = kubesim_runtime("bench-broker", 0, broker=True)
    rt.start()
    conn.send(("port", rt.link.port))
    run_until_stopped(rt, stop, deadline)
    m = rt.metrics
    # Only a full pipe loses a Ping; credits bounced as the roles shut down are not drops.
    conn.send(("metrics", {"relayed": m.relayed, "dropped": m.undeliverable.get("overloaded", 0)}))


class Receiver(Actor):
    """Counts Pings, times the first and the last, and hands credit back every ``credit_every``."""

    def __init__(self, conn: Connection, n: int, credit_every: int) -> None:
        super().__init__(RECEIVER)
        self.conn = conn
        self.n = n
        self.credit_every = credit_every
        self.count = 0
        self.first = 0.0

    def on_start(self) -> None:
        when_registered(self.runtime, lambda: self.conn.send(("ready", None)))

    @handles(Ping)
    def on_ping(self, msg: Ping, env: Envelope) -> None:
        self.count += 1
        count = self.count
        if count == 1:
            self.first = time.perf_counter()
        if count % self.credit_every == 0:
            self.send(env.sender, Credit(count))
        if count == self.n:
            self.conn.send(("done", (count, time.perf_counter() - self.first)))


class Sender(Actor):
    """Sends ``n`` one-way Pings in bursts, never more than ``window`` beyond the receiver's credit.

    The broker drops a message whose receiver's pipe is full, so the window
    (kept under the pipes' HWM) is what keeps every message alive. Each
    burst is one ``call_soon`` callback, so the runtime's loop drains the
    socket (and the credits) between bursts. The link's outbox is watched
    too: past ``outbox_limit`` the runtime would drop.
    """

    def __init__(self, conn: Connection, n: int, window: int, burst: int) -> None:
        super().__init__(SENDER)
        self.conn = conn
        self.n = n
        self.window = window
        self.burst = burst
        self.sent = 0
        self.credited = 0
        self.scheduled = False
        self.max_outbox = 0

    def on_start(self) -> None:
        when_registered(self.runtime, self.schedule)

    def schedule(self) -> None:
        if not self.scheduled and self.sent < self.n:
            self.scheduled = True
            self.runtime.call_soon(self.pump)

    def pump(self) -> None:
        self.scheduled = False
        outbox = len(self.runtime.link.outbox)
        self.max_outbox = max(self.max_outbox, outbox)
        room = max(0, min(self.burst, self.n - self.sent, self.window - (self.sent - self.credited),
                          self.runtime.settings.outbox_limit - outbox))
        send = self.send
        for seq in range(self.sent, self.sent + room):
            send(RECEIVER, Ping(seq, PAYLOAD))
        self.sent += room
        if self.sent == self.n:
            self.conn.send(("sent", {"sent": self.sent, "max_outbox": self.max_outbox,
                                     "outbox_dropped": sum(self.runtime.metrics.dropped_outbound.values())}))
        elif room > 0:
            self.schedule()
        elif outbox:
            self.call_later(0.001, self.schedule)  # the outbox must drain first
        # else: the window is closed; the next Credit reopens it

    @handles(Credit)
    def on_credit(self, msg: Credit, env: Envelope) -> None:
        self.credited = max(self.credited, msg.received)
        self.schedule()


@role
def kubesim_receiver(conn: Connection, port: int, n: int, credit_every: int, stop, deadline: float) -> None:
    rt = kubesim_runtime("bench-rx", port)
    rt.add(Receiver(conn, n, credit_every))
    rt.start()
    run_until_stopped(rt, stop, deadline)


@role
def kubesim_sender(conn: Connection, port: int, n: int, window: int, burst: int, max_batch: int, stop,
                   deadline: float) -> None:
    rt = kubesim_runtime("bench-tx", port, max_batch=max_batch)
    rt.add(Sender(conn, n, window, burst))
    rt.start()
    run_until_stopped(rt, stop, deadline)


def measure_kubesim(ctx, n: int, window: int, burst: int, credit_every: int, timeout_s: float,
                    max_batch: int = BusSettings.max_batch) -> tuple[float, dict]:
    with Roles(ctx, timeout_s) as roles:
        broker = roles.start(kubesim_broker, roles.stop, roles.deadline)
        port = roles.expect(broker, "port")
        receiver = roles.start(kubesim_receiver, port, n, credit_every, roles.stop, roles.deadline)
        roles.expect(receiver, "ready")
        sender = roles.start(kubesim_sender, port, n, window, burst, max_batch, roles.stop, roles.deadline)
        count, seconds = roles.expect(receiver, "done")
        stats = roles.expect(sender, "sent")
        roles.stop.set()
        stats.update(roles.expect(broker, "metrics"))
    return rate(count, seconds), stats


class Requester(Actor):
    """Awaits one Ping -> Pong after another and reports every round trip after the warm-up."""

    def __init__(self, conn: Connection, warmup: int, count: int) -> None:
        super().__init__(REQUESTER)
        self.conn = conn
        self.warmup = warmup
        self.count = count

    def on_start(self) -> None:
        when_registered(self.runtime, lambda: self.spawn(self.measure()))

    async def measure(self) -> None:
        perf = time.perf_counter
        samples = []
        try:
            for seq in range(self.warmup + self.count):
                started = perf()
                await self.request(PONGER, Ping(seq))
                if seq >= self.warmup:
                    samples.append(perf() - started)
        except Exception as exc:
            self.conn.send(("error", f"requester: {type(exc).__name__}: {exc}"))
            return
        self.conn.send(("rtt", samples))


@role
def kubesim_ponger(conn: Connection, port: int, stop, deadline: float) -> None:
    rt = kubesim_runtime("bench-pong", port)
    rt.add(Ponger(PONGER))
    rt.start()
    when_registered(rt, lambda: conn.send(("ready", None)))
    run_until_stopped(rt, stop, deadline)


@role
def kubesim_requester(conn: Connection, port: int, warmup: int, count: int, stop, deadline: float) -> None:
    rt = kubesim_runtime("bench-req", port)
    rt.add(Requester(conn, warmup, count))
    rt.start()
    run_until_stopped(rt, stop, deadline)


def measure_rtt(ctx, warmup: int, count: int, timeout_s: float) -> tuple[float, float]:
    """p50 and p99 (nearest rank) of the round trips, in microseconds."""
    with Roles(ctx, timeout_s) as roles:
        broker = roles.start(kubesim_broker, roles.stop, roles.deadline)
        port = roles.expect(broker, "port")
        ponger = roles.start(kubesim_ponger, port, roles.stop, roles.deadline)
        roles.expect(ponger, "ready")
        requester = roles.start(kubesim_requester, port, warmup, count, roles.stop, roles.deadline)
        samples = sorted(roles.expect(requester, "rtt"))
    return percentile(samples, 50) * 1e6, percentile(samples, 99) * 1e6


def percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000, help="messages per throughput run (default 200000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of raw, kubesim and rtt (default 3)")
    ap.add_argument("--round-trips", type=int, default=5000, help="timed request/replies per round (default 5000)")
    ap.add_argument("--warmup", type=int, default=500, help="untimed request/replies first (default 500)")
    ap.add_argument("--window", type=int, default=30_000, help="kubesim Pings in flight beyond credit (default 30000)")
    ap.add_argument("--burst", type=int, default=1000, help="kubesim Pings sent per loop turn (default 1000)")
    ap.add_argument("--credit-every", type=int, default=1000, help="receiver credits every N Pings (default 1000)")
    ap.add_argument("--timeout", type=float, default=120.0, help="deadline of each measurement, s (default 120)")
    args = ap.parse_args(argv)
    if args.messages < 2 or args.rounds < 1 or args.round_trips < 1:
        ap.error("need --messages >= 2, --rounds >= 1, --round-trips >= 1")
    if not args.credit_every <= args.window < HWM:
        ap.error(f"need --credit-every <= --window < {HWM} (the pipes' HWM), or the broker drops")

    try:
        result = run(args)
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def run(args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")  # every role starts from a clean interpreter
    raw, kub, single, p50s, p99s, raw_rtts = [], [], [], [], [], []
    for r in range(1, args.rounds + 1):
        raw.append(measure_raw(ctx, args.messages, args.timeout))
        rate_k, stats = measure_kubesim(ctx, args.messages, args.window, args.burst, args.credit_every, args.timeout)
        kub.append(rate_k)
        rate_1, _ = measure_kubesim(ctx, args.messages, args.window, args.burst, args.credit_every, args.timeout,
                                    max_batch=1)
        single.append(rate_1)
        p50, p99 = measure_rtt(ctx, args.warmup, args.round_trips, args.timeout)
        raw_rtts.append(measure_raw_rtt(ctx, args.warmup, args.round_trips, args.timeout))
        p50s.append(p50)
        p99s.append(p99)
        print(f"round {r}: raw {raw[-1]:>9,.0f} msg/s   kubesim {rate_k:>9,.0f} msg/s "
              f"(relayed {stats['relayed']:,} frames, dropped {stats['dropped']}, max outbox {stats['max_outbox']})   "
              f"unbatched {rate_1:>9,.0f} msg/s   "
              f"rtt p50 {p50:.0f} us p99 {p99:.0f} us (raw {raw_rtts[-1][0]:.0f} / {raw_rtts[-1][1]:.0f})",
              flush=True)

    # Best of the rounds: on a shared machine, noise only ever makes a run slower,
    # so the fastest throughput and the lowest latency are the closest to the truth.
    best_raw, best_kub = max(raw), max(kub)
    best = min(range(args.rounds), key=p50s.__getitem__)  # p99 is taken from the same round as p50
    result = {
        "raw_msgs_per_s": round(best_raw),
        "kubesim_msgs_per_s": round(best_kub),
        "ratio": round(best_kub / best_raw, 3),
        "kubesim_unbatched_msgs_per_s": round(max(single)),
        "unbatched_ratio": round(max(single) / best_raw, 3),
        "rtt_p50_us": round(p50s[best], 1),
        "rtt_p99_us": round(p99s[best], 1),
        "raw_rtt_p50_us": round(min(raw_rtts)[0], 1),
        "raw_rtt_p99_us": round(min(raw_rtts)[1], 1),
        "messages": args.messages,
    }
    print(f"raw relay:      {best_raw:>9,.0f} msgs/s  (best of {args.rounds}; median {statistics.median(raw):,.0f})")
    print(f"kubesim bus:    {best_kub:>9,.0f} msgs/s  (best of {args.rounds}; median {statistics.median(kub):,.0f})")
    print(f"  unbatched:    {max(single):>9,.0f} msgs/s  (max_batch=1: one message per frame; "
          f"ratio {result['unbatched_ratio']:.3f})")
    print(f"ratio b/a:      {result['ratio']:.3f}  (target >= 0.8)")
    print(f"rtt p50/p99:    {result['rtt_p50_us']:.0f} / {result['rtt_p99_us']:.0f} us "
          f"({args.round_trips} sequential request/replies, round with the lowest p50; "
          f"raw relay {result['raw_rtt_p50_us']:.0f} / {result['raw_rtt_p99_us']:.0f} us)")
    return result


if __name__ == "__main__":
    sys.exit(main())
