"""Shared helpers for tests that need KPI definitions or check problem responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import AsyncClient, Response

URL = "/api/kpis/definitions"


def body(key: str = "cases_resolved", **overrides: Any) -> dict[str, Any]:
    """A valid create body for a manual KPI."""
    values: dict[str, Any] = {
        "key": key, "name": "Cases resolved", "unit": "count",
        "target_type": "higher_better", "aggregation_period": "weekly",
        "calculation_type": "manual",
    }
    values.update(overrides)
    return values


async def create(client: AsyncClient, key: str = "cases_resolved", **overrides: Any
                 ) -> dict[str, Any]:
    """Create a definition through the API and return it."""
    response = await client.post(URL, json=body(key, **overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """Check the response is a problem+json of that status and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def error_locs(problem: dict[str, Any]) -> list[list[Any]]:
    """The field locations a problem names."""
    return [e["loc"] for e in problem.get("errors", [])]


def instant(text: str) -> datetime:
    """A timestamp from the API, for comparing in time rather than as text."""
    return datetime.fromisoformat(text)
