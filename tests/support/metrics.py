"""Shortcuts the standing-view tests share: held KPIs, the views, hand-worked and random
data sets recorded through the API."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from httpx import AsyncClient, Response

from kpi_service.core.database import Database
from tests.support.api import assign, manual_kpi, record
from tests.support.database import statements_sent
from tests.support.expected import achieved, capped

METRICS = "/api/kpis/metrics"


async def held(
    client: AsyncClient,
    definition: dict[str, Any],
    user: str,
    target: Any,
    *,
    team: str | None = "t1",
    weight: Any = 100,
    start: str = "2025-01-01",
    **fields: Any,
) -> int:
    """Assign a KPI to a user (team, weight, start date; target None: without one); the
    assignment id."""
    created = await assign(
        client,
        definition["id"],
        user,
        target,
        team_id=team,
        weight=weight,
        start_date=start,
        **fields,
    )
    assignment_id: int = created["id"]
    return assignment_id


async def view(
    client: AsyncClient, name: str, headers: dict[str, str] | None = None, **params: Any
) -> Response:
    """GET a metrics view with these query parameters (None values left out)."""
    return await client.get(
        f"{METRICS}/{name}",
        headers=headers,
        params={k: v for k, v in params.items() if v is not None},
    )


async def ok(
    client: AsyncClient, name: str, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
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
    january = {"ann_calls": 8, "ann_handle": 4, "ann_quality": 90, "bob": 10, "cid": 20, "dee": 5}
    february = {
        "ann_calls": 12,
        "ann_handle": 1.6,
        "ann_quality": 81,
        "bob": 11.375,
        "cid": 20,
        "eve": 30,
    }
    for month, values in (("2026-01-01", january), ("2026-02-01", february)):
        for name, value in values.items():
            await record(client, ids[name], month, value)
    return ids


# --- a random data set, recorded through the API ---------------------------------------------

KPIS = {  # key: (unit, target_type)
    "calls": ("count", "higher_better"),
    "handle_time": ("hours", "lower_better"),
    "quality": ("percent", "exact"),
}
MONTHS = ("2026-01-01", "2026-02-01")
# A day of the hand-worked team's second month.
FEB = "2026-02-10"


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
    definitions = {
        key: await manual_kpi(client, key, unit=unit, target_type=target_type)
        for key, (unit, target_type) in KPIS.items()
    }
    held_rows = []
    for i in range(users):
        user, team = f"u{i:02d}", "t1" if i % 2 else "t2"
        for key in KPIS:
            if rng.random() < 0.15:
                continue
            target = Decimal(rng.choice([0, 5, 10, 10, 20]))
            weight = Decimal(rng.choice([0, 10, 25, 50, 100, 100]))
            assignment_id = await held(
                client, definitions[key], user, int(target), team=team, weight=int(weight)
            )
            held_rows.append(Held(assignment_id, user, team, key, target, weight))
    for month in MONTHS:  # in order: each value's previous one is already stored
        for row in held_rows:
            if rng.random() < 0.8:
                value = Decimal(rng.choice([0, 2, 5, 8, 10, 10, 12, 15, 20]))
                await record(client, row.assignment_id, month, int(value))
                row.values[month] = value
    return held_rows


async def statements_as_team_grows(
    client: AsyncClient, db: Database, sizes: Iterable[int], name: str, **params: Any
) -> list[tuple[int, Any]]:
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
