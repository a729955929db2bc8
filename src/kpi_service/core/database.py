"""Engines, sessions and the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from kpi_service.core.errors import database_unreachable
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a PostgreSQL URL given in any usual spelling."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("the database URL must start with postgresql:// or postgres://")


@dataclass
class Database:
    """The service's own engine and session factory, plus the tenants' source databases (whose
    pools run tenant SQL; the service's pool never does)."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sources: Sources

    @classmethod
    def connect(cls, url: str, settings: Settings) -> Database:
        """The service database's engine and the sources of the settings (connected lazily)."""
        # A request waiting longer than pool_timeout for a connection gets 503 (core.errors);
        # recycling replaces connections before a proxy or firewall drops them when idle.
        waits = {
            "pool_timeout": settings.db_pool_timeout,
            "pool_recycle": settings.db_pool_recycle,
            "pool_pre_ping": True,
        }
        engine = create_async_engine(
            async_url(url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            connect_args={"server_settings": {"application_name": "kpi-service"}},
            **waits,
        )
        sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

        def source_pool(source_url: str, name: str) -> AsyncEngine:
            return create_async_engine(
                async_url(source_url),
                pool_size=5,
                max_overflow=5,
                connect_args={"server_settings": {"application_name": f"kpi-source-{name}"}},
                **waits,
            )

        sources = Sources.configure(async_url(url), engine, settings, source_pool)
        return cls(engine=engine, sessions=sessions, sources=sources)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.sources.dispose()
        await self.engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException as exc:
                await _discard(session, exc)
                raise
            await session.commit()


async def _discard(session: AsyncSession, exc: BaseException) -> None:
    """Roll back the failed unit of work; a connection the database ended (before or during
    the rollback) is invalidated instead, so the pool never hands it out again."""
    if database_unreachable(exc):
        await session.invalidate()
        return
    try:
        await session.rollback()
    except Exception as failed:
        if database_unreachable(failed):
            await session.invalidate()
        raise
