"""Health and readiness endpoints."""

from httpx import AsyncClient

from kpi_service.core.migrations import head_revision
from tests.support.problems import assert_problem


async def test_healthz(client: AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_head_revision(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["revision"] == head_revision()


async def test_unknown_route_is_problem_json(client: AsyncClient) -> None:
    response = await client.get("/api/kpis/nope")
    assert_problem(response, 404)
    assert response.json()["status"] == 404
