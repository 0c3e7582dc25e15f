"""ToggleStreamProcessorsOperator on moto: disabling leaves every mapping Disabled, enabling Enabled."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators.stream_processors import ToggleStreamProcessorsOperator
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events

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


def _expected_names():
    """``region:function:uuid`` of every mapping, function by function, as Lambda lists them."""
    lambdas = boto3.client("lambda", region_name=REGION)
    return [
        f"{REGION}:{function}:{mapping['UUID']}"
        for function in FUNCTIONS
        for mapping in lambdas.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    ]


def test_the_log_names_every_mapping_toggled(mappings):
    expected = _expected_names()
    with capture_logs() as logs:
        assert _toggle(enabled=False) == expected
    assert f"Disabled 4 mappings: {expected}" in [log["event"] for log in logs]


@pytest.mark.parametrize(("enabled", "verb"), [(False, "disable"), (True, "enable")])
def test_a_dry_run_names_the_mappings_it_would_toggle_and_toggles_none(mappings, enabled, verb):
    expected = _expected_names()
    operator = ToggleStreamProcessorsOperator(
        task_id="streams", function_names=FUNCTIONS, regions=[REGION], enabled=enabled, dry_run=True, aws_conn_id=None
    )
    with capture_logs() as logs:
        assert operator.execute(make_context()) == {"dry_run": True, "would_toggle": expected}
    assert [log["event"] for log in logs if log["event"].startswith("dry run")] == [
        f"dry run: would {verb} 4 mappings: {expected}"
    ]
    assert mappings() == ["Enabled"] * 4


def test_functions_without_mappings_fail_naming_the_functions_and_regions(mappings):
    operator = ToggleStreamProcessorsOperator(
        task_id="streams", function_names=["streams_test_none"], regions=[REGION], enabled=False, aws_conn_id=None
    )
    with pytest.raises(RuntimeError) as failed:
        operator.execute(make_context())
    assert str(failed.value) == f"no event-source mappings found for ['streams_test_none'] in ['{REGION}']"


@pytest.mark.parametrize(("functions", "regions"), [([], [REGION]), (FUNCTIONS, [])])
def test_no_function_or_no_region_is_refused(functions, regions):
    operator = ToggleStreamProcessorsOperator(
        task_id="streams", function_names=functions, regions=regions, enabled=False, aws_conn_id=None
    )
    with pytest.raises(ValueError) as refused:
        operator.execute(make_context())
    assert str(refused.value) == "function_names and regions must both name at least one entry"


def test_the_mapping_state_is_checked_every_2_seconds_until_it_settles(mappings, monkeypatch):
    from airflow_provider_bio.operators import stream_processors

    sleeps = []
    monkeypatch.setattr(stream_processors.time, "sleep", sleeps.append)
    checks = []

    def settles_on_the_second_check(parsed, **_):
        checks.append(parsed["UUID"])
        if len(checks) == 1:
            parsed["State"] = "Disabling"

    with client_events({"after-call.lambda.GetEventSourceMapping": settles_on_the_second_check}):
        _toggle(enabled=False)
    assert sleeps == [2] and len(checks) == 5 and checks[0] == checks[1]


def test_a_mapping_that_does_not_settle_fails_naming_it_and_the_state_awaited(mappings):
    first = _expected_names()[0].rsplit(":", 1)[1]

    def never_settles(parsed, **_):
        parsed["State"] = "Disabling"

    operator = ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=FUNCTIONS,
        regions=[REGION],
        enabled=False,
        timeout_seconds=0,
        aws_conn_id=None,
    )
    with client_events({"after-call.lambda.GetEventSourceMapping": never_settles}), pytest.raises(TimeoutError) as late:
        operator.execute(make_context())
    assert str(late.value) == f"mapping {first} did not become Disabled in 0 s"


def test_defaults_wait_10_minutes_and_protect_production():
    operator = ToggleStreamProcessorsOperator(
        task_id="streams", function_names=FUNCTIONS, regions=[REGION], enabled=True
    )
    assert operator.timeout_seconds == 600.0 and operator.table is None and operator.dry_run is False
    assert operator.protected == ("*prod*",)
    assert (operator.expected_account, operator.protected_accounts) == (None, ())
