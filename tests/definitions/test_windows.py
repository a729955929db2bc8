"""Definition windows through HTTP: the shapes, the refusals (each a 422 naming `window`),
the version and audit of a change, and the views that show a window."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.problems import assert_problem, error_locs

WINDOW = ["body", "window"]
LOGINS = {"event_type": "login", "aggregate": "count"}


async def logins(client: AsyncClient, key: str = "logins", **fields: Any) -> dict[str, Any]:
    """A daily event KPI counting logins (override any field)."""
    values = {"aggregation_period": "daily", "calculation_type": "event", "config": LOGINS}
    return await define(client, key, **(values | fields))


@pytest.mark.parametrize("window", [{"days": 7}, {"days": 3660}, {"to_date": "month"}, "all"])
async def test_a_window_is_stored_as_sent_and_keeps_the_last_value(
    client: AsyncClient, window: Any
) -> None:
    created = await logins(client, window=window)
    assert (created["window"], created["rollup"], created["version"]) == (window, "last", 1)
    assert (await client.get(f"{URL}/{created['id']}")).json() == created


async def test_no_window_is_the_period_itself_and_an_explicit_rollup_is_kept(
    client: AsyncClient,
) -> None:
    plain = await logins(client)
    assert (plain["window"], plain["rollup"]) == (None, "sum")
    kept = await logins(client, "logins_max", window={"days": 7}, rollup="max")
    assert kept["rollup"] == "max"


@pytest.mark.parametrize(
    "window",
    [
        {"days": 0},
        {"days": 3661},
        {"days": "7"},
        {"days": True},
        {"to_date": "week"},
        "ALL",
        7,
        {},
        {"days": 7, "to_date": "month"},
        {"weeks": 1},
    ],
)
async def test_other_shapes_are_refused(client: AsyncClient, window: Any) -> None:
    response = await client.post(
        URL,
        json={
            "key": "logins",
            "name": "Logins",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "daily",
            "calculation_type": "event",
            "config": LOGINS,
            "window": window,
        },
    )
    problem = assert_problem(response, 422, window)
    assert all(loc[:2] == WINDOW for loc in error_locs(problem)), problem


async def _refused(client: AsyncClient, reason: str, **fields: Any) -> None:
    response = await client.post(URL, json=_body(**fields))
    problem = assert_problem(response, 422, fields)
    assert error_locs(problem) == [WINDOW], problem
    assert reason in problem["errors"][0]["msg"], problem


def _body(**fields: Any) -> dict[str, Any]:
    return {
        "key": "windowed",
        "name": "Windowed",
        "unit": "count",
        "target_type": "higher_better",
        "aggregation_period": "daily",
        "calculation_type": "event",
        "config": LOGINS,
        "window": {"days": 7},
    } | fields


async def test_types_without_a_window_are_refused(client: AsyncClient) -> None:
    await define(client, "hours_worked", aggregation_period="daily")
    await _refused(client, "manual KPIs take no window", calculation_type="manual", config={})
    api = {
        "adapter": "http_json",
        "url": "http://127.0.0.1:9/v/{subject_id}",
        "value_pointer": "/v",
    }
    await _refused(client, "api KPIs take no window", calculation_type="api", config=api)
    formula = {"expression": "h * 2", "variables": {"h": "hours_worked"}}
    await _refused(
        client,
        "the KPIs a formula uses may have windows",
        calculation_type="formula",
        config=formula,
    )


@pytest.mark.parametrize(
    ("period", "to_date"),
    [
        ("monthly", "month"),
        ("quarterly", "month"),
        ("quarterly", "quarter"),
        ("yearly", "year"),
        ("yearly", "quarter"),
    ],
)
async def test_to_date_not_longer_than_the_period_is_refused(
    client: AsyncClient, period: str, to_date: str
) -> None:
    await _refused(
        client, "is not longer than", aggregation_period=period, window={"to_date": to_date}
    )


async def test_to_date_longer_than_the_period_is_taken(client: AsyncClient) -> None:
    for n, (period, to_date) in enumerate(
        [("daily", "month"), ("weekly", "month"), ("monthly", "quarter"), ("quarterly", "year")]
    ):
        made = await logins(client, f"k{n}", aggregation_period=period, window={"to_date": to_date})
        assert made["window"] == {"to_date": to_date}


async def test_a_sum_of_windows_is_refused(client: AsyncClient) -> None:
    await _refused(client, "rollup 'sum' cannot combine windowed values", rollup="sum")


async def test_changes_that_break_a_window_are_refused_and_change_nothing(
    client: AsyncClient,
) -> None:
    created = await logins(client, window={"days": 7})
    monthly = await logins(client, "monthly", aggregation_period="monthly")
    url = f"{URL}/{created['id']}"
    for target, change, reason in (
        (url, {"rollup": "sum"}, "rollup 'sum'"),
        (url, {"calculation_type": "manual", "config": {}}, "manual KPIs take no window"),
        (
            f"{URL}/{monthly['id']}",
            {"window": {"to_date": "month"}, "rollup": "last"},
            "not longer than",
        ),
    ):
        problem = assert_problem(await client.patch(target, json=change), 422, change)
        assert error_locs(problem) == [WINDOW] and reason in problem["detail"], problem
    assert (await client.get(url)).json() == created
    assert (await client.get(f"{URL}/{monthly['id']}")).json() == monthly


async def test_a_window_change_raises_the_version_and_is_audited(client: AsyncClient) -> None:
    created = await logins(client)  # a count: rollup sum
    url = f"{URL}/{created['id']}"
    # A window on a KPI that sums is refused rather than its rollup changed behind the
    # caller's back: the answer says which rollups fit.
    problem = assert_problem(await client.patch(url, json={"window": {"days": 7}}), 422, url)
    assert error_locs(problem) == [WINDOW] and "use last, avg, min or max" in problem["detail"]
    assert (await client.get(url)).json() == created
    change = {"window": {"days": 7}, "rollup": "last"}
    windowed = (await client.patch(url, json=change)).json()
    assert (windowed["window"], windowed["rollup"], windowed["version"]) == ({"days": 7}, "last", 2)
    same = (await client.patch(url, json={"window": {"days": 7}, "name": "Weekly"})).json()
    assert (same["version"], same["name"]) == (2, "Weekly")
    wider = (await client.patch(url, json={"window": {"days": 30}})).json()
    assert (wider["window"], wider["version"]) == ({"days": 30}, 3)
    cleared = (await client.patch(url, json={"window": None})).json()
    assert (cleared["window"], cleared["rollup"], cleared["version"]) == (None, "last", 4)

    response = await client.get("/api/kpis/audit", params={"entity_type": "definition"})
    updates = [e for e in reversed(response.json()["items"]) if e["action"] == "update"]
    assert [(e["before"]["window"], e["after"]["window"]) for e in updates] == [
        (None, {"days": 7}),
        ({"days": 7}, {"days": 7}),
        ({"days": 7}, {"days": 30}),
        ({"days": 30}, None),
    ]
    assert updates[-1]["after"] == cleared


async def test_a_window_set_on_an_averaged_kpi_keeps_its_rollup(client: AsyncClient) -> None:
    created = await logins(client, unit="minutes", config={**LOGINS, "aggregate": "avg"})
    assert created["rollup"] == "avg"
    changed = await client.patch(f"{URL}/{created['id']}", json={"window": "all"})
    assert (changed.json()["rollup"], changed.json()["version"]) == ("avg", 2)
