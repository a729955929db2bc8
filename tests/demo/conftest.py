"""The demo loaded twice into a database of its own (its source tables would otherwise leak
into other tests), in a time zone with daylight saving; counts taken after each load."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from kpi_service.core.migrations import upgrade
from kpi_service.demo.loader import load_demo
from tests.support.app import make_settings
from tests.support.database import Server, create_database, plain_dsn
from tests.support.demo import TZ, LoadedDemo

COUNTED = (
    "public.support_cases",
    "public.leads",
    "public.contacts",
    "public.kpi_demo_state",
    "kpi.events",
    "kpi.definitions",
    "kpi.assignments",
    "kpi.assignment_targets",
    "kpi.measurements",
    "kpi.measurement_revisions",
    "kpi.goals",
    "kpi.alert_rules",
    "kpi.alerts",
    "kpi.pack_installs",
)


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in COUNTED}
    finally:
        await conn.close()


def _yesterday() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(TZ)).date() - timedelta(days=1)


@pytest.fixture(scope="package")
def demo(server: Server) -> Iterator[LoadedDemo]:
    url = create_database(server, "kpi_demo")
    upgrade(url)
    settings = make_settings(url, timezone=TZ, scheduler_enabled=False)
    dsn = plain_dsn(url)
    before = _yesterday()
    first = asyncio.run(load_demo(settings))
    first_counts = asyncio.run(_counts(dsn))
    second = asyncio.run(load_demo(settings))
    second_counts = asyncio.run(_counts(dsn))
    yield LoadedDemo(
        dsn, settings, (first, second), (first_counts, second_counts), (before, _yesterday())
    )
    server[2](make_url(url).database or "")
