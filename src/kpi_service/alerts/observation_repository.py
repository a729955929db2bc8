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

from sqlalchemy import text

from kpi_service.core.repository import Repository
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import Measurement

# A period kind as (months, days), the length of one step back in a RANGE frame.
_STEP = {
    PeriodKind.DAILY: (0, 1),
    PeriodKind.WEEKLY: (0, 7),
    PeriodKind.MONTHLY: (1, 0),
    PeriodKind.QUARTERLY: (3, 0),
    PeriodKind.YEARLY: (12, 0),
}


_SERIES = """
WITH series AS (
    SELECT a.subject_type, a.subject_id, m.period_start, m.period_end, m.actual_value,
           m.achievement, m.trend, m.target_value, a.baseline_value, m.calculated_at
    FROM kpi.measurements AS m
    JOIN kpi.assignments AS a ON a.tenant_id = m.tenant_id AND a.id = m.assignment_id
    WHERE m.tenant_id = :tenant_id AND m.definition_id = :definition_id AND m.aligned
      AND m.period_start BETWEEN :load_from AND :load_to {subject}
), judged AS (
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
)
SELECT subject_type, subject_id, period_start, period_end, actual_value, achievement,
       previous_value, history, declining, target_value, baseline_value, calculated_at
FROM judged WHERE period_start = ANY(CAST(:starts AS date[]))
ORDER BY subject_type, subject_id, period_start
"""

_MISSING = """
SELECT a.subject_type, a.subject_id, p.period_start, p.period_end,
       coalesce(bool_or(m.actual_value IS NOT NULL), false) AS has_value
FROM kpi.assignments AS a
CROSS JOIN unnest(CAST(:starts AS date[]), CAST(:ends AS date[])) AS p(period_start, period_end)
LEFT JOIN kpi.measurements AS m
    ON m.tenant_id = a.tenant_id AND m.assignment_id = a.id
   AND m.period_start = p.period_start AND m.period_end = p.period_end
WHERE a.tenant_id = :tenant_id AND a.definition_id = :definition_id
  AND a.start_date <= p.period_end AND (a.end_date IS NULL OR a.end_date >= p.period_start)
  {subject}
GROUP BY a.subject_type, a.subject_id, p.period_start, p.period_end
ORDER BY a.subject_type, a.subject_id, p.period_start
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


def _of_subject(params: dict[str, object], subject_id: str | None) -> str:
    """The condition narrowing the statement to one subject (none: every subject), its
    parameter added to `params`."""
    if subject_id is None:
        return ""
    params["subject_id"] = subject_id
    return "AND a.subject_id = :subject_id"


class ObservationRepository(Repository[Measurement]):
    """What the rules judge: the tenant's measurements, read with raw SQL (window functions)
    for one session."""

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
        params: dict[str, object] = {
            "tenant_id": tenant_id,
            "definition_id": definition_id,
            "load_from": load_from,
            "load_to": max(starts),
            "starts": sorted(set(starts)),
            **_steps(kind, "step", 1),
            **_steps(kind, "history", history),
            **_steps(kind, "streak", streak - 1),
        }
        subject = _of_subject(params, subject_id)
        rows = await self.session.execute(text(_SERIES.format(subject=subject)), params)
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
        """Every subject due for each period (its assignment overlaps it), and whether a value
        is recorded for it."""
        if not periods:
            return []
        params: dict[str, object] = {
            "tenant_id": tenant_id,
            "definition_id": definition_id,
            "starts": [p[0] for p in periods],
            "ends": [p[1] for p in periods],
        }
        subject = _of_subject(params, subject_id)
        rows = await self.session.execute(text(_MISSING.format(subject=subject)), params)
        return [
            Due(r.subject_type, r.subject_id, r.period_start, r.period_end, bool(r.has_value))
            for r in rows
        ]
