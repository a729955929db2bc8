"""The columns of a stored measurement that every view reading measurements shows alike."""

from __future__ import annotations

from typing import Any

from kpi_service.models import Measurement

# A measurement's judgement against the previous period, and when it was calculated.
JUDGED: tuple[Any, ...] = (
    Measurement.achievement,
    Measurement.status,
    Measurement.previous_value,
    Measurement.change_pct,
    Measurement.trend,
    Measurement.calculated_at,
)
