"""The one set of API factories the tests use: define a KPI, assign it, record a value, send
events, list, recalculate and wait for a run; each checks the answer's status."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from httpx import ASGITransport, AsyncClient

from tests.support.auth import ADMIN
from tests.support.source import SourceServer, value_config

DEFINITIONS = "/api/kpis/definitions"
ASSIGNMENTS = "/api/kpis/assignments"
MEASUREMENTS = "/api/kpis/measurements"
EVENTS = "/api/kpis/events"
FINISHED = ("succeeded", "partial", "failed")


def definition_body(key: str = "cases_resolved", **fields: Any) -> dict[str, Any]:
    """A valid create body for a manual weekly KPI, named after its key unless told."""
    values: dict[str, Any] = {
        "key": key,
        "name": key.replace("_", " ").capitalize(),
        "unit": "count",
        "target_type": "higher_better",
        "aggregation_period": "weekly",
        "calculation_type": "manual",
    }
    values.update(fields)
    return values


async def define(
    client: AsyncClient,
    key: str = "cases_resolved",
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create a definition through the API (201); the stored definition."""
    response = await client.post(DEFINITIONS, json=definition_body(key, **fields), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def manual_kpi(client: AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    """A manual monthly KPI (override any field)."""
    return await define(client, key, **{"aggregation_period": "monthly", **fields})


def assignment_body(
    definition_id: int | None, subject_id: str | None = "42", **fields: Any
) -> dict[str, Any]:
    """A valid create body for a user assignment (target 10); None values are left out (a
    `target_value` of None: the assignment is tracked without a target)."""
    values: dict[str, Any] = {
        "definition_id": definition_id,
        "subject_type": "user",
        "subject_id": subject_id,
        "target_value": 10,
    }
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


async def assign(
    client: AsyncClient,
    definition_id: int,
    subject_id: str | None = "42",
    target_value: Any = 10,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create an assignment through the API (201); the stored assignment (`target_value`
    None: without a target)."""
    response = await client.post(
        ASSIGNMENTS,
        headers=headers,
        json=assignment_body(definition_id, subject_id, target_value=target_value, **fields),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def assign_in_bulk(
    client: AsyncClient, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Create assignments in one bulk request (201); the stored assignments, in order."""
    response = await client.post(f"{ASSIGNMENTS}/bulk", json={"items": items}, headers=headers)
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["items"]
    return created


async def retarget(
    client: AsyncClient, assignment_id: int, target: Any, start: date | str
) -> dict[str, Any]:
    """Set an assignment's target from a date on (200; None: no target from then on); the
    assignment as stored."""
    response = await client.patch(
        f"{ASSIGNMENTS}/{assignment_id}",
        json={
            "target_value": float(target) if isinstance(target, Decimal) else target,
            "target_effective_from": str(start),
        },
    )
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


async def record(
    client: AsyncClient,
    assignment_id: int,
    period_start: date | str,
    value: Any,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Record a manual value for the period starting then (200); the stored measurement. A
    Decimal is sent as a JSON number, anything else as it is (a string stays a string)."""
    response = await client.put(
        f"{ASSIGNMENTS}/{assignment_id}/measurements/{period_start}",
        headers=headers,
        json={"value": float(value) if isinstance(value, Decimal) else value},
    )
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def value_history(
    client: AsyncClient,
    assignment_id: int,
    *,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Seed 004's history of a manual KPI's assignment (200): `days`, `limit` as given."""
    response = await client.get(
        f"{ASSIGNMENTS}/{assignment_id}/history", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def listed(
    client: AsyncClient, url: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a list route (one page of 500)."""
    response = await client.get(url, headers=headers, params={"limit": 500, **params})
    assert response.status_code == 200, (url, response.text)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def measurements(client: AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return await listed(client, MEASUREMENTS, **params)


async def listed_ids(
    client: AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> list[int]:
    """The ids of every assignment a list request returns (all pages)."""
    ids: list[int] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get(ASSIGNMENTS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def made(
    client: AsyncClient, method: str, url: str, body: Any, headers: dict[str, str] = ADMIN
) -> Any:
    """The answer's JSON to a request that must succeed (as the admin of `default`)."""
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code in (200, 201, 202), (method, url, response.text)
    return response.json()


def event(
    event_type: str,
    occurred_at: datetime | str,
    user_id: str = "42",
    *,
    value: float | str | None = None,
    properties: dict[str, Any] | None = None,
    team_id: str | None = None,
    id: uuid.UUID | str | None = None,
) -> dict[str, Any]:
    """An event as `POST /events` takes it: by default user 42's (the default assignment's
    subject), with a fresh id; a datetime is sent in ISO form, a string as it is, and the
    fields left None are left out."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4() if id is None else id),
        "user_id": user_id,
        "type": event_type,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat(),
    }
    optional = {"team_id": team_id, "value": value, "properties": properties}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


async def ingest(
    client: AsyncClient, events: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> None:
    """Send events through the API; every one must be stored."""
    response = await client.post(EVENTS, json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events), response.text


async def ingest_with_repeats(
    client: AsyncClient, events: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> None:
    """Send events some of which repeat an id earlier in the batch, none stored before: each
    id is stored once, every repeat counts as a duplicate, and none is refused."""
    response = await client.post(EVENTS, json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    accepted = len({e["id"] for e in events})
    expected = {"accepted": accepted, "duplicates": len(events) - accepted, "rejected": 0}
    assert {k: answer[k] for k in expected} == expected, response.text


async def wait_for_run(
    client: AsyncClient, run_id: int, *, within: float = 60.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Poll a run until it has finished, as a client of the API would."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await client.get(f"/api/kpis/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in FINISHED:
            return run
        assert asyncio.get_running_loop().time() < deadline, f"run {run_id} unfinished: {run}"
        await asyncio.sleep(0.05)


async def start_recalculation(client: AsyncClient, **body: Any) -> int:
    """Ask for a recalculation (202); its run's id, without waiting for the run."""
    response = await client.post(f"{MEASUREMENTS}/recalculate", json=body)
    assert response.status_code == 202, response.text
    run_id: int = response.json()["id"]
    return run_id


async def recalculate(client: AsyncClient, **body: Any) -> dict[str, Any]:
    """Ask for a recalculation (202) and wait for its run to finish; the finished run. With an
    in-process client (the app on an ASGITransport) also wait for what follows the run (goals,
    alert evaluation, deliveries), so a test reads settled rows; a service in another process
    cannot be asked, so there only the run is waited for."""
    run = await wait_for_run(client, await start_recalculation(client, **body))
    if isinstance(client._transport, ASGITransport):
        await idle(client)
    return run


async def idle(client: AsyncClient) -> None:
    """Wait until the in-process app's background work (runs and what follows them) is over."""
    transport = client._transport
    assert isinstance(transport, ASGITransport)
    await transport.app.state.runs.idle()  # type: ignore[attr-defined]


async def crm_daily_for_every_subject(client: AsyncClient, source: SourceServer) -> dict[str, Any]:
    """`crm_daily`, a daily api KPI reading the fake source (5 s timeout), assigned (target 10,
    from 1 January 2026) to every subject the source holds a value for; the definition."""
    definition = await define(
        client,
        key="crm_daily",
        aggregation_period="daily",
        calculation_type="api",
        config=value_config(source, timeout_s=5),
    )
    for subject in source.state.values:
        await assign(client, definition["id"], subject, 10, start_date="2026-01-01")
    return definition


def instant(text: str) -> datetime:
    """A timestamp from the API, for comparing in time rather than as text."""
    return datetime.fromisoformat(text)
