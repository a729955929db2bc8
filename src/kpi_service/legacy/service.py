"""The seed's BFF routes as a thin face on the native services, in the seed's shapes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments import service as assignments
from kpi_service.assignments.schemas import AssignmentCreate
from kpi_service.assignments.service import get_visible_with_definition
from kpi_service.audit import service as audit
from kpi_service.core.access import visible_assignments
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, Forbidden
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.definitions.service import visible_config
from kpi_service.engine.periods import Period, aligned_or_custom
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.legacy.schemas import LegacyAssign, LegacyCalculate
from kpi_service.measurements.listing_repository import ListingRepository
from kpi_service.measurements.service import calculate_now, get_measurement
from kpi_service.metrics.pace import in_progress, pace_of
from kpi_service.models import CalculationType

_DEFINITION_FIELDS = (
    "id",
    "key",
    "name",
    "description",
    "category",
    "calculation_type",
    "config",
    "unit",
    "target_type",
    "aggregation_period",
    "scope",
    "is_active",
    "created_at",
    "updated_at",
)


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def seed_user_id(user_id: str) -> int | str:
    """The seed's user ids are integers: answer numeric ids as numbers, others as given."""
    # isdigit() alone also holds for digits int() refuses, such as "²".
    return (
        int(user_id) if user_id.isascii() and user_id.isdigit() and len(user_id) < 19 else user_id
    )


async def assign(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    user_id: str,
    body: LegacyAssign,
) -> int:
    """Assign a definition to a user (the seed's `user_kpis` row); returns its id."""
    created = await assignments.create(
        session,
        principal,
        AssignmentCreate(
            definition_id=body.kpi_definition_id,
            subject_type=SubjectType.USER,
            subject_id=user_id,
            target_value=body.target_value,
            weight=body.weight,
            start_date=body.start_date,
        ),
        settings=settings,
    )
    return created.id


async def definitions(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """Active definitions, ordered by category and name; SQL text for admins only, as on the
    native routes (with the same `sql_hidden` flag)."""
    rows = await DefinitionRepository(session).active(principal.tenant_id)
    out = []
    for d in rows:
        shown = {f: getattr(d, f) for f in _DEFINITION_FIELDS}
        shown["config"], hidden = visible_config(principal, d.config)
        out.append({**shown, "sql_hidden": True} if hidden else shown)
    return out


async def user_kpis(
    session: AsyncSession, settings: Settings, principal: Principal, user_id: str
) -> list[dict[str, Any]]:
    """A user's current KPIs, each with its latest measurement (or null)."""
    today = settings.today()
    # An admin sees the whole tenant, which the statement is scoped to already: without an
    # extra condition it stays the one statement compiled once.
    visible = None if principal.is_admin else visible_assignments(principal)
    rows = await ListingRepository(session).current_with_latest(
        principal.tenant_id, user_id, today, visible
    )
    return [
        {
            "id": a_id,
            "target_value": _number(target),
            "weight": _number(weight),
            "start_date": start_date,
            "kpi_definition_id": d_id,
            "key": key,
            "name": name,
            "description": description,
            "unit": unit,
            "target_type": target_type,
            "category": category,
            "latest_measurement": None
            if m_id is None
            else {
                "actual_value": _number(actual),
                "achievement_percentage": _number(achievement),
                "period_start": p_start,
                "period_end": p_end,
                "calculated_at": calculated_at,
                **_finality(
                    settings,
                    Period(None, p_start, p_end),
                    today,
                    rollup,
                    actual,
                    calculated_at,
                    window,
                ),
            },
        }
        for (
            a_id,
            weight,
            start_date,
            d_id,
            key,
            name,
            description,
            unit,
            target_type,
            category,
            target,
            m_id,
            actual,
            achievement,
            p_start,
            p_end,
            calculated_at,
            rollup,
            window,
        ) in rows
    ]


def _finality(
    settings: Settings,
    period: Period,
    today: date,
    rollup: str,
    actual: Decimal | None,
    calculated_at: datetime,
    window: Any,
) -> dict[str, Any]:
    """Whether the measurement's period has ended, and the pace of one still in progress."""
    if not in_progress(period, today):
        return {"is_final": True, "pace": None}
    pace = pace_of(settings, period, rollup, actual, calculated_at, window=window)
    return {
        "is_final": False,
        "pace": None
        if pace is None
        else {
            "elapsed_fraction": _number(pace.elapsed_fraction),
            "projected": _number(pace.projected),
        },
    }


@dataclass(frozen=True)
class Calculated:
    """The outcome of a seed-style calculation: a measurement, or the reason there is none."""

    measurement_id: int | None
    measurement: dict[str, Any] | None
    error: str | None = None


async def calculate(
    session: AsyncSession,
    sources: Sources,
    settings: Settings,
    principal: Principal,
    assignment_id: int,
    body: LegacyCalculate,
) -> Calculated:
    """Compute exactly the inclusive date range given, aligned to a period or not."""
    assignment, definition = await get_visible_with_definition(session, principal, assignment_id)
    if not principal.is_admin:
        raise Forbidden("Only admins recalculate.")
    if definition.calculation_type == CalculationType.MANUAL:
        raise Conflict("Manual KPIs cannot be auto-calculated")
    period = aligned_or_custom(
        PeriodKind(definition.aggregation_period), body.period_start, body.period_end
    )
    run, tally = await calculate_now(
        session,
        sources,
        settings,
        principal,
        definition,
        period,
        {"assignment_ids": [assignment.id], "route": "legacy"},
    )
    await audit.record(
        session,
        principal,
        "measurements.calculate",
        "run",
        run.id,
        None,
        {"status": run.status, "assignment_id": assignment.id},
    )
    if assignment.id not in tally.measurement_ids:
        reason = tally.errors[0]["error"] if tally.errors else "nothing was computed"
        return Calculated(None, None, f"Calculation failed: {reason}")
    m = await get_measurement(session, principal, tally.measurement_ids[assignment.id])
    return Calculated(
        m.id,
        {
            "user_kpi_id": assignment.id,
            "period_start": m.period_start,
            "period_end": m.period_end,
            "actual_value": _number(m.actual_value),
            "target_value": _number(m.target_value),
            "achievement_percentage": _number(m.achievement),
            "score": _number(m.score),
            "status": m.status,
            "metadata": {
                "calculation_type": definition.calculation_type,
                "kpi_name": definition.name,
                "calculated_at": m.calculated_at,
                "run_id": run.id,
                **m.details,
            },
        },
    )
