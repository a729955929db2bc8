"""A formula KPI's config: its expression and variables checked when saved, and the KPIs
its variables read checked against the formula's scope and period."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.formula import FormulaError, parse_formula
from kpi_service.engine.formula_inputs import (
    FormulaInputError,
    formula_inputs,
    input_refusal,
    stored_variables,
    used_keys,
)
from kpi_service.engine.formula_order import evaluation_order

_VARIABLES = ["body", "config", "variables"]


def formula_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as stored (a variable bound to a plain key stays that string), else
    `InvalidInput` naming the field."""
    loc = ["body", "config"]
    extra = sorted(set(config) - {"expression", "variables"})
    if extra:
        raise InvalidInput(
            "A formula KPI's config holds expression and variables only.",
            errors=[field_error([*loc, k], "unknown config key") for k in extra],
        )
    expression, variables = config.get("expression"), config.get("variables", {})
    if not isinstance(expression, str) or not isinstance(variables, dict):
        raise InvalidInput(
            "A formula needs an expression and variables naming KPI keys.",
            errors=[field_error(loc, "expression: text, variables: {name: key}")],
        )
    try:
        inputs = formula_inputs(variables)
    except FormulaInputError as exc:
        raise InvalidInput(
            f"The formula is refused: {exc}.",
            errors=[field_error([*_VARIABLES, exc.name], exc.reason)],
        ) from None
    try:
        parse_formula(expression, {name: read.key for name, read in inputs.items()})
    except FormulaError as exc:
        raise InvalidInput(
            f"The formula is refused: {exc}", errors=[field_error([*loc, "expression"], str(exc))]
        ) from None
    return {"expression": expression, "variables": stored_variables(inputs)}


async def check_formula_inputs(
    session: AsyncSession,
    tenant_id: str,
    key: str,
    aggregation_period: str,
    scope: str,
    config: dict[str, Any],
) -> None:
    """Each KPI the formula reads exists, is active, has its period and the scope the
    variable names (its own, or a wider one), and no KPIs read each other in a loop."""
    repo = DefinitionRepository(session)
    inputs = formula_inputs(config["variables"])
    used = {read.key for read in inputs.values()}
    found = {d.key: d for d in await repo.find(tenant_id, keys=sorted(used - {key}))}
    for name, read in sorted(inputs.items()):
        if read.key == key:
            continue  # a loop of one: named below
        loc = [*_VARIABLES, name]
        definition = found.get(read.key)
        if definition is None:
            raise InvalidInput(
                f"The formula uses {read.key!r}, which is not a KPI of this tenant.",
                errors=[field_error(loc, f"unknown KPI key {read.key}")],
            )
        if not definition.is_active:
            raise InvalidInput(
                f"The formula uses {read.key!r}, which is deactivated.",
                errors=[field_error(loc, f"{read.key} is deactivated")],
            )
        reason = input_refusal(
            scope, aggregation_period, read, definition.scope, definition.aggregation_period
        )
        if reason is not None:
            raise InvalidInput(
                f"The formula cannot read {name}: {reason}.", errors=[field_error(loc, reason)]
            )
    graph = {d.key: used_keys(d.config.get("variables")) for d in await repo.formulas(tenant_id)}
    graph[key] = sorted(used)
    try:
        evaluation_order(graph)
    except FormulaError as exc:
        raise InvalidInput(
            f"The formula is refused: {exc}", errors=[field_error(_VARIABLES, str(exc))]
        ) from None
