"""The standing relation every standing statement reads.

For each period asked, each user and each active KPI of the kind: the user's assignment in
force in the period that started last (one per user and KPI, even when an assignment was
replaced mid-period), with its aligned measurement of that period when one is stored. Where
every row is shown it carries the measurement's values and the target in force; for ranking
it stays narrow, and `detailed` adds them to a page's rows only.

Its parameters are named (`:tenant_id`, the periods' dates, the filters' values) so that a
statement built on it is compiled once and found again by its memoised cache key.
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
from sqlalchemy.orm import aliased

from kpi_service.assignments.repository import in_force_during, target_as_of
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.metrics.measured import JUDGED
from kpi_service.models import Assignment, Definition, Measurement, joins

TENANT = bindparam("tenant_id", type_=String)


class Teams(Enum):
    """How a statement is narrowed to teams: one team, or any of several."""

    ONE = "one"
    ANY = "any"


# The team's members are found through a second look at assignments.
_RECORDED = aliased(Assignment, name="recorded")


def dates(name: str, periods: Sequence[Period]) -> dict[str, date]:
    """The values of the date parameters of the standing relation `name`."""
    values = {}
    for i, period in enumerate(periods):
        values[f"{name}_start_{i}"], values[f"{name}_end_{i}"] = period.start, period.end
    return values


def of_teams(team_id: Any, teams: Teams) -> ColumnElement[bool]:
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
        # A measured row shows the target its measurement was judged against (None: none).
        case(
            (Measurement.id.is_not(None), Measurement.target_value),
            else_=target_as_of(TENANT, assignment_id, period_end),
        ).label("target"),
        *JUDGED,
    ]


def _dated(name: str, periods: int) -> tuple[Any, Any, FromClause | None]:
    """The start and end of the standing's periods, bound as `dates(name, ...)`, and the
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
def standing(
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
    """The standing relation of `periods` periods, dated by the parameters `dates(name, ...)`
    (assignment, weight, team, measurement id and score, and with `detail` the measurement's
    values and the target); narrowed, when asked, to the KPIs of `:kind` or to
    `:definition_id`, to the user `:user_id`, or to users ever recorded under the teams
    (`of_teams`; the caller filters on the teams). With `ranking`, the measurement's
    uncapped achievement and value too (`rank_achievement`, `rank_value`)."""
    start, end, dates = _dated(name, periods)
    in_force = and_(
        Assignment.tenant_id == TENANT,
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
                _RECORDED.tenant_id == TENANT,
                _RECORDED.subject_type == SubjectType.USER,
                of_teams(_RECORDED.team_id, teams),
            )
            .scalar_subquery()
        )
        stmt = stmt.where(Assignment.subject_id == any_(cast(members, ARRAY(String))))
    return stmt.subquery(name)


def detailed(rows: Subquery, *columns: Any) -> Select[*tuple[Any, ...]]:
    """Narrow standing rows with their measurement's values and the target in force (for a
    few rows: their measurements are read again, by id)."""
    return (
        select(rows, *columns, *_measured(rows.c.assignment_id, rows.c.period_end))
        .select_from(rows)
        .outerjoin(
            Measurement,
            and_(Measurement.tenant_id == TENANT, Measurement.id == rows.c.measurement_id),
        )
    )
