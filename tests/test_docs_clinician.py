"""The clinician guide stays true to the rules-2 tables: every finding with its tier and
source, every disposition, and nothing the tables do not hold."""

import re
from pathlib import Path

from app.rules import Disposition
from app.rules.findings_v2 import FINDING_RULES_V2

GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "clinician-guide.md").read_text()


def _table_after(heading):
    section = GUIDE.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_every_finding_of_rules_2_is_in_the_guide_with_its_tier_and_source():
    rows = {}
    for line in _table_after("## Findings (rules 2)"):
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[1], cells[-1])
    assert list(rows) == [rule.code for rule in FINDING_RULES_V2]
    for rule in FINDING_RULES_V2:
        assert rows[rule.code] == (rule.tier.name, rule.source), rule.code


def test_every_disposition_is_explained():
    for disposition in Disposition:
        assert re.search(rf"\| \*\*{re.escape(disposition.code)}\*\* \|", GUIDE), disposition.code
