"""The five packs the demo installs through the pack service (one way to create the
catalogue): in order support, agent, crm, saas, revenue; the support pack's KPIs assigned to
the support team, the agent and crm packs' to the sales agents with their teams; each from
the first day of the data it reads, so the whole demo window is covered."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.auth import Principal
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.demo.people import SUPPORT_TEAM, SUPPORT_USERS, DemoSize, Window, team_of
from kpi_service.packs import service as packs
from kpi_service.packs.schemas import MAX_USERS, AssignmentMade, InstallRequest, PackUser

PACKS = ("support", "agent", "crm", "saas", "revenue")


def pack_users(size: DemoSize) -> dict[str, list[PackUser]]:
    """Whom each pack's user KPIs are assigned to, with their teams (the organisation packs
    have no user KPIs)."""
    agents = [
        PackUser(user_id=agent, team_id=team_of(index))
        for index, agent in enumerate(size.agent_ids)
    ]
    support = [PackUser(user_id=user, team_id=SUPPORT_TEAM) for user in SUPPORT_USERS]
    return {"support": support, "agent": agents, "crm": agents, "saas": [], "revenue": []}


def pack_starts(window: Window) -> dict[str, date]:
    """Each pack's start date: the first day of the rows or events it reads (the crm pack's
    first whole week of contacts)."""
    return {
        "support": window.support_start,
        "agent": window.leads_start,
        "crm": window.first_monday,
        "saas": window.events_start,
        "revenue": window.ledger_start,
    }


async def install_packs(
    session: AsyncSession,
    admin: Principal,
    settings: Settings,
    sources: Sources,
    size: DemoSize,
    window: Window,
) -> list[AssignmentMade]:
    """Install every pack (again: a no-op), its users a request's worth at a time; returns
    the assignments created now."""
    users, starts = pack_users(size), pack_starts(window)
    made: list[AssignmentMade] = []
    for name in PACKS:
        people = users[name]
        firsts = range(0, max(len(people), 1), MAX_USERS)
        for first in firsts:
            # Only the last slice follows the sources: an earlier one would assign the users
            # of later slices first, without the teams their own slice gives them.
            body = InstallRequest(
                start_date=starts[name],
                users=people[first : first + MAX_USERS],
                follow_sources=None if first == firsts[-1] else False,
            )
            report = await packs.install(
                session, admin, name, body, sources=sources, settings=settings
            )
            made += report.assignments_created
    return made
