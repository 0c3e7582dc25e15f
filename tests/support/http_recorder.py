"""A local HTTP server on 127.0.0.1 that records requests and answers from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    content_type: str | None = None


@dataclass
class RecordingServer:
    """Answers with ``respond(method, path, body) -> (status, json_body)`` and records every request."""

    respond: Callable[[str, str, Any], tuple[int, Any]]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""


@contextmanager
def recording_server(respond: Callable[[str, str, Any], tuple[int, Any]]) -> Iterator[RecordingServer]:
    """Serve on 127.0.0.1 at a free port until the block ends."""
    recorder = RecordingServer(respond)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            recorder.requests.append(Recorded(self.command, self.path, body, self.headers.get("Content-Type")))
            status, answer = recorder.respond(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
