"""``make bench``: fan-out benchmarks against a fake Lambda with a fixed latency, ratios to the floor.

1. DAG file parse time, in a fresh interpreter that has already imported Airflow.
2. GlueTaxonIndexOperator alone: PAIRS pairs at CONCURRENCY in flight.
3. Whole DAG runs under ``airflow standalone`` (LocalExecutor, SQLite), side by side in one
   scheduler: batch_index_taxons, and the naive port (one mapped task per lane, each invoking
   its pairs one after another).

The floor is PAIRS x LATENCY / CONCURRENCY: no schedule can beat it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from scripts.fake_lambda import fake_lambda_process
from scripts.local_aws import FAKE_CREDENTIALS, airflow_environment

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "2000"))
CONCURRENCY = 20
LATENCY = 0.1
FLOOR = PAIRS * LATENCY / CONCURRENCY
JOB_PARAMS = [{"pipeline_run_ids": list(range(1, PAIRS // 10 + 1)), "background_ids": list(range(1, 11))}]


def parse_time() -> float:
    """Seconds to parse dags/batch_index_taxons.py once Airflow is imported (best of 5 fresh interpreters)."""
    script = (
        "import airflow, airflow.sdk, runpy, time\n"
        "t = time.perf_counter()\n"
        f"runpy.run_path({str(REPO / 'dags/batch_index_taxons.py')!r})\n"
        "print(time.perf_counter() - t)\n"
    )
    home = tempfile.mkdtemp(prefix="bio-bench-parse-")
    env = airflow_environment(home, str(REPO))
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        for _ in range(5)
    ]
    shutil.rmtree(home, ignore_errors=True)
    return min(float(run.stdout.strip().splitlines()[-1]) for run in runs)


class _Ti:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


def operator_alone(endpoint: str) -> float:
    """Wall seconds for one GlueTaxonIndexOperator over every pair at CONCURRENCY in flight."""
    from airflow_provider_bio.core.taxon_index import expand_pairs
    from airflow_provider_bio.operators.taxon_index import GlueTaxonIndexOperator

    os.environ.update(FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL_LAMBDA": endpoint})
    operator = GlueTaxonIndexOperator(
        task_id="bench",
        pairs=[list(pair) for pair in expand_pairs(JOB_PARAMS)],
        lambda_function_name="bench-function",
        max_in_flight=CONCURRENCY,
        aws_conn_id=None,
    )
    started = time.monotonic()
    result = operator.execute({"ti": _Ti(), "task_state_store": None})
    elapsed = time.monotonic() - started
    assert result["confirmed"] == PAIRS, result
    return elapsed


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"gave up waiting for {what}")


def dag_runs(endpoint: str) -> dict[str, dict[str, Any]]:
    """Trigger both DAGs under ``airflow standalone``, one after the other; return their timings."""
    home = tempfile.mkdtemp(prefix="bio-bench-airflow-")
    dags = Path(home, "dags")
    dags.mkdir()
    (dags / "batch_index_taxons.py").symlink_to(REPO / "dags/batch_index_taxons.py")
    (dags / "naive_fanout.py").symlink_to(REPO / "scripts/bench_dags/naive_fanout.py")
    env = airflow_environment(home, str(REPO), api_port=_free_port()) | FAKE_CREDENTIALS
    env |= {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AWS_ENDPOINT_URL_LAMBDA": endpoint,
    }
    os.environ.update(env)
    log = open(Path(home, "standalone.log"), "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(
        [AIRFLOW, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        def parsed() -> bool:
            try:
                with create_session() as session:
                    found = {d.dag_id for d in session.query(DagModel).filter(DagModel.is_stale.is_(False))}
                    return {"batch_index_taxons", "naive_fanout"} <= found
            except Exception:
                return False

        def serving() -> bool:
            health = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
            try:
                return urllib.request.urlopen(health, timeout=2).status == 200
            except OSError:
                return False

        _wait_for(serving, 300, "the api-server (tasks report to its execution API)")
        _wait_for(parsed, 240, "airflow standalone to parse the DAGs")
        time.sleep(5)  # let start-up work settle before timing
        timings = {}
        base = {"job_params": JOB_PARAMS, "concurrency": CONCURRENCY, "lambda_function_name": "bench-function"}
        ours = base | {"chunk_size": PAIRS // 2}
        runs = (
            ("batch_index_taxons", "cold", ours),
            ("naive_fanout", "warm", base),
            ("batch_index_taxons", "warm", ours),
        )
        for dag_id, warmth, conf in runs:
            subprocess.run(
                [AIRFLOW, "dags", "trigger", dag_id, "--conf", json.dumps(conf)],
                env=env,
                check=True,
                capture_output=True,
            )

            def finished(dag_id: str = dag_id) -> Any:
                with create_session() as session:
                    run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
                    if run and run.state in ("success", "failed"):
                        tis = [
                            (ti.task_id, ti.map_index, ti.start_date, ti.end_date)
                            for ti in run.get_task_instances(session=session)
                        ]
                        return run.state, run.queued_at, run.start_date, run.end_date, tis
                    return None

            state, queued, start, end, tis = _wait_for(finished, 600, f"{dag_id} to finish")
            timings[f"{dag_id} ({warmth} workers)"] = {
                "state": state,
                "queued_to_end": (end - queued).total_seconds(),
                "start_to_end": (end - start).total_seconds(),
                "tasks": sorted((t for t in tis if t[2]), key=lambda t: t[2]),
            }
        return timings
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    print(f"floor: {PAIRS} pairs x {LATENCY * 1000:.0f} ms / {CONCURRENCY} in flight = {FLOOR:.1f} s")
    if "--no-parse" not in sys.argv:
        parse = parse_time()
        print(f"DAG file parse (Airflow already imported): {parse * 1000:.0f} ms (target < 300 ms)")
    with fake_lambda_process(LATENCY) as endpoint:
        # DAG runs first: they point this process's Airflow settings at their own AIRFLOW_HOME.
        timings = {} if "--no-dag" in sys.argv else dag_runs(endpoint)
        alone = operator_alone(endpoint)
    print(f"operator alone: {alone:.2f} s = {alone / FLOOR:.3f}x the floor (target <= 1.15x)")
    for dag_id, timing in timings.items():
        print(
            f"{dag_id}: {timing['state']}, queued to end {timing['queued_to_end']:.1f} s = "
            f"{timing['queued_to_end'] / FLOOR:.2f}x the floor; run start to end {timing['start_to_end']:.1f} s = "
            f"{timing['start_to_end'] / FLOOR:.2f}x (target <= 1.5x)"
        )
        origin = timing["tasks"][0][2]
        for task_id, map_index, start, end in timing["tasks"]:
            if dag_id.startswith("batch_index_taxons") or map_index in (-1, 0):
                label = task_id if map_index < 0 else f"{task_id}[{map_index}]"
                began, ended = (start - origin).total_seconds(), (end - origin).total_seconds()
                print(f"    {label:<18} {began:6.1f} s -> {ended:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
