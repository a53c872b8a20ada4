"""Webhook secrets and channel headers sealed at rest (envelope encryption, app/kit/keyring.py).

Upgrade widens `secret` (a sealed value is longer than a whsec_ secret), seals every plaintext
secret and header list, and removes the header values from the stored resource. Downgrade
opens them again (it needs the key that sealed them). Rows already in the target form are
left as they are, so either direction may be run again after an interruption.

Revision ID: 20261125_0006
Revises: 20261125_0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.keyring import is_sealed
from app.store.migrate import migration_keyring
from app.subscriptions import sealing

revision = "20261125_0006"
down_revision = "20261125_0005"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
subscriptions = sa.table(
    "webhook_subscription",
    sa.column("id", sa.String),
    sa.column("secret", sa.Text),
    sa.column("headers", _json),
    sa.column("resource", _json),
)


def _rows() -> Sequence[Any]:
    return op.get_bind().execute(sa.select(subscriptions)).all()


def _store(row_id: str, **values: Any) -> None:
    op.get_bind().execute(sa.update(subscriptions).where(subscriptions.c.id == row_id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_type=sa.String(128), existing_nullable=False)
    rows = _rows()
    if not rows:
        return  # nothing to seal: no key needed yet
    keyring = migration_keyring()
    for row in rows:
        if is_sealed(row.secret):
            continue
        headers = list(row.headers or ())
        _store(
            row.id,
            secret=sealing.seal_secret(keyring, row.secret),
            headers=sealing.seal_headers(keyring, headers),
            resource=sealing.resource_without_headers(row.resource),
        )


def downgrade() -> None:
    rows = _rows()
    if rows:
        keyring = migration_keyring()
        for row in rows:
            if not is_sealed(row.secret):
                continue
            headers = sealing.open_headers(keyring, row.headers)
            _store(
                row.id,
                secret=sealing.open_secret(keyring, row.secret),
                headers=headers,
                resource=sealing.resource_with_headers(row.resource, headers),
            )
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.alter_column("secret", type_=sa.String(128), existing_type=sa.Text(), existing_nullable=False)
