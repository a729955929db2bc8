"""Pace of a period in progress, by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kpi_service.engine.pace import elapsed_days, pace
from kpi_service.engine.periods import PeriodKind, containing

DECEMBER = containing(PeriodKind.MONTHLY, date(2026, 12, 1))


def test_a_sum_is_scaled_to_the_whole_period() -> None:
    # 6 December: six of 31 days have begun (today counts), 60 so far -> 60 * 31 / 6 = 310.
    assert elapsed_days(DECEMBER, date(2026, 12, 6)) == 6
    assert pace(Decimal(60), "sum", DECEMBER, date(2026, 12, 6)) == Decimal(310)
    assert pace(Decimal(60), "count", DECEMBER, date(2026, 12, 6)) == Decimal(310)
    # 10 * 31 / 3 = 103.333... at six places.
    assert pace(Decimal(10), "sum", DECEMBER, date(2026, 12, 3)) == Decimal("103.333333")
    week = containing(PeriodKind.WEEKLY, date(2026, 12, 9))  # Mon 7 to Sun 13
    assert pace(Decimal(4), "sum", week, date(2026, 12, 7)) == Decimal(28)


@pytest.mark.parametrize("rollup", ["avg", "last", "min", "max"])
def test_other_rollups_keep_the_value_so_far(rollup: str) -> None:
    assert pace(Decimal("42.5"), rollup, DECEMBER, date(2026, 12, 6)) == Decimal("42.5")


def test_an_ended_period_is_its_value_and_one_not_begun_has_no_pace() -> None:
    assert elapsed_days(DECEMBER, date(2027, 2, 1)) == 31
    assert pace(Decimal(60), "sum", DECEMBER, date(2027, 1, 1)) == Decimal(60)
    assert elapsed_days(DECEMBER, date(2026, 11, 30)) == 0
    with pytest.raises(ValueError, match="not begun"):
        pace(Decimal(1), "sum", DECEMBER, date(2026, 11, 30))
    with pytest.raises(ValueError, match="unknown rollup"):
        pace(Decimal(1), "median", DECEMBER, date(2026, 12, 6))
