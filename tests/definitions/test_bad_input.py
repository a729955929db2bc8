"""Hostile or malformed input to /definitions is a 4xx problem and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.api import definition_body as body
from tests.support.problems import assert_problem

BAD_FIELDS: list[dict[str, Any]] = [
    {"name": "Cases\x00resolved"},
    {"name": "bell\x07"},
    {"name": ""},
    {"name": "x" * 201},
    {"name": 123},
    {"name": None},
    {"description": "NUL \x00 inside"},
    {"category": "sup\x00port"},
    {"category": ""},
    {"unit": "parsecs"},
    {"target_type": "up"},
    {"rollup": "median"},
    {"calculation_type": "magic"},
    {"scope": "galaxy"},
    {"aggregation_period": "hourly"},
    {"warning_threshold": 0},
    {"warning_threshold": 100.01},
    {"warning_threshold": -5},
    {"warning_threshold": "abc"},
    {"score_cap": 0},
    {"score_cap": 100_001},
    {"score_cap": 10**30},
    {"config": "not an object"},
    {"config": [1, 2]},
    {"is_active": "maybe"},
    {"colour": "blue"},
]

BAD_KEYS = ["Bad-Key", "1abc", "a" * 64, "", "key\x00", "_x", "kéy"]


@pytest.fixture
async def existing(client: AsyncClient) -> dict[str, Any]:
    """One stored definition that bad requests must leave untouched."""
    return await define(client, "existing")


async def assert_unchanged(client: AsyncClient, existing: dict[str, Any]) -> None:
    """Exactly the one definition is stored, as it was."""
    assert (await client.get(URL)).json()["items"] == [existing]


@pytest.mark.parametrize("change", BAD_FIELDS, ids=[next(iter(c)) for c in BAD_FIELDS])
async def test_bad_create_fields(
    client: AsyncClient, existing: dict[str, Any], change: dict[str, Any]
) -> None:
    assert_problem(await client.post(URL, json=body("fresh", **change)), 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize("change", BAD_FIELDS, ids=[next(iter(c)) for c in BAD_FIELDS])
async def test_bad_update_fields(
    client: AsyncClient, existing: dict[str, Any], change: dict[str, Any]
) -> None:
    response = await client.patch(f"{URL}/{existing['id']}", json=change)
    assert_problem(response, 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys(client: AsyncClient, existing: dict[str, Any], key: str) -> None:
    assert_problem(await client.post(URL, json=body(key)), 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"key": "k", "name": "n", "unit": "count", "target_type": "exact", '
        b'"aggregation_period": "daily", "calculation_type": "manual", "score_cap": NaN}',
        b'{"key": "k", "name": "n", "unit": "count", "target_type": "exact", '
        b'"aggregation_period": "daily", "calculation_type": "manual", "warning_threshold": '
        b"Infinity}",
        b'{"key": "k", "name": ',
        b"[]",
        b"null",
        b"\xff\xfe",
    ],
)
async def test_bad_json(client: AsyncClient, existing: dict[str, Any], raw: bytes) -> None:
    response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    await assert_unchanged(client, existing)


async def test_nan_in_an_update(client: AsyncClient, existing: dict[str, Any]) -> None:
    response = await client.patch(
        f"{URL}/{existing['id']}",
        content=b'{"score_cap": NaN}',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "path",
    [
        "/9223372036854775808",
        "/99999999999999999999999",
        "/0",
        "/-1",
        "/abc",
        "/1.5",
        "/by-key/BAD",
        "/by-key/%00",
        "/by-key/" + "a" * 70,
    ],
)
async def test_bad_path_ids(client: AsyncClient, existing: dict[str, Any], path: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        if path.startswith("/by-key") and method != "GET":
            continue
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await client.request(method, URL + path, **kwargs)
        assert response.status_code in (404, 405, 422), (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    await assert_unchanged(client, existing)


@pytest.mark.parametrize(
    "params",
    [
        {"category": "a\x00b"},
        {"category": "tab\there"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"limit": 2**64},
        {"is_active": "maybe"},
        {"calculation_type": "magic"},
        {"cursor": "\x00"},
        {"cursor": "x" * 500},
        {"cursor": "eyJhZnRlciI6IDkyMjMzNzIwMzY4NTQ3NzU4MDh9"},  # {"after": 2**63}
    ],
)
async def test_bad_query_parameters(
    client: AsyncClient, existing: dict[str, Any], params: dict[str, Any]
) -> None:
    assert_problem(await client.get(URL, params=params), 422)
    await assert_unchanged(client, existing)


async def test_huge_body_values_do_not_reach_the_database(
    client: AsyncClient, existing: dict[str, Any]
) -> None:
    deep: Any = {}
    for _ in range(30):
        deep = {"a": deep}
    config_response = await client.post(URL, json=body("deep", config=deep))
    assert_problem(config_response, 422)
    wide = {f"k{i}": i for i in range(60)}
    assert_problem(await client.post(URL, json=body("wide", config=wide)), 422)
    text = json.dumps(body("longtext", description="x" * 4001))
    assert_problem(
        await client.post(URL, content=text, headers={"content-type": "application/json"}), 422
    )
    await assert_unchanged(client, existing)
