"""bioindex_compress and bioindex_decompress with ``dag.test()`` on moto: the safe order and its refusals.

The worker runs in-process (``engine: local``); the bio-index's ``__Indexes`` table is a SQLite
database reached through an Airflow SQL connection, as the MySQL one is in production.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.jobs.bgzip_files import BgzipFiles, FileFailure
from tests.conftest import REPO
from tests.support.botocore_events import recorded_calls

REGION = "us-west-2"
BUCKET = "dig-bio-index-test"
INDEXES = [
    {"name": "genes", "prefix": "genes/"},
    {"name": "variants", "prefix": "variants/"},
    {"name": "genes-test", "prefix": "genes-test/"},
    {"name": "empty", "prefix": "empty/"},
]
FILES = {f"{index['prefix']}part-{n}.json": n for index in INDEXES[:3] for n in range(2)}
CONF = {"bucket": BUCKET, "exclude": ["*-test"], "chunk_gib": 0.00001}  # about 10 KiB: several chunks
ONE_CHUNK = {"chunk_gib": 1}  # a chunk per index: shorter runs where chunking is not the point


def lines(seed: int) -> bytes:
    return "".join(json.dumps({"id": f"{seed}:{n}", "p": n / 9}) + "\n" for n in range(300)).encode()


@pytest.fixture
def world(airflow_db, tmp_path: Path, monkeypatch):
    database = tmp_path / "bioindex.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE __Indexes (name TEXT, prefix TEXT, compressed BOOLEAN)")
        db.executemany("INSERT INTO __Indexes VALUES (?, ?, 0)", [(i["name"], i["prefix"]) for i in INDEXES])
    config = tmp_path / "bioindex.json"
    config.write_text(
        json.dumps(
            {
                "bucket": BUCKET,
                "indexes": INDEXES,
                "aws_conn_id": None,
                "bioindex_conn_id": "bioindex_test",
                "engine": "local",
                "workers": 2,
            }
        )
    )
    monkeypatch.setenv("BIOINDEX_CONFIG", str(config))
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_TEST", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        for key, seed in FILES.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=lines(seed))
        yield {"s3": s3, "database": database}


def load(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / "bioindex.py")).dags[dag_id]
    for task in dag.tasks:
        if hasattr(task, "partial_kwargs"):
            task.partial_kwargs["retries"] = 0
        else:
            task.retries = 0
    return dag


def keys(s3) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def flags(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT name, compressed FROM __Indexes"))


def states(run) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for ti in run.get_task_instances():
        found.setdefault(ti.task_id, set()).add(ti.state)
    return found


def test_compress_then_mark_then_delete_leaves_only_verified_pairs(world) -> None:
    run = load("bioindex_compress").test(run_conf=CONF)
    assert run.state == "success"
    assert len(run.get_task_instances()) > 8  # several chunks per step
    compressed = {key for key in FILES if not key.startswith("genes-test/")}
    assert keys(world["s3"]) == (
        {f"{key}.gz" for key in compressed} | {f"{key}.gz.gzi" for key in compressed} | (set(FILES) - compressed)
    )
    assert flags(world["database"]) == {"genes": 1, "variants": 1, "genes-test": 0, "empty": 0}  # nothing to read


def test_a_file_that_fails_verification_stops_marking_and_deleting(world, monkeypatch) -> None:
    verify = BgzipFiles.verify

    def failing_verify(self, key):
        if key == "variants/part-1.json":
            raise FileFailure("decompressed bytes differ from the original")
        return verify(self, key)

    monkeypatch.setattr(BgzipFiles, "verify", failing_verify)
    run = load("bioindex_compress").test(run_conf=CONF)
    assert run.state == "failed"
    found = states(run)
    assert "failed" in found["verify"]
    assert found["mark_compressed"] == {"upstream_failed"}
    assert found["delete_originals"] <= {"upstream_failed", None}
    assert set(FILES) <= keys(world["s3"])  # every original still there
    assert set(flags(world["database"]).values()) == {0}


def test_a_failed_mark_leaves_every_original(world) -> None:
    with sqlite3.connect(world["database"]) as db:
        db.execute("DELETE FROM __Indexes WHERE name = 'variants'")
    run = load("bioindex_compress").test(run_conf=CONF)
    assert run.state == "failed"
    assert states(run)["mark_compressed"] == {"failed"}
    assert set(FILES) <= keys(world["s3"])
    assert states(run)["release_locks"] == {"success"}  # a teardown: the run stays failed, its locks go
    assert lock_of(world["s3"], "genes/") is None and lock_of(world["s3"], "variants/") is None


def test_decompress_restores_every_original_then_unmarks_then_removes_the_pairs(world) -> None:
    assert load("bioindex_compress").test(run_conf=CONF).state == "success"
    run = load("bioindex_decompress").test(run_conf=CONF)
    assert run.state == "success"
    assert keys(world["s3"]) == set(FILES)
    for key, seed in FILES.items():
        assert world["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read() == lines(seed)
    assert set(flags(world["database"]).values()) == {0}


def test_dry_run_plans_and_touches_nothing(world) -> None:
    with recorded_calls() as calls:
        run = load("bioindex_compress").test(run_conf=CONF | {"dry_run": True})
    assert run.state == "success"
    assert {call.operation for call in calls} == {"ListObjectsV2"}
    assert keys(world["s3"]) == set(FILES)


def test_a_conf_the_schema_refuses_is_rejected_at_trigger_time(world) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with recorded_calls() as calls, pytest.raises(ParamValidationError, match="bucket"):
        load("bioindex_compress").test(run_conf=CONF | {"bucket": "Not_A_Bucket"})
    assert calls == []


@pytest.mark.parametrize(
    "conf",
    [
        {"include": ["nothing*"]},
        {"indexes": [{"name": "a", "prefix": "a/"}, {"name": "b", "prefix": "a/b/"}], "exclude": []},
    ],
    ids=["selects-nothing", "nested-prefixes"],
)
def test_a_conf_only_the_plan_can_judge_fails_it_before_any_aws_call(world, conf) -> None:
    with recorded_calls() as calls:
        run = load("bioindex_compress").test(run_conf=CONF | conf)
    assert run.state == "failed"
    assert states(run)["plan"] == {"failed"}
    assert calls == []


def lock_of(s3, prefix: str) -> dict | None:
    """The lock object of the index with ``prefix``, as the README documents it."""
    key = f"_bioindex-locks/{prefix.rstrip('/')}.lock"
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def plant_lock(s3, prefix: str, owner: str, expires: float) -> None:
    key = f"_bioindex-locks/{prefix.rstrip('/')}.lock"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"owner": owner, "expires": expires}).encode())


def test_a_nested_index_not_selected_keeps_its_originals_and_its_flag(world) -> None:
    nested = {"name": "genes-rare", "prefix": "genes/rare/"}
    with sqlite3.connect(world["database"]) as db:
        db.execute("INSERT INTO __Indexes VALUES ('genes-rare', 'genes/rare/', 0)")
    config = json.loads(Path(os.environ["BIOINDEX_CONFIG"]).read_text())
    Path(os.environ["BIOINDEX_CONFIG"]).write_text(json.dumps(config | {"indexes": [*INDEXES, nested]}))
    for n in range(2):
        world["s3"].put_object(Bucket=BUCKET, Key=f"genes/rare/part-{n}.json", Body=lines(10 + n))
    run = load("bioindex_compress").test(run_conf=CONF | ONE_CHUNK | {"include": ["genes"]})
    assert run.state == "success"
    found = keys(world["s3"])
    assert {"genes/part-0.json.gz", "genes/part-1.json.gz"} <= found
    assert {"genes/part-0.json", "genes/part-1.json"}.isdisjoint(found)
    assert {key for key in found if key.startswith("genes/rare/")} == {
        "genes/rare/part-0.json",
        "genes/rare/part-1.json",
    }
    assert flags(world["database"]) == {"genes": 1, "variants": 0, "genes-test": 0, "empty": 0, "genes-rare": 0}
    run = load("bioindex_decompress").test(run_conf=CONF | ONE_CHUNK | {"include": ["genes"]})
    assert run.state == "success"
    assert {key for key in keys(world["s3"]) if key.startswith("genes/")} == {
        "genes/part-0.json",
        "genes/part-1.json",
        "genes/rare/part-0.json",
        "genes/rare/part-1.json",
    }


def test_a_run_against_a_bucket_the_bio_index_does_not_serve_is_refused_before_any_call(world) -> None:
    copy = "dig-bio-index-copy"
    world["s3"].create_bucket(Bucket=copy, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key, seed in FILES.items():
        world["s3"].put_object(Bucket=copy, Key=key, Body=lines(seed))
    with recorded_calls() as calls:
        run = load("bioindex_compress").test(run_conf=CONF | {"bucket": copy})
    assert run.state == "failed"
    assert states(run)["plan"] == {"failed"}
    assert calls == []
    assert {item["Key"] for item in world["s3"].list_objects_v2(Bucket=copy)["Contents"]} == set(FILES)
    assert set(flags(world["database"]).values()) == {0}


def test_a_run_is_refused_while_the_other_dag_holds_the_index_and_nothing_is_written(world) -> None:
    plant_lock(world["s3"], "genes/", "bioindex_compress/manual__other", time.time() + 3600)
    plant_lock(world["s3"], "variants/", "bioindex_compress/manual__other", time.time() + 3600)
    with recorded_calls() as calls:
        run = load("bioindex_decompress").test(run_conf=CONF)
    assert run.state == "failed"
    assert states(run)["plan"] == {"failed"}
    assert {call.operation for call in calls} == {"GetObject"}  # the lock, read; nothing written
    assert keys(world["s3"]) == {*FILES, "_bioindex-locks/genes.lock", "_bioindex-locks/variants.lock"}
    assert lock_of(world["s3"], "genes/")["owner"] == "bioindex_compress/manual__other"  # untouched
    assert set(flags(world["database"]).values()) == {0}


def test_the_holding_run_goes_on_through_a_retry_while_the_other_dag_is_refused(world, monkeypatch) -> None:
    from airflow_provider_bio.core.index_lock import IndexLock, LockRefused

    verify, seen = BgzipFiles.verify, []

    def verify_failing_once(self, key):
        if not seen:
            seen.append(lock_of(world["s3"], "genes/"))
            other = IndexLock(world["s3"], BUCKET, "bioindex_decompress/manual__other")
            with pytest.raises(LockRefused, match="locked by bioindex_compress/"):
                other.hold("genes", "genes/")
            raise FileFailure("a transient failure: the task is retried")
        return verify(self, key)

    monkeypatch.setattr(BgzipFiles, "verify", verify_failing_once)
    dag = load("bioindex_compress")
    for task in dag.tasks:
        if task.task_id == "verify":
            task.partial_kwargs["retries"], task.partial_kwargs["retry_delay"] = 1, timedelta(0)
    run = dag.test(run_conf=CONF | ONE_CHUNK)
    assert run.state == "success"
    assert seen[0]["owner"] == f"bioindex_compress/{run.run_id}"
    assert seen[0]["expires"] > time.time() + 3600  # a day by default
    assert flags(world["database"]) == {"genes": 1, "variants": 1, "genes-test": 0, "empty": 0}
    assert lock_of(world["s3"], "genes/") is None and lock_of(world["s3"], "variants/") is None  # released


def test_an_expired_lock_of_a_crashed_run_is_taken_over(world) -> None:
    plant_lock(world["s3"], "genes/", "bioindex_compress/manual__crashed", time.time() - 1)
    run = load("bioindex_compress").test(run_conf=CONF | ONE_CHUNK | {"include": ["genes"]})
    assert run.state == "success"
    assert flags(world["database"])["genes"] == 1
    assert lock_of(world["s3"], "genes/") is None


def test_a_refused_plan_gives_back_the_locks_it_took(world) -> None:
    plant_lock(world["s3"], "variants/", "bioindex_compress/manual__other", time.time() + 3600)
    run = load("bioindex_decompress").test(run_conf=CONF)
    assert states(run)["plan"] == {"failed"}
    assert lock_of(world["s3"], "genes/") is None  # taken first, then given back
    assert lock_of(world["s3"], "variants/")["owner"] == "bioindex_compress/manual__other"
    assert keys(world["s3"]) == {*FILES, "_bioindex-locks/variants.lock"}


def test_an_all_digit_bucket_stays_a_bucket_name_through_every_step(world) -> None:
    bucket = "123456"  # a valid S3 bucket name; native templating would make it the number 123456
    s3 = world["s3"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key, seed in FILES.items():
        s3.put_object(Bucket=bucket, Key=key, Body=lines(seed))
    config = json.loads(Path(os.environ["BIOINDEX_CONFIG"]).read_text())
    Path(os.environ["BIOINDEX_CONFIG"]).write_text(json.dumps(config | {"bucket": bucket}))
    run = load("bioindex_compress").test(run_conf=CONF | ONE_CHUNK | {"bucket": bucket})
    assert run.state == "success", states(run)
    found = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "genes/part-0.json.gz" in found and "genes/part-0.json" not in found
    assert flags(world["database"])["genes"] == 1
