"""One assignment in force per KPI and subject: a new one supersedes the one in force from its
start date (which then ends the day before), or a 409 names the assignment in force."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import ASSIGNMENTS as URL
from tests.support.api import assign, define, listed_ids, record
from tests.support.api import assignment_body as body
from tests.support.app import today
from tests.support.auth import bearer
from tests.support.database import statements_sent
from tests.support.problems import assert_problem, error_locs

BULK = f"{URL}/bulk"
SCORECARD = "/api/kpis/metrics/scorecard"

# Weekly periods (ISO weeks): 6-12, 13-19 and 20-26 January 2025.
WEEK_1, WEEK_2, WEEK_3 = "2025-01-06", "2025-01-13", "2025-01-20"


@pytest.fixture
async def kpi(client: AsyncClient) -> dict[str, Any]:
    """A user-scope weekly manual definition, higher is better."""
    return await define(client)


async def measured_weeks(client: AsyncClient, assignment_id: int) -> dict[str, float]:
    response = await client.get(
        "/api/kpis/measurements", params={"assignment_id": assignment_id, "limit": 500}
    )
    assert response.status_code == 200, response.text
    return {m["period_start"]: m["actual_value"] for m in response.json()["items"]}


async def scorecard_row(client: AsyncClient, user_id: str, day: str) -> dict[str, Any]:
    response = await client.get(
        SCORECARD, params={"user_id": user_id, "period_kind": "weekly", "date": day}
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["kpis"]
    return dict(row)


async def audited(client: AsyncClient, action: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/kpis/audit", params={"entity_type": "assignment", "limit": 500}
    )
    return [e for e in response.json()["items"] if e["action"] == action]


async def test_a_new_assignment_supersedes_the_one_in_force(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    old = await assign(client, kpi["id"], "42", start_date=WEEK_1, target_value=10)
    for week, value in ((WEEK_1, 8), (WEEK_2, 12), (WEEK_3, 5)):
        await record(client, old["id"], week, value)

    # From Wednesday of week 2, with a higher target.
    new = await assign(client, kpi["id"], "42", start_date="2025-01-15", target_value=16)

    ended = (await client.get(f"{URL}/{old['id']}")).json()
    assert ended["end_date"] == "2025-01-14"  # the day before the new start
    assert ended["is_active"] is False
    assert ended["targets"] == old["targets"]
    assert (new["start_date"], new["end_date"], new["is_active"]) == ("2025-01-15", None, True)
    assert await listed_ids(client, user_id="42", active_on=today().isoformat()) == [new["id"]]
    # The old assignment keeps every measurement, even the one after its new end.
    assert await measured_weeks(client, old["id"]) == {WEEK_1: 8, WEEK_2: 12, WEEK_3: 5}

    # Week 1: only the old one was in force.
    row = await scorecard_row(client, "42", WEEK_1)
    assert (row["assignment_id"], row["value"], row["target"]) == (old["id"], 8, 10)
    assert row["achievement"] == pytest.approx(8 / 10 * 100)
    # Week 2 is shared: the old one's value shows until the new one is measured for it.
    row = await scorecard_row(client, "42", WEEK_2)
    assert (row["assignment_id"], row["value"], row["target"]) == (old["id"], 12, 10)
    assert row["achievement"] == pytest.approx(12 / 10 * 100)
    # Week 3 belongs to the new one alone: the old one's stored 5 is history, not shown.
    row = await scorecard_row(client, "42", WEEK_3)
    assert (row["assignment_id"], row["value"], row["measured"]) == (new["id"], None, False)

    await record(client, new["id"], WEEK_2, 12)
    await record(client, new["id"], WEEK_3, 20)
    row = await scorecard_row(client, "42", WEEK_2)
    assert (row["assignment_id"], row["value"], row["target"]) == (new["id"], 12, 16)
    assert row["achievement"] == pytest.approx(12 / 16 * 100)
    row = await scorecard_row(client, "42", WEEK_3)
    assert (row["assignment_id"], row["value"], row["target"]) == (new["id"], 20, 16)
    assert row["achievement"] == pytest.approx(20 / 16 * 100)
    assert await measured_weeks(client, old["id"]) == {WEEK_1: 8, WEEK_2: 12, WEEK_3: 5}
    assert await measured_weeks(client, new["id"]) == {WEEK_2: 12, WEEK_3: 20}

    [entry] = await audited(client, "supersede")
    assert entry["entity_id"] == str(old["id"])
    assert (entry["before"]["end_date"], entry["after"]["end_date"]) == (None, "2025-01-14")
    assert entry["before"] == old
    [created] = [e for e in await audited(client, "create") if e["entity_id"] == str(new["id"])]
    assert created["after"] == new


async def test_an_earlier_end_date_is_moved_earlier(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    old = await assign(client, kpi["id"], "42", start_date="2025-01-01", end_date="2025-12-31")
    await assign(client, kpi["id"], "42", start_date="2025-07-01", end_date="2025-09-30")
    # The new one takes over from its start; the old one does not resume after it.
    assert (await client.get(f"{URL}/{old['id']}")).json()["end_date"] == "2025-06-30"


async def test_what_is_not_superseded_is_a_conflict_naming_it(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    held = await assign(client, kpi["id"], "42", start_date="2025-03-01", end_date="2025-08-31")
    cases = [
        # Asked not to supersede.
        (
            body(kpi["id"], "42", start_date="2025-05-01", supersede=False),
            f"Assignment {held['id']} gives this KPI to user '42' from 2025-03-01 to 2025-08-31; "
            "with supersede true (the default) it would end on 2025-04-30",
        ),
        # Starting before the one in force and running into it: it would be lost whole.
        (
            body(kpi["id"], "42", start_date="2025-01-01"),
            f"Assignment {held['id']} gives this KPI to user '42' from 2025-03-01 to 2025-08-31, "
            "overlapping these dates; only an assignment that started earlier is superseded: "
            "end or change it first",
        ),
        (
            body(kpi["id"], "42", start_date="2025-02-01", end_date="2025-03-01"),
            f"Assignment {held['id']} gives this KPI to user '42' from 2025-03-01 to 2025-08-31, "
            "overlapping these dates; only an assignment that started earlier is superseded: "
            "end or change it first",
        ),
        # The same start date.
        (
            body(kpi["id"], "42", start_date="2025-03-01"),
            f"Assignment {held['id']} already gives this KPI to user '42' from 2025-03-01",
        ),
    ]
    for payload, detail in cases:
        problem = assert_problem(await client.post(URL, json=payload), 409)
        assert problem["detail"] == detail, payload
        assert error_locs(problem) == [["body"]]
    assert (await client.get(f"{URL}/{held['id']}")).json() == held
    assert await listed_ids(client) == [held["id"]]
    assert await audited(client, "supersede") == []

    # Dates that do not overlap it need no superseding, before or after.
    before = await assign(
        client, kpi["id"], "42", start_date="2025-01-01", end_date="2025-02-28", supersede=False
    )
    after = await assign(client, kpi["id"], "42", start_date="2025-09-01", supersede=False)
    assert (await client.get(f"{URL}/{held['id']}")).json() == held
    assert await listed_ids(client) == [held["id"], before["id"], after["id"]]


async def test_bulk_supersedes_in_one_statement_for_all_items(
    client: AsyncClient, db: Database, kpi: dict[str, Any]
) -> None:
    users = [f"u{i}" for i in range(50)]
    olds = (
        await client.post(
            BULK,
            json={
                "items": [
                    body(kpi["id"], user, start_date="2025-01-01", target_value=10)
                    for user in users[:40]
                ]
            },
        )
    ).json()["items"]
    items = [body(kpi["id"], user, start_date="2025-02-01", target_value=20) for user in users]
    async with statements_sent(db) as sent:
        response = await client.post(BULK, json={"items": items})
    assert response.status_code == 201, response.text
    statements = [" ".join(s.split()[:3]) for s in sent]
    news = response.json()["items"]
    # A fixed number of statements whatever the batch: one finds every overlap, one ends the
    # superseded assignments, one audits them.
    assert len(statements) <= 9, statements
    assert sum(s.startswith("SELECT wanted") for s in statements) == 1
    assert sum(s.startswith("UPDATE") for s in statements) == 1
    assert [a["subject_id"] for a in news] == users
    for old in olds:
        assert (await client.get(f"{URL}/{old['id']}")).json()["end_date"] == "2025-01-31"
    entries = await audited(client, "supersede")
    assert sorted(int(e["entity_id"]) for e in entries) == sorted(a["id"] for a in olds)
    assert all(e["after"]["end_date"] == "2025-01-31" for e in entries)


async def test_bulk_conflicts_name_each_item(client: AsyncClient, kpi: dict[str, Any]) -> None:
    held = await assign(client, kpi["id"], "43", start_date="2025-03-01")
    items = [
        body(kpi["id"], "42", start_date="2025-01-01"),
        body(kpi["id"], "42", start_date="2025-02-01"),  # overlaps item 0 (open-ended)
        body(kpi["id"], "43", start_date="2025-01-01"),  # runs into the one held from March
        body(kpi["id"], "44", start_date="2025-01-01", end_date="2025-01-31"),
        body(kpi["id"], "44", start_date="2025-02-01"),  # follows item 3: fine
    ]
    problem = assert_problem(await client.post(BULK, json={"items": items}), 409)
    assert error_locs(problem) == [["body", "items", 1]]
    assert "overlaps item 0" in problem["detail"]
    del items[1]
    problem = assert_problem(await client.post(BULK, json={"items": items}), 409)
    assert error_locs(problem) == [["body", "items", 1]]
    assert (
        f"assignment {held['id']} gives this KPI to user '43' from 2025-03-01 with no end "
        "date" in problem["detail"]
    )
    assert await listed_ids(client) == [held["id"]]
    del items[1]
    response = await client.post(BULK, json={"items": items})
    assert response.status_code == 201, response.text


async def test_a_manager_supersedes_only_within_their_teams(jwt_client: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    kpi = await define(jwt_client, headers=admin)
    held = await assign(
        jwt_client, kpi["id"], "42", headers=admin, team_id="t2", start_date="2025-01-01"
    )
    manager = bearer("m1", "manager", teams=["t1"])
    response = await jwt_client.post(
        URL, headers=manager, json=body(kpi["id"], "42", team_id="t1", start_date="2025-06-01")
    )
    problem = assert_problem(response, 403)
    assert problem["detail"] == (
        f"Assignment {held['id']} gives this KPI to user '42' from 2025-01-01 with no end date, "
        "in a team you do not manage: it cannot be superseded"
    )
    assert (await jwt_client.get(f"{URL}/{held['id']}", headers=admin)).json() == held


async def test_a_later_end_date_may_not_reach_the_next_assignment(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    old = await assign(client, kpi["id"], "42", start_date="2025-01-01")
    new = await assign(client, kpi["id"], "42", start_date="2025-02-01")
    url = f"{URL}/{old['id']}"
    for end in (None, "2025-02-01"):
        problem = assert_problem(await client.patch(url, json={"end_date": end}), 409)
        assert problem["detail"] == (
            f"Assignment {new['id']} gives this KPI to user '42' from "
            "2025-02-01 with no end date, within these dates."
        )
        assert error_locs(problem) == [["body", "end_date"]]
    assert (await client.get(url)).json()["end_date"] == "2025-01-31"
    earlier = await client.patch(url, json={"end_date": "2025-01-20"})
    assert earlier.status_code == 200, earlier.text
    back = await client.patch(url, json={"end_date": "2025-01-31"})
    assert back.status_code == 200, back.text
    # Ending it again (today by default, or a later day) is the same move: refused too.
    for ended in ({}, {"end_date": "2025-03-01"}):
        response = await client.post(f"{url}/end", json=ended)
        problem = assert_problem(response, 409)
        assert error_locs(problem) == [["body", "end_date"]], problem
    assert (await client.get(url)).json()["end_date"] == "2025-01-31"


async def test_superseding_from_today_ends_the_old_one_yesterday(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    old = await assign(client, kpi["id"], "42", start_date="2025-01-01")
    new = await assign(client, kpi["id"], "42")  # no start date: today
    yesterday = (today() - timedelta(days=1)).isoformat()
    assert (await client.get(f"{URL}/{old['id']}")).json()["end_date"] == yesterday
    assert new["start_date"] == today().isoformat()
