"""Shortcuts of the formula tests: parse with names bound, evaluate from decimal text, and
the refusal texts they expect."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kpi_service.engine.formula import Formula, FormulaError, parse_formula


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
