"""The demo as loaded today: nothing of a period still in progress is alerted or achieved
too early (on the 6th of a month: December after six days is judged by nobody)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.support.demo import LoadedDemo


async def test_no_alert_is_open_on_a_period_in_progress(demo: LoadedDemo) -> None:
    today = demo.settings.today()
    alerts = await demo.rows("SELECT period_start, period_end, last_period_end FROM kpi.alerts")
    assert [a for a in alerts if a["period_end"] >= today] == []
    # The demo has measurements of periods in progress, which the rules did not judge.
    in_progress = await demo.rows(
        "SELECT count(*) AS n FROM kpi.measurements WHERE period_end >= $1", today
    )
    assert in_progress[0]["n"] > 0 or today.day == 1


async def test_the_firing_alerts_answered_are_all_of_ended_periods(demo: LoadedDemo) -> None:
    """`GET /alerts?status=firing` as the BFF asks it: every period judged has ended."""
    today = demo.settings.today()
    async with demo.client() as c:
        response = await c.get("/api/kpis/alerts", params={"status": "firing", "limit": 500})
    assert response.status_code == 200, response.text
    page = response.json()
    firing = await demo.rows("SELECT count(*) AS n FROM kpi.alerts WHERE status = 'firing'")
    assert (len(page["items"]), page["next_cursor"]) == (firing[0]["n"], None)
    assert page["items"], "the demo has firing alerts on ended periods"
    assert [a for a in page["items"] if date.fromisoformat(a["last_period_end"]) >= today] == []


async def test_no_goal_of_a_range_in_progress_is_achieved_unless_a_growing_sum(
    demo: LoadedDemo,
) -> None:
    today = demo.settings.today()
    goals = await demo.rows(
        "SELECT g.id, g.period_end, g.achieved_at, d.rollup, d.target_type, "
        "d.aggregation_period FROM kpi.goals g JOIN kpi.definitions d ON d.id = g.definition_id"
    )
    for goal in goals:
        # The KPI period holding the goal's last day must be over before it settles.
        last = goal["period_end"]
        if goal["aggregation_period"] == "weekly":
            last += timedelta(days=6 - last.weekday())
        running = last >= today
        growing = goal["rollup"] == "sum" and goal["target_type"] == "higher_better"
        if running and not growing:
            assert goal["achieved_at"] is None, goal
