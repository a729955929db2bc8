"""The demo's events: the agents' logins, calls, e-mails and conversions, and customers'
signups and logins, generated from fixed seeds and sent through the events service in
batches (ids are fixed too, so sending them again stores nothing twice)."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kpi_service.core.auth import Principal
from kpi_service.core.database import Database
from kpi_service.demo.crm import agent_leads
from kpi_service.demo.people import (
    FIRST_AGENT,
    SOURCES,
    DemoSize,
    Window,
    days,
    manager_of,
    team_of,
    workdays,
)
from kpi_service.events import service as events
from kpi_service.events.schemas import MAX_BATCH

log = logging.getLogger(__name__)

PLANS = ("free", "starter", "pro")


def _event(
    rng: random.Random,
    user: str,
    team: str | None,
    kind: str,
    at: datetime,
    value: Decimal | None = None,
    **properties: Any,
) -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "user_id": user,
        "team_id": team,
        "type": kind,
        "occurred_at": at,
        "value": value,
        "properties": properties,
    }


def agent_events(agent_index: int, window: Window, first_lead_id: int) -> Iterator[dict[str, Any]]:
    """One agent's workdays (a login, calls with their minutes, e-mails) and a conversion
    for each of their leads converted in the window (value = revenue); `first_lead_id` is
    the id the agent's first lead has in `public.leads`."""
    rng = random.Random(f"demo-events-{agent_index}")
    agent, team = str(FIRST_AGENT + agent_index), team_of(agent_index)
    for day in workdays(window.events_start, window.last_day):
        yield _event(rng, agent, team, "login", window.at(day, rng.uniform(7.5, 9.5)))
        for _ in range(rng.randint(3, 9)):
            minutes = Decimal(str(round(rng.lognormvariate(1.8, 0.7), 1)))
            yield _event(
                rng,
                agent,
                team,
                "call",
                window.at(day, rng.uniform(9, 18)),
                minutes,
                direction=rng.choice(("outbound", "outbound", "inbound")),
            )
        for _ in range(rng.randint(1, 6)):
            yield _event(rng, agent, team, "email", window.at(day, rng.uniform(8, 19)))
    start = window.at(window.events_start, 0)
    for n, lead in enumerate(agent_leads(agent_index, window)):
        if lead.converted_at is not None and lead.converted_at >= start:
            yield _event(
                rng,
                agent,
                team,
                "conversion",
                lead.converted_at,
                lead.revenue,
                lead_source=lead.source,
                lead_id=first_lead_id + n,
            )


def manager_events(team: str, window: Window) -> Iterator[dict[str, Any]]:
    """A team manager's logins, one per workday."""
    rng = random.Random(f"demo-manager-{team}")
    for day in workdays(window.events_start, window.last_day):
        yield _event(rng, manager_of(team), team, "login", window.at(day, rng.uniform(7, 9)))


def customer_events(count: int, window: Window) -> Iterator[dict[str, Any]]:
    """Customers signing up over the window, each logging in during later weeks with a
    chance that fades week by week (the cohorts' retention)."""
    rng = random.Random("demo-customers")
    all_days = days(window.events_start, window.last_day)
    for n in range(1, count + 1):
        user = f"c{n:05d}"
        signup_day = rng.choice(all_days)
        signed_up = window.at(signup_day, rng.uniform(0, 23))
        yield _event(
            rng,
            user,
            None,
            "signup",
            signed_up,
            plan=rng.choice(PLANS),
            channel=rng.choice(SOURCES),
        )
        week = 0
        while (week_start := signup_day + timedelta(weeks=week)) <= window.last_day:
            if rng.random() < 0.15 + 0.7 * 0.8**week:
                for _ in range(rng.randint(1, 3)):
                    day = week_start + timedelta(days=rng.randint(0, 6))
                    at = window.at(day, rng.uniform(6, 23))
                    if signed_up < at < window.end:
                        yield _event(rng, user, None, "login", at)
            week += 1


def all_events(size: DemoSize, window: Window) -> Iterator[dict[str, Any]]:
    """Every demo event, agent by agent, then managers, then customers."""
    next_lead_id = 1
    for index in range(size.agents):
        yield from agent_events(index, window, next_lead_id)
        next_lead_id += sum(1 for _ in agent_leads(index, window))
    for team in size.teams:
        yield from manager_events(team, window)
    yield from customer_events(size.customers, window)


async def ingest_all(db: Database, admin: Principal, size: DemoSize, window: Window) -> int:
    """Send every demo event through the events service, a full batch at a time; returns
    how many were stored (0 when all were already there)."""
    stored = 0
    batch: list[dict[str, Any]] = []
    for event in all_events(size, window):
        batch.append(event)
        if len(batch) == MAX_BATCH:
            stored += await _send(db, admin, batch)
            batch = []
    if batch:
        stored += await _send(db, admin, batch)
    return stored


async def _send(db: Database, admin: Principal, batch: list[dict[str, Any]]) -> int:
    async with db.unit_of_work() as session:
        result = await events.ingest(session, admin, batch)
    if result.rejected:
        raise RuntimeError(f"the demo generated refused events: {result.errors[:3]}")
    return result.accepted
