"""A thin hook over the OpenSearch/Elasticsearch REST API: create an index, read and move aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.http.hooks.http import HttpHook


def search_scheme(connection: Any) -> str:
    """``http`` or ``https``: how a search connection is spoken to (see :class:`SearchIndexHook`)."""
    for stated in (connection.schema, connection.extra_dejson.get("scheme")):
        if stated and str(stated).lower() in ("http", "https"):
            return str(stated).lower()
    if str(connection.conn_type).lower() == "https" or connection.password:
        return "https"
    return "http"


class _WithScheme:
    """A connection whose ``schema`` reads as ``scheme``; everything else is the connection's own."""

    def __init__(self, connection: Any, scheme: str) -> None:
        self._connection, self.schema = connection, scheme

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class SearchIndexHook(HttpHook):
    """Index and alias calls to OpenSearch/Elasticsearch through an Airflow HTTP connection.

    The connection's host (and port, login, password, extras) address the cluster. Unlike the
    plain HTTP hook, which speaks ``http`` unless the connection's ``schema`` says otherwise,
    the scheme is, in order: the ``schema`` field (``http`` or ``https``), an extra
    ``{"scheme": ...}``, ``https`` for a connection of type ``https`` (the URI form
    ``https://user:pass@search.internal:443``), and ``https`` whenever a password is set, so
    credentials never travel in clear text unless ``schema`` is ``http`` on purpose.

    :param search_conn_id: the Airflow connection of the cluster.
    """

    conn_name_attr = "search_conn_id"
    default_conn_name = "search_default"
    hook_name = "OpenSearch / Elasticsearch (HTTP)"

    def __init__(self, search_conn_id: str = default_conn_name) -> None:
        super().__init__(http_conn_id=search_conn_id)

    def _set_base_url(self, connection: Any) -> None:
        super()._set_base_url(_WithScheme(connection, search_scheme(connection)))

    def _call(self, method: str, endpoint: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> Any:
        self.method = method
        response = self.run(
            endpoint,
            json=body,
            headers={"Content-Type": "application/json"},
            extra_options={"check_response": False},
        )
        if response.status_code >= 400 and response.status_code not in ok:
            raise RuntimeError(f"{method} /{endpoint} answered {response.status_code}: {response.text[:500]}")
        return response

    def ensure_index(self, name: str, body: Mapping[str, Any]) -> bool:
        """Create an index unless it exists already.

        :param name: the index name.
        :param body: settings and mappings for a new index.
        :return: True when it was created, False when it already existed.
        """
        response = self._call("PUT", name, dict(body), ok=(400,))
        if response.status_code == 400:
            if "resource_already_exists_exception" not in response.text:
                raise RuntimeError(f"PUT /{name} answered 400: {response.text[:500]}")
            return False
        return True

    def alias_targets(self, alias: str) -> list[str]:
        """Return the indexes an alias points at (empty when the alias does not exist)."""
        response = self._call("GET", f"_alias/{alias}", ok=(404,))
        return [] if response.status_code == 404 else sorted(response.json())

    def update_aliases(self, actions: list[dict[str, Any]]) -> None:
        """Apply alias actions in one atomic ``POST /_aliases`` request."""
        self._call("POST", "_aliases", {"actions": actions})

    def index_identity(self, name: str) -> dict[str, Any] | None:
        """Which index answers to ``name`` now (uuid and creation date), or ``None`` when none does.

        An index deleted and created again under the same name has another uuid.
        """
        response = self._call("GET", f"{name}/_settings", ok=(404,))
        if response.status_code == 404:
            return None
        return {
            index: {key: body["settings"]["index"].get(key) for key in ("uuid", "creation_date")}
            for index, body in sorted(response.json().items())
        }
