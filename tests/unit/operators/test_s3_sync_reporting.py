"""S3SyncOperator's words and numbers: argument checks, the guard, the log lines, the dry run and the result."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators import s3_sync
from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events, http_response, recorded_calls

SRC, DST = "bio-sync-source", "bio-sync-destination"
MIB, GIB = 1024**2, 1024**3
#: What the guard logs when boto3's default credentials reach moto's account.
GUARD_DEFAULT = "guard: connection None reaches AWS account 123456789012"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        for bucket in (SRC, DST):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield client


def _operator(**kwargs: Any) -> S3SyncOperator:
    defaults = {"task_id": "sync", "source": f"s3://{SRC}", "destination": f"s3://{DST}", "aws_conn_id": None}
    return S3SyncOperator(**(defaults | kwargs))


def _sync(**kwargs: Any) -> dict[str, Any]:
    return _operator(**kwargs).execute(make_context())


def _operator_events(logs: list[dict[str, Any]]) -> list[str]:
    """What the operator logged (Airflow's and boto3's own lines left out)."""
    noise = ("outside of the Task Runner", "No connection ID provided", "Found credentials")
    return [str(log["event"]) for log in logs if not any(part in str(log["event"]) for part in noise)]


def _clock(monkeypatch: pytest.MonkeyPatch, step: float) -> None:
    """The operator's monotonic clock moves ``step`` seconds each time it is read."""
    readings = iter(step * n for n in range(1, 1000))
    monkeypatch.setattr(s3_sync, "time", SimpleNamespace(monotonic=lambda: next(readings)))


# Arguments refused before any AWS call, each with its own words


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"source": SRC},
            f"source: {SRC!r} is not an s3://bucket[/prefix] URI (bucket names are lowercase)",
            id="source",
        ),
        pytest.param(
            {"destination": "nowhere"},
            "destination: 'nowhere' is not an s3://bucket[/prefix] URI (bucket names are lowercase)",
            id="destination",
        ),
        pytest.param(
            {"destination": f"s3://{SRC}/sub"},
            f"source s3://{SRC}/ and destination s3://{SRC}/sub/ overlap; sync between disjoint prefixes",
            id="destination-inside-source",
        ),
        pytest.param(
            {"source": f"s3://{DST}/sub", "destination": f"s3://{DST}"},
            f"source s3://{DST}/sub/ and destination s3://{DST}/ overlap; sync between disjoint prefixes",
            id="source-inside-destination",
        ),
        pytest.param(
            {"max_delete_fraction": -0.1}, "max_delete_fraction must be between 0 and 1, got -0.1", id="fraction<0"
        ),
        pytest.param(
            {"max_delete_fraction": 1.01}, "max_delete_fraction must be between 0 and 1, got 1.01", id="fraction>1"
        ),
        pytest.param(
            {"storage_class": "COLD"},
            "storage_class 'COLD' is not one of STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, ONEZONE_IA, "
            "INTELLIGENT_TIERING, GLACIER, DEEP_ARCHIVE, GLACIER_IR",
            id="storage_class",
        ),
        pytest.param(
            {"multipart_chunksize": 5 * MIB - 1},
            "multipart_chunksize must be between 5 MiB and 5 GiB (S3's part size limits)",
            id="chunksize<5MiB",
        ),
        pytest.param(
            {"multipart_chunksize": 5 * GIB + 1},
            "multipart_chunksize must be between 5 MiB and 5 GiB (S3's part size limits)",
            id="chunksize>5GiB",
        ),
        pytest.param(
            {"multipart_threshold": 0},
            "multipart_threshold must be positive and at most 5 GiB (CopyObject's limit)",
            id="threshold=0",
        ),
        pytest.param(
            {"multipart_threshold": 5 * GIB + 1},
            "multipart_threshold must be positive and at most 5 GiB (CopyObject's limit)",
            id="threshold>5GiB",
        ),
        pytest.param({"max_in_flight": 0}, "max_in_flight must be at least 1, got 0", id="max_in_flight"),
        pytest.param(
            {"delete": True, "destination": "s3://bio-prod-documents"},
            "destination 's3://bio-prod-documents/' matches protected pattern '*prod*' of protected_destinations "
            "(case-insensitive): refusing to delete sync into it; remove the pattern from protected_destinations "
            "only if this is not production",
            id="protected-destination",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_aws_call_saying_what_is_wrong(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError) as raised:
        _sync(**kwargs)
    assert str(raised.value) == message
    assert calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_delete_fraction": 0}, id="fraction=0"),
        pytest.param({"max_delete_fraction": 1}, id="fraction=1"),
        pytest.param({"multipart_chunksize": 5 * MIB}, id="chunksize=5MiB"),
        pytest.param({"multipart_chunksize": 5 * GIB}, id="chunksize=5GiB"),
        pytest.param({"multipart_threshold": 1}, id="threshold=1"),
        pytest.param({"multipart_threshold": 5 * GIB}, id="threshold=5GiB"),
        pytest.param({"max_in_flight": 1}, id="max_in_flight=1"),
        pytest.param({"storage_class": "GLACIER_IR"}, id="storage_class"),
    ],
)
def test_the_limits_themselves_are_accepted(s3, kwargs):
    assert _sync(dry_run=True, **kwargs)["dry_run"] is True


def test_a_delete_sync_into_an_undefined_destination_connection_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_SOURCE", '{"conn_type": "aws"}')
    with recorded_calls() as calls, pytest.raises(ValueError) as raised:
        _sync(delete=True, aws_conn_id="aws_source", dest_aws_conn_id="aws_nowhere")
    assert str(raised.value) == (
        "AWS connection 'aws_nowhere' is not defined: a destructive step never falls back to the worker's default "
        "credentials; define 'aws_nowhere', or pass aws_conn_id=None to choose the default chain"
    )
    assert calls == []


@pytest.mark.parametrize(
    ("connections", "checked"),
    [
        pytest.param({"aws_conn_id": "aws_source"}, "'aws_source'", id="the-one-connection"),
        pytest.param({"dest_aws_conn_id": "aws_destination"}, "'aws_destination'", id="the-destination's"),
    ],
)
def test_a_delete_sync_checks_the_account_the_destination_connection_reaches(s3, monkeypatch, connections, checked):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_SOURCE", '{"conn_type": "aws"}')
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DESTINATION", '{"conn_type": "aws"}')
    with capture_logs() as logs:
        _sync(delete=True, dry_run=True, allow_empty_source=True, **connections)
    assert f"guard: connection {checked} reaches AWS account 123456789012" in _operator_events(logs)


# What the log says


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        pytest.param(
            {"source": f"s3://{SRC}/docs"}, f"Syncing s3://{SRC}/docs/ to s3://{DST}/ (server-side copies)", id="copy"
        ),
        pytest.param(
            {"dest_aws_conn_id": "aws_destination", "delete": True, "allow_empty_source": True},
            f"Syncing s3://{SRC}/ to s3://{DST}/ (streamed through the worker, deleting extra objects)",
            id="streamed-delete",
        ),
    ],
)
def test_the_log_says_what_is_synced_where_and_how(s3, monkeypatch, kwargs, line):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DESTINATION", '{"conn_type": "aws"}')
    with capture_logs() as logs:
        _sync(**kwargs)
    assert [event for event in _operator_events(logs) if event.startswith("Syncing")] == [line]


def test_a_dry_run_logs_every_planned_step_and_the_plan(s3):
    s3.put_object(Bucket=SRC, Key="new.txt", Body=b"abc")
    s3.put_object(Bucket=SRC, Key="same.txt", Body=b"1")
    s3.put_object(Bucket=DST, Key="same.txt", Body=b"1")
    s3.put_object(Bucket=DST, Key="stale.txt", Body=b"12345")
    with capture_logs() as logs:
        result = _sync(delete=True, dry_run=True, max_delete_fraction=1)
    plan = {
        "would_copy": {"objects": 1, "bytes": 3},
        "would_delete": {"objects": 1, "bytes": 5},
        "would_skip": {"objects": 1, "bytes": 1},
    }
    assert result == {"dry_run": True, **plan, "copy_keys": ["new.txt"], "delete_keys": ["stale.txt"]}
    assert _operator_events(logs) == [
        GUARD_DEFAULT,
        f"Syncing s3://{SRC}/ to s3://{DST}/ (server-side copies, deleting extra objects)",
        "dry run: would copy new.txt (missing)",
        "dry run: would delete stale.txt (no source)",
        f"dry run: nothing written; plan {plan}",
    ]


def test_a_dry_runs_result_lists_at_most_dry_run_listed_keys_but_counts_them_all(s3, monkeypatch):
    monkeypatch.setattr(s3_sync, "DRY_RUN_LISTED", 2)
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=SRC, Key=key, Body=b"x")
    result = _sync(dry_run=True)
    assert result["copy_keys"] == ["a", "b"] and result["would_copy"] == {"objects": 3, "bytes": 3}


def test_the_result_and_the_last_progress_line_give_the_totals_and_rates(s3, monkeypatch):
    def listed_as_30_mib(parsed: dict[str, Any], **_: Any) -> None:
        # The listing says big.bin holds 30 MiB (putting that many bytes into moto takes a second).
        for item in parsed.get("Contents", []):
            if item["Key"] == "big.bin":
                item["Size"] = 30 * MIB

    s3.put_object(Bucket=SRC, Key="big.bin", Body=b"b")
    s3.put_object(Bucket=SRC, Key="same.txt", Body=b"12")
    s3.put_object(Bucket=DST, Key="same.txt", Body=b"12")
    s3.put_object(Bucket=DST, Key="stale.txt", Body=b"123")
    _clock(monkeypatch, 0.125)  # the sync starts at 0.125 s, its copy and delete at 0.25; it ends at 0.625
    with client_events({"after-call.s3.ListObjectsV2": listed_as_30_mib}), capture_logs() as logs:
        result = _sync(delete=True, max_delete_fraction=1, multipart_threshold=5 * GIB)
    assert result == {
        "copied": {"objects": 1, "bytes": 30 * MIB},
        "deleted": {"objects": 1, "bytes": 3},
        "skipped": {"objects": 1, "bytes": 2},
        "failed": {"objects": 0, "bytes": 0},
        "errors": [],
        "seconds": 0.5,
    }
    assert _operator_events(logs)[-1] == (
        "progress: copied 1 objects (30.0 MiB, 60.0 MiB/s, 2 objects/s), deleted 1, skipped 1, failed 0"
    )


def test_progress_is_logged_every_thirty_seconds_by_default(s3, monkeypatch):
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=SRC, Key=key, Body=b"x" * MIB)
    _clock(monkeypatch, 10.0)  # the copies start at 20 s; each is checked 10 s after the one before
    with capture_logs() as logs:
        _sync(max_in_flight=1)
    progress = [event for event in _operator_events(logs) if event.startswith("progress")]
    assert progress == [
        "progress: copied 3 objects (3.0 MiB, 0.1 MiB/s, 0 objects/s), deleted 0, skipped 0, failed 0",
        "progress: copied 3 objects (3.0 MiB, 0.1 MiB/s, 0 objects/s), deleted 0, skipped 0, failed 0",
    ]


def test_failed_copies_are_logged_one_by_one_and_fail_the_task_naming_them(s3):
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=SRC, Key=key, Body=b"xy")

    def deny(params: dict[str, Any], **_: Any) -> Any:
        if not params["url_path"].endswith("/a"):
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return http_response(403, {}), error
        return None

    with (
        client_events({"before-call.s3.CopyObject": deny}),
        capture_logs() as logs,
        pytest.raises(RuntimeError) as raised,
    ):
        _sync(max_in_flight=1)
    assert str(raised.value) == (
        "2 objects failed (every other copy and delete was done); rerun to retry only those: ['b', 'c']"
    )
    denied = "AccessDenied: An error occurred (AccessDenied) when calling the CopyObject operation: no"
    assert [log for log in _operator_events(logs) if "failed:" in log] == [
        f"copy b failed: {denied}",
        f"copy c failed: {denied}",
    ]


def test_the_result_keeps_at_most_failures_listed_errors_but_counts_every_failure(s3, monkeypatch):
    monkeypatch.setattr(s3_sync, "FAILURES_LISTED", 1)
    results = []
    original_run = S3SyncOperator._run
    monkeypatch.setattr(
        S3SyncOperator, "_run", lambda self, *a, **k: results.append(original_run(self, *a, **k)) or results[-1]
    )
    for key in ("a", "b"):
        s3.put_object(Bucket=SRC, Key=key, Body=b"xyz")

    def deny(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return http_response(403, {}), error

    with client_events({"before-call.s3.CopyObject": deny}), pytest.raises(RuntimeError, match="2 objects failed"):
        _sync(max_in_flight=1)
    (result,) = results
    assert (result.failed.objects, result.failed.bytes) == (2, 6)
    assert [error["key"] for error in result.errors] == ["a"]


def test_deletes_go_in_batches_of_delete_batch_keys(s3, monkeypatch):
    monkeypatch.setattr(s3_sync, "DELETE_BATCH", 2)
    s3.put_object(Bucket=SRC, Key="keep", Body=b"x")
    for key in ("keep", "x1", "x2", "x3"):
        s3.put_object(Bucket=DST, Key=key, Body=b"x")
    with recorded_calls() as calls:
        result = _sync(delete=True, max_delete_fraction=1)
    batches = [[o["Key"] for o in c.params["Delete"]["Objects"]] for c in calls if c.operation == "DeleteObjects"]
    assert sorted(map(sorted, batches)) == [["x1", "x2"], ["x3"]]
    assert result["deleted"] == {"objects": 3, "bytes": 3}


@pytest.mark.parametrize(
    ("botocore_config", "expected"),
    [
        pytest.param(None, (12, {"mode": "standard"}), id="defaults"),
        pytest.param({"retries": {"mode": "adaptive"}}, (12, {"mode": "adaptive"}), id="botocore_config wins"),
    ],
)
def test_the_s3_client_has_a_connection_per_object_in_flight_and_retries_slowdowns(botocore_config, expected):
    """One HTTP connection per object in flight plus 8 for the parts of a large copy; standard retries."""
    config = _operator(max_in_flight=4, botocore_config=botocore_config).hook.conn.meta.config
    assert (config.max_pool_connections, {k: v for k, v in config.retries.items() if k == "mode"}) == expected


def test_a_refused_delete_batch_fails_each_of_its_keys_and_deletes_nothing(s3, monkeypatch):
    """A DeleteObjects call refused as a whole (403): every key of the batch is a failure, with the error."""
    results = []
    original_run = S3SyncOperator._run
    monkeypatch.setattr(
        S3SyncOperator, "_run", lambda self, *a, **k: results.append(original_run(self, *a, **k)) or results[-1]
    )
    s3.put_object(Bucket=DST, Key="stale-a", Body=b"abc")
    s3.put_object(Bucket=DST, Key="stale-b", Body=b"abcd")

    def deny(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return http_response(403, {}), error

    with (
        client_events({"before-call.s3.DeleteObjects": deny}),
        capture_logs() as logs,
        pytest.raises(RuntimeError, match=r"^2 objects failed .*\['stale-a', 'stale-b'\]$"),
    ):
        _sync(delete=True, max_delete_fraction=1, allow_empty_source=True)
    (result,) = results
    denied = "AccessDenied: An error occurred (AccessDenied) when calling the DeleteObjects operation: no"
    assert (result.deleted.objects, result.failed.objects, result.failed.bytes) == (0, 2, 7)
    assert result.errors == [
        {"key": "stale-a", "action": "delete", "error": denied},
        {"key": "stale-b", "action": "delete", "error": denied},
    ]
    assert [log for log in _operator_events(logs) if "failed:" in log] == [
        f"delete stale-a failed: {denied}",
        f"delete stale-b failed: {denied}",
    ]
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=DST)["Contents"]) == ["stale-a", "stale-b"]


def test_the_results_seconds_are_rounded_to_the_millisecond(s3, monkeypatch):
    s3.put_object(Bucket=SRC, Key="new.txt", Body=b"n")
    s3.put_object(Bucket=DST, Key="stale.txt", Body=b"s")
    _clock(monkeypatch, 0.0312345)  # as in the test above, the sync lasts four clock steps: 0.124938 s
    assert _sync(delete=True, max_delete_fraction=1)["seconds"] == 0.125


def test_the_failure_names_at_most_the_first_20_objects(s3):
    keys = [f"k{n:02}" for n in range(22)]
    for key in keys:
        s3.put_object(Bucket=SRC, Key=key, Body=b"xy")

    def deny(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return http_response(403, {}), error

    with client_events({"before-call.s3.CopyObject": deny}), pytest.raises(RuntimeError) as raised:
        _sync(max_in_flight=1)
    assert str(raised.value) == (
        f"22 objects failed (every other copy and delete was done); rerun to retry only those: {keys[:20]}"
    )
