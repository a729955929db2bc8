"""Ingestion rules the fast path must keep: idempotence under overlap and concurrency, tenants,
per-item reasons, the exact limits on properties, the audit entry."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import event
from tests.support.auth import bearer

T0 = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
URL = "/api/kpis/events"


def call(user: str = "1", occurred_at: datetime | str = T0, **fields: Any) -> dict[str, Any]:
    """A call of the user's (1 unless told) at T0 (unless told), with a fresh id."""
    return event("call", occurred_at, user, **fields)


async def _stored(db: Database) -> list[tuple[str, str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT tenant_id, id::text, properties::text FROM kpi.events ORDER BY 1, 2")
        )
        return [tuple(r) for r in rows]


def _counts(body: dict[str, Any]) -> tuple[int, int, int]:
    return body["accepted"], body["duplicates"], body["rejected"]


async def test_a_batch_overlapping_stored_events_adds_only_the_new_ones(
    client: AsyncClient, db: Database
) -> None:
    first = [call(str(i), value=i) for i in range(3)]
    assert _counts((await client.post(URL, json={"events": first})).json()) == (3, 0, 0)
    later = [call(str(i), value=i) for i in range(3, 5)]
    mixed = [later[0], *first, later[1]]
    assert _counts((await client.post(URL, json={"events": mixed})).json()) == (2, 3, 0)
    assert {r[1] for r in await _stored(db)} == {e["id"] for e in first + later}


async def test_the_same_batch_sent_twice_at_once_is_stored_once(
    client: AsyncClient, db: Database
) -> None:
    batch = [call(str(i % 7), value=i, properties={"n": i}) for i in range(400)]
    answers = await asyncio.gather(*(client.post(URL, json={"events": batch}) for _ in range(2)))
    bodies = [a.json() for a in answers]
    assert sorted(b["accepted"] for b in bodies) == [0, 400]
    assert sorted(b["duplicates"] for b in bodies) == [0, 400]
    assert len(await _stored(db)) == 400


async def test_each_tenant_has_its_own_events_with_the_same_ids(
    jwt_client: AsyncClient, db: Database
) -> None:
    batch = [call("1"), call("2")]
    for tenant in ("default", "acme"):
        answer = await jwt_client.post(
            URL, json={"events": batch}, headers=bearer("svc", "admin", tenant=tenant)
        )
        assert _counts(answer.json()) == (2, 0, 0)
    stored = await _stored(db)
    assert sorted((t, i) for t, i, _ in stored) == sorted(
        (t, e["id"]) for t in ("acme", "default") for e in batch
    )
    seen = await jwt_client.get(URL, headers=bearer("x", "admin", tenant="acme"))
    assert sorted(e["id"] for e in seen.json()["items"]) == sorted(e["id"] for e in batch)


async def test_every_refusal_names_its_item_field_and_reason(
    client: AsyncClient, db: Database
) -> None:
    ok = call(properties={"outcome": "won", "tags": ["a", "b"]})
    body = json.dumps(
        {
            "events": [
                ok,
                "not an object",
                {**call(), "type": "Bad Type", "value": "many"},
                call(properties={"x": 1, "nested": {"ok": float("nan")}}),
                call(properties={"k\u0000ey": 1}),
                call(occurred_at="1999-12-31T23:59:59+00:00"),
            ]
        }
    )
    answer = await client.post(URL, content=body, headers={"content-type": "application/json"})
    result = answer.json()
    assert _counts(result) == (1, 0, 5)
    found = [(e["index"], e["loc"], e["reason"]) for e in result["errors"]]
    assert [(i, loc) for i, loc, _ in found] == [
        (1, []),
        (2, ["type"]),
        (2, ["value"]),
        (3, ["properties"]),
        (4, ["properties"]),
        (5, ["occurred_at"]),
    ]
    reasons = [r for _, _, r in found]
    assert reasons[0] == "an event must be a JSON object"
    assert "NaN" in reasons[3] and "NUL" in reasons[4] and "before 2000" in reasons[5]
    assert [json.loads(r[2]) for r in await _stored(db)] == [ok["properties"]]


def _properties_of_size(size: int, filler: str) -> dict[str, Any]:
    """Properties whose `json.dumps` text is exactly `size` characters long."""
    base = len(json.dumps({"k": ""}))
    unit = len(json.dumps(filler)) - 2
    count, rest = divmod(size - base, unit)
    value = filler * count + "x" * rest
    props = {"k": value}
    assert len(json.dumps(props)) == size
    return props


@pytest.mark.parametrize("filler", ["x", "\u00e9", "\x7f", "\U0001f600", "\n"])
async def test_properties_may_take_8192_characters_of_json_and_no_more(
    client: AsyncClient, db: Database, filler: str
) -> None:
    fits = call(properties=_properties_of_size(8192, filler))
    too_big = call(properties=_properties_of_size(8193, filler))
    result = (await client.post(URL, json={"events": [fits, too_big]})).json()
    assert _counts(result) == (1, 0, 1)
    assert result["errors"][0]["index"] == 1
    assert "8192 bytes" in result["errors"][0]["reason"]


def _nested(levels: int) -> dict[str, Any]:
    props: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        props = {"n": props}
    return props


async def test_properties_may_nest_ten_levels(client: AsyncClient, db: Database) -> None:
    deep_text = call(properties={"s": "{[" * 20})  # brackets inside a string do not nest
    result = (
        await client.post(
            URL,
            json={
                "events": [call(properties=_nested(10)), call(properties=_nested(11)), deep_text]
            },
        )
    ).json()
    assert _counts(result) == (2, 0, 1)
    assert result["errors"][0]["index"] == 1
    assert "nested too deeply" in result["errors"][0]["reason"]


async def test_text_that_looks_suspicious_is_stored_as_sent(
    client: AsyncClient, db: Database
) -> None:
    props = {"note": "NaN and Infinity are words here", "path": "C:\\u0000x"}
    result = (await client.post(URL, json={"events": [call(properties=props)]})).json()
    assert _counts(result) == (1, 0, 0)
    async with db.engine.connect() as conn:
        stored = await conn.scalar(text("SELECT properties FROM kpi.events"))
    assert stored == props


async def test_a_stored_batch_leaves_one_audit_entry(client: AsyncClient, db: Database) -> None:
    batch = [call(str(i)) for i in range(5)] + [{"id": "nope"}]
    await client.post(URL, json={"events": batch})
    await client.post(URL, json={"events": batch[:2]})  # nothing new: no entry
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT action, after FROM kpi.audit_entries WHERE entity_type = 'event_batch'"
                )
            )
        ).all()
    assert [(a, after) for a, after in rows] == [
        ("events.ingest", {"accepted": 5, "duplicates": 0, "rejected": 1})
    ]


async def test_the_event_instant_is_kept_whatever_offset_it_was_sent_with(
    client: AsyncClient, db: Database
) -> None:
    sent = T0 + timedelta(minutes=30)
    offset = sent.astimezone(ZoneInfo("Asia/Kolkata"))
    one = call(occurred_at=offset.isoformat())
    assert _counts((await client.post(URL, json={"events": [one]})).json()) == (1, 0, 0)
    page = (await client.get(URL)).json()
    assert datetime.fromisoformat(page["items"][0]["occurred_at"]) == sent


async def test_a_body_that_is_not_json_is_refused_whole(client: AsyncClient, db: Database) -> None:
    answer = await client.post(
        URL, content=b'{"events": [', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["title"] == "Malformed JSON"
    assert await _stored(db) == []
