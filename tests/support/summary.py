"""The executive summary's achievement distribution counted again in plain Python."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

URL = "/api/kpis/metrics/summary"
EDGES = (Decimal(50), Decimal(80), Decimal(100), Decimal(120))


def achievement(actual: Decimal, target: Decimal, target_type: str) -> Decimal:
    """DESIGN.md section 4, by hand."""
    if target_type == "higher_better":
        return Decimal(100) if target == 0 else actual / target * 100
    if target_type == "lower_better":
        if target == 0:
            return Decimal(100) if actual <= 0 else Decimal(0)
        return Decimal(100) if actual <= 0 else target / actual * 100
    if target == 0:
        return Decimal(100) if actual == 0 else Decimal(0)
    return max(Decimal(0), 100 - abs(actual - target) / abs(target) * 100)


def bucket(value: Decimal) -> int:
    return sum(1 for edge in EDGES if value >= edge)


def tally(cases: list[tuple[Decimal | None, Decimal, str, Decimal]]) -> dict[str, Any]:
    """Counts a client would make from (value, target, target type, warning) per user."""
    out: dict[str, Any] = {
        "assignments": len(cases),
        "met": 0,
        "at_risk": 0,
        "off_track": 0,
        "no_value": 0,
        "buckets": [0] * 5,
    }
    for value, target, target_type, warning in cases:
        if value is None:
            out["no_value"] += 1
            continue
        a = achievement(value, target, target_type)
        out["met" if a >= 100 else "at_risk" if a >= warning else "off_track"] += 1
        out["buckets"][bucket(a)] += 1
    return out


def counts_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("assignments", "met", "at_risk", "off_track", "no_value")} | {
        "buckets": [b["count"] for b in body["buckets"]]
    }
