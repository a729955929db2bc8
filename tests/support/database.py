"""The test database from outside the service: new databases, source tables, what was sent
and what is stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from httpx import AsyncClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from kpi_service.core.database import Database, async_url
from kpi_service.models import Base
from tests.support.api import FINISHED, idle, start_recalculation

# The test server: its maintenance URL, the URL of a database by name, and a dropper.
Server = tuple[str, Callable[[str], str], Callable[[str], None]]


def plain_dsn(url: str) -> str:
    """A database URL as asyncpg takes it."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(False)


def create_database(server: Server, prefix: str) -> str:
    """A new empty database on the test server; returns its URL."""
    _, url_of, _ = server
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def go() -> None:
        conn = await asyncpg.connect(plain_dsn(url_of("postgres")))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    return url_of(name)


Case = tuple[int, str, datetime, datetime | None]  # assigned_to, status, created_at, resolved_at


async def create_support_cases(db: Database, cases: Iterable[Case]) -> None:
    """The seed's `support_cases` table in the source (= test) database, with these rows."""
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.support_cases"))
        await conn.execute(
            text(
                "CREATE TABLE public.support_cases (id serial PRIMARY KEY, assigned_to integer, "
                "status text NOT NULL, created_at timestamptz NOT NULL, resolved_at timestamptz)"
            )
        )
        rows = [{"a": a, "s": s, "c": c, "r": r} for a, s, c, r in cases]
        if rows:
            await conn.execute(
                text(
                    "INSERT INTO public.support_cases (assigned_to, status, created_at, "
                    "resolved_at) "
                    "VALUES (:a, :s, :c, :r)"
                ),
                rows,
            )


@asynccontextmanager
async def statements_sent(db: Database) -> AsyncIterator[list[str]]:
    """Every statement the service's engine and the source pools send inside the block, in
    order."""
    sent: list[str] = []

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    engines = [db.engine, *(engine for _, engine in db.sources.engines())]
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", on_statement)


@asynccontextmanager
async def compilations(db: Database) -> AsyncIterator[list[int]]:
    """The identity of the compiled form of every statement sent inside the block, in order
    (SQLAlchemy hands out the same one for a statement it found in its cache)."""
    compiled: list[int] = []

    def on_statement(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        compiled.append(id(context.compiled))

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        yield compiled
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_statement)


async def backdate(db: Database, measurement_id: int, recorded_at: datetime) -> None:
    """Set when a measurement's current value was recorded (`calculated_at`), as if it had been
    recorded then; a later change keeps that time on the revision it adds."""
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE kpi.measurements SET calculated_at = :at WHERE id = :id"),
            {"at": recorded_at, "id": measurement_id},
        )


async def snapshot(db: Database, tenant: str | None = None) -> dict[str, tuple[int, str]]:
    """Row count and checksum of every table of the service (of one tenant's rows, if named)."""
    where = "" if tenant is None else " WHERE r.tenant_id = :tenant"
    union = " UNION ALL ".join(
        f"SELECT '{t.name}', count(*), "
        f"md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) "
        f"FROM {t.schema}.{t.name} AS r{where}"
        for t in Base.metadata.sorted_tables
    )
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(union), {"tenant": tenant} if tenant else {})
        return {name: (count, digest) for name, count, digest in rows}


async def run_finished_unobserved(
    database_url: str, run_id: int, client: AsyncClient
) -> dict[str, Any]:
    """The run once finished, polled on a connection of its own (not the service's engine,
    so statement counts stay exact), and once the client's app has ended its background work
    for it (the followers after the run), so that work is counted every time."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        for _ in range(1200):
            row = await conn.fetchrow(
                "SELECT status, computed FROM kpi.calculation_runs WHERE id = $1", run_id
            )
            if row is not None and row["status"] in FINISHED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"run {run_id} did not finish")
    finally:
        await conn.close()
    await idle(client)
    return dict(row)


async def recalculated_counting_statements(
    client: AsyncClient, db: Database, database_url: str, **body: Any
) -> tuple[dict[str, Any], list[str]]:
    """Ask for a recalculation (202) and catch every statement sent until the run and what
    follows it have finished; the finished run and the statements, in order."""
    async with statements_sent(db) as sent:
        run_id = await start_recalculation(client, **body)
        run = await run_finished_unobserved(database_url, run_id, client)
    return run, sent
