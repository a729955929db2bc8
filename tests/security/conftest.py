"""The data the security tests walk: one tenant's worth of every kind of row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import (
    assign,
    define,
    event,
    idle,
    ingest,
    listed,
    made,
    manual_kpi,
    record,
    wait_for_run,
)
from tests.support.app import today
from tests.support.auth import ADMIN
from tests.support.packs import install_agents, lead, source_table

WEEK = "2026-01-05"


@pytest.fixture
async def default_data(jwt_client: AsyncClient, db: Database) -> dict[str, Any]:
    """Users 42 (team t1) and 43 (t2) of tenant `default`: a manual KPI (calls: 42 recorded 10
    then 12 against 10, 43 recorded 7) and an event KPI (conversions) each, an organisation
    KPI (mrr 900 of 1000), events (a conversion, a signup and a login of 42's), a
    recalculation run, a goal of 42's, and an alert rule (calls under 130%) whose alerts (42
    and 43) were notified to a channel whose secret is not set (so delivery failed at once);
    then the agent pack, installed for both from 60 days ago, and a lead of each yesterday."""
    c = jwt_client
    calls = await define(c, "calls", headers=ADMIN)
    conversions = await define(
        c,
        "conversions",
        headers=ADMIN,
        calculation_type="event",
        config={"event_type": "conversion", "aggregate": "count"},
    )
    mrr = await manual_kpi(
        c, "mrr", name="MRR", unit="currency", scope="organization", headers=ADMIN
    )
    channel = await made(
        c,
        "POST",
        "/api/kpis/alerts/channels",
        {
            "name": "ops",
            "url": "http://127.0.0.1:9/hook",
            "secret_env": "KPI_WEBHOOK_SECRET_NOT_SET_IN_TESTS",
        },
    )
    rule = await made(
        c,
        "POST",
        "/api/kpis/alerts/rules",
        {
            "definition_key": "calls",
            "name": "Low calls",
            "channel_ids": [channel["id"]],
            "condition": {"kind": "achievement_below", "threshold": 130},
        },
    )
    ids: dict[str, Any] = {}
    for user, team, name in (("42", "t1", "assignment_id"), ("43", "t2", "other_assignment_id")):
        ids[name] = (
            await assign(c, calls["id"], user, headers=ADMIN, team_id=team, start_date=WEEK)
        )["id"]
        ids[name.replace("assignment", "event_assignment")] = (
            await assign(
                c, conversions["id"], user, 5, headers=ADMIN, team_id=team, start_date="2025-10-01"
            )
        )["id"]
    org = await assign(
        c,
        mrr["id"],
        "default",
        1000,
        headers=ADMIN,
        subject_type="organization",
        start_date="2025-10-01",
    )
    recorded: dict[int, int] = {}
    for assignment, period, value in (
        (ids["assignment_id"], WEEK, 10),
        (ids["assignment_id"], WEEK, 12),
        (ids["other_assignment_id"], WEEK, 7),
        (org["id"], "2026-01-01", 900),
    ):
        recorded[assignment] = (await record(c, assignment, period, value, headers=ADMIN))["id"]
    await ingest(
        c,
        [
            event(
                "conversion",
                "2026-01-06T10:00:00Z",
                team_id="t1",
                value=100,
                properties={"lead_source": "Referrals"},
                id="6f1c0d7e-3a52-4c1e-9d57-000000000001",
            ),
            event(
                "signup",
                "2026-01-02T10:00:00Z",
                team_id="t1",
                id="6f1c0d7e-3a52-4c1e-9d57-000000000002",
            ),
            event(
                "login",
                "2026-01-10T10:00:00Z",
                team_id="t1",
                id="6f1c0d7e-3a52-4c1e-9d57-000000000003",
            ),
        ],
        headers=ADMIN,
    )
    run = await made(c, "POST", "/api/kpis/measurements/recalculate", {"period_start": WEEK})
    await wait_for_run(c, run["id"], headers=ADMIN)
    await idle(c)  # the run's alert evaluation and its deliveries follow it
    for _ in range(500):
        deliveries = await listed(c, "/api/kpis/alerts/deliveries", ADMIN)
        if deliveries and all(d["status"] != "pending" for d in deliveries):
            break
        await asyncio.sleep(0.02)
    alerts = {a["subject_id"]: a["id"] for a in await listed(c, "/api/kpis/alerts", ADMIN)}
    goal = await made(
        c,
        "POST",
        "/api/kpis/goals",
        {
            "definition_key": "calls",
            "user_id": "42",
            "period_kind": "monthly",
            "period_start": "2026-01-01",
            "target_value": 40,
        },
    )
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await source_table(db, "leads", [lead(user, yesterday) for user in ("42", "43")])
    await install_agents(c, {"42": "t1", "43": "t2"}, today() - timedelta(days=60), ADMIN)
    return {
        **ids,
        "definition_id": calls["id"],
        "key": "calls",
        "user_id": "42",
        "event_definition_id": conversions["id"],
        "org_assignment_id": org["id"],
        "period_start": WEEK,
        "measurement_id": recorded[ids["assignment_id"]],
        "other_measurement_id": recorded[ids["other_assignment_id"]],
        "run_id": run["id"],
        "goal_id": goal["id"],
        "rule_id": rule["id"],
        "channel_id": channel["id"],
        "alert_id": alerts["42"],
        "other_alert_id": alerts["43"],
        "pack": "support",
    }
