"""The `subjects` setting of team and organisation query and api KPIs, checked when saved."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.api import definition_body as body
from tests.support.problems import assert_problem, error_locs

TEAM_SQL = "SELECT u AS subject_id, 1 AS value FROM unnest(CAST(:subject_ids AS text[])) AS u"
BUILTIN = {"query_key": "cases_resolved_count"}
ORG_BUILTIN = {"query_key": "cases_resolved_count_org"}
QUERY_KEY = ["body", "config", "query_key"]
HTTP = {
    "adapter": "http_json",
    "url": "https://crm.example/teams/{subject_id}",
    "value_pointer": "/value",
}
AIRCALL = {"adapter": "aircall_calls_per_user", "auth": {"secret_env": "KPI_SECRET_AIRCALL"}}
EVENT = {"event_type": "call", "aggregate": "count"}
SUBJECTS = ["body", "config", "subjects"]
ROLLUP = ["body", "rollup"]


@pytest.mark.parametrize(
    ("scope", "calculation_type", "config", "extra", "loc"),
    [
        ("user", "query", {**BUILTIN, "subjects": "members"}, {}, SUBJECTS),
        ("user", "api", {**HTTP, "subjects": "own"}, {}, SUBJECTS),
        ("team", "event", {**EVENT, "subjects": "members"}, {}, SUBJECTS),
        ("team", "manual", {"subjects": "members"}, {}, SUBJECTS),
        (
            "organization",
            "formula",
            {"expression": "1", "variables": {}, "subjects": "own"},
            {},
            SUBJECTS,
        ),
        ("team", "query", {**BUILTIN, "subjects": "everyone"}, {}, SUBJECTS),
        ("team", "query", {**BUILTIN, "subjects": None}, {}, SUBJECTS),
        ("team", "query", {**BUILTIN, "subjects": ["own"]}, {}, SUBJECTS),
        ("team", "query", {**BUILTIN, "subjects": "own"}, {}, SUBJECTS),
        ("organization", "api", {**AIRCALL, "subjects": "own"}, {}, SUBJECTS),
        ("team", "query", BUILTIN, {"rollup": "last"}, ROLLUP),
        ("team", "api", {**HTTP, "subjects": "members"}, {"rollup": "last"}, ROLLUP),
        # unit none defaults to rollup last, which cannot combine members either
        ("organization", "query", {"sql": TEAM_SQL}, {"unit": "none"}, ROLLUP),
        # An organisation built-in measures the organisation, never users or teams.
        ("user", "query", ORG_BUILTIN, {}, QUERY_KEY),
        ("team", "query", {**ORG_BUILTIN, "subjects": "own"}, {}, QUERY_KEY),
        ("organization", "query", {**ORG_BUILTIN, "subjects": "members"}, {}, SUBJECTS),
    ],
)
async def test_subjects_that_cannot_work_are_refused(
    client: AsyncClient,
    scope: str,
    calculation_type: str,
    config: dict[str, Any],
    extra: dict[str, Any],
    loc: list[str],
) -> None:
    response = await client.post(
        URL, json=body(scope=scope, calculation_type=calculation_type, config=config, **extra)
    )
    problem = assert_problem(response, 422)
    assert error_locs(problem) == [loc]
    assert (await client.get(URL)).json()["items"] == []


@pytest.mark.parametrize(
    ("scope", "calculation_type", "config", "extra", "stored"),
    [
        ("team", "query", BUILTIN, {}, {**BUILTIN, "subjects": "members"}),
        ("organization", "query", {"sql": TEAM_SQL}, {}, {"sql": TEAM_SQL, "subjects": "members"}),
        (
            "team",
            "query",
            {"sql": TEAM_SQL, "subjects": "own"},
            {"unit": "none"},
            {"sql": TEAM_SQL, "subjects": "own"},
        ),
        ("team", "api", HTTP, {"rollup": "max"}, {**HTTP, "subjects": "members"}),
        ("team", "api", {**HTTP, "subjects": "own"}, {}, {**HTTP, "subjects": "own"}),
        ("organization", "api", AIRCALL, {}, {**AIRCALL, "subjects": "members"}),
        ("user", "query", BUILTIN, {}, BUILTIN),
        (
            "organization",
            "query",
            ORG_BUILTIN,
            {"rollup": "last"},
            {**ORG_BUILTIN, "subjects": "own"},
        ),
        ("team", "event", EVENT, {"unit": "none"}, EVENT),
    ],
)
async def test_the_setting_is_stored_explicitly(
    client: AsyncClient,
    scope: str,
    calculation_type: str,
    config: dict[str, Any],
    extra: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    created = await define(
        client, scope=scope, calculation_type=calculation_type, config=config, **extra
    )
    assert created["config"] == stored


async def test_update_keeps_rollup_and_subjects_consistent(client: AsyncClient) -> None:
    created = await define(client, scope="team", calculation_type="query", config=BUILTIN)
    url = f"{URL}/{created['id']}"
    for change, loc in [
        ({"rollup": "last"}, ROLLUP),
        ({"config": {**BUILTIN, "subjects": "own"}}, SUBJECTS),
        ({"config": {"sql": TEAM_SQL, "subjects": "all"}}, SUBJECTS),
        ({"calculation_type": "event", "config": {**EVENT, "subjects": "own"}}, SUBJECTS),
    ]:
        problem = assert_problem(await client.patch(url, json=change), 422)
        assert error_locs(problem) == [loc], change
    assert (await client.get(url)).json() == created

    # From own SQL, last is fine; going back to members with it is not.
    own = {"sql": TEAM_SQL, "subjects": "own"}
    response = await client.patch(url, json={"config": own, "rollup": "last"})
    assert response.status_code == 200, response.text
    assert response.json()["config"] == own and response.json()["version"] == 2
    problem = assert_problem(await client.patch(url, json={"config": {"sql": TEAM_SQL}}), 422)
    assert error_locs(problem) == [ROLLUP]
    response = await client.patch(url, json={"config": {"sql": TEAM_SQL}, "rollup": "avg"})
    assert response.json()["config"] == {"sql": TEAM_SQL, "subjects": "members"}
