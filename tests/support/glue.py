"""A stand-in for the Glue copy job: moto records job runs but runs no script.

When a client created inside :func:`glue_copy_job` starts a run, the stand-in does what the
PySpark script does, with the script's own functions (argument parsing, reading the secret from
SSM, the transform with the size limit, the result): scan the source, obfuscate every item, leave
out and name the items too large to write, write the rest, and write the counts (with the run's
id, as Glue passes ``--JOB_RUN_ID``) to ``--result_s3_uri``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from airflow_provider_bio.hooks.dynamodb_copy import to_plain, to_typed
from airflow_provider_bio.jobs import dynamo_glue_copy
from tests.support.botocore_events import client_events


def run_copy_job(arguments: dict[str, str], run_id: str, lose: int = 0, region: str | None = None) -> dict[str, Any]:
    """What the Glue script does for one run, on whatever endpoint boto3 reaches (moto in tests).

    :param lose: items read but, as a faulty run would, never written.
    :param region: the region the job runs in (its clients' region); None for boto3's default.
    """
    parsed = dynamo_glue_copy.parse_arguments([word for pair in arguments.items() for word in pair])
    parsed["job_run_id"] = run_id
    ssm = boto3.client("ssm", region_name=region)
    settings = dynamo_glue_copy.settings_from(parsed, dynamo_glue_copy.read_secret(parsed, ssm))
    dynamodb = boto3.client("dynamodb", region_name=region)
    read = written = emails = transformed = 0
    refused = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=parsed["source_table"]):
        for typed in page["Items"]:
            read += 1
            if read <= lose:
                continue
            result = dynamo_glue_copy.transform(to_plain(typed), settings)
            emails += result.emails
            transformed += bool(result.emails)
            if result.too_large:
                refused.append(result)
                continue
            dynamodb.put_item(TableName=parsed["destination_table"], Item=to_typed(result.item))
            written += 1
    counts = dynamo_glue_copy.result_of(read, written, refused, {"transformed": transformed, "emails": emails}, parsed)
    bucket, _, key = parsed["result_s3_uri"].removeprefix("s3://").partition("/")
    boto3.client("s3", region_name=region).put_object(Bucket=bucket, Key=key, Body=json.dumps(counts).encode())
    return counts


@contextmanager
def glue_copy_job(lose: int = 0) -> Iterator[list[str]]:
    """Run the stand-in for every ``StartJobRun`` made inside; yields the run ids started.

    :param lose: items each run reads but does not write.
    """
    started: list[str] = []

    def after_start(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        run_id = parsed["JobRunId"]
        region = context["client_region"]  # the job runs in the region of the client that started it
        glue = boto3.client("glue", region_name=region)
        job_name = next(
            run["JobName"]
            for job in glue.get_jobs()["Jobs"]
            for run in glue.get_job_runs(JobName=job["Name"])["JobRuns"]
            if run["Id"] == run_id
        )
        run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        started.append(run_id)
        run_copy_job(run["Arguments"], run_id, lose, region)

    with client_events({"after-call.glue.StartJobRun": after_start}):
        yield started
