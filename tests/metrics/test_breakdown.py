"""The breakdown view: event KPIs by a property (seed 003's lead sources) and a query KPI by a
column of its SQL, every figure recomputed in plain Python; access and bad input."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define
from tests.support.app import make_settings
from tests.support.auth import bearer

URL = "/api/kpis/metrics/breakdown"
ZONE = "Europe/Berlin"
START, END = date(2026, 3, 23), date(2026, 4, 5)  # summer time starts on 29 March 2026
USERS = ["u1", "u2", "u3", "u4"]
TEAMS = ["t1", "t2"]
SOURCES = ["referrals", "web_forms", "cold_call", "partners"]
SIX = Decimal("0.000001")


def six(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(SIX, rounding=ROUND_HALF_EVEN))


def instants() -> tuple[datetime, datetime]:
    tz = ZoneInfo(ZONE)
    return (
        datetime(2026, 3, 23, tzinfo=tz).astimezone(UTC),
        datetime(2026, 4, 6, tzinfo=tz).astimezone(UTC),
    )


@pytest.fixture
async def zoned(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(database_url, timezone=ZONE), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
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
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "user_id": rng.choice(USERS),
            "type": kind,
            "properties": props,
            "occurred_at": at.astimezone(ZoneInfo(ZONE)).isoformat(),
        }
        if rng.random() < 0.85:
            event["team_id"] = rng.choice(TEAMS)
        if kind == "conversion" and rng.random() < 0.9:
            event["value"] = rng.choice([rng.randint(100, 5000), round(rng.uniform(50, 900), 2)])
        events.append(event)
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


def in_scope(
    events: list[dict[str, Any]], subject_type: str, subject_id: str | None
) -> list[dict[str, Any]]:
    start, end = instants()
    unique = {e["id"]: e for e in events}.values()
    return [
        e
        for e in unique
        if start <= datetime.fromisoformat(e["occurred_at"]) < end
        and (
            subject_type == "organization"
            or (subject_type == "user" and e["user_id"] == subject_id)
            or (subject_type == "team" and e.get("team_id") == subject_id)
        )
    ]


def expected_lead_sources(
    events: list[dict[str, Any]], subject_type: str, subject_id: str | None, revenue: str | None
) -> dict[Any, Any]:
    """Per source: leads, leads (the KPI's count), sum of lead values, conversions, rate,
    revenue (the conversions' value, or their `revenue` property)."""
    mine = in_scope(events, subject_type, subject_id)
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


def rows_of(body: dict[str, Any]) -> dict[Any, Any]:
    return {
        r["dimension_value"]: (
            r["count"],
            r["value"],
            r["total"],
            r["conversions"],
            r["conversion_rate"],
            r["conversion_value"],
        )
        for r in body["rows"]
    }


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
    sent = await zoned.post("/api/kpis/events", json={"events": events})
    assert sent.status_code == 200 and sent.json()["rejected"] == 0, sent.text
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
    assert (await zoned.post("/api/kpis/events", json={"events": events})).status_code == 200
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
        for e in in_scope(events, "organization", None)
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
    assert (await zoned.post("/api/kpis/events", json={"events": events})).status_code == 200
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


# -- a query KPI split by a column of its SQL -----------------------------------------------

AGENTS = {"a1": "north", "a2": "north", "a3": "south", "a4": "south", "a5": None, "a6": "east"}
TEAM_OF = {"a1": "t1", "a2": "t1", "a3": "t1", "a4": "t2", "a5": "t2", "a6": "t2"}
SQL = (
    "SELECT l.agent_id AS subject_id, count(*) AS value, a.region FROM activity_leads l "
    "JOIN activity_agents a ON a.id = l.agent_id WHERE l.agent_id = ANY(:subject_ids) "
    "AND l.created_at >= :period_start AND l.created_at < :period_end "
    "GROUP BY l.agent_id, a.region"
)


@pytest.fixture
async def leads_table(db: Database) -> AsyncIterator[list[tuple[str, datetime]]]:
    """Seed 003's leads with the agent's region in a second table."""
    rng = random.Random(35)
    # a6 has no lead in the range: no row, so not counted.
    rows = [
        (
            rng.choice(["a1", "a2", "a3", "a4", "a5"]),
            datetime(2026, 3, 23, tzinfo=UTC) + timedelta(minutes=rng.randint(-5000, 25_000)),
        )
        for _ in range(200)
    ]
    async with db.engine.begin() as conn:
        for name in ("activity_leads", "activity_agents"):
            await conn.execute(text(f"DROP TABLE IF EXISTS public.{name}"))
        await conn.execute(
            text("CREATE TABLE public.activity_agents (id text PRIMARY KEY, region text)")
        )
        await conn.execute(
            text(
                "CREATE TABLE public.activity_leads (id serial PRIMARY KEY, "
                "agent_id text, created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(
            text("INSERT INTO public.activity_agents VALUES (:i, :r)"),
            [{"i": i, "r": r} for i, r in AGENTS.items()],
        )
        await conn.execute(
            text("INSERT INTO public.activity_leads (agent_id, created_at) VALUES (:a, :c)"),
            [{"a": a, "c": c} for a, c in rows],
        )
    yield rows
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.activity_leads, public.activity_agents"))


async def test_a_query_kpi_by_a_column_matches_a_plain_python_count(
    client: AsyncClient, leads_table: list[tuple[str, datetime]]
) -> None:
    for key, rollup in (("leads_per_agent", "sum"), ("leads_avg", "avg")):
        d = await define(
            client, key=key, calculation_type="query", rollup=rollup, config={"sql": SQL}
        )
        for agent in AGENTS:
            await assign(
                client, d["id"], agent, 10, team_id=TEAM_OF[agent], start_date="2026-01-01"
            )
    low, high = datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC)
    per_agent = {a: sum(1 for x, c in leads_table if x == a and low <= c < high) for a in AGENTS}
    for subject_type, subject_id, agents in (
        ("organization", None, list(AGENTS)),
        ("team", "t1", ["a1", "a2", "a3"]),
        ("team", "t2", ["a4", "a5", "a6"]),
        ("user", "a3", ["a3"]),
    ):
        for key, rollup in (("leads_per_agent", "sum"), ("leads_avg", "avg")):
            params = {
                "definition_key": key,
                "dimension": "region",
                "subject_type": subject_type,
                "start": "2026-03-23",
                "end": "2026-04-05",
            }
            if subject_id:
                params["subject_id"] = subject_id
            response = await client.get(URL, params=params)
            assert response.status_code == 200, response.text
            wanted = {}
            for region in {AGENTS[a] for a in agents if per_agent[a]}:
                counts = [
                    Decimal(per_agent[a]) for a in agents if AGENTS[a] == region and per_agent[a]
                ]
                total = sum(counts, Decimal(0))
                value = total if rollup == "sum" else total / len(counts)
                wanted[region] = (len(counts), six(value), six(total), None, None, None)
            assert rows_of(response.json()) == wanted, (subject_type, subject_id, key)


async def test_a_query_kpi_cannot_be_split_by_a_column_it_lacks(
    client: AsyncClient, leads_table: list[tuple[str, datetime]]
) -> None:
    await define(client, key="leads_per_agent", calculation_type="query", config={"sql": SQL})
    await define(
        client,
        key="resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    base = {"start": "2026-03-23", "end": "2026-04-05"}
    for params, word in (
        ({"definition_key": "leads_per_agent", "dimension": "country"}, "country"),
        ({"definition_key": "resolved", "dimension": "status"}, "built-in"),
        (
            {
                "definition_key": "leads_per_agent",
                "dimension": "region",
                "convert_type": "conversion",
            },
            "event KPIs",
        ),
    ):
        response = await client.get(URL, params={**base, **params})
        assert response.status_code == 422, response.text
        assert word in response.json()["detail"]


# -- access and bad input -------------------------------------------------------------------


async def test_who_may_read_which_breakdown(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    d = await c.post(
        "/api/kpis/definitions",
        headers=admin,
        json={
            "key": "leads",
            "name": "Leads",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "weekly",
            "calculation_type": "event",
            "config": {"event_type": "lead", "aggregate": "count"},
        },
    )
    assert d.status_code == 201, d.text
    for user, team in (("42", "t1"), ("43", "t2")):
        made = await c.post(
            "/api/kpis/assignments",
            headers=admin,
            json={
                "definition_id": d.json()["id"],
                "subject_type": "user",
                "subject_id": user,
                "team_id": team,
                "target_value": 1,
                "start_date": "2026-01-05",
            },
        )
        assert made.status_code == 201, made.text
    events = [
        {
            "id": str(uuid.uuid4()),
            "user_id": u,
            "team_id": t,
            "type": "lead",
            "occurred_at": "2026-01-06T10:00:00Z",
            "properties": {"lead_source": "web"},
        }
        for u, t in (("42", "t1"), ("43", "t2"), ("43", "t2"))
    ]
    assert (
        await c.post("/api/kpis/events", headers=admin, json={"events": events})
    ).status_code == 200

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
    made = await c.post(
        "/api/kpis/definitions",
        headers=acme,
        json={
            "key": "leads",
            "name": "Leads",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "weekly",
            "calculation_type": "event",
            "config": {"event_type": "lead", "aggregate": "count"},
        },
    )
    assert made.status_code == 201, made.text
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
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
