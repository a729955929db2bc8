"""How the views show a period still in progress: its pace, and no verdict on it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from kpi_service.core.schemas import OutNumber, Output
from kpi_service.core.settings import Settings
from kpi_service.engine import pace
from kpi_service.engine.achievement import quantize
from kpi_service.engine.periods import Period, is_final

# The status of a value whose period has not ended: it is not judged met, at risk or off
# track until it ends (its pace says where it is heading).
IN_PROGRESS = "in_progress"


class PeriodPace(Output):
    """Where a period still in progress is heading, from its value so far."""

    elapsed_fraction: OutNumber = Field(
        description="Share of the period elapsed when the value was taken."
    )
    as_of: datetime = Field(description="When the value so far was taken.")
    projected: OutNumber | None = Field(
        description="The value projected to the period's end: a sum KPI's value divided by "
        "the share elapsed; any other roll-up's value as it is. None before any "
        "of the period has elapsed, and for a KPI with a window (its value covers the "
        "window, not the period so far, so it is no accumulation to project)."
    )


def in_progress(period: Period, today: date) -> bool:
    """Whether the period's last day has not passed yet (it is not final)."""
    return not is_final(period, today)


def pace_of(
    settings: Settings,
    period: Period,
    rollup: str,
    value: Decimal | None,
    as_of: datetime | None,
    *,
    window: Any,
) -> PeriodPace | None:
    """The pace of a value of a period in progress taken at `as_of` (None without one); a
    windowed KPI (`window` not None) gets no projection."""
    if value is None or as_of is None:
        return None
    share = pace.elapsed_share(period, settings.tz, as_of)
    fraction = quantize(share)
    assert fraction is not None
    projected = None if window is not None else pace.projected(value, rollup, share)
    return PeriodPace(elapsed_fraction=fraction, as_of=as_of, projected=projected)


def unjudged(measured: dict[str, Any]) -> dict[str, Any]:
    """A measured row of a period in progress as the views show it: `in_progress` instead of
    a status colour, and no change or trend against the ended previous period."""
    shown = dict(measured)
    if shown.get("status") is not None or shown.get("value") is not None:
        shown["status"] = IN_PROGRESS
    for name in ("change_pct", "trend"):
        if name in shown:
            shown[name] = None
    return shown
