"""The demo as loaded for the demo tests: its time zone and what the loads left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from kpi_service.core.settings import Settings
from kpi_service.models import CalculationRun

TZ = "America/New_York"


@dataclass(frozen=True)
class LoadedDemo:
    """What the loads left: runs, row counts after each load, and where to read."""

    dsn: str
    settings: Settings
    runs: tuple[CalculationRun | None, CalculationRun | None]
    counts: tuple[dict[str, int], dict[str, int]]
    days_before: tuple[date, date]  # yesterday in TZ before the first load and after the last

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()
