"""GET /metrics/forecast through HTTP: pace, linear trend with prediction intervals, and the
chance of meeting the target, recomputed here in plain Python (the least squares by
`statistics.linear_regression`, Student t by integrating its density)."""

from __future__ import annotations

import functools
import math
import random
import statistics
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define, manual_kpi, record
from tests.support.app import make_settings
from tests.support.auth import ADMIN, bearer
from tests.support.expected import month_end, month_start
from tests.support.problems import assert_problem

FORECAST = "/api/kpis/metrics/forecast"


# --- Student t, independently: Simpson's rule over the density, bisection for quantiles ----


def t_density(x: float, df: int) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def t_cdf(x: float, df: int, steps: int = 20_000) -> float:
    h = x / steps
    total = t_density(0, df) + t_density(x, df)
    total += sum((4 if i % 2 else 2) * t_density(i * h, df) for i in range(1, steps))
    return 0.5 + total * h / 3


@functools.cache
def t_ppf(p: float, df: int) -> float:
    low, high = -1e3, 1e3
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df, 4000) < p else (low, middle)
    return (low + high) / 2


def test_the_independent_t_matches_printed_tables() -> None:
    assert t_ppf(0.975, 3) == pytest.approx(3.182, abs=5e-4)
    assert t_ppf(0.9, 5) == pytest.approx(1.476, abs=5e-4)
    assert t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-9)  # Cauchy: 1/2 + atan(1) / pi


# --- plain-Python model -------------------------------------------------------------------


class Model:
    """OLS on (x, y) with what a prediction at x needs, from the hand formulas."""

    def __init__(self, points: list[tuple[int, float]]) -> None:
        xs, ys = [float(x) for x, _ in points], [y for _, y in points]
        fit = statistics.linear_regression(xs, ys)
        self.slope, self.intercept, self.n = fit.slope, fit.intercept, len(xs)
        self.x_mean = statistics.fmean(xs)
        self.sxx = sum((x - self.x_mean) ** 2 for x in xs)
        residuals = [y - self.intercept - self.slope * x for x, y in points]
        self.s = math.sqrt(sum(r * r for r in residuals) / (self.n - 2))

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x

    def se(self, x: float) -> float:
        return self.s * math.sqrt(1 + 1 / self.n + (x - self.x_mean) ** 2 / self.sxx)

    def interval(self, x: float, level: float) -> tuple[float, float]:
        half = t_ppf((1 + level) / 2, self.n - 2) * self.se(x)
        return self.predict(x) - half, self.predict(x) + half

    def p_at_least(self, x: float, target: float) -> float:
        return 1 - t_cdf((target - self.predict(x)) / self.se(x), self.n - 2)


def verdict(p: float) -> str:
    return "likely" if p >= 0.75 else "unlikely" if p < 0.25 else "uncertain"


# --- API shortcuts ------------------------------------------------------------------------


async def forecast(
    client: AsyncClient,
    headers: dict[str, str] | None = None,
    zone: ZoneInfo = ZoneInfo("UTC"),
    **params: Any,
) -> dict[str, Any]:
    """The forecast, asked until the organisation's day did not change meanwhile."""
    for _ in range(3):
        before = datetime.now(zone).date()
        response = await client.get(
            FORECAST, headers=headers, params={k: v for k, v in params.items() if v is not None}
        )
        assert response.status_code == 200, response.text
        if datetime.now(zone).date() == before:
            break
    body: dict[str, Any] = response.json()
    assert body["today"] == before.isoformat()
    return body


def elapsed(start: date, end: date, at: datetime, zone: ZoneInfo = ZoneInfo("UTC")) -> float:
    """The share of [start 00:00, end + 1 day 00:00) in the zone before `at`."""
    begin = datetime(start.year, start.month, start.day, tzinfo=zone)
    after = end + timedelta(days=1)
    finish = datetime(after.year, after.month, after.day, tzinfo=zone)
    return (at - begin) / (finish - begin)


# --- the cases ----------------------------------------------------------------------------


async def test_a_monthly_sum_kpi_with_pace_trend_and_outlook(
    client: AsyncClient, db: Database
) -> None:
    today = datetime.now(UTC).date()
    current = month_start(today)
    history, horizon = 8, 4
    first = month_start(today, history)
    definition = await define(client, key="revenue", unit="currency", aggregation_period="monthly")
    held = await assign(client, definition["id"], "7", 190, start_date=first.isoformat())
    rng = random.Random(42)
    points = []
    for x in range(history):
        if x == 2:
            continue  # a month without a value: left out, its x kept
        value = round(100 + 9.5 * x + rng.uniform(-12, 12), 2)
        await record(client, held["id"], month_start(today, history - x), value)
        points.append((x, value))
    now_value = 61.25
    stored = await record(client, held["id"], current, now_value)
    assert stored["is_final"] is False

    body = await forecast(
        client, definition_key="revenue", subject_id="7", history=history, horizon=horizon
    )
    assert (body["source"], body["current_period_start"]) == ("own", current.isoformat())
    # Pace: a sum scales the value so far by the share of the month elapsed when it was taken.
    share = elapsed(current, month_end(current), datetime.fromisoformat(stored["calculated_at"]))
    pace = body["pace"]
    assert pace["value"] == now_value and body["pace_reason"] is None
    assert pace["elapsed_fraction"] == pytest.approx(share, abs=1e-6)
    assert pace["projected"] == pytest.approx(now_value / share, rel=1e-6)
    assert pace["target"] == 190
    assert pace["achievement"] == pytest.approx(now_value / share / 190 * 100, rel=1e-6)

    model = Model(points)
    trend = body["trend"]
    assert trend["window_start"] == first.isoformat() and trend["periods_used"] == 7
    assert trend["slope"] == pytest.approx(model.slope, abs=1e-6)
    assert trend["intercept"] == pytest.approx(model.intercept, abs=1e-6)
    assert trend["residual_se"] == pytest.approx(model.s, abs=1e-6)
    assert [p["period_start"] for p in body["projections"]] == [
        month_start(today, -k).isoformat() for k in range(horizon)
    ]
    for k, projection in enumerate(body["projections"]):
        x = history + k
        assert projection["value"] == pytest.approx(model.predict(x), abs=1e-6)
        for level, name in ((0.8, "80"), (0.95, "95")):
            low, high = model.interval(x, level)
            assert projection[f"lower_{name}"] == pytest.approx(low, abs=1e-5)
            assert projection[f"upper_{name}"] == pytest.approx(high, abs=1e-5)
    outlook = body["outlook"]
    p = model.p_at_least(history, 190)
    assert outlook["target"] == 190
    assert outlook["expected"] == pytest.approx(model.predict(history), abs=1e-6)
    assert outlook["probability"] == pytest.approx(p, abs=1e-6)
    assert outlook["verdict"] == verdict(p)


async def test_pace_counts_the_month_in_the_organisations_time_zone(
    db: Database, database_url: str
) -> None:
    zone = ZoneInfo("Pacific/Auckland")  # 13 hours ahead of UTC in November
    app = create_app(make_settings(database_url, timezone=zone.key), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        today = datetime.now(zone).date()
        current = month_start(today)
        definition = await define(
            client, key="sales", unit="currency", aggregation_period="monthly"
        )
        held = await assign(
            client, definition["id"], "7", 1000, start_date=month_start(today, 3).isoformat()
        )
        for back, value in ((3, 700), (2, 820), (1, 930)):
            await record(client, held["id"], month_start(today, back), value)
        stored = await record(client, held["id"], current, 250)
        body = await forecast(client, zone=zone, definition_key="sales", subject_id="7", history=3)
    assert body["current_period_start"] == current.isoformat()
    share = elapsed(
        current, month_end(current), datetime.fromisoformat(stored["calculated_at"]), zone
    )
    assert body["pace"]["elapsed_fraction"] == pytest.approx(share, abs=1e-6)
    assert body["pace"]["projected"] == pytest.approx(250 / share, rel=1e-6)
    model = Model([(0, 700.0), (1, 820.0), (2, 930.0)])
    assert body["outlook"]["probability"] == pytest.approx(model.p_at_least(3, 1000), abs=1e-6)


async def test_not_enough_history_no_pace_and_the_target_in_force(
    client: AsyncClient, db: Database
) -> None:
    today = datetime.now(UTC).date()
    definition = await define(client, key="deals", aggregation_period="monthly")
    held = await assign(
        client, definition["id"], "7", 10, start_date=month_start(today, 24).isoformat()
    )
    changed = await client.patch(
        f"/api/kpis/assignments/{held['id']}",
        json={"target_value": 14, "target_effective_from": month_start(today).isoformat()},
    )
    assert changed.status_code == 200, changed.text
    await record(client, held["id"], month_start(today, 1), 9)
    await record(client, held["id"], month_start(today, 5), 8)
    await record(client, held["id"], month_start(today, 13), 7)  # outside the 12-month window
    body = await forecast(client, definition_key="deals", subject_id="7")
    assert body["pace"] is None and "no value" in body["pace_reason"]
    assert body["trend"] is None and body["projections"] == []
    assert body["trend_reason"] == (
        "not enough history: 2 of the last 12 ended periods have a value; at least 3 are needed"
    )
    assert body["outlook"] == {
        "period_start": month_start(today).isoformat(),
        "period_end": month_end(month_start(today)).isoformat(),
        "target": 14,
        "expected": None,
        "probability": None,
        "verdict": "not_enough_history",
    }
    longer = await forecast(client, definition_key="deals", subject_id="7", history=14)
    assert longer["trend"]["periods_used"] == 3 and len(longer["projections"]) == 3
    nothing = await forecast(client, definition_key="deals", subject_id="8")
    assert nothing["source"] == "none" and nothing["outlook"]["verdict"] == "no_target"


async def test_an_average_lower_better_kpi_paces_at_its_value(
    client: AsyncClient, db: Database
) -> None:
    today = datetime.now(UTC).date()
    definition = await define(
        client,
        key="handle_time",
        unit="hours",
        target_type="lower_better",
        aggregation_period="monthly",
    )
    assert definition["rollup"] == "avg"
    held = await assign(
        client, definition["id"], "7", 5, start_date=month_start(today, 6).isoformat()
    )
    values = [7.5, 7.1, 6.0, 6.4, 5.2, 5.5]
    for back, value in zip(range(6, 0, -1), values, strict=True):
        await record(client, held["id"], month_start(today, back), value)
    await record(client, held["id"], month_start(today), 4.0)
    body = await forecast(
        client, definition_key="handle_time", subject_id="7", history=6, horizon=1
    )
    assert body["pace"]["projected"] == 4.0  # an average is not scaled
    assert body["pace"]["achievement"] == pytest.approx(125.0) and body["pace"]["status"] == "met"
    model = Model(list(enumerate(values)))
    # Lower is better: met when the value is at most the target.
    p = 1 - model.p_at_least(6, 5)
    assert body["outlook"]["probability"] == pytest.approx(p, abs=1e-6)
    assert body["outlook"]["verdict"] == verdict(p)


async def test_points_on_a_line_give_certain_verdicts(client: AsyncClient, db: Database) -> None:
    today = datetime.now(UTC).date()
    for key, target_type, target, wanted in (
        ("up", "higher_better", 60, "likely"),
        ("up_far", "higher_better", 61, "unlikely"),
        ("level", "exact", 60, "likely"),
        ("level_off", "exact", 80, "unlikely"),
    ):
        definition = await define(
            client, key=key, target_type=target_type, aggregation_period="monthly"
        )
        held = await assign(
            client, definition["id"], "7", target, start_date=month_start(today, 4).isoformat()
        )
        for x in range(4):  # 20, 30, 40, 50: the next month is 60 exactly
            await record(client, held["id"], month_start(today, 4 - x), 20 + 10 * x)
        body = await forecast(client, definition_key=key, subject_id="7", history=4, horizon=2)
        assert body["trend"]["residual_se"] == 0 and body["trend"]["slope"] == 10
        assert [
            (p["value"], p["lower_95"], p["upper_95"], p["lower_80"]) for p in body["projections"]
        ] == [(60, 60, 60, 60), (70, 70, 70, 70)]
        # Exact 80 +- 20% of 80 = [64, 96] misses 60; exact 60 lands on it.
        assert body["outlook"]["verdict"] == wanted, key
        assert body["outlook"]["probability"] == (1 if wanted == "likely" else 0)


async def test_a_team_forecast_from_its_members(client: AsyncClient, db: Database) -> None:
    today = datetime.now(UTC).date()
    definition = await define(client, key="calls", aggregation_period="monthly")
    team_values: dict[int, float] = {}
    for user, target, scale in (("u1", 10, 1.0), ("u2", 20, 2.0), ("u3", 5, 0.5)):
        held = await assign(
            client,
            definition["id"],
            user,
            target,
            team_id="A",
            start_date=month_start(today, 5).isoformat(),
        )
        for x in range(5):
            if user == "u3" and x == 1:
                continue
            value = round(scale * (10 + 3 * x + (x % 2)), 2)
            await record(client, held["id"], month_start(today, 5 - x), value)
            team_values[x] = team_values.get(x, 0) + value
    body = await forecast(
        client, definition_key="calls", subject_type="team", subject_id="A", history=5, horizon=2
    )
    assert (body["source"], body["members"]) == ("members", 3)
    model = Model(sorted(team_values.items()))
    assert body["trend"]["slope"] == pytest.approx(model.slope, abs=1e-6)
    assert body["projections"][1]["upper_95"] == pytest.approx(model.interval(6, 0.95)[1], abs=1e-5)
    # No member has a value this month: the target is the members' targets in force, summed.
    assert body["outlook"]["target"] == 35 and body["pace"] is None
    assert body["outlook"]["probability"] == pytest.approx(model.p_at_least(5, 35), abs=1e-6)


async def test_refusals_and_access(jwt_client: AsyncClient, db: Database) -> None:
    c = jwt_client
    d = await manual_kpi(c, "calls", headers=ADMIN)
    for user, team in (("42", "t1"), ("43", "t1")):
        await assign(c, d["id"], user, headers=ADMIN, team_id=team, start_date="2025-01-01")
    member = bearer("42", "member")
    assert (await forecast(c, member, definition_key="calls"))["subject_id"] == "42"
    manager = bearer("m", "manager", teams=["t1"])
    assert (
        await forecast(c, manager, definition_key="calls", subject_type="team", subject_id="t1")
    )["members"] == 2
    cases: list[tuple[dict[str, str], dict[str, str | int], int]] = [
        (member, {"subject_id": "43"}, 404),
        (member, {"subject_type": "team", "subject_id": "t1"}, 404),
        (member, {"subject_type": "organization"}, 403),
        (bearer("x", "manager", teams=["t2"]), {"subject_id": "42"}, 404),
        (bearer("boss", "admin", tenant="acme"), {"subject_id": "42"}, 404),
        (ADMIN, {"history": 2}, 422),
        (ADMIN, {"history": 731}, 422),
        (ADMIN, {"horizon": 0}, 422),
        (ADMIN, {"horizon": 25}, 422),
        (ADMIN, {"horizon": "two"}, 422),
        (ADMIN, {"grain": "weekly"}, 422),
        (ADMIN, {"definition_key": "nope"}, 404),
        (ADMIN, {"key": "calls"}, 422),
        (ADMIN, {"subject_type": "team"}, 422),
    ]
    for headers, params, status in cases:
        response = await c.get(
            FORECAST, headers=headers, params={"definition_key": "calls", **params}
        )
        assert_problem(response, status, params)
