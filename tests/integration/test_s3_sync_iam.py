"""Every S3 call a sync makes is allowed by the shipped policies, in one account and across two."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import recorded_calls
from tests.support.iam import allowed, load_policy, needed_by_any_service

SRC, DST = "bio-prod-documents-src", "bio-test-documents"
BUCKETS = {"SOURCE_BUCKET": SRC, "DESTINATION_BUCKET": DST}


@pytest.fixture
def buckets():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        for bucket in (SRC, DST):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=SRC, Key="docs/a.pdf", Body=b"a", Tagging="case=1")
        s3.put_object(Bucket=SRC, Key="docs/big.bin", Body=b"b" * (6 * 1024**2), Tagging="case=2")
        s3.put_object(Bucket=DST, Key="docs/gone.pdf", Body=b"old")
        s3.put_object(Bucket=DST, Key="docs/kept.pdf", Body=b"k")
        s3.put_object(Bucket=SRC, Key="docs/kept.pdf", Body=b"k")
        yield s3


def _sync(**kwargs):
    operator = S3SyncOperator(
        task_id="sync",
        source=f"s3://{SRC}/docs",
        destination=f"s3://{DST}/docs",
        delete=True,
        max_delete_fraction=1,
        multipart_threshold=5 * 1024**2,
        aws_conn_id=None,
        **kwargs,
    )
    with recorded_calls() as calls:
        operator.execute(make_context())
    return calls


def test_one_role_needs_only_the_same_account_policy(buckets):
    policy = load_policy("s3_sync_same_account", **BUCKETS)
    calls = _sync()
    assert {"CopyObject", "UploadPartCopy", "DeleteObjects"} <= {c.operation for c in calls}
    assert "GetCallerIdentity" in {c.operation for c in calls}  # the guard asked which account this is
    for call in calls:
        for action, resource in needed_by_any_service(call):
            assert allowed(policy, action, resource), f"{call.operation}: {action} on {resource}"


def test_two_accounts_need_only_their_own_policies(buckets, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER_ENV", '{"conn_type": "aws"}')
    policies = {
        SRC: load_policy("s3_sync_source_account", **BUCKETS),
        DST: load_policy("s3_sync_destination_account", **BUCKETS),
    }
    calls = _sync(dest_aws_conn_id="aws_lower_env")
    assert {"GetObject", "PutObject", "UploadPart", "DeleteObjects"} <= {c.operation for c in calls}
    for call in calls:
        for action, resource in needed_by_any_service(call):
            # The guard asks the destination's connection which account it reaches.
            bucket = DST if call.service == "sts" else resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            assert allowed(policies[bucket], action, resource), f"{call.operation}: {action} on {resource}"


def test_the_source_policy_grants_no_write():
    policy = load_policy("s3_sync_source_account", **BUCKETS)
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"):
        assert not allowed(policy, action, f"arn:aws:s3:::{SRC}/docs/a.pdf")
