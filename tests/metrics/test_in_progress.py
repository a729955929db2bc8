"""A period still in progress in the standing views, the timeseries and the forecast: marked,
not judged, with its pace (value so far projected to the period's end); ended periods unchanged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from tests.support.api import manual_kpi, record
from tests.support.expected import month_end, month_start, q
from tests.support.metrics import held, ok

# The test settings' organisation time zone is UTC.


def _pace(value: Decimal, calculated_at: str, start: date, end: date) -> float:
    """value x period length / time elapsed when the value was taken, in plain Python."""
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    length = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) - begin
    elapsed = datetime.fromisoformat(calculated_at) - begin
    return float(
        q(
            value
            * Decimal(length // timedelta(microseconds=1))
            / Decimal(elapsed // timedelta(microseconds=1))
        )
    )


async def _month_in_progress(client: AsyncClient) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    start, end = month_start(today), month_end(today)
    previous_start = month_start(today, 1)
    calls = await manual_kpi(client, "calls", unit="count")  # roll-up sum
    ann = await held(client, calls, "ann", 100, start="2020-01-01")
    bob = await held(client, calls, "bob", 100, start="2020-01-01")
    await record(client, ann, previous_start.isoformat(), 90)
    await record(client, bob, previous_start.isoformat(), 120)
    now_ann = await record(client, ann, start.isoformat(), 10)
    now_bob = await record(client, bob, start.isoformat(), 30)
    return {
        "today": today,
        "start": start,
        "end": end,
        "previous": previous_start,
        "ann": now_ann,
        "bob": now_bob,
    }


async def test_scorecard_of_the_month_in_progress_is_marked_and_paced(client: AsyncClient) -> None:
    m = await _month_in_progress(client)
    card = await ok(client, "scorecard", user_id="ann", date=m["today"].isoformat())
    assert card["is_final"] is False
    (kpi,) = card["kpis"]
    # 10 of 100 so far: not judged off track, no -88.9% change against a whole month.
    assert (kpi["value"], kpi["status"], kpi["change_pct"], kpi["trend"]) == (
        10,
        "in_progress",
        None,
        None,
    )
    assert kpi["pace"]["projected"] == _pace(
        Decimal(10), m["ann"]["calculated_at"], m["start"], m["end"]
    )
    assert datetime.fromisoformat(kpi["pace"]["as_of"]) == datetime.fromisoformat(
        m["ann"]["calculated_at"]
    )
    # By default: the latest ended month, judged as usual (90 of 100: at risk).
    ended = await ok(client, "scorecard", user_id="ann")
    assert (ended["period_start"], ended["is_final"]) == (m["previous"].isoformat(), True)
    (kpi,) = ended["kpis"]
    assert (kpi["value"], kpi["status"], kpi["pace"]) == (90, "at_risk", None)


async def test_team_and_leaderboard_of_the_month_in_progress_colour_nothing(
    client: AsyncClient,
) -> None:
    m = await _month_in_progress(client)
    team = await ok(client, "team", team_id="t1", date=m["today"].isoformat())
    assert team["is_final"] is False
    (column,) = team["kpis"]
    assert (column["met"], column["at_risk"], column["off_track"]) == (0, 0, 0)
    cells = {mem["user_id"]: mem["cells"][0] for mem in team["members"]}
    assert {u: c["status"] for u, c in cells.items()} == {
        "ann": "in_progress",
        "bob": "in_progress",
    }
    assert cells["bob"]["pace"]["projected"] == _pace(
        Decimal(30), m["bob"]["calculated_at"], m["start"], m["end"]
    )
    board = await ok(client, "leaderboard", definition_key="calls", date=m["today"].isoformat())
    assert board["is_final"] is False
    assert [(r["user_id"], r["status"]) for r in board["items"]] == [
        ("bob", "in_progress"),
        ("ann", "in_progress"),
    ]
    ended = await ok(client, "team", team_id="t1")
    (column,) = ended["kpis"]
    assert (ended["is_final"], column["met"], column["at_risk"]) == (True, 1, 1)


async def test_timeseries_marks_the_point_in_progress_and_summarises_ended_ones(
    client: AsyncClient,
) -> None:
    m = await _month_in_progress(client)
    series = await ok(
        client,
        "timeseries",
        definition_key="calls",
        subject_id="ann",
        start=m["previous"].isoformat(),
    )
    before, now = series["points"]
    assert (before["status"], before["is_final"], before["pace"]) == ("at_risk", True, None)
    assert (now["value"], now["status"], now["is_final"]) == (10, "in_progress", False)
    assert now["pace"]["projected"] == _pace(
        Decimal(10), m["ann"]["calculated_at"], m["start"], m["end"]
    )
    summary = series["summary"]
    assert summary["latest"]["value"] == 90 and summary["change_from_previous_pct"] is None


async def test_the_forecast_paces_the_period_in_progress_as_the_timeseries_does(
    client: AsyncClient,
) -> None:
    m = await _month_in_progress(client)
    series = await ok(
        client, "timeseries", definition_key="calls", subject_id="ann", start=m["start"].isoformat()
    )
    forecast = await ok(client, "forecast", definition_key="calls", subject_id="ann")
    shown = series["points"][-1]["pace"]
    pace = forecast["pace"]
    assert (pace["value"], pace["projected"]) == (10, shown["projected"])
    assert (pace["elapsed_fraction"], pace["as_of"]) == (shown["elapsed_fraction"], shown["as_of"])
