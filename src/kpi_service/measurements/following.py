"""Formulas follow their inputs: when stored values change (a run, a manual value), the
stored values of every formula reading them for that period are recomputed in the same
transaction, and so on down the chain, so that a formula's stored value always equals a
clean recomputation (DESIGN.md section 4)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.errors import Conflict
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.formula import FormulaError
from kpi_service.engine.formula_inputs import used_keys
from kpi_service.engine.formula_order import evaluation_order
from kpi_service.engine.periods import Period
from kpi_service.measurements.calculation import Tally, compute_and_store
from kpi_service.measurements.closing_repository import ClosedPeriodRepository
from kpi_service.measurements.formulas import formula_outcomes
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.models import CalculationRun, Definition


async def follow_inputs(
    session: AsyncSession,
    settings: Settings,
    changed: Definition,
    period: Period,
    subjects: Collection[str],
    *,
    run_id: int | None,
    actor: str | None,
    reason: str,
    restate: bool = False,
    formulas: Sequence[Definition] | None = None,
    computed_later: Collection[int] = (),
) -> Tally:
    """Recompute the stored values, for `period`, of the formulas reading `changed` (or a
    formula that reads it), now that the values of these `subjects` of it changed.

    `formulas`: the tenant's active formulas, if the caller has them (else they are read);
    `computed_later`: formulas the caller computes itself next (a run's later steps);
    closed periods of a formula change only when `restate` (the change is a restatement).
    """
    tally = Tally()
    if not subjects:
        return tally
    tenant = changed.tenant_id
    if formulas is None:
        formulas = await DefinitionRepository(session).formulas(tenant)
    readers = {
        f.key: f
        for f in formulas
        if f.aggregation_period == changed.aggregation_period and f.id != changed.id
    }
    if not readers:
        return tally
    try:
        order = evaluation_order(
            {key: used_keys(f.config.get("variables")) for key, f in readers.items()}
        )
    except FormulaError as exc:  # refused when saved; only a hand-edited database gets here
        raise Conflict(f"The KPIs cannot be ordered: {exc}") from None
    frozen: set[int] = set()
    if not restate:
        pairs = [(f.id, period.start) for f in readers.values()]
        frozen = {d for d, _ in await ClosedPeriodRepository(session).closed(tenant, pairs)}
    # key -> (its scope, the subjects whose value changed)
    moved = {changed.key: (changed.scope, set(subjects))}
    because = f"recomputed: {changed.key} changed ({reason})"
    for key in order:
        formula = readers.get(key)
        if formula is None or formula.id in frozen or formula.id in computed_later:
            continue
        reads = [moved[k] for k in used_keys(formula.config.get("variables")) if k in moved]
        if not reads:
            continue
        # Its own scope's inputs changed for some subjects: theirs follow; a team's or the
        # organisation's value is read by every subject.
        narrow: set[str] | None = set()
        for scope, which in reads:
            narrow = None if narrow is None or scope != formula.scope else narrow | which
        written = await _recompute(
            session, settings, formula, period, narrow, run_id=run_id, actor=actor, reason=because
        )
        tally.add(written)
        if written.moved:
            moved[key] = (formula.scope, written.moved)
    return tally


async def follow_run(
    session: AsyncSession,
    settings: Settings,
    run: CalculationRun,
    changed: Definition,
    period: Period,
    subjects: Collection[str],
    *,
    formulas: Sequence[Definition] | None = None,
    computed_later: Collection[int] = (),
) -> Tally:
    """`follow_inputs` for what one step of a run changed: the run is the actor and the
    reason, and its restatement lets closed formula periods change."""
    reason = f"restated by run {run.id}: {run.reason}" if run.restate else f"run {run.id}"
    return await follow_inputs(
        session,
        settings,
        changed,
        period,
        subjects,
        run_id=run.id,
        actor=run.requested_by,
        reason=reason,
        restate=run.restate,
        formulas=formulas,
        computed_later=computed_later,
    )


async def _recompute(
    session: AsyncSession,
    settings: Settings,
    formula: Definition,
    period: Period,
    subjects: set[str] | None,
    *,
    run_id: int | None,
    actor: str | None,
    reason: str,
) -> Tally:
    """The formula's stored values of the period (of these subjects; None: all), recomputed
    and written where they differ."""
    due = await MeasurementRepository(session).due_assignments(
        formula.tenant_id,
        formula.id,
        period.start,
        period.end,
        subject_ids=None if subjects is None else sorted(subjects),
        require_overlap=False,
        measured_only=True,
    )
    if not due:
        return Tally()
    return await compute_and_store(
        session,
        settings,
        formula,
        period,
        due,
        lambda request, teams: formula_outcomes(session, formula, request, teams),
        run_id=run_id,
        actor=actor,
        reason=reason,
    )
