"""Shortcuts of the formula tests: parse with names bound, evaluate from decimal text, the
refusal texts they expect, and the share-of-team-revenue KPIs the scope tests build on."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.engine.formula import Formula, FormulaError, parse_formula
from tests.support.api import define

CENT = Decimal("0.01")
TEAM_INPUT = {"kpi": "revenue_team", "scope": "team"}


def formula(expression: str, *names: str) -> Formula:
    """The formula with each name bound to the KPI key kpi_<name>."""
    return parse_formula(expression, {name: f"kpi_{name}" for name in names})


def evaluate(expression: str, **values: str | None) -> tuple[Decimal | None, str | None]:
    """Evaluate with the given variables (declared in the formula), written as decimal text."""
    numbers = {name: None if text is None else Decimal(text) for name, text in values.items()}
    return formula(expression, *values).evaluate(numbers)


def value(expression: str, **values: str | None) -> str:
    result, reason = evaluate(expression, **values)
    assert reason is None, reason
    return str(result)


EXPONENT = "must be a constant from -10 to 10, without variables"
COMPARISONS = "is not allowed; use <, <=, >, >=, == or !="
NAME_RULE = (
    "must be a letter or _ then letters, digits or _, and not a Python keyword or function name"
)


def refusal(expression: str, *names: str) -> str:
    with pytest.raises(FormulaError) as caught:
        formula(expression, *names)
    return str(caught.value)


def percent(part: Decimal | int, whole: Decimal | int) -> float:
    """part / whole * 100, rounded half up to two places, as the API shows it."""
    return float((Decimal(part) / Decimal(whole) * 100).quantize(CENT, ROUND_HALF_UP))


async def share_of_team_revenue(client: AsyncClient, **team_fields: Any) -> dict[str, Any]:
    """Manual weekly `revenue` per user and `revenue_team` per team (manual unless
    `team_fields` say otherwise), and the formula `share` of a user's revenue in its team's,
    in percent."""
    await define(client, "revenue", unit="currency")
    await define(client, "revenue_team", unit="currency", scope="team", **team_fields)
    return await define(
        client,
        "share",
        unit="percent",
        calculation_type="formula",
        config={
            "expression": "round(mine / team * 100, 2)",
            "variables": {"mine": "revenue", "team": TEAM_INPUT},
        },
    )
