"""A run's plan: the pairs in the order they are computed, stored as JSON and read back typed."""

from __future__ import annotations

import json
from datetime import date

from kpi_service.models import Definition
from kpi_service.runs.plan import PlannedPeriod, RunPlan, new_run, order_pairs


def _definition(id_: int, key: str, period: str, config: dict[str, object]) -> Definition:
    return Definition(id=id_, key=key, aggregation_period=period, config=config)


def test_a_plan_is_stored_as_json_and_read_back_as_typed_steps() -> None:
    resolved = _definition(7, "resolved", "weekly", {})
    rate = _definition(
        3, "rate", "weekly", {"expression": "resolved / 2", "variables": {"resolved": "resolved"}}
    )
    # Wednesday 2026-11-04 to Tuesday 2026-11-10 overlaps two ISO weeks.
    pairs = order_pairs([rate, resolved], date(2026, 11, 4), date(2026, 11, 10))
    run = new_run(
        "default",
        "manual",
        pairs,
        first=date(2026, 11, 4),
        last=date(2026, 11, 10),
        filters={},
        requested_by="admin",
    )
    # Oldest week first; within a week the formula after the KPI it reads.
    stored = [
        [7, "2026-11-02", "2026-11-08"],
        [3, "2026-11-02", "2026-11-08"],
        [7, "2026-11-09", "2026-11-15"],
        [3, "2026-11-09", "2026-11-15"],
    ]
    assert run.plan == stored
    assert run.progress_total == 4

    plan = RunPlan.decode(json.loads(json.dumps(stored)))
    assert list(plan) == [
        PlannedPeriod(7, date(2026, 11, 2), date(2026, 11, 8)),
        PlannedPeriod(3, date(2026, 11, 2), date(2026, 11, 8)),
        PlannedPeriod(7, date(2026, 11, 9), date(2026, 11, 15)),
        PlannedPeriod(3, date(2026, 11, 9), date(2026, 11, 15)),
    ]
    assert len(plan) == 4
    assert plan.definition_ids() == [3, 7]
    assert plan.encode() == stored


def test_an_empty_plan_has_no_steps() -> None:
    plan = RunPlan.decode([])
    assert (len(plan), plan.definition_ids(), plan.encode()) == (0, [], [])
