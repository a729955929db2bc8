"""Definition statements: always scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from kpi_service.core.repository import Filters, Repository, equal_to
from kpi_service.models import CalculationType, Definition


@dataclass(frozen=True, slots=True)
class DefinitionFilters(Filters):
    """What a list of definitions may be narrowed to; None means any."""

    category: str | None = equal_to(Definition.category)
    calculation_type: str | None = equal_to(Definition.calculation_type)
    is_active: bool | None = equal_to(Definition.is_active)


class DefinitionRepository(Repository[Definition]):
    """Reads and writes of `kpi.definitions` for one session."""

    model = Definition

    async def for_run(
        self, tenant_id: str, ids: Sequence[int]
    ) -> tuple[dict[int, Definition], list[Definition]]:
        """The tenant's definitions with these ids, by id, and its active formulas (which
        follow what the run changes), in one statement."""
        formula = and_(
            Definition.is_active.is_(True), Definition.calculation_type == CalculationType.FORMULA
        )
        found = await self.all(
            self.select(tenant_id).where(or_(Definition.id.in_(list(ids)), formula))
        )
        wanted = set(ids)
        by_id = {d.id: d for d in found if d.id in wanted}
        formulas = [
            d for d in found if d.is_active and d.calculation_type == CalculationType.FORMULA
        ]
        return by_id, formulas

    async def get_by_key(self, tenant_id: str, key: str) -> Definition | None:
        """The tenant's definition with that key, if any."""
        return await self.one_or_none(self.select(tenant_id).where(Definition.key == key))

    async def find(
        self, tenant_id: str, *, ids: Sequence[int] = (), keys: Sequence[str] = ()
    ) -> Sequence[Definition]:
        """The tenant's definitions among those ids or keys (one round trip)."""
        if not ids and not keys:
            return []
        conditions = []
        if ids:
            conditions.append(Definition.id.in_(ids))
        if keys:
            conditions.append(Definition.key.in_(keys))
        return await self.all(self.select(tenant_id).where(or_(*conditions)))

    async def active(
        self, tenant_id: str, *, keys: Sequence[str] | None = None
    ) -> Sequence[Definition]:
        """The tenant's active definitions (optionally only those keys) by category and name."""
        stmt = self.select(tenant_id).where(Definition.is_active.is_(True))
        if keys is not None:
            stmt = stmt.where(Definition.key.in_(list(keys)))
        stmt = stmt.order_by(Definition.category.nulls_last(), Definition.name, Definition.id)
        return await self.all(stmt)

    async def tenants_with(self, aggregation_period: str) -> list[str]:
        """Tenants with an active definition of this period kind (the scheduler's list)."""
        stmt = (
            select(Definition.tenant_id)
            .distinct()
            .where(
                Definition.is_active.is_(True), Definition.aggregation_period == aggregation_period
            )
            .order_by(Definition.tenant_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def formulas(self, tenant_id: str) -> Sequence[Definition]:
        """The tenant's active formula definitions."""
        return await self.all(
            self.select(tenant_id).where(
                Definition.is_active.is_(True),
                Definition.calculation_type == CalculationType.FORMULA,
            )
        )
