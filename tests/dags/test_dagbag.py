"""Every DAG in dags/ imports cleanly, makes no AWS call while parsing, and validates its conf."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.conftest import REPO
from tests.support.botocore_events import recorded_calls


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    with recorded_calls() as calls:
        bag = DagBag(dag_folder=str(REPO / "dags"))
    assert calls == [], f"AWS calls at parse time: {calls}"
    return bag


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "batch_index_taxons" in dagbag.dag_ids


def test_batch_index_taxons_is_manual_and_maps_its_chunks(dagbag):
    dag = dagbag.dags["batch_index_taxons"]
    assert dag.schedule is None
    chunk = dag.get_task("index_chunk")
    assert chunk.map_index_template.startswith("chunk {{ task.chunk_number }}/{{ task.chunk_count }}")
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("index_chunk").upstream_task_ids == {"plan", "create_indexes"}
    assert dag.get_task("create_indexes").upstream_task_ids == set()
    swap = dag.get_task("swap_aliases")
    assert "index_chunk" in swap.upstream_task_ids and swap.trigger_rule == "all_success"


def _trigger_time_params(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).params


GOOD_CONF = {"lambda_function_name": "f", "job_params": [{"background_ids": [1], "pipeline_run_ids": [2]}]}


def test_good_conf_is_accepted_at_trigger_time(dagbag):
    params = _trigger_time_params(dagbag.dags["batch_index_taxons"])
    validated = params.deep_merge(GOOD_CONF).validate()
    assert validated["concurrency"] == 20


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"job_params": [{"background_ids": [-1], "pipeline_run_ids": [2]}]}, "job_params"),
        ({"job_params": [{"background_ids": [1], "pipeline_run_ids": [2], "skip": [1]}]}, "job_params"),
        ({"concurrency": 0}, "concurrency"),
        ({"input_s3_uri": "/local/file.json"}, "input_s3_uri"),
    ],
)
def test_bad_conf_is_rejected_at_trigger_time_naming_the_field(dagbag, conf, field):
    from airflow.exceptions import ParamValidationError

    params = _trigger_time_params(dagbag.dags["batch_index_taxons"])
    with pytest.raises(ParamValidationError) as raised:
        params.deep_merge(GOOD_CONF | conf).validate()
    assert field in str(raised.value)


def test_bioindex_dags_run_in_the_safe_order(dagbag):
    compress = dagbag.dags["bioindex_compress"]
    assert compress.schedule is None and compress.max_active_runs == 1
    chain = ["plan", "compress", "verify", "mark_compressed", "delete_originals"]
    for position, (upstream, task_id) in enumerate(pairwise(chain), 1):
        task = compress.get_task(task_id)
        assert upstream in task.upstream_task_ids <= set(chain[:position]), task_id  # mapped steps read plan too
        assert task.trigger_rule == "all_success", task_id
    assert compress.get_task("compress").map_index_template == "{{ task.chunk_label }}"
    rollback = dagbag.dags["bioindex_decompress"]
    chain = ["plan", "restore", "mark_uncompressed", "delete_compressed"]
    for position, (upstream, task_id) in enumerate(pairwise(chain), 1):
        assert upstream in rollback.get_task(task_id).upstream_task_ids <= set(chain[:position]), task_id
    assert rollback.get_task("restore").partial_kwargs["keep_compressed"] is True


def test_bioindex_params_refuse_a_bad_conf_at_trigger_time(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    params = _trigger_time_params(dagbag.dags["bioindex_compress"])
    assert params.deep_merge({"include": ["gene*"]}).validate()["bucket"] == "dig-bio-index"
    with pytest.raises(ParamValidationError, match="chunk_gib"):
        params.deep_merge({"chunk_gib": -1}).validate()
