"""`database_unreachable` on the errors a real connection raises once the database ended it
(asyncpg's own, raw as COPY lets them out, and SQLAlchemy's wrappings), and not on a
statement that is wrong."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kpi_service.core.database import Database
from kpi_service.core.errors import database_unreachable
from tests.support.database import plain_dsn


async def _end(url: str, pid: int) -> None:
    admin = await asyncpg.connect(plain_dsn(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
    finally:
        await admin.close()


async def test_every_error_of_a_connection_the_database_ended_is_an_outage(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(plain_dsn(database_url))
    await conn.execute("CREATE TEMP TABLE t (n int)")
    await _end(database_url, conn.get_server_pid())
    raised: list[BaseException] = []
    # Whatever the driver says while it learns the connection is gone (the server's farewell
    # mid-statement, a protocol left waiting, the closed socket), until it knows.
    for attempt in range(200):
        try:
            if attempt % 2:
                await conn.copy_records_to_table("t", records=[(1,)])
            else:
                await conn.fetchval("SELECT 1")
        except Exception as exc:
            raised.append(exc)
        if conn.is_closed() and raised:
            break
    for attempt in range(2):  # and once it knows
        try:
            await (
                conn.copy_records_to_table("t", records=[(1,)])
                if attempt
                else conn.fetchval("SELECT 1")
            )
        except Exception as exc:
            raised.append(exc)
    assert len(raised) >= 3 and conn.is_closed()
    assert [e for e in raised if not database_unreachable(e)] == []
    assert any("connection is closed" in str(e) for e in raised)


async def test_a_session_whose_connection_was_ended_reports_an_outage(
    db: Database, database_url: str
) -> None:
    async with db.sessions() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await _end(database_url, int(pid))
        failures: list[DBAPIError] = []
        try:
            await session.execute(text("SELECT 1"))
        except DBAPIError as exc:
            failures.append(exc)
        try:
            await session.rollback()
        except DBAPIError as exc:
            failures.append(exc)
        await session.invalidate()
    assert failures and all(database_unreachable(e) for e in failures), failures
    async with db.sessions() as session:  # the pool hands out a working connection
        assert await session.scalar(text("SELECT 2")) == 2


async def test_a_wrong_statement_is_not_an_outage(db: Database, database_url: str) -> None:
    conn = await asyncpg.connect(plain_dsn(database_url))
    wrong: list[BaseException] = []
    try:
        for call in (
            conn.fetchval("SELECT $1::int", 1, 2),  # the driver refuses: arity
            conn.fetchval("SELEC 1"),
            conn.fetchval("SELECT 1/0"),
            conn.copy_records_to_table("no_such_table", records=[(1,)]),
        ):
            try:
                await call
            except Exception as exc:
                wrong.append(exc)
        assert not conn.is_closed()
    finally:
        await conn.close()
    async with db.sessions() as session:
        for sql in ("SELEC 1", "SELECT 1/0", "SELECT * FROM no_such_table"):
            try:
                await session.execute(text(sql))
            except DBAPIError as exc:
                wrong.append(exc)
            await session.rollback()
    assert len(wrong) == 7
    assert [e for e in wrong if database_unreachable(e)] == []
    assert any(isinstance(e, asyncpg.InterfaceError) for e in wrong)
