"""Test apps: the settings they run with, a client on one built with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode, Environment, Settings

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
SERVICE_TOKEN = "test-service-token"


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
    return Settings(_env_file=None, **values)


def today() -> date:
    """Today in the test settings' time zone (UTC)."""
    return datetime.now(UTC).date()


@asynccontextmanager
async def app_client(
    db: Database, database_url: str, **overrides: Any
) -> AsyncIterator[AsyncClient]:
    """A client on an app built with these settings, sharing the test database."""
    app = create_app(make_settings(database_url, **overrides), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
