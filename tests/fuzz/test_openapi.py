"""Schemathesis against the app's live OpenAPI document: every operation, in every auth mode.

Each operation gets schema examples, the coverage phase's boundary cases (huge and negative
integers, empty and over-long strings, wrong types) and random valid and invalid requests
(NUL bytes and any UTF-8 text included), sent through the ASGI app to a real database. No
answer may be a 5xx, and every answer must be declared by the operation: its status code, its
content type, and a body matching the declared schema.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import pytest
import schemathesis
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import make_url

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.migrations import upgrade
from kpi_service.core.settings import AuthMode
from tests.support.api import assign, define, event
from tests.support.app import SERVICE_TOKEN, make_settings
from tests.support.auth import bearer
from tests.support.database import create_database
from tests.support.figures import FIGURES

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase

# Random examples per operation (the schema-examples and coverage phases add about 70 more):
# most without auth, where nothing is spent on credentials; each mode is its own test, so its
# own derandomized stream. About 4.5 minutes on two cores; KPI_FUZZ_SCALE=4 digs deeper.
SCALE = float(os.environ.get("KPI_FUZZ_SCALE", "1"))
EXAMPLES = {AuthMode.NONE: 250, AuthMode.JWT: 100, AuthMode.TRUSTED_HEADERS: 100}

CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

# The happy path of each mode: an admin of the default tenant, where the seed rows live.
CREDENTIALS: dict[AuthMode, Callable[[], dict[str, str]]] = {
    AuthMode.NONE: dict,
    AuthMode.JWT: lambda: bearer("fuzz-admin", "admin"),
    AuthMode.TRUSTED_HEADERS: lambda: {
        "X-Service-Token": SERVICE_TOKEN,
        "X-User-Id": "fuzz-admin",
        "X-User-Role": "admin",
    },
}

# The document as the app builds it; each mode's live app must serve exactly this one.
SPEC = create_app(make_settings("postgresql://fuzz@127.0.0.1/unused")).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


@dataclass
class Target:
    """The app under fuzzing in one auth mode, the credentials it accepts, what it answered."""

    mode: AuthMode
    app: FastAPI
    headers: dict[str, str]
    operations: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)


async def _seed(url: str) -> None:
    """One row of most kinds, so that small generated ids often name something real."""
    db_settings = make_settings(url, scheduler_enabled=False)
    db = Database.connect(url, db_settings)
    app = create_app(db_settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        kpi = await define(c, key="calls")
        await define(
            c,
            key="talk_time",
            calculation_type="event",
            unit="minutes",
            config={"event_type": "call", "aggregate": "sum"},
        )
        assignment = await assign(c, kpi["id"], "1", 10, team_id="t1", start_date="2026-01-05")
        for url_, body in [
            (f"/api/kpis/assignments/{assignment['id']}/measurements/2026-01-05", {"value": 12}),
            (
                "/api/kpis/goals",
                {
                    "definition_id": kpi["id"],
                    "user_id": "1",
                    "period_kind": "monthly",
                    "period_start": "2026-01-01",
                    "target_value": 40,
                },
            ),
            (
                "/api/kpis/alerts/channels",
                {
                    "name": "ops",
                    "url": "http://127.0.0.1:9/hook",
                    "secret_env": "KPI_WEBHOOK_SECRET_OPS",
                },
            ),
            (
                "/api/kpis/alerts/rules",
                {
                    "definition_id": kpi["id"],
                    "name": "low",
                    "condition": {"kind": "achievement_below", "threshold": 90},
                },
            ),
            (
                "/api/kpis/events",
                {
                    "events": [
                        event(
                            "call",
                            "2026-01-06T10:00:00Z",
                            "1",
                            value=3,
                            id="00000000-0000-4000-8000-000000000001",
                        )
                    ]
                },
            ),
        ]:
            method = c.put if "/measurements/" in url_ else c.post
            response = await method(url_, json=body)
            assert response.status_code in (200, 201), (url_, response.text)
    await db.dispose()


@pytest.fixture(scope="module")
def fuzz_database(
    server: tuple[str, Callable[[str], str], Callable[[str], None]],
) -> Iterator[str]:
    """A database of its own: the fuzzer's writes never meet another test's rows."""
    url = create_database(server, "kpi_fuzz")
    upgrade(url)
    asyncio.run(_seed(url))
    yield url
    server[2](make_url(url).database or "")


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest, fuzz_database: str) -> Iterator[Target]:
    """The app in one auth mode, started (and connected) on schemathesis's event loop."""
    mode: AuthMode = request.param
    app = create_app(make_settings(fuzz_database, auth_mode=mode, scheduler_enabled=False))
    # Starlette types the ASGI messages as MutableMapping, schemathesis as dict.
    with asgi.get_client(cast(asgi.ASGIApp, app)) as client:
        assert client.get("/openapi.json").json() == SPEC
    fuzzed = Target(mode, app, CREDENTIALS[mode]())
    yield fuzzed
    asgi.shutdown_lifespans()
    answers = ", ".join(f"{code}: {n}" for code, n in sorted(fuzzed.statuses.items()))
    FIGURES.append(
        f"{mode}: {len(fuzzed.operations)} operations, "
        f"{fuzzed.statuses.total()} requests ({answers})"
    )


def fuzz_settings(mode: AuthMode) -> settings:
    """Reproducible runs (derandomized, no example database) of that mode's size."""
    return settings(
        max_examples=round(EXAMPLES[mode] * SCALE),
        derandomize=True,
        database=None,
        deadline=None,
        # Constrained schemas make many draws; a database answers every request.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def send(case: OpenApiCase, target: Target) -> None:
    """One generated request with the mode's credentials, and every check on its answer."""
    response = case.call_and_validate(headers=target.headers, checks=CHECKS, app=target.app)
    target.operations.add(case.operation.label)
    target.statuses[response.status_code] += 1


@pytest.mark.parametrize("target", [AuthMode.NONE], indirect=True, ids=str)
@fuzz_settings(AuthMode.NONE)
@schema.parametrize()
def test_without_auth(case: OpenApiCase, target: Target) -> None:
    send(case, target)


@pytest.mark.parametrize("target", [AuthMode.JWT], indirect=True, ids=str)
@fuzz_settings(AuthMode.JWT)
@schema.parametrize()
def test_with_a_bearer_token(case: OpenApiCase, target: Target) -> None:
    send(case, target)


@pytest.mark.parametrize("target", [AuthMode.TRUSTED_HEADERS], indirect=True, ids=str)
@fuzz_settings(AuthMode.TRUSTED_HEADERS)
@schema.parametrize()
def test_with_trusted_headers(case: OpenApiCase, target: Target) -> None:
    send(case, target)
