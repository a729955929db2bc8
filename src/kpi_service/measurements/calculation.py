"""Compute and store the measurements of one (definition, period) for all its due subjects."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators import api, event, query, subscription
from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.calculators.subjects import request_for
from kpi_service.core import telemetry
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.engine.periods import Period
from kpi_service.engine.windows import Window
from kpi_service.measurements.derivation import (
    DERIVED,
    measurement_values,
    rederive,
    revision_of,
)
from kpi_service.measurements.formulas import formula_outcomes
from kpi_service.measurements.members import member_outcomes, through_members
from kpi_service.measurements.repository import DueAssignment, MeasurementRepository
from kpi_service.models import (
    CalculationRun,
    CalculationType,
    Definition,
    MeasurementSource,
    RunStatus,
)

MAX_RUN_ERRORS = 20

# What a recalculation compares to decide whether a stored measurement changed.
_COMPARED = ("actual_value", *DERIVED, "source", "comment")


@dataclass
class Tally:
    """Counts of one calculation, and its first errors."""

    computed: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    measurement_ids: dict[int, int] = field(default_factory=dict)
    # Subjects whose stored value changed: the formulas reading them follow (`following`).
    moved: set[str] = field(default_factory=set)

    def error(
        self, definition: Definition, period: Period, message: str, subject_id: str | None = None
    ) -> None:
        if len(self.errors) < MAX_RUN_ERRORS:
            entry = {
                "definition": definition.key,
                "period_start": period.start.isoformat(),
                "error": message,
            }
            if subject_id is not None:
                entry["subject_id"] = subject_id
            self.errors.append(entry)

    def add(self, other: Tally) -> None:
        self.computed += other.computed
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.skipped += other.skipped
        room = MAX_RUN_ERRORS - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])
        self.measurement_ids.update(other.measurement_ids)
        self.moved.update(other.moved)

    def status(self) -> RunStatus:
        """The status of a run that tallied this: succeeded, partial (some subjects failed) or
        failed (all that were tried failed)."""
        if self.failed and not (self.computed or self.unchanged):
            return RunStatus.FAILED
        return RunStatus.PARTIAL if self.failed else RunStatus.SUCCEEDED


def _unchanged(existing: Any, row: dict[str, Any]) -> bool:
    # `existing` is a stored row (MeasurementRepository.for_period): the model's attributes.
    return all(getattr(existing, name) == row[name] for name in _COMPARED)


class MeasurementWriter:
    """Builds measurement rows for a period and writes them in bulk, keeping revisions."""

    def __init__(self, session: AsyncSession, settings: Settings, actor: str | None) -> None:
        self.repo = MeasurementRepository(session)
        self.settings = settings
        self.actor = actor

    async def write(
        self,
        definition: Definition,
        period: Period,
        due: Sequence[DueAssignment],
        values: dict[int, tuple[Decimal | None, dict[str, Any]]],
        *,
        source: str,
        run_id: int | None,
        reason: str,
        comment: str | None = None,
    ) -> Tally:
        """Store the values (by assignment id) of one period; unchanged rows are not rewritten."""
        tally = Tally()
        ids = [d.id for d in due if d.id in values]
        if not ids:
            return tally
        tenant = definition.tenant_id
        await self.repo.lock_definitions(tenant, [definition.id])
        existing = await self.repo.for_period(tenant, ids, period.start, period.end)
        previous: dict[int, Decimal | None] = {}
        if period.is_aligned:
            previous = await self.repo.aligned_values(tenant, ids, period.previous().start)
        today, now = self.settings.today(), datetime.now(UTC)
        rows, revisions = [], []
        moved = []  # assignments whose value changed: the next period's comparison follows
        for item in due:
            if item.id not in values:
                continue
            actual, details = values[item.id]
            row = measurement_values(definition, period, item, actual, previous.get(item.id), today)
            old = existing.get(item.id)
            # No comment given keeps the one stored (a recalculation never has one).
            row["source"] = source
            row["comment"] = comment if comment is not None or old is None else old.comment
            if old is not None and _unchanged(old, row):
                tally.unchanged += 1
                tally.measurement_ids[item.id] = old.id
                continue
            if old is not None:
                revisions.append(revision_of(old, self.actor, reason))
            if old is None or old.actual_value != actual:
                moved.append(item.id)
                tally.moved.add(item.subject_id)
            row.update(
                tenant_id=tenant,
                assignment_id=item.id,
                definition_id=definition.id,
                period_start=period.start,
                period_end=period.end,
                aligned=period.is_aligned,
                details=details,
                run_id=run_id,
                definition_version=definition.version,
                recorded_by=self.actor,
                revision=(old.revision + 1) if old is not None else 1,
                calculated_at=now,
            )
            rows.append(row)
        await self.repo.add_revisions(revisions)
        tally.measurement_ids.update(await self.repo.upsert(rows))
        tally.computed += len(rows)
        if period.is_aligned and moved:
            # The following period's previous value, change and trend are derived from this
            # one's value; re-derived from what is stored, whatever path wrote it.
            following = period.end + timedelta(days=1)
            await rederive(
                self.repo.session,
                self.settings,
                tenant,
                assignment_ids=moved,
                since=following,
                until=following,
                actor=self.actor,
                reason="re-derived: previous period changed",
            )
        return tally


async def rederive_recorded(
    session: AsyncSession,
    settings: Settings,
    definition: Definition,
    period: Period,
    due: Sequence[DueAssignment],
    *,
    run_id: int | None,
    actor: str | None,
    reason: str,
) -> Tally:
    """Re-derive the figures of one period's recorded values (target in force, achievement,
    score, status, change, trend, finality) without touching the values: each is written
    back as it is stored, so only derived columns that differ change (with a revision)."""
    stored = await MeasurementRepository(session).for_period(
        definition.tenant_id, [d.id for d in due], period.start, period.end
    )
    # Subjects with no recorded value have nothing to re-derive.
    tally = Tally(skipped=len(due) - len(stored))
    by_source: dict[str, dict[int, tuple[Decimal | None, dict[str, Any]]]] = {}
    for assignment_id, row in stored.items():
        by_source.setdefault(row.source, {})[assignment_id] = (row.actual_value, row.details)
    writer = MeasurementWriter(session, settings, actor)
    for source, values in sorted(by_source.items()):
        tally.add(
            await writer.write(
                definition, period, due, values, source=source, run_id=run_id, reason=reason
            )
        )
    return tally


def outcome_values(
    definition: Definition,
    period: Period,
    due: Sequence[DueAssignment],
    outcomes: dict[str, Outcome],
    tally: Tally,
) -> dict[int, tuple[Decimal | None, dict[str, Any]]]:
    """The value and details to store per due assignment, from its subject's outcome; a
    failed outcome is counted and reported in `tally` instead."""
    values: dict[int, tuple[Decimal | None, dict[str, Any]]] = {}
    for item in due:
        outcome = outcomes.get(item.subject_id) or Outcome(None, "no outcome", failed=True)
        if outcome.failed:
            tally.failed += 1
            tally.error(definition, period, outcome.reason or "failed", item.subject_id)
            continue
        details = dict(outcome.details)
        if outcome.reason:
            details["no_value_reason"] = outcome.reason
        values[item.id] = (outcome.value, details)
    return values


# What computes a definition's outcomes for a request: given each due subject's team.
OutcomesOf = Callable[[CalculationRequest, dict[str, str | None]], Awaitable[dict[str, Outcome]]]


async def compute_and_store(
    session: AsyncSession,
    settings: Settings,
    definition: Definition,
    period: Period,
    due: Sequence[DueAssignment],
    outcomes_of: OutcomesOf,
    *,
    run_id: int | None,
    actor: str | None,
    reason: str,
) -> Tally:
    """Compute the values of these due assignments of one (definition, period) with
    `outcomes_of` and store them; a calculation that fails is counted in the tally."""
    tally = Tally()
    try:
        window = Window.of(definition.window)
    except ValueError as exc:
        tally.failed = len(due)
        tally.error(definition, period, f"the window is not usable: {exc}")
        return tally
    request = request_for(definition, period, (d.subject_id for d in due), settings.tz, window)
    # A user's team, for formulas reading it: its latest assignment's, which supersedes.
    teams = {d.subject_id: d.team_id for d in due}
    try:
        outcomes = await outcomes_of(request, teams)
    except CalculationFailed as exc:
        tally.failed = len(due)
        tally.error(definition, period, str(exc))
        return tally
    values = outcome_values(definition, period, due, outcomes, tally)
    writer = MeasurementWriter(session, settings, actor)
    written = await writer.write(
        definition,
        period,
        due,
        values,
        source=MeasurementSource.CALCULATED,
        run_id=run_id,
        reason=reason,
    )
    tally.add(written)
    return tally


async def _outcomes(
    session: AsyncSession,
    sources: Sources,
    settings: Settings,
    definition: Definition,
    request: CalculationRequest,
    teams: dict[str, str | None],
) -> dict[str, Outcome]:
    """Every due subject's outcome: from the source, or rolled up from its members' values
    (`teams`: each subject's team, as its assignment records it); timed for telemetry."""

    async def calculate(of: CalculationRequest) -> dict[str, Outcome]:
        if definition.calculation_type == CalculationType.EVENT:
            return await event.calculate(of, session, definition.scope)
        if definition.calculation_type == CalculationType.API:
            return await api.calculate(of, allow=settings.outbound_allow)
        if definition.calculation_type == CalculationType.FORMULA:
            return await formula_outcomes(session, definition, of, teams)
        if definition.calculation_type == CalculationType.SUBSCRIPTION:
            return await subscription.calculate(of, session)
        return await query.calculate(of, sources, settings)

    started = time.perf_counter()
    try:
        if through_members(definition):
            outcomes = await member_outcomes(session, definition, request, calculate)
        else:
            outcomes = await calculate(request)
    except CalculationFailed:
        telemetry.calculated(
            definition.calculation_type, time.perf_counter() - started, 0, failed=True
        )
        raise
    telemetry.calculated(definition.calculation_type, time.perf_counter() - started, len(outcomes))
    return outcomes


async def compute_period(
    session: AsyncSession,
    sources: Sources,
    settings: Settings,
    run: CalculationRun,
    definition: Definition,
    period: Period,
    *,
    require_overlap: bool = True,
) -> Tally:
    """Compute one (definition, period) of a run for every due subject its filters leave,
    with one source round trip; a restatement re-derives manual KPIs' stored values too."""
    run_id, actor, restate = run.id, run.requested_by, run.restate
    reason = f"restated by run {run_id}: {run.reason}" if restate else None
    repo = MeasurementRepository(session)
    due = await repo.due_assignments(
        definition.tenant_id,
        definition.id,
        period.start,
        period.end,
        assignment_ids=run.filters.get("assignment_ids"),
        subject_ids=run.filters.get("subject_ids"),
        require_overlap=require_overlap,
    )
    if not due:
        return Tally()
    if definition.calculation_type == CalculationType.MANUAL:
        if restate:
            return await rederive_recorded(
                session,
                settings,
                definition,
                period,
                due,
                run_id=run_id,
                actor=actor,
                reason=reason or f"restated by run {run_id}",
            )
        # Manual values are recorded, not computed.
        return Tally(skipped=len(due))
    return await compute_and_store(
        session,
        settings,
        definition,
        period,
        due,
        lambda request, teams: _outcomes(session, sources, settings, definition, request, teams),
        run_id=run_id,
        actor=actor,
        reason=reason or f"recalculated by run {run_id}",
    )
