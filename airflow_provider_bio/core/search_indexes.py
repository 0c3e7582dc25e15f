"""Index bodies and alias moves for the taxon heatmap indexes in OpenSearch/Elasticsearch.

Production reads through the aliases ``scored_taxon_counts`` and ``pipeline_runs``, which point
at versioned indexes (``scored_taxon_counts-v5``...). A fresh index is created from the same
settings as the cluster's index templates for ``scored_taxon_counts-*`` and ``pipeline_runs-*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

INDEX_BODIES: dict[str, dict[str, Any]] = {
    "scored_taxon_counts": {
        "settings": {"number_of_shards": 4, "number_of_replicas": 1},
        "mappings": {"properties": {"metric_list": {"type": "nested"}}},
    },
    "pipeline_runs": {
        "mappings": {
            "properties": {
                "is_complete": {"type": "boolean"},
                "created_at": {"type": "date"},
                "last_read_at": {"type": "date"},
                "deletion_task": {"type": "keyword"},
            }
        },
    },
}


def fresh_index_bodies(fresh_indexes: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Map each fresh index name to the body it is created with.

    :param fresh_indexes: alias (``scored_taxon_counts``/``pipeline_runs``) -> new index name.
    """
    return {index: INDEX_BODIES[alias] for alias, index in fresh_indexes.items()}


def alias_actions(current: Mapping[str, Iterable[str]], target: Mapping[str, str]) -> list[dict[str, Any]]:
    """Build one ``_aliases`` request body that moves every alias to its target index atomically.

    :param current: alias -> indexes it points at now (from ``GET /_alias/<name>``).
    :param target: alias -> the index it must point at afterwards.
    """
    actions: list[dict[str, Any]] = []
    for alias, index in target.items():
        actions.extend(
            {"remove": {"index": old, "alias": alias}} for old in sorted(current.get(alias, ())) if old != index
        )
        actions.append({"add": {"index": index, "alias": alias}})
    return actions
