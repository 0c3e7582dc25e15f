"""The operator and ``aws s3 sync`` leave identical destinations, on a moto server, case by case.

One deliberate difference: the CLI skips zero-byte "folder" keys ending in ``/``; the operator
copies them, so nothing is lost. They are compared separately.
"""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import unquote

import boto3
import pytest

from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from scripts.local_aws import REGION, moto_server
from tests.conftest import REPO
from tests.support.airflow_context import make_context

AWS = REPO / ".tools/awscli/bin/aws"
SOURCE = {
    "plain.txt": b"plain",
    "with space.pdf": b"space",
    "plus+sign.pdf": b"plus",
    "percent%20literal.txt": b"percent",
    "unicodé/日本語.pdf": "日本".encode(),
    "deep/a/b/c/d/e/f/g/h.pdf": b"deep",
    "empty.txt": b"",
    "folder-marker/": b"",
    "changed-size.pdf": b"new and longer",
    "newer.txt": b"new",
    "same.pdf": b"same",
    "tmp/scratch.pdf": b"scratch",
    # Control characters: S3 lists them raw in XML unless asked for URL-encoded keys, and a
    # DeleteObjects body cannot carry them; the CLI lists URL-encoded and deletes one by one.
    "ctrl\x01start.pdf": b"ctrl",
    "carriage\rreturn.pdf": b"cr",
    "tab\tand\x7fdel.pdf": b"tab",
}
DEST_BEFORE_SOURCE = {
    "changed-size.pdf": b"old",
    "newer.txt": b"old",
    "stale.pdf": b"stale",
    "stale.txt": b"x",
    "stale\x02ctrl.pdf": b"stale",
    "stale\rcarriage.pdf": b"stale",
}
DEST_AFTER_SOURCE = {"same.pdf": b"same"}
CASES = {
    "plain": [],
    "delete": ["--delete"],
    "filters": ["--exclude", "*", "--include", "*.pdf", "--exclude", "tmp/*", "--delete"],
}

pytestmark = pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI is installed by `make test` (make env)")


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


def _s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def _fill(s3, bucket, objects):
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=f"test/{len(body)}")


def _state(s3, bucket):
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, EncodingType="url"):
        for item in page.get("Contents", []):
            key = unquote(item["Key"])
            answer = s3.get_object(Bucket=bucket, Key=key)
            found[key] = (item["Size"], answer["Body"].read(), answer["ContentType"])
    return found


def _cli_to_operator(arguments):
    filters, flags = [], {}
    for index, word in enumerate(arguments):
        if word in ("--exclude", "--include"):
            filters.append((word[2:], arguments[index + 1]))
        elif word == "--delete":
            flags |= {"delete": True, "max_delete_fraction": 1}
    return {"filters": filters, **flags}


@pytest.mark.parametrize("case", CASES)
def test_operator_leaves_the_same_destination_as_the_cli(endpoint, monkeypatch, case):
    s3 = _s3(endpoint)
    source, by_cli, by_operator = (f"parity-{case}-{side}" for side in ("src", "cli", "op"))
    for bucket in (source, by_cli, by_operator):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for bucket in (by_cli, by_operator):
        _fill(s3, bucket, DEST_BEFORE_SOURCE)
    time.sleep(1.1)  # S3 times have one-second resolution: the source is newer
    _fill(s3, source, SOURCE)
    time.sleep(1.1)
    for bucket in (by_cli, by_operator):
        _fill(s3, bucket, DEST_AFTER_SOURCE)

    env = os.environ | {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION}
    cli = [str(AWS), "s3", "sync", f"s3://{source}", f"s3://{by_cli}", "--only-show-errors", *CASES[case]]
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=120)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    S3SyncOperator(
        task_id="sync",
        source=f"s3://{source}",
        destination=f"s3://{by_operator}",
        aws_conn_id=None,
        **_cli_to_operator(CASES[case]),
    ).execute(make_context())

    cli_state, operator_state = _state(s3, by_cli), _state(s3, by_operator)
    markers = {key: value for key, value in operator_state.items() if key.endswith("/")}
    assert {key: value for key, value in operator_state.items() if key not in markers} == cli_state
    expected_markers = {"folder-marker/"} if case != "filters" else set()
    assert set(markers) == expected_markers
