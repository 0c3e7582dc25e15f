"""The runbook's other steps on moto: flags, persistence reset, table recreation, stream toggles.

Draining (StreamProcessorsDrainedSensor) has its own tests in ``tests/unit/sensors``.
"""

from __future__ import annotations

import json

import boto3
import pytest
from airflow.sdk.execution_time.context import NEVER_EXPIRE
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators.deploy_flags import SetDeployFlagsOperator
from airflow_provider_bio.operators.persistence import (
    DELETED_DOMAINS_KEY,
    DeletePersistenceOperator,
    RecreateDynamoTableOperator,
    table_shape,
)
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import recorded_calls

REGION = "us-west-2"
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
    ],
}
GSI = [
    {
        "IndexName": "gsi1",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
]


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


def test_flags_go_to_ssm_parameters_when_there_is_no_deploy_table(aws):
    with capture_logs() as logs:
        SetDeployFlagsOperator(
            task_id="flags", flags={"migrate": "false"}, ssm_prefix="/deploy/test", aws_conn_id=None, region_name=REGION
        ).execute(make_context())
    ssm = boto3.client("ssm", region_name=REGION)
    parameter = ssm.get_parameter(Name="/deploy/test/migrate")["Parameter"]
    assert (parameter["Value"], parameter["Type"]) == ("false", "String")  # SSM refuses a new parameter without a type
    assert "migrate = false" in [log["event"] for log in logs]


def test_recreated_table_has_the_source_shape(aws):
    aws.create_table(
        TableName="efcms-prod-alpha",
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=GSI,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **KEYS,
    )
    with capture_logs() as logs:
        result = RecreateDynamoTableOperator(
            task_id="recreate",
            source_table="efcms-prod-alpha",
            destination_table="efcms-test-alpha",
            aws_conn_id=None,
            region_name=REGION,
        ).execute(make_context())
    assert result == {"created": True}
    assert "Created efcms-test-alpha shaped like efcms-prod-alpha" in [log["event"] for log in logs]
    created = aws.describe_table(TableName="efcms-test-alpha")["Table"]
    assert table_shape(created) == table_shape(aws.describe_table(TableName="efcms-prod-alpha")["Table"])
    assert created["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"  # not recreated as provisioned 1/1
    assert created["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert created["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


#: DescribeTable answers written by hand (as DynamoDB returns them: an on-demand table still reports
#: a ProvisionedThroughput of zeros, and its billing mode sits under BillingModeSummary), with the
#: CreateTable arguments each must give.
ON_DEMAND_DESCRIPTION = {
    "TableName": "efcms-prod-alpha",
    "TableStatus": "ACTIVE",
    "ItemCount": 12,
    **KEYS,
    "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": "2024-01-01"},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
            "IndexSizeBytes": 0,
            "ItemCount": 0,
        }
    ],
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    "LatestStreamArn": "arn:aws:dynamodb:us-west-2:123456789012:table/efcms-prod-alpha/stream/2024",
}
ON_DEMAND_CREATE = {
    **KEYS,
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
PROVISIONED_DESCRIPTION = {
    "TableName": "efcms-prod-beta",
    "TableStatus": "ACTIVE",
    **KEYS,
    "ProvisionedThroughput": {"NumberOfDecreasesToday": 1, "ReadCapacityUnits": 25, "WriteCapacityUnits": 10},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        }
    ],
    "StreamSpecification": {"StreamEnabled": False},
}
PROVISIONED_CREATE = {
    **KEYS,
    "BillingMode": "PROVISIONED",
    "ProvisionedThroughput": {"ReadCapacityUnits": 25, "WriteCapacityUnits": 10},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        }
    ],
}
LSI_DESCRIPTION = {
    "TableName": "efcms-prod-gamma",
    "KeySchema": KEYS["KeySchema"],
    "AttributeDefinitions": [*KEYS["AttributeDefinitions"][:2], {"AttributeName": "lsi1sk", "AttributeType": "N"}],
    "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
    "LocalSecondaryIndexes": [
        {
            "IndexName": "lsi1",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
            "IndexSizeBytes": 0,
            "ItemCount": 0,
            "IndexArn": "arn:aws:dynamodb:us-west-2:123456789012:table/efcms-prod-gamma/index/lsi1",
        }
    ],
}
LSI_CREATE = {
    "KeySchema": KEYS["KeySchema"],
    "AttributeDefinitions": [*KEYS["AttributeDefinitions"][:2], {"AttributeName": "lsi1sk", "AttributeType": "N"}],
    "BillingMode": "PAY_PER_REQUEST",
    "LocalSecondaryIndexes": [
        {
            "IndexName": "lsi1",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
        }
    ],
}


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        pytest.param(ON_DEMAND_DESCRIPTION, ON_DEMAND_CREATE, id="on-demand-gsi-stream"),
        pytest.param(PROVISIONED_DESCRIPTION, PROVISIONED_CREATE, id="provisioned-throughput"),
        pytest.param(LSI_DESCRIPTION, LSI_CREATE, id="on-demand-lsi"),
    ],
)
def test_table_shape_gives_the_create_table_arguments_for_a_describe_table_answer(description, expected):
    assert table_shape(description) == expected


def test_persistence_reset_previews_then_deletes_and_waits(aws):
    aws.create_table(
        TableName="efcms-test-alpha",
        BillingMode="PAY_PER_REQUEST",
        **KEYS | {"AttributeDefinitions": KEYS["AttributeDefinitions"][:2]},
    )
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName="efcms-search-test")
    kwargs = {
        "task_id": "reset",
        "tables": ["efcms-test-alpha", "efcms-test-beta"],
        "domains": ["efcms-search-test"],
        "aws_conn_id": None,
        "region_name": REGION,
    }
    with recorded_calls() as calls, capture_logs() as logs:
        preview = DeletePersistenceOperator(dry_run=True, **kwargs).execute(make_context())
    assert preview["tables"] == ["efcms-test-alpha"] and preview["domains"] == ["efcms-search-test"]
    assert not {c.operation for c in calls} & {"DeleteTable", "DeleteDomain"}
    assert "dry run: would delete tables ['efcms-test-alpha'] and domains ['efcms-search-test']" in [
        log["event"] for log in logs
    ]
    with capture_logs() as logs:
        DeletePersistenceOperator(**kwargs).execute(make_context())
    assert "Deleted tables ['efcms-test-alpha'] and domains ['efcms-search-test']" in [log["event"] for log in logs]
    assert aws.list_tables()["TableNames"] == []
    assert boto3.client("opensearch", region_name=REGION).list_domain_names()["DomainNames"] == []


def test_protected_targets_are_refused_before_any_aws_call():
    with recorded_calls() as calls:
        with pytest.raises(ValueError, match="protected pattern"):
            DeletePersistenceOperator(task_id="r", tables=["efcms-prod-alpha"], aws_conn_id=None).execute({})
        with pytest.raises(ValueError, match="protected pattern"):
            RecreateDynamoTableOperator(
                task_id="c", source_table="a", destination_table="efcms-prod-beta", aws_conn_id=None
            ).execute({})
    assert calls == []


def test_a_dry_run_of_the_redeploy_triggers_nothing():
    from airflow_provider_bio.operators.redeploy import RedeployOperator

    operator = RedeployOperator(
        task_id="redeploy", trigger_dag_id="deploy_test", wait_for_completion=True, dry_run=True
    )
    assert "dry_run" in operator.template_fields
    assert operator.execute({}) == {"dry_run": True, "would_trigger": "deploy_test"}


def test_a_table_deletion_blocked_by_replication_is_tried_again(aws, monkeypatch):
    """README: a deletion refused while replicas are being removed is retried until it goes through."""
    from airflow_provider_bio.operators import persistence
    from tests.support.botocore_events import client_events, http_response

    # Not 0: the table waiter's MaxAttempts divides the timeout by it.
    monkeypatch.setattr(persistence, "POLL_SECONDS", 0.01)
    aws.create_table(
        TableName="efcms-test-alpha",
        BillingMode="PAY_PER_REQUEST",
        **KEYS | {"AttributeDefinitions": KEYS["AttributeDefinitions"][:2]},
    )
    refusals = []

    def replication_blocks_twice(**_):
        if len(refusals) == 2:
            return None  # the third DeleteTable reaches DynamoDB
        message = "Table efcms-test-alpha is being updated: replicas are being removed"
        refusals.append(message)
        error = {
            "Error": {"Code": "ResourceInUseException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return http_response(400, {}), error

    with (
        client_events({"before-call.dynamodb.DeleteTable": replication_blocks_twice}),
        recorded_calls() as calls,
        capture_logs() as logs,
    ):
        result = DeletePersistenceOperator(
            task_id="reset", tables=["efcms-test-alpha"], aws_conn_id=None, region_name=REGION
        ).execute(make_context())
    assert [c.operation for c in calls].count("DeleteTable") == 3 and len(refusals) == 2
    assert [log["event"] for log in logs if log["event"].startswith("Deletion")] == [
        "Deletion of efcms-test-alpha is blocked (Table efcms-test-alpha is being updated: replicas are being "
        "removed); trying again"
    ] * 2
    assert result["tables"] == ["efcms-test-alpha"]
    assert aws.list_tables()["TableNames"] == []


def _table(name: str) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        **KEYS | {"AttributeDefinitions": KEYS["AttributeDefinitions"][:2]},
    )


def _reset(**kwargs):
    return DeletePersistenceOperator(task_id="reset", aws_conn_id=None, region_name=REGION, **kwargs)


def _refuse(code: str, times: int):
    """A DeleteTable handler refusing the first ``times`` calls with ``code``; counts every call."""
    from tests.support.botocore_events import http_response

    seen = []

    def refuse(**_):
        seen.append(code)
        if len(seen) > times:
            return None
        error = {
            "Error": {"Code": code, "Message": f"{code} for the test"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return http_response(400, {}), error

    return refuse, seen


def test_persistence_reset_results_and_the_saved_domain_shapes(aws):
    _table("efcms-test-alpha")
    opensearch = boto3.client("opensearch", region_name=REGION)
    opensearch.create_domain(DomainName="efcms-search-test", EngineVersion="OpenSearch_2.11")
    store = FakeTaskStateStore()
    store.set(DELETED_DOMAINS_KEY, {"efcms-search-old": {"EngineVersion": "OpenSearch_1.3"}, "other": {}})
    kwargs = {"tables": ["efcms-test-alpha"], "domains": ["efcms-search-test", "efcms-search-old"]}
    preview = _reset(dry_run=True, **kwargs).execute(make_context(store))
    assert preview == {"tables": ["efcms-test-alpha"], "domains": ["efcms-search-test"], "dry_run": True}
    result = _reset(**kwargs).execute(make_context(store))
    assert result["tables"] == ["efcms-test-alpha"] and result["domains"] == ["efcms-search-test"]
    shapes = result["domain_shapes"]
    assert list(shapes) == ["efcms-search-test", "efcms-search-old"]  # the operator's domains, in its order
    assert shapes["efcms-search-test"]["EngineVersion"] == "OpenSearch_2.11"
    assert shapes["efcms-search-old"] == {"EngineVersion": "OpenSearch_1.3"}
    saved = store.get(DELETED_DOMAINS_KEY)
    assert set(saved) == {"efcms-search-test", "efcms-search-old", "other"}
    assert store.retention[DELETED_DOMAINS_KEY] == NEVER_EXPIRE


def test_nothing_is_saved_when_no_domain_is_deleted_and_a_missing_store_is_survived(aws):
    _table("efcms-test-alpha")
    store = FakeTaskStateStore()
    result = _reset(tables=["efcms-test-alpha"], domains=["efcms-search-test"]).execute(make_context(store))
    assert result == {"tables": ["efcms-test-alpha"], "domains": [], "domain_shapes": {}}
    assert store.saved == {}
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName="efcms-search-test")
    with capture_logs() as logs:
        result = _reset(domains=["efcms-search-test"]).execute({"run_id": "manual"})  # Airflow < 3.3: no store
    warning = "No task state store (Airflow < 3.3?): a retry forgets the deleted domains' configuration"
    assert ("warning", warning) in [(log["log_level"], log["event"]) for log in logs]
    assert result["domains"] == ["efcms-search-test"] and list(result["domain_shapes"]) == ["efcms-search-test"]


def test_a_table_gone_before_its_deletion_counts_as_deleted(aws):
    from tests.support.botocore_events import client_events, http_response

    _table("efcms-test-alpha")
    deletions = []

    def deleted_meanwhile(**_):
        deletions.append("efcms-test-alpha")
        aws.delete_table(TableName="efcms-test-alpha")  # a client made outside: not intercepted
        error = {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}
        return http_response(400, {}), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    with client_events({"before-call.dynamodb.DeleteTable": deleted_meanwhile}):
        result = _reset(tables=["efcms-test-alpha"]).execute(make_context())
    assert result["tables"] == ["efcms-test-alpha"] and deletions == ["efcms-test-alpha"]


@pytest.mark.parametrize(
    ("code", "timeout", "deleted"),
    [
        pytest.param("ValidationException", 3600.0, True, id="validation-retried"),
        pytest.param("ResourceInUseException", 0.0, False, id="past-the-deadline"),
        pytest.param("AccessDeniedException", 3600.0, False, id="other-error-raised-at-once"),
    ],
)
def test_a_blocked_table_deletion_is_retried_until_the_deadline(aws, monkeypatch, code, timeout, deleted):
    from airflow_provider_bio.operators import persistence
    from tests.support.botocore_events import client_events

    monkeypatch.setattr(persistence, "POLL_SECONDS", 0.01)
    _table("efcms-test-alpha")
    refuse, seen = _refuse(code, 1)
    with client_events({"before-call.dynamodb.DeleteTable": refuse}):
        operator = _reset(tables=["efcms-test-alpha"], timeout_seconds=timeout)
        if deleted:
            operator.execute(make_context())
        else:
            with pytest.raises(Exception, match=code):
                operator.execute(make_context())
    assert len(seen) == (2 if deleted else 1)
    assert aws.list_tables()["TableNames"] == ([] if deleted else ["efcms-test-alpha"])


def test_the_table_deletion_is_waited_for(aws, monkeypatch):
    """The table is described until DynamoDB no longer knows it: the waiter polls every POLL_SECONDS."""
    from airflow_provider_bio.operators import persistence
    from tests.support.botocore_events import client_events, http_response

    monkeypatch.setattr(persistence, "POLL_SECONDS", 0.01)
    _table("efcms-test-alpha")
    described = []

    def still_deleting(params, **_):
        described.append(params)
        if len(described) == 2:  # the first check after DeleteTable: still going
            return http_response(200, {}), {"Table": {"TableName": "efcms-test-alpha", "TableStatus": "DELETING"}}
        return None

    with client_events({"before-call.dynamodb.DescribeTable": still_deleting}):
        _reset(tables=["efcms-test-alpha"], timeout_seconds=0.01).execute(make_context())
    assert len(described) == 3


def test_a_domain_that_does_not_go_fails_after_the_timeout(aws, monkeypatch):
    from airflow_provider_bio.operators import persistence
    from tests.support.botocore_events import client_events, http_response

    monkeypatch.setattr(persistence, "POLL_SECONDS", 0.01)
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName="efcms-search-test")

    def accept_without_deleting(**_):
        return http_response(200, {}), {"DomainStatus": {"DomainName": "efcms-search-test", "Deleted": True}}

    with (
        client_events({"before-call.opensearch.DeleteDomain": accept_without_deleting}),
        pytest.raises(TimeoutError, match=r"OpenSearch domain efcms-search-test still exists after 0\.0 s"),
    ):
        _reset(domains=["efcms-search-test"], timeout_seconds=0.0).execute(make_context())


def test_deletion_asks_the_guard_with_every_name(aws):
    with pytest.raises(ValueError, match=r"domain 'efcms-search-prod' .* refusing to delete it"):
        _reset(tables=["efcms-test-alpha"], domains=["efcms-search-prod"]).execute(make_context())
    _reset(tables=["efcms-test-alpha"], domains=["efcms-search-prod"], protected=()).execute(make_context())
    assert _reset().protected == ("*prod*",) and _reset().timeout_seconds == 3600.0


def test_recreating_an_existing_table_leaves_it_and_a_dry_run_reports_the_shape(aws):
    aws.create_table(TableName="efcms-prod-alpha", BillingMode="PAY_PER_REQUEST", **KEYS, GlobalSecondaryIndexes=GSI)
    _table("efcms-test-alpha")
    kwargs = {"task_id": "recreate", "source_table": "efcms-prod-alpha", "aws_conn_id": None, "region_name": REGION}
    with recorded_calls() as calls, capture_logs() as logs:
        left = RecreateDynamoTableOperator(destination_table="efcms-test-alpha", **kwargs).execute(make_context())
        preview = RecreateDynamoTableOperator(destination_table="efcms-test-beta", dry_run=True, **kwargs).execute(
            make_context()
        )
    shape = {**KEYS, "BillingMode": "PAY_PER_REQUEST", "GlobalSecondaryIndexes": GSI}
    assert [log["event"] for log in logs if "efcms-test-" in log["event"]] == [
        "efcms-test-alpha exists already: left as it is",
        f"dry run: once deleted, would create efcms-test-beta empty, shaped {shape}",
    ]
    assert left == {"created": False}
    assert preview == {"dry_run": True, "would_create": "efcms-test-beta", "shape": shape}
    assert "CreateTable" not in {call.operation for call in calls}
    assert aws.list_tables()["TableNames"] == ["efcms-prod-alpha", "efcms-test-alpha"]


def test_a_table_is_its_own_source_only_through_the_same_connection():
    kwargs = {"task_id": "c", "source_table": "efcms-test-a", "destination_table": "efcms-test-a"}
    for conn in ({"aws_conn_id": None}, {"aws_conn_id": "lower", "dest_aws_conn_id": "lower"}):
        with pytest.raises(ValueError) as refused:
            RecreateDynamoTableOperator(**kwargs, **conn).execute({})
        assert str(refused.value) == "destination_table is the source table"


def test_the_destination_table_is_created_through_the_destination_connection(aws, monkeypatch):
    """The destination connection (its own region here) describes and creates the table; the source's reads."""
    monkeypatch.setenv("AIRFLOW_CONN_LOWER_ENV", '{"conn_type": "aws", "extra": {"region_name": "us-east-1"}}')
    aws.create_table(TableName="efcms-alpha", BillingMode="PAY_PER_REQUEST", **KEYS, GlobalSecondaryIndexes=GSI)
    result = RecreateDynamoTableOperator(
        task_id="recreate",
        source_table="efcms-alpha",
        destination_table="efcms-alpha",
        aws_conn_id=None,
        dest_aws_conn_id="lower_env",
    ).execute(make_context())
    assert result == {"created": True}
    east = boto3.client("dynamodb", region_name="us-east-1")
    assert east.describe_table(TableName="efcms-alpha")["Table"]["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert aws.list_tables()["TableNames"] == ["efcms-alpha"]


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        pytest.param(
            {**KEYS, "GlobalSecondaryIndexes": GSI, "StreamSpecification": {"StreamEnabled": False}},
            {
                **KEYS,
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                "GlobalSecondaryIndexes": [
                    {**GSI[0], "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}
                ],
            },
            id="provisioned-without-throughput-gets-1-1",
        ),
        pytest.param(
            {**KEYS, "ProvisionedThroughput": {"ReadCapacityUnits": 7}, "BillingModeSummary": {"BillingMode": "X"}},
            {
                **KEYS,
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 1},
            },
            id="provisioned-partial-throughput",
        ),
    ],
)
def test_table_shape_of_a_provisioned_table_without_throughput(description, expected):
    assert table_shape(description) == expected


@pytest.mark.parametrize("store", ["deploy_table", "ssm_prefix"])
def test_a_dry_run_of_the_flags_reports_their_values_now_and_writes_nothing(aws, store):
    ssm = boto3.client("ssm", region_name=REGION)
    if store == "deploy_table":
        aws.create_table(
            TableName="efcms-deploy-test",
            BillingMode="PAY_PER_REQUEST",
            **KEYS | {"AttributeDefinitions": KEYS["AttributeDefinitions"][:2]},
        )
        aws.put_item(
            TableName="efcms-deploy-test",
            Item={"pk": {"S": "migrate"}, "sk": {"S": "migrate"}, "current": {"S": "true"}},
        )
        where = {"deploy_table": "efcms-deploy-test"}
    else:
        ssm.put_parameter(Name="/deploy/test/migrate", Value="true", Type="String")
        where = {"ssm_prefix": "/deploy/test/"}
    operator = SetDeployFlagsOperator(
        task_id="flags",
        flags={"migrate": "false", "source-table-version": 2},
        dry_run=True,
        aws_conn_id=None,
        region_name=REGION,
        **where,
    )
    with recorded_calls() as calls, capture_logs() as logs:
        result = operator.execute(make_context())
    assert [log["event"] for log in logs if log["event"].startswith("dry run")] == [
        "dry run: would set migrate = false (now true)",
        "dry run: would set source-table-version = 2 (now None)",
    ]
    assert result == {
        "dry_run": True,
        "would_set": {"migrate": "false", "source-table-version": "2"},
        "current": {"migrate": "true", "source-table-version": None},
    }
    assert not {call.operation for call in calls} & {"PutItem", "PutParameter"}


def test_a_redeploy_triggers_for_real_unless_asked_for_a_dry_run():
    from airflow_provider_bio.operators.redeploy import RedeployOperator

    assert RedeployOperator(task_id="redeploy", trigger_dag_id="deploy_test").dry_run is False


def test_a_dry_run_of_the_redeploy_names_the_deploy_dag_it_would_trigger():
    from airflow_provider_bio.operators.redeploy import RedeployOperator

    operator = RedeployOperator(task_id="redeploy", trigger_dag_id="deploy_test", dry_run=True)
    with capture_logs() as logs:
        operator.execute(make_context())
    assert [log["event"] for log in logs if log["event"].startswith("dry run")] == [
        "dry run: would trigger deploy_test and wait for it"
    ]


def test_a_redeploy_triggers_the_deploy_dag_and_links_the_run_it_started():
    """Outside a dry run the task hands Airflow the deploy DAG's run to start and records its link."""
    from airflow.sdk.exceptions import DagRunTriggerException

    from airflow_provider_bio.operators.redeploy import RedeployOperator

    context = make_context()
    operator = RedeployOperator(
        task_id="redeploy", trigger_dag_id="deploy_test", trigger_run_id="redeploy-1", wait_for_completion=True
    )
    with pytest.raises(DagRunTriggerException) as triggered:
        operator.execute(context)
    assert (triggered.value.trigger_dag_id, triggered.value.dag_run_id) == ("deploy_test", "redeploy-1")
    assert triggered.value.wait_for_completion is True
    assert context["ti"].xcoms == {"_link_TriggerDagRunLink": "/dags/deploy_test/runs/redeploy-1"}


@pytest.mark.parametrize("prefix", ["/deploy/SANDBOX", "/deploy/SANDBOX/"])
def test_flags_are_read_and_written_under_the_ssm_prefix_as_given(aws, prefix):
    """Only a trailing slash is dropped from the prefix: a name ending in X keeps its X."""
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/deploy/SANDBOX/migrate", Value="true", Type="String")
    ssm.put_parameter(Name="/deploy/SANDBO/migrate", Value="decoy", Type="String")
    flags = {"task_id": "flags", "flags": {"migrate": "false"}, "ssm_prefix": prefix}
    preview = SetDeployFlagsOperator(**flags, dry_run=True, aws_conn_id=None, region_name=REGION).execute(
        make_context()
    )
    assert preview["current"] == {"migrate": "true"}
    SetDeployFlagsOperator(**flags, aws_conn_id=None, region_name=REGION).execute(make_context())
    written = ssm.get_parameter(Name="/deploy/SANDBOX/migrate")["Parameter"]
    assert (written["Value"], written["Type"]) == ("false", "String")
    assert ssm.get_parameter(Name="/deploy/SANDBO/migrate")["Parameter"]["Value"] == "decoy"


def test_flags_go_to_the_deploy_table_a_row_each(aws):
    aws.create_table(
        TableName="efcms-deploy-test",
        BillingMode="PAY_PER_REQUEST",
        **KEYS | {"AttributeDefinitions": KEYS["AttributeDefinitions"][:2]},
    )
    with capture_logs() as logs:
        result = SetDeployFlagsOperator(
            task_id="flags",
            flags={"migrate": "false", "source-table-version": 2},
            deploy_table="efcms-deploy-test",
            aws_conn_id=None,
            region_name=REGION,
        ).execute(make_context())
    assert result == {"migrate": "false", "source-table-version": "2"}
    rows = sorted(aws.scan(TableName="efcms-deploy-test")["Items"], key=lambda row: row["pk"]["S"])
    assert rows == [
        {"pk": {"S": "migrate"}, "sk": {"S": "migrate"}, "current": {"S": "false"}},
        {"pk": {"S": "source-table-version"}, "sk": {"S": "source-table-version"}, "current": {"S": "2"}},
    ]
    assert [log["event"] for log in logs if " = " in log["event"]] == ["migrate = false", "source-table-version = 2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flags": {}, "deploy_table": "efcms-deploy-test"}, "flags is empty: name at least one flag to set"),
        (
            {"flags": {"migrate": "false"}},
            "give exactly one of deploy_table (a DynamoDB row per flag) or ssm_prefix (SSM parameters)",
        ),
        (
            {"flags": {"migrate": "false"}, "deploy_table": "efcms-deploy-test", "ssm_prefix": "/deploy/test"},
            "give exactly one of deploy_table (a DynamoDB row per flag) or ssm_prefix (SSM parameters)",
        ),
    ],
)
def test_flags_without_a_flag_or_a_single_store_are_refused_before_any_aws_call(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError) as refused:
        SetDeployFlagsOperator(task_id="flags", aws_conn_id=None, **kwargs).execute(make_context())
    assert str(refused.value) == message
    assert calls == []


def test_a_table_recreated_through_one_connection_is_read_and_created_through_it(aws, monkeypatch):
    """One connection (assuming a role in the lower account) for source and destination: both are there."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    lower = "222233334444"
    role = {"conn_type": "aws", "extra": {"role_arn": f"arn:aws:iam::{lower}:role/lower-env-admin"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOWER", json.dumps(role))
    lower_dynamodb = AwsBaseHook(aws_conn_id="aws_lower", client_type="dynamodb", region_name=REGION).conn
    lower_dynamodb.create_table(
        TableName="efcms-alpha", BillingMode="PAY_PER_REQUEST", **KEYS, GlobalSecondaryIndexes=GSI
    )
    result = RecreateDynamoTableOperator(
        task_id="recreate",
        source_table="efcms-alpha",
        destination_table="efcms-test-alpha",
        aws_conn_id="aws_lower",
        expected_account=lower,
        region_name=REGION,
    ).execute(make_context())
    assert result == {"created": True}
    assert lower_dynamodb.list_tables()["TableNames"] == ["efcms-alpha", "efcms-test-alpha"]
    assert aws.list_tables()["TableNames"] == []  # nothing in the account of boto3's default credentials


def test_a_table_deletion_is_checked_every_poll_seconds_until_the_timeout(aws, monkeypatch):
    """A table still deleting is described every 10 s, timeout_seconds // 10 + 1 times, then the task fails."""
    from types import SimpleNamespace

    from botocore import waiter
    from botocore.exceptions import WaiterError

    from tests.support.botocore_events import client_events, http_response

    sleeps = []
    monkeypatch.setattr(waiter, "time", SimpleNamespace(sleep=sleeps.append))
    _table("efcms-test-alpha")
    deleted = []

    def deleting_for_ever(**_):
        if not deleted:  # the existence check before the deletion
            deleted.append(True)
            return None
        return http_response(200, {}), {"Table": {"TableName": "efcms-test-alpha", "TableStatus": "DELETING"}}

    with (
        client_events({"before-call.dynamodb.DescribeTable": deleting_for_ever}),
        pytest.raises(WaiterError, match="Max attempts exceeded"),
    ):
        _reset(tables=["efcms-test-alpha"], timeout_seconds=25).execute(make_context())
    assert sleeps == [10.0, 10.0]


def test_a_domain_deletion_is_checked_every_poll_seconds_until_it_is_gone(aws, monkeypatch):
    from airflow_provider_bio.operators import persistence
    from tests.support.botocore_events import client_events, http_response

    sleeps = []
    monkeypatch.setattr(persistence.time, "sleep", sleeps.append)
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName="efcms-search-test")
    asked = []

    def deleting_once(**_):
        asked.append("DeleteDomain")

    def still_there_at_the_first_check(**_):
        if asked and len(asked) == 1:
            asked.append("checked")
            return http_response(200, {}), {"DomainStatus": {"DomainName": "efcms-search-test", "Deleted": True}}
        return None

    handlers = {
        "after-call.opensearch.DeleteDomain": deleting_once,
        "before-call.opensearch.DescribeDomain": still_there_at_the_first_check,
    }
    with client_events(handlers):
        result = _reset(domains=["efcms-search-test"]).execute(make_context())
    assert result["domains"] == ["efcms-search-test"] and sleeps == [10.0]
