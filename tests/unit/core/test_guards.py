"""The guard's decisions: case-insensitive patterns over names, URIs and ARNs; the account rules."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.guards import (
    ProtectedTargetError,
    account_of_arn,
    check_account,
    check_configured_account,
    check_names,
    matching_pattern,
    names_of,
)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("table", "efcms-PROD-alpha"),
        ("table", "EFCMS-PRODUCTION"),
        ("domain", "efcms-search-Prod-v1"),
        ("destination", "s3://bucket/PROD/docs/"),
        ("table", "arn:aws:dynamodb:us-east-1:111122223333:table/efcms-Prod-alpha"),
    ],
)
def test_protected_patterns_match_whatever_the_case(kind, name):
    with pytest.raises(ProtectedTargetError, match="matches protected pattern '\\*prod\\*'") as refused:
        check_names({kind: [name]}, ["*prod*"], action="delete")
    assert name in str(refused.value) and "protected" in str(refused.value)


def test_a_pattern_naming_a_bucket_or_an_arn_resource_protects_it():
    assert matching_pattern("s3://EFCMS-prod-docs/case/", ["efcms-prod-docs"]) == "efcms-prod-docs"
    assert matching_pattern("arn:aws:es:us-east-1:1:domain/efcms-search-PROD", ["efcms-search-prod"]) is not None
    assert matching_pattern("efcms-test-alpha", ["*prod*"]) is None
    assert matching_pattern("s3://efcms-test-documents/", ["*prod*"]) is None


def test_the_message_names_the_field_the_resource_and_the_fix():
    with pytest.raises(ProtectedTargetError) as refused:
        check_names(
            {"destination": ["s3://b/PROD/"]}, ["*prod*"], action="delete sync into", field="protected_destinations"
        )
    message = str(refused.value)
    assert "protected_destinations" in message and "s3://b/PROD/" in message and "not production" in message


def test_lower_environment_names_pass():
    check_names({"table": ["efcms-test-alpha"], "domain": ["efcms-search-test-v1"]}, ["*prod*"], action="delete")


def test_a_protected_account_is_refused_even_when_the_configuration_expects_it_not_to_be():
    with pytest.raises(ProtectedTargetError, match="111122223333, which is in protected_accounts") as refused:
        check_account(
            "111122223333",
            conn_id="aws_test",
            resource="table efcms-test-alpha",
            action="delete",
            expected_account="222233334444",
            protected_accounts=["111122223333"],
        )
    assert "'aws_test'" in str(refused.value)


def test_an_account_other_than_the_expected_one_is_refused():
    with pytest.raises(ProtectedTargetError, match="not expected_account 222233334444"):
        check_account(
            "999988887777", conn_id="aws_test", resource="t", action="delete", expected_account="222233334444"
        )


def test_the_expected_account_passes():
    check_account(
        "222233334444",
        conn_id=None,
        resource="t",
        action="delete",
        expected_account="222233334444",
        protected_accounts=["111122223333"],
    )


def test_a_configured_account_that_is_protected_is_refused_without_asking():
    with pytest.raises(ProtectedTargetError, match="expected_account 111122223333 is in protected_accounts"):
        check_configured_account("111122223333", ["111122223333"])
    check_configured_account(None, ["111122223333"])


def test_the_account_of_a_role_arn():
    assert account_of_arn("arn:aws:iam::222233334444:role/efcms-glue-copy-writer") == "222233334444"
    assert account_of_arn("not an arn") is None


@pytest.mark.parametrize(
    ("resource", "names"),
    [
        ("efcms-test-alpha", ["efcms-test-alpha"]),
        ("s3://docs-bucket/a/b/", ["s3://docs-bucket/a/b/", "docs-bucket"]),
        ("S3://Docs-Bucket", ["S3://Docs-Bucket", "Docs-Bucket"]),
        ("arn:aws:sns:us-east-1:111122223333:alerts", ["arn:aws:sns:us-east-1:111122223333:alerts", "alerts"]),
        (
            "arn:aws:dynamodb:us-east-1:111122223333:table/efcms-prod/stream/2026",
            ["arn:aws:dynamodb:us-east-1:111122223333:table/efcms-prod/stream/2026", "efcms-prod/stream/2026"],
        ),
        ("arn:aws:s3:::logs", ["arn:aws:s3:::logs", "logs"]),
    ],
)
def test_the_names_a_pattern_is_matched_against(resource, names):
    assert names_of(resource) == names


def test_the_first_matching_pattern_is_named():
    assert matching_pattern("efcms-prod-alpha", ["*test*", "*PROD*", "*alpha"]) == "*PROD*"
    assert matching_pattern("arn:aws:sns:us-east-1:1:efcms-prod", ["efcms-prod"]) == "efcms-prod"


def test_the_whole_refusal_message():
    with pytest.raises(ProtectedTargetError) as refused:
        check_names({"bucket": ["ok", "efcms-prod"], "table": ["never-reached"]}, ["*prod*"], action="empty")
    assert str(refused.value) == (
        "bucket 'efcms-prod' matches protected pattern '*prod*' of protected (case-insensitive): "
        "refusing to empty it; remove the pattern from protected only if this is not production"
    )


@pytest.mark.parametrize(
    ("arn", "account"),
    [("arn:aws:s3:::bucket", None), (None, None), ("", None), ("arn:aws-cn:iam::123:role/x", "123")],
)
def test_an_arn_without_an_account_has_none(arn, account):
    assert account_of_arn(arn) == account


def test_a_configured_account_is_compared_whatever_its_spacing_or_type():
    with pytest.raises(ProtectedTargetError) as refused:
        check_configured_account(" 111122223333 ", [111122223333])
    assert str(refused.value) == (
        "expected_account  111122223333  is in protected_accounts: production is never written; "
        "set expected_account to the lower environment's account"
    )
    check_configured_account("", ["111122223333"])
    check_configured_account("222233334444", ["111122223333"])


def test_default_credentials_reaching_a_protected_account_are_named_in_full():
    with pytest.raises(ProtectedTargetError) as refused:
        check_account(
            " 111122223333", conn_id=None, resource="table t", action="delete", protected_accounts=["111122223333 "]
        )
    assert str(refused.value) == (
        "boto3's default credentials (aws_conn_id=None) reaches AWS account 111122223333, which is in "
        "protected_accounts: refusing to delete table t; point boto3's default credentials (aws_conn_id=None) "
        "at the lower environment's account"
    )


def test_an_unexpected_account_reached_through_a_role_names_the_role():
    with pytest.raises(ProtectedTargetError) as refused:
        check_account(
            "999988887777",
            conn_id="aws_test",
            resource="domain d",
            action="write to",
            expected_account=" 222233334444 ",
            via="role arn:aws:iam::999988887777:role/r",
        )
    assert str(refused.value) == (
        "role arn:aws:iam::999988887777:role/r reaches AWS account 999988887777, not expected_account "
        "222233334444 (the environment's account_id): refusing to write to domain d; fix role "
        "arn:aws:iam::999988887777:role/r or the account_id"
    )


def test_any_unprotected_account_passes_when_none_is_expected():
    check_account("999988887777", conn_id="c", resource="t", action="delete", protected_accounts=["111122223333"])
    check_account(" 222233334444 ", conn_id="c", resource="t", action="delete", expected_account="222233334444")
