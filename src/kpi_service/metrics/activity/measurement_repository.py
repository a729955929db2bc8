"""Statements over measurements for the funnel's KPI stages and the executive summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Text,
    and_,
    column,
    false,
    func,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import distinct_on

from kpi_service.assignments.repository import AssignmentRepository, in_force_during
from kpi_service.core.repository import Repository
from kpi_service.core.sql import among
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.metrics.measured import JUDGED
from kpi_service.models import Assignment, Definition, Measurement, joins

# Achievement buckets of the summary, in percent: [<50, 50-80, 80-100, 100-120, >=120).
BUCKET_EDGES = (Decimal(50), Decimal(80), Decimal(100), Decimal(120))
STATUSES = ("met", "at_risk", "off_track")
# A measurement's columns the summary shows, named as it shows them.
_MEASURED = (
    Measurement.period_start,
    Measurement.period_end,
    Measurement.actual_value.label("value"),
    Measurement.target_value.label("target"),
    *JUDGED,
)

# A measurement shows for the assignment in force in its period (a superseded one's later
# measurements stay stored as history), as in every view.
_IN_FORCE = in_force_during(
    Assignment.start_date, Assignment.end_date, Measurement.period_start, Measurement.period_end
)


@dataclass(frozen=True, slots=True)
class DistributionRow:
    """Counts of one KPI's user measurements for one period."""

    definition_key: str
    name: str
    period_start: date
    period_end: date
    assignments: int
    statuses: dict[str, int]
    no_value: int
    buckets: list[int]  # one per bucket, from BUCKET_EDGES


def _held_by(scope: str, subject_type: str, subject_id: str) -> ColumnElement[bool]:
    """Assignments of a KPI of that scope that measure the subject: its own, a team's user
    members (by the assignment's team), or every user or team of the organisation."""
    if scope == subject_type:
        return and_(Assignment.subject_type == scope, Assignment.subject_id == subject_id)
    if subject_type == SubjectType.TEAM:
        return and_(Assignment.subject_type == scope, Assignment.team_id == subject_id)
    return Assignment.subject_type == scope


def _bucket_conditions() -> list[Any]:
    achievement = Measurement.achievement
    bounds = [None, *BUCKET_EDGES, None]
    conditions = []
    for lower, upper in pairwise(bounds):
        parts: list[ColumnElement[bool]] = [achievement.is_not(None)]
        if lower is not None:
            parts.append(achievement >= lower)
        if upper is not None:
            parts.append(achievement < upper)
        conditions.append(and_(*parts))
    return conditions


class ActivityMeasurementRepository(Repository[Measurement]):
    """The tenant's measurements as the funnel and the summary read them."""

    model = Measurement

    async def stage_values(
        self,
        tenant_id: str,
        scopes: Mapping[str, str],
        subject_type: str,
        subject_id: str,
        start: date,
        end: date,
    ) -> dict[str, list[tuple[date, Decimal | None]]]:
        """(period start, value) rows of these KPIs (key: scope) for each of their periods
        lying inside [start, end], by key: the subject's own, or its members' (one per member
        and period, from the member's newest assignment if several)."""
        keys_by_scope: dict[str, list[str]] = {}
        for key, scope in scopes.items():
            keys_by_scope.setdefault(scope, []).append(key)
        held = or_(
            false(),
            *[
                and_(among(Definition.key, keys), _held_by(scope, subject_type, subject_id))
                for scope, keys in sorted(keys_by_scope.items())
            ],
        )
        stmt = (
            select(Definition.key, Measurement.period_start, Measurement.actual_value)
            .ext(distinct_on(Definition.key, Assignment.subject_id, Measurement.period_start))
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            .where(
                self.in_tenant(tenant_id),
                held,
                Measurement.aligned.is_(True),
                _IN_FORCE,
                Measurement.period_start >= start,
                Measurement.period_end <= end,
            )
            .order_by(
                Definition.key,
                Assignment.subject_id,
                Measurement.period_start,
                Assignment.start_date.desc(),
                Assignment.id.desc(),
            )
        )
        found: dict[str, list[tuple[date, Decimal | None]]] = {}
        for key, period_start, value in (await self.session.execute(stmt)).all():
            found.setdefault(key, []).append((period_start, value))
        return found

    async def organization_kpis(
        self, tenant_id: str, kinds: Sequence[str], last_day: date
    ) -> Sequence[Any]:
        """Every active organisation-scope definition of these period kinds with the latest
        aligned measurement of the organisation's assignments that has a value and ends by
        `last_day` (none: nulls); a period not yet entered does not hide the last known
        value."""
        latest = (
            select(*_MEASURED)
            .join(Assignment, joins.assignment_of(Measurement))
            .where(
                Measurement.tenant_id == Definition.tenant_id,
                Measurement.definition_id == Definition.id,
                Measurement.aligned.is_(True),
                Measurement.actual_value.is_not(None),
                Measurement.period_end <= last_day,
                Assignment.subject_type == SubjectType.ORGANIZATION,
                Assignment.subject_id == tenant_id,
                _IN_FORCE,
            )
            .order_by(
                Measurement.period_start.desc(), Assignment.start_date.desc(), Assignment.id.desc()
            )
            .limit(1)
            .correlate(Definition)
            .lateral("latest")
        )
        stmt = (
            select(
                Definition.key.label("definition_key"),
                Definition.name,
                Definition.unit,
                Definition.aggregation_period,
                Definition.rollup,
                Definition.window,
                latest,
            )
            .outerjoin(latest, true())
            .where(
                DefinitionRepository.in_tenant(tenant_id),
                Definition.scope == SubjectType.ORGANIZATION,
                Definition.is_active.is_(True),
                among(Definition.aggregation_period, kinds),
            )
            .order_by(Definition.key)
        )
        rows: Sequence[Any] = (await self.session.execute(stmt)).all()
        return rows

    async def organization_periods(
        self, tenant_id: str, periods: Sequence[Period]
    ) -> dict[tuple[str, date], Any]:
        """The organisation's aligned measurement of each active organisation KPI for the
        period of its kind among these, by (key, period start); from the assignment that
        started last where two measured it."""
        if not periods:
            return {}
        chosen = values(column("kind", Text), column("period_start", Date), name="chosen").data(
            [(str(p.kind), p.start) for p in periods]
        )
        stmt = (
            select(Definition.key, *_MEASURED)
            .ext(distinct_on(Definition.key, Measurement.period_start))
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            .join(
                chosen,
                and_(
                    chosen.c.kind == Definition.aggregation_period,
                    chosen.c.period_start == Measurement.period_start,
                ),
            )
            .where(
                self.in_tenant(tenant_id),
                Measurement.aligned.is_(True),
                Assignment.subject_type == SubjectType.ORGANIZATION,
                Assignment.subject_id == tenant_id,
                Definition.scope == SubjectType.ORGANIZATION,
                _IN_FORCE,
            )
            .order_by(
                Definition.key,
                Measurement.period_start,
                Assignment.start_date.desc(),
                Assignment.id.desc(),
            )
        )
        return {
            (row.key, row.period_start): row for row in (await self.session.execute(stmt)).all()
        }

    async def distribution(
        self, tenant_id: str, periods: Sequence[Period]
    ) -> list[DistributionRow]:
        """Per active user KPI whose period kind has a period here: its user assignments in
        force then, by status and by achievement bucket of their measurement for it."""
        if not periods:
            return []
        chosen = values(
            column("kind", Text),
            column("period_start", Date),
            column("period_end", Date),
            name="chosen",
        ).data([(str(p.kind), p.start, p.end) for p in periods])
        measured = and_(
            joins.assignment_of(Measurement),
            Measurement.aligned.is_(True),
            Measurement.period_start == chosen.c.period_start,
        )
        stmt = (
            select(
                Definition.key,
                Definition.name,
                chosen.c.period_start,
                chosen.c.period_end,
                func.count(),
                *[func.count().filter(Measurement.status == s) for s in STATUSES],
                func.count().filter(Measurement.achievement.is_(None)),
                *[func.count().filter(c) for c in _bucket_conditions()],
            )
            .select_from(Assignment)
            .join(Definition, joins.definition_of(Assignment))
            .join(chosen, chosen.c.kind == Definition.aggregation_period)
            .outerjoin(Measurement, measured)
            .where(
                AssignmentRepository.in_tenant(tenant_id),
                Assignment.subject_type == SubjectType.USER,
                Definition.scope == SubjectType.USER,
                Definition.is_active.is_(True),
                in_force_during(
                    Assignment.start_date,
                    Assignment.end_date,
                    chosen.c.period_start,
                    chosen.c.period_end,
                ),
            )
            .group_by(Definition.key, Definition.name, chosen.c.period_start, chosen.c.period_end)
            .order_by(Definition.key)
        )
        out = []
        for row in (await self.session.execute(stmt)).all():
            key, name, start, end, total, *counts = row
            statuses = dict(zip(STATUSES, counts[:3], strict=True))
            out.append(
                DistributionRow(key, name, start, end, total, statuses, counts[3], list(counts[4:]))
            )
        return out
