"""Check recorded AWS calls against a shipped IAM policy (Allow statements, shell-style wildcards)."""

from __future__ import annotations

import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from tests.conftest import REPO
from tests.support.botocore_events import ApiCall


def load_policy(name: str, **placeholders: str) -> dict[str, Any]:
    """Read ``docs/iam/<name>.json``, replacing placeholders such as SOURCE_BUCKET."""
    text = (REPO / "docs/iam" / f"{name}.json").read_text()
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement of ``policy`` grants ``action`` on ``resource``."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action, pattern) for pattern in statement["Action"])
        and any(fnmatchcase(resource, pattern) for pattern in statement["Resource"])
        for statement in policy["Statement"]
    )


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _target(call: ApiCall) -> str:
    return _object(call.params["Bucket"], call.params["Key"])


def _copy_source(call: ApiCall) -> str:
    source = call.params["CopySource"]
    return _object(source["Bucket"], source["Key"])


def _tagging(call: ApiCall) -> list[tuple[str, str]]:
    return [("s3:PutObjectTagging", _target(call))] if call.params.get("Tagging") else []


#: S3 API operation -> the (IAM action, resource ARN) pairs it needs.
S3_PERMISSIONS: dict[str, Callable[[ApiCall], list[tuple[str, str]]]] = {
    "ListObjectsV2": lambda c: [("s3:ListBucket", f"arn:aws:s3:::{c.params['Bucket']}")],
    "ListMultipartUploads": lambda c: [("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{c.params['Bucket']}")],
    "HeadObject": lambda c: [("s3:GetObject", _target(c))],
    "GetObject": lambda c: [("s3:GetObject", _target(c))],
    "GetObjectTagging": lambda c: [("s3:GetObjectTagging", _target(c))],
    "CopyObject": lambda c: [
        ("s3:GetObject", _copy_source(c)),
        ("s3:GetObjectTagging", _copy_source(c)),
        ("s3:PutObject", _target(c)),
        ("s3:PutObjectTagging", _target(c)),
    ],
    "UploadPartCopy": lambda c: [("s3:GetObject", _copy_source(c)), ("s3:PutObject", _target(c))],
    "PutObject": lambda c: [("s3:PutObject", _target(c)), *_tagging(c)],
    "CreateMultipartUpload": lambda c: [("s3:PutObject", _target(c)), *_tagging(c)],
    "UploadPart": lambda c: [("s3:PutObject", _target(c))],
    "CompleteMultipartUpload": lambda c: [("s3:PutObject", _target(c))],
    "AbortMultipartUpload": lambda c: [("s3:AbortMultipartUpload", _target(c))],
    "DeleteObject": lambda c: [("s3:DeleteObject", _target(c))],
    "PutObjectTagging": lambda c: [("s3:PutObjectTagging", _target(c))],
    "DeleteObjects": lambda c: [
        ("s3:DeleteObject", _object(c.params["Bucket"], o["Key"])) for o in c.params["Delete"]["Objects"]
    ],
}


def needed_permissions(call: ApiCall) -> list[tuple[str, str]]:
    """The permissions a recorded S3 call needs; fails loudly for an operation not in the table."""
    assert call.operation in S3_PERMISSIONS, f"s3.{call.operation} is not mapped: add it here and to the policies"
    return S3_PERMISSIONS[call.operation](call)


def _table(call: ApiCall) -> str:
    return f"arn:aws:dynamodb:us-west-2:123456789012:table/{call.params['TableName']}"


def _tables_written(call: ApiCall) -> list[tuple[str, str]]:
    return [
        ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:us-west-2:123456789012:table/{name}")
        for name in call.params["RequestItems"]
    ]


def _domain(call: ApiCall) -> str:
    return f"arn:aws:es:us-west-2:123456789012:domain/{call.params['DomainName']}"


#: (service, operation) -> the (IAM action, resource ARN) pairs it needs, beyond S3.
OTHER_PERMISSIONS: dict[tuple[str, str], Callable[[ApiCall], list[tuple[str, str]]]] = {
    ("dynamodb", "DescribeTable"): lambda c: [("dynamodb:DescribeTable", _table(c))],
    ("dynamodb", "Scan"): lambda c: [("dynamodb:Scan", _table(c))],
    ("dynamodb", "PutItem"): lambda c: [("dynamodb:PutItem", _table(c))],
    ("dynamodb", "DeleteTable"): lambda c: [("dynamodb:DeleteTable", _table(c))],
    ("dynamodb", "CreateTable"): lambda c: [("dynamodb:CreateTable", _table(c))],
    ("dynamodb", "BatchWriteItem"): _tables_written,
    ("opensearch", "DescribeDomain"): lambda c: [("es:DescribeDomain", _domain(c))],
    ("opensearch", "DeleteDomain"): lambda c: [("es:DeleteDomain", _domain(c))],
    ("opensearch", "CreateDomain"): lambda c: [("es:CreateDomain", _domain(c))],
    ("lambda", "ListEventSourceMappings"): lambda c: [("lambda:ListEventSourceMappings", "*")],
    ("lambda", "GetEventSourceMapping"): lambda c: [("lambda:GetEventSourceMapping", "*")],
    ("lambda", "UpdateEventSourceMapping"): lambda c: [("lambda:UpdateEventSourceMapping", "*")],
    ("lambda", "CreateEventSourceMapping"): lambda c: [("lambda:CreateEventSourceMapping", "*")],
    ("lambda", "DeleteEventSourceMapping"): lambda c: [
        (
            "lambda:DeleteEventSourceMapping",
            f"arn:aws:lambda:us-west-2:123456789012:event-source-mapping:{c.params['UUID']}",
        )
    ],
    ("cloudwatch", "GetMetricStatistics"): lambda c: [("cloudwatch:GetMetricStatistics", "*")],
    ("sts", "GetCallerIdentity"): lambda c: [("sts:GetCallerIdentity", "*")],
    ("batch", "SubmitJob"): lambda c: [
        ("batch:SubmitJob", f"arn:aws:batch:us-west-2:123456789012:job-queue/{c.params['jobQueue']}"),
        ("batch:SubmitJob", f"arn:aws:batch:us-west-2:123456789012:job-definition/{c.params['jobDefinition']}:1"),
    ],
    ("batch", "DescribeJobs"): lambda c: [("batch:DescribeJobs", "*")],
    ("batch", "TerminateJob"): lambda c: [
        ("batch:TerminateJob", f"arn:aws:batch:us-west-2:123456789012:job/{c.params['jobId']}")
    ],
    ("ssm", "PutParameter"): lambda c: [
        ("ssm:PutParameter", f"arn:aws:ssm:us-west-2:123456789012:parameter/{c.params['Name'].lstrip('/')}")
    ],
}


def needed_by_any_service(call: ApiCall) -> list[tuple[str, str]]:
    """The permissions of a recorded call of S3 or of the services in :data:`OTHER_PERMISSIONS`."""
    if call.service == "s3":
        return needed_permissions(call)
    key = (call.service, call.operation)
    assert key in OTHER_PERMISSIONS, f"{call.service}.{call.operation} is not mapped: add it here and to the policies"
    return OTHER_PERMISSIONS[key](call)
