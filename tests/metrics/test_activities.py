"""GET /metrics/activities (seed 003 section F): a user's events of the mapped types, newest
first, each with the seed's type, title, description and metadata; filters, paging, who may
see whose timeline, and bad parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.api import event, ingest, instant
from tests.support.app import app_client
from tests.support.auth import ACME_ADMIN, ADMIN, bearer
from tests.support.export import export, parsed
from tests.support.packs import ACTIVITIES, install_agents
from tests.support.problems import assert_problem, error_locs

# The seed's items (section F and 7.B) per event type: type, title, filter, description parts.
SEED = {
    "call": ("call", "Call Made", "calls", ("lead_name", "outcome")),
    "email": ("email", "Email Sent", "emails", ("lead_name", "subject")),
    "conversion": ("conversion", "Lead Converted", "conversions", ("lead_name", "product")),
    "meeting": ("meeting", "Meeting Scheduled", None, ("lead_name", "topic")),
    "assignment": ("assignment", "Lead Assigned", None, ("lead_name", "lead_source")),
}
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
H = timedelta(hours=1)


def activity(n: int, user: str, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """The user's event number n (its id from n); a-users are in team north, others south."""
    team = "north" if user.startswith("a") else "south"
    return event(kind, at, user, id=uuid.UUID(int=n * 7919 + 1, version=4), team_id=team, **fields)


EVENTS = [
    activity(
        1, "a1", "call", T0 + H, properties={"lead_name": "John Smith", "outcome": "voicemail"}
    ),
    activity(2, "a1", "email", T0 + 2 * H, properties={"lead_name": "Ann Lee", "leadId": "lead9"}),
    activity(
        3,
        "a1",
        "conversion",
        T0 + 3 * H,
        value=850,
        properties={
            "lead_name": "John Smith",
            "product": "Auto Insurance Policy",
            "leadId": "lead456",
        },
    ),
    activity(4, "a1", "meeting", T0 + 3 * H),  # the same instant: the id decides
    activity(5, "a1", "assignment", T0 + 4 * H, properties={"lead_name": "", "lead_source": "Web"}),
    activity(6, "a1", "signup", T0 + 5 * H),  # not mapped: not listed
    activity(
        7, "a1", "call", T0 + 6 * H, value=12.5, properties={"lead_name": 42, "outcome": "ok"}
    ),
    activity(8, "a1", "conversion", T0 - 30 * 24 * H, value=100, properties={"product": "Home"}),
    activity(9, "a2", "call", T0 + 2 * H, properties={"lead_name": "Not a1's"}),
    activity(10, "b1", "email", T0 + H),
]


def expected(user: str = "a1", only: str | None = None) -> list[dict[str, Any]]:
    """The user's mapped events, newest first (then by id), as the seed's items."""
    mine = [e for e in EVENTS if e["user_id"] == user and e["type"] in SEED]
    mine.sort(key=lambda e: (instant(e["occurred_at"]), uuid.UUID(e["id"])), reverse=True)
    items = []
    for e in mine:
        kind, title, under, parts = SEED[e["type"]]
        if only is not None and under != only:
            continue
        properties = e.get("properties", {})
        present = [str(properties[p]) for p in parts if properties.get(p) not in (None, "")]
        metadata = dict(properties) | ({"value": e["value"]} if "value" in e else {})
        items.append(
            {
                "id": e["id"],
                "type": kind,
                "title": title,
                "description": " - ".join(present) or None,
                "timestamp": instant(e["occurred_at"]),
                "metadata": metadata,
            }
        )
    return items


def shown(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**i, "timestamp": instant(i["timestamp"])} for i in answer["activities"]]


@pytest.fixture
async def c(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, auth_mode=AuthMode.JWT) as client:
        await install_agents(
            client, {"a1": "north", "a2": "north", "b1": "south"}, date(2026, 10, 1), ADMIN
        )
        await ingest(client, EVENTS, ADMIN)
        yield client


async def timeline(
    c: AsyncClient, headers: dict[str, str] = ADMIN, **params: Any
) -> dict[str, Any]:
    response = await c.get(ACTIVITIES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_timeline_shows_the_mapped_events_newest_first(c: AsyncClient) -> None:
    answer = await timeline(c, user_id="a1")
    assert shown(answer) == expected() and answer["next_cursor"] is None
    by_id = {i["id"]: i for i in answer["activities"]}
    # The seed's own example, and descriptions with properties missing or empty.
    assert by_id[EVENTS[2]["id"]] | {"timestamp": None} == {
        "id": EVENTS[2]["id"],
        "type": "conversion",
        "title": "Lead Converted",
        "description": "John Smith - Auto Insurance Policy",
        "timestamp": None,
        "metadata": {
            "lead_name": "John Smith",
            "product": "Auto Insurance Policy",
            "leadId": "lead456",
            "value": 850,
        },
    }
    assert [by_id[EVENTS[n]["id"]]["description"] for n in (1, 3, 4, 6)] == [
        "Ann Lee",
        None,
        "Web",
        "42 - ok",
    ]
    assert EVENTS[5]["id"] not in by_id and len(by_id) == 7


async def test_each_filter_keeps_its_own_kind(c: AsyncClient) -> None:
    for name in ("calls", "emails", "conversions"):
        answer = await timeline(c, user_id="a1", filter=name)
        assert shown(answer) == expected(only=name), name
        assert answer["activities"], name
    assert shown(await timeline(c, user_id="a1", filter="all")) == expected()


async def test_pages_follow_one_another_without_gaps(c: AsyncClient) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"user_id": "a1", "limit": 2}
    pages = 0
    while True:
        answer = await timeline(c, **params)
        pages += 1
        seen += shown(answer)
        if answer["next_cursor"] is None:
            break
        params["cursor"] = answer["next_cursor"]
    assert seen == expected() and pages == 4  # 7 items, 2 a page


async def test_members_see_their_own_and_managers_their_teams(c: AsyncClient) -> None:
    a1, a2 = bearer("a1", "member"), bearer("a2", "member")
    assert shown(await timeline(c, a1)) == expected()
    assert shown(await timeline(c, a2)) == expected("a2")
    assert_problem(await c.get(ACTIVITIES, params={"user_id": "a1"}, headers=a2), 404)
    north, south = (
        bearer("m1", "manager", teams=["north"]),
        bearer("m2", "manager", teams=["south"]),
    )
    assert shown(await timeline(c, north, user_id="a1")) == expected()
    assert_problem(await c.get(ACTIVITIES, params={"user_id": "a1"}, headers=south), 404)
    assert shown(await timeline(c, south, user_id="b1")) == expected("b1")
    assert (await timeline(c, ACME_ADMIN, user_id="a1"))["activities"] == []


async def test_bad_parameters_are_refused(c: AsyncClient) -> None:
    for params, field in (
        ({"filter": "meetings"}, "filter"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        problem = assert_problem(await c.get(ACTIVITIES, params=params, headers=ADMIN), 422)
        assert error_locs(problem) == [["query", field]], params


async def test_the_timeline_exports_with_its_metadata_as_json(c: AsyncClient) -> None:
    rows = parsed(await export(c, ADMIN, view="activities", user_id="a1", filter="conversions"))
    assert [(r["id"], r["title"]) for r in rows] == [
        (i["id"], "Lead Converted") for i in expected(only="conversions")
    ]
    assert rows[0]["metadata"] == (
        '{"leadId": "lead456", "lead_name": "John Smith", '
        '"product": "Auto Insurance Policy", "value": 850}'
    )
