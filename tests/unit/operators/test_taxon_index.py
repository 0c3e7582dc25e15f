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


def _confirmed_positions(store):
    """Positions the stored progress says are confirmed: its value is a base64 bitmap, one bit per pair."""
    import base64

    saved = store.get(PROGRESS_KEY)
    if saved is None:
        return set()
    bits = base64.b64decode(saved["value"])
    return {position for position in range(len(bits) * 8) if bits[position // 8] >> (position % 8) & 1}


def test_progress_is_saved_while_invoking_not_only_at_the_end(lambda_function):
    """README: confirmed pairs are saved every second (SAVE_EVERY_SECONDS) while the chunk runs."""
    import json
    import time

    from tests.support.botocore_events import client_events

    store = FakeTaskStateStore()
    seen_by_the_last_invocation = []

    def slow(request, **_):
        time.sleep(0.45)
        payload = json.loads(request.body)
        if (payload["pipeline_run_id"], payload["background_id"]) == (13, 2):
            seen_by_the_last_invocation.append(_confirmed_positions(store))

    assert taxon_index.SAVE_EVERY_SECONDS == 1.0
    with client_events({"before-send.lambda.Invoke": slow}):
        result = _operator(max_in_flight=1).execute(make_context(store))
    assert result["confirmed"] == len(PAIRS)
    # One at a time, 0.45 s each: the last pair starts at ~2.25 s, after a save at ~1.35 s (3 pairs confirmed).
    (seen,) = seen_by_the_last_invocation
    assert {0, 1, 2} <= seen and 5 not in seen
    assert _confirmed_positions(store) == {0, 1, 2, 3, 4, 5}


def test_progress_is_stored_never_to_expire(lambda_function):
    """The chunk's progress must outlive the store's default retention: a clear days later still resumes."""
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    store = FakeTaskStateStore()
    with FakeLambdaFaults().active():
        _operator().execute(make_context(store))
    assert store.retention == {PROGRESS_KEY: NEVER_EXPIRE}


@pytest.mark.parametrize(
    ("botocore_config", "expected"),
    [
        pytest.param(None, (905, 10, {"mode": "standard", "total_max_attempts": 6}), id="defaults"),
        pytest.param(
            {"read_timeout": 60, "retries": {"mode": "adaptive", "total_max_attempts": 2}},
            (60, 10, {"mode": "adaptive", "total_max_attempts": 2}),
            id="botocore_config overrides",
        ),
    ],
)
def test_the_lambda_client_waits_for_the_function_and_retries(lambda_function, botocore_config, expected):
    """The Lambda may run 900 s: the client reads for 905 s and retries throttles up to 6 attempts in all."""
    config = _operator(max_in_flight=7, botocore_config=botocore_config).hook.conn.meta.config
    assert (config.read_timeout, config.connect_timeout, config.retries) == expected
    assert config.max_pool_connections == 7
