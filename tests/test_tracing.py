"""Spans: what the runtime remembers of each request, and how ``kubesim trace`` puts an object's life together."""

from __future__ import annotations

from actors.messages import ApiRequest, Ping
from bus.clock import ManualClock
from bus.codec import Header, unpack_header
from bus.messages import TraceQuery, TraceSpans
from bus.runtime import Actor, Runtime, handles
from bus.settings import BusSettings
from bus.tracing import (
    Span,
    SpanLog,
    belongs_to,
    changes,
    render,
    timeline,
    trace_ids_of,
)
from kubesim.trace import object_key


def span(trace: str, start: float, *, side: str = "server", process: str = "apiserver", note: str = "",
         obj: str = "", kind: str = "api.Request") -> Span:
    return Span(trace, process, process, "peer", kind, side, obj, note, start, 0.001, "ok")


# --- the pure core ---------------------------------------------------------------------------------

def test_the_log_keeps_the_newest_spans_and_finds_them_by_trace_or_object():
    log = SpanLog(maxlen=3)
    for i in range(5):
        log.record(span(f"t{i}", float(i), obj="pods demo/a" if i % 2 else ""))
    assert len(log) == 3 and log.recorded == 5
    assert [s.trace_id for s in log.query(["t0", "t2", "t4"])] == ["t2", "t4"]  # t0 is gone
    assert [s.trace_id for s in log.query([], "pods demo/a")] == ["t3"]
    assert [s.trace_id for s in log.query(["t2"], "pods demo/a")] == ["t2", "t3"]
    assert [s.trace_id for s in log.query(["t2", "t3", "t4"], limit=2)] == ["t3", "t4"]


def test_a_timeline_is_in_time_order_with_a_client_before_the_server_it_called_and_no_repeats():
    server = span("a", 1.0)
    client = span("a", 1.0, side="client", process="scheduler")
    later = span("b", 2.0)
    assert timeline([later, server, client, server]) == [client, server, later]


def test_reads_of_an_object_are_not_part_of_its_life():
    spans = [span("r", 1.0, note="get pods"), span("c", 2.0, note="create pods"), span("u", 3.0, note="update pods/status")]
    assert trace_ids_of(changes(spans)) == ["c", "u"]


def test_another_objects_steps_in_a_shared_trace_are_left_out():
    obj = "pods demo/web"
    assert belongs_to(span("t", 1, obj="pods demo/web"), obj)
    assert belongs_to(span("t", 1, obj="events demo/web.17a9"), obj)
    assert not belongs_to(span("t", 1, obj="pods demo/web-2"), obj)
    assert not belongs_to(span("t", 1, obj="events demo/web-2.17a9"), obj)
    assert belongs_to(span("t", 1, note="txn put /registry/pods/demo/web", kind="store.Txn"), obj)
    assert not belongs_to(span("t", 1, note="txn put /registry/pods/demo/crashloop", kind="store.Txn"), obj)
    assert belongs_to(span("t", 1, note="CRI StartContainer", kind="cri.Request"), obj)


def test_the_table_shows_each_step_relative_to_the_first_with_what_it_took():
    lines = render([span("abcdef123", 10.0, note="create pods", obj="pods demo/web"),
                    span("abcdef123", 10.5, side="client", process="node-1", note="CRI StartContainer")])
    assert lines[0].split() == ["AT", "PROCESS", "ACTOR", "PEER", "STEP", "TOOK", "TRACE"]
    assert lines[1].split()[:6] == ["+0.0ms", "apiserver", "apiserver", "<-", "peer", "create"]
    assert "create pods demo/web" in lines[1] and "1.0ms" in lines[1] and "abcdef12" in lines[1]
    assert lines[2].startswith("+500.0ms") and "->" in lines[2] and "CRI StartContainer" in lines[2]


def test_an_object_is_named_as_kubectl_names_it():
    assert object_key(["pod/web-1"], "demo") == "pods demo/web-1"
    assert object_key(["po", "web-1"], "demo") == "pods demo/web-1"
    assert object_key(["node/node-1"], "demo") == "nodes node-1"
    for bad in (["pod"], ["widget/x"], ["pod/"]):
        try:
            object_key(bad, "demo")
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_an_api_request_names_its_object_and_verb():
    create = ApiRequest("create", "pods", "demo", body={"metadata": {"name": "web"}})
    assert (create.span_object(), create.span_note()) == ("pods demo/web", "create pods")
    bind = ApiRequest("create", "pods", "demo", "web", "binding")
    assert (bind.span_object(), bind.span_note()) == ("pods demo/web", "create pods/binding")
    assert ApiRequest("list", "pods", "demo").span_object() == ""


# --- the runtime records them ----------------------------------------------------------------------

class Server(Actor):
    @handles(Ping)
    def on_ping(self, msg: Ping, env) -> None:
        self.runtime.clock.advance(0.25)  # the answer takes a quarter of a second
        self.reply(env, msg)


class Client(Actor):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.later_trace: str | None = None

    @handles(Ping)
    def on_ping(self, msg: Ping, env) -> None:
        from bus import logs

        self.call_later(1.0, lambda: setattr(self, "later_trace", logs.trace.trace_id))


def local_runtime() -> tuple[Runtime, ManualClock]:
    clock = ManualClock()
    return Runtime("p", BusSettings(broker_port=1), clock, seed=7), clock


def test_a_request_inside_the_process_leaves_one_server_span_that_took_what_the_handler_took():
    rt, clock = local_runtime()
    rt.add(Server("server"))
    client = rt.add(Client("client"))
    fut = client.request("server", Ping(1), timeout_s=5)
    for _ in range(10):
        rt.run_once(0)
    assert fut.result() == Ping(1)
    [s] = list(rt.spans)  # the client's side of a call inside the process would say the same again
    assert (s.side, s.actor, s.peer, s.kind, s.outcome) == ("server", "server", "client", "demo.Ping", "ok")
    assert len(s.trace_id) == 32 and s.duration_s == 0.25


def test_a_request_to_another_process_leaves_a_client_span_of_the_same_trace(monkeypatch):
    rt, clock = local_runtime()
    client = rt.add(Client("client"))
    sent = []
    monkeypatch.setattr(rt.link, "send", lambda dst, header, body: sent.append(header))
    fut = client.request("elsewhere", Ping(3), timeout_s=5)
    rt._flush_out()
    clock.advance(0.5)
    header = unpack_header(sent[0]) if sent else unpack_header(rt.link.outbox[0][1])
    rt._handle(client, b"client", b"elsewhere", Header("demo.Ping", 99, header.id, False, "elsewhere",
                                                        header.traceparent, 0.0), Ping(3))
    assert fut.result() == Ping(3)
    [c] = list(rt.spans)
    assert (c.side, c.actor, c.peer, c.outcome, c.trace_id) == ("client", "client", "elsewhere", "ok", header.trace_id)
    assert c.duration_s == 0.5


def test_a_timer_set_while_handling_a_message_continues_its_trace_and_the_query_answers_over_the_bus():
    rt, clock = local_runtime()
    client = rt.add(Client("client"))
    asker = rt.add(Actor("asker"))
    fut = asker.request("client", Ping(2), timeout_s=5)  # handled under the request's trace; no reply
    for _ in range(5):
        rt.run_once(0)
    clock.advance(1.0)
    for _ in range(5):
        rt.run_once(0)
    assert client.later_trace is not None and len(client.later_trace) == 32
    rt.spans.record(span(client.later_trace, 5.0, obj="pods demo/web"))
    answer = asker.request("p.bus", TraceQuery([], "pods demo/web"), timeout_s=5)
    for _ in range(5):
        rt.run_once(0)
    assert isinstance(answer.result(), TraceSpans) and answer.result().process == "p"
    assert [Span(*s).trace_id for s in answer.result().spans] == [client.later_trace]
    assert not fut.done()
