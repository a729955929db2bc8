"""What every calculator takes and gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.engine.periods import Period
from kpi_service.engine.windows import Window, WindowRange, window_range


class ConfigError(ValueError):
    """A config setting that cannot work: `key` names it, `reason` says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    """The value for one subject, or the reason there is none."""

    value: Decimal | None
    reason: str | None = None
    failed: bool = False  # True: an error, not merely "no data"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CalculationRequest:
    """One definition, one period, every subject due for it; with a window, each value
    covers the window ending at the period's end instead of the period."""

    tenant_id: str
    definition_key: str
    calculation_type: str
    config: dict[str, Any]
    period: Period
    subject_ids: list[str]
    tz: ZoneInfo
    window: Window | None = None

    @property
    def span(self) -> WindowRange:
        """The days the values cover: the period, or the window ending at its end."""
        return window_range(self.period, self.window)

    def span_details(self) -> dict[str, Any]:
        """What a measurement's details record of a window (nothing without one)."""
        return {} if self.window is None else {"window": self.span.details()}


class CalculationFailed(Exception):
    """The whole (definition, period) could not be computed; the message says why."""
