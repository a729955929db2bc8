"""Fixtures of the alert tests: a signed-webhook receiver and apps with quick retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.alerts import QUICK
from tests.support.app import make_settings
from tests.support.receiver import SECRET, SECRET_ENV, Receiver


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """The receiver with a fresh state, and its secret in the service's environment."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    receiver_server.reset()
    return receiver_server


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
