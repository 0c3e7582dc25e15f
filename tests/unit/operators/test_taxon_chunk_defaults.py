"""A taxon-indexing chunk built with no tuning arguments: its label, invocations in flight and patience."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators import taxon_index
from airflow_provider_bio.operators.taxon_index import GlueTaxonIndexOperator
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import make_context
from tests.support.botocore_events import FakeLambdaFaults, function_error

FUNCTION = "taxon-indexing-lambda-test-index_taxons"
PAIRS = [[pr, bg] for pr in (11, 12, 13) for bg in (1, 2)]


@pytest.fixture
def lambda_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's Lambda in no-Docker mode (answers 200 echoing the event), with no backoff waits."""
    monkeypatch.setattr(taxon_index, "TRANSPORT_BACKOFF_SECONDS", 0)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        create_echo_function(None, FUNCTION)
        yield FUNCTION


def _chunk(**kwargs: object) -> GlueTaxonIndexOperator:
    return GlueTaxonIndexOperator(
        task_id="index_chunk", lambda_function_name=FUNCTION, aws_conn_id=None, region_name="us-west-2", **kwargs
    )


def test_by_default_a_chunk_is_chunk_1_of_1_with_20_invocations_in_flight(lambda_function):
    with FakeLambdaFaults().active(), capture_logs() as logs:
        _chunk(pairs=PAIRS).execute(make_context())
    events = [str(log["event"]) for log in logs]
    assert "chunk 1/1: 6 pairs, 0 confirmed by earlier tries, 6 to invoke with 20 in flight" in events
    assert "chunk 1/1: 6/6 confirmed, 6 invocations" in events


def test_by_default_a_pair_answering_transport_errors_is_invoked_5_times(lambda_function):
    transport = [function_error("TransportError", "ConnectionTimeout") for _ in range(6)]
    with FakeLambdaFaults(scripts={(11, 1): transport}).active() as faults, pytest.raises(RuntimeError):
        _chunk(pairs=[[11, 1]]).execute(make_context())
    assert faults.invocations[(11, 1)] == 5


def test_by_default_a_chunk_stops_after_5_failures_in_a_row(lambda_function):
    broken = {tuple(pair): [function_error("OperationalError", "MySQL down")] for pair in PAIRS}
    with FakeLambdaFaults(scripts=broken).active() as faults, pytest.raises(RuntimeError, match="not invoked"):
        _chunk(pairs=PAIRS, max_in_flight=1).execute(make_context())
    assert sum(faults.invocations.values()) == 5
