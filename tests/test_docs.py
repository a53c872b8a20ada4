"""Documentation that stays true: every LBP_ setting the code knows is in the README's
configuration table, and the documents the README promises exist."""

import re
from pathlib import Path

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _configuration_table() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    return section.split("\n## ", 1)[0]


def test_every_setting_is_in_the_configuration_table():
    table = _configuration_table()
    in_code = {f"LBP_{name.upper()}" for name in Settings.model_fields}
    for path in (ROOT / "app").rglob("*.py"):
        in_code |= set(re.findall(r"\bLBP_[A-Z0-9_]+\b", path.read_text()))
    missing = sorted(name for name in in_code if f"`{name}`" not in table)
    assert not missing, f"not in README's configuration table: {missing}"


# What each reader must find in their guide (a heading each), and the README links them all.
GUIDE_SECTIONS = {
    "integration-guide.md": [
        "The Questionnaire contract",
        "Triage: `POST /fhir/QuestionnaireResponse/$triage`",
        "A response's lifecycle",
        "Reading and searching",
        "Explaining a decision",
        "Errors",
        "Authorization",
        "Webhooks",
        "CDS Hooks",
    ],
    "clinician-guide.md": [
        "dispositions",
        "Findings (rules 2)",
        "Stratified care",
        "Directional preference",
        "activities",
        "Safety behaviour",
        "Rules 1",
        "What the service does not assess",
    ],
    "operator-guide.md": [
        "Install",
        "Secrets at rest",
        "Upgrade",
        "Backups and restore",
        "Runbooks",
        "Alerts",
        "Metrics",
        "Security operations",
    ],
}


def test_the_guides_hold_what_their_readers_look_for():
    readme = (ROOT / "README.md").read_text()
    for guide, sections in GUIDE_SECTIONS.items():
        headings = [line for line in (ROOT / "docs" / guide).read_text().splitlines() if line.startswith("## ")]
        for section in sections:
            assert any(section in heading for heading in headings), (guide, section)
        assert f"docs/{guide}" in readme
