"""What a careless or hostile client sends to every mutation route: always a 4xx in the right
shape, and not one row of any kpi table changes (audit entries included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response

from kpi_service.core.database import Database
from tests.support.api import assign, define, record, wait_for_run
from tests.support.database import create_support_cases, snapshot
from tests.support.malformed_requests import (
    body_attempts,
    field_attempts,
    path_attempts,
    query_attempts,
)
from tests.support.mutation_routes import NO_BODY, Attempt, routes
from tests.support.routes import app_routes
from tests.support.rule_breaking_requests import rule_attempts


def all_attempts(ids: dict[str, int]) -> list[Attempt]:
    all_routes = routes(ids)
    attempts: list[Attempt] = []
    for name, route in all_routes.items():
        attempts += field_attempts(name, route)
        attempts += body_attempts(name, route)
    attempts += rule_attempts(ids, all_routes)
    attempts += path_attempts(all_routes)
    attempts += query_attempts()
    return attempts


async def send(client: AsyncClient, attempt: Attempt) -> Response:
    if attempt.body is NO_BODY and attempt.raw is None:
        return await client.request(attempt.method, attempt.url)
    content = attempt.raw if attempt.raw is not None else json.dumps(attempt.body).encode()
    headers = {"content-type": attempt.content_type} if attempt.content_type else {}
    return await client.request(attempt.method, attempt.url, content=content, headers=headers)


def improper(attempt: Attempt, response: Response) -> str | None:
    """Why this answer is not a proper refusal, or None."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}: {response.text[:300]}"
    try:
        payload = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    if attempt.url.startswith("/api/kpis"):
        if response.headers.get("content-type") != "application/problem+json":
            return f"content-type {response.headers.get('content-type')}"
        if payload.get("status") != response.status_code:
            return f"problem status {payload.get('status')} for {response.status_code}"
    elif not (isinstance(payload, dict) and isinstance(payload.get("error"), str)):
        return f"no 'error' in {response.text[:200]}"
    if "Traceback" in response.text or "sqlalchemy" in response.text.lower():
        return "internals in the answer"
    return None


@pytest.fixture
async def world(client: AsyncClient, db: Database) -> dict[str, int]:
    """A manual and a query KPI, one assignment of each, a recorded value, a run, a goal,
    and the source table the query KPI reads."""
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    await create_support_cases(
        db, [(42, "resolved", monday, monday + timedelta(hours=h)) for h in (1, 2, 3)]
    )

    async def made(method: str, url: str, body: dict[str, Any]) -> int:
        response = await client.request(method, url, json=body)
        assert response.status_code in (200, 201, 202), response.text
        made_id: int = response.json()["id"]
        if response.status_code == 202:  # a run: the attacks start once it has finished
            await wait_for_run(client, made_id)
        return made_id

    manual = (await define(client, "calls"))["id"]
    query = (
        await define(
            client,
            "resolved",
            calculation_type="query",
            config={"query_key": "cases_resolved_count"},
        )
    )["id"]
    assignment = (await assign(client, manual, "42", 3, start_date="2026-01-05"))["id"]
    query_assignment = (await assign(client, query, "42", 3, start_date="2026-01-05"))["id"]
    await record(client, assignment, "2026-01-05", 2)
    await made("POST", "/api/kpis/measurements/recalculate", {"period_start": "2026-01-05"})
    goal = await made(
        "POST",
        "/api/kpis/goals",
        {
            "definition_key": "calls",
            "user_id": "42",
            "period_kind": "monthly",
            "period_start": "2026-01-01",
            "target_value": 10,
        },
    )
    channel = await made(
        "POST",
        "/api/kpis/alerts/channels",
        {
            "name": "ops",
            "url": "https://hooks.example.com/ops",
            "secret_env": "KPI_WEBHOOK_SECRET_OPS",
        },
    )
    rule = await made(
        "POST",
        "/api/kpis/alerts/rules",
        {
            "definition_id": manual,
            "name": "Low",
            "condition": {"kind": "achievement_below", "threshold": 80},
        },
    )
    # 2 of 3 is 67%: evaluated now, the rule opens an alert for 42.
    evaluated = await client.post(
        "/api/kpis/alerts/evaluate", json={"rule_ids": [rule], "period_start": "2026-01-05"}
    )
    assert evaluated.status_code == 200 and evaluated.json()["opened"] == 1, evaluated.text
    alert = (await client.get("/api/kpis/alerts")).json()["items"][0]["id"]
    return {
        "manual": manual,
        "query": query,
        "assignment": assignment,
        "query_assignment": query_assignment,
        "goal": goal,
        "channel": channel,
        "rule": rule,
        "alert": alert,
    }


def test_every_mutation_route_is_attacked() -> None:
    attacked = {
        (route.method, route.path)
        for route in routes(
            {
                "manual": 1,
                "query": 2,
                "assignment": 3,
                "query_assignment": 4,
                "goal": 5,
                "channel": 6,
                "rule": 7,
                "alert": 8,
            }
        ).values()
    }
    attacked.add(("DELETE", "/api/kpis/definitions/{definition_id}"))
    attacked.add(("DELETE", "/api/kpis/goals/{goal_id}"))
    attacked.add(("DELETE", "/api/kpis/alerts/rules/{rule_id}"))
    attacked.add(("DELETE", "/api/kpis/alerts/channels/{channel_id}"))
    mutations = {(method, path) for method, path in app_routes() if method != "GET"}
    assert mutations - attacked == set(), "add these routes to routes()"


async def test_hostile_requests_are_refused_and_change_nothing(
    client: AsyncClient, db: Database, world: dict[str, int]
) -> None:
    attempts = all_attempts(world)
    assert len(attempts) > 700
    before = await snapshot(db)
    assert before["audit_entries"][0] == 10, (
        "2 definitions, 2 assignments, 1 value, 1 run, 1 goal, an alert channel, rule, evaluation"
    )
    failures: list[str] = []
    for attempt in attempts:
        response = await send(client, attempt)
        reason = improper(attempt, response)
        if (after := await snapshot(db)) != before:
            reason = f"answered {response.status_code}, yet it changed " + ", ".join(
                sorted(t for t in after if after[t] != before.get(t))
            )
            before = after  # so the next attempt is judged on its own
        if reason is not None:
            failures.append(f"{attempt}: {reason}")
    assert not failures, f"{len(failures)} of {len(attempts)}:\n" + "\n".join(failures)

    # The bodies the attempts started from are accepted: each refusal was the flaw's doing.
    for name, route in routes(world).items():
        response = await send(client, Attempt(name, "none", route.method, route.url(), route.valid))
        assert response.status_code in (200, 201, 202), (name, response.text)
        assert await snapshot(db) != before, f"{name} wrote nothing"
        before = await snapshot(db)
