"""What of a subscription is sealed at rest (app/kit/keyring.py): the signing secret and
the `channel.header` values. The headers live sealed in the `headers` column only; the stored
copy of the submitted resource keeps no `channel.header`, and gets it back, opened, on the way
out of the repository. Everything above the repository sees the subscription in clear."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson

from app.kit.keyring import Keyring

SECRET = "webhook_subscription.secret"
HEADERS = "webhook_subscription.headers"


def seal_secret(keyring: Keyring, secret: str) -> str:
    return keyring.seal(secret.encode(), SECRET)


def open_secret(keyring: Keyring, stored: str) -> str:
    return keyring.open(stored, SECRET).decode()


def seal_headers(keyring: Keyring, headers: list[str]) -> str:
    return keyring.seal(orjson.dumps(list(headers)), HEADERS)


def open_headers(keyring: Keyring, stored: Any) -> list[str]:
    return list(orjson.loads(keyring.open(stored, HEADERS)))


def resource_without_headers(resource: dict[str, Any]) -> dict[str, Any]:
    channel = {k: v for k, v in resource["channel"].items() if k != "header"}
    return {**resource, "channel": channel}


def resource_with_headers(resource: dict[str, Any], headers: list[str]) -> dict[str, Any]:
    if not headers:
        return resource
    return {**resource, "channel": {**resource["channel"], "header": list(headers)}}


def opened(row: Any, keyring: Keyring) -> Any:
    """A subscription row with its secret, headers and resource in clear (same attributes)."""
    if row is None:
        return None
    fields = row._asdict()
    if "headers" in fields:
        fields["headers"] = open_headers(keyring, fields["headers"])
        if "resource" in fields:
            fields["resource"] = resource_with_headers(fields["resource"], fields["headers"])
    if "secret" in fields:
        fields["secret"] = open_secret(keyring, fields["secret"])
    return SimpleNamespace(**fields)


def rewrap_all(engine: Any, keyring: Keyring) -> int:
    """Bring every subscription to the keyring's first key: re-wrap data keys sealed under an
    older key (after a rotation; the ciphertexts stay as they are), and seal anything still in
    clear (written by a process of the previous release during a rolling upgrade). Returns how
    many subscriptions changed."""
    from sqlalchemy import select, update

    from app.kit.keyring import is_sealed
    from app.store.tables import WebhookSubscription

    table = WebhookSubscription.__table__
    changed = 0
    with engine.begin() as connection:
        rows = connection.execute(select(table.c.id, table.c.secret, table.c.headers, table.c.resource)).all()
        for row in rows:
            if not is_sealed(row.secret):
                values = {
                    "secret": seal_secret(keyring, row.secret),
                    "headers": seal_headers(keyring, list(row.headers or ())),
                    "resource": resource_without_headers(row.resource),
                }
            else:
                secret, headers = keyring.rewrap(row.secret), keyring.rewrap(row.headers)
                if secret is None and headers is None:
                    continue
                values = {"secret": secret or row.secret, "headers": headers or row.headers}
            connection.execute(update(table).where(table.c.id == row.id).values(**values))
            changed += 1
    return changed
