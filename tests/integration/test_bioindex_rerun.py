"""bioindex_compress on the Batch engine, cleared after a rollback: it compresses again, it does not trust its jobs."""

from __future__ import annotations

import json
import sqlite3

import boto3
import pendulum
import pytest
from moto import mock_aws

from tests.integration.test_bioindex_dags import BUCKET, CONF, FILES, INDEXES, REGION, flags, keys, lines, load
from tests.support.batch import WorkerContainer, create_job_queue
from tests.support.botocore_events import client_events
from tests.support.dag_runs import clear_and_rerun

WORK = "bio-index-work"
ONE_CHUNK_PER_INDEX = CONF | {"chunk_gib": 1}


@pytest.fixture
def batch_world(airflow_db, tmp_path, monkeypatch):
    database = tmp_path / "bioindex.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE __Indexes (name TEXT, prefix TEXT, compressed BOOLEAN)")
        db.executemany("INSERT INTO __Indexes VALUES (?, ?, 0)", [(i["name"], i["prefix"]) for i in INDEXES])
    config = {
        "bucket": BUCKET,
        "indexes": INDEXES,
        "aws_conn_id": None,
        "bioindex_conn_id": "bioindex_test",
        "engine": "batch",
        "job_queue": "bgzip-queue",
        "job_definition": "bgzip-worker",
        "work_location": f"s3://{WORK}/bgzip/",
        "workers": 2,
    }
    (tmp_path / "bioindex.json").write_text(json.dumps(config))
    monkeypatch.setenv("BIOINDEX_CONFIG", str(tmp_path / "bioindex.json"))
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_TEST", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    with mock_aws(config={"batch": {"use_docker": False}}):
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (BUCKET, WORK):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for key, seed in FILES.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=lines(seed))
        create_job_queue("bgzip-queue", "bgzip-worker", REGION)
        container = WorkerContainer()
        with client_events({"before-call.batch.SubmitJob": container}):
            yield {"s3": s3, "database": database, "container": container}


def dag_for(dag_id: str):
    dag = load(dag_id)
    for task in dag.tasks:
        if hasattr(task, "partial_kwargs"):
            task.partial_kwargs["waiter_delay"] = 0
    return dag


def test_clearing_a_compress_run_after_its_rollback_compresses_again(batch_world) -> None:
    """Case: compress and verify reattached to their SUCCEEDED Batch jobs, and mark_compressed flagged
    indexes that had no .gz files left."""
    logical_date = pendulum.datetime(2026, 12, 1, tz="UTC")
    compress = dag_for("bioindex_compress")
    assert (
        compress.test(run_conf=ONE_CHUNK_PER_INDEX, logical_date=logical_date, run_after=logical_date).state
        == "success"
    )
    assert dag_for("bioindex_decompress").test(run_conf=ONE_CHUNK_PER_INDEX).state == "success"
    assert keys(batch_world["s3"]) == set(FILES)  # rolled back: originals only
    jobs_before = len(batch_world["container"].commands)

    cleared = clear_and_rerun(compress, logical_date)

    assert cleared.state == "success"
    chosen = {key for key in FILES if not key.startswith("genes-test/")}
    assert keys(batch_world["s3"]) == (
        {f"{key}.gz" for key in chosen} | {f"{key}.gz.gzi" for key in chosen} | (set(FILES) - chosen)
    )
    assert flags(batch_world["database"]) == {"genes": 1, "variants": 1, "genes-test": 0, "empty": 0}
    # verify may reuse its jobs: compression is deterministic, so the pairs made again are byte for byte
    # the ones it verified (same ETags), and delete-originals checks each pair again before deleting.
    rerun_actions = [command[0] for command in batch_world["container"].commands[jobs_before:]]
    assert rerun_actions.count("compress") == 2 and rerun_actions.count("delete-originals") == 2
