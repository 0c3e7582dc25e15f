"""S3SyncHook.copy_object_server_side: a copy inside S3 (one account), called on the test's thread."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_provider_bio.core.s3_sync import S3Object
from airflow_provider_bio.hooks.s3_sync import CopyOptions, SourceChangedError
from tests.support.botocore_events import http_response
from tests.unit.hooks.conftest import DESTINATION, FIVE_MIB_PARTS, MIB, SOURCE, copied, hook_with, operations


def copy(client: Any, key: str, size: int, options: CopyOptions = FIVE_MIB_PARTS) -> None:
    hook_with(client).copy_object_server_side(SOURCE, DESTINATION, S3Object(key, size, None), options)


@pytest.mark.parametrize(("size", "calls"), [(5 * MIB, ["CopyObject"]), (5 * MIB + 1, ["UploadPartCopy"] * 2)])
def test_up_to_the_threshold_one_copy_above_it_parts(s3, size: int, calls: list[str]) -> None:
    body = b"t" * size
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/edge.bin", Body=body)
    recorded = operations(s3)

    copy(s3, "edge.bin", size)

    assert [name for name, _ in recorded if name in ("CopyObject", "UploadPartCopy")] == calls
    assert copied(s3, "edge.bin") == body


def test_a_single_copy_carries_the_type_metadata_and_tags(s3) -> None:
    s3.put_object(
        Bucket=SOURCE.bucket,
        Key="cases/scan.pdf",
        Body=b"p",
        ContentType="application/pdf",
        Metadata={"case": "101-19"},
        Tagging="owner=clerk",
    )

    copy(s3, "scan.pdf", 1)

    head = s3.head_object(Bucket=DESTINATION.bucket, Key="copy/scan.pdf")
    assert (head["ContentType"], head["Metadata"]) == ("application/pdf", {"case": "101-19"})
    tags = s3.get_object_tagging(Bucket=DESTINATION.bucket, Key="copy/scan.pdf")["TagSet"]
    assert tags == [{"Key": "owner", "Value": "clerk"}]


def test_a_part_refused_because_the_source_changed_starts_the_copy_again_and_says_so(s3) -> None:
    body = b"b" * (6 * MIB)
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/big.bin", Body=body)
    refused: list[int] = []

    def refuse_first_part(params: dict[str, Any], **_: Any) -> Any:
        if refused:
            return None
        refused.append(1)
        return http_response(412, {}), {"Error": {"Code": "PreconditionFailed", "Message": "changed"}}

    s3.meta.events.register("before-call.s3.UploadPartCopy", refuse_first_part)

    with capture_logs() as logs:
        copy(s3, "big.bin", len(body))

    assert copied(s3, "big.bin") == body
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert warnings == ["s3://records-prod/cases/big.bin changed during its copy: copying it again"]
    assert s3.list_multipart_uploads(Bucket=DESTINATION.bucket).get("Uploads", []) == []


def test_a_source_that_changes_during_every_attempt_is_not_copied_and_named(s3) -> None:
    s3.put_object(Bucket=SOURCE.bucket, Key="cases/big.bin", Body=b"b" * (6 * MIB))
    s3.meta.events.register(
        "before-call.s3.UploadPartCopy",
        lambda **_: (http_response(412, {}), {"Error": {"Code": "PreconditionFailed", "Message": "changed"}}),
    )

    with pytest.raises(SourceChangedError) as raised:
        copy(s3, "big.bin", 6 * MIB)

    assert str(raised.value) == "s3://records-prod/cases/big.bin changed during each of 3 copy attempts; not copied"
    assert "Contents" not in s3.list_objects_v2(Bucket=DESTINATION.bucket)
    assert s3.list_multipart_uploads(Bucket=DESTINATION.bucket).get("Uploads", []) == []
