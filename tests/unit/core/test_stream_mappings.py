"""Which mappings read an old stream of a table, and the arguments of their replacements."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.stream_mappings import reads_old_stream, replacement, stream_table_arn

TABLE = "arn:aws:dynamodb:us-east-1:222233334444:table/efcms-test-alpha"
OLD = f"{TABLE}/stream/2026-01-01T05:00:00.000"
CURRENT = f"{TABLE}/stream/2026-02-01T05:12:00.000"


@pytest.mark.parametrize(
    ("arn", "table"),
    [
        (OLD, TABLE),
        ("arn:aws:dynamodb:us-east-1:222233334444:table/efcms-test-beta/stream/x", TABLE.replace("alpha", "beta")),
        (TABLE, None),
        ("arn:aws:kinesis:us-east-1:222233334444:stream/efcms-test-alpha", None),
        ("arn:aws:sqs:us-east-1:222233334444:efcms-test-alpha/stream/x", None),
    ],
)
def test_the_table_of_a_stream_arn(arn, table):
    assert stream_table_arn(arn) == table


def test_only_another_stream_of_the_same_table_is_old():
    assert reads_old_stream(OLD, TABLE, CURRENT)
    assert not reads_old_stream(CURRENT, TABLE, CURRENT)
    other_table = (
        "arn:aws:dynamodb:us-east-1:222233334444:table/efcms-test-alpha-archive/stream/2026-01-01T05:00:00.000"
    )
    assert not reads_old_stream(other_table, TABLE, CURRENT)
    other_region = OLD.replace("us-east-1", "us-west-1")
    assert not reads_old_stream(other_region, TABLE, CURRENT)


def test_a_replacement_keeps_the_settings_and_starts_disabled_at_the_oldest_record():
    mapping = {
        "UUID": "u-1",
        "EventSourceArn": OLD,
        "FunctionArn": "arn:aws:lambda:us-east-1:222233334444:function:streams_test_blue",
        "StartingPosition": "LATEST",
        "BatchSize": 50,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 2,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": -1,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:2:dlq"}},
        "FilterCriteria": {},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "State": "Enabled",
        "LastModified": "2026-01-01",
    }
    assert replacement(mapping, CURRENT, "streams_test_blue") == {
        "FunctionName": "streams_test_blue",
        "EventSourceArn": CURRENT,
        "StartingPosition": "TRIM_HORIZON",
        "Enabled": False,
        "BatchSize": 50,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 2,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": -1,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:2:dlq"}},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def test_a_replacement_is_for_the_same_alias():
    mapping = {"EventSourceArn": OLD, "FunctionArn": "arn:aws:lambda:us-east-1:2:function:streams_test_blue:live"}
    assert replacement(mapping, CURRENT, "streams_test_blue")["FunctionName"] == "streams_test_blue:live"
