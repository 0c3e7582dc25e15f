"""make airflow: the UI on 127.0.0.1 only, glue_to_demo the only glue_to DAG, the login told when ready."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from scripts.standalone import instructions, standalone_environment, wait_until_healthy
from tests.conftest import REPO


@pytest.fixture
def env(tmp_path):
    bioindex = {"config": str(tmp_path / "bioindex.json"), "database": str(tmp_path / "bioindex.sqlite")}
    return standalone_environment(tmp_path, "http://127.0.0.1:5999", bioindex, 8181)


def test_the_api_server_listens_on_loopback_only(env):
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "8181"


def test_only_glue_to_demo_is_loaded(env, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    assert set(json.loads(Path(env["GLUE_TO_LOWER_ENV_CONFIG"]).read_text())) == {"demo"}
    monkeypatch.setenv("GLUE_TO_LOWER_ENV_CONFIG", env["GLUE_TO_LOWER_ENV_CONFIG"])
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert {dag_id for dag_id in bag.dag_ids if dag_id.startswith("glue_to_")} == {"glue_to_demo"}


def test_the_login_is_told_with_the_generated_password(tmp_path):
    (tmp_path / "simple_auth_manager_passwords.json.generated").write_text('{"admin": "s3cr3t"}')
    told = instructions(tmp_path, 8181, {"chunk_size": 5})
    assert "http://127.0.0.1:8181" in told and "user admin, password s3cr3t" in told and '"chunk_size": 5' in told


def test_readiness_is_polled_until_the_health_endpoint_answers():
    answers = iter([503, 503, 200])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(next(answers, 200))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v2/monitor/health"
        assert wait_until_healthy(url, threading.Event(), every=0.01)
        assert next(answers, "done") == "done", "asked until it answered 200"
    finally:
        server.shutdown()
        server.server_close()
    stopped = threading.Event()
    stopped.set()
    assert not wait_until_healthy(url, stopped, every=0.01)
