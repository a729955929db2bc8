"""The `api` calculator's HTTP side: a bounded, retrying fetcher of JSON answers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from kpi_service.core.outbound import OutboundRefused

MAX_RESPONSE_BYTES = 1024 * 1024
BACKOFF_CAP_S = 10.0


class SourceError(Exception):
    """A request that gave no usable answer; the reason is safe to store (no secret, no URL)."""

    def __init__(self, reason: str, *, status: int | None, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful JSON response and how many attempts it took."""

    status: int
    body: Any
    attempts: int


@dataclass(frozen=True, slots=True)
class Fetcher:
    """Sends requests with the auth headers, a per-attempt timeout, retries and a bound."""

    client: httpx.AsyncClient
    headers: Mapping[str, str]
    timeout_s: float
    retries: int
    in_flight: asyncio.Semaphore
    backoff_base: float

    async def fetch(self, method: str, url: str, *, json_body: Any = None) -> Answer:
        """The decoded JSON answer of url, retrying timeouts, connection errors, 5xx and 429."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            status: int | None
            try:
                # Held per attempt, not across back-off sleeps, so waiting subjects can proceed.
                async with self.in_flight:
                    status, headers, body = await self._once(method, url, json_body, attempt)
            except (httpx.TimeoutException, TimeoutError):
                failure = f"the source did not answer within {self.timeout_s:g} s"
                status = None
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = f"could not reach the source ({type(exc).__name__})"
                status = None
            except OutboundRefused as exc:
                # Asking again would reach the same address: refused once is refused.
                raise SourceError(
                    f"the source is refused: {exc}", status=None, attempts=attempt
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                # The exception text may quote the URL; its type is enough to act on.
                raise SourceError(
                    f"the request failed ({type(exc).__name__})", status=None, attempts=attempt
                ) from None
            else:
                if 200 <= status < 300:
                    return Answer(status, _decode_json(body, status, attempt), attempt)
                if status != 429 and status < 500:
                    raise SourceError(
                        f"the source answered {status}", status=status, attempts=attempt
                    )
                failure = f"the source answered {status}"
                retry_after = _retry_after(headers)
            if attempt > self.retries:
                raise SourceError(
                    f"{failure} ({attempt} attempts)", status=status, attempts=attempt
                )
            await asyncio.sleep(self._delay(attempt - 1, retry_after))

    async def _once(
        self, method: str, url: str, json_body: Any, attempt: int
    ) -> tuple[int, httpx.Headers, bytes]:
        # httpx's timeout bounds each phase; this one bounds the whole attempt (slow drips too).
        async with (
            asyncio.timeout(self.timeout_s),
            self.client.stream(
                method,
                url,
                headers=self.headers,
                json=json_body,
                timeout=self.timeout_s,
                follow_redirects=False,
            ) as response,
        ):
            if not 200 <= response.status_code < 300:
                return response.status_code, response.headers, b""
            too_large = SourceError(
                "the response is larger than 1 MB", status=response.status_code, attempts=attempt
            )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise too_large
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise too_large
            return response.status_code, response.headers, bytes(body)

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, BACKOFF_CAP_S)
        jitter = random.uniform(0, self.backoff_base)
        return min(self.backoff_base * 2.0**retry + jitter, BACKOFF_CAP_S)


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        seconds = float(str(headers.get("retry-after", "")))
    except ValueError:
        return None  # absent, or an HTTP date: the exponential back-off applies
    return seconds if 0 <= seconds < float("inf") else None


def _decode_json(body: bytes, status: int, attempt: int) -> Any:
    try:
        # Decimals keep the source's digits exactly; NaN and Infinity are refused later.
        return json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError):
        raise SourceError("the response is not JSON", status=status, attempts=attempt) from None
