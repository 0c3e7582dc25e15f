"""Fresh OpenSearch/Elasticsearch indexes for a re-index, and the atomic alias move after it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_bio.core.search_indexes import alias_actions

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bio.hooks.search_index import SearchIndexHook


def _hook(search_conn_id: str) -> SearchIndexHook:
    # Imported here: the HTTP provider's hook pulls in aiohttp, too slow for every DAG parse.
    from airflow_provider_bio.hooks.search_index import SearchIndexHook

    return SearchIndexHook(search_conn_id=search_conn_id)


class EnsureSearchIndexesOperator(BaseOperator):
    """Create indexes that do not exist yet; an existing index is left as it is.

    :param indexes: index name -> body (settings and mappings); empty means nothing to do.
        (templated)
    :param search_conn_id: the Airflow HTTP connection of the cluster.
    """

    template_fields: Sequence[str] = ("indexes",)

    def __init__(self, *, indexes: dict[str, dict[str, Any]], search_conn_id: str = "search_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.indexes = indexes
        self.search_conn_id = search_conn_id

    def execute(self, context: Context) -> list[str]:
        if not self.indexes:
            self.log.info("No fresh indexes requested")
            return []
        hook = _hook(self.search_conn_id)
        created = [name for name, body in self.indexes.items() if hook.ensure_index(name, body)]
        for name in self.indexes:
            self.log.info("%s %s", "created" if name in created else "already exists:", name)
        return created


class SwapSearchAliasesOperator(BaseOperator):
    """Point each alias at its new index, removing it from the old ones, in one atomic request.

    :param aliases: alias -> index it must point at; empty means nothing to do. (templated)
    :param search_conn_id: the Airflow HTTP connection of the cluster.
    """

    template_fields: Sequence[str] = ("aliases",)

    def __init__(self, *, aliases: dict[str, str], search_conn_id: str = "search_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.aliases = aliases
        self.search_conn_id = search_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        if not self.aliases:
            self.log.info("No alias swap requested")
            return []
        hook = _hook(self.search_conn_id)
        current = {alias: hook.alias_targets(alias) for alias in self.aliases}
        actions = alias_actions(current, self.aliases)
        hook.update_aliases(actions)
        self.log.info("Aliases moved: %s", actions)
        return actions
