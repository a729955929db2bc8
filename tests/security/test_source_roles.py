"""The roles sources are read as: named sources belong to their tenants, unsafe or superuser
source roles are refused, readiness reports the sources, an unreachable one fails only its
KPIs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from kpi_service.app import create_app
from kpi_service.core.database import Database, async_url
from kpi_service.core.settings import AuthMode, Environment, NamedSource
from tests.support.app import make_settings
from tests.support.database import Server, create_database
from tests.support.processes import execute, fetch
from tests.support.tenant_sources import A, B, kpi, run_week, stored_values, tenant_kpi


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
            a_id = await tenant_kpi(c, A, "calls", calls, source="crm")
            assert (await run_week(c, A))["status"] == "succeeded"
            assert {s: v for (d, s), v in (await stored_values(c, A)).items() if d == a_id} == {
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
            b_id = await tenant_kpi(c, B, "b_calls", "SELECT '1' AS subject_id, 1 AS value")
            await fetch(
                database_url,
                "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
                json.dumps({"sql": calls, "source": "crm"}),
                b_id,
            )
            run = await run_week(c, B)
            assert run["status"] == "failed"
            assert run["errors"][0]["error"].startswith("unknown source 'crm'")
            assert await stored_values(c, B) == {}
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
            definition_id = await tenant_kpi(c, {}, "k", sql)
            await fetch(
                database_url,
                "UPDATE kpi.definitions SET config = $1::jsonb WHERE id = $2",
                json.dumps({"sql": sql, "source": "down"}),
                definition_id,
            )
            run = await run_week(c, {})
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
