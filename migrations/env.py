"""Alembic environment: async, schema `kpi`, URL from the caller or KPI_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text

from kpi_service.core.migrations import context_options, migration_engine
from kpi_service.models import SCHEMA

config = context.config

# Replicas starting together all upgrade: the first takes this lock for its transaction,
# the others wait for it, then find the schema at head and do nothing.
MIGRATION_LOCK = 0x6B70_6D69  # "kpmi"


def _run(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(connection=connection, **context_options())
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = migration_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("KPI_DATABASE_URL")
    if not url:
        raise RuntimeError("set KPI_DATABASE_URL (or use `kpi-service migrate`)")
    return str(url)


if context.is_offline_mode():
    raise RuntimeError("offline SQL generation is not supported; run against a database")

given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_async(_url()))
