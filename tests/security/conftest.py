"""The data the security tests walk: one tenant's worth of every kind of row."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import idle, listed, made, wait_for_run
from tests.support.auth import ADMIN

WEEK = "2026-01-05"


@pytest.fixture
async def default_data(jwt_client: AsyncClient) -> dict[str, Any]:
    """Users 42 (team t1) and 43 (t2) of tenant `default`: a manual KPI (calls: 42 recorded 10
    then 12 against 10, 43 recorded 7) and an event KPI (conversions) each, an organisation
    KPI (mrr 900 of 1000), events (a conversion, a signup and a login of 42's), a
    recalculation run, a goal of 42's, and an alert rule (calls under 130%) whose alerts (42
    and 43) were notified to a channel whose secret is not set (so delivery failed at once)."""
    c = jwt_client
    kpi = {"unit": "count", "target_type": "higher_better", "aggregation_period": "weekly"}
    calls = await made(
        c,
        "POST",
        "/api/kpis/definitions",
        {**kpi, "key": "calls", "name": "Calls", "calculation_type": "manual"},
    )
    conversions = await made(
        c,
        "POST",
        "/api/kpis/definitions",
        {
            **kpi,
            "key": "conversions",
            "name": "Conversions",
            "calculation_type": "event",
            "config": {"event_type": "conversion", "aggregate": "count"},
        },
    )
    mrr = await made(
        c,
        "POST",
        "/api/kpis/definitions",
        {
            "key": "mrr",
            "name": "MRR",
            "unit": "currency",
            "target_type": "higher_better",
            "aggregation_period": "monthly",
            "scope": "organization",
            "calculation_type": "manual",
        },
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
            await made(
                c,
                "POST",
                "/api/kpis/assignments",
                {
                    "definition_id": calls["id"],
                    "subject_type": "user",
                    "subject_id": user,
                    "team_id": team,
                    "target_value": 10,
                    "start_date": WEEK,
                },
            )
        )["id"]
        ids[name.replace("assignment", "event_assignment")] = (
            await made(
                c,
                "POST",
                "/api/kpis/assignments",
                {
                    "definition_id": conversions["id"],
                    "subject_type": "user",
                    "subject_id": user,
                    "team_id": team,
                    "target_value": 5,
                    "start_date": "2025-10-01",
                },
            )
        )["id"]
    org = await made(
        c,
        "POST",
        "/api/kpis/assignments",
        {
            "definition_id": mrr["id"],
            "subject_type": "organization",
            "subject_id": "default",
            "target_value": 1000,
            "start_date": "2025-10-01",
        },
    )
    recorded: dict[int, int] = {}
    for assignment, period, value in (
        (ids["assignment_id"], WEEK, 10),
        (ids["assignment_id"], WEEK, 12),
        (ids["other_assignment_id"], WEEK, 7),
        (org["id"], "2026-01-01", 900),
    ):
        recorded[assignment] = (
            await made(
                c,
                "PUT",
                f"/api/kpis/assignments/{assignment}/measurements/{period}",
                {"value": value},
            )
        )["id"]
    events = await made(
        c,
        "POST",
        "/api/kpis/events",
        {
            "events": [
                {
                    "id": "6f1c0d7e-3a52-4c1e-9d57-000000000001",
                    "user_id": "42",
                    "team_id": "t1",
                    "type": "conversion",
                    "occurred_at": "2026-01-06T10:00:00Z",
                    "value": 100,
                    "properties": {"lead_source": "Referrals"},
                },
                {
                    "id": "6f1c0d7e-3a52-4c1e-9d57-000000000002",
                    "user_id": "42",
                    "team_id": "t1",
                    "type": "signup",
                    "occurred_at": "2026-01-02T10:00:00Z",
                },
                {
                    "id": "6f1c0d7e-3a52-4c1e-9d57-000000000003",
                    "user_id": "42",
                    "team_id": "t1",
                    "type": "login",
                    "occurred_at": "2026-01-10T10:00:00Z",
                },
            ]
        },
    )
    assert events["accepted"] == 3, events
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
    }
