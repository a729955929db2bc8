"""The KPIs a formula reads are checked when it is saved: each refusal is a 422 naming
`config.variables.<name>` and saying why; the scopes and periods that make sense are stored."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.api import definition_body as body
from tests.support.problems import assert_problem, error_locs

TEAM = "revenue_team"
ORG = "revenue_org"


async def _inputs(client: AsyncClient) -> None:
    """Weekly manual KPIs of each scope, a monthly one and a deactivated one."""
    await define(client, "revenue")
    await define(client, TEAM, scope="team")
    await define(client, ORG, scope="organization")
    await define(client, "revenue_monthly", aggregation_period="monthly")
    retired = await define(client, "retired")
    assert (await client.delete(f"{URL}/{retired['id']}")).status_code in (200, 204)


def _formula(scope: str, variables: dict[str, Any], key: str = "share") -> dict[str, Any]:
    expression = " + ".join(variables)
    return body(
        key,
        scope=scope,
        calculation_type="formula",
        config={"expression": expression, "variables": variables},
    )


@pytest.mark.parametrize(
    ("scope", "bound", "reason"),
    [
        ("user", "no_such_kpi", "unknown KPI key no_such_kpi"),
        ("user", "retired", "retired is deactivated"),
        ("user", {"kpi": "nowhere", "scope": "team"}, "unknown KPI key nowhere"),
        (
            "user",
            "revenue_monthly",
            "revenue_monthly is monthly and the formula weekly: their values are of different "
            "periods",
        ),
        (
            "user",
            TEAM,
            f"{TEAM} is measured per team, not per user; to read the subject's team's value, "
            f'bind it as {{"kpi": "{TEAM}", "scope": "team"}}',
        ),
        (
            "user",
            ORG,
            f"{ORG} is measured per organization, not per user; to read the organisation's "
            f'value, bind it as {{"kpi": "{ORG}", "scope": "organization"}}',
        ),
        ("user", {"kpi": "revenue", "scope": "team"}, "revenue is measured per user, not per team"),
        (
            "user",
            {"kpi": TEAM, "scope": "organization"},
            f"{TEAM} is measured per team, not per organization",
        ),
        (
            "organization",
            "revenue",
            "revenue is measured per user, narrower than the formula's organization: "
            "there is no one user value per organization",
        ),
        (
            "organization",
            {"kpi": TEAM, "scope": "team"},
            f"{TEAM} is measured per team, narrower than the formula's organization: "
            "there is no one team value per organization",
        ),
        (
            "team",
            "revenue",
            "revenue is measured per user, narrower than the formula's team: "
            "there is no one user value per team",
        ),
        (
            "user",
            {"kpi": TEAM},
            'must be a KPI key or {"kpi": key, "scope": "team" or "organization"}',
        ),
        (
            "user",
            {"kpi": TEAM, "scope": "user"},
            'must be a KPI key or {"kpi": key, "scope": "team" or "organization"}',
        ),
        ("user", 42, 'must be a KPI key or {"kpi": key, "scope": "team" or "organization"}'),
    ],
)
async def test_inputs_that_make_no_sense_are_refused_naming_the_variable(
    client: AsyncClient, scope: str, bound: Any, reason: str
) -> None:
    await _inputs(client)
    before = (await client.get(URL, params={"limit": 500})).json()["items"]
    variables = {"fine": {"kpi": ORG, "scope": "organization"}, "odd": bound}
    problem = assert_problem(await client.post(URL, json=_formula(scope, variables)), 422)
    assert problem["errors"] == [
        {"loc": ["body", "config", "variables", "odd"], "msg": reason, "type": "value_error"}
    ]
    named = bound.get("kpi") if isinstance(bound, dict) else bound
    assert "odd" in problem["detail"] or f"'{named}'" in problem["detail"], problem["detail"]
    assert (await client.get(URL, params={"limit": 500})).json()["items"] == before


async def test_the_same_checks_apply_when_a_formula_is_changed(client: AsyncClient) -> None:
    await _inputs(client)
    share = await define(
        client,
        "share",
        calculation_type="formula",
        config={"expression": "r", "variables": {"r": "revenue"}},
    )
    url = f"{URL}/{share['id']}"
    change = {"config": {"expression": "t", "variables": {"t": TEAM}}}
    problem = assert_problem(await client.patch(url, json=change), 422)
    assert error_locs(problem) == [["body", "config", "variables", "t"]]
    assert (await client.get(url)).json() == share


async def test_own_and_wider_inputs_are_stored_and_plain_keys_stay_strings(
    client: AsyncClient,
) -> None:
    await _inputs(client)
    user_vars: dict[str, Any] = {
        "mine": "revenue",
        "team": {"kpi": TEAM, "scope": "team"},
        "org": {"kpi": ORG, "scope": "organization"},
    }
    team_vars: dict[str, Any] = {
        "own": {"kpi": TEAM, "scope": "team"},
        "org": {"kpi": ORG, "scope": "organization"},
    }
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("user_share", "user", user_vars),
        ("team_share", "team", team_vars),
        ("org_double", "organization", {"org": ORG}),
    ]
    for key, scope, variables in cases:
        response = await client.post(URL, json=_formula(scope, variables, key))
        assert response.status_code == 201, response.text
        stored = (await client.get(f"{URL}/by-key/{key}")).json()["config"]
        assert stored == {"expression": " + ".join(variables), "variables": variables}


async def test_a_team_formula_reading_itself_as_its_team_is_a_loop(client: AsyncClient) -> None:
    variables = {"me": {"kpi": "loop", "scope": "team"}}
    problem = assert_problem(await client.post(URL, json=_formula("team", variables, "loop")), 422)
    assert problem["detail"] == "The formula is refused: KPI loop uses itself"
    assert error_locs(problem) == [["body", "config", "variables"]]
