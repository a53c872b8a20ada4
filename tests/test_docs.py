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


def test_the_guides_exist_for_their_readers():
    for guide in ("integration-guide.md", "clinician-guide.md", "operator-guide.md"):
        text = (ROOT / "docs" / guide).read_text()
        assert len(text) > 2000, guide
        assert f"docs/{guide}" in (ROOT / "README.md").read_text()
