"""Shared helpers for assignment tests."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as Date
from typing import Any

from httpx import AsyncClient

from tests.support.problems import URL as DEFINITIONS_URL
from tests.support.problems import body as definition_body

URL = "/api/kpis/assignments"


def today() -> Date:
    """Today in the test settings' time zone (UTC)."""
    return datetime.now(UTC).date()


async def definition(client: AsyncClient, key: str = "cases_resolved",
                     headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Create a manual definition through the API and return it."""
    response = await client.post(DEFINITIONS_URL, json=definition_body(key, **overrides),
                                 headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def body(definition_id: int, subject_id: str | None = "42", **overrides: Any) -> dict[str, Any]:
    """A valid create body for a user assignment."""
    values: dict[str, Any] = {"definition_id": definition_id, "subject_type": "user",
                              "subject_id": subject_id, "target_value": 10}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


async def assign(client: AsyncClient, definition_id: int, subject_id: str | None = "42",
                 headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Create an assignment through the API and return it."""
    response = await client.post(URL, json=body(definition_id, subject_id, **overrides),
                                 headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed_ids(client: AsyncClient, headers: dict[str, str] | None = None,
                     **params: Any) -> list[int]:
    """The ids of every assignment a list request returns (all pages)."""
    ids: list[int] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get(URL, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
