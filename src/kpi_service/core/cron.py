"""Cron expressions of the schedule: crontab's five fields, or six with seconds first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def cron_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    """The trigger of `expression`; raises ValueError when it is not a valid cron line.

    Five fields are crontab's (minute hour day month weekday); six put seconds first,
    which operators use to force frequent ticks when testing a deployment.
    """
    parts = expression.split()
    if len(parts) == 5:
        fields = dict(zip(_FIELDS, parts, strict=True))
    elif len(parts) == 6:
        fields = dict(zip(("second", *_FIELDS), parts, strict=True))
    else:
        raise ValueError(
            f"{expression!r} has {len(parts)} fields; a cron line has 5 (or 6 with seconds first)"
        )
    # Crontab counts weekdays from Sunday = 0; APScheduler from Monday = 0. Names are the
    # same in both, so plain numbers are refused rather than silently shifted by a day.
    if any(ch.isdigit() for ch in fields["day_of_week"]):
        raise ValueError(f"{expression!r}: write weekdays as names (mon, tue, ...)")
    try:
        return CronTrigger(timezone=tz, **fields)
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid cron line: {exc}") from None
