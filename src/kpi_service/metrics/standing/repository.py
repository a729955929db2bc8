"""Standing statements: one set-based statement per question, every one scoped by tenant,
each built once per shape on the standing relation (`standing.relation`); a request only
binds its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    case,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.engine.periods import Period
from kpi_service.metrics.standing.relation import TENANT, Teams, dates, detailed, of_teams, standing
from kpi_service.models import Assignment, Definition

# What a standing row shows of its KPI's definition.
_DEFINITION_SHOWN = (
    Definition.key,
    Definition.name,
    Definition.unit,
    Definition.target_type,
    Definition.rollup,
    Definition.window,
)


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters given a value: a filter left out (None) is not in the statement."""
    return {name: value for name, value in values.items() if value is not None}


def _list(teams: Sequence[str] | None) -> list[str] | None:
    """The teams as the list an array parameter takes."""
    return None if teams is None else list(teams)


@cache
def _user_kpis() -> Select[*tuple[Any, ...]]:
    """`StandingRepository.user_kpis`, before the caller's visibility condition."""
    s = standing("standing", 1, kind=True, user=True, detail=True)
    return (
        select(
            s,
            *_DEFINITION_SHOWN,
        )
        .join(Assignment, and_(Assignment.tenant_id == TENANT, Assignment.id == s.c.assignment_id))
        .join(Definition, and_(Definition.tenant_id == TENANT, Definition.id == s.c.definition_id))
        .order_by(Definition.key)
    )


@cache
def _team_scores(periods: int) -> Select[*tuple[Any, ...]]:
    """`StandingRepository.team_scores` over that many periods."""
    s = standing("standing", periods, kind=True, teams=Teams.ONE)
    scored = and_(s.c.score.is_not(None), s.c.weight > 0)
    return (
        select(
            s.c.period_start,
            s.c.subject_id,
            func.sum(s.c.weight * s.c.score).filter(scored).label("weighted_sum"),
            func.sum(s.c.weight).filter(scored).label("weight_sum"),
        )
        .where(of_teams(s.c.team_id, Teams.ONE))
        .group_by(s.c.period_start, s.c.subject_id)
    )


@cache
def _team_cells() -> Select[*tuple[Any, ...]]:
    """`StandingRepository.team_cells`."""
    s = standing("standing", 1, kind=True, teams=Teams.ONE, detail=True)
    return (
        select(
            s.c.subject_id,
            s.c.assignment_id,
            s.c.weight,
            s.c.value,
            s.c.target,
            s.c.achievement,
            s.c.score,
            s.c.status,
            s.c.calculated_at,
            *_DEFINITION_SHOWN,
        )
        .join(Definition, and_(Definition.tenant_id == TENANT, Definition.id == s.c.definition_id))
        .where(of_teams(s.c.team_id, Teams.ONE))
        .order_by(Definition.key, s.c.subject_id)
    )


class ValueOrder(Enum):
    """How a KPI's values rank where there is no target: the better end first, or not at all
    (an `exact` KPI without a target has no better end)."""

    HIGHER_FIRST = "higher_first"
    LOWER_FIRST = "lower_first"
    NONE = "none"


def _rank_order(s: Subquery, by_value: ValueOrder) -> tuple[Any, list[Any]]:
    """Whether a standing row is ranked, and the window order that ranks it: by uncapped
    achievement first (highest first); after those, rows measured without a target by value,
    in the KPI's direction."""
    achievement, value = s.c.rank_achievement, s.c.rank_value
    if by_value is ValueOrder.NONE:
        tier = case((achievement.is_not(None), 0))
        key: Any = achievement
    else:
        tier = case((achievement.is_not(None), 0), (value.is_not(None), 1))
        signed = value if by_value is ValueOrder.HIGHER_FIRST else -value
        key = case((achievement.is_not(None), achievement), else_=signed)
    return tier, [tier.asc().nulls_last(), key.desc().nulls_last()]


@cache
def _leaderboard(teams: bool, user: bool, by_value: ValueOrder) -> Select[*tuple[Any, ...]]:
    """`StandingRepository.leaderboard`, among `:teams` or all, for `:user_id` or all."""
    among = Teams.ANY if teams else None
    now = standing("now", 1, definition=True, teams=among, ranking=True)
    tier, order = _rank_order(now, by_value)
    has_rank = tier.is_not(None)
    # Unranked rows sort last, so among the ranked ones `rank()` counts those strictly
    # better, and `count(*)` (its frame ends with the row's peers) those at least as good.
    ranked_count = func.count(tier).over()
    ranked = select(
        now.c.period_end,
        now.c.subject_id,
        now.c.assignment_id,
        now.c.team_id,
        now.c.weight,
        now.c.measurement_id,
        now.c.score,
        case((has_rank, func.rank().over(order_by=order))).label("rank"),
        case((has_rank, ranked_count - func.count().over(order_by=order))).label("below"),
        ranked_count.label("ranked"),
        func.count().over().label("population"),
    )
    if teams:
        ranked = ranked.where(of_teams(now.c.team_id, Teams.ANY))
    page = ranked.subquery("ranked")
    shown = (
        select(page)
        .order_by(page.c.rank.asc().nulls_last(), page.c.subject_id)
        .offset(bindparam("offset", type_=BigInteger))
        .limit(bindparam("limit", type_=Integer))
    )
    if user:
        shown = shown.where(page.c.subject_id == bindparam("user_id", type_=String))
    rows = shown.subquery("page")
    # The previous period is ranked the same way; only the page's rows are joined.
    before = standing("before", 1, definition=True, teams=among, ranking=True)
    before_tier, before_order = _rank_order(before, by_value)
    previous_ranks = select(
        before.c.subject_id, func.rank().over(order_by=before_order).label("rank")
    ).where(before_tier.is_not(None))
    if teams:
        previous_ranks = previous_ranks.where(of_teams(before.c.team_id, Teams.ANY))
    back = previous_ranks.subquery("before_ranks")
    return (
        detailed(rows, back.c.rank.label("previous_rank"))
        .outerjoin(back, back.c.subject_id == rows.c.subject_id)
        .order_by(rows.c.rank.asc().nulls_last(), rows.c.subject_id)
    )


@cache
def _population(teams: bool, by_value: ValueOrder) -> Select[*tuple[Any, ...]]:
    """`StandingRepository.population`, among `:teams` or all."""
    s = standing("standing", 1, definition=True, teams=Teams.ANY if teams else None, ranking=True)
    tier, _ = _rank_order(s, by_value)
    stmt = select(func.count(), func.count(tier))
    return stmt.where(of_teams(s.c.team_id, Teams.ANY)) if teams else stmt


class StandingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_kpis(
        self, tenant_id: str, kind: str, period: Period, user_id: str, visible: ColumnElement[bool]
    ) -> Sequence[Any]:
        """A user's KPIs of the kind in force in the period, as far as the caller may see them,
        each with its definition and measurement."""
        values = {
            "tenant_id": tenant_id,
            "kind": kind,
            "user_id": user_id,
            **dates("standing", [period]),
        }
        return (await self.session.execute(_user_kpis().where(visible), values)).all()

    async def team_scores(
        self, tenant_id: str, kind: str, periods: Sequence[Period], team_id: str
    ) -> Sequence[Any]:
        """Per period and member of the team: the sums of weight x score and of weight over
        their scored KPIs recorded under the team (null when none is scored)."""
        values = {
            "tenant_id": tenant_id,
            "kind": kind,
            "team_id": team_id,
            **dates("standing", periods),
        }
        return (await self.session.execute(_team_scores(len(periods)), values)).all()

    async def team_cells(
        self, tenant_id: str, kind: str, period: Period, team_id: str
    ) -> Sequence[Any]:
        """Every (member, KPI) recorded under the team in the period, measured or not."""
        values = {
            "tenant_id": tenant_id,
            "kind": kind,
            "team_id": team_id,
            **dates("standing", [period]),
        }
        return (await self.session.execute(_team_cells(), values)).all()

    async def leaderboard(
        self,
        tenant_id: str,
        definition_id: int,
        period: Period,
        previous: Period,
        *,
        by_value: ValueOrder,
        teams: Sequence[str] | None,
        user_id: str | None,
        offset: int,
        limit: int,
    ) -> Sequence[Any]:
        """The ranked rows of one KPI for a period among users recorded under `teams` (all when
        None), with their rank in the previous period among the same teams; only `user_id`'s
        row when given. Ranked by uncapped achievement, then (no target) by value as
        `by_value` says. Each row carries the population and ranked counts of its period."""
        values = {
            "tenant_id": tenant_id,
            "definition_id": definition_id,
            "teams": _list(teams),
            "user_id": user_id,
            "offset": offset,
            "limit": limit,
            **dates("now", [period]),
            **dates("before", [previous]),
        }
        stmt = _leaderboard(teams is not None, user_id is not None, by_value)
        return (await self.session.execute(stmt, _bound(values))).all()

    async def population(
        self,
        tenant_id: str,
        definition_id: int,
        period: Period,
        teams: Sequence[str] | None,
        by_value: ValueOrder,
    ) -> tuple[int, int]:
        """How many users hold the KPI in the period among `teams`, and how many are ranked."""
        values = {
            "tenant_id": tenant_id,
            "definition_id": definition_id,
            "teams": _list(teams),
            **dates("standing", [period]),
        }
        stmt = _population(teams is not None, by_value)
        row = (await self.session.execute(stmt, _bound(values))).one()
        return int(row[0]), int(row[1])
