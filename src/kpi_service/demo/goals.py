"""The pilot team's own goals, set through the goals service in seed 003's bulk shape (a PUT:
setting them again changes nothing)."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.auth import Principal
from kpi_service.core.settings import Settings
from kpi_service.demo.people import TEAM_SIZE, DemoSize, Window, month_start
from kpi_service.engine.vocabulary import GoalPeriodKind
from kpi_service.goals import service as goals
from kpi_service.goals.schemas import GoalBulk, GoalRead

# Monthly goals per agent: the base target, varied a little per agent.
MONTHLY = {
    "conversions": Decimal(9),
    "agent_revenue": Decimal(9000),
    "agent_response_time": Decimal("2.0"),
}
QUARTERLY = {"agent_revenue": Decimal(27000)}


async def ensure_goals(
    session: AsyncSession, settings: Settings, admin: Principal, size: DemoSize, window: Window
) -> list[GoalRead]:
    """Monthly goals of `sales-1`'s agents for the last two months of the window (the second
    one may still be running) and a quarterly revenue goal for the current quarter."""
    rng = random.Random("demo-goals")
    stored: list[GoalRead] = []
    months = [month_start(window.last_day, 1), month_start(window.last_day)]
    for agent in size.agent_ids[:TEAM_SIZE]:
        ambition = Decimal(str(round(rng.uniform(0.85, 1.2), 2)))
        for month in months:
            targets = {
                key: (value * ambition).quantize(value) if key != "agent_response_time" else value
                for key, value in MONTHLY.items()
            }
            stored += await _set(
                session, settings, admin, agent, GoalPeriodKind.MONTHLY, month, targets
            )
        quarter = {key: (value * ambition).quantize(value) for key, value in QUARTERLY.items()}
        stored += await _set(
            session, settings, admin, agent, GoalPeriodKind.QUARTERLY, window.last_day, quarter
        )
    return stored


async def _set(
    session: AsyncSession,
    settings: Settings,
    admin: Principal,
    agent: str,
    period: GoalPeriodKind,
    day: date,
    targets: dict[str, Decimal],
) -> list[GoalRead]:
    body = GoalBulk.model_validate(
        {"period": period, "goals": targets, "period_start": day, "user_id": agent}
    )
    return await goals.set_many(session, settings, admin, body)
