"""A stand-in for GBIF's species-match API on 127.0.0.1, for tests and ``make demo``.

It answers ``/v1/species/match?name=&kingdom=`` from a table of names and counts the requests,
so a test can see which names a run asked.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NO_MATCH = {"matchType": "NONE", "confidence": 100, "synonym": False}


@dataclass
class GbifStandIn:
    """The running stand-in: its URL, the Airflow connection URI for it, and the names asked."""

    url: str = ""
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def connection_uri(self) -> str:
        host, port = urlsplit(self.url).netloc.split(":")
        return json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http"})


@contextmanager
def gbif_standin(answers: Mapping[tuple[str, str], Mapping[str, Any]]) -> Iterator[GbifStandIn]:
    """Serve species matches on 127.0.0.1 at a free port until the block ends.

    :param answers: (name, kingdom) -> the JSON answer; any other name gets a ``NONE`` match.
    """
    standin = GbifStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            if url.path != "/v1/species/match" or "name" not in query:
                status, body = 404, {"error": f"not found: {url.path}"}
            else:
                pair = (query["name"], query.get("kingdom", ""))
                standin.asked[pair] += 1
                status, body = 200, dict(answers.get(pair, NO_MATCH))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
