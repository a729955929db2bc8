"""Event statements: partitions on demand, COPY-based idempotent insert, keyset timeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import ColumnElement, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.repository import Filters, equal_to, where
from kpi_service.models import PARTITION_PREFIX, SCHEMA, Event


class EventRow(NamedTuple):
    """One row of `kpi.events` as COPY takes it; `properties` is JSON text."""

    tenant_id: str
    id: uuid.UUID
    occurred_at: datetime
    user_id: str
    team_id: str | None
    type: str
    value: Decimal | None
    properties: str


_COLUMNS = list(EventRow._fields)
_STAGING = "kpi_event_staging"
# Serialises partition creation across sessions and replicas (an arbitrary constant).
_PARTITION_LOCK = 7_260_301


def partition_name(year: int, month: int) -> str:
    """The partition holding that UTC month."""
    return f"{PARTITION_PREFIX}{year:04d}m{month:02d}"


@dataclass(frozen=True, slots=True)
class EventFilters(Filters):
    """What a timeline may be narrowed to; None means any."""

    user_id: str | None = equal_to(Event.user_id)
    types: Sequence[str] | None = where(lambda types: Event.type.in_(list(types)))


class EventRepository:
    """Writes and reads of `kpi.events` (partitioned by month) for one session.

    Not on the repository base: rows are keyed by the client's UUID, written by COPY and
    paged on (occurred_at, id), so its get, page, add and update do not apply; the one read
    by tenant says so itself, the timeline reads under `visible_events` (tenant included).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_occurrence(self, tenant_id: str, types: Sequence[str]) -> datetime | None:
        """When the tenant's earliest event of these types occurred, if any."""
        stmt = select(func.min(Event.occurred_at)).where(
            Event.tenant_id == tenant_id, Event.type.in_(list(types))
        )
        first: datetime | None = await self.session.scalar(stmt)
        return first

    async def existing_partitions(self) -> set[str]:
        rows = await self.session.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = "
                "p.relnamespace "
                "WHERE n.nspname = :schema AND p.relname = 'events'"
            ),
            {"schema": SCHEMA},
        )
        return {r[0] for r in rows}

    async def ensure_partitions(self, months: Iterable[tuple[int, int]]) -> list[str]:
        """Create the monthly partitions that are missing; returns the ones created."""
        wanted = {partition_name(y, m): (y, m) for y, m in months}
        if not set(wanted) - await self.existing_partitions():
            return []
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
        # Another session may have made some while we waited for the lock.
        missing = sorted(set(wanted) - await self.existing_partitions())
        for name in missing:
            year, month = wanted[name]
            nxt = (year + month // 12, month % 12 + 1)
            # Names and bounds are built from integers only: nothing from the client.
            await self.session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} PARTITION OF {SCHEMA}.events "
                    f"FOR VALUES FROM ('{year:04d}-{month:02d}-01 00:00+00') "
                    f"TO ('{nxt[0]:04d}-{nxt[1]:02d}-01 00:00+00')"
                )
            )
        return missing

    async def insert_new(self, rows: Sequence[EventRow]) -> int:
        """Store the rows whose key is not stored yet; returns how many were stored."""
        if not rows:
            return 0
        driver = await self._driver()
        try:
            # Usually none is stored yet: one COPY straight into the table, in a savepoint
            # (the driver's: the session's would not be emitted before a statement of its own).
            async with driver.transaction():
                await driver.copy_records_to_table(
                    "events", schema_name=SCHEMA, records=rows, columns=_COLUMNS
                )
            return len(rows)
        except UniqueViolationError:
            return await self._insert_skipping_stored(rows)

    async def _insert_skipping_stored(self, rows: Sequence[EventRow]) -> int:
        """COPY the rows into a staging table, then add those not stored yet."""
        await self.session.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (tenant_id text, id uuid, "
                "occurred_at timestamptz, user_id text, team_id text, type text, value numeric, "
                "properties jsonb) ON COMMIT DELETE ROWS"
            )
        )
        driver = await self._driver()
        await driver.copy_records_to_table(_STAGING, records=rows, columns=_COLUMNS)
        columns = ", ".join(_COLUMNS)
        result = await self.session.execute(
            text(
                f"INSERT INTO {SCHEMA}.events ({columns}) SELECT {columns} FROM {_STAGING} "  # noqa: S608
                "ON CONFLICT DO NOTHING"
            )
        )
        await self.session.execute(text(f"TRUNCATE {_STAGING}"))
        inserted: int = result.rowcount  # type: ignore[attr-defined]
        return inserted

    async def _driver(self) -> Any:
        """The asyncpg connection under the session's, for COPY."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def timeline(
        self,
        visible: ColumnElement[bool],
        filters: EventFilters,
        *,
        before: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Event]:
        """The `visible` events (a condition naming the tenant) after `before`, newest first,
        keyset-paginated on (occurred_at, id): one more than `limit` says there are more."""
        stmt = select(Event).where(visible, *filters.conditions())
        if before is not None:
            stmt = stmt.where(tuple_(Event.occurred_at, Event.id) < tuple_(*before))
        stmt = stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit + 1)
        return (await self.session.scalars(stmt)).all()
