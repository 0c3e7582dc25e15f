"""The stream processors are off while glue_to_<env> copies into the lower table, and on after.

The full run's final state alone (every mapping ``Enabled``) cannot tell ``streams_off`` from a
no-op: the mapping states are recorded at each write of the copy, on moto (botocore's
``before-parameter-build`` event, whose ``params`` are the API parameters).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from scripts.local_aws import LOWER_ENV_DEMO, provision_lower_env_world
from tests.conftest import REPO
from tests.support.botocore_events import client_events

REGION = "us-west-2"


def _load(config_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("GLUE_TO_LOWER_ENV_CONFIG", str(config_path))
    bag = DagBag(dag_folder=str(REPO / "dags" / "glue_to_lower_env.py"))
    assert bag.import_errors == {}
    return bag.dags


def test_the_toggles_are_wired_off_before_the_copy_and_on_after():
    dag = _load_default()
    assert dag.get_task("streams_off").enabled is False
    assert dag.get_task("streams_on").enabled is True


def _load_default():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "glue_to_lower_env.py"))
    assert bag.import_errors == {}
    return bag.dags["glue_to_test"]


@pytest.mark.usefixtures("airflow_db")
def test_every_mapping_is_disabled_while_the_copy_writes(tmp_path, monkeypatch):
    path = tmp_path / "envs.json"
    path.write_text(json.dumps({"demo": LOWER_ENV_DEMO}))
    with mock_aws(config={"lambda": {"use_docker": False}}):
        provision_lower_env_world(None)
        lambdas = boto3.client("lambda", region_name=REGION)
        dag = _load(path, monkeypatch)["glue_to_demo"]
        for task in dag.tasks:
            task.retry_delay = timedelta(0)
        seen: list[set[str]] = []
        lock = threading.Lock()

        def record_states(params, **_):
            if params.get("RequestItems", {}).keys() & {"efcms-demo-alpha"}:
                states = {m["State"] for m in lambdas.list_event_source_mappings()["EventSourceMappings"]}
                with lock:
                    seen.append(states)

        with client_events({"before-parameter-build.dynamodb.BatchWriteItem": record_states}):
            run = dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        assert seen, "the copy wrote nothing into the lower table"
        assert all(states == {"Disabled"} for states in seen), seen
        after = {m["State"] for m in lambdas.list_event_source_mappings()["EventSourceMappings"]}
        assert after == {"Enabled"}
