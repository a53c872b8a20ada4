"""The service works after a plain, non-editable `pip install .` started from another directory:
the Questionnaire, CodeSystems, examples and migrations ship inside the installed package."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A non-editable install of a copy of the project into its own directory; the copy is
    then deleted, so whatever runs comes from the installed package alone."""
    where = tmp_path_factory.mktemp("install")
    source = where / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "*.db*", "__pycache__", ".pytest_cache", ".hypothesis", "build", "*.egg-info"
        ),
    )
    target = where / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(source)],
        check=True,
        cwd=where,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    shutil.rmtree(source)
    # The installed copy comes first on the path (the dependencies come from the test environment).
    env = {**os.environ, "PYTHONPATH": str(target)}
    located = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        env=env,
        cwd=where,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert located.startswith(str(target))
    return target, env, where


def test_cli_from_the_installed_package(installed):
    target, env, where = installed
    example = ROOT / "app/fhir/data/examples/urgent.json"
    done = subprocess.run(
        [str(target / "bin" / "lbp-triage"), "score", str(example)], capture_output=True, cwd=where, env=env
    )
    assert done.returncode == 0, done.stderr
    assert b'"urgent"' in done.stdout


def test_service_from_the_installed_package(installed, tmp_path):
    _, env, _ = installed
    port = 18000 + os.getpid() % 1000
    env = {**env, "LBP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        example = (ROOT / "app/fhir/data/examples/emergency.json").read_bytes()
        r = httpx.post(
            f"{base}/fhir/QuestionnaireResponse/$triage",
            content=example,
            headers={"Content-Type": "application/fhir+json"},
        )
        assert r.status_code == 201 and r.json()["category"][0]["coding"][0]["code"] == "emergency"
        assert httpx.get(f"{base}/fhir/Questionnaire/lbp-triage").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_every_package_of_the_tree_is_listed_for_installation():
    """pyproject.toml lists the packages (migrations/ ships as app.migrations): a new package
    folder under app/ that is not listed would be missing from every install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "app").rglob("__init__.py")}
    assert in_tree | {"app.migrations"} == listed
    assert (ROOT / "migrations" / "env.py").exists() and not (ROOT / "app" / "migrations").exists()
