"""Standing statements: one set-based statement per question, every one scoped by tenant.

All of them read the same relation (`_standing`): for each period asked, each user and each
active KPI of the kind, the user's assignment in force in the period that started last (one
per user and KPI, even when an assignment was replaced mid-period), with its aligned
measurement of that period when one is stored. The relation is narrow (what ranking needs);
`_detailed` adds the measurement's values and the target in force to the rows shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kpi_service.core.sql import among
from kpi_service.engine.periods import Period
from kpi_service.models import Assignment, AssignmentTarget, Definition, Measurement

# The team's members are found through a second look at assignments; made once, as aliasing a
# mapped class copies every column.
_RECORDED = aliased(Assignment, name="recorded")


def _periods(periods: Sequence[Period]) -> Subquery:
    """The periods as a relation of bound dates: each statement is compiled once whatever the
    dates (a VALUES list has no cache key, so it would be compiled on every request), and the
    planner sees a lone period's dates as constants."""
    rows = [select(literal(p.start, Date).label("start"), literal(p.end, Date).label("end"))
            for p in periods]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("p")


def _target(tenant_id: str, assignment_id: Any, period_end: Any) -> Any:
    """The target in force on the period's last day (before the first one took effect, the
    first one: the measurements' own rule, `measurements.repository.target_in_force`)."""
    of_assignment = and_(AssignmentTarget.tenant_id == tenant_id,
                         AssignmentTarget.assignment_id == assignment_id)
    latest = (select(AssignmentTarget.target_value)
              .where(of_assignment, AssignmentTarget.effective_from <= period_end)
              .order_by(AssignmentTarget.effective_from.desc()).limit(1).scalar_subquery())
    first = (select(AssignmentTarget.target_value).where(of_assignment)
             .order_by(AssignmentTarget.effective_from.asc()).limit(1).scalar_subquery())
    return func.coalesce(latest, first)


def _standing(tenant_id: str, periods: Sequence[Period], *, kind: str | None = None,
              definition_id: int | None = None, user_id: str | None = None,
              team_id: str | None = None) -> Subquery:
    """The standing relation of these periods (assignment, weight, team, measurement id and
    score); narrowed to one KPI kind or one KPI, to one user, or to users with any assignment
    under a team (the caller filters on the team)."""
    p = _periods(periods)
    in_force = and_(Assignment.tenant_id == tenant_id, Assignment.subject_type == "user",
                    Assignment.start_date <= p.c.end,
                    or_(Assignment.end_date.is_(None), Assignment.end_date >= p.c.start))
    stmt = (
        select(
            p.c.start.label("period_start"), Assignment.subject_id, Assignment.definition_id,
            Assignment.id.label("assignment_id"), Assignment.team_id, Assignment.weight,
            Measurement.id.label("measurement_id"), Measurement.score,
        )
        .select_from(p)
        .join(Assignment, in_force)
        .join(Definition, and_(Definition.tenant_id == Assignment.tenant_id,
                               Definition.id == Assignment.definition_id,
                               Definition.is_active.is_(True)))
        # A measurement's definition is its assignment's (copied onto it): saying so lets
        # PostgreSQL read one KPI's measurements of a period through their (definition,
        # period) index, one range instead of a lookup per assignment.
        .outerjoin(Measurement, and_(Measurement.tenant_id == Assignment.tenant_id,
                                     Measurement.definition_id == Assignment.definition_id,
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
        stmt = stmt.where(Assignment.definition_id == definition_id)
    if user_id is not None:
        stmt = stmt.where(Assignment.subject_id == user_id)
    if team_id is not None:
        # Only users ever recorded under the team can be its members (uses the team index).
        members = select(_RECORDED.subject_id).where(
            _RECORDED.tenant_id == tenant_id, _RECORDED.subject_type == "user",
            _RECORDED.team_id == team_id)
        stmt = stmt.where(Assignment.subject_id.in_(members))
    return stmt.subquery("standing")


def _detailed(tenant_id: str, rows: Subquery, period: Period,
              *columns: Any) -> Select[*tuple[Any, ...]]:
    """Standing rows with their measurement's values and the target in force for the period."""
    return (
        select(
            rows, *columns,
            Measurement.id.is_not(None).label("measured"),
            Measurement.actual_value.label("value"),
            func.coalesce(Measurement.target_value,
                          _target(tenant_id, rows.c.assignment_id,
                                  literal(period.end, Date))).label("target"),
            Measurement.achievement, Measurement.status, Measurement.previous_value,
            Measurement.change_pct, Measurement.trend,
        )
        .select_from(rows)
        .outerjoin(Measurement, and_(Measurement.tenant_id == tenant_id,
                                     Measurement.id == rows.c.measurement_id))
    )


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
            _detailed(tenant_id, s, period, Definition.key, Definition.name, Definition.unit,
                      Definition.target_type)
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
            _detailed(tenant_id, s, period, Definition.key, Definition.name, Definition.unit,
                      Definition.target_type, Definition.rollup)
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
        now = _standing(tenant_id, [period], definition_id=definition_id)
        has_score = now.c.score.is_not(None)
        # Unscored rows sort last, so among the scored ones `rank()` counts those strictly
        # higher, and `count(*)` (its frame ends with the row's peers) those at least as high.
        by_score = now.c.score.desc().nulls_last()
        ranked_count = func.count(now.c.score).over()
        ranked = (
            select(now.c.subject_id, now.c.assignment_id, now.c.team_id, now.c.weight,
                   now.c.measurement_id, now.c.score,
                   case((has_score, func.rank().over(order_by=by_score))).label("rank"),
                   case((has_score, ranked_count - func.count().over(order_by=by_score))
                        ).label("below"),
                   ranked_count.label("ranked"), func.count().over().label("population"))
        )
        if teams is not None:
            ranked = ranked.where(among(now.c.team_id, teams))
        page = ranked.subquery("ranked")
        order = (page.c.rank.asc().nulls_last(), page.c.subject_id)
        shown = select(page).order_by(*order).offset(offset).limit(limit)
        if user_id is not None:
            shown = shown.where(page.c.subject_id == user_id)
        rows = shown.subquery("page")
        # The previous period is ranked on scores alone; only the page's rows are joined.
        before = _standing(tenant_id, [previous], definition_id=definition_id)
        previous_ranks = (select(before.c.subject_id,
                                 func.rank().over(order_by=before.c.score.desc()).label("rank"))
                          .where(before.c.score.is_not(None)))
        if teams is not None:
            previous_ranks = previous_ranks.where(among(before.c.team_id, teams))
        back = previous_ranks.subquery("before")
        stmt = (
            _detailed(tenant_id, rows, period, back.c.rank.label("previous_rank"))
            .outerjoin(back, back.c.subject_id == rows.c.subject_id)
            .order_by(rows.c.rank.asc().nulls_last(), rows.c.subject_id)
        )
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
