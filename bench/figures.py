"""What the benchmarks measure with and print: timing, the machine's load, peak memory, what a
statement's plan did, and Markdown tables."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


# Prefixed to a statement; TIMING OFF keeps the per-row clock out of the execution time.
EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) "
_BLOCK_MB = 8 / 1024


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """What PostgreSQL says statements did (`EXPLAIN ANALYZE BUFFERS`), summed over them."""

    statements: int = 0
    execution_ms: float = 0.0
    rows_read: int = 0  # rows the table and index scans returned or filtered out
    buffers_mb: float = 0.0  # shared buffers hit or read
    temp_mb: float = 0.0  # written to temporary files (sorts, hashes beyond work_mem)

    def __add__(self, other: PlanFigures) -> PlanFigures:
        return PlanFigures(
            self.statements + other.statements,
            self.execution_ms + other.execution_ms,
            self.rows_read + other.rows_read,
            self.buffers_mb + other.buffers_mb,
            self.temp_mb + other.temp_mb,
        )


def plan_figures(explained: str | list[dict[str, Any]]) -> PlanFigures:
    """The figures of one statement from the output of `EXPLAIN + statement`."""
    (top,) = json.loads(explained) if isinstance(explained, str) else explained
    plan = top["Plan"]
    return PlanFigures(
        statements=1,
        execution_ms=top["Execution Time"],
        rows_read=_rows_read(plan),
        buffers_mb=(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]) * _BLOCK_MB,
        temp_mb=plan["Temp Written Blocks"] * _BLOCK_MB,
    )


def _rows_read(node: dict[str, Any]) -> int:
    """Rows of tables (and their indexes) the node and those under it went through."""
    own = 0
    if "Relation Name" in node:
        per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        own = round(per_loop * node["Actual Loops"])
    return own + sum(_rows_read(child) for child in node.get("Plans", ()))


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
