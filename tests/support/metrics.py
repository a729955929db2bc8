"""Shortcuts the standing-view tests share: manual KPIs, assignments, recorded values."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from httpx import AsyncClient, Response

from kpi_service.core.database import Database
from tests.support.api import assign, create_definition, statements_sent

METRICS = "/api/kpis/metrics"


async def manual_kpi(client: AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    """A manual monthly KPI (override any field)."""
    return await create_definition(client, key=key, **{"aggregation_period": "monthly",
                                                        **fields})


async def held(client: AsyncClient, definition: dict[str, Any], user: str, target: Any, *,
               team: str | None = "t1", weight: Any = 100,
               start: str = "2025-01-01", **fields: Any) -> int:
    """Assign a KPI to a user (team, weight, start date); the assignment id."""
    created = await assign(client, definition["id"], user, target, team_id=team,
                           weight=weight, start_date=start, **fields)
    assignment_id: int = created["id"]
    return assignment_id


async def record(client: AsyncClient, assignment_id: int, period_start: str,
                 value: Any) -> dict[str, Any]:
    """Record a manual value; the stored measurement."""
    response = await client.put(
        f"/api/kpis/assignments/{assignment_id}/measurements/{period_start}",
        json={"value": value if isinstance(value, int | float) else float(Decimal(value))})
    assert response.status_code == 200, response.text
    measured: dict[str, Any] = response.json()
    return measured


async def view(client: AsyncClient, name: str, headers: dict[str, str] | None = None,
               **params: Any) -> Response:
    """GET a metrics view with these query parameters (None values left out)."""
    return await client.get(f"{METRICS}/{name}", headers=headers,
                            params={k: v for k, v in params.items() if v is not None})


async def ok(client: AsyncClient, name: str, headers: dict[str, str] | None = None,
             **params: Any) -> dict[str, Any]:
    """A metrics view that must answer 200; its JSON."""
    response = await view(client, name, headers, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def hand_worked_team(client: AsyncClient) -> dict[str, int]:
    """Team t1 (ann, bob, cid, dee) and eve in t2, over January and February 2026."""
    calls = await manual_kpi(client, "calls")
    handle = await manual_kpi(client, "handle_time", unit="hours", target_type="lower_better")
    quality = await manual_kpi(client, "quality", unit="percent", target_type="exact")
    ids = {
        "ann_calls": await held(client, calls, "ann", 10, weight=50),
        "ann_handle": await held(client, handle, "ann", 2, weight=25),
        "ann_quality": await held(client, quality, "ann", 90, weight=25),
        "bob": await held(client, calls, "bob", 10),
        "cid": await held(client, calls, "cid", 10),
        "dee": await held(client, calls, "dee", 10),
        "eve": await held(client, calls, "eve", 10, team="t2"),
    }
    january = {"ann_calls": 8, "ann_handle": 4, "ann_quality": 90, "bob": 10, "cid": 20,
               "dee": 5}
    february = {"ann_calls": 12, "ann_handle": 1.6, "ann_quality": 81, "bob": 11.375,
                "cid": 20, "eve": 30}
    for month, values in (("2026-01-01", january), ("2026-02-01", february)):
        for name, value in values.items():
            await record(client, ids[name], month, value)
    return ids


# --- plain-Python expectations (DESIGN.md section 4), independent of the engine -------------

SIX = Decimal("0.000001")
CAP = Decimal(150)


def q(value: Decimal) -> Decimal:
    """Six decimal places, half to even, as every stored percentage."""
    return value.quantize(SIX, rounding=ROUND_HALF_EVEN) + 0


def achieved(actual: Decimal, target: Decimal, target_type: str) -> Decimal:
    """Achievement in percent for a target of zero or more."""
    if target_type == "higher_better":
        if target == 0:
            return Decimal(100) if actual >= 0 else Decimal(0)
        return q(actual / target * 100)
    if target_type == "lower_better":
        if target == 0:
            return Decimal(100) if actual <= 0 else Decimal(0)
        return Decimal(100) if actual <= 0 else q(target / actual * 100)
    if target == 0:
        return Decimal(100) if actual == 0 else Decimal(0)
    return q(max(Decimal(0), 100 - abs(actual - target) / abs(target) * 100))


def capped(achievement: Decimal, cap: Decimal = CAP) -> Decimal:
    return q(max(Decimal(0), min(achievement, cap)))


def status_of(achievement: Decimal, warning: Decimal = Decimal(80)) -> str:
    if achievement >= 100:
        return "met"
    return "at_risk" if achievement >= warning else "off_track"


def change_of(actual: Decimal, previous: Decimal | None) -> Decimal | None:
    if previous is None or previous == 0:
        return None
    return q((actual - previous) / abs(previous) * 100)


def trend_of(actual: Decimal, previous: Decimal | None, target_type: str,
             target: Decimal) -> str | None:
    if previous is None:
        return None
    if target_type == "higher_better":
        better, worse = actual, previous
    elif target_type == "lower_better":
        better, worse = previous, actual
    else:
        better, worse = abs(previous - target), abs(actual - target)
    return "improving" if better > worse else "declining" if better < worse else "flat"


def weighted(pairs: Iterable[tuple[Decimal, Decimal | None]]) -> Decimal | None:
    """sum(weight x score) / sum(weight) over scored items of positive weight."""
    scored = [(w, s) for w, s in pairs if s is not None and w > 0]
    if not scored:
        return None
    return q(sum(w * s for w, s in scored) / sum(w for w, _ in scored))


def dense(scores: dict[str, Decimal | None]) -> dict[str, int]:
    """1 + how many distinct scores are higher."""
    distinct = {s for s in scores.values() if s is not None}
    return {k: 1 + sum(1 for o in distinct if o > s) for k, s in scores.items()
            if s is not None}


def competition(scores: dict[str, Decimal | None]) -> dict[str, int]:
    """1 + how many scores are higher."""
    present = [s for s in scores.values() if s is not None]
    return {k: 1 + sum(1 for o in present if o > s) for k, s in scores.items() if s is not None}


def num(value: Decimal | None) -> float | None:
    """A Decimal as the API's JSON number."""
    return None if value is None else float(value)


# --- a random data set, recorded through the API ---------------------------------------------

KPIS = {  # key: (unit, target_type)
    "calls": ("count", "higher_better"),
    "handle_time": ("hours", "lower_better"),
    "quality": ("percent", "exact"),
}
MONTHS = ("2026-01-01", "2026-02-01")


@dataclass
class Held:
    """One assignment of the data set and the values recorded for it, by month."""

    assignment_id: int
    user: str
    team: str
    key: str
    target: Decimal
    weight: Decimal
    values: dict[str, Decimal] = field(default_factory=dict)

    @property
    def target_type(self) -> str:
        return KPIS[self.key][1]

    def achievement(self, month: str) -> Decimal | None:
        value = self.values.get(month)
        return None if value is None else achieved(value, self.target, self.target_type)

    def score(self, month: str) -> Decimal | None:
        achievement = self.achievement(month)
        return None if achievement is None else capped(achievement)


async def random_dataset(client: AsyncClient, seed: int, users: int = 14) -> list[Held]:
    """Users in teams t1/t2 holding the three KPIs (most of them), random targets (zero
    sometimes), weights (zero sometimes) and values from a small set (ties), some missing."""
    rng = random.Random(seed)
    definitions = {key: await manual_kpi(client, key, unit=unit, target_type=target_type)
                   for key, (unit, target_type) in KPIS.items()}
    held_rows = []
    for i in range(users):
        user, team = f"u{i:02d}", "t1" if i % 2 else "t2"
        for key in KPIS:
            if rng.random() < 0.15:
                continue
            target = Decimal(rng.choice([0, 5, 10, 10, 20]))
            weight = Decimal(rng.choice([0, 10, 25, 50, 100, 100]))
            assignment_id = await held(client, definitions[key], user, int(target),
                                       team=team, weight=int(weight))
            held_rows.append(Held(assignment_id, user, team, key, target, weight))
    for month in MONTHS:  # in order: each value's previous one is already stored
        for row in held_rows:
            if rng.random() < 0.8:
                value = Decimal(rng.choice([0, 2, 5, 8, 10, 10, 12, 15, 20]))
                await record(client, row.assignment_id, month, int(value))
                row.values[month] = value
    return held_rows


async def statements_as_team_grows(client: AsyncClient, db: Database, sizes: Iterable[int],
                                   name: str, **params: Any) -> list[tuple[int, Any]]:
    """Users u00, u01, ... join team t1 with a manual `calls` KPI valued for February 2026,
    up to each size in turn; after each, one request to the view: (statements sent, body)."""
    kpi = await manual_kpi(client, "calls")
    seen, users = [], 0
    for size in sizes:
        for i in range(users, size):
            await record(client, await held(client, kpi, f"u{i:02d}", 10), "2026-02-01", i)
        users = size
        async with statements_sent(db) as sent:
            body = await ok(client, name, **params)
        seen.append((len(sent), body))
    return seen
