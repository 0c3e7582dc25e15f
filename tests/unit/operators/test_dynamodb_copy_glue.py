"""DynamoGlueCopyOperator's Glue engine on moto: job definition, script upload, arguments, reattach, refusal.

moto does not run Glue scripts: a stand-in (tests/support/glue.py) does what the script does
when a run starts, with the script's own argument parsing and the shared transform.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import boto3
import pytest
from airflow.providers.amazon.aws.triggers.glue import GlueJobCompleteTrigger
from airflow.sdk.exceptions import TaskDeferred
from moto import mock_aws
from moto.moto_api import state_manager
from structlog.testing import capture_logs

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
        with recorded_calls() as calls, pytest.raises(RuntimeError) as refused:
            _operator(aws).execute(make_context())
        assert "StartJobRun" not in {call.operation for call in calls}
        assert str(refused.value) == (
            f"Glue job {JOB} already has an active run ({aws['started'][0]}): a second copy would write the same "
            "table; wait for it or stop it"
        )
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


def test_the_job_definition_and_every_argument_of_the_run(aws):
    from airflow.sdk import DAG

    with DAG(dag_id="glue_to_test", schedule=None):
        operator = _operator(
            aws,
            email_keys=["email", "contactEmail"],
            number_of_workers=4,
            write_throughput_percent=0.5,
            output_retries=7,
            destination_role_arn=None,
            glue_secret_parameter="/copies/secret",
        )
    result = operator.execute(make_context())
    job = aws["glue"].get_job(JobName=JOB)["Job"]
    assert job["Role"] == aws["role"] and job["GlueVersion"] == "4.0"
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": f"{LOCATION}dynamo_glue_copy.py",
        "PythonVersion": "3",
    }
    assert job["DefaultArguments"] == {"--extra-py-files": f"{LOCATION}airflow_provider_bio_core.zip"}
    assert job["Description"] == "Copy of DynamoDB efcms-prod-alpha with emails obfuscated (airflow-provider-bio)"
    run = aws["glue"].get_job_run(JobName=JOB, RunId=result["glue_job_run_id"])["JobRun"]
    assert run["Arguments"] == {
        "--extra-py-files": f"{LOCATION}airflow_provider_bio_core.zip",  # the job's default, as Glue shows it
        "--source_table": "efcms-prod-alpha",
        "--destination_table": "efcms-test-alpha",
        "--destination_role_arn": "none",
        "--splits": "4",
        "--write_throughput_percent": "0.5",
        "--output_retries": "7",
        "--obfuscation": '{"domain": "example.com", "email_keys": ["email", "contactEmail"]}',
        "--obfuscation_secret_parameter": "/copies/secret",
        "--key_attributes": '["pk"]',
        "--result_s3_uri": f"{LOCATION}results/glue_to_test/{RUN_ID}/copy.json",
    }
    assert result == {
        "read": 5,
        "written": 5,
        "transformed": 5,
        "emails": 10,
        "not_written": 0,
        "not_written_keys": [],
        "glue_job_run_id": result["glue_job_run_id"],
        "addresses_outside_domain": 0,
    }


def test_the_secret_parameter_is_overwritten_with_the_current_secret(aws, monkeypatch):
    ssm = boto3.client("ssm", region_name="us-west-2")
    ssm.put_parameter(Name=f"/{JOB}/obfuscation-secret", Value="an-older-secret-of-last-year", Type="SecureString")
    monkeypatch.setenv("AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET", "this-year-secret-0123456789")
    _operator(aws).execute(make_context())
    parameter = ssm.get_parameter(Name=f"/{JOB}/obfuscation-secret", WithDecryption=True)["Parameter"]
    assert parameter["Value"] == "this-year-secret-0123456789" and parameter["Type"] == "SecureString"
    described = ssm.describe_parameters()["Parameters"][0]
    assert described["Description"].startswith("HMAC key of the email pseudonyms")


def test_not_waiting_returns_the_run_id_at_once(aws):
    with recorded_calls() as calls:
        result = _operator(aws, wait_for_completion=False).execute(make_context())
    assert result == {"glue_job_run_id": aws["started"][0]}
    # Neither the counts nor the destination are read: the run is not over yet.
    assert not {call.operation for call in calls} & {"HeadObject", "GetObject"}
    assert [call.params["TableName"] for call in calls if call.operation == "Scan"] == ["efcms-prod-alpha"]


def test_a_new_run_first_removes_the_counts_an_earlier_run_left(aws):
    """The counts file is deleted before the start: an earlier run's counts are never taken for this one's."""
    with recorded_calls() as calls:
        _operator(aws).execute(make_context())
    deletes = [call for call in calls if call.operation == "DeleteObjects"]
    assert [(d.params["Bucket"], d.params["Delete"]["Objects"]) for d in deletes] == [
        (BUCKET, [{"Key": f"dynamo-copy/results/adhoc_airflow/{RUN_ID}/copy.json"}])
    ]


def test_an_existing_job_is_run_as_it_is_without_update_job_definition(aws):
    _operator(aws).execute(make_context())
    with recorded_calls() as calls:
        result = _operator(aws, update_job_definition=False, job_role_arn=None).execute(make_context())
    assert result["written"] == 5 and len(aws["started"]) == 2
    operations = {call.operation for call in calls}
    assert not operations & {"CreateJob", "UpdateJob"}
    uploaded = [call.params["Key"] for call in calls if call.operation == "PutObject"]
    assert uploaded == [f"dynamo-copy/results/adhoc_airflow/{RUN_ID}/copy.json"]  # the job's counts only
    assert "StartJobRun" in operations
    # The job's recent runs are listed to refuse a second run beside an active one.
    assert {"JobName": JOB, "MaxResults": 50} in [call.params for call in calls if call.operation == "GetJobRuns"]


def test_a_missing_job_without_update_job_definition_is_refused(aws):
    with pytest.raises(RuntimeError, match=f"Glue job {JOB} does not exist; pass update_job_definition=True"):
        _operator(aws, update_job_definition=False).execute(make_context())
    assert aws["started"] == []


def test_a_remembered_run_whose_job_was_deleted_is_started_again(aws):
    store = FakeTaskStateStore()
    _operator(aws).execute(make_context(store))
    aws["glue"].delete_job(JobName=JOB)
    again = _operator(aws).execute(make_context(store))
    assert len(aws["started"]) == 2 and again["glue_job_run_id"] == aws["started"][1]


def test_the_trigger_waits_with_the_operator_settings(aws):
    with pytest.raises(TaskDeferred) as deferred:
        _operator(aws, deferrable=True, waiter_delay=None, verify=False, botocore_config={"read_timeout": 9}).execute(
            make_context()
        )
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["run_id"] == aws["started"][0] and kwargs["job_name"] == JOB
    assert (kwargs["waiter_delay"], kwargs["waiter_max_attempts"]) == (None, 2880)
    assert (kwargs["aws_conn_id"], kwargs["region_name"], kwargs["verify"]) == (None, "us-west-2", False)
    assert kwargs["botocore_config"] == {"read_timeout": 9}
    assert deferred.value.method_name == "execute_complete"


def _counts_at(aws, counts):
    key = f"dynamo-copy/results/adhoc_airflow/{RUN_ID}/copy.json"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=json.dumps(counts).encode())


def test_a_deferred_copy_finishes_with_the_counts_the_job_left(aws):
    _counts_at(aws, {"read": 3, "written": 3})  # an older job version: no not_written, no run id
    result = _operator(aws, deferrable=True).execute_complete(make_context(), {"status": "success", "run_id": "jr_1"})
    assert result == {"read": 3, "written": 3, "glue_job_run_id": "jr_1", "addresses_outside_domain": 0}


@pytest.mark.parametrize(
    ("counts", "event", "message"),
    [
        pytest.param(None, None, f"Glue run of {JOB} did not succeed: None", id="no-event"),
        pytest.param(None, {"status": "success", "run_id": "jr_1"}, "Glue run jr_1 left no counts at s3://", id="none"),
        pytest.param(
            {"read": 3, "written": 3, "glue_job_run_id": "jr_0"},
            {"status": "success", "run_id": "jr_1"},
            "Glue run jr_1 left no counts",
            id="another-run",
        ),
        pytest.param(
            {"read": 3, "written": 2, "glue_job_run_id": "jr_1"},
            {"status": "success", "run_id": "jr_1"},
            "Glue run jr_1 read 3 items but wrote 2",
            id="short",
        ),
        pytest.param(
            {"read": 3, "written": 2, "not_written": 1, "not_written_keys": ["pk=big"], "glue_job_run_id": "jr_1"},
            {"status": "success", "run_id": "jr_1"},
            "1 items could not be written.*: pk=big$",
            id="too-large",
        ),
    ],
)
def test_a_deferred_copy_fails_on_a_bad_event_or_bad_counts(aws, counts, event, message):
    if counts is not None:
        _counts_at(aws, counts)
    with pytest.raises(RuntimeError, match=message):
        _operator(aws, deferrable=True).execute_complete(make_context(), event)


WRITER = "destination_role_arn arn:aws:iam::222233334444:role/lower-env-writer"


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [
        pytest.param(
            {"protected_accounts": ["222233334444"]},
            f"{WRITER} reaches AWS account 222233334444, which is in protected_accounts: refusing to write "
            f"destination_table efcms-test-alpha; point {WRITER} at the lower environment's account",
            id="role-in-a-protected-account",
        ),
        pytest.param(
            {"expected_account": "123456789012"},
            f"{WRITER} reaches AWS account 222233334444, not expected_account 123456789012 (the environment's "
            f"account_id): refusing to write destination_table efcms-test-alpha; fix {WRITER} or the account_id",
            id="role-in-another-account",
        ),
        pytest.param({"expected_account": "123456789012", "engine": "local"}, None, id="local-engine-ignores-role"),
        pytest.param(
            {"expected_account": "123456789012", "destination_role_arn": "arn:aws:iam::123456789012:role/w"},
            None,
            id="role-in-the-expected-account",
        ),
    ],
)
def test_the_account_of_the_role_the_job_writes_as_is_guarded(aws, kwargs, refusal):
    operator = _operator(aws, **kwargs)
    if refusal:
        with pytest.raises(ValueError) as refused:
            operator._guard()
        assert str(refused.value) == refusal
    else:
        operator._guard()


def test_the_core_bundle_holds_the_package_init_and_every_core_module():
    from airflow_provider_bio.operators.dynamodb_copy import core_bundle

    bundle = zipfile.ZipFile(io.BytesIO(core_bundle()))
    names = bundle.namelist()
    assert names[0] == "airflow_provider_bio/__init__.py"
    assert {"airflow_provider_bio/core/__init__.py", "airflow_provider_bio/core/obfuscation.py"} <= set(names)
    assert all(name.startswith("airflow_provider_bio/core/") for name in names[1:])
    assert names[1:] == sorted(names[1:])
    assert {info.compress_type for info in bundle.infolist()} == {zipfile.ZIP_DEFLATED}


def test_the_log_names_the_glue_run_started_and_the_counts_it_left(aws):
    with capture_logs() as logs:
        result = _operator(aws).execute(make_context())
    run_id = aws["started"][0]
    key = f"dynamo-copy/results/adhoc_airflow/{RUN_ID}/copy.json"
    counts = json.loads(aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    events = [log["event"] for log in logs]
    assert f"Started Glue run {run_id} of {JOB}" in events
    assert f"Glue run {run_id}: {counts}" in events
    assert result["glue_job_run_id"] == run_id


def test_the_task_links_to_the_glue_run_it_started(aws):
    context = make_context()
    result = _operator(aws).execute(context)
    assert context["ti"].xcoms["glue_job_run_details"] == {
        "region_name": "us-west-2",
        "aws_domain": "aws.amazon.com",
        "job_name": JOB,
        "job_run_id": result["glue_job_run_id"],
    }


def test_a_run_is_checked_every_waiter_delay_seconds_at_most_waiter_max_attempts_times(aws, monkeypatch):
    from types import SimpleNamespace

    from botocore import waiter
    from botocore.exceptions import WaiterError

    sleeps = []
    monkeypatch.setattr(waiter, "time", SimpleNamespace(sleep=sleeps.append))
    state_manager.set_transition(model_name="glue::job_run", transition={"progression": "manual", "times": 1000})
    try:
        with pytest.raises(WaiterError, match="Max attempts exceeded"):
            _operator(aws, waiter_delay=7, waiter_max_attempts=3).execute(make_context())
    finally:
        state_manager.unset_transition("glue::job_run")
    assert sleeps == [7, 7]


def test_an_existing_job_is_updated_to_the_operators_definition(aws):
    from tests.support.botocore_events import client_events, http_response

    _operator(aws).execute(make_context())

    def updated(**_):  # moto has no UpdateJob
        return http_response(200, {}), {"JobName": JOB}

    with client_events({"before-call.glue.UpdateJob": updated}), recorded_calls() as calls:
        _operator(aws, number_of_workers=4, worker_type="G.2X").execute(make_context())
    updates = [call.params for call in calls if call.operation == "UpdateJob"]
    assert len(updates) == 1 and updates[0]["JobName"] == JOB
    assert (updates[0]["JobUpdate"]["WorkerType"], updates[0]["JobUpdate"]["NumberOfWorkers"]) == ("G.2X", 4)


def _tables_and_bucket_in(region: str) -> tuple[Any, Any]:
    """The copy's bucket and its source and destination tables in ``region``; their S3 and DynamoDB clients."""
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    dynamodb = boto3.client("dynamodb", region_name=region)
    for table in ("efcms-prod-alpha", "efcms-test-alpha"):
        dynamodb.create_table(TableName=table, **KEYS)
    return s3, dynamodb


def test_a_glue_copy_runs_wholly_in_the_operators_region_not_the_default_one():
    """Job, script, secret, run and counts all in eu-west-1, while boto3's default region is us-west-2."""
    region = "eu-west-1"
    with mock_aws():
        _, dynamodb = _tables_and_bucket_in(region)
        dynamodb.put_item(TableName="efcms-prod-alpha", Item={"pk": {"S": "case|1"}, "email": {"S": "a@court.gov"}})
        role = boto3.client("iam", region_name=region).create_role(RoleName="glue-copy", AssumeRolePolicyDocument="{}")
        with glue_copy_job() as started:
            result = _operator({"role": role["Role"]["Arn"]}, region_name=region).execute(make_context())
        assert result["read"] == result["written"] == 1 and result["glue_job_run_id"] == started[0]
        assert boto3.client("glue", region_name=region).get_job(JobName=JOB)["Job"]["Name"] == JOB
        secret = boto3.client("ssm", region_name=region).get_parameter(Name=f"/{JOB}/obfuscation-secret")
        assert secret["Parameter"]["Type"] == "SecureString"
        assert boto3.client("glue", region_name="us-west-2").get_jobs()["Jobs"] == []


def test_the_core_bundle_is_built_whatever_the_working_directory(tmp_path, monkeypatch):
    from airflow_provider_bio.operators.dynamodb_copy import core_bundle

    monkeypatch.chdir(tmp_path)  # a worker's working directory is not the repository
    bundle = zipfile.ZipFile(io.BytesIO(core_bundle()))
    package = REPO / "airflow_provider_bio"
    assert bundle.read("airflow_provider_bio/__init__.py") == (package / "__init__.py").read_bytes()
    assert bundle.read("airflow_provider_bio/core/obfuscation.py") == (package / "core/obfuscation.py").read_bytes()


@pytest.mark.parametrize(
    ("connection", "kwargs"),
    [
        pytest.param(
            {"region_name": "eu-west-1"},
            {"aws_conn_id": "aws_source", "region_name": None},
            id="region-of-the-connection",
        ),
        pytest.param(None, {"aws_conn_id": None, "region_name": "eu-west-1"}, id="region-of-the-operator"),
    ],
)
def test_every_client_of_a_glue_copy_uses_the_operators_connection_region_and_verify(monkeypatch, connection, kwargs):
    """Upload, secret, run, counts and checks: each client reaches the connection's or operator's region,
    with the operator's verify, never boto3's default region (us-west-2); the Glue client has its botocore_config."""
    from unittest import mock

    from botocore.session import Session

    region = "eu-west-1"
    if connection is not None:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_SOURCE", json.dumps({"conn_type": "aws", "extra": connection}))
    created, timeouts = [], []
    original = Session.create_client

    def create_client(self, service_name, *args, **client_kwargs):
        client = original(self, service_name, *args, **client_kwargs)
        created.append((service_name, client.meta.region_name, client_kwargs.get("verify")))
        timeouts.append((service_name, client.meta.config.read_timeout))
        return client

    with mock_aws():
        s3, _ = _tables_and_bucket_in(region)
        role = boto3.client("iam", region_name=region).create_role(RoleName="glue-copy", AssumeRolePolicyDocument="{}")
        operator = _operator(
            {"role": role["Role"]["Arn"]},
            verify=False,
            botocore_config={"read_timeout": 9},
            wait_for_completion=False,
            **kwargs,
        )
        with mock.patch.object(Session, "create_client", create_client):
            run_id = operator.execute(make_context())["glue_job_run_id"]
            _counts_at({"s3": s3}, {"read": 0, "written": 0, "glue_job_run_id": run_id})
            operator.execute_complete(make_context(), {"status": "success", "run_id": run_id})
        assert boto3.client("ssm", region_name=region).get_parameter(Name=f"/{JOB}/obfuscation-secret")
    assert {"s3", "ssm", "glue", "dynamodb"} <= {service for service, _, _ in created}
    assert {(region_name, verify) for _, region_name, verify in created} == {(region, False)}
    assert {timeout for service, timeout in timeouts if service == "glue"} == {9}  # botocore_config
