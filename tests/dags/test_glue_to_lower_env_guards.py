"""glue_to_demo with the environment's account configured: moto's account runs, a protected one stops at flags_off.

moto answers ``sts:GetCallerIdentity`` with its default account, 123456789012.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import boto3
import pytest

from scripts.local_aws import LOWER_ENV_DEMO
from tests.support.botocore_events import recorded_calls
from tests.support.lower_env import demo_world

MOTO_ACCOUNT = "123456789012"
#: Every API call a step of glue_to_demo writes with.
WRITES = {
    "PutItem",
    "DeleteTable",
    "CreateTable",
    "DeleteDomain",
    "CreateDomain",
    "UpdateEventSourceMapping",
    "CreateEventSourceMapping",
    "DeleteEventSourceMapping",
    "BatchWriteItem",
    "CopyObject",
    "PutObject",
    "DeleteObjects",
    "DeleteObject",
}


@contextmanager
def _run(tmp_path, monkeypatch, account_id, protected_accounts):
    """glue_to_demo run once with these accounts configured; yields the run and the calls it made."""
    config = json.loads(json.dumps(LOWER_ENV_DEMO))
    config["destination"]["account_id"] = account_id
    config["protected"]["accounts"] = protected_accounts
    with demo_world(tmp_path, monkeypatch, config) as dag:
        with recorded_calls() as calls:
            run = dag.test()
        yield run, calls


@pytest.mark.usefixtures("airflow_db")
def test_the_environments_real_account_runs_and_each_step_asks_it_once(tmp_path, monkeypatch):
    with _run(tmp_path, monkeypatch, MOTO_ACCOUNT, ["111122223333"]) as (run, calls):
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        assert len(boto3.client("dynamodb", region_name="us-west-2").scan(TableName="efcms-demo-alpha")["Items"]) == 40
    asked = [c for c in calls if c.operation == "GetCallerIdentity"]
    guarded = ["flags_off", "delete_persistence", "recreate_table", "recreate_domains", "streams_off"]
    guarded += ["copy_table", "sync_documents", "streams_on", "migrate_on"]
    assert len(asked) == len(guarded)  # once per destructive task, each task asking afresh


@pytest.mark.usefixtures("airflow_db")
def test_a_protected_account_fails_at_flags_off_with_nothing_written(tmp_path, monkeypatch):
    # The configuration names another account; AWS says the connection reaches a protected one.
    with _run(tmp_path, monkeypatch, "222233334444", [MOTO_ACCOUNT]) as (run, calls):
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "failed"
        assert states["flags_off"] == "failed" and states["delete_persistence"] == "upstream_failed"
        dynamodb = boto3.client("dynamodb", region_name="us-west-2")
        assert "efcms-demo-alpha" in dynamodb.list_tables()["TableNames"]
        assert "Item" not in dynamodb.get_item(
            TableName="efcms-deploy-demo", Key={"pk": {"S": "migrate"}, "sk": {"S": "migrate"}}
        )
    assert {c.operation for c in calls} == {"GetCallerIdentity"}
    assert not {c.operation for c in calls} & WRITES
    # A refusal fails the task at once: its retries would be refused alike.
    assert [c.operation for c in calls] == ["GetCallerIdentity"]
    assert run.get_task_instance("flags_off").try_number == 1


@pytest.mark.usefixtures("airflow_db")
def test_another_account_than_the_configured_one_fails_at_flags_off(tmp_path, monkeypatch):
    with _run(tmp_path, monkeypatch, "222233334444", []) as (run, calls):
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "failed" and states["flags_off"] == "failed"
    assert {c.operation for c in calls} == {"GetCallerIdentity"}
