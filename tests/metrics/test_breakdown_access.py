"""GET /metrics/breakdown: who may read which breakdown, and the problems bad input gets."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, event, ingest
from tests.support.auth import bearer
from tests.support.breakdown import URL
from tests.support.problems import assert_problem


async def test_who_may_read_which_breakdown(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    leads = {"calculation_type": "event", "config": {"event_type": "lead", "aggregate": "count"}}
    d = await define(c, "leads", headers=admin, **leads)
    for user, team in (("42", "t1"), ("43", "t2")):
        await assign(c, d["id"], user, 1, headers=admin, team_id=team, start_date="2026-01-05")
    events = [
        event("lead", "2026-01-06T10:00:00Z", u, team_id=t, properties={"lead_source": "web"})
        for u, t in (("42", "t1"), ("43", "t2"), ("43", "t2"))
    ]
    await ingest(c, events, headers=admin)

    async def ask(
        headers: dict[str, str], subject_type: str, subject_id: str | None = None
    ) -> tuple[int, Any]:
        params = {
            "definition_key": "leads",
            "dimension": "lead_source",
            "subject_type": subject_type,
            "start": "2026-01-05",
            "end": "2026-01-11",
        }
        if subject_id:
            params["subject_id"] = subject_id
        response = await c.get(URL, params=params, headers=headers)
        return response.status_code, response.json()

    member, manager = bearer("42", "member"), bearer("m1", "manager", teams=["t1"])
    code, body = await ask(member, "user", "42")
    assert code == 200 and [(r["dimension_value"], r["count"]) for r in body["rows"]] == [
        ("web", 1)
    ]
    assert (await ask(member, "user", "43"))[0] == 404
    assert (await ask(member, "team", "t1"))[0] == 404
    assert (await ask(member, "organization"))[0] == 403
    assert (await ask(manager, "team", "t1"))[1]["rows"][0]["count"] == 1
    assert (await ask(manager, "team", "t2"))[0] == 404
    assert (await ask(manager, "user", "43"))[0] == 404
    assert (await ask(manager, "organization"))[1]["rows"][0]["count"] == 3
    # Another tenant does not know our KPI, and its own of that key sees only its events.
    acme = bearer("boss", "admin", tenant="acme")
    assert (await ask(acme, "organization"))[0] == 422
    await define(c, "leads", headers=acme, **leads)
    assert (await ask(acme, "organization"))[1]["rows"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"dimension": "lead_source", "definition_key": "no_such_kpi"},
        {"dimension": "lead_source", "definition_key": "typed_by_hand"},
        {"dimension": "lead-source", "definition_key": "leads"},
        {"dimension": "a" * 65, "definition_key": "leads"},
        {"dimension": "lead_source", "definition_key": "leads", "convert_property": "revenue"},
        {"dimension": "lead_source", "definition_key": "leads", "convert_type": "Bad Type"},
        {"dimension": "lead_source", "definition_key": "leads", "limit": 0},
        {"dimension": "lead_source", "definition_key": "leads", "limit": 501},
        {"dimension": "lead_source", "definition_key": "leads", "end": "2026-01-01"},
        {"dimension": "lead_source", "definition_key": "leads", "subject_type": "team"},
        {"dimension": "lead_source", "definition_key": "leads", "subject_type": "planet"},
        {"dimension": "lead_source", "definition_key": "leads", "group": "x"},
    ],
)
async def test_bad_input_is_a_422_problem(client: AsyncClient, params: dict[str, Any]) -> None:
    await define(
        client,
        key="leads",
        calculation_type="event",
        config={"event_type": "lead", "aggregate": "count"},
    )
    await define(client, key="typed_by_hand")
    response = await client.get(URL, params={"start": "2026-03-01", "end": "2026-03-31", **params})
    assert_problem(response, 422)
