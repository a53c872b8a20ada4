"""A real FHIR client library (fhirpy) reads and searches the service over HTTP."""

import httpx
from fhirpy import SyncFHIRClient

from tests.support import TRIAGE, answers_with, response


def test_fhirpy_searches_all_pages_and_reads(live_server):
    made = []
    with httpx.Client(base_url=live_server) as http:
        for i in range(5):
            r = http.post(TRIAGE, json=response(answers_with(injury=bool(i % 2)), patient="fp"),
                          headers={"Content-Type": "application/fhir+json"})
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
