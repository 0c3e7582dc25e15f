"""The stream processors are off while glue_to_<env> copies into the lower table, and on after.

The full run's final state alone (every mapping ``Enabled``) cannot tell ``streams_off`` from a
no-op: the mapping states are recorded at each write of the copy, on moto (botocore's
``before-parameter-build`` event, whose ``params`` are the API parameters).
"""

from __future__ import annotations

import threading

import boto3
import pytest

from tests.support.botocore_events import client_events
from tests.support.lower_env import demo_world, load_glue_to_dags

REGION = "us-west-2"


def test_the_toggles_are_wired_off_before_the_copy_and_on_after():
    dag = load_glue_to_dags()["glue_to_test"]
    assert dag.get_task("streams_off").enabled is False
    assert dag.get_task("streams_on").enabled is True


@pytest.mark.usefixtures("airflow_db")
def test_every_mapping_is_disabled_while_the_copy_writes(tmp_path, monkeypatch):
    with demo_world(tmp_path, monkeypatch) as dag:
        lambdas = boto3.client("lambda", region_name=REGION)
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
