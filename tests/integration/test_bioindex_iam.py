"""Every AWS call of the BGZF work is allowed by the shipped policies: the container's role and Airflow's.

The container role (``docs/iam/bioindex_bgzip_container.json``) is checked over every worker
action, a multipart upload and its abort included; Airflow's role
(``docs/iam/bioindex_bgzip_airflow.json``) over planning, the index locks (take, check,
release) and the Batch engine's submit, wait, reattach and kill. Calls are recorded under moto.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.jobs import bgzip_worker, s3_objects
from airflow_provider_bio.operators.bioindex import (
    BioIndexBgzipOperator,
    PlanBioIndexChunksOperator,
    ReleaseBioIndexLocksOperator,
)
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.batch import WorkerContainer, create_job_queue
from tests.support.botocore_events import ApiCall, client_events, http_response, recorded_calls
from tests.support.iam import allowed, load_policy, needed_by_any_service

REGION = "us-west-2"
DATA, WORK, WORK_PREFIX = "dig-bio-index-iam", "dig-bio-index-work", "bgzip/"
QUEUE, DEFINITION = "bgzip-job-queue", "bgzip-worker"
PLACEHOLDERS = {
    "DATA_BUCKET": DATA,
    "WORK_BUCKET": WORK,
    "WORK_PREFIX": WORK_PREFIX,
    "REGION": REGION,
    "ACCOUNT": "123456789012",
    "JOB_QUEUE": QUEUE,
    "JOB_DEFINITION": DEFINITION,
}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setattr(s3_objects, "MIN_PART_SIZE", 5 << 20)
    with mock_aws(config={"batch": {"use_docker": False}}):
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA, WORK):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=DATA, Key="genes/small.json", Body=b'{"a": 1}\n' * 100)
        s3.put_object(Bucket=DATA, Key="genes/big.json", Body=os.urandom(11 << 20))
        create_job_queue(QUEUE, DEFINITION, REGION)
        yield s3


def assert_allowed(policy_name: str, calls: list[ApiCall]) -> None:
    policy = load_policy(policy_name, **PLACEHOLDERS)
    for call in calls:
        for action, resource in needed_by_any_service(call):
            assert allowed(policy, action, resource), f"{call.service}.{call.operation}: {action} on {resource}"


def test_the_container_role_covers_every_worker_action(aws) -> None:
    manifest = f"s3://{WORK}/{WORK_PREFIX}manifests/m.json"
    aws.put_object(Bucket=WORK, Key=f"{WORK_PREFIX}manifests/m.json", Body=json.dumps(["genes/small.json"]))
    report = ["--report", f"s3://{WORK}/{WORK_PREFIX}reports/r.json"]

    def deny_second_part(params, **_):
        if str(params["query_string"].get("partNumber")) == "2":
            return http_response(403, {}), {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {}}
        return None

    with recorded_calls() as calls:
        with client_events({"before-call.s3.UploadPart": deny_second_part}):
            assert bgzip_worker.main(["compress", "--bucket", DATA, "--prefix", "genes/", *report]) == 1
        for action in (["compress"], ["verify"], ["delete-originals"], ["decompress", "--keep-compressed"]):
            assert bgzip_worker.main([*action, "--bucket", DATA, "--prefix", "genes/", *report]) == 0
        assert bgzip_worker.main(["decompress", "--bucket", DATA, "--manifest", manifest, *report]) == 0
    operations = {call.operation for call in calls}
    assert {"AbortMultipartUpload", "CompleteMultipartUpload", "PutObjectTagging", "DeleteObject"} <= operations
    assert {"DeleteObjects", "GetObjectTagging", "ListObjectsV2"} <= operations
    assert_allowed("bioindex_bgzip_container", calls)


def test_airflow_role_covers_planning_and_the_batch_engine(aws, airflow_db) -> None:
    # the container's client is made before recording: its calls are not Airflow's
    container = WorkerContainer(boto3.client("s3", region_name=REGION))
    store = FakeTaskStateStore()
    common = {"aws_conn_id": None, "region_name": REGION}
    with recorded_calls() as calls, client_events({"before-call.batch.SubmitJob": container}):
        context = make_context(store) | {"params": {"bucket": DATA, "indexes": [{"name": "g", "prefix": "genes/"}]}}
        context["dag_run"] = type("Run", (), {"conf": {}})()
        plan = PlanBioIndexChunksOperator(
            task_id="plan", direction="compress", work_location=f"s3://{WORK}/{WORK_PREFIX}", **common
        )
        [chunk] = plan.execute(context)
        task = BioIndexBgzipOperator(
            task_id="compress",
            action="compress",
            bucket=DATA,
            keys=chunk["keys"],
            index=chunk["index"],
            index_prefix=chunk["index_prefix"],
            job_queue=QUEUE,
            job_definition=DEFINITION,
            work_location=f"s3://{WORK}/{WORK_PREFIX}",
            waiter_delay=0,
            **common,
        )
        assert task.execute(context)["done"] == 2
        task.execute(context)  # a retry reattaches
        task.on_kill()
        release = ReleaseBioIndexLocksOperator(
            task_id="release_locks", indexes=context["ti"].xcoms["locked"], bucket=DATA, **common
        )
        assert release.execute(context) == ["g"]
    operations = {(call.service, call.operation) for call in calls}
    assert {("batch", "SubmitJob"), ("batch", "DescribeJobs"), ("batch", "TerminateJob")} <= operations
    assert {("s3", "ListObjectsV2"), ("s3", "PutObject"), ("s3", "GetObject"), ("s3", "DeleteObject")} <= operations
    assert_allowed("bioindex_bgzip_airflow", calls)
