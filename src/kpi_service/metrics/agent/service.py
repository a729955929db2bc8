"""Seed 003's agent view: an agent's pack KPIs computed over a trailing window and the window
before it, for every agent of their team at once (one query per KPI and window), with the
agent's standing in the team. Nothing is stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators import query as query_calculator
from kpi_service.calculators.base import CalculationFailed
from kpi_service.calculators.subjects import request_for
from kpi_service.core.access import readable_subject
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, NotFound
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine import ranking
from kpi_service.engine.achievement import achievement, change_pct, overall_score, quantize, score
from kpi_service.engine.periods import Period, custom
from kpi_service.engine.vocabulary import SubjectType, TargetType
from kpi_service.metrics.agent.repository import AgentAssignment, AgentRepository
from kpi_service.metrics.agent.schemas import (
    AgentKpis,
    AgentQuery,
    AgentTrends,
    AgentViewRead,
    Window,
)
from kpi_service.metrics.teams import main_team
from kpi_service.models import CalculationType, Definition
from kpi_service.packs.agent import AGENT, SEED_KPIS, SEED_TRENDS, SEED_WEEK_KPI

WEEK_DAYS = 7
# Values of one window: by KPI key, by agent.
Figures = Mapping[str, Mapping[str, Decimal | None]]


async def _installed(session: AsyncSession, tenant_id: str) -> dict[str, Definition]:
    """The tenant's active definitions of the agent pack by key; 409 when one the view shows
    is missing or inactive."""
    stored = await DefinitionRepository(session).find(tenant_id, keys=AGENT.keys)
    active = {d.key: d for d in stored if d.is_active}
    missing = sorted({*SEED_KPIS.values(), SEED_WEEK_KPI[1]} - set(active))
    if missing:
        raise Conflict(
            f"The agent pack is not installed in this tenant (KPI {', '.join(missing)} missing "
            "or inactive): install it with `kpi-service packs install agent` "
            "(or POST /api/kpis/packs/agent/install)."
        )
    return active


async def _values(
    definition: Definition,
    period: Period,
    agents: list[str],
    sources: Sources,
    settings: Settings,
) -> dict[str, Decimal | None]:
    """The KPI's value for each agent over the period, from one statement for all of them."""
    if definition.calculation_type != CalculationType.QUERY:
        raise Conflict(
            f"KPI {definition.key!r} is a {definition.calculation_type} KPI: the agent view "
            "computes the agent pack's query KPIs over its window."
        )
    # Over the view's own window: the definition's window, if any, is not applied.
    request = request_for(definition, period, agents, settings.tz)
    try:
        outcomes = await query_calculator.calculate(request, sources, settings)
    except CalculationFailed as exc:
        raise Conflict(
            f"KPI {definition.key!r} could not be computed for "
            f"{period.start.isoformat()}..{period.end.isoformat()}: {exc}."
        ) from None
    return {agent: quantize(outcome.value) for agent, outcome in outcomes.items()}


def _ranks(
    scored: Sequence[AgentAssignment],
    kpis: Mapping[int, Definition],
    figures: Figures,
    agents: Sequence[str],
) -> dict[str, int]:
    """Each agent's dense rank by weighted score sum(weight x score) / sum(weight) over one
    window's values (agents without a score are not ranked)."""
    pairs: dict[str, list[tuple[Decimal, Decimal | None]]] = {agent: [] for agent in agents}
    for held in scored:
        kpi = kpis[held.definition_id]
        achieved = achievement(
            figures[kpi.key].get(held.subject_id),
            held.target,
            TargetType(kpi.target_type),
            held.baseline_value,
        )
        pairs[held.subject_id].append((held.weight, score(achieved, kpi.score_cap)))
    return ranking.dense_ranks({agent: overall_score(p) for agent, p in pairs.items()})


def _window(period: Period) -> Window:
    return Window(start=period.start, end=period.end)


async def agent_view(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    query: AgentQuery,
    *,
    sources: Sources,
) -> AgentViewRead:
    """Seed 003 section A for one agent the caller may read: the pack's KPIs over the `days`
    local days ending today against the `days` before, and the agent's rank in their team."""
    user_id = await readable_subject(session, principal, SubjectType.USER, query.user_id)
    tenant_id = principal.tenant_id
    today = settings.today()
    window = custom(today - timedelta(days=query.days - 1), today)
    previous = custom(window.start - timedelta(days=query.days), window.start - timedelta(days=1))
    week = custom(today - timedelta(days=WEEK_DAYS - 1), today)

    kpis = await _installed(session, tenant_id)
    user_kpis = {d.id: d for key, d in kpis.items() if key in {a.key for a in AGENT.users}}
    repo = AgentRepository(session)
    teams = await repo.teams_of(tenant_id, user_id, list(user_kpis), window)
    if not teams:
        raise NotFound(
            f"User {user_id!r} holds no KPI of the agent pack in force during "
            f"{window.start.isoformat()}..{window.end.isoformat()}."
        )
    team_id = main_team(teams)
    held = await repo.of_team(
        tenant_id, list(user_kpis), window, today, team_id=team_id, user_id=user_id
    )
    agents = sorted({a.subject_id for a in held} | {user_id})
    # An agent's latest assignment of each KPI counts; those scored have a weight and a target.
    latest = {(a.subject_id, a.definition_id): a for a in held}
    scored = [a for a in latest.values() if a.weight > 0 and a.target is not None]

    async def over(period: Period, keys: set[str]) -> dict[str, dict[str, Decimal | None]]:
        return {
            key: await _values(kpis[key], period, agents, sources, settings) for key in sorted(keys)
        }

    needed = set(SEED_KPIS.values()) | {user_kpis[a.definition_id].key for a in scored}
    now, before = await over(window, needed), await over(previous, needed)
    this_week = await over(week, {SEED_WEEK_KPI[1]})
    rank = _ranks(scored, user_kpis, now, agents).get(user_id)
    previous_rank = _ranks(scored, user_kpis, before, agents).get(user_id)

    mine = {name: now[key].get(user_id) for name, key in SEED_KPIS.items()}
    earlier = {name: before[key].get(user_id) for name, key in SEED_KPIS.items()}
    week_name, week_key = SEED_WEEK_KPI
    return AgentViewRead(
        agent_id=user_id,
        date_range=str(query.days),
        window=_window(window),
        previous_window=_window(previous),
        kpis=AgentKpis(
            **mine,
            **{week_name: this_week[week_key].get(user_id)},
            team_ranking=rank,
            total_agents=len(agents),
        ),
        trends=AgentTrends(
            **{trend: change_pct(mine[name], earlier[name]) for trend, name in SEED_TRENDS.items()},
            ranking=ranking.rank_change(previous_rank, rank),
        ),
    )
