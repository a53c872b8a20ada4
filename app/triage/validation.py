"""Accepting a QuestionnaireResponse: first as FHIR R4, then against the triage Questionnaire.

Every fault is collected, not just the first, each with a FHIRPath to the item at
fault. Faults name linkIds and the rule broken, never the submitted values.
The rules are those of questionnaire.md, "Rules for accepting a response".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.fhir.outcome import Fault, Rejected
from app.fhir.questionnaire import (
    CURRENT_VERSION,
    VERSIONS,
    ItemSpec,
    QuestionnaireIndex,
    questionnaire_index,
    version_named,
)
from app.fhir.r4 import check_r4, expect_resource
from app.rules.model import AnswerValue
from app.triage import fastpath

ACCEPTED_STATUSES = ("completed", "amended")
_PATIENT_REFERENCE = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

TYPE_WORDS = {
    "boolean": "a yes/no answer (valueBoolean)",
    "integer": "a whole number (valueInteger)",
    "decimal": "a number (valueDecimal)",
    "choice": "one of the listed codes (valueCoding)",
}


@dataclass(frozen=True, slots=True)
class ValidatedResponse:
    """A QuestionnaireResponse that passed every check, with its answers by linkId."""

    resource: dict[str, Any]
    answers: dict[str, AnswerValue]
    patient_id: str | None  # None when the subject is a logical (identifier) reference
    subject: dict[str, Any]
    version: str = CURRENT_VERSION  # the Questionnaire version it answers: its rules version too

    @property
    def identifier(self) -> tuple[str, str] | None:
        ident = self.resource.get("identifier")
        if ident and ident.get("value"):
            return ident.get("system") or "", ident["value"]
        return None


def _named(link_id: Any) -> str:
    """A linkId for a message, only if it looks like one (never echo arbitrary text)."""
    return f"'{link_id}'" if isinstance(link_id, str) and _SAFE_TOKEN.match(link_id) else "(unrecognised)"


def _where(link_id: str) -> str:
    return f"QuestionnaireResponse.repeat(item).where(linkId='{link_id}')"


# --- FHIR R4 structure -------------------------------------------------------------


def check_fhir(data: Any, fast_path_done: bool = False) -> None:
    """Raise Rejected(400) unless `data` is a valid R4 QuestionnaireResponse.

    What HL7's R4 JSON Schema checks (types, formats, unknown elements, null, empty values,
    modifierExtension, narrative, duplicate keys) is checked where the body comes in, in the
    same pass as parsing (r4.parse_json and r4.check_structure: app.fhir.http.read_resource, the
    CLI). Here the R4B models add what the schema does not say: cardinalities, one value[x].
    `fast_path_done`: the fast model accepted this body already (fastpath.Coverage, in place of
    the walk), so R4B would too."""
    expect_resource(data, "QuestionnaireResponse")
    if fast_path_done or fastpath.accepts(data):
        return
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    check_r4(QuestionnaireResponse, data)


# --- Against the Questionnaire -------------------------------------------------------

_ABSENT: Any = object()
Where = tuple[int, ...]  # item indexes from the root: (2,) or (2, 0); made into a FHIRPath on fault


def _path(where: Where, tail: str = "") -> str:
    return "QuestionnaireResponse" + "".join(f".item[{i}]" for i in where) + tail


class _Checker:
    def __init__(self, index: QuestionnaireIndex) -> None:
        self.faults: list[Fault] = []
        self.answers: dict[str, AnswerValue] = {}
        self.seen: dict[str, Where] = {}  # linkId → where it appeared
        self.bad_answers: set[str] = set()  # linkIds whose answer is already reported
        self.index = index
        self.specs = index.items
        self.groups = index.groups

    def fault(self, code: str, text: str, path: str | None, link_id: str | None = None) -> None:
        self.faults.append(Fault(code, text, path))
        if link_id:
            self.bad_answers.add(link_id)

    def root_items(self, root: list[Any]) -> None:
        for i, item in enumerate(root):
            if self.well_formed(item, (i,), None):
                continue
            link_id = item.get("linkId") if isinstance(item, dict) else None
            if link_id in self.groups:
                self.group(item, (i,))
            else:
                self.question(item, (i,), group=None)

    def group(self, item: dict[str, Any], where: Where) -> None:
        link_id = item["linkId"]
        if link_id in self.seen:
            self.fault("structure", f"The group '{link_id}' appears more than once.", _path(where))
            return
        self.seen[link_id] = where
        if item.get("answer"):
            self.fault("structure", f"The group '{link_id}' cannot have an answer.", _path(where, ".answer"))
        for j, child in enumerate(item.get("item") or ()):
            where_child = (*where, j)
            if not self.well_formed(child, where_child, link_id):
                self.question(child, where_child, group=link_id)

    def well_formed(self, item: Any, where: Where, group: str | None) -> bool:
        """The common case in one step: a question of this Questionnaire, in its own group (or at
        the root), answered once with a value of its type and range. Takes it and says True;
        anything else (which may be a fault) says False before touching any state, and goes the
        long way through `question`, which names every fault."""
        if type(item) is not dict:
            return False
        link_id = item.get("linkId")
        if type(link_id) is not str or (spec := self.specs.get(link_id)) is None:
            return False
        if link_id in self.seen or (group is not None and spec.group != group) or item.get("item"):
            return False
        answers = item.get("answer")
        if not answers:
            self.seen[link_id] = where  # asked, not answered: completeness judges it
            return True
        if type(answers) is not list or len(answers) != 1:
            return False
        answer = answers[0]
        if type(answer) is not dict or len(answer) != 1:
            return False
        value = answer.get(spec.answer_key, _ABSENT)
        kind = spec.type
        if kind == "boolean":
            if value is not True and value is not False:
                return False
        elif kind == "choice":
            if type(value) is not dict or (value.get("system"), value.get("code")) not in spec.options:
                return False
            value = value["code"]
        elif type(value) is int or (kind == "decimal" and type(value) is float):
            if (spec.min_value is not None and value < spec.min_value) or (
                spec.max_value is not None and value > spec.max_value
            ):
                return False
            if kind == "decimal":
                value = float(value)
        else:
            return False
        self.seen[link_id] = where
        self.answers[link_id] = value
        return True

    def question(self, item: Any, where: Where, group: str | None) -> None:
        if not isinstance(item, dict):
            self.fault("structure", "An item must be a JSON object.", _path(where))
            return
        link_id = item.get("linkId")
        if not isinstance(link_id, str) or (spec := self.specs.get(link_id)) is None:
            place = "inside another group" if link_id in self.groups else "in the triage Questionnaire"
            self.fault("structure", f"The linkId {_named(link_id)} is not a question {place}.", _path(where, ".linkId"))
            return
        if group is not None and spec.group != group:
            self.fault(
                "structure",
                f"The question '{link_id}' belongs in the group '{spec.group}', not '{group}'.",
                _path(where),
            )
        if link_id in self.seen:
            self.fault("structure", f"The question '{link_id}' is answered more than once.", _path(where))
            return
        self.seen[link_id] = where
        if item.get("item"):
            self.fault("structure", f"The question '{link_id}' cannot contain nested items.", _path(where, ".item"))
        answers = item.get("answer")
        if not answers:
            return
        if len(answers) > 1:
            self.fault(
                "structure", f"The question '{link_id}' takes a single answer.", _path(where, ".answer"), link_id
            )
            return
        self.answer(spec, answers[0], where)

    def answer(self, spec: ItemSpec, answer: Any, where: Where) -> None:
        key = spec.answer_key
        if not (isinstance(answer, dict) and len(answer) == 1 and key in answer):  # the common case
            if isinstance(answer, dict) and answer.get("item"):
                self.fault(
                    "structure",
                    f"The answer to '{spec.link_id}' cannot contain nested items.",
                    _path(where, ".answer[0].item"),
                    spec.link_id,
                )
            if not isinstance(answer, dict) or set(answer) - {"item"} != {key}:
                self.fault(
                    "value",
                    f"The question '{spec.link_id}' takes {TYPE_WORDS[spec.type]}.",
                    _path(where, ".answer[0]"),
                    spec.link_id,
                )
                return
        checked = self.typed_value(spec, answer[key], where)
        if checked is not None:
            self.answers[spec.link_id] = checked

    def typed_value(self, spec: ItemSpec, value: Any, where: Where) -> AnswerValue | None:
        kind = spec.type
        if kind == "boolean":
            if value is True or value is False:
                return value
        elif kind == "choice":
            if isinstance(value, dict):
                if (value.get("system"), value.get("code")) in spec.options:
                    return value["code"]
                codes = ", ".join(sorted(code for _, code in spec.options))
                self.fault(
                    "code-invalid",
                    f"The answer to '{spec.link_id}' must be a Coding from the Questionnaire's "
                    f"answerOption (system and code), one of: {codes}.",
                    _path(where, f".answer[0].{spec.answer_key}"),
                    spec.link_id,
                )
                return None
        elif (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (kind == "decimal" or isinstance(value, int))
        ):
            if (spec.min_value is not None and value < spec.min_value) or (
                spec.max_value is not None and value > spec.max_value
            ):
                self.fault(
                    "value",
                    f"The answer to '{spec.link_id}' must be between {spec.min_value:g} and {spec.max_value:g}.",
                    _path(where, f".answer[0].{spec.answer_key}"),
                    spec.link_id,
                )
                return None
            return float(value) if kind == "decimal" else value
        self.fault(
            "value",
            f"The question '{spec.link_id}' takes {TYPE_WORDS[spec.type]}.",
            _path(where, f".answer[0].{spec.answer_key}"),
            spec.link_id,
        )
        return None

    def completeness(self) -> None:
        answers, bad = self.answers, self.bad_answers
        answered = set(answers) | bad
        for spec in self.index.checked:  # a question neither required nor conditional never faults here
            link_id = spec.link_id
            if spec.enabled_by and not spec.enabled(answers):
                if link_id in answers or link_id in bad:
                    # The answer may be a "yes" to a warning sign given against a "no" to the
                    # question that enables it: never drop it silently, never triage around it.
                    conditions = " and ".join(rule.words() for rule in spec.enabled_by)
                    self.fault(
                        "business-rule",
                        f"The question '{link_id}' is only asked depending on the answer to "
                        f"{conditions}, so it must not be answered here. The response may hold a "
                        "'yes' to a warning sign: it was not triaged, and must reach a clinician.",
                        _path(self.seen[link_id]),
                    )
                continue
            if link_id not in answers and link_id not in bad and self.index.required_now(spec, answered):
                warning_sign = spec.group == "warning-signs"
                where = self.seen.get(link_id)
                all_or_none = spec.group in self.index.all_or_none
                self.fault(
                    "required",
                    f"The {'warning sign' if warning_sign else 'question'} '{link_id}' is required "
                    "and has no answer"
                    + (
                        ": a missing warning sign is never taken as a no."
                        if warning_sign
                        else f": the group '{spec.group}' is answered all or none."
                        if all_or_none
                        else "."
                    ),
                    _path(where) if where is not None else _where(link_id),
                )


def _check_header(qr: dict[str, Any], checker: _Checker) -> tuple[str | None, dict[str, Any]]:
    """Status and subject (the Questionnaire named is read first, by `_version`)."""
    status = qr.get("status")
    if status not in ACCEPTED_STATUSES:
        checker.fault(
            "business-rule",
            f"Only a completed or amended QuestionnaireResponse can be triaged; this one is {_named(status)}.",
            "QuestionnaireResponse.status",
        )
    subject = qr.get("subject") or {}
    patient_id = None
    match = _PATIENT_REFERENCE.match(subject.get("reference") or "")
    if match:
        patient_id = match.group(1)
    elif not (subject.get("type") == "Patient" and subject.get("identifier") and not subject.get("reference")):
        checker.fault(
            "required" if not subject else "business-rule",
            "The response's subject must reference a Patient (e.g. 'Patient/123').",
            "QuestionnaireResponse.subject",
        )
    return patient_id, subject


def check_against_questionnaire(qr: dict[str, Any], version: str | None = None) -> ValidatedResponse:
    """Raise Rejected(422) with every fault, or return the answers by linkId.

    The response is checked against the Questionnaire version it names (the current one
    when it names the url alone). When it names none of ours its items cannot be judged
    (which version's linkIds?), so only the header is checked. `version` forces one (a stored
    response re-read with the version it was triaged by, whatever is current today)."""
    version = version or version_named(qr.get("questionnaire"))
    checker = _Checker(questionnaire_index(version or CURRENT_VERSION))
    if version is None:
        checker.fault(
            "business-rule",
            "The response must name the triage Questionnaire in 'questionnaire' "
            f"({QUESTIONNAIRE_URL}, optionally with |version: {', '.join(VERSIONS)}).",
            "QuestionnaireResponse.questionnaire",
        )
    patient_id, subject = _check_header(qr, checker)
    if version is not None:
        checker.root_items(qr.get("item") or [])
        checker.completeness()
    if checker.faults:
        raise Rejected(checker.faults, 422)
    return ValidatedResponse(qr, checker.answers, patient_id, subject, version or CURRENT_VERSION)


def validate_response(data: Any, version: str | None = None, fast_path_done: bool = False) -> ValidatedResponse:
    """The whole check: FHIR R4 first (400), then the Questionnaire's rules (422)."""
    check_fhir(data, fast_path_done)
    return check_against_questionnaire(data, version)
