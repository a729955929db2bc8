"""The fuzz run's figures, printed in pytest's closing summary."""

from __future__ import annotations

from typing import Any

from tests.support.figures import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("API fuzzing (schemathesis)")
        for line in FIGURES:
            terminalreporter.write_line(line)
