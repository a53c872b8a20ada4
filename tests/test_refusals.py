"""Refused requests are cheap (hardening, finding 4): a rate limit per client address applies
before authentication, and the audit trail records repeated refusals as one aggregate instead
of a row each. Both engines."""

from __future__ import annotations

import json

from tests.test_security import STATIC_TOKENS, app_client, bearer


def audit_rows(client, status):
    bundle = client.get("/fhir/AuditEvent", params={"_count": "200"}, headers=bearer("tok-all")).json()
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["outcomeDesc"].startswith(f"HTTP {status}")]


def test_invalid_tokens_are_rate_limited_per_address_before_authentication(app, database_url):
    from tests.conftest import _empty_tables

    _empty_tables(app)
    with app_client(
        database_url, auth_mode="static", auth_tokens=json.dumps(STATIC_TOKENS), rate_limit_per_minute=600
    ) as client:
        statuses = [client.get("/fhir/CarePlan", headers=bearer(f"forged-{n}")).status_code for n in range(300)]
    assert statuses[0] == 401 and statuses[-1] == 429
    assert statuses.count(401) <= 110  # the burst (a tenth of a minute's worth), then refused unauthenticated


def test_repeated_refusals_are_audited_as_one_aggregate(app, database_url):
    from tests.conftest import _empty_tables

    _empty_tables(app)
    settings = {"auth_mode": "static", "auth_tokens": json.dumps(STATIC_TOKENS)}
    with app_client(database_url, **settings) as client:
        for _ in range(200):
            assert client.get("/fhir/CarePlan", headers=bearer("not-a-token")).status_code == 401
        for _ in range(50):
            assert client.get("/fhir/CarePlan", headers=bearer("tok-subs")).status_code == 403
        assert client.get("/fhir/CarePlan", headers=bearer("tok-reader")).status_code == 200
    with app_client(database_url, **settings) as client:  # shutting down flushed the aggregates
        unauthenticated, forbidden = audit_rows(client, 401), audit_rows(client, 403)
        assert len(unauthenticated) <= 3 and len(forbidden) <= 3
        assert "199 more" in " ".join(e["outcomeDesc"] for e in unauthenticated)
        assert "49 more" in " ".join(e["outcomeDesc"] for e in forbidden)
        assert len(audit_rows(client, 200)) >= 1  # successful access is audited one by one as before
