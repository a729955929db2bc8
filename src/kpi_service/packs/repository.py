"""Pack install statements: scoped by tenant, never committed here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from kpi_service.core.repository import Repository
from kpi_service.models import PackInstall


class PackInstallRepository(Repository[PackInstall]):
    """Reads and writes of `kpi.pack_installs` for one session."""

    model = PackInstall

    async def lock(self, tenant_id: str, pack: str) -> None:
        """Hold the tenant's pack until the transaction ends: installs of it run one at a
        time, so two never both create what is missing."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"kpi-pack:{tenant_id}:{pack}"},
        )

    async def of_pack(self, tenant_id: str, pack: str) -> PackInstall | None:
        """The tenant's install of the pack, if any."""
        return await self.one_or_none(self.select(tenant_id).where(PackInstall.pack == pack))

    async def versions(self, tenant_id: str) -> dict[str, int]:
        """The version of each pack the tenant installed, by pack name."""
        stmt = select(PackInstall.pack, PackInstall.version).where(self.in_tenant(tenant_id))
        return {pack: version for pack, version in (await self.session.execute(stmt)).all()}

    async def following(self, tenant_id: str) -> list[str]:
        """The packs the tenant installed that follow their sources, by name."""
        stmt = select(PackInstall.pack).where(
            self.in_tenant(tenant_id), PackInstall.follow_sources.is_(True)
        )
        return list((await self.session.scalars(stmt.order_by(PackInstall.pack))).all())

    async def record(
        self, tenant_id: str, current: PackInstall | None, values: dict[str, Any]
    ) -> PackInstall:
        """Store the install (a first one, or a change to the one there)."""
        values = {**values, "installed_at": func.now()}
        if current is None:
            return await self.add(tenant_id, values)
        return await self.update(current, values)
