"""Alert channel (webhook) statements: scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from kpi_service.core.repository import Repository
from kpi_service.core.sql import among
from kpi_service.models import AlertChannel


class ChannelRepository(Repository[AlertChannel]):
    """Reads and writes of `kpi.alert_channels` for one session."""

    model = AlertChannel

    async def get_by_name(self, tenant_id: str, name: str) -> AlertChannel | None:
        """The tenant's channel with that name, if any."""
        return await self.one_or_none(self.select(tenant_id).where(AlertChannel.name == name))

    async def existing(self, tenant_id: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids are channels of the tenant."""
        if not ids:
            return set()
        stmt = select(AlertChannel.id).where(self.in_tenant(tenant_id), among(AlertChannel.id, ids))
        return set((await self.session.scalars(stmt)).all())

    async def remove(self, channel: AlertChannel) -> None:
        """Delete the channel (rules naming it and its pending deliveries are the service's
        to settle first)."""
        await self.session.delete(channel)
        await self.session.flush()
