"""GET /metrics in the Prometheus text format, counting by route template and disposition."""

from prometheus_client.parser import text_string_to_metric_families

from tests.support import answers_with, post_triage, response


def samples(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_metrics_count_requests_by_route_and_triages_by_disposition(client):
    before = samples(client)
    post_triage(client, response(answers_with(saddle_numbness=True)))
    post_triage(client, response(answers_with(fever=None)))  # 422
    client.get("/fhir/CarePlan/some-id")  # 404, counted under its template
    after = samples(client)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    route = "/fhir/QuestionnaireResponse/$triage"
    assert delta("lbp_http_requests_total", method="POST", route=route, status="201") == 1
    assert delta("lbp_http_requests_total", method="POST", route=route, status="422") == 1
    assert delta("lbp_http_requests_total", method="GET", route="/fhir/CarePlan/{resource_id}", status="404") == 1
    assert delta("lbp_triages_total", disposition="emergency") == 1
    assert delta("lbp_http_request_duration_seconds_count", method="POST", route=route) == 2
    assert not any("some-id" in str(key) for key in after)  # raw paths never become labels


def test_metrics_expose_webhook_queue_depth_and_delivery_counters(client):
    text = client.get("/metrics").text
    for name in ("lbp_webhook_queue_depth", "lbp_webhook_deliveries", "lbp_webhook_delivery_failures",
                 "lbp_webhook_retries"):
        assert name in text, name
