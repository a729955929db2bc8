"""Observations the rules judge, loaded for all subjects of a rule in one statement each.

Window functions give every (subject, period) its previous period's value, the values of the
periods before it (for the z-score) and how many of its latest periods declined; the frames
are calendar ranges (RANGE over period_start), so a missing period is missing, not skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, and_, column, false, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from kpi_service.assignments.repository import (
    AssignmentFilters,
    AssignmentRepository,
    in_force_during,
)
from kpi_service.core.repository import Repository
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import Assignment, Measurement, joins

# A period kind as (months, days), the length of one step back in a RANGE frame.
_STEP = {
    PeriodKind.DAILY: (0, 1),
    PeriodKind.WEEKLY: (0, 7),
    PeriodKind.MONTHLY: (1, 0),
    PeriodKind.QUARTERLY: (3, 0),
    PeriodKind.YEARLY: (12, 0),
}


# The windows over the `series` CTE, as text: their frames are calendar ranges
# (`make_interval`), and SQLAlchemy's frame bounds are numbers or bound values.
_JUDGED = """
SELECT subject_type, subject_id, period_start, period_end, actual_value, achievement,
       previous_value, history, declining, target_value, baseline_value, calculated_at
FROM (
    SELECT s.*,
        max(s.actual_value) OVER (
            w RANGE BETWEEN make_interval(months => :step_months, days => :step_days) PRECEDING
                AND interval '1 day' PRECEDING) AS previous_value,
        array_agg(s.actual_value) FILTER (WHERE s.actual_value IS NOT NULL) OVER (
            w RANGE BETWEEN make_interval(months => :history_months, days => :history_days)
                PRECEDING AND interval '1 day' PRECEDING) AS history,
        count(*) FILTER (WHERE s.trend = 'declining') OVER (
            w RANGE BETWEEN make_interval(months => :streak_months, days => :streak_days)
                PRECEDING AND CURRENT ROW) AS declining
    FROM series AS s
    WINDOW w AS (PARTITION BY s.subject_type, s.subject_id ORDER BY s.period_start)
) AS judged
WHERE period_start = ANY(CAST(:starts AS date[]))
ORDER BY subject_type, subject_id, period_start
"""


@dataclass(frozen=True, slots=True)
class Point:
    """One subject's measurement of one period, with what its window saw."""

    subject_type: str
    subject_id: str
    period_start: date
    period_end: date
    actual_value: Decimal | None
    achievement: Decimal | None
    previous_value: Decimal | None
    history: list[Decimal]
    declining: int
    target_value: Decimal | None = None
    baseline_value: Decimal | None = None
    calculated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """Whether a subject due for a period has a value recorded for it."""

    subject_type: str
    subject_id: str
    period_start: date
    period_end: date
    has_value: bool


def _steps(kind: PeriodKind, name: str, count: int) -> dict[str, int]:
    months, days = _STEP[kind]
    return {f"{name}_months": months * count, f"{name}_days": days * count}


class ObservationRepository(Repository[Measurement]):
    """What the rules judge: the tenant's measurements with their windows, and the subjects
    due a value, for one session."""

    model = Measurement

    async def points(
        self,
        tenant_id: str,
        definition_id: int,
        kind: PeriodKind,
        starts: Sequence[date],
        *,
        load_from: date,
        history: int,
        streak: int,
        subject_id: str | None,
    ) -> list[Point]:
        """The definition's aligned measurements of the periods starting on `starts`, each with
        the previous period's value, the non-null values of the `history` periods before it,
        and how many of the `streak` periods up to it declined (rows from `load_from` on feed
        the windows)."""
        if not starts:
            return []
        series = (
            select(
                Assignment.subject_type,
                Assignment.subject_id,
                Measurement.period_start,
                Measurement.period_end,
                Measurement.actual_value,
                Measurement.achievement,
                Measurement.trend,
                Measurement.target_value,
                Assignment.baseline_value,
                Measurement.calculated_at,
            )
            .join(Assignment, joins.assignment_of(Measurement))
            .where(
                self.in_tenant(tenant_id),
                Measurement.definition_id == definition_id,
                Measurement.aligned,
                Measurement.period_start.between(load_from, max(starts)),
                *AssignmentFilters(subject_id=subject_id).conditions(),
            )
            .cte("series")
        )
        # `columns()` makes the text a SELECT, which can carry the CTE it reads.
        judged = text(_JUDGED).columns().add_cte(series)
        params = {
            "starts": sorted(set(starts)),
            **_steps(kind, "step", 1),
            **_steps(kind, "history", history),
            **_steps(kind, "streak", streak - 1),
        }
        rows = await self.session.execute(judged, params)
        return [
            Point(
                r.subject_type,
                r.subject_id,
                r.period_start,
                r.period_end,
                r.actual_value,
                r.achievement,
                r.previous_value,
                list(r.history or ()),
                int(r.declining),
                r.target_value,
                r.baseline_value,
                r.calculated_at,
            )
            for r in rows
        ]

    async def due(
        self,
        tenant_id: str,
        definition_id: int,
        periods: Sequence[tuple[date, date]],
        *,
        subject_id: str | None,
    ) -> list[Due]:
        """Every subject due for each period (its assignment is in force during it), and
        whether a value is recorded for it."""
        if not periods:
            return []
        p = (
            func.unnest(
                literal([start for start, _ in periods], ARRAY(Date)),
                literal([end for _, end in periods], ARRAY(Date)),
            )
            .table_valued(column("period_start", Date), column("period_end", Date))
            .render_derived("p")
        )
        recorded = and_(
            joins.assignment_of(Measurement),
            Measurement.period_start == p.c.period_start,
            Measurement.period_end == p.c.period_end,
        )
        due = (
            select(
                Assignment.subject_type,
                Assignment.subject_id,
                p.c.period_start,
                p.c.period_end,
                func.coalesce(func.bool_or(Measurement.actual_value.is_not(None)), false()).label(
                    "has_value"
                ),
            )
            .join(
                p,
                in_force_during(
                    Assignment.start_date, Assignment.end_date, p.c.period_start, p.c.period_end
                ),
            )
            .outerjoin(Measurement, recorded)
            .where(
                AssignmentRepository.in_tenant(tenant_id),
                Assignment.definition_id == definition_id,
                *AssignmentFilters(subject_id=subject_id).conditions(),
            )
            .group_by(
                Assignment.subject_type, Assignment.subject_id, p.c.period_start, p.c.period_end
            )
            .order_by(Assignment.subject_type, Assignment.subject_id, p.c.period_start)
        )
        rows = await self.session.execute(due)
        return [
            Due(r.subject_type, r.subject_id, r.period_start, r.period_end, bool(r.has_value))
            for r in rows
        ]
