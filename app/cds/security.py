"""Who may call the CDS services: CDS Hooks 2.0 § Trusting CDS Clients.

The EHR signs a short-lived JWT per call: `iss` must be an EHR the operator allowlisted
(LBP_CDS_CLIENTS, issuer → JWKS URL), the signature must verify with a key from that JWKS
(fetched, cached and refreshed by the project's JWT machinery, app.security.authn), `aud` must
be this service's URL, `exp` must be in the future and `jti` must never have been used before.
A `jku` header is accepted only when it names the allowlisted JWKS: keys are never fetched from
where a token says.

In auth mode `none` (development) no token is needed and, as for the FHIR API, only clients on
this machine are served.
"""

from __future__ import annotations

import base64
import inspect
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from app.fhir.outcome import HttpProblem
from app.security.authn import Authenticator, Unauthenticated, _bearer, _header, is_loopback
from app.settings import Settings
from app.store.tables import CdsTokenUse

U = CdsTokenUse.__table__
LEEWAY_SECONDS = 30
CDS_HOOKS_ALGORITHMS = ("RS384", "ES384")


@dataclass(frozen=True, slots=True)
class CdsCaller:
    client: str  # the EHR's issuer, or "local" in auth mode none


def parse_clients(text: str) -> dict[str, str]:
    if not text.strip():
        return {}
    try:
        table = json.loads(text)
    except ValueError:
        raise ValueError("LBP_CDS_CLIENTS must be a JSON object: issuer → JWKS URL") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise ValueError("LBP_CDS_CLIENTS must be a JSON object: issuer → JWKS URL")
    return table


def _claims_unverified(token: str) -> dict[str, Any]:
    """Only to pick the issuer's keys; nothing is trusted before the signature verifies."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        raise Unauthenticated("The token is not a JWT.") from None
    if not isinstance(claims, dict):
        raise Unauthenticated("The token is not a JWT.")
    return claims


def _refused(reason: str) -> HttpProblem:
    return HttpProblem(401, "login", reason, headers={"WWW-Authenticate": 'Bearer realm="lbp-triage-cds"'})


class CdsAuthenticator:
    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth_mode
        self.clients = parse_clients(settings.cds_clients)
        # CDS Hooks 2.0 asks services to accept ES384 and RS384 beside the site's own choice.
        site = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        self.algorithms = list(dict.fromkeys([*site, *CDS_HOOKS_ALGORITHMS]))
        # One JWT authenticator per allowlisted EHR: its JWKS cache, refresh and key rotation
        # are the project's (app.security.authn); only the claims below are CDS Hooks' own.
        self._key_sources = {
            issuer: Authenticator(
                settings.model_copy(
                    update={
                        "auth_mode": "jwt",
                        "jwt_jwks_url": jwks_url,
                        "jwt_public_key": None,
                        "jwt_issuer": issuer,
                        "jwt_audience": "cds-hooks",
                    }
                )
            )
            for issuer, jwks_url in self.clients.items()
        }

    async def authenticate(
        self, authorization: str | None, client_host: str | None, proxied: bool, audiences: list[str], engine: Engine
    ) -> CdsCaller:
        if self.mode == "none":
            if proxied or not is_loopback(client_host):
                raise HttpProblem(
                    403,
                    "forbidden",
                    "This server runs without authentication "
                    "(LBP_AUTH_MODE=none) and serves only clients on the same machine.",
                )
            return CdsCaller("local")
        try:
            token = _bearer(authorization)
            header = _header(token)
            issuer = _claims_unverified(token).get("iss")
            if not isinstance(issuer, str) or (source := self._key_sources.get(issuer)) is None:
                raise Unauthenticated("The token's issuer is not an allowlisted CDS client.")
            if "jku" in header and header["jku"] != self.clients[issuer]:
                raise Unauthenticated("The token's jku is not the issuer's allowlisted JWKS URL.")
            keys = await self._keys(source, token)
            decoded = jwt.decode(token, keys, algorithms=self.algorithms)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "values": audiences},
                exp={"essential": True},
                jti={"essential": True},
                leeway=LEEWAY_SECONDS,
            ).validate(decoded.claims)
        except Unauthenticated as exc:
            raise _refused(exc.reason) from None
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise _refused(f"The token is not valid ({type(exc).__name__}).") from None
        except Exception:  # the JWKS could not be fetched: the EHR cannot be trusted now
            raise _refused("The issuer's keys could not be fetched.") from None
        claims = decoded.claims
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC) + timedelta(seconds=LEEWAY_SECONDS)
        if not await anyio.to_thread.run_sync(_first_use, engine, issuer, str(claims["jti"]), expires):
            raise _refused("The token's jti was used before (replay).")
        return CdsCaller(issuer)

    @staticmethod
    async def _keys(source: Authenticator, token: str) -> Any:
        fetch = source._key_set
        if inspect.iscoroutinefunction(fetch):
            return await fetch(token)
        return await anyio.to_thread.run_sync(fetch, token)


def _first_use(engine: Engine, issuer: str, jti: str, expires: datetime) -> bool:
    """Record the token id; False if it was recorded before. Expired ids are pruned meanwhile
    (a token past its expiry is refused anyway)."""
    if len(jti) > 255 or len(issuer) > 255:
        return False
    try:
        with engine.begin() as connection:
            connection.execute(insert(U), {"issuer": issuer, "jti": jti, "expires": expires})
    except IntegrityError:
        return False
    with engine.begin() as connection:
        connection.execute(delete(U).where(U.c.expires < datetime.now(UTC) - timedelta(minutes=5)))
    return True
