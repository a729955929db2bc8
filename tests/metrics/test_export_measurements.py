"""GET /metrics/export.csv of raw measurements: 20,000 rows streamed back exactly (formula
injection defused), scoped to what the caller may see."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign_in_bulk, assignment_body, define
from tests.support.auth import bearer
from tests.support.export import EXPORT, export, parsed
from tests.support.metrics import hand_worked_team

FIRST_DAY = date(2023, 1, 1)
DAYS = 1000
INJECTION = '=HYPERLINK("http://evil.example/","click")'


async def twenty_thousand(client: AsyncClient, db: Database) -> list[dict[str, Any]]:
    """20 users x 1000 days of a daily KPI, inserted by one statement; the rows expected
    back, computed here from the same formulas."""
    daily = await define(client, key="calls", aggregation_period="daily")
    users = [f"u{i:02d}" for i in range(19)] + ["+evil"]
    created = await assign_in_bulk(
        client,
        [
            assignment_body(
                daily["id"],
                user,
                team_id="t1" if i % 2 else "t2",
                start_date=FIRST_DAY.isoformat(),
            )
            for i, user in enumerate(users)
        ],
    )
    held_by = [(a["id"], a["subject_id"], a["team_id"]) for a in created]
    async with db.engine.begin() as conn:
        await conn.execute(
            text("""
            INSERT INTO kpi.measurements (tenant_id, assignment_id, definition_id,
                period_start, period_end, aligned, actual_value, target_value, achievement,
                score, status, is_final, source, definition_version, comment)
            SELECT 'default', a.id, a.definition_id, CAST(:first AS date) + g,
                   CAST(:first AS date) + g, true, v.value, 10,
                   v.value * 10, least(v.value * 10, 150),
                   CASE WHEN v.value >= 10 THEN 'met' WHEN v.value >= 8 THEN 'at_risk'
                        ELSE 'off_track' END,
                   true, 'imported', 1, CASE WHEN g % 500 = 0 THEN CAST(:injection AS text) END
            FROM kpi.assignments a
            CROSS JOIN generate_series(0, CAST(:days AS integer) - 1) AS g
            CROSS JOIN LATERAL (SELECT (g * 7 + a.id) % 97 AS value) v
            WHERE a.tenant_id = 'default'
            ORDER BY a.id, g"""),
            {"first": FIRST_DAY, "days": DAYS, "injection": INJECTION},
        )
    expected = []
    for assignment_id, user, team in held_by:
        for g in range(DAYS):
            value = Decimal((g * 7 + assignment_id) % 97)
            day = (FIRST_DAY + timedelta(days=g)).isoformat()
            expected.append(
                {
                    "assignment_id": str(assignment_id),
                    "definition_key": "calls",
                    "subject_type": "user",
                    "subject_id": "'" + user if user[0] == "+" else user,
                    "team_id": team,
                    "period_start": day,
                    "period_end": day,
                    "aligned": "true",
                    "actual_value": value,
                    "target_value": Decimal(10),
                    "achievement": value * 10,
                    "score": min(value * 10, Decimal(150)),
                    "status": "met" if value >= 10 else "at_risk" if value >= 8 else "off_track",
                    "is_final": "true",
                    "source": "imported",
                    "comment": "'" + INJECTION if g % 500 == 0 else "",
                }
            )
    return expected


NUMBERS = ("actual_value", "target_value", "achievement", "score")


def comparable(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's exported fields, numbers as Decimals (the CSV writes them as stored)."""
    fields = (
        "assignment_id",
        "definition_key",
        "subject_type",
        "subject_id",
        "team_id",
        "period_start",
        "period_end",
        "aligned",
        "status",
        "is_final",
        "source",
        "comment",
    )
    return (*(row[f] for f in fields), *(Decimal(row[n]) for n in NUMBERS))


async def test_a_large_export_streams_back_exactly_the_rows(
    client: AsyncClient, db: Database
) -> None:
    expected = await twenty_thousand(client, db)
    async with client.stream("GET", EXPORT, params={"view": "measurements"}) as response:
        assert response.status_code == 200
        chunks = [chunk async for chunk in response.aiter_text()]
    rows = parsed(Response(200, headers=response.headers, text="".join(chunks)))
    assert len(rows) == len(expected) == 20_000
    assert list(rows[0]) == [
        "id",
        "assignment_id",
        "definition_key",
        "subject_type",
        "subject_id",
        "team_id",
        "period_start",
        "period_end",
        "aligned",
        "actual_value",
        "target_value",
        "achievement",
        "score",
        "status",
        "previous_value",
        "change_pct",
        "trend",
        "is_final",
        "source",
        "revision",
        "recorded_by",
        "calculated_at",
        "comment",
    ]
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert sorted(map(comparable, rows)) == sorted(map(comparable, expected))
    # A formula in a comment and a user id starting with "+" are defused, not run.
    assert sum(1 for r in rows if r["comment"].startswith("'=HYPERLINK")) == 2 * 20
    assert {r["subject_id"] for r in rows if "evil" in r["subject_id"]} == {"'+evil"}

    # Filtered as listMeasurements filters: one user, ten days.
    some = parsed(
        await export(
            client,
            view="measurements",
            user_id="u03",
            definition_key="calls",
            period_from="2023-02-01",
            period_to="2023-02-10",
        )
    )
    assert sorted(map(comparable, some)) == sorted(
        comparable(r)
        for r in expected
        if r["subject_id"] == "u03" and "2023-02-01" <= r["period_start"] <= "2023-02-10"
    )
    assert len(some) == 10
    # Seed 001's call: no view (raw measurements), the range as start and end.
    seed = parsed(await client.get(EXPORT, params={"start": "2024-02-28", "end": "2024-02-29"}))
    assert sorted(map(comparable, seed)) == sorted(
        comparable(r) for r in expected if "2024-02-28" <= r["period_start"] <= "2024-02-29"
    )
    assert len(seed) == 2 * 20
    assert parsed(await export(client, view="measurements", definition_key="other")) == []


async def test_measurements_export_is_scoped(client: AsyncClient, jwt_client: AsyncClient) -> None:
    ids = await hand_worked_team(client)

    async def users(headers: dict[str, str], **params: Any) -> list[str]:
        rows = parsed(await export(jwt_client, headers, view="measurements", **params))
        return sorted({r["subject_id"] for r in rows})

    assert await users(bearer("ann", "member")) == ["ann"]
    assert await users(bearer("ann", "member"), user_id="bob") == []
    assert await users(bearer("m1", "manager", teams=["t1"])) == ["ann", "bob", "cid", "dee"]
    assert await users(bearer("m2", "manager", teams=["t2"])) == ["eve"]
    assert await users(bearer("boss", "admin", tenant="acme")) == []
    assert await users(bearer("boss", "admin", tenant="acme"), assignment_id=ids["ann_calls"]) == []
    # An empty export is still a CSV with its header row.
    empty = await export(jwt_client, bearer("boss", "admin", tenant="acme"), view="measurements")
    assert (
        empty.text.startswith("id,assignment_id,definition_key,") and empty.text.count("\r\n") == 1
    )


async def test_dates_outside_the_days_any_view_takes_are_refused(client: AsyncClient) -> None:
    # As listMeasurements: 1900-01-01 to 2999-12-31, a 422 naming the parameter.
    for name, day in (("period_from", "0001-01-01"), ("end", "9999-12-31")):
        response = await client.get(EXPORT, params={"view": "measurements", name: day})
        assert response.status_code == 422, response.text
        assert name in response.text
