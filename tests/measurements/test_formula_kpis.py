"""Formula KPIs: evaluated after the KPIs they use, per subject, checked by hand."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import (
    assign,
    assign_in_bulk,
    assignment_body,
    define,
    event,
    ingest,
    measurements,
    recalculate,
    record,
)
from tests.support.database import create_support_cases

WEEK = "2026-11-09"


async def test_formula_uses_this_periods_values_and_explains_missing_ones(
    client: AsyncClient, db: Database
) -> None:
    resolved = await define(client, key="resolved")
    hours = await define(client, key="hours_worked", unit="hours")
    rate = await define(
        client,
        key="resolved_per_hour",
        calculation_type="formula",
        config={
            "expression": "round(resolved / hours * 100, 1)",
            "variables": {"resolved": "resolved", "hours": "hours_worked"},
        },
    )
    users = {"1": (30, 40), "2": (10, 0), "3": (5, None)}
    for user, (r, h) in users.items():
        held = await assign(client, resolved["id"], user, 1, start_date="2026-11-01")
        await record(client, held["id"], WEEK, r)
        if h is not None:
            held = await assign(client, hours["id"], user, 1, start_date="2026-11-01")
            await record(client, held["id"], WEEK, h)
        await assign(client, rate["id"], user, 50, start_date="2026-11-01")
    run = await recalculate(client, period_start=WEEK, definition_keys=["resolved_per_hour"])
    assert run["status"] == "succeeded", run
    got = {m["subject_id"]: m for m in await measurements(client, definition_key=rate["key"])}
    assert got["1"]["actual_value"] == pytest.approx(75.0)  # round(30 / 40 * 100, 1)
    assert got["1"]["achievement"] == pytest.approx(150.0)  # 75 / 50
    assert got["2"]["actual_value"] is None
    assert "division by zero" in got["2"]["details"]["no_value_reason"]
    assert got["3"]["actual_value"] is None
    assert "hours" in got["3"]["details"]["no_value_reason"]


async def test_loops_between_formulas_are_refused(client: AsyncClient, db: Database) -> None:
    await define(client, key="base")
    await define(
        client,
        key="f_a",
        calculation_type="formula",
        config={"expression": "b * 2", "variables": {"b": "base"}},
    )
    f_b = await define(
        client,
        key="f_b",
        calculation_type="formula",
        config={"expression": "a + 1", "variables": {"a": "f_a"}},
    )
    response = await client.patch(
        f"/api/kpis/definitions/{f_b['id']}",
        json={"config": {"expression": "a + b", "variables": {"a": "f_a", "b": "f_b"}}},
    )
    assert response.status_code == 422
    assert "loop" in response.json()["detail"] or "itself" in response.json()["detail"]
    mismatch = await client.post(
        "/api/kpis/definitions",
        json={
            "key": "monthly_f",
            "name": "M",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "monthly",
            "calculation_type": "formula",
            "config": {"expression": "b", "variables": {"b": "base"}},
        },
    )
    assert mismatch.status_code == 422 and "period" in mismatch.json()["detail"]


async def test_a_run_computes_inputs_before_the_formula(client: AsyncClient, db: Database) -> None:
    await define(
        client,
        key="zz_source",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    f = await define(
        client,
        key="aa_double",
        calculation_type="formula",
        config={"expression": "n * 2", "variables": {"n": "zz_source"}},
    )
    source = (await client.get("/api/kpis/definitions/by-key/zz_source")).json()
    await assign(client, source["id"], "1", 1, start_date="2026-11-01")
    await assign(client, f["id"], "1", 1, start_date="2026-11-01")
    events = [
        event("call", f"2026-11-1{i}T12:00:00Z", "1", id=f"00000000-0000-4000-8000-00000000000{i}")
        for i in range(3)
    ]
    await ingest(client, events)
    run = await recalculate(client, period_start=WEEK)
    assert run["computed"] == 2
    got = {m["definition_key"]: m["actual_value"] for m in await measurements(client)}
    # 3 calls (10th, 11th, 12th): the formula, though its key sorts first, sees them
    assert got == {"zz_source": 3, "aa_double": 6}


@pytest.mark.parametrize("seed", [7, 2026])
async def test_formulas_over_computed_kpis_match_a_plain_python_recomputation(
    client: AsyncClient, db: Database, seed: int
) -> None:
    """Random cases and calls (unknown to the test's expectations until drawn), a query KPI
    and an event KPI computed from them, and two formulas over those."""
    rng = random.Random(seed)
    users = [str(u) for u in range(1, 21)]
    monday = datetime(2026, 11, 9, tzinfo=UTC)
    cases, calls = [], []
    for user in users:
        for _ in range(rng.randint(0, 6)):
            created = monday + timedelta(minutes=rng.randint(-3000, 10000))
            cases.append(
                (int(user), "resolved", created, created + timedelta(minutes=rng.randint(1, 3000)))
            )
        for _ in range(rng.randint(0, 5)):
            calls.append(
                event(
                    id=uuid.UUID(int=rng.getrandbits(128)),
                    user_id=user,
                    event_type="call",
                    occurred_at=monday + timedelta(minutes=rng.randint(-2000, 12000)),
                )
            )
    await create_support_cases(db, cases)
    if calls:
        await ingest(client, calls)
    in_week = monday + timedelta(days=7)
    resolved = {
        u: sum(1 for a, _, _, r in cases if str(a) == u and monday <= r < in_week) for u in users
    }
    called = {
        u: sum(
            1
            for c in calls
            if c["user_id"] == u and monday <= datetime.fromisoformat(c["occurred_at"]) < in_week
        )
        for u in users
    }

    keys = {
        "resolved": await define(
            client,
            key="resolved",
            calculation_type="query",
            config={"query_key": "cases_resolved_count"},
        ),
        "calls": await define(
            client,
            key="calls",
            calculation_type="event",
            config={"event_type": "call", "aggregate": "count"},
        ),
    }
    keys["per_call"] = await define(
        client,
        key="per_call",
        calculation_type="formula",
        config={
            "expression": "round(r / c * 100, 2)",
            "variables": {"r": "resolved", "c": "calls"},
        },
    )
    keys["blend"] = await define(
        client,
        key="blend",
        calculation_type="formula",
        config={
            "expression": "max(r - c, 0) + min(r, c) / 3 if c > 0 else r * 2",
            "variables": {"r": "resolved", "c": "calls"},
        },
    )
    for d in keys.values():
        await assign_in_bulk(
            client,
            [assignment_body(d["id"], u, target_value=3, start_date="2026-11-01") for u in users],
        )
    run = await recalculate(client, period_start=WEEK)
    assert run["status"] == "succeeded", run

    def per_call(r: int, c: int) -> Decimal | None:
        if c == 0:
            return None
        return (Decimal(r) * 100 / Decimal(c)).quantize(Decimal("0.01"), ROUND_HALF_UP)

    def blend(r: int, c: int) -> Fraction:
        return (
            max(Fraction(r - c), Fraction(0)) + Fraction(min(r, c), 3) if c > 0 else Fraction(r * 2)
        )

    got = {
        (m["definition_key"], m["subject_id"]): m["actual_value"]
        for m in await measurements(client)
    }
    for u in users:
        assert got[("resolved", u)] == resolved[u]
        assert got[("calls", u)] == called[u]
        expected = per_call(resolved[u], called[u])
        assert got[("per_call", u)] == (None if expected is None else float(expected)), u
        assert got[("blend", u)] == pytest.approx(float(blend(resolved[u], called[u])), abs=1e-6), u


async def test_a_formula_stored_before_the_exponent_rule_fails_its_run_for_the_same_reason(
    client: AsyncClient, db: Database
) -> None:
    base = await define(client, key="base")
    power = await define(
        client,
        key="power",
        calculation_type="formula",
        config={"expression": "b ** 2", "variables": {"b": "base"}},
    )
    held = await assign(client, base["id"], "1", 1, start_date="2026-11-01")
    await record(client, held["id"], WEEK, 3)
    await assign(client, power["id"], "1", 1, start_date="2026-11-01")
    # As a definition saved by an older version: the exponent is a variable.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE kpi.definitions SET config = CAST(:config AS jsonb) WHERE key = 'power'"),
            {"config": '{"expression": "b ** b", "variables": {"b": "base"}}'},
        )
    run = await recalculate(client, period_start=WEEK, definition_keys=["power"])
    assert (run["status"], run["computed"], run["failed"]) == ("failed", 0, 1), run
    reason = "the exponent in b ** b must be a constant from -10 to 10, without variables"
    assert any(reason in str(error) for error in run["errors"]), run["errors"]
    assert await measurements(client, definition_key="power") == []
