"""`follow_sources` (the default where a pack can): an install assigns the pack's user KPIs to
every user its source tables name, a later install or run to the users who appeared since (and
to them only); a table not there yet names nobody; one that breaks the contract is refused at
install and logged by a run, which goes on; a later install may turn following off."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.packs.crm import CRM
from kpi_service.packs.support import SUPPORT
from tests.support.api import listed, recalculate
from tests.support.database import snapshot
from tests.support.packs import PACKS, WEEK_START, install, source_table
from tests.support.problems import assert_problem, error_locs

MON = datetime(2026, 11, 9, 8, tzinfo=UTC)
H = timedelta(hours=1)
FROM_SOURCES = {"start_date": "2026-11-01"}
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
    assert error_locs(problem) == [["body", "follow_sources"]]
    assert "support_cases.assigned_to" in response.text
    assert await snapshot(db) == before


async def test_a_later_install_turns_following_off_and_runs_then_assign_nobody(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "contacts", CONTACTS)
    first = await install(client, "crm", FROM_SOURCES)
    made = len(CRM.users)
    assert (first["follow_sources"], _made_for(first)) == (True, {"a1": made, "a2": made})
    off = await install(client, "crm", {"follow_sources": False})
    assert (off["follow_sources"], off["assignments_created"]) == (False, [])
    # Installing again without the option keeps the earlier choice.
    assert (await install(client, "crm"))["follow_sources"] is False
    changed = await listed(client, "/api/kpis/audit", entity_type="pack", action="update")
    assert [(e["before"]["follow_sources"], e["after"]["follow_sources"]) for e in changed] == [
        (True, False)
    ]

    held = await _user_assignments(client)
    await source_table(db, "contacts", [*CONTACTS, ("a3", "contacted", MON + 5 * H)])
    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    assert await _user_assignments(client) == held


async def test_a_source_that_cannot_be_read_is_logged_and_the_run_goes_on(
    client: AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await install(client, "crm", FROM_SOURCES)
    await install(client, "support", FROM_SOURCES)
    # After the installs, the contacts table arrives without its user column; the cases fine.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE public.contacts (id serial PRIMARY KEY, funnel_stage text)")
        )
    await source_table(db, "support_cases", [(4, "open", MON, None, None, 0)])

    support = SUPPORT.keys
    with caplog.at_level(logging.WARNING, logger="kpi_service.packs.following"):
        run = await recalculate(client, period_start=WEEK_START, definition_keys=support)
    assert run["status"] == "succeeded", run
    assert {(a["subject_id"], a["assigned_by"]) for a in await _user_assignments(client)} == {
        ("4", "pack:support")
    }
    created = await listed(client, "/api/kpis/audit", actor="pack:support", action="create")
    assert len(created) == len(SUPPORT.users)
    assert {e["entity_type"] for e in created} == {"assignment"}
    logged = [r for r in caplog.records if "pack crm" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert "contacts.owner_id" in logged[0].getMessage()
