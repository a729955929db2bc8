"""The fuzz run's figures, filled by the fuzz tests and printed by tests/fuzz/conftest.py."""

from __future__ import annotations

FIGURES: list[str] = []
