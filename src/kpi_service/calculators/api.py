"""The `api` calculator: values per subject from an external HTTP source, through an adapter."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from kpi_service.calculators import api_adapters as adapters
from kpi_service.calculators.api_fetcher import Fetcher
from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.core import outbound

# Config names a variable of this family only, so it cannot read e.g. KPI_DATABASE_URL.
_SECRET_ENV = re.compile(r"KPI_SECRET_[A-Z0-9_]+")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
_AUTH_SCHEME = re.compile(r"[A-Za-z0-9._~+/-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]+")

_COMMON_KEYS = frozenset({"adapter", "auth", "timeout_s", "retries"})
_ADAPTER_KEYS = {
    adapters.HTTP_JSON: _COMMON_KEYS | {"url", "value_pointer", "concurrency"},
    adapters.INTERCOM: _COMMON_KEYS | {"base_url", "concurrency"},
    # Its pages are read one after the other, so a concurrency setting would mean nothing.
    adapters.AIRCALL: _COMMON_KEYS | {"base_url"},
}
_DEFAULT_BASE_URLS = {
    adapters.INTERCOM: "https://api.intercom.io",
    adapters.AIRCALL: "https://api.aircall.io",
}
_AUTH_KEYS = frozenset({"header", "scheme", "secret_env"})


class ApiConfigError(ValueError):
    """An `api` definition's config that cannot work; the message says which part and why,
    `key` names the config key at fault when it is one."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Auth:
    """Which header carries the secret, and the environment variable that holds it."""

    header: str
    scheme: str | None
    secret_env: str


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """A checked `api` config."""

    adapter: str
    endpoint: str  # the URL template (http_json) or the base URL (named adapters)
    value_pointer: str
    auth: Auth | None
    timeout_s: float
    retries: int
    concurrency: int


def _check_url(url: str, key: str) -> None:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ApiConfigError(f"{key} must not contain spaces or control characters", key)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is what raises on a malformed one
    except ValueError as exc:
        raise ApiConfigError(f"{key} is not a valid URL ({exc})", key) from None
    if parts.scheme not in ("http", "https"):
        raise ApiConfigError(f"{key} must be an http or https URL", key)
    if not parts.hostname:
        raise ApiConfigError(f"{key} must name a host", key)
    if parts.username is not None or parts.password is not None:
        raise ApiConfigError(
            f"{key} must not carry credentials; name a secret in auth.secret_env", key
        )


def _url_template(config: Mapping[str, Any]) -> str:
    template = config.get("url")
    if not isinstance(template, str) or not template:
        raise ApiConfigError("url is required: the URL template of the source", "url")
    try:
        names = adapters.url_placeholders(template)
    except ValueError as exc:
        raise ApiConfigError(f"url: {exc}", "url") from None
    head = template.split("{", 1)[0]
    # A placeholder in the scheme, host or port would let subject ids choose the server.
    if names and not (urlsplit(head).path or "?" in head):
        raise ApiConfigError(
            "url: placeholders may only appear in the path or the query string", "url"
        )
    _check_url(adapters.render_url(template, dict.fromkeys(adapters.URL_PLACEHOLDERS, "x")), "url")
    return template


def _base_url(config: Mapping[str, Any], adapter: str) -> str:
    base_url = config.get("base_url", _DEFAULT_BASE_URLS[adapter])
    if not isinstance(base_url, str):
        raise ApiConfigError("base_url must be a URL", "base_url")
    _check_url(base_url, "base_url")
    parts = urlsplit(base_url)
    if parts.query or parts.fragment:
        raise ApiConfigError("base_url must not carry a query string or fragment", "base_url")
    return base_url.rstrip("/")


def _value_pointer(config: Mapping[str, Any]) -> str:
    pointer = config.get("value_pointer")
    if not isinstance(pointer, str):
        raise ApiConfigError("value_pointer is required: a JSON pointer such as /data/value")
    try:
        adapters.pointer_tokens(pointer)
    except ValueError as exc:
        raise ApiConfigError(f"value_pointer: {exc}") from None
    return pointer


def _auth(value: Any) -> Auth:
    if not isinstance(value, Mapping):
        raise ApiConfigError("auth must be an object with secret_env (and header, scheme)")
    unknown = set(value) - _AUTH_KEYS
    if unknown:
        raise ApiConfigError(
            f"auth has unknown keys: {', '.join(sorted(map(str, unknown)))} "
            "(the secret itself is never stored; name it in secret_env)"
        )
    secret_env = value.get("secret_env")
    if not isinstance(secret_env, str) or not _SECRET_ENV.fullmatch(secret_env):
        raise ApiConfigError(
            "auth.secret_env must name an environment variable matching KPI_SECRET_[A-Z0-9_]+"
        )
    header = value.get("header", "Authorization")
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
        raise ApiConfigError("auth.header must be an HTTP header name")
    scheme = value.get("scheme")
    if scheme is not None and (not isinstance(scheme, str) or not _AUTH_SCHEME.fullmatch(scheme)):
        raise ApiConfigError("auth.scheme must be a single word such as Bearer")
    return Auth(header, scheme, secret_env)


def _integer(config: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiConfigError(f"{key} must be an integer from {low} to {high}")
    return value


def _seconds(config: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ApiConfigError(f"{key} must be a number of seconds from {low:g} to {high:g}")
    return float(value)


def parse_config(config: Mapping[str, Any]) -> ApiConfig:
    """The checked form of an `api` config; ApiConfigError says what is wrong."""
    if not isinstance(config, Mapping):
        raise ApiConfigError("the config must be an object")
    adapter = config.get("adapter")
    if not isinstance(adapter, str) or adapter not in _ADAPTER_KEYS:
        raise ApiConfigError(f"adapter must be one of: {', '.join(sorted(_ADAPTER_KEYS))}")
    unknown = set(config) - _ADAPTER_KEYS[adapter]
    if unknown:
        raise ApiConfigError(
            f"unknown keys for the {adapter} adapter: " + ", ".join(sorted(map(str, unknown)))
        )
    if adapter == adapters.HTTP_JSON:
        endpoint, pointer = _url_template(config), _value_pointer(config)
        auth = None if config.get("auth") is None else _auth(config["auth"])
    else:
        endpoint, pointer = _base_url(config, adapter), ""
        if "auth" not in config:
            raise ApiConfigError(f"auth is required for the {adapter} adapter")
        auth = _auth(config["auth"])
    return ApiConfig(
        adapter=adapter,
        endpoint=endpoint,
        value_pointer=pointer,
        auth=auth,
        timeout_s=_seconds(config, "timeout_s", 10, 0.1, 60),
        retries=_integer(config, "retries", 2, 0, 5),
        concurrency=_integer(config, "concurrency", 8, 1, 32),
    )


def validate_config(config: Mapping[str, Any], *, allow: Sequence[outbound.Network]) -> None:
    """Refuse an `api` config that cannot work, or whose URL reaches an internal address
    (outside the `allow` ranges), with ApiConfigError saying why."""
    checked = parse_config(config)
    key = "url" if checked.adapter == adapters.HTTP_JSON else "base_url"
    url = adapters.render_url(checked.endpoint, dict.fromkeys(adapters.URL_PLACEHOLDERS, "x"))
    try:
        outbound.check_url(url, allow)
    except outbound.OutboundRefused as exc:
        raise ApiConfigError(f"{key} is refused: {exc}", key=key) from None


def _headers(auth: Auth | None, env: Mapping[str, str]) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "kpi-service"}
    if auth is None:
        return headers
    # Env files often end values with a newline; the secret is never part of a message.
    secret = (env.get(auth.secret_env) or "").strip()
    if not secret:
        raise CalculationFailed(f"secret {auth.secret_env} is not set")
    if not _HEADER_VALUE.fullmatch(secret):
        raise CalculationFailed(f"secret {auth.secret_env} is not a valid header value")
    headers[auth.header] = f"{auth.scheme} {secret}" if auth.scheme else secret
    return headers


async def _run(
    config: ApiConfig,
    request: CalculationRequest,
    fetcher: Fetcher,
) -> dict[str, Outcome]:
    match config.adapter:
        case adapters.HTTP_JSON:
            return await adapters.http_json(fetcher, request, config.endpoint, config.value_pointer)
        case adapters.INTERCOM:
            return await adapters.intercom_median_first_response(fetcher, request, config.endpoint)
        case adapters.AIRCALL:
            return await adapters.aircall_calls_per_user(fetcher, request, config.endpoint)
    raise CalculationFailed(f"no adapter {config.adapter!r}")


async def calculate(
    request: CalculationRequest,
    *,
    allow: Sequence[outbound.Network],
    client: httpx.AsyncClient | None = None,
    backoff_base: float = 0.5,
    env: Mapping[str, str] | None = None,
) -> dict[str, Outcome]:
    """Values for every due subject from the external source the definition's config names;
    only public addresses and the `allow` ranges are reached (checked at connect time)."""
    try:
        config = parse_config(request.config)
    except ApiConfigError as exc:
        raise CalculationFailed(f"the api configuration is not usable: {exc}") from None
    headers = _headers(config.auth, os.environ if env is None else env)
    if not request.subject_ids:
        return {}

    def fetcher(http: httpx.AsyncClient) -> Fetcher:
        return Fetcher(
            http,
            headers,
            config.timeout_s,
            config.retries,
            asyncio.Semaphore(config.concurrency),
            backoff_base,
        )

    if client is not None:
        return await _run(config, request, fetcher(client))
    limits = httpx.Limits(
        max_connections=config.concurrency, max_keepalive_connections=config.concurrency
    )
    async with outbound.client(allow, limits=limits, timeout=config.timeout_s) as own:
        return await _run(config, request, fetcher(own))
