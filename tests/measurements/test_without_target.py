"""Measurements of assignments tracked without a target: values, previous values, change and
trend are derived as ever; achievement, score and status are null; a target set (or left
out) from a date re-derives the periods it reaches. Every figure is worked out here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from tests.support.api import (
    MEASUREMENTS,
    assign,
    define,
    event,
    ingest,
    manual_kpi,
    measurements,
    recalculate,
    record,
    retarget,
)
from tests.support.derivation import no_drift
from tests.support.expected import achieved, capped, change_of, status_of, trend_of

MONTHS = ("2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01")
UNJUDGED: dict[str, Any] = {
    "target_value": None,
    "achievement": None,
    "score": None,
    "status": None,
}


def derived(values: list[Decimal], target_type: str) -> list[dict[str, Any]]:
    """Each period's previous value, change and trend from the values in order, unjudged."""
    out = []
    for i, value in enumerate(values):
        previous = values[i - 1] if i else None
        change = change_of(value, previous)
        out.append(
            {
                **UNJUDGED,
                "actual_value": float(value),
                "previous_value": None if previous is None else float(previous),
                "change_pct": None if change is None else float(change),
                "trend": trend_of(value, previous, target_type, Decimal(0)),
            }
        )
    return out


def shown(rows: list[dict[str, Any]], names: Any) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda m: m["period_start"])
    return [{name: m[name] for name in names} for m in ordered]


async def test_manual_values_without_a_target(client: AsyncClient) -> None:
    # Lower is better: 8 -> 6 improves, 6 -> 9 declines.
    kpi = await manual_kpi(client, "handle_time", unit="hours", target_type="lower_better")
    held = await assign(client, kpi["id"], "42", None, start_date=MONTHS[0])
    values = [Decimal(8), Decimal(6), Decimal(9)]
    for month, value in zip(MONTHS, values, strict=False):
        stored = await record(client, held["id"], month, value)
        assert {k: stored[k] for k in UNJUDGED} == UNJUDGED
    expected = derived(values, "lower_better")
    assert [e["trend"] for e in expected] == [None, "improving", "declining"]
    got = await measurements(client, assignment_id=held["id"])
    assert shown(got, expected[0]) == expected


async def test_event_kpi_without_a_target(client: AsyncClient) -> None:
    kpi = await define(
        client,
        "call_minutes",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "sum"},
    )
    held = await assign(client, kpi["id"], "42", None, start_date="2026-01-05")
    minutes = {  # per ISO week (Monday): the calls' values
        "2026-01-05": [Decimal("3.5"), Decimal(4)],
        "2026-01-12": [Decimal(2), Decimal("1.25"), Decimal(1)],
    }
    events = [
        event("call", f"{monday[:8]}{int(monday[8:]) + i:02d}T10:00:00Z", value=float(value))
        for monday, values in minutes.items()
        for i, value in enumerate(values)
    ]
    await ingest(client, events)
    run = await recalculate(client, period_start="2026-01-05", period_end="2026-01-18")
    assert run["status"] == "succeeded", run
    sums = [sum(values, Decimal(0)) for values in minutes.values()]
    expected = derived(sums, "higher_better")
    got = await measurements(client, assignment_id=held["id"])
    assert shown(got, expected[0]) == expected


async def test_a_target_from_a_date_rederives_those_periods(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    kpi = await manual_kpi(client, "deals")
    held = await assign(client, kpi["id"], "42", None, start_date=MONTHS[0])
    values = dict(zip(MONTHS, (Decimal(8), Decimal(12), Decimal(9), Decimal(15)), strict=True))
    for month, value in values.items():
        await record(client, held["id"], month, value)

    def judged(targets: dict[str, Decimal | None]) -> list[dict[str, Any]]:
        out = []
        for month, value in values.items():
            target = targets[month]
            if target is None:
                out.append(UNJUDGED)
                continue
            achievement = achieved(value, target, "higher_better")
            out.append(
                {
                    "target_value": float(target),
                    "achievement": float(achievement),
                    "score": float(capped(achievement)),
                    "status": status_of(achievement),
                }
            )
        return out

    async def stored() -> list[dict[str, Any]]:
        return shown(await measurements(client, assignment_id=held["id"]), UNJUDGED)

    ten, twenty = Decimal(10), Decimal(20)
    await retarget(client, held["id"], ten, "2025-02-01")
    targets: dict[str, Decimal | None] = {MONTHS[0]: None, **dict.fromkeys(MONTHS[1:], ten)}
    assert await stored() == judged(targets)
    # Left out again from April: April loses its judgement, February and March keep theirs.
    await retarget(client, held["id"], None, "2025-04-01")
    targets[MONTHS[3]] = None
    assert await stored() == judged(targets)
    # A target from the start date replaces the first (none): January is judged too.
    await retarget(client, held["id"], twenty, MONTHS[0])
    targets[MONTHS[0]] = twenty
    assert await stored() == judged(targets)

    [february] = [
        m
        for m in await measurements(client, assignment_id=held["id"])
        if m["period_start"] == MONTHS[1]
    ]
    revisions = (await client.get(f"{MEASUREMENTS}/{february['id']}/revisions")).json()["items"]
    assert [(r["target_value"], r["change_reason"]) for r in revisions] == [
        (None, "re-derived: target or baseline changed")
    ]
    assert (await no_drift(db, settings)).clean
