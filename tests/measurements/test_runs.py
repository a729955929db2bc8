"""Runs over HTTP: queued with 202, executed in the background, progress readable, resumable
after their process dies; closed periods are frozen until restated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.auth import Principal, Role
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.measurements import service
from kpi_service.measurements.schemas import RecalculateRequest
from kpi_service.runs import execution
from kpi_service.runs.execution import RunHooks
from kpi_service.runs.repository import RunRepository
from tests.support.api import assign, define, measurements, recalculate, wait_for_run
from tests.support.database import create_support_cases
from tests.support.problems import assert_problem

WEEKS = ["2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09"]


def at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


async def _world(client: AsyncClient, db: Database) -> dict[str, Any]:
    """Two users; user 1 resolves k+1 cases in week k (Tuesdays), user 2 one per week."""
    cases = []
    for k, week in enumerate(WEEKS):
        tuesday = (datetime.fromisoformat(week) + timedelta(days=1)).date().isoformat()
        cases += [(1, "resolved", at(tuesday, 8), at(tuesday, 9 + i)) for i in range(k + 1)]
        cases.append((2, "resolved", at(tuesday, 8), at(tuesday, 10)))
    await create_support_cases(db, cases)
    d = await define(
        client,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    for user in ("1", "2"):
        await assign(client, d["id"], user, 2, start_date="2026-10-01")
    return d


async def test_recalculation_answers_a_queued_run_that_then_finishes(
    client: AsyncClient, db: Database
) -> None:
    await _world(client, db)
    response = await client.post(
        "/api/kpis/measurements/recalculate",
        json={"period_start": WEEKS[0], "period_end": WEEKS[-1]},
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] in ("queued", "running")
    assert (queued["progress_total"], queued["trigger"]) == (4, "backfill")
    run = await wait_for_run(client, queued["id"])
    assert (run["status"], run["progress_done"], run["computed"]) == ("succeeded", 4, 8)
    assert run["finished_at"] >= run["started_at"] and run["resumed"] == 0
    got = {
        (m["subject_id"], m["period_start"]): m["actual_value"] for m in await measurements(client)
    }
    assert got == {**{("1", w): k + 1 for k, w in enumerate(WEEKS)}, **{("2", w): 1 for w in WEEKS}}
    listed = (await client.get("/api/kpis/runs")).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]


async def test_period_kind_filter_and_restate_needs_a_reason(
    client: AsyncClient, db: Database
) -> None:
    await _world(client, db)
    monthly = await define(
        client,
        key="monthly_thing",
        aggregation_period="monthly",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    await assign(client, monthly["id"], "1", 2, start_date="2026-10-01")
    run = await recalculate(
        client, period_start=WEEKS[0], period_end=WEEKS[-1], period_kind="monthly"
    )
    assert run["progress_total"] == 2 and run["computed"] == 2  # October, November
    response = await client.post(
        "/api/kpis/measurements/recalculate", json={"period_start": WEEKS[0], "restate": True}
    )
    assert_problem(response, 422)


async def test_a_closed_period_is_frozen_until_restated_with_who_and_why(
    client: AsyncClient, db: Database
) -> None:
    await _world(client, db)
    await recalculate(client, period_start=WEEKS[0], period_end=WEEKS[-1])
    closed = await client.post(
        "/api/kpis/periods/close",
        json={
            "period_start": WEEKS[1],
            "definition_keys": ["cases_resolved"],
            "reason": "October close",
        },
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert [(c["definition_key"], c["period_start"], c["period_end"]) for c in body["closed"]] == [
        ("cases_resolved", WEEKS[1], "2026-11-01")
    ]
    again = await client.post("/api/kpis/periods/close", json={"period_start": WEEKS[1]})
    assert again.json() == {"closed": [], "already_closed": 1}

    # The source changes: user 1 resolved one more case in the closed week.
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO public.support_cases (assigned_to, status, created_at, resolved_at) "
                "VALUES (1, 'resolved', '2026-10-27 08:00Z', '2026-10-27 20:00Z')"
            )
        )
    refused = await client.post(
        "/api/kpis/measurements/recalculate",
        json={"period_start": WEEKS[0], "period_end": WEEKS[-1]},
    )
    assert refused.status_code == 409, refused.text
    assert "cases_resolved 2026-10-26" in refused.json()["detail"]

    run = await recalculate(client, period_start=WEEKS[1], restate=True, reason="late case found")
    assert (run["status"], run["computed"], run["unchanged"]) == ("succeeded", 1, 1)
    [m] = await measurements(client, user_id="1", period_from=WEEKS[1], period_to=WEEKS[1])
    assert m["actual_value"] == 3 and m["revision"] == 2
    [rev] = (await client.get(f"/api/kpis/measurements/{m['id']}/revisions")).json()["items"]
    assert rev["actual_value"] == 2 and rev["changed_by"] == "local-admin"
    assert rev["change_reason"] == f"restated by run {run['id']}: late case found"


async def test_only_ended_periods_close_and_manual_values_freeze(
    client: AsyncClient, db: Database
) -> None:
    d = await define(client, key="csat")
    a = await assign(client, d["id"], "1", 4, start_date="2026-10-01")
    put = await client.put(
        f"/api/kpis/assignments/{a['id']}/measurements/{WEEKS[0]}", json={"value": 4.5}
    )
    assert put.status_code == 200
    today = datetime.now(UTC).date().isoformat()
    response = await client.post("/api/kpis/periods/close", json={"period_start": today})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "period_start"]
    assert (
        await client.post("/api/kpis/periods/close", json={"period_start": WEEKS[0]})
    ).status_code == 200
    refused = await client.put(
        f"/api/kpis/assignments/{a['id']}/measurements/{WEEKS[0]}", json={"value": 3}
    )
    assert refused.status_code == 409
    [m] = await measurements(client)
    assert m["actual_value"] == 4.5


async def _checksum(db: Database) -> tuple[int, str]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), md5(string_agg(concat_ws('|', assignment_id, period_start, "
                    "actual_value, target_value, achievement, score, status, previous_value, "
                    "trend), "
                    "',' ORDER BY assignment_id, period_start)) FROM kpi.measurements"
                )
            )
        ).one()
    return int(row[0]), str(row[1])


class Crash(BaseException):
    """The process dies: nothing after this point runs, no cleanup, no release."""


async def test_a_run_whose_process_died_is_resumed_once_with_nothing_lost_or_doubled(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    await _world(client, db)
    # Queued as the route does it, but not handed to a background worker: this test plays
    # the processes.
    admin = Principal(tenant_id="default", user_id="admin", role=Role.ADMIN)
    async with db.unit_of_work() as session:
        queued = await service.recalculate(
            session,
            admin,
            RecalculateRequest.model_validate({"period_start": WEEKS[0], "period_end": WEEKS[-1]}),
        )
    run_id = queued.id

    def die_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Crash

    with pytest.raises(Crash):
        await execution.execute(
            db, settings, "default", run_id, "doomed", hooks=RunHooks(), on_progress=die_after_two
        )
    dead = (await client.get(f"/api/kpis/runs/{run_id}")).json()
    assert (dead["status"], dead["progress_done"], dead["computed"]) == ("running", 2, 4)
    # Alive-looking: nobody may take it yet.
    assert await execution.execute(db, settings, "default", run_id, "eager", RunHooks()) is None

    async with db.unit_of_work() as session:  # time passes: the heartbeat goes stale
        await session.execute(
            text(
                "UPDATE kpi.calculation_runs SET heartbeat_at = "
                "now() - interval '1 hour' WHERE id = :id"
            ),
            {"id": run_id},
        )
    assert await execution.stale_runs(db, settings) == [("default", run_id)]
    resumed = await execution.execute(db, settings, "default", run_id, "heir", RunHooks())
    assert resumed is not None
    assert (resumed.status, resumed.progress_done, resumed.computed, resumed.resumed) == (
        "succeeded",
        4,
        8,
        1,
    )
    # The doomed worker, were it alive after all, could write nothing more.
    async with db.unit_of_work() as session:
        assert not await RunRepository(session).record("default", run_id, "doomed", progress_done=1)

    resumed_sum = await _checksum(db)
    clean = await recalculate(client, period_start=WEEKS[0], period_end=WEEKS[-1])
    assert (clean["computed"], clean["unchanged"]) == (0, 8)
    assert await _checksum(db) == resumed_sum and resumed_sum[0] == 8
    async with db.engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM kpi.measurement_revisions"))
        ).scalar() == 0


async def test_the_seed_calculate_route_refuses_a_closed_week(
    client: AsyncClient, db: Database
) -> None:
    d = await _world(client, db)
    assignments = (
        await client.get("/api/kpis/assignments", params={"definition_id": d["id"]})
    ).json()["items"]
    assert (
        await client.post("/api/kpis/periods/close", json={"period_start": WEEKS[0]})
    ).status_code == 200
    response = await client.post(
        f"/kpis/calculate/{assignments[0]['id']}",
        json={"period_start": WEEKS[0], "period_end": "2026-10-25"},
    )
    assert response.status_code == 409, response.text
    assert "closed" in response.json()["error"]
    assert await measurements(client) == []
