"""Measurement rules: recording manual values, recalculating, reading with access rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kpi_service.assignments.access import can_manage, visible_assignments
from kpi_service.assignments.service import get_visible
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from kpi_service.core.schemas import Slice, decode_cursor, slice_of
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.formula import FormulaError, evaluation_order
from kpi_service.engine.periods import Period, PeriodKind, between, containing
from kpi_service.measurements.calculation import MeasurementWriter, Tally, compute_period
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.measurements.schemas import ManualValue, MeasurementRead, RecalculateRequest
from kpi_service.models import Assignment, CalculationRun, Definition, Measurement
from kpi_service.models import MeasurementRevision as Revision

# One request may recalculate at most this many (definition, period) pairs.
MAX_PAIRS = 5000


class NotManualKpi(Conflict):
    """Values of a computed KPI cannot be recorded by hand."""

    def __init__(self, key: str, calculation_type: str) -> None:
        super().__init__(f"KPI '{key}' is computed ({calculation_type}); only manual KPIs take "
                         "recorded values. Recalculate it instead.")


def to_read(row: Any) -> MeasurementRead:
    """A listing row (measurement, subject type, subject id, definition key) as the API shows it."""
    measurement, subject_type, subject_id, key = row
    data = {c.key: getattr(measurement, c.key) for c in Measurement.__table__.columns}
    data.update(subject_type=subject_type, subject_id=subject_id, definition_key=key)
    return MeasurementRead.model_validate(data)


async def get_measurement(session: AsyncSession, principal: Principal,
                          measurement_id: int) -> MeasurementRead:
    """One measurement the caller may see."""
    repo = MeasurementRepository(session)
    stmt = repo.listing(principal.tenant_id, visible_assignments(principal)).where(
        Measurement.id == measurement_id)
    rows = await repo.rows(stmt)
    if not rows:
        raise NotFound(f"Measurement {measurement_id} not found.")
    return to_read(rows[0])


async def list_measurements(session: AsyncSession, principal: Principal, *,
                            assignment_id: int | None = None, user_id: str | None = None,
                            definition_id: int | None = None, definition_key: str | None = None,
                            period_from: date | None = None, period_to: date | None = None,
                            cursor: str | None = None, limit: int = 50) -> Slice[MeasurementRead]:
    """Measurements the caller may see, oldest id first, filtered."""
    if period_from and period_to and period_to < period_from:
        raise InvalidInput("period_to is before period_from.",
                           errors=[field_error(["query", "period_to"], "before period_from")])
    repo = MeasurementRepository(session)
    stmt = repo.listing(principal.tenant_id, visible_assignments(principal))
    if assignment_id is not None:
        stmt = stmt.where(Measurement.assignment_id == assignment_id)
    if user_id is not None:
        stmt = stmt.where(Assignment.subject_type == "user", Assignment.subject_id == user_id)
    if definition_id is not None:
        stmt = stmt.where(Measurement.definition_id == definition_id)
    if definition_key is not None:
        stmt = stmt.where(Definition.key == definition_key)
    if period_from is not None:
        stmt = stmt.where(Measurement.period_end >= period_from)
    if period_to is not None:
        stmt = stmt.where(Measurement.period_start <= period_to)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Measurement.id > after)
    rows = await repo.rows(stmt.order_by(Measurement.id).limit(limit + 1))
    page = slice_of(rows, limit, lambda r: r[0].id)
    return Slice([to_read(r) for r in page.items], page.next_cursor)


async def list_revisions(session: AsyncSession, principal: Principal,
                         measurement_id: int) -> list[Revision]:
    """Earlier states of a visible measurement, newest first."""
    await get_measurement(session, principal, measurement_id)
    return list(await MeasurementRepository(session).revisions(principal.tenant_id,
                                                               measurement_id))


async def record_manual(session: AsyncSession, settings: Settings, principal: Principal,
                        assignment_id: int, period_start: date,
                        body: ManualValue) -> MeasurementRead:
    """Record a manual KPI's value for the period starting on `period_start`."""
    assignment = await get_visible(session, principal, assignment_id)
    if not (principal.is_admin or can_manage(principal, assignment.subject_type,
                                             assignment.subject_id, assignment.team_id)):
        raise Forbidden("Only admins and the subject's managers record values.")
    repo = MeasurementRepository(session)
    definition = await DefinitionRepository(session).get(principal.tenant_id,
                                                         assignment.definition_id)
    assert definition is not None  # the foreign key guarantees it
    if definition.calculation_type != "manual":
        raise NotManualKpi(definition.key, definition.calculation_type)
    if not definition.is_active:
        raise Conflict(f"KPI '{definition.key}' is deactivated.")
    period = containing(PeriodKind(definition.aggregation_period), period_start)
    loc = ["path", "period_start"]
    if period.start != period_start:
        raise InvalidInput(
            f"{period_start} is not the start of a {definition.aggregation_period} period; "
            f"the period holding it starts on {period.start}.",
            errors=[field_error(loc, "not the first day of a period")])
    if assignment.start_date > period.end or (assignment.end_date is not None
                                              and assignment.end_date < period.start):
        raise InvalidInput("The assignment is not in force during that period.",
                           errors=[field_error(loc, "outside the assignment's dates")])
    due = await repo.due_assignments(principal.tenant_id, definition.id, period.start,
                                     period.end, assignment_ids=[assignment.id])
    writer = MeasurementWriter(session, settings, principal.user_id)
    tally = await writer.write(definition, period, due, {assignment.id: (body.value, {})},
                               source="manual", run_id=None, reason="manual entry",
                               comment=body.comment)
    measurement = await get_measurement(session, principal, tally.measurement_ids[assignment.id])
    await audit.record(session, principal, "measurement.record", "measurement", measurement.id,
                       None, measurement.model_dump(mode="json"))
    return measurement


def _status(tally: Tally) -> str:
    if tally.failed and not (tally.computed or tally.unchanged):
        return "failed"
    return "partial" if tally.failed else "succeeded"


async def _definitions(session: AsyncSession, principal: Principal,
                       keys: list[str] | None) -> list[Definition]:
    definitions = list(await DefinitionRepository(session).active(principal.tenant_id,
                                                                  keys=keys))
    if keys is not None:
        unknown = sorted(set(keys) - {d.key for d in definitions})
        if unknown:
            raise InvalidInput(f"Unknown or inactive KPI keys: {', '.join(unknown)}.",
                               errors=[field_error(["body", "definition_keys"], "unknown key")])
    return definitions


async def execute_run(session: AsyncSession, source: AsyncEngine, settings: Settings,
                      principal: Principal, pairs: list[tuple[Definition, Period]],
                      run: CalculationRun, **filters: Any) -> Tally:
    """Compute every (definition, period) pair of a run, oldest period first, and close it."""
    repo = MeasurementRepository(session)
    total = Tally()
    for done, (definition, period) in enumerate(pairs, start=1):
        tally = await compute_period(session, source, settings, definition, period,
                                     run_id=run.id, actor=principal.user_id, **filters)
        total.add(tally)
        await repo.touch_run(run, progress_done=done, computed=total.computed,
                             unchanged=total.unchanged, failed=total.failed,
                             skipped=total.skipped, errors=list(total.errors),
                             heartbeat_at=datetime.now(UTC))
    await repo.touch_run(run, status=_status(total), finished_at=datetime.now(UTC))
    return total


async def start_run(repo: MeasurementRepository, principal: Principal, trigger: str,
                    pairs: list[tuple[Definition, Period]], first: date, last: date,
                    filters: dict[str, Any]) -> CalculationRun:
    """A new run row in state `running` for these pairs, flushed so it has its id."""
    kinds = {p.kind.value if p.kind else None for _, p in pairs}
    now = datetime.now(UTC)
    run = CalculationRun(
        tenant_id=principal.tenant_id, trigger=trigger,
        period_kind=kinds.pop() if len(kinds) == 1 else None,
        period_start=min((p.start for _, p in pairs), default=first),
        period_end=max((p.end for _, p in pairs), default=last),
        filters=filters, status="running", progress_total=len(pairs), progress_done=0,
        computed=0, unchanged=0, failed=0, skipped=0, errors=[],
        requested_by=principal.user_id, started_at=now, heartbeat_at=now,
    )
    repo.add_run(run)
    await repo.flush()
    return run


async def recalculate(session: AsyncSession, source: AsyncEngine, settings: Settings,
                      principal: Principal, body: RecalculateRequest) -> CalculationRun:
    """Recalculate every period of the matching definitions that overlaps the date range."""
    if not principal.is_admin:
        raise Forbidden("Only admins recalculate.")
    repo = MeasurementRepository(session)
    definitions = await _definitions(session, principal, body.definition_keys)
    last = body.period_end or body.period_start
    # Within a period, formula KPIs come after the KPIs they use.
    try:
        order = evaluation_order({d.key: list(d.config.get("variables", {}).values())
                                  for d in definitions})
    except FormulaError as exc:  # refused when saved; only a hand-edited database gets here
        raise Conflict(f"The KPIs cannot be ordered: {exc}") from None
    rank = {key: i for i, key in enumerate(order)}
    pairs = sorted(
        ((d, p) for d in definitions
         for p in between(PeriodKind(d.aggregation_period), body.period_start, last)),
        key=lambda pair: (pair[1].start, rank[pair[0].key], pair[0].id),
    )
    if len(pairs) > MAX_PAIRS:
        raise InvalidInput(f"That is {len(pairs)} (KPI, period) pairs; at most {MAX_PAIRS} "
                           "per request. Narrow the range or the KPIs.",
                           errors=[field_error(["body", "period_end"], "range too large")])
    periods_per_definition = len(pairs) / max(len(definitions), 1)
    trigger = "backfill" if periods_per_definition > 1 else "manual"
    run = await start_run(repo, principal, trigger, pairs, body.period_start, last,
                          body.model_dump(mode="json", exclude_none=True))
    await execute_run(session, source, settings, principal, pairs, run,
                      assignment_ids=body.assignment_ids, subject_ids=body.subject_ids)
    await audit.record(session, principal, "measurements.recalculate", "run", run.id, None,
                       {"status": run.status, "computed": run.computed, "failed": run.failed})
    return run


async def get_run(session: AsyncSession, principal: Principal, run_id: int) -> CalculationRun:
    """One run of the caller's tenant (admins and managers)."""
    if principal.role is Role.MEMBER:
        raise Forbidden("Runs are visible to admins and managers.")
    run = await MeasurementRepository(session).run(principal.tenant_id, run_id)
    if run is None:
        raise NotFound(f"Run {run_id} not found.")
    return run


async def list_runs(session: AsyncSession, principal: Principal, *, cursor: str | None,
                    limit: int) -> Slice[CalculationRun]:
    """Runs of the caller's tenant, newest first."""
    if principal.role is Role.MEMBER:
        raise Forbidden("Runs are visible to admins and managers.")
    rows = await MeasurementRepository(session).runs(principal.tenant_id,
                                                     after=decode_cursor(cursor), limit=limit)
    return slice_of(rows, limit, lambda r: r.id)
