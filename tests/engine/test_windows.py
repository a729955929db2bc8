"""Windows' days and instants, worked by hand: trailing days, period to date and everything so
far, across Berlin's DST changes (7 local days are 167 or 169 hours)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi_service.engine.periods import containing, custom
from kpi_service.engine.vocabulary import PeriodKind, ToDate
from kpi_service.engine.windows import EARLIEST, Window, WindowRange, refusal, window_range

BERLIN = ZoneInfo("Europe/Berlin")
DAY = PeriodKind.DAILY


def test_no_window_is_the_period_itself() -> None:
    week = containing(PeriodKind.WEEKLY, date(2026, 3, 31))
    assert window_range(week, None) == WindowRange(date(2026, 3, 30), date(2026, 4, 5))


@pytest.mark.parametrize(
    ("days", "end", "first"),
    [
        (1, date(2026, 3, 31), date(2026, 3, 31)),
        (7, date(2026, 3, 31), date(2026, 3, 25)),
        (30, date(2026, 3, 31), date(2026, 3, 2)),
        (30, date(2026, 3, 1), date(2026, 1, 31)),
        (366, date(2028, 12, 31), date(2028, 1, 1)),  # 2028 is a leap year
    ],
)
def test_trailing_days_end_at_the_period_end(days: int, end: date, first: date) -> None:
    assert window_range(containing(DAY, end), Window(days=days)) == WindowRange(first, end)


def test_trailing_days_of_a_longer_period_end_at_its_last_day() -> None:
    # ISO week 14 of 2026 runs Monday 30 March to Sunday 5 April.
    week = containing(PeriodKind.WEEKLY, date(2026, 4, 1))
    assert window_range(week, Window(days=3)) == WindowRange(date(2026, 4, 3), date(2026, 4, 5))


@pytest.mark.parametrize(
    ("to_date", "kind", "day", "first", "last"),
    [
        (ToDate.MONTH, DAY, date(2026, 3, 31), date(2026, 3, 1), date(2026, 3, 31)),
        (ToDate.MONTH, DAY, date(2026, 4, 1), date(2026, 4, 1), date(2026, 4, 1)),
        # the week of 30 March ends on Sunday 5 April: April to date
        (ToDate.MONTH, PeriodKind.WEEKLY, date(2026, 3, 31), date(2026, 4, 1), date(2026, 4, 5)),
        (ToDate.QUARTER, DAY, date(2026, 5, 17), date(2026, 4, 1), date(2026, 5, 17)),
        (
            ToDate.QUARTER,
            PeriodKind.MONTHLY,
            date(2026, 12, 5),
            date(2026, 10, 1),
            date(2026, 12, 31),
        ),
        (ToDate.YEAR, PeriodKind.QUARTERLY, date(2026, 8, 9), date(2026, 1, 1), date(2026, 9, 30)),
        (ToDate.YEAR, DAY, date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_to_date_starts_at_the_calendar_period_holding_the_end(
    to_date: ToDate, kind: PeriodKind, day: date, first: date, last: date
) -> None:
    got = window_range(containing(kind, day), Window(to_date=to_date))
    assert got == WindowRange(first, last)


def test_all_has_no_first_day_and_starts_at_the_earliest_instant() -> None:
    span = window_range(containing(DAY, date(2026, 10, 25)), Window())
    assert span == WindowRange(None, date(2026, 10, 25))
    start, end = span.instants(BERLIN)
    assert start == datetime(1900, 1, 1, tzinfo=UTC) == EARLIEST
    # 26 October 00:00 in Berlin is after the change back to CET (UTC+1).
    assert end == datetime(2026, 10, 25, 23, tzinfo=UTC)
    assert span.details() == {"start": None, "end": "2026-10-25"}


@pytest.mark.parametrize(
    ("end", "utc_start", "utc_end", "hours"),
    [
        # 25..31 March: CET (UTC+1) until 29 March 02:00, then CEST (UTC+2)
        (date(2026, 3, 31), datetime(2026, 3, 24, 23), datetime(2026, 3, 31, 22), 167),
        # 25..31 October: CEST until 25 October 03:00, then CET
        (date(2026, 10, 31), datetime(2026, 10, 24, 22), datetime(2026, 10, 31, 23), 169),
        # 1..7 June: no change
        (date(2026, 6, 7), datetime(2026, 5, 31, 22), datetime(2026, 6, 7, 22), 168),
    ],
)
def test_seven_local_days_across_a_dst_change(
    end: date, utc_start: datetime, utc_end: datetime, hours: int
) -> None:
    start, stop = window_range(containing(DAY, end), Window(days=7)).instants(BERLIN)
    assert (start, stop) == (utc_start.replace(tzinfo=UTC), utc_end.replace(tzinfo=UTC))
    # In UTC: Python subtracts two times of one zone as wall times.
    assert stop.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)


def test_a_custom_period_has_a_window_too() -> None:
    period = custom(date(2026, 3, 4), date(2026, 3, 10))  # Wednesday to Tuesday
    assert window_range(period, Window(days=2)) == WindowRange(date(2026, 3, 9), date(2026, 3, 10))


@pytest.mark.parametrize("kind", list(PeriodKind))
@pytest.mark.parametrize("to_date", list(ToDate))
def test_to_date_must_be_longer_than_the_period(kind: PeriodKind, to_date: ToDate) -> None:
    order = ["daily", "weekly", "monthly", "quarterly", "yearly"]
    longer = order.index({"month": "monthly", "quarter": "quarterly", "year": "yearly"}[to_date])
    refused = refusal(Window(to_date=to_date), kind)
    assert (refused is None) == (longer > order.index(kind))


def test_trailing_days_and_all_fit_any_period() -> None:
    assert {refusal(w, k) for w in (Window(days=1), Window()) for k in PeriodKind} == {None}


@pytest.mark.parametrize(
    ("stored", "window"),
    [
        (None, None),
        ("all", Window()),
        ({"days": 30}, Window(days=30)),
        ({"to_date": "quarter"}, Window(to_date=ToDate.QUARTER)),
    ],
)
def test_stored_shapes(stored: object, window: Window | None) -> None:
    assert Window.of(stored) == window


@pytest.mark.parametrize(
    "stored", ["ALL", {"days": 0}, {"days": 3661}, {"days": True}, {"to_date": "week"}, {}, 7]
)
def test_other_shapes_are_not_windows(stored: object) -> None:
    with pytest.raises(ValueError):
        Window.of(stored)
