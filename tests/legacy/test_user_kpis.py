"""The seed's `GET /kpis/users/{id}`: which KPIs it lists, in the seed's exact shape, with the
target in force today and the latest measurement, for whom; values worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, manual_kpi, record
from tests.support.auth import ADMIN, bearer
from tests.support.database import statements_sent

KPI_KEYS = [
    "id",
    "target_value",
    "weight",
    "start_date",
    "kpi_definition_id",
    "key",
    "name",
    "description",
    "unit",
    "target_type",
    "category",
    "latest_measurement",
]
LATEST_KEYS = [
    "actual_value",
    "achievement_percentage",
    "period_start",
    "period_end",
    "calculated_at",
    "is_final",
    "pace",
]


async def patch(client: AsyncClient, assignment_id: int, **body: Any) -> None:
    response = await client.patch(f"/api/kpis/assignments/{assignment_id}", json=body)
    assert response.status_code == 200, response.text


async def test_current_kpis_with_target_in_force_and_latest_value(
    client: AsyncClient, db: Database
) -> None:
    today = datetime.now(UTC).date()  # the organisation's time zone is UTC here
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    calls = await define(
        client,
        key="calls",
        name="Calls",
        unit="count",
        aggregation_period="monthly",
        category="sales",
        description="Calls made",
    )
    handle = await define(
        client,
        key="handle_time",
        name="Handle time",
        unit="minutes",
        target_type="lower_better",
        aggregation_period="monthly",
    )
    ended = await define(client, key="visits", aggregation_period="monthly")
    retired = await define(client, key="emails", aggregation_period="monthly")
    mine = await assign(client, calls["id"], "7", 10, weight=40, start_date="2025-01-01")
    slow = await assign(client, handle["id"], "7", 20, weight=60, start_date="2025-01-01")
    gone = await assign(client, ended["id"], "7", 5, start_date="2025-01-01")
    off = await assign(client, retired["id"], "7", 5, start_date="2025-01-01")
    await assign(client, calls["id"], "8", 99, start_date="2025-01-01")  # someone else's
    # A target from yesterday is in force; one from tomorrow is not yet.
    await patch(client, mine["id"], target_value=12, target_effective_from=yesterday.isoformat())
    await patch(client, slow["id"], target_value=50, target_effective_from=tomorrow.isoformat())
    # Recorded out of order: the latest is the newest period, not the last written.
    march = await record(client, mine["id"], "2025-03-01", 9)
    await record(client, mine["id"], "2025-01-01", 4)
    await record(client, mine["id"], "2025-02-01", 15)
    await record(client, off["id"], "2025-03-01", 1)
    await record(client, gone["id"], "2025-03-01", 1)
    # Ended yesterday: not current; a deactivated definition: not listed either.
    await patch(client, gone["id"], end_date=yesterday.isoformat())
    assert (await client.delete(f"/api/kpis/definitions/{retired['id']}")).status_code in (200, 204)

    async with statements_sent(db) as sent:
        response = await client.get("/kpis/users/7")
    assert response.status_code == 200
    # One statement answers the route.
    assert len([s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]) == 1
    body = response.json()
    assert list(body) == ["user_id", "kpis"] and body["user_id"] == 7
    first, second = body["kpis"]
    assert [list(k) for k in body["kpis"]] == [KPI_KEYS, KPI_KEYS]
    # March's 9 calls against the target of 10 in force then: 90%.
    assert first == {
        "id": mine["id"],
        "target_value": 12,
        "weight": 40,
        "start_date": "2025-01-01",
        "kpi_definition_id": calls["id"],
        "key": "calls",
        "name": "Calls",
        "description": "Calls made",
        "unit": "count",
        "target_type": "higher_better",
        "category": "sales",
        "latest_measurement": {
            "actual_value": 9,
            "achievement_percentage": 90,
            "period_start": "2025-03-01",
            "period_end": "2025-03-31",
            "calculated_at": march["calculated_at"],
            "is_final": True,
            "pace": None,
        },
    }
    assert list(first["latest_measurement"]) == LATEST_KEYS
    assert second == {
        "id": slow["id"],
        "target_value": 20,
        "weight": 60,
        "start_date": "2025-01-01",
        "kpi_definition_id": handle["id"],
        "key": "handle_time",
        "name": "Handle time",
        "description": None,
        "unit": "minutes",
        "target_type": "lower_better",
        "category": None,
        "latest_measurement": None,
    }
    assert isinstance(first["target_value"], int | float)

    nobody = (await client.get("/kpis/users/agent-9")).json()
    assert nobody == {"user_id": "agent-9", "kpis": []}


async def test_who_sees_whose_kpis(jwt_client: AsyncClient, db: Database) -> None:
    c = jwt_client
    d = await manual_kpi(c, "calls", headers=ADMIN)
    e = await manual_kpi(c, "emails", name="E-mails", headers=ADMIN)
    held: dict[tuple[str, str], int] = {}
    # User 43 holds one KPI in team t1 and another in team t2.
    for user, team, start, kpi in (
        ("42", "t1", "2025-01-01", d),
        ("43", "t1", "2025-01-01", d),
        ("43", "t2", "2025-02-01", e),
    ):
        a = await assign(c, kpi["id"], user, headers=ADMIN, team_id=team, start_date=start)
        held[(user, team)] = a["id"]

    async def listed(user: str, headers: dict[str, str]) -> list[int]:
        response = await c.get(f"/kpis/users/{user}", headers=headers)
        assert response.status_code == 200, response.text
        return [k["id"] for k in response.json()["kpis"]]

    member = bearer("42", "member")
    assert await listed("42", member) == [held[("42", "t1")]]
    assert await listed("43", member) == []
    manager = bearer("m1", "manager", teams=["t1"])
    assert await listed("43", manager) == [held[("43", "t1")]]
    assert await listed("43", ADMIN) == [held[("43", "t1")], held[("43", "t2")]]
    assert await listed("43", bearer("boss", "admin", tenant="acme")) == []


async def test_a_date_far_back_still_lists_a_kpi_that_has_not_started(
    client: AsyncClient, db: Database
) -> None:
    """The seed lists assignments that have not ended, started or not."""
    definition = await define(client, key="calls", aggregation_period="monthly")
    later = (datetime.now(UTC).date() + timedelta(days=40)).replace(day=1)
    upcoming = await assign(client, definition["id"], "7", 10, start_date=later.isoformat())
    [kpi] = (await client.get("/kpis/users/7")).json()["kpis"]
    assert (kpi["id"], kpi["start_date"], kpi["target_value"]) == (
        upcoming["id"],
        later.isoformat(),
        10,
    )
    assert date.fromisoformat(kpi["start_date"]) > datetime.now(UTC).date()


async def test_user_ids_that_only_look_numeric_are_answered_as_given(client: AsyncClient) -> None:
    # Found by the API fuzzing: "²" passes str.isdigit() and int() refused it (a 500).
    for user_id, answered in (
        ("²", "²"),
        ("1²", "1²"),
        ("٣", "٣"),
        ("007", 7),
        ("9" * 19, "9" * 19),
    ):
        response = await client.get(f"/kpis/users/{user_id}")
        assert response.status_code == 200, (user_id, response.text)
        assert response.json() == {"user_id": answered, "kpis": []}
