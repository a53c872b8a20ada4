"""CDS Hooks test kit: an EHR that signs its calls (a key and a JWKS served on loopback), a fake
EHR FHIR server, the app served by a real uvicorn, and the CDS Hooks 2.0 JSON Schemas."""

from __future__ import annotations

import json
import threading
import time
import uuid
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.support import DATA, live  # noqa: F401 - live is imported from here by the CDS and SMART tests

EHR_ISSUER = "https://ehr.example.org"
CPT = "http://www.ama-assn.org/go/cpt"


@cache
def _schema() -> dict[str, Any]:
    return json.loads((DATA / "cds-hooks-2.0.schema.json").read_text())


def shape_errors(definition: str, instance: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    schema = _schema()
    validator = Draft202012Validator(
        {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def assert_shape(definition: str, instance: Any) -> None:
    errors = shape_errors(definition, instance)
    assert not errors, errors[:5]


class Served:
    """A small HTTP server on loopback answering GETs from a table path → (status, JSON);
    it records what it was asked, headers included."""

    def __init__(self, routes: dict[str, tuple[int, Any]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests.append((self.path, dict(self.headers.items())))
                status, body = served.routes.get(self.path.split("?", 1)[0], (404, {"error": "not found"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Ehr:
    """The calling EHR: its signing key, its JWKS served on loopback."""

    def __init__(self, issuer: str = EHR_ISSUER) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(2048, parameters={"kid": "ehr-1", "use": "sig"})
        self.jwks = Served({"/jwks.json": (200, KeySet([self.key]).as_dict(private=False))})

    @property
    def jwks_url(self) -> str:
        return f"{self.jwks.url}/jwks.json"

    def token(
        self,
        audience: str,
        *,
        exp_in: int = 300,
        jti: str | None = None,
        key: Any = None,
        header: dict[str, Any] | None = None,
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": "ehr-client",
            "aud": audience,
            "iat": now,
            "exp": now + exp_in,
            "jti": jti or str(uuid.uuid4()),
            **claims,
        }
        signer = key or self.key
        return jwt.encode(
            {"alg": alg, "typ": "JWT", "kid": signer.kid, **(header or {})}, payload, signer, algorithms=[alg]
        )

    def close(self) -> None:
        self.jwks.close()


def imaging_order(code: str = "72148", order_id: str = "order-1", patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": CPT, "code": code}]},
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def hook_request(
    hook: str, patient: str = "p1", *, prefetch: Any = "absent", orders: list | None = None, **fields: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": patient}
    if hook == "encounter-start":
        context["encounterId"] = "enc-1"
    if hook in ("order-sign", "order-select"):
        orders = orders if orders is not None else [imaging_order(patient=patient)]
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": o} for o in orders],
        }
        if hook == "order-select":
            context["selections"] = [f"ServiceRequest/{o['id']}" for o in orders] or ["ServiceRequest/none"]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **fields}
    if prefetch != "absent":
        body["prefetch"] = {"lbpResponse": prefetch}
    return body
