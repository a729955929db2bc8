"""The demo's events: the agents' logins and seed 003's timeline (calls, e-mails, meetings,
lead assignments, conversions, with the properties the agent pack's activity mapping shows),
customers' signups, logins, activations and trials, the product's operations and the
subscription ledger, generated from fixed seeds and sent through the events service in
batches (ids are fixed too, so sending them again stores nothing twice)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from kpi_service.core.auth import Principal
from kpi_service.core.database import Database
from kpi_service.demo.crm import Lead, agent_leads, lead_name
from kpi_service.demo.ledger import subscription_events
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
from kpi_service.demo.product import operations_events
from kpi_service.demo.records import event
from kpi_service.events import service as events
from kpi_service.events.schemas import MAX_BATCH

log = logging.getLogger(__name__)

PLANS = ("free", "starter", "pro")
OUTCOMES = ("connected", "connected", "voicemail", "no answer", "callback requested")
SUBJECTS = ("Intro", "Follow-up", "Pricing", "Proposal", "Next steps")
TOPICS = ("Demo", "Discovery call", "Pricing review")
# The key actions that activate a customer (the saas pack's activation KPIs), how often each.
ACTIONS = ("file_upload", "worklog_create", "report_generate")
ACTION_WEIGHTS = (5, 3, 2)
# A customer logs in on a working day five times as often as on a weekend day.
DAY_WEIGHTS = {True: 5, False: 1}


def agent_events(
    agent_index: int, window: Window, first_lead_id: int, leads: list[Lead]
) -> Iterator[dict[str, Any]]:
    """One agent's workdays (a login, calls with their minutes, e-mails), and for each of
    their `leads` (the first stored with id `first_lead_id`) in the events window its
    assignment, a meeting when it got interested and a conversion (value = revenue)."""
    rng = random.Random(f"demo-events-{agent_index}")
    agent, team = str(FIRST_AGENT + agent_index), team_of(agent_index)
    known = 0  # the agent's leads created by the day's end, whom calls and e-mails reach
    for day in workdays(window.events_start, window.last_day):
        yield event(rng, agent, team, "login", window.at(day, rng.uniform(7.5, 9.5)))
        day_end = window.at(day, 24)
        while known < len(leads) and leads[known].created_at < day_end:
            known += 1
        for _ in range(rng.randint(3, 9)):
            minutes = Decimal(str(round(rng.lognormvariate(1.8, 0.7), 1)))
            yield event(
                rng,
                agent,
                team,
                "call",
                window.at(day, rng.uniform(9, 18)),
                minutes,
                direction=rng.choice(("outbound", "outbound", "inbound")),
                lead_name=lead_name(first_lead_id + rng.randrange(max(known, 1))),
                outcome=rng.choice(OUTCOMES),
            )
        for _ in range(rng.randint(1, 6)):
            yield event(
                rng,
                agent,
                team,
                "email",
                window.at(day, rng.uniform(8, 19)),
                lead_name=lead_name(first_lead_id + rng.randrange(max(known, 1))),
                subject=rng.choice(SUBJECTS),
            )
    start = window.at(window.events_start, 0)
    for n, lead in enumerate(leads):
        name = lead_name(first_lead_id + n)
        if lead.created_at >= start:
            yield event(
                rng,
                agent,
                team,
                "assignment",
                lead.created_at,
                lead_name=name,
                lead_source=lead.source,
            )
        if lead.interested_at is not None and lead.interested_at >= start:
            topic = rng.choice(TOPICS)
            yield event(
                rng, agent, team, "meeting", lead.interested_at, lead_name=name, topic=topic
            )
        if lead.converted_at is not None and lead.converted_at >= start:
            yield event(
                rng,
                agent,
                team,
                "conversion",
                lead.converted_at,
                lead.revenue,
                lead_source=lead.source,
                lead_id=first_lead_id + n,
                lead_name=name,
                product=_product(lead.revenue or Decimal(0)),
            )


def _product(revenue: Decimal) -> str:
    """The plan a converted lead bought, by what it brought."""
    return "Enterprise plan" if revenue >= 1500 else "Pro plan" if revenue >= 700 else "Starter"


def manager_events(team: str, window: Window) -> Iterator[dict[str, Any]]:
    """A team manager's logins, one per workday."""
    rng = random.Random(f"demo-manager-{team}")
    for day in workdays(window.events_start, window.last_day):
        yield event(rng, manager_of(team), team, "login", window.at(day, rng.uniform(7, 9)))


def customer_events(count: int, window: Window) -> Iterator[dict[str, Any]]:
    """Customers signing up over the window (half of them starting a trial, which a third
    convert two weeks later), each logging in during later weeks with a chance that fades
    week by week (the cohorts' retention), mostly on working days, and now and then taking
    one of the key actions that activate a customer."""
    rng = random.Random("demo-customers")
    all_days = days(window.events_start, window.last_day)
    for n in range(1, count + 1):
        user = f"c{n:05d}"
        signup_day = rng.choice(all_days)
        signed_up = window.at(signup_day, rng.uniform(0, 23))
        yield event(
            rng,
            user,
            None,
            "signup",
            signed_up,
            plan=rng.choice(PLANS),
            channel=rng.choice(SOURCES),
        )
        if rng.random() < 0.5:
            yield event(rng, user, None, "trial_started", signed_up + timedelta(minutes=5))
            converted = signed_up + timedelta(days=14)
            if rng.random() < 0.35 and converted < window.end:
                yield event(rng, user, None, "trial_converted", converted)
        week = 0
        while (week_start := signup_day + timedelta(weeks=week)) <= window.last_day:
            if rng.random() < 0.15 + 0.7 * 0.8**week:
                week_days = [week_start + timedelta(days=k) for k in range(7)]
                weights = [DAY_WEIGHTS[d.weekday() < 5] for d in week_days]
                for _ in range(rng.randint(1, 3)):
                    day = rng.choices(week_days, weights)[0]
                    at = window.at(day, rng.uniform(6, 23))
                    if signed_up < at < window.end:
                        yield event(rng, user, None, "login", at)
                        acted = at + timedelta(minutes=rng.randint(1, 50))
                        if rng.random() < 0.25 and acted < window.end:
                            action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
                            yield event(rng, user, None, "activation", acted, action=action)
            week += 1


def all_events(size: DemoSize, window: Window) -> Iterator[dict[str, Any]]:
    """Every demo event, agent by agent, then managers, customers, the product's operations
    and the subscription ledger."""
    next_lead_id = 1
    for index in range(size.agents):
        leads = list(agent_leads(index, window))
        yield from agent_events(index, window, next_lead_id, leads)
        next_lead_id += len(leads)
    for team in size.teams:
        yield from manager_events(team, window)
    yield from customer_events(size.customers, window)
    yield from operations_events(window)
    yield from subscription_events(size, window)


async def ingest_all(db: Database, admin: Principal, size: DemoSize, window: Window) -> int:
    """Send every demo event through the events service, a full batch at a time; returns
    how many were stored (0 when all were already there)."""
    stored = 0
    batch: list[dict[str, Any]] = []
    for body in all_events(size, window):
        batch.append(body)
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
