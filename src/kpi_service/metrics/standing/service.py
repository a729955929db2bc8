"""Scorecards, team views and leaderboards: who may see what, and the standings maths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.access import (
    confined_to,
    managed_teams,
    readable_subject,
    require_readable,
    visible_assignments,
)
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Conflict, InvalidInput, NotFound, field_error, found
from kpi_service.core.schemas import decode_cursor, encode_cursor
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine import ranking
from kpi_service.engine.achievement import overall_score
from kpi_service.engine.periods import Period, containing, is_final, latest_final
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.metrics.pace import in_progress, pace_of, unjudged
from kpi_service.metrics.standing.repository import StandingRepository, ValueOrder
from kpi_service.metrics.standing.schemas import (
    LeaderboardQuery,
    LeaderboardRead,
    LeaderboardRow,
    ScorecardKpi,
    ScorecardQuery,
    ScorecardRead,
    TeamCell,
    TeamKpi,
    TeamMember,
    TeamQuery,
    TeamStanding,
    TeamViewRead,
)
from kpi_service.metrics.teams import main_team

_MEASURED = ("value", "target", "achievement", "score", "status")


def _period(kind: str, day: date | None, today: date) -> Period:
    """The period of `kind` holding `day`; without a day, the latest final one."""
    period_kind = PeriodKind(kind)
    return containing(period_kind, day) if day is not None else latest_final(period_kind, today)


def _period_fields(kind: str, period: Period, today: date) -> dict[str, Any]:
    return {
        "period_kind": kind,
        "period_start": period.start,
        "period_end": period.end,
        "is_final": is_final(period, today),
    }


def _described(kpi: Any) -> dict[str, Any]:
    """How a view names a KPI (`kpi`: its definition, or a row carrying its fields)."""
    return {
        "definition_key": kpi.key,
        "name": kpi.name,
        "unit": kpi.unit,
        "target_type": kpi.target_type,
        "window": kpi.window,
    }


def _measured(
    row: Any,
    settings: Settings,
    period: Period,
    today: date,
    kpi: Any,
    *extra: str,
) -> dict[str, Any]:
    """A row's measured fields; a period in progress shows its pace and no verdict (`kpi`:
    the definition, or a row carrying its rollup and window)."""
    shown = {name: getattr(row, name) for name in (*_MEASURED, *extra)}
    if not in_progress(period, today):
        return {**shown, "pace": None}
    return {
        **unjudged(shown),
        "pace": pace_of(
            settings, period, kpi.rollup, row.value, row.calculated_at, window=kpi.window
        ),
    }


async def _team_standing(
    repo: StandingRepository, tenant_id: str, kind: str, period: Period, team_id: str, user_id: str
) -> TeamStanding:
    previous = period.previous()
    rows = await repo.team_scores(tenant_id, kind, [period, previous], team_id)
    scores: dict[date, dict[str, Any]] = {period.start: {}, previous.start: {}}
    for row in rows:
        scores[row.period_start][row.subject_id] = ranking.overall_from_totals(
            row.weighted_sum, row.weight_sum
        )
    now = ranking.dense_ranks(scores[period.start])
    before = ranking.dense_ranks(scores[previous.start])
    rank, previous_rank = now.get(user_id), before.get(user_id)
    return TeamStanding(
        team_id=team_id,
        score=scores[period.start].get(user_id),
        rank=rank,
        team_size=len(scores[period.start]),
        ranked=len(now),
        previous_rank=previous_rank,
        rank_change=ranking.rank_change(previous_rank, rank),
    )


async def scorecard(
    session: AsyncSession, settings: Settings, principal: Principal, query: ScorecardQuery
) -> ScorecardRead:
    """A user's KPIs of one period with their overall score and standing in their team."""
    user_id = await readable_subject(session, principal, SubjectType.USER, query.user_id)
    today = settings.today()
    period = _period(query.period_kind, query.date, today)
    repo = StandingRepository(session)
    rows = await repo.user_kpis(
        principal.tenant_id, query.period_kind, period, user_id, visible_assignments(principal)
    )
    # A row holds the rest of a KPI's fields (assignment, weight, team, previous value) as named.
    kpis = [
        ScorecardKpi.model_validate(
            {
                **r._mapping,
                **_described(r),
                **_measured(r, settings, period, today, r, "change_pct", "trend"),
            }
        )
        for r in rows
    ]
    recorded_under = [r.team_id for r in rows if r.team_id is not None]
    team_id = query.team_id or main_team(recorded_under)
    if query.team_id is not None and query.team_id not in recorded_under:
        raise InvalidInput(
            f"None of the user's KPIs of that period is recorded under team {query.team_id!r}.",
            errors=[field_error(["query", "team_id"], "not one of the user's teams")],
        )
    team = None
    if team_id is not None:
        team = await _team_standing(
            repo, principal.tenant_id, query.period_kind, period, team_id, user_id
        )
    return ScorecardRead(
        user_id=user_id,
        **_period_fields(query.period_kind, period, today),
        overall_score=overall_score((r.weight, r.score) for r in rows),
        kpis=kpis,
        team=team,
        teams=sorted(set(recorded_under)),
    )


def _team_kpis(rows: Sequence[Any], judged: bool) -> list[TeamKpi]:
    columns: dict[str, list[Any]] = {}
    for row in rows:
        columns.setdefault(row.key, []).append(row)
    kpis = []
    for cells in columns.values():
        first = cells[0]
        totals = ranking.column_totals(
            [ranking.Cell(c.value, c.achievement, c.status if judged else None) for c in cells],
            first.rollup,
        )
        kpis.append(TeamKpi(**_described(first), rollup=first.rollup, **asdict(totals)))
    return kpis


async def team_view(
    session: AsyncSession, settings: Settings, principal: Principal, query: TeamQuery
) -> TeamViewRead:
    """A team's members x KPIs for one period, with overall scores, ranks and totals."""
    await require_readable(session, principal, SubjectType.TEAM, query.team_id)
    today = settings.today()
    period = _period(query.period_kind, query.date, today)
    rows = await StandingRepository(session).team_cells(
        principal.tenant_id, query.period_kind, period, query.team_id
    )
    by_member: dict[str, list[Any]] = {}
    for row in rows:
        by_member.setdefault(row.subject_id, []).append(row)
    scores = {
        member: overall_score((c.weight, c.score) for c in cells)
        for member, cells in by_member.items()
    }
    ranks = ranking.dense_ranks(scores)
    members = [
        TeamMember(
            user_id=member,
            overall_score=scores[member],
            rank=ranks.get(member),
            cells=[
                TeamCell(
                    definition_key=c.key,
                    assignment_id=c.assignment_id,
                    weight=c.weight,
                    **_measured(c, settings, period, today, c),
                )
                for c in cells
            ],
        )
        for member, cells in by_member.items()
    ]
    members.sort(key=lambda m: (m.rank is None, m.rank or 0, m.user_id))
    return TeamViewRead(
        team_id=query.team_id,
        **_period_fields(query.period_kind, period, today),
        team_size=len(members),
        ranked=len(ranks),
        kpis=_team_kpis(rows, not in_progress(period, today)),
        members=members,
    )


async def _leaderboard_teams(
    session: AsyncSession, principal: Principal, team_id: str | None
) -> list[str] | None:
    """The teams whose members the caller may rank (None: the whole tenant)."""
    if principal.role is Role.MEMBER:
        return None if team_id is None else [team_id]
    if team_id is not None:
        await require_readable(session, principal, SubjectType.TEAM, team_id)
        return [team_id]
    return managed_teams(principal)


# Where there is no target, values rank in the KPI's direction (`exact` has none).
_VALUE_ORDER = {
    "higher_better": ValueOrder.HIGHER_FIRST,
    "lower_better": ValueOrder.LOWER_FIRST,
    "exact": ValueOrder.NONE,
}


async def leaderboard(
    session: AsyncSession, settings: Settings, principal: Principal, query: LeaderboardQuery
) -> LeaderboardRead:
    """Users ranked by their uncapped achievement of one KPI in one period (by value where they
    have no target); a member sees their own row."""
    tenant = principal.tenant_id
    definition = found(
        await DefinitionRepository(session).get_by_key(tenant, query.definition_key),
        f"KPI {query.definition_key!r} not found.",
    )
    if not definition.is_active:
        raise Conflict(f"KPI {definition.key!r} is deactivated.")
    if definition.scope != SubjectType.USER:
        raise InvalidInput(
            f"Leaderboards rank users; KPI {definition.key!r} is measured for "
            f"the {definition.scope}.",
            errors=[field_error(["query", "definition_key"], "not user scope")],
        )
    teams = await _leaderboard_teams(session, principal, query.team_id)
    only = confined_to(principal)
    today = settings.today()
    period = _period(definition.aggregation_period, query.date, today)
    offset = decode_cursor(query.cursor) or 0
    repo = StandingRepository(session)
    by_value = _VALUE_ORDER[definition.target_type]
    rows = await repo.leaderboard(
        tenant,
        definition.id,
        period,
        period.previous(),
        by_value=by_value,
        teams=teams,
        user_id=only,
        offset=offset,
        limit=query.limit + 1,
    )
    if only is not None and query.team_id is not None and not rows:
        # A member ranks only among a team they belong to; others stay invisible.
        raise NotFound(f"Team {query.team_id!r} not found.")
    if rows:
        population, ranked = rows[0].population, rows[0].ranked
    else:
        population, ranked = await repo.population(tenant, definition.id, period, teams, by_value)
    items = [
        LeaderboardRow(
            user_id=r.subject_id,
            team_id=r.team_id,
            rank=r.rank,
            percentile=None if r.rank is None else ranking.percentile(r.below, r.ranked),
            previous_rank=r.previous_rank,
            rank_change=ranking.rank_change(r.previous_rank, r.rank),
            **_measured(r, settings, period, today, definition),
        )
        for r in rows[: query.limit]
    ]
    more = len(rows) > query.limit
    return LeaderboardRead(
        **_described(definition),
        team_id=query.team_id,
        **_period_fields(definition.aggregation_period, period, today),
        population=population,
        ranked=ranked,
        items=items,
        next_cursor=encode_cursor(offset + query.limit) if more else None,
    )
