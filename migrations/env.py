"""Alembic environment: async, schema `kpi`, URL from the caller or KPI_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from kpi_service.core.database import async_url
from kpi_service.models import SCHEMA, Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "schema":
        return name == SCHEMA
    return True


def _configure(connection: Connection) -> None:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=_include_name,
        compare_type=True,
        compare_server_default=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(async_url(url))
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
