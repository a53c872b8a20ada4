"""Safety of outgoing calls: a subscriber's URL is untrusted input (SSRF).

A URL is accepted when it is https (http only for allowlisted hosts), carries no credentials,
and its host resolves only to public addresses — never loopback, private, shared, link-local,
multicast, reserved, unspecified or cloud metadata ones, including IPv4 addresses hidden in
IPv6 forms (mapped, 6to4, NAT64; Teredo is refused outright). Operators allowlist hosts or
CIDRs for on-premises receivers (LBP_WEBHOOK_ALLOWED_HOSTS); nothing else reaches them.

The dispatcher connects to the very address that was checked (`Target.url` has the IP as
its host; the Host header and TLS SNI carry the name), so DNS cannot be changed between
the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services; some are public addresses (Azure's wireserver) and so need naming.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
RESOLVE_TIMEOUT = 5.0


class Refused(ValueError):
    """The URL may not be called; the message says why without repeating the URL."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: connect to `url` (IP host), send `host_header`, verify TLS for `sni`."""

    url: httpx.URL
    host_header: str
    sni: str | None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address that is no metadata service."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None or ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public(embedded)
    if ip in METADATA_ADDRESSES:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class OutboundPolicy:
    """Which webhook URLs may be called, from LBP_WEBHOOK_ALLOWED_HOSTS."""

    def __init__(self, allowed_hosts: Iterable[str] = (), allowed_networks: Iterable[IPNetwork] = ()) -> None:
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self.allowed_networks = tuple(allowed_networks)

    @classmethod
    def from_setting(cls, value: str) -> OutboundPolicy:
        hosts, networks = [], []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.append(item)
        return cls(hosts, networks)

    def _address_allowed(self, ip: IPAddress, host_allowlisted: bool) -> bool:
        if host_allowlisted or any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return True
        return is_public(ip)

    def check_url(self, endpoint: str) -> httpx.URL:
        """The parts of the URL that need no DNS: scheme, credentials, host."""
        try:
            url = httpx.URL(endpoint)
            url.host, url.port  # noqa: B018 (parsed lazily by some versions)
        except Exception:  # whatever the URL parser objects to
            raise Refused("The endpoint is not a valid URL.") from None
        if url.scheme not in ("https", "http") or not url.host:
            raise Refused("The endpoint must be an https URL.")
        if url.userinfo:
            raise Refused("The endpoint must not carry credentials; use channel.header.")
        if url.fragment:
            raise Refused("The endpoint must not have a fragment.")
        return url

    def _allowlisted_for_http(self, host: str) -> bool:
        if host.lower().rstrip(".") in self.allowed_hosts:
            return True
        ip = _literal_ip(host)
        return ip is not None and any(ip.version == n.version and ip in n for n in self.allowed_networks)

    async def resolve(self, endpoint: str) -> Target:
        """Check the URL, resolve its host once, check every address; the first one is the target."""
        url = self.check_url(endpoint)
        host = url.host
        named = host.lower().rstrip(".") in self.allowed_hosts
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = _literal_ip(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                with anyio.fail_after(RESOLVE_TIMEOUT):
                    found = await _getaddrinfo(host, port)
            except (OSError, TimeoutError, UnicodeError, ValueError):
                raise Refused("The endpoint's host name does not resolve.") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in dict.fromkeys(found)]
            if not addresses:
                raise Refused("The endpoint's host name does not resolve.")
        for ip in addresses:
            if not self._address_allowed(ip, named):
                raise Refused(
                    "The endpoint resolves to a loopback, private, link-local, reserved or "
                    "metadata address; only allowlisted hosts may be such."
                )
        if url.scheme == "http" and not (named or all(self._allowlisted_for_http(str(ip)) for ip in addresses)):
            raise Refused("The endpoint must use https (http is only for hosts the operator allowlists).")
        default_port = url.port is None
        host_header = url.netloc.decode("ascii") if not default_port else url.raw_host.decode("ascii")
        return Target(
            url=url.copy_with(host=str(addresses[0])),
            host_header=host_header,
            sni=host if url.scheme == "https" and literal is None else None,
        )
