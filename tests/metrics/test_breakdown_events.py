"""GET /metrics/breakdown of event KPIs by a property (seed 003's lead sources), every figure
recomputed in plain Python from random events: the KPI's own aggregate and filter, the limit."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import define, event, ingest_with_repeats
from tests.support.app import app_client
from tests.support.breakdown import URL, rows_of, six
from tests.support.expected import events_of

ZONE = "Europe/Berlin"
START, END = date(2026, 3, 23), date(2026, 4, 5)  # summer time starts on 29 March 2026
USERS = ["u1", "u2", "u3", "u4"]
TEAMS = ["t1", "t2"]
SOURCES = ["referrals", "web_forms", "cold_call", "partners"]


def instants() -> tuple[datetime, datetime]:
    tz = ZoneInfo(ZONE)
    return (
        datetime(2026, 3, 23, tzinfo=tz).astimezone(UTC),
        datetime(2026, 4, 6, tzinfo=tz).astimezone(UTC),
    )


@pytest.fixture
async def zoned(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, timezone=ZONE) as c:
        yield c


def random_events(seed: int) -> list[dict[str, Any]]:
    """Leads with a source, conversions with revenue, calls with a duration; some events on
    the range's edges, some without the property, a source seen only in conversions."""
    rng = random.Random(seed)
    start, end = instants()
    edges = [start, start - timedelta(microseconds=1), end, end - timedelta(microseconds=1)]
    spread = [
        start + timedelta(seconds=rng.randint(-2 * 86_400, 16 * 86_400))
        for _ in range(rng.randint(400, 550))
    ]
    events = []
    for at in edges + spread:
        kind = rng.choices(["lead", "conversion", "call"], [50, 20, 30])[0]
        props: dict[str, Any] = {}
        if rng.random() < 0.9:
            props["lead_source"] = rng.choice(
                SOURCES if kind != "conversion" else [*SOURCES, "events_fair"]
            )
        if kind == "conversion" and rng.random() < 0.8:
            props["revenue"] = rng.choice([rng.randint(100, 5000), round(rng.uniform(50, 900), 2)])
        if kind == "call":
            props["channel"] = rng.choice(["phone", "chat"])
            props["duration"] = rng.choice(
                [rng.randint(1, 60), round(rng.uniform(0, 90), 2), "n/a"]
            )
            props["priority"] = rng.choice([1, 2, True])
        events.append(
            event(
                id=uuid.UUID(int=rng.getrandbits(128), version=4),
                user_id=rng.choice(USERS),
                event_type=kind,
                properties=props,
                occurred_at=at.astimezone(ZoneInfo(ZONE)),
                team_id=rng.choice(TEAMS) if rng.random() < 0.85 else None,
                value=(
                    rng.choice([rng.randint(100, 5000), round(rng.uniform(50, 900), 2)])
                    if kind == "conversion" and rng.random() < 0.9
                    else None
                ),
            )
        )
    return events + [dict(e) for e in rng.sample(events, 5)]


def number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return Decimal(str(raw))


def dimension_of(event: dict[str, Any], name: str) -> str | None:
    raw = event["properties"].get(name)
    return None if raw is None else raw if isinstance(raw, str) else json.dumps(raw)


def p90(xs: list[Decimal]) -> Decimal:
    # As PostgreSQL's percentile_cont(0.9).
    xs = sorted(xs)
    position = Decimal("0.9") * (len(xs) - 1)
    low = int(position)
    if low + 1 == len(xs):
        return xs[low]
    return xs[low] + (xs[low + 1] - xs[low]) * (position - low)


def expected_lead_sources(
    events: list[dict[str, Any]], subject_type: str, subject_id: str | None, revenue: str | None
) -> dict[Any, Any]:
    """Per source: leads, leads (the KPI's count), sum of lead values, conversions, rate,
    revenue (the conversions' value, or their `revenue` property)."""
    mine = events_of(events, subject_type, subject_id, *instants())
    sources = {dimension_of(e, "lead_source") for e in mine if e["type"] in ("lead", "conversion")}
    out = {}
    for source in sources:
        leads = [
            e for e in mine if e["type"] == "lead" and dimension_of(e, "lead_source") == source
        ]
        won = [
            e
            for e in mine
            if e["type"] == "conversion" and dimension_of(e, "lead_source") == source
        ]
        amounts = [
            x
            for x in (
                number(e.get("value") if revenue is None else e["properties"].get(revenue))
                for e in won
            )
            if x is not None
        ]
        lead_values = [x for x in (number(e.get("value")) for e in leads) if x is not None]
        rate = None if not leads else six(Decimal(len(won)) / len(leads) * 100)
        out[source] = (
            len(leads),
            float(len(leads)),
            six(sum(lead_values, Decimal(0))) if lead_values else None,
            len(won),
            rate,
            six(sum(amounts, Decimal(0))) if amounts else None,
        )
    return out


async def _lead_kpis(client: AsyncClient) -> None:
    await define(
        client,
        key="leads",
        calculation_type="event",
        config={"event_type": "lead", "aggregate": "count"},
    )
    await define(
        client,
        key="phone_call_p90",
        unit="minutes",
        calculation_type="event",
        config={
            "event_type": "call",
            "aggregate": "p90",
            "property": "duration",
            "filter": {"channel": "phone"},
        },
    )


SUBJECTS = [
    ("organization", None),
    ("team", "t1"),
    ("team", "t2"),
    ("user", "u1"),
    ("user", "u4"),
    ("user", "nobody"),
]


@pytest.mark.parametrize("seed", [31, 32])
async def test_lead_sources_match_a_plain_python_recomputation(
    zoned: AsyncClient, seed: int
) -> None:
    events = random_events(seed)
    await ingest_with_repeats(zoned, events)
    await _lead_kpis(zoned)
    for subject_type, subject_id in SUBJECTS:
        for revenue in (None, "revenue"):
            params: dict[str, Any] = {
                "definition_key": "leads",
                "dimension": "lead_source",
                "subject_type": subject_type,
                "start": START.isoformat(),
                "end": END.isoformat(),
                "convert_type": "conversion",
            }
            if subject_id:
                params["subject_id"] = subject_id
            if revenue:
                params["convert_property"] = revenue
            response = await zoned.get(URL, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            wanted = expected_lead_sources(events, subject_type, subject_id, revenue)
            assert rows_of(body) == wanted, (seed, subject_type, subject_id, revenue)
            counts = [r["count"] for r in body["rows"]]
            assert counts == sorted(counts, reverse=True) and body["truncated"] is False


async def test_the_kpis_own_aggregate_and_filter_apply_per_value(zoned: AsyncClient) -> None:
    events = random_events(33)
    await ingest_with_repeats(zoned, events)
    await _lead_kpis(zoned)
    body = (
        await zoned.get(
            URL,
            params={
                "definition_key": "phone_call_p90",
                "dimension": "priority",
                "start": START.isoformat(),
                "end": END.isoformat(),
            },
        )
    ).json()
    calls = [
        e
        for e in events_of(events, "organization", None, *instants())
        if e["type"] == "call" and e["properties"]["channel"] == "phone"
    ]
    wanted = {}
    for priority in {dimension_of(e, "priority") for e in calls}:
        mine = [e for e in calls if dimension_of(e, "priority") == priority]
        xs = [x for x in (number(e["properties"]["duration"]) for e in mine) if x is not None]
        with localcontext() as ctx:
            ctx.prec = 60
            wanted[priority] = (
                len(mine),
                six(p90(xs)) if xs else None,
                six(sum(xs, Decimal(0))) if xs else None,
                None,
                None,
                None,
            )
    assert rows_of(body) == wanted
    assert set(wanted) == {"1", "2", "true"}


async def test_limit_keeps_the_busiest_values_and_says_there_are_more(zoned: AsyncClient) -> None:
    events = random_events(34)
    await ingest_with_repeats(zoned, events)
    await _lead_kpis(zoned)
    params = {
        "definition_key": "leads",
        "dimension": "lead_source",
        "start": START.isoformat(),
        "end": END.isoformat(),
    }
    everything = (await zoned.get(URL, params=params)).json()
    top = (await zoned.get(URL, params={**params, "limit": 2})).json()
    counts = sorted(
        (r[0] for r in expected_lead_sources(events, "organization", None, None).values()),
        reverse=True,
    )
    assert [r["count"] for r in top["rows"]] == counts[:2] and top["truncated"] is True
    assert top["rows"] == everything["rows"][:2]
    assert [r["conversions"] for r in everything["rows"]] == [None] * len(everything["rows"])
    exact = (await zoned.get(URL, params={**params, "limit": len(everything["rows"])})).json()
    assert exact["truncated"] is False
