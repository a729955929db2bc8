"""Pace: where a period still in progress is heading, from its value so far."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from kpi_service.engine.achievement import quantize
from kpi_service.engine.periods import Period

# Roll-ups that accumulate over the period: their value so far grows with the days.
GROWING_ROLLUPS = frozenset({"sum", "count"})
# Roll-ups whose value so far is already the best guess of the period's value.
SETTLED_ROLLUPS = frozenset({"avg", "last", "min", "max"})
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)


def elapsed_days(period: Period, today: date) -> int:
    """Days of the period up to and including today (today's data may already count): 0
    before it begins, all of them once it has ended."""
    return min(max((today - period.start).days + 1, 0), period.days)


def pace(value: Decimal, rollup: str, period: Period, today: date) -> Decimal:
    """The value projected to the period's end at six places: `sum`/`count` roll-ups as
    value x total days / elapsed days, the others (`avg`, `last`, `min`, `max`) as the
    value so far; ValueError for a period not yet begun or an unknown roll-up."""
    if rollup in SETTLED_ROLLUPS:
        projected = value
    elif rollup in GROWING_ROLLUPS:
        elapsed = elapsed_days(period, today)
        if elapsed == 0:
            raise ValueError(f"the period {period.start}..{period.end} has not begun on {today}")
        with localcontext(_CONTEXT):
            projected = value * period.days / elapsed
    else:
        raise ValueError(f"unknown rollup {rollup!r}")
    rounded = quantize(projected)
    assert rounded is not None
    return rounded
