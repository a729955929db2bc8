"""Formula values: each subject's from the stored values, for the same period, of the KPIs
its variables read (its own, its team's or the organisation's), in one read for all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.engine.formula import FormulaError, parse_formula
from kpi_service.engine.formula_inputs import FormulaInput, formula_inputs
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.measurements.repository import MeasurementRepository, ValuesWanted
from kpi_service.models import Definition


def _subject_read(
    definition: Definition,
    read: FormulaInput,
    subject: str,
    team: str | None,
    tenant_id: str,
) -> tuple[str, str] | None:
    """Whose value (subject type, subject id) an input reads for a subject; None when the
    subject has no team to read."""
    scope = read.reads(definition.scope)
    if scope == definition.scope:
        return scope, subject
    if scope == SubjectType.ORGANIZATION:
        return scope, tenant_id  # the organisation's subject id is the tenant's
    return (scope, team) if team is not None else None


async def formula_outcomes(
    session: AsyncSession,
    definition: Definition,
    request: CalculationRequest,
    teams: Mapping[str, str | None],
) -> dict[str, Outcome]:
    """Evaluate a formula per subject (`teams`: each user's team, from its assignment) from
    the stored values of the KPIs it reads."""
    try:
        inputs = formula_inputs(definition.config["variables"])
        formula = parse_formula(
            definition.config["expression"], {name: read.key for name, read in inputs.items()}
        )
    except (FormulaError, KeyError) as exc:
        raise CalculationFailed(f"the formula is not usable: {exc}") from exc
    reads = {
        subject: {
            name: _subject_read(definition, read, subject, teams.get(subject), request.tenant_id)
            for name, read in inputs.items()
        }
        for subject in request.subject_ids
    }
    wanted: dict[str, tuple[set[str], set[str]]] = {}
    for per_name in reads.values():
        for name, whose in per_name.items():
            if whose is not None:
                keys, subjects = wanted.setdefault(whose[0], (set(), set()))
                keys.add(inputs[name].key)
                subjects.add(whose[1])
    stored = await MeasurementRepository(session).values_of(
        definition.tenant_id,
        request.period.start,
        request.period.end,
        [ValuesWanted(t, sorted(k), sorted(s)) for t, (k, s) in sorted(wanted.items())],
    )
    out = {}
    for subject, per_name in reads.items():
        values = {
            name: None if whose is None else stored.get((*whose, inputs[name].key))
            for name, whose in per_name.items()
        }
        value, reason = formula.evaluate(values)
        details: dict[str, Any] = {
            "inputs": {n: None if v is None else str(v) for n, v in values.items()}
        }
        if definition.scope == SubjectType.USER and any(
            read.scope == SubjectType.TEAM for read in inputs.values()
        ):
            details["team_id"] = teams.get(subject)
        if reason:
            details["no_value_reason"] = reason
        out[subject] = Outcome(value, reason, details=details)
    return out
