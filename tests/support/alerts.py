"""API shortcuts of the alert tests (channels, rules, a breach), apps with quick retries,
and waiting for an evaluation's webhooks to settle."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any, TypedDict

from httpx import AsyncClient

from tests.support.api import assign, define, listed, record, wait_for_run
from tests.support.receiver import SECRET_ENV, Receiver

RULES = "/api/kpis/alerts/rules"
CHANNELS = "/api/kpis/alerts/channels"
ALERTS = "/api/kpis/alerts"
DELIVERIES = "/api/kpis/alerts/deliveries"
MONDAY = date(2026, 1, 5)


class QuickDelivery(TypedDict):
    """The delivery settings of the alert tests' apps."""

    webhook_backoff_seconds: float
    webhook_timeout_seconds: float
    webhook_attempts: int


# Retries come quickly and a hanging receiver is cut soon: tests wait for the outcome.
QUICK: QuickDelivery = {
    "webhook_backoff_seconds": 0.01,
    "webhook_timeout_seconds": 0.5,
    "webhook_attempts": 3,
}


def week(n: int) -> date:
    """The Monday of week n (1 = the week of 2026-01-05)."""
    return MONDAY + timedelta(weeks=n - 1)


async def make_channel(
    c: AsyncClient,
    receiver: Receiver,
    path: str = "/hook",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "name": path.strip("/") or "hook",
        "url": receiver.url(path),
        "secret_env": SECRET_ENV,
        **fields,
    }
    response = await c.post(CHANNELS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def make_rule(
    c: AsyncClient,
    definition_id: int,
    condition: dict[str, Any],
    channel_ids: list[int],
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "definition_id": definition_id,
        "name": f"{condition['kind']} rule",
        "condition": condition,
        "channel_ids": channel_ids,
        "severity": "critical",
        **fields,
    }
    response = await c.post(RULES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def breach(c: AsyncClient, receiver: Receiver, path: str, **channel: Any) -> dict[str, Any]:
    """A KPI at 50% of target and a rule below 80% notifying `path`: one firing delivery."""
    kpi = await define(c, "calls")
    a42 = await assign(c, kpi["id"], "42", 10, start_date=week(1).isoformat())
    hook = await make_channel(c, receiver, path, **channel)
    await make_rule(c, kpi["id"], {"kind": "achievement_below", "threshold": 80}, [hook["id"]])
    await record(c, a42["id"], week(1), 5)
    return hook


async def stamps(c: AsyncClient, headers: dict[str, str] | None = None) -> dict[int, Any]:
    """When each rule was last evaluated."""
    return {r["id"]: r["last_evaluated_at"] for r in await listed(c, RULES, headers)}


async def settle(
    c: AsyncClient,
    before: dict[int, Any],
    headers: dict[str, str] | None = None,
    within: float = 30.0,
) -> None:
    """Wait until the rules of `before` were evaluated again and no delivery is pending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while any(
        before[rule] == at for rule, at in (await stamps(c, headers)).items() if rule in before
    ):
        assert loop.time() < deadline, "the rules were not evaluated"
        await asyncio.sleep(0.02)
    while any(d["status"] == "pending" for d in await listed(c, DELIVERIES, headers)):
        assert loop.time() < deadline, "deliveries still pending"
        await asyncio.sleep(0.02)


async def run_and_settle(
    c: AsyncClient,
    headers: dict[str, str] | None = None,
    rules: list[int] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """Recalculate (the run's follower evaluates the rules of its KPIs, all of them or
    `rules`) and wait for the webhooks."""
    before = await stamps(c, headers)
    if rules is not None:
        before = {r: at for r, at in before.items() if r in rules}
    response = await c.post("/api/kpis/measurements/recalculate", json=body, headers=headers)
    assert response.status_code == 202, response.text
    run = await wait_for_run(c, response.json()["id"], headers=headers)
    await settle(c, before, headers)
    return run


async def evaluate_and_settle(
    c: AsyncClient, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    """Evaluate now and wait for the webhooks."""
    before = await stamps(c, headers)
    response = await c.post(f"{ALERTS}/evaluate", json=body, headers=headers)
    assert response.status_code == 200, response.text
    await settle(c, before, headers)
    result: dict[str, Any] = response.json()
    return result
