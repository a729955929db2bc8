"""Outbound HTTP to URLs that users supply (api sources, webhooks): internal addresses refused.

The rule: only http and https, and only publicly routable addresses. Loopback, link-local
(the 169.254.169.254 metadata service), private (RFC 1918), carrier-grade NAT, unique-local,
unspecified, multicast and reserved addresses are refused, as are their IPv4-mapped IPv6
forms; `KPI_OUTBOUND_ALLOW` opens chosen ranges (on-premise sources, tests).

It is checked twice:

- when a URL is saved (`check_url`): the scheme, a literal address in the host, and names
  that always mean this machine (`localhost`); ordinary names are not resolved then, since
  DNS answers change and may not be reachable from where the definition is written;
- when a connection is opened (`client`): the HTTP client's network backend resolves the
  host itself, checks every address it resolves to, and connects to one of those checked
  addresses. Nothing resolves the name a second time, so a name whose DNS answer changes
  between check and use (DNS rebinding) cannot slip through. Because the check sits under
  httpcore, the URL, the Host header, TLS SNI and certificate checks keep the host name, and
  pooled connections stay keyed by it. Proxies from the environment are not used (a proxy
  would make the connection to the internal address on our behalf).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that are this machine whatever DNS says (RFC 6761; Debian's /etc/hosts aliases).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOOPBACK: tuple[Address, ...] = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_SCHEMES = ("http", "https")


class OutboundRefused(Exception):
    """A URL or address that outbound requests may not reach; the message says why in our
    words (never the URL, which may carry query parameters)."""


def parse_allow(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated CIDR list (`10.0.0.0/8,::1/128`); ValueError names
    the first entry that is not one."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            raise ValueError(
                f"not a list of CIDR ranges such as 10.0.0.0/8,::1/128: {exc}",
            ) from None
    return tuple(networks)


def _kind(address: Address) -> str | None:
    """What makes an address internal, or None for a publicly routable one."""
    checks = (
        ("a loopback", address.is_loopback),
        ("an unspecified", address.is_unspecified),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
    )
    for kind, hit in checks:
        if hit:
            return f"{kind} address"
    # e.g. 100.64.0.0/10 (carrier-grade NAT), which is neither private nor public.
    return None if address.is_global else "a non-public address"


def refusal(address: Address, allow: Iterable[Network]) -> str | None:
    """Why an address may not be reached (e.g. "a loopback address"), or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allow):
        return None
    return _kind(address)


def _literal(host: str) -> Address | None:
    """The address a URL host spells, in any form a resolver would read without DNS."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads the legacy forms too: 127.1, 0x7f.0.0.1, 2130706433.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_url(url: str, allow: Sequence[Network]) -> None:
    """Refuse, with OutboundRefused, a URL whose scheme is not http(s) or whose host is an
    internal address or a name for this machine; other names are checked when connecting."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise OutboundRefused("it is not a valid URL") from None
    if parts.scheme.lower() not in _SCHEMES:
        raise OutboundRefused("only http and https URLs are allowed")
    if not host:
        raise OutboundRefused("it must name a host")
    host = host.rstrip(".").lower()
    address = _literal(host)
    if address is not None:
        candidates: tuple[Address, ...] = (address,)
    elif host in _LOCAL_NAMES or host.endswith(".localhost"):
        # Either loopback address may be the one it names; connecting checks which.
        candidates = _LOOPBACK
    else:
        return
    reasons = [refusal(candidate, allow) for candidate in candidates]
    if all(reasons):
        raise OutboundRefused(
            f"its host is {reasons[0]}; internal addresses are refused "
            "unless KPI_OUTBOUND_ALLOW opens them"
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses: it resolves the
    host, refuses it if any address is internal, and connects to the checked addresses."""

    def __init__(
        self, allow: Sequence[Network], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._allow = tuple(allow)
        self._inner = inner or httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[Address]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the host name timed out") from None
        except OSError:
            raise httpcore.ConnectError("the host name could not be resolved") from None
        # sockaddr[0] is the address text (IPv6 may carry a %scope, which ip_address reads).
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))

    # The signatures are httpcore's, timeout parameters included.
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            reason = refusal(address, self._allow)
            if reason is not None:
                raise OutboundRefused(
                    f"the host resolves to {reason}; internal addresses "
                    "are refused unless KPI_OUTBOUND_ALLOW opens them"
                )
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:  # the next address may answer
                failure = exc
        raise failure or httpcore.ConnectError("the host name has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(allow: Sequence[Network], *, limits: httpx.Limits, timeout: float) -> httpx.AsyncClient:
    """An HTTP client for user-supplied URLs: internal addresses refused at connect time
    (OutboundRefused), no redirects, no proxy or .netrc from the environment."""
    # Certificates as httpx finds them by default (certifi, or SSL_CERT_FILE / SSL_CERT_DIR).
    tls = httpx.create_ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
    # httpx takes no network backend, so its pool is replaced by one built with ours; the
    # check makes a future httpx that stores its pool elsewhere fail loudly, not open.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("this httpx version keeps its connection pool elsewhere")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(allow),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
