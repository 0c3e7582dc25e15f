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
    "DeleteObjects": lambda c: [
        ("s3:DeleteObject", _object(c.params["Bucket"], o["Key"])) for o in c.params["Delete"]["Objects"]
    ],
}


def needed_permissions(call: ApiCall) -> list[tuple[str, str]]:
    """The permissions a recorded S3 call needs; fails loudly for an operation not in the table."""
    assert call.operation in S3_PERMISSIONS, f"s3.{call.operation} is not mapped: add it here and to the policies"
    return S3_PERMISSIONS[call.operation](call)
