"""The demo's CRM rows, generated per agent from fixed seeds: seed 003's leads and seed 004's
contacts (in every one of the seed's stages).

Each agent's rows come from their own random stream, so agent 101 has the same leads whatever
the demo's size, and the events step can regenerate the conversions the leads step stored.
Nothing happens after the window's end: a step that would fall later has not happened yet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from kpi_service.demo.people import FIRST_AGENT, SOURCES, Window, workdays

# Per lead source: share of leads, chance a contacted lead gets interested, chance an
# interested lead converts (times the agent's skill), revenue multiplier.
SOURCE_WEIGHTS = (25, 35, 25, 15)
INTEREST = {"Referrals": 0.75, "Web Forms": 0.6, "Cold Calls": 0.4, "Partners": 0.65}
CLOSING = {"Referrals": 0.6, "Web Forms": 0.45, "Cold Calls": 0.35, "Partners": 0.5}
REVENUE = {"Referrals": 1.3, "Web Forms": 1.0, "Cold Calls": 0.8, "Partners": 1.6}
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jon")
LAST_NAMES = ("Abara", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad")


class Lead(NamedTuple):
    """One row of `public.leads`, in its column order (the id is given when stored)."""

    assigned_agent_id: str
    source: str
    created_at: datetime
    contacted_at: datetime | None
    interested_at: datetime | None
    converted_at: datetime | None
    disposition: str
    response_time_hours: Decimal | None
    satisfaction_rating: int | None
    revenue: Decimal | None


class Contact(NamedTuple):
    """One row of `public.contacts` without its id, name and e-mail (given when stored)."""

    owner_id: str
    company: str
    status: str
    funnel_stage: str
    created_at: datetime
    updated_at: datetime


def skill(agent_index: int) -> float:
    """How good an agent is (0.7 to 1.3): faster answers, more conversions, happier leads."""
    return random.Random(f"demo-skill-{agent_index}").uniform(0.7, 1.3)


def agent_leads(agent_index: int, window: Window) -> Iterator[Lead]:
    """The agent's leads over the leads window, oldest first."""
    rng = random.Random(f"demo-leads-{agent_index}")
    talent = skill(agent_index)
    agent = str(FIRST_AGENT + agent_index)
    for day in workdays(window.leads_start, window.last_day):
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
            yield _lead(rng, talent, agent, window, window.at(day, rng.uniform(7, 19)))


def _lead(rng: random.Random, talent: float, agent: str, window: Window, created: datetime) -> Lead:
    source = rng.choices(SOURCES, weights=SOURCE_WEIGHTS)[0]
    hours = rng.expovariate(talent / 1.5)
    contacted = created + timedelta(hours=hours)
    if rng.random() >= 0.9 or contacted >= window.end:
        return Lead(agent, source, created, None, None, None, "new", None, None, None)
    response = Decimal(str(round(hours, 2)))
    rating = (
        rng.choices((1, 2, 3, 4, 5), weights=(1, 2, 5, 10, 8 * talent))[0]
        if rng.random() < 0.5
        else None
    )
    interested = contacted + timedelta(hours=rng.uniform(2, 96))
    if rng.random() >= INTEREST[source] or interested >= window.end:
        disposition = "lost" if rng.random() < 0.7 else "contacted"
        return Lead(
            agent, source, created, contacted, None, None, disposition, response, rating, None
        )
    converted = interested + timedelta(hours=rng.uniform(4, 240))
    if rng.random() >= CLOSING[source] * talent or converted >= window.end:
        disposition = "lost" if rng.random() < 0.6 else "interested"
        return Lead(
            agent, source, created, contacted, interested, None, disposition, response, rating, None
        )
    revenue = Decimal(round(rng.randint(300, 2000) * REVENUE[source] * 100)) / 100
    return Lead(
        agent,
        source,
        created,
        contacted,
        interested,
        converted,
        "converted",
        response,
        rating,
        revenue,
    )


# A contact moving on from each stage of the seed's pipeline goes to the next one, or is
# blocked or lost on the way (the chance of winning grows with the agent's skill).
_PIPELINE = ("needs_outreach", "contacted", "meeting_set", "proposal_sent", "negotiation")
_STATUS = {"closed_won": "customer", "meeting_set": "prospect", "proposal_sent": "prospect"}
_STATUS |= {"negotiation": "prospect"}


def lead_name(lead_id: int) -> str:
    """The lead's person and company, as the activity timeline shows them."""
    first, rest = FIRST_NAMES[lead_id % 10], lead_id // 10
    return f"{first} {LAST_NAMES[rest % 8]} ({COMPANIES[rest // 8 % 8]})"


def agent_contacts(agent_index: int, window: Window) -> Iterator[Contact]:
    """The agent's contacts created over the events window, oldest first."""
    rng = random.Random(f"demo-contacts-{agent_index}")
    talent = skill(agent_index)
    agent = str(FIRST_AGENT + agent_index)
    for day in workdays(window.events_start, window.last_day):
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            created = window.at(day, rng.uniform(7, 19))
            stage = _stage(rng, talent)
            moved = created + timedelta(hours=rng.uniform(1, 480))
            if stage == "needs_outreach" or moved >= window.end:
                stage, moved = "needs_outreach", created
            status = _STATUS.get(stage, "lead")
            yield Contact(agent, rng.choice(COMPANIES), status, stage, created, moved)


def _stage(rng: random.Random, talent: float) -> str:
    """Where a new contact stands now: along the pipeline, blocked, lost or won."""
    for step, stage in enumerate(_PIPELINE):
        if rng.random() >= (0.8 if step == 0 else 0.55 + 0.15 * talent):
            if step > 0 and rng.random() < 0.25:
                return "blocked" if rng.random() < 0.4 else "closed_lost"
            return stage
    return "closed_won" if rng.random() < 0.5 * talent else "closed_lost"
