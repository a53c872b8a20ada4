"""The OpenAPI document describes the security: an HTTP bearer scheme (Swagger UI's
"Authorize" button) and, on every protected operation, the scope it needs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.security.access import match

_SCOPE_WORDS = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search": "s",
    "update": "u",
    "delete": "d",
}


def install_security_scheme(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        mode = app.state.settings.auth_mode
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT" if mode == "jwt" else "opaque",
                "description": "A bearer token with SMART scopes, e.g. system/CarePlan.rs. "
                f"This server runs with LBP_AUTH_MODE={mode}.",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                example = path.replace("{", "").replace("}", "")
                rule, _params = match(method.upper(), example)
                if rule is None or rule.resource_type is None:
                    continue
                resource_type = rule.resource_type if rule.resource_type != "*" else path.split("/")[2]
                interaction = rule.interaction
                if resource_type == "AuditEvent" and "{" not in path:
                    interaction = "search"
                operation["security"] = [{"bearer": []}]
                needed = f"system/{resource_type}.{_SCOPE_WORDS[interaction]}"
                operation["description"] = (
                    (operation.get("description") or "")
                    + f"\n\n**Scope:** `{needed}` (or `user/…`; `patient/…` for the token's own patient where it applies)."
                )
                operation.setdefault("responses", {}).setdefault(
                    "401",
                    {
                        "description": "No valid bearer token",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
                    },
                )
                operation["responses"].setdefault(
                    "403",
                    {
                        "description": "The token's scopes do not allow this",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
                    },
                )
                operation["responses"].setdefault(
                    "429",
                    {
                        "description": "Too many requests (Retry-After)",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
                    },
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
