from __future__ import annotations

from airflow_provider_bio.core.search_indexes import alias_actions, fresh_index_bodies


def test_alias_moves_off_every_old_index_onto_the_new_one():
    actions = alias_actions(
        {"scored_taxon_counts": ["scored_taxon_counts-v5", "scored_taxon_counts-v4"], "pipeline_runs": []},
        {"scored_taxon_counts": "scored_taxon_counts-v6", "pipeline_runs": "pipeline_runs-v6"},
    )
    assert actions == [
        {"remove": {"index": "scored_taxon_counts-v4", "alias": "scored_taxon_counts"}},
        {"remove": {"index": "scored_taxon_counts-v5", "alias": "scored_taxon_counts"}},
        {"add": {"index": "scored_taxon_counts-v6", "alias": "scored_taxon_counts"}},
        {"add": {"index": "pipeline_runs-v6", "alias": "pipeline_runs"}},
    ]


def test_alias_already_on_the_target_is_not_removed():
    actions = alias_actions({"pipeline_runs": ["pipeline_runs-v6"]}, {"pipeline_runs": "pipeline_runs-v6"})
    assert actions == [{"add": {"index": "pipeline_runs-v6", "alias": "pipeline_runs"}}]


def test_fresh_indexes_get_the_template_settings():
    bodies = fresh_index_bodies({"scored_taxon_counts": "scored_taxon_counts-v6"})
    body = bodies["scored_taxon_counts-v6"]
    assert body["settings"]["number_of_shards"] == 4
    assert body["mappings"]["properties"]["metric_list"]["type"] == "nested"
