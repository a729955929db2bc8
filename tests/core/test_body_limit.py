"""Request bodies over KPI_MAX_BODY_BYTES are answered 413 before they are read or parsed,
with a Content-Length or streamed without one, authenticated or not, on every route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.api import event
from tests.support.app import make_settings
from tests.support.auth import bearer
from tests.support.problems import assert_problem

LIMIT = 4096


def _batch_of_exactly(size: int) -> bytes:
    """A valid one-event batch, padded with JSON whitespace to `size` bytes."""
    body = json.dumps({"events": [event("call", "2026-03-02T10:00:00+00:00", "7")]}).encode()
    assert len(body) < size
    return body + b" " * (size - len(body))


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _app_client(db: Database, database_url: str, **settings: Any) -> AsyncClient:
    app = create_app(make_settings(database_url, max_body_bytes=LIMIT, **settings), database=db)
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


async def _stored(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM kpi.events")) or 0)


def _assert_too_large(response: Any, path: str) -> None:
    assert_problem(response, 413)
    assert response.json() == {
        "type": "urn:kpi-service:problem:payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "instance": path,
        "detail": f"The request body is larger than {LIMIT} bytes (KPI_MAX_BODY_BYTES).",
    }


async def test_a_body_at_the_limit_is_handled_and_one_byte_more_is_refused(
    db: Database, database_url: str
) -> None:
    async with _app_client(db, database_url) as client:
        at_limit = await client.post(
            "/api/kpis/events",
            content=_batch_of_exactly(LIMIT),
            headers={"Content-Type": "application/json"},
        )
        assert at_limit.status_code == 200, at_limit.text
        assert at_limit.json()["accepted"] == 1

        over = await client.post(
            "/api/kpis/events",
            content=_batch_of_exactly(LIMIT + 1),
            headers={"Content-Type": "application/json"},
        )
        _assert_too_large(over, "/api/kpis/events")
        assert over.headers["x-request-id"]  # answered inside the request context
    assert await _stored(db) == 1


async def test_a_streamed_body_without_length_is_cut_once_over_the_limit(
    db: Database, database_url: str
) -> None:
    async with _app_client(db, database_url) as client:
        at_limit = await client.post(
            "/api/kpis/events",
            content=_chunks(_batch_of_exactly(LIMIT)),
            headers={"Content-Type": "application/json"},
        )
        assert at_limit.status_code == 200, at_limit.text

        over = await client.post(
            "/api/kpis/events",
            content=_chunks(_batch_of_exactly(LIMIT + 1)),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in over.request.headers
        assert over.request.headers["transfer-encoding"] == "chunked"
        _assert_too_large(over, "/api/kpis/events")
    assert await _stored(db) == 1


async def test_an_unauthenticated_oversize_body_gets_413_not_401(
    db: Database, database_url: str
) -> None:
    async with _app_client(db, database_url, auth_mode=AuthMode.JWT) as client:
        small = await client.post("/api/kpis/events", content=_batch_of_exactly(LIMIT))
        assert small.status_code == 401  # without a token, a body within the limit is refused
        for body in (_batch_of_exactly(LIMIT + 1), _chunks(_batch_of_exactly(LIMIT * 3))):
            _assert_too_large(
                await client.post("/api/kpis/events", content=body), "/api/kpis/events"
            )
        # A valid token changes nothing: the size is judged first.
        _assert_too_large(
            await client.post(
                "/api/kpis/events",
                content=_batch_of_exactly(LIMIT + 1),
                headers=bearer("1", "admin"),
            ),
            "/api/kpis/events",
        )
    assert await _stored(db) == 0


async def test_every_route_refuses_and_legacy_routes_in_their_own_shape(
    db: Database, database_url: str
) -> None:
    body = b"{" + b" " * LIMIT + b"}"
    async with _app_client(db, database_url) as client:
        # A route that reads no body, and one that does not exist, refuse all the same.
        _assert_too_large(
            await client.request("GET", "/api/kpis/definitions", content=body),
            "/api/kpis/definitions",
        )
        _assert_too_large(await client.post("/api/kpis/nowhere", content=body), "/api/kpis/nowhere")

        legacy = await client.post("/kpis/users/7/kpis/assign", content=body)
        assert legacy.status_code == 413
        assert legacy.headers["content-type"] == "application/json"
        assert legacy.json() == {
            "error": f"The request body is larger than {LIMIT} bytes (KPI_MAX_BODY_BYTES)."
        }
        streamed = await client.post("/kpis/calculate/1", content=_chunks(body))
        assert streamed.status_code == 413
        assert set(streamed.json()) == {"error"}
