"""The views of a KPI with a window: each repeats the window, so a client can label it
("rolling 7 days"), and none projects a windowed value's pace (it is no accumulation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.support.api import assign, define, event, ingest, recalculate
from tests.support.app import today
from tests.support.export import export, parsed
from tests.support.metrics import METRICS

LOGINS = {"event_type": "login", "aggregate": "count"}


async def logins(client: AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    """A daily event KPI counting logins (override any field)."""
    values = {"aggregation_period": "daily", "calculation_type": "event", "config": LOGINS}
    return await define(client, key, **(values | fields))


async def test_views_show_the_window_and_give_it_no_pace_projection(client: AsyncClient) -> None:
    day = today()
    rolling = await logins(client, "rolling", window={"days": 7})
    plain = await logins(client, "plain")
    for kpi in (rolling, plain):
        await assign(client, kpi["id"], "42", 5, start_date=(day - timedelta(days=10)).isoformat())
    # Logins just now and a day ago: the window holds all three, the day those of today.
    now = datetime.now(UTC)
    sent = [now - timedelta(seconds=1), now - timedelta(seconds=2), now - timedelta(days=1)]
    await ingest(client, [event("login", at) for at in sent])
    run = await recalculate(client, period_start=day.isoformat())
    assert run["status"] == "succeeded", run

    asked: dict[str, Any] = {"period_kind": "daily", "user_id": "42", "date": day.isoformat()}
    card = (await client.get(f"{METRICS}/scorecard", params=asked)).json()
    by_key = {k["definition_key"]: k for k in card["kpis"]}
    before_today = sum(1 for at in sent if at.date() == day)  # UTC is the test's zone
    assert (by_key["plain"]["window"], by_key["plain"]["value"]) == (None, before_today)
    assert (by_key["rolling"]["window"], by_key["rolling"]["value"]) == ({"days": 7}, len(sent))
    assert by_key["plain"]["pace"]["projected"] is not None
    assert by_key["rolling"]["pace"]["elapsed_fraction"] is not None
    assert by_key["rolling"]["pace"]["projected"] is None
    exported = parsed(await export(client, view="scorecard", **asked))
    assert {r["definition_key"]: r["window"] for r in exported} == {
        "plain": "",
        "rolling": "7 days",
    }

    params = {"definition_key": "rolling", "subject_id": "42"}
    board = (
        await client.get(
            f"{METRICS}/leaderboard", params={"definition_key": "rolling", "date": day.isoformat()}
        )
    ).json()
    series = (
        await client.get(f"{METRICS}/timeseries", params={**params, "start": day.isoformat()})
    ).json()
    forecast = (await client.get(f"{METRICS}/forecast", params=params)).json()
    assert board["window"] == series["window"] == forecast["window"] == {"days": 7}
    assert series["points"][-1]["pace"]["projected"] is None
    assert forecast["pace"] is None and "window" in forecast["pace_reason"]
    plain_forecast = (
        await client.get(f"{METRICS}/forecast", params={**params, "definition_key": "plain"})
    ).json()
    assert plain_forecast["window"] is None and plain_forecast["pace"] is not None
