"""The HTTPS front's socket layer on a real actor loop: TLS, keep-alive, streams, and bad clients.

A standalone runtime serves a small handler over real TLS on 127.0.0.1; the
clients are Python's ``ssl`` and raw sockets, driven from the test while the
loop runs in a thread. What a client gets wrong must be answered or dropped,
counted, and must leave the server serving.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time

import pytest

from actors.apiserver.httpserver import HttpServer, ServerCounters
from bus.clock import RealClock
from bus.runtime import Runtime
from bus.settings import BusSettings
from kubesim.pki import ensure_pki, server_ssl_context


class Loop:
    """A standalone runtime whose loop runs in a thread, with an HTTPS server on it."""

    def __init__(self, tmp, handler, **kw) -> None:
        self.rt = Runtime("http-test", BusSettings(), RealClock(), standalone=True)
        self.pki = ensure_pki(tmp / "pki")
        self.rejected: list[str] = []
        self.connections: list[int] = []
        self.server = HttpServer(self.rt, "127.0.0.1", 0, server_ssl_context(self.pki), handler,
                                 error_body=lambda code, msg: json.dumps({"code": code, "message": msg}).encode(),
                                 now=time.monotonic,
                                 counters=ServerCounters(on_connection=self.connections.append,
                                                         on_rejected=self.rejected.append), **kw)
        self.server.listen()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            self.rt.run_once(0.02)

    def call_soon(self, fn, *args) -> None:
        self.rt.call_soon(fn, *args)  # a deque append: safe from the test's thread; the loop wakes within 20 ms

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.server.close()

    def tls(self) -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def read_response(sock) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (Content-Length or chunked) from a blocking socket."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the head: {buf!r}"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            body += sock.recv(65536)
        return status, headers, body[:n]
    out = b""
    while True:  # chunked
        while b"\r\n" not in body:
            body += sock.recv(65536)
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        while len(body) < size + 2:
            body += sock.recv(65536)
        if size == 0:
            return status, headers, out
        out, body = out + body[:size], body[size + 2:]


def echo(req, ex):
    ex.respond(200, [("content-type", "application/json")],
               json.dumps({"method": req.method, "path": req.path, "query": req.query,
                           "body": len(req.body), "groups": req.header_values("x-group")}).encode())


@pytest.fixture
def loop(tmp_path):
    lp = Loop(tmp_path, echo, max_body_bytes=1000)
    yield lp
    lp.close()


def test_keep_alive_serves_requests_in_turn_including_pipelined_ones(loop):
    s = loop.tls()
    s.sendall(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Group: g1\r\nX-Group: g2\r\n\r\n"
              b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
    code, _, body = read_response(s)
    assert code == 200 and json.loads(body) == {"method": "GET", "path": "/a", "query": {"x": ["1"]}, "body": 0,
                                                "groups": ["g1", "g2"]}
    code, _, body = read_response(s)
    assert code == 200 and json.loads(body)["body"] == 5 and json.loads(body)["path"] == "/b"
    s.close()


def test_a_body_over_the_limit_is_413_and_counted(loop):
    s = loop.tls()
    s.sendall(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100)
    code, headers, body = read_response(s)
    assert code == 413 and "over the limit of 1000 bytes" in json.loads(body)["message"]
    assert "request_too_large" in loop.rejected
    s.close()


def test_malformed_http_is_400_and_the_server_goes_on(loop):
    s = loop.tls()
    s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    code, _, body = read_response(s)
    assert code == 400 and "malformed HTTP request" in json.loads(body)["message"]
    assert "malformed_http" in loop.rejected
    s2 = loop.tls()
    s2.sendall(b"GET /still-here HTTP/1.1\r\nHost: h\r\n\r\n")
    assert read_response(s2)[0] == 200


def test_plain_bytes_on_the_tls_port_fail_the_handshake_and_are_counted(loop):
    raw = socket.create_connection(("127.0.0.1", loop.server.port), timeout=5)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    raw.settimeout(5)
    try:
        while raw.recv(4096):  # the server may send a TLS alert, then closes
            pass
    except ConnectionResetError:
        pass
    deadline = time.monotonic() + 5
    while "tls_handshake" not in loop.rejected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "tls_handshake" in loop.rejected
    s = loop.tls()
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n")
    assert read_response(s)[0] == 200


def test_streams_are_chunked_and_a_client_that_leaves_is_noticed(tmp_path):
    streams = []

    def handler(req, ex):
        closed = threading.Event()
        ex.on_close = closed.set
        streams.append((ex, closed))  # before the first byte: the client may read it at once
        ex.start(200, [("content-type", "application/json")])
        ex.write(b'{"n": 1}\n')

    lp = Loop(tmp_path, handler)
    try:
        s = lp.tls()
        s.sendall(b"GET /watch HTTP/1.1\r\nHost: h\r\n\r\n")
        buf = b""
        while b'{"n": 1}' not in buf:
            buf += s.recv(4096)
        assert b"transfer-encoding: chunked" in buf.lower()
        ex, closed = streams[0]
        lp.call_soon(ex.write, b'{"n": 2}\n')
        while b'{"n": 2}' not in buf:
            buf += s.recv(4096)
        s.close()
        assert closed.wait(5), "the server did not notice the client leave"
    finally:
        lp.close()


def test_a_slow_reader_is_buffered_not_blocking_and_drains(tmp_path):
    """A stream the client does not read piles up in the connection's buffer; the loop keeps serving others."""
    big = b"y" * (256 * 1024)
    state = {}

    def handler(req, ex):
        if req.path == "/flood":
            ex.start(200, [("content-type", "application/octet-stream")])
            for _ in range(32):  # 8 MiB, far more than the socket buffers hold
                ex.write(big)
            state["ex"] = ex
            ex.end()
        else:
            echo(req, ex)

    lp = Loop(tmp_path, handler)
    try:
        slow = lp.tls()
        slow.sendall(b"GET /flood HTTP/1.1\r\nHost: h\r\n\r\n")
        deadline = time.monotonic() + 5
        while "ex" not in state and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state["ex"].buffered > 0  # the rest waits for the client
        other = lp.tls()
        other.sendall(b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(other)[0] == 200
        code, _, body = read_response(slow)
        assert code == 200 and len(body) == 32 * len(big)
    finally:
        lp.close()


def test_a_client_that_closes_a_stream_is_forgotten_at_once(tmp_path):
    """close_notify then FIN on an open stream (how Go cancels a watch): on_close fires, the fd is dropped."""
    closed = threading.Event()

    def handler(req, ex):
        ex.on_close = closed.set
        ex.start(200, [("content-type", "application/json")])
        ex.write(b"{}\n")

    lp = Loop(tmp_path, handler)
    try:
        s = lp.tls()
        s.sendall(b"GET /watch HTTP/1.1\r\nHost: h\r\n\r\n")
        buf = b""
        while b"{}" not in buf:
            buf += s.recv(4096)
        s.settimeout(1)
        try:
            s.unwrap()  # close_notify; the server closes rather than answer it, so this times out or ends
        except (TimeoutError, OSError):
            pass
        assert closed.wait(5)
        deadline = time.monotonic() + 5
        while lp.server.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lp.server.connections == 0
    finally:
        lp.close()


def test_head_gets_headers_only_even_from_a_handler_that_writes(tmp_path):
    def handler(req, ex):
        ex.start(200, [("content-type", "application/json")])
        ex.write(b'{"a": 1}\n')  # h11 would refuse a body on HEAD; the exchange drops it
        ex.end()

    lp = Loop(tmp_path, handler)
    try:
        s = lp.tls()
        s.sendall(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n")
        buf = b""
        while buf.count(b"HTTP/1.1 200") < 2 or not buf.endswith(b"0\r\n\r\n"):
            chunk = s.recv(4096)
            assert chunk
            buf += chunk
        assert buf.count(b'{"a": 1}') == 1  # only the GET carries the body
    finally:
        lp.close()


def test_a_client_pipelining_without_end_while_it_is_served_is_cut_off(tmp_path):
    def handler(req, ex):
        ex.start(200, [("content-type", "application/json")])  # a stream that never ends

    lp = Loop(tmp_path, handler)
    try:
        s = lp.tls()
        s.sendall(b"GET /watch HTTP/1.1\r\nHost: h\r\n\r\n")
        s.settimeout(5)
        try:
            for _ in range(64):  # 4 MiB of pipelined requests, more than the connection may hold
                s.sendall(b"GET /more HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"p" * 65000 + b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass
        deadline = time.monotonic() + 5
        while "pipelined_too_much" not in lp.rejected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "pipelined_too_much" in lp.rejected
    finally:
        lp.close()
