"""DynamoGlueCopyOperator's Glue engine on moto: job definition, script upload, arguments, reattach, refusal.

moto does not run Glue scripts: a stand-in (tests/support/glue.py) does what the script does
when a run starts, with the script's own argument parsing and the shared transform.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import boto3
import pytest
from airflow.providers.amazon.aws.triggers.glue import GlueJobCompleteTrigger
from airflow.sdk.exceptions import TaskDeferred
from moto import mock_aws
from moto.moto_api import state_manager

from airflow_provider_bio.jobs import dynamo_glue_copy
from airflow_provider_bio.operators.dynamodb_copy import GLUE_RUN_KEY, DynamoGlueCopyOperator
from tests.conftest import REPO
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import recorded_calls
from tests.support.glue import glue_copy_job

BUCKET = "bio-glue-scripts"
LOCATION = f"s3://{BUCKET}/dynamo-copy/"
JOB = "efcms-glue-to-test"
RUN_ID = "manual__2026-11-21T05:00:00+00:00"
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def _recreate(dynamodb, table):
    """What delete_persistence and recreate_table do to the lower table on a rerun."""
    dynamodb.delete_table(TableName=table)
    dynamodb.create_table(TableName=table, **KEYS)


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        dynamodb = boto3.client("dynamodb", region_name="us-west-2")
        for table in ("efcms-prod-alpha", "efcms-test-alpha"):
            dynamodb.create_table(TableName=table, **KEYS)
        for n in range(5):
            item = {"pk": {"S": f"user-email|u{n}@court.gov"}, "email": {"S": f"u{n}@court.gov"}}
            dynamodb.put_item(TableName="efcms-prod-alpha", Item=item)
        iam = boto3.client("iam", region_name="us-west-2")
        role = iam.create_role(RoleName="glue-copy", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        with glue_copy_job() as started:
            yield {
                "s3": s3,
                "glue": boto3.client("glue", region_name="us-west-2"),
                "dynamodb": dynamodb,
                "role": role,
                "started": started,
            }


def _operator(aws, **kwargs):
    defaults = {
        "task_id": "copy",
        "source_table": "efcms-prod-alpha",
        "destination_table": "efcms-test-alpha",
        "obfuscation_domain": "example.com",
        "engine": "glue",
        "glue_job_name": JOB,
        "script_location": LOCATION,
        "update_job_definition": True,
        "job_role_arn": aws["role"],
        "destination_role_arn": "arn:aws:iam::222233334444:role/lower-env-writer",
        "aws_conn_id": None,
        "region_name": "us-west-2",
        "waiter_delay": 0,
        "deferrable": False,
    }
    return DynamoGlueCopyOperator(**(defaults | kwargs))


def test_creates_the_job_uploads_the_script_and_passes_the_arguments(aws):
    result = _operator(aws).execute(make_context())
    assert result["read"] == result["written"] == 5
    job = aws["glue"].get_job(JobName=JOB)["Job"]
    assert job["Command"]["ScriptLocation"] == f"{LOCATION}dynamo_glue_copy.py"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 20)
    script = aws["s3"].get_object(Bucket=BUCKET, Key="dynamo-copy/dynamo_glue_copy.py")["Body"].read()
    assert script == (REPO / "airflow_provider_bio/jobs/dynamo_glue_copy.py").read_bytes()
    bundle = aws["s3"].get_object(Bucket=BUCKET, Key="dynamo-copy/airflow_provider_bio_core.zip")["Body"].read()
    assert "airflow_provider_bio/core/obfuscation.py" in zipfile.ZipFile(io.BytesIO(bundle)).namelist()
    run = aws["glue"].get_job_run(JobName=JOB, RunId=result["glue_job_run_id"])["JobRun"]
    parsed = dynamo_glue_copy.parse_arguments([word for pair in run["Arguments"].items() for word in pair])
    assert parsed["source_table"] == "efcms-prod-alpha" and parsed["output_retries"] == 35
    assert parsed["destination_role_arn"].endswith(":role/lower-env-writer")
    ssm = boto3.client("ssm", region_name="us-west-2")
    secret = dynamo_glue_copy.read_secret(parsed, ssm)
    assert dynamo_glue_copy.settings_from(parsed, secret).domain == "example.com"
    # The secret reaches the job through an SSM SecureString, never as an argument of the run.
    assert secret == os.environ["AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET"].encode()
    assert parsed["obfuscation_secret_parameter"] == f"/{JOB}/obfuscation-secret"
    assert ssm.get_parameter(Name=f"/{JOB}/obfuscation-secret")["Parameter"]["Type"] == "SecureString"
    assert secret.decode() not in json.dumps(run["Arguments"])


def test_a_retry_reattaches_to_the_run_it_started(aws):
    store = FakeTaskStateStore()
    first = _operator(aws).execute(make_context(store))
    with recorded_calls() as calls:
        again = _operator(aws).execute(make_context(store))
    assert again["glue_job_run_id"] == first["glue_job_run_id"]
    assert "StartJobRun" not in {call.operation for call in calls}
    assert store.get(GLUE_RUN_KEY)["value"] == first["glue_job_run_id"]


def test_refuses_to_start_beside_an_active_run(aws):
    state_manager.set_transition(model_name="glue::job_run", transition={"progression": "manual", "times": 1000})
    try:
        _operator(aws, wait_for_completion=False).execute(make_context())  # another task's run, still going
        with recorded_calls() as calls, pytest.raises(RuntimeError, match="already has an active run"):
            _operator(aws).execute(make_context())
        assert "StartJobRun" not in {call.operation for call in calls}
    finally:
        state_manager.unset_transition("glue::job_run")


def test_deferrable_waits_in_the_triggerer(aws):
    with pytest.raises(TaskDeferred) as deferred:
        _operator(aws, deferrable=True).execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, GlueJobCompleteTrigger) and trigger.job_name == JOB
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("GlueJobCompleteTrigger") and kwargs["run_id"] == trigger.run_id
    operator = _operator(aws, deferrable=True)
    finished = operator.execute_complete(make_context(), {"status": "success", "run_id": trigger.run_id})
    assert finished["read"] == finished["written"] == 5
    with pytest.raises(RuntimeError, match="did not succeed"):
        operator.execute_complete(make_context(), {"status": "failure", "run_id": trigger.run_id})


def test_written_short_of_read_fails(aws):
    with glue_copy_job(lose=1), pytest.raises(RuntimeError, match="read 5 items but wrote 4"):
        _operator(aws).execute(make_context())


def test_a_success_is_not_reused_once_the_destination_was_recreated(aws):
    """Clearing a finished glue_to_<env> run deletes and recreates the lower table before copy_table."""
    store = FakeTaskStateStore()
    first = _operator(aws).execute(make_context(store))
    _recreate(aws["dynamodb"], "efcms-test-alpha")
    again = _operator(aws).execute(make_context(store))
    assert again["glue_job_run_id"] != first["glue_job_run_id"] and len(aws["started"]) == 2
    assert aws["dynamodb"].scan(TableName="efcms-test-alpha", Select="COUNT")["Count"] == 5


def test_a_remembered_run_given_other_arguments_is_not_reused(aws):
    store = FakeTaskStateStore()
    _operator(aws).execute(make_context(store))
    # The first run's stand-ins (@example.com) are still there: the post-copy check flags them.
    with pytest.raises(RuntimeError, match=r"outside @example\.org"):
        _operator(aws, obfuscation_domain="example.org").execute(make_context(store))
    assert len(aws["started"]) == 2


def test_two_dags_on_one_schedule_keep_their_counts_apart(aws):
    from airflow.sdk import DAG

    keys = []
    for dag_id in ("glue_to_test", "glue_to_mig"):
        with DAG(dag_id=dag_id, schedule=None):
            operator = _operator(aws)
        keys.append(operator._result_uri(make_context()))
    assert keys[0] != keys[1] and all(RUN_ID in key for key in keys)
    assert "/glue_to_test/" in keys[0] and "/glue_to_mig/" in keys[1]


def test_counts_of_another_run_are_never_taken(aws):
    operator = _operator(aws)
    result = operator.execute(make_context())
    with pytest.raises(RuntimeError, match="left no counts"):
        operator._glue_result("jr_another_run", operator._result_uri(make_context()))
    assert result["glue_job_run_id"] == aws["started"][0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"glue_job_name": "bad name!"}, "glue_job_name"),
        ({"script_location": "scripts/"}, "script_location"),
        ({"job_role_arn": None}, "job_role_arn"),
        ({"engine": "spark"}, "engine"),
        ({"destination_table": "efcms-prod-beta"}, "protected pattern"),
    ],
)
def test_bad_glue_arguments_fail_before_any_aws_call(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError, match=message):
        _operator({"role": "arn:aws:iam::1:role/x"}, **kwargs).execute(make_context())
    assert calls == []


def test_the_script_names_missing_arguments():
    with pytest.raises(ValueError, match="--obfuscation"):
        dynamo_glue_copy.parse_arguments(["--source_table", "a", "--JOB_NAME", "x"])
