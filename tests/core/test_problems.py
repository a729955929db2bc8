"""Every operation declares the error answers it can give, in the shape and media type sent."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from kpi_service.app import create_app
from tests.support.app import make_settings
from tests.support.problems import assert_problem

ERRORS = {"400", "401", "403", "404", "409", "413", "422", "503"}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _schema_of(op: dict[str, Any], status: str) -> tuple[str, str]:
    """The one media type declared for that status, and the component its schema names."""
    ((media_type, content),) = op["responses"][status]["content"].items()
    return media_type, content["schema"]["$ref"].rsplit("/", 1)[1]


def test_every_route_declares_its_error_answers() -> None:
    spec = create_app(make_settings("postgresql://unused@127.0.0.1/unused")).openapi()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape is never sent
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert schemas["LegacyError"]["required"] == ["error"]
    checked = 0
    for path, method, op in _operations(spec):
        if path.startswith("/api/kpis/"):
            expected = ("application/problem+json", "Problem")
        elif path.startswith("/kpis/"):
            expected = ("application/json", "LegacyError")
        else:
            continue
        assert set(op["responses"]) >= ERRORS, (method, path)
        for status in ERRORS:
            assert _schema_of(op, status) == expected, (method, path, status)
        assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)
        checked += 1
    assert checked >= 59


async def test_answers_have_the_declared_shape(client: AsyncClient) -> None:
    invalid = await client.get("/api/kpis/definitions/0")
    assert_problem(invalid, 422)
    body = invalid.json()
    assert (
        {"type", "title", "status", "detail"}
        <= set(body)
        <= {"type", "title", "status", "detail", "instance", "errors"}
    )
    assert body["errors"][0]["loc"] == ["path", "definition_id"]
    assert set(body["errors"][0]) == {"loc", "msg", "type"}

    missing = await client.get("/api/kpis/definitions/999")
    assert_problem(missing, 404)
    assert "errors" not in missing.json()

    legacy = await client.post(
        "/kpis/calculate/999", json={"period_start": "2026-01-05", "period_end": "2026-01-11"}
    )
    assert legacy.status_code == 404
    assert legacy.headers["content-type"] == "application/json"
    assert set(legacy.json()) == {"error"}
