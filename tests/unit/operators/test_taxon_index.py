from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.operators import taxon_index
from airflow_provider_bio.operators.taxon_index import (
    PROGRESS_KEY,
    CreateTaxonIndexesOperator,
    GlueTaxonIndexOperator,
    PlanTaxonIndexOperator,
    TaxonIndexReportOperator,
)
from scripts.local_aws import create_echo_function
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import FakeLambdaFaults, function_error, http_response, recorded_calls, throttled
from tests.support.http_recorder import recording_server
from tests.support.search_cluster import FakeCluster

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


# Checking remembered pairs against the indexes they were written to


def _cluster_with(monkeypatch, server_url: str) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_SEARCH_TEST", server_url)
    return "search_test"


def test_remembered_pairs_are_reused_while_their_indexes_are_the_same(lambda_function, monkeypatch):
    cluster = FakeCluster()
    cluster.create("scored_taxon_counts-v6")
    cluster.create("pipeline_runs-v6")
    store = FakeTaskStateStore()
    indexes = {
        "scored_taxon_counts_index_name": "scored_taxon_counts-v6",
        "pipeline_runs_index_name": "pipeline_runs-v6",
    }
    with recording_server(cluster) as server:
        conn = _cluster_with(monkeypatch, server.url)
        with FakeLambdaFaults().active():
            _operator(search_conn_id=conn, **indexes).execute(make_context(store))
        with FakeLambdaFaults().active() as again:
            _operator(search_conn_id=conn, **indexes).execute(make_context(store))
        assert sum(again.invocations.values()) == 0
        cluster.delete("pipeline_runs-v6")
        cluster.create("pipeline_runs-v6")  # a rollback dropped it; it was created again, empty
        with FakeLambdaFaults().active() as refilled:
            result = _operator(search_conn_id=conn, **indexes).execute(make_context(store))
    assert sorted(refilled.invocations) == sorted(map(tuple, PAIRS)) and result["invocations"] == len(PAIRS)
    settings = sorted({path for method, path in cluster.events if method == "GET"})
    assert settings == ["/pipeline_runs-v6/_settings", "/scored_taxon_counts-v6/_settings"]


def test_without_a_search_connection_the_indexes_are_not_looked_at(lambda_function, monkeypatch):
    cluster = FakeCluster()
    store = FakeTaskStateStore()
    with recording_server(cluster) as server:
        _cluster_with(monkeypatch, server.url)
        for _ in range(2):
            with FakeLambdaFaults().active() as faults:
                _operator(scored_taxon_counts_index_name="scored_taxon_counts-v6").execute(make_context(store))
    assert sum(faults.invocations.values()) == 0 and cluster.events == []


def test_a_search_connection_without_index_names_looks_at_no_index(lambda_function, monkeypatch):
    cluster = FakeCluster()
    with recording_server(cluster) as server:
        result = _operator(search_conn_id=_cluster_with(monkeypatch, server.url)).execute(make_context())
    assert result["confirmed"] == len(PAIRS) and cluster.events == []


# Planning a run


def _run_context(conf: dict | None, params: dict | None = None) -> dict:
    """A context whose DAG run was triggered with ``conf`` over the DAG's ``params``."""
    return make_context() | {"params": params or {}, "dag_run": SimpleNamespace(conf=conf)}


def _plan(**kwargs) -> PlanTaxonIndexOperator:
    return PlanTaxonIndexOperator(task_id="plan", aws_conn_id=None, region_name="us-west-2", **kwargs)


JOB_PARAMS = [
    {"pipeline_run_ids": [11, 12], "background_ids": [1, 2]},
    {"pipeline_run_ids": [13], "background_ids": [1]},
]


def test_the_plan_splits_the_pairs_into_chunks_sharing_the_run_arguments():
    conf = {
        "lambda_function_name": FUNCTION,
        "job_params": JOB_PARAMS,
        "chunk_size": 2,
        "concurrency": 6,
        "index_suffix": "v6",
        "swap_aliases": True,
    }
    context = _run_context(conf)
    chunks = _plan(search_conn_id="search_test").execute(context)
    shared = {
        "lambda_function_name": FUNCTION,
        "scored_taxon_counts_index_name": "scored_taxon_counts-v6",
        "pipeline_runs_index_name": "pipeline_runs-v6",
        "search_conn_id": "search_test",
        "chunk_count": 3,
        "max_in_flight": 3,
    }
    assert chunks == [
        {"chunk_number": 1, "pairs": [[11, 1], [11, 2]], **shared},
        {"chunk_number": 2, "pairs": [[12, 1], [12, 2]], **shared},
        {"chunk_number": 3, "pairs": [[13, 1]], **shared},
    ]
    assert context["ti"].xcoms["swap_aliases"] == {
        "scored_taxon_counts": "scored_taxon_counts-v6",
        "pipeline_runs": "pipeline_runs-v6",
    }


def test_the_plan_hands_the_default_search_connection_and_swaps_no_alias_unless_asked():
    context = _run_context({"job_params": JOB_PARAMS}, {"lambda_function_name": FUNCTION, "index_suffix": "v6"})
    chunks = _plan().execute(context)
    assert [(chunk["chunk_number"], chunk["search_conn_id"]) for chunk in chunks] == [(1, "search_default")]
    assert chunks[0]["pairs"] == [[11, 1], [11, 2], [12, 1], [12, 2], [13, 1]]
    assert context["ti"].xcoms["swap_aliases"] == {}


def _plan_from_input_file(document: dict) -> list[dict]:
    """Plan a run whose pairs come from ``document``, stored at s3://taxon-input/runs/input.json."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket="taxon-input", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket="taxon-input", Key="runs/input.json", Body=json.dumps(document).encode())
        conf = {"lambda_function_name": FUNCTION, "input_s3_uri": "s3://taxon-input/runs/input.json"}
        return _plan().execute(_run_context(conf))


def test_the_plan_reads_the_pairs_from_the_input_file():
    chunks = _plan_from_input_file({"job_params": JOB_PARAMS[1:], "concurrency": 50, "skip": [0]})
    assert [chunk["pairs"] for chunk in chunks] == [[[13, 1]]]
    assert chunks[0]["max_in_flight"] == 10  # the run's default concurrency 20 over 2 chunks at once, not the file's


def test_the_plan_warns_that_the_input_files_skip_and_concurrency_are_ignored_naming_the_file():
    with capture_logs() as logs:
        _plan_from_input_file({"job_params": JOB_PARAMS[1:], "concurrency": 50, "skip": [0]})
    assert [log["event"] for log in logs if "is ignored" in str(log["event"])] == [
        "s3://taxon-input/runs/input.json: 'skip' is ignored; confirmed pairs are remembered per chunk, "
        "so retrying or clearing a failed chunk replaces skip arrays",
        "s3://taxon-input/runs/input.json: 'concurrency' is ignored; the run's concurrency conf applies",
    ]


def test_the_plan_logs_its_pairs_chunks_and_invocations_in_flight():
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "chunk_size": 2, "concurrency": 6}
    with capture_logs() as logs:
        _plan().execute(_run_context(conf))
    assert [log["event"] for log in logs if "unique pairs" in str(log["event"])] == [
        "5 unique pairs in 3 chunks, 3 invocations in flight per chunk"
    ]


def test_the_plan_never_maps_more_chunks_than_airflows_max_map_length(monkeypatch):
    """A deployment with ``[core] max_map_length`` 2 would refuse a third mapped chunk: the chunks grow instead."""
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "chunk_size": 1, "concurrency": 6}
    chunks = _plan().execute(_run_context(conf))
    assert [chunk["pairs"] for chunk in chunks] == [[[11, 1], [11, 2], [12, 1]], [[12, 2], [13, 1]]]
    assert [(chunk["chunk_number"], chunk["chunk_count"]) for chunk in chunks] == [(1, 2), (2, 2)]


def test_the_plan_of_a_bad_conf_fails_without_a_retry_naming_each_field():
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "concurrency": 0, "colour": "blue"}
    with (
        recorded_calls() as calls,
        pytest.raises(
            AirflowFailException,
            match=r"unknown field\(s\) \['colour'\](.|\n)*concurrency: 0 is less than the minimum of 1",
        ),
    ):
        _plan().execute(_run_context(conf))
    assert calls == []


# Creating the fresh indexes


def test_fresh_indexes_are_created_when_the_run_asks(monkeypatch):
    cluster = FakeCluster()
    cluster.create("pipeline_runs-v6")
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "index_suffix": "v6", "create_indexes": True}
    with recording_server(cluster) as server:
        create = CreateTaxonIndexesOperator(task_id="create", search_conn_id=_cluster_with(monkeypatch, server.url))
        assert create.execute(_run_context(conf)) == ["scored_taxon_counts-v6"]
    assert sorted(cluster.indexes) == ["pipeline_runs-v6", "scored_taxon_counts-v6"]


def test_no_index_is_created_unless_the_run_asks(monkeypatch):
    cluster = FakeCluster()
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "index_suffix": "v6"}
    with recording_server(cluster) as server:
        create = CreateTaxonIndexesOperator(task_id="create", search_conn_id=_cluster_with(monkeypatch, server.url))
        assert create.execute(_run_context(conf)) == []
    assert cluster.events == []


def test_creating_indexes_for_a_bad_conf_fails_without_a_retry():
    conf = {"lambda_function_name": FUNCTION, "job_params": JOB_PARAMS, "create_indexes": True}
    with pytest.raises(AirflowFailException, match="create_indexes: needs index_suffix"):
        CreateTaxonIndexesOperator(task_id="create").execute(_run_context(conf))


# The run's report


class _PlanAndResults:
    """A task instance whose XComs are the plan's chunks and the chunks' results; records each pull."""

    def __init__(self, chunks: list | None, results: list) -> None:
        self.chunks, self.results, self.pulls = chunks, results, []

    def xcom_pull(self, task_ids: str, key: str = "return_value", map_indexes: list | None = None):
        self.pulls.append((task_ids, key, map_indexes))
        return self.chunks if task_ids == "plan" else self.results


def _chunk_result(confirmed: int, failed: list, unattempted: list, started: float, finished: float) -> dict:
    return {
        "confirmed": confirmed,
        "invocations": confirmed + len(failed),
        "failed": failed,
        "unattempted": unattempted,
        "started_at": started,
        "finished_at": finished,
    }


def _report(ti: _PlanAndResults) -> dict:
    return TaxonIndexReportOperator(task_id="report", plan_task_id="plan", chunk_task_id="index_chunk").execute(
        {"ti": ti}
    )


def test_the_report_totals_every_chunk():
    ti = _PlanAndResults(
        [{"pairs": [[11, 1], [11, 2]]}, {"pairs": [[12, 1], [12, 2]]}],
        [_chunk_result(2, [], [], 100.0, 104.0), _chunk_result(2, [], [], 101.0, 110.0)],
    )
    assert _report(ti) == {
        "pairs": 4,
        "chunks": 2,
        "confirmed": 4,
        "failed": [],
        "unattempted": [],
        "invocations": 4,
        "wall_seconds": 10.0,
        "invocations_per_second": 0.4,
    }
    assert ti.pulls == [("plan", "return_value", None), ("index_chunk", "chunk_result", [0, 1])]


def test_the_report_logs_the_run_totals_and_each_failed_pair():
    failure = {"pair": [12, 2], "error_type": "ValueError", "error_message": "pipeline run 12 not found"}
    ti = _PlanAndResults(
        [{"pairs": [[11, 1], [11, 2]]}, {"pairs": [[12, 1], [12, 2]]}],
        [_chunk_result(2, [], [], 100.0, 104.0), _chunk_result(1, [failure], [], 101.0, 110.0)],
    )
    with capture_logs() as logs, pytest.raises(RuntimeError):
        _report(ti)
    assert [log["event"] for log in logs if "pairs 4" in str(log["event"])] == [
        "batch_index_taxons report\n"
        "pairs 4 · chunks 2 · confirmed 3 · failed 1 · not attempted 0\n"
        "wall time 10.0 s · 4 invocations · 0.4 invocations/s\n"
        "  failed pipeline_run_id=12 background_id=2: ValueError: pipeline run 12 not found"
    ]


def test_the_report_fails_when_a_pair_is_unconfirmed():
    failure = {"pair": [12, 2], "error_type": "ValueError", "error_message": "x"}
    ti = _PlanAndResults(
        [{"pairs": [[11, 1], [11, 2]]}, {"pairs": [[12, 1], [12, 2]]}, {"pairs": [[13, 1]]}],
        [_chunk_result(2, [], [], 1.0, 2.0), _chunk_result(1, [failure], [], 1.0, 2.0), None],
    )
    with pytest.raises(RuntimeError, match=r"^2 of 5 pairs unconfirmed; retry or clear the failed chunk instances"):
        _report(ti)


def test_an_empty_plan_reports_nothing_to_do_without_pulling_chunk_results():
    ti = _PlanAndResults([], [])
    report = _report(ti)
    assert (report["pairs"], report["chunks"], report["confirmed"], report["invocations_per_second"]) == (0, 0, 0, 0.0)
    assert ti.pulls == [("plan", "return_value", None)]


def test_a_missing_plan_fails_the_report_naming_the_plan_task():
    with pytest.raises(RuntimeError, match=r"^plan left no plan: see its log"):
        _report(_PlanAndResults(None, []))


def test_the_report_runs_whatever_the_chunks_did_unless_told_otherwise():
    default = TaxonIndexReportOperator(task_id="report", plan_task_id="plan", chunk_task_id="index_chunk")
    told = TaxonIndexReportOperator(
        task_id="report2", plan_task_id="plan", chunk_task_id="index_chunk", trigger_rule="all_success"
    )
    assert (default.trigger_rule, told.trigger_rule) == ("all_done", "all_success")


# What a chunk reports, logs and sends


def _chunk_events(logs: list[dict]) -> list[str]:
    """What the chunk logged (Airflow's and boto3's own lines left out)."""
    noise = ("outside of the Task Runner", "No connection ID provided", "Found credentials")
    return [str(log["event"]) for log in logs if not any(part in str(log["event"]) for part in noise)]


def test_a_chunks_result_and_log_lines_name_the_chunk_its_counts_and_each_failed_pair(lambda_function, monkeypatch):
    wall = iter([100.0, 160.5])
    monkeypatch.setattr(taxon_index, "time", SimpleNamespace(time=lambda: next(wall), monotonic=lambda: 0.0))
    faults = FakeLambdaFaults(scripts={(12, 1): [function_error("ValueError", "pipeline run 12 not found")]})
    context = make_context()
    with faults.active(), capture_logs() as logs, pytest.raises(RuntimeError) as raised:
        _operator(max_in_flight=1, chunk_number=2, chunk_count=3).execute(context)
    assert str(raised.value) == (
        "chunk 2/3: 1 of 6 pairs unconfirmed; retry or clear this chunk to invoke only those:\n"
        "[12, 1] ValueError: pipeline run 12 not found"
    )
    assert context["ti"].xcoms["chunk_result"] == {
        "chunk": 2,
        "pairs": 6,
        "confirmed": 5,
        "invocations": 6,
        "failed": [{"pair": [12, 1], "error_type": "ValueError", "error_message": "pipeline run 12 not found"}],
        "unattempted": [],
        "started_at": 100.0,
        "finished_at": 160.5,
    }
    assert _chunk_events(logs) == [
        "chunk 2/3: 6 pairs, 0 confirmed by earlier tries, 6 to invoke with 1 in flight",
        "pair (12, 1) failed: ValueError: pipeline run 12 not found",
        "chunk 2/3: 5/6 confirmed, 6 invocations",
    ]
    assert context["ti"].xcoms["bio_lambda_function"] == {
        "region_name": "us-west-2",
        "aws_domain": "aws.amazon.com",
        "function_name": FUNCTION,
    }


def test_after_max_consecutive_failures_the_chunk_stops_and_names_the_pairs_not_invoked(lambda_function):
    broken = {tuple(pair): [function_error("OperationalError", "MySQL down")] for pair in PAIRS}
    context = make_context()
    with (
        FakeLambdaFaults(scripts=broken).active() as faults,
        capture_logs() as logs,
        pytest.raises(RuntimeError) as raised,
    ):
        _operator(max_in_flight=1, max_consecutive_failures=2).execute(context)
    assert sum(faults.invocations.values()) == 2
    assert context["ti"].xcoms["chunk_result"]["unattempted"] == [[12, 1], [12, 2], [13, 1], [13, 2]]
    assert [event for event in _chunk_events(logs) if "in a row" in event] == [
        "2 failures in a row: invoking no more pairs in this try"
    ]
    assert str(raised.value) == (
        "chunk 1/1: 6 of 6 pairs unconfirmed; retry or clear this chunk to invoke only those:\n"
        "[11, 1] OperationalError: MySQL down\n"
        "[11, 2] OperationalError: MySQL down\n"
        "[12, 1] not invoked (stopped after failures in a row)\n"
        "[12, 2] not invoked (stopped after failures in a row)\n"
        "[13, 1] not invoked (stopped after failures in a row)\n"
        "[13, 2] not invoked (stopped after failures in a row)"
    )


def test_a_success_between_failures_resets_the_count_of_failures_in_a_row(lambda_function):
    scripts = {(11, 1): [function_error("KeyError", "x")], (12, 1): [function_error("KeyError", "y")]}
    with FakeLambdaFaults(scripts=scripts).active() as faults, pytest.raises(RuntimeError, match="2 of 6"):
        _operator(max_in_flight=1, max_consecutive_failures=2).execute(make_context())
    assert sum(faults.invocations.values()) == 6


def test_each_pair_is_a_request_response_invocation_carrying_both_index_names(lambda_function):
    indexes = {
        "scored_taxon_counts_index_name": "scored_taxon_counts-v6",
        "pipeline_runs_index_name": "pipeline_runs-v6",
    }
    with FakeLambdaFaults().active() as faults, recorded_calls() as calls:
        _operator(pairs=[[11, 1]], **indexes).execute(make_context())
    assert faults.payloads == [{"pipeline_run_id": 11, "background_id": 1, **indexes}]
    assert [(c.params["FunctionName"], c.params["InvocationType"]) for c in calls if c.operation == "Invoke"] == [
        (FUNCTION, "RequestResponse")
    ]


def test_an_aws_error_is_recorded_with_its_code_and_message(lambda_function):
    missing = http_response(
        404,
        {"Type": "User", "Message": f"Function not found: {FUNCTION}"},
        {"x-amzn-ErrorType": "ResourceNotFoundException"},
    )
    context = make_context()
    with FakeLambdaFaults(scripts={(11, 1): [missing]}).active(), pytest.raises(RuntimeError):
        _operator(pairs=[[11, 1]]).execute(context)
    assert context["ti"].xcoms["chunk_result"]["failed"] == [
        {"pair": [11, 1], "error_type": "ResourceNotFoundException", "error_message": f"Function not found: {FUNCTION}"}
    ]


def test_an_unreachable_lambda_is_recorded_with_the_connection_error(lambda_function):
    unreachable = [EndpointConnectionError(endpoint_url="http://lambda.local/") for _ in range(6)]
    context = make_context()
    with FakeLambdaFaults(scripts={(11, 1): unreachable}).active(), pytest.raises(RuntimeError):
        _operator(pairs=[[11, 1]]).execute(context)
    assert context["ti"].xcoms["chunk_result"]["failed"] == [
        {
            "pair": [11, 1],
            "error_type": "EndpointConnectionError",
            "error_message": 'Could not connect to the endpoint URL: "http://lambda.local/"',
        }
    ]


def test_transport_errors_are_reinvoked_after_doubling_waits_capped_at_30_seconds(lambda_function, monkeypatch):
    monkeypatch.setattr(taxon_index, "TRANSPORT_BACKOFF_SECONDS", 2.0)
    waits = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    transport = [function_error("TransportError", "ConnectionTimeout") for _ in range(5)]
    with FakeLambdaFaults(scripts={(11, 1): transport}).active() as faults:
        result = _operator(pairs=[[11, 1]], transport_error_tries=6).execute(make_context())
    assert (result["confirmed"], result["invocations"], faults.invocations[(11, 1)]) == (1, 6, 6)
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0]


def test_a_pair_still_answering_transport_errors_fails_after_transport_error_tries(lambda_function):
    transport = [function_error("TransportError", "ConnectionTimeout") for _ in range(3)]
    context = make_context()
    with FakeLambdaFaults(scripts={(11, 1): transport}).active() as faults, pytest.raises(RuntimeError):
        _operator(pairs=[[11, 1]], transport_error_tries=2).execute(context)
    assert faults.invocations[(11, 1)] == 2
    result = context["ti"].xcoms["chunk_result"]
    assert (result["invocations"], result["failed"]) == (
        2,
        [{"pair": [11, 1], "error_type": "TransportError", "error_message": "ConnectionTimeout"}],
    )


def test_progress_is_saved_once_a_second_has_passed_not_after_every_pair(lambda_function, monkeypatch):
    """The clock reads 0 when the chunk starts invoking, then 1.0 s for good: one save on time, one at the end."""
    readings = iter([0.0])
    monkeypatch.setattr(taxon_index, "time", SimpleNamespace(time=lambda: 0.0, monotonic=lambda: next(readings, 1.0)))
    store = FakeTaskStateStore()
    saves = []
    original_set = store.set
    monkeypatch.setattr(store, "set", lambda key, value, **kw: saves.append(key) or original_set(key, value, **kw))
    with FakeLambdaFaults().active():
        _operator(max_in_flight=1).execute(make_context(store))
    assert saves == [PROGRESS_KEY, PROGRESS_KEY]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"pairs": [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0]]},
            "pairs must be [pipeline_run_id, background_id] positive integers; bad: "
            "[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]",
            id="pairs",
        ),
        pytest.param(
            {"lambda_function_name": ""},
            "lambda_function_name is empty: name the taxon-indexing Lambda",
            id="lambda_function_name",
        ),
        pytest.param({"max_in_flight": 0}, "max_in_flight must be at least 1, got 0", id="max_in_flight"),
    ],
)
def test_bad_chunk_arguments_are_refused_in_so_many_words(kwargs, message):
    with pytest.raises(ValueError) as raised:
        _operator(**kwargs).execute(make_context())
    assert str(raised.value) == message
