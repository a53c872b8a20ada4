"""Webhook signing secrets and channel headers are sealed at rest (envelope encryption): the
database never holds them in clear; the key rotates; production refuses to start without a
key; development makes one and says so."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text

from app.kit.keyring import Keyring, SealedValueError, new_key, parse_keys
from app.main import create_app
from app.services import services
from app.settings import Settings
from app.store import migrate
from app.store.db import make_engine
from app.store.tables import WebhookSubscription
from app.subscriptions import sealing
from tests.webhook_support import secret, subscribe

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "Bearer receiver-token-Zq81"


def _raw_rows(engine) -> str:
    with engine.connect() as conn:
        return repr(conn.execute(text("SELECT * FROM webhook_subscription")).all())


def test_secret_and_headers_are_never_stored_in_clear(client, app):
    given = secret()
    created = subscribe(client, "http://127.0.0.1:9/hook", secret_value=given, headers=(f"Authorization: {TOKEN}",))
    stored = _raw_rows(services(app).engine)
    assert given not in stored and given.removeprefix("whsec_") not in stored
    assert "receiver-token-Zq81" not in stored and "Authorization" not in stored
    assert "lbp1:" in stored
    # and the service still reads them: the dispatcher's view opens both
    row = services(app).subscriptions.read(created["id"])
    assert row.secret == given and row.headers == [f"Authorization: {TOKEN}"]


def test_each_secret_has_its_own_data_key():
    keyring = Keyring((parse_keys(new_key())[0],))
    one, two = sealing.seal_secret(keyring, "whsec_same"), sealing.seal_secret(keyring, "whsec_same")
    assert one != two and one.split(":")[2] != two.split(":")[2]  # different wrapped data keys
    assert sealing.open_secret(keyring, one) == sealing.open_secret(keyring, two) == "whsec_same"
    with pytest.raises(SealedValueError):  # a sealed secret does not pass for headers
        sealing.open_headers(keyring, one)
    tampered = one[:-4] + ("AAAA" if not one.endswith("AAAA") else "BBBB")
    with pytest.raises(SealedValueError):
        sealing.open_secret(keyring, tampered)


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT
    )


def test_rotating_the_key(blank_database_url):
    old, new = new_key(), new_key()
    settings = Settings(
        database_url=blank_database_url,
        auto_migrate=True,
        webhook_dispatcher="off",
        webhook_allowed_hosts="127.0.0.1",
        secret_key=old,
    )
    with TestClient(create_app(settings)) as c:
        given = secret()
        created = subscribe(c, "http://127.0.0.1:9/hook", secret_value=given, headers=(f"Authorization: {TOKEN}",))
        engine = services(c.app).engine
    # 1. the new key goes first, the old one stays; 2. `lbp-triage migrate` re-wraps
    done = _cli("migrate", env={"LBP_DATABASE_URL": blank_database_url, "LBP_SECRET_KEY": f"{new},{old}"})
    assert done.returncode == 0, done.stderr
    assert "re-wrapped the secrets of 1 subscription(s)" in done.stderr
    again = _cli("migrate", env={"LBP_DATABASE_URL": blank_database_url, "LBP_SECRET_KEY": f"{new},{old}"})
    assert "re-wrapped" not in again.stderr  # nothing left under the old key
    # 3. the old key is dropped: everything opens with the new one alone, nothing with the old one
    with TestClient(create_app(settings.model_copy(update={"secret_key": new}))) as c:
        row = services(c.app).subscriptions.read(created["id"])
        assert row.secret == given and row.headers == [f"Authorization: {TOKEN}"]
        assert c.get(f"/fhir/Subscription/{created['id']}").status_code == 200
        with engine.connect() as conn:
            sealed = conn.execute(select(WebhookSubscription.secret)).scalar_one()
    with pytest.raises(SealedValueError):
        Keyring(tuple(parse_keys(old))).open(sealed, sealing.SECRET)
    engine.dispose()


def test_a_missing_key_in_production_refuses_to_start_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBP_")}
    env |= {
        "LBP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "LBP_AUTH_MODE": "static",
        "LBP_AUTH_TOKENS": '{"t": ["system/*.*"]}',
    }
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("lbp-triage: cannot start:") and "LBP_SECRET_KEY" in lines[0]
    worker = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert worker.returncode == 3 and "LBP_SECRET_KEY" in worker.stderr and "Traceback" not in worker.stderr
    assert not list(tmp_path.glob("*.key"))  # production never invents a key


def test_development_generates_a_key_says_so_and_keeps_it(tmp_path, caplog):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'dev.db'}",
        secret_key=None,
        auth_mode="none",
        webhook_dispatcher="off",
        webhook_allowed_hosts="127.0.0.1",
    )
    with caplog.at_level("WARNING", logger="lbp_triage.keyring"), TestClient(create_app(settings)) as c:
        given = secret()
        created = subscribe(c, "http://127.0.0.1:9/hook", secret_value=given)
    key_file = tmp_path / "dev.key"
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any("generated a key" in r.getMessage() and str(key_file) in r.getMessage() for r in caplog.records)
    with TestClient(create_app(settings)) as c:  # the next run finds the same key
        assert services(c.app).subscriptions.read(created["id"]).secret == given


def test_migration_seals_existing_plaintext_and_downgrade_opens_it(blank_database_url):
    keyring = Keyring(tuple(parse_keys(os.environ["LBP_SECRET_KEY"])))
    engine = make_engine(blank_database_url)
    try:
        migrate.upgrade(engine, "20261125_0003")
        table = WebhookSubscription.__table__
        given = secret()
        resource = {
            "resourceType": "Subscription",
            "criteria": "x",
            "channel": {
                "type": "rest-hook",
                "endpoint": "https://r.example/h",
                "header": ["X-Key: receiver-api-key-7f3c"],
            },
        }
        moment = datetime(2026, 11, 25, tzinfo=UTC)
        with engine.begin() as conn:  # a subscription as revision 0003 stored it: all in clear
            conn.execute(
                insert(table),
                {
                    "id": "s1",
                    "status": "active",
                    "topic": "t",
                    "endpoint": "https://r.example/h",
                    "content": "id-only",
                    "headers": ["X-Key: receiver-api-key-7f3c"],
                    "secret": given,
                    "base_url": "b",
                    "resource": resource,
                    "created": moment,
                    "updated": moment,
                    "version_id": 1,
                    "event_count": 0,
                },
            )
        migrate.upgrade(engine, keyring=keyring)
        raw = _raw_rows(engine)
        assert (
            given not in raw and "receiver-api-key-7f3c" not in raw
        )  # (a short value could turn up in ciphertext by chance)
        with engine.connect() as conn:
            row = conn.execute(select(table)).one()
        assert sealing.open_secret(keyring, row.secret) == given
        assert sealing.open_headers(keyring, row.headers) == ["X-Key: receiver-api-key-7f3c"]
        assert "header" not in row.resource["channel"]
        migrate.downgrade(engine, "20261125_0003", keyring=keyring)
        with engine.connect() as conn:
            back = conn.execute(select(table.c.secret, table.c.headers, table.c.resource)).one()
        assert back.secret == given and back.headers == ["X-Key: receiver-api-key-7f3c"] and back.resource == resource
        migrate.upgrade(engine, keyring=keyring)
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_migrate_seals_what_a_previous_release_wrote_in_clear_during_a_rolling_upgrade(database_url, app, client):
    """An API process of the previous release may still store a plaintext secret after the
    migration; running `lbp-triage migrate` again once the roll is over seals it."""
    from app.subscriptions.sealing import rewrap_all

    keyring = app.state.keyring
    table = WebhookSubscription.__table__
    moment = datetime(2026, 11, 25, tzinfo=UTC)
    given = secret()
    with services(app).engine.begin() as conn:
        conn.execute(
            insert(table),
            {
                "id": "old-release",
                "status": "active",
                "topic": "t",
                "endpoint": "https://r.example/h",
                "content": "id-only",
                "headers": ["X-Key: receiver-api-key-91ad"],
                "secret": given,
                "base_url": "b",
                "resource": {
                    "resourceType": "Subscription",
                    "channel": {"type": "rest-hook", "header": ["X-Key: receiver-api-key-91ad"]},
                },
                "created": moment,
                "updated": moment,
                "version_id": 1,
                "event_count": 0,
            },
        )
    assert rewrap_all(services(app).engine, keyring) == 1
    assert given not in _raw_rows(services(app).engine) and "receiver-api-key-91ad" not in _raw_rows(
        services(app).engine
    )
    row = services(app).subscriptions.read("old-release")
    assert row.secret == given and row.headers == ["X-Key: receiver-api-key-91ad"]
    assert rewrap_all(services(app).engine, keyring) == 0
