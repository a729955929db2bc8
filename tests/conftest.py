"""Test fixtures: one real PostgreSQL (embedded unless KPI_DATABASE_URL is set), migrated
by the real Alembic scripts once per run; every test starts from empty tables."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kpi_service.app import create_app
from kpi_service.core.database import Database, async_url
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade
from kpi_service.core.settings import AuthMode, Environment, Settings
from kpi_service.models import Base
from tests.support.api import plain_dsn
from tests.support.source import SourceServer

SLOW_SUITES = ("fuzz", "faults", "clients")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suites that start processes or send thousands of requests are `slow`."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        if parts and parts[0] in SLOW_SUITES:
            item.add_marker(pytest.mark.slow)


JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
SERVICE_TOKEN = "test-service-token"


def _server_url() -> Iterator[tuple[str, Callable[[str], str], Callable[[str], None]]]:
    external = os.environ.get("KPI_DATABASE_URL")
    if external:
        base = make_url(async_url(external))

        def run(sql: str) -> None:
            async def go() -> None:
                conn = await asyncpg.connect(plain_dsn(base.set(database="postgres")
                                                        .render_as_string(False)))
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()
            asyncio.run(go())

        yield (external, lambda name: base.set(database=name).render_as_string(False),
               lambda name: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
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
def server() -> Iterator[tuple[str, Callable[[str], str], Callable[[str], None]]]:
    """A PostgreSQL server for the whole run."""
    yield from _server_url()


def create_database(server: tuple[str, Callable[[str], str], Callable[[str], None]],
                    prefix: str) -> str:
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


@pytest.fixture(scope="session")
def database_url(server: tuple[str, Callable[[str], str], Callable[[str], None]]) -> Iterator[str]:
    """A fresh database, upgraded to head by the real migrations."""
    url = create_database(server, "kpi_test")
    started = time.monotonic()
    upgrade(url)
    print(f"\nmigrated test database in {time.monotonic() - started:.2f}s")
    yield url
    server[2](make_url(url).database or "")


def make_settings(url: str, **overrides: Any) -> Settings:
    """Settings for a test app, independent of the developer's environment and .env."""
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": SecretStr(url),
        "auth_mode": AuthMode.NONE,
        "jwt_secret": SecretStr(JWT_SECRET),
        "service_token": SecretStr(SERVICE_TOKEN),
        "timezone": "UTC",
        # The source role the service creates; external test servers may ask its password.
        "source_role_password": SecretStr("kpi-test-source"),
        # The tests' HTTP sources and webhook receivers listen on 127.0.0.1.
        "outbound_allow": "127.0.0.0/8",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
        await conn.execute(text("DROP TABLE IF EXISTS public.support_cases"))
    yield


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[AsyncClient]:
    """An HTTP client on the app with auth mode `none` (admin of `default`)."""
    app = create_app(settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


def bearer(user: str, role: str, tenant: str = "default", teams: list[str] | None = None,
           **claims: Any) -> dict[str, str]:
    """An Authorization header with a valid HS256 token for that identity."""
    payload: dict[str, Any] = {"sub": user, "role": role, "tenant": tenant,
                               "teams": teams or [], "exp": int(time.time()) + 3600}
    payload.update(claims)
    return {"Authorization": "Bearer " + jwt.encode(payload, JWT_SECRET, algorithm="HS256")}


@pytest.fixture(scope="module")
def source() -> Iterator[SourceServer]:
    """A fake external HTTP source on 127.0.0.1 (see tests/support/source.py)."""
    server = SourceServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def jwt_client(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """An HTTP client on an app with auth mode `jwt`; pass `headers=bearer(...)` per call."""
    app = create_app(make_settings(database_url, auth_mode=AuthMode.JWT), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
