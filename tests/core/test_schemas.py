"""The shared field types publish what they enforce, in keywords JSON Schema readers know."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import BaseModel, ValidationError

from kpi_service.app import create_app
from kpi_service.core.schemas import MAX_ID, Choice
from kpi_service.engine.vocabulary import Rollup
from tests.support.api import assign, define
from tests.support.app import make_settings

# pydantic's names for bounds; JSON Schema spells them minimum, maximum, exclusive*.
NOT_JSON_SCHEMA = {"ge", "le", "gt", "lt"}


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object in a document (or part of one)."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value)


def test_bounds_are_json_schema_keywords() -> None:
    spec = create_app(make_settings("postgresql://unused@127.0.0.1/unused")).openapi()
    assert [s for s in _schemas(spec) if NOT_JSON_SCHEMA & set(s)] == []
    (param,) = spec["paths"]["/api/kpis/definitions/{definition_id}"]["get"]["parameters"]
    assert param["schema"]["minimum"] == 1
    assert param["schema"]["maximum"] == MAX_ID


def test_numbers_are_published_as_json_numbers() -> None:
    spec = create_app(make_settings("postgresql://unused@127.0.0.1/unused")).openapi()
    either = [
        s
        for s in _schemas(spec)
        for branch in [s.get("anyOf", [])]
        if {"number", "string"} <= {b.get("type") for b in branch}
    ]
    assert either == []
    numbers = [s for s in _schemas(spec) if s["type"] == "number" and "default" in s]
    assert len(numbers) >= 7
    assert all(type(s["default"]) in (int, float) for s in numbers), numbers
    weight = spec["components"]["schemas"]["AssignmentCreate"]["properties"]["weight"]
    assert (weight["type"], weight["minimum"], weight["maximum"], weight["default"]) == (
        "number",
        0,
        100,
        100,
    )
    threshold = spec["components"]["schemas"]["DefinitionCreate"]["properties"]["warning_threshold"]
    assert (threshold["exclusiveMinimum"], threshold["maximum"], threshold["default"]) == (
        0,
        100,
        80,
    )


def test_what_is_refused_is_not_published_as_valid() -> None:
    spec = create_app(make_settings("postgresql://unused@127.0.0.1/unused")).openapi()
    schemas = spec["components"]["schemas"]
    # PATCH fields that may be omitted but never be null (refuse_null).
    for model, field in [
        ("DefinitionUpdate", "unit"),
        ("DefinitionUpdate", "name"),
        ("AssignmentUpdate", "weight"),
        ("GoalUpdate", "target_value"),
        ("RuleUpdate", "severity"),
        ("ChannelUpdate", "url"),
    ]:
        published = schemas[model]["properties"][field]
        assert "null" not in str(published), (model, field, published)
        assert "anyOf" in published or "type" in published or "$ref" in published
    # ...while a field that may be cleared keeps its null.
    assert {"type": "null"} in schemas["DefinitionUpdate"]["properties"]["category"]["anyOf"]
    goals = schemas["GoalBulk"]["properties"]["goals"]
    assert goals["additionalProperties"] is False
    assert list(goals["patternProperties"]) == ["^[A-Za-z][A-Za-z0-9_]{0,62}$"]


async def test_ids_are_still_bounded_and_never_booleans(client: AsyncClient) -> None:
    for bad in ("0", str(MAX_ID + 1), "-1"):
        response = await client.get(f"/api/kpis/definitions/{bad}")
        assert response.status_code == 422, bad
    response = await client.get("/api/kpis/assignments", params={"definition_id": MAX_ID})
    assert response.status_code == 200
    response = await client.post(
        "/api/kpis/goals",
        json={
            "definition_id": True,
            "target_value": 1,
            "period_kind": "monthly",
            "period_start": "2026-01-01",
        },
    )
    assert response.status_code == 422
    assert ["body", "definition_id"] in [e["loc"] for e in response.json()["errors"]]


async def test_number_defaults_are_decimals_and_strings_still_read(client: AsyncClient) -> None:
    created = await define(client, "calls")
    assert (created["warning_threshold"], created["score_cap"]) == (80, 150)
    assigned = await assign(client, created["id"], "7", "12.5")
    assert (assigned["weight"], assigned["target_value"]) == (100, 12.5)


async def test_null_and_stray_keys_are_still_refused(client: AsyncClient) -> None:
    kpi = await define(client, "calls")
    url = f"/api/kpis/definitions/{kpi['id']}"
    assert (await client.patch(url, json={"unit": None})).status_code == 422
    cleared = await client.patch(url, json={"category": None, "unit": "hours"})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["category"], cleared.json()["unit"]) == (None, "hours")
    bulk = await client.put(
        "/api/kpis/goals/bulk", json={"period": "monthly", "goals": {"9calls": 5}}
    )
    assert bulk.status_code == 422


class _Rolled(BaseModel):
    rollup: Choice[Rollup]
    other: Choice[Rollup] | None = None


def test_a_choice_is_the_enum_member_published_and_refused_as_a_literal() -> None:
    assert _Rolled.model_validate({"rollup": "avg"}).rollup is Rollup.AVG
    assert _Rolled.model_validate_json('{"rollup": "max"}').rollup is Rollup.MAX
    assert _Rolled(rollup=Rollup.SUM).model_dump_json() == '{"rollup":"sum","other":null}'
    literal = {"enum": ["sum", "avg", "last", "min", "max"], "type": "string"}
    published = _Rolled.model_json_schema()
    assert published["properties"]["rollup"] == {**literal, "title": "Rollup"}
    assert published["properties"]["other"]["anyOf"] == [literal, {"type": "null"}]
    assert "$defs" not in published
    with pytest.raises(ValidationError) as refused:
        _Rolled.model_validate({"rollup": "median"})
    (error,) = refused.value.errors()
    assert (error["type"], error["msg"]) == (
        "literal_error",
        "Input should be 'sum', 'avg', 'last', 'min' or 'max'",
    )
