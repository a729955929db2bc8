"""Event KPIs on a random data set, checked against a plain-Python recomputation.

Every aggregate, over the event's value or a numeric property, with and without a property
filter, for user, team and organisation scopes, over an ISO week of the organisation's time
zone (one of them the week US summer time ends). The data come from a seeded generator: a
failure names its seed and reproduces.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import (
    assign_in_bulk,
    assignment_body,
    define,
    event,
    ingest_with_repeats,
    measurements,
    recalculate,
)
from tests.support.app import make_settings

TENANT = "default"
MONDAY = datetime(2025, 10, 27)  # local; US summer time ends on Sunday 2 November 2025
USERS = [f"u{n}" for n in range(1, 9)]  # the last one sends nothing
TEAMS = ["support", "sales", "field"]
TYPES = ["call", "email"]
AGGREGATES = ["count", "sum", "avg", "min", "max", "distinct_users", "p50", "p90", "p95"]
QUANTILES = {"p50": Decimal("0.5"), "p90": Decimal("0.9"), "p95": Decimal("0.95")}
SIX_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Case:
    seed: int
    zone: str

    @property
    def week(self) -> tuple[datetime, datetime]:
        """The week's half-open instant range in the organisation's time zone."""
        tz = ZoneInfo(self.zone)
        return (
            MONDAY.replace(tzinfo=tz).astimezone(UTC),
            (MONDAY + timedelta(days=7)).replace(tzinfo=tz).astimezone(UTC),
        )


CASES = [
    Case(1, "America/New_York"),
    Case(2, "Asia/Kolkata"),
    Case(3, "UTC"),
    Case(4, "America/New_York"),
]


def _number(rng: random.Random) -> float | int:
    if rng.random() < 0.3:
        return rng.randint(-50, 900)
    return round(rng.uniform(-50, 900), 2)


def _properties(rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {
        "channel": rng.choice(["phone", "chat", "mail"]),
        "vip": rng.random() < 0.3,
    }
    roll = rng.random()
    if roll < 0.7:
        props["duration"] = _number(rng)
    elif roll < 0.8:
        props["duration"] = "n/a"  # not a number: ignored by aggregates over it
    elif roll < 0.85:
        props["duration"] = True  # a boolean is not a number either
    return props


def _instants(rng: random.Random, case: Case, count: int) -> list[datetime]:
    start, end = case.week
    edges = [start, start - timedelta(microseconds=1), end, end - timedelta(microseconds=1)]
    spread = [start + timedelta(seconds=rng.randint(-2 * 86_400, 9 * 86_400)) for _ in range(count)]
    return edges + spread


def generate_events(case: Case) -> list[dict[str, Any]]:
    """Events of every kind, some right on the week's edges, some duplicated ids."""
    rng = random.Random(case.seed)
    events = [
        event(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            user_id=rng.choice(USERS[:-1]),
            event_type=rng.choice(TYPES),
            occurred_at=at.astimezone(ZoneInfo(case.zone)),
            properties=_properties(rng),
            team_id=rng.choice(TEAMS) if rng.random() < 0.85 else None,
            value=_number(rng) if rng.random() < 0.85 else None,
        )
        for at in _instants(rng, case, rng.randint(250, 400))
    ]
    # A re-sent event (same id, same content) counts once.
    events += [dict(e) for e in rng.sample(events, 5)]
    return events


def random_configs(rng: random.Random) -> list[dict[str, Any]]:
    """Every aggregate once, on a random type, measured and filter."""
    configs = []
    for aggregate in AGGREGATES:
        config: dict[str, Any] = {"event_type": rng.choice(TYPES), "aggregate": aggregate}
        if aggregate not in ("count", "distinct_users") and rng.random() < 0.5:
            config["property"] = "duration"
        if rng.random() < 0.4:
            config["filter"] = rng.choice(
                [{"channel": "phone"}, {"vip": True}, {"channel": "chat", "vip": False}]
            )
        configs.append(config)
    return configs


# -- the plain-Python recomputation -------------------------------------------------------


def _matches(properties: dict[str, Any], wanted: dict[str, Any]) -> bool:
    # JSON containment: true is not 1, "1" is not 1.
    return all(
        k in properties and type(properties[k]) is type(v) and properties[k] == v
        for k, v in wanted.items()
    )


def _measured(event: dict[str, Any], prop: str | None) -> Decimal | None:
    raw = event.get("value") if prop is None else event["properties"].get(prop)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return Decimal(str(raw))


def _percentile(xs: list[Decimal], q: Decimal) -> Decimal:
    # As PostgreSQL's percentile_cont: linear interpolation between the closest ranks.
    xs = sorted(xs)
    position = q * (len(xs) - 1)
    low = int(position)
    if low + 1 == len(xs):
        return xs[low]
    return xs[low] + (xs[low + 1] - xs[low]) * (position - low)


def _aggregate(aggregate: str, rows: list[dict[str, Any]], prop: str | None) -> Decimal | None:
    if aggregate == "count":
        return Decimal(len(rows))
    if aggregate == "distinct_users":
        return Decimal(len({e["user_id"] for e in rows}))
    xs = [x for x in (_measured(e, prop) for e in rows) if x is not None]
    if not xs:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        simple: dict[str, Callable[[list[Decimal]], Decimal]] = {
            "sum": lambda v: sum(v, Decimal(0)),
            "min": min,
            "max": max,
            "avg": lambda v: sum(v, Decimal(0)) / len(v),
        }
        exact = (
            simple[aggregate](xs) if aggregate in simple else _percentile(xs, QUANTILES[aggregate])
        )
        return exact.quantize(SIX_PLACES, rounding=ROUND_HALF_EVEN)


def expected_value(
    events: list[dict[str, Any]], case: Case, config: dict[str, Any], scope: str, subject: str
) -> Decimal | None:
    start, end = case.week
    group: Callable[[dict[str, Any]], str | None] = {
        "user": lambda e: e["user_id"],
        "team": lambda e: e.get("team_id"),
        "organization": lambda e: TENANT,
    }[scope]
    unique = {e["id"]: e for e in reversed(events)}.values()
    rows = [
        e
        for e in unique
        if e["type"] == config["event_type"]
        and group(e) == subject
        and start <= datetime.fromisoformat(e["occurred_at"]) < end
        and _matches(e["properties"], config.get("filter", {}))
    ]
    return _aggregate(config["aggregate"], rows, config.get("property"))


# -- through the API ------------------------------------------------------------------------

SUBJECTS = {"user": USERS, "team": [*TEAMS, "nobody"], "organization": [TENANT]}


@pytest.fixture
async def zoned(
    request: pytest.FixtureRequest, db: Database, database_url: str
) -> AsyncIterator[AsyncClient]:
    """A client on an app whose organisation lives in the case's time zone."""
    app = create_app(make_settings(database_url, timezone=request.param.zone), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def _define(client: AsyncClient, case: Case) -> dict[str, tuple[str, dict[str, Any]]]:
    """Definitions and assignments for every scope; (scope, config) by definition key."""
    rng = random.Random(case.seed * 7919)
    made = {}
    for scope, subjects in SUBJECTS.items():
        for i, config in enumerate(random_configs(rng)):
            key = f"{scope[:3]}_{i}_{config['aggregate']}"
            answer = await define(
                client, key, name=key, scope=scope, calculation_type="event", config=config
            )
            items = [
                assignment_body(answer["id"], s, subject_type=scope, start_date="2025-10-01")
                for s in subjects
            ]
            await assign_in_bulk(client, items)
            made[key] = (scope, config)
    return made


async def _stored(db: Database) -> dict[tuple[str, str], Decimal | None]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.key, a.subject_id, m.actual_value FROM kpi.measurements m "
                "JOIN kpi.assignments a ON a.tenant_id = m.tenant_id AND a.id = m.assignment_id "
                "JOIN kpi.definitions d ON d.tenant_id = a.tenant_id AND d.id = a.definition_id "
                "WHERE m.period_start = '2025-10-27'"
            )
        )
        return {(k, s): v for k, s, v in rows}


@pytest.mark.parametrize("zoned", CASES, indirect=True, ids=lambda c: f"{c.seed}-{c.zone}")
async def test_every_aggregate_and_scope_matches_a_plain_python_recomputation(
    zoned: AsyncClient, db: Database, request: pytest.FixtureRequest
) -> None:
    case: Case = request.node.callspec.params["zoned"]
    events = generate_events(case)
    await ingest_with_repeats(zoned, events)
    definitions = await _define(zoned, case)

    run = await recalculate(zoned, period_start=MONDAY.date().isoformat())
    due = sum(len(SUBJECTS[scope]) for scope, _ in definitions.values())
    assert (run["status"], run["computed"]) == ("succeeded", due), run

    stored = await _stored(db)
    wanted = {
        (key, subject): expected_value(events, case, config, scope, subject)
        for key, (scope, config) in definitions.items()
        for subject in SUBJECTS[scope]
    }
    assert stored.keys() == wanted.keys()
    wrong = {k: (stored[k], v) for k, v in wanted.items() if stored[k] != v}
    assert not wrong, f"seed {case.seed} ({case.zone}): stored != expected for {wrong}"
    served = {
        (m["definition_key"], m["subject_id"]): m["actual_value"]
        for m in await measurements(zoned, limit=500)
    }
    assert served == {k: None if v is None else float(v) for k, v in wanted.items()}
    # The user who sent nothing: counts are zero, the others have no value.
    assert {
        stored[(k, USERS[-1])]
        for k, (s, c) in definitions.items()
        if s == "user" and c["aggregate"] in ("count", "distinct_users")
    } == {Decimal(0)}
