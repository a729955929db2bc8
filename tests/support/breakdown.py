"""What the breakdown tests share: the view's URL, its rows by value, figures as served."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tests.support.expected import SIX

URL = "/api/kpis/metrics/breakdown"


def six(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(SIX, rounding=ROUND_HALF_EVEN))


def rows_of(body: dict[str, Any]) -> dict[Any, Any]:
    return {
        r["dimension_value"]: (
            r["count"],
            r["value"],
            r["total"],
            r["conversions"],
            r["conversion_rate"],
            r["conversion_value"],
        )
        for r in body["rows"]
    }
