"""Run batch_index_taxons with ``dag.test()`` on moto: a chunk fails part way, its retry resumes."""

from __future__ import annotations

import json
import threading
import time

from airflow_provider_bio.operators import taxon_index
from tests.integration.conftest import CONF
from tests.support.botocore_events import FakeLambdaFaults, client_events, function_error, recorded_calls
from tests.support.search_cluster import FakeCluster


def _states(run):
    return {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_a_failed_chunk_retries_only_its_unconfirmed_pairs(dag):
    faults = FakeLambdaFaults(scripts={(2, 3): [function_error("ValueError", "temporarily missing")]})
    with faults.active():
        run = dag.test(run_conf=CONF)
    assert run.state == "success"
    states = _states(run)
    assert states[("index_chunk", 1)] == ("success", 2)  # pairs (2, 1)..(2, 4): failed once, retried
    assert states[("index_chunk", 0)] == ("success", 1) and states[("index_chunk", 2)] == ("success", 1)
    assert faults.invocations[(2, 3)] == 2
    assert {pair: n for pair, n in faults.invocations.items() if pair != (2, 3)} == {
        (pr, bg): 1 for pr in (1, 2, 3) for bg in (1, 2, 3, 4) if (pr, bg) != (2, 3)
    }
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert report["confirmed"] == 12 and report["failed"] == []


def test_a_chunk_that_keeps_failing_fails_the_run_naming_the_pair(dag):
    faults = FakeLambdaFaults(scripts={(3, 1): [function_error("ValueError", "gone")] * 2})
    with faults.active():
        run = dag.test(run_conf=CONF)
    assert run.state == "failed"
    states = _states(run)
    assert states[("index_chunk", 2)] == ("failed", 2)
    assert states[("report", -1)][0] == "failed"
    assert states[("swap_aliases", -1)][0] == "upstream_failed"
    assert faults.invocations[(3, 1)] == 2 and faults.invocations[(3, 2)] == 1


def test_confirmed_pairs_survive_a_clear_of_the_chunk(dag):
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.session import create_session

    from airflow_provider_bio.core.taxon_index import decode_confirmed

    with FakeLambdaFaults(scripts={(3, 1): [function_error("ValueError", "gone")] * 2}).active():
        run = dag.test(run_conf=CONF)

    def saved_progress(session):
        row = session.query(TaskStateStoreModel).filter_by(
            run_id=run.run_id, task_id="index_chunk", map_index=2, key=taxon_index.PROGRESS_KEY
        )
        return json.loads(row.one().value)

    with create_session() as session:
        assert decode_confirmed(saved_progress(session)["value"], 4) == {1, 2, 3}
        ti = run.get_task_instance("index_chunk", map_index=2, session=session)
        clear_task_instances([ti], session)
    with create_session() as session:
        assert run.get_task_instance("index_chunk", map_index=2, session=session).state is None
        assert decode_confirmed(saved_progress(session)["value"], 4) == {1, 2, 3}


def test_invalid_conf_fails_in_plan_with_no_aws_call(dag):
    with recorded_calls() as calls:
        run = dag.test(run_conf=CONF | {"job_params": None})
    assert run.state == "failed"
    states = _states(run)
    assert states[("plan", -1)] == ("failed", 1) and states[("create_indexes", -1)] == ("failed", 1)
    assert calls == []


def test_fresh_indexes_are_filled_and_aliases_move_only_at_the_end(dag, monkeypatch):
    from tests.support.http_recorder import recording_server

    events = []
    cluster = FakeCluster()
    cluster.create("scored_taxon_counts-v5")
    cluster.aliases["scored_taxon_counts"] = {"scored_taxon_counts-v5"}

    def search(method, path, body):
        events.append(("search", method, path))
        return cluster(method, path, body)

    faults = FakeLambdaFaults()
    original = faults.before_send

    def invoked(request, **kwargs):
        events.append(("lambda",))
        return original(request, **kwargs)

    faults.before_send = invoked
    conf = CONF | {"index_suffix": "v6", "create_indexes": True, "swap_aliases": True}
    with recording_server(search) as server, faults.active():
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        run = dag.test(run_conf=conf)
    assert run.state == "success"
    kinds = [event[0] for event in events]
    first_lambda, last_lambda = kinds.index("lambda"), len(kinds) - 1 - kinds[::-1].index("lambda")
    puts = [e[2] for e in events[:first_lambda] if e[1] == "PUT"]
    assert sorted(puts) == ["/pipeline_runs-v6", "/scored_taxon_counts-v6"]
    assert [e[2] for e in events[last_lambda:] if e[0] == "search" and e[1] == "POST"] == ["/_aliases"]
    assert {p["scored_taxon_counts_index_name"] for p in faults.payloads} == {"scored_taxon_counts-v6"}
    assert {p["pipeline_runs_index_name"] for p in faults.payloads} == {"pipeline_runs-v6"}


def test_clearing_a_finished_run_after_its_indexes_were_recreated_fills_them_again(dag, monkeypatch):
    """Case: the chunks trusted their remembered pairs, so a cleared run moved the aliases onto
    fresh indexes that had been deleted and recreated empty since."""
    import pendulum

    from tests.support.dag_runs import clear_and_rerun
    from tests.support.http_recorder import recording_server

    cluster = FakeCluster()
    faults = FakeLambdaFaults()
    conf = CONF | {"index_suffix": "v6", "create_indexes": True, "swap_aliases": True}
    logical_date = pendulum.datetime(2026, 12, 1, tz="UTC")
    with recording_server(cluster) as server, faults.active():
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        assert dag.test(run_conf=conf, logical_date=logical_date, run_after=logical_date).state == "success"
        first = sum(faults.invocations.values())
        for index in ("scored_taxon_counts-v6", "pipeline_runs-v6"):  # a rollback dropped the fresh indexes
            cluster.delete(index)
        cleared = clear_and_rerun(dag, logical_date)
    assert cleared.state == "success"
    assert first == 12 and sum(faults.invocations.values()) == 24, "every pair is indexed again into the new indexes"
    assert cluster.aliases["scored_taxon_counts"] == {"scored_taxon_counts-v6"}


def test_whole_numbers_written_as_floats_run_like_ints(dag):
    run = dag.test(run_conf=CONF | {"chunk_size": 4.0, "concurrency": 4.0})
    assert run.state == "success"
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    assert report["confirmed"] == 12 and report["failed"] == []


def test_the_chunks_are_mapped_two_at_a_time_per_run(dag):
    assert dag.get_task("index_chunk").partial_kwargs.get("max_active_tis_per_dagrun") == 2


class _InFlight:
    """Counts Lambda invocations in flight at once (each held open a little in ``before-send``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def before_send(self, **_):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self._lock:
            self.now -= 1


def test_no_more_invocations_in_flight_than_the_runs_concurrency(dag):
    in_flight = _InFlight()
    with client_events({"before-send.lambda.Invoke": in_flight.before_send}):
        run = dag.test(run_conf=CONF)
    assert run.state == "success"
    planned = run.get_task_instance("plan").xcom_pull(task_ids="plan")
    # 12 pairs in chunks of 4 at concurrency 4, two chunks at a time: 2 invocations per chunk.
    assert [chunk["max_in_flight"] for chunk in planned] == [2, 2, 2]
    # dag.test() runs the mapped chunks one after another, so the run-wide bound is only exercised
    # up to one chunk's 2 here; the mapping's max_active_tis_per_dagrun is checked in the test above.
    assert 2 <= in_flight.most <= CONF["concurrency"]
