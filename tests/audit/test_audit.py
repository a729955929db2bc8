"""GET /audit narrowed by actor, action, entity and time range; the expectations come from
what the test did, and when (wall-clock instants taken between the requests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.auth import bearer
from tests.support.problems import assert_problem

URL = "/api/kpis/audit"
ANN, BOB = bearer("ann", "admin"), bearer("bob", "admin")


async def entries(client: AsyncClient, **params: Any) -> list[tuple[str, str, str]]:
    """(actor, action, entity id) of every entry matching, all pages, newest first."""
    found: list[tuple[str, str, str]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(URL, headers=ANN, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [(e["actor"], e["action"], e["entity_id"]) for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_filters_by_actor_action_and_time(jwt_client: AsyncClient, db: Database) -> None:
    done: list[tuple[datetime, str, str, str]] = []  # (done after, actor, action, id)

    async def act(
        headers: dict[str, str],
        actor: str,
        action: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        before = datetime.now(UTC)
        response = await jwt_client.request(method, f"/api/kpis{path}", headers=headers, json=body)
        assert response.status_code < 300, response.text
        result: dict[str, Any] = response.json()
        done.append((before, actor, action, str(result["id"])))
        return result

    def definition(key: str) -> dict[str, Any]:
        return {
            "key": key,
            "name": key.title(),
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "monthly",
            "calculation_type": "manual",
            "config": {},
        }

    calls = await act(ANN, "ann", "create", "POST", "/definitions", definition("calls"))
    mails = await act(BOB, "bob", "create", "POST", "/definitions", definition("mails"))
    await act(ANN, "ann", "update", "PATCH", f"/definitions/{calls['id']}", {"name": "Calls!"})
    await act(BOB, "bob", "deactivate", "DELETE", f"/definitions/{mails['id']}")
    await act(BOB, "bob", "update", "PATCH", f"/definitions/{calls['id']}", {"name": "Calls?"})
    end = datetime.now(UTC)

    def expected(
        actor: str | None = None,
        action: str | None = None,
        since: int = 0,
        until: int | None = None,
    ) -> list[tuple[str, str, str]]:
        # Entry i is stamped when its request's transaction starts: at or after done[i]'s
        # instant, before done[i + 1]'s. So `since` done[k]'s instant keeps entries k..., and
        # `until` done[m]'s instant keeps entries ...m - 1.
        return [
            (a, act_, id_)
            for _, a, act_, id_ in reversed(done[since:until])
            if actor in (None, a) and action in (None, act_)
        ]

    assert await entries(jwt_client) == expected()
    assert len(expected()) == 5
    assert await entries(jwt_client, actor="bob") == expected(actor="bob")
    assert await entries(jwt_client, action="update") == expected(action="update")
    assert await entries(jwt_client, actor="bob", action="update") == [
        ("bob", "update", str(calls["id"]))
    ]
    assert await entries(
        jwt_client, action="create", entity_type="definition", entity_id=str(mails["id"])
    ) == [("bob", "create", str(mails["id"]))]
    assert await entries(jwt_client, actor="nobody") == []
    # Time: from the third request on, up to (not including) the fifth.
    since, until = done[2][0], done[4][0]
    window = await entries(jwt_client, since=since.isoformat(), until=until.isoformat())
    assert window == expected(since=2, until=4)
    assert [w[:2] for w in window] == [("bob", "deactivate"), ("ann", "update")]
    assert await entries(jwt_client, actor="ann", since=since.isoformat()) == expected(
        actor="ann", since=2
    )
    # An offset other than UTC names the same instant.
    in_tokyo = since.astimezone(timezone(timedelta(hours=9))).isoformat()
    assert await entries(jwt_client, since=in_tokyo) == expected(since=2)
    assert await entries(jwt_client, until=done[0][0].isoformat()) == []
    assert await entries(jwt_client, since=end.isoformat()) == []


async def test_bad_filters_are_422(jwt_client: AsyncClient, db: Database) -> None:
    for params in (
        {"since": "2026-03-01T10:00:00"},  # no offset: ambiguous
        {"since": "yesterday"},
        {"until": "0001-01-01T00:00:00+14:00"},
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"since": "2026-03-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"actor": "x" * 65},
        {"action": "a\x00b"},
    ):
        response = await jwt_client.get(URL, headers=ANN, params=params)
        assert_problem(response, 422, params)
    assert_problem(
        await jwt_client.get(
            URL, headers=bearer("m", "manager", teams=["t1"]), params={"actor": "ann"}
        ),
        403,
    )
