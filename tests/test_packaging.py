"""The provider registers with Airflow, and the compose file names only services and paths that exist."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import entry_points

import yaml

from airflow_provider_bio.get_provider_info import get_provider_info
from tests.conftest import REPO


def test_entry_point_registers_the_provider():
    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_bio")
    ]
    assert entry.load()()["package-name"] == "airflow-provider-bio"


def test_airflow_lists_the_provider_and_its_extra_link():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-bio" in manager.providers
    assert "airflow_provider_bio.links.lambda_function.LambdaFunctionLink" in manager.extra_links_class_names


def test_every_listed_module_and_class_imports():
    info = get_provider_info()
    modules = [
        m for group in ("operators", "sensors", "hooks") for entry in info[group] for m in entry["python-modules"]
    ]
    package = REPO / "airflow_provider_bio"
    shipped = {
        f"airflow_provider_bio.{folder}.{path.stem}"
        for folder in ("operators", "sensors", "hooks")
        for path in (package / folder).glob("*.py")
        if path.stem not in ("__init__", "base", "guard", "resume")  # shared by the operators, not one
    }
    assert shipped == set(modules), "every operator, sensor and hook module is registered"
    for module in modules:
        importlib.import_module(module)
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def test_compose_file_names_existing_services_and_paths():
    compose = yaml.safe_load((REPO / "docker-compose.airflow.yml").read_text())
    services = compose["services"]
    expected = {
        "postgres",
        "moto",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "redis",
    }
    assert expected <= services.keys()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on missing service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing path {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name} mounts undeclared volume {source}"
        if "build" in service:
            assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
            dockerfile = (REPO / service["build"]["context"] / service["build"]["dockerfile"]).read_text()
            for line in dockerfile.splitlines():
                if line.startswith("COPY"):
                    sources = [word for word in line.split()[1:-1] if not word.startswith("--")]
                    assert all((REPO / source).exists() for source in sources), line


def test_worker_image_installs_the_locked_versions_and_runs_the_worker() -> None:
    dockerfile = (REPO / "docker/bgzip-worker.Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY"):
            assert all((REPO / source).exists() for source in line.split()[1:-1]), line
    locked = dict(re.findall(r'\nname = "([^"]+)"\nversion = "([^"]+)"', (REPO / "uv.lock").read_text()))
    pins = dict(re.findall(r"([a-z0-9-]+)==([0-9.]+)", dockerfile))
    assert pins == {"boto3": locked["boto3"], "deflate": locked["deflate"]}
    assert 'ENTRYPOINT ["python", "-m", "airflow_provider_bio.jobs.bgzip_worker"]' in dockerfile


def test_the_worker_imports_nothing_the_image_lacks() -> None:
    """The image has boto3 and deflate only: the worker must not import Airflow, jsonschema and the like."""
    script = (
        "import sys\n"
        "import airflow_provider_bio.jobs.bgzip_worker\n"
        "allowed = {'boto3', 'botocore', 'deflate', 'airflow_provider_bio', 'jmespath', 'dateutil', 'urllib3',"
        " 's3transfer', 'six', 'certifi', '_distutils_hack'}\n"
        "third = {n.split('.')[0] for n, m in list(sys.modules.items())"
        " if getattr(m, '__file__', None) and 'site-packages' in m.__file__ and not n.startswith('__editable__')}\n"
        "print(sorted(third - allowed))\n"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert found.stdout.strip() == "[]"


#: Environment variables whose value is a secret: in the compose file only as ``${NAME:?...}``.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|FERNET|JWT|TOKEN|_KEY$", re.IGNORECASE)
#: Moto's fake credentials may default to its documented "testing".
MOTO_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
REQUIRED_FROM_ENV = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")


def compose_services():
    return yaml.safe_load((REPO / "docker-compose.airflow.yml").read_text())["services"]


def test_compose_file_holds_no_secret_and_publishes_ports_on_loopback_only():
    text = (REPO / "docker-compose.airflow.yml").read_text()
    for literal in (
        "local-compose-only-secret",
        "airflow:airflow@",
        '"airflow": "airflow"',
        "POSTGRES_PASSWORD: airflow",
    ):
        assert literal not in text
    for name, service in compose_services().items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable) and variable not in MOTO_KEYS and not variable.endswith("_FILE"):
                assert REQUIRED_FROM_ENV.match(str(value)), f"{name}: {variable} is not read from the environment"
            if variable.endswith("_CONN") or variable.endswith(("_URL", "_BACKEND")):
                password = re.search(r"://[^:/@]*:([^@]*)@", str(value))
                assert password is None or password.group(1) in (
                    "",
                    "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}",
                ), f"{name}: {variable} embeds a password"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_compose_runs_celery_with_redis_a_worker_and_a_fernet_key_from_the_environment():
    services = compose_services()
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-dag-processor",
    ):
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:") or environment[
            "AIRFLOW__CELERY__BROKER_URL"
        ].startswith("redis://:@redis:")
        assert REQUIRED_FROM_ENV.match(environment["AIRFLOW__CORE__FERNET_KEY"]), name
        assert REQUIRED_FROM_ENV.match(environment["AIRFLOW__API_AUTH__JWT_SECRET"]), name
    assert "celery worker" in str(services["airflow-worker"]["command"])
    assert services["redis"]["image"].startswith("redis:")
    assert "ports" not in services["redis"] and "ports" not in services["postgres"]


def test_compose_secrets_come_from_an_uncommitted_env_file():
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    example = (REPO / ".env.example").read_text()
    named = set(re.findall(r"\$\{([A-Z_]+):\?", (REPO / "docker-compose.airflow.yml").read_text()))
    assert named == {"AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD"}
    assert all(f"\n{name}=\n" in example for name in named), "every secret is in .env.example, empty"


def test_compose_env_writes_fresh_secrets_once(tmp_path):
    from cryptography.fernet import Fernet

    from scripts.compose_env import write_env

    path = tmp_path / ".env"
    assert write_env(path)
    first = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert set(first) == {"AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD"}
    assert all(len(value) >= 24 for value in first.values())
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # a valid key
    assert path.stat().st_mode & 0o077 == 0, "readable by its owner only"
    assert not write_env(path) and path.read_text().splitlines() == [f"{k}={v}" for k, v in first.items()]
