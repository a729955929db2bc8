"""GET /metrics/timeseries: who may read which series, and the problems bad requests get."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, manual_kpi, record
from tests.support.auth import ADMIN, bearer
from tests.support.problems import assert_problem
from tests.support.timeseries import TS, series


async def test_bad_requests_are_clear_problems(client: AsyncClient, db: Database) -> None:
    await define(client, key="calls", aggregation_period="weekly")
    base = {"definition_key": "calls", "subject_id": "7", "start": "2025-01-01"}
    after_today = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    cases: list[tuple[dict[str, str], int, list[str] | None]] = [
        ({**base, "grain": "daily"}, 422, ["query", "grain"]),
        ({**base, "grain": "hourly"}, 422, ["query", "grain"]),
        ({**base, "end": "2024-12-31"}, 422, ["query", "end"]),
        ({**base, "start": after_today}, 422, ["query", "start"]),  # after the default end
        ({"definition_key": "calls", "subject_id": "7"}, 422, ["query", "start"]),
        ({**base, "start": "2025-02-30"}, 422, ["query", "start"]),
        ({**base, "start": "0001-01-01"}, 422, ["query", "start"]),
        ({**base, "end": "9999-12-31"}, 422, ["query", "end"]),
        ({**base, "start": "1900-01-01", "end": "1920-12-31"}, 200, None),
        ({**base, "start": "2025-01-01", "end": "2025-01-01"}, 200, None),
        (
            {"definition_key": "calls", "subject_type": "team", "start": "2025-01-01"},
            422,
            ["query", "subject_id"],
        ),
        (
            {
                "definition_key": "calls",
                "subject_type": "organization",
                "subject_id": "acme",
                "start": "2025-01-01",
            },
            422,
            ["query", "subject_id"],
        ),
        ({**base, "subject_type": "planet"}, 422, ["query", "subject_type"]),
        ({**base, "definition_key": "Calls; DROP"}, 422, ["query", "definition_key"]),
        ({"subject_id": "7", "start": "2025-01-01"}, 422, ["query", "definition_key"]),
        ({**base, "evil": "1"}, 422, ["query", "evil"]),
        ({**base, "definition_key": "missing"}, 404, None),
    ]
    # The former names are refused, not read as synonyms.
    for old in ("key", "from", "to", "period_start", "period_end"):
        cases.append(
            ({**base, old: "2025-01-01" if old != "key" else "calls"}, 422, ["query", old])
        )
    for params, status, loc in cases:
        response = await client.get(TS, params=params)
        assert response.status_code == status, (params, response.text)
        if status != 200:
            assert response.headers["content-type"] == "application/problem+json"
        if loc is not None:
            assert [e["loc"] for e in response.json()["errors"]] == [loc], (params, response.text)
    # The organisation's id is the tenant's, said as every view says it.
    other = await client.get(
        TS,
        params={
            "definition_key": "calls",
            "subject_type": "organization",
            "subject_id": "acme",
            "start": "2025-01-01",
        },
    )
    problem = assert_problem(other, 422)
    assert problem["detail"] == "The organisation's subject_id is the tenant's."
    assert problem["errors"][0]["msg"] == "omit it for the organization"
    daily = await define(client, key="visits", aggregation_period="daily")
    assert daily["aggregation_period"] == "daily"
    too_long = await client.get(
        TS,
        params={
            "definition_key": "visits",
            "subject_id": "7",
            "start": "2020-01-01",
            "end": "2025-01-05",
        },
    )
    assert too_long.status_code == 422 and "shorter" in too_long.json()["detail"]
    assert too_long.json()["errors"][0]["loc"] == ["query", "start"]
    five_years = await client.get(
        TS,
        params={
            "definition_key": "visits",
            "subject_id": "7",
            "start": "2020-01-01",
            "end": "2024-12-31",
        },
    )
    assert five_years.status_code == 200 and len(five_years.json()["points"]) == 1827


async def test_who_sees_which_series(jwt_client: AsyncClient, db: Database) -> None:
    c = jwt_client
    d = await manual_kpi(c, "calls", headers=ADMIN)
    held = {}
    for user, team in (("42", "t1"), ("43", "t1"), ("44", "t2")):
        a = await assign(c, d["id"], user, headers=ADMIN, team_id=team, start_date="2025-01-01")
        held[user] = a["id"]
        await record(c, held[user], date(2025, 1, 1), int(user) - 40, headers=ADMIN)
    params = {"definition_key": "calls", "start": "2025-01-01", "end": "2025-01-31"}
    member = bearer("42", "member")
    own = await series(c, member, **params)  # no subject_id: the caller's own series
    assert (own["subject_id"], own["points"][0]["value"]) == ("42", 2)
    assert (await series(c, member, subject_id="42", **params))["points"][0]["value"] == 2
    manager = bearer("m1", "manager", teams=["t1"])
    of_team = await series(c, manager, subject_type="team", subject_id="t1", **params)
    assert (of_team["source"], of_team["points"][0]["value"]) == ("members", 2 + 3)
    assert (await series(c, manager, subject_id="43", **params))["points"][0]["value"] == 3
    org = await series(c, manager, subject_type="organization", **params)
    assert org["points"][0]["value"] == 2 + 3 + 4 and org["subject_id"] == "default"
    refusals = [
        (member, {"subject_id": "43"}, 404),
        (member, {"subject_type": "team", "subject_id": "t1"}, 404),
        (member, {"subject_type": "organization"}, 403),
        (manager, {"subject_id": "44"}, 404),
        (manager, {"subject_type": "team", "subject_id": "t2"}, 404),
        (bearer("boss", "admin", tenant="acme"), {"subject_id": "42"}, 404),
        (bearer("boss", "admin", tenant="acme"), {"subject_type": "organization"}, 404),
    ]
    for headers, extra, status in refusals:
        response = await c.get(TS, headers=headers, params={**params, **extra})
        assert response.status_code == status, (extra, response.text)
        assert '"points"' not in response.text
