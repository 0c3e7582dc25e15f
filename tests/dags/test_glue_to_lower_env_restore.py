"""glue_to_<env> without a deploy DAG leaves the lower environment whole: its search domain and its
stream processors reading the recreated table's stream, also when the finished run is cleared."""

from __future__ import annotations

import json

import boto3
import pendulum
import pytest

from tests.support.dag_runs import clear_and_rerun
from tests.support.lower_env import demo_world

REGION = "us-west-2"
#: The demo world's domain as deployed (scripts/local_aws.py).
DEPLOYED_ENGINE = "OpenSearch_2.11"
DEPLOYED_CLUSTER = {"InstanceType": "r6g.large.search", "InstanceCount": 2}


@pytest.fixture
def glue_to_demo(tmp_path, monkeypatch):
    with demo_world(tmp_path, monkeypatch) as dag:
        yield dag


def _domain():
    return boto3.client("opensearch", region_name=REGION).describe_domain(DomainName="efcms-search-demo")[
        "DomainStatus"
    ]


def _current_stream():
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName="efcms-demo-alpha")["Table"]
    return table["LatestStreamArn"]


def _mappings():
    client = boto3.client("lambda", region_name=REGION)
    return client.list_event_source_mappings(FunctionName="streams_demo_blue")["EventSourceMappings"]


def _assert_restored(run, deployed_cluster):
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    domain = _domain()
    assert domain["EngineVersion"] == DEPLOYED_ENGINE and not domain["Deleted"]
    assert domain["ClusterConfig"] == deployed_cluster
    mappings = _mappings()
    assert len(mappings) == 1
    assert {(m["EventSourceArn"], m["State"], m["BatchSize"]) for m in mappings} == {(_current_stream(), "Enabled", 50)}


@pytest.mark.usefixtures("airflow_db")
def test_a_run_recreates_the_search_domain_and_moves_the_processors_to_the_new_stream(glue_to_demo):
    deployed = _domain()["ClusterConfig"]
    assert deployed.items() >= DEPLOYED_CLUSTER.items()
    stream_before = _current_stream()
    run = glue_to_demo.test()
    _assert_restored(run, deployed)
    assert _current_stream() != stream_before, "the table was recreated"


@pytest.mark.usefixtures("airflow_db")
def test_clearing_the_finished_run_still_leaves_the_domain_and_the_processors_on_the_current_stream(glue_to_demo):
    deployed = _domain()["ClusterConfig"]
    logical_date = pendulum.datetime(2026, 11, 2, tz="UTC")
    first = glue_to_demo.test(logical_date=logical_date, run_after=logical_date)
    _assert_restored(first, deployed)
    stream_after_first = _current_stream()
    again = clear_and_rerun(glue_to_demo, logical_date)
    assert again.run_id == first.run_id, "the same run, cleared and run again"
    assert {ti.task_id: ti.try_number for ti in again.get_task_instances()}["delete_persistence"] == 2
    assert _saved_domain_shapes(again)["efcms-search-demo"]["EngineVersion"] == DEPLOYED_ENGINE
    _assert_restored(again, deployed)
    assert _current_stream() != stream_after_first, "the table was recreated again"


def _saved_domain_shapes(run):
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(TaskStateStoreModel).filter_by(run_id=run.run_id, task_id="delete_persistence").one()
        return json.loads(row.value)


@pytest.mark.usefixtures("airflow_db")
def test_a_reset_retried_after_the_domain_is_gone_still_has_it_recreated(glue_to_demo, monkeypatch):
    from airflow_provider_bio.operators.persistence import DeletePersistenceOperator

    deployed = _domain()["ClusterConfig"]
    exists = DeletePersistenceOperator._domain_exists
    interrupted = []

    def interrupted_once_the_domain_is_gone(opensearch, domain):
        if not exists(opensearch, domain) and not interrupted:
            interrupted.append(domain)
            raise ConnectionError("connection reset while waiting for the deletion")
        return exists(opensearch, domain)

    monkeypatch.setattr(DeletePersistenceOperator, "_domain_exists", staticmethod(interrupted_once_the_domain_is_gone))
    run = glue_to_demo.test()
    assert interrupted == ["efcms-search-demo"]
    assert {ti.task_id: ti.try_number for ti in run.get_task_instances()}["delete_persistence"] == 2
    _assert_restored(run, deployed)
