"""Delivery statements: queue, claim (a lease on the database clock), record, list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Interval, exists, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased

from kpi_service.core.repository import Filters, Repository, equal_to
from kpi_service.core.sql import among
from kpi_service.models import (
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    DeliveryStatus,
    joins,
)


@dataclass(frozen=True, slots=True)
class DeliveryFilters(Filters):
    """What the delivery log may be narrowed to; None means any."""

    alert_id: int | None = equal_to(AlertDelivery.alert_id)
    channel_id: int | None = equal_to(AlertDelivery.channel_id)
    status: str | None = equal_to(AlertDelivery.status)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this process may attempt now, with where and how to send it."""

    tenant_id: str
    id: int
    alert_id: int
    attempt: int
    event: str
    body: str
    url: str
    secret_env: str
    lease_until: datetime


def _later(seconds: float) -> ColumnElement[datetime]:
    """The database's now() plus some seconds (one clock for every replica)."""
    return func.now() + literal(timedelta(seconds=seconds), Interval())


_RETURNED = (
    AlertDelivery.tenant_id,
    AlertDelivery.id,
    AlertDelivery.alert_id,
    AlertDelivery.attempts,
    AlertDelivery.event,
    AlertDelivery.body,
    AlertChannel.url,
    AlertChannel.secret_env,
    AlertDelivery.next_attempt_at,
)


class DeliveryRepository(Repository[AlertDelivery]):
    """Reads and writes of `kpi.alert_deliveries` and their attempts for one session; pages
    of them show the newest first."""

    model = AlertDelivery
    newest_first = True

    async def queue(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue deliveries, due at once; a transition already queued for a channel is not
        queued again. How many were queued."""
        if not rows:
            return 0
        stmt = (
            insert(AlertDelivery)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=func.now())
            .on_conflict_do_nothing(index_elements=["tenant_id", "alert_id", "channel_id", "event"])
            .returning(AlertDelivery.id)
        )
        return len((await self.session.scalars(stmt, list(rows))).all())

    async def _claim(self, condition: ColumnElement[bool], lease: float) -> list[Claimed]:
        stmt = (
            update(AlertDelivery)
            .where(joins.channel_of(AlertDelivery), condition)
            .values(attempts=AlertDelivery.attempts + 1, next_attempt_at=_later(lease))
            .returning(*_RETURNED)
        )
        return [Claimed(*row) for row in (await self.session.execute(stmt)).all()]

    async def claim_due(self, tenant_id: str | None, lease: float, limit: int) -> list[Claimed]:
        """Take up to `limit` pending deliveries that are due (of one tenant, or of all for
        the sweep): each is leased for `lease` seconds, so nobody else attempts it meanwhile
        and a process that dies mid-attempt leaves it due again afterwards."""
        earlier = aliased(AlertDelivery)
        # A receiver hears of an alert's transitions in order: a delivery waits while an
        # earlier one of the same alert to the same channel is still pending.
        waiting = exists().where(
            earlier.tenant_id == AlertDelivery.tenant_id,
            earlier.alert_id == AlertDelivery.alert_id,
            earlier.channel_id == AlertDelivery.channel_id,
            earlier.id < AlertDelivery.id,
            earlier.status == DeliveryStatus.PENDING,
        )
        due = (
            select(AlertDelivery.tenant_id, AlertDelivery.id)
            .where(
                AlertDelivery.status == DeliveryStatus.PENDING,
                AlertDelivery.next_attempt_at <= func.now(),
                ~waiting,
            )
            .order_by(AlertDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if tenant_id is not None:
            due = due.where(self.in_tenant(tenant_id))
        return await self._claim(tuple_(AlertDelivery.tenant_id, AlertDelivery.id).in_(due), lease)

    async def reclaim(self, claimed: Claimed, expected: datetime, lease: float) -> Claimed | None:
        """Take the delivery again for its next attempt, unless someone else took it since
        (its next attempt is no longer the one this process scheduled)."""
        found = await self._claim(
            self.in_tenant(claimed.tenant_id)
            & (AlertDelivery.id == claimed.id)
            & (AlertDelivery.status == DeliveryStatus.PENDING)
            & (AlertDelivery.next_attempt_at == expected),
            lease,
        )
        return found[0] if found else None

    async def record(
        self,
        claimed: Claimed,
        *,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        delivered: bool,
        retry_in: float | None,
    ) -> datetime | None:
        """Log one attempt and move the delivery on: delivered, due again in `retry_in`
        seconds, or failed. When the next attempt is due (None: there is none)."""
        status = (
            DeliveryStatus.DELIVERED
            if delivered
            else DeliveryStatus.PENDING
            if retry_in is not None
            else DeliveryStatus.FAILED
        )
        next_at = None if retry_in is None else _later(retry_in)
        stmt = (
            update(AlertDelivery)
            .where(
                self.in_tenant(claimed.tenant_id),
                AlertDelivery.id == claimed.id,
                AlertDelivery.status == DeliveryStatus.PENDING,
                AlertDelivery.attempts == claimed.attempt,
            )
            .values(
                status=status,
                last_status_code=status_code,
                last_error=error,
                next_attempt_at=next_at,
                delivered_at=func.now() if delivered else None,
            )
            .returning(AlertDelivery.next_attempt_at)
        )
        owned = (await self.session.execute(stmt)).one_or_none()
        following = owned[0] if owned is not None else None
        self.session.add(
            AlertDeliveryAttempt(
                tenant_id=claimed.tenant_id,
                delivery_id=claimed.id,
                attempt=claimed.attempt,
                url=claimed.url,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
                next_retry_at=following,
            )
        )
        await self.session.flush()
        return following

    async def cancel_pending(self, tenant_id: str, channel_id: int, reason: str) -> None:
        """Cancel the tenant's pending deliveries to the channel, with the reason."""
        await self.session.execute(
            update(AlertDelivery)
            .where(
                self.in_tenant(tenant_id),
                AlertDelivery.channel_id == channel_id,
                AlertDelivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=reason)
        )


class AttemptRepository(Repository[AlertDeliveryAttempt]):
    """Reads of `kpi.alert_delivery_attempts` (written with their delivery, see `record`)."""

    model = AlertDeliveryAttempt

    async def of_deliveries(
        self, tenant_id: str, delivery_ids: Sequence[int]
    ) -> Sequence[AlertDeliveryAttempt]:
        """Every attempt of these deliveries, oldest first."""
        if not delivery_ids:
            return []
        return await self.all(
            self.select(tenant_id)
            .where(among(AlertDeliveryAttempt.delivery_id, delivery_ids))
            .order_by(
                AlertDeliveryAttempt.delivery_id,
                AlertDeliveryAttempt.attempt,
                AlertDeliveryAttempt.id,
            )
        )
