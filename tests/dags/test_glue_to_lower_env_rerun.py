"""glue_to_<env> cleared after it finished: every step acts on the world as it is, not as it remembers it."""

from __future__ import annotations

import boto3
import pendulum
import pytest

from scripts.local_aws import LOWER_ENV_DEMO
from tests.support.dag_runs import clear_and_rerun
from tests.support.glue import glue_copy_job
from tests.support.lower_env import demo_world

SCRIPTS = "efcms-glue-scripts"


@pytest.mark.usefixtures("airflow_db")
def test_clearing_a_finished_run_copies_into_the_table_it_recreated(tmp_path, monkeypatch):
    """Case: copy_table found its earlier Glue run SUCCEEDED and reattached to it, leaving the
    table the rerun had just deleted and recreated empty, and the run still succeeded."""
    copy = {
        "engine": "glue",
        "glue_job_name": "efcms-glue-to-demo",
        "script_location": f"s3://{SCRIPTS}/dynamo-copy/",
        "update_job_definition": True,
        "job_role_arn": "arn:aws:iam::123456789012:role/glue",  # moto's account
        "obfuscation_domain": "example.com",
        "waiter_delay": 0,
    }
    with demo_world(tmp_path, monkeypatch, LOWER_ENV_DEMO | {"copy": copy}) as dag:
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=SCRIPTS, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        boto3.client("iam").create_role(RoleName="glue", AssumeRolePolicyDocument="{}")
        dynamodb = boto3.client("dynamodb", region_name="us-west-2")
        logical_date = pendulum.datetime(2026, 12, 1, 5, tz="UTC")
        with glue_copy_job() as started:
            first = dag.test(logical_date=logical_date, run_after=logical_date)
            assert first.state == "success"
            assert dynamodb.scan(TableName="efcms-demo-alpha", Select="COUNT")["Count"] == 40
            cleared = clear_and_rerun(dag, logical_date)
        assert cleared.run_id == first.run_id
        states = {ti.task_id: ti.state for ti in cleared.get_task_instances()}
        assert cleared.state == "success", states
        assert len(started) == 2, "the rerun must start a Glue run of its own"
        assert dynamodb.scan(TableName="efcms-demo-alpha", Select="COUNT")["Count"] == 40
