"""The bio-index plan, the per-chunk worker and the lock release, on moto S3: what each run locks, lists and frees."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.core.index_lock import IndexLock
from airflow_provider_bio.operators.bioindex import (
    BioIndexBgzipOperator,
    PlanBioIndexChunksOperator,
    ReleaseBioIndexLocksOperator,
    SetBioIndexCompressedOperator,
)
from tests.support.airflow_context import make_context
from tests.support.batch import create_job_queue
from tests.support.botocore_events import recorded_calls

REGION = "us-west-2"
BUCKET = "bio-index-data"
OWNER = "bioindex_compress/manual__2026-11-21T05:00:00+00:00"
OTHER_RUN = "bioindex_decompress/manual__2026-11-20T00:00:00+00:00"
GENES = {"name": "genes", "prefix": "genes/"}
VARIANTS = {"name": "variants", "prefix": "variants/"}
EMPTY = {"name": "empty", "prefix": "empty/"}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def put(s3: Any, files: dict[str, int]) -> None:
    for key, size in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)


def run_context(conf: dict[str, Any] | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A context whose DAG run was triggered with ``conf`` over the DAG's ``params``."""
    return make_context() | {"params": params or {}, "dag_run": SimpleNamespace(conf=conf)}


def conf(*indexes: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {"bucket": BUCKET, "indexes": list(indexes), **fields}


def locks(s3: Any) -> dict[str, dict[str, Any]]:
    """Lock key -> its record, for every lock in the bucket."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="_bioindex-locks/").get("Contents", [])
    return {item["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()) for item in listed}


def plan(direction: str = "compress", dag_id: str = "bioindex_compress", **kwargs: Any) -> PlanBioIndexChunksOperator:
    with DAG(dag_id=dag_id, schedule=None):
        return PlanBioIndexChunksOperator(
            task_id="plan", direction=direction, aws_conn_id=None, region_name=REGION, **kwargs
        )


def test_the_plan_locks_the_chosen_indexes_and_splits_their_files_by_size(s3) -> None:
    put(s3, {"genes/a.json": 700, "genes/b.json": 600, "genes/c.json": 100, "genes/notes.txt": 5})
    put(s3, {"variants/v.json": 50, "variants/v.json.gz": 9})
    context = run_context(conf(GENES, VARIANTS, EMPTY, chunk_gib=1000 / 2**30))
    chunks = plan().execute(context)
    assert chunks == [
        {
            "keys": ["genes/a.json"],
            "chunk_label": "genes 1/3 · 1 files · 1 MiB",
            "index": "genes",
            "index_prefix": "genes/",
        },
        {
            "keys": ["genes/b.json", "genes/c.json"],
            "chunk_label": "genes 2/3 · 2 files · 1 MiB",
            "index": "genes",
            "index_prefix": "genes/",
        },
        {
            "keys": ["variants/v.json"],
            "chunk_label": "variants 3/3 · 1 files · 1 MiB",
            "index": "variants",
            "index_prefix": "variants/",
        },
    ]
    assert context["ti"].xcoms["indexes"] == [
        {"index": "genes", "prefix": "genes/", "exclude": []},
        {"index": "variants", "prefix": "variants/", "exclude": []},
    ]  # empty/ holds no file: its flag is left alone
    assert context["ti"].xcoms["locked"] == [
        {"index": "genes", "prefix": "genes/", "exclude": []},
        {"index": "variants", "prefix": "variants/", "exclude": []},
        {"index": "empty", "prefix": "empty/", "exclude": []},
    ]
    held = locks(s3)
    assert sorted(held) == ["_bioindex-locks/empty.lock", "_bioindex-locks/genes.lock", "_bioindex-locks/variants.lock"]
    assert {record["owner"] for record in held.values()} == {OWNER}
    assert held["_bioindex-locks/genes.lock"]["index"] == "genes"


def said(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(level, message) of each captured log line (some hooks log dicts: left out)."""
    return [(entry["log_level"], entry["event"]) for entry in logs if isinstance(entry["event"], str)]


def test_the_plan_logs_the_files_it_found_per_index_and_each_chunk(s3) -> None:
    put(s3, {"genes/a.json": 700, "genes/b.json": 600, "genes/c.json": 100, "genes/notes.txt": 5})
    put(s3, {"variants/v.json": 50, "variants/v.json.gz": 9})
    with capture_logs() as logs:
        plan().execute(run_context(conf(GENES, VARIANTS, EMPTY, chunk_gib=1000 / 2**30)))
    expected = [
        ("info", "genes: 3 .json files under s3://bio-index-data/genes/"),
        ("info", "variants: 1 .json files under s3://bio-index-data/variants/"),
        ("info", "empty: 0 .json files under s3://bio-index-data/empty/"),
        ("warning", "empty: no .json files under empty/; its flag is left as it is"),
        ("info", "4 files, 1 MiB, in 3 chunks"),
        ("info", "  genes 1/3 · 1 files · 1 MiB"),
        ("info", "  genes 2/3 · 2 files · 1 MiB"),
        ("info", "  variants 3/3 · 1 files · 1 MiB"),
    ]
    assert [line for line in said(logs) if line in expected] == expected


def test_the_plan_lists_each_chosen_index_under_its_own_prefix_only(s3) -> None:
    put(s3, {"genes/a.json": 10, "variants/v.json": 10})
    with recorded_calls() as calls:
        plan().execute(run_context(conf(GENES, VARIANTS)))
    listed = [call.params for call in calls if call.operation == "ListObjectsV2"]
    assert listed == [{"Bucket": BUCKET, "Prefix": "genes/"}, {"Bucket": BUCKET, "Prefix": "variants/"}]


def test_the_plan_logs_the_nested_indexes_it_leaves_out(s3) -> None:
    put(s3, {"genes/a.json": 10, "genes/tissue/t.json": 10, "genes/cell/c.json": 10})
    known = [{"name": "genes-tissue", "prefix": "genes/tissue/"}, {"name": "genes-cell", "prefix": "genes/cell/"}]
    with capture_logs() as logs:
        plan(known_indexes=known).execute(run_context(conf(GENES)))
    assert (
        "info",
        "genes: 1 .json files under s3://bio-index-data/genes/ "
        "(leaving out genes/cell/, genes/tissue/: indexes of their own)",
    ) in said(logs)


def test_the_decompress_plan_names_the_originals_of_the_gz_files(s3) -> None:
    put(s3, {"genes/a.json.gz": 10, "genes/a.json.gz.gzi": 3, "genes/b.json": 10, "genes/b.json.gz": 20})
    chunks = plan("decompress", "bioindex_decompress").execute(run_context(conf(GENES)))
    assert chunks == [
        {
            "keys": ["genes/a.json", "genes/b.json"],
            "chunk_label": "genes 1/1 · 2 files · 1 MiB",
            "index": "genes",
            "index_prefix": "genes/",
        }
    ]


def test_files_of_a_known_index_nested_inside_a_chosen_one_are_left_out(s3) -> None:
    put(s3, {"genes/a.json": 10, "genes/tissue/t.json": 10})
    context = run_context(conf(GENES))
    chunks = plan(known_indexes=[{"name": "genes-tissue", "prefix": "genes/tissue/"}]).execute(context)
    assert [chunk["keys"] for chunk in chunks] == [["genes/a.json"]]
    assert context["ti"].xcoms["indexes"] == [{"index": "genes", "prefix": "genes/", "exclude": ["genes/tissue/"]}]


def test_the_trigger_conf_overrides_the_params_and_a_missing_conf_leaves_them(s3) -> None:
    put(s3, {"genes/a.json": 10, "variants/v.json": 10})
    params = conf(GENES, VARIANTS)
    chosen = plan().execute(run_context({"include": ["var*"]}, params))
    assert [chunk["index"] for chunk in chosen] == ["variants"]
    every = plan().execute(run_context(None, params))
    assert [chunk["index"] for chunk in every] == ["genes", "variants"]


def test_a_dry_run_plans_but_locks_nothing_and_returns_no_chunk(s3) -> None:
    put(s3, {"genes/a.json": 10})
    context = run_context(conf(GENES, dry_run=True))
    with capture_logs() as logs:
        assert plan().execute(context) == []
    assert ("info", "Dry run: the plan above touches no file") in said(logs)
    assert context["ti"].xcoms["indexes"] == [{"index": "genes", "prefix": "genes/", "exclude": []}]
    assert "locked" not in context["ti"].xcoms
    assert locks(s3) == {}


def test_an_index_locked_by_another_run_fails_the_plan_and_gives_back_the_locks_it_took(s3) -> None:
    put(s3, {"genes/a.json": 10, "variants/v.json": 10})
    IndexLock(s3, BUCKET, OTHER_RUN).hold("variants", "variants/")
    context = run_context(conf(GENES, VARIANTS))
    with (
        capture_logs() as logs,
        pytest.raises(AirflowFailException, match=r"variants \(variants/\) is locked by " + re.escape(OTHER_RUN)),
    ):
        plan().execute(context)
    assert ("info", "Released the lock of genes") in said(logs)
    assert {key: record["owner"] for key, record in locks(s3).items()} == {"_bioindex-locks/variants.lock": OTHER_RUN}
    assert context["ti"].xcoms == {}


def test_the_lock_lasts_the_ttl_given(s3) -> None:
    put(s3, {"genes/a.json": 10})
    plan(lock_ttl_seconds=3600).execute(run_context(conf(GENES)))
    record = locks(s3)["_bioindex-locks/genes.lock"]
    lasts = datetime.fromisoformat(record["expires_at"]) - datetime.fromisoformat(record["taken_at"])
    assert lasts == timedelta(hours=1)


@pytest.mark.parametrize(
    ("trigger_conf", "kwargs", "message"),
    [
        pytest.param(conf(chunk_gib=0), {}, "chunk_gib", id="bad field"),
        pytest.param(
            conf(GENES), {"served_bucket": "dig-bio-index"}, "not the bucket the bio-index serves", id="bucket"
        ),
        pytest.param(
            conf(GENES), {"work_location": f"s3://{BUCKET}/genes/work/"}, "lies inside the prefix of genes", id="work"
        ),
    ],
)
def test_a_bad_conf_fails_without_a_retry_before_any_aws_call(s3, trigger_conf, kwargs, message) -> None:
    with recorded_calls() as calls, pytest.raises(AirflowFailException, match=message):
        plan(**kwargs).execute(run_context(trigger_conf))
    assert calls == []


def test_a_direction_other_than_compress_or_decompress_is_refused() -> None:
    with pytest.raises(ValueError, match="direction must be 'compress' or 'decompress'; got 'zip'"):
        PlanBioIndexChunksOperator(task_id="plan", direction="zip")


# The worker of one chunk


def worker(dag_id: str = "bioindex_compress", **kwargs: Any) -> BioIndexBgzipOperator:
    with DAG(dag_id=dag_id, schedule=None):
        return BioIndexBgzipOperator(
            task_id="compress",
            action="compress",
            bucket=BUCKET,
            keys=["genes/a.json"],
            index="genes",
            index_prefix="genes/",
            aws_conn_id=None,
            region_name=REGION,
            **{"engine": "local"} | kwargs,
        )


def test_a_chunk_takes_its_index_lock_before_it_works(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="genes/a.json", Body=b'{"gene": "G1"}\n')
    result = worker(lock_ttl_seconds=7200).execute(make_context())
    assert (result["files"], result["done"]) == (1, 1)
    record = locks(s3)["_bioindex-locks/genes.lock"]
    assert (record["owner"], record["index"], record["prefix"]) == (OWNER, "genes", "genes/")
    lasts = datetime.fromisoformat(record["expires_at"]) - datetime.fromisoformat(record["taken_at"])
    assert lasts == timedelta(hours=2)
    assert "genes/a.json.gz" in {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}


def test_a_chunk_of_an_index_another_run_holds_fails_without_touching_a_file(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="genes/a.json", Body=b'{"gene": "G1"}\n')
    IndexLock(s3, BUCKET, OTHER_RUN).hold("genes", "genes/")
    with pytest.raises(AirflowFailException, match=r"genes \(genes/\) is locked by " + re.escape(OTHER_RUN)):
        worker().execute(make_context())
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"genes/a.json", "_bioindex-locks/genes.lock"}


def test_a_batch_chunk_takes_its_lock_and_submits_its_job_with_its_runs_report_key() -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        client = boto3.client("s3", region_name=REGION)
        for bucket in (BUCKET, "bio-index-work"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        create_job_queue("bgzip-job-queue", "bgzip-worker", REGION)
        chunk = worker(
            engine="batch",
            job_queue="bgzip-job-queue",
            job_definition="bgzip-worker",
            work_location="s3://bio-index-work/bgzip/",
            wait_for_completion=False,
        )
        with recorded_calls() as calls:
            result = chunk.execute(make_context())
        assert locks(client)["_bioindex-locks/genes.lock"]["owner"] == OWNER
    [submit] = [call.params for call in calls if call.operation == "SubmitJob"]
    assert result == {"action": "compress", "job_id": result["job_id"]}
    command = submit["containerOverrides"]["command"]
    assert command[command.index("--report") + 1] == (
        "s3://bio-index-work/bgzip/reports/bioindex_compress/manual__2026-11-21T05:00:00+00:00/compress.json"
    )


# The release at the end of the run


def release(indexes: Any) -> ReleaseBioIndexLocksOperator:
    with DAG(dag_id="bioindex_compress", schedule=None):
        return ReleaseBioIndexLocksOperator(
            task_id="release", indexes=indexes, bucket=BUCKET, aws_conn_id=None, region_name=REGION
        )


def test_the_release_frees_this_runs_locks_and_leaves_another_runs_alone(s3) -> None:
    ours = IndexLock(s3, BUCKET, OWNER)
    ours.hold("genes", "genes/")
    ours.hold("empty", "empty/")
    IndexLock(s3, BUCKET, OTHER_RUN).hold("variants", "variants/")  # taken over after ours expired
    entries = [{"index": i["name"], "prefix": i["prefix"]} for i in (GENES, VARIANTS, EMPTY)]
    with capture_logs() as logs:
        assert release(entries).execute(make_context()) == ["genes", "empty"]
    said = [entry["event"] for entry in logs if isinstance(entry["event"], str)]
    assert {"Released the lock of genes", "Released the lock of empty"} <= set(said)
    assert f"variants: no lock of this run to release ({OTHER_RUN})" in said
    assert {key: record["owner"] for key, record in locks(s3).items()} == {"_bioindex-locks/variants.lock": OTHER_RUN}


@pytest.mark.parametrize("indexes", [None, []])
def test_a_run_that_took_no_lock_releases_nothing_and_calls_no_aws(s3, indexes) -> None:
    with recorded_calls() as calls, capture_logs() as logs:
        assert release(indexes).execute(make_context()) == []
    assert calls == []
    assert "This run took no lock" in [entry["event"] for entry in logs]


@pytest.mark.parametrize("indexes", ["genes", [{"index": "genes"}], ["genes/"]])
def test_the_release_refuses_entries_without_index_and_prefix(s3, indexes) -> None:
    with pytest.raises(ValueError, match=r'indexes must be a list of \{"index", "prefix"\} objects; got'):
        release(indexes).execute(make_context())


# Marking, under the run's locks


def mark(**kwargs: Any) -> SetBioIndexCompressedOperator:
    arguments = {"indexes": [{"index": "genes", "prefix": "genes/"}], "compressed": True, "bucket": BUCKET}
    with DAG(dag_id="bioindex_compress", schedule=None):
        return SetBioIndexCompressedOperator(
            task_id="mark", bioindex_conn_id="bioindex_test", aws_conn_id=None, region_name=REGION, **arguments | kwargs
        )


def test_marking_with_lock_refuses_an_index_another_run_holds_before_looking_at_it(s3) -> None:
    IndexLock(s3, BUCKET, OTHER_RUN).hold("genes", "genes/")
    with recorded_calls() as calls, pytest.raises(AirflowFailException, match="locked by " + re.escape(OTHER_RUN)):
        mark(lock=True).execute(make_context())
    assert "ListObjectsV2" not in {call.operation for call in calls}


def test_marking_with_lock_holds_the_lock_as_this_run(s3) -> None:
    """No file under the prefix: the flag is refused, but only after the run holds the lock."""
    with pytest.raises(RuntimeError, match="genes is not marked compressed"):
        mark(lock=True, lock_ttl_seconds=600).execute(make_context())
    record = locks(s3)["_bioindex-locks/genes.lock"]
    assert (record["owner"], record["index"], record["prefix"]) == (OWNER, "genes", "genes/")
    lasts = datetime.fromisoformat(record["expires_at"]) - datetime.fromisoformat(record["taken_at"])
    assert lasts == timedelta(minutes=10)


def test_marking_without_lock_takes_none(s3) -> None:
    with pytest.raises(RuntimeError, match="genes is not marked compressed"):
        mark().execute(make_context())
    assert locks(s3) == {}


def test_marking_files_of_another_bucket_is_refused_before_any_call(s3) -> None:
    with (
        recorded_calls() as calls,
        pytest.raises(
            AirflowFailException,
            match=re.escape(
                "bucket bio-index-data is not the bucket the bio-index serves (dig-bio-index); "
                "no flag is set for files the bio-index does not read"
            ),
        ),
    ):
        mark(served_bucket="dig-bio-index").execute(make_context())
    assert calls == []
