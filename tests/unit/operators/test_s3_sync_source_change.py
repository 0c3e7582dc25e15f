"""A source overwritten during a multipart copy: the copy starts again on the new version, never mixes them."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from tests.support.botocore_events import client_events, http_response
from tests.unit.operators.test_s3_sync import DST, SRC, put, state, sync

MIB = 1024**2
OLD, NEW = b"o" * (12 * MIB), b"n" * (12 * MIB)
SMALL_PARTS = {"multipart_threshold": 5 * MIB, "multipart_chunksize": 5 * MIB}  # 3 parts of 12 MiB


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        for bucket in (SRC, DST):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield client


def no_incomplete_upload(s3):
    return s3.list_multipart_uploads(Bucket=DST).get("Uploads", []) == []


def precondition_failed():
    error = {
        "Error": {
            "Code": "PreconditionFailed",
            "Message": "At least one of the pre-conditions you specified did not hold",
        },
        "ResponseMetadata": {"HTTPStatusCode": 412},
    }
    return http_response(412, {}), error


class OverwriteBetweenParts:
    """Overwrite the source once part 1 of a multipart copy is copied, before part 2 is.

    S3 refuses a part whose ``x-amz-copy-source-if-match`` is not the source's ETag (412
    PreconditionFailed); moto ignores that header on UploadPartCopy, so it is emulated here.
    Part 2 waits for part 1 to be in the upload, so that without pinning the destination would
    surely be the old bytes then the new ones.

    :param overwrites: how many uploads see their source overwritten; the last one writes NEW.
    """

    def __init__(self, s3, key, overwrites=1, emulate_if_match=True):
        self.s3, self.key, self.overwrites, self.emulate_if_match = s3, key, overwrites, emulate_if_match
        self.lock = threading.Lock()
        self.uploads_seen: list[str] = []
        self.refused = 0

    def _wait_for_part_1(self, upload_id):
        deadline = time.monotonic() + 30
        while not self.s3.list_parts(Bucket=DST, Key=self.key, UploadId=upload_id).get("Parts"):
            assert time.monotonic() < deadline, "part 1 was never copied"
            time.sleep(0.01)

    def before(self, params, **_):
        query = params["query_string"]
        upload_id, part = query["uploadId"], int(query["partNumber"])
        if part == 2:
            with self.lock:
                first_time = upload_id not in self.uploads_seen
                self.uploads_seen.append(upload_id)
                overwrite = first_time and len(self.uploads_seen) <= self.overwrites
                version = len(self.uploads_seen)
            if overwrite:
                self._wait_for_part_1(upload_id)
                body = NEW if version == self.overwrites else bytes([ord("a") + version]) * len(OLD)
                put(self.s3, SRC, self.key, body)
        expected = params["headers"].get("x-amz-copy-source-if-match")
        current = self.s3.head_object(Bucket=SRC, Key=self.key)["ETag"]
        if self.emulate_if_match and expected is not None and expected.strip('"') != current.strip('"'):
            with self.lock:
                self.refused += 1
            return precondition_failed()
        return None

    def events(self):
        return {"before-call.s3.UploadPartCopy": self.before}


def test_a_source_overwritten_between_parts_is_copied_again_whole(s3):
    put(s3, SRC, "big.bin", OLD)
    race = OverwriteBetweenParts(s3, "big.bin")
    with client_events(race.events()):
        result = sync(**SMALL_PARTS)
    assert state(s3, DST) == {"big.bin": NEW}
    assert race.refused >= 1, "the part copied after the overwrite was refused"
    assert result["copied"]["objects"] == 1 and result["failed"]["objects"] == 0
    assert no_incomplete_upload(s3)


def test_a_source_that_keeps_changing_fails_that_object_only(s3):
    put(s3, SRC, "big.bin", OLD)
    put(s3, SRC, "other.txt", b"other")
    race = OverwriteBetweenParts(s3, "big.bin", overwrites=10)
    with client_events(race.events()), pytest.raises(RuntimeError, match=r"1 objects.*big\.bin"):
        sync(**SMALL_PARTS)
    assert state(s3, DST) == {"other.txt": b"other"}
    assert no_incomplete_upload(s3)


def test_a_versioned_source_is_copied_from_the_version_it_started_from(s3):
    s3.put_bucket_versioning(Bucket=SRC, VersioningConfiguration={"Status": "Enabled"})
    put(s3, SRC, "big.bin", OLD)
    race = OverwriteBetweenParts(s3, "big.bin", emulate_if_match=False)  # the VersionId pins the old bytes
    with client_events(race.events()):
        result = sync(**SMALL_PARTS)
    assert state(s3, DST) == {"big.bin": OLD}
    assert result["copied"]["objects"] == 1
    assert no_incomplete_upload(s3)


class OverwriteBetweenUploadedParts:
    """Overwrite the source after the first part is uploaded by a streamed copy (moto honours If-Match on GetObject)."""

    def __init__(self, s3, key):
        self.s3, self.key, self.done = s3, key, False

    def after(self, **_):
        if not self.done:
            self.done = True
            put(self.s3, SRC, self.key, NEW)


def test_a_streamed_copy_of_a_source_overwritten_between_parts_is_copied_again_whole(s3, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER_ENV", '{"conn_type": "aws"}')
    put(s3, SRC, "big.bin", OLD)
    race = OverwriteBetweenUploadedParts(s3, "big.bin")
    with client_events({"after-call.s3.UploadPart": race.after}):
        result = sync(dest_aws_conn_id="aws_lower_env", **SMALL_PARTS)
    assert state(s3, DST) == {"big.bin": NEW}
    assert result["copied"]["objects"] == 1
    assert no_incomplete_upload(s3)
