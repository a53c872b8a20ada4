"""Reads and searches: ETag and meta, subject/date/category filters, stable paging newest first."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import answers_with, assert_fhir_response, post_triage, response


def triage_many(client, patients_and_answers):
    return [
        post_triage(client, response(answers_with(**answers), patient=patient)).json()
        for patient, answers in patients_and_answers
    ]


def test_read_with_etag_and_if_none_match(client):
    careplan = post_triage(client, response()).json()
    r = client.get(f"/fhir/CarePlan/{careplan['id']}")
    assert r.headers["etag"] == 'W/"1"'
    assert client.get(f"/fhir/CarePlan/{careplan['id']}", headers={"If-None-Match": 'W/"1"'}).status_code == 304


def test_search_by_subject_newest_first_with_total(client):
    made = triage_many(client, [("a", {}), ("b", {}), ("a", dict(injury=True)), ("a", dict(saddle_numbness=True))])
    bundle = assert_fhir_response(client.get("/fhir/CarePlan", params={"subject": "Patient/a"}), 200, "Bundle")
    assert bundle["type"] == "searchset" and bundle["total"] == 3
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert ids == [made[3]["id"], made[2]["id"], made[0]["id"]]
    assert all(e["fullUrl"].endswith(f"/fhir/CarePlan/{e['resource']['id']}") for e in bundle["entry"])
    assert client.get("/fhir/CarePlan", params={"patient": "a"}).json()["total"] == 3
    assert client.get("/fhir/Encounter", params={"subject": "Patient/b"}).json()["total"] == 1
    assert client.get("/fhir/QuestionnaireResponse", params={"subject": "Patient/a"}).json()["total"] == 3


def test_search_by_category_and_date(client):
    triage_many(client, [("a", dict(saddle_numbness=True)), ("b", dict(pain_intolerable=True)), ("c", {})])
    urgent = client.get("/fhir/CarePlan", params={"category": "urgent"}).json()
    assert urgent["total"] == 1 and urgent["entry"][0]["resource"]["subject"]["reference"] == "Patient/b"
    system = "https://lbp-triage.org/fhir/CodeSystem/lbp-triage"
    assert client.get("/fhir/CarePlan", params={"category": f"{system}|emergency"}).json()["total"] == 1
    assert client.get("/fhir/CarePlan", params={"category": "nonsense"}).json()["total"] == 0
    today = datetime.now(UTC).date()
    assert client.get("/fhir/CarePlan", params={"date": f"ge{today}"}).json()["total"] == 3
    assert client.get("/fhir/CarePlan", params={"date": f"lt{today}"}).json()["total"] == 0
    assert client.get("/fhir/CarePlan", params={"date": str(today)}).json()["total"] == 3
    tomorrow = today + timedelta(days=1)
    both = [("date", f"ge{today}"), ("date", f"lt{tomorrow}"), ("subject", "Patient/c")]
    assert client.get("/fhir/Encounter", params=both).json()["total"] == 1
    assert client.get("/fhir/QuestionnaireResponse", params={"authored": "2026-11-20"}).json()["total"] == 3
    assert client.get("/fhir/QuestionnaireResponse", params={"authored": "gt2026-11-20"}).json()["total"] == 0


@pytest.mark.parametrize("resource_type", ["CarePlan", "Encounter", "QuestionnaireResponse"])
def test_paging_across_several_pages_is_stable(client, resource_type):
    made = triage_many(client, [("p", {})] * 7)
    expected = [cp["id"] for cp in reversed(made)]
    if resource_type != "CarePlan":
        field = "encounter" if resource_type == "Encounter" else None
        expected = [
            (cp["encounter"]["reference"] if field else cp["supportingInfo"][0]["reference"]).split("/")[1]
            for cp in reversed(made)
        ]
    url, seen, pages = f"/fhir/{resource_type}?subject=Patient/p&_count=3", [], 0
    while url:
        bundle = assert_fhir_response(client.get(url), 200, "Bundle")
        assert bundle["total"] == (7 if pages == 0 else 8)
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        pages += 1
        if pages == 1:  # a triage arriving meanwhile does not shift the pages already cut
            post_triage(client, response(patient="p"))
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert pages == 3 and seen == expected


def test_count_is_capped_and_zero_gives_only_the_total(client):
    triage_many(client, [("z", {})] * 3)
    bundle = client.get("/fhir/CarePlan", params={"_count": "0"}).json()
    assert bundle["total"] == 3 and bundle["entry"] == []
    assert client.get("/fhir/CarePlan", params={"_count": "100000"}).json()["link"][0]["url"].endswith("_count=200")
