"""A time series worked out again in plain Python (buckets, rollups, points, summary), and
the API calls the time-series tests share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.expected import achieved, q, status_of

TS = "/api/kpis/metrics/timeseries"

Values = dict[date, Decimal]


def combine(values: dict[date, Decimal], rollup: str) -> Decimal:
    """Values of several periods (by start day) combined as the KPI's rollup says."""
    ordered = [values[d] for d in sorted(values)]
    with localcontext() as ctx:
        ctx.prec = 50
        if rollup == "sum":
            return sum(ordered, Decimal(0))
        if rollup == "avg":
            return sum(ordered, Decimal(0)) / len(ordered)
        if rollup == "last":
            return ordered[-1]
        return min(ordered) if rollup == "min" else max(ordered)


def bucket_start(day: date, grain: str) -> date:
    if grain == "daily":
        return day
    if grain == "weekly":
        return day - timedelta(days=day.weekday())
    if grain == "monthly":
        return day.replace(day=1)
    if grain == "quarterly":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def bucket_end(start: date, grain: str) -> date:
    if grain == "daily":
        return start
    if grain == "weekly":
        return start + timedelta(days=6)
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[grain]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def buckets(first: date, last: date, grain: str) -> list[tuple[date, date]]:
    out = [(bucket_start(first, grain), bucket_end(bucket_start(first, grain), grain))]
    while out[-1][1] < last:
        start = out[-1][1] + timedelta(days=1)
        out.append((start, bucket_end(start, grain)))
    return out


def expected_points(
    values: Values,
    targets: Callable[[date], Decimal],
    rollup: str,
    target_type: str,
    first: date,
    last: date,
    grain: str,
    native: str = "daily",
) -> list[dict[str, Any]]:
    """The points of a series of native periods (start day -> value), by bucket of grain.
    Weekly values go to the month (quarter, year) of their Thursday."""

    def anchor(start: date) -> date:
        return start + timedelta(days=3) if native == "weekly" and grain != "weekly" else start

    def native_end(start: date) -> date:
        return bucket_end(start, native)

    points = []
    for start, end in buckets(first, last, grain):
        # Every native period whose anchor falls in the bucket: walk days from a week before.
        natives = sorted(
            {
                bucket_start(start - timedelta(days=6) + timedelta(days=i), native)
                for i in range((end - start).days + 7)
            }
        )
        natives = [n for n in natives if start <= anchor(n) <= end]
        in_range = [n for n in natives if n <= last and native_end(n) >= first]
        measured = {n: values[n] for n in in_range if n in values}
        value = target = achievement = status = None
        if measured:
            value = q(combine(measured, rollup))
            target = q(combine({n: targets(native_end(n)) for n in measured}, rollup))
            achievement = achieved(value, target, target_type)
            status = status_of(achievement)
        points.append(
            {
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "value": value,
                "target": target,
                "achievement": achievement,
                "status": status,
                "periods_expected": len(natives),
                "periods_in_range": len(in_range),
                "periods_measured": len(measured),
                "complete": len(measured) == len(natives),
            }
        )
    return points


def assert_points(served: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(p["period_start"], p["period_end"]) for p in served] == [
        (p["period_start"], p["period_end"]) for p in expected
    ]
    for got, want in zip(served, expected, strict=True):
        for name, value in want.items():
            if isinstance(value, Decimal):
                assert got[name] == pytest.approx(float(value), abs=1e-6), (got, name, value)
            else:
                assert got[name] == value, (got, name, value)


def summary_of(points: list[dict[str, Any]], target_type: str) -> dict[str, Any]:
    valued = [p for p in points if p["value"] is not None]
    if not valued:
        return {"latest": None, "best": None, "change": None}
    first, latest = valued[0], valued[-1]
    highest = max(valued, key=lambda p: p["value"])  # max() keeps the first of ties
    lowest = min(valued, key=lambda p: p["value"])
    if target_type == "higher_better":
        best = highest
    elif target_type == "lower_better":
        best = lowest
    else:
        best = max(valued, key=lambda p: p["achievement"])
    before = points[points.index(latest) - 1] if points.index(latest) > 0 else None
    return {
        "points_with_value": len(valued),
        "latest": latest["period_start"],
        "minimum": lowest["period_start"],
        "maximum": highest["period_start"],
        "best": best["period_start"],
        "change": latest["value"] - first["value"],
        "change_pct": None
        if first["value"] == 0
        else q((latest["value"] - first["value"]) / abs(first["value"]) * 100),
        "change_from_previous_pct": None
        if before is None or not before["value"]
        else q((latest["value"] - before["value"]) / abs(before["value"]) * 100),
    }


def assert_summary(served: dict[str, Any], points: list[dict[str, Any]], target_type: str) -> None:
    want = summary_of(points, target_type)
    if want["latest"] is None:
        assert served["latest"] is None and served["best"] is None and served["change"] is None
        return
    for name in ("latest", "minimum", "maximum", "best"):
        assert served[name]["period_start"] == want[name], name
    assert served["points_with_value"] == want["points_with_value"]
    for name in ("change", "change_pct", "change_from_previous_pct"):
        if want[name] is None:
            assert served[name] is None, name
        else:
            assert served[name] == pytest.approx(float(want[name]), abs=1e-6), name


async def series(
    client: AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        TS,
        headers=headers,
        params={
            k: v.isoformat() if isinstance(v, date) else v
            for k, v in params.items()
            if v is not None
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
