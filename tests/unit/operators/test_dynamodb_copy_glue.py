"""DynamoGlueCopyOperator's Glue engine on moto: job definition, script upload, arguments, reattach, refusal.

moto does not run Glue scripts: the tests write the counts the job would write, and the
script's own argument handling is tested directly (its transform is the shared core function).
"""

from __future__ import annotations

import io
import json
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

BUCKET = "bio-glue-scripts"
LOCATION = f"s3://{BUCKET}/dynamo-copy/"
JOB = "efcms-glue-to-test"
RESULT_KEY = "dynamo-copy/results/manual__2026-11-21T05:00:00+00:00/copy.json"


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=BUCKET, Key=RESULT_KEY, Body=json.dumps({"read": 5, "written": 5, "transformed": 2}))
        iam = boto3.client("iam", region_name="us-west-2")
        role = iam.create_role(RoleName="glue-copy", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        yield {"s3": s3, "glue": boto3.client("glue", region_name="us-west-2"), "role": role}


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
    assert dynamo_glue_copy.settings_from(parsed).domain == "example.com"


def test_a_retry_reattaches_to_the_run_it_started(aws):
    store = FakeTaskStateStore()
    first = _operator(aws).execute(make_context(store))
    with recorded_calls() as calls:
        again = _operator(aws).execute(make_context(store))
    assert again["glue_job_run_id"] == first["glue_job_run_id"]
    assert "StartJobRun" not in {call.operation for call in calls}
    assert store.get(GLUE_RUN_KEY) == first["glue_job_run_id"]


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
    aws["s3"].put_object(Bucket=BUCKET, Key=RESULT_KEY, Body=json.dumps({"read": 5, "written": 4}))
    with pytest.raises(RuntimeError, match="read 5 items but wrote 4"):
        _operator(aws).execute(make_context())


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
