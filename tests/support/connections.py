"""Connections looked up by their exact ids, as the metadata DB and secrets managers hold them."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection


class ExactConnections:
    """A secrets backend holding connections under their exact ids (environment variables ignore case)."""

    def __init__(self, connections: dict[str, Connection]) -> None:
        self.connections = connections

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.connections.get(conn_id)


def only_connections(monkeypatch: pytest.MonkeyPatch, *connections: Connection) -> None:
    """Make ``connections`` the only ones defined, each found only under its exact id."""
    backend = ExactConnections({connection.conn_id: connection for connection in connections})
    monkeypatch.setattr("airflow.sdk.execution_time.supervisor.ensure_secrets_backend_loaded", lambda: [backend])
