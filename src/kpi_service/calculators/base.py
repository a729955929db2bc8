"""What every calculator takes and gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.engine.periods import Period


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
    """One definition, one period, every subject due for it."""

    tenant_id: str
    definition_key: str
    calculation_type: str
    config: dict[str, Any]
    period: Period
    subject_ids: list[str]
    tz: ZoneInfo


class CalculationFailed(Exception):
    """The whole (definition, period) could not be computed; the message says why."""
