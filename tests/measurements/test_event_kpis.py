"""Event KPIs on a generated data set, checked against a plain-Python recomputation."""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support import create_definition, measurements, recalculate

WEEK_START = datetime(2026, 11, 9, tzinfo=UTC)
USERS = [str(u) for u in range(1, 9)]


def _events(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for user in USERS[:-1]:  # the last user has no events at all
        for _ in range(rng.randint(0, 40)):
            at = WEEK_START + timedelta(seconds=rng.randint(-2 * 86400, 9 * 86400))
            kind = rng.choice(["call", "call", "email"])
            props: dict[str, Any] = {"duration": rng.randint(5, 900),
                                     "outcome": rng.choice(["won", "lost"])}
            if rng.random() < 0.1:
                props["duration"] = "n/a"  # not a number: ignored by the aggregate
            out.append({"id": str(uuid.uuid4()), "user_id": user, "type": kind,
                        "occurred_at": at.isoformat(), "value": rng.randint(1, 100),
                        "properties": props})
    return out


def _in_week(e: dict[str, Any]) -> bool:
    at = datetime.fromisoformat(e["occurred_at"])
    return WEEK_START <= at < WEEK_START + timedelta(days=7)


def _percentile(xs: list[float], q: float) -> float:
    # PostgreSQL's percentile_cont: linear interpolation between closest ranks.
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo, frac = int(pos), pos - int(pos)
    return xs[lo] if lo + 1 >= len(xs) else xs[lo] + (xs[lo + 1] - xs[lo]) * frac


def expected(events: list[dict[str, Any]], config: dict[str, Any], user: str) -> float | None:
    rows = [e for e in events if e["user_id"] == user and e["type"] == config["event_type"]
            and _in_week(e)
            and all(e["properties"].get(k) == v for k, v in config.get("filter", {}).items())]
    agg = config["aggregate"]
    if agg == "count":
        return len(rows)
    if agg == "distinct_users":
        return len({e["user_id"] for e in rows})
    prop = config.get("property")
    xs = [float(e["value"]) if prop is None else e["properties"][prop] for e in rows]
    xs = [x for x in xs if isinstance(x, int | float)]
    if not xs:
        return None
    simple = {"sum": sum, "avg": statistics.fmean, "min": min, "max": max}
    if agg in simple:
        return float(simple[agg](xs))
    return _percentile(xs, {"p50": 0.5, "p90": 0.9, "p95": 0.95}[agg])


CONFIGS = [
    {"event_type": "call", "aggregate": "count"},
    {"event_type": "call", "aggregate": "count", "filter": {"outcome": "won"}},
    {"event_type": "call", "aggregate": "sum"},
    {"event_type": "email", "aggregate": "avg"},
    {"event_type": "call", "aggregate": "min", "property": "duration"},
    {"event_type": "call", "aggregate": "max", "property": "duration"},
    {"event_type": "call", "aggregate": "distinct_users"},
    {"event_type": "call", "aggregate": "p50", "property": "duration"},
    {"event_type": "call", "aggregate": "p90", "property": "duration"},
    {"event_type": "call", "aggregate": "p95"},
]


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_aggregate_matches_a_plain_python_recomputation(
        client: AsyncClient, db: Database, seed: int) -> None:
    events = _events(seed)
    for start in range(0, len(events), 5000):
        response = await client.post("/api/kpis/events",
                                     json={"events": events[start:start + 5000]})
        assert response.json()["rejected"] == 0
    for i, config in enumerate(CONFIGS):
        d = await create_definition(client, key=f"ev_{i}", calculation_type="event",
                                    config=config)
        items = [{"definition_id": d["id"], "subject_type": "user", "subject_id": u,
                  "target_value": 10, "start_date": "2026-11-01"} for u in USERS]
        assert (await client.post("/api/kpis/assignments/bulk",
                                  json={"items": items})).status_code == 201
    run = await recalculate(client, period_start="2026-11-09")
    assert run["status"] == "succeeded" and run["computed"] == len(CONFIGS) * len(USERS)
    got = {(m["definition_key"], m["subject_id"]): m["actual_value"]
           for m in await measurements(client)}
    for i, config in enumerate(CONFIGS):
        for user in USERS:
            want = expected(events, config, user)
            have = got[(f"ev_{i}", user)]
            if want is None:
                assert have is None, (config, user)
            else:
                assert have == pytest.approx(want, rel=1e-9), (config, user)
    assert Decimal(str(got[("ev_0", USERS[-1])])) == 0  # no events: a count of zero
