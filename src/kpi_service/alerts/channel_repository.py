"""Alert channel (webhook) statements: scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.sql import among
from kpi_service.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus


class ChannelRepository:
    """Reads and writes of `kpi.alert_channels` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, channel_id: int) -> AlertChannel | None:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id,
                                          AlertChannel.id == channel_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_name(self, tenant_id: str, name: str) -> AlertChannel | None:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id,
                                          AlertChannel.name == name)
        return (await self.session.scalars(stmt)).one_or_none()

    async def existing(self, tenant_id: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids are channels of the tenant."""
        if not ids:
            return set()
        stmt = select(AlertChannel.id).where(AlertChannel.tenant_id == tenant_id,
                                             among(AlertChannel.id, ids))
        return set((await self.session.scalars(stmt)).all())

    async def page(self, tenant_id: str, *, after: int | None,
                   limit: int) -> Sequence[AlertChannel]:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(AlertChannel.id > after)
        return (await self.session.scalars(stmt.order_by(AlertChannel.id).limit(limit + 1))).all()

    async def add(self, tenant_id: str, values: dict[str, Any]) -> AlertChannel:
        channel = AlertChannel(tenant_id=tenant_id, **values)
        self.session.add(channel)
        await self.session.flush()
        await self.session.refresh(channel)
        return channel

    async def update(self, channel: AlertChannel, values: dict[str, Any]) -> AlertChannel:
        for name, value in values.items():
            setattr(channel, name, value)
        channel.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(channel)
        return channel

    async def remove(self, channel: AlertChannel) -> None:
        """Delete the channel, drop it from every rule, cancel its pending deliveries."""
        tenant, channel_id = channel.tenant_id, channel.id
        await self.session.execute(
            update(AlertRule)
            .where(AlertRule.tenant_id == tenant, AlertRule.channel_ids.contains([channel_id]))
            .values(channel_ids=func.array_remove(AlertRule.channel_ids, channel_id),
                    updated_at=func.now()))
        await self.session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.tenant_id == tenant, AlertDelivery.channel_id == channel_id,
                   AlertDelivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None,
                    last_error="the channel was deleted"))
        await self.session.delete(channel)
        await self.session.flush()
