"""Every destructive step asks AWS which account its connection reaches, and refuses before its first write.

moto answers ``sts:GetCallerIdentity`` with its default account, 123456789012: the "real" account.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.core.guards import ProtectedTargetError
from airflow_provider_bio.operators.deploy_flags import SetDeployFlagsOperator
from airflow_provider_bio.operators.dynamodb_copy import DynamoGlueCopyOperator
from airflow_provider_bio.operators.persistence import DeletePersistenceOperator, RecreateDynamoTableOperator
from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from airflow_provider_bio.operators.search_domains import RecreateSearchDomainsOperator
from airflow_provider_bio.operators.stream_processors import ToggleStreamProcessorsOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import recorded_calls

MOTO_ACCOUNT = "123456789012"
LOWER_ACCOUNT = "222233334444"
REGION = "us-west-2"


def flags(conn_id, **kwargs):
    kwargs.setdefault("deploy_table", "efcms-deploy-test")
    return SetDeployFlagsOperator(task_id="flags", flags={"migrate": "false"}, aws_conn_id=conn_id, **kwargs)


def delete(conn_id, **kwargs):
    kwargs.setdefault("tables", ["efcms-test-alpha"])
    kwargs.setdefault("domains", ["efcms-search-test"])
    return DeletePersistenceOperator(task_id="delete", aws_conn_id=conn_id, **kwargs)


def recreate_table(conn_id, **kwargs):
    kwargs.setdefault("destination_table", "efcms-test-alpha")
    return RecreateDynamoTableOperator(
        task_id="recreate", source_table="efcms-source-alpha", aws_conn_id=None, dest_aws_conn_id=conn_id, **kwargs
    )


def recreate_domains(conn_id, **kwargs):
    kwargs.setdefault("domains", ["efcms-search-test"])
    return RecreateSearchDomainsOperator(task_id="domains", domain_shapes={}, aws_conn_id=conn_id, **kwargs)


def toggle(conn_id, **kwargs):
    kwargs.setdefault("table", "efcms-test-alpha")
    kwargs.setdefault("enabled", False)
    return ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=["streams_test_blue"],
        regions=[REGION, "us-east-1"],
        aws_conn_id=conn_id,
        **kwargs,
    )


def copy(conn_id, **kwargs):
    kwargs.setdefault("destination_table", "efcms-test-alpha")
    return DynamoGlueCopyOperator(
        task_id="copy",
        source_table="efcms-source-alpha",
        obfuscation_domain="example.com",
        aws_conn_id=None,
        dest_aws_conn_id=conn_id,
        **kwargs,
    )


def sync(conn_id, **kwargs):
    kwargs.setdefault("destination", "s3://efcms-test-documents")
    return S3SyncOperator(
        task_id="sync",
        source="s3://efcms-source-documents",
        delete=True,
        aws_conn_id=None,
        dest_aws_conn_id=conn_id,
        **kwargs,
    )


STEPS = [flags, delete, recreate_table, recreate_domains, toggle, copy, sync]


@pytest.fixture(autouse=True)
def aws():
    with mock_aws():
        yield


def _refused(step, conn_id=None, **kwargs):
    """Run ``step``, expect a refusal; return it and the API calls made."""
    with recorded_calls() as calls, pytest.raises(ProtectedTargetError) as refused:
        step(conn_id, region_name=REGION, **kwargs).execute(make_context())
    return str(refused.value), [c.operation for c in calls]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry_run"])
@pytest.mark.parametrize("step", STEPS)
def test_a_connection_reaching_a_protected_account_is_refused_before_any_write(step, dry_run):
    # The configuration says the lower account; AWS says the connection reaches a protected one.
    message, calls = _refused(step, expected_account=LOWER_ACCOUNT, protected_accounts=[MOTO_ACCOUNT], dry_run=dry_run)
    assert f"{MOTO_ACCOUNT}, which is in protected_accounts" in message
    assert calls == ["GetCallerIdentity"]  # the guard's question, nothing read or written before it


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry_run"])
@pytest.mark.parametrize("step", STEPS)
def test_a_connection_reaching_another_account_than_the_configured_one_is_refused(step, dry_run):
    message, calls = _refused(step, expected_account=LOWER_ACCOUNT, dry_run=dry_run)
    assert f"reaches AWS account {MOTO_ACCOUNT}, not expected_account {LOWER_ACCOUNT}" in message
    assert calls == ["GetCallerIdentity"]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry_run"])
@pytest.mark.parametrize("step", STEPS)
def test_an_undefined_connection_is_refused_naming_it(step, dry_run):
    message, calls = _refused(step, conn_id="aws_tset", dry_run=dry_run)
    assert "AWS connection 'aws_tset' is not defined" in message
    assert calls == []  # never the worker's default credentials


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry_run"])
@pytest.mark.parametrize(
    ("step", "argument", "value"),
    [
        (delete, "tables", ["efcms-PROD-alpha"]),
        (delete, "tables", ["EFCMS-PRODUCTION"]),
        (recreate_table, "destination_table", "efcms-PROD-alpha"),
        (copy, "destination_table", "EFCMS-PRODUCTION"),
        (recreate_domains, "domains", ["efcms-search-PROD"]),
        (flags, "deploy_table", "efcms-deploy-Prod"),
        (toggle, "table", "efcms-PROD-alpha"),
        (sync, "destination", "s3://bucket/PROD/docs/"),
    ],
)
def test_names_matching_a_protected_pattern_in_any_case_are_refused(step, argument, value, dry_run):
    message, calls = _refused(step, dry_run=dry_run, **{argument: value})
    assert "matches protected pattern '*prod*'" in message
    assert calls == []


@pytest.mark.parametrize("step", STEPS)
def test_a_defined_connection_reaching_the_expected_account_passes_the_guard(step, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_TEST", '{"conn_type": "aws"}')
    operator = step("aws_test", region_name=REGION, expected_account=MOTO_ACCOUNT, dry_run=True)
    # Past the guard, the empty world may have no table or bucket to preview.
    with recorded_calls() as calls, contextlib.suppress(ClientError):
        operator.execute(make_context())
    operations = [c.operation for c in calls]
    assert operations[0] == "GetCallerIdentity" and operations.count("GetCallerIdentity") == 1


def test_the_account_is_asked_once_per_connection_per_task_and_again_in_the_next_task():
    with recorded_calls() as calls:
        # Tables and domains (two clients), both through one connection: one question.
        delete(None, region_name=REGION, expected_account=MOTO_ACCOUNT).execute(make_context())
        assert [c.operation for c in calls].count("GetCallerIdentity") == 1
        # Two regions, one connection: one question.
        toggle(None, region_name=REGION, expected_account=MOTO_ACCOUNT, dry_run=True).execute(make_context())
        assert [c.operation for c in calls].count("GetCallerIdentity") == 2
        # The next task asks again, though it is the same step.
        delete(None, region_name=REGION, expected_account=MOTO_ACCOUNT).execute(make_context())
        assert [c.operation for c in calls].count("GetCallerIdentity") == 3


def test_the_glue_engine_refuses_a_writer_role_in_a_protected_account():
    message, calls = _refused(
        copy,
        engine="glue",
        glue_job_name="efcms-glue-to-test",
        script_location="s3://efcms-glue-scripts/dynamo-copy/",
        destination_role_arn="arn:aws:iam::111122223333:role/efcms-glue-copy-writer",
        protected_accounts=["111122223333"],
        dry_run=True,
    )
    assert "destination_role_arn arn:aws:iam::111122223333:role/efcms-glue-copy-writer reaches" in message
    assert calls == ["GetCallerIdentity"]


@pytest.mark.parametrize(
    ("step", "kwargs", "touched"),
    [
        pytest.param(
            delete,
            {"tables": ["efcms-test-alpha", "efcms-test-beta"]},
            "delete table efcms-test-alpha, efcms-test-beta, domain efcms-search-test",
            id="every-kind-and-name",
        ),
        pytest.param(toggle, {"table": None}, "disable function streams_test_blue", id="a-kind-without-names-left-out"),
        pytest.param(
            toggle,
            {"enabled": True},
            "enable function streams_test_blue, table efcms-test-alpha",
            id="toggle-on-with-its-table",
        ),
        pytest.param(flags, {}, "set deploy flags in deploy table efcms-deploy-test", id="flags-in-a-deploy-table"),
        pytest.param(
            flags,
            {"deploy_table": None, "ssm_prefix": "/deploy/test"},
            "set deploy flags in ssm_prefix /deploy/test",
            id="flags-under-an-ssm-prefix",
        ),
        pytest.param(recreate_table, {}, "recreate destination_table efcms-test-alpha", id="recreate-table"),
        pytest.param(recreate_domains, {}, "recreate domain efcms-search-test", id="recreate-domains"),
        pytest.param(copy, {}, "write destination_table efcms-test-alpha", id="copy"),
        pytest.param(sync, {}, "delete sync into destination s3://efcms-test-documents/", id="sync"),
        pytest.param(delete, {"tables": [], "domains": []}, "delete resources", id="nothing-named"),
    ],
)
def test_a_refusal_names_what_the_step_would_touch(step, kwargs, touched):
    message, _calls = _refused(step, expected_account=LOWER_ACCOUNT, **kwargs)
    assert message == (
        f"boto3's default credentials (aws_conn_id=None) reaches AWS account {MOTO_ACCOUNT}, not expected_account "
        f"{LOWER_ACCOUNT} (the environment's account_id): refusing to {touched}; fix boto3's default credentials "
        "(aws_conn_id=None) or the account_id"
    )


def test_a_refusal_names_the_connection_that_reaches_the_wrong_account(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER", '{"conn_type": "aws"}')
    message, calls = _refused(delete, conn_id="aws_lower", expected_account=LOWER_ACCOUNT)
    assert message.startswith(f"connection 'aws_lower' reaches AWS account {MOTO_ACCOUNT}, not expected_account ")
    assert message.endswith("; fix connection 'aws_lower' or the account_id")
    assert calls == ["GetCallerIdentity"]


def test_the_log_says_which_account_each_connection_reaches(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_TEST", '{"conn_type": "aws"}')
    with capture_logs() as logs:
        delete(None, region_name=REGION, dry_run=True).execute(make_context())
        flags("aws_test", region_name=REGION, dry_run=True, deploy_table=None, ssm_prefix="/deploy/test").execute(
            make_context()
        )
    assert [log["event"] for log in logs if log["event"].startswith("guard")] == [
        f"guard: connection None reaches AWS account {MOTO_ACCOUNT}",
        f"guard: connection 'aws_test' reaches AWS account {MOTO_ACCOUNT}",
    ]


@pytest.mark.parametrize("step", STEPS)
def test_the_account_is_the_one_the_steps_own_connection_reaches(step, monkeypatch):
    """A connection assuming a role in the lower account reaches that account, not boto3's default one."""
    role = f"arn:aws:iam::{LOWER_ACCOUNT}:role/lower-env-admin"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER", json.dumps({"conn_type": "aws", "extra": {"role_arn": role}}))
    operator = step("aws_lower", region_name=REGION, expected_account=LOWER_ACCOUNT, dry_run=True)
    with capture_logs() as logs, contextlib.suppress(ClientError):  # past the guard the lower account is empty
        operator.execute(make_context())
    assert f"guard: connection 'aws_lower' reaches AWS account {LOWER_ACCOUNT}" in [log["event"] for log in logs]


def test_the_account_is_asked_with_the_steps_region_tls_verification_and_botocore_config(monkeypatch):
    from airflow.providers.amazon.aws.hooks import base_aws

    asked = []

    class RecordingHook(base_aws.AwsBaseHook):
        @property
        def account_id(self) -> str:
            asked.append((self.region_name, self.verify, self.config.read_timeout))
            return super().account_id

    monkeypatch.setattr(base_aws, "AwsBaseHook", RecordingHook)
    operator = delete(None, region_name="eu-west-1", verify=False, botocore_config={"read_timeout": 9}, dry_run=True)
    operator.execute(make_context())
    assert asked == [("eu-west-1", False, 9)]


def test_any_operator_can_ask_the_guard_even_one_without_aws_settings():
    """An operator with no region, TLS or botocore settings of its own is guarded with boto3's defaults."""
    from airflow.sdk import BaseOperator

    from airflow_provider_bio.operators import guard

    operator = BaseOperator(task_id="custom_write")
    account = guard.check(
        operator, conn_id=None, action="write", resources={"table": ["efcms-test-alpha"]}, expected_account=MOTO_ACCOUNT
    )
    assert account == MOTO_ACCOUNT


@pytest.mark.parametrize(
    ("step", "argument", "value", "refusal"),
    [
        pytest.param(
            delete,
            "tables",
            ["efcms-PROD-alpha"],
            "table 'efcms-PROD-alpha' matches protected pattern '*prod*' of protected (case-insensitive): refusing "
            "to delete it; remove the pattern from protected only if this is not production",
            id="the-protected-argument",
        ),
        pytest.param(
            copy,
            "destination_table",
            "EFCMS-PRODUCTION",
            "destination_table 'EFCMS-PRODUCTION' matches protected pattern '*prod*' of protected_tables "
            "(case-insensitive): refusing to write it; remove the pattern from protected_tables only if this is not "
            "production",
            id="the-protected_tables-argument",
        ),
    ],
)
def test_a_protected_name_is_refused_naming_the_argument_that_protects_it(step, argument, value, refusal):
    message, calls = _refused(step, **{argument: value})
    assert message == refusal
    assert calls == []
