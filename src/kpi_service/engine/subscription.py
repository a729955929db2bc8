"""Subscription revenue: the figures of one period and every KPI derived from them.

A customer's MRR at an instant is the value of its last subscription event strictly before
it. Over a period [S, E) each customer moves once, net: new or reactivation (0 at S, above 0
at E), expansion, contraction, churn (above 0 at S, 0 at E), or not at all. So
`MRR(E) = MRR(S) + new + reactivation + expansion - contraction - churned` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.engine.achievement import quantize
from kpi_service.engine.periods import Period, local_midnight
from kpi_service.engine.vocabulary import PeriodKind

# A period's length in months, for a monthly churn rate: calendar kinds count their months,
# others (days, weeks, custom ranges) their days at 365.25 / 12 days a month.
_MONTHS = {PeriodKind.MONTHLY: 1, PeriodKind.QUARTERLY: 3, PeriodKind.YEARLY: 12}
_DAYS_PER_YEAR = Fraction(36525, 100)
# Digits kept in the one division each ratio takes, before rounding to six places.
_PRECISION = 60


@dataclass(frozen=True, slots=True)
class SubscriptionFigures:
    """What one period's statement measures: MRR at its start and end (and a year before
    the end), customers paying then, and each net movement's customers and MRR."""

    mrr_start: Decimal
    mrr_end: Decimal
    mrr_year_before: Decimal
    customers_start: int
    customers_end: int
    new_customers: int
    new_mrr: Decimal
    reactivated_customers: int
    reactivation_mrr: Decimal
    expanded_customers: int
    expansion_mrr: Decimal
    contracted_customers: int
    contraction_mrr: Decimal
    churned_customers: int
    churned_mrr: Decimal
    months: Fraction

    @property
    def identity_holds(self) -> bool:
        """Whether MRR at the end is MRR at the start plus the movements (always, exactly)."""
        moved = (
            self.new_mrr
            + self.reactivation_mrr
            + self.expansion_mrr
            - self.contraction_mrr
            - self.churned_mrr
        )
        return self.mrr_end == self.mrr_start + moved

    def as_details(self) -> dict[str, Any]:
        """The figures as JSON: money as exact decimal text, counts as numbers."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, Fraction):
                out[f"period_{name}"] = str(_decimal(value))
            elif isinstance(value, Decimal):
                out[name] = str(value)
            else:
                out[name] = value
        return out


def months_of(period: Period) -> Fraction:
    """The period's length in months: 1, 3 or 12 for calendar months, quarters and years,
    else its days x 12 / 365.25."""
    if period.kind in _MONTHS:
        return Fraction(_MONTHS[period.kind])
    return period.days / _DAYS_PER_YEAR * 12


def year_before_end(period: Period, tz: ZoneInfo) -> datetime:
    """The same local instant one year before the period's end (29 February: the 28th)."""
    after = period.end + timedelta(days=1)
    try:
        day = after.replace(year=after.year - 1)
    except ValueError:
        day = date(after.year - 1, 2, 28)
    return local_midnight(day, tz)


Ratio = Fraction | str  # a value, or the reason there is none

_NO_START_MRR = "no MRR at the period's start"
_NO_START_CUSTOMERS = "no paying customers at the period's start"
_NO_END_CUSTOMERS = "no paying customers at the period's end"


def _share(numerator: Decimal | int, denominator: Decimal | int, reason: str) -> Ratio:
    if denominator == 0:
        return reason
    return Fraction(numerator) / Fraction(denominator)


def _percent(numerator: Decimal | int, denominator: Decimal | int, reason: str) -> Ratio:
    share = _share(numerator, denominator, reason)
    return share if isinstance(share, str) else share * 100


def _ltv(f: SubscriptionFigures) -> Ratio:
    # ARPA / (monthly churn rate / 100), the monthly rate being the period's rate over its
    # months: MRR(E) / customers(E) x customers(S) x months / churned.
    if f.customers_end == 0:
        return _NO_END_CUSTOMERS
    if f.churned_customers == 0:
        return "no customer churned in the period (a churn rate of 0)"
    return (
        Fraction(f.mrr_end) * f.customers_start * f.months / (f.customers_end * f.churned_customers)
    )


def _quick_ratio(f: SubscriptionFigures) -> Ratio:
    gained = f.new_mrr + f.reactivation_mrr + f.expansion_mrr
    lost = f.contraction_mrr + f.churned_mrr
    return _share(gained, lost, "no contraction or churn in the period")


METRICS: dict[str, Callable[[SubscriptionFigures], Ratio]] = {
    "mrr": lambda f: Fraction(f.mrr_end),
    "arr": lambda f: Fraction(f.mrr_end) * 12,
    "customers": lambda f: Fraction(f.customers_end),
    "new_customers": lambda f: Fraction(f.new_customers),
    "churned_customers": lambda f: Fraction(f.churned_customers),
    "reactivated_customers": lambda f: Fraction(f.reactivated_customers),
    "new_mrr": lambda f: Fraction(f.new_mrr),
    "expansion_mrr": lambda f: Fraction(f.expansion_mrr),
    "contraction_mrr": lambda f: Fraction(f.contraction_mrr),
    "churned_mrr": lambda f: Fraction(f.churned_mrr),
    "reactivation_mrr": lambda f: Fraction(f.reactivation_mrr),
    "customer_churn_rate": lambda f: _percent(
        f.churned_customers, f.customers_start, _NO_START_CUSTOMERS
    ),
    "revenue_churn_rate": lambda f: _percent(
        f.churned_mrr + f.contraction_mrr, f.mrr_start, _NO_START_MRR
    ),
    "nrr": lambda f: _percent(
        f.mrr_start + f.expansion_mrr - f.contraction_mrr - f.churned_mrr,
        f.mrr_start,
        _NO_START_MRR,
    ),
    "grr": lambda f: _percent(
        f.mrr_start - f.contraction_mrr - f.churned_mrr, f.mrr_start, _NO_START_MRR
    ),
    "arpa": lambda f: _share(f.mrr_end, f.customers_end, _NO_END_CUSTOMERS),
    "ltv": _ltv,
    "quick_ratio": _quick_ratio,
    "mrr_growth": lambda f: _percent(f.mrr_end - f.mrr_start, f.mrr_start, _NO_START_MRR),
    "mrr_growth_yoy": lambda f: _percent(
        f.mrr_end - f.mrr_year_before, f.mrr_year_before, "no MRR a year before the period's end"
    ),
}


def _decimal(value: Fraction) -> Decimal:
    # One correctly rounded division, far finer than the six places kept.
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(value.numerator) / Decimal(value.denominator)


def metric_outcome(metric: str, figures: SubscriptionFigures) -> tuple[Decimal | None, str | None]:
    """The metric's value (six places, half to even), or None and the reason there is none."""
    ratio = METRICS[metric](figures)
    if isinstance(ratio, str):
        return None, ratio
    return quantize(_decimal(ratio)), None


def metric_value(metric: str, figures: SubscriptionFigures) -> Decimal | None:
    """The metric's value from the period's figures; None where a denominator is 0."""
    return metric_outcome(metric, figures)[0]
