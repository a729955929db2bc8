"""Seed 004's KPI value history and quick update: every value recorded for a manual KPI's
assignment (corrections included), newest first, cut by `days` and `limit`; the latest
value's trend and change against the value recorded just before it; `update-value` into the
period holding today; refusals and access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import (
    ASSIGNMENTS,
    assign,
    define,
    instant,
    manual_kpi,
    measurements,
    record,
    value_history,
)
from tests.support.app import app_client
from tests.support.auth import ACME_ADMIN, ADMIN, bearer
from tests.support.database import backdate, statements_sent
from tests.support.expected import achieved, change_since_previous, movement_of, num
from tests.support.problems import assert_problem, error_locs

TARGET = Decimal(50000)
# value, period_start, period_end, recorded_at
Recording = tuple[Decimal, str, str, datetime]
# The seed's Monthly Revenue recorded 40, 20 and 5 days ago: (period_start, value, age).
SEED_MONTHS = (("2026-01-01", 40000, 40), ("2026-02-01", 45000, 20), ("2026-03-01", 42000, 5))
MONTHS = {
    "2026-01-01": "2026-01-31",
    "2026-02-01": "2026-02-28",
    "2026-03-01": "2026-03-31",
    "2026-04-01": "2026-04-30",
    "2026-05-01": "2026-05-31",
}


async def _monthly_revenue(client: AsyncClient, key: str = "mrr", **fields: Any) -> dict[str, Any]:
    """The seed's "Monthly Revenue": an organisation's manual monthly KPI, target 50000."""
    d = await manual_kpi(client, key, name="Monthly Revenue", unit="currency", scope="organization")
    return await assign(
        client,
        d["id"],
        "default",
        int(TARGET),
        subject_type="organization",
        start_date="2026-01-01",
        **fields,
    )


def _expected(recordings: list[Recording], since: datetime, limit: int) -> list[dict[str, Any]]:
    """The history entries: recorded since `since`, newest first, at most `limit`."""
    newest = sorted(recordings, key=lambda r: r[3], reverse=True)
    return [
        {
            "value": num(value),
            "target": num(TARGET),
            "percentage_complete": num(achieved(value, TARGET, "higher_better")),
            "recorded_at": at,
            "period_start": start,
            "period_end": end,
        }
        for value, start, end, at in [r for r in newest if r[3] >= since][:limit]
    ]


def _entries(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**e, "recorded_at": instant(e["recorded_at"])} for e in answer["history"]]


async def test_history_lists_every_recorded_value_newest_first_within_days_and_limit(
    client: AsyncClient, db: Database
) -> None:
    a = await _monthly_revenue(client)
    now = datetime.now(UTC)
    recordings: list[Recording] = []
    for start, value, age in SEED_MONTHS:
        stored = await record(client, a["id"], start, value)
        at = now - timedelta(days=age)
        await backdate(db, stored["id"], at)
        recordings.append((Decimal(value), start, MONTHS[start], at))
    # February corrected today: its 45000 stays in the history as a revision; March's
    # comparison with February is re-derived (a revision that is no new recording).
    corrected = await record(client, a["id"], "2026-02-01", 47500)
    assert corrected["revision"] == 2
    recordings.append(
        (Decimal(47500), "2026-02-01", "2026-02-28", instant(corrected["calculated_at"]))
    )
    march = (await measurements(client, assignment_id=a["id"], period_from="2026-03-01"))[0]
    revisions = await client.get(f"/api/kpis/measurements/{march['id']}/revisions")
    assert [r["change_reason"] for r in revisions.json()["items"]] == [
        "re-derived: previous period changed"
    ]

    in_order = sorted(recordings, key=lambda r: r[3])
    latest, before = in_order[-1], in_order[-2]
    header = {
        "assignment_id": a["id"],
        "definition_key": "mrr",
        "name": "Monthly Revenue",
        "unit": "currency",
        "current_value": num(latest[0]),
        "target": num(TARGET),
        "percentage_complete": num(achieved(latest[0], TARGET, "higher_better")),
        "trend": movement_of(latest[0], before[0]),
        "percentage_change": num(change_since_previous(latest[0], before[0])),
        "updated_at": latest[3],
    }
    assert header["trend"] == "up" and header["percentage_complete"] == 95.0  # 47500 vs 42000
    cases: list[tuple[dict[str, Any], int, int]] = [
        ({}, 30, 100),  # the seed's defaults
        ({"days": 60}, 60, 100),
        ({"days": 10}, 10, 100),
        ({"days": 60, "limit": 2}, 60, 2),
        ({"days": 1}, 1, 100),  # the trend still compares with March, outside the window
    ]
    for params, days, limit in cases:
        got = await value_history(client, a["id"], **params)
        assert set(got) == {*header, "history"}
        answered = {k: v for k, v in got.items() if k != "history"}
        assert answered | {"updated_at": instant(got["updated_at"])} == header, params
        assert _entries(got) == _expected(recordings, now - timedelta(days=days), limit), params
        times = [e["recorded_at"] for e in _entries(got)]
        assert times == sorted(times, reverse=True)

    # Set-based: the same statements whether 4 or 7 values were recorded.
    async with statements_sent(db) as few:
        await value_history(client, a["id"], days=60)
    for start in ("2026-04-01", "2026-05-01", "2026-03-01"):
        await record(client, a["id"], start, 1)
    async with statements_sent(db) as more:
        longer = await value_history(client, a["id"], days=60)
    assert len(longer["history"]) == 7 and len(more) == len(few)


async def test_trend_and_change_compare_with_the_value_recorded_just_before(
    client: AsyncClient, db: Database
) -> None:
    a = await _monthly_revenue(client)
    empty = await value_history(client, a["id"])
    assert (empty["current_value"], empty["target"], empty["percentage_complete"]) == (
        None,
        None,
        None,
    )
    assert (empty["trend"], empty["percentage_change"], empty["updated_at"]) == ("neutral", 0, None)
    assert empty["history"] == []

    values: list[Decimal] = []
    # Out of period order on purpose: "before" is by recording time, whatever the period.
    for start, value in (
        ("2026-03-01", "0"),  # nothing before: neutral, 0
        ("2026-01-01", "20"),  # after a 0: up, no percentage
        ("2026-03-01", "20"),  # March corrected, equal to January: neutral
        ("2026-02-01", "5"),  # down by 75%
        ("2026-01-01", "-10"),  # after 5: (-10 - 5) / 5 * 100
        ("2026-02-01", "-4"),  # after -10: (-4 + 10) / |-10| * 100 = 60
    ):
        await record(client, a["id"], start, Decimal(value))
        values.append(Decimal(value))
        previous = values[-2] if len(values) > 1 else None
        got = await value_history(client, a["id"])
        change = change_since_previous(values[-1], previous)
        assert got["current_value"] == num(values[-1]), value
        assert got["trend"] == movement_of(values[-1], previous), value
        assert got["percentage_change"] == num(change), value
        assert [e["value"] for e in got["history"]] == [num(v) for v in reversed(values)]
    assert [movement_of(v, p) for p, v in pairwise(values)] == [
        "up",
        "neutral",
        "down",
        "down",
        "up",
    ]


async def test_update_value_records_the_period_holding_today_in_the_organisation_zone(
    db: Database, database_url: str
) -> None:
    # UTC+14: its today is a day ahead of UTC's for ten hours of every UTC day.
    zone = ZoneInfo("Pacific/Kiritimati")
    async with app_client(db, database_url, timezone=zone.key) as c:
        d = await manual_kpi(c, "signups", aggregation_period="daily", scope="organization")
        a = await assign(
            c, d["id"], "default", 8, subject_type="organization", start_date="2026-01-01"
        )
        url = f"{ASSIGNMENTS}/{a['id']}/update-value"
        days = {datetime.now(zone).date().isoformat()}
        first = await c.post(url, json={"current_value": 6, "comment": "from the form"})
        days.add(datetime.now(zone).date().isoformat())
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["current_value"], body["target"]) == (6, 8)
        assert body["percentage_complete"] == num(achieved(Decimal(6), Decimal(8), "higher_better"))
        assert (body["trend"], body["percentage_change"]) == ("neutral", 0)
        (entry,) = body["history"]
        assert entry["period_start"] in days and entry["period_end"] == entry["period_start"]

        # The same path as recordMeasurement: a manual measurement, its comment, the audit.
        (stored,) = await measurements(c, assignment_id=a["id"])
        assert (stored["source"], stored["comment"], stored["actual_value"]) == (
            "manual",
            "from the form",
            6,
        )
        assert stored["period_start"] == entry["period_start"]
        audit = await c.get("/api/kpis/audit", params={"entity_type": "measurement"})
        assert [e["action"] for e in audit.json()["items"]] == ["measurement.record"]

        second = (await c.post(url, json={"current_value": 9})).json()
        assert (second["current_value"], second["trend"]) == (9, "up")
        assert second["percentage_change"] == num(change_since_previous(Decimal(9), Decimal(6)))
        assert [e["value"] for e in second["history"]] == [9, 6]
        assert {e["period_start"] for e in second["history"]} <= days


async def test_refusals_are_problems_and_change_nothing(client: AsyncClient, db: Database) -> None:
    a = await _monthly_revenue(client)
    event = await define(
        client,
        "conversions",
        calculation_type="event",
        config={"event_type": "conversion", "aggregate": "count"},
    )
    computed = await assign(client, event["id"], "42", 5, start_date="2026-01-01")
    refused = assert_problem(await client.get(f"{ASSIGNMENTS}/{computed['id']}/history"), 409)
    assert "by hand" in refused["detail"] and "/metrics/timeseries" in refused["detail"]
    not_manual = await client.post(
        f"{ASSIGNMENTS}/{computed['id']}/update-value", json={"current_value": 1}
    )
    assert "only manual KPIs" in assert_problem(not_manual, 409)["detail"]

    unknown = assert_problem(await client.get(f"{ASSIGNMENTS}/999999"), 404)
    for method, path in (("GET", "history"), ("POST", "update-value")):
        response = await client.request(
            method, f"{ASSIGNMENTS}/999999/{path}", json={"current_value": 1}
        )
        assert assert_problem(response, 404)["detail"] == unknown["detail"]

    update = f"{ASSIGNMENTS}/{a['id']}/update-value"
    for body, loc in (
        ({}, ["body", "current_value"]),
        ({"current_value": "lots"}, ["body", "current_value"]),
        ({"current_value": 1e300}, ["body", "current_value"]),
        ({"current_value": 1, "value": 2}, ["body", "value"]),
        ({"current_value": 1, "comment": "a\u0000b"}, ["body", "comment"]),
    ):
        assert loc in error_locs(assert_problem(await client.post(update, json=body), 422, body))
    for params, loc in (
        ({"days": 0}, ["query", "days"]),
        ({"days": 3661}, ["query", "days"]),
        ({"days": "month"}, ["query", "days"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 1001}, ["query", "limit"]),
    ):
        response = await client.get(f"{ASSIGNMENTS}/{a['id']}/history", params=params)
        assert loc in error_locs(assert_problem(response, 422, params))
    assert (await value_history(client, a["id"], days=3660, limit=1000))["history"] == []

    # An assignment that has ended has no period in progress to update.
    ended = await _monthly_revenue(client, "arr", end_date="2026-03-31")
    response = await client.post(
        f"{ASSIGNMENTS}/{ended['id']}/update-value", json={"current_value": 1}
    )
    assert "not in force" in assert_problem(response, 409)["detail"]
    assert await measurements(client) == []


async def test_members_read_their_own_history_and_their_managers_update_it(
    jwt_client: AsyncClient, db: Database
) -> None:
    c = jwt_client
    d = await define(c, "calls", headers=ADMIN, aggregation_period="monthly")
    a = await assign(c, d["id"], "42", 10, headers=ADMIN, team_id="t1", start_date="2026-01-01")
    history, update = f"{ASSIGNMENTS}/{a['id']}/history", f"{ASSIGNMENTS}/{a['id']}/update-value"
    manager, owner = bearer("m1", "manager", teams=["t1"]), bearer("42", "member")

    updated = await c.post(update, json={"current_value": 12}, headers=manager)
    assert updated.status_code == 200, updated.text
    assert updated.json()["current_value"] == 12
    mine = await value_history(c, a["id"], headers=owner)
    assert mine["current_value"] == 12 and [e["value"] for e in mine["history"]] == [12]
    assert_problem(await c.post(update, json={"current_value": 13}, headers=owner), 403)
    for outsider in (
        bearer("43", "member"),
        bearer("m2", "manager", teams=["t2"]),
        ACME_ADMIN,
    ):
        assert_problem(await c.get(history, headers=outsider), 404)
        assert_problem(await c.post(update, json={"current_value": 13}, headers=outsider), 404)
    assert (await value_history(c, a["id"], headers=ADMIN))["current_value"] == 12
