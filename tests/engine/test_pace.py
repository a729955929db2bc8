"""Pace of a period in progress: the share elapsed and the value projected to its end."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kpi_service.engine.pace import elapsed_share, projected
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind

DECEMBER = containing(PeriodKind.MONTHLY, date(2026, 12, 6))


def test_five_days_of_december_elapsed_at_midnight_of_the_sixth() -> None:
    share = elapsed_share(DECEMBER, ZoneInfo("UTC"), datetime(2026, 12, 6, tzinfo=UTC))
    assert share == Decimal(5) / Decimal(31)


def test_a_sum_is_scaled_to_the_whole_period_the_others_are_kept() -> None:
    share = Decimal(5) / Decimal(31)
    # 40 conversions in 5 of 31 days: 40 * 31 / 5 = 248 by the month's end.
    assert projected(Decimal(40), "sum", share) == Decimal("248.000000")
    for rollup in ("avg", "last", "min", "max"):
        assert projected(Decimal("3.5"), rollup, share) == Decimal("3.5")
    assert projected(None, "sum", share) is None
    assert projected(Decimal(40), "sum", Decimal(0)) is None  # nothing elapsed yet


def test_a_day_with_a_dst_change_counts_its_real_hours() -> None:
    # New York, 2026-03-08 lasts 23 hours: noon local is 11 of them, not half.
    day = containing(PeriodKind.DAILY, date(2026, 3, 8))
    tz = ZoneInfo("America/New_York")
    share = elapsed_share(day, tz, datetime(2026, 3, 8, 12, tzinfo=tz))
    assert share == Decimal(11) / Decimal(23)


@pytest.mark.parametrize(
    "as_of", [datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)]
)
def test_the_share_stays_between_zero_and_one(as_of: datetime) -> None:
    share = elapsed_share(DECEMBER, ZoneInfo("UTC"), as_of)
    assert share == (Decimal(0) if as_of.year == 2026 else Decimal(1))
