"""GET /metrics in the Prometheus text format, counting by route template and disposition."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import answers_with, post_triage, response


def samples(client):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


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
    """The queue depth is what waits in the outbox (counted at scrape time when no dispatcher
    runs here), and the delivery counters are declared for Prometheus."""
    from tests.webhook_support import subscribe

    def families():
        return {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}

    def depth():
        return families()["lbp_webhook_queue_depth"].samples[0].value

    assert depth() == 0
    subscribe(client, "http://127.0.0.1:9/receiver")  # its handshake waits (no dispatcher in tests)
    post_triage(client, response(answers_with()))  # and one notification
    assert depth() == 2
    found = families()
    for name, kind in (
        ("lbp_webhook_deliveries", "counter"),
        ("lbp_webhook_delivery_failures", "counter"),
        ("lbp_webhook_retries", "counter"),
    ):
        assert found[name].type == kind, name


def test_metrics_of_several_worker_processes_are_summed(tmp_path):
    """`lbp-triage serve --workers 2` shares counters through PROMETHEUS_MULTIPROC_DIR: every
    scrape, whichever worker answers it, counts the requests of both."""
    import os
    import re
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["LBP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'm.db'}"
    # The service's log goes to a file (a pipe nobody reads would fill and stall the workers),
    # and is shown when the test fails.
    log_path = tmp_path / "serve.log"
    log_file = open(log_path, "w")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        text=True,
    )

    def log() -> str:
        return "the service's log:\n" + log_path.read_text()[-4000:]

    try:
        deadline = time.monotonic() + 60
        while not (shared := re.search(r"share their metrics in (\S+)", log_path.read_text())):
            assert time.monotonic() < deadline, log()
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start; " + log()
            time.sleep(0.1)
        # both workers are up once each has its own files in the shared directory
        deadline = time.monotonic() + 60
        while (
            len(
                {
                    re.search(r"_(\d+)\.db$", f).group(1)
                    for f in os.listdir(shared.group(1))
                    if re.search(r"_(\d+)\.db$", f)
                }
            )
            < 2
        ):
            assert time.monotonic() < deadline, os.listdir(shared.group(1))
            time.sleep(0.1)
        for _ in range(30):  # a new connection each: the workers share them out
            try:
                assert httpx.get(f"{base}/fhir/metadata").status_code == 200
            except httpx.TransportError as exc:
                raise AssertionError(log()) from exc
        for _ in range(6):
            counted = [
                s.value
                for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
                for s in family.samples
                if s.name == "lbp_http_requests_total" and s.labels.get("route") == "/fhir/metadata"
            ]
            assert counted == [30.0], (counted, log())
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()
    assert not os.path.exists(shared.group(1))  # cleaned up at exit


@pytest.mark.parametrize("enabled", [False, True])
def test_fastapis_opentelemetry_is_consulted_only_when_enabled(tmp_path, monkeypatch, enabled):
    """LBP_OPENTELEMETRY=true hands requests to FastAPI's OpenTelemetry (the globally configured
    providers); off, the default, no request looks the providers up."""
    from fastapi.testclient import TestClient
    from opentelemetry import trace

    from app.main import create_app
    from app.settings import Settings

    looked_up = []
    real = trace.get_tracer_provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: looked_up.append(1) or real())
    application = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'otel.db'}", auto_migrate=True, opentelemetry=enabled)
    )
    with TestClient(application) as client:
        looked_up.clear()
        assert client.get("/fhir/metadata").status_code == 200
    assert bool(looked_up) is enabled
