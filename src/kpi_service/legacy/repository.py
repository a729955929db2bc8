"""The two reads the seed's BFF routes need, each one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.measurements.repository import target_in_force
from kpi_service.models import Assignment, Definition, Measurement


class LegacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_definitions(self, tenant_id: str) -> Sequence[Definition]:
        stmt = (select(Definition)
                .where(Definition.tenant_id == tenant_id, Definition.is_active.is_(True))
                .order_by(Definition.category.nulls_last(), Definition.name, Definition.id))
        return (await self.session.scalars(stmt)).all()

    async def user_assignments(self, tenant_id: str, user_id: str, today: date,
                               visible: ColumnElement[bool]) -> Sequence[Any]:
        """A user's current assignments with their definition and latest measurement."""
        latest = (
            select(Measurement.id, Measurement.actual_value, Measurement.target_value,
                   Measurement.achievement, Measurement.period_start, Measurement.period_end,
                   Measurement.calculated_at)
            .where(Measurement.tenant_id == Assignment.tenant_id,
                   Measurement.assignment_id == Assignment.id)
            .order_by(Measurement.period_start.desc(), Measurement.period_end.desc())
            .limit(1).correlate(Assignment).lateral("latest")
        )
        stmt = (
            select(Assignment, Definition, target_in_force(today).label("target_value"),
                   latest.c.id, latest.c.actual_value, latest.c.target_value,
                   latest.c.achievement, latest.c.period_start, latest.c.period_end,
                   latest.c.calculated_at)
            .join(Definition, and_(Definition.tenant_id == Assignment.tenant_id,
                                   Definition.id == Assignment.definition_id))
            .outerjoin(latest, true())
            .where(Assignment.tenant_id == tenant_id, Assignment.subject_type == "user",
                   Assignment.subject_id == user_id, Definition.is_active.is_(True),
                   (Assignment.end_date.is_(None)) | (Assignment.end_date >= today), visible)
            .order_by(Assignment.id)
        )
        return (await self.session.execute(stmt)).all()
