"""The BGZF worker against moto: each action, skip-if-done, partial failures, nothing partial left behind."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.core.bgzf import BgzfWriter, GziIndex, decompress_stream, read_range
from airflow_provider_bio.jobs import bgzip_worker, s3_objects
from airflow_provider_bio.jobs.bgzip_files import VERIFIED_TAG
from tests.support.botocore_events import client_events, http_response, recorded_calls

BUCKET = "bio-index-data"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield client


def lines(count: int, seed: int = 1, newline: str = "\n") -> bytes:
    return "".join(json.dumps({"varId": f"{seed}:{n}:A:G", "p": n / 7}) + newline for n in range(count)).encode()


def put(s3, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/json")


def body(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def keys(s3) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def run(s3, action: str, files, **options) -> bgzip_worker.Report:
    return bgzip_worker.run(action, s3, BUCKET, files, workers=3, log=lambda line: None, **options)


def run_recorded(action: str, files, **options) -> tuple[bgzip_worker.Report, list[str]]:
    """Run with a client made inside the recorder, so every call is seen; return the operations too."""
    with recorded_calls() as calls:
        report = run(boto3.client("s3", region_name="us-west-2"), action, files, **options)
    return report, [call.operation for call in calls]


def statuses(report: bgzip_worker.Report) -> dict[str, str]:
    return {result.key: result.status for result in report.files}


def test_compress_writes_a_readable_pair_beside_each_original_and_keeps_it(s3) -> None:
    originals = {"genes/a.json": lines(20_000), "genes/b.json": lines(5, newline="\r\n"), "genes/empty.json": b""}
    for key, data in originals.items():
        put(s3, key, data)
    report = run(s3, "compress", originals)
    assert statuses(report) == dict.fromkeys(originals, "done")
    for key, data in originals.items():
        assert body(s3, key) == data
        restored: list[bytes] = []
        summary = decompress_stream(io.BytesIO(body(s3, f"{key}.gz")).read, restored.append)
        assert b"".join(restored) == data
        index = GziIndex.from_bytes(body(s3, f"{key}.gz.gzi"))
        assert index == summary.index
    big = originals["genes/a.json"]
    compressed = body(s3, "genes/a.json.gz")
    index = GziIndex.from_bytes(body(s3, "genes/a.json.gz.gzi"))
    assert read_range(lambda s, e: compressed[s:e], index, 70_000, 99) == big[70_000:70_099]


def test_large_files_go_through_a_multipart_upload_completed_at_the_end(s3, monkeypatch) -> None:
    monkeypatch.setattr(s3_objects, "MIN_PART_SIZE", 5 << 20)
    data = os.urandom(11 << 20)
    put(s3, "x/big.json", data)
    report, operations = run_recorded("compress", ["x/big.json"])
    assert statuses(report) == {"x/big.json": "done"}
    assert operations.count("UploadPart") == 3
    assert operations.index("CompleteMultipartUpload") < operations.index("PutObject")  # .gzi last
    restored: list[bytes] = []
    decompress_stream(io.BytesIO(body(s3, "x/big.json.gz")).read, restored.append)
    assert b"".join(restored) == data


def test_a_failure_mid_upload_aborts_and_leaves_neither_object(s3, monkeypatch) -> None:
    monkeypatch.setattr(s3_objects, "MIN_PART_SIZE", 5 << 20)
    put(s3, "x/big.json", os.urandom(11 << 20))
    put(s3, "x/small.json", lines(10))

    def fail_second_part(params, **_):
        # A before-call answer replaces the request: part 2 never reaches S3.
        if str(params["query_string"].get("partNumber")) == "2":
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return http_response(403, {}), error
        return None

    with client_events({"before-call.s3.UploadPart": fail_second_part}):
        report = run(boto3.client("s3", region_name="us-west-2"), "compress", ["x/big.json", "x/small.json"])
    assert statuses(report) == {"x/big.json": "failed", "x/small.json": "done"}
    assert "x/big.json.gz" not in keys(s3) and "x/big.json.gz.gzi" not in keys(s3)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert report.summary()["failed"] == 1


def test_verify_tags_the_pair_and_a_second_compress_skips_it(s3) -> None:
    put(s3, "g/a.json", lines(3000))
    run(s3, "compress", ["g/a.json"])
    assert statuses(run(s3, "verify", ["g/a.json"])) == {"g/a.json": "done"}
    tags = s3.get_object_tagging(Bucket=BUCKET, Key="g/a.json.gz.gzi")["TagSet"]
    assert {tag["Key"] for tag in tags} == {VERIFIED_TAG}
    again, operations = run_recorded("compress", ["g/a.json"])
    assert again.files[0].status == "skipped" and again.files[0].detail == "already compressed and verified"
    assert "HeadObject" in operations
    assert not {"PutObject", "GetObject", "CreateMultipartUpload"} & set(operations)


def test_compress_recompresses_when_the_original_changed(s3) -> None:
    put(s3, "g/a.json", lines(100))
    run(s3, "compress", ["g/a.json"])
    run(s3, "verify", ["g/a.json"])
    put(s3, "g/a.json", lines(200, seed=2))
    assert statuses(run(s3, "verify", ["g/a.json"])) == {"g/a.json": "failed"}
    assert run(s3, "compress", ["g/a.json"]).files[0].status == "done"
    restored: list[bytes] = []
    decompress_stream(io.BytesIO(body(s3, "g/a.json.gz")).read, restored.append)
    assert b"".join(restored) == lines(200, seed=2)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("g/a.json.gz.gzi", "does not match the blocks"),
        ("g/a.json.gz", "compressed offset"),
    ],
)
def test_verify_fails_a_damaged_pair_naming_the_problem(s3, damage: str, reason: str) -> None:
    put(s3, "g/a.json", lines(30_000))
    run(s3, "compress", ["g/a.json"])
    original = s3.head_object(Bucket=BUCKET, Key=damage)
    data = bytearray(body(s3, damage))
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=damage, Body=bytes(data), Metadata=original["Metadata"])
    result = run(s3, "verify", ["g/a.json"]).files[0]
    assert result.status == "failed"
    assert reason in result.detail


def test_delete_originals_refuses_unverifiable_files_and_deletes_the_rest(s3) -> None:
    for name in ("good", "no-pair", "stale"):
        put(s3, f"g/{name}.json", lines(500))
    run(s3, "compress", ["g/good.json", "g/stale.json"])
    put(s3, "g/stale.json", lines(500, seed=9))  # changed after compression
    report = run(s3, "delete-originals", ["g/good.json", "g/no-pair.json", "g/stale.json"])
    assert statuses(report) == {"g/good.json": "done", "g/no-pair.json": "failed", "g/stale.json": "failed"}
    assert "run compress" in {r.key: r for r in report.files}["g/no-pair.json"].detail
    assert keys(s3) >= {"g/no-pair.json", "g/stale.json"}
    assert "g/good.json" not in keys(s3)


def test_delete_originals_dry_run_deletes_nothing(s3) -> None:
    put(s3, "g/a.json", lines(50))
    run(s3, "compress", ["g/a.json"])
    report = run(s3, "delete-originals", ["g/a.json"], dry_run=True)
    assert statuses(report) == {"g/a.json": "dry-run"}
    assert "g/a.json" in keys(s3)


def test_decompress_restores_the_original_name_and_bytes_then_removes_the_pair(s3) -> None:
    data = lines(8000, newline="\r\n")
    put(s3, "g/a.json", data)
    run(s3, "compress", ["g/a.json"])
    run(s3, "delete-originals", ["g/a.json"])
    assert keys(s3) == {"g/a.json.gz", "g/a.json.gz.gzi"}

    kept = run(s3, "decompress", ["g/a.json"], keep_compressed=True)
    assert statuses(kept) == {"g/a.json": "done"}
    assert body(s3, "g/a.json") == data
    assert s3.head_object(Bucket=BUCKET, Key="g/a.json")["ContentType"] == "application/json"
    assert keys(s3) == {"g/a.json", "g/a.json.gz", "g/a.json.gz.gzi"}

    final, operations = run_recorded("decompress", ["g/a.json"])
    assert final.files[0].detail == "the original was in place; .gz and .gzi deleted"
    assert "DeleteObjects" in operations and "PutObject" not in operations  # the restore is not redone
    assert keys(s3) == {"g/a.json"}
    assert body(s3, "g/a.json") == data


def test_decompress_strips_only_the_final_gz_and_never_overwrites_a_different_original(s3) -> None:
    put(s3, "g/x.json.gz.json", lines(10))
    run(s3, "compress", ["g/x.json.gz.json"])
    run(s3, "delete-originals", ["g/x.json.gz.json"])
    listed = list(bgzip_worker.originals_under(s3, BUCKET, "g/", "decompress"))
    assert listed == ["g/x.json.gz.json"]
    put(s3, "g/x.json.gz.json", b"something else\n")
    result = run(s3, "decompress", listed).files[0]
    assert result.status == "failed" and "refusing to overwrite" in result.detail
    assert body(s3, "g/x.json.gz.json") == b"something else\n"


def test_prefix_mode_covers_only_json_files(s3) -> None:
    for key in ("idx/a.json", "idx/sub/b.json", "idx/notes.txt", "other/c.json"):
        put(s3, key, lines(3))
    assert sorted(bgzip_worker.originals_under(s3, BUCKET, "idx/", "compress")) == ["idx/a.json", "idx/sub/b.json"]


def test_main_exits_non_zero_when_a_file_failed_and_writes_the_report(s3, tmp_path: Path) -> None:
    put(s3, "idx/a.json", lines(10))
    manifest = tmp_path / "keys.json"
    manifest.write_text(json.dumps(["idx/a.json", "idx/missing.json"]))
    code = bgzip_worker.main(
        ["compress", "--bucket", BUCKET, "--manifest", str(manifest), "--report", f"s3://{BUCKET}/reports/r.json"]
    )
    assert code == 1
    report = json.loads(body(s3, "reports/r.json"))
    assert report["summary"].items() >= {"files": 2, "done": 1, "failed": 1}.items()
    assert {f["key"]: f["status"] for f in report["files"]} == {"idx/a.json": "done", "idx/missing.json": "failed"}
    assert bgzip_worker.main(["verify", "--bucket", BUCKET, "--prefix", "idx/"]) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["compress", "--bucket", BUCKET], "one of the arguments --prefix --manifest is required"),
        (["compress", "--bucket", BUCKET, "--prefix", "p/", "--level", "12"], "level must be -1"),
        (["verify", "--bucket", BUCKET, "--prefix", "p/", "--dry-run"], "--dry-run applies to"),
        (["compress", "--bucket", BUCKET, "--manifest", "MANIFEST"], "list the originals' keys"),
    ],
)
def test_bad_arguments_exit_2_naming_the_fix(s3, tmp_path: Path, capsys, arguments, message: str) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(["a.json.gz"]))
    with pytest.raises(SystemExit) as exit_info:
        bgzip_worker.main([str(manifest) if part == "MANIFEST" else part for part in arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unexpected_error_fails_only_its_file_and_the_report_is_still_written(s3, monkeypatch) -> None:
    from botocore.exceptions import ResponseStreamingError

    from airflow_provider_bio.jobs.bgzip_files import BgzipFiles

    put(s3, "g/a.json", lines(10))
    put(s3, "g/b.json", lines(10, seed=2))
    compress = BgzipFiles.compress

    def dropped_connection(self, key):
        if key == "g/a.json":
            raise ResponseStreamingError(error="Connection reset by peer")
        return compress(self, key)

    monkeypatch.setattr(BgzipFiles, "compress", dropped_connection)
    report = run(s3, "compress", ["g/a.json", "g/b.json"])
    assert statuses(report) == {"g/a.json": "failed", "g/b.json": "done"}
    assert {r.key: r.detail for r in report.files}["g/a.json"].startswith("ResponseStreamingError")


def test_decompress_fails_when_s3_refuses_to_delete_the_pair(s3) -> None:
    put(s3, "g/a.json", lines(10))
    run(s3, "compress", ["g/a.json"])

    def refuse(params, **_):
        # A before-call answer replaces the request: S3 answers 200 and lists the keys it kept.
        return http_response(200, {}), {"Errors": [{"Key": "g/a.json.gz", "Code": "AccessDenied"}]}

    with client_events({"before-call.s3.DeleteObjects": refuse}):
        result = run(boto3.client("s3", region_name="us-west-2"), "decompress", ["g/a.json"]).files[0]
    assert result.status == "failed" and "g/a.json.gz (AccessDenied)" in result.detail


def test_decompress_dry_run_writes_nothing(s3) -> None:
    put(s3, "g/a.json", lines(10))
    run(s3, "compress", ["g/a.json"])
    run(s3, "delete-originals", ["g/a.json"])
    result = run(s3, "decompress", ["g/a.json"], dry_run=True).files[0]
    assert result.status == "dry-run" and result.detail == "would restore g/a.json, would delete .gz and .gzi"
    assert keys(s3) == {"g/a.json.gz", "g/a.json.gz.gzi"}


def test_a_pair_made_by_htslib_without_a_record_can_still_be_rolled_back(s3) -> None:
    data = lines(500)
    compressed = io.BytesIO()
    with BgzfWriter(compressed.write) as writer:
        writer.write(data)
    s3.put_object(Bucket=BUCKET, Key="g/h.json.gz", Body=compressed.getvalue())  # no .gzi, no metadata
    assert statuses(run(s3, "decompress", ["g/h.json"], keep_compressed=True)) == {"g/h.json": "done"}
    assert body(s3, "g/h.json") == data
    assert statuses(run(s3, "decompress", ["g/h.json"])) == {"g/h.json": "done"}
    assert keys(s3) == {"g/h.json"}


def test_decompress_keeps_an_original_written_by_someone_else_during_the_restore(s3) -> None:
    put(s3, "g/a.json", lines(200))
    run(s3, "compress", ["g/a.json"])
    run(s3, "delete-originals", ["g/a.json"])
    newer = b'{"written": "by another job during the restore"}\n'

    def other_writer_first(params, **_):
        # the original is absent at the start check; another writer puts it before the restore lands
        if params["url_path"].endswith("/g/a.json"):
            put(s3, "g/a.json", newer)

    with client_events({"before-call.s3.PutObject": other_writer_first}):
        result = run(boto3.client("s3", region_name="us-west-2"), "decompress", ["g/a.json"]).files[0]
    assert result.status == "failed" and "written by someone else during the restore" in result.detail
    assert body(s3, "g/a.json") == newer
    assert keys(s3) == {"g/a.json", "g/a.json.gz", "g/a.json.gz.gzi"}


def test_decompress_of_a_large_file_keeps_an_original_written_during_the_restore(s3, monkeypatch) -> None:
    monkeypatch.setattr(s3_objects, "MIN_PART_SIZE", 5 << 20)
    put(s3, "g/big.json", os.urandom(11 << 20))
    run(s3, "compress", ["g/big.json"])
    run(s3, "delete-originals", ["g/big.json"])
    newer = b'{"written": "by another job"}\n'

    def other_writer_first(params, **_):
        put(s3, "g/big.json", newer)

    with client_events({"before-call.s3.CompleteMultipartUpload": other_writer_first}):
        result = run(boto3.client("s3", region_name="us-west-2"), "decompress", ["g/big.json"]).files[0]
    assert result.status == "failed" and "written by someone else during the restore" in result.detail
    assert body(s3, "g/big.json") == newer
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_compress_does_not_replace_a_pair_written_by_someone_else_meanwhile(s3) -> None:
    put(s3, "g/a.json", lines(200))
    theirs = b"a .gz another job wrote"

    def other_writer_first(params, **_):
        if params["url_path"].endswith("/g/a.json.gz"):
            put(s3, "g/a.json.gz", theirs)

    with client_events({"before-call.s3.PutObject": other_writer_first}):
        result = run(boto3.client("s3", region_name="us-west-2"), "compress", ["g/a.json"]).files[0]
    assert result.status == "failed" and "written by someone else during compress" in result.detail
    assert body(s3, "g/a.json.gz") == theirs
    assert "g/a.json.gz.gzi" not in keys(s3)


def test_compress_does_not_replace_a_gzi_written_by_someone_else_meanwhile(s3) -> None:
    put(s3, "g/a.json", lines(200))
    theirs = b"\x00" * 8

    def other_writer_first(params, **_):
        if params["url_path"].endswith("/g/a.json.gz.gzi"):
            put(s3, "g/a.json.gz.gzi", theirs)

    with client_events({"before-call.s3.PutObject": other_writer_first}):
        result = run(boto3.client("s3", region_name="us-west-2"), "compress", ["g/a.json"]).files[0]
    assert result.status == "failed"
    assert body(s3, "g/a.json.gz.gzi") == theirs
    assert "g/a.json.gz" not in keys(s3)  # ours was removed again: no .gz without its own index


def test_a_run_aborts_a_killed_runs_incomplete_upload_of_a_key_it_writes(s3) -> None:
    put(s3, "g/a.json", lines(200))
    put(s3, "g/other.json", lines(10))
    stale = s3.create_multipart_upload(Bucket=BUCKET, Key="g/a.json.gz")["UploadId"]
    unrelated = s3.create_multipart_upload(Bucket=BUCKET, Key="g/a.json.gz.bak")["UploadId"]
    assert statuses(run(s3, "compress", ["g/a.json"])) == {"g/a.json": "done"}
    left = {(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}
    assert left == {("g/a.json.gz.bak", unrelated)}
    assert stale not in {upload_id for _, upload_id in left}
