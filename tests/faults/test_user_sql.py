"""Hostile KPI SQL: refused when saved; and, stored behind the save-time check's back or
disguised in functions the parser cannot see into, cut at run time by the sandbox (read-only
transaction, statement timeout, row cap) while the rest of the run is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.app import make_settings
from tests.support.problems import assert_problem
from tests.support.processes import execute, fetch
from tests.support.tenant_sources import kpi

TIMEOUT_MS = 500
ROW_CAP = 100
POOL = 3
GOOD = (
    "SELECT subject_id, value FROM (VALUES ('1', 3), ('2', 4)) AS t(subject_id, value) "
    "WHERE subject_id = ANY(:subject_ids)"
)
SUBJECTS = "FROM (VALUES ('1'), ('2')) AS t(subject_id)"

# Refused when saved; stored anyway (straight into the table), refused again at run time.
REFUSED = {
    "insert": (
        "INSERT INTO public.sandbox_target VALUES (1)",
        "Only a single SELECT statement is allowed, not INSERT.",
    ),
    "cte_write": (
        "WITH w AS (INSERT INTO public.sandbox_target VALUES (1) RETURNING x) "
        "SELECT x::text AS subject_id, x AS value FROM w",
        "The SQL contains a INSERT statement; only reading is allowed.",
    ),
    "ddl": (
        "CREATE TABLE public.pwned (x int)",
        "Only a single SELECT statement is allowed, not CREATE.",
    ),
    "commit": (
        "SELECT '1' AS subject_id, 1 AS value; COMMIT; DROP TABLE public.sandbox_target",
        "The SQL must be one statement; a semicolon may only end it.",
    ),
    "set_config": (
        "SELECT '1' AS subject_id, set_config('statement_timeout', '0', false)::int AS value",
        "The function set_config is not allowed in KPI SQL.",
    ),
    "sleep": (
        f"SELECT subject_id, 1 AS value {SUBJECTS}, pg_sleep(30)",
        "The function pg_sleep is not allowed in KPI SQL.",
    ),
}
# Valid SELECTs the parser accepts; the sandbox stops them when they run.
CUT = {
    "hidden_sleep": (
        f"SELECT subject_id, public.fault_sleep() AS value {SUBJECTS}",
        "the query failed: it ran longer than the statement timeout (SQLSTATE 57014)",
    ),
    "slow": (
        "SELECT '1' AS subject_id, count(*) AS value FROM generate_series(1, 1000000000)",
        "the query failed: it ran longer than the statement timeout (SQLSTATE 57014)",
    ),
    "hidden_write": (
        f"SELECT subject_id, public.fault_write() AS value {SUBJECTS}",
        "the query failed: it tried to write; source queries are read-only (SQLSTATE 25006)",
    ),
    "hidden_ddl": (
        f"SELECT subject_id, public.fault_ddl() AS value {SUBJECTS}",
        "the query failed: it tried to write; source queries are read-only (SQLSTATE 25006)",
    ),
    "huge": (
        "SELECT g::text AS subject_id, g AS value FROM generate_series(1, 1000000) AS g",
        f"the query returned more than {ROW_CAP} rows (the row cap)",
    ),
}
# Changes the session's settings and succeeds: the sandbox's rollback undoes the changes.
SETTINGS = f"SELECT subject_id, public.fault_settings() AS value {SUBJECTS}"
# Takes a session-level advisory lock, which outlives the transaction: the reset releases it.
LOCK = f"SELECT subject_id, public.fault_lock() AS value {SUBJECTS}"
LOCK_KEY = 4242
WATCHED = ("statement_timeout", "TimeZone", "search_path", "default_transaction_read_only")

SETUP = """
CREATE TABLE public.sandbox_target (x int);
CREATE FUNCTION public.fault_sleep() RETURNS int LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_sleep(30); RETURN 1; END $$;
CREATE FUNCTION public.fault_write() RETURNS int LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO public.sandbox_target VALUES (1); RETURN 1; END $$;
CREATE FUNCTION public.fault_ddl() RETURNS int LANGUAGE plpgsql
    AS $$ BEGIN CREATE TABLE public.pwned (x int); RETURN 1; END $$;
CREATE FUNCTION public.fault_settings() RETURNS int LANGUAGE plpgsql AS $$ BEGIN
    PERFORM set_config('statement_timeout', '1ms', false);
    PERFORM set_config('TimeZone', 'Pacific/Kiritimati', false);
    PERFORM set_config('search_path', 'pg_catalog', false);
    PERFORM set_config('default_transaction_read_only', 'on', false);
    RETURN 1; END $$;
CREATE FUNCTION public.fault_lock() RETURNS int LANGUAGE plpgsql AS $$ BEGIN
    PERFORM pg_advisory_lock(4242); RETURN 1; END $$;
"""
TEARDOWN = """
DROP TABLE IF EXISTS public.sandbox_target, public.pwned;
DROP FUNCTION IF EXISTS public.fault_sleep(), public.fault_write(), public.fault_ddl(),
    public.fault_settings(), public.fault_lock();
"""


@pytest.fixture
async def sandboxed(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """An app with a short query timeout, a small row cap and a pool of exactly POOL
    connections; the hostile objects the SQL reaches for exist meanwhile."""
    settings = make_settings(
        database_url,
        query_timeout_ms=TIMEOUT_MS,
        query_row_cap=ROW_CAP,
        db_pool_size=POOL,
        db_max_overflow=0,
    )
    database = Database.connect(database_url, settings)
    await execute(database_url, TEARDOWN + SETUP)
    app = create_app(settings, database=database)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            c.app_database = database  # type: ignore[attr-defined]
            yield c
    finally:
        await database.dispose()
        await execute(database_url, TEARDOWN)


async def _settings_of_every_pooled_connection(
    engine: AsyncEngine, count: int
) -> list[dict[str, str]]:
    """Hold `count` connections at once (all the pool keeps) and read their settings."""
    held = [await engine.connect() for _ in range(count)]
    try:
        return [
            {
                name: str(await conn.scalar(text(f"SELECT current_setting('{name}')")))
                for name in WATCHED
            }
            for conn in held
        ]
    finally:
        for conn in held:
            await conn.close()


async def test_hostile_sql_is_refused_when_saved(sandboxed: AsyncClient) -> None:
    for key, (sql, reason) in REFUSED.items():
        response = await sandboxed.post("/api/kpis/definitions", json=kpi(key, sql))
        problem = assert_problem(response, 422, key)
        assert problem["detail"] == f"The SQL is refused: {reason}", key
        assert problem["errors"][0]["loc"] == ["body", "config", "sql"]
    assert (await sandboxed.get("/api/kpis/definitions")).json()["items"] == []


async def test_hostile_sql_in_a_run_is_cut_and_the_run_goes_on(
    sandboxed: AsyncClient, database_url: str
) -> None:
    database: Database = sandboxed.app_database  # type: ignore[attr-defined]
    before = await _settings_of_every_pooled_connection(database.engine, POOL)
    ids = {}
    for key, sql in [
        ("good", GOOD),
        ("settings", SETTINGS),
        ("lock", LOCK),
        *((k, v[0]) for k, v in CUT.items()),
        *((k, GOOD) for k in REFUSED),
    ]:
        d = await define(sandboxed, key=key, calculation_type="query", config={"sql": sql})
        ids[key] = d["id"]
        for subject in ("1", "2"):
            await assign(sandboxed, d["id"], subject, 4, start_date="2026-11-01")
    # Behind the save-time check's back, as a hand edit of the database would.
    for key, (sql, _) in REFUSED.items():
        await fetch(
            database_url,
            "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
            json.dumps({"sql": sql}),
            ids[key],
        )

    run = await recalculate(sandboxed, period_start="2026-11-09")

    hostile = len(REFUSED) + len(CUT)
    assert (run["status"], run["computed"], run["failed"]) == ("partial", 6, 2 * hostile)
    assert {e["definition"]: e["error"] for e in run["errors"]} == {
        **{k: f"the query configuration is not usable: {why}" for k, (_, why) in REFUSED.items()},
        **{k: why for k, (_, why) in CUT.items()},
    }
    stored = {
        (m["definition_id"], m["subject_id"]): m["actual_value"]
        for m in await measurements(sandboxed)
    }
    assert stored == {
        (ids["good"], "1"): 3,
        (ids["good"], "2"): 4,
        (ids["settings"], "1"): 1,
        (ids["settings"], "2"): 1,
        (ids["lock"], "1"): 1,
        (ids["lock"], "2"): 1,
    }

    # Nothing the hostile SQL tried was done ...
    [row] = await fetch(
        database_url,
        "SELECT (SELECT count(*) FROM public.sandbox_target) AS n, "
        "to_regclass('public.pwned') AS pwned",
    )
    assert (row["n"], row["pwned"]) == (0, None)
    # ... no connection kept the settings the SQL changed: neither the service's (which never
    # runs tenant SQL) nor the source pool's, which ran it ...
    assert await _settings_of_every_pooled_connection(database.engine, POOL) == before
    source = await database.sources.engine("default", None)
    idle = source.sync_engine.pool.checkedin()  # type: ignore[attr-defined]
    assert idle >= 1
    assert await _settings_of_every_pooled_connection(source, idle) == [before[0]] * idle
    assert before[0]["statement_timeout"] != "1ms"
    # ... and nobody holds the session advisory lock the SQL took.
    held = await fetch(
        database_url,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1",
        LOCK_KEY,
    )
    assert held == []
    again = await recalculate(sandboxed, period_start="2026-11-09")
    assert (again["status"], again["unchanged"], again["failed"]) == ("partial", 6, 2 * hostile)
