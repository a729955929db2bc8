"""What a demo load computes: each pack's KPIs (and the demo's own) over the days its data
covers, one recalculation per (catalogue, period kind), so that no run walks periods before a
KPI's data starts (a run computes every period of its range for every KPI it names).

A load computes the recent past only: monthly KPIs from the events window's first month,
weekly ones the last `WEEKS` weeks, daily ones the last `DAYS` days (the pilot's
`revenue_daily` the whole events window), which keeps the first load quick (a run costs about
the same per (KPI, period) pair whatever it computes). The assignments cover all the data
each pack reads, so a recalculation (or `kpi-service backfill`) computes the earlier periods
whenever they are wanted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from kpi_service.demo.definitions import DEFINITIONS
from kpi_service.demo.packs import PACKS, pack_starts
from kpi_service.demo.people import Window
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.measurements.schemas import RecalculateRequest
from kpi_service.packs.registry import PACKS as REGISTRY

WEEKS = 8
DAYS = 14
PILOT = "revenue_daily"  # the pilot team's daily KPI, over the whole events window


def _kinds(specs: Iterable[Mapping[str, Any]]) -> dict[PeriodKind, list[str]]:
    by_kind: dict[PeriodKind, list[str]] = {}
    for spec in specs:
        by_kind.setdefault(PeriodKind(spec["aggregation_period"]), []).append(str(spec["key"]))
    return by_kind


def _horizon(kind: PeriodKind, window: Window) -> date:
    """The first day of the recent past a load computes for KPIs of this period kind."""
    if kind is PeriodKind.DAILY:
        return window.last_day - timedelta(days=DAYS - 1)
    if kind is PeriodKind.WEEKLY:
        return window.last_day - timedelta(days=window.last_day.weekday(), weeks=WEEKS)
    return window.events_start


def requests(window: Window) -> list[RecalculateRequest]:
    """The recalculations of a load, in the order the catalogue was installed."""
    plan: list[tuple[date, PeriodKind, list[str]]] = []
    starts = pack_starts(window)
    for name in PACKS:
        pack = REGISTRY.get(name)
        assert pack is not None
        for kind, keys in _kinds(pack.definitions).items():
            plan.append((max(starts[name], _horizon(kind, window)), kind, keys))
    for kind, keys in _kinds(d for d in DEFINITIONS if d["key"] != PILOT).items():
        plan.append((max(window.events_start, _horizon(kind, window)), kind, keys))
    plan.append((window.events_start, PeriodKind.DAILY, [PILOT]))
    return [
        RecalculateRequest(
            period_start=first, period_end=window.last_day, period_kind=kind, definition_keys=keys
        )
        for first, kind, keys in plan
    ]
