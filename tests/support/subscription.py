"""Subscription revenue worked out again in plain Python from raw event rows, independent of
the service: each customer's MRR at an instant, the period's net movements, every metric."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.expected import q

METRICS = (
    "mrr",
    "arr",
    "customers",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "customer_churn_rate",
    "revenue_churn_rate",
    "nrr",
    "grr",
    "arpa",
    "ltv",
    "quick_ratio",
    "mrr_growth",
    "mrr_growth_yoy",
)


@dataclass(frozen=True)
class Entry:
    """One usable subscription event: who, when, the MRR from then on, its properties."""

    customer: str
    at: datetime
    order: uuid.UUID  # events at the same instant (one batch: one received_at) go by id
    value: Decimal
    properties: dict[str, Any]


def ledger(events: list[dict[str, Any]], event_type: str = "subscription") -> list[Entry]:
    """The events that set an MRR: the type, a customer id, a value of 0 or more."""
    out = []
    for e in events:
        customer = e.get("properties", {}).get("customer_id")
        value = e.get("value")
        if e["type"] != event_type or value is None or Decimal(str(value)) < 0:
            continue
        if isinstance(customer, bool) or not isinstance(customer, str | int) or customer == "":
            continue
        out.append(
            Entry(
                str(customer),
                datetime.fromisoformat(e["occurred_at"]),
                uuid.UUID(e["id"]),
                Decimal(str(value)),
                e.get("properties", {}),
            )
        )
    return sorted(out, key=lambda x: (x.at, x.order))


def mrr_at(entries: list[Entry], t: datetime, segment: dict[str, Any] | None) -> dict[str, Decimal]:
    """Each customer's MRR (in the segment, if one) from its last event strictly before t."""
    last: dict[str, Entry] = {}
    for x in entries:
        if x.at < t:
            last[x.customer] = x
    return {c: x.value if _inside(x, segment) else Decimal(0) for c, x in last.items()}


def _inside(x: Entry, segment: dict[str, Any] | None) -> bool:
    if segment is None:
        return True
    wanted = segment["value"]
    held = x.properties.get(segment["property"])
    return type(held) is type(wanted) and held == wanted


def midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))


def figures(
    entries: list[Entry],
    zone: str,
    first: date,
    last: date,
    segment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The period's MRR at both ends and its movements, customer by customer."""
    start, end = midnight(first, zone), midnight(last + timedelta(days=1), zone)
    after = last + timedelta(days=1)
    a_year_before = (
        date(after.year - 1, 2, 28)
        if (after.month, after.day) == (2, 29)
        else after.replace(year=after.year - 1)
    )
    at_start, at_end = mrr_at(entries, start, segment), mrr_at(entries, end, segment)
    paid_before = {
        x.customer for x in entries if x.at < start and x.value > 0 and _inside(x, segment)
    }
    f: dict[str, Any] = {k: Decimal(0) for k in ("new", "react", "exp", "contr", "churn")}
    f |= {f"n_{k}": 0 for k in ("new", "react", "churn")}
    for c in set(at_start) | set(at_end):
        m0, m1 = at_start.get(c, Decimal(0)), at_end.get(c, Decimal(0))
        if m0 == 0 < m1:
            kind = "react" if c in paid_before else "new"
            f[kind] += m1
            f[f"n_{kind}"] += 1
        elif 0 < m0 < m1:
            f["exp"] += m1 - m0
        elif 0 < m1 < m0:
            f["contr"] += m0 - m1
        elif m0 > 0 == m1:
            f["churn"] += m0
            f["n_churn"] += 1
    f["mrr_start"] = sum(at_start.values(), Decimal(0))
    f["mrr_end"] = sum(at_end.values(), Decimal(0))
    f["mrr_year_before"] = sum(
        mrr_at(entries, midnight(a_year_before, zone), segment).values(), Decimal(0)
    )
    f["customers_start"] = sum(1 for v in at_start.values() if v > 0)
    f["customers_end"] = sum(1 for v in at_end.values() if v > 0)
    return f


def _ratio(top: Fraction | Decimal | int, bottom: Fraction | Decimal | int) -> Fraction | None:
    return None if bottom == 0 else Fraction(top) / Fraction(bottom)


def _pct(top: Decimal | int, bottom: Decimal | int) -> Fraction | None:
    r = _ratio(top, bottom)
    return None if r is None else r * 100


def expected(metric: str, f: dict[str, Any], months: Fraction) -> Decimal | None:
    """A metric from the figures, as DESIGN's contract words it, rounded as stored."""
    start, end = f["mrr_start"], f["mrr_end"]
    churn_rate = _pct(f["n_churn"], f["customers_start"])
    arpa = _ratio(end, f["customers_end"])
    value: Fraction | Decimal | int | None = {
        "mrr": end,
        "arr": end * 12,
        "customers": f["customers_end"],
        "new_customers": f["n_new"],
        "churned_customers": f["n_churn"],
        "reactivated_customers": f["n_react"],
        "new_mrr": f["new"],
        "expansion_mrr": f["exp"],
        "contraction_mrr": f["contr"],
        "churned_mrr": f["churn"],
        "reactivation_mrr": f["react"],
        "customer_churn_rate": churn_rate,
        "revenue_churn_rate": _pct(f["churn"] + f["contr"], start),
        "nrr": _pct(start + f["exp"] - f["contr"] - f["churn"], start),
        "grr": _pct(start - f["contr"] - f["churn"], start),
        "arpa": arpa,
        "ltv": None if arpa is None or not churn_rate else arpa / (churn_rate / months / 100),
        "quick_ratio": _ratio(f["new"] + f["react"] + f["exp"], f["contr"] + f["churn"]),
        "mrr_growth": _pct(end - start, start),
        "mrr_growth_yoy": _pct(end - f["mrr_year_before"], f["mrr_year_before"]),
    }[metric]
    if value is None:
        return None
    exact = Fraction(value)
    with localcontext() as ctx:
        ctx.prec = 80
        return q(Decimal(exact.numerator) / Decimal(exact.denominator))
