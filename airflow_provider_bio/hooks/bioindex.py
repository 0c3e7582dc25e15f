"""A thin hook over the bio-index's ``compressed`` flag: its HTTP endpoint or its ``__Indexes`` table."""

from __future__ import annotations

from contextlib import closing
from typing import Any
from urllib.parse import quote, urlencode

from airflow.sdk.bases.hook import BaseHook

HTTP_TYPES = ("http", "https")
#: The bio-index's own query; ``{p}`` is the SQL driver's placeholder.
SET_COMPRESSED_SQL = "UPDATE __Indexes SET compressed = {p} WHERE name = {p} AND prefix = {p}"
COUNT_SQL = "SELECT COUNT(*) FROM __Indexes WHERE name = {p} AND prefix = {p}"
#: The bio-index's column sizes (``__Indexes.name`` is VARCHAR(200), ``prefix`` VARCHAR(1024), both ASCII).
NAME_CHARS, PREFIX_CHARS = 200, 1024


def check_names(index: Any, prefix: Any) -> None:
    """Refuse an index name or prefix the bio-index could not hold, before any connection.

    :raises ValueError: naming the value and what a valid one looks like.
    """
    for what, value, limit in (("index name", index, NAME_CHARS), ("prefix", prefix, PREFIX_CHARS)):
        if not isinstance(value, str) or not value or len(value) > limit or not value.isascii() or "\0" in value:
            raise ValueError(
                f"bad {what} {value!r}: expected 1 to {limit} ASCII characters, as in the bio-index's __Indexes"
            )
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ValueError(f'bad prefix {prefix!r}: a key prefix such as "genes/" (ending in "/", not starting with it)')


class BioIndexHook(BaseHook):
    """Mark a bio-index as read from ``.gz`` (compressed) or from ``.json``.

    The connection type chooses the route:

    - ``http``/``https``: ``POST /api/bio/bgcompress/set-compressed/{index}?prefix=...&compressed=...``
      on the bio-index service (host, port, login and password of the connection);
    - any SQL connection (``mysql``, as the bio-index uses, or another with a DB-API hook):
      ``UPDATE __Indexes SET compressed = ... WHERE name = ... AND prefix = ...``, which must
      change exactly one row.

    :param bioindex_conn_id: the Airflow connection of the bio-index.
    """

    conn_name_attr = "bioindex_conn_id"
    default_conn_name = "bioindex_default"
    hook_name = "Bio-index"

    def __init__(self, bioindex_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.bioindex_conn_id = bioindex_conn_id

    def set_compressed(self, index: str, prefix: str, compressed: bool) -> None:
        """Set the flag of one index.

        :param index: the index name.
        :param prefix: the index's key prefix.
        :param compressed: True to read ``.gz`` files through their ``.gzi``, False for ``.json``.
        :raises ValueError: a bad index name or prefix (nothing is sent).
        :raises RuntimeError: the service refused, no such index row exists, or the database failed
            or the connection was lost (the flag may or may not have changed: setting it again is safe).
        """
        check_names(index, prefix)
        connection = self.get_connection(self.bioindex_conn_id)
        if connection.conn_type in HTTP_TYPES:
            self._set_over_http(index, prefix, compressed)
        else:
            sql_hook = connection.get_hook()
            try:
                self._set_over_sql(sql_hook, index, prefix, compressed)
            except RuntimeError:
                raise
            except Exception as error:  # the driver's own errors: OperationalError, InterfaceError...
                raise RuntimeError(
                    f"the bio-index database ({connection.conn_type} connection {self.bioindex_conn_id!r}, "
                    f"{connection.host}:{connection.port}) failed while setting compressed={compressed} for "
                    f"name={index!r} prefix={prefix!r}: {type(error).__name__}: {error}. The flag may or may not "
                    "have changed; setting it again is safe once the database answers"
                ) from error
        self.log.info("Bio-index %s (prefix %s) marked compressed=%s", index, prefix, compressed)

    def _set_over_http(self, index: str, prefix: str, compressed: bool) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        query = urlencode({"prefix": prefix, "compressed": str(compressed).lower()})
        endpoint = f"/api/bio/bgcompress/set-compressed/{quote(index, safe='')}?{query}"
        http = HttpHook(method="POST", http_conn_id=self.bioindex_conn_id)
        response = http.run(endpoint, extra_options={"check_response": False})
        if response.status_code >= 400:
            raise RuntimeError(f"POST {endpoint} answered {response.status_code}: {response.text[:500]}")

    def _set_over_sql(self, sql_hook: Any, index: str, prefix: str, compressed: bool) -> None:
        placeholder = sql_hook.placeholder
        with closing(sql_hook.get_conn()) as connection:
            cursor = connection.cursor()
            # Counted first: MySQL reports 0 changed rows when the flag already had the value.
            cursor.execute(COUNT_SQL.format(p=placeholder), (index, prefix))
            (rows,) = cursor.fetchone()
            if rows != 1:
                raise RuntimeError(
                    f"__Indexes has {rows} rows for name={index!r} prefix={prefix!r} (expected 1); "
                    "check the index name and prefix in the run conf"
                )
            cursor.execute(SET_COMPRESSED_SQL.format(p=placeholder), (compressed, index, prefix))
            connection.commit()
