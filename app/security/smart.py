"""SMART App Launch discovery (jwt mode): where the site's authorization server is.

Served as /.well-known/smart-configuration (at the server root and under /fhir) and as the
CapabilityStatement's `oauth-uris` extension, both from the smart_* settings (LBP_SMART_AUTHORIZE_URL, LBP_SMART_TOKEN_URL, …). In the other
auth modes there is no authorization server to point at, so neither is published.
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
)
SCOPES = (
    "launch",
    "launch/patient",
    "offline_access",
    "patient/QuestionnaireResponse.c",
    "patient/CarePlan.rs",
    "patient/Encounter.rs",
    "patient/QuestionnaireResponse.rs",
    "user/CarePlan.rs",
    "system/QuestionnaireResponse.c",
    "system/CarePlan.rs",
    "system/Subscription.cruds",
    "system/AuditEvent.rs",
)


def published(settings: Settings) -> bool:
    return settings.auth_mode == "jwt" and bool(settings.smart_authorize_url and settings.smart_token_url)


def smart_configuration(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "issuer": settings.jwt_issuer,
        "authorization_endpoint": settings.smart_authorize_url,
        "token_endpoint": settings.smart_token_url,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "capabilities": list(CAPABILITIES),
        "code_challenge_methods_supported": ["S256"],
    }
    if settings.jwt_jwks_url:
        config["jwks_uri"] = settings.jwt_jwks_url
    optional = {
        "registration_endpoint": settings.smart_registration_url,
        "management_endpoint": settings.smart_management_url,
        "introspection_endpoint": settings.smart_introspection_url,
        "revocation_endpoint": settings.smart_revocation_url,
    }
    config.update({k: v for k, v in optional.items() if v})
    return {k: v for k, v in config.items() if v is not None}


def oauth_uris_extension(settings: Settings) -> dict[str, Any]:
    parts = {
        "authorize": settings.smart_authorize_url,
        "token": settings.smart_token_url,
        "register": settings.smart_registration_url,
        "manage": settings.smart_management_url,
        "introspect": settings.smart_introspection_url,
        "revoke": settings.smart_revocation_url,
    }
    return {"url": OAUTH_URIS, "extension": [{"url": name, "valueUri": uri} for name, uri in parts.items() if uri]}


def add_oauth_uris(capability: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The CapabilityStatement's security section gains the oauth-uris extension (jwt mode)."""
    if published(settings):
        for rest in capability.get("rest") or ():
            security = rest.setdefault("security", {})
            security.setdefault("extension", []).append(oauth_uris_extension(settings))
    return capability
