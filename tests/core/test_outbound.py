"""The outbound URL policy: which addresses are internal, the save-time URL check, and the
connect-time check against real servers on 127.0.0.1 (no network, no DNS beyond /etc/hosts)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from kpi_service.core import outbound
from kpi_service.core.outbound import OutboundRefused, check_url, parse_allow, refusal
from kpi_service.core.settings import Settings
from tests.support.http import LocalServer

LOOPBACK = parse_allow("127.0.0.0/8,::1/128")
LIMITS = httpx.Limits(max_connections=2)


class Counting:
    """A real HTTP server on 127.0.0.1 that counts the requests it gets and their Host."""

    def __init__(self, **options: Any) -> None:
        self.hosts: list[str] = []
        self.server = LocalServer(
            Starlette(routes=[Route("/{path:path}", self._answer)]), "counting server", **options
        )

    async def _answer(self, request: Request) -> PlainTextResponse:
        self.hosts.append(request.headers["host"])
        return PlainTextResponse("hello")

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def counting_server() -> Iterator[Counting]:
    server = Counting()
    server.server.start()
    yield server
    server.server.stop()


@pytest.fixture
def counting(counting_server: Counting) -> Counting:
    counting_server.hosts.clear()
    return counting_server


# --- which addresses are internal --------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 -- an address, not a bind
        ("::", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.254", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("fc00::1", "a private address"),
        ("100.64.0.1", "a non-public address"),
        ("100.127.255.254", "a non-public address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("::ffff:10.0.0.1", "a private address"),
    ],
)
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) is None


def test_the_allow_list_opens_exactly_its_ranges() -> None:
    allow = parse_allow("10.0.0.0/8, ::1/128")
    assert refusal(ipaddress.ip_address("10.200.0.1"), allow) is None
    assert refusal(ipaddress.ip_address("::ffff:10.200.0.1"), allow) is None
    assert refusal(ipaddress.ip_address("::1"), allow) is None
    assert refusal(ipaddress.ip_address("11.0.0.1"), allow) is None  # public anyway
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow) == "a loopback address"
    assert refusal(ipaddress.ip_address("192.168.0.1"), allow) == "a private address"


def test_the_setting_reads_a_comma_separated_cidr_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_OUTBOUND_ALLOW", "10.0.0.0/8,::1/128")
    settings = Settings(_env_file=None)
    assert settings.outbound_allow == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    monkeypatch.setenv("KPI_OUTBOUND_ALLOW", "")
    assert Settings(_env_file=None).outbound_allow == ()
    monkeypatch.delenv("KPI_OUTBOUND_ALLOW")
    assert Settings(_env_file=None).outbound_allow == ()


@pytest.mark.parametrize(
    "value", ["nope", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/8;1.2.3.0/24", "::1/129"]
)
def test_an_invalid_cidr_is_a_settings_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KPI_OUTBOUND_ALLOW", value)
    with pytest.raises(ValidationError, match="outbound_allow"):
        Settings(_env_file=None)


# --- at save: the URL itself, no DNS -----------------------------------------------------

INTERNAL_URLS = [
    "http://127.0.0.1/x",
    "http://127.0.0.1:8080/x",
    "http://localhost/x",
    "http://LOCALHOST./x",
    "http://api.localhost/x",
    "http://10.1.2.3/x",
    "http://172.16.0.1/x",
    "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/x",
    "http://[fd00::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[fe80::1]/x",
    "http://0.0.0.0/x",
    "http://[::]/x",
    "http://100.64.0.1/x",
    "http://224.0.0.1/x",
    # Legacy spellings a resolver reads as 127.0.0.1.
    "http://127.1/x",
    "http://2130706433/x",
    "http://0x7f.0.0.1/x",
    "http://0177.0.0.1/x",
]
BAD_SCHEMES = [
    "file:///etc/passwd",
    "gopher://example.com/x",
    "ftp://example.com/x",
    "dict://example.com:11211/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_urls_of_internal_hosts_are_refused_when_saved(url: str) -> None:
    with pytest.raises(OutboundRefused, match="internal addresses are refused"):
        check_url(url, ())


@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_other_schemes_are_refused_whatever_is_allowed(url: str) -> None:
    with pytest.raises(OutboundRefused, match="only http and https"):
        check_url(url, parse_allow("0.0.0.0/0,::/0"))


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1",
        "http://8.8.8.8/x",
        "https://[2606:4700:4700::1111]/x",
        # Never resolved when saved: .invalid has no DNS answer.
        "https://no-such-host.invalid/x",
    ],
)
def test_public_urls_and_ordinary_names_are_accepted_when_saved(url: str) -> None:
    check_url(url, ())


def test_the_allow_list_opens_hosts_when_saved() -> None:
    check_url("http://127.0.0.1:9/x", parse_allow("127.0.0.0/8"))
    check_url("http://[::ffff:127.0.0.1]/x", parse_allow("127.0.0.0/8"))
    check_url("http://localhost/x", parse_allow("127.0.0.0/8"))
    check_url("http://10.9.8.7/x", parse_allow("10.0.0.0/8"))
    with pytest.raises(OutboundRefused):
        check_url("http://10.9.8.7/x", parse_allow("10.0.0.0/16"))


# --- at connect: every resolved address is checked, and it is the one connected to -----


async def get(allow: tuple[Any, ...], url: str) -> httpx.Response:
    async with outbound.client(allow, limits=LIMITS, timeout=5) as http:
        return await http.get(url)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1", "2130706433"]
)
async def test_a_refused_address_gets_no_request(counting: Counting, host: str) -> None:
    with pytest.raises(OutboundRefused, match="resolves to a loopback address"):
        await get((), f"http://{host}:{counting.port}/x")
    assert counting.hosts == []


async def test_an_allowed_name_is_reached_with_its_own_host_header(counting: Counting) -> None:
    response = await get(LOOPBACK, f"http://localhost:{counting.port}/x")
    assert (response.status_code, response.text) == (200, "hello")
    assert counting.hosts == [f"localhost:{counting.port}"]


class Recording(httpcore.AsyncNetworkBackend):
    """A real backend that notes the host each connection is opened to."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def test_the_connection_goes_to_the_checked_address_not_the_name(counting: Counting) -> None:
    # Connecting by name would let a second DNS answer (rebinding) differ from the checked one.
    recording = Recording()
    backend = outbound.GuardedBackend(LOOPBACK, inner=recording)
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("GET", f"http://localhost:{counting.port}/x")
    assert response.status == 200
    assert recording.hosts and all(ipaddress.ip_address(h).is_loopback for h in recording.hosts)
    assert counting.hosts == [f"localhost:{counting.port}"]


async def test_proxies_from_the_environment_are_not_used(
    counting: Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Counting()
    proxy.server.start()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        response = await get(LOOPBACK, f"http://localhost:{counting.port}/x")
    finally:
        proxy.server.stop()
    assert response.status_code == 200
    assert proxy.hosts == [] and counting.hosts == [f"localhost:{counting.port}"]


async def test_a_name_that_does_not_resolve_is_a_connection_error() -> None:
    # A connection error (retried like any other), not a refusal; timing out is one too.
    with pytest.raises((httpx.ConnectError, httpx.ConnectTimeout)):
        await get((), "http://no-such-host.invalid/x")


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        # The name only, no IP: verifying against 127.0.0.1 would fail.
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


async def test_https_keeps_the_name_for_sni_and_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _certificate("test CA", ca_key, "test CA", ca_key, ca=True)
    leaf = _certificate("localhost", leaf_key, "test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server = Counting(
        ssl_certfile=str(tmp_path / "leaf.pem"), ssl_keyfile=str(tmp_path / "leaf.key")
    )
    server.server.start()
    try:
        response = await get(LOOPBACK, f"https://localhost:{server.port}/x")
        assert (response.status_code, response.text) == (200, "hello")
        # The same server by address: the certificate does not name it, so TLS refuses.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await get(LOOPBACK, f"https://127.0.0.1:{server.port}/x")
    finally:
        server.server.stop()
    assert server.hosts == [f"localhost:{server.port}"]
