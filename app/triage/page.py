"""A CarePlan as a page a clinician reads in a browser (GET /fhir/CarePlan/{id} with
Accept: text/html or _format=html): disposition, findings with the answers behind them, the
plan, status and rules version.

Built from the stored CarePlan's structured elements, never from its narrative, and every
text is HTML-escaped: the page stays safe whatever a stored resource holds. The page carries
no script, and its Content-Security-Policy forbids any.
"""

from __future__ import annotations

from html import escape
from typing import Any

from app.fhir.canonical import CODESYSTEM_URL
from app.fhir.questionnaire import items
from app.rules.concepts import PREFERENCES

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # patient data: not kept by browsers or proxies
    "Vary": "Accept",
}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:52rem;padding:0 1rem;color:#1b1b1b}
.disposition{font-size:1.4rem;padding:.8rem 1rem;border-left:.5rem solid #555;background:#f3f3f3}
.disposition-emergency,.disposition-urgent{border-color:#b00020;background:#fde8ea}
.disposition-doctor-soon,.disposition-doctor{border-color:#b36b00;background:#fff4e0}
.disposition-self-care{border-color:#2e7d32;background:#e8f5e9}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem;text-align:left;
vertical-align:top}dt{font-weight:bold}dd{margin:0 0 .5rem 0}
"""


def _coding(concept: Any) -> dict[str, Any]:
    for coding in (concept or {}).get("coding") or ():
        if isinstance(coding, dict):
            return coding
    return {}


def _question(link_id: str) -> str:
    spec = items().get(link_id)
    return spec.text if spec is not None else link_id


def _answers_html(text: str) -> str:
    """'leg-weakness: yes; age: 72' → the questions with their answers."""
    lines = []
    for part in text.split("; "):
        link_id, sep, value = part.partition(": ")
        if sep:
            lines.append(f"{escape(_question(link_id))} <b>{escape(value)}</b>")
        elif part:
            lines.append(escape(part))
    return "<br>".join(lines)


def _reasons(careplan: dict[str, Any]) -> tuple[list[tuple[dict[str, Any], str]], list[dict[str, Any]]]:
    findings: dict[str, tuple[dict[str, Any], str]] = {}
    preferences: dict[str, dict[str, Any]] = {}
    for activity in careplan.get("activity") or ():
        for reason in (activity.get("detail") or {}).get("reasonCode") or ():
            coding = _coding(reason)
            code = coding.get("code")
            if not isinstance(code, str) or coding.get("system") != CODESYSTEM_URL:
                continue
            if code in PREFERENCES:
                preferences.setdefault(code, coding)
            elif code not in findings:
                findings[code] = (coding, str(reason.get("text") or ""))
    return list(findings.values()), list(preferences.values())


def rules_version(careplan: dict[str, Any]) -> str:
    for canonical in careplan.get("instantiatesCanonical") or ():
        if isinstance(canonical, str) and "|" in canonical:
            return canonical.rsplit("|", 1)[1]
    return "unknown"


def careplan_page(careplan: dict[str, Any]) -> str:
    category = _coding((careplan.get("category") or [{}])[0])
    code = str(category.get("code") or "unknown")
    shown = str(category.get("display") or careplan.get("description") or code)
    findings, preferences = _reasons(careplan)
    subject = str((careplan.get("subject") or {}).get("reference") or "")
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Low back pain triage: {escape(shown)}</title><style>{_STYLE}</style></head><body><main>",
        "<h1>Low back pain triage</h1>",
        f'<p class="disposition disposition-{escape(code)}" id="disposition"><strong>{escape(shown)}'
        f"</strong> (<code>{escape(code)}</code>)</p>",
        "<dl>",
        f"<dt>Patient</dt><dd>{escape(subject)}</dd>",
        f"<dt>Status</dt><dd>{escape(str(careplan.get('status') or ''))} "
        f"({escape(str(careplan.get('intent') or ''))}: a recommendation awaiting a clinician's review)</dd>",
        f"<dt>Created</dt><dd>{escape(str(careplan.get('created') or ''))}</dd>",
        f"<dt>Rules version</dt><dd>{escape(rules_version(careplan))}</dd>",
        f"<dt>CarePlan</dt><dd>{escape(str(careplan.get('id') or ''))}</dd>",
        "</dl><h2>Findings</h2>",
    ]
    if findings:
        parts.append("<table><thead><tr><th>Finding</th><th>Answers behind it</th></tr></thead><tbody>")
        for coding, answers in findings:
            parts.append(
                f"<tr><td>{escape(str(coding.get('display') or coding.get('code')))} "
                f"(<code>{escape(str(coding.get('code')))}</code>)</td>"
                f"<td>{_answers_html(answers)}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No red flags or other findings.</p>")
    if preferences:
        words = ", ".join(escape(str(p.get("display") or p.get("code"))) for p in preferences)
        parts.append(f"<p>Directional preference: {words}.</p>")
    parts.append("<h2>Plan</h2><ol>")
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        coding = _coding(detail.get("code"))
        status = str(detail.get("status") or "")
        held = detail.get("statusReason", {}).get("text") if status == "on-hold" else None
        parts.append(
            f"<li><strong>{escape(str(coding.get('display') or coding.get('code') or ''))}</strong> "
            f'<span class="status">[{escape(status)}{": " + escape(str(held)) if held else ""}]</span>'
            f"<br>{escape(str(detail.get('description') or ''))}</li>"
        )
    parts.append("</ol>")
    for note in careplan.get("note") or ():
        if isinstance(note, dict) and note.get("text"):
            parts.append(f"<p><em>{escape(str(note['text']))}</em></p>")
    parts.append("</main></body></html>")
    return "".join(parts)
