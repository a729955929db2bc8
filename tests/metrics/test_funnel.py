"""The funnel view: event stages over a random data set and KPI stages over a seed-004-shaped
contacts table, each count and conversion recomputed in plain Python; access and bad input."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define, manual_kpi, recalculate, record
from tests.support.app import make_settings
from tests.support.auth import bearer
from tests.support.metrics import held

URL = "/api/kpis/metrics/funnel"
ZONE = "America/New_York"
# Local dates; US summer time ends on Sunday 2 November 2025, inside the range.
START, END = date(2025, 10, 27), date(2025, 11, 9)
USERS = [f"u{n}" for n in range(1, 8)]  # u7 sends nothing
TEAMS = ["t1", "t2"]
STAGES = ["assigned", "contacted", "demo", "interested", "converted"]  # no demo events
SIX = Decimal("0.000001")


def local_range(zone: str, start: date, end: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    first = datetime(start.year, start.month, start.day, tzinfo=tz)
    after = datetime(end.year, end.month, end.day, tzinfo=tz) + timedelta(days=1)
    # `+ timedelta` on a zoned datetime keeps the wall clock: the next local midnight.
    return first.astimezone(UTC), after.replace(tzinfo=tz).astimezone(UTC)


def pct(part: Decimal | None, whole: Decimal | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return float((part / whole * 100).quantize(SIX, rounding=ROUND_HALF_EVEN))


def expected_stages(counts: list[Decimal | None]) -> list[tuple[Any, Any, Any]]:
    """(count, from previous, from first) per stage, by hand."""
    return [
        (None if c is None else float(c), pct(c, counts[i - 1]) if i else None, pct(c, counts[0]))
        for i, c in enumerate(counts)
    ]


def served(body: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    return [
        (s["count"], s["conversion_from_previous"], s["conversion_from_first"])
        for s in body["stages"]
    ]


@pytest.fixture
async def zoned(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(database_url, timezone=ZONE), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
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
    events = []
    for at in instants:
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "user_id": rng.choice(USERS[:-1]),
            "type": rng.choices(STAGES, weights)[0],
            "occurred_at": at.astimezone(ZoneInfo(ZONE)).isoformat(),
        }
        if rng.random() < 0.8:
            event["team_id"] = rng.choice(TEAMS)
        events.append(event)
    return events + [dict(e) for e in rng.sample(events, 6)]


def expected_counts(
    events: list[dict[str, Any]], subject_type: str, subject_id: str, count: str
) -> list[Decimal | None]:
    start, end = local_range(ZONE, START, END)
    unique = {e["id"]: e for e in events}.values()
    mine = [
        e
        for e in unique
        if start <= datetime.fromisoformat(e["occurred_at"]) < end
        and (
            subject_type == "organization"
            or (subject_type == "user" and e["user_id"] == subject_id)
            or (subject_type == "team" and e.get("team_id") == subject_id)
        )
    ]
    out: list[Decimal | None] = []
    for stage in STAGES:
        rows = [e for e in mine if e["type"] == stage]
        out.append(Decimal(len({e["user_id"] for e in rows}) if count == "users" else len(rows)))
    return out


@pytest.mark.parametrize("seed", [11, 12])
async def test_event_stages_match_a_plain_python_count(zoned: AsyncClient, seed: int) -> None:
    events = random_events(seed)
    answer = await zoned.post("/api/kpis/events", json={"events": events})
    assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.text
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
        {
            "id": str(uuid.uuid4()),
            "user_id": "u1",
            "type": t,
            "occurred_at": (start + timedelta(hours=h)).isoformat(),
        }
        for t, h in (
            ("assigned", 1),
            ("assigned", 2),
            ("assigned", 3),
            ("assigned", 4),
            ("contacted", 5),
            ("interested", 6),
        )
    ]
    assert (await zoned.post("/api/kpis/events", json={"events": events})).status_code == 200
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


# -- KPI stages: seed 004's contacts, one query KPI per funnel stage -----------------------

WEEKS = [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
REACHED = ("contacted", "meeting_set", "proposal_sent", "negotiation", "closed_won", "closed_lost")
TEAM_OF = {"a1": "t1", "a2": "t1", "a3": "t2"}
STAGE_SQL = {
    "contacts_new": "TRUE",
    "contacts_reached": "funnel_stage <> 'needs_outreach'",
    "contacts_meeting": "funnel_stage IN ('meeting_set', 'proposal_sent', 'negotiation', "
    "'closed_won')",
    "contacts_won": "funnel_stage = 'closed_won'",
}


def in_stage(key: str, stage: str) -> bool:
    return {
        "contacts_new": True,
        "contacts_reached": stage != "needs_outreach",
        "contacts_meeting": stage in ("meeting_set", "proposal_sent", "negotiation", "closed_won"),
        "contacts_won": stage == "closed_won",
    }[key]


@pytest.fixture
async def contacts(db: Database) -> AsyncIterator[list[tuple[str, str, datetime]]]:
    """A seed-004-shaped contacts table in the source (= test) database, random rows."""
    rng = random.Random(4)
    stages = ["needs_outreach", *REACHED, "blocked"]
    rows = [
        (
            rng.choice(["a1", "a2", "a3"]),
            rng.choice(stages),
            datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=rng.randint(-3000, 30_000)),
        )
        for _ in range(300)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.activity_contacts"))
        await conn.execute(
            text(
                "CREATE TABLE public.activity_contacts (id serial PRIMARY KEY, owner_id text, "
                "funnel_stage text NOT NULL, created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO public.activity_contacts (owner_id, funnel_stage, created_at) "
                "VALUES (:o, :s, :c)"
            ),
            [{"o": o, "s": s, "c": c} for o, s, c in rows],
        )
    yield rows
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.activity_contacts"))


async def _contact_kpis(client: AsyncClient) -> None:
    for key, condition in STAGE_SQL.items():
        sql = (
            "SELECT owner_id AS subject_id, count(*) AS value FROM activity_contacts "
            f"WHERE {condition} AND owner_id = ANY(:subject_ids) "
            "AND created_at >= :period_start AND created_at < :period_end GROUP BY owner_id"
        )
        d = await define(client, key=key, calculation_type="query", config={"sql": sql})
        for user, team in TEAM_OF.items():
            await assign(client, d["id"], user, 10, team_id=team, start_date="2026-01-01")


async def test_kpi_stages_from_contacts_match_a_plain_python_count(
    client: AsyncClient, contacts: list[tuple[str, str, datetime]]
) -> None:
    await _contact_kpis(client)
    run = await recalculate(
        client, period_start=WEEKS[0].isoformat(), period_end=WEEKS[-1].isoformat()
    )
    assert run["status"] == "succeeded", run
    # Two whole weeks and the first day of the third: only the whole weeks count (sum).
    start, end = WEEKS[0], WEEKS[2]
    low, high = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)
    # A team's or the organisation's value of a user KPI: its members' values added up.
    for subject_type, subject_id, owners in (
        ("user", "a1", {"a1"}),
        ("user", "a2", {"a2"}),
        ("user", "a3", {"a3"}),
        ("team", "t1", {"a1", "a2"}),
        ("team", "t2", {"a3"}),
        ("team", "t3", set()),
        ("organization", None, {"a1", "a2", "a3"}),
    ):
        params = {
            "stages": [f"kpi:{k}" for k in STAGE_SQL],
            "subject_type": subject_type,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        if subject_id:
            params["subject_id"] = subject_id
        body = (await client.get(URL, params=params)).json()
        wanted = [
            Decimal(
                sum(
                    1
                    for o, s, c in contacts
                    if o in owners and low <= c < high and in_stage(key, s)
                )
            )
            if owners
            else None
            for key in STAGE_SQL
        ]
        assert served(body) == expected_stages(wanted), (subject_type, subject_id)
        assert [s["kind"] for s in body["stages"]] == ["kpi"] * 4


async def test_members_values_combine_per_period_by_the_rollup(client: AsyncClient) -> None:
    rate = await define(client, key="contact_rate", unit="percent")  # avg
    values = {
        ("u1", "2026-03-02"): 50,
        ("u2", "2026-03-02"): 70,
        ("u1", "2026-03-09"): 90,
        ("u3", "2026-03-09"): 10,
    }
    held = {
        u: (
            await assign(
                client,
                rate["id"],
                u,
                80,
                team_id="t1" if u != "u3" else "t2",
                start_date="2026-01-05",
            )
        )["id"]
        for u in ("u1", "u2", "u3")
    }
    for (user, week), value in values.items():
        put = await client.put(
            f"/api/kpis/assignments/{held[user]}/measurements/{week}", json={"value": value}
        )
        assert put.status_code == 200, put.text
    ask = {"stages": ["kpi:contact_rate"], "start": "2026-03-02", "end": "2026-03-15"}
    team = await client.get(URL, params={**ask, "subject_type": "team", "subject_id": "t1"})
    # t1: week 1 avg(50, 70) = 60, week 2 avg(90) = 90; over the weeks avg(60, 90) = 75.
    assert team.json()["stages"][0]["count"] == 75
    org = (await client.get(URL, params={**ask, "subject_type": "organization"})).json()
    # Everyone: week 1 avg(50, 70) = 60, week 2 avg(90, 10) = 50; avg(60, 50) = 55.
    assert org["stages"][0]["count"] == 55


async def test_kpi_and_event_stages_mix_and_a_kpi_without_value_is_null(
    client: AsyncClient,
) -> None:
    d = await define(client, key="leads_assigned", aggregation_period="daily")
    quiet = await define(client, key="quiet_kpi", aggregation_period="daily")
    a = await assign(client, d["id"], "42", 5, start_date="2026-01-01")
    await assign(client, quiet["id"], "42", 5, start_date="2026-01-01")
    for day, value in (
        ("2026-02-02", 6),
        ("2026-02-03", 4),
        ("2026-02-05", 2.5),
        ("2026-02-07", 100),
    ):  # the 7th is outside the range
        put = await client.put(
            f"/api/kpis/assignments/{a['id']}/measurements/{day}", json={"value": value}
        )
        assert put.status_code == 200, put.text
    events = [
        {
            "id": str(uuid.uuid4()),
            "user_id": "42",
            "type": "call",
            "occurred_at": f"2026-02-0{d}T12:00:00Z",
        }
        for d in (2, 3, 4, 6, 7)
    ]
    assert (await client.post("/api/kpis/events", json={"events": events})).status_code == 200
    body = (
        await client.get(
            URL,
            params={
                "stages": ["kpi:leads_assigned", "event:call", "kpi:quiet_kpi", "event:call_back"],
                "subject_type": "user",
                "subject_id": "42",
                "start": "2026-02-02",
                "end": "2026-02-06",
            },
        )
    ).json()
    # 6 + 4 + 2.5 = 12.5 leads; 4 calls (32 %); quiet has no value; 0 call-backs.
    assert served(body) == [
        (12.5, None, 100.0),
        (4, 32.0, 32.0),
        (None, None, None),
        (0, None, 0.0),
    ]


# -- access and bad input -------------------------------------------------------------------


async def _people(c: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    d = await c.post(
        "/api/kpis/definitions",
        headers=admin,
        json={
            "key": "calls",
            "name": "Calls",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "weekly",
            "calculation_type": "manual",
        },
    )
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
            "type": "call",
            "occurred_at": "2026-01-06T10:00:00Z",
        }
        for u, t in (("42", "t1"), ("43", "t2"))
    ]
    sent = await c.post("/api/kpis/events", headers=admin, json={"events": events})
    assert sent.json()["accepted"] == 2, sent.text


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
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


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
