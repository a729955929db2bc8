"""Measurement rules: recording manual values, recalculating, reading with access rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.repository import is_in_force_during
from kpi_service.assignments.service import get_visible_with_definition
from kpi_service.audit import service as audit
from kpi_service.core import telemetry
from kpi_service.core.access import can_manage, visible_assignments
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.periods import Period, containing, has_ended
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.measurements.calculation import MeasurementWriter, Tally, compute_period
from kpi_service.measurements.closing_repository import ClosedPeriodRepository
from kpi_service.measurements.following import follow_inputs, follow_run
from kpi_service.measurements.listing_repository import (
    ListingRepository,
    MeasurementFilters,
    RevisionFilters,
    RevisionRepository,
)
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.measurements.schemas import (
    ManualValue,
    MeasurementRead,
    RecalculateRequest,
    RevisionRead,
    RunRead,
)
from kpi_service.models import (
    Assignment,
    CalculationRun,
    CalculationType,
    Definition,
    Measurement,
    MeasurementSource,
    RunStatus,
    RunTrigger,
)
from kpi_service.runs.plan import new_run, order_pairs
from kpi_service.runs.repository import RunRepository

# One request may recalculate at most this many (definition, period) pairs.
MAX_PAIRS = 5000


class PeriodClosed(Conflict):
    """A closed period's measurements change only by a restatement."""


class NotManualKpi(Conflict):
    """Values of a computed KPI cannot be recorded by hand."""

    def __init__(self, key: str, calculation_type: str) -> None:
        super().__init__(
            f"KPI '{key}' is computed ({calculation_type}); only manual KPIs take "
            "recorded values. Recalculate it instead."
        )


def to_read(row: Any, today: date | None = None) -> MeasurementRead:
    """A listing row (measurement, subject type, subject id, definition key) as the API shows it;
    with `today`, a period that has ended reads as final even before the daily job stores it."""
    measurement, subject_type, subject_id, key = row
    data = {c.key: getattr(measurement, c.key) for c in Measurement.__table__.columns}
    data.update(subject_type=subject_type, subject_id=subject_id, definition_key=key)
    if today is not None and has_ended(measurement.period_end, today):
        data["is_final"] = True
    return MeasurementRead.model_validate(data)


async def get_measurement(
    session: AsyncSession, principal: Principal, measurement_id: int, *, today: date | None = None
) -> MeasurementRead:
    """One measurement the caller may see."""
    rows = await ListingRepository(session).matching(
        principal.tenant_id,
        visible_assignments(principal),
        MeasurementFilters(measurement_id=measurement_id),
    )
    if not rows:
        raise NotFound(f"Measurement {measurement_id} not found.")
    return to_read(rows[0], today)


async def list_measurements(
    session: AsyncSession,
    principal: Principal,
    filters: MeasurementFilters,
    paging: Paging,
    *,
    today: date | None = None,
) -> Slice[MeasurementRead]:
    """Measurements the caller may see, oldest id first, filtered."""
    start, end = filters.period_from, filters.period_to
    if start and end and end < start:
        raise InvalidInput(
            "period_to is before period_from.",
            errors=[field_error(["query", "period_to"], "before period_from")],
        )
    page = await ListingRepository(session).page_rows(
        principal.tenant_id, visible_assignments(principal), filters, paging
    )
    return page.map(lambda row: to_read(row, today))


async def list_revisions(
    session: AsyncSession,
    principal: Principal,
    measurement_id: int,
    paging: Paging,
) -> Slice[RevisionRead]:
    """Earlier states of a visible measurement, newest first, one page at a time."""
    await get_measurement(session, principal, measurement_id)
    page = await RevisionRepository(session).page(
        principal.tenant_id, paging, RevisionFilters(measurement_id)
    )
    return page.map(RevisionRead.model_validate)


async def recordable(
    session: AsyncSession, principal: Principal, assignment_id: int
) -> tuple[Assignment, Definition]:
    """A visible assignment of an active manual KPI whose values the principal may record, and
    its definition (404 unseen, 403 not theirs to record, 409 computed or deactivated)."""
    assignment, definition = await get_visible_with_definition(session, principal, assignment_id)
    if not can_manage(
        principal, assignment.subject_type, assignment.subject_id, assignment.team_id
    ):
        raise Forbidden("Only admins and the subject's managers record values.")
    if definition.calculation_type != CalculationType.MANUAL:
        raise NotManualKpi(definition.key, definition.calculation_type)
    if not definition.is_active:
        raise Conflict(f"KPI '{definition.key}' is deactivated.")
    return assignment, definition


async def record_manual(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    assignment_id: int,
    period_start: date,
    body: ManualValue,
) -> MeasurementRead:
    """Record a manual KPI's value for the period starting on `period_start`."""
    assignment, definition = await recordable(session, principal, assignment_id)
    period = containing(PeriodKind(definition.aggregation_period), period_start)
    loc = ["path", "period_start"]
    if period.start != period_start:
        raise InvalidInput(
            f"{period_start} is not the start of a {definition.aggregation_period} period; "
            f"the period holding it starts on {period.start}.",
            errors=[field_error(loc, "not the first day of a period")],
        )
    if not is_in_force_during(assignment, period.start, period.end):
        raise InvalidInput(
            "The assignment is not in force during that period.",
            errors=[field_error(loc, "outside the assignment's dates")],
        )
    return await _record(session, settings, principal, assignment, definition, period, body)


async def record_today(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    assignment: Assignment,
    definition: Definition,
    body: ManualValue,
) -> MeasurementRead:
    """Record the value of a `recordable` assignment for its definition's period holding
    today in the organisation's time zone (409 when the assignment is not in force then)."""
    period = containing(PeriodKind(definition.aggregation_period), settings.today())
    if not is_in_force_during(assignment, period.start, period.end):
        raise Conflict(
            f"The assignment is not in force during the current period ({period.start} to "
            f"{period.end}); record another period's value with "
            "PUT /assignments/{assignment_id}/measurements/{period_start}."
        )
    return await _record(session, settings, principal, assignment, definition, period, body)


async def _record(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    assignment: Assignment,
    definition: Definition,
    period: Period,
    body: ManualValue,
) -> MeasurementRead:
    """Store a checked manual value for one of its definition's periods: closed periods only
    with a reason, the earlier value kept as a revision, the change audited."""
    repo = MeasurementRepository(session)
    reason = body.reason.strip() if body.reason else None
    closed = await ClosedPeriodRepository(session).closed(
        principal.tenant_id, [(definition.id, period.start)]
    )
    if closed and not reason:
        raise PeriodClosed(
            f"The period starting {period.start} is closed; its values are "
            "frozen. To restate this value, send it again with a `reason` "
            "(kept on the revision and in the audit log)."
        )
    before = await _stored(session, principal, assignment.id, period)
    due = await repo.due_assignments(
        principal.tenant_id, definition.id, period.start, period.end, assignment_ids=[assignment.id]
    )
    writer = MeasurementWriter(session, settings, principal.user_id)
    change_reason = f"restated: {reason}" if closed else (reason or "manual entry")
    tally = await writer.write(
        definition,
        period,
        due,
        {assignment.id: (body.value, {})},
        source=MeasurementSource.MANUAL,
        run_id=None,
        reason=change_reason,
        comment=body.comment,
    )
    await follow_inputs(
        session,
        settings,
        definition,
        period,
        tally.moved,
        run_id=None,
        actor=principal.user_id,
        reason=change_reason,
        restate=bool(closed),
    )
    measurement = await get_measurement(session, principal, tally.measurement_ids[assignment.id])
    after: dict[str, Any] = measurement.model_dump(mode="json")
    if reason:
        after["reason"] = reason
    await audit.record(
        session,
        principal,
        "measurement.restate" if closed else "measurement.record",
        "measurement",
        measurement.id,
        None if before is None else before.model_dump(mode="json"),
        after,
    )
    return measurement


async def _stored(
    session: AsyncSession, principal: Principal, assignment_id: int, period: Period
) -> MeasurementRead | None:
    """The measurement of an assignment for exactly this period, if one is stored."""
    rows = await ListingRepository(session).matching(
        principal.tenant_id,
        visible_assignments(principal),
        MeasurementFilters(assignment_id=assignment_id, period=period),
    )
    return to_read(rows[0]) if rows else None


async def active_definitions(
    session: AsyncSession,
    principal: Principal,
    keys: list[str] | None,
    period_kind: str | None = None,
) -> list[Definition]:
    """The active definitions with these keys (all if None), of one period kind if given."""
    definitions = list(await DefinitionRepository(session).active(principal.tenant_id, keys=keys))
    if keys is not None:
        unknown = sorted(set(keys) - {d.key for d in definitions})
        if unknown:
            raise InvalidInput(
                f"Unknown or inactive KPI keys: {', '.join(unknown)}.",
                errors=[field_error(["body", "definition_keys"], "unknown key")],
            )
    if period_kind is not None:
        definitions = [d for d in definitions if d.aggregation_period == period_kind]
    return definitions


async def calculate_now(
    session: AsyncSession,
    sources: Sources,
    settings: Settings,
    principal: Principal,
    definition: Definition,
    period: Period,
    filters: dict[str, Any],
) -> tuple[CalculationRun, Tally]:
    """One (definition, period) computed inside the caller's transaction, as a finished run
    (the seed's calculate route answers with the measurement itself)."""
    if period.is_aligned and await ClosedPeriodRepository(session).closed(
        principal.tenant_id, [(definition.id, period.start)]
    ):
        raise PeriodClosed(f"The {definition.key} period starting {period.start} is closed.")
    now = datetime.now(UTC)
    run = new_run(
        principal.tenant_id,
        RunTrigger.MANUAL,
        [(definition, period)],
        first=period.start,
        last=period.end,
        filters=filters,
        requested_by=principal.user_id,
        status=RunStatus.RUNNING,
    )
    run.started_at = now
    await RunRepository(session).add_row(run)
    tally = await compute_period(
        session, sources, settings, run, definition, period, require_overlap=False
    )
    tally.add(await follow_run(session, settings, run, definition, period, tally.moved))
    for name in ("computed", "unchanged", "failed", "skipped", "errors"):
        setattr(run, name, getattr(tally, name))
    run.progress_done, run.status, run.finished_at = 1, tally.status(), datetime.now(UTC)
    await session.flush()
    telemetry.run_finished(run.status, run.trigger)
    return run, tally


async def recalculate(
    session: AsyncSession, principal: Principal, body: RecalculateRequest
) -> RunRead:
    """Queue a run over every period of the matching definitions overlapping the range.

    The caller commits, then hands the run to a worker (`execution.execute`); the run's
    progress is readable while it works.
    """
    if not principal.is_admin:
        raise Forbidden("Only admins recalculate.")
    definitions = await active_definitions(
        session, principal, body.definition_keys, body.period_kind
    )
    last = body.period_end or body.period_start
    pairs = order_pairs(definitions, body.period_start, last)
    if len(pairs) > MAX_PAIRS:
        raise InvalidInput(
            f"That is {len(pairs)} (KPI, period) pairs; at most {MAX_PAIRS} "
            "per request. Narrow the range or the KPIs.",
            errors=[field_error(["body", "period_end"], "range too large")],
        )
    closed = await ClosedPeriodRepository(session).closed(
        principal.tenant_id, [(d.id, p.start) for d, p in pairs]
    )
    if closed and not body.restate:
        keys = {d.id: d.key for d in definitions}
        listed = ", ".join(f"{keys[d]} {s}" for d, s in sorted(closed)[:10])
        raise PeriodClosed(
            f"{len(closed)} of these periods are closed ({listed}). Set "
            "`restate` with a `reason` to change them."
        )
    periods_per_definition = len(pairs) / max(len(definitions), 1)
    trigger = RunTrigger.BACKFILL if periods_per_definition > 1 else RunTrigger.MANUAL
    filters = body.model_dump(mode="json", exclude_none=True, exclude={"restate", "reason"})
    run = await RunRepository(session).add_row(
        new_run(
            principal.tenant_id,
            trigger,
            pairs,
            first=body.period_start,
            last=last,
            filters=filters,
            requested_by=principal.user_id,
            restate=body.restate,
            reason=body.reason,
        )
    )
    await audit.record(
        session,
        principal,
        "measurements.recalculate",
        "run",
        run.id,
        None,
        {"periods": len(pairs), "restate": body.restate, "reason": body.reason},
    )
    return RunRead.model_validate(run)


async def get_run(session: AsyncSession, principal: Principal, run_id: int) -> RunRead:
    """One run of the caller's tenant (admins and managers)."""
    if principal.role is Role.MEMBER:
        raise Forbidden("Runs are visible to admins and managers.")
    run = await RunRepository(session).get(principal.tenant_id, run_id)
    return RunRead.model_validate(found(run, f"Run {run_id} not found."))


async def list_runs(session: AsyncSession, principal: Principal, paging: Paging) -> Slice[RunRead]:
    """Runs of the caller's tenant, newest first."""
    if principal.role is Role.MEMBER:
        raise Forbidden("Runs are visible to admins and managers.")
    page = await RunRepository(session).page(principal.tenant_id, paging)
    return page.map(RunRead.model_validate)
