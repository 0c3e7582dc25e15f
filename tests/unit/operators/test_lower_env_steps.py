"""The runbook's other steps on moto: flags, persistence reset, table recreation, stream toggles.

Draining (StreamProcessorsDrainedSensor) has its own tests in ``tests/unit/sensors``.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.operators.deploy_flags import SetDeployFlagsOperator
from airflow_provider_bio.operators.persistence import (
    DeletePersistenceOperator,
    RecreateDynamoTableOperator,
    table_shape,
)
from tests.support.airflow_context import make_context
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
    SetDeployFlagsOperator(
        task_id="flags", flags={"migrate": "false"}, ssm_prefix="/deploy/test", aws_conn_id=None, region_name=REGION
    ).execute(make_context())
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameter(Name="/deploy/test/migrate")["Parameter"]["Value"] == "false"


def test_recreated_table_has_the_source_shape(aws):
    aws.create_table(
        TableName="efcms-prod-alpha",
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=GSI,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **KEYS,
    )
    result = RecreateDynamoTableOperator(
        task_id="recreate",
        source_table="efcms-prod-alpha",
        destination_table="efcms-test-alpha",
        aws_conn_id=None,
        region_name=REGION,
    ).execute(make_context())
    assert result == {"created": True}
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
    with recorded_calls() as calls:
        preview = DeletePersistenceOperator(dry_run=True, **kwargs).execute(make_context())
    assert preview["tables"] == ["efcms-test-alpha"] and preview["domains"] == ["efcms-search-test"]
    assert not {c.operation for c in calls} & {"DeleteTable", "DeleteDomain"}
    DeletePersistenceOperator(**kwargs).execute(make_context())
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

    with client_events({"before-call.dynamodb.DeleteTable": replication_blocks_twice}), recorded_calls() as calls:
        result = DeletePersistenceOperator(
            task_id="reset", tables=["efcms-test-alpha"], aws_conn_id=None, region_name=REGION
        ).execute(make_context())
    assert [c.operation for c in calls].count("DeleteTable") == 3 and len(refusals) == 2
    assert result["tables"] == ["efcms-test-alpha"]
    assert aws.list_tables()["TableNames"] == []
