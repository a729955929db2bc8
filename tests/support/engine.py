"""Shorthands the engine's achievement tests are written in: the three target types, and `d`
for a Decimal from its text."""

from __future__ import annotations

from decimal import Decimal

from kpi_service.engine.vocabulary import TargetType

HIGHER = TargetType.HIGHER_BETTER
LOWER = TargetType.LOWER_BETTER
EXACT = TargetType.EXACT


def d(text: str) -> Decimal:
    """The Decimal written as text (exact, unlike one from a float)."""
    return Decimal(text)
