"""Authentication: turn a request's bearer token into a Principal, or refuse it.

- none: no tokens; only loopback clients are served (a development mode, announced loudly
  at start-up).
- static: LBP_AUTH_TOKENS maps each token to its scopes (a list), or to an object
  {"scopes": [...], "patient": "123", "subject": "name"}.
- jwt: signed JWTs checked with joserfc against LBP_JWT_JWKS_URL (fetched, cached, refreshed
  on an unknown key id) or LBP_JWT_PUBLIC_KEY (PEM), with issuer, audience, expiry and an
  algorithm allowlist (`none` is never accepted). Scopes come from the `scope` claim, the
  patient from the `patient` claim.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from app.security.jwks import JwksCache, KeysUnavailable
from app.security.principal import Principal
from app.security.scopes import parse_scopes
from app.settings import Settings

LOCAL_TEST_CLIENTS = frozenset({"testclient"})  # Starlette's TestClient, in-process


class Unauthenticated(Exception):
    """No valid token: answered 401 with WWW-Authenticate."""

    def __init__(self, reason: str, error: str = "invalid_token") -> None:
        self.reason, self.error = reason, error
        super().__init__(reason)


class IssuerUnavailable(Exception):
    """The token issuer's keys cannot be had right now: 503, try again shortly."""


class LocalOnly(Exception):
    """Auth mode none and a client that is not on this machine: 403."""


def is_loopback(host: str | None) -> bool:
    if host in LOCAL_TEST_CLIENTS:
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("A bearer token is required.", error="")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use the Authorization: Bearer scheme.", error="invalid_request")
    return token.strip()


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth_mode
        self.settings = settings
        self._static: dict[str, Principal] = {}
        self._jwks: JwksCache | None = None
        if self.mode == "static":
            self._static = self._load_static(settings.auth_tokens)
        elif self.mode == "jwt":
            if not (settings.jwt_jwks_url or settings.jwt_public_key):
                raise ValueError("LBP_AUTH_MODE=jwt needs LBP_JWT_JWKS_URL or LBP_JWT_PUBLIC_KEY")
            if not settings.jwt_issuer or not settings.jwt_audience:
                raise ValueError("LBP_AUTH_MODE=jwt needs LBP_JWT_ISSUER and LBP_JWT_AUDIENCE")
            self._public_key = _pem_key(settings.jwt_public_key) if settings.jwt_public_key else None
            if self._public_key is None:
                assert settings.jwt_jwks_url  # checked above: no public key, so a JWKS URL
                self._jwks = JwksCache(settings.jwt_jwks_url, settings.jwt_jwks_timeout_seconds)
            self.algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
            if any(a.lower() == "none" or a.startswith("HS") for a in self.algorithms):
                raise ValueError("LBP_JWT_ALGORITHMS may name only asymmetric algorithms")
            self._claims = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": settings.jwt_issuer},
                aud={"essential": True, "value": settings.jwt_audience},
                exp={"essential": True},
                leeway=30,
            )

    @staticmethod
    def _load_static(text: str | None) -> dict[str, Principal]:
        if not text:
            raise ValueError("LBP_AUTH_MODE=static needs LBP_AUTH_TOKENS")
        table = json.loads(text)
        principals = {}
        for token, grant in table.items():
            if isinstance(grant, list):
                grant = {"scopes": grant}
            name = grant.get("subject") or "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]
            principals[token] = Principal(name, parse_scopes(grant.get("scopes", [])), grant.get("patient"))
        return principals

    async def authenticate_async(
        self, authorization: str | None, client_host: str | None, proxied: bool = False
    ) -> Principal:
        """authenticate(), with any key fetch it needs done off the event loop first."""
        if self._jwks is not None and authorization:
            token = authorization.partition(" ")[2].strip()
            if token.count(".") == 2:
                with contextlib.suppress(Unauthenticated):  # authenticate() says so
                    await self._jwks.prepare(_kid(token))
        return self.authenticate(authorization, client_host, proxied)

    def authenticate(self, authorization: str | None, client_host: str | None, proxied: bool = False) -> Principal:
        """The caller, or Unauthenticated (401), LocalOnly (403) or IssuerUnavailable (503).
        In JWT mode with a JWKS URL this may fetch keys (bounded by the timeout): from the
        event loop call authenticate_async."""
        if self.mode == "none":
            # Behind a proxy on this machine every client looks local: forwarded requests are not.
            if proxied or not is_loopback(client_host):
                raise LocalOnly()
            return Principal("local", (), unrestricted=True)
        token = _bearer(authorization)
        if self.mode == "static":
            principal = self._static.get(token)
            if principal is None:
                raise Unauthenticated("The token is not valid.")
            return principal
        return self._from_jwt(token)

    def _from_jwt(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key_set(token), algorithms=self.algorithms)
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError, KeyError) as exc:
            raise Unauthenticated(f"The token is not valid ({type(exc).__name__}).") from None
        claims = decoded.claims
        scope = claims.get("scope", "")
        subject = str(claims.get("sub") or claims.get("client_id") or "unknown")
        patient = claims.get("patient")
        return Principal(
            subject, parse_scopes(scope if isinstance(scope, (str, list)) else ""), str(patient) if patient else None
        )

    def _key_set(self, token: str) -> Any:
        if self._public_key is not None:
            return self._public_key
        assert self._jwks is not None
        try:
            return self._jwks.key_set(_kid(token))
        except KeysUnavailable:
            raise IssuerUnavailable() from None


def _kid(token: str) -> str | None:
    kid = _header(token).get("kid")
    return kid if isinstance(kid, str) else None


def _header(token: str) -> dict[str, Any]:
    import base64

    try:
        head = token.split(".", 1)[0]
        return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("The token is not a JWT.") from None


def _pem_key(pem: str) -> Any:
    from joserfc.jwk import ECKey, RSAKey

    text = pem.replace("\\n", "\n").encode()  # a PEM may arrive with escaped newlines from an env file
    for kind in (RSAKey, ECKey):
        try:
            return kind.import_key(text)
        except (ValueError, TypeError, JoseError):
            continue
    raise ValueError("LBP_JWT_PUBLIC_KEY is not an RSA or EC public key in PEM")
