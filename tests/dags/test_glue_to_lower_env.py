"""The glue_to_<env> factory: one DAG per config entry, schedules, order, and a full run on moto."""

from __future__ import annotations

import json
from itertools import pairwise

import boto3
import pytest

from tests.conftest import REPO
from tests.support.botocore_events import recorded_calls
from tests.support.iam import allowed, load_policy, needed_by_any_service
from tests.support.lower_env import demo_world, load_glue_to_dags

ORDER = [
    "flags_off",
    "delete_persistence",
    "recreate_table",
    "recreate_domains",
    "streams_off",
]


def test_test_and_mig_run_monthly_at_five():
    dags = load_glue_to_dags()
    assert set(dags) == {"glue_to_test", "glue_to_mig"}
    assert dags["glue_to_test"].schedule == "0 5 1 * *" and dags["glue_to_mig"].schedule == "0 5 2 * *"
    for dag in dags.values():
        assert dag.max_active_runs == 1 and not dag.catchup


def test_steps_run_in_the_runbook_order():
    dag = load_glue_to_dags()["glue_to_test"]
    for before, after in pairwise(ORDER):
        assert dag.get_task(before).downstream_task_ids == {after}
    assert dag.get_task("streams_off").downstream_task_ids == {"copy_table", "sync_documents_wanted"}
    assert dag.get_task("streams_on").upstream_task_ids == {"copy_table", "sync_documents"}
    assert dag.get_task("streams_on").downstream_task_ids == {"wait_for_draining"}
    assert dag.get_task("wait_for_draining").downstream_task_ids == {"migrate_on"}


def test_one_more_entry_is_one_more_dag(tmp_path, monkeypatch):
    config = json.loads((REPO / "dags/lower_environments.json").read_text())
    config["staging"] = config["test"] | {"schedule": "0 6 3 * *"}
    path = tmp_path / "envs.json"
    path.write_text(json.dumps(config))
    dags = load_glue_to_dags(path, monkeypatch)
    assert set(dags) == {"glue_to_test", "glue_to_mig", "glue_to_staging"}
    assert dags["glue_to_staging"].schedule == "0 6 3 * *"


@pytest.mark.usefixtures("airflow_db")
def test_a_full_run_copies_obfuscates_and_syncs(tmp_path, monkeypatch):
    with demo_world(tmp_path, monkeypatch) as dag:
        dynamodb = boto3.client("dynamodb", region_name="us-west-2")
        s3 = boto3.client("s3", region_name="us-west-2")
        with recorded_calls() as calls:
            run = dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        copied = dynamodb.scan(TableName="efcms-demo-alpha")["Items"]
        assert len(copied) == 40 and "@court.gov" not in json.dumps(copied) and "@home.org" not in json.dumps(copied)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="efcms-demo-documents")["Contents"]] == ["case/1.pdf"]
        flag = dynamodb.get_item(TableName="efcms-deploy-demo", Key={"pk": {"S": "migrate"}, "sk": {"S": "migrate"}})
        assert flag["Item"]["current"]["S"] == "true"
        mappings = boto3.client("lambda", region_name="us-west-2").list_event_source_mappings()["EventSourceMappings"]
        assert {m["State"] for m in mappings} == {"Enabled"}
        policies = [
            load_policy(
                "glue_to_lower_env_source_account",
                SOURCE_TABLE="efcms-source-alpha",
                SOURCE_DOCUMENTS_BUCKET="efcms-source-documents",
                ENV="demo",
                GLUE_JOB_ROLE_ARN="arn:aws:iam::123456789012:role/glue",
                GLUE_SCRIPTS_BUCKET="efcms-glue-scripts",
            ),
            load_policy(
                "glue_to_lower_env_destination_account", ENV="demo", DESTINATION_DOCUMENTS_BUCKET="efcms-demo-documents"
            ),
        ]
        for call in calls:
            for action, resource in needed_by_any_service(call):
                assert any(allowed(p, action, resource) for p in policies), f"{call.operation}: {action} on {resource}"


def test_each_account_policy_stays_on_its_side():
    source = load_policy("glue_to_lower_env_source_account", SOURCE_TABLE="efcms-prod-alpha", ENV="test")
    destination = load_policy("glue_to_lower_env_destination_account", ENV="test")
    lower_table = "arn:aws:dynamodb:us-east-1:2:table/efcms-test-alpha"
    prod_table = "arn:aws:dynamodb:us-east-1:1:table/efcms-prod-alpha"
    for action in ("dynamodb:BatchWriteItem", "dynamodb:DeleteTable", "dynamodb:CreateTable"):
        assert not allowed(source, action, lower_table) and not allowed(destination, action, prod_table)
    assert not allowed(destination, "dynamodb:Scan", prod_table)
    for policy in (source, destination):
        assert all("*" not in action for statement in policy["Statement"] for action in statement["Action"])


def test_an_entry_with_its_own_deploy_dag_triggers_it_instead_of_recreating(tmp_path, monkeypatch):
    config = json.loads((REPO / "dags/lower_environments.json").read_text())
    config["test"]["destination"]["redeploy_dag_id"] = "deploy_test"
    path = tmp_path / "envs.json"
    path.write_text(json.dumps(config))
    dag = load_glue_to_dags(path, monkeypatch)["glue_to_test"]
    assert "recreate_table" not in dag.task_ids
    redeploy = dag.get_task("redeploy")
    assert redeploy.trigger_dag_id == "deploy_test" and redeploy.wait_for_completion
    assert redeploy.upstream_task_ids == {"delete_persistence"} and redeploy.downstream_task_ids == {"streams_off"}
