"""Resource bodies stored as sent, and cheaper to write, on PostgreSQL: the QuestionnaireResponse,
Encounter and CarePlan of a triage and every kept version go from jsonb to json, compressed
with lz4 where the server has it.

Why: jsonb rewrites what it stores (members reordered, shorter keys first), so a response read
back differed from the one submitted; and building jsonb, then compressing it with pglz, was
the largest part of the server's work for a triage (in bench/: jsonb + pglz 157 µs per row,
json + lz4 80). No query reads inside these columns; they are stored and served whole. SQLite
keeps JSON as text already: nothing changes there.

Rewrites the two tables on PostgreSQL (existing rows keep the order jsonb gave them).

Revision ID: 20261125_0008
Revises: 20261125_0007
Create Date: 2026-11-25
"""

from alembic import op

revision = "20261125_0008"
down_revision = "20261125_0007"
branch_labels = None
depends_on = None

BODIES = {
    "triage_encounter": ("questionnaire_response", "encounter", "careplan"),
    "resource_version": ("resource",),
}


def _lz4_available() -> bool:
    """PostgreSQL 14 and later, built with lz4 (Debian's and the official images are)."""
    found = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )
    return found.first() is not None


def _retype(to: str, compression: str | None) -> None:
    for table, columns in BODIES.items():
        changes = [f"ALTER COLUMN {column} TYPE {to} USING {column}::{to}" for column in columns]
        if compression:
            changes += [f"ALTER COLUMN {column} SET COMPRESSION {compression}" for column in columns]
        op.execute(f"ALTER TABLE {table} " + ", ".join(changes))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _retype("json", "lz4" if _lz4_available() else None)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _retype("jsonb", "default" if _lz4_available() else None)
