"""Team and organisation values from their members: one source batch for every member of
every due team, combined per team by the definition's rollup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.calculators.subjects import SubjectMode, subject_mode
from kpi_service.engine.rollup import MEMBER_ROLLUPS, MemberValue, roll_up
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.models import Definition

Calculate = Callable[[CalculationRequest], Awaitable[dict[str, Outcome]]]


def through_members(definition: Definition) -> bool:
    """Whether the definition's values are its members' values rolled up."""
    try:
        mode = subject_mode(definition.scope, definition.calculation_type, definition.config)
    except ValueError:
        raise CalculationFailed("config.subjects must be 'members' or 'own'") from None
    return mode is SubjectMode.MEMBERS


def _shared(details: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The detail entries every member's outcome has in common (the query's name, ...)."""
    if not details:
        return {}
    first, *rest = details
    return {k: v for k, v in first.items() if all(k in d and d[k] == v for d in rest)}


def _rolled(members: Sequence[str], per_user: Mapping[str, Outcome], rollup: str) -> Outcome:
    outcomes = [per_user.get(m) or Outcome(None, "no outcome", failed=True) for m in members]
    rolled = roll_up(
        [
            MemberValue(m, o.value, o.reason, o.failed)
            for m, o in zip(members, outcomes, strict=True)
        ],
        rollup,
    )
    details = {
        **_shared([o.details for o in outcomes]),
        "subjects": SubjectMode.MEMBERS.value,
        **rolled.details,
    }
    return Outcome(rolled.value, rolled.reason, rolled.failed, details)


async def member_outcomes(
    session: AsyncSession,
    definition: Definition,
    request: CalculationRequest,
    calculate: Calculate,
) -> dict[str, Outcome]:
    """Each due team's (or the organisation's) outcome from its members' values, computed
    for all members of all due subjects in one request to the source."""
    if definition.rollup not in MEMBER_ROLLUPS:
        raise CalculationFailed(
            f"rollup {definition.rollup!r} cannot combine members' values; "
            f"use one of {', '.join(sorted(MEMBER_ROLLUPS))}"
        )
    teams = None if definition.scope == SubjectType.ORGANIZATION else request.subject_ids
    members = await MeasurementRepository(session).members(
        request.tenant_id, teams, request.period.start, request.period.end
    )
    users = sorted({user for subject in request.subject_ids for user in members.get(subject, [])})
    per_user = await calculate(replace(request, subject_ids=users)) if users else {}
    return {
        subject: _rolled(members.get(subject, []), per_user, definition.rollup)
        for subject in request.subject_ids
    }
