"""Standing statements: one set-based statement per question, every one scoped by tenant.

All of them read the same relation (`_standing`): for each period asked, each user and each
active KPI of the kind, the user's assignment in force in the period that started last
(one per user and KPI, even when an assignment was replaced mid-period), with its aligned
measurement of that period when one is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Subquery,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    values,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kpi_service.core.sql import among
from kpi_service.engine.periods import Period
from kpi_service.models import Assignment, AssignmentTarget, Definition, Measurement


def _periods(periods: Sequence[Period]) -> Any:
    rows = [(cast(literal(p.start), Date), cast(literal(p.end), Date)) for p in periods]
    return values(column("start", Date), column("end", Date), name="p", literal_binds=False
                  ).data(rows)


def _target(period_end: Any) -> Any:
    """The target in force on the period's last day (before the first one took effect, the
    first one: the measurements' own rule, `measurements.repository.target_in_force`)."""
    of_assignment = and_(AssignmentTarget.tenant_id == Assignment.tenant_id,
                         AssignmentTarget.assignment_id == Assignment.id)
    latest = (select(AssignmentTarget.target_value)
              .where(of_assignment, AssignmentTarget.effective_from <= period_end)
              .order_by(AssignmentTarget.effective_from.desc()).limit(1).scalar_subquery())
    first = (select(AssignmentTarget.target_value).where(of_assignment)
             .order_by(AssignmentTarget.effective_from.asc()).limit(1).scalar_subquery())
    return func.coalesce(latest, first)


def _standing(tenant_id: str, periods: Sequence[Period], *, kind: str | None = None,
              definition_id: int | None = None, user_id: str | None = None,
              team_id: str | None = None) -> Subquery:
    """The standing relation for these periods; narrowed to one KPI kind or one KPI, to one
    user, or to users with any assignment under a team (the caller filters on the team)."""
    p = _periods(periods)
    in_force = and_(Assignment.tenant_id == tenant_id, Assignment.subject_type == "user",
                    Assignment.start_date <= p.c.end,
                    or_(Assignment.end_date.is_(None), Assignment.end_date >= p.c.start))
    stmt = (
        select(
            p.c.start.label("period_start"), Assignment.subject_id, Assignment.definition_id,
            Assignment.id.label("assignment_id"), Assignment.team_id, Assignment.weight,
            Measurement.id.is_not(None).label("measured"),
            Measurement.actual_value.label("value"),
            func.coalesce(Measurement.target_value, _target(p.c.end)).label("target"),
            Measurement.achievement, Measurement.score, Measurement.status,
            Measurement.previous_value, Measurement.change_pct, Measurement.trend,
        )
        .select_from(p)
        .join(Assignment, in_force)
        .join(Definition, and_(Definition.tenant_id == Assignment.tenant_id,
                               Definition.id == Assignment.definition_id,
                               Definition.is_active.is_(True)))
        .outerjoin(Measurement, and_(Measurement.tenant_id == Assignment.tenant_id,
                                     Measurement.assignment_id == Assignment.id,
                                     Measurement.aligned,
                                     Measurement.period_start == p.c.start))
        # One row per (period, user, KPI): the assignment that started last, then the newest.
        .ext(distinct_on(p.c.start, Assignment.subject_id, Assignment.definition_id))
        .order_by(p.c.start, Assignment.subject_id, Assignment.definition_id,
                  Assignment.start_date.desc(), Assignment.id.desc())
    )
    if kind is not None:
        stmt = stmt.where(Definition.aggregation_period == kind)
    if definition_id is not None:
        stmt = stmt.where(Definition.id == definition_id)
    if user_id is not None:
        stmt = stmt.where(Assignment.subject_id == user_id)
    if team_id is not None:
        # Only users ever recorded under the team can be its members (uses the team index).
        recorded = aliased(Assignment)
        members = select(recorded.subject_id).where(
            recorded.tenant_id == tenant_id, recorded.subject_type == "user",
            recorded.team_id == team_id)
        stmt = stmt.where(Assignment.subject_id.in_(members))
    return stmt.subquery("standing")


def _scored(s: Subquery) -> ColumnElement[bool]:
    return and_(s.c.score.is_not(None), s.c.weight > 0)


class StandingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_kpis(self, tenant_id: str, kind: str, period: Period, user_id: str,
                        visible: ColumnElement[bool]) -> Sequence[Any]:
        """A user's KPIs of the kind in force in the period, as far as the caller may see them,
        each with its definition and measurement."""
        s = _standing(tenant_id, [period], kind=kind, user_id=user_id)
        stmt = (
            select(s, Definition.key, Definition.name, Definition.unit, Definition.target_type)
            .join(Assignment, and_(Assignment.tenant_id == tenant_id,
                                   Assignment.id == s.c.assignment_id))
            .join(Definition, and_(Definition.tenant_id == tenant_id,
                                   Definition.id == s.c.definition_id))
            .where(visible)
            .order_by(Definition.key)
        )
        return (await self.session.execute(stmt)).all()

    async def team_scores(self, tenant_id: str, kind: str, periods: Sequence[Period],
                          team_id: str) -> Sequence[Any]:
        """Per period and member of the team: the sums of weight x score and of weight over
        their scored KPIs recorded under the team (null when none is scored)."""
        s = _standing(tenant_id, periods, kind=kind, team_id=team_id)
        scored = _scored(s)
        stmt = (
            select(s.c.period_start, s.c.subject_id,
                   func.sum(s.c.weight * s.c.score).filter(scored).label("weighted_sum"),
                   func.sum(s.c.weight).filter(scored).label("weight_sum"))
            .where(s.c.team_id == team_id)
            .group_by(s.c.period_start, s.c.subject_id)
        )
        return (await self.session.execute(stmt)).all()

    async def team_cells(self, tenant_id: str, kind: str, period: Period,
                         team_id: str) -> Sequence[Any]:
        """Every (member, KPI) recorded under the team in the period, measured or not."""
        s = _standing(tenant_id, [period], kind=kind, team_id=team_id)
        stmt = (
            select(s, Definition.key, Definition.name, Definition.unit, Definition.target_type,
                   Definition.rollup)
            .join(Definition, and_(Definition.tenant_id == tenant_id,
                                   Definition.id == s.c.definition_id))
            .where(s.c.team_id == team_id)
            .order_by(Definition.key, s.c.subject_id)
        )
        return (await self.session.execute(stmt)).all()

    async def leaderboard(self, tenant_id: str, definition_id: int, period: Period,
                          previous: Period, *, teams: Sequence[str] | None,
                          user_id: str | None, offset: int, limit: int) -> Sequence[Any]:
        """The ranked rows of one KPI for a period among users recorded under `teams` (all when
        None), with their rank in the previous period among the same teams; only `user_id`'s
        row when given. Each row carries the population and ranked counts of its period."""
        s = _standing(tenant_id, [period, previous], definition_id=definition_id)
        has_score = s.c.score.is_not(None)
        by_period = (s.c.period_start, has_score)
        rows = (
            select(
                s,
                case((has_score, func.rank().over(partition_by=by_period,
                                                  order_by=s.c.score.desc()))).label("rank"),
                case((has_score, func.rank().over(partition_by=by_period,
                                                  order_by=s.c.score.asc()) - 1)).label("below"),
                func.count(s.c.score).over(partition_by=s.c.period_start).label("ranked"),
                func.count().over(partition_by=s.c.period_start).label("population"),
            )
        )
        if teams is not None:
            rows = rows.where(among(s.c.team_id, teams))
        ranked = rows.subquery("ranked")
        now, before = ranked.alias("now"), ranked.alias("before")
        stmt = (
            select(now, before.c.rank.label("previous_rank"))
            .outerjoin(before, and_(before.c.period_start == previous.start,
                                    before.c.subject_id == now.c.subject_id))
            .where(now.c.period_start == period.start)
            .order_by(now.c.rank.asc().nulls_last(), now.c.subject_id)
            .offset(offset).limit(limit)
        )
        if user_id is not None:
            stmt = stmt.where(now.c.subject_id == user_id)
        return (await self.session.execute(stmt)).all()

    async def population(self, tenant_id: str, definition_id: int, period: Period,
                         teams: Sequence[str] | None) -> tuple[int, int]:
        """How many users hold the KPI in the period among `teams`, and how many have a score."""
        s = _standing(tenant_id, [period], definition_id=definition_id)
        stmt = select(func.count(), func.count(s.c.score))
        if teams is not None:
            stmt = stmt.where(among(s.c.team_id, teams))
        row = (await self.session.execute(stmt)).one()
        return int(row[0]), int(row[1])
