"""The soak's samples of the service process: memory and CPU (and the database's CPU) at
fixed instants of the run."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.soak_traffic import Tally
from bench.views import cpu_seconds, database_cpu_seconds


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM) of a process, in MB."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def _sample(pid: int, workdir: Path, at: float) -> dict[str, Any]:
    return {
        "at_s": round(at, 1),
        **memory_mb(pid),
        "cpu_s": cpu_seconds(pid),
        "db_cpu_s": database_cpu_seconds(workdir),
        "client_cpu_s": time.process_time(),
    }


async def sample_service(
    pid: int, workdir: Path, tally: Tally, instants: list[float], into: dict[float, dict[str, Any]]
) -> None:
    for at in instants:
        await asyncio.sleep(max(0.0, tally.t0 + at - time.monotonic()))
        into[at] = _sample(pid, workdir, time.monotonic() - tally.t0)
        print(
            f"{at:6.0f}s: {len(tally.samples):,} requests, {len(tally.error_times)} errors, "
            f"RSS {into[at]['VmRSS']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
