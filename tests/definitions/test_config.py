"""A definition's config is checked against its calculation type on create and on update."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.api import definition_body as body
from tests.support.problems import assert_problem, error_locs

SUBJECT_SQL = "SELECT u AS subject_id, 1 AS value FROM unnest(CAST(:subject_ids AS text[])) AS u"


async def assert_nothing_stored(client: AsyncClient) -> None:
    assert (await client.get(URL)).json()["items"] == []


@pytest.mark.parametrize(
    ("calculation_type", "config", "loc"),
    [
        ("manual", {"query_key": "cases_resolved_count"}, ["body", "config"]),
        ("query", {}, ["body", "config"]),
        ("query", {"query_key": "no_such_query"}, ["body", "config", "query_key"]),
        ("query", {"query_key": 7}, ["body", "config", "query_key"]),
        ("query", {"query_key": "cases_resolved_count", "sql": SUBJECT_SQL}, ["body", "config"]),
        ("query", {"query_key": "cases_resolved_count", "extra": 1}, ["body", "config", "extra"]),
        ("query", {"sql": 42}, ["body", "config", "sql"]),
        ("query", {"sql": "SELECT 1\x00"}, ["body", "config", "sql"]),
        ("query", {"sql": "DELETE FROM kpi.definitions"}, ["body", "config", "sql"]),
        ("query", {"sql": "SELECT 1 AS value"}, ["body", "config", "sql"]),
        (
            "query",
            {"sql": "SELECT subject_id, value FROM no_such_table"},
            ["body", "config", "sql"],
        ),
        ("event", {"aggregate": "count"}, ["body", "config", "event_type"]),
        (
            "event",
            {"event_type": "Bad Type", "aggregate": "count"},
            ["body", "config", "event_type"],
        ),
        ("event", {"event_type": "call", "aggregate": "median"}, ["body", "config", "aggregate"]),
        ("event", {"event_type": "call", "aggregate": ["sum"]}, ["body", "config", "aggregate"]),
        (
            "event",
            {"event_type": "call", "aggregate": "count", "property": "x"},
            ["body", "config", "property"],
        ),
        (
            "event",
            {"event_type": "call", "aggregate": "sum", "property": "a.b"},
            ["body", "config", "property"],
        ),
        (
            "event",
            {"event_type": "call", "aggregate": "sum", "filter": {"k": [1]}},
            ["body", "config", "filter"],
        ),
        (
            "event",
            {"event_type": "call", "aggregate": "sum", "extra": 1},
            ["body", "config", "extra"],
        ),
        ("api", {}, ["body", "config"]),
        (
            "api",
            {"adapter": "http_json", "url": "ftp://x/{subject_id}", "value_pointer": "/v"},
            ["body", "config", "url"],
        ),
        ("formula", {"expression": "a / b"}, ["body", "config", "expression"]),
        (
            "formula",
            {"expression": "__import__('os')", "variables": {}},
            ["body", "config", "expression"],
        ),
        (
            "formula",
            {"expression": "a", "variables": {"a": "no_such_kpi"}},
            ["body", "config", "variables", "a"],
        ),
        ("formula", {"expression": "a", "variables": {"a": "k"}, "x": 1}, ["body", "config", "x"]),
    ],
)
async def test_config_that_does_not_fit_is_refused(
    client: AsyncClient, calculation_type: str, config: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(URL, json=body(calculation_type=calculation_type, config=config))
    problem = assert_problem(response, 422)
    assert loc in error_locs(problem)
    await assert_nothing_stored(client)


@pytest.mark.parametrize(
    "config",
    [
        {"query_key": "avg_resolution_time"},
        {"query_key": "cases_resolved_count"},
        {"sql": SUBJECT_SQL},
    ],
)
async def test_query_configs_that_fit_are_stored(
    client: AsyncClient, config: dict[str, Any]
) -> None:
    created = await define(client, calculation_type="query", config=config)
    assert created["config"] == config
    assert (await client.get(f"{URL}/{created['id']}")).json()["config"] == config


async def test_update_checks_the_config_too(client: AsyncClient) -> None:
    created = await define(
        client, calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    url = f"{URL}/{created['id']}"
    for change, loc in [
        ({"config": {"query_key": "nope"}}, ["body", "config", "query_key"]),
        ({"config": {"query_key": "cases_resolved_count", "sql": SUBJECT_SQL}}, ["body", "config"]),
        ({"calculation_type": "manual", "config": {"sql": SUBJECT_SQL}}, ["body", "config"]),
        ({"calculation_type": "event"}, ["body", "config", "event_type"]),
        ({"calculation_type": "formula"}, ["body", "config"]),
    ]:
        problem = assert_problem(await client.patch(url, json=change), 422)
        assert loc in error_locs(problem), change
    assert (await client.get(url)).json() == created


async def test_manual_config_must_stay_empty_on_update(client: AsyncClient) -> None:
    created = await define(client)
    url = f"{URL}/{created['id']}"
    problem = assert_problem(await client.patch(url, json={"config": {"a": 1}}), 422)
    assert ["body", "config"] in error_locs(problem)
    assert (await client.get(url)).json() == created


@pytest.mark.parametrize(
    ("expression", "variables"),
    [
        ("9**9**9**9", {}),  # the exponent 9**9**9 would be 9 ** 387420489
        ("x ** y", {"x": "resolved", "y": "hours"}),  # an exponent known only at run time
        ("2 ** 1000", {}),
        ("x * 1e16", {"x": "resolved"}),  # a constant beyond any result
        ("x" + " + x" * 300, {"x": "resolved"}),  # 1,201 characters
        ("-" * 60 + "x", {"x": "resolved"}),  # nested 61 deep
    ],
)
async def test_formulas_without_a_bounded_result_are_refused_when_saved(
    client: AsyncClient, expression: str, variables: dict[str, str]
) -> None:
    await define(client, key="resolved")
    await define(client, key="hours")
    response = await client.post(
        URL,
        json=body(
            key="rate",
            calculation_type="formula",
            config={"expression": expression, "variables": variables},
        ),
    )
    problem = assert_problem(response, 422)
    assert error_locs(problem) == [["body", "config", "expression"]]
    assert problem["detail"].startswith("The formula is refused: ")
    assert len((await client.get(URL)).json()["items"]) == 2  # the two inputs only

    created = await define(
        client,
        key="ratio",
        calculation_type="formula",
        config={"expression": "x * 2", "variables": {"x": "resolved"}},
    )
    url = f"{URL}/{created['id']}"
    change = {"config": {"expression": expression, "variables": variables}}
    problem = assert_problem(await client.patch(url, json=change), 422)
    assert error_locs(problem) == [["body", "config", "expression"]]
    assert (await client.get(url)).json() == created


@pytest.mark.parametrize(
    "expression",
    [
        "resolved / hours * 100",
        "resolved ** 2 / hours",
        "resolved ** 0.5 + hours * 0",
        "(resolved / hours) ** (1 / 3)",
    ],
)
async def test_ordinary_formulas_are_stored(client: AsyncClient, expression: str) -> None:
    await define(client, key="resolved")
    await define(client, key="hours")
    config = {"expression": expression, "variables": {"resolved": "resolved", "hours": "hours"}}
    created = await define(client, key="rate", calculation_type="formula", config=config)
    assert created["config"] == config
