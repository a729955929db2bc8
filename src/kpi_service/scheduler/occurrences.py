"""Which period an occurrence computes, and which occurrences were missed."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from kpi_service.engine.periods import Period, latest_final, local_today
from kpi_service.engine.vocabulary import PeriodKind


def period_of(kind: PeriodKind, at: datetime, tz: ZoneInfo) -> Period:
    """The period an occurrence at `at` computes: the newest one that has ended."""
    return latest_final(kind, local_today(tz, at))


def missed(
    kind: PeriodKind, trigger: CronTrigger, tz: ZoneInfo, now: datetime, count: int
) -> list[Period]:
    """The periods of the `count` newest occurrences that should have fired by now, oldest
    first (whether they did is for the run rows to say)."""
    due: list[Period] = []
    period = period_of(kind, now, tz)
    # Only the newest ended period may still be waiting for its occurrence.
    for _ in range(count + 1 if count else 0):
        ended = datetime.combine(period.end + timedelta(days=1), time(), tzinfo=tz)
        fire = trigger.get_next_fire_time(None, ended)
        if fire is not None and fire <= now:
            due.append(period)
        if len(due) == count:
            break
        period = period.previous()
    return due[::-1]
