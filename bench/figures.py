"""What the benchmarks measure with and print: timing, the machine's load, peak memory and
Markdown tables."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


@contextmanager
def stopwatch(into: dict[str, float], label: str) -> Iterator[None]:
    """Record the wall time of the block under `label`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        into[label] = time.perf_counter() - started


def load_line() -> str:
    """The machine's 1-minute load against its CPUs: other work there skews every figure."""
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    warning = "" if load < 0.5 else " -- the machine is busy: figures are not reliable"
    return f"load average {load:.2f} on {cpus} CPUs{warning}"


def own_peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(row[i]) for row in rows) and any(row[i] is not None for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = ["-" * (w - 1) + (":" if num else "-") for w, num in zip(widths, numeric, strict=True)]
    return "\n".join([line(list(headers)), line(rule), *(line(r) for r in cells)])


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
