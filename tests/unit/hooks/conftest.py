"""Two buckets on moto for the S3 sync hook's copies: a production source and a test destination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.core.s3_sync import S3Location

SOURCE = S3Location("records-prod", "cases/")
DESTINATION = S3Location("records-test", "copy/")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (SOURCE.bucket, DESTINATION.bucket):
            client.create_bucket(Bucket=bucket)
        yield client
