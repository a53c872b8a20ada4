"""CDS Hooks feedback (§ Feedback): what clinicians did with the cards, stored and counted."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine, insert

from app.fhir.outcome import HttpProblem
from app.store.tables import CdsFeedback

F = CdsFeedback.__table__
FEEDBACK = Counter(
    "lbp_cds_feedback", "CDS Hooks card feedback received, by service and outcome.", ["service", "outcome"]
)
_UUID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
OUTCOMES = ("accepted", "overridden")


def _instant(value: Any) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError
    return moment


def _short(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def feedback_rows(service_id: str, body: Any, client: str) -> list[dict[str, Any]]:
    """Checked rows from a feedback body; 400 names the first entry that breaks the shape."""
    entries = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise HttpProblem(400, "structure", "The body must be an object with a non-empty `feedback` array.")
    rows, now = [], datetime.now(UTC)
    for index, entry in enumerate(entries):
        where = f"feedback[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("card"), str) or not _UUID.match(entry["card"]):
            raise HttpProblem(400, "required", f"{where}.card must be the uuid of a card.")
        if entry.get("outcome") not in OUTCOMES:
            raise HttpProblem(400, "value", f"{where}.outcome must be accepted or overridden.")
        try:
            at = _instant(entry.get("outcomeTimestamp"))
        except ValueError:
            raise HttpProblem(400, "value", f"{where}.outcomeTimestamp must be an instant.") from None
        accepted = entry.get("acceptedSuggestions") or []
        if not isinstance(accepted, list) or not all(
            isinstance(s, dict) and isinstance(s.get("id"), str) for s in accepted
        ):
            raise HttpProblem(400, "structure", f"{where}.acceptedSuggestions must be objects with an id.")
        override = entry.get("overrideReason") or {}
        if not isinstance(override, dict) or (override and entry["outcome"] != "overridden"):
            raise HttpProblem(400, "business-rule", f"{where}.overrideReason is for overridden cards only.")
        reason = given if isinstance(given := override.get("reason"), dict) else {}
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "service_id": service_id,
                "card": entry["card"],
                "outcome": entry["outcome"],
                "accepted_suggestions": [s["id"][:64] for s in accepted],
                "override_system": _short(reason.get("system"), 255),
                "override_code": _short(reason.get("code"), 64),
                "user_comment": _short(override.get("userComment"), 1024),
                "outcome_timestamp": at,
                "received": now,
                "client": client[:255],
            }
        )
    return rows


def store_feedback(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(F), rows)
    for row in rows:
        FEEDBACK.labels(row["service_id"], row["outcome"]).inc()
