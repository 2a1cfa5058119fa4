"""HTTP/1.1 over TLS on the actor loop: the socket side of the API server's HTTPS front.

kube-apiserver is an HTTPS server; kubesim's is the broker process, whose one
thread runs the actor loop (:class:`bus.runtime.Runtime`). So the front does
not get a thread or an asyncio loop of its own: its listening socket and every
connection are file descriptors the actor loop polls, and a request is served
by the same code, on the same loop, as a request that came over the bus.

Two sans-I/O libraries do the protocols, so this module only moves bytes:

- TLS is :class:`ssl.SSLObject` over a pair of memory BIOs (the handshake and
  records are computed in memory; the socket carries ciphertext);
- HTTP/1.1 is `h11 <https://h11.readthedocs.io>`_: it parses requests, frames
  responses (``Content-Length`` or chunked for a stream) and says when a
  keep-alive connection may take its next request.

A handler gets an :class:`HttpRequest` and an :class:`Exchange` and answers
whenever it likes: at once with :meth:`Exchange.respond`, later from a task,
or as a stream (:meth:`Exchange.start` then :meth:`Exchange.write`, which is
how a watch or ``kubectl logs -f`` is served). Writes never block: what the
socket does not take waits in the connection's buffer, and a stream's
producer looks at :attr:`Exchange.buffered` (and :attr:`Exchange.on_drain`)
to hold back, so one slow client costs memory it is allowed, not the loop.

What a client gets wrong — a TLS handshake that fails, bytes that are not
HTTP, a body over the limit, too many connections — is answered (400, 413,
503) where HTTP still allows an answer, counted by reason, and costs only
that connection.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import h11

__all__ = ["Exchange", "HttpRequest", "HttpServer"]

#: Reading stops after this much per wake-up, so one busy connection cannot starve the loop.
READ_BUDGET = 256 * 1024
RECV_BYTES = 64 * 1024
#: Longest request line plus headers h11 holds while it waits for the rest.
MAX_HEAD_BYTES = 64 * 1024
#: Bytes a client may send ahead (pipelined requests) while one of its requests is being answered.
MAX_PIPELINED_BYTES = 1024 * 1024
#: A connection with no request in flight and nothing heard for this long is closed (client-go's idle
#: connections are reopened on demand, as behind any load balancer).
IDLE_TIMEOUT_S = 300.0


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    """The path, percent-decoded only where HTTP says so (``/api/v1/namespaces/default/pods``)."""
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    """Lower-case names, in order; a repeated header (``Impersonate-Group``) appears once per value."""
    body: bytes
    peer: str = ""

    def header(self, name: str, default: str = "") -> str:
        """The first value of a header (names are compared lower-case)."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def param(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


class Exchange:
    """One request's answer, whole or streamed; it does nothing once its connection has closed."""

    def __init__(self, conn: _Connection, head: bool = False) -> None:
        self._conn = conn
        self.head = head
        """A HEAD request: its answer has headers only (h11 refuses a body), whatever the handler writes."""
        self.started = False
        self.finished = False
        self.status = 0
        self.on_close: Callable[[], None] | None = None
        """Called once if the connection closes before the answer has ended (the client went away)."""
        self.on_drain: Callable[[], None] | None = None
        """Called when the connection's buffer has been written out (a stream may produce again)."""

    @property
    def closed(self) -> bool:
        return self._conn.closed

    @property
    def buffered(self) -> int:
        """Bytes waiting for the client to take them."""
        return len(self._conn.outbuf)

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The whole answer at once."""
        if self.started or self.closed:
            return
        self.start(status, [*headers, ("content-length", str(len(body)))])
        if body:
            self.write(body)
        self.end()

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Begin an answer; without a ``content-length`` header it is a chunked stream."""
        if self.started or self.closed:
            return
        self.started = True
        self.status = status
        self._conn.send(h11.Response(status_code=status, headers=headers))

    def write(self, data: bytes) -> None:
        if self.started and not self.finished and not self.closed and data and not self.head:
            self._conn.send(h11.Data(data=data))

    def abort(self) -> None:
        """Close the connection mid-answer (the client sees the stream end without its last chunk)."""
        self._conn.close()

    def end(self) -> None:
        if not self.started or self.finished or self.closed:
            return
        self.finished = True
        self._conn.send(h11.EndOfMessage())
        self._conn.exchange_done(self)


@dataclass(slots=True)
class ServerCounters:
    """What the front counts; the owner maps these to Prometheus metrics."""

    on_connection: Callable[[int], None] = lambda open_now: None
    on_rejected: Callable[[str], None] = lambda reason: None


class _Connection:
    def __init__(self, server: HttpServer, sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.closed = False
        self.outbuf = bytearray()
        self.h = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.tls: ssl.SSLObject | None = None
        self._in = self._out = None
        if server.ssl_context is not None:
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = server.ssl_context.wrap_bio(self._in, self._out, server_side=True)
        self.handshaken = self.tls is None
        self.request: tuple[h11.Request, bytearray] | None = None
        self.exchange: Exchange | None = None
        self.heard = server.now()
        self._close_after_flush = False

    # --- reading ------------------------------------------------------------------------
    def on_readable(self) -> None:
        got = 0
        eof = False
        while got < READ_BUDGET and not self.closed:
            try:
                data = self.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
            if not data:
                eof = True
                break
            got += len(data)
            self.heard = self.server.now()
            self._received(data)
        if eof and not self.closed:
            # The client is gone (a cancelled watch closes its connection): whatever it asked for is
            # abandoned, as Go's server cancels a request whose connection ends; its on_close cleans up.
            self._received(b"")
            self.close()

    def _received(self, data: bytes) -> None:
        if self.tls is None:
            self._feed(data)
            return
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()
        if not self.handshaken:
            try:
                self.tls.do_handshake()
                self.handshaken = True
            except ssl.SSLWantReadError:
                self._flush_tls()
                return
            except (ssl.SSLError, OSError) as exc:
                self.server.counters.on_rejected("tls_handshake")
                self.server.log_debug("TLS handshake failed", peer=self.peer, error=str(exc))
                self._flush_tls()
                self.close()
                return
            self._flush_tls()
        while not self.closed:
            try:
                plain = self.tls.read(RECV_BYTES)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:  # close_notify: the client is done with this connection
                self._feed(b"")
                self.close()
                return
            except ssl.SSLError as exc:
                self.server.counters.on_rejected("tls")
                self.server.log_debug("TLS error", peer=self.peer, error=str(exc))
                self.close()
                return
            if not plain:  # close_notify, as SSLObject reports it
                self._feed(b"")
                self.close()
                return
            self._feed(plain)

    def _feed(self, plain: bytes) -> None:
        try:
            self.h.receive_data(plain)
        except h11.RemoteProtocolError:
            pass  # reported by next_event below
        if self.exchange is not None and len(self.h.trailing_data[0]) > MAX_PIPELINED_BYTES:
            # h11 holds what arrives while a request is being answered (pipelining); a client that keeps
            # sending meanwhile is not owed the memory.
            self.server.counters.on_rejected("pipelined_too_much")
            self.close()
            return
        self._next_events()

    def _next_events(self) -> None:
        while not self.closed and self.exchange is None:
            try:
                event = self.h.next_event()
            except h11.RemoteProtocolError as exc:
                self._protocol_error(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request = (event, bytearray())
                length = _content_length(event)
                if length is not None and length > self.server.max_body_bytes:
                    self._refuse(413, "request_too_large",
                                 f"the request body of {length} bytes is over the limit of "
                                 f"{self.server.max_body_bytes} bytes")
                    return
            elif isinstance(event, h11.Data):
                if self.request is None:
                    continue
                body = self.request[1]
                body += event.data
                if len(body) > self.server.max_body_bytes:
                    self._refuse(413, "request_too_large",
                                 f"the request body is over the limit of {self.server.max_body_bytes} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                if self.request is not None:
                    head, body = self.request
                    self.request = None
                    self._dispatch(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                if self.exchange is None:
                    self.close()
                return

    def _dispatch(self, head: h11.Request, body: bytes) -> None:
        target = head.target.decode("latin-1")
        parts = urlsplit(target)
        request = HttpRequest(
            method=head.method.decode("ascii", "replace").upper(),
            path=parts.path or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers],
            body=body, peer=self.peer)
        self.exchange = exchange = Exchange(self, head=request.method == "HEAD")
        try:
            self.server.handler(request, exchange)
        except Exception as exc:  # a bug in a handler costs this request, not the loop
            self.server.log_debug("handler failed", path=request.path, error=repr(exc))
            if not exchange.started:
                exchange.respond(500, [("content-type", "application/json")],
                                 self.server.error_body(500, f"internal error: {exc!r}"))
            else:
                self.close()

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        self.server.counters.on_rejected("malformed_http")
        self._refuse(exc.error_status_hint or 400, None, f"malformed HTTP request: {exc}")

    def _refuse(self, status: int, reason: str | None, message: str) -> None:
        """Answer a request that cannot be served and close: the rest of its bytes are not HTTP we can read."""
        if reason is not None:
            self.server.counters.on_rejected(reason)
        if self.h.our_state in (h11.IDLE, h11.SEND_RESPONSE) and self.exchange is None:
            body = self.server.error_body(status, message)
            try:
                self.send(h11.Response(status_code=status, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(body))),
                    ("connection", "close")]))
                self.send(h11.Data(data=body))
                self.send(h11.EndOfMessage())
            except h11.LocalProtocolError:
                pass
        self._close_after_flush = True
        if not self.outbuf:
            self.close()

    # --- writing ------------------------------------------------------------------------
    def send(self, event) -> None:
        if self.closed:
            return
        data = self.h.send(event)
        if data:
            if self.tls is None:
                self.outbuf += data
            else:
                try:
                    self.tls.write(data)
                except ssl.SSLError:
                    self.close()
                    return
                self._out_to_buf()
        self._flush()

    def _out_to_buf(self) -> None:
        pending = self._out.read()
        if pending:
            self.outbuf += pending

    def _flush_tls(self) -> None:
        self._out_to_buf()
        self._flush()

    def _flush(self) -> None:
        if self.closed:
            return
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
            del self.outbuf[:sent]
        if self.outbuf:
            self.server.runtime.want_write(self.fd, self._on_writable)
            return
        self.server.runtime.want_write(self.fd, None)
        if self._close_after_flush:
            self.close()

    def _on_writable(self) -> None:
        self._flush()
        exchange = self.exchange
        if not self.outbuf and exchange is not None and exchange.on_drain is not None:
            # On a later turn, never from inside a write: a producer that writes again from on_drain
            # would otherwise run inside its own write (and reorder what it sends).
            self.server.runtime.call_later(0, exchange.on_drain)

    def exchange_done(self, exchange: Exchange) -> None:
        """The answer has ended: on a keep-alive connection, go on to the next request."""
        if exchange is not self.exchange:
            return
        self.exchange = None
        self.heard = self.server.now()
        if self.h.our_state is h11.MUST_CLOSE or self.h.their_state is h11.MUST_CLOSE:
            self._close_after_flush = True
            if not self.outbuf:
                self.close()
            return
        if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
            self.h.start_next_cycle()
            # A pipelined request may already be buffered; serve it from a fresh turn of the loop.
            self.server.runtime.call_later(0, self._next_events)
        elif self.h.their_state is not h11.DONE:
            # Answered before the client finished sending (a 413, a 401 on a big body): the rest of its
            # request is not worth reading.
            self._close_after_flush = True
            if not self.outbuf:
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass
        exchange, self.exchange = self.exchange, None
        if exchange is not None and not exchange.finished and exchange.on_close is not None:
            exchange.on_close()


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass
class HttpServer:
    """A listening socket on the actor loop, and its connections."""

    runtime: object
    """The :class:`bus.runtime.Runtime` whose loop polls the sockets (``watch_fd``, ``want_write``)."""
    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    handler: Callable[[HttpRequest, Exchange], None]
    error_body: Callable[[int, str], bytes]
    """The body of an answer the server itself gives (413, 400, 503): a Kubernetes ``Status``."""
    now: Callable[[], float]
    """Monotonic seconds, for idle connections."""
    max_body_bytes: int = 3 * 1024 * 1024
    max_connections: int = 1000
    counters: ServerCounters = field(default_factory=ServerCounters)
    log_debug: Callable[..., None] = lambda *a, **k: None
    _listener: socket.socket | None = None
    _connections: dict[int, _Connection] = field(default_factory=dict)

    def listen(self) -> None:
        """Bind and listen; an ``OSError`` (the port is taken) is the caller's to handle."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self.runtime.watch_fd(sock.fileno(), self._accept)

    @property
    def connections(self) -> int:
        return len(self._connections)

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of file descriptors (EMFILE): the listener stays readable, so stop watching it for
                # a second instead of spinning; the pending connections wait in the backlog.
                self.counters.on_rejected("too_many_connections")
                self.log_debug("accept failed; pausing", error=str(exc))
                listener = self._listener
                self.runtime.unwatch_fd(listener.fileno())
                self.runtime.call_later(1.0, self._rewatch, listener)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock, f"{addr[0]}:{addr[1]}")
            if len(self._connections) >= self.max_connections:
                # Over the limit: say so in plain HTTP if we can, then close (kube-apiserver's
                # max-in-flight answers 429; a connection limit is the socket-level twin).
                self.counters.on_rejected("too_many_connections")
                try:
                    sock.close()
                except OSError:
                    pass
                continue
            self._connections[conn.fd] = conn
            self.runtime.watch_fd(conn.fd, conn.on_readable)
            self.counters.on_connection(len(self._connections))

    def _rewatch(self, listener: socket.socket) -> None:
        if self._listener is listener:
            self.runtime.watch_fd(listener.fileno(), self._accept)

    def forget(self, conn: _Connection) -> None:
        if self._connections.pop(conn.fd, None) is not None:
            self.runtime.unwatch_fd(conn.fd)
            self.counters.on_connection(len(self._connections))

    def close_idle(self) -> None:
        """Close connections with no request in flight that have been quiet too long."""
        deadline = self.now() - IDLE_TIMEOUT_S
        for conn in list(self._connections.values()):
            if conn.exchange is None and conn.heard < deadline:
                conn.close()

    def close(self) -> None:
        for conn in list(self._connections.values()):
            conn.close()
        if self._listener is not None:
            self.runtime.unwatch_fd(self._listener.fileno())
            self._listener.close()
            self._listener = None
