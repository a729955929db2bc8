"""Test fixtures: one real PostgreSQL (embedded unless KPI_DATABASE_URL is set), migrated
by the real Alembic scripts once per run; every test starts from empty tables."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kpi_service.app import create_app
from kpi_service.core.database import Database, async_url
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade
from kpi_service.core.settings import AuthMode, Settings
from kpi_service.models import Base
from tests.support.app import make_settings
from tests.support.database import Server, create_database, plain_dsn
from tests.support.receiver import SECRET, SECRET_ENV, Receiver
from tests.support.source import SourceServer

SLOW_SUITES = ("fuzz", "faults", "clients")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suites that start processes or send thousands of requests are `slow`."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        if parts and parts[0] in SLOW_SUITES:
            item.add_marker(pytest.mark.slow)


def _server_url() -> Iterator[Server]:
    external = os.environ.get("KPI_DATABASE_URL")
    if external:
        base = make_url(async_url(external))

        def run(sql: str) -> None:
            async def go() -> None:
                conn = await asyncpg.connect(
                    plain_dsn(base.set(database="postgres").render_as_string(False))
                )
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()

            asyncio.run(go())

        yield (
            external,
            lambda name: base.set(database=name).render_as_string(False),
            lambda name: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
        )
        return
    workdir = Path(tempfile.mkdtemp(prefix="kpi-test-"))
    server = EmbeddedPostgres(workdir, durable=False)
    server.start()
    try:
        yield server.url("postgres"), server.url, server.drop_database
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """A PostgreSQL server for the whole run."""
    yield from _server_url()


@pytest.fixture(scope="session")
def database_url(server: Server) -> Iterator[str]:
    """A fresh database, upgraded to head by the real migrations."""
    url = create_database(server, "kpi_test")
    started = time.monotonic()
    upgrade(url)
    print(f"\nmigrated test database in {time.monotonic() - started:.2f}s")
    yield url
    server[2](make_url(url).database or "")


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def db(database_url: str, settings: Settings) -> AsyncIterator[Database]:
    database = Database.connect(database_url, settings)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every database test starts from empty tables (tests commit, as the service does)."""
    if "db" not in request.fixturenames:
        yield
        return
    database: Database = request.getfixturevalue("db")
    tables = ", ".join(f"{t.schema}.{t.name}" for t in Base.metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await conn.execute(
            text("DROP TABLE IF EXISTS public.support_cases, public.leads, public.contacts")
        )
    yield


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[AsyncClient]:
    """An HTTP client on the app with auth mode `none` (admin of `default`)."""
    app = create_app(settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture(scope="module")
def source() -> Iterator[SourceServer]:
    """A fake external HTTP source on 127.0.0.1 (see tests/support/source.py)."""
    server = SourceServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 checking signatures (see tests/support/receiver.py)."""
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
async def jwt_client(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """An HTTP client on an app with auth mode `jwt`; pass `headers=bearer(...)` per call."""
    app = create_app(make_settings(database_url, auth_mode=AuthMode.JWT), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
