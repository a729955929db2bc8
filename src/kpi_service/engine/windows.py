"""Windows: a definition's value computed over days ending at each period's end (trailing
days, period to date, or everything so far) instead of over the period itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.engine.periods import Period, containing, is_finer, local_midnight
from kpi_service.engine.vocabulary import PeriodKind, ToDate

ALL = "all"
MAX_DAYS = 3660
# "all" has no first day; SQL gets this instant as its lower bound. It is the earliest
# instant a client may send (core.schemas.Instant), so nothing stored lies before it.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)

_KIND_OF = {
    ToDate.MONTH: PeriodKind.MONTHLY,
    ToDate.QUARTER: PeriodKind.QUARTERLY,
    ToDate.YEAR: PeriodKind.YEARLY,
}


@dataclass(frozen=True, slots=True)
class Window:
    """Trailing `days`, or `to_date` a calendar period, or (neither) everything so far."""

    days: int | None = None
    to_date: ToDate | None = None

    def __post_init__(self) -> None:
        """Reject a window that is both kinds, or a day count out of range."""
        if self.days is not None and self.to_date is not None:
            raise ValueError("a window is trailing days or to date, not both")
        if self.days is not None and not 1 <= self.days <= MAX_DAYS:
            raise ValueError(f"days must be from 1 to {MAX_DAYS}")

    @classmethod
    def of(cls, stored: Any) -> Window | None:
        """The window a definition stores (`{"days": N}`, `{"to_date": ...}`, `"all"`, None)."""
        if stored is None:
            return None
        if stored == ALL:
            return cls()
        if isinstance(stored, dict) and set(stored) == {"days"}:
            days = stored["days"]
            if isinstance(days, int) and not isinstance(days, bool):
                return cls(days=days)
        if isinstance(stored, dict) and set(stored) == {"to_date"}:
            return cls(to_date=ToDate(stored["to_date"]))
        raise ValueError(f"not a window: {stored!r}")


def refusal(window: Window, aggregation_period: PeriodKind) -> str | None:
    """Why a window cannot be used with a definition of that period (None: it can)."""
    if window.to_date is not None:
        kind = _KIND_OF[window.to_date]
        # A to-date window must start before its period does: a longer kind than the period.
        if not is_finer(aggregation_period, kind):
            return (
                f"a {window.to_date} to date window is not longer than a {aggregation_period} "
                "period; use a longer one or no window"
            )
    return None


@dataclass(frozen=True, slots=True)
class WindowRange:
    """The local days a value covers, both inclusive; `first` None: since the beginning."""

    first: date | None
    last: date

    def instants(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The half-open aware range [first day 00:00, day after the last 00:00) in tz, as a
        period's; with no first day, from `EARLIEST`."""
        end = local_midnight(self.last + timedelta(days=1), tz)
        return (EARLIEST if self.first is None else local_midnight(self.first, tz)), end

    def details(self) -> dict[str, str | None]:
        """The range as a measurement's details show it."""
        first = None if self.first is None else self.first.isoformat()
        return {"start": first, "end": self.last.isoformat()}


def window_range(period: Period, window: Window | None) -> WindowRange:
    """The days a period's value covers: the period itself, or the window ending at its end."""
    if window is None:
        return WindowRange(period.start, period.end)
    if window.days is not None:
        return WindowRange(period.end - timedelta(days=window.days - 1), period.end)
    if window.to_date is not None:
        return WindowRange(containing(_KIND_OF[window.to_date], period.end).start, period.end)
    return WindowRange(None, period.end)
