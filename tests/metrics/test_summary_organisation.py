"""The executive summary's organisation KPIs: their latest values (DAU/WAU/MAU from events,
MRR by hand), recomputed in plain Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, event, ingest, recalculate, record
from tests.support.expected import SIX
from tests.support.summary import URL


async def test_organisation_kpis_show_their_latest_values(client: AsyncClient) -> None:
    rng = random.Random(53)
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    events = [
        event(
            "login",
            user_id=f"u{rng.randint(1, 30)}",
            occurred_at=feb + timedelta(minutes=rng.randint(0, 40_000)),
        )
        for _ in range(600)
    ]
    await ingest(client, events)
    targets = {"dau": 10, "wau": 20, "mau": 25}
    for key, period in (("dau", "daily"), ("wau", "weekly"), ("mau", "monthly")):
        d = await define(
            client,
            key=key,
            aggregation_period=period,
            scope="organization",
            calculation_type="event",
            config={"event_type": "login", "aggregate": "distinct_users"},
        )
        await assign(
            client,
            d["id"],
            "default",
            targets[key],
            subject_type="organization",
            start_date="2026-01-01",
        )
    mrr = await define(
        client, key="mrr", aggregation_period="monthly", scope="organization", unit="currency"
    )
    a = await assign(
        client, mrr["id"], "default", 12000, subject_type="organization", start_date="2026-01-01"
    )
    await record(client, a["id"], "2026-01-01", 10000)
    await record(client, a["id"], "2026-02-01", 12500)
    await define(
        client, key="arr", aggregation_period="yearly", scope="organization", unit="currency"
    )
    run = await recalculate(client, period_start="2026-02-15", period_end="2026-02-22")
    assert run["status"] == "succeeded", run
    # A formula over MRR: March has no MRR yet, so its measurement has no value; the summary
    # shows February's, the last one known.
    await define(
        client,
        key="arr_monthly",
        aggregation_period="monthly",
        scope="organization",
        unit="currency",
        calculation_type="formula",
        config={"expression": "m * 12", "variables": {"m": "mrr"}},
    )
    arr = await client.get("/api/kpis/definitions/by-key/arr_monthly")
    await assign(
        client,
        arr.json()["id"],
        "default",
        150000,
        subject_type="organization",
        start_date="2026-01-01",
    )
    await recalculate(
        client, period_start="2026-02-01", period_end="2026-03-31", definition_keys=["arr_monthly"]
    )
    march = await client.get(
        "/api/kpis/measurements",
        params={"definition_key": "arr_monthly", "period_from": "2026-03-01"},
    )
    assert [m["actual_value"] for m in march.json()["items"]] == [None]

    body = (await client.get(URL)).json()
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    assert list(kpis) == ["arr", "arr_monthly", "dau", "mau", "mrr", "wau"]
    assert (
        kpis["arr_monthly"]["current"]["period_start"],
        kpis["arr_monthly"]["current"]["value"],
    ) == ("2026-02-01", 12500 * 12)

    def users(low: datetime, high: datetime) -> Decimal:
        return Decimal(
            len(
                {
                    e["user_id"]
                    for e in events
                    if low <= datetime.fromisoformat(e["occurred_at"]) < high
                }
            )
        )

    def change(a: Decimal, prev: Decimal) -> float | None:
        if prev == 0:
            return None
        return float(((a - prev) / abs(prev) * 100).quantize(SIX, rounding=ROUND_HALF_EVEN))

    day = datetime(2026, 2, 22, tzinfo=UTC)
    week = datetime(2026, 2, 16, tzinfo=UTC)  # the week holding the 22nd (a Sunday)
    for key, start, end, value, prev in (
        (
            "dau",
            "2026-02-22",
            "2026-02-22",
            users(day, day + timedelta(days=1)),
            users(day - timedelta(days=1), day),
        ),
        (
            "wau",
            "2026-02-16",
            "2026-02-22",
            users(week, week + timedelta(days=7)),
            users(week - timedelta(days=7), week),
        ),
        ("mau", "2026-02-01", "2026-02-28", users(feb, datetime(2026, 3, 1, tzinfo=UTC)), None),
    ):
        kpi = kpis[key]["current"]
        assert (kpi["period_start"], kpi["period_end"], kpi["value"]) == (
            start,
            end,
            float(value),
        ), key
        assert kpi["target"] == targets[key] and kpi["is_final"] is True
        assert kpi["achievement"] == float(
            (value / targets[key] * 100).quantize(SIX, rounding=ROUND_HALF_EVEN)
        )
        assert kpi["change_pct"] == (None if prev is None else change(value, prev)), key
    mrr = kpis["mrr"]["current"]
    assert (
        mrr["period_start"],
        mrr["value"],
        mrr["previous_value"],
        mrr["change_pct"],
        mrr["trend"],
        mrr["status"],
    ) == ("2026-02-01", 12500, 10000, 25.0, "improving", "met")
    assert mrr["achievement"] == pytest.approx(104.166667)
    assert {k: v for k, v in kpis["arr"].items() if k != "in_progress" and v is not None} == {
        "definition_key": "arr",
        "name": "Arr",
        "unit": "currency",
        "aggregation_period": "yearly",
        "rollup": "sum",
    }
    assert body["distribution"] == [] and body["overall"]["assignments"] == 0
