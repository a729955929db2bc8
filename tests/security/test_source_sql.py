"""A hostile tenant's SQL: it runs as the source role on the tenant's own sources only, sees
nothing of schema kpi or the catalogs by any path, meets row-level security on a shared
source, and reads no other tenant's data in error messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.calculators import query
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.app import app_client
from tests.support.processes import execute, fetch
from tests.support.tenant_sources import A, B, kpi, run_week, stored_values, tenant_kpi

LEAK = (
    "SELECT s AS subject_id, (SELECT sum(actual_value) FROM kpi.measurements "
    "WHERE tenant_id <> :tenant_id) AS value FROM unnest(CAST(:subject_ids AS text[])) AS s"
)
# Readable only by the source role's betters: each must fail at run time, whatever the guard.
BEHIND_THE_GUARD = {
    "kpi_table": "SELECT count(*) FROM kpi.measurements",
    "kpi_definitions": "SELECT count(*) FROM kpi.definitions",
    "pg_authid": "SELECT count(*) FROM pg_catalog.pg_authid",
    "server_file": "SELECT length(pg_read_file('PG_VERSION'))",
}
SHARED = """
DROP TABLE IF EXISTS public.deals;
CREATE TABLE public.deals (tenant_id text, user_id text, amount numeric, note text);
INSERT INTO public.deals VALUES ('tenant-a', '1', 100, 'a_calls'), ('tenant-a', '1', 20, '7'),
    ('tenant-a', '2', 5, '1'), ('tenant-b', '1', 7, '2'), ('tenant-b', '2', 1000, '3');
ALTER TABLE public.deals ENABLE ROW LEVEL SECURITY;
CREATE POLICY deals_by_tenant ON public.deals
    USING (tenant_id = current_setting('kpi.tenant_id', true));
"""
DEALS = (
    "SELECT user_id AS subject_id, sum(amount) AS value, min(note) AS note FROM deals "
    "WHERE user_id = ANY(:subject_ids) GROUP BY user_id"
)


@pytest.fixture
async def tenants(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """Two tenants' admins on one app whose default source is shared (row-level security)."""
    await execute(database_url, SHARED)
    try:
        async with app_client(db, database_url, auth_mode=AuthMode.JWT) as c:
            yield c
    finally:
        await execute(database_url, "DROP TABLE IF EXISTS public.deals")


async def test_the_provisioned_source_role_reads_sources_and_nothing_of_kpi(
    db: Database, database_url: str
) -> None:
    await execute(
        database_url, "DROP TABLE IF EXISTS public.later; CREATE TABLE public.later (x int)"
    )
    await db.sources.engine("default", None)  # creates the role on first use
    [role] = await fetch(
        database_url,
        """
        SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin,
               has_schema_privilege('kpi_source', 'kpi', 'USAGE') AS kpi_usage,
               has_table_privilege('kpi_source', 'kpi.measurements', 'SELECT') AS kpi_select,
               has_table_privilege('kpi_source', 'public.later', 'SELECT') AS source_select,
               has_table_privilege('kpi_source', 'public.later', 'INSERT') AS source_insert
        FROM pg_roles WHERE rolname = 'kpi_source'""",
    )
    assert dict(role) == {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolcanlogin": True,
        "kpi_usage": False,
        "kpi_select": False,
        "source_select": True,
        "source_insert": False,
    }
    engine = await db.sources.engine("default", None)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT current_user")) == "kpi_source"
    await execute(database_url, "DROP TABLE public.later")


async def test_tenant_sql_over_kpi_and_the_catalogs_is_refused_when_saved(
    tenants: AsyncClient,
) -> None:
    for key, sql in {
        "leak": LEAK,
        **{k: f"SELECT '1' AS subject_id, ({s}) AS value" for k, s in BEHIND_THE_GUARD.items()},
        "views": "SELECT '1' AS subject_id, count(*) AS value FROM pg_tables",
        "info": "SELECT '1' AS subject_id, count(*) AS value FROM information_schema.tables",
    }.items():
        response = await tenants.post("/api/kpis/definitions", json=kpi(key, sql), headers=B)
        assert response.status_code == 422, (key, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", "config", "sql"], key
    assert (await tenants.get("/api/kpis/definitions", headers=B)).json()["items"] == []


async def test_tenant_sql_stored_behind_the_guard_sees_nothing_at_run_time(
    db: Database, database_url: str, settings: Any
) -> None:
    # The second line alone: the source role's own privileges, whatever SQL reaches it.
    engine = await db.sources.engine("tenant-b", None)
    for key, sql in BEHIND_THE_GUARD.items():
        with pytest.raises(Exception) as failure:
            await query._fetch(
                engine, f"SELECT '1', ({sql})", {"tenant_id": "tenant-b"}, settings, "UTC", 10
            )
        assert getattr(getattr(failure.value, "orig", None), "sqlstate", None) == "42501", key


async def test_a_stored_leak_fails_its_run_and_its_breakdown_without_data(
    tenants: AsyncClient, database_url: str
) -> None:
    # Tenant A has measurements worth leaking.
    a_id = await tenant_kpi(tenants, A, "a_deals", DEALS)
    assert (await run_week(tenants, A))["status"] == "succeeded"
    b_id = await tenant_kpi(tenants, B, "b_deals", DEALS)
    await fetch(
        database_url,
        "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
        json.dumps({"sql": LEAK}),
        b_id,
    )
    run = await run_week(tenants, B)
    assert (run["status"], run["failed"]) == ("failed", 2)
    assert "kpi.measurements" in run["errors"][0]["error"]
    assert await stored_values(tenants, B) == {}
    response = await tenants.get(
        "/api/kpis/metrics/breakdown",
        headers=B,
        params={
            "definition_key": "b_deals",
            "dimension": "note",
            "subject_type": "organization",
            "start": "2026-11-09",
            "end": "2026-11-15",
        },
    )
    assert response.status_code == 422, response.text
    assert "kpi.measurements" in response.json()["detail"]
    assert a_id != b_id


async def test_a_shared_source_shows_each_tenant_its_own_rows(tenants: AsyncClient) -> None:
    rows = [
        ("tenant-a", "1", 100),
        ("tenant-a", "1", 20),
        ("tenant-a", "2", 5),
        ("tenant-b", "1", 7),
        ("tenant-b", "2", 1000),
    ]

    def expected(tenant: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for owner, user, amount in rows:
            if owner == tenant:
                out[user] = out.get(user, Decimal(0)) + amount
        return out

    sums = "SELECT user_id AS subject_id, sum(amount) AS value FROM deals GROUP BY user_id"
    for headers, tenant in ((A, "tenant-a"), (B, "tenant-b")):
        definition_id = await tenant_kpi(tenants, headers, "sums", sums)
        assert (await run_week(tenants, headers))["status"] == "succeeded"
        values = await stored_values(tenants, headers)
        assert {
            s: Decimal(str(v)) for (d, s), v in values.items() if d == definition_id
        } == expected(tenant)


async def test_errors_never_quote_another_tenants_data(tenants: AsyncClient) -> None:
    # Under RLS tenant B cannot see 'a_calls'; without a policy it could make it fail on it.
    # Either way the driver's message (which quotes the value) never reaches an answer.
    cast = "SELECT user_id AS subject_id, sum(note::int) AS value FROM deals GROUP BY user_id"
    await tenant_kpi(tenants, A, "casts", cast)
    run = await run_week(tenants, A)
    assert run["status"] == "failed"
    text_of_run = json.dumps(run)
    assert "a_calls" not in text_of_run and "invalid input syntax" not in text_of_run
    assert run["errors"][0]["error"] == (
        "the query failed: a value could not be converted or computed (SQLSTATE 22P02)"
    )
    fetched = await tenants.get(f"/api/kpis/runs/{run['id']}", headers=A)
    assert "a_calls" not in fetched.text
    breakdown = await tenants.get(
        "/api/kpis/metrics/breakdown",
        headers=A,
        params={
            "definition_key": "casts",
            "dimension": "subject_id",
            "subject_type": "organization",
            "start": "2026-11-09",
            "end": "2026-11-15",
        },
    )
    assert breakdown.status_code == 422 and "a_calls" not in breakdown.text
