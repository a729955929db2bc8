"""Monthly event partitions made ahead of time: which, idempotent, attached, used."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.events.service import prepare_partitions
from tests.support.api import event, ingest

# Far enough ahead that no other test makes these months; spans a year end on purpose.
AHEAD = ["events_y2031m11", "events_y2031m12", "events_y2032m01", "events_y2032m02"]


async def _drop(db: Database, names: list[str]) -> None:
    async with db.engine.begin() as conn:
        for name in names:
            await conn.execute(text(f"DROP TABLE IF EXISTS kpi.{name}"))


async def _attached(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'kpi.events'::regclass"
            )
        )
        return {r[0] for r in rows}


async def _prepare(db: Database, today: date, months_ahead: int = 3) -> list[str]:
    async with db.unit_of_work() as session:
        return await prepare_partitions(session, today, months_ahead)


@pytest.fixture
async def no_future_partitions(db: Database) -> None:
    await _drop(db, AHEAD)


@pytest.mark.usefixtures("no_future_partitions")
async def test_this_month_and_three_ahead_are_made_once(db: Database) -> None:
    assert sorted(await _prepare(db, date(2031, 11, 30))) == AHEAD
    assert set(AHEAD) <= await _attached(db)
    assert await _prepare(db, date(2031, 11, 1)) == []
    assert set(AHEAD) <= await _attached(db)


@pytest.mark.usefixtures("no_future_partitions")
async def test_only_the_missing_months_are_made(db: Database) -> None:
    assert await _prepare(db, date(2031, 12, 5), months_ahead=0) == ["events_y2031m12"]
    assert sorted(await _prepare(db, date(2031, 11, 5))) == [
        "events_y2031m11",
        "events_y2032m01",
        "events_y2032m02",
    ]
    assert await _prepare(db, date(2031, 12, 31), months_ahead=2) == []


@pytest.mark.usefixtures("no_future_partitions")
async def test_two_replicas_at_once_make_each_partition_once(db: Database) -> None:
    first, second = await asyncio.gather(
        _prepare(db, date(2031, 11, 2)), _prepare(db, date(2031, 11, 2))
    )
    assert sorted(first + second) == AHEAD
    assert set(AHEAD) <= await _attached(db)


@pytest.mark.usefixtures("no_future_partitions")
async def test_events_land_in_their_month_partition(db: Database) -> None:
    await _prepare(db, date(2031, 11, 15))
    instants = {
        "2031-11-01T00:00:00+00:00": "kpi.events_y2031m11",
        "2031-11-30T23:59:59.999999+00:00": "kpi.events_y2031m11",
        "2031-12-01T00:00:00+00:00": "kpi.events_y2031m12",
        "2032-01-01T00:30:00+01:00": "kpi.events_y2031m12",  # 23:30 UTC on 31 December
        "2032-02-29T12:00:00+00:00": "kpi.events_y2032m02",
    }
    async with db.engine.begin() as conn:
        for at in instants:
            await conn.execute(
                text(
                    "INSERT INTO kpi.events (tenant_id, id, occurred_at, user_id, type) "
                    "VALUES ('default', :id, :at, '1', 'call')"
                ),
                {"id": uuid.uuid4(), "at": datetime.fromisoformat(at)},
            )
        rows = await conn.execute(
            text("SELECT occurred_at, tableoid::regclass::text FROM kpi.events")
        )
        found = {at: partition for at, partition in rows}
    assert {at: found[datetime.fromisoformat(at)] for at in instants} == instants


async def test_months_ahead_must_not_be_negative(db: Database) -> None:
    with pytest.raises(ValueError, match="months_ahead"):
        await _prepare(db, date(2031, 11, 15), months_ahead=-1)


async def test_ingested_events_use_partitions_made_ahead(client: AsyncClient, db: Database) -> None:
    now = datetime.now(UTC)
    await _prepare(db, now.date(), months_ahead=1)
    expected = f"kpi.events_y{now.year:04d}m{now.month:02d}"
    await ingest(client, [event("call", now, "1")])
    async with db.engine.connect() as conn:
        partition = await conn.scalar(text("SELECT tableoid::regclass::text FROM kpi.events"))
    assert partition == expected
