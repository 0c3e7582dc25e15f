"""S3SyncHook.copy_object_streamed: a copy through the worker (between accounts), called directly.

The operator's tests reach this path on its worker threads; these call it on the test's own
thread, so a change to it is caught by the hook's tests alone (and attributed by mutmut).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from airflow_provider_bio.core.s3_sync import S3Object
from airflow_provider_bio.hooks.s3_sync import CopyOptions, SourceChangedError
from tests.support.botocore_events import http_response
from tests.unit.hooks.conftest import DESTINATION, FIVE_MIB_PARTS, MIB, SOURCE, copied, hook_with, operations


def copy(client: Any, key: str, size: int, options: CopyOptions = FIVE_MIB_PARTS) -> None:
    hook = hook_with(client)
    hook.copy_object_streamed(hook, SOURCE, DESTINATION, S3Object(key, size, None), options)


def test_an_object_of_exactly_the_threshold_is_one_put(s3) -> None:
    body = b"t" * (5 * MIB)
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/edge.bin", Body=body)
    calls = operations(s3)

    copy(s3, "edge.bin", len(body))

    written = [name for name, _ in calls if name in ("PutObject", "CreateMultipartUpload", "UploadPart")]
    assert written == ["PutObject"]
    assert copied(s3, "edge.bin") == body


def test_a_larger_object_is_uploaded_in_parts_numbered_from_1(s3) -> None:
    body = bytes(range(256)) * (11 * MIB // 256)  # 11 MiB: parts of 5, 5 and 1 MiB
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/big.bin", Body=body)
    calls = operations(s3)

    copy(s3, "big.bin", len(body))

    assert [params["PartNumber"] for name, params in calls if name == "UploadPart"] == [1, 2, 3]
    assert [params["Range"] for name, params in calls if name == "GetObject"] == [
        f"bytes=0-{5 * MIB - 1}",
        f"bytes={5 * MIB}-{10 * MIB - 1}",
        f"bytes={10 * MIB}-{11 * MIB - 1}",
    ]
    assert copied(s3, "big.bin") == body


def test_a_multipart_copy_carries_the_type_metadata_and_tags(s3) -> None:
    s3.put_object(
        Bucket=SOURCE.bucket,
        Key="cases/scan.pdf",
        Body=b"p" * (6 * MIB),
        ContentType="application/pdf",
        Metadata={"case": "101-19"},
        Tagging="owner=clerk",
    )

    copy(s3, "scan.pdf", 6 * MIB)

    head = s3.head_object(Bucket=DESTINATION.bucket, Key="copy/scan.pdf")
    assert (head["ContentType"], head["Metadata"]) == ("application/pdf", {"case": "101-19"})
    tags = s3.get_object_tagging(Bucket=DESTINATION.bucket, Key="copy/scan.pdf")["TagSet"]
    assert tags == [{"Key": "owner", "Value": "clerk"}]


def overwrite_before_each_read(client: Any, times: int) -> list[int]:
    """Overwrite the source just before each of its first ``times`` reads (GetObject); return the count."""
    done = [0]
    writer = boto3.client("s3", region_name="us-east-1")

    def overwrite(params: dict[str, Any], **_: Any) -> None:
        if done[0] < times:
            done[0] += 1
            writer.put_object(Bucket=params["Bucket"], Key=params["Key"], Body=b"version %d" % done[0])

    client.meta.events.register("provide-client-params.s3.GetObject", overwrite)
    return done


def test_a_source_changed_once_is_copied_again_from_its_new_version_and_says_so(s3) -> None:
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/a.txt", Body=b"version 0")
    overwrite_before_each_read(s3, times=1)

    with capture_logs() as logs:
        copy(s3, "a.txt", len(b"version 0"))

    assert copied(s3, "a.txt") == b"version 1"
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert warnings == ["s3://records-prod/cases/a.txt changed during its copy: copying it again"]


def test_a_source_that_changes_during_every_attempt_is_not_copied_and_named(s3) -> None:
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/a.txt", Body=b"version 0")
    overwrites = overwrite_before_each_read(s3, times=100)

    with pytest.raises(SourceChangedError) as raised:
        copy(s3, "a.txt", len(b"version 0"))

    assert str(raised.value) == "s3://records-prod/cases/a.txt changed during each of 3 copy attempts; not copied"
    assert overwrites[0] == 3
    assert "Contents" not in s3.list_objects_v2(Bucket=DESTINATION.bucket)


def refuse_first_read(client: Any, status: int, code: str) -> None:
    """Answer the first GetObject with an S3 error, as S3 does when the source moved on."""
    refused = []

    def refuse(**_: Any) -> Any:
        if refused:
            return None
        refused.append(code)
        return http_response(status, {}), {"Error": {"Code": code, "Message": "refused"}}

    client.meta.events.register("before-call.s3.GetObject", refuse)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(412, "PreconditionFailed", id="etag-changed"),
        pytest.param(412, "412", id="bodiless-412"),
        pytest.param(404, "NoSuchVersion", id="pinned-version-deleted"),
    ],
)
def test_each_answer_meaning_the_source_changed_starts_the_copy_again(s3, status: int, code: str) -> None:
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/a.txt", Body=b"kept")
    refuse_first_read(s3, status, code)

    copy(s3, "a.txt", 4)

    assert copied(s3, "a.txt") == b"kept"


@pytest.mark.parametrize(("status", "code"), [(403, "AccessDenied"), (404, "NoSuchKey"), (500, "InternalError")])
def test_other_read_errors_fail_the_copy_at_once(s3, status: int, code: str) -> None:
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/a.txt", Body=b"kept")
    refuse_first_read(s3, status, code)
    calls = operations(s3)

    with pytest.raises(ClientError, match=code):
        copy(s3, "a.txt", 4)

    assert [name for name, _ in calls].count("GetObject") == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=DESTINATION.bucket)
