"""JWT keys from a JWKS URL (hardening, finding 3): fetched off the event loop with a timeout,
served from cache, failures cached briefly, 503 (never 500) when no key can be had, and
unknown-kid refetches rate-limited. A hung identity provider stalls no other request."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey

from app.main import create_app
from app.settings import Settings
from tests.support import live
from tests.test_security import bearer, token


@pytest.fixture(scope="module")
def key():
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"})


class IdentityProvider:
    """A JWKS endpoint that serves, fails (500) or hangs until released."""

    def __init__(self, keys: bytes) -> None:
        self.mode = "serve"
        self.hits = 0
        self.hanging = threading.Event()  # a request is being held
        self.release = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                provider.hits += 1
                if provider.mode == "hang":
                    provider.hanging.set()
                    provider.release.wait(30)
                    return
                if provider.mode == "fail":
                    self.send_response(500)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("content-length", str(len(keys)))
                self.end_headers()
                self.wfile.write(keys)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"

    def stop(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def idp(key):
    provider = IdentityProvider(json.dumps(KeySet([key]).as_dict(private=False)).encode())
    yield provider
    provider.stop()


@pytest.fixture
def running(tmp_path):
    """Starts the app on a real uvicorn (one event loop, as in production) against a JWKS URL."""
    database_url = f"sqlite:///{tmp_path / 'jwks.db'}"  # the engine does not matter here
    with contextlib.ExitStack() as servers:

        def start(jwks_url):
            app = create_app(
                Settings(
                    database_url=database_url,
                    auto_migrate=True,
                    auth_mode="jwt",
                    jwt_jwks_url=jwks_url,
                    jwt_issuer="https://auth.example",
                    jwt_audience="lbp-triage",
                    jwt_jwks_timeout_seconds=3,
                    webhook_dispatcher="off",
                )
            )
            return servers.enter_context(live(app))

        yield start


def test_a_hung_identity_provider_stalls_no_other_request(idp, running, key):
    base = running(idp.url)
    good = bearer(token(key))
    assert httpx.get(f"{base}/fhir/CarePlan", headers=good).status_code == 200  # keys fetched, cached
    idp.mode = "hang"
    rotated = bearer(token(RSAKey.generate_key(2048, parameters={"kid": "key-2"})))
    waiting = {}
    unknown = threading.Thread(
        target=lambda: waiting.update(r=httpx.get(f"{base}/fhir/CarePlan", headers=rotated, timeout=30))
    )
    unknown.start()
    assert idp.hanging.wait(10)  # the unknown kid made the server refetch; the provider holds it
    # meanwhile everyone else is served, from the cached keys
    assert httpx.get(f"{base}/fhir/CarePlan", headers=good, timeout=30).status_code == 200
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
    assert unknown.is_alive()  # still waiting on the provider: it did not hold the others up
    idp.release.set()
    unknown.join(30)
    assert waiting["r"].status_code == 401  # the key is not known: the token is not valid


def test_no_keys_at_all_is_503_and_the_failure_is_cached(idp, running, key):
    idp.mode = "fail"
    base = running(idp.url)
    r = httpx.get(f"{base}/fhir/CarePlan", headers=bearer(token(key)))
    assert r.status_code == 503 and r.json()["resourceType"] == "OperationOutcome"
    assert int(r.headers["retry-after"]) >= 1
    hits = idp.hits
    for _ in range(5):
        assert httpx.get(f"{base}/fhir/CarePlan", headers=bearer(token(key))).status_code == 503
    assert idp.hits == hits  # failures are cached: the provider is not hammered


def test_unknown_kid_refetches_are_rate_limited(idp, running, key):
    base = running(idp.url)
    assert httpx.get(f"{base}/fhir/CarePlan", headers=bearer(token(key))).status_code == 200
    hits = idp.hits
    for n in range(10):
        stranger = RSAKey.generate_key(2048, parameters={"kid": f"stranger-{n}"})
        assert httpx.get(f"{base}/fhir/CarePlan", headers=bearer(token(stranger))).status_code == 401
    assert idp.hits - hits <= 1
