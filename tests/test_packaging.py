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
