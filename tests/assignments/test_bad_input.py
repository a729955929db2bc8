"""Hostile or malformed input to /assignments is a 4xx problem and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import ASSIGNMENTS as URL
from tests.support.api import assign, define
from tests.support.api import assignment_body as body
from tests.support.problems import assert_problem

BAD_CREATE: list[dict[str, Any]] = [
    {"subject_id": "a\x00b"},
    {"subject_id": "line\nbreak"},
    {"subject_id": ""},
    {"subject_id": "x" * 65},
    {"subject_id": 123},
    {"team_id": "t\x01"},
    {"team_id": ""},
    {"target_value": 1e16},
    {"target_value": -1e16},
    {"target_value": "abc"},
    {"target_value": [1]},
    {"weight": 101},
    {"weight": -1},
    {"weight": "heavy"},
    {"baseline_value": 2e15},
    {"definition_id": 2**63},
    {"definition_id": 10**30},
    {"definition_id": 0},
    {"definition_id": -1},
    {"definition_id": 1.5},
    {"definition_key": "BAD KEY"},
    {"subject_type": "robot"},
    {"start_date": "2025-13-01"},
    {"start_date": "yesterday"},
    {"end_date": "2025-02-30"},
    {"colour": "blue"},
]

BAD_UPDATE: list[dict[str, Any]] = [
    {"target_value": 1e16},
    {"target_value": "NaN"},
    {"target_value": "Infinity"},
    {"weight": 100.5},
    {"baseline_value": -2e15},
    {"team_id": "t\x00"},
    {"team_id": "x" * 65},
    {"end_date": "soon"},
    {"target_effective_from": "2025-01-01"},
    {"target_value": 1, "target_effective_from": "2025-02-30"},
    {"colour": "blue"},
]


@pytest.fixture
async def existing(client: AsyncClient) -> dict[str, Any]:
    """One stored assignment that bad requests must leave untouched."""
    kpi = await define(client)
    return await assign(client, kpi["id"], "42", start_date="2025-01-01", team_id="t1")


async def assert_unchanged(client: AsyncClient, existing: dict[str, Any]) -> None:
    """Exactly the one assignment is stored, as it was."""
    assert (await client.get(URL)).json()["items"] == [existing]


def ids_of(cases: list[dict[str, Any]]) -> list[str]:
    return [f"{next(iter(c))}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("change", BAD_CREATE, ids=ids_of(BAD_CREATE))
async def test_bad_create_fields(
    client: AsyncClient, existing: dict[str, Any], change: dict[str, Any]
) -> None:
    payload = body(existing["definition_id"], "43", start_date="2025-01-01") | change
    assert_problem(await client.post(URL, json=payload), 422)
    bulk = {"items": [body(existing["definition_id"], "44"), payload]}
    assert_problem(await client.post(f"{URL}/bulk", json=bulk), 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize("change", BAD_UPDATE, ids=ids_of(BAD_UPDATE))
async def test_bad_update_fields(
    client: AsyncClient, existing: dict[str, Any], change: dict[str, Any]
) -> None:
    assert_problem(await client.patch(f"{URL}/{existing['id']}", json=change), 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"definition_id": 1, "subject_type": "user", "subject_id": "9", "target_value": NaN}',
        b'{"definition_id": 1, "subject_type": "user", "subject_id": "9", "target_value": '
        b"Infinity}",
        b'{"definition_id": 1, "subject_type": "user", "subject_id": "9", "weight": -Infinity, '
        b'"target_value": 1}',
        b'{"definition_id": 1, "subject_type": "user", "subject_id": "9", "target_value": 1e400}',
        b'{"definition_id": 99999999999999999999999999, "subject_type": "user", '
        b'"subject_id": "9", "target_value": 1}',
        b'{"definition_id": 1, "subject_type": "user", "subject_id": "\\u0000", "target_value": 1}',
        b'{"definition_id": 1,',
        b'"just a string"',
    ],
)
async def test_bad_json(client: AsyncClient, existing: dict[str, Any], raw: bytes) -> None:
    for url in (URL, f"{URL}/{existing['id']}"):
        method = "POST" if url == URL else "PATCH"
        response = await client.request(
            method, url, content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "path", ["/9223372036854775808", "/0", "/-1", "/abc", "/1.5", "/99999999999999999999999999"]
)
async def test_bad_path_ids(client: AsyncClient, existing: dict[str, Any], path: str) -> None:
    for method, suffix, payload in (
        ("GET", "", None),
        ("PATCH", "", {"weight": 1}),
        ("POST", "/end", None),
    ):
        response = await client.request(method, URL + path + suffix, json=payload)
        assert_problem(response, 422, (method, path))
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "params",
    [
        {"user_id": "a\x00"},
        {"subject_id": "x" * 65},
        {"team_id": "\x01"},
        {"user_id": ""},
        {"definition_id": 2**63},
        {"definition_id": "one"},
        {"active_on": "notadate"},
        {"active_on": "2025-02-30"},
        {"subject_type": "robot"},
        {"limit": 0},
        {"limit": 501},
        {"cursor": "garbage"},
    ],
)
async def test_bad_query_parameters(
    client: AsyncClient, existing: dict[str, Any], params: dict[str, Any]
) -> None:
    assert_problem(await client.get(URL, params=params), 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "payload", [{"end_date": "x"}, {"end_date": "2024-12-31"}, {"end": "2025-06-01"}, [1]]
)
async def test_bad_end_bodies(client: AsyncClient, existing: dict[str, Any], payload: Any) -> None:
    response = await client.post(
        f"{URL}/{existing['id']}/end",
        content=json.dumps(payload),
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)
    await assert_unchanged(client, existing)
