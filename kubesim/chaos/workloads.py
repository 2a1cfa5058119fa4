"""The load an experiment puts on the cluster while faults happen, every operation recorded.

- :class:`Register`: Jepsen's register test against the store. Per key, a few
  clients each read, write or compare-and-set one small integer at a time; the
  history must be linearizable. Some operations are ``add``: a put of a key
  never written before, so that at the end every acknowledged add must still
  be there (no acknowledged write lost) and no add that was reported failed
  may be (a "failed" write that happened breaks the client's promise).
- :class:`Churn`: a Deployment scaled and rolled to another image through the
  API server, as a busy team would, so the controllers work through the faults.
- :class:`ServiceRequests`: requests to a Service's ClusterIP through the
  nodes' kube-proxies, as a pod's client sends them.

Each runs as coroutines on the runner's loop; its randomness comes from a
``random.Random`` seeded from the experiment's seed.
"""

from __future__ import annotations

from random import Random
from typing import Any

from actors.apiserver.client import ApiClient, ApiError
from actors.messages import ProxyConnect, ProxyReply
from actors.store.client import Indeterminate, StoreClient, StoreError, StoreUnavailable
from bus.runtime import Actor, RequestFailed, UndeliverableError
from kubesim.chaos.experiment import ChurnWorkload, RegisterWorkload, ServiceWorkload
from kubesim.chaos.history import History, Op

#: Register values are small, so compare-and-set often succeeds and readers see each other's writes.
VALUES = 5


class _Workload:
    name = ""

    def __init__(self, host: Actor, history: History, rng: Random) -> None:
        self.host, self.history, self.rng = host, history, rng
        self.stopping = False
        self.running = 0

    def stop(self) -> None:
        self.stopping = True

    @property
    def idle(self) -> bool:
        return self.running == 0

    def _worker(self, coro) -> None:
        self.running += 1

        async def run():
            try:
                await coro
            finally:
                self.running -= 1

        self.host.spawn(run())


class Register(_Workload):
    name = "register"

    def __init__(self, spec: RegisterWorkload, stores: list[StoreClient], readers: list[StoreClient], host: Actor,
                 history: History, rng: Random, prefix: str) -> None:
        super().__init__(host, history, rng)
        self.spec, self.stores, self.readers, self.prefix = spec, stores, readers, prefix.rstrip("/")
        self.store = stores[0]
        self._adds = 0
        self._fs = list(spec.mix)
        self._weights = [spec.mix[f] for f in self._fs]

    def key(self, k: int) -> bytes:
        return f"{self.prefix}/r/{k}".encode()

    def add_key(self, n: int) -> bytes:
        return f"{self.prefix}/set/{n:08d}".encode()

    @property
    def set_prefix(self) -> bytes:
        return f"{self.prefix}/set/".encode()

    def start(self) -> None:
        clients = iter(self.stores)
        readers = iter(self.readers)
        for k in range(self.spec.keys):
            for _ in range(self.spec.clients):
                store = next(clients)
                self._worker(self._client(k, Random(self.rng.getrandbits(64)), store, next(readers, store)))

    async def _client(self, k: int, rng: Random, store: StoreClient, reader: StoreClient) -> None:
        """One client: its own connection state (which member it believes leads), as Jepsen's clients have;
        its reads through ``reader`` (its own member, with ``read_from: any``)."""
        interval = self.spec.keys * self.spec.clients / self.spec.rate
        process = self.history.new_process()
        while True:
            await self.host.sleep(interval * rng.uniform(0.5, 1.5))
            if self.stopping:
                return
            f = rng.choices(self._fs, self._weights)[0]
            outcome = await self.one(process, f, k, rng, reader if f == "read" else store)
            if outcome == "info":
                process = self.history.new_process()  # the old operation may still be in flight

    async def one(self, process: int, f: str, k: int, rng: Random | None = None,
                  store: StoreClient | None = None) -> str:
        """Run one operation, recorded; returns how it completed."""
        rng, store = rng or self.rng, store or self.store
        key = self.key(k)
        if f == "read":
            op = self.history.invoke(process, "read", None, key=f"r{k}", workload=self.name)
            return await self._do(op, self._read(store, key))
        if f == "write":
            v = rng.randrange(VALUES)
            op = self.history.invoke(process, "write", v, key=f"r{k}", workload=self.name)
            return await self._do(op, self._write(store, key, v))
        if f == "cas":
            expected = rng.choice([None, *range(VALUES)])
            new = rng.randrange(VALUES)
            op = self.history.invoke(process, "cas", [expected, new], key=f"r{k}", workload=self.name)
            return await self._do(op, self._cas(store, key, expected, new))
        self._adds += 1
        n = self._adds
        op = self.history.invoke(process, "add", n, workload=self.name)
        return await self._do(op, self._add(store, n))

    async def _do(self, op: Op, call) -> str:
        try:
            ok, value = await call
        except Indeterminate as exc:
            op.info(f"indeterminate: {exc}")
            return "info"
        except (StoreUnavailable, StoreError) as exc:
            # Certainly not applied (no leader took it, or it was refused): a fail, for a read as for a write.
            op.fail(f"{type(exc).__name__}: {exc}")
            return "fail"
        if ok:
            op.ok(value)
            return "ok"
        op.fail("compare failed")
        return "fail"

    @staticmethod
    async def _read(store: StoreClient, key: bytes) -> tuple[bool, Any]:
        body = await store.get(key)
        kvs = body["kvs"]
        return True, (int(kvs[0].value) if kvs else None)

    @staticmethod
    async def _write(store: StoreClient, key: bytes, v: int) -> tuple[bool, Any]:
        await store.put(key, str(v).encode())
        return True, v

    @staticmethod
    async def _cas(store: StoreClient, key: bytes, expected: int | None, new: int) -> tuple[bool, Any]:
        compare = ({"key": key, "target": "version", "result": "=", "value": 0} if expected is None else
                   {"key": key, "target": "value", "result": "=", "value": str(expected).encode()})
        body = await store.txn([compare], [{"op": "put", "key": key, "value": str(new).encode()}])
        return bool(body.get("succeeded")), [expected, new]

    async def _add(self, store: StoreClient, n: int) -> tuple[bool, Any]:
        await store.put(self.add_key(n), b"1")
        return True, n

    async def read_set(self, store: StoreClient, attempts: int = 10) -> set[int]:
        """Every add that is in the store now (a linearizable range read), asked again while the store is
        unavailable (it may still be electing after the last fault)."""
        for attempt in range(attempts):
            try:
                body = await store.get(self.set_prefix, self.set_prefix[:-1] + b"0")  # '/' + 1 = '0'
            except (StoreUnavailable, Indeterminate):
                if attempt == attempts - 1:
                    raise
                continue
            return {int(kv.key.rsplit(b"/", 1)[1]) for kv in body["kvs"]}
        raise AssertionError("unreachable")


class Churn(_Workload):
    name = "deployment-churn"

    def __init__(self, spec: ChurnWorkload, api: ApiClient, host: Actor, history: History, rng: Random) -> None:
        super().__init__(host, history, rng)
        self.spec, self.api = spec, api

    def start(self) -> None:
        self._worker(self._loop())

    async def _loop(self) -> None:
        process = self.history.new_process()
        s = self.spec
        turn = 0
        while True:
            await self.host.sleep(s.every_s)
            if self.stopping:
                return
            turn += 1
            if turn % 2:
                value: Any = self.rng.randint(*s.replicas)
                f, patch = "scale", {"spec": {"replicas": value}}
            else:
                value = s.images[(turn // 2) % len(s.images)]
                f, patch = "set-image", {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": value}]}}}}
            op = self.history.invoke(process, f, value, key=f"{s.namespace}/{s.deployment}", workload=self.name)
            try:
                await self.api.patch("deployments", s.deployment, patch, s.namespace, patch_type="strategic")
            except ApiError as exc:
                if exc.code == 504:
                    op.info(str(exc))
                    process = self.history.new_process()
                else:
                    op.fail(f"{exc.code} {exc.reason}: {exc}")
                continue
            op.ok(value)


class ServiceRequests(_Workload):
    name = "service"

    def __init__(self, spec: ServiceWorkload, api: ApiClient, host: Actor, history: History, rng: Random,
                 nodes: list[str]) -> None:
        super().__init__(host, history, rng)
        self.spec, self.api, self.nodes = spec, api, nodes
        self.target = ServiceAddress(api, spec.namespace, spec.service, spec.port)

    def start(self) -> None:
        self._worker(self._loop())

    async def _loop(self) -> None:
        process = self.history.new_process()
        n = 0
        while True:
            await self.host.sleep(self.rng.expovariate(self.spec.rate))
            if self.stopping:
                return
            node = self.nodes[n % len(self.nodes)]
            n += 1
            op = self.history.invoke(process, "request", node, key=f"{self.spec.namespace}/{self.spec.service}",
                                     workload=self.name)
            outcome = await request(self.api, self.target, node, self.spec.timeout_s)
            if outcome[0] == "ok":
                op.ok(outcome[1])
            elif outcome[0] == "fail":
                op.fail(outcome[1])
            else:
                op.info(outcome[1])
                process = self.history.new_process()



class ServiceAddress:
    """A Service's ClusterIP and port, looked up once (a ClusterIP does not change while the Service lives)."""

    def __init__(self, api: ApiClient, namespace: str, service: str, port: int | None) -> None:
        self.api, self.namespace, self.service, self.port = api, namespace, service, port
        self._address: tuple[str, int] | None = None

    async def address(self) -> tuple[str, int]:
        if self._address is None:
            svc = await self.api.get("services", self.service, self.namespace)
            port = self.port or svc["spec"]["ports"][0]["port"]
            self._address = (svc["spec"]["clusterIP"], port)
        return self._address


async def request(api: ApiClient, target: ServiceAddress, node: str, timeout_s: float) -> tuple[str, str]:
    """One request to the Service through ``node``'s kube-proxy: ("ok", pod) / ("fail", why) / ("info", why)."""
    try:
        ip, port = await target.address()
    except ApiError as exc:
        return "fail", f"cannot look the service up: {exc.code} {exc.reason}"
    try:
        reply = await api.request(f"{node}.proxy", ProxyConnect(ip, port, "TCP", "/", ""), timeout_s=timeout_s,
                                  retries=0)
    except UndeliverableError as exc:
        return "fail", f"{node}'s kube-proxy is not on the bus: {exc}"
    except RequestFailed as exc:
        return "info", f"{node}'s kube-proxy did not answer: {exc}"
    if not isinstance(reply, ProxyReply):
        return "fail", f"unexpected reply {type(reply).__name__}"
    if not reply.connected:
        return "fail", f"{reply.action}: {reply.reason}"
    return "ok", reply.pod
