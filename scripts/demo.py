"""``make demo``: run batch_index_taxons end to end on SQLite Airflow against a local moto server.

Creates a temporary AIRFLOW_HOME, starts moto on 127.0.0.1, provisions the demo world, runs the
DAG with ``airflow dags test``, prints a short summary and removes everything it started.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.local_aws import airflow_environment, aws_environment, moto_server, provision_demo_world

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, check=False)


def _report(env: dict[str, str], dag_id: str) -> dict | None:
    """Read the report task's return value from the demo's metadata database."""
    script = (
        "import json\n"
        "from airflow.models.xcom import XComModel\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    row = s.query(XComModel).filter_by(dag_id={dag_id!r}, task_id='report', key='return_value')"
        ".order_by(XComModel.timestamp.desc()).first()\n"
        "    print(json.dumps(XComModel.deserialize_value(row) if row else None))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    home = tempfile.mkdtemp(prefix="bio-demo-airflow-")
    try:
        env = airflow_environment(home, str(REPO))
        started = time.monotonic()
        migrated = _run(["db", "migrate"], env)
        if migrated.returncode:
            print(migrated.stdout, migrated.stderr, file=sys.stderr)
            return 1
        print(f"Airflow metadata database ready in {time.monotonic() - started:.1f} s ({home})")
        with moto_server() as endpoint:
            env |= aws_environment(endpoint)
            world = provision_demo_world(endpoint)
            conf = {"input_s3_uri": world.input_s3_uri, "lambda_function_name": world.function_name, "chunk_size": 5}
            print(f"moto on {endpoint}; running batch_index_taxons with conf {json.dumps(conf)}")
            started = time.monotonic()
            run = _run(["dags", "test", "batch_index_taxons", "--conf", json.dumps(conf)], env)
            elapsed = time.monotonic() - started
            report = _report(env, "batch_index_taxons")
        if run.returncode or not report:
            print(run.stdout[-4000:], run.stderr[-4000:], file=sys.stderr)
            print("batch_index_taxons FAILED", file=sys.stderr)
            return 1
        print(
            f"batch_index_taxons: pairs {report['pairs']} · chunks {report['chunks']} · "
            f"confirmed {report['confirmed']} · failed {len(report['failed'])} · "
            f"wall time {report['wall_seconds']:.2f} s of invocations, {elapsed:.1f} s for the whole DAG run"
        )
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
