"""deploy/prometheus/alerts.yml: valid for Prometheus (promtool), each alert firing on what it
names (promtool's rule unit tests), every metric it reads exposed by /metrics, and every runbook
it points at present in the operator's guide."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus"
# CI installs Debian's prometheus package for promtool (.ci/run); only a local run may lack it.
REQUIRE_PROMTOOL = os.environ.get("PYTEST_REQUIRE_PROMTOOL") == "1"


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"] for rule in group["rules"]]


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if REQUIRE_PROMTOOL:
            pytest.fail("promtool is required in CI (apt-get install prometheus)")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    promtool = _promtool()
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_cover_what_on_call_needs():
    names = {rule["alert"] for rule in _rules()}
    assert {
        "LbpHighErrorRate",
        "LbpTriageLatencyP99High",
        "LbpWebhookQueueDeep",
        "LbpWebhookDeadNotifications",
        "LbpDatabaseDown",
        "LbpAuditSpoolNotEmpty",
    } <= names


def test_every_metric_the_alerts_read_is_exposed(client):
    client.get("/fhir/metadata")  # at least one request, so the request histograms have samples
    exposed = {
        sample.name
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    for rule in _rules():
        used = set(re.findall(r"\b(lbp_[a-z0-9_]+)", rule["expr"]))
        assert used, rule["alert"]
        assert used <= exposed, (rule["alert"], used - exposed)


def test_every_runbook_is_in_the_operator_guide():
    guide = (ROOT / "docs" / "operator-guide.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", guide, re.M)
    }
    for rule in _rules():
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operator-guide.md" and anchor in anchors, (rule["alert"], anchor)
