"""`users_from_sources`: an install assigns the pack's user KPIs to every user its source
tables name, again on a later install to the users who appeared since (and to them only); a
table not there yet names nobody, one that breaks the contract is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.packs.crm import CRM
from kpi_service.packs.support import SUPPORT
from tests.support.api import listed
from tests.support.database import snapshot
from tests.support.packs import PACKS, install, source_table
from tests.support.problems import assert_problem, error_locs

MON = datetime(2026, 11, 9, 8, tzinfo=UTC)
H = timedelta(hours=1)
FROM_SOURCES = {"start_date": "2026-11-01", "users_from_sources": True}
# Two owners, and two ids that are no user ids (empty, a control character): skipped.
CONTACTS = [
    ("a1", "contacted", MON),
    ("a1", "closed_won", MON + H),
    ("a2", "needs_outreach", MON + 2 * H),
    ("", "blocked", MON + 3 * H),
    ("x\ty", "blocked", MON + 4 * H),
]


async def _user_assignments(client: AsyncClient) -> list[dict[str, Any]]:
    return await listed(client, "/api/kpis/assignments", subject_type="user")


def _made_for(report: dict[str, Any]) -> dict[str, int]:
    """How many assignments the install made per user."""
    made: dict[str, int] = {}
    for a in report["assignments_created"]:
        if a["subject_type"] == "user":
            made[a["subject_id"]] = made.get(a["subject_id"], 0) + 1
    return made


async def test_installing_again_assigns_only_the_users_who_appeared(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "contacts", CONTACTS)
    named = {"users": [{"user_id": "a1", "team_id": "north"}]}
    first = await install(client, "crm", FROM_SOURCES | named)
    assert _made_for(first) == {"a1": len(CRM.users), "a2": len(CRM.users)}
    teams = {a["subject_id"]: a["team_id"] for a in await _user_assignments(client)}
    assert teams == {"a1": "north", "a2": None}

    # Installing twice changes nothing.
    before = await snapshot(db)
    again = await install(client, "crm", FROM_SOURCES)
    assert again["assignments_created"] == []
    assert await snapshot(db) == before

    # a3 appears: only a3 is assigned; a1 and a2 keep what they had (a1 its team).
    held = await _user_assignments(client)
    await source_table(db, "contacts", [*CONTACTS, ("a3", "contacted", MON + 5 * H)])
    later = await install(client, "crm", FROM_SOURCES)
    assert _made_for(later) == {"a3": len(CRM.users)}
    now = await _user_assignments(client)
    assert [a for a in now if a["subject_id"] != "a3"] == held
    assert {a["team_id"] for a in now if a["subject_id"] == "a3"} == {None}


async def test_a_missing_table_names_nobody_and_a_table_without_the_column_is_refused(
    client: AsyncClient, db: Database
) -> None:
    report = await install(client, "support", FROM_SOURCES)
    assert len(report["assignments_created"]) == len(SUPPORT.organisation)
    assert await _user_assignments(client) == []

    async with db.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE public.support_cases (id serial PRIMARY KEY, agent text)")
        )
        await conn.execute(text("INSERT INTO public.support_cases (agent) VALUES ('1')"))
    before = await snapshot(db)
    response = await client.post(f"{PACKS}/support/install", json=FROM_SOURCES)
    problem = assert_problem(response, 422)
    assert error_locs(problem) == [["body", "users_from_sources"]]
    assert "support_cases.assigned_to" in response.text
    assert await snapshot(db) == before
