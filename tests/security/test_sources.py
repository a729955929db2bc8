"""A hostile tenant's SQL: it runs as the source role on the tenant's own sources only, sees
nothing of schema kpi or the catalogs by any path, meets row-level security on a shared source,
and reads no other tenant's data in error messages; unsafe source roles are refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kpi_service.app import create_app
from kpi_service.calculators import query
from kpi_service.core.database import Database, async_url
from kpi_service.core.settings import AuthMode, Environment, NamedSource
from tests.support.api import wait_for_run
from tests.support.app import make_settings
from tests.support.auth import bearer
from tests.support.database import create_database
from tests.support.processes import execute, fetch

Server = tuple[str, Callable[[str], str], Callable[[str], None]]
WEEK = "2026-11-09"
A, B = bearer("admin-a", "admin", "tenant-a"), bearer("admin-b", "admin", "tenant-b")
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


def kpi(key: str, sql: str, **config: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "unit": "count",
        "target_type": "higher_better",
        "aggregation_period": "weekly",
        "calculation_type": "query",
        "config": {"sql": sql, **config},
    }


async def _tenant_kpi(
    client: AsyncClient, headers: dict[str, str], key: str, sql: str, **config: Any
) -> int:
    response = await client.post(
        "/api/kpis/definitions", json=kpi(key, sql, **config), headers=headers
    )
    assert response.status_code == 201, response.text
    definition_id: int = response.json()["id"]
    for subject in ("1", "2"):
        response = await client.post(
            "/api/kpis/assignments",
            headers=headers,
            json={
                "definition_id": definition_id,
                "subject_type": "user",
                "subject_id": subject,
                "target_value": 10,
                "start_date": "2026-11-01",
            },
        )
        assert response.status_code == 201, response.text
    return definition_id


async def _run(client: AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/api/kpis/measurements/recalculate", headers=headers, json={"period_start": WEEK}
    )
    assert response.status_code == 202, response.text
    return await wait_for_run(client, response.json()["id"], headers=headers)


async def _values(client: AsyncClient, headers: dict[str, str]) -> dict[tuple[int, str], Any]:
    response = await client.get("/api/kpis/measurements", headers=headers, params={"limit": 500})
    return {
        (m["definition_id"], m["subject_id"]): m["actual_value"] for m in response.json()["items"]
    }


@pytest.fixture
async def tenants(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """Two tenants' admins on one app whose default source is shared (row-level security)."""
    await execute(database_url, SHARED)
    app = create_app(make_settings(database_url, auth_mode=AuthMode.JWT), database=db)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
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
    a_id = await _tenant_kpi(tenants, A, "a_deals", DEALS)
    assert (await _run(tenants, A))["status"] == "succeeded"
    b_id = await _tenant_kpi(tenants, B, "b_deals", DEALS)
    await fetch(
        database_url,
        "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
        json.dumps({"sql": LEAK}),
        b_id,
    )
    run = await _run(tenants, B)
    assert (run["status"], run["failed"]) == ("failed", 2)
    assert "kpi.measurements" in run["errors"][0]["error"]
    assert await _values(tenants, B) == {}
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
        definition_id = await _tenant_kpi(tenants, headers, "sums", sums)
        assert (await _run(tenants, headers))["status"] == "succeeded"
        values = await _values(tenants, headers)
        assert {
            s: Decimal(str(v)) for (d, s), v in values.items() if d == definition_id
        } == expected(tenant)


async def test_errors_never_quote_another_tenants_data(tenants: AsyncClient) -> None:
    # Under RLS tenant B cannot see 'a_calls'; without a policy it could make it fail on it.
    # Either way the driver's message (which quotes the value) never reaches an answer.
    cast = "SELECT user_id AS subject_id, sum(note::int) AS value FROM deals GROUP BY user_id"
    await _tenant_kpi(tenants, A, "casts", cast)
    run = await _run(tenants, A)
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


def _role_url(server: Server, database_url: str, role: str, password: str) -> str:
    name = make_url(async_url(database_url)).database or ""
    url = make_url(async_url(server[1](name))).set(username=role, password=password)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def named_source(server: Server) -> Iterator[str]:
    """A second, empty source database."""
    url = create_database(server, "kpi_crm")
    yield url
    server[2](make_url(url).database or "")


async def test_named_sources_belong_to_their_tenants(
    db: Database, database_url: str, server: Server, named_source: str
) -> None:
    await db.sources.engine("default", None)  # the kpi_source role exists from here on
    await execute(
        named_source,
        "CREATE TABLE public.calls (user_id text, n int); "
        "INSERT INTO public.calls VALUES ('1', 4), ('1', 5), ('2', 1); "
        "GRANT SELECT ON public.calls TO kpi_source",
    )
    crm = NamedSource(
        url=SecretStr(_role_url(server, named_source, "kpi_source", "kpi-test-source")),
        tenants=["tenant-a"],
    )
    settings = make_settings(
        database_url,
        auth_mode=AuthMode.JWT,
        sources={"crm": crm},
        source_tenants="tenant-a,tenant-b",
    )
    database = Database.connect(database_url, settings)
    app = create_app(settings, database=database)
    calls = (
        "SELECT user_id AS subject_id, sum(n) AS value FROM calls "
        "WHERE user_id = ANY(:subject_ids) GROUP BY user_id"
    )
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            a_id = await _tenant_kpi(c, A, "calls", calls, source="crm")
            assert (await _run(c, A))["status"] == "succeeded"
            assert {s: v for (d, s), v in (await _values(c, A)).items() if d == a_id} == {
                "1": 9,
                "2": 1,
            }
            # Tenant B can neither name A's source nor tell it from one that does not exist.
            for name in ("crm", "nope"):
                response = await c.post(
                    "/api/kpis/definitions", headers=B, json=kpi(f"b_{name}", calls, source=name)
                )
                assert response.status_code == 422, response.text
                problem = response.json()
                assert problem["errors"][0]["loc"] == ["body", "config", "source"]
                assert problem["errors"][0]["msg"] == (
                    f"unknown source {name!r}; this tenant's sources: default"
                )
            # Stored behind the check, B's definition still cannot reach it at run time.
            b_id = await _tenant_kpi(c, B, "b_calls", "SELECT '1' AS subject_id, 1 AS value")
            await fetch(
                database_url,
                "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
                json.dumps({"sql": calls, "source": "crm"}),
                b_id,
            )
            run = await _run(c, B)
            assert run["status"] == "failed"
            assert run["errors"][0]["error"].startswith("unknown source 'crm'")
            assert await _values(c, B) == {}
            # The DSN is a secret: no answer shows it.
            listed = await c.get("/api/kpis/definitions", headers=A)
            assert "kpi-test-source" not in listed.text and "kpi_crm" not in listed.text
    finally:
        await database.dispose()


@pytest.fixture
async def unsafe_role(server: Server, database_url: str) -> AsyncIterator[Callable[[str], str]]:
    """A login role with one unsafe grant, and its URL."""
    role = f"unsafe_{uuid.uuid4().hex[:8]}"
    await execute(database_url, f"CREATE ROLE {role} LOGIN PASSWORD 'unsafe'")
    yield lambda statement: statement.format(role=role)
    await execute(database_url, f"DROP OWNED BY {role}; DROP ROLE {role}")


@pytest.mark.parametrize(
    ("grant", "problem"),
    [
        ("GRANT USAGE ON SCHEMA kpi TO {role}", "it has a privilege on schema kpi"),
        (
            "GRANT SELECT ON kpi.measurements TO {role}",
            "it has a privilege on table kpi.measurements",
        ),
        ("GRANT INSERT ON public.deals_target TO {role}", "it may write to deals_target"),
        (
            "ALTER ROLE {role} CREATEROLE",
            "it may create roles, databases or replicate, or bypasses row-level security",
        ),
    ],
)
async def test_an_unsafe_source_role_is_refused_everywhere(
    db: Database,
    database_url: str,
    server: Server,
    unsafe_role: Callable[[str], str],
    grant: str,
    problem: str,
) -> None:
    await execute(
        database_url,
        "DROP TABLE IF EXISTS public.deals_target; "
        "CREATE TABLE public.deals_target (x int); " + unsafe_role(grant),
    )
    role = unsafe_role("{role}")
    url = _role_url(server, database_url, role, "unsafe")
    settings = make_settings(database_url, source_database_url=SecretStr(url))
    database = Database.connect(database_url, settings)
    app = create_app(settings, database=database)
    refused = f"its database role is not safe for tenant SQL ({problem})"
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            response = await c.post(
                "/api/kpis/definitions", json=kpi("k", "SELECT '1' AS subject_id, 1 AS value")
            )
            assert response.status_code == 422 and refused in response.text, response.text
            ready = await c.get("/readyz")
            assert ready.status_code == 503 and problem in ready.json()["detail"]
        # In production the service does not start with it.
        production = make_settings(
            database_url,
            source_database_url=SecretStr(url),
            env=Environment.PRODUCTION,
            auth_mode=AuthMode.JWT,
        )
        prod_app = create_app(production)
        with pytest.raises(RuntimeError, match="not safe for tenant SQL"):
            async with prod_app.router.lifespan_context(prod_app):
                pass
    finally:
        await database.dispose()
        await execute(database_url, "DROP TABLE IF EXISTS public.deals_target")


async def test_readiness_reports_the_sources(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["sources"] == {"default": "ok"}


async def test_a_superuser_source_is_refused(db: Database, database_url: str) -> None:
    # The service's own (superuser) URL as a source: exactly what must never run tenant SQL.
    settings = make_settings(database_url, source_database_url=SecretStr(database_url))
    database = Database.connect(database_url, settings)
    try:
        states = await database.sources.check()
        assert states["default"].unsafe and states["default"].problem == "it is a superuser"
    finally:
        await database.dispose()


async def test_a_source_that_cannot_be_reached_fails_its_kpis_not_the_service(
    db: Database, database_url: str
) -> None:
    # Nothing listens on port 1: the run fails its pairs (it is not a service outage, which
    # would release the run to be resumed forever), and saving says why.
    down = NamedSource(
        url=SecretStr("postgresql://kpi_source:x@127.0.0.1:1/none"), tenants=["default"]
    )
    settings = make_settings(database_url, sources={"down": down})
    database = Database.connect(database_url, settings)
    app = create_app(settings, database=database)
    sql = "SELECT '1' AS subject_id, 1 AS value"
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            response = await c.post("/api/kpis/definitions", json=kpi("k", sql, source="down"))
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0] == {
                "loc": ["body", "config", "source"],
                "type": "value_error",
                "msg": "source 'down' could not be reached (ConnectionRefusedError)",
            }
            definition_id = await _tenant_kpi(c, {}, "k", sql)
            await fetch(
                database_url,
                "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
                json.dumps({"sql": sql, "source": "down"}),
                definition_id,
            )
            run = await _run(c, {})
            assert (run["status"], run["failed"]) == ("failed", 2)
            assert run["errors"][0]["error"] == (
                "source 'down' could not be reached (ConnectionRefusedError)"
            )
            ready = await c.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["sources"] == {
                "default": "ok",
                "down": "not reachable (ConnectionRefusedError)",
            }
    finally:
        await database.dispose()
