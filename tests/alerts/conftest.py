"""Fixtures of the alert tests: apps with quick retries (the webhook receiver is the root
conftest's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.alerts import QUICK
from tests.support.app import make_settings


@pytest.fixture
async def api(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """A client on an app with auth mode `none` (admin of `default`) and quick retries."""
    app = create_app(make_settings(database_url, **QUICK), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()


@pytest.fixture
async def jwt_api(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """A client on an app with auth mode `jwt` and quick retries."""
    app = create_app(make_settings(database_url, auth_mode=AuthMode.JWT, **QUICK), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()
