"""Closed-period statements: which periods are closed, closing and reopening them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kpi_service.core.repository import Repository
from kpi_service.models import ClosedPeriod


class ClosedPeriodRepository(Repository[ClosedPeriod]):
    """Reads and writes of `kpi.closed_periods` for one session."""

    model = ClosedPeriod

    async def closed(
        self, tenant_id: str, pairs: Sequence[tuple[int, date]]
    ) -> set[tuple[int, date]]:
        """Which (definition id, period start) pairs are closed."""
        if not pairs:
            return set()
        stmt = select(ClosedPeriod.definition_id, ClosedPeriod.period_start).where(
            self.in_tenant(tenant_id),
            tuple_(ClosedPeriod.definition_id, ClosedPeriod.period_start).in_(list(pairs)),
        )
        return {(d, s) for d, s in (await self.session.execute(stmt)).all()}

    async def close(self, rows: Sequence[dict[str, Any]]) -> list[tuple[int, date]]:
        """Close periods not closed yet; the (definition id, period start) pairs it closed."""
        if not rows:
            return []
        stmt = (
            pg_insert(ClosedPeriod)
            .values(list(rows))
            .on_conflict_do_nothing()
            .returning(ClosedPeriod.definition_id, ClosedPeriod.period_start)
        )
        return [(d, s) for d, s in (await self.session.execute(stmt)).all()]

    async def reopen(
        self, tenant_id: str, pairs: Sequence[tuple[int, date]]
    ) -> Sequence[ClosedPeriod]:
        """Reopen those of these (definition id, period start) pairs that are closed; the
        closed-period rows as they were."""
        if not pairs:
            return []
        stmt = (
            delete(ClosedPeriod)
            .where(
                self.in_tenant(tenant_id),
                tuple_(ClosedPeriod.definition_id, ClosedPeriod.period_start).in_(list(pairs)),
            )
            .returning(ClosedPeriod)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalars(stmt)).all()
