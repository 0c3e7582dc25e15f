"""ToggleStreamProcessorsOperator on moto: disabling leaves every mapping Disabled, enabling Enabled."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.operators.stream_processors import ToggleStreamProcessorsOperator
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import make_context

REGION = "us-west-2"
FUNCTIONS = ["streams_test_blue", "streams_test_green"]
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


@pytest.fixture
def mappings():
    """Two functions, each with a mapping on two tables' streams, all Enabled (moto's initial state)."""
    with mock_aws(config={"lambda": {"use_docker": False}}):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        lambdas = boto3.client("lambda", region_name=REGION)
        streams = [
            dynamodb.create_table(TableName=name, **KEYS)["TableDescription"]["LatestStreamArn"]
            for name in ("efcms-test-alpha", "efcms-test-beta")
        ]
        for function in FUNCTIONS:
            create_echo_function(None, function)
            for stream in streams:
                lambdas.create_event_source_mapping(
                    EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST"
                )

        def states():
            return sorted(
                mapping["State"]
                for function in FUNCTIONS
                for mapping in lambdas.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
            )

        yield states


def _toggle(enabled):
    return ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=FUNCTIONS,
        regions=[REGION],
        enabled=enabled,
        timeout_seconds=5,
        aws_conn_id=None,
    ).execute(make_context())


def test_disabling_then_enabling_sets_every_mapping(mappings):
    assert mappings() == ["Enabled"] * 4
    assert len(_toggle(enabled=False)) == 4
    assert mappings() == ["Disabled"] * 4
    assert len(_toggle(enabled=True)) == 4
    assert mappings() == ["Enabled"] * 4
    _toggle(enabled=False)
    assert mappings() == ["Disabled"] * 4
