"""Request-scoped dependencies: the unit-of-work session and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back if it raises."""
    db: Database = request.app.state.db
    async with db.unit_of_work() as session:
        yield session


# `async` though they never wait: a plain `def` dependency runs in a thread of the pool.
async def get_settings_dep(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database handles (for work that needs the source engine)."""
    db: Database = request.app.state.db
    return db


# scope="function": the commit happens before the response is sent, so a 2xx means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
