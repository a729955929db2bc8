"""The demo as loaded for the demo tests: its time zone, what the loads left, and a client on
an app over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.demo.people import Window
from kpi_service.models import CalculationRun

TZ = "America/New_York"
LOCAL = ZoneInfo(TZ)
AGENTS = [str(n) for n in range(101, 113)]


@dataclass(frozen=True)
class LoadedDemo:
    """What the loads left: runs, row counts after each load, and where to read."""

    dsn: str
    settings: Settings
    runs: tuple[list[CalculationRun], list[CalculationRun]]
    counts: tuple[dict[str, int], dict[str, int]]
    days_before: tuple[date, date]  # yesterday in TZ before the first load and after the last

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def window(self) -> Window:
        """The demo's window as the first load fixed it."""
        [state] = await self.rows("SELECT last_day, months FROM public.kpi_demo_state")
        return Window(state["last_day"], state["months"], LOCAL)

    async def value(self, key: str, subject: str, start: date) -> Decimal | None:
        """The stored value of a KPI for a subject and the period starting on `start`."""
        rows = await self.rows(
            "SELECT m.actual_value FROM kpi.measurements m "
            "JOIN kpi.definitions d ON d.id = m.definition_id "
            "JOIN kpi.assignments a ON a.id = m.assignment_id "
            "WHERE d.key = $1 AND a.subject_id = $2 AND m.period_start = $3",
            key,
            subject,
            start,
        )
        assert len(rows) == 1, (key, subject, start, rows)
        value: Decimal | None = rows[0]["actual_value"]
        return value

    @asynccontextmanager
    async def client(self) -> AsyncIterator[AsyncClient]:
        """A client on the service over the demo's database (auth `none`: an admin)."""
        url = self.settings.database_url
        assert url is not None
        database = Database.connect(url.get_secret_value(), self.settings)
        app = create_app(self.settings, database=database)
        try:
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
                yield c
        finally:
            await database.dispose()


def local_day(at: datetime) -> date:
    """The local date of an instant in the demo's time zone."""
    return at.astimezone(LOCAL).date()


def month_days(start: date) -> tuple[date, date]:
    """The first and last day of the month starting on `start`."""
    nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, nxt - timedelta(days=1)
