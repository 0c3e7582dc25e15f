"""The S3 sync hook's tests: two buckets on moto (a production source, a test destination) and their helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.core.s3_sync import S3Location
from airflow_provider_bio.hooks.s3_sync import CopyOptions, S3SyncHook

SOURCE = S3Location("records-prod", "cases/")
DESTINATION = S3Location("records-test", "copy/")
MIB = 1024**2
FIVE_MIB_PARTS = CopyOptions(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (SOURCE.bucket, DESTINATION.bucket):
            client.create_bucket(Bucket=bucket)
        yield client


def hook_with(client: Any) -> S3SyncHook:
    """An S3SyncHook whose every call goes to ``client``."""
    hook = S3SyncHook(aws_conn_id=None)
    hook.get_conn = lambda: client  # type: ignore[method-assign]
    return hook


def operations(client: Any) -> list[tuple[str, dict[str, Any]]]:
    """Record each call the client makes from now on, with its parameters."""
    calls: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register(
        "provide-client-params.s3.*", lambda params, model, **_: calls.append((model.name, params))
    )
    return calls


def copied(client: Any, key: str) -> bytes:
    """The bytes a copy wrote at the destination."""
    return client.get_object(Bucket=DESTINATION.bucket, Key=DESTINATION.prefix + key)["Body"].read()
