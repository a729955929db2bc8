"""The invariant: every stored figure derived from a value equals a clean recomputation.

A measurement stores its value and figures derived from it: the target in force for its
period, achievement, score, status, the previous aligned period's value, change, trend and
finality. They depend on other stored things too: the assignment's effective-dated targets
and baseline, the definition's target type, warning threshold and score cap, the previous
period's value and the date. `measurement_values` is the one way they are derived, used by
the writer when a value is stored and by `rederive` whenever something they depend on
changes. `rederive` reads only what is stored (never the sources), one statement per call,
and writes the rows that differ in bulk, each keeping a revision. `drift` is the same
recomputation, read-only, for `kpi-service verify`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.engine import achievement as ach
from kpi_service.engine.periods import Period, aligned_or_custom, is_final
from kpi_service.engine.vocabulary import PeriodKind, Status, TargetType, Trend
from kpi_service.measurements.repository import DueAssignment, MeasurementRepository
from kpi_service.models import Definition, Measurement

# The derived columns, in the order `verify` reports them.
DERIVED = (
    "target_value",
    "achievement",
    "score",
    "status",
    "previous_value",
    "change_pct",
    "trend",
    "is_final",
)
# The columns a write carries (all but the id).
_WRITTEN = [c.name for c in Measurement.__table__.columns if c.name != "id"]


def measurement_values(
    definition: Definition,
    period: Period,
    due: DueAssignment,
    actual: Decimal | None,
    previous: Decimal | None,
    today: date,
) -> dict[str, Any]:
    """The value and its derived columns: target, achievement, score, status, change, trend,
    finality (the one way they are derived)."""
    # Every calculator's value (and a manual one) is stored as every figure is: six places,
    # half to even; everything below is derived from the stored value.
    actual, previous = ach.quantize(actual), ach.quantize(previous)
    target_type = TargetType(definition.target_type)
    achievement = ach.achievement(actual, due.target_value, target_type, due.baseline_value)
    return {
        "actual_value": actual,
        "target_value": due.target_value,
        "achievement": achievement,
        "score": ach.score(achievement, definition.score_cap),
        "status": _value(ach.status(achievement, definition.warning_threshold)),
        "previous_value": previous,
        "change_pct": ach.change_pct(actual, previous),
        "trend": _value(ach.trend(actual, previous, target_type, due.target_value)),
        "is_final": is_final(period, today),
    }


def _value(member: Status | Trend | None) -> str | None:
    return None if member is None else member.value


def revision_of(existing: Any, changed_by: str | None, reason: str | None) -> dict[str, Any]:
    """The revision row that keeps a measurement's state before a change."""
    return {
        "tenant_id": existing.tenant_id,
        "measurement_id": existing.id,
        "revision": existing.revision,
        "actual_value": existing.actual_value,
        "target_value": existing.target_value,
        "achievement": existing.achievement,
        "score": existing.score,
        "status": existing.status,
        "source": existing.source,
        "details": existing.details,
        "comment": existing.comment,
        "run_id": existing.run_id,
        "definition_version": existing.definition_version,
        "recorded_by": existing.recorded_by,
        "calculated_at": existing.calculated_at,
        "changed_by": changed_by,
        "change_reason": reason,
    }


def _expected(row: Any, today: date) -> dict[str, Any]:
    """What a stored row's derived columns should be, from `derivation_inputs`' row."""
    definition: Definition = row.Definition
    period = aligned_or_custom(
        PeriodKind(definition.aggregation_period), row.period_start, row.period_end
    )
    previous = row.previous_stored if row.aligned else None
    values = measurement_values(definition, period, row.due, row.actual_value, previous, today)
    return {name: values[name] for name in DERIVED}


async def _recomputed(
    session: AsyncSession, stmt: Any, today: date
) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """Each stored row of `derivation_inputs`' statement with its expected derived columns,
    streamed (the statement runs once; rows are not all held in memory)."""
    result = await session.stream(stmt.execution_options(yield_per=2000))
    async for row in result:
        yield row, _expected(row, today)


async def rederive(
    session: AsyncSession,
    settings: Settings,
    tenant_id: str,
    *,
    definition_ids: Sequence[int] | None = None,
    assignment_ids: Sequence[int] | None = None,
    since: date | None = None,
    until: date | None = None,
    unfinal_only: bool = False,
    actor: str | None,
    reason: str,
) -> int:
    """Re-derive the tenant's stored measurements in scope from stored values only, and write
    the rows whose derived figures changed (in bulk, each keeping a revision); how many.

    Scope: these definitions and assignments (None: all), periods ending on or after
    `since` and starting on or before `until`; `unfinal_only`: rows stored as not final
    whose period has ended.
    """
    if (definition_ids is not None and not definition_ids) or (
        assignment_ids is not None and not assignment_ids
    ):
        return 0
    today = settings.today()
    repo = MeasurementRepository(session)
    if definition_ids is not None:  # as the writer does: no write of theirs runs meanwhile
        await repo.lock_definitions(tenant_id, definition_ids)
    stmt = repo.derivation_inputs(
        tenant_id,
        definition_ids=definition_ids,
        assignment_ids=assignment_ids,
        since=since,
        until=until,
        unfinal_before=today if unfinal_only else None,
    )
    rows, revisions = [], []
    async for stored, expected in _recomputed(session, stmt, today):
        if all(getattr(stored, name) == value for name, value in expected.items()):
            continue
        revisions.append(revision_of(stored, actor, reason))
        row = {name: getattr(stored, name) for name in _WRITTEN}
        # The value and its provenance stay; only what is derived from them follows.
        row.update(expected, revision=stored.revision + 1)
        rows.append(row)
    await repo.add_revisions(revisions)
    await repo.upsert(rows)
    return len(rows)


async def finalize_ended(database: Database, settings: Settings) -> int:
    """Measurements whose period has ended but are stored not final, re-derived, one
    transaction per tenant (the daily job); how many changed. Replicas running it together
    serialise on a lock and the second finds nothing left."""
    async with database.sessions() as session:
        tenants = await MeasurementRepository(session).tenants(unfinal_before=settings.today())
    changed = 0
    for tenant_id in tenants:
        async with database.unit_of_work() as session:
            await MeasurementRepository(session).lock_tenant(tenant_id, "finalize")
            changed += await rederive(
                session,
                settings,
                tenant_id,
                unfinal_only=True,
                actor=None,
                reason="re-derived: period ended",
            )
    return changed


@dataclass
class Drift:
    """What `verify` found: rows checked, differing figures per column, first examples."""

    checked: int = 0
    per_column: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.per_column


async def drift(
    session: AsyncSession, settings: Settings, tenant_id: str, found: Drift, *, examples: int = 20
) -> int:
    """Add the drift of one tenant's stored measurements to `found` (read-only); how many
    of its measurements differ."""
    today = settings.today()
    stmt = MeasurementRepository(session).derivation_inputs(
        tenant_id,
        definition_ids=None,
        assignment_ids=None,
        since=None,
        until=None,
        unfinal_before=None,
    )
    differing = 0
    async for row, expected in _recomputed(session, stmt, today):
        found.checked += 1
        wrong = [name for name in DERIVED if getattr(row, name) != expected[name]]
        differing += bool(wrong)
        for name in wrong:
            found.per_column[name] += 1
            if len(found.examples) < examples:
                found.examples.append(
                    {
                        "tenant_id": tenant_id,
                        "measurement_id": row.id,
                        "column": name,
                        "stored": getattr(row, name),
                        "expected": expected[name],
                    }
                )
    return differing
