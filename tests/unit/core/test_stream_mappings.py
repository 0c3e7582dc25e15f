"""Which mappings read an old stream of a table, and the arguments of their replacements."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.stream_mappings import reads_old_stream, replacement, stream_table_arn, table_name_of

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


@pytest.mark.parametrize(
    "arn",
    [
        f"{TABLE}/stream/",
        "arn:aws:dynamodb:us-east-1:table/efcms-test-alpha/stream/x",
        "arn:aws:dynamodb:us-east-1:222233334444:extra:table/efcms-test-alpha/stream/x",
        "arn:aws:dynamodb:us-east-1:222233334444:index/efcms-test-alpha/stream/x",
        "arn:aws:dynamodbx:us-east-1:222233334444:table/efcms-test-alpha/stream/x",
    ],
    ids=["no label", "five parts", "seven parts", "not a table", "another service"],
)
def test_an_arn_that_is_not_a_table_stream_has_no_table(arn):
    assert stream_table_arn(arn) is None


def test_the_table_name_of_a_table_arn():
    assert table_name_of(TABLE) == "efcms-test-alpha"


def test_a_replacement_leaves_out_settings_the_mapping_does_not_have_and_empty_ones_at_any_depth():
    mapping = {
        "FunctionArn": "arn:aws:lambda:us-east-1:2:function:f",
        "BatchSize": 0,
        "BisectBatchOnFunctionError": False,
        "TumblingWindowInSeconds": None,
        "FunctionResponseTypes": [],
        "MaximumRecordAgeInSeconds": -1,
        "FilterCriteria": {"Filters": [{"Pattern": '{"a": 1}'}]},
        "DestinationConfig": {"OnSuccess": {"Destination": None}, "OnFailure": {"Destination": "q"}},
    }
    assert replacement(mapping, CURRENT, "f") == {
        "FunctionName": "f",
        "EventSourceArn": CURRENT,
        "StartingPosition": "TRIM_HORIZON",
        "Enabled": False,
        "BatchSize": 0,
        "BisectBatchOnFunctionError": False,
        "MaximumRecordAgeInSeconds": -1,
        "FilterCriteria": {"Filters": [{"Pattern": '{"a": 1}'}]},
        "DestinationConfig": {"OnFailure": {"Destination": "q"}},
    }


def test_a_replacement_is_for_the_same_version():
    mapping = {"FunctionArn": "arn:aws:lambda:us-east-1:2:function:f:7", "TumblingWindowInSeconds": 30}
    assert replacement(mapping, CURRENT, "f") == {
        "FunctionName": "f:7",
        "EventSourceArn": CURRENT,
        "StartingPosition": "TRIM_HORIZON",
        "Enabled": False,
        "TumblingWindowInSeconds": 30,
    }
