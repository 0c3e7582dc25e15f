"""A fake Lambda Invoke endpoint on 127.0.0.1 answering every invocation after a fixed latency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def fake_lambda_endpoint(latency_seconds: float) -> Iterator[str]:
    """Serve ``POST /2015-03-31/functions/<name>/invocations`` with a 200 after ``latency_seconds``.

    Keep-alive connections (HTTP/1.1) and one thread per connection, like the real endpoint as
    far as the client can tell. Yields the URL to use as ``AWS_ENDPOINT_URL_LAMBDA``.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one response, no 40 ms wait for a delayed ACK

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(latency_seconds)
            body = json.dumps({"success": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_lambda_process(latency_seconds: float) -> Iterator[str]:
    """Run :func:`fake_lambda_endpoint` in its own process, so its CPU does not compete with the caller's."""
    import subprocess
    import sys

    from scripts.local_aws import die_with_parent

    child = subprocess.Popen(
        [sys.executable, "-m", "scripts.fake_lambda", str(latency_seconds)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    import sys

    with fake_lambda_endpoint(float(sys.argv[1])) as url:
        print(url, flush=True)
        threading.Event().wait()
