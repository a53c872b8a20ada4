"""The rules as FHIR knowledge artifacts, generated from the rules tables (app.rules), never
written apart from them: per rules version one PlanDefinition (the canonical every CarePlan
names in `instantiatesCanonical`), one ActivityDefinition per activity code, and one Library
stating every rule in words (findings, disposition, activities) as a markdown attachment and
as its narrative.

The findings rows carry their conditions as data (app.rules.conditions), so they are written
out as the rules document writes them. The activity rows hold their conditions as small
functions; what a row does is read by probing it (`activity_summary`): the row is run on the
plan facts of every disposition, then on each one-fact variation of them (every yes-answer,
age, BMI, duration, STarT Back risk, finding and preference). A row is "always" in the plans
of a disposition when it is included in all of them, "never" when in none, otherwise
"depending on the answers" (tests/test_knowledge.py holds these words against the engine).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from html import escape
from typing import Any, TypeVar

from app.fhir.canonical import BASE, CODESYSTEM_URL, PLANDEFINITION_URL, QUESTIONNAIRE_URL
from app.fhir.codesystem import display
from app.fhir.questionnaire import items
from app.fhir.xhtml import XHTML_NS
from app.rules import activities_v2
from app.rules.model import Disposition, Preference, RiskGroup, Tier
from app.rules.plan import ActivityRule, PlanFacts
from app.rules.rulesets import CURRENT, RULESETS, RuleSet

LIBRARY_URL = f"{BASE}/Library/lbp-triage-rules"
ACTIVITYDEFINITION_BASE = f"{BASE}/ActivityDefinition"
_Built = TypeVar("_Built")

_DURATIONS = ("lt-6w", "6-12w", "gt-12w")
_AGES = (10, 15, 16, 17, 18, 40, 64, 65, 70, 80)


def artifact_id(version: str) -> str:
    """The id of the PlanDefinition (and of its Library) of a rules version."""
    return f"lbp-triage-rules-{version}"


def activity_definition_id(code: str, version: str) -> str:
    return f"{code}-{version}"


# --- probing the activity rows ---------------------------------------------------------------


def dispositions(rules: RuleSet) -> tuple[Disposition, ...]:
    """The dispositions a rules version can reach, most urgent first."""
    return tuple(sorted({rule.tier.disposition for rule in rules.findings} | {Disposition.SELF_CARE}, reverse=True))


def _variations(rules: RuleSet, base: PlanFacts) -> list[PlanFacts]:
    questions = items(rules.version)
    booleans = sorted(link_id for link_id, spec in questions.items() if spec.type == "boolean")
    change = dataclasses.replace
    found = [base]
    found += [change(base, yes=frozenset({link_id})) for link_id in booleans]
    found += [change(base, age=age) for age in _AGES]
    found += [change(base, bmi=30.0, bmi_rounded=Decimal("30.0"))]
    found += [change(base, pain_duration=duration) for duration in _DURATIONS]
    found += [change(base, startback_risk=risk) for risk in RiskGroup]
    found += [change(base, findings=(rule.code,)) for rule in rules.findings]
    found += [change(base, preference=preference) for preference in Preference]
    return found


@cache
def _probes(version: str) -> dict[Disposition, list[PlanFacts]]:
    rules = RULESETS[version]
    return {
        disposition: _variations(
            rules,
            PlanFacts(
                disposition=disposition,
                preference=Preference.NO_PREFERENCE,
                findings=(),
                yes=frozenset(),
                age=40,
                bmi=None,
                bmi_rounded=None,
                pain_duration="lt-6w",
                startback_risk=None,
            ),
        )
        for disposition in dispositions(rules)
    }


@dataclass(frozen=True)
class ActivitySummary:
    """What one activity row does, per disposition, as read by probing it."""

    row: str
    codes: tuple[str, ...]  # the activity codes the row can plan (the directional row: one per preference)
    inclusion: dict[Disposition, str]  # "always", "never" or "depending on the answers"
    priorities: dict[Disposition, tuple[str, ...]]  # the priorities seen when included
    hold_reasons: tuple[str, ...]  # the reasons it may wait for, if it may
    texts: dict[str, str]  # code → what the patient reads (the first text seen)


def _summary(version: str, row: ActivityRule) -> ActivitySummary:
    codes: list[str] = []
    inclusion: dict[Disposition, str] = {}
    priorities: dict[Disposition, tuple[str, ...]] = {}
    holds: list[str] = []
    texts: dict[str, str] = {}
    for disposition, probes in _probes(version).items():
        included = [facts for facts in probes if row.included_when(facts)]
        inclusion[disposition] = (
            "always" if len(included) == len(probes) else "never" if not included else "depending on the answers"
        )
        seen: list[str] = []
        for facts in included:
            code = row.code(facts) if row.code else row.row
            if code not in codes:
                codes.append(code)
            texts.setdefault(code, row.text(facts))
            priority = row.priority(facts)
            if priority is not None and priority.value not in seen:
                seen.append(priority.value)
            reason = row.held_because(facts)
            if reason and reason not in holds:
                holds.append(reason)
        if seen:
            priorities[disposition] = tuple(seen)
    return ActivitySummary(row.row, tuple(codes), inclusion, priorities, tuple(holds), texts)


@cache
def activity_summaries(version: str) -> tuple[ActivitySummary, ...]:
    return tuple(_summary(version, row) for row in RULESETS[version].activities)


# --- the rules in words: one set of tables, rendered as markdown and as the narrative ---------


@dataclass(frozen=True)
class Table:
    title: str
    lead: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _finding_table(rules: RuleSet) -> Table:
    with_signs = any(rule.sign for rule in rules.findings)
    header = ("Finding", "Tier", "Fires when", "Source") + (("Sign in the patient's words",) if with_signs else ())
    rows = tuple(
        (rule.code, rule.tier.name, rule.fires_when.words(), rule.source) + ((rule.sign or "",) if with_signs else ())
        for rule in rules.findings
    )
    return Table(
        "Findings",
        "Every row whose condition holds fires, with the answers behind it as evidence. "
        "Answers are named by the Questionnaire's linkIds.",
        header,
        rows,
    )


def _disposition_table(rules: RuleSet) -> Table:
    tiers = [tier for tier in Tier if any(rule.tier is tier for rule in rules.findings)]
    rows = (*tuple((tier.name, tier.disposition.code) for tier in tiers), ("(no finding)", Disposition.SELF_CARE.code))
    return Table(
        "Disposition",
        "The disposition is the most urgent tier among the findings that fire "
        "(emergency > urgent > doctor-soon > doctor); with no finding it is self-care.",
        ("Tier", "Disposition"),
        rows,
    )


def _activity_table(rules: RuleSet) -> Table:
    order = dispositions(rules)
    rows = []
    for summary in activity_summaries(rules.version):
        inclusion = "; ".join(f"{d.code}: {summary.inclusion[d]}" for d in order)
        priority = "; ".join(
            f"{d.code}: {' or '.join(summary.priorities[d])}" for d in order if d in summary.priorities
        )
        rows.append(
            (summary.row, ", ".join(summary.codes), inclusion, priority or "-", " / ".join(summary.hold_reasons) or "-")
        )
    return Table(
        "Activities",
        "Each row, in plan order: the activity codes it plans, whether it is in the plan "
        "for each disposition, its priority (referrals), and why it may wait (on hold).",
        ("Row", "Activity codes", "In the plan", "Priority", "May wait (on hold) because"),
        tuple(rows),
    )


# The medicine safety tables the rules-2 medicine rows read (reason in words, test): stated by their words.
MEDICINE_TABLES = {
    "2.0.0": (
        ("NSAID not planned at all", activities_v2.NSAID_EXCLUDED_BY),
        ("NSAID on hold: ask a pharmacist or doctor first", activities_v2.NSAID_ASK_FIRST_FOR),
        (
            "Acetaminophen: ask a doctor or pharmacist first (the first reason that applies)",
            activities_v2.ACETAMINOPHEN_ASK_FIRST_FOR,
        ),
    )
}


def _medicine_table(rules: RuleSet) -> Table | None:
    tables = MEDICINE_TABLES.get(rules.version)
    if not tables:
        return None
    rows = tuple((decision, reason) for decision, table in tables for reason, _ in table)
    return Table(
        "Medicine safety",
        "The medicine rows read these tables: any reason in a table leads to its "
        f"decision. Acetaminophen is planned from age {activities_v2.ACETAMINOPHEN_MIN_AGE}, when no "
        "NSAID is offered.",
        ("Decision", "When"),
        rows,
    )


def rule_tables(rules: RuleSet) -> tuple[Table, ...]:
    medicine = _medicine_table(rules)
    return (
        _finding_table(rules),
        _disposition_table(rules),
        _activity_table(rules),
        *((medicine,) if medicine else ()),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown(rules: RuleSet) -> str:
    lines = [
        f"# Low back pain triage rules, version {rules.version}",
        "",
        f"Answers come from the Questionnaire {QUESTIONNAIRE_URL}|{rules.version}.",
        "",
    ]
    for table in rule_tables(rules):
        lines += [
            f"## {table.title}",
            "",
            table.lead,
            "",
            "| " + " | ".join(table.header) + " |",
            "|" + "---|" * len(table.header),
        ]
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
        lines.append("")
    return "\n".join(lines)


def rules_div(rules: RuleSet) -> str:
    parts = [f'<div xmlns="{XHTML_NS}"><h1>Low back pain triage rules, version {escape(rules.version)}</h1>']
    for table in rule_tables(rules):
        parts.append(f"<h2>{escape(table.title)}</h2><p>{escape(table.lead)}</p><table><thead><tr>")
        parts += [f"<th>{escape(name)}</th>" for name in table.header]
        parts.append("</tr></thead><tbody>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "".join(parts)


# --- the resources ---------------------------------------------------------------------------


def _common(resource_type: str, id_: str, url: str, version: str, name: str, title: str) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "id": id_,
        "url": url,
        "version": version,
        "name": name,
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": "lbp-triage",
    }


def _narrative(text: str) -> dict[str, Any]:
    return {"status": "generated", "div": f'<div xmlns="{XHTML_NS}"><p>{escape(text)}</p></div>'}


def _coding(code: str) -> dict[str, Any]:
    return {"system": CODESYSTEM_URL, "code": code, "display": display(code)}


@cache
def activity_definitions(version: str) -> tuple[dict[str, Any], ...]:
    found = []
    for summary in activity_summaries(version):
        all_priorities = {p for ps in summary.priorities.values() for p in ps}
        for code in summary.codes:
            title = display(code)
            resource = _common(
                "ActivityDefinition",
                activity_definition_id(code, version),
                f"{ACTIVITYDEFINITION_BASE}/{code}",
                version,
                "".join(word.capitalize() for word in code.split("-")),
                title,
            )
            resource["text"] = _narrative(f"{title}: {summary.texts[code]}")
            resource["description"] = summary.texts[code]
            if all_priorities:
                resource["kind"] = "ServiceRequest"
            resource["code"] = {"coding": [_coding(code)], "text": title}
            if len(all_priorities) == 1:
                resource["priority"] = next(iter(all_priorities))
            found.append(resource)
    return tuple(found)


@cache
def library(version: str) -> dict[str, Any]:
    rules = RULESETS[version]
    resource = _common(
        "Library", artifact_id(version), LIBRARY_URL, version, "LbpTriageRules", f"Low back pain triage rules {version}"
    )
    resource["text"] = {"status": "generated", "div": rules_div(rules)}
    resource["type"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/library-type",
                "code": "logic-library",
                "display": "Logic Library",
            }
        ]
    }
    resource["description"] = (
        "Every rule of this rules version in words, generated from the tables the "
        "service runs: the findings (tier, condition, source), the disposition, and the "
        "activity rows."
    )
    resource["relatedArtifact"] = [{"type": "depends-on", "resource": f"{QUESTIONNAIRE_URL}|{version}"}]
    resource["content"] = [
        {
            "contentType": "text/markdown",
            "data": base64.b64encode(rules_markdown(rules).encode()).decode(),
            "title": f"lbp-triage rules {version}",
        }
    ]
    return resource


@cache
def plan_definition(version: str) -> dict[str, Any]:
    rules = RULESETS[version]
    current = " (current)" if rules is CURRENT else ""
    resource = _common(
        "PlanDefinition",
        artifact_id(version),
        PLANDEFINITION_URL,
        version,
        "LbpTriageRules",
        f"Low back pain triage rules {version}{current}",
    )
    resource["text"] = {"status": "generated", "div": rules_div(rules)}
    resource["type"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                "code": "eca-rule",
                "display": "ECA Rule",
            }
        ]
    }
    resource["description"] = (
        f"Triage of low back pain from the answers to Questionnaire lbp-triage|{version}: the findings decide "
        "the disposition, the activity rows the plan (see the Library for every rule in words). "
        "$apply this PlanDefinition to a QuestionnaireResponse for the CarePlan that $triage makes."
    )
    resource["relatedArtifact"] = [{"type": "depends-on", "resource": f"{QUESTIONNAIRE_URL}|{version}"}]
    resource["library"] = [f"{LIBRARY_URL}|{version}"]
    order = dispositions(rules)
    actions = []
    for summary in activity_summaries(version):
        for code in summary.codes:
            words = "; ".join(f"{d.code}: {summary.inclusion[d]}" for d in order)
            actions.append(
                {
                    "title": display(code),
                    "description": f"In the plan ({summary.row} row) — {words}.",
                    "code": [{"coding": [_coding(code)]}],
                    "definitionCanonical": f"{ACTIVITYDEFINITION_BASE}/{code}|{version}",
                }
            )
    resource["action"] = actions
    return resource


def _by_version(build: Callable[[str], _Built]) -> list[_Built]:
    # current first, so that a search without criteria lists the current rules first
    versions = [CURRENT.version, *sorted((v for v in RULESETS if v != CURRENT.version), reverse=True)]
    return [build(version) for version in versions]


@cache
def plan_definitions() -> tuple[dict[str, Any], ...]:
    return tuple(_by_version(plan_definition))


@cache
def libraries() -> tuple[dict[str, Any], ...]:
    return tuple(_by_version(library))


@cache
def all_activity_definitions() -> tuple[dict[str, Any], ...]:
    return tuple(resource for group in _by_version(activity_definitions) for resource in group)


def by_id(resources: tuple[dict[str, Any], ...], id_: str) -> dict[str, Any] | None:
    return next((resource for resource in resources if resource["id"] == id_), None)
