"""Expected manual values missing N days after their period: found on demand and after runs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from httpx import AsyncClient

from kpi_service.alerts.evaluation_jobs import evaluate_overdue
from kpi_service.core.database import Database
from tests.support.alerts import (
    ALERTS,
    QUICK,
    evaluate_and_settle,
    make_channel,
    make_rule,
    run_and_settle,
)
from tests.support.api import assign, define, listed, record
from tests.support.app import make_settings, today
from tests.support.receiver import Receiver

DAYS = 3


def this_monday() -> date:
    return today() - timedelta(days=today().weekday())


def overdue(monday: date) -> bool:
    """More than DAYS days have passed since the week's Sunday."""
    return (today() - (monday + timedelta(days=6))).days > DAYS


def latest_overdue(count: int) -> list[date]:
    mondays: list[date] = []
    monday = this_monday()
    while len(mondays) < count:
        if overdue(monday):
            mondays.append(monday)
        monday -= timedelta(weeks=1)
    return sorted(mondays)


async def test_missing_values_open_on_demand_and_resolve_once_recorded(
    api: AsyncClient, receiver: Receiver
) -> None:
    kpi = await define(api, key="visits")
    start = this_monday() - timedelta(weeks=8)
    a42 = await assign(api, kpi["id"], "42", 5, start_date=start.isoformat())
    a43 = await assign(api, kpi["id"], "43", 5, start_date=start.isoformat())
    hook = await make_channel(api, receiver, "/missing")
    rule = await make_rule(
        api, kpi["id"], {"kind": "missing_value", "days": DAYS, "lookback_periods": 4}, [hook["id"]]
    )
    weeks = [start + timedelta(weeks=i) for i in range(9)]
    for monday in weeks:
        await record(api, a42["id"], monday, 5)
    recorded43 = latest_overdue(4)[1]
    await record(api, a43["id"], recorded43, 4)

    result = await evaluate_and_settle(api)
    expected = [m for m in latest_overdue(4) if m != recorded43]
    assert result == {"rules": 1, "opened": 3, "fired": 3, "resolved": 0, "deliveries": 3}
    found = await listed(api, ALERTS)
    assert sorted((a["subject_id"], a["period_start"], a["status"]) for a in found) == [
        ("43", m.isoformat(), "firing") for m in expected
    ]
    for alert in found:
        end = date.fromisoformat(alert["period_end"])
        assert (alert["observed"], alert["threshold"]) == ((today() - end).days, DAYS)
    assert sorted(r.payload["alert"]["period_start"] for r in receiver.state.received) == [
        m.isoformat() for m in expected
    ]

    # 43 catches up on one week: that alert resolves, the others stay; again, nothing moves.
    await record(api, a43["id"], expected[0], 6)
    result = await evaluate_and_settle(api, rule_ids=[rule["id"]])
    assert (result["opened"], result["resolved"]) == (0, 1)
    assert {a["period_start"]: a["status"] for a in await listed(api, ALERTS)} == {
        **{m.isoformat(): "firing" for m in expected[1:]},
        expected[0].isoformat(): "resolved",
    }
    assert (await evaluate_and_settle(api))["deliveries"] == 0
    assert len(receiver.state.received) == 4

    # A run over the whole range also judges the older overdue weeks it covers.
    await run_and_settle(api, period_start=weeks[0].isoformat(), period_end=today().isoformat())
    older = [m for m in weeks if overdue(m) and m < latest_overdue(4)[0]]
    opened = {a["period_start"] for a in await listed(api, ALERTS)}
    assert {m.isoformat() for m in older} <= opened
    assert len(opened) == len(expected) + len(older)
    assert not any(not overdue(date.fromisoformat(p)) for p in opened)


async def test_an_explicit_range_and_a_subject_filter(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(api, key="visits")
    first = date(2026, 3, 2)
    for subject in ("42", "43"):
        await assign(
            api,
            kpi["id"],
            subject,
            5,
            start_date=first.isoformat(),
            end_date=(first + timedelta(weeks=2, days=6)).isoformat(),
        )
    await make_rule(api, kpi["id"], {"kind": "missing_value", "days": 0}, [], subject_id="43")
    result = await evaluate_and_settle(api, period_start="2026-02-01", period_end="2026-04-30")
    found = await listed(api, ALERTS)
    # Only the weeks 43's assignment covers, only 43, and no deliveries without channels.
    assert sorted((a["subject_id"], a["period_start"]) for a in found) == [
        ("43", (first + timedelta(weeks=i)).isoformat()) for i in range(3)
    ]
    assert (result["opened"], result["deliveries"]) == (3, 0)
    assert receiver.state.received == []


async def test_evaluate_refuses_what_it_cannot_do(api: AsyncClient) -> None:
    kpi = await define(api, key="visits")
    rule = await make_rule(api, kpi["id"], {"kind": "missing_value"}, [], is_active=False)
    bad: list[dict[str, Any]] = [
        {"rule_ids": [rule["id"]]},
        {"rule_ids": [999]},
        {"rule_ids": []},
        {"period_start": "2026-02-01", "period_end": "2026-01-01"},
        {"period_end": "2026-01-01"},
        {"period_start": "2000-01-01", "period_end": "2026-01-01"},
        {"rules": [1]},
    ]
    for body in bad:
        response = await api.post(f"{ALERTS}/evaluate", json=body)
        assert response.status_code == 422, (body, response.text)


async def test_the_overdue_job_evaluates_missing_value_rules(
    api: AsyncClient, receiver: Receiver, db: Database, database_url: str
) -> None:
    kpi = await define(api, key="visits")
    start = this_monday() - timedelta(weeks=3)
    await assign(api, kpi["id"], "42", 5, start_date=start.isoformat())
    hook = await make_channel(api, receiver, "/job")
    await make_rule(
        api, kpi["id"], {"kind": "missing_value", "days": DAYS, "lookback_periods": 1}, [hook["id"]]
    )
    # Another rule kind is left to the runs.
    await make_rule(api, kpi["id"], {"kind": "achievement_below", "threshold": 50}, [])
    settings = make_settings(database_url, **QUICK)
    assert await evaluate_overdue(db, settings) == 1
    [alert] = await listed(api, ALERTS)
    assert (alert["subject_id"], alert["period_start"]) == ("42", latest_overdue(1)[0].isoformat())
    [sent] = receiver.state.to("/job")
    assert sent.signed and sent.payload["rule"]["condition"] == {
        "kind": "missing_value",
        "days": DAYS,
        "lookback_periods": 1,
    }
    assert await evaluate_overdue(db, settings) == 1
    assert len(receiver.state.received) == 1
