"""S3SyncOperator on in-process moto: the CLI's rules one by one, the safety rails, the edge keys."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events, http_response, recorded_calls

SRC, DST = "bio-sync-source", "bio-sync-destination"
EDGE_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign.txt",
    "percent%20literal.txt",
    "unicodé/日本語.json",
    "deep/a/b/c/d/e/f/g/h.bin",
    "folder-marker/",
    "empty.bin",
]


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        for bucket in (SRC, DST):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield client


def put(s3, bucket, key, body=b"x", **kwargs):
    s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)


def state(s3, bucket, prefix=""):
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects[item["Key"][len(prefix) :]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return objects


def sync(**kwargs):
    defaults = {"task_id": "sync", "source": f"s3://{SRC}", "destination": f"s3://{DST}", "aws_conn_id": None}
    return S3SyncOperator(**(defaults | kwargs)).execute(make_context())


def writes(calls):
    return [c.operation for c in calls if not c.operation.startswith(("List", "Head", "Get"))]


def test_edge_case_keys_round_trip_exactly(s3):
    for index, key in enumerate(EDGE_KEYS):
        put(s3, SRC, key, b"" if key.endswith("/") or key == "empty.bin" else f"body {index}".encode())
    result = sync()
    assert state(s3, DST) == state(s3, SRC)
    assert result["copied"] == {"objects": len(EDGE_KEYS), "bytes": sum(len(v) for v in state(s3, SRC).values())}


def test_prefix_to_prefix_copies_relative_keys(s3):
    put(s3, SRC, "docs/2026/a.pdf", b"a")
    put(s3, SRC, "docsX/not-mine.pdf", b"b")
    sync(source=f"s3://{SRC}/docs", destination=f"s3://{DST}/backup/docs/")
    assert state(s3, DST) == {"backup/docs/2026/a.pdf": b"a"}


def test_rerun_on_an_unchanged_tree_copies_nothing(s3):
    for key in EDGE_KEYS:
        put(s3, SRC, key, b"" if key.endswith("/") else b"data")
    sync()
    with recorded_calls() as calls:
        result = sync()
    assert writes(calls) == []
    assert result["copied"]["objects"] == 0 and result["skipped"]["objects"] == len(EDGE_KEYS)


def test_changed_size_and_newer_source_are_copied_again(s3):
    put(s3, SRC, "size.txt", b"one")
    put(s3, SRC, "time.txt", b"abc")
    put(s3, SRC, "same.txt", b"abc")
    sync()
    time.sleep(1.1)  # S3 times have one-second resolution
    put(s3, SRC, "size.txt", b"longer")
    put(s3, SRC, "time.txt", b"xyz")
    result = sync()
    assert result["copied"]["objects"] == 2
    assert state(s3, DST) == {"size.txt": b"longer", "time.txt": b"xyz", "same.txt": b"abc"}
    time.sleep(1.1)
    put(s3, SRC, "time.txt", b"new")
    assert sync(size_only=True)["copied"]["objects"] == 0


def test_filters_and_delete_follow_the_cli(s3):
    for key in ("a.pdf", "b.txt", "tmp/c.pdf"):
        put(s3, SRC, key)
    for key in ("old.pdf", "keep.txt"):
        put(s3, DST, key)
    filters = [("exclude", "*"), ("include", "*.pdf"), ("exclude", "tmp/*")]
    result = sync(filters=filters, delete=True, max_delete_fraction=1)
    assert sorted(state(s3, DST)) == ["a.pdf", "keep.txt"]
    assert result["deleted"]["objects"] == 1 and result["copied"]["objects"] == 1


def test_content_type_metadata_tags_and_storage_class_are_carried(s3):
    kms = boto3.client("kms", region_name="us-west-2").create_key()["KeyMetadata"]["KeyId"]
    big = b"0123456789" * (600 * 1024)  # 6 MB: copied in two parts with a 5 MiB part size
    for key, body in (("small.json", b"{}"), ("big.bin", big)):
        put(s3, SRC, key, body, ContentType="application/x-test", Metadata={"origin": "prod"}, Tagging="team=bio&x=1")
    with recorded_calls() as calls:
        sync(
            multipart_threshold=5 * 1024**2,
            multipart_chunksize=5 * 1024**2,
            storage_class="STANDARD_IA",
            sse_kms_key_id=kms,
        )
    assert writes(calls).count("UploadPartCopy") == 2 and "CopyObject" in writes(calls)
    for key in ("small.json", "big.bin"):
        head = s3.head_object(Bucket=DST, Key=key)
        assert (head["ContentType"], head["Metadata"], head["StorageClass"]) == (
            "application/x-test",
            {"origin": "prod"},
            "STANDARD_IA",
        )
        assert head["ServerSideEncryption"] == "aws:kms" and kms in head["SSEKMSKeyId"]
        tags = s3.get_object_tagging(Bucket=DST, Key=key)["TagSet"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "bio"), ("x", "1")]
    assert s3.get_object(Bucket=DST, Key="big.bin")["Body"].read() == big


def test_another_connection_streams_through_the_worker(s3, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER_ENV", '{"conn_type": "aws"}')
    put(s3, SRC, "doc.pdf", b"pdf", ContentType="application/pdf", Tagging="k=v")
    put(s3, SRC, "big.bin", b"7" * (6 * 1024**2))
    with recorded_calls() as calls:
        result = sync(dest_aws_conn_id="aws_lower_env", multipart_threshold=5 * 1024**2)
    assert "CopyObject" not in writes(calls) and "UploadPartCopy" not in writes(calls)
    assert {"PutObject", "UploadPart", "CompleteMultipartUpload"} <= set(writes(calls))
    assert state(s3, DST) == state(s3, SRC) and result["copied"]["objects"] == 2
    assert s3.head_object(Bucket=DST, Key="doc.pdf")["ContentType"] == "application/pdf"
    assert s3.get_object_tagging(Bucket=DST, Key="doc.pdf")["TagSet"] == [{"Key": "k", "Value": "v"}]


def signed_by_key() -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Record the access key each S3 call is signed with, as (operation, key)."""
    signed_by: list[tuple[str, str]] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        key = request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0]
        signed_by.append((event_name.rsplit(".", 1)[1], key))

    return signed_by, {"before-send.s3": record}


def test_a_streamed_copy_reads_with_the_source_connection_and_writes_with_the_destinations(s3, monkeypatch):
    lower = {"conn_type": "aws", "login": "AKIALOWERENVWRITER01", "password": "lower-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER_ENV", json.dumps(lower))
    put(s3, SRC, "doc.pdf", b"pdf")
    signed_by, events = signed_by_key()

    with client_events(events):
        sync(dest_aws_conn_id="aws_lower_env")
    writers = {key for operation, key in signed_by if operation == "PutObject"}
    readers = {key for operation, key in signed_by if operation in ("GetObject", "HeadObject")}
    assert writers == {"AKIALOWERENVWRITER01"}
    assert readers and "AKIALOWERENVWRITER01" not in readers


@pytest.mark.parametrize("dest_aws_conn_id", [None, "aws_records"])
def test_with_no_other_destination_connection_every_call_uses_the_source_one(s3, monkeypatch, dest_aws_conn_id):
    records = {"conn_type": "aws", "login": "AKIARECORDSACCOUNT01", "password": "records-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_RECORDS", json.dumps(records))
    put(s3, SRC, "doc.pdf", b"pdf")
    signed_by, events = signed_by_key()

    with client_events(events):
        sync(aws_conn_id="aws_records", dest_aws_conn_id=dest_aws_conn_id)
    assert "CopyObject" in [operation for operation, _ in signed_by]
    assert {key for _, key in signed_by} == {"AKIARECORDSACCOUNT01"}


def test_a_failed_copy_fails_the_task_after_all_the_others(s3):
    for key in ("a", "b", "c"):
        put(s3, SRC, key)

    def deny(params, **_):
        # A before-call answer replaces the request: the copy of "b" never reaches S3.
        if params["url_path"].endswith("/b"):
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return http_response(403, {}), error
        return None

    with client_events({"before-call.s3.CopyObject": deny}), pytest.raises(RuntimeError, match=r"1 objects.*'b'"):
        sync()
    assert sorted(state(s3, DST)) == ["a", "c"]


def test_dry_run_returns_the_plan_and_writes_nothing(s3):
    put(s3, SRC, "new.txt")
    put(s3, DST, "stale.txt")
    with recorded_calls() as calls:
        result = sync(delete=True, dry_run=True, max_delete_fraction=1)
    assert writes(calls) == []
    assert (result["copy_keys"], result["delete_keys"]) == (["new.txt"], ["stale.txt"])


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        ({"dst": ["a", "b"]}, {}, "lists no objects"),
        ({"src": ["a"], "dst": ["a", "b", "c", "d"]}, {"max_delete_fraction": 0.5}, "would delete 3 of 4"),
    ],
)
def test_unsafe_delete_syncs_are_refused_before_any_write(s3, setup, kwargs, message):
    for key in setup.get("src", []):
        put(s3, SRC, key)
    for key in setup.get("dst", []):
        put(s3, DST, key)
    with recorded_calls() as calls, pytest.raises(RuntimeError, match=message):
        sync(delete=True, **kwargs)
    assert writes(calls) == []
    assert sorted(state(s3, DST)) == sorted(setup["dst"])


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        ({"dst": ["a", "b"]}, {}, "lists no objects"),
        ({"src": ["a"], "dst": ["a", "b", "c", "d"]}, {"max_delete_fraction": 0.5}, "would delete 3 of 4"),
    ],
)
def test_a_dry_run_of_a_refused_delete_sync_says_it_would_be_refused(s3, setup, kwargs, message):
    for key in setup.get("src", []):
        put(s3, SRC, key)
    for key in setup.get("dst", []):
        put(s3, DST, key)
    with (
        recorded_calls() as calls,
        pytest.raises(RuntimeError, match=f"dry run: the sync would be refused: .*{message}"),
    ):
        sync(delete=True, dry_run=True, **kwargs)
    assert writes(calls) == []


def test_a_delete_sync_decides_and_deletes_from_one_listing(s3):
    """The source emptied between a first listing (checked) and a second (acted on) emptied the destination."""
    from tests.support.botocore_events import client_events

    for key in ("a", "b", "c"):
        put(s3, SRC, key)
        put(s3, DST, key)
    put(s3, DST, "stale")
    listings = []

    def source_vanishes_after_its_first_listing(params, **_):
        listings.append(params["Bucket"])
        if params["Bucket"] == SRC and listings.count(SRC) == 1:
            return  # the first listing sees the source whole
        if params["Bucket"] == SRC:
            for key in ("a", "b", "c"):
                s3.delete_object(Bucket=SRC, Key=key)

    with client_events({"before-parameter-build.s3.ListObjectsV2": source_vanishes_after_its_first_listing}):
        sync(delete=True, max_delete_fraction=0.5)
    assert listings.count(SRC) == 1 and listings.count(DST) == 1
    assert sorted(state(s3, DST)) == ["a", "b", "c"]


def test_an_empty_source_may_empty_the_destination_when_asked(s3):
    put(s3, DST, "a")
    sync(delete=True, allow_empty_source=True, max_delete_fraction=1)
    assert state(s3, DST) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "bio-sync-source"}, "source"),
        ({"destination": f"s3://{SRC}/sub"}, "overlap"),
        ({"filters": [("skip", "*")]}, r"filters\[0\]"),
        ({"max_delete_fraction": 2}, "max_delete_fraction"),
        ({"storage_class": "COLD"}, "storage_class"),
        ({"multipart_chunksize": 1024}, "multipart_chunksize"),
        ({"delete": True, "destination": "s3://bio-prod-documents"}, "protected pattern"),
    ],
)
def test_bad_arguments_fail_before_any_aws_call(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError, match=message):
        sync(**kwargs)
    assert calls == []


def test_a_key_deleteobjects_refuses_fails_the_sync_and_is_not_counted_deleted(s3, monkeypatch):
    """S3 answers 200 to DeleteObjects and lists refused keys under ``Errors``: those are failures, not deletions."""
    put(s3, SRC, "keep")
    for key in ("keep", "stale-a", "refused", "stale-b"):
        put(s3, DST, key)
    results = []
    original_run = S3SyncOperator._run

    def run_and_keep(self, *args, **kwargs):
        results.append(original_run(self, *args, **kwargs))
        return results[-1]

    def withhold_refused(params, **_):
        # S3 refuses this one key: it never reaches moto, so it stays, and the answer names it.
        params["Delete"]["Objects"] = [o for o in params["Delete"]["Objects"] if o["Key"] != "refused"]

    def answer_refused(parsed, **_):
        parsed.setdefault("Errors", []).append({"Key": "refused", "Code": "AccessDenied", "Message": "Access Denied"})

    monkeypatch.setattr(S3SyncOperator, "_run", run_and_keep)
    events = {
        "before-parameter-build.s3.DeleteObjects": withhold_refused,
        "after-call.s3.DeleteObjects": answer_refused,
    }
    with client_events(events), pytest.raises(RuntimeError, match=r"1 objects failed.*\['refused'\]"):
        sync(delete=True, max_delete_fraction=1)
    (result,) = results
    assert (result.deleted.objects, result.failed.objects) == (2, 1)
    assert result.errors == [{"key": "refused", "action": "delete", "error": "AccessDenied: Access Denied"}]
    assert sorted(state(s3, DST)) == ["keep", "refused"]


def test_a_failed_multipart_copy_is_aborted(s3):
    """README: a failed multipart copy is aborted, so no incomplete upload is left at the destination."""
    put(s3, SRC, "big.bin", b"5" * (6 * 1024**2))  # two parts at a 5 MiB part size
    part_calls = []

    def deny_the_second_part(params, **_):
        part_calls.append(params["query_string"])
        if params["query_string"]["partNumber"] == 2:
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return http_response(403, {}), error
        return None

    with (
        client_events({"before-call.s3.UploadPartCopy": deny_the_second_part}),
        recorded_calls() as calls,
        pytest.raises(RuntimeError, match=r"1 objects failed.*'big.bin'"),
    ):
        sync(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    assert len(part_calls) == 2
    assert s3.list_multipart_uploads(Bucket=DST).get("Uploads", []) == []
    assert "AbortMultipartUpload" in writes(calls)
    assert state(s3, DST) == {}
