"""The invariant: stored figures derived from values follow every change they depend on.

Each path that changes a dependency (a value recorded out of order, a late event
recalculated into an earlier period, an effective-dated target, a definition's threshold,
cap or target type, a period ending) is checked against a plain-Python recomputation, and a
seeded random sequence of all of them leaves no drift.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.runs.background import BackgroundRuns
from kpi_service.runs.execution import RunHooks
from kpi_service.scheduler.service import Scheduler
from tests.support.api import assign, define, event, ingest, measurements, recalculate, record
from tests.support.derivation import no_drift
from tests.support.expected import month_end, month_start, q, status_of, trend_of

# --- plain-Python recomputation (independent of the service's code) ---------------------


def _achievement(actual: Decimal, target: Decimal, kind: str, baseline: Decimal | None) -> Decimal:
    """For positive targets and values only, as the tests use."""
    if baseline is not None:
        if target == baseline:
            met = actual >= target if kind == "higher_better" else actual <= target
            return Decimal(100) if met else Decimal(0)
        return q(max(Decimal(0), (actual - baseline) / (target - baseline) * 100))
    if kind == "higher_better":
        return q(actual / target * 100)
    if kind == "lower_better":
        return Decimal(100) if actual <= 0 else q(target / actual * 100)
    return q(max(Decimal(0), 100 - abs(actual - target) / abs(target) * 100))


def expected(
    actual: Decimal,
    previous: Decimal | None,
    target: Decimal,
    kind: str,
    threshold: Decimal,
    cap: Decimal,
    baseline: Decimal | None = None,
) -> dict[str, Any]:
    achievement = _achievement(actual, target, kind, baseline)
    change = (
        None if previous is None or previous == 0 else q((actual - previous) / abs(previous) * 100)
    )
    return {
        "target_value": float(target),
        "achievement": float(achievement),
        "score": float(q(max(Decimal(0), min(achievement, cap)))),
        "status": status_of(achievement, threshold),
        "previous_value": None if previous is None else float(previous),
        "change_pct": None if change is None else float(change),
        "trend": trend_of(actual, previous, kind, target),
    }


def derived(m: dict[str, Any]) -> dict[str, Any]:
    return {
        k: m[k]
        for k in (
            "target_value",
            "achievement",
            "score",
            "status",
            "previous_value",
            "change_pct",
            "trend",
        )
    }


def months(year: int) -> list[date]:
    return [date(year, n, 1) for n in range(1, 13)]


async def by_period(client: AsyncClient, **params: Any) -> dict[str, dict[str, Any]]:
    return {m["period_start"]: m for m in await measurements(client, **params)}


async def revisions(client: AsyncClient, measurement_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/kpis/measurements/{measurement_id}/revisions")
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


async def manual_kpi(client: AsyncClient, key: str = "csat", **fields: Any) -> dict[str, Any]:
    return await define(client, key=key, aggregation_period="monthly", **fields)


# --- each dependency path -----------------------------------------------------------------


async def test_values_recorded_out_of_order_complete_the_later_comparison(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    d = await manual_kpi(client)
    a = await assign(client, d["id"], "7", 100, start_date="2025-01-01")
    november = await record(client, a["id"], "2025-11-01", 90)
    assert (november["previous_value"], november["change_pct"], november["trend"]) == (
        None,
        None,
        None,
    )

    await record(client, a["id"], "2025-10-01", 75)
    got = await by_period(client)
    assert derived(got["2025-11-01"]) == expected(
        Decimal(90), Decimal(75), Decimal(100), "higher_better", Decimal(80), Decimal(150)
    )
    assert got["2025-11-01"]["change_pct"] == 20.0  # (90 - 75) / 75
    assert got["2025-11-01"]["revision"] == 2
    [kept] = await revisions(client, november["id"])
    assert (kept["revision"], kept["change_reason"]) == (1, "re-derived: previous period changed")

    # A correction of October moves November's comparison again; December is untouched.
    await record(client, a["id"], "2025-12-01", 100)
    await record(client, a["id"], "2025-10-01", 120)
    got = await by_period(client)
    assert derived(got["2025-11-01"]) == expected(
        Decimal(90), Decimal(120), Decimal(100), "higher_better", Decimal(80), Decimal(150)
    )
    assert got["2025-11-01"]["trend"] == "declining"
    assert got["2025-12-01"]["previous_value"] == 90 and got["2025-12-01"]["revision"] == 1
    assert (await no_drift(db, settings)).clean


async def test_a_late_event_recalculated_into_september_moves_octobers_change(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    d = await define(
        client,
        key="calls",
        aggregation_period="monthly",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    await assign(client, d["id"], "7", 50, start_date="2025-01-01")

    async def calls(day: date, count: int) -> None:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        await ingest(client, [event("call", noon, "7") for _ in range(count)])

    await calls(date(2025, 9, 10), 51)
    await calls(date(2025, 10, 10), 60)
    await recalculate(client, period_start="2025-09-01", period_end="2025-10-31")
    october = (await by_period(client))["2025-10-01"]
    assert (october["previous_value"], october["change_pct"]) == (
        51,
        pytest.approx(float(q(Decimal(9) / 51 * 100))),
    )

    await calls(date(2025, 9, 30), 1)  # arrives late
    await recalculate(client, period_start="2025-09-01")  # September only
    got = await by_period(client)
    assert got["2025-09-01"]["actual_value"] == 52
    assert derived(got["2025-10-01"]) == expected(
        Decimal(60), Decimal(52), Decimal(50), "higher_better", Decimal(80), Decimal(150)
    )
    [kept] = await revisions(client, october["id"])
    assert kept["change_reason"] == "re-derived: previous period changed"
    assert (await no_drift(db, settings)).clean


async def test_an_earlier_dated_target_rederives_the_periods_it_covers_only(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    d = await manual_kpi(client)
    a = await assign(client, d["id"], "7", 100, start_date="2025-01-01")
    values = {m: Decimal(60 + 5 * i) for i, m in enumerate(months(2025)[:6])}
    for month, value in values.items():
        await record(client, a["id"], month, float(value))
    before = await by_period(client)

    patch = await client.patch(
        f"/api/kpis/assignments/{a['id']}",
        json={"target_value": 70, "target_effective_from": "2025-04-01"},
    )
    assert patch.status_code == 200, patch.text
    got = await by_period(client)
    previous = None
    for month, value in values.items():
        target = Decimal(70) if month >= date(2025, 4, 1) else Decimal(100)
        assert derived(got[month.isoformat()]) == expected(
            value, previous, target, "higher_better", Decimal(80), Decimal(150)
        ), month
        previous = value
    for start in ("2025-01-01", "2025-02-01", "2025-03-01"):
        assert got[start] == before[start]  # not even a new revision
    for start in ("2025-04-01", "2025-05-01", "2025-06-01"):
        assert got[start]["revision"] == before[start]["revision"] + 1
        [kept] = await revisions(client, got[start]["id"])
        assert (kept["target_value"], kept["change_reason"]) == (
            100,
            "re-derived: target or baseline changed",
        )

    # A baseline re-derives every period of the assignment.
    patch = await client.patch(f"/api/kpis/assignments/{a['id']}", json={"baseline_value": 50})
    assert patch.status_code == 200, patch.text
    got = await by_period(client)
    assert got["2025-02-01"]["achievement"] == pytest.approx(
        float(q((Decimal(65) - 50) / (100 - 50) * 100))
    )
    assert got["2025-05-01"]["achievement"] == pytest.approx(
        float(q((Decimal(80) - 50) / (70 - 50) * 100))
    )
    assert (await no_drift(db, settings)).clean


@pytest.mark.parametrize(
    ("change", "kind", "threshold", "cap"),
    [
        ({"warning_threshold": 95}, "higher_better", Decimal(95), Decimal(150)),
        ({"score_cap": 110}, "higher_better", Decimal(80), Decimal(110)),
        ({"target_type": "lower_better"}, "lower_better", Decimal(80), Decimal(150)),
        ({"target_type": "exact"}, "exact", Decimal(80), Decimal(150)),
    ],
)
async def test_a_definition_change_rederives_all_its_measurements(
    client: AsyncClient,
    db: Database,
    settings: Settings,
    change: dict[str, Any],
    kind: str,
    threshold: Decimal,
    cap: Decimal,
) -> None:
    d = await manual_kpi(client)
    other = await manual_kpi(client, key="other")
    a = await assign(client, d["id"], "7", 100, start_date="2025-01-01")
    b = await assign(client, d["id"], "8", 80, start_date="2025-01-01")
    untouched = await assign(client, other["id"], "7", 100, start_date="2025-01-01")
    values = {"7": [90, 130, 85], "8": [60, 79, 120]}
    for assignment, subject in ((a, "7"), (b, "8")):
        for month, value in zip(months(2025), values[subject], strict=False):
            await record(client, assignment["id"], month, value)
    await record(client, untouched["id"], "2025-01-01", 90)

    patch = await client.patch(f"/api/kpis/definitions/{d['id']}", json=change)
    assert patch.status_code == 200, patch.text
    for subject, target in (("7", Decimal(100)), ("8", Decimal(80))):
        got = await by_period(client, user_id=subject, definition_key="csat")
        previous = None
        for month, value in zip(months(2025), values[subject], strict=False):
            m = got[month.isoformat()]
            assert derived(m) == expected(Decimal(value), previous, target, kind, threshold, cap), (
                subject,
                month,
            )
            previous = Decimal(value)
            if m["revision"] > 1:
                kept = await revisions(client, m["id"])
                assert kept[0]["change_reason"] == (
                    "re-derived: target type, threshold or score cap changed"
                )
    # The change did rewrite something (each parameter moves at least one figure here) ...
    assert any(m["revision"] > 1 for m in await measurements(client, definition_key="csat"))
    # ... and nothing of another KPI.
    assert [m["revision"] for m in await measurements(client, definition_key="other")] == [1]
    assert (await no_drift(db, settings)).clean


async def test_periods_that_ended_are_final_on_read_and_stored_by_the_daily_job(
    client: AsyncClient, db: Database, settings: Settings
) -> None:
    d = await manual_kpi(client)
    today = datetime.now(UTC).date()
    a = await assign(client, d["id"], "7", 100, start_date="2025-01-01")
    ended = await record(client, a["id"], "2025-03-01", 90)
    current = await record(client, a["id"], today.replace(day=1), 10)
    assert (ended["is_final"], current["is_final"]) == (True, False)
    # As if March had been written while it was still in progress.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE kpi.measurements SET is_final = false WHERE id = :i"), {"i": ended["id"]}
        )
    found = await no_drift(db, settings)
    assert (found.per_column, found.examples[0]["measurement_id"]) == ({"is_final": 1}, ended["id"])
    read = (await client.get(f"/api/kpis/measurements/{ended['id']}")).json()
    assert read["is_final"] is True  # reads do not wait for the job

    scheduler = Scheduler(lambda: db, settings, BackgroundRuns(lambda: db, settings, RunHooks()))
    scheduler.start()
    try:
        assert scheduler._scheduler is not None
        jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
        assert str(jobs["finalize"].trigger.fields[5]) == "0"  # hour
    finally:
        scheduler.shutdown()
    # The job also runs at start; whichever ran first, one row was changed in all.
    await scheduler.finalize()
    assert (await scheduler.finalize()) == 0
    got = await by_period(client)
    assert got["2025-03-01"]["is_final"] is True and got["2025-03-01"]["revision"] == 2
    assert got[today.replace(day=1).isoformat()]["is_final"] is False
    [kept] = await revisions(client, ended["id"])
    assert kept["change_reason"] == "re-derived: period ended"
    assert (await no_drift(db, settings)).clean


# --- any sequence of operations -----------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_random_sequence_of_changes_leaves_no_drift(
    client: AsyncClient, db: Database, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    year = months(2025)[:8]
    d = await manual_kpi(client)
    state: dict[str, Any] = {"kind": "higher_better", "threshold": Decimal(80), "cap": Decimal(150)}
    subjects: dict[str, dict[str, Any]] = {}
    for subject in ("7", "8"):
        a = await assign(client, d["id"], subject, 100, start_date="2025-01-01")
        subjects[subject] = {
            "a": a,
            "values": {},
            "targets": {date(2025, 1, 1): Decimal(100)},
            "baseline": None,
        }
    for _ in range(45):
        s = subjects[rng.choice(sorted(subjects))]
        op = rng.choice(["value", "value", "value", "target", "baseline", "definition"])
        if op == "value":
            month, value = rng.choice(year), Decimal(rng.randint(1, 200))
            await record(client, s["a"]["id"], month, float(value))
            s["values"][month] = value
        elif op == "target":
            month, target = rng.choice(year), Decimal(rng.randint(20, 150))
            patch = await client.patch(
                f"/api/kpis/assignments/{s['a']['id']}",
                json={"target_value": float(target), "target_effective_from": month.isoformat()},
            )
            assert patch.status_code == 200, patch.text
            s["targets"][month] = target
        elif op == "baseline" and state["kind"] != "exact":
            baseline = rng.choice([None, Decimal(rng.randint(0, 10))])
            patch = await client.patch(
                f"/api/kpis/assignments/{s['a']['id']}",
                json={"baseline_value": None if baseline is None else float(baseline)},
            )
            assert patch.status_code == 200, patch.text
            s["baseline"] = baseline
        elif op == "definition":
            name = rng.choice(["target_type", "warning_threshold", "score_cap"])
            if name == "target_type":
                setting: str | float = rng.choice(["higher_better", "lower_better"])
                state["kind"] = setting
            elif name == "warning_threshold":
                state["threshold"] = Decimal(rng.randint(50, 99))
                setting = float(state["threshold"])
            else:
                state["cap"] = Decimal(rng.randint(100, 200))
                setting = float(state["cap"])
            patch = await client.patch(f"/api/kpis/definitions/{d['id']}", json={name: setting})
            assert patch.status_code == 200, patch.text

    for subject, s in subjects.items():
        got = await by_period(client, user_id=subject)
        assert set(got) == {m.isoformat() for m in s["values"]}, (seed, subject)
        for month, value in s["values"].items():
            target = s["targets"][max(m for m in s["targets"] if m <= month_end(month))]
            previous = s["values"].get(month_start(month, 1))
            baseline = s["baseline"] if state["kind"] != "exact" else None
            assert derived(got[month.isoformat()]) == expected(
                value, previous, target, state["kind"], state["threshold"], state["cap"], baseline
            ), (seed, subject, month)
    found = await no_drift(db, settings)
    assert found.clean and found.checked == sum(len(s["values"]) for s in subjects.values())
