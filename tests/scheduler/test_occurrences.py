"""Which period an occurrence computes, and which occurrences count as missed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi_service.core.cron import cron_trigger
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.scheduler.occurrences import missed, period_of

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def test_an_occurrence_computes_the_newest_ended_period() -> None:
    monday_2am = datetime(2026, 11, 23, 2, tzinfo=UTC)
    week = period_of(PeriodKind.WEEKLY, monday_2am, UTC_ZONE)
    assert (week.start, week.end) == (date(2026, 11, 16), date(2026, 11, 22))
    month = period_of(PeriodKind.MONTHLY, datetime(2026, 12, 1, 3, tzinfo=UTC), UTC_ZONE)
    assert (month.start, month.end) == (date(2026, 11, 1), date(2026, 11, 30))
    # 23:30 UTC on the 21st is already the 22nd in Berlin: the 21st has ended there.
    day = period_of(PeriodKind.DAILY, datetime(2026, 11, 21, 23, 30, tzinfo=UTC), BERLIN)
    assert day.start == date(2026, 11, 21)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 12:00: the occurrences of the 19th, 20th and 21st (01:00) have fired.
        (datetime(2026, 11, 21, 12, tzinfo=UTC), [18, 19, 20]),
        # 00:30: today's 01:00 occurrence (for the 20th) is still to come.
        (datetime(2026, 11, 21, 0, 30, tzinfo=UTC), [17, 18, 19]),
    ],
)
def test_missed_daily_occurrences_are_those_whose_time_has_passed(
    now: datetime, expected: list[int]
) -> None:
    trigger = cron_trigger("0 1 * * *", UTC_ZONE)
    periods = missed(PeriodKind.DAILY, trigger, UTC_ZONE, now, 3)
    assert [p.start for p in periods] == [date(2026, 11, d) for d in expected]
    assert all(p.start == p.end for p in periods)


def test_missed_weekly_occurrences_oldest_first() -> None:
    trigger = cron_trigger("0 2 * * mon", UTC_ZONE)
    # Saturday 21 November: the Mondays 16th, 9th, 2nd fired for the three weeks before.
    periods = missed(
        PeriodKind.WEEKLY, trigger, UTC_ZONE, datetime(2026, 11, 21, 12, tzinfo=UTC), 3
    )
    assert [p.start for p in periods] == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]


def test_no_catch_up_when_count_is_zero() -> None:
    trigger = cron_trigger("0 1 * * *", UTC_ZONE)
    assert missed(PeriodKind.DAILY, trigger, UTC_ZONE, datetime.now(UTC), 0) == []


@pytest.mark.parametrize("line", ["0 1 * *", "61 1 * * *", "0 1 * * 1", "a b c d e f g"])
def test_bad_cron_lines_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match=r"cron|weekday|fields"):
        cron_trigger(line, UTC_ZONE)


def test_six_fields_put_seconds_first() -> None:
    trigger = cron_trigger("*/5 * * * * *", UTC_ZONE)
    start = datetime(2026, 11, 21, 12, 0, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start) == datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)
