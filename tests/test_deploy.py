"""The container and compose files, checked without a Docker engine: the compose file's
services, ports, health checks, start order and environment; the Dockerfile's shape; and
hadolint's verdict on it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_start_in_order_and_are_healthchecked(compose):
    services = compose["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["lbp-triage", "migrate"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["ports"] == ["8000:8000"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["worker"]["command"][:2] == ["lbp-triage", "worker"]


def test_compose_environment_is_consistent(compose):
    services = compose["services"]
    known = {f"LBP_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert "@db:5432/" in env["LBP_DATABASE_URL"]
        unknown = {key for key in env if key.startswith("LBP_")} - known
        assert not unknown, (name, unknown)
    # deliveries happen in the worker, not in the API processes
    assert services["api"]["environment"]["LBP_WEBHOOK_DISPATCHER"] == "off"
    assert services["api"]["environment"]["LBP_AUTH_MODE"] != "none"
    assert services["db"]["environment"]["POSTGRES_DB"] in services["api"]["environment"]["LBP_DATABASE_URL"]


def test_dockerfile_is_multi_stage_non_root_and_healthchecked():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "pip install ." in text  # dependencies from the pinned project file
    cmd = re.search(r"^CMD (.+)$", text, re.M).group(1)
    for flag in ("uvicorn app.main:app", "--workers", "--no-proxy-headers", "--timeout-graceful-shutdown",
                 "--no-access-log"):
        assert flag in cmd
    ignored = (ROOT / ".dockerignore").read_text()
    assert ".venv" in ignored and ".git" in ignored


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
