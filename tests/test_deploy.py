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
from tests.conftest import _free_port

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
    assert "pyproject.toml" in text and "pip install --no-deps ." in text  # pinned dependencies, then the project
    assert "COPY app ./app" in text and "COPY migrations ./migrations" in text  # migrations ship in the package
    cmd = re.search(r"^CMD (.+)$", text, re.M).group(1)
    # `lbp-triage serve` runs uvicorn with proxy headers and its access log off (tests/test_serve_workers.py)
    for flag in ("exec lbp-triage serve", "--host 0.0.0.0", "--workers", "--timeout-graceful-shutdown"):
        assert flag in cmd
    ignored = (ROOT / ".dockerignore").read_text()
    assert ".venv" in ignored and ".git" in ignored


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


REQUIRED_IN_ENV = ("POSTGRES_PASSWORD", "LBP_SECRET_KEY", "LBP_AUTH_TOKENS")


def test_compose_without_env_file_stops_at_once_naming_what_to_do(compose):
    """Without .env, `docker compose up` must fail before starting anything, with compose's
    one-line "required variable … is missing a value: copy .env.example to .env …"."""
    text = (ROOT / "docker-compose.yml").read_text()
    for name in REQUIRED_IN_ENV:
        uses = re.findall(r"\$\{" + name + r"(:?[?-])?([^}]*)\}", text)
        assert uses, name
        for operator, message in uses:
            assert operator == ":?" and ".env.example" in message, (name, operator, message)
    example = (ROOT / ".env.example").read_text()
    for name in REQUIRED_IN_ENV:
        assert re.search(rf"^{name}=", example, re.M), name
    for doc in ("README.md", "docs/operator-guide.md"):
        assert "cp .env.example .env" in (ROOT / doc).read_text(), doc
    for name in ("migrate", "api", "worker"):
        env = compose["services"][name]["environment"]
        assert env["LBP_ENVIRONMENT"] == "production" and "LBP_SECRET_KEY" in env


def test_an_empty_token_list_stops_the_api_with_one_line(tmp_path):
    """What the API does with settings it cannot run with (here static tokens without any): one
    line, no traceback, uvicorn's "startup failure" status (3); with several workers the parent
    stops too instead of respawning them."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LBP_")}
    env |= {
        "LBP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "LBP_AUTH_MODE": "static",
        "LBP_AUTH_TOKENS": "",
        "LBP_SECRET_KEY": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM",
    }
    for command, workers in [
        (["-m", "uvicorn", "app.main:app"], "1"),
        (["-m", "uvicorn", "app.main:app"], "2"),
        (["-m", "app.cli", "serve"], "2"),  # the image's command: a listening socket per worker
    ]:
        done = subprocess.run(
            [sys.executable, *command, "--workers", workers, "--port", str(_free_port())],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        ours = [line for line in done.stderr.splitlines() if line.startswith("lbp-triage: cannot start")]
        assert len(ours) == int(workers) and "LBP_AUTH_TOKENS" in ours[0], done.stderr
        assert "copy .env.example to .env" in ours[0]
        if workers == "1":
            assert done.returncode == 3
        else:
            assert "stopping the parent process" in done.stderr


def test_the_image_runs_one_worker_on_sqlite_and_shares_metrics_when_more():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"LBP_DATABASE_URL=sqlite:", text) and re.search(r"WEB_CONCURRENCY=1\b", text)
    cmd = re.search(r"^CMD (.+)$", text, re.M).group(1)
    assert "PROMETHEUS_MULTIPROC_DIR=" in cmd and "rm -rf" in cmd and "mkdir -p" in cmd
    assert cmd.index("PROMETHEUS_MULTIPROC_DIR") < cmd.index("exec lbp-triage serve")
    assert "LBP_ENVIRONMENT=production" in text
