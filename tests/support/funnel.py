"""A funnel's stages worked out by hand: count, conversion from the previous stage and from
the first."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tests.support.expected import SIX

URL = "/api/kpis/metrics/funnel"


def pct(part: Decimal | None, whole: Decimal | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return float((part / whole * 100).quantize(SIX, rounding=ROUND_HALF_EVEN))


def expected_stages(counts: list[Decimal | None]) -> list[tuple[Any, Any, Any]]:
    """(count, from previous, from first) per stage, by hand."""
    return [
        (None if c is None else float(c), pct(c, counts[i - 1]) if i else None, pct(c, counts[0]))
        for i, c in enumerate(counts)
    ]


def served(body: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    return [
        (s["count"], s["conversion_from_previous"], s["conversion_from_first"])
        for s in body["stages"]
    ]
