"""Client address and scheme from X-Forwarded-For / X-Forwarded-Proto, believed only from the
proxies named in LBP_TRUSTED_PROXIES (none by default: not even loopback, since anything on the
machine could send them).

Pure ASGI, outermost: the rate limits, the audit trail and the links all see the result. The
client is the nearest address in X-Forwarded-For that no trusted proxy vouches for (walking
from the right); addresses further left were written by that client and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 192.168.1.7' → networks; ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _trusted(address: str | None, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            if client and _trusted(client[0], self.trusted):
                headers = dict(scope.get("headers") or [])
                forwarded_for = headers.get(b"x-forwarded-for")
                if forwarded_for:
                    hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",") if h.strip()]
                    for hop in reversed(hops):
                        if not _trusted(hop, self.trusted):
                            scope["client"] = (hop, 0)
                            break
                proto = headers.get(b"x-forwarded-proto")
                if proto:
                    value = proto.decode("latin-1").split(",")[0].strip().lower()
                    if value in ("http", "https"):
                        scope["scheme"] = value
        await self.app(scope, receive, send)
