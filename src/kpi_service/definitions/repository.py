"""Definition statements: always scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.models import Definition


class DefinitionRepository:
    """Reads and writes of `kpi.definitions` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, definition_id: int) -> Definition | None:
        """The tenant's definition with that id, if any."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id,
                                        Definition.id == definition_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_ids(self, tenant_id: str, ids: Sequence[int]) -> dict[int, Definition]:
        """The tenant's definitions with these ids, by id."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id,
                                        Definition.id.in_(list(ids)))
        return {d.id: d for d in (await self.session.scalars(stmt)).all()}

    async def get_by_key(self, tenant_id: str, key: str) -> Definition | None:
        """The tenant's definition with that key, if any."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id, Definition.key == key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find(self, tenant_id: str, *, ids: Sequence[int] = (),
                   keys: Sequence[str] = ()) -> Sequence[Definition]:
        """The tenant's definitions among those ids or keys (one round trip)."""
        if not ids and not keys:
            return []
        conditions = []
        if ids:
            conditions.append(Definition.id.in_(ids))
        if keys:
            conditions.append(Definition.key.in_(keys))
        stmt = select(Definition).where(Definition.tenant_id == tenant_id, or_(*conditions))
        return (await self.session.scalars(stmt)).all()

    async def active(self, tenant_id: str, *,
                     keys: Sequence[str] | None = None) -> Sequence[Definition]:
        """The tenant's active definitions (optionally only those keys) by category and name."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id,
                                        Definition.is_active.is_(True))
        if keys is not None:
            stmt = stmt.where(Definition.key.in_(list(keys)))
        stmt = stmt.order_by(Definition.category.nulls_last(), Definition.name, Definition.id)
        return (await self.session.scalars(stmt)).all()

    async def tenants_with(self, aggregation_period: str) -> list[str]:
        """Tenants with an active definition of this period kind (the scheduler's list)."""
        stmt = (select(Definition.tenant_id).distinct()
                .where(Definition.is_active.is_(True),
                       Definition.aggregation_period == aggregation_period)
                .order_by(Definition.tenant_id))
        return list((await self.session.scalars(stmt)).all())

    async def formulas(self, tenant_id: str) -> Sequence[Definition]:
        """The tenant's active formula definitions."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id,
                                        Definition.is_active.is_(True),
                                        Definition.calculation_type == "formula")
        return (await self.session.scalars(stmt)).all()

    async def page(self, tenant_id: str, *, after: int | None, limit: int,
                   category: str | None = None, calculation_type: str | None = None,
                   is_active: bool | None = None) -> Sequence[Definition]:
        """Up to `limit + 1` definitions after the id `after`, in id order."""
        stmt = select(Definition).where(Definition.tenant_id == tenant_id)
        if category is not None:
            stmt = stmt.where(Definition.category == category)
        if calculation_type is not None:
            stmt = stmt.where(Definition.calculation_type == calculation_type)
        if is_active is not None:
            stmt = stmt.where(Definition.is_active.is_(is_active))
        if after is not None:
            stmt = stmt.where(Definition.id > after)
        stmt = stmt.order_by(Definition.id).limit(limit + 1)
        return (await self.session.scalars(stmt)).all()

    async def add(self, tenant_id: str, values: dict[str, Any]) -> Definition:
        """Insert a definition and return it with its server-set columns."""
        definition = Definition(tenant_id=tenant_id, **values)
        self.session.add(definition)
        await self.session.flush()
        await self.session.refresh(definition)
        return definition

    async def update(self, definition: Definition, values: dict[str, Any]) -> Definition:
        """Apply changes, stamp `updated_at`, and return the row as stored."""
        for name, value in values.items():
            setattr(definition, name, value)
        definition.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(definition)
        return definition
