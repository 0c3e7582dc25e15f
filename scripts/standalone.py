"""``make airflow``: ``airflow standalone`` (SQLite, LocalExecutor) with the demo worlds on a moto server.

Keeps its AIRFLOW_HOME in .airflow/ so runs survive a restart (the moto world is provisioned anew
each time). The UI listens on http://127.0.0.1:$PORT only (default 8080). Of the glue_to_<env>
DAGs only glue_to_demo is loaded (the production-shaped glue_to_test and glue_to_mig would run
on their schedules as soon as they were unpaused). Once Airflow answers its health check, the
login (user ``admin``, the password Airflow generated, kept in
.airflow/simple_auth_manager_passwords.json.generated) and the example confs are printed again.
Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from scripts.local_aws import (
    BIOINDEX_DEMO_BUCKET,
    LOWER_ENV_DEMO,
    airflow_environment,
    aws_environment,
    die_with_parent,
    moto_server,
    provision_bioindex_world,
    provision_demo_world,
)

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def standalone_environment(home: Path, endpoint: str, bioindex: dict[str, str], port: int) -> dict[str, str]:
    """The environment ``airflow standalone`` runs in: UI on 127.0.0.1 only, glue_to_demo the only glue_to DAG."""
    config = home / "glue_to_lower_env.demo.json"
    config.write_text(json.dumps({"demo": LOWER_ENV_DEMO}, indent=2))
    env = airflow_environment(str(home), str(REPO), api_port=port) | aws_environment(endpoint)
    env["AIRFLOW__API__HOST"] = HOST
    env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    env["GLUE_TO_LOWER_ENV_CONFIG"] = str(config)
    env["BIOINDEX_CONFIG"] = bioindex["config"]
    env["AIRFLOW_CONN_BIOINDEX_DEMO"] = json.dumps({"conn_type": "sqlite", "host": bioindex["database"]})
    return env


def instructions(home: Path, port: int, conf: dict[str, Any]) -> str:
    """How to log in and what to trigger, as printed once Airflow is ready."""
    passwords = home / PASSWORDS_FILE
    try:
        login = ", ".join(f"user {user}, password {pw}" for user, pw in json.loads(passwords.read_text()).items())
    except (OSError, ValueError):
        login = f"user admin, the password in {passwords}"
    return "\n".join(
        [
            "=" * 72,
            f"Airflow is ready: open http://{HOST}:{port} and log in ({login}).",
            f"Trigger batch_index_taxons with this conf:\n{json.dumps(conf, indent=2)}",
            f"bioindex_compress (then bioindex_decompress) with: {json.dumps({'bucket': BIOINDEX_DEMO_BUCKET})}",
            'glue_to_demo with a dry run first: unpause it, then Trigger with conf {"dry_run": true}.',
            "Ctrl-C stops Airflow and the moto server.",
            "=" * 72,
        ]
    )


def wait_until_healthy(url: str, stop: threading.Event, every: float = 2.0) -> bool:
    """Poll ``url`` (the API's health endpoint) until it answers 200 or ``stop`` is set."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(every)
    return False


def main() -> int:
    home = REPO / ".airflow"
    home.mkdir(exist_ok=True)
    with moto_server() as endpoint:
        world = provision_demo_world(endpoint)
        Path(home, "bioindex.sqlite").unlink(missing_ok=True)  # the bio-index world starts afresh too
        bioindex = provision_bioindex_world(endpoint, str(home))
        port = int(os.environ.get("PORT", "8080"))
        env = standalone_environment(home, endpoint, bioindex, port)
        conf = {"input_s3_uri": world.input_s3_uri, "lambda_function_name": world.function_name, "chunk_size": 5}
        print(f"moto on {endpoint}.\n{instructions(home, port, conf)}")
        stop = threading.Event()

        def announce() -> None:
            if wait_until_healthy(f"http://{HOST}:{port}/api/v2/monitor/health", stop):
                time.sleep(1)  # after standalone's own start-up lines
                print(instructions(home, port, conf), flush=True)

        threading.Thread(target=announce, daemon=True).start()
        airflow = str(Path(sys.executable).with_name("airflow"))
        try:
            # airflow standalone ends with this script, however it is stopped (Ctrl-C or a kill).
            return subprocess.run([airflow, "standalone"], env=env, check=False, preexec_fn=die_with_parent).returncode
        except KeyboardInterrupt:
            return 0
        finally:
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
