"""``make airflow``: ``airflow standalone`` (SQLite, LocalExecutor) with the demo worlds on a moto server.

Keeps its AIRFLOW_HOME in .airflow/ so runs survive a restart (the moto world is provisioned anew
each time). Open http://127.0.0.1:$PORT (default 8080); the admin password is printed by Airflow
and kept in .airflow/simple_auth_manager_passwords.json.generated. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scripts.local_aws import (
    BIOINDEX_DEMO_BUCKET,
    airflow_environment,
    aws_environment,
    die_with_parent,
    moto_server,
    provision_bioindex_world,
    provision_demo_world,
)

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    home = REPO / ".airflow"
    home.mkdir(exist_ok=True)
    with moto_server() as endpoint:
        world = provision_demo_world(endpoint)
        Path(home, "bioindex.sqlite").unlink(missing_ok=True)  # the bio-index world starts afresh too
        bioindex = provision_bioindex_world(endpoint, str(home))
        port = int(os.environ.get("PORT", "8080"))
        env = airflow_environment(str(home), str(REPO), api_port=port) | aws_environment(endpoint)
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        env["BIOINDEX_CONFIG"] = bioindex["config"]
        env["AIRFLOW_CONN_BIOINDEX_DEMO"] = json.dumps({"conn_type": "sqlite", "host": bioindex["database"]})
        conf = {"input_s3_uri": world.input_s3_uri, "lambda_function_name": world.function_name, "chunk_size": 5}
        print(f"moto on {endpoint}. Trigger batch_index_taxons with this conf:\n{json.dumps(conf, indent=2)}")
        print(f"and bioindex_compress (then bioindex_decompress) with: {json.dumps({'bucket': BIOINDEX_DEMO_BUCKET})}")
        airflow = str(Path(sys.executable).with_name("airflow"))
        try:
            # airflow standalone ends with this script, however it is stopped (Ctrl-C or a kill).
            return subprocess.run([airflow, "standalone"], env=env, check=False, preexec_fn=die_with_parent).returncode
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
