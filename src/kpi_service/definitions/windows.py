"""Which definitions may compute over a window."""

from __future__ import annotations

from typing import Any

from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.engine.vocabulary import PeriodKind, Rollup
from kpi_service.engine.windows import Window, refusal
from kpi_service.models import CalculationType

# The types whose source can be asked for any range of days: a window needs that.
WINDOWED_TYPES = frozenset({CalculationType.EVENT, CalculationType.QUERY})


def check_window(window: Any, calculation_type: str, aggregation_period: str, rollup: str) -> None:
    """Refuse a window the definition cannot compute over, with the reason (`window`)."""
    if window is None:
        return
    reason = None
    if calculation_type not in WINDOWED_TYPES:
        reason = f"{calculation_type} KPIs take no window; only event and query KPIs do"
        if calculation_type == CalculationType.FORMULA:
            reason += " (the KPIs a formula uses may have windows)"
    elif rollup == Rollup.SUM:
        reason = (
            "rollup 'sum' cannot combine windowed values (overlapping windows do not add "
            "up); use last, avg, min or max"
        )
    else:
        parsed = Window.of(window)  # shaped by the schema already: never None here
        reason = None if parsed is None else refusal(parsed, PeriodKind(aggregation_period))
    if reason is not None:
        raise InvalidInput(
            f"The window is not usable: {reason}.",
            errors=[field_error(["body", "window"], reason)],
        )
