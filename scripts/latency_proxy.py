"""A reverse proxy on 127.0.0.1 that adds a fixed latency to every request, to stand a local server far away.

:func:`latency_proxy` puts a round trip in front of a local server (a moto server, say): each
request waits ``latency_seconds``, then goes upstream unchanged (method, path and query string,
headers including ``Host``, body) and the upstream's answer comes back (status, headers, body).
Connections are HTTP/1.1 keep-alive on both sides, one thread and one upstream connection per
client connection, as a client of a real remote endpoint would see it.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: Headers that describe one hop's connection, not the message: never relayed (RFC 9110 section 7.6.1).
#: ``Content-Length`` is set afresh from the body relayed, and ``Expect: 100-continue`` is answered here.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    }
)
#: Responses that never have a body, whatever their ``Content-Length`` says.
NO_BODY_STATUSES = frozenset({204, 304})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # clients open tens of connections at once; the default backlog of 5 drops SYNs


def _read_chunked(stream: Any) -> bytes:
    """Read a ``Transfer-Encoding: chunked`` body from ``stream``, trailers dropped.

    :param stream: the request's input stream, positioned at the first chunk size line.
    """
    parts = []
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(stream.read(size))
        stream.readline()  # the CRLF after each chunk


def _handler_class(upstream_host: str, upstream_port: int, latency_seconds: float) -> type[BaseHTTPRequestHandler]:
    """A request handler class forwarding to ``upstream_host:upstream_port`` after ``latency_seconds``.

    :param upstream_host: the upstream server's host.
    :param upstream_port: the upstream server's port.
    :param latency_seconds: the wait added before forwarding each request.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small writes go out at once, no wait for a delayed ACK
        upstream: http.client.HTTPConnection | None = None  # one per client connection, hence per thread

        def do_GET(self) -> None:
            self._proxy()

        do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

        def _proxy(self) -> None:
            body = self._read_body()
            time.sleep(latency_seconds)
            try:
                status, reason, headers, payload = self._forward(body)
            except OSError as error:
                self._answer_bad_gateway(error)
                return
            self.send_response_only(status, reason)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            if self.command == "HEAD" or status in NO_BODY_STATUSES:
                # No body here; HEAD keeps the upstream's Content-Length (the size a GET would return).
                length = [value for name, value in headers if name.lower() == "content-length"]
                if length and status not in NO_BODY_STATUSES:
                    self.send_header("Content-Length", length[0])
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _read_body(self) -> bytes | None:
            """The request body, or None when the request has none."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return _read_chunked(self.rfile)
            length = self.headers.get("Content-Length")
            return self.rfile.read(int(length)) if length is not None else None

        def _forward(self, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
            """Send the request upstream on this thread's connection, reconnecting once if it went stale.

            :param body: the request body to send, or None.
            :returns: the upstream's status, reason, headers and body.
            """
            for attempt in (1, 2):
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
                try:
                    self._send_upstream(self.upstream, body)
                    response = self.upstream.getresponse()
                    payload = response.read()
                    return response.status, response.reason, response.getheaders(), payload
                except (http.client.HTTPException, OSError):
                    self.upstream.close()
                    self.upstream = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        def _send_upstream(self, connection: http.client.HTTPConnection, body: bytes | None) -> None:
            """Write the request line, the client's headers (Host included) and the body to ``connection``."""
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)

        def _answer_bad_gateway(self, error: OSError) -> None:
            message = f"latency proxy: upstream failed: {error}".encode()
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(message)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                if self.upstream is not None:
                    self.upstream.close()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def latency_proxy(upstream_url: str, latency_seconds: float) -> Iterator[str]:
    """Run a reverse proxy to ``upstream_url`` adding ``latency_seconds`` to each request; yield its URL.

    The proxy listens on 127.0.0.1 at a free port, serves each client connection on its own
    daemon thread, and stops when the block exits.

    :param upstream_url: ``http://host:port`` of the server to forward to.
    :param latency_seconds: how long each request waits before it is forwarded.
    """
    upstream = urlsplit(upstream_url)
    if upstream.scheme != "http" or not upstream.hostname:
        raise ValueError(f"upstream_url: {upstream_url!r} is not an http://host:port URL")
    handler = _handler_class(upstream.hostname, upstream.port or 80, latency_seconds)
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="latency-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
