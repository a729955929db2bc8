"""API KPIs end to end: a real HTTP source on 127.0.0.1, one failing subject, a partial run."""

from __future__ import annotations

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import (
    assign_in_bulk,
    assignment_body,
    define,
    measurements,
    recalculate,
)
from tests.support.source import SourceServer, value_config


async def test_a_failing_subject_makes_the_run_partial_and_the_rest_is_stored(
    client: AsyncClient, db: Database, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5}
    state.plan("3", "500")
    d = await define(
        client,
        key="crm_score",
        calculation_type="api",
        config=value_config(source, retries=1, timeout_s=5),
    )
    await assign_in_bulk(
        client, [assignment_body(d["id"], u, start_date="2026-11-01") for u in ("1", "2", "3", "4")]
    )
    run = await recalculate(client, period_start="2026-11-09")
    assert (run["status"], run["computed"], run["failed"]) == ("partial", 3, 1)
    assert run["errors"][0]["subject_id"] == "3"
    assert state.attempts["3"] == 2  # one try and one retry
    got = {
        m["subject_id"]: (m["actual_value"], m["achievement"]) for m in await measurements(client)
    }
    assert got == {"1": (12, 120.0), "2": (7.5, 75.0), "4": (None, None)}


async def test_api_config_is_checked_when_saved(client: AsyncClient, db: Database) -> None:
    response = await client.post(
        "/api/kpis/definitions",
        json={
            "key": "leaky",
            "name": "Leaky",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "weekly",
            "calculation_type": "api",
            "config": {
                "adapter": "http_json",
                "url": "https://x.example/{subject_id}",
                "value_pointer": "/v",
                "auth": {"header": "Authorization", "secret_env": "KPI_DATABASE_URL"},
            },
        },
    )
    assert response.status_code == 422
    assert (await client.get("/api/kpis/definitions")).json()["items"] == []
