"""Test set-up: a private AIRFLOW_HOME with a SQLite metadata DB, fake AWS credentials, no network."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="bio-tests-airflow-")
# Set before anything imports Airflow or boto3: tests must never reach a real account.
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # The obfuscation secret the copies need (the Airflow Variable lower_env_obfuscation_secret).
        "AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET": "tests-only-obfuscation-secret-0123456789",
    }
)
for variable in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[variable]
sys.path.insert(0, str(REPO))

import shutil  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI runs the property tests on a fixed seed, so a run is repeatable; elsewhere they explore anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Create the metadata database once per test session (tests marked ``airflow_db`` use it)."""
    from airflow.utils import db

    db.initdb()
    return _HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
