"""Periods in a time zone: local today, the elapsed share, the instants a period spans
across DST changes (split from test_periods.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.periods import (
    Period,
    between,
    containing,
    elapsed_fraction,
    is_final,
    local_today,
)
from kpi_service.engine.vocabulary import PeriodKind

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
HAVANA = ZoneInfo("America/Havana")
ZONES = [
    BERLIN,
    NEW_YORK,
    SANTIAGO,
    HAVANA,
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("UTC"),
]
HOUR = timedelta(hours=1)

days_strategy = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
kinds_strategy = st.sampled_from(list(PeriodKind))


def utc_length(period: Period, tz: ZoneInfo) -> timedelta:
    # Subtracting aware datetimes sharing one tzinfo ignores the offsets, hence UTC first.
    first, last = period.instants(tz)
    return last.astimezone(UTC) - first.astimezone(UTC)


# --- local_today --------------------------------------------------------------------------


def test_local_today() -> None:
    instant = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert local_today(BERLIN, instant) == date(2026, 11, 23)  # 00:30 CET
    assert local_today(NEW_YORK, instant) == date(2026, 11, 22)  # 18:30 EST
    early = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert local_today(NEW_YORK, early) == date(2026, 11, 22)  # 22:00 EST
    offset = datetime(2026, 11, 23, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert local_today(BERLIN, offset) == date(2026, 11, 23)  # 23:00 UTC is 00:00 CET


def test_local_today_rejects_naive_instant() -> None:
    with pytest.raises(ValueError):
        local_today(BERLIN, datetime(2026, 11, 22, 12, 0))


# --- elapsed_fraction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 10, 31), Decimal(0)),  # before the month
        (date(2026, 11, 1), Decimal(0)),  # first day: nothing complete yet
        (date(2026, 11, 2), Decimal(1) / Decimal(30)),
        (date(2026, 11, 16), Decimal(1) / Decimal(2)),  # 15 of 30 days
        (date(2026, 11, 30), Decimal(29) / Decimal(30)),
        (date(2026, 12, 1), Decimal(1)),  # the month is over
        (date(2027, 6, 1), Decimal(1)),
    ],
)
def test_elapsed_fraction(today: date, expected: Decimal) -> None:
    november = containing(PeriodKind.MONTHLY, date(2026, 11, 1))
    assert elapsed_fraction(november, today) == expected


def test_elapsed_fraction_of_a_week_and_a_day() -> None:
    week = containing(PeriodKind.WEEKLY, date(2026, 11, 18))  # Monday 16th
    assert elapsed_fraction(week, date(2026, 11, 18)) == Decimal(2) / Decimal(7)
    day = containing(PeriodKind.DAILY, date(2026, 11, 18))
    assert elapsed_fraction(day, date(2026, 11, 18)) == Decimal(0)
    assert elapsed_fraction(day, date(2026, 11, 19)) == Decimal(1)


# --- instants and DST ---------------------------------------------------------------------


def test_instants_ordinary_day() -> None:
    first, last = containing(PeriodKind.DAILY, date(2026, 6, 1)).instants(BERLIN)
    assert first == datetime(2026, 6, 1, 0, 0, tzinfo=BERLIN)
    assert last == datetime(2026, 6, 2, 0, 0, tzinfo=BERLIN)
    assert first.astimezone(UTC) == datetime(2026, 5, 31, 22, 0, tzinfo=UTC)  # CEST = UTC+2
    assert last.astimezone(UTC) == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2026, 3, 29), 23),  # 02:00 CET -> 03:00 CEST
        (BERLIN, date(2026, 10, 25), 25),  # 03:00 CEST -> 02:00 CET
        (BERLIN, date(2026, 3, 28), 24),
        (NEW_YORK, date(2026, 3, 8), 23),  # 02:00 EST -> 03:00 EDT
        (NEW_YORK, date(2026, 11, 1), 25),  # 02:00 EDT -> 01:00 EST
        (NEW_YORK, date(2026, 11, 2), 24),
        (SANTIAGO, date(2022, 9, 11), 23),  # midnight -04 -> 01:00 -03: no local midnight
        (SANTIAGO, date(2026, 4, 4), 25),  # 24:00 -03 -> 23:00 -04
        (HAVANA, date(2026, 3, 8), 23),  # midnight CST -> 01:00 CDT: no local midnight
    ],
)
def test_instants_dst_day_length(tz: ZoneInfo, day: date, hours: int) -> None:
    assert utc_length(containing(PeriodKind.DAILY, day), tz) == hours * HOUR


def test_instants_berlin_dst_in_utc() -> None:
    spring = containing(PeriodKind.DAILY, date(2026, 3, 29)).instants(BERLIN)
    assert [i.astimezone(UTC) for i in spring] == [
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 CET (+1)
        datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # 00:00 CEST (+2)
    ]


def test_instants_of_month_and_week_across_dst() -> None:
    october = containing(PeriodKind.MONTHLY, date(2026, 10, 1))
    assert utc_length(october, BERLIN) == 31 * 24 * HOUR + HOUR
    march = containing(PeriodKind.MONTHLY, date(2026, 3, 1))
    assert utc_length(march, BERLIN) == 31 * 24 * HOUR - HOUR
    week = containing(PeriodKind.WEEKLY, date(2026, 3, 8))  # Mon 2nd..Sun 8th
    assert utc_length(week, NEW_YORK) == 7 * 24 * HOUR - HOUR
    year = containing(PeriodKind.YEARLY, date(2026, 1, 1))
    assert utc_length(year, BERLIN) == 365 * 24 * HOUR


@pytest.mark.parametrize(
    ("tz", "day", "utc_start", "local_wall"),
    [
        (SANTIAGO, date(2022, 9, 11), datetime(2022, 9, 11, 4, 0, tzinfo=UTC), (1, -3)),
        (HAVANA, date(2026, 3, 8), datetime(2026, 3, 8, 5, 0, tzinfo=UTC), (1, -4)),
    ],
)
def test_instants_when_local_midnight_does_not_exist(
    tz: ZoneInfo, day: date, utc_start: datetime, local_wall: tuple[int, int]
) -> None:
    previous_day = containing(PeriodKind.DAILY, day - timedelta(days=1))
    first, last = containing(PeriodKind.DAILY, day).instants(tz)
    # The day starts at the transition instant, shown as the first existing wall time.
    assert first.astimezone(UTC) == utc_start
    hour, offset_hours = local_wall
    assert (first.hour, first.minute) == (hour, 0)
    assert first.utcoffset() == timedelta(hours=offset_hours)
    assert previous_day.instants(tz)[1].astimezone(UTC) == utc_start
    assert previous_day.instants(tz)[0].astimezone(UTC) < first.astimezone(UTC)
    assert first.astimezone(UTC) < last.astimezone(UTC)


def test_instants_utc_strictly_increasing_through_midnight_gap_years() -> None:
    for tz in (SANTIAGO, HAVANA):
        starts = [
            p.instants(tz)[0].astimezone(UTC)
            for p in between(PeriodKind.DAILY, date(2008, 1, 1), date(2027, 12, 31))
        ]
        assert all(a < b for a, b in pairwise(starts))


def test_instants_of_a_day_skipped_entirely_are_empty() -> None:
    # Samoa jumped from 2011-12-29 straight to 2011-12-31 when it crossed the date line.
    apia = ZoneInfo("Pacific/Apia")
    first, last = containing(PeriodKind.DAILY, date(2011, 12, 30)).instants(apia)
    assert first.astimezone(UTC) == last.astimezone(UTC) == datetime(2011, 12, 30, 10, tzinfo=UTC)


# --- properties ---------------------------------------------------------------------------


@given(day=days_strategy, tz=st.sampled_from(ZONES))
def test_instants_of_consecutive_days_are_contiguous(day: date, tz: ZoneInfo) -> None:
    today = containing(PeriodKind.DAILY, day)
    first, last = today.instants(tz)
    next_first, _ = today.next().instants(tz)
    assert last.astimezone(UTC) == next_first.astimezone(UTC)
    assert first.astimezone(UTC) < last.astimezone(UTC)
    assert first.tzinfo is tz


@given(kind=kinds_strategy, day=days_strategy, tz=st.sampled_from(ZONES))
def test_instants_of_consecutive_periods_are_contiguous(
    kind: PeriodKind, day: date, tz: ZoneInfo
) -> None:
    period = containing(kind, day)
    assert period.instants(tz)[1].astimezone(UTC) == period.next().instants(tz)[0].astimezone(UTC)
    assert local_today(tz, period.instants(tz)[0]) == period.start


@given(kind=kinds_strategy, day=days_strategy, today=days_strategy)
def test_elapsed_fraction_within_unit_interval(kind: PeriodKind, day: date, today: date) -> None:
    period = containing(kind, day)
    fraction = elapsed_fraction(period, today)
    assert Decimal(0) <= fraction <= Decimal(1)
    assert (fraction == 1) == is_final(period, today)
