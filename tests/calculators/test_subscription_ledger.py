"""Subscription KPIs on a hand-written ledger, every metric checked against a plain-Python
recomputation from the raw event rows (tests/support/subscription.py), in three time zones.

The ledger has new customers, upgrades, downgrades, cancellations, comebacks, a customer who
starts and cancels inside one month, events exactly on month boundaries (they belong to the
month they open), a move between segments, two events at one instant, events in UTC that
fall in another local month, and events the contract ignores.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, recalculate
from tests.support.app import make_settings
from tests.support.subscription import METRICS, expected, figures, ledger

ZONES = ["UTC", "America/New_York", "Asia/Tokyo"]
PRO = {"property": "plan", "value": "pro"}
MONTHS = [date(2026, m, 1) for m in range(1, 7)]
QUARTERS = [(date(2026, 1, 1), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 6, 30))]
# The ISO weeks holding 1 March 2026 (B cancels at its very start) and the one after.
WEEKS = [(date(2026, 2, 23), date(2026, 3, 1)), (date(2026, 3, 2), date(2026, 3, 8))]
QUARTERLY_METRICS = ("mrr", "customer_churn_rate", "nrr", "ltv", "quick_ratio")
WEEKLY_METRICS = ("ltv", "customer_churn_rate", "mrr_growth")
_ids = iter(range(1, 10_000))


def _event(
    at: str,
    customer: Any,
    value: Any,
    plan: str | None = "basic",
    *,
    zone: str,
    kind: str = "subscription",
    event_id: int | None = None,
) -> dict[str, Any]:
    """An event at a local wall time of the zone (or an instant, when `at` has an offset)."""
    when = datetime.fromisoformat(at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    props: dict[str, Any] = {} if plan is None else {"plan": plan}
    if customer is not None:
        props["customer_id"] = customer
    return event(
        kind,
        when,
        "billing",
        id=uuid.UUID(int=event_id or next(_ids)),
        value=value,
        properties=props,
    )


def ledger_events(zone: str) -> list[dict[str, Any]]:
    def e(at: str, customer: Any, value: Any, plan: str | None = "basic", **kw: Any) -> Any:
        return _event(at, customer, value, plan, zone=zone, **kw)

    return [
        # D: paying since last year (for year-over-year), moves from pro to basic exactly
        # when March opens, then leaves pro's segment.
        e("2025-03-15T10:00", "D", "200", "pro"),
        e("2026-03-01T00:00", "D", "200"),
        # A: new in January, upgraded to pro in February, downgraded in April.
        e("2026-01-10T09:00", "A", "100"),
        e("2026-02-15T12:00", "A", "150", "pro"),
        e("2026-04-03T08:30", "A", "120.50", "pro"),
        # B: new at January's first instant, cancelled at March's first instant (churn in
        # March, not February), back in May on pro (reactivation).
        e("2026-01-01T00:00", "B", "49.99"),
        e("2026-03-01T00:00", "B", "0"),
        e("2026-05-20T16:00", "B", "79.99", "pro"),
        # C: starts and cancels inside February (moves nothing), returns in April.
        e("2026-02-05T10:00", "C", "30"),
        e("2026-02-20T10:00", "C", "0"),
        e("2026-04-02T10:00", "C", "40"),
        # F: up and down inside March, net expansion of 10.
        e("2026-02-27T10:00", "F", "60", "pro"),
        e("2026-03-10T10:00", "F", "90", "pro"),
        e("2026-03-25T10:00", "F", "70", "pro"),
        # G: the last microsecond of January; cancelled at the end of April.
        e("2026-01-31T23:59:59.999999", "G", "19.99"),
        e("2026-04-30T23:59:59", "G", "0"),
        # H: two events at one instant; the larger id is the later (so 25 holds);
        # cancelled exactly when June opens.
        e("2026-02-10T12:00", "H", "10", event_id=9_000_001),
        e("2026-02-10T12:00", "H", "25", event_id=9_000_002),
        e("2026-06-01T00:00", "H", "0"),
        # Fixed instants: in March in UTC and Tokyo, in February in New York; and one in
        # February in UTC and New York but March in Tokyo.
        e("2026-03-01T02:00:00+00:00", "I", "33.33"),
        e("2026-02-28T20:00:00+00:00", "J", "12.01", "pro"),
        # A numeric customer id is a customer too.
        e("2026-06-10T10:00", 7, "10"),
        # Ignored: no customer, an empty one, a null customer, a negative or missing value,
        # another event type.
        e("2026-02-01T10:00", None, "500"),
        e("2026-02-01T10:00", "", "500"),
        e("2026-03-05T10:00", "A", "-40", "pro"),
        e("2026-03-06T10:00", "A", None, "pro"),
        e("2026-03-07T10:00", "A", "999", "pro", kind="call"),
    ]


@pytest.fixture
async def zoned(
    request: pytest.FixtureRequest, db: Database, database_url: str
) -> AsyncIterator[AsyncClient]:
    """A client on an app whose organisation lives in the parameter's time zone."""
    app = create_app(make_settings(database_url, timezone=request.param), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def _subscription_kpi(
    client: AsyncClient, key: str, period: str, config: dict[str, Any]
) -> None:
    made = await define(
        client,
        key,
        unit="currency",
        scope="organization",
        aggregation_period=period,
        calculation_type="subscription",
        config=config,
    )
    await assign(client, made["id"], None, subject_type="organization", start_date="2025-01-01")


async def _stored(db: Database) -> dict[tuple[str, date], tuple[Decimal | None, dict[str, Any]]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.key, m.period_start, m.actual_value, m.details FROM kpi.measurements m "
                "JOIN kpi.definitions d ON d.tenant_id = m.tenant_id AND d.id = m.definition_id"
            )
        )
        return {(k, start): (v, details) for k, start, v, details in rows}


@pytest.mark.parametrize("zoned", ZONES, indirect=True)
async def test_every_metric_matches_a_plain_python_recomputation(
    zoned: AsyncClient, db: Database, request: pytest.FixtureRequest
) -> None:
    zone: str = request.node.callspec.params["zoned"]
    events = ledger_events(zone)
    await ingest(zoned, events)
    for metric in METRICS:
        await _subscription_kpi(zoned, metric, "monthly", {"metric": metric})
        await _subscription_kpi(
            zoned, f"pro_{metric}", "monthly", {"metric": metric, "segment": PRO}
        )
    for metric in QUARTERLY_METRICS:
        await _subscription_kpi(zoned, f"q_{metric}", "quarterly", {"metric": metric})
    for metric in WEEKLY_METRICS:
        await _subscription_kpi(zoned, f"w_{metric}", "weekly", {"metric": metric})

    run = await recalculate(
        zoned, period_start="2026-01-01", period_end="2026-06-30", period_kind="monthly"
    )
    assert run["status"] == "succeeded", run
    run = await recalculate(
        zoned, period_start="2026-01-01", period_end="2026-06-30", period_kind="quarterly"
    )
    assert run["status"] == "succeeded", run
    run = await recalculate(
        zoned, period_start="2026-02-23", period_end="2026-03-08", period_kind="weekly"
    )
    assert run["status"] == "succeeded", run

    rows = ledger(events)
    wanted: dict[tuple[str, date], Decimal | None] = {}
    periods: list[tuple[str, str, date, date, Fraction, dict[str, Any] | None]] = []
    for first in MONTHS:
        last = first.replace(day=calendar.monthrange(2026, first.month)[1])
        for metric in METRICS:
            periods.append((metric, metric, first, last, Fraction(1), None))
            periods.append((f"pro_{metric}", metric, first, last, Fraction(1), PRO))
    for first, last in QUARTERS:
        periods += [(f"q_{m}", m, first, last, Fraction(3), None) for m in QUARTERLY_METRICS]
    for first, last in WEEKS:
        months = Fraction(7 * 12) / Fraction("365.25")
        periods += [(f"w_{m}", m, first, last, months, None) for m in WEEKLY_METRICS]
    for key, metric, first, last, months, segment in periods:
        wanted[(key, first)] = expected(metric, figures(rows, zone, first, last, segment), months)

    stored = await _stored(db)
    assert {k: v for k, (v, _) in stored.items()} == wanted
    # Every no-value says why.
    assert all(d.get("no_value_reason") for v, d in stored.values() if v is None)
    assert sum(1 for v in wanted.values() if v is None) >= 10
    # The details show the period's figures, and the MRR identity holds to the cent.
    for _, details in stored.values():
        start, end = Decimal(details["mrr_start"]), Decimal(details["mrr_end"])
        gained = sum(Decimal(details[k]) for k in ("new_mrr", "reactivation_mrr", "expansion_mrr"))
        lost = Decimal(details["contraction_mrr"]) + Decimal(details["churned_mrr"])
        assert end == start + gained - lost, details


async def test_march_in_utc_worked_by_hand(client: AsyncClient, db: Database) -> None:
    await ingest(client, ledger_events("UTC"))
    for metric in ("mrr", "new_mrr", "expansion_mrr", "churned_mrr", "nrr"):
        await _subscription_kpi(client, metric, "monthly", {"metric": metric})
    run = await recalculate(client, period_start="2026-03-01", period_end="2026-03-31")
    assert run["status"] == "succeeded", run
    stored = {k: v for (k, _), (v, _) in (await _stored(db)).items()}
    # End of February: D 200, A 150, B 49.99, F 60, G 19.99, H 25 (the later of two at one
    # instant), J 12.01 = 516.99. March: I is new (33.33), F grows by 10, B churns (49.99,
    # cancelled at March's first instant); 516.99 + 33.33 + 10 - 49.99 = 510.33.
    assert stored == {
        "mrr": Decimal("510.33"),
        "new_mrr": Decimal("33.33"),
        "expansion_mrr": Decimal("10"),
        "churned_mrr": Decimal("49.99"),
        # (516.99 + 10 - 49.99) / 516.99 x 100 = 92.26484071...
        "nrr": Decimal("92.264841"),
    }


async def test_without_customers_movements_are_zero_and_ratios_have_no_value(
    client: AsyncClient, db: Database
) -> None:
    # Only events the contract ignores: no customer, a negative value.
    events = [
        _event("2026-02-01T10:00", None, "500", zone="UTC"),
        _event("2026-02-02T10:00", "A", "-5", zone="UTC"),
    ]
    await ingest(client, events)
    for metric in METRICS:
        await _subscription_kpi(client, metric, "monthly", {"metric": metric})
    run = await recalculate(client, period_start="2026-02-01", period_end="2026-02-28")
    assert run["status"] == "succeeded", run
    stored = {k: v for (k, _), v in (await _stored(db)).items()}
    ratios = {
        "customer_churn_rate": "no paying customers at the period's start",
        "revenue_churn_rate": "no MRR at the period's start",
        "nrr": "no MRR at the period's start",
        "grr": "no MRR at the period's start",
        "arpa": "no paying customers at the period's end",
        "ltv": "no paying customers at the period's end",
        "quick_ratio": "no contraction or churn in the period",
        "mrr_growth": "no MRR at the period's start",
        "mrr_growth_yoy": "no MRR a year before the period's end",
    }
    assert {k: v for k, (v, _) in stored.items() if k not in ratios} == {
        k: Decimal(0) for k in METRICS if k not in ratios
    }
    assert {k: (v, d["no_value_reason"]) for k, (v, d) in stored.items() if k in ratios} == {
        k: (None, reason) for k, reason in ratios.items()
    }
