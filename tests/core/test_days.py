"""Every day a client names is within 1900-2999: the calendar's ends answer 422, never 500.

Found by the API fuzzing (tests/fuzz): evaluating alerts from 0002-01-01 stepped before the
first day Python knows, and a measurement, recalculation, period close or goal in 9999-12
stepped past the last one.
"""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.support.api import assign, define

OUTSIDE = ("0001-01-01", "0002-01-01", "1899-12-31", "3000-01-01", "9999-12-30", "9999-12-31")
EDGES = ("1900-01-01", "2999-12-31")


def _requests(day: str, kpi: int, assignment: int) -> list[tuple[str, str, Any]]:
    """Every operation that reads a day from the client, with that day."""
    return [
        ("post", "/api/kpis/alerts/evaluate", {"period_start": day}),
        (
            "post",
            "/api/kpis/assignments",
            {
                "definition_id": kpi,
                "subject_type": "user",
                "subject_id": "2",
                "target_value": 1,
                "start_date": day,
                "end_date": day,
            },
        ),
        (
            "patch",
            f"/api/kpis/assignments/{assignment}",
            {"target_value": 3, "target_effective_from": day},
        ),
        ("post", f"/api/kpis/assignments/{assignment}/end", {"end_date": day}),
        ("get", f"/api/kpis/assignments?active_on={day}", None),
        ("put", f"/api/kpis/assignments/{assignment}/measurements/{day}", {"value": 1}),
        ("get", f"/api/kpis/measurements?period_from={day}&period_to={day}", None),
        (
            "post",
            "/api/kpis/measurements/recalculate",
            {"period_start": day, "definition_keys": ["other"]},
        ),
        ("post", "/api/kpis/periods/close", {"period_start": day, "definition_keys": ["other"]}),
        (
            "post",
            "/api/kpis/goals",
            {
                "definition_id": kpi,
                "period_kind": "monthly",
                "period_start": day,
                "target_value": 1,
            },
        ),
        (
            "put",
            "/api/kpis/goals/bulk",
            {"period": "custom", "goals": {"calls": 1}, "period_start": day, "period_end": day},
        ),
        ("get", f"/api/kpis/goals?active_on={day}", None),
        (
            "post",
            "/kpis/users/5/kpis/assign",
            {"kpi_definition_id": kpi, "target_value": 1, "start_date": day},
        ),
        ("post", f"/kpis/calculate/{assignment}", {"period_start": day, "period_end": day}),
    ]


async def test_days_outside_the_calendar_we_keep_are_refused(client: AsyncClient) -> None:
    kpi = (await define(client, key="calls"))["id"]
    await define(client, key="other")
    assignment = (await assign(client, kpi, "1", 10, start_date="2026-01-05"))["id"]
    for day in OUTSIDE:
        for method, url, body in _requests(day, kpi, assignment):
            response = await client.request(method, url, json=body)
            assert response.status_code == 422, (day, method, url, response.text)
    for day in EDGES:
        for method, url, body in _requests(day, kpi, assignment):
            response = await client.request(method, url, json=body)
            assert response.status_code < 500, (day, method, url, response.text)
