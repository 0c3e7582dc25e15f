"""glue_to_<env> in tests: the DAGs loaded from a configuration file, and the demo's world on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from moto import mock_aws

from scripts.local_aws import LOWER_ENV_DEMO, provision_lower_env_world
from tests.conftest import REPO


def load_glue_to_dags(config_path: Path | None = None, monkeypatch: Any = None) -> dict[str, Any]:
    """The glue_to_<env> DAGs of ``config_path`` (the shipped configuration when ``None``), by id."""
    from airflow.dag_processing.dagbag import DagBag

    if config_path is not None:
        monkeypatch.setenv("GLUE_TO_LOWER_ENV_CONFIG", str(config_path))
    bag = DagBag(dag_folder=str(REPO / "dags" / "glue_to_lower_env.py"))
    assert bag.import_errors == {}
    return bag.dags


@contextmanager
def demo_world(tmp_path: Path, monkeypatch: Any, config: dict[str, Any] = LOWER_ENV_DEMO) -> Iterator[Any]:
    """In-process moto holding the demo's lower-environment world; yields ``glue_to_demo`` built
    from ``config``, its retries without delay."""
    path = tmp_path / "envs.json"
    path.write_text(json.dumps({"demo": config}))
    with mock_aws(config={"lambda": {"use_docker": False}}):
        provision_lower_env_world(None)
        dag = load_glue_to_dags(path, monkeypatch)["glue_to_demo"]
        for task in dag.tasks:
            task.retry_delay = timedelta(0)
        yield dag
