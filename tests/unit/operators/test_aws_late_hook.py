"""The provider's AWS operators build the amazon hook from their four AWS arguments, at run time."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_bio.operators.base import AwsLateHookOperator
from tests.support.connections import only_connections


class _S3Step(AwsLateHookOperator):
    """A step talking to S3 through the amazon provider's S3Hook."""

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"

    def execute(self, context: Any) -> None:
        pass


def test_the_hook_uses_the_operators_connection_region_verify_and_botocore_config():
    hook = _S3Step(
        task_id="s3", aws_conn_id=None, region_name="eu-west-3", verify=False, botocore_config={"read_timeout": 7}
    ).hook
    client = hook.conn
    assert (hook.aws_conn_id, hook.verify) == (None, False)
    assert (client.meta.region_name, client.meta.config.read_timeout) == ("eu-west-3", 7)


def test_the_default_connection_is_the_one_named_aws_default_exactly(monkeypatch):
    """Connection ids are case-sensitive outside environment variables: the default is ``aws_default``."""
    aws_default = Connection(conn_id="aws_default", conn_type="aws", extra='{"region_name": "eu-central-2"}')
    only_connections(monkeypatch, aws_default)
    hook = _S3Step(task_id="s3").hook
    assert hook.conn_region_name == "eu-central-2"


@pytest.mark.parametrize("verify", [False, "/etc/ssl/certs/corporate-ca.pem"])
def test_verify_reaches_the_client(verify):
    assert _S3Step(task_id="s3", aws_conn_id=None, region_name="us-west-2", verify=verify).hook.verify == verify
