"""S3SyncHook: what a refused delete and unreadable tags come back as, read from S3's own answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.core.s3_sync import S3Location, S3Object
from airflow_provider_bio.hooks.s3_sync import CopyOptions, S3SyncHook
from tests.unit.hooks.conftest import hook_with

ROOT = S3Location("documents", "cases/")


def client_error(code: str, operation: str, message: str | None = None) -> ClientError:
    error = {"Code": code} if message is None else {"Code": code, "Message": message}
    return ClientError({"Error": error}, operation)


class AnsweringS3:
    """A client giving S3's answers for deletions and tags, recording what it was asked."""

    def __init__(self, refused: list[dict[str, str]], single_errors: dict[str, ClientError]) -> None:
        self.refused = refused
        self.single_errors = single_errors
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("DeleteObjects", kwargs))
        return {"Errors": self.refused} if self.refused else {}

    def delete_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("DeleteObject", kwargs))
        if kwargs["Key"] in self.single_errors:
            raise self.single_errors[kwargs["Key"]]
        return {}


def test_refused_keys_come_back_relative_to_the_root_with_code_and_message() -> None:
    client = AnsweringS3(
        refused=[{"Key": "cases/a.pdf", "Code": "AccessDenied", "Message": "Access Denied"}],
        single_errors={
            "cases/b\r.pdf": client_error("AccessDenied", "DeleteObject", "denied by policy"),
            "cases/c\x01.pdf": client_error("InternalError", "DeleteObject"),
        },
    )

    failed = hook_with(client).delete_keys(ROOT, ["a.pdf", "b\r.pdf", "c\x01.pdf", "d.pdf"])

    assert failed == {
        "a.pdf": "AccessDenied: Access Denied",
        "b\r.pdf": "AccessDenied: denied by policy",
        "c\x01.pdf": "InternalError: ",
    }
    assert client.calls == [
        (
            "DeleteObjects",
            {
                "Bucket": "documents",
                "Delete": {"Objects": [{"Key": "cases/a.pdf"}, {"Key": "cases/d.pdf"}], "Quiet": True},
            },
        ),
        ("DeleteObject", {"Bucket": "documents", "Key": "cases/b\r.pdf"}),
        ("DeleteObject", {"Bucket": "documents", "Key": "cases/c\x01.pdf"}),
    ]


def test_keys_deleted_one_by_one_report_no_failure_when_all_go() -> None:
    client = AnsweringS3(refused=[], single_errors={})

    assert hook_with(client).delete_keys(ROOT, ["tab\t.pdf"]) == {}
    assert [name for name, _ in client.calls] == ["DeleteObject"]


@pytest.fixture
def tagged_bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="documents")
        s3.put_object(Bucket="documents", Key="cases/tagged.pdf", Body=b"x", Tagging="case=101-19&owner=clerk+office")
        s3.put_object(Bucket="documents", Key="cases/plain.pdf", Body=b"x")
        yield s3


def test_tags_are_read_as_a_tagging_argument_and_none_when_there_are_none(tagged_bucket) -> None:
    hook = S3SyncHook(aws_conn_id=None)

    assert hook._readable_tags(tagged_bucket, "documents", "cases/tagged.pdf") == "case=101-19&owner=clerk+office"
    assert hook._readable_tags(tagged_bucket, "documents", "cases/plain.pdf") is None


class TagsRefused:
    def __init__(self, code: str) -> None:
        self.code = code

    def get_object_tagging(self, **_: Any) -> dict[str, Any]:
        raise client_error(self.code, "GetObjectTagging", "no")


@pytest.mark.parametrize("code", ["AccessDenied", "NotImplemented"])
def test_unreadable_tags_copy_without_them_and_say_so(code: str) -> None:
    with capture_logs() as logs:
        tags = S3SyncHook(aws_conn_id=None)._readable_tags(TagsRefused(code), "documents", "cases/a.pdf")

    assert tags is None
    assert (
        f"Tags of s3://documents/cases/a.pdf are not readable (An error occurred ({code}) when calling the "
        "GetObjectTagging operation: no): copied without them"
    ) in [entry["event"] for entry in logs if entry["log_level"] == "warning"]


def test_other_tag_errors_are_raised() -> None:
    with pytest.raises(ClientError, match="NoSuchKey"):
        S3SyncHook(aws_conn_id=None)._readable_tags(TagsRefused("NoSuchKey"), "documents", "cases/a.pdf")


class PartCopyingS3:
    """Answers a multipart server-side copy, each part taking a while; records the parts in flight."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.completed_parts: list[int] = []

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self.size, "ETag": '"e"', "Metadata": {}}

    def get_object_tagging(self, **_: Any) -> dict[str, Any]:
        return {"TagSet": []}

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "u1"}

    def upload_part_copy(self, PartNumber: int, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.2)  # long enough for every worker to start while the first parts still copy
        with self.lock:
            self.in_flight -= 1
        return {"CopyPartResult": {"ETag": f'"p{PartNumber}"'}}

    def complete_multipart_upload(self, MultipartUpload: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.completed_parts = [part["PartNumber"] for part in MultipartUpload["Parts"]]
        return {}


def test_a_large_server_side_copy_copies_8_parts_at_a_time_and_completes_them_in_order() -> None:
    mib = 1024**2
    client = PartCopyingS3(size=20 * 5 * mib)
    options = CopyOptions(multipart_threshold=5 * mib, multipart_chunksize=5 * mib)

    hook_with(client).copy_object_server_side(
        ROOT, S3Location("copy", ""), S3Object("a.bin", client.size, None), options
    )

    assert client.most_in_flight == 8
    assert client.completed_parts == list(range(1, 21))
