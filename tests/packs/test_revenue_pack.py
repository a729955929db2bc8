"""The revenue pack on a fresh tenant: fed a subscription ledger with new customers, upgrades,
downgrades, churn and comebacks across month ends, computed for three closed months: every
KPI's value equals the independent recomputation of tests/support/subscription.py; its alert
templates fire past their thresholds only; installing twice changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.alerts import ALERTS, run_and_settle
from tests.support.api import ingest, listed, recalculate
from tests.support.expected import month_end
from tests.support.packs import (
    MONTHS,
    assert_installing_again_changes_nothing,
    install,
    outcomes,
    pack_event,
    stored_by_key,
    subscription_events,
)
from tests.support.subscription import METRICS, expected, figures, ledger


def month_figures(events: list[dict[str, Any]], month: date) -> dict[str, Any]:
    last = month_end(month)
    return figures(ledger(events), "UTC", month, last)


async def test_every_revenue_kpi_has_the_value_of_its_ledger(client: AsyncClient) -> None:
    # A login before the first subscription event: not an event the pack reads.
    events = [*subscription_events(), pack_event("login", datetime(2024, 3, 5, tzinfo=UTC), "u1")]
    await ingest(client, events)
    report = await install(client, "revenue")
    assert set(outcomes(report).values()) == {"created"}
    # The default start: the month of the earliest subscription event (B, June 2025).
    assert report["start_date"] == "2025-06-01"
    assert sorted(a["definition_key"] for a in report["assignments_created"]) == sorted(
        f"revenue_{m}" for m in METRICS
    )

    run = await recalculate(
        client, period_start=MONTHS[0].isoformat(), period_end="2026-11-30", period_kind="monthly"
    )
    assert run["status"] == "succeeded", run

    stored = await stored_by_key(client)
    assert len(stored) == len(METRICS) * len(MONTHS)
    for month in MONTHS:
        f = month_figures(events, month)
        for metric in METRICS:
            want = expected(metric, f, Fraction(1))
            assert want is not None, (metric, month)  # every KPI has a value in each month
            assert stored[(f"revenue_{metric}", "default", month.isoformat())] == want, (
                metric,
                month,
            )
    # By hand, November: MRR 150 + 180 + 30 + 60 + 90 + 35.50 (A, B, C, E, G, I); gained
    # 60 new + 180 back + 50 expansion against 20 contraction + 80 churned; a year before
    # (1 December 2025) A and B paid 300.
    november = {k: v for (k, _, p), v in stored.items() if p == "2026-11-01"}
    assert november["revenue_mrr"] == Decimal("545.50")
    assert november["revenue_quick_ratio"] == Decimal("2.9")
    assert november["revenue_mrr_growth_yoy"] == Decimal("81.833333")


async def test_installing_the_revenue_pack_twice_changes_nothing(
    client: AsyncClient, db: Database
) -> None:
    await ingest(client, subscription_events())
    first = await install(client, "revenue")
    await assert_installing_again_changes_nothing(client, db, "revenue", first)


# Each template, the metric it watches and when that metric is past the threshold.
PAST: dict[str, tuple[str, Callable[[Decimal], bool]]] = {
    "Revenue: net revenue retention below 100%": ("nrr", lambda v: v < 100),
    "Revenue: customer churn above 5%": ("customer_churn_rate", lambda v: v > 5),
    "Revenue: MRR shrank": ("mrr_growth", lambda v: v < 0),
}


async def test_the_alert_templates_fire_past_their_thresholds_only(client: AsyncClient) -> None:
    events = subscription_events()
    await ingest(client, events)
    report = await install(client, "revenue", {"start_date": "2026-09-01"})
    assert {r["name"] for r in report["rules_created"]} == set(PAST)
    seen: set[tuple[str, bool]] = set()
    for month in MONTHS:
        await run_and_settle(client, period_start=month.isoformat(), period_kind="monthly")
        f = month_figures(events, month)
        past = set()
        for name, (metric, is_past) in PAST.items():
            value = expected(metric, f, Fraction(1))
            assert value is not None
            seen.add((name, is_past(value)))
            if is_past(value):
                past.add(name)
        alerts = await listed(client, ALERTS)
        assert {a["rule_name"] for a in alerts if a["status"] == "firing"} == past, month
    # MRR shrinks in October and grows in September and November: both sides are judged.
    assert {("Revenue: MRR shrank", True), ("Revenue: MRR shrank", False)} <= seen
