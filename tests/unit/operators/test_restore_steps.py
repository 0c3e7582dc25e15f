"""Restoring what a lower environment's reset deleted: search domains, and mappings on the new stream."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators.persistence import DeletePersistenceOperator
from airflow_provider_bio.operators.search_domains import RecreateSearchDomainsOperator
from airflow_provider_bio.operators.stream_processors import ToggleStreamProcessorsOperator
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import recorded_calls

REGION = "us-west-2"
DOMAIN = "efcms-search-test-v1"
DEPLOYED = {
    "EngineVersion": "OpenSearch_2.11",
    "ClusterConfig": {"InstanceType": "r6g.large.search", "InstanceCount": 3, "ZoneAwarenessEnabled": False},
}
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


@pytest.fixture
def aws():
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def _opensearch():
    return boto3.client("opensearch", region_name=REGION)


def _lambda():
    return boto3.client("lambda", region_name=REGION)


def _reset():
    return DeletePersistenceOperator(task_id="reset", domains=[DOMAIN], aws_conn_id=None, region_name=REGION)


def test_a_retry_after_the_domain_is_gone_still_returns_its_configuration(aws):
    _opensearch().create_domain(DomainName=DOMAIN, **DEPLOYED)
    store = FakeTaskStateStore()
    first = _reset().execute(make_context(store))
    assert _opensearch().list_domain_names()["DomainNames"] == []
    retry = _reset().execute(make_context(store))
    assert retry["domains"] == [] and retry["domain_shapes"] == first["domain_shapes"]
    shape = retry["domain_shapes"][DOMAIN]
    assert shape["EngineVersion"] == "OpenSearch_2.11" and shape["ClusterConfig"]["InstanceCount"] == 3
    assert _reset().execute(make_context())["domain_shapes"] == {}, "another run's store knows nothing"


def test_the_deleted_domain_comes_back_as_it_was_and_an_existing_one_is_left(aws):
    _opensearch().create_domain(DomainName=DOMAIN, **DEPLOYED)
    shapes = _reset().execute(make_context())["domain_shapes"]
    _opensearch().create_domain(DomainName="efcms-search-test-v2")
    recreate = RecreateSearchDomainsOperator(
        task_id="recreate",
        domains=[DOMAIN, "efcms-search-test-v2"],
        domain_shapes=shapes,
        aws_conn_id=None,
        region_name=REGION,
    )
    with recorded_calls() as calls:
        assert recreate.execute(make_context()) == {"created": [DOMAIN], "ready": [DOMAIN, "efcms-search-test-v2"]}
    assert [c.params["DomainName"] for c in calls if c.operation == "CreateDomain"] == [DOMAIN]
    status = _opensearch().describe_domain(DomainName=DOMAIN)["DomainStatus"]
    assert status["EngineVersion"] == "OpenSearch_2.11"
    assert (
        status["ClusterConfig"]["InstanceType"] == "r6g.large.search" and status["ClusterConfig"]["InstanceCount"] == 3
    )
    assert recreate.execute(make_context())["created"] == [], "a second try creates nothing"


def test_a_missing_domain_without_a_saved_configuration_fails_by_name_after_the_others(aws):
    recreate = RecreateSearchDomainsOperator(
        task_id="recreate",
        domains=["efcms-search-test-v2", DOMAIN],
        domain_shapes={DOMAIN: DEPLOYED},
        aws_conn_id=None,
        region_name=REGION,
    )
    with pytest.raises(RuntimeError, match=r"\['efcms-search-test-v2'\] do not exist"):
        recreate.execute(make_context())
    assert _opensearch().list_domain_names()["DomainNames"] == [{"DomainName": DOMAIN, "EngineType": "OpenSearch"}]


def test_protected_domains_are_never_recreated():
    with recorded_calls() as calls, pytest.raises(ValueError, match="protected pattern"):
        RecreateSearchDomainsOperator(
            task_id="r", domains=[], domain_shapes={"efcms-search-prod": DEPLOYED}, aws_conn_id=None
        ).execute({})
    assert calls == []


def _world():
    """The test table recreated since its mapping was made, and another table's mapping."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    old = dynamodb.create_table(TableName="efcms-test-alpha", **KEYS)["TableDescription"]["LatestStreamArn"]
    other = dynamodb.create_table(TableName="efcms-test-beta", **KEYS)["TableDescription"]["LatestStreamArn"]
    create_echo_function(None, "streams_test_blue")
    _lambda().create_event_source_mapping(
        EventSourceArn=old, FunctionName="streams_test_blue", StartingPosition="LATEST", BatchSize=25
    )
    _lambda().create_event_source_mapping(EventSourceArn=other, FunctionName="streams_test_blue", BatchSize=7)
    dynamodb.delete_table(TableName="efcms-test-alpha")
    new = dynamodb.create_table(TableName="efcms-test-alpha", **KEYS)["TableDescription"]["LatestStreamArn"]
    return old, other, new


def _streams(enabled, table="efcms-test-alpha"):
    return ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=["streams_test_blue"],
        regions=[REGION],
        enabled=enabled,
        table=table,
        aws_conn_id=None,
    )


def _mappings():
    return {
        m["EventSourceArn"]: m
        for m in _lambda().list_event_source_mappings(FunctionName="streams_test_blue")["EventSourceMappings"]
    }


def test_a_mapping_on_the_deleted_tables_stream_moves_to_the_new_stream_once(aws):
    _old, other, new = _world()
    _streams(enabled=False).execute(make_context())
    mappings = _mappings()
    assert set(mappings) == {new, other}
    assert mappings[new]["BatchSize"] == 25 and mappings[new]["StartingPosition"] == "TRIM_HORIZON"
    assert mappings[other]["BatchSize"] == 7, "another table's mapping is left alone"
    assert {m["State"] for m in mappings.values()} == {"Disabled"}
    with recorded_calls() as calls:
        _streams(enabled=False).execute(make_context())
    assert not {c.operation for c in calls} & {"CreateEventSourceMapping", "DeleteEventSourceMapping"}
    assert {uuid["UUID"] for uuid in _mappings().values()} == {m["UUID"] for m in mappings.values()}
    _streams(enabled=True, table=None).execute(make_context())
    assert {m["State"] for m in _mappings().values()} == {"Enabled"}


def test_a_retry_after_the_copy_was_made_only_deletes_the_old_mapping(aws):
    _old, other, new = _world()
    _lambda().create_event_source_mapping(
        EventSourceArn=new, FunctionName="streams_test_blue", StartingPosition="TRIM_HORIZON", Enabled=False
    )
    with recorded_calls() as calls:
        _streams(enabled=False).execute(make_context())
    assert [c.operation for c in calls if c.operation.endswith("EventSourceMapping")].count(
        "DeleteEventSourceMapping"
    ) == 1
    assert "CreateEventSourceMapping" not in {c.operation for c in calls}
    assert set(_mappings()) == {new, other}


def test_mappings_on_a_table_that_was_not_recreated_fail_by_name(aws):
    old, _other, _new = _world()
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName="efcms-test-alpha")
    stale = _mappings()[old]["UUID"]
    with pytest.raises(RuntimeError, match=f"efcms-test-alpha has no stream in {REGION}.*{stale}"):
        _streams(enabled=False).execute(make_context())


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        pytest.param({}, True, id="no-flags-reported"),
        pytest.param({"Created": True, "Processing": False, "Deleted": False}, True, id="live"),
        pytest.param({"Created": False}, False, id="not-created-yet"),
        pytest.param({"Created": True, "Processing": True}, False, id="processing"),
        pytest.param({"Created": True, "Deleted": True}, False, id="being-deleted"),
    ],
)
def test_a_domain_is_ready_once_created_and_neither_processing_nor_deleted(status, ready):
    from airflow_provider_bio.operators.search_domains import _ready

    assert _ready(DOMAIN, status) is ready


def test_a_domain_vanishing_while_it_is_created_fails_naming_it():
    from airflow_provider_bio.operators.search_domains import _ready

    with pytest.raises(RuntimeError, match=f"search domain {DOMAIN} vanished while it was being created"):
        _ready(DOMAIN, None)


def test_a_domain_still_processing_at_the_deadline_fails_naming_it(aws, monkeypatch):
    """The domain is described again after a pause until ready; past ``timeout_seconds`` the task fails."""
    from airflow_provider_bio.operators import search_domains
    from tests.support.botocore_events import client_events, http_response

    monkeypatch.setattr(search_domains, "POLL_SECONDS", 0.01)
    _opensearch().create_domain(DomainName=DOMAIN, **DEPLOYED)
    described = []

    def processing_twice(**_):
        described.append(DOMAIN)
        if len(described) > 2:
            return None
        return http_response(200, {}), {"DomainStatus": {"DomainName": DOMAIN, "Processing": True}}

    def recreate(timeout: float):
        return RecreateSearchDomainsOperator(
            task_id="recreate", domains=[DOMAIN], domain_shapes={}, aws_conn_id=None, timeout_seconds=timeout
        )

    with client_events({"before-call.opensearch.DescribeDomain": processing_twice}):
        assert recreate(60.0).execute(make_context()) == {"created": [], "ready": [DOMAIN]}
    assert len(described) == 3  # there (not being deleted), still processing, then ready
    described.clear()
    with (
        client_events({"before-call.opensearch.DescribeDomain": processing_twice}),
        pytest.raises(TimeoutError, match=rf"search domain {DOMAIN} is not ready after 0\.0 s"),
    ):
        recreate(0.0).execute(make_context())


def test_the_log_says_which_mapping_moved_from_which_stream_to_which(aws):
    old, _other, new = _world()
    moved = _mappings()[old]["UUID"]
    with capture_logs() as logs:
        _streams(enabled=False).execute(make_context())
    assert f"{REGION}:streams_test_blue: mapping {moved} on {old} moved to {new}" in [log["event"] for log in logs]


def test_an_old_mapping_that_does_not_go_fails_naming_it(aws):
    from tests.support.botocore_events import client_events, http_response

    old, _other, _new = _world()
    stale = _mappings()[old]["UUID"]

    def still_deleting(params, **_):
        if params["url_path"].endswith(stale):
            return http_response(200, {}), {"UUID": stale, "State": "Deleting", "EventSourceArn": old}
        return None

    operator = ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=["streams_test_blue"],
        regions=[REGION],
        enabled=False,
        table="efcms-test-alpha",
        timeout_seconds=0,
        aws_conn_id=None,
    )
    with (
        client_events({"before-call.lambda.GetEventSourceMapping": still_deleting}),
        pytest.raises(TimeoutError) as late,
    ):
        operator.execute(make_context())
    assert str(late.value) == f"mapping {stale} was not deleted in 0 s"


def test_an_old_mapping_being_deleted_is_checked_every_2_seconds_until_it_is_gone(aws, monkeypatch):
    from airflow_provider_bio.operators import stream_processors
    from tests.support.botocore_events import client_events, http_response

    old, _other, new = _world()
    stale = _mappings()[old]["UUID"]
    sleeps = []
    monkeypatch.setattr(stream_processors.time, "sleep", sleeps.append)
    checks = []

    def deleting_at_the_first_check(params, **_):
        if params["url_path"].endswith(stale):
            checks.append(stale)
            if len(checks) == 1:
                return http_response(200, {}), {"UUID": stale, "State": "Deleting", "EventSourceArn": old}
        return None

    with client_events({"before-call.lambda.GetEventSourceMapping": deleting_at_the_first_check}):
        _streams(enabled=False).execute(make_context())
    assert sleeps == [2] and len(checks) == 2
    assert old not in _mappings() and new in _mappings()


def test_mappings_on_a_table_recreated_without_its_stream_fail_by_name(aws):
    old, _other, _new = _world()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.delete_table(TableName="efcms-test-alpha")
    dynamodb.create_table(TableName="efcms-test-alpha", **{k: v for k, v in KEYS.items() if k != "StreamSpecification"})
    stale = _mappings()[old]["UUID"]
    with pytest.raises(RuntimeError) as failed:
        _streams(enabled=False).execute(make_context())
    assert str(failed.value) == (
        f"efcms-test-alpha has no stream in {REGION}, yet mappings ['{stale}'] of streams_test_blue read an old "
        f"stream of it: recreate the table with its stream in {REGION}, then clear this task"
    )


def test_mappings_on_two_old_streams_of_the_table_become_one_mapping_on_the_current_stream(aws):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    first = dynamodb.create_table(TableName="efcms-test-alpha", **KEYS)["TableDescription"]["LatestStreamArn"]
    create_echo_function(None, "streams_test_blue")
    _lambda().create_event_source_mapping(EventSourceArn=first, FunctionName="streams_test_blue", BatchSize=25)
    dynamodb.delete_table(TableName="efcms-test-alpha")
    second = dynamodb.create_table(TableName="efcms-test-alpha", **KEYS)["TableDescription"]["LatestStreamArn"]
    _lambda().create_event_source_mapping(EventSourceArn=second, FunctionName="streams_test_blue", BatchSize=25)
    dynamodb.delete_table(TableName="efcms-test-alpha")
    current = dynamodb.create_table(TableName="efcms-test-alpha", **KEYS)["TableDescription"]["LatestStreamArn"]
    with recorded_calls() as calls:
        _streams(enabled=False).execute(make_context())
    assert [c.operation for c in calls].count("CreateEventSourceMapping") == 1
    assert [c.operation for c in calls].count("DeleteEventSourceMapping") == 2
    assert set(_mappings()) == {current}


def test_an_old_mapping_already_being_deleted_is_not_asked_to_go_again(aws):
    """A retry finds the old mapping ``Deleting`` (asked by the try before): it waits, it does not ask again."""
    from tests.support.botocore_events import client_events

    old, _other, new = _world()
    stale = _mappings()[old]["UUID"]
    outside = _lambda()  # made before the hooks below: its calls are not intercepted

    def deleting_since_the_last_try(parsed, **_):
        for mapping in parsed["EventSourceMappings"]:
            if mapping["UUID"] == stale:
                mapping["State"] = "Deleting"
                outside.delete_event_source_mapping(UUID=stale)  # and the deletion goes through meanwhile

    with (
        client_events({"after-call.lambda.ListEventSourceMappings": deleting_since_the_last_try}),
        recorded_calls() as calls,
    ):
        _streams(enabled=False).execute(make_context())
    assert "DeleteEventSourceMapping" not in [c.operation for c in calls]
    assert old not in _mappings() and new in _mappings()


def test_each_region_is_checked_against_the_table_there(aws):
    """The table's stream is looked up in each named region (here only us-east-1, not the default region)."""
    import io
    import zipfile

    east = "us-east-1"
    stream = boto3.client("dynamodb", region_name=east).create_table(TableName="efcms-test-alpha", **KEYS)
    role = boto3.client("iam", region_name=east).create_role(RoleName="streams-role", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lambdas = boto3.client("lambda", region_name=east)
    lambdas.create_function(
        FunctionName="streams_test_blue",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    uuid = lambdas.create_event_source_mapping(
        EventSourceArn=stream["TableDescription"]["LatestStreamArn"], FunctionName="streams_test_blue"
    )["UUID"]
    operator = ToggleStreamProcessorsOperator(
        task_id="streams",
        function_names=["streams_test_blue"],
        regions=[east],
        enabled=False,
        table="efcms-test-alpha",
        aws_conn_id=None,
    )
    assert operator.execute(make_context()) == [f"{east}:streams_test_blue:{uuid}"]
    assert lambdas.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
