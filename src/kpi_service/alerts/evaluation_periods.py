"""Which periods an alert rule is evaluated over on demand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from kpi_service.alerts.judging import Watch, projects
from kpi_service.alerts.schemas import Condition, MissingValue
from kpi_service.engine.periods import Period, between, containing
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import Definition


def periods_of(
    definition: Definition, condition: Condition, today: date, first: date | None, last: date | None
) -> list[Period]:
    """The periods a rule is evaluated over on demand: those overlapping [first, last], or
    by default the latest final period, and the period in progress for a rule projecting it
    (missing values: the latest overdue periods)."""
    kind = PeriodKind(definition.aggregation_period)
    if first is not None:
        return between(kind, first, last or first)
    if not isinstance(condition, MissingValue):
        current = containing(kind, today)
        return [current.previous(), current] if projects(condition) else [current.previous()]
    # The latest period whose last day is more than `days` days ago, and those before it.
    cutoff = today - timedelta(days=condition.days + 1)
    period = containing(kind, cutoff)
    if period.end > cutoff:
        period = period.previous()
    found = [period]
    while len(found) < condition.lookback_periods:
        found.append(found[-1].previous())
    return sorted(found, key=lambda p: p.start)


def on_demand(
    watches: Sequence[Watch], *, today: date, first: date | None = None, last: date | None = None
) -> dict[int, list[Period]]:
    """The periods each rule is evaluated over on demand (see `periods_of`), by rule id."""
    return {w.rule.id: periods_of(w.definition, w.condition, today, first, last) for w in watches}
