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


def test_fresh_indexes_are_created_with_the_cluster_template_bodies():
    assert fresh_index_bodies({"scored_taxon_counts": "stc-v6", "pipeline_runs": "pr-v6"}) == {
        "stc-v6": {
            "settings": {"number_of_shards": 4, "number_of_replicas": 1},
            "mappings": {"properties": {"metric_list": {"type": "nested"}}},
        },
        "pr-v6": {
            "mappings": {
                "properties": {
                    "is_complete": {"type": "boolean"},
                    "created_at": {"type": "date"},
                    "last_read_at": {"type": "date"},
                    "deletion_task": {"type": "keyword"},
                }
            }
        },
    }


def test_an_alias_not_yet_pointing_anywhere_is_only_added():
    assert alias_actions({}, {"pipeline_runs": "pipeline_runs-v6"}) == [
        {"add": {"index": "pipeline_runs-v6", "alias": "pipeline_runs"}}
    ]


def test_an_alias_on_the_target_and_an_old_index_leaves_the_old_one_only():
    actions = alias_actions(
        {"pipeline_runs": ("pipeline_runs-v6", "pipeline_runs-v5")}, {"pipeline_runs": "pipeline_runs-v6"}
    )
    assert actions == [
        {"remove": {"index": "pipeline_runs-v5", "alias": "pipeline_runs"}},
        {"add": {"index": "pipeline_runs-v6", "alias": "pipeline_runs"}},
    ]
