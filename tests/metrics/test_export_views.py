"""GET /metrics/export.csv of the metrics views: each view's main table as its JSON shows it,
the views' access rules kept, bad and repeated parameters refused as problems."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, manual_kpi, record
from tests.support.app import today
from tests.support.auth import bearer
from tests.support.export import EXPORT, export, parsed
from tests.support.metrics import FEB, METRICS, hand_worked_team, held, ok
from tests.support.packs import install_agents, lead, source_table
from tests.support.problems import assert_problem
from tests.support.routes import app_routes


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
    if isinstance(value, dict):  # a free-form object (an activity's metadata) as JSON
        return bool(json.loads(cell) == value)
    if isinstance(value, str) and value.endswith("Z"):  # an instant: JSON's Z, CSV's +00:00
        return datetime.fromisoformat(cell) == datetime.fromisoformat(value)
    return bool(cell == value)


def flat(item: dict[str, Any], prefix: str = "", columns: Collection[str] = ()) -> dict[str, Any]:
    """A JSON object's scalar fields, nested objects' with a prefix (but those the CSV has a
    column of: free-form objects); lists of objects out."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict) and prefix + key not in columns:
            out.update(flat(value, f"{prefix}{key}_", columns))
        elif not (isinstance(value, list) and value and isinstance(value[0], dict)):
            out[prefix + key] = value
    return out


async def every_view_data(client: AsyncClient, db: Database) -> None:
    """Something for each view to show: the hand-worked team, an organisation KPI, events,
    and the agent pack with leads."""
    await hand_worked_team(client)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await source_table(db, "leads", [lead("ann", yesterday, disposition="converted")])
    await install_agents(client, {"ann": "t1", "bob": "t1"}, today() - timedelta(days=60))
    mrr = await manual_kpi(client, "mrr", unit="currency", scope="organization")
    org = await assign(
        client, mrr["id"], None, 1000, subject_type="organization", start_date="2025-01-01"
    )
    await record(client, org["id"], "2026-01-01", 900)
    await define(
        client,
        key="calls_made",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    events = [
        event(
            kind,
            f"2026-01-{day:02d}T10:00:00Z",
            user,
            team_id="t1",
            properties={"source": source},
            id=uuid.UUID(int=i + 1),
        )
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
    await ingest(client, events)


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
    "agent": ({"user_id": "ann"}, ()),
    "activities": ({"user_id": "ann"}, ("activities",)),
}


async def test_every_view_exports_its_main_table(client: AsyncClient, db: Database) -> None:
    await every_view_data(client, db)
    views = {path.removeprefix(METRICS + "/") for _, path in app_routes(METRICS)}
    assert views - {"export.csv"} == set(EVERY_VIEW), "every view is exported"
    nonempty = 0
    for view, (params, rows_of) in EVERY_VIEW.items():
        shown = await ok(client, view, **params)
        rows = parsed(await export(client, view=view, **params))
        columns = set(rows[0]) if rows else set()
        level: list[tuple[dict[str, Any], dict[str, Any]]] = [({}, shown)]
        for name in rows_of:
            level = [
                ({**context, **flat(parent, columns=columns)}, child)
                for context, parent in level
                for child in parent[name]
            ]
        items = [{**context, **flat(obj, columns=columns)} for context, obj in level]
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
    bad: list[tuple[dict[str, Any], int]] = [
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
    ]
    for params, status in bad:
        response = await export(client, **params)
        assert_problem(response, status, params)
    unknown = (await export(client, view="nope")).json()
    assert unknown["errors"][0]["loc"] == ["query", "view"]
    assert "measurements" in unknown["detail"] and "scorecard" in unknown["detail"]
    period = (await export(client, view="scorecard", period_kind="hourly")).json()
    assert period["errors"][0]["loc"] == ["query", "period_kind"]
    # The view's own parameter names, refusals located as the view locates them.
    renamed: list[tuple[dict[str, Any], list[str]]] = [
        ({"key": "calls", "start": "2026-01-01"}, ["definition_key", "key"]),
        ({"definition_key": "calls", "from": "2026-01-01"}, ["start", "from"]),
        ({"definition_key": "calls", "start": "2026-02-01", "end": "2026-01-31"}, ["end"]),
    ]
    for params, named in renamed:
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
