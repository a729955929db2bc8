"""Helpers the tests share: a `support_cases` source table and API shortcuts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from kpi_service.core.database import Database, async_url


def plain_dsn(url: str) -> str:
    """A database URL as asyncpg takes it."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(False)


Case = tuple[int, str, datetime, datetime | None]  # assigned_to, status, created_at, resolved_at


async def create_support_cases(db: Database, cases: Iterable[Case]) -> None:
    """The seed's `support_cases` table in the source (= test) database, with these rows."""
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.support_cases"))
        await conn.execute(text(
            "CREATE TABLE public.support_cases (id serial PRIMARY KEY, assigned_to integer, "
            "status text NOT NULL, created_at timestamptz NOT NULL, resolved_at timestamptz)"))
        rows = [{"a": a, "s": s, "c": c, "r": r} for a, s, c, r in cases]
        if rows:
            await conn.execute(text(
                "INSERT INTO public.support_cases (assigned_to, status, created_at, resolved_at) "
                "VALUES (:a, :s, :c, :r)"), rows)


async def create_definition(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"unit": "count", "target_type": "higher_better", "aggregation_period": "weekly",
            "calculation_type": "manual", "config": {}, **fields}
    body.setdefault("name", body["key"].replace("_", " ").title())
    response = await client.post("/api/kpis/definitions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def assign(client: AsyncClient, definition_id: int, subject_id: str,
                 target_value: float, **fields: Any) -> dict[str, Any]:
    body = {"definition_id": definition_id, "subject_type": "user", "subject_id": subject_id,
            "target_value": target_value, **fields}
    response = await client.post("/api/kpis/assignments", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def measurements(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/kpis/measurements", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


FINISHED = ("succeeded", "partial", "failed")


async def wait_for_run(client: AsyncClient, run_id: int, *, within: float = 60.0,
                       headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll a run until it has finished, as a client of the API would."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get(f"/api/kpis/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in FINISHED:
            return run
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} unfinished: {run}"
        await asyncio.sleep(0.05)


async def recalculate(client: AsyncClient, **body: Any) -> dict[str, Any]:
    """Ask for a recalculation (202) and wait for the run to finish; the finished run."""
    response = await client.post("/api/kpis/measurements/recalculate", json=body)
    assert response.status_code == 202, response.text
    return await wait_for_run(client, response.json()["id"])


@asynccontextmanager
async def statements_sent(db: Database) -> AsyncIterator[list[str]]:
    """Every statement the service's engine and the source pools send inside the block, in
    order."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    engines = [db.engine, *(engine for _, engine in db.sources.engines())]
    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


async def run_finished_unobserved(database_url: str, run_id: int,
                                  client: AsyncClient | None = None) -> dict[str, Any]:
    """The run once finished, polled on a connection of its own (not the service's engine,
    so statement counts stay exact); with the client, also once the app's background work
    for it (the followers after the run) has ended, so that work is counted every time."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        for _ in range(1200):
            row = await conn.fetchrow("SELECT status, computed FROM kpi.calculation_runs "
                                      "WHERE id = $1", run_id)
            if row is not None and row["status"] in FINISHED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"run {run_id} did not finish")
    finally:
        await conn.close()
    if client is not None:
        transport = client._transport
        assert isinstance(transport, ASGITransport)
        await transport.app.state.runs.idle()  # type: ignore[attr-defined]
    return dict(row)
