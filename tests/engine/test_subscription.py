"""The pure part of subscription KPIs: a period's months, the instant a year before its end,
and metrics from figures worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from kpi_service.engine.periods import containing, custom
from kpi_service.engine.subscription import (
    METRICS,
    SubscriptionFigures,
    metric_outcome,
    metric_value,
    months_of,
    year_before_end,
)
from kpi_service.engine.vocabulary import PeriodKind

# MRR 1,000.00 -> 1,060.00: new 100, reactivation 20, expansion 40, contraction 25, churn
# 75 (10 customers at the start, 2 churned, 11 at the end).
FIGURES = SubscriptionFigures(
    mrr_start=Decimal("1000.00"),
    mrr_end=Decimal("1060.00"),
    mrr_year_before=Decimal("800"),
    customers_start=10,
    customers_end=11,
    new_customers=2,
    new_mrr=Decimal("100"),
    reactivated_customers=1,
    reactivation_mrr=Decimal("20"),
    expanded_customers=1,
    expansion_mrr=Decimal("40"),
    contracted_customers=1,
    contraction_mrr=Decimal("25"),
    churned_customers=2,
    churned_mrr=Decimal("75"),
    months=Fraction(1),
)


def test_calendar_kinds_count_months_and_others_days() -> None:
    assert months_of(containing(PeriodKind.MONTHLY, date(2026, 2, 3))) == 1
    assert months_of(containing(PeriodKind.QUARTERLY, date(2026, 2, 3))) == 3
    assert months_of(containing(PeriodKind.YEARLY, date(2026, 2, 3))) == 12
    assert months_of(containing(PeriodKind.WEEKLY, date(2026, 2, 3))) == Fraction(84 * 4, 1461)
    # A custom range is counted in days even when it is thirty of them.
    assert months_of(custom(date(2026, 4, 1), date(2026, 4, 30))) == Fraction(360 * 4, 1461)


def test_a_year_before_the_end_is_the_same_local_midnight() -> None:
    york = ZoneInfo("America/New_York")
    march = containing(PeriodKind.MONTHLY, date(2026, 3, 1))
    # 1 April 2025 00:00 in New York (summer time): 04:00 UTC.
    assert year_before_end(march, york) == datetime(2025, 4, 1, 4, tzinfo=UTC)
    leap_day = containing(PeriodKind.DAILY, date(2028, 2, 28))  # ends at 29 February 00:00
    assert year_before_end(leap_day, ZoneInfo("UTC")) == datetime(2027, 2, 28, tzinfo=UTC)


def test_the_identity_holds_for_figures_worked_by_hand() -> None:
    assert FIGURES.identity_holds
    assert not replace(FIGURES, mrr_end=Decimal("1060.01")).identity_holds


def test_every_metric_from_figures_worked_by_hand() -> None:
    assert {m: metric_value(m, FIGURES) for m in METRICS} == {
        "mrr": Decimal("1060"),
        "arr": Decimal("12720"),
        "customers": 11,
        "new_customers": 2,
        "churned_customers": 2,
        "reactivated_customers": 1,
        "new_mrr": 100,
        "expansion_mrr": 40,
        "contraction_mrr": 25,
        "churned_mrr": 75,
        "reactivation_mrr": 20,
        "customer_churn_rate": 20,  # 2 / 10
        "revenue_churn_rate": 10,  # (75 + 25) / 1000
        "nrr": 94,  # (1000 + 40 - 25 - 75) / 1000
        "grr": 90,  # (1000 - 25 - 75) / 1000
        "arpa": Decimal("96.363636"),  # 1060 / 11 = 96.3636...
        "ltv": Decimal("481.818182"),  # 96.3636... / 0.20
        "quick_ratio": Decimal("1.6"),  # 160 / 100
        "mrr_growth": 6,
        "mrr_growth_yoy": Decimal("32.5"),  # (1060 - 800) / 800
    }
    # A quarter's churn rate is three months': the monthly rate is a third of it.
    quarter = replace(FIGURES, months=Fraction(3))
    assert metric_value("ltv", quarter) == Decimal("1445.454545")  # 96.3636... / (0.20 / 3)


def test_a_zero_denominator_gives_no_value_and_says_why() -> None:
    empty = replace(
        FIGURES,
        mrr_start=Decimal(0),
        mrr_year_before=Decimal(0),
        customers_start=0,
        churned_customers=0,
        churned_mrr=Decimal(0),
        contraction_mrr=Decimal(0),
    )
    assert metric_outcome("nrr", empty) == (None, "no MRR at the period's start")
    assert metric_outcome("customer_churn_rate", empty)[0] is None
    assert metric_outcome("ltv", empty) == (
        None,
        "no customer churned in the period (a churn rate of 0)",
    )
    assert metric_outcome("quick_ratio", empty) == (None, "no contraction or churn in the period")
    assert metric_outcome("mrr_growth_yoy", empty)[0] is None
    assert metric_outcome("churned_mrr", empty) == (Decimal(0), None)
