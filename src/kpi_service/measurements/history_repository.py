"""The values an assignment was recorded with: each measurement's value and every earlier
value its revisions keep, one row per recording, newest first (seed 004's KPI history)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.dialects.postgresql import distinct_on

from kpi_service.core.repository import Repository
from kpi_service.models import Measurement, MeasurementRevision, joins

# The trend compares the latest recording with the one before it, shown or not.
COMPARED = 2


class HistoryRepository(Repository[Measurement]):
    """Reads of `kpi.measurements` and their revisions as one assignment's recorded values."""

    model = Measurement

    async def recordings(
        self, tenant_id: str, assignment_id: int, since: datetime, limit: int
    ) -> Sequence[Any]:
        """The assignment's recordings, newest first, in one statement: the latest `limit`
        recorded at or after `since` (`shown`), and the two latest whatever their time.

        A row is (value, target, achievement, recorded_at, period_start, period_end, shown).
        A recording is a (measurement, `calculated_at`) pair: re-deriving a measurement keeps
        its `calculated_at` and adds a revision, so a recording shows as it last stood.
        """
        ours = and_(self.in_tenant(tenant_id), Measurement.assignment_id == assignment_id)
        current = select(
            Measurement.id.label("measurement_id"),
            Measurement.revision,
            Measurement.actual_value.label("value"),
            Measurement.target_value.label("target"),
            Measurement.achievement,
            Measurement.calculated_at.label("recorded_at"),
            Measurement.period_start,
            Measurement.period_end,
        ).where(ours)
        earlier = (
            select(
                MeasurementRevision.measurement_id,
                MeasurementRevision.revision,
                MeasurementRevision.actual_value,
                MeasurementRevision.target_value,
                MeasurementRevision.achievement,
                MeasurementRevision.calculated_at,
                Measurement.period_start,
                Measurement.period_end,
            )
            .join(Measurement, joins.measurement_of(MeasurementRevision))
            .where(ours)
        )
        states = union_all(current, earlier).subquery("states")
        recorded = (
            select(states)
            .ext(distinct_on(states.c.measurement_id, states.c.recorded_at))
            .order_by(states.c.measurement_id, states.c.recorded_at, states.c.revision.desc())
            .subquery("recorded")
        )
        newest = (
            func.row_number()
            .over(order_by=(recorded.c.recorded_at.desc(), recorded.c.measurement_id.desc()))
            .label("newest")
        )
        ranked = select(recorded, newest).subquery("ranked")
        shown = and_(ranked.c.recorded_at >= since, ranked.c.newest <= limit)
        stmt = (
            select(
                ranked.c.value,
                ranked.c.target,
                ranked.c.achievement,
                ranked.c.recorded_at,
                ranked.c.period_start,
                ranked.c.period_end,
                shown.label("shown"),
            )
            .where(or_(ranked.c.newest <= COMPARED, shown))
            .order_by(ranked.c.newest)
        )
        rows: Sequence[Any] = (await self.session.execute(stmt)).all()
        return rows
