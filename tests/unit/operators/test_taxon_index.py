from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from airflow_provider_bio.operators import taxon_index
from airflow_provider_bio.operators.taxon_index import PROGRESS_KEY, GlueTaxonIndexOperator
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import FakeLambdaFaults, function_error, recorded_calls, throttled

FUNCTION = "taxon-indexing-lambda-test-index_taxons"
PAIRS = [[pr, bg] for pr in (11, 12, 13) for bg in (1, 2)]


@pytest.fixture
def lambda_function(monkeypatch):
    """moto's Lambda in no-Docker mode (answers 200 echoing the event), with no backoff waits."""
    monkeypatch.setattr(taxon_index, "TRANSPORT_BACKOFF_SECONDS", 0)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        create_echo_function(None, FUNCTION)
        yield FUNCTION


def _operator(**kwargs):
    defaults = {
        "task_id": "index_chunk",
        "pairs": PAIRS,
        "lambda_function_name": FUNCTION,
        "max_in_flight": 3,
        "aws_conn_id": None,
        "region_name": "us-west-2",
    }
    return GlueTaxonIndexOperator(**(defaults | kwargs))


def test_every_pair_is_invoked_once_with_the_lambda_payload(lambda_function):
    context = make_context()
    with FakeLambdaFaults().active() as faults:
        result = _operator(scored_taxon_counts_index_name="scored_taxon_counts-v6").execute(context)
    assert result["confirmed"] == len(PAIRS) and result["failed"] == [] and result["invocations"] == len(PAIRS)
    assert sorted(faults.invocations) == sorted(map(tuple, PAIRS))
    assert set(faults.invocations.values()) == {1}
    assert faults.payloads[0].keys() == {"pipeline_run_id", "background_id", "scored_taxon_counts_index_name"}
    assert context["ti"].xcoms["chunk_result"] == result
    assert context["ti"].xcoms["bio_lambda_function"]["function_name"] == FUNCTION


def test_throttles_connection_failures_and_transport_errors_are_retried(lambda_function):
    faults = FakeLambdaFaults(
        scripts={
            (11, 1): [throttled(), throttled()],
            (12, 2): [EndpointConnectionError(endpoint_url="http://lambda.local/")],
            (13, 1): [function_error("TransportError", "ConnectionTimeout"), function_error("TransportError", "x")],
        }
    )
    with faults.active():
        result = _operator().execute(make_context())
    assert result["confirmed"] == len(PAIRS)
    assert faults.invocations[(11, 1)] == 3
    assert faults.invocations[(12, 2)] == 2
    assert faults.invocations[(13, 1)] == 3
    assert result["invocations"] == len(PAIRS) + 2  # TransportError re-invocations; botocore's retries are inside


def test_a_function_error_is_recorded_and_the_chunk_goes_on_then_fails_naming_the_pair(lambda_function):
    faults = FakeLambdaFaults(scripts={(12, 1): [function_error("ValueError", "pipeline run 12 not found")]})
    context = make_context()
    with faults.active(), pytest.raises(RuntimeError) as raised:
        _operator(max_in_flight=1).execute(context)
    assert "[12, 1] ValueError: pipeline run 12 not found" in str(raised.value)
    result = context["ti"].xcoms["chunk_result"]
    assert result["confirmed"] == len(PAIRS) - 1
    assert result["failed"] == [
        {"pair": [12, 1], "error_type": "ValueError", "error_message": "pipeline run 12 not found"}
    ]
    assert faults.invocations[(12, 1)] == 1 and sum(faults.invocations.values()) == len(PAIRS)


def test_a_broken_backend_is_not_hammered(lambda_function):
    broken = {tuple(pair): [function_error("OperationalError", "MySQL down")] for pair in PAIRS}
    context = make_context()
    with FakeLambdaFaults(scripts=broken).active() as faults, pytest.raises(RuntimeError, match="not invoked"):
        _operator(max_in_flight=1, max_consecutive_failures=3).execute(context)
    assert sum(faults.invocations.values()) == 3
    assert len(context["ti"].xcoms["chunk_result"]["unattempted"]) == len(PAIRS) - 3


def test_a_retry_invokes_only_the_pairs_not_yet_confirmed(lambda_function):
    store = FakeTaskStateStore()
    first = FakeLambdaFaults(
        scripts={(11, 2): [function_error("ValueError", "x")], (13, 2): [function_error("KeyError", "y")]}
    )
    with first.active(), pytest.raises(RuntimeError):
        _operator().execute(make_context(store))
    assert store.get(PROGRESS_KEY) is not None
    with FakeLambdaFaults().active() as second:
        result = _operator().execute(make_context(store))
    assert sorted(second.invocations) == [(11, 2), (13, 2)]
    assert result["confirmed"] == len(PAIRS) and result["invocations"] == 2
    with FakeLambdaFaults().active() as third:
        _operator().execute(make_context(store))
    assert sum(third.invocations.values()) == 0


def test_progress_saved_for_other_pairs_is_not_reused(lambda_function):
    store = FakeTaskStateStore()
    with FakeLambdaFaults().active():
        _operator(pairs=PAIRS[:3]).execute(make_context(store))
    with FakeLambdaFaults().active() as faults:
        _operator(pairs=PAIRS[3:]).execute(make_context(store))
    assert sum(faults.invocations.values()) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pairs": [[1, 0]]}, "positive integers"),
        ({"pairs": [[1, 2, 3]]}, "positive integers"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"lambda_function_name": ""}, "lambda_function_name"),
    ],
)
def test_bad_arguments_fail_before_any_aws_call(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError, match=message):
        _operator(**kwargs).execute(make_context())
    assert calls == []
