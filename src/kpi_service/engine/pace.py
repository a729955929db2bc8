"""Pace of a period still in progress: where its value so far is heading by the period's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from kpi_service.engine.achievement import quantize
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import Rollup

# Roll-ups whose value grows with the share of the period elapsed; the others (avg, last,
# min, max) are already a value for the whole period, so their pace is the value so far.
GROWING = frozenset({Rollup.SUM})
_MICRO = timedelta(microseconds=1)


def elapsed_share(period: Period, tz: ZoneInfo, as_of: datetime) -> Decimal:
    """The share of the period's instants before `as_of`, from 0 to 1, in tz (a day of a DST
    change is 23 or 25 hours long)."""
    # In UTC: Python subtracts two times of one zone as wall times, ignoring a DST change.
    start, end = (moment.astimezone(UTC) for moment in period.instants(tz))
    done = min(max(as_of.astimezone(UTC) - start, timedelta(0)), end - start)
    return Decimal(done // _MICRO) / Decimal((end - start) // _MICRO)


def projected(value: Decimal | None, rollup: str, share: Decimal) -> Decimal | None:
    """The value projected to the period's end: a growing (`sum`) value divided by the share
    elapsed (None before any of the period has), any other roll-up's value as it is."""
    if value is None:
        return None
    if rollup not in GROWING:
        return value
    if share <= 0:
        return None
    return quantize(value / share)
