"""DynamoCopyHook on moto: scan pages, batch writes that back off and give up, and a table's identity."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from airflow_provider_bio.hooks import dynamodb_copy
from airflow_provider_bio.hooks.dynamodb_copy import DynamoCopyHook, to_plain, to_typed
from tests.support.botocore_events import client_events, http_response, recorded_calls

REGION = "us-west-2"
TABLE = "efcms-test-alpha"


@pytest.fixture
def table():
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield TABLE


def hook() -> DynamoCopyHook:
    return DynamoCopyHook(aws_conn_id=None, region_name=REGION)


def items(count: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"case|{n}"}} for n in range(count)]


def stored() -> int:
    return boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE, Select="COUNT")["Count"]


def test_backoff_sleeps_the_seconds_given(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(dynamodb_copy.time, "sleep", slept.append)
    dynamodb_copy.backoff(0.25)
    assert slept == [0.25]


def unprocessed_for(times: int | None):
    """A BatchWriteItem handler handing every item back ``times`` times (None: always)."""
    calls = {"n": 0}

    def hand_back(params: dict[str, Any], **_: Any) -> Any:
        calls["n"] += 1
        if times is None or calls["n"] <= times:
            return http_response(200, {}), {"UnprocessedItems": json.loads(params["body"])["RequestItems"]}
        return None

    return hand_back, calls


def test_unprocessed_items_are_sent_again_after_doubling_jittered_waits(table, monkeypatch) -> None:
    waits: list[float] = []
    jitter: list[tuple[float, float]] = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    monkeypatch.setattr(dynamodb_copy.random, "uniform", lambda low, high: jitter.append((low, high)) or high)
    hand_back, calls = unprocessed_for(3)
    with client_events({"before-call.dynamodb.BatchWriteItem": hand_back}):
        assert hook().write_batch(table, items(3), base_delay=0.5) == []
    assert calls["n"] == 4 and stored() == 3
    assert waits == [0.5, 1.0, 2.0]
    assert jitter == [(0.5, 1.0)] * 3


def test_a_batch_never_processed_fails_after_the_last_attempt_with_waits_capped(table, monkeypatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    monkeypatch.setattr(dynamodb_copy.random, "uniform", lambda low, high: high)
    hand_back, calls = unprocessed_for(None)
    with (
        client_events({"before-call.dynamodb.BatchWriteItem": hand_back}),
        pytest.raises(RuntimeError, match=r"^2 items still unprocessed after 35 BatchWriteItem attempts$"),
    ):
        hook().write_batch(table, items(2), base_delay=1.0)
    assert calls["n"] == 35 and len(waits) == 35
    assert waits[:4] == [1.0, 2.0, 4.0, 5.0] and set(waits[3:]) == {5.0}


def test_an_error_other_than_a_refused_item_is_raised(table) -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        hook().write_batch("no-such-table", items(2))


def test_a_refused_single_item_is_returned_with_the_reason(table) -> None:
    big = {"pk": {"S": "case|big"}, "body": {"S": "x" * 410_000}}
    [(item, reason)] = hook().write_batch(table, [big])
    assert item is big and "size" in reason.lower()
    assert stored() == 0


def test_a_scan_segment_is_read_consistently_a_page_at_a_time(table) -> None:
    hook().write_batch(table, items(5))
    with recorded_calls() as calls:
        pages = list(hook().scan_segment(table, 0, 1, page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    scans = [call.params for call in calls if call.operation == "Scan"]
    assert len(scans) == 3
    assert {(s["TableName"], s["Segment"], s["TotalSegments"], s["ConsistentRead"], s["Limit"]) for s in scans} == {
        (TABLE, 0, 1, True, 2)
    }


def test_the_default_scan_page_is_a_thousand_items(table) -> None:
    with recorded_calls() as calls:
        assert list(hook().scan_segment(table, 1, 4)) == [[]]
    [scan] = [call.params for call in calls if call.operation == "Scan"]
    assert (scan["Segment"], scan["TotalSegments"], scan["Limit"]) == (1, 4, 1000)


def test_a_table_has_an_identity_until_it_is_deleted(table) -> None:
    def with_table_id(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Table"]["TableId"] = "5a4c6f3e-0000-4000-8000-000000000001"  # DynamoDB's answer has one; moto's not

    client = boto3.client("dynamodb", region_name=REGION)
    created = client.describe_table(TableName=table)["Table"]["CreationDateTime"]
    with client_events({"after-call.dynamodb.DescribeTable": with_table_id}):
        assert hook().table_identity(table) == {
            "name": TABLE,
            "id": "5a4c6f3e-0000-4000-8000-000000000001",
            "created": str(created),
        }
    client.delete_table(TableName=table)
    assert hook().table_identity(table) is None


def test_typed_and_plain_items_convert_both_ways() -> None:
    typed = {"pk": {"S": "case|1"}, "n": {"N": "3"}, "blob": {"B": b"\x00\x01"}, "tags": {"SS": ["a"]}}
    plain = to_plain(typed)
    assert plain["blob"] == b"\x00\x01" and type(plain["blob"]) is bytes
    assert (plain["pk"], int(plain["n"]), plain["tags"]) == ("case|1", 3, {"a"})
    assert to_typed(plain) == typed


def test_the_first_wait_is_half_to_all_of_50_ms_by_default(table, monkeypatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    monkeypatch.setattr(dynamodb_copy.random, "uniform", lambda low, high: low)
    hand_back, _ = unprocessed_for(1)
    with client_events({"before-call.dynamodb.BatchWriteItem": hand_back}):
        assert hook().write_batch(table, items(2)) == []
    assert waits == [0.025] and stored() == 2


def test_items_sent_one_at_a_time_after_a_refusal_back_off_from_the_base_delay_given(table, monkeypatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    monkeypatch.setattr(dynamodb_copy.random, "uniform", lambda low, high: low)
    handed_back: list[str] = []

    def hand_back_the_first_single_item(params: dict[str, Any], **_: Any) -> Any:
        requests = json.loads(params["body"])["RequestItems"]
        if len(requests[TABLE]) == 1 and not handed_back:
            handed_back.append(requests[TABLE][0]["PutRequest"]["Item"]["pk"]["S"])
            return http_response(200, {}), {"UnprocessedItems": requests}
        return None

    big = {"pk": {"S": "case|big"}, "body": {"S": "x" * 410_000}}
    with client_events({"before-call.dynamodb.BatchWriteItem": hand_back_the_first_single_item}):
        refused = hook().write_batch(table, [items(1)[0], big], base_delay=0.2)
    assert [item["pk"]["S"] for item, _ in refused] == ["case|big"]
    assert handed_back == ["case|0"] and waits == [0.1] and stored() == 1
