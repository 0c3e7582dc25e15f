"""DynamoGlueCopyOperator's local engine on moto: every item copied, emails obfuscated, guards first."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.core.obfuscation import obfuscated_email
from airflow_provider_bio.hooks import dynamodb_copy
from airflow_provider_bio.operators.dynamodb_copy import DynamoGlueCopyOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events, http_response, recorded_calls

SOURCE, DESTINATION = "efcms-source-alpha", "efcms-test-alpha"


def _create(dynamodb, name):
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def tables():
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-west-2")
        for name in (SOURCE, DESTINATION):
            _create(resource.meta.client, name)
        table = resource.Table(SOURCE)
        with table.batch_writer() as batch:
            for n in range(230):
                batch.put_item(
                    Item={
                        "pk": f"user-email|person{n}@court.gov" if n % 3 == 0 else f"case|{n}",
                        "sk": f"item|{n}",
                        "email": f"person{n}@court.gov",
                        "contact": {"email": f"home{n}@mail.org", "list": [{"email": f"x{n}@y.z"}, Decimal(n)]},
                        "count": Decimal(n),
                        "flags": {"a", "b"},
                        "blob": b"\x00\x01",
                    }
                )
        yield resource


def _copy(**kwargs):
    defaults = {
        "task_id": "copy",
        "source_table": SOURCE,
        "destination_table": DESTINATION,
        "obfuscation_domain": "example.com",
        "aws_conn_id": None,
        "scan_segments": 4,
    }
    return DynamoGlueCopyOperator(**(defaults | kwargs)).execute(make_context())


def test_every_item_arrives_with_no_raw_email_left(tables):
    result = _copy()
    assert result["read"] == result["written"] == 230
    assert result["emails"] == 230 * 3 and result["prefixed"] == 77 and result["transformed"] == 230
    copied = {item["sk"]: item for item in tables.Table(DESTINATION).scan()["Items"]}
    assert len(copied) == 230
    dump = json.dumps(tables.Table(DESTINATION).scan()["Items"], default=repr)
    assert "@court.gov" not in dump and "@mail.org" not in dump and "@y.z" not in dump
    item = copied["item|3"]
    assert item["pk"] == "user-email|" + obfuscated_email("person3@court.gov", "example.com")
    assert (
        item["contact"]["list"][1] == Decimal(3) and item["flags"] == {"a", "b"} and item["blob"].value == b"\x00\x01"
    )


def test_unprocessed_items_are_sent_again(tables, monkeypatch):
    waits = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    calls = {"n": 0}

    def leave_unprocessed(params, **_):
        # The first three BatchWriteItem calls write nothing and hand every item back.
        calls["n"] += 1
        if calls["n"] <= 3:
            return http_response(200, {}), {"UnprocessedItems": json.loads(params["body"])["RequestItems"]}
        return None

    with client_events({"before-call.dynamodb.BatchWriteItem": leave_unprocessed}):
        result = _copy(scan_segments=1)
    assert result["written"] == 230 and len(tables.Table(DESTINATION).scan()["Items"]) == 230
    assert len(waits) == 3 and waits[0] < waits[2]  # backed off, longer each time


def test_a_copy_onto_its_source_or_production_is_refused_before_any_aws_call():
    with recorded_calls() as calls:
        with pytest.raises(ValueError, match="is the source table"):
            _copy(destination_table=SOURCE)
        with pytest.raises(ValueError, match="protected pattern"):
            _copy(destination_table="efcms-prod-alpha")
        with pytest.raises(ValueError, match="protected_accounts"):
            _copy(expected_account="111122223333", protected_accounts=["111122223333"])
        with pytest.raises(ValueError, match="domain"):
            _copy(obfuscation_domain="")
    assert calls == []


def test_scan_pages_are_bounded_so_memory_does_not_follow_the_table(tables):
    with recorded_calls() as calls:
        _copy(scan_segments=2)
    scans = [call for call in calls if call.operation == "Scan"]
    assert scans and all(call.params["Limit"] <= 1000 and call.params["ConsistentRead"] for call in scans)
    assert {call.params["Segment"] for call in scans} == {0, 1}
