"""Planning a run (pure): which (definition, period) pairs, in which order, as a typed plan.

A run row stores its plan as JSON (`[[definition id, "start", "end"], ...]`); `RunPlan` is
the one place that reads and writes that form.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from kpi_service.core.errors import Conflict
from kpi_service.engine.formula import FormulaError
from kpi_service.engine.formula_inputs import used_keys
from kpi_service.engine.formula_order import evaluation_order
from kpi_service.engine.periods import Period, between
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import CalculationRun, Definition, RunStatus

Pair = tuple[Definition, Period]


@dataclass(frozen=True, slots=True)
class PlannedPeriod:
    """One step of a run: a definition and the dates of one of its periods."""

    definition_id: int
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class RunPlan:
    """A run's steps in the order they are computed."""

    steps: tuple[PlannedPeriod, ...]

    @classmethod
    def of(cls, pairs: Sequence[Pair]) -> RunPlan:
        """The plan computing these pairs in this order."""
        return cls(tuple(PlannedPeriod(d.id, p.start, p.end) for d, p in pairs))

    @classmethod
    def decode(cls, stored: Sequence[Sequence[Any]]) -> RunPlan:
        """The plan a run row stores."""
        return cls(
            tuple(
                PlannedPeriod(
                    int(definition_id), date.fromisoformat(start), date.fromisoformat(end)
                )
                for definition_id, start, end in stored
            )
        )

    def encode(self) -> list[list[Any]]:
        """The plan as a run row stores it."""
        return [[s.definition_id, s.start.isoformat(), s.end.isoformat()] for s in self.steps]

    def definition_ids(self) -> list[int]:
        """The definitions the plan computes, ascending, each once."""
        return sorted({s.definition_id for s in self.steps})

    def computed_later(self) -> list[frozenset[int]]:
        """For each step, the definitions later steps compute for the same dates."""
        seen: dict[tuple[date, date], set[int]] = {}
        later = []
        for step in reversed(self.steps):
            same = seen.setdefault((step.start, step.end), set())
            later.append(frozenset(same))
            same.add(step.definition_id)
        return later[::-1]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[PlannedPeriod]:
        return iter(self.steps)


def order_pairs(definitions: Sequence[Definition], first: date, last: date) -> list[Pair]:
    """Every period of each definition overlapping [first, last], oldest period first;
    within a period, formula KPIs after the KPIs they use."""
    try:
        order = evaluation_order({d.key: used_keys(d.config.get("variables")) for d in definitions})
    except FormulaError as exc:  # refused when saved; only a hand-edited database gets here
        raise Conflict(f"The KPIs cannot be ordered: {exc}") from None
    rank = {key: i for i, key in enumerate(order)}
    return sorted(
        (
            (d, p)
            for d in definitions
            for p in between(PeriodKind(d.aggregation_period), first, last)
        ),
        key=lambda pair: (pair[1].start, rank[pair[0].key], pair[0].id),
    )


def new_run(
    tenant_id: str,
    trigger: str,
    pairs: Sequence[Pair],
    *,
    first: date,
    last: date,
    filters: dict[str, Any],
    requested_by: str | None,
    restate: bool = False,
    reason: str | None = None,
    status: str = RunStatus.QUEUED,
) -> CalculationRun:
    """A run row for these pairs, not yet started."""
    kinds = {p.kind.value if p.kind else None for _, p in pairs}
    now = datetime.now(UTC)
    return CalculationRun(
        tenant_id=tenant_id,
        trigger=trigger,
        period_kind=kinds.pop() if len(kinds) == 1 else None,
        period_start=min((p.start for _, p in pairs), default=first),
        period_end=max((p.end for _, p in pairs), default=last),
        filters=filters,
        status=status,
        restate=restate,
        reason=reason,
        plan=RunPlan.of(pairs).encode(),
        progress_total=len(pairs),
        progress_done=0,
        computed=0,
        unchanged=0,
        failed=0,
        skipped=0,
        errors=[],
        requested_by=requested_by,
        heartbeat_at=now,
        resumed=0,
    )
