"""Webhook deliveries: signed, posted outside any transaction, retried with backoff, logged,
and their log read back (admins).

A receiver verifies a request by computing HMAC-SHA256, keyed with the channel's secret,
over `<X-KPI-Timestamp>.<raw body>` and comparing it in constant time with the hex digest in
`X-KPI-Signature: sha256=<hex>`; it refuses timestamps far from its clock (replays) and
drops a repeated `X-KPI-Delivery` id (a retry of something it already has).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.delivery_repository import (
    AttemptRepository,
    Claimed,
    DeliveryFilters,
    DeliveryRepository,
)
from kpi_service.alerts.schemas import DeliveryRead
from kpi_service.core import outbound, telemetry
from kpi_service.core.auth import Principal
from kpi_service.core.database import Database
from kpi_service.core.errors import Forbidden
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-KPI-Signature"
TIMESTAMP_HEADER = "X-KPI-Timestamp"
DELIVERY_HEADER = "X-KPI-Delivery"
EVENT_HEADER = "X-KPI-Event"
USER_AGENT = "kpi-service-webhooks/1"
# An attempt may take the timeout plus this before another process presumes it died.
_LEASE_SLACK_S = 30.0
_MAX_ERROR = 500
_ROUNDS = 10


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over `timestamp.body`, hex."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def queue(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Queue deliveries in the caller's transaction; they are sent once it has committed."""
    return await DeliveryRepository(session).queue(rows)


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    filters: DeliveryFilters,
    paging: Paging,
) -> Slice[DeliveryRead]:
    """Deliveries matching `filters` newest first, each with its log of attempts (admins
    only)."""
    if not principal.is_admin:
        raise Forbidden("Only admins can read the delivery log.")
    page = await DeliveryRepository(session).page(principal.tenant_id, paging, filters)
    attempts: dict[int, list[Any]] = defaultdict(list)
    for item in await AttemptRepository(session).of_deliveries(
        principal.tenant_id, [d.id for d in page.items]
    ):
        attempts[item.delivery_id].append(item)
    items = [
        DeliveryRead.model_validate(
            {**{c.key: getattr(d, c.key) for c in type(d).__table__.columns}, "log": attempts[d.id]}
        )
        for d in page.items
    ]
    return Slice(items, page.next_cursor)


@dataclass(frozen=True, slots=True)
class Result:
    """How one attempt went."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retryable: bool
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:  # an HTTP date, or garbage: our own backoff decides
        return None


async def attempt(client: httpx.AsyncClient, settings: Settings, claimed: Claimed) -> Result:
    """POST the delivery's body once, signed; never raises for what the receiver does."""
    # Env files often end values with a newline; the secret never appears in any message.
    secret = os.environ.get(claimed.secret_env, "").strip()
    if not secret:
        return Result(None, f"the secret {claimed.secret_env} is not set", 0, retryable=False)
    body = claimed.body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: f"alert.{claimed.event}",
        DELIVERY_HEADER: str(claimed.id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret.encode(), timestamp, body),
    }
    timeout = settings.webhook_timeout_seconds
    started = time.monotonic()

    def took() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        # The whole exchange is bounded, not each read: a receiver trickling bytes is cut too.
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", claimed.url, content=body, headers=headers
            ) as response:
                code, after = response.status_code, response.headers.get("retry-after")
    except (TimeoutError, httpx.TimeoutException):
        return Result(None, f"no answer within {timeout:g} s", took(), retryable=True)
    except outbound.OutboundRefused as exc:
        return Result(None, f"the URL is refused: {exc}", took(), retryable=False)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Result(None, f"the URL is not usable: {exc}"[:_MAX_ERROR], took(), retryable=False)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Result(None, error[:_MAX_ERROR], took(), retryable=True)
    duration = took()
    if 200 <= code < 300:
        return Result(code, None, duration, retryable=False)
    # Only the receiver's trouble is worth retrying; another 4xx will answer the same again.
    retryable = code == 429 or code >= 500
    return Result(code, f"HTTP {code}", duration, retryable, _retry_after(after))


def backoff(settings: Settings, attempt_number: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: base x 2^(n-1), at least what the receiver asked,
    at most the configured maximum."""
    delay: float = settings.webhook_backoff_seconds * 2 ** (attempt_number - 1)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, settings.webhook_backoff_max_seconds)


def _lease(settings: Settings) -> float:
    return settings.webhook_timeout_seconds + _LEASE_SLACK_S


async def _follow(
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    slots: asyncio.Semaphore,
    claimed: Claimed,
) -> None:
    """Attempt a claimed delivery until it is delivered, given up, or taken by another."""
    current: Claimed | None = claimed
    while current is not None:
        async with slots:
            result = await attempt(client, settings, current)
        retry_in = None
        if result.retryable and current.attempt < settings.webhook_attempts:
            retry_in = backoff(settings, current.attempt, result.retry_after)
        async with database.unit_of_work() as session:
            following = await DeliveryRepository(session).record(
                current,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
                delivered=result.delivered,
                retry_in=retry_in,
            )
        telemetry.webhook_attempted(result.delivered, retry=retry_in is not None)
        log.info(
            "webhook delivery %s (alert %s, %s) attempt %s: %s",
            current.id,
            current.alert_id,
            current.event,
            current.attempt,
            "delivered" if result.delivered else result.error,
        )
        if following is None or retry_in is None:
            return
        await asyncio.sleep(retry_in)
        async with database.unit_of_work() as session:
            current = await DeliveryRepository(session).reclaim(
                current, following, _lease(settings)
            )


async def deliver_due(
    database: Database, settings: Settings, *, tenant_id: str | None = None, limit: int = 500
) -> int:
    """Send the pending deliveries that are due (one tenant's, or every tenant's), following
    each through its retries; how many were taken up."""
    taken = 0
    limits = httpx.Limits(max_connections=settings.webhook_concurrency)
    async with outbound.client(
        settings.outbound_allow, limits=limits, timeout=settings.webhook_timeout_seconds
    ) as client:
        # A delivery that waited for an earlier one of its alert is due once that one is
        # done, so rounds go on until nothing is due (a few at most: firing, resolved).
        for _ in range(_ROUNDS):
            async with database.unit_of_work() as session:
                claimed = await DeliveryRepository(session).claim_due(
                    tenant_id, _lease(settings), limit
                )
            if not claimed:
                break
            taken += len(claimed)
            await _follow_all(database, settings, client, claimed)
    return taken


async def _follow_all(
    database: Database, settings: Settings, client: httpx.AsyncClient, claimed: Sequence[Claimed]
) -> None:
    slots = asyncio.Semaphore(settings.webhook_concurrency)
    outcomes = await asyncio.gather(
        *(_follow(database, settings, client, slots, c) for c in claimed), return_exceptions=True
    )
    # Each delivery is on its own: one that hit a database error stays leased and is taken
    # up again when its lease runs out, without holding back the others.
    for claimed_one, outcome in zip(claimed, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("webhook delivery %s stopped", claimed_one.id, exc_info=outcome)


async def retry_pending(database: Database, settings: Settings) -> int:
    """The periodic sweep: deliveries left pending (a process stopped mid-way, or its retry
    is due) of every tenant are sent; safe to run on every replica at once."""
    return await deliver_due(database, settings)
