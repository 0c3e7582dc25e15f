"""Recreating the search domains a reset deleted: waiting for deletions, deadlines, dry runs, what is logged."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators import search_domains
from airflow_provider_bio.operators.search_domains import RecreateSearchDomainsOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events, http_response, recorded_calls

REGION = "us-west-2"
DOMAIN = "efcms-search-test-v1"
OTHER = "efcms-search-test-v2"
SHAPE = {"EngineVersion": "OpenSearch_2.11", "ClusterConfig": {"InstanceType": "r6g.large.search", "InstanceCount": 3}}
#: What the guard logs first: the account moto's credentials reach.
GUARD = "guard: connection None reaches AWS account 123456789012"
WAITING = f"Waiting for search domain {DOMAIN} (processing, or still being deleted)"


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's OpenSearch, with no pause between two descriptions of a domain."""
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(search_domains, "POLL_SECONDS", 0)
        yield


def _recreate(**kwargs: Any) -> RecreateSearchDomainsOperator:
    defaults = {"task_id": "recreate", "domains": [DOMAIN], "domain_shapes": {DOMAIN: SHAPE}, "aws_conn_id": None}
    return RecreateSearchDomainsOperator(**(defaults | kwargs), region_name=REGION)


def _described(*answers: dict[str, Any] | None) -> dict[str, Any]:
    """DescribeDomain answers with these statuses (``None``: no such domain) in turn, then asks moto."""
    script = list(answers)

    def answer(**_: Any) -> Any:
        if not script:
            return None
        status = script.pop(0)
        if status is None:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "Domain not found"}}
            return http_response(409, error), error
        return http_response(200, {}), {"DomainStatus": {"DomainName": DOMAIN, **status}}

    return {"before-call.opensearch.DescribeDomain": answer}


def _operator_events(logs: list[dict[str, Any]]) -> list[str]:
    """What the operator logged (Airflow's and boto3's own lines left out)."""
    noise = ("outside of the Task Runner", "No connection ID provided", "Found credentials")
    return [str(log["event"]) for log in logs if not any(part in str(log["event"]) for part in noise)]


def test_a_domain_still_being_deleted_is_waited_for_then_created(aws):
    with (
        client_events(_described({"Created": True, "Deleted": True})),
        recorded_calls() as calls,
        capture_logs() as logs,
    ):
        assert _recreate().execute(make_context()) == {"created": [DOMAIN], "ready": [DOMAIN]}
    assert [c.params["DomainName"] for c in calls if c.operation == "CreateDomain"] == [DOMAIN]
    assert _operator_events(logs) == [GUARD, WAITING, f"Created domains ['{DOMAIN}']; ['{DOMAIN}'] are ready"]


def test_an_existing_domain_listed_first_does_not_stop_the_others_being_created(aws):
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName=OTHER)
    with recorded_calls() as calls, capture_logs() as logs:
        result = _recreate(domains=[OTHER, DOMAIN]).execute(make_context())
    assert result == {"created": [DOMAIN], "ready": [OTHER, DOMAIN]}
    assert [c.params["DomainName"] for c in calls if c.operation == "CreateDomain"] == [DOMAIN]
    assert _operator_events(logs) == [GUARD, f"Created domains ['{DOMAIN}']; ['{OTHER}', '{DOMAIN}'] are ready"]


def test_a_domain_vanishing_while_it_is_created_fails_the_task_naming_it(aws):
    with client_events(_described(None, None)), pytest.raises(RuntimeError) as raised:
        _recreate().execute(make_context())
    assert str(raised.value) == f"search domain {DOMAIN} vanished while it was being created: clear this task"


def test_a_missing_domain_without_a_saved_configuration_fails_saying_how_to_bring_it_back(aws):
    with pytest.raises(RuntimeError) as raised:
        _recreate(domains=[OTHER], domain_shapes={}).execute(make_context())
    assert str(raised.value) == (
        f"search domains ['{OTHER}'] do not exist and no configuration of theirs was saved when they were "
        "deleted: create them (deploy the environment), then clear this task"
    )


def _clock(monkeypatch: pytest.MonkeyPatch, *readings: float) -> None:
    """The operator's monotonic clock reads ``readings`` in turn; its sleeps take no time."""
    times = iter(readings)
    monkeypatch.setattr(search_domains, "time", SimpleNamespace(monotonic=lambda: next(times), sleep=lambda _: None))


def test_a_domain_is_waited_for_an_hour_by_default_the_last_instant_included(aws, monkeypatch):
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName=DOMAIN)
    _clock(monkeypatch, 0.0, 3600.0)
    with client_events(_described({}, {"Processing": True})), capture_logs() as logs:
        assert _recreate().execute(make_context()) == {"created": [], "ready": [DOMAIN]}
    assert _operator_events(logs)[:2] == [GUARD, WAITING]


def test_a_domain_not_ready_an_hour_later_fails_by_default(aws, monkeypatch):
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName=DOMAIN)
    _clock(monkeypatch, 0.0, 3600.001)
    with client_events(_described({}, {"Processing": True})), pytest.raises(TimeoutError) as raised:
        _recreate().execute(make_context())
    assert (
        str(raised.value)
        == f"search domain {DOMAIN} is not ready after 3600.0 s: {{'DomainName': '{DOMAIN}', 'Processing': True}}"
    )


def test_a_dry_run_says_which_domains_would_come_back_and_which_are_missing(aws):
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName=DOMAIN)
    with recorded_calls() as calls, capture_logs() as logs:
        result = _recreate(domains=[OTHER, DOMAIN], dry_run=True).execute(make_context())
    assert result == {"dry_run": True, "would_create": [DOMAIN], "missing": [OTHER]}
    assert {c.operation for c in calls} <= {"GetCallerIdentity", "DescribeDomain"}
    assert _operator_events(logs) == [
        GUARD,
        f"dry run: once deleted, would create again ['{DOMAIN}'] from the configuration saved before the deletion",
    ]


def test_a_protected_domain_is_refused_naming_it_the_pattern_and_the_action():
    with recorded_calls() as calls, pytest.raises(ValueError) as raised:
        _recreate(domains=[], domain_shapes={"efcms-search-prod": SHAPE}).execute({})
    assert calls == []
    assert str(raised.value) == (
        "domain 'efcms-search-prod' matches protected pattern '*prod*' of protected (case-insensitive): "
        "refusing to recreate it; remove the pattern from protected only if this is not production"
    )
