"""The alert jobs: rules evaluated after each run (a run follower) and, for missing manual
values, on the scheduler's clock; their webhooks sent after."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime

from kpi_service.alerts import delivery_service
from kpi_service.alerts.evaluation_periods import on_demand
from kpi_service.alerts.evaluation_service import evaluate, watched
from kpi_service.alerts.rule_repository import RuleRepository
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.engine.periods import Period, aligned_or_custom
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import CalculationRun, Definition, RuleKind
from kpi_service.runs.plan import RunPlan

log = logging.getLogger(__name__)


def run_periods(plan: RunPlan, definitions: Mapping[int, Definition]) -> dict[int, list[Period]]:
    """The aligned periods of a run's plan, by definition id."""
    found: dict[int, set[Period]] = defaultdict(set)
    for step in plan:
        definition = definitions.get(step.definition_id)
        if definition is None:
            continue
        period = aligned_or_custom(PeriodKind(definition.aggregation_period), step.start, step.end)
        if period.is_aligned:
            found[definition.id].add(period)
    return {d: sorted(p, key=lambda x: x.start) for d, p in found.items()}


async def after_run(database: Database, settings: Settings, run: CalculationRun) -> None:
    """Evaluate the active rules of the run's KPIs over the run's periods, then send the
    tenant's due deliveries (those queued now, and any left pending earlier)."""
    plan = RunPlan.decode(run.plan)
    definition_ids = plan.definition_ids()
    if not definition_ids:
        return
    now = datetime.now(UTC)
    async with database.unit_of_work() as session:
        watches = await watched(session, run.tenant_id, definition_ids=definition_ids)
        # Most runs watch nothing: one statement, and done.
        if not watches:
            return
        by_definition = run_periods(plan, {w.definition.id: w.definition for w in watches})
        outcome = await evaluate(
            session,
            run.tenant_id,
            watches,
            {w.rule.id: by_definition.get(w.definition.id, []) for w in watches},
            today=settings.today(now),
            now=now,
            tz=settings.tz,
        )
    if outcome.opened or outcome.fired or outcome.resolved:
        log.info(
            "alerts after run %s of %s: %s opened, %s fired, %s resolved",
            run.id,
            run.tenant_id,
            outcome.opened,
            outcome.fired,
            outcome.resolved,
        )
    await delivery_service.deliver_due(database, settings, tenant_id=run.tenant_id)


async def evaluate_overdue(database: Database, settings: Settings) -> int:
    """A job for the scheduler: every tenant's active missing-value rules over their latest
    overdue periods (no run finds a value that was never recorded), then their webhooks.
    How many rules were evaluated."""
    async with database.sessions() as session:
        tenants = await RuleRepository(session).tenants_with(RuleKind.MISSING_VALUE)
    evaluated = 0
    for tenant_id in tenants:
        now = datetime.now(UTC)
        today = settings.today(now)
        async with database.unit_of_work() as session:
            watches = await watched(session, tenant_id, kind=RuleKind.MISSING_VALUE)
            outcome = await evaluate(
                session,
                tenant_id,
                watches,
                on_demand(watches, today=today),
                today=today,
                now=now,
                tz=settings.tz,
            )
        evaluated += outcome.rules
        await delivery_service.deliver_due(database, settings, tenant_id=tenant_id)
    return evaluated
