"""A real FHIR client library (fhirpy) reads and searches the service over HTTP."""

import httpx
from fhirpy import SyncFHIRClient

from tests.support import TRIAGE, answers_with, response


def test_fhirpy_searches_all_pages_and_reads(live_server):
    made = []
    with httpx.Client(base_url=live_server) as http:
        for i in range(5):
            r = http.post(
                TRIAGE,
                json=response(answers_with(injury=bool(i % 2)), patient="fp"),
                headers={"Content-Type": "application/fhir+json"},
            )
            made.append(r.json()["id"])
        http.post(TRIAGE, json=response(patient="someone-else"), headers={"Content-Type": "application/fhir+json"})

    client = SyncFHIRClient(f"{live_server}/fhir")
    plans = client.resources("CarePlan").search(subject="Patient/fp").limit(2).fetch_all()  # follows `next`
    assert [p.id for p in plans] == list(reversed(made))
    assert client.resources("CarePlan").search(subject="Patient/fp", category="doctor").count() == 2
    one = client.reference("CarePlan", made[0]).to_resource()
    assert one["category"][0]["coding"][0]["code"] == "self-care"
    encounter = client.reference("Encounter", one["encounter"]["reference"].split("/")[1]).to_resource()
    assert encounter["subject"]["reference"] == "Patient/fp"
    responses = client.resources("QuestionnaireResponse").search(patient="fp").fetch_all()
    assert len(responses) == 5
    questionnaire = client.resources("Questionnaire").search(url=response()["questionnaire"]).first()
    assert questionnaire["id"] == "lbp-triage-1.0.0"  # the version the response names


def test_fhir_clients_still_search_a_patients_responses_after_every_kind_of_bad_submission(live_server):
    """Issue 9: one invalid submission stored as sent broke fhirclient's searches for that patient."""
    import orjson
    from fhirclient import server as fhirclient_server
    from fhirclient.models.careplan import CarePlan
    from fhirclient.models.questionnaireresponse import QuestionnaireResponse

    from tests.test_api_strict_fhir import BAD_NARRATIVES, MODIFIER, MUTATIONS, _duplicated_boolean_body

    patient = "fc"
    bad_bodies: list[bytes] = []
    for mutate, _ in MUTATIONS.values():
        qr = response(answers_with(bladder_bowel_control=True), patient=patient)
        mutate(qr)
        wrapped = {"resourceType": "Parameters", "parameter": [{"name": "response", "resource": qr}]}
        bad_bodies += [orjson.dumps(qr), orjson.dumps(wrapped)]
    bad_bodies.append(_duplicated_boolean_body().replace(b"Patient/p1", f"Patient/{patient}".encode()))
    for field, value in (
        ("modifierExtension", MODIFIER),
        ("_status", "false"),
        ("text", {"status": "generated", "div": BAD_NARRATIVES["script"]}),
    ):
        bad_bodies.append(orjson.dumps(response(patient=patient, **{field: value})))

    with httpx.Client(base_url=live_server) as http:
        headers = {"Content-Type": "application/fhir+json"}
        good = http.post(TRIAGE, json=response(patient=patient), headers=headers)
        assert good.status_code == 201
        for body in bad_bodies:
            assert http.post(TRIAGE, content=body, headers=headers).status_code == 400, body[:200]

    py = SyncFHIRClient(f"{live_server}/fhir")
    assert len(py.resources("QuestionnaireResponse").search(patient=patient).fetch_all()) == 1
    assert [p.id for p in py.resources("CarePlan").search(subject=f"Patient/{patient}").fetch_all()] == [
        good.json()["id"]
    ]

    smart = fhirclient_server.FHIRServer(None, base_uri=f"{live_server}/fhir/")
    by_subject = {"subject": f"Patient/{patient}"}
    responses = list(QuestionnaireResponse.where(struct=by_subject).perform_resources_iter(smart))
    plans = list(CarePlan.where(struct=by_subject).perform_resources_iter(smart))
    assert len(responses) == 1 and responses[0].status == "completed"
    assert [p.id for p in plans] == [good.json()["id"]]
