"""Standing statements: one set-based statement per question, every one scoped by tenant.

All of them read the same relation (`_standing`): for each period asked, each user and each
active KPI of the kind, the user's assignment in force in the period that started last (one
per user and KPI, even when an assignment was replaced mid-period), with its aligned
measurement of that period when one is stored. Where every row is shown it carries the
measurement's values and the target in force; for ranking it stays narrow, and `_detailed`
adds them to the page's rows only.

Each statement is built once per shape, with named parameters (`:tenant_id`, the periods'
dates, the filters' values): a request only binds its values, and SQLAlchemy compiles the
statement once and finds it again by its memoised cache key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    FromClause,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, array, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kpi_service.assignments.repository import in_force_during
from kpi_service.engine.periods import Period
from kpi_service.models import (
    Assignment,
    AssignmentTarget,
    Definition,
    Measurement,
    SubjectType,
    joins,
)

_TENANT = bindparam("tenant_id", type_=String)


class Teams(Enum):
    """How a statement is narrowed to teams: one team, or any of several."""

    ONE = "one"
    ANY = "any"


# The team's members are found through a second look at assignments.
_RECORDED = aliased(Assignment, name="recorded")


def _dates(name: str, periods: Sequence[Period]) -> dict[str, date]:
    """The values of the date parameters of the standing relation `name`."""
    values = {}
    for i, period in enumerate(periods):
        values[f"{name}_start_{i}"], values[f"{name}_end_{i}"] = period.start, period.end
    return values


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters given a value: a filter left out (None) is not in the statement."""
    return {name: value for name, value in values.items() if value is not None}


def _list(teams: Sequence[str] | None) -> list[str] | None:
    """The teams as the list an array parameter takes."""
    return None if teams is None else list(teams)


def _target(assignment_id: Any, period_end: Any) -> Any:
    """The target in force on the period's last day (before the first one took effect, the
    first one: the measurements' own rule, `measurements.repository.target_in_force`)."""
    of_assignment = and_(
        AssignmentTarget.tenant_id == _TENANT, AssignmentTarget.assignment_id == assignment_id
    )
    latest = (
        select(AssignmentTarget.target_value)
        .where(of_assignment, AssignmentTarget.effective_from <= period_end)
        .order_by(AssignmentTarget.effective_from.desc())
        .limit(1)
        .scalar_subquery()
    )
    first = (
        select(AssignmentTarget.target_value)
        .where(of_assignment)
        .order_by(AssignmentTarget.effective_from.asc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, first)


def _of_teams(team_id: Any, teams: Teams) -> ColumnElement[bool]:
    """The row's team is `:team_id` (ONE), or one of the array `:teams` (ANY)."""
    # One team is a scalar parameter, not a one-element array: with an array of unknown
    # length, PostgreSQL's generic plan looks costlier and it keeps planning every execution.
    condition: ColumnElement[bool] = (
        team_id == bindparam("team_id", type_=String)
        if teams is Teams.ONE
        else team_id == any_(bindparam("teams", type_=ARRAY(String)))
    )
    return condition


def _measured(assignment_id: Any, period_end: Any) -> list[Any]:
    """The joined measurement's values, and the target in force for the period."""
    return [
        Measurement.id.is_not(None).label("measured"),
        Measurement.actual_value.label("value"),
        func.coalesce(Measurement.target_value, _target(assignment_id, period_end)).label("target"),
        Measurement.achievement,
        Measurement.status,
        Measurement.previous_value,
        Measurement.change_pct,
        Measurement.trend,
        Measurement.calculated_at,
    ]


def _dated(name: str, periods: int) -> tuple[Any, Any, FromClause | None]:
    """The start and end of the standing's periods, bound as `_dates(name, ...)`, and the
    relation to read them from, if any."""
    starts = [bindparam(f"{name}_start_{i}", type_=Date) for i in range(periods)]
    ends = [bindparam(f"{name}_end_{i}", type_=Date) for i in range(periods)]
    if periods == 1:
        # The dates themselves: constants to the planner, which then reads one KPI's
        # measurements of the period as one index range.
        return starts[0], ends[0], None
    # Several periods: unnest arrays of them (a VALUES list would have no cache key; a UNION
    # of one-period standings tempts PostgreSQL into a parallel Append that costs more than
    # the work it splits).
    p = (
        func.unnest(array(starts), array(ends))
        .table_valued(column("start", Date), column("end", Date))
        .render_derived("p")
    )
    return p.c.start, p.c.end, p


@cache
def _standing(
    name: str,
    periods: int,
    *,
    kind: bool = False,
    definition: bool = False,
    user: bool = False,
    teams: Teams | None = None,
    detail: bool = False,
    ranking: bool = False,
) -> Subquery:
    """The standing relation of `periods` periods, dated by the parameters `_dates(name, ...)`
    (assignment, weight, team, measurement id and score, and with `detail` the measurement's
    values and the target); narrowed, when asked, to the KPIs of `:kind` or to
    `:definition_id`, to the user `:user_id`, or to users ever recorded under the teams
    (`_of_teams`; the caller filters on the teams). With `ranking`, the measurement's
    uncapped achievement and value too (`rank_achievement`, `rank_value`)."""
    start, end, dates = _dated(name, periods)
    in_force = and_(
        Assignment.tenant_id == _TENANT,
        Assignment.subject_type == SubjectType.USER,
        in_force_during(Assignment.start_date, Assignment.end_date, start, end),
    )
    columns = (
        start.label("period_start"),
        end.label("period_end"),
        Assignment.subject_id,
        Assignment.definition_id,
        Assignment.id.label("assignment_id"),
        Assignment.team_id,
        Assignment.weight,
        Measurement.id.label("measurement_id"),
        Measurement.score,
    )
    stmt = (
        (
            select(*columns).where(in_force)
            if dates is None
            else select(*columns).select_from(dates).join(Assignment, in_force)
        )
        .join(Definition, and_(joins.definition_of(Assignment), Definition.is_active.is_(True)))
        # A measurement's definition is its assignment's (copied onto it): saying so lets
        # PostgreSQL read one KPI's measurements of a period through their (definition,
        # period) index, one range instead of a lookup per assignment.
        .outerjoin(
            Measurement,
            and_(
                Measurement.tenant_id == Assignment.tenant_id,
                Measurement.definition_id == Assignment.definition_id,
                Measurement.assignment_id == Assignment.id,
                Measurement.aligned,
                Measurement.period_start == start,
            ),
        )
        # One row per (period, user, KPI): of the assignments in force in the period (two when
        # one superseded the other during it), the one measured for it, else the later one.
        .ext(distinct_on(start, Assignment.subject_id, Assignment.definition_id))
        .order_by(
            start,
            Assignment.subject_id,
            Assignment.definition_id,
            Measurement.id.is_(None),
            Assignment.start_date.desc(),
            Assignment.id.desc(),
        )
    )
    if detail:
        stmt = stmt.add_columns(*_measured(Assignment.id, end))
    if ranking:
        stmt = stmt.add_columns(
            Measurement.achievement.label("rank_achievement"),
            Measurement.actual_value.label("rank_value"),
        )
    if kind:
        stmt = stmt.where(Definition.aggregation_period == bindparam("kind", type_=String))
    if definition:
        stmt = stmt.where(Assignment.definition_id == bindparam("definition_id", type_=BigInteger))
    if user:
        stmt = stmt.where(Assignment.subject_id == bindparam("user_id", type_=String))
    if teams is not None:
        # Only users ever recorded under the teams can stand under them: they are read first
        # (through the team index), as an array, which PostgreSQL estimates at a few users
        # whatever the tenant's size.
        members = (
            select(func.array_agg(_RECORDED.subject_id.distinct()))
            .where(
                _RECORDED.tenant_id == _TENANT,
                _RECORDED.subject_type == SubjectType.USER,
                _of_teams(_RECORDED.team_id, teams),
            )
            .scalar_subquery()
        )
        stmt = stmt.where(Assignment.subject_id == any_(cast(members, ARRAY(String))))
    return stmt.subquery(name)


def _detailed(rows: Subquery, *columns: Any) -> Select[*tuple[Any, ...]]:
    """Narrow standing rows with their measurement's values and the target in force (for a
    few rows: their measurements are read again, by id)."""
    return (
        select(rows, *columns, *_measured(rows.c.assignment_id, rows.c.period_end))
        .select_from(rows)
        .outerjoin(
            Measurement,
            and_(Measurement.tenant_id == _TENANT, Measurement.id == rows.c.measurement_id),
        )
    )


@cache
def _user_kpis() -> Select[*tuple[Any, ...]]:
    """`StandingRepository.user_kpis`, before the caller's visibility condition."""
    s = _standing("standing", 1, kind=True, user=True, detail=True)
    return (
        select(
            s,
            Definition.key,
            Definition.name,
            Definition.unit,
            Definition.target_type,
            Definition.rollup,
        )
        .join(Assignment, and_(Assignment.tenant_id == _TENANT, Assignment.id == s.c.assignment_id))
        .join(Definition, and_(Definition.tenant_id == _TENANT, Definition.id == s.c.definition_id))
        .order_by(Definition.key)
    )


@cache
def _team_scores(periods: int) -> Select[*tuple[Any, ...]]:
    """`StandingRepository.team_scores` over that many periods."""
    s = _standing("standing", periods, kind=True, teams=Teams.ONE)
    scored = and_(s.c.score.is_not(None), s.c.weight > 0)
    return (
        select(
            s.c.period_start,
            s.c.subject_id,
            func.sum(s.c.weight * s.c.score).filter(scored).label("weighted_sum"),
            func.sum(s.c.weight).filter(scored).label("weight_sum"),
        )
        .where(_of_teams(s.c.team_id, Teams.ONE))
        .group_by(s.c.period_start, s.c.subject_id)
    )


@cache
def _team_cells() -> Select[*tuple[Any, ...]]:
    """`StandingRepository.team_cells`."""
    s = _standing("standing", 1, kind=True, teams=Teams.ONE, detail=True)
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
            Definition.key,
            Definition.name,
            Definition.unit,
            Definition.target_type,
            Definition.rollup,
        )
        .join(Definition, and_(Definition.tenant_id == _TENANT, Definition.id == s.c.definition_id))
        .where(_of_teams(s.c.team_id, Teams.ONE))
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
    now = _standing("now", 1, definition=True, teams=among, ranking=True)
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
        ranked = ranked.where(_of_teams(now.c.team_id, Teams.ANY))
    page = ranked.subquery("ranked")
    shown = (
        select(page)
        .order_by(page.c.rank.asc().nulls_last(), page.c.subject_id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    if user:
        shown = shown.where(page.c.subject_id == bindparam("user_id", type_=String))
    rows = shown.subquery("page")
    # The previous period is ranked the same way; only the page's rows are joined.
    before = _standing("before", 1, definition=True, teams=among, ranking=True)
    before_tier, before_order = _rank_order(before, by_value)
    previous_ranks = select(
        before.c.subject_id, func.rank().over(order_by=before_order).label("rank")
    ).where(before_tier.is_not(None))
    if teams:
        previous_ranks = previous_ranks.where(_of_teams(before.c.team_id, Teams.ANY))
    back = previous_ranks.subquery("before_ranks")
    return (
        _detailed(rows, back.c.rank.label("previous_rank"))
        .outerjoin(back, back.c.subject_id == rows.c.subject_id)
        .order_by(rows.c.rank.asc().nulls_last(), rows.c.subject_id)
    )


@cache
def _population(teams: bool, by_value: ValueOrder) -> Select[*tuple[Any, ...]]:
    """`StandingRepository.population`, among `:teams` or all."""
    s = _standing("standing", 1, definition=True, teams=Teams.ANY if teams else None, ranking=True)
    tier, _ = _rank_order(s, by_value)
    stmt = select(func.count(), func.count(tier))
    return stmt.where(_of_teams(s.c.team_id, Teams.ANY)) if teams else stmt


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
            **_dates("standing", [period]),
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
            **_dates("standing", periods),
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
            **_dates("standing", [period]),
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
            **_dates("now", [period]),
            **_dates("before", [previous]),
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
            **_dates("standing", [period]),
        }
        stmt = _population(teams is not None, by_value)
        row = (await self.session.execute(stmt, _bound(values))).one()
        return int(row[0]), int(row[1])
