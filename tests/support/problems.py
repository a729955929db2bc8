"""Checks on problem+json answers (RFC 9457), the one error format of the API."""

from __future__ import annotations

from typing import Any

from httpx import Response


def assert_problem(response: Response, status: int, context: object = "") -> dict[str, Any]:
    """Check the response is a problem+json of that status and return its body; `context`
    names the case in the failure message."""
    assert response.status_code == status, (context, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", context
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status, context
    return problem


def error_locs(problem: dict[str, Any]) -> list[list[Any]]:
    """The field locations a problem names."""
    return [e["loc"] for e in problem.get("errors", [])]
