"""What an operator and a first-time integrator run into: an unmigrated database, a `$triage`
lost to the shell, the audit trail while the database is down, backups and restores."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import TRIAGE, assert_fhir_response, post_triage, response


@pytest.fixture
def unmigrated(blank_database_url):
    app = create_app(Settings(database_url=blank_database_url, auto_migrate=False, webhook_dispatcher="off"))
    with TestClient(app) as client:
        yield client


def test_an_unmigrated_database_answers_503_not_migrated(unmigrated):
    for answer in (post_triage(unmigrated, response()), unmigrated.get("/fhir/CarePlan/x"),
                   unmigrated.get("/fhir/CarePlan", params={"subject": "Patient/p1"}),
                   unmigrated.get("/fhir/Subscription")):
        outcome = assert_fhir_response(answer, 503, "OperationOutcome")
        assert answer.headers["retry-after"]
        assert "database not migrated" in outcome["issue"][0]["diagnostics"]
        assert "lbp-triage migrate" in outcome["issue"][0]["diagnostics"]
    assert unmigrated.get("/readyz").status_code == 503


@pytest.mark.parametrize("path", ["/fhir/QuestionnaireResponse/", "/fhir/QuestionnaireResponse"])
def test_triage_without_its_operation_name_hints_at_shell_quoting(client, path):
    """`curl -X POST "…/QuestionnaireResponse/$triage"`: the shell turns $triage into nothing."""
    r = client.post(path, content=b"{}", headers={"Content-Type": "application/fhir+json"},
                    follow_redirects=False)
    outcome = assert_fhir_response(r, 405, "OperationOutcome")
    text = outcome["issue"][0]["diagnostics"]
    assert TRIAGE in text and "single quotes" in text
    assert r.headers["allow"]
