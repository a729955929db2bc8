"""GET /metrics/export.csv: raw measurements streamed in id order, and every metrics view's
main table; CSV injection defused; bad parameters answered before any CSV is sent."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import define, manual_kpi, record
from tests.support.auth import bearer
from tests.support.metrics import METRICS, hand_worked_team, held, ok
from tests.support.problems import assert_problem
from tests.support.routes import app_routes

EXPORT = "/api/kpis/metrics/export.csv"
FEB = "2026-02-10"
FIRST_DAY = date(2023, 1, 1)
DAYS = 1000
INJECTION = '=HYPERLINK("http://evil.example/","click")'


async def export(
    client: AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> Response:
    return await client.get(
        EXPORT, headers=headers, params={k: v for k, v in params.items() if v is not None}
    )


def parsed(response: Response) -> list[dict[str, str]]:
    """The CSV of a 200 answer, as rows keyed by the header."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="kpi-') and disposition.endswith('.csv"')
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


# --- raw measurements --------------------------------------------------------------------


async def twenty_thousand(client: AsyncClient, db: Database) -> list[dict[str, Any]]:
    """20 users x 1000 days of a daily KPI, inserted by one statement; the rows expected
    back, computed here from the same formulas."""
    daily = await define(client, key="calls", aggregation_period="daily")
    users = [f"u{i:02d}" for i in range(19)] + ["+evil"]
    created = await client.post(
        "/api/kpis/assignments/bulk",
        json={
            "items": [
                {
                    "definition_id": daily["id"],
                    "subject_type": "user",
                    "subject_id": user,
                    "team_id": "t1" if i % 2 else "t2",
                    "target_value": 10,
                    "start_date": FIRST_DAY.isoformat(),
                }
                for i, user in enumerate(users)
            ]
        },
    )
    assert created.status_code == 201, created.text
    held_by = [(a["id"], a["subject_id"], a["team_id"]) for a in created.json()["items"]]
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


# --- metrics views -----------------------------------------------------------------------


async def test_team_view_export_hand_worked(client: AsyncClient) -> None:
    await hand_worked_team(client)
    rows = parsed(await export(client, view="team", team_id="t1", date=FEB))
    # One row per member x KPI cell, members by rank (see the team view's example).
    assert [
        (r["user_id"], r["rank"], r["definition_key"], r["value"], r["score"]) for r in rows
    ] == [
        ("cid", "1", "calls", "20", "150"),
        ("ann", "2", "calls", "12", "120"),
        ("ann", "2", "handle_time", "1.6", "125"),
        ("ann", "2", "quality", "81", "90"),
        ("bob", "2", "calls", "11.375", "113.75"),
        ("dee", "", "calls", "", ""),
    ]
    assert {(r["team_id"], r["period_start"], r["period_end"], r["team_size"]) for r in rows} == {
        ("t1", "2026-02-01", "2026-02-28", "4")
    }
    assert [r["overall_score"] for r in rows][:2] == ["150", "113.75"]


async def test_standing_exports_keep_their_access_rules(
    client: AsyncClient, jwt_client: AsyncClient
) -> None:
    await hand_worked_team(client)
    member = bearer("ann", "member")
    card = parsed(await export(jwt_client, member, view="scorecard", date=FEB))
    assert [r["definition_key"] for r in card] == ["calls", "handle_time", "quality"]
    assert {
        (r["user_id"], r["team_rank"], r["team_team_size"], r["overall_score"]) for r in card
    } == {("ann", "2", "4", "113.75")}
    board = parsed(
        await export(jwt_client, member, view="leaderboard", definition_key="calls", date=FEB)
    )
    assert [(r["user_id"], r["population"]) for r in board] == [("ann", "5")]
    for params in ({"view": "scorecard", "user_id": "bob"}, {"view": "team", "team_id": "t1"}):
        response = await export(jwt_client, member, **params)
        assert_problem(response, 404, params)
    acme = parsed(
        await export(
            jwt_client, bearer("boss", "admin", tenant="acme"), view="team", team_id="t1", date=FEB
        )
    )
    assert acme == []


def same(cell: str, value: Any) -> bool:
    """Whether a CSV cell says what a JSON value says."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, int | float):
        return Decimal(cell) == Decimal(str(value))
    if isinstance(value, list):
        return cell == ";".join(str(v) for v in value)
    return cell == value


def flat(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object's scalar fields, nested objects' with a prefix; lists of objects out."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}_"))
        elif not (isinstance(value, list) and value and isinstance(value[0], dict)):
            out[prefix + key] = value
    return out


async def every_view_data(client: AsyncClient) -> None:
    """Something for each view to show: the hand-worked team, an organisation KPI, events."""
    await hand_worked_team(client)
    mrr = await manual_kpi(client, "mrr", unit="currency", scope="organization")
    org = await client.post(
        "/api/kpis/assignments",
        json={
            "definition_id": mrr["id"],
            "subject_type": "organization",
            "target_value": 1000,
            "start_date": "2025-01-01",
        },
    )
    assert org.status_code == 201, org.text
    await record(client, org.json()["id"], "2026-01-01", 900)
    await define(
        client,
        key="calls_made",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    events = [
        {
            "id": str(uuid.UUID(int=i + 1)),
            "user_id": user,
            "team_id": "t1",
            "type": kind,
            "occurred_at": f"2026-01-{day:02d}T10:00:00Z",
            "properties": {"source": source},
        }
        for i, (user, kind, day, source) in enumerate(
            [
                ("ann", "signup", 2, "web"),
                ("bob", "signup", 3, "=cmd"),
                ("ann", "call", 5, "web"),
                ("bob", "call", 20, "referral"),
                ("ann", "call", 21, "web"),
            ]
        )
    ]
    stored = await client.post("/api/kpis/events", json={"events": events})
    assert stored.status_code == 200 and stored.json()["accepted"] == 5, stored.text


# Valid parameters for each view, and the list its CSV rows come from.
EVERY_VIEW: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "scorecard": ({"user_id": "ann", "date": FEB}, ("kpis",)),
    "team": ({"team_id": "t1", "date": FEB}, ("members", "cells")),
    "leaderboard": ({"definition_key": "calls", "date": FEB}, ("items",)),
    "timeseries": (
        {
            "definition_key": "calls",
            "subject_id": "ann",
            "start": "2026-01-01",
            "end": "2026-03-31",
        },
        ("points",),
    ),
    "forecast": ({"definition_key": "calls", "subject_id": "ann"}, ("projections",)),
    "summary": ({"period_kind": "monthly", "start": "2026-01-01", "end": "2026-02-28"}, ("kpis",)),
    "funnel": (
        {"start": "2026-01-01", "end": "2026-01-31", "stages": ["event:signup", "event:call"]},
        ("stages",),
    ),
    "breakdown": (
        {
            "definition_key": "calls_made",
            "dimension": "source",
            "start": "2026-01-01",
            "end": "2026-01-31",
        },
        ("rows",),
    ),
    "cohorts": ({"months": 2, "last_month": "2026-02-01"}, ("cohorts",)),
}


async def test_every_view_exports_its_main_table(client: AsyncClient) -> None:
    await every_view_data(client)
    views = {path.removeprefix(METRICS + "/") for _, path in app_routes(METRICS)}
    assert views - {"export.csv"} == set(EVERY_VIEW), "every view is exported"
    nonempty = 0
    for view, (params, rows_of) in EVERY_VIEW.items():
        shown = await ok(client, view, **params)
        level: list[tuple[dict[str, Any], dict[str, Any]]] = [({}, shown)]
        for name in rows_of:
            level = [
                ({**context, **flat(parent)}, child)
                for context, parent in level
                for child in parent[name]
            ]
        items = [{**context, **flat(obj)} for context, obj in level]
        rows = parsed(await export(client, view=view, **params))
        assert len(rows) == len(items), view
        for row, item in zip(rows, items, strict=True):
            for key, value in item.items():
                if value == [] and key not in row:
                    continue  # an empty list of objects (JSON cannot tell it from scalars)
                if value is None and key not in row:  # a null object: its columns empty
                    nested = [c for c in row if c.startswith(f"{key}_")]
                    assert nested and all(row[c] == "" for c in nested), (view, key)
                    continue
                expected = value
                if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
                    expected = "'" + value
                assert same(row[key], expected), (view, key, row[key], value)
        nonempty += bool(rows)
    assert nonempty >= 7


async def test_bad_requests_are_problems_not_csv(client: AsyncClient) -> None:
    await hand_worked_team(client)
    for params, status in (
        ({"view": "nope"}, 422),
        ({"view": "Scorecard"}, 422),
        ({"view": "scorecard", "period_kind": "hourly"}, 422),
        ({"view": "scorecard", "bogus": "1"}, 422),
        ({"view": "team"}, 422),
        ({"view": "leaderboard", "definition_key": "calls", "limit": "0"}, 422),
        ({"view": "leaderboard", "definition_key": "missing"}, 404),
        ({"view": "measurements", "period_from": "2026-02-01", "period_to": "2026-01-01"}, 422),
        ({"view": "measurements", "user_id": "x" * 65}, 422),
        ({"view": "measurements", "limit": "10"}, 422),
        ({"start": "2026-01-01", "period_from": "2026-01-01"}, 422),
        ({"start": "2026-01-02", "end": "2026-01-01"}, 422),
    ):
        response = await export(client, **params)
        assert_problem(response, status, params)
    unknown = (await export(client, view="nope")).json()
    assert unknown["errors"][0]["loc"] == ["query", "view"]
    assert "measurements" in unknown["detail"] and "scorecard" in unknown["detail"]
    period = (await export(client, view="scorecard", period_kind="hourly")).json()
    assert period["errors"][0]["loc"] == ["query", "period_kind"]
    # The view's own parameter names, refusals located as the view locates them.
    for params, named in (
        ({"key": "calls", "start": "2026-01-01"}, ["definition_key", "key"]),
        ({"definition_key": "calls", "from": "2026-01-01"}, ["start", "from"]),
        ({"definition_key": "calls", "start": "2026-02-01", "end": "2026-01-31"}, ["end"]),
    ):
        refused = await export(client, view="timeseries", subject_id="ann", **params)
        assert_problem(refused, 422, params)
        assert [e["loc"] for e in refused.json()["errors"]] == [
            ["query", name] for name in named
        ], refused.text


async def test_repeated_parameters(client: AsyncClient) -> None:
    await hand_worked_team(client)
    # A repeated single-valued parameter: the last one counts, as FastAPI reads it.
    response = await client.get(
        EXPORT,
        params=[("view", "scorecard"), ("user_id", "bob"), ("user_id", "ann"), ("date", FEB)],
    )
    assert {r["user_id"] for r in parsed(response)} == {"ann"}
    await held(client, await manual_kpi(client, "extra"), "ann", 1)
    assert len(parsed(await export(client, view="scorecard", user_id="ann", date=FEB))) == 4
