"""The executive summary's achievement distribution of the users' KPIs, recomputed in plain
Python: random data sets, bystanders that must not count, the default period."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, record
from tests.support.summary import URL, counts_of, tally

WEEK = date(2026, 2, 9)  # a Monday


KPIS = [
    ("calls", "higher_better", Decimal(80)),
    ("resolution_hours", "lower_better", Decimal(70)),
    ("csat", "exact", Decimal(90)),
]


async def _random_user_kpis(client: AsyncClient, seed: int) -> dict[str, list[Any]]:
    """Weekly manual KPIs for 24 users, random targets and values (some exactly on a
    bucket edge, some missing, some zero targets); the cases behind each week's counts."""
    rng = random.Random(seed)
    cases: dict[str, list[Any]] = {}
    for key, target_type, warning in KPIS:
        d = await define(client, key=key, target_type=target_type, warning_threshold=float(warning))
        cases[key] = []
        for n in range(24):
            target = Decimal(rng.choice([0, 4, 10, 10, 25, 40])) if n % 8 else Decimal(10)
            a = await assign(
                client, d["id"], f"u{n}", float(target), team_id="t1", start_date="2026-01-05"
            )
            value: Decimal | None = Decimal(rng.choice([0, 1, 3, 5, 8, 10, 12, 15, 30, 41]))
            if n % 8 == 0:
                value = Decimal([5, 8, 10, 12][n // 8 % 4])  # 50, 80, 100, 120 % or mirrored
            if rng.random() < 0.15:
                value = None
            if value is not None:
                await record(client, a["id"], WEEK.isoformat(), float(value))
            # The week before has values too; they must not count.
            await record(client, a["id"], (WEEK - timedelta(days=7)).isoformat(), 1)
            cases[key].append((value, target, target_type, warning))
    return cases


async def _bystanders(client: AsyncClient) -> None:
    """Assignments not in force in the week, and an inactive KPI: none of them counts."""
    calls = (await client.get("/api/kpis/definitions/by-key/calls")).json()
    await assign(client, calls["id"], "late", 10, start_date="2026-02-16")
    await assign(client, calls["id"], "gone", 10, start_date="2026-01-05", end_date="2026-02-08")
    old = await define(client, key="old_kpi")
    kept = await assign(client, old["id"], "u1", 10, start_date="2026-01-05")
    await record(client, kept["id"], WEEK.isoformat(), 3)
    assert (await client.delete(f"/api/kpis/definitions/{old['id']}")).status_code in (200, 204)


@pytest.mark.parametrize("seed", [51, 52])
async def test_the_distribution_matches_a_plain_python_count(
    client: AsyncClient, seed: int
) -> None:
    cases = await _random_user_kpis(client, seed)
    await _bystanders(client)
    monthly = await define(client, key="revenue", aggregation_period="monthly", unit="currency")
    m = await assign(client, monthly["id"], "u1", 1000, start_date="2026-01-01")
    await record(client, m["id"], "2026-02-01", 1500)
    await assign(client, monthly["id"], "u2", 1000, start_date="2026-01-01")

    response = await client.get(
        URL, params={"period_kind": "weekly", "date": (WEEK + timedelta(days=3)).isoformat()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    by_key = {d["definition_key"]: d for d in body["distribution"]}
    assert sorted(by_key) == sorted(key for key, _, _ in KPIS)
    for key, wanted in cases.items():
        assert counts_of(by_key[key]) == tally(wanted), key
        assert (by_key[key]["period_start"], by_key[key]["period_end"]) == (
            WEEK.isoformat(),
            (WEEK + timedelta(days=6)).isoformat(),
        )
    assert counts_of(body["overall"]) == tally([c for w in cases.values() for c in w])
    assert [(b["lower"], b["upper"]) for b in body["overall"]["buckets"]] == [
        (None, 50),
        (50, 80),
        (80, 100),
        (100, 120),
        (120, None),
    ]

    # Without a kind: each KPI's own period holding the date, the monthly one too.
    every = (await client.get(URL, params={"date": WEEK.isoformat()})).json()
    revenue = next(d for d in every["distribution"] if d["definition_key"] == "revenue")
    assert (revenue["period_start"], revenue["period_end"]) == ("2026-02-01", "2026-02-28")
    assert counts_of(revenue) == tally(
        [
            (Decimal(1500), Decimal(1000), "higher_better", Decimal(80)),
            (None, Decimal(1000), "", Decimal(80)),
        ]
    )
    assert counts_of(every["overall"]) == tally(
        [c for w in cases.values() for c in w]
        + [
            (Decimal(1500), Decimal(1000), "higher_better", Decimal(80)),
            (None, Decimal(1000), "", Decimal(80)),
        ]
    )


async def test_the_default_period_is_each_kinds_latest_final_one(client: AsyncClient) -> None:
    today = datetime.now(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    last_week = this_monday - timedelta(days=7)
    d = await define(client, key="calls")
    a = await assign(client, d["id"], "u1", 10, start_date="2020-01-06")
    b = await assign(client, d["id"], "u2", 10, start_date="2020-01-06")
    await record(client, a["id"], last_week.isoformat(), 11)
    await record(client, b["id"], this_monday.isoformat(), 11)  # in progress: not the default
    body = (await client.get(URL)).json()
    [calls] = body["distribution"]
    assert calls["period_start"] == last_week.isoformat()
    assert (calls["assignments"], calls["met"], calls["no_value"]) == (2, 1, 1)
