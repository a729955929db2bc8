"""GET /metrics/funnel with event stages, recomputed in plain Python from random events in a
time zone whose summer time ends inside the range."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import event, ingest, ingest_with_repeats
from tests.support.app import app_client
from tests.support.expected import events_of
from tests.support.funnel import URL, expected_stages, served

ZONE = "America/New_York"
# Local dates; US summer time ends on Sunday 2 November 2025, inside the range.
START, END = date(2025, 10, 27), date(2025, 11, 9)
USERS = [f"u{n}" for n in range(1, 8)]  # u7 sends nothing
TEAMS = ["t1", "t2"]
STAGES = ["assigned", "contacted", "demo", "interested", "converted"]  # no demo events


def local_range(zone: str, start: date, end: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    first = datetime(start.year, start.month, start.day, tzinfo=tz)
    after = datetime(end.year, end.month, end.day, tzinfo=tz) + timedelta(days=1)
    # `+ timedelta` on a zoned datetime keeps the wall clock: the next local midnight.
    return first.astimezone(UTC), after.replace(tzinfo=tz).astimezone(UTC)


@pytest.fixture
async def zoned(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, timezone=ZONE) as c:
        yield c


def random_events(seed: int) -> list[dict[str, Any]]:
    """Funnel events around the range, some exactly on its edges, a few sent twice."""
    rng = random.Random(seed)
    start, end = local_range(ZONE, START, END)
    instants = [start, start - timedelta(microseconds=1), end, end - timedelta(microseconds=1)]
    instants += [
        start + timedelta(seconds=rng.randint(-3 * 86_400, 17 * 86_400))
        for _ in range(rng.randint(300, 450))
    ]
    weights = [40, 25, 0, 15, 8]
    events = [
        event(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            user_id=rng.choice(USERS[:-1]),
            event_type=rng.choices(STAGES, weights)[0],
            occurred_at=at.astimezone(ZoneInfo(ZONE)),
            team_id=rng.choice(TEAMS) if rng.random() < 0.8 else None,
        )
        for at in instants
    ]
    return events + [dict(e) for e in rng.sample(events, 6)]


def expected_counts(
    events: list[dict[str, Any]], subject_type: str, subject_id: str, count: str
) -> list[Decimal | None]:
    mine = events_of(events, subject_type, subject_id, *local_range(ZONE, START, END))
    out: list[Decimal | None] = []
    for stage in STAGES:
        rows = [e for e in mine if e["type"] == stage]
        out.append(Decimal(len({e["user_id"] for e in rows}) if count == "users" else len(rows)))
    return out


@pytest.mark.parametrize("seed", [11, 12])
async def test_event_stages_match_a_plain_python_count(zoned: AsyncClient, seed: int) -> None:
    events = random_events(seed)
    await ingest_with_repeats(zoned, events)
    subjects = (
        [("organization", None)]
        + [("team", t) for t in [*TEAMS, "nobody"]]
        + [("user", u) for u in USERS]
    )
    for subject_type, subject_id in subjects:
        for count in ("events", "users"):
            params: dict[str, Any] = {
                "stages": [f"event:{s}" for s in STAGES],
                "subject_type": subject_type,
                "start": START.isoformat(),
                "end": END.isoformat(),
                "count": count,
            }
            if subject_id is not None:
                params["subject_id"] = subject_id
            response = await zoned.get(URL, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            wanted = expected_counts(events, subject_type, subject_id or "default", count)
            assert served(body) == expected_stages(wanted), (seed, subject_type, subject_id)
            assert [s["stage"] for s in body["stages"]] == params["stages"]
            assert body["subject_id"] == (subject_id or "default")


async def test_a_zero_stage_gives_no_conversion_after_it(zoned: AsyncClient) -> None:
    start, _ = local_range(ZONE, START, END)
    events = [
        event(t, start + timedelta(hours=h), "u1")
        for t, h in (
            ("assigned", 1),
            ("assigned", 2),
            ("assigned", 3),
            ("assigned", 4),
            ("contacted", 5),
            ("interested", 6),
        )
    ]
    await ingest(zoned, events)
    body = (
        await zoned.get(
            URL,
            params={
                "stages": ["event:assigned", "event:contacted", "event:demo", "event:interested"],
                "subject_type": "user",
                "subject_id": "u1",
                "start": START.isoformat(),
                "end": END.isoformat(),
            },
        )
    ).json()
    # 4 assigned, 1 contacted (25 %), 0 demos (0 %), 1 interested: after a 0, no rate.
    assert served(body) == [(4, None, 100.0), (1, 25.0, 25.0), (0, 0.0, 0.0), (1, None, 25.0)]
    nothing = (
        await zoned.get(
            URL,
            params={
                "stages": ["event:demo", "event:assigned"],
                "subject_type": "user",
                "subject_id": "u1",
                "start": START.isoformat(),
                "end": END.isoformat(),
            },
        )
    ).json()
    assert served(nothing) == [(0, None, None), (4, None, None)]
