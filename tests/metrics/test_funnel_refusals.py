"""GET /metrics/funnel: who may read which funnel, and the problems bad input gets, each
naming what is at fault."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, manual_kpi, record
from tests.support.auth import bearer
from tests.support.funnel import URL
from tests.support.metrics import held
from tests.support.problems import assert_problem


async def _people(c: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    d = await define(c, "calls", headers=admin)
    for user, team in (("42", "t1"), ("43", "t2")):
        await assign(c, d["id"], user, 1, headers=admin, team_id=team, start_date="2026-01-05")
    events = [
        event("call", "2026-01-06T10:00:00Z", u, team_id=t) for u, t in (("42", "t1"), ("43", "t2"))
    ]
    await ingest(c, events, headers=admin)


async def test_who_may_read_which_funnel(jwt_client: AsyncClient) -> None:
    c = jwt_client
    await _people(c)
    member, manager = bearer("42", "member"), bearer("m1", "manager", teams=["t1"])
    acme = bearer("boss", "admin", tenant="acme")

    async def status(
        headers: dict[str, str], subject_type: str, subject_id: str | None = None
    ) -> tuple[int, Any]:
        params = {
            "stages": ["event:call"],
            "subject_type": subject_type,
            "start": "2026-01-05",
            "end": "2026-01-11",
        }
        if subject_id:
            params["subject_id"] = subject_id
        response = await c.get(URL, params=params, headers=headers)
        return response.status_code, response.json()

    assert (await status(member, "user", "42"))[0] == 200
    assert (await status(member, "user", "42"))[1]["stages"][0]["count"] == 1
    assert (await status(member, "user", "43"))[0] == 404
    assert (await status(member, "team", "t1"))[0] == 404
    assert (await status(member, "organization"))[0] == 403
    assert (await status(manager, "user", "42"))[0] == 200
    assert (await status(manager, "user", "43"))[0] == 404
    assert (await status(manager, "team", "t1"))[1]["stages"][0]["count"] == 1
    assert (await status(manager, "team", "t2"))[0] == 404
    assert (await status(manager, "organization"))[1]["stages"][0]["count"] == 2
    # Another tenant's admin sees its own (empty) tenant, nothing of ours.
    for subject_type, subject_id in (("organization", None), ("user", "42"), ("team", "t1")):
        code, body = await status(acme, subject_type, subject_id)
        assert code == 200 and body["stages"][0]["count"] == 0, body


@pytest.mark.parametrize(
    "params",
    [
        {"stages": ["event:call"], "start": "2026-01-10", "end": "2026-01-09"},
        {"stages": ["event:call"], "start": "2020-01-01", "end": "2026-01-09"},
        {"stages": [], "start": "2026-01-01", "end": "2026-01-09"},
        {"stages": ["event:call", "event:call"], "start": "2026-01-01", "end": "2026-01-09"},
        {"stages": ["call"], "start": "2026-01-01", "end": "2026-01-09"},
        {"stages": ["kpi:Bad Key"], "start": "2026-01-01", "end": "2026-01-09"},
        {"stages": [f"event:e{i}" for i in range(21)], "start": "2026-01-01", "end": "2026-01-09"},
        {
            "stages": ["event:call"],
            "start": "2026-01-01",
            "end": "2026-01-09",
            "subject_type": "user",
        },
        {
            "stages": ["event:call"],
            "start": "2026-01-01",
            "end": "2026-01-09",
            "subject_id": "other-tenant",
        },
        {"stages": ["event:call"], "start": "2026-01-01", "end": "2026-01-09", "count": "sessions"},
        {"stages": ["event:call"], "start": "2026-01-01", "end": "2026-01-09", "colour": "red"},
        {"stages": ["kpi:no_such_kpi"], "start": "2026-01-01", "end": "2026-01-09"},
        {
            "stages": ["kpi:per_team"],
            "start": "2026-01-01",
            "end": "2026-01-09",
            "subject_type": "user",
            "subject_id": "42",
        },
        {
            "stages": ["kpi:per_org"],
            "start": "2026-01-01",
            "end": "2026-01-09",
            "subject_type": "team",
            "subject_id": "t1",
        },
        {
            "stages": ["kpi:latest_only"],
            "start": "2026-01-01",
            "end": "2026-01-09",
            "subject_type": "team",
            "subject_id": "t1",
        },
    ],
)
async def test_bad_input_is_a_422_problem(client: AsyncClient, params: dict[str, Any]) -> None:
    await define(client, key="per_team", scope="team")
    await define(client, key="per_org", scope="organization")
    await define(client, key="latest_only", unit="none")  # rolls up by `last`
    response = await client.get(URL, params=params)
    assert_problem(response, 422)


async def test_refusals_name_the_parameter_at_fault(client: AsyncClient) -> None:
    """Range and subject refusals point at `start`, `end` or `subject_id`, not the query."""
    one = {"stages": ["event:call"], "start": "2026-01-01", "end": "2026-01-09"}
    for params, loc in (
        ({**one, "end": "2025-12-31"}, ["end"]),
        ({**one, "start": "2020-01-01"}, ["end"]),  # more than five years of days
        ({**one, "subject_type": "user"}, ["subject_id"]),
        ({**one, "subject_type": "team"}, ["subject_id"]),
        ({"stages": ["event:call"], "end": "2026-01-09"}, ["start"]),
        ({**one, "start": "1899-12-31"}, ["start"]),
        ({**one, "end": "3000-01-01"}, ["end"]),
        ({**one, "start": "9999-12-30", "end": "9999-12-31"}, ["start", "end"]),
    ):
        response = await client.get(URL, params=params)
        assert response.status_code == 422, (params, response.text)
        assert [e["loc"] for e in response.json()["errors"]] == [["query", name] for name in loc], (
            params
        )
    edge = await client.get(URL, params={**one, "start": "2999-12-31", "end": "2999-12-31"})
    assert edge.status_code == 200, edge.text


async def test_a_kpi_stage_without_a_count_says_why(client: AsyncClient, db: Database) -> None:
    calls = await manual_kpi(client, "calls")  # monthly
    visits = await manual_kpi(client, "visits", aggregation_period="weekly")
    sales = await manual_kpi(client, "sales", aggregation_period="quarterly")
    await record(client, await held(client, calls, "ann", 10), "2026-10-01", 12)
    weekly = await held(client, visits, "ann", 5)
    await record(client, weekly, "2026-10-05", 3)  # Mon 5 - Sun 11 October
    await record(client, weekly, "2026-10-12", 4)  # Mon 12 - Sun 18 October
    await held(client, sales, "ann", 100)
    stages = ["kpi:visits", "kpi:calls", "kpi:sales"]

    async def funnel(start: str, end: str) -> list[tuple[Any, Any]]:
        response = await client.get(
            URL,
            params={
                "stages": stages,
                "subject_type": "user",
                "subject_id": "ann",
                "start": start,
                "end": end,
            },
        )
        assert response.status_code == 200, response.text
        return [(s["count"], s["reason"]) for s in response.json()["stages"]]

    # 3 to 20 October: two whole weeks (5-11 and 12-18: 3 + 4 visits), no whole month or
    # quarter.
    assert await funnel("2026-10-03", "2026-10-20") == [
        (7, None),
        (
            None,
            "KPI 'calls' is computed per month; the range 2026-10-03..2026-10-20 does not "
            "cover a whole month.",
        ),
        (
            None,
            "KPI 'sales' is computed per quarter; the range 2026-10-03..2026-10-20 does "
            "not cover a whole quarter.",
        ),
    ]
    # 1 October to 31 December: every period is whole; sales has no value in Q4.
    assert await funnel("2026-10-01", "2026-12-31") == [
        (7, None),
        (12, None),
        (
            None,
            "KPI 'sales' has no value for user 'ann' in its periods inside the range "
            "(2026-10-01..2026-12-31).",
        ),
    ]
    # 6 to 9 October: not even a whole week.
    assert (await funnel("2026-10-06", "2026-10-09"))[0] == (
        None,
        "KPI 'visits' is computed per week (Monday to Sunday); the range "
        "2026-10-06..2026-10-09 does not cover a whole week.",
    )
