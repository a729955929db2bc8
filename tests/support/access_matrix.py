"""The access matrix: every route the app serves, and what each kind of caller gets from it.

One row per (method, path). Its `expect` names the outcome for six callers, in the order of
`CALLERS` (access_rules.py; see the header above the table); a caller without credentials is
always refused with 401, except on the public operations routes (`PUBLIC`).
`test_route_walk.py` sends every row as every caller against the real app and data
(`default_data`), and fails when a route is served that the table lacks, or named here and
not served.

The rules (DESIGN.md 8): an admin does everything in their tenant; a manager reads, assigns
and records values for the subjects of the teams they manage; a member reads their own and
manages their own goals. A row that is another tenant's or out of the caller's sight is 404
(or, named in a body or a query parameter, unknown: 422); one in sight with a forbidden
action is 403; a list or view shows only what the caller may see (`own`).
"""

from __future__ import annotations

from typing import Any

from tests.support.access_rules import (
    PUBLIC,
    Route,
    activity_rows,
    alert_rows,
    assignment_rows,
    csv_rows,
    event_rows,
    exported_rows,
    goal_rows,
    leaderboard_rows,
    legacy_definition_rows,
    legacy_kpi_rows,
    measurement_rows,
    tenant_rows,
)
from tests.support.api import event


def _month(n: int) -> str:
    """A month of its own per case (goals may not repeat a period)."""
    return f"{2030 + n // 12}-{n % 12 + 1:02d}-01"


def _definition(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": f"kpi_{i['n']}",
        "name": "New",
        "unit": "count",
        "target_type": "higher_better",
        "aggregation_period": "weekly",
        "calculation_type": "manual",
    }


def _assignment(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "definition_id": i["definition_id"],
        "subject_type": "user",
        "subject_id": i["new_user"],
        "team_id": "t1",
        "target_value": 5,
        "start_date": "2026-01-05",
    }


def _goal(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "definition_key": "calls",
        "user_id": "42",
        "period_kind": "monthly",
        "period_start": _month(i["n"]),
        "target_value": 40,
    }


def _goals(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": "42",
        "period": "monthly",
        "period_start": _month(i["n"]),
        "goals": {"calls": 40},
    }


def _rule(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "definition_key": "calls",
        "name": f"Rule {i['n']}",
        "channel_ids": [i["channel_id"]],
        "condition": {"kind": "achievement_below", "threshold": 50},
    }


def _channel(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"channel-{i['n']}",
        "url": "http://127.0.0.1:9/hook",
        "secret_env": "KPI_WEBHOOK_SECRET_NOT_SET_IN_TESTS",
    }


def _event(i: dict[str, Any]) -> dict[str, Any]:
    call = event(
        "call", "2026-01-07T10:00:00Z", team_id="t1", id=f"00000000-0000-4000-8000-{i['n']:012d}"
    )
    return {"events": [call]}


WEEK = "2026-01-05"
MONTH = {"start": "2026-01-01", "end": "2026-01-31"}
ALL = {"limit": 500}
A, M = "/api/kpis", "/api/kpis/metrics"

# Columns: admin, manager (of t1, 42's team), other manager (of t2), owner (42), other
# member (43), other tenant's admin. Without credentials: 401, unless the row is PUBLIC.
ROUTES: list[Route] = [
    # --- definitions: read by everyone of the tenant, changed by its admins ---------------
    Route("POST", f"{A}/definitions", "ok 403 403 403 403 ok", _definition),
    Route("GET", f"{A}/definitions", "own own own own own own", params=ALL, rows=tenant_rows),
    Route("GET", f"{A}/definitions/by-key/{{key}}", "ok ok ok ok ok 404"),
    Route("GET", f"{A}/definitions/{{definition_id}}", "ok ok ok ok ok 404"),
    Route(
        "PATCH", f"{A}/definitions/{{definition_id}}", "ok 403 403 403 403 404", {"name": "Renamed"}
    ),
    Route(
        "DELETE", f"{A}/definitions/{{definition_id}}", "ok 403 403 403 403 404", fresh="definition"
    ),
    # --- assignments: admins, and managers within their teams ----------------------------
    Route("POST", f"{A}/assignments", "ok ok 403 403 403 422", _assignment),
    Route(
        "POST",
        f"{A}/assignments/bulk",
        "ok ok 403 403 403 422",
        lambda i: {"items": [_assignment(i)]},
    ),
    Route("GET", f"{A}/assignments", "own own own own own own", params=ALL, rows=assignment_rows),
    Route("GET", f"{A}/assignments/{{assignment_id}}", "ok ok 404 ok 404 404"),
    Route("PATCH", f"{A}/assignments/{{assignment_id}}", "ok ok 404 403 404 404", {"weight": 50}),
    Route(
        "POST",
        f"{A}/assignments/{{assignment_id}}/end",
        "ok ok 404 403 404 404",
        {"end_date": "2026-12-31"},
    ),
    # --- measurements and runs -----------------------------------------------------------
    Route("GET", f"{A}/measurements", "own own own own own own", params=ALL, rows=measurement_rows),
    Route("GET", f"{A}/measurements/{{measurement_id}}", "ok ok 404 ok 404 404"),
    Route("GET", f"{A}/measurements/{{measurement_id}}/revisions", "ok ok 404 ok 404 404"),
    Route(
        "PUT",
        f"{A}/assignments/{{assignment_id}}/measurements/{{period_start}}",
        "ok ok 404 403 404 404",
        {"value": 12},
    ),
    # Seed 004's value history and quick update: read and recorded as the two rows above.
    Route("GET", f"{A}/assignments/{{assignment_id}}/history", "ok ok 404 ok 404 404"),
    Route(
        "POST",
        f"{A}/assignments/{{assignment_id}}/update-value",
        "ok ok 404 403 404 404",
        {"current_value": 12},
    ),
    Route("POST", f"{A}/measurements/recalculate", "ok 403 403 403 403 ok", {"period_start": WEEK}),
    Route(
        "POST",
        f"{A}/periods/close",
        "ok 403 403 403 403 ok",
        {"period_start": "2025-06-02", "period_kind": "weekly"},
    ),
    # Reopens what the row above closed (each tenant its own).
    Route(
        "POST",
        f"{A}/periods/reopen",
        "ok 403 403 403 403 ok",
        {"period_start": "2025-06-02", "period_kind": "weekly", "reason": "late invoice"},
    ),
    Route("GET", f"{A}/runs", "own own own 403 403 own", params=ALL, rows=tenant_rows),
    Route("GET", f"{A}/runs/{{run_id}}", "ok ok ok 403 403 404"),
    # --- goals: a member's own, a manager's team's ---------------------------------------
    Route("POST", f"{A}/goals", "ok ok 404 ok 404 422", _goal),
    Route("POST", f"{A}/goals/bulk", "ok ok 404 ok 404 422", _goals),
    Route("PUT", f"{A}/goals/bulk", "ok ok 404 ok 404 422", _goals),
    Route("GET", f"{A}/goals", "own own own own own own", params=ALL, rows=goal_rows),
    Route("GET", f"{A}/goals/{{goal_id}}", "ok ok 404 ok 404 404"),
    Route("PATCH", f"{A}/goals/{{goal_id}}", "ok ok 404 ok 404 404", {"target_value": 41}),
    Route("DELETE", f"{A}/goals/{{goal_id}}", "ok ok 404 ok 404 404", fresh="goal"),
    # --- events: sent by admins (the ingesting service), read as measurements are --------
    Route("POST", f"{A}/events", "ok 403 403 403 403 ok", _event),
    Route("GET", f"{A}/events", "own own own own own own", params=ALL, rows=event_rows),
    # --- metrics views -------------------------------------------------------------------
    Route(
        "GET",
        f"{M}/scorecard",
        "ok ok 404 ok 404 own",
        params={"user_id": "42", "period_kind": "weekly", "date": WEEK},
        shows=lambda r: any(k["value"] is not None for k in r.json()["kpis"]),
    ),
    Route(
        "GET",
        f"{M}/team",
        "ok ok 404 404 404 own",
        params={"team_id": "t1", "period_kind": "weekly", "date": WEEK},
        shows=lambda r: bool(r.json()["members"]),
    ),
    Route(
        "GET",
        f"{M}/leaderboard",
        "own own own own own 404",
        params={"definition_key": "calls", "date": WEEK},
        rows=leaderboard_rows,
        shows=lambda r: bool(r.json()["items"]),
    ),
    Route(
        "GET",
        f"{M}/summary",
        "ok ok ok 403 403 own",
        params={"period_kind": "weekly", "date": WEEK},
        shows=lambda r: (
            r.json()["overall"]["assignments"] > 0
            or any(k["value"] is not None for k in r.json()["kpis"])
        ),
    ),
    Route(
        "GET",
        f"{M}/funnel",
        "ok ok ok 403 403 422",
        params={
            "stages": ["event:conversion", "kpi:conversions"],
            "subject_type": "organization",
            **MONTH,
        },
        shows=lambda r: any(s["count"] for s in r.json()["stages"]),
    ),
    Route(
        "GET",
        f"{M}/breakdown",
        "ok ok ok 403 403 422",
        params={
            "definition_key": "conversions",
            "dimension": "lead_source",
            "subject_type": "organization",
            **MONTH,
        },
        shows=lambda r: bool(r.json()["rows"]),
    ),
    Route(
        "GET",
        f"{M}/cohorts",
        "ok ok ok 403 403 own",
        params={"months": 1, "last_month": "2026-01-15"},
        shows=lambda r: any(c["size"] for c in r.json()["cohorts"]),
    ),
    Route(
        "GET",
        f"{M}/timeseries",
        "ok ok 404 ok 404 404",
        params={"definition_key": "calls", "subject_id": "42", **MONTH},
        shows=lambda r: any(p["value"] is not None for p in r.json()["points"]),
    ),
    Route(
        "GET",
        f"{M}/forecast",
        "ok ok 404 ok 404 404",
        params={"definition_key": "calls", "subject_id": "42"},
        shows=lambda r: r.json()["outlook"]["target"] is not None,
    ),
    # Seed 003's agent view reads the agent pack, which the other tenant has not installed.
    Route(
        "GET",
        f"{M}/agent",
        "ok ok 404 ok 404 409",
        params={"user_id": "42"},
        shows=lambda r: r.json()["kpis"]["leads_handled"] > 0,
    ),
    Route(
        "GET",
        f"{M}/activities",
        "ok ok 404 ok 404 own",
        params={"user_id": "42"},
        rows=activity_rows,
        shows=lambda r: bool(r.json()["activities"]),
    ),
    Route(
        "GET",
        f"{M}/export.csv",
        "own own own own own own",
        params={"view": "measurements"},
        rows=exported_rows,
        shows=lambda r: bool(csv_rows(r)),
    ),
    # --- alerts: rules, channels and deliveries are the admins'; alerts are seen as
    # the measurements they judge are, and acknowledged by managers and admins -------------
    Route("POST", f"{A}/alerts/rules", "ok 403 403 403 403 422", _rule),
    Route("GET", f"{A}/alerts/rules", "own 403 403 403 403 own", params=ALL, rows=tenant_rows),
    Route("GET", f"{A}/alerts/rules/{{rule_id}}", "ok 403 403 403 403 404"),
    Route(
        "PATCH", f"{A}/alerts/rules/{{rule_id}}", "ok 403 403 403 403 404", {"name": "Renamed rule"}
    ),
    Route("DELETE", f"{A}/alerts/rules/{{rule_id}}", "ok 403 403 403 403 404", fresh="rule"),
    Route("POST", f"{A}/alerts/channels", "ok 403 403 403 403 ok", _channel),
    Route("GET", f"{A}/alerts/channels", "own 403 403 403 403 own", params=ALL, rows=tenant_rows),
    Route("GET", f"{A}/alerts/channels/{{channel_id}}", "ok 403 403 403 403 404"),
    Route(
        "PATCH",
        f"{A}/alerts/channels/{{channel_id}}",
        "ok 403 403 403 403 404",
        {"name": "renamed"},
    ),
    Route(
        "DELETE", f"{A}/alerts/channels/{{channel_id}}", "ok 403 403 403 403 404", fresh="channel"
    ),
    Route("GET", f"{A}/alerts/deliveries", "own 403 403 403 403 own", params=ALL, rows=tenant_rows),
    Route("POST", f"{A}/alerts/evaluate", "ok 403 403 403 403 ok", {}),
    Route("GET", f"{A}/alerts", "own own own own own own", params=ALL, rows=alert_rows),
    Route("GET", f"{A}/alerts/{{alert_id}}", "ok ok 404 ok 404 404"),
    Route(
        "POST", f"{A}/alerts/{{alert_id}}/acknowledge", "ok ok 404 403 404 404", {"note": "seen"}
    ),
    # --- packs: the admins' (each tenant installs in its own) -----------------------------
    Route("GET", f"{A}/packs", "ok 403 403 403 403 ok"),
    Route("GET", f"{A}/packs/{{name}}", "ok 403 403 403 403 ok", names={"name": "pack"}),
    Route(
        "POST",
        f"{A}/packs/{{name}}/install",
        "ok 403 403 403 403 ok",
        {"users": [{"user_id": "42", "team_id": "t1"}]},
        names={"name": "pack"},
    ),
    # --- audit ---------------------------------------------------------------------------
    Route("GET", f"{A}/audit", "own 403 403 403 403 own", params=ALL, rows=tenant_rows),
    # --- the seed's routes (errors as {"error": ...}) ------------------------------------
    Route("GET", "/kpis/definitions", "own own own own own own", rows=legacy_definition_rows),
    Route("GET", "/kpis/users/{user_id}", "own own own own own own", rows=legacy_kpi_rows),
    # No team can be named here: only admins assign through it.
    Route(
        "POST",
        "/kpis/users/{user_id}/kpis/assign",
        "ok 403 403 403 403 422",
        lambda i: {"kpi_definition_id": i["definition_id"], "target_value": 1},
        names={"user_id": "new_user"},
    ),
    Route(
        "POST",
        "/kpis/calculate/{user_kpi_id}",
        "ok 403 404 403 404 404",
        {"period_start": WEEK, "period_end": "2026-01-11"},
        names={"user_kpi_id": "event_assignment_id"},
    ),
    # --- operations and the API's own description: anyone, credentials or none -----------
    Route("GET", "/healthz", PUBLIC),
    Route("GET", "/readyz", PUBLIC),
    Route("GET", "/metrics", PUBLIC),
    Route("GET", "/openapi.json", PUBLIC),
    Route("GET", "/docs", PUBLIC),
    Route("GET", "/docs/oauth2-redirect", PUBLIC),
    Route("GET", "/redoc", PUBLIC),
]

# The tables the tests had before the matrix, derived from it.
# Every route with a path parameter, and the body another tenant's admin would send.
BY_ID: list[tuple[str, str, dict[str, Any] | None]] = [
    (r.method, r.path, r.body)
    for r in ROUTES
    if r.path.startswith(A) and "{" in r.path and not callable(r.body)
]
# Every list route of the API (not the views).
LISTS: list[str] = [
    r.path
    for r in ROUTES
    if r.rows is not None and r.path.startswith(A) and not r.path.startswith(M)
]
# Every metrics view.
VIEWS: list[str] = [r.path for r in ROUTES if r.path.startswith(M)]
