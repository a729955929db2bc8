"""`achieved_at`: stamped the first time progress reaches 100%, by a run or a read, and kept."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, text

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.goals.service import after_run
from kpi_service.models import CalculationRun
from kpi_service.runs.hooks import HOOKS
from tests.support.api import assign, define, event, ingest, manual_kpi, recalculate, record
from tests.support.database import statements_sent
from tests.support.goals import GOALS, given, goal, items_of, set_goal


async def stamps(db: Database) -> dict[int, datetime | None]:
    """achieved_at by goal id, read straight from the table (a read through the API would
    stamp reached goals itself)."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, achieved_at FROM kpi.goals ORDER BY id"))
        return {i: at for i, at in rows}


async def stored_run(db: Database, run_id: int) -> CalculationRun:
    async with db.sessions() as session:
        run = (
            await session.scalars(select(CalculationRun).where(CalculationRun.id == run_id))
        ).one()
        return run


def calls(user: str, *days: str) -> list[dict[str, Any]]:
    return [event("call", f"{day}T10:00:00Z", user) for day in days]


async def test_a_run_stamps_the_goals_it_brings_to_100_percent(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    assert after_run in HOOKS.after
    kpi = await define(
        client,
        key="calls",
        aggregation_period="daily",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    for user in ("42", "43"):
        await assign(client, kpi["id"], user, 1, start_date="2026-01-01")
    reached = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="monthly",
        period_start="2026-01-01",
        target_value=3,
    )
    short = await set_goal(
        client,
        definition_key="calls",
        user_id="43",
        period_kind="monthly",
        period_start="2026-01-01",
        target_value=3,
    )
    await ingest(
        client,
        [
            *calls("42", "2026-01-05", "2026-01-05", "2026-01-06", "2026-01-06"),
            *calls("43", "2026-01-05"),
        ],
    )

    run = await recalculate(client, period_start="2026-01-05")
    assert run["status"] == "succeeded", run
    # 2 calls on the 5th: 66.666667% of 3; not reached.
    judged = await stored_run(db, run["id"])
    await after_run(db, settings, judged)
    assert (await stamps(db))[reached["id"]] is None

    run = await recalculate(client, period_start="2026-01-06")
    # Stamped by the follower the app runs after the run, over once recalculate returns.
    first = (await stamps(db))[reached["id"]]
    assert first is not None and datetime.fromisoformat(run["finished_at"]) <= first
    assert (await stamps(db))[short["id"]] is None  # 1 of 3

    # Another run, and another reading, leave the first stamp alone.
    again = await recalculate(client, period_start="2026-01-05", period_end="2026-01-06")
    await after_run(db, settings, await stored_run(db, again["id"]))
    read = await goal(client, reached["id"])
    assert (read["current_value"], read["progress"], read["status"]) == (4, 133.333333, "met")
    assert datetime.fromisoformat(read["achieved_at"]) == first
    assert (await stamps(db))[reached["id"]] == first


async def test_the_follower_judges_exactly_the_runs_goals_in_two_statements(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    calls_kpi = await manual_kpi(client, "calls", aggregation_period="daily")
    emails_kpi = await manual_kpi(client, "emails", aggregation_period="daily")
    made = {}
    for name, key, user, start in (
        ("reached", "calls", "42", "2026-01-01"),
        ("short", "calls", "43", "2026-01-01"),
        ("other_kpi", "emails", "42", "2026-01-01"),
        ("other_month", "calls", "42", "2026-02-01"),
    ):
        made[name] = (
            await set_goal(
                client,
                definition_key=key,
                user_id=user,
                period_kind="monthly",
                period_start=start,
                target_value=5,
            )
        )["id"]
    # Values recorded by hand after the goals were set (recording reads no goal).
    await given(client, calls_kpi, "42", {"2026-01-05": 5, "2026-02-02": 5})
    await given(client, calls_kpi, "43", {"2026-01-05": 4})
    await given(client, emails_kpi, "42", {"2026-01-05": 5})
    assert set((await stamps(db)).values()) == {None}

    plan = [
        [calls_kpi["id"], "2026-01-05", "2026-01-05"],
        [calls_kpi["id"], "2026-01-06", "2026-01-06"],
    ]
    await after_run(db, settings, CalculationRun(tenant_id="acme", plan=plan))
    assert set((await stamps(db)).values()) == {None}, "another tenant's run"
    async with statements_sent(db) as sent:
        await after_run(db, settings, CalculationRun(tenant_id="default", plan=plan))
    kinds = Counter(statement.split()[0].upper() for statement in sent)
    assert (kinds["SELECT"], kinds["UPDATE"]) == (1, 1), sent
    after = await stamps(db)
    assert after[made["reached"]] is not None
    assert [after[made[n]] for n in ("short", "other_kpi", "other_month")] == [None] * 3


async def test_manual_values_are_noticed_when_goals_are_read_and_the_stamp_stays(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    kpi = await manual_kpi(client, "calls", aggregation_period="daily")
    assignment = await given(client, kpi, "42", {"2026-01-05": 6})
    made = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="monthly",
        period_start="2026-01-01",
        target_value=10,
    )
    assert (made["progress"], made["achieved_at"]) == (60, None)
    await record(client, assignment, "2026-01-06", 5)
    assert (await stamps(db))[made["id"]] is None
    read = await goal(client, made["id"])
    assert read["progress"] == 110 and read["achieved_at"] is not None
    first = read["achieved_at"]
    assert (await stamps(db))[made["id"]] == datetime.fromisoformat(first)

    # Corrected down: progress falls, the stamp stays; up again: still the first stamp.
    await record(client, assignment, "2026-01-06", 1)
    fallen = await goal(client, made["id"])
    assert (fallen["progress"], fallen["status"], fallen["achieved_at"]) == (70, "off_track", first)
    await record(client, assignment, "2026-01-07", 10)
    assert (await goal(client, made["id"]))["achieved_at"] == first
    assert items_of(await client.get(GOALS))[0]["achieved_at"] == first
    plan = [[kpi["id"], "2026-01-07", "2026-01-07"]]
    await after_run(db, settings, CalculationRun(tenant_id="default", plan=plan))
    assert (await goal(client, made["id"]))["achieved_at"] == first


async def test_a_goal_reached_already_is_stamped_when_set_and_a_new_target_is_judged_afresh(
    client: AsyncClient, db: Database
) -> None:
    kpi = await manual_kpi(client, "calls", aggregation_period="daily")
    await given(client, kpi, "42", {"2026-01-05": 8})
    made = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="monthly",
        period_start="2026-01-01",
        target_value=8,
    )
    assert made["progress"] == 100 and made["achieved_at"] is not None
    raised = (await client.patch(f"{GOALS}/{made['id']}", json={"target_value": 16})).json()
    assert (raised["progress"], raised["achieved_at"]) == (50, None)
    lowered = (await client.patch(f"{GOALS}/{made['id']}", json={"target_value": 4})).json()
    assert lowered["progress"] == 200
    assert datetime.fromisoformat(lowered["achieved_at"]) > datetime.fromisoformat(
        made["achieved_at"]
    )
    # The same target again, by PUT, keeps the stamp; a new one is judged afresh.
    body = {"period": "monthly", "period_start": "2026-01-01", "user_id": "42"}
    same = (await client.put(f"{GOALS}/bulk", json={**body, "goals": {"calls": 4}})).json()
    assert same["items"][0]["achieved_at"] == lowered["achieved_at"]
    other = (await client.put(f"{GOALS}/bulk", json={**body, "goals": {"calls": 9}})).json()
    assert (other["items"][0]["progress"], other["items"][0]["achieved_at"]) == (88.888889, None)
