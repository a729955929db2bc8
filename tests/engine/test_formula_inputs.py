"""What a formula's variables read, and which scopes and periods a formula may read."""

from __future__ import annotations

import pytest

from kpi_service.engine.formula_inputs import (
    BOUND_TO,
    FormulaInput,
    FormulaInputError,
    formula_inputs,
    input_refusal,
    stored_variables,
    used_keys,
)
from kpi_service.engine.vocabulary import SubjectType


def test_a_plain_key_reads_the_formulas_own_subject_and_is_stored_as_it_came() -> None:
    variables = {"mine": "revenue", "team": {"kpi": "revenue_team", "scope": "team"}}
    inputs = formula_inputs(variables)
    assert inputs == {
        "mine": FormulaInput("revenue"),
        "team": FormulaInput("revenue_team", SubjectType.TEAM),
    }
    assert inputs["mine"].reads("user") == "user"
    assert inputs["team"].reads("user") == "team"
    assert stored_variables(inputs) == variables


@pytest.mark.parametrize(
    "bound",
    [
        7,
        None,
        ["revenue"],
        {"kpi": "revenue"},
        {"kpi": "revenue", "scope": "user"},
        {"kpi": "revenue", "scope": "everyone"},
        {"kpi": 3, "scope": "team"},
        {"kpi": "revenue", "scope": "team", "window": "all"},
    ],
)
def test_anything_else_is_refused_naming_the_variable(bound: object) -> None:
    with pytest.raises(FormulaInputError) as caught:
        formula_inputs({"ok": "revenue", "bad": bound})
    assert caught.value.name == "bad"
    assert caught.value.reason == BOUND_TO
    assert str(caught.value) == f"variable bad {BOUND_TO}"


def test_used_keys_of_stored_configs_are_sorted_and_lenient() -> None:
    variables = {"a": "z_kpi", "b": {"kpi": "a_kpi", "scope": "team"}, "c": "z_kpi", "d": 5}
    assert used_keys(variables) == ["a_kpi", "z_kpi"]
    assert used_keys(None) == []
    assert used_keys("not a mapping") == []


@pytest.mark.parametrize(
    ("formula_scope", "read", "kpi_scope"),
    [
        ("user", FormulaInput("k"), "user"),
        ("team", FormulaInput("k"), "team"),
        ("organization", FormulaInput("k"), "organization"),
        ("user", FormulaInput("k", SubjectType.TEAM), "team"),
        ("user", FormulaInput("k", SubjectType.ORGANIZATION), "organization"),
        ("team", FormulaInput("k", SubjectType.TEAM), "team"),  # the team itself
        ("team", FormulaInput("k", SubjectType.ORGANIZATION), "organization"),
        ("organization", FormulaInput("k", SubjectType.ORGANIZATION), "organization"),
    ],
)
def test_own_and_wider_scopes_are_readable(
    formula_scope: str, read: FormulaInput, kpi_scope: str
) -> None:
    assert input_refusal(formula_scope, "weekly", read, kpi_scope, "weekly") is None


@pytest.mark.parametrize(
    ("formula_scope", "read", "kpi_scope", "reason"),
    [
        (
            "organization",
            FormulaInput("k"),
            "user",
            "k is measured per user, narrower than the formula's organization: "
            "there is no one user value per organization",
        ),
        (
            "organization",
            FormulaInput("k", SubjectType.TEAM),
            "team",
            "k is measured per team, narrower than the formula's organization: "
            "there is no one team value per organization",
        ),
        (
            "team",
            FormulaInput("k"),
            "user",
            "k is measured per user, narrower than the formula's team: "
            "there is no one user value per team",
        ),
        (
            "user",
            FormulaInput("k"),
            "team",
            "k is measured per team, not per user; to read the subject's team's value, "
            'bind it as {"kpi": "k", "scope": "team"}',
        ),
        (
            "user",
            FormulaInput("k"),
            "organization",
            "k is measured per organization, not per user; to read the organisation's value, "
            'bind it as {"kpi": "k", "scope": "organization"}',
        ),
        (
            "user",
            FormulaInput("k", SubjectType.TEAM),
            "user",
            "k is measured per user, not per team",
        ),
        (
            "user",
            FormulaInput("k", SubjectType.ORGANIZATION),
            "team",
            "k is measured per team, not per organization",
        ),
    ],
)
def test_narrower_and_misnamed_scopes_are_refused_with_the_reason(
    formula_scope: str, read: FormulaInput, kpi_scope: str, reason: str
) -> None:
    assert input_refusal(formula_scope, "weekly", read, kpi_scope, "weekly") == reason


def test_a_different_period_is_refused_first() -> None:
    assert input_refusal(
        "user", "weekly", FormulaInput("k", SubjectType.TEAM), "team", "monthly"
    ) == ("k is monthly and the formula weekly: their values are of different periods")
