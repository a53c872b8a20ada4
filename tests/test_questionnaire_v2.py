"""Questionnaire 2.0.0 and its rules for accepting a response (rules-v2.md, "Questionnaire 2.0.0"
and "What a 422 means for safety"); questionnaire.md's rules hold for both versions."""

import pytest

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.fhir.outcome import Rejected, operation_outcome
from app.fhir.questionnaire import questionnaire, questionnaire_index
from app.rules.findings_v2 import FINDING_RULES_V2, INFLAMMATORY_ITEMS
from app.rules.stratification import STARTBACK_ITEMS
from app.triage.validation import validate_response
from tests.support import assert_valid_r4
from tests.support_v2 import ITEMS, answers_v2, response_v2, startback_answers

NEW_LINK_IDS = (
    "pain-unbearable",
    "pain-at-rest",
    "leg-weakness-progressing",
    "leg-weakness-both",
    "steroid-long-term",
    "bladder-bowel-new",
    "urination-new",
    "leg-symptoms-both",
    "sexual-dysfunction",
    "injury-major",
    "osteoporosis",
    "iv-drug-use",
    "spinal-procedure-recent",
    "very-unwell",
    "thoracic-pain",
    "abdominal-pain",
)
STARTBACK_LOINC = ("91340-0", "91341-8", "91342-6", "91343-4", "91344-2", "91345-9", "91346-7", "91347-5", "91348-3")


def rejected(qr):
    with pytest.raises(Rejected) as info:
        validate_response(qr)
    assert_valid_r4(operation_outcome(info.value.faults))
    return info.value


def test_questionnaire_2_is_valid_r4_with_the_same_url():
    q = questionnaire("2.0.0")
    assert_valid_r4(q)
    assert (q["url"], q["version"], q["id"]) == (QUESTIONNAIRE_URL, "2.0.0", "lbp-triage")
    v1 = questionnaire("1.0.0")
    assert_valid_r4(v1)
    assert (v1["url"], v1["version"], v1["id"]) == (QUESTIONNAIRE_URL, "1.0.0", "lbp-triage-1.0.0")


def test_new_link_ids_and_the_joined_ones_dropped():
    assert set(NEW_LINK_IDS) <= set(ITEMS)
    assert not {"pain-intolerable", "leg-weakness-worsening", "steroid-use"} & set(ITEMS)
    v1 = questionnaire_index("1.0.0").items
    for link_id in set(v1) & set(ITEMS):  # linkIds of version 1 keep their type
        assert v1[link_id].type == ITEMS[link_id].type, link_id


@pytest.mark.parametrize(
    "link_id, enabler, behavior",
    [
        ("leg-weakness-progressing", ("leg-weakness",), "all"),
        ("leg-weakness-both", ("leg-weakness",), "all"),
        ("bladder-bowel-new", ("bladder-bowel-control",), "all"),
        ("urination-new", ("urination-difficulty",), "all"),
        ("leg-symptoms-both", ("severe-leg-pain", "leg-tingling", "leg-numbness"), "any"),
        ("injury-major", ("injury",), "all"),
        ("very-unwell", ("fever",), "all"),
    ],
)
def test_enable_when_of_each_dependent_question(link_id, enabler, behavior):
    spec = ITEMS[link_id]
    assert spec.required and [rule.behavior for rule in spec.enabled_by] == [behavior]
    assert tuple(q for q, _ in spec.enable_when) == enabler
    for question in enabler:  # any one of them enables it ("any"), or the one does
        answers = answers_v2(**{question.replace("-", "_"): True})
        assert link_id in answers
        validate_response(response_v2(answers))


def test_startback_group_codes_and_neutral_labels():
    group = next(g for g in questionnaire("2.0.0")["item"] if g["linkId"] == "startback")
    assert group["code"] == [{"system": "http://loinc.org", "code": "91349-1"}]
    assert [i["linkId"] for i in group["item"]] == list(STARTBACK_ITEMS)
    for n, (item, loinc) in enumerate(zip(group["item"], STARTBACK_LOINC, strict=True), start=1):
        assert item["code"] == [{"system": "http://loinc.org", "code": loinc}]
        assert item["text"] == f"STarT Back item {n} (LOINC {loinc})"  # a label, not the tool's wording
    assert [o["valueCoding"]["code"] for o in group["item"][8]["answerOption"]] == [
        "not-at-all",
        "slightly",
        "moderately",
        "very-much",
        "extremely",
    ]


def test_inflammatory_group_is_asked_only_after_12_weeks():
    for link_id in INFLAMMATORY_ITEMS:
        assert ITEMS[link_id].enable_when == (("pain-duration", "gt-12w"),) and not ITEMS[link_id].required
    answers = answers_v2(pain_duration="gt-12w", ibp_buttock_pain=True)
    assert validate_response(response_v2(answers)).answers["ibp-buttock-pain"] is True
    early = dict(answers_v2(), **{"ibp-buttock-pain": True})
    fault = rejected(response_v2(early)).faults[0]
    assert fault.code == "business-rule" and "pain-duration" in fault.diagnostics


def test_a_disabled_question_answered_is_a_422_that_says_it_must_reach_a_clinician():
    answers = dict(answers_v2(leg_weakness=False), **{"leg-weakness-progressing": True})
    exc = rejected(response_v2(answers))
    assert exc.status == 422 and [f.code for f in exc.faults] == ["business-rule"]
    text = exc.faults[0].diagnostics
    assert "leg-weakness-progressing" in text and "warning sign" in text and "clinician" in text


def test_enable_behavior_any_disables_only_when_none_holds():
    answers = dict(answers_v2(), **{"leg-symptoms-both": False})  # no leg symptom at all
    assert (
        "'severe-leg-pain' or 'leg-tingling' or 'leg-numbness'" in rejected(response_v2(answers)).faults[0].diagnostics
    )


@pytest.mark.parametrize(
    "link_id, enabler",
    [
        ("bladder-bowel-new", "bladder_bowel_control"),
        ("urination-new", "urination_difficulty"),
        ("leg-weakness-progressing", "leg_weakness"),
        ("leg-weakness-both", "leg_weakness"),
        ("leg-symptoms-both", "leg_numbness"),
        ("injury-major", "injury"),
        ("very-unwell", "fever"),
    ],
)
def test_a_required_when_enabled_question_missing_is_a_422_never_a_no(link_id, enabler):
    answers = answers_v2(**{enabler: True})
    del answers[link_id]
    exc = rejected(response_v2(answers))
    assert [f.code for f in exc.faults] == ["required"] and link_id in exc.faults[0].expression


@pytest.mark.parametrize("sign", ["sexual-dysfunction", "steroid-long-term", "thoracic-pain", "pain-unbearable"])
def test_a_missing_new_required_question_is_an_error(sign):
    exc = rejected(response_v2(answers_v2(**{sign.replace("-", "_"): None})))
    assert exc.faults[0].code == "required" and sign in exc.faults[0].expression


def test_startback_is_all_or_none():
    validate_response(response_v2(answers_v2(**startback_answers(agree=2))))  # all nine
    validate_response(response_v2(answers_v2()))  # none
    partial = answers_v2(**startback_answers(agree=2))
    for link_id in ("sbt-3", "sbt-9"):
        del partial[link_id]
    exc = rejected(response_v2(partial, nested=True))
    assert sorted(f.expression for f in exc.faults) == [
        "QuestionnaireResponse.repeat(item).where(linkId='sbt-3')",
        "QuestionnaireResponse.repeat(item).where(linkId='sbt-9')",
    ]
    assert all("all or none" in f.diagnostics for f in exc.faults)


def test_a_v1_link_id_is_refused_in_a_v2_response_and_the_reverse():
    from tests.support import response

    qr = response_v2()
    qr["item"].append({"linkId": "steroid-use", "answer": [{"valueBoolean": False}]})
    assert "'steroid-use' is not a question" in rejected(qr).faults[0].diagnostics
    qr = response()
    qr["item"].append({"linkId": "osteoporosis", "answer": [{"valueBoolean": False}]})
    assert "'osteoporosis' is not a question" in rejected(qr).faults[0].diagnostics


@pytest.mark.parametrize(
    "canonical, version",
    [
        (QUESTIONNAIRE_URL, "2.0.0"),
        (QUESTIONNAIRE_URL + "|2.0.0", "2.0.0"),
    ],
)
def test_the_response_is_checked_against_the_version_it_names(canonical, version):
    assert validate_response(response_v2(questionnaire=canonical)).version == version
    assert rejected(response_v2(questionnaire=QUESTIONNAIRE_URL + "|1.0.0")).status == 422


def test_the_codesystems_gain_the_rules_2_codes_and_keep_the_rules_1_codes():
    from app.fhir.canonical import ANSWERS_CODESYSTEM_URL
    from app.fhir.codesystem import codesystems
    from app.rules.activities import ACTIVITY_RULES
    from app.rules.activities_v2 import ACTIVITY_RULES_V2
    from app.rules.findings import FINDING_RULES

    systems = codesystems()
    for cs in systems.values():
        assert_valid_r4(cs)
    defined = {c["code"]: c for g in systems["lbp-triage"]["concept"] for c in g["concept"]}
    used = {r.code for r in FINDING_RULES + FINDING_RULES_V2}
    used |= {r.row for r in ACTIVITY_RULES + ACTIVITY_RULES_V2} - {"directional-exercise"}
    used |= {"doctor-soon", "startback-medium-risk", "startback-high-risk"}
    assert used <= set(defined)
    tier = {
        c["code"]: {p["code"]: p.get("valueCode") or p.get("valueString") for p in c.get("property", ())}
        for c in defined.values()
    }
    assert tier["ces-urinary"]["tier"] == "E" and tier["urinary-difficulty"]["tier"] == "U"  # old code kept
    versions = {
        c: [p["valueString"] for p in defined[c]["property"] if p["code"] == "rules-version"]
        for c in ("leg-weakness", "ces-urinary-neuro", "rest-pain")
    }
    assert versions == {"leg-weakness": ["1.0.0", "2.0.0"], "ces-urinary-neuro": ["1.0.0"], "rest-pain": ["2.0.0"]}
    answer_codes = {c["code"] for c in systems["lbp-triage-answers"]["concept"]}
    for spec in ITEMS.values():
        for system, code in spec.options:
            assert system == ANSWERS_CODESYSTEM_URL and code in answer_codes
