"""A forced anomaly and a forced decline each open one alert and send one signed webhook;
recovery resolves it once more; re-running the same run changes and sends nothing."""

from __future__ import annotations

import statistics
import uuid
from decimal import Decimal
from typing import TypeVar

from httpx import AsyncClient

from tests.support.alerts import ALERTS, DELIVERIES, make_channel, make_rule, run_and_settle, week
from tests.support.api import assign, define, event, ingest, listed, record
from tests.support.receiver import Receiver


def expected_anomalies(values: list[Decimal], window: int, k: Decimal) -> list[int]:
    """Weeks (1-based) where |z| >= k against the previous `window` weeks' values (sample
    standard deviation, at least three of them), as `statistics` computes it."""
    found = []
    for i, value in enumerate(values):
        history = values[max(0, i - window) : i]
        if len(history) < 3:
            continue
        mean, std = statistics.mean(history), statistics.stdev(history)
        z = (value - mean) / std if std else None
        if (z is None and value != mean) or (z is not None and abs(z) >= k):
            found.append(i + 1)
    return found


T = TypeVar("T")


def only(items: list[T]) -> T:
    assert len(items) == 1, items
    return items[0]


async def test_forced_anomaly_fires_once_and_recovers_once(
    api: AsyncClient, receiver: Receiver
) -> None:
    kpi = await define(api, key="calls")
    a42 = await assign(api, kpi["id"], "42", 10, start_date=week(1).isoformat())
    hook = await make_channel(api, receiver, "/ops")
    rule = await make_rule(api, kpi["id"], {"kind": "anomaly", "window": 4, "z": 3}, [hook["id"]])
    values = [Decimal(v) for v in ("10", "12", "11", "13", "30")]
    for n, value in enumerate(values, start=1):
        await record(api, a42["id"], week(n), str(value))
    assert expected_anomalies(values, 4, Decimal(3)) == [5]

    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(5).isoformat())
    alert = only(await listed(api, ALERTS))
    assert (alert["status"], alert["period_start"], alert["subject_id"]) == (
        "firing",
        week(5).isoformat(),
        "42",
    )
    history = values[:4]
    z = (values[4] - statistics.mean(history)) / statistics.stdev(history)
    assert abs(Decimal(str(alert["observed"])) - z) < Decimal("1e-6")
    assert alert["value"] == 30 and alert["threshold"] == 3
    sent = only(receiver.state.to("/ops"))
    assert sent.signed
    body = sent.payload
    assert body["type"] == "alert.firing"
    assert body["alert"]["id"] == alert["id"] and body["alert"]["status"] == "firing"
    assert body["definition"]["key"] == "calls"
    assert body["subject"] == {"type": "user", "id": "42"}
    assert body["rule"]["id"] == rule["id"]
    assert body["alert"]["period_start"] == week(5).isoformat()

    # Back to normal: the alert resolves, and says so once.
    values.append(Decimal(12))
    await record(api, a42["id"], week(6), "12")
    assert expected_anomalies(values, 4, Decimal(3)) == [5]
    await run_and_settle(api, period_start=week(6).isoformat())
    alert = only(await listed(api, ALERTS))
    assert alert["status"] == "resolved" and alert["last_period_start"] == week(6).isoformat()
    assert [r.payload["type"] for r in receiver.state.to("/ops")] == [
        "alert.firing",
        "alert.resolved",
    ]
    assert all(r.signed for r in receiver.state.received)

    # The same runs again: nothing changes, nothing is sent.
    before = await listed(api, ALERTS)
    await run_and_settle(api, period_start=week(6).isoformat())
    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(6).isoformat())
    assert await listed(api, ALERTS) == before
    assert len(receiver.state.received) == 2
    deliveries = await listed(api, DELIVERIES)
    assert sorted((d["event"], d["status"], d["attempts"]) for d in deliveries) == [
        ("firing", "delivered", 1),
        ("resolved", "delivered", 1),
    ]


def expected_decline_weeks(values: list[Decimal], periods: int) -> list[int]:
    """Weeks (1-based) ending `periods` consecutive worsenings of a lower-is-better KPI."""
    worse = [i > 0 and values[i] > values[i - 1] for i in range(len(values))]
    return [
        i + 1
        for i in range(len(values))
        if i + 1 >= periods and all(worse[i - periods + 1 : i + 1])
    ]


async def test_forced_decline_fires_once_and_recovers_once(
    api: AsyncClient, receiver: Receiver
) -> None:
    kpi = await define(api, key="handle_time", unit="minutes", target_type="lower_better")
    a42 = await assign(api, kpi["id"], "42", 6, start_date=week(1).isoformat())
    a43 = await assign(api, kpi["id"], "43", 6, start_date=week(1).isoformat())
    hook = await make_channel(api, receiver, "/declines")
    await make_rule(api, kpi["id"], {"kind": "consecutive_declines", "periods": 3}, [hook["id"]])
    worsening = [Decimal(v) for v in ("5", "6", "7", "8")]
    steady = [Decimal(v) for v in ("6", "7", "7", "8")]  # a flat week breaks the streak
    for n, (w, s) in enumerate(zip(worsening, steady, strict=True), start=1):
        await record(api, a42["id"], week(n), str(w))
        await record(api, a43["id"], week(n), str(s))
    assert expected_decline_weeks(worsening, 3) == [4]
    assert expected_decline_weeks(steady, 3) == []

    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(4).isoformat())
    alert = only(await listed(api, ALERTS))
    assert (alert["subject_id"], alert["status"], alert["period_start"]) == (
        "42",
        "firing",
        week(4).isoformat(),
    )
    assert (alert["observed"], alert["threshold"]) == (3, 3)
    sent = only(receiver.state.to("/declines"))
    assert sent.signed and sent.payload["type"] == "alert.firing"
    assert sent.payload["alert"]["value"] == 8

    # 42 improves (6 after 8): the streak is broken and the alert resolves.
    await record(api, a42["id"], week(5), "6")
    await run_and_settle(api, period_start=week(5).isoformat())
    alert = only(await listed(api, ALERTS))
    assert alert["status"] == "resolved" and alert["resolved_at"] is not None
    assert [r.payload["type"] for r in receiver.state.to("/declines")] == [
        "alert.firing",
        "alert.resolved",
    ]
    resolved = receiver.state.to("/declines")[1]
    assert resolved.signed and resolved.payload["alert"]["resolved_at"] is not None
    assert resolved.payload["alert"]["last_period_start"] == week(5).isoformat()

    before = await listed(api, ALERTS)
    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(5).isoformat())
    assert await listed(api, ALERTS) == before
    assert len(receiver.state.received) == 2


async def test_oscillating_within_the_margin_does_not_flap(
    api: AsyncClient, receiver: Receiver
) -> None:
    kpi = await define(api, key="quality")
    a42 = await assign(api, kpi["id"], "42", 100, start_date=week(1).isoformat())
    with_margin = await make_channel(api, receiver, "/margin")
    without = await make_channel(api, receiver, "/bare")
    await make_rule(
        api,
        kpi["id"],
        {"kind": "achievement_below", "threshold": 80, "clear_margin": 5},
        [with_margin["id"]],
    )
    bare = await make_rule(
        api,
        kpi["id"],
        {"kind": "achievement_below", "threshold": 80, "clear_margin": 0},
        [without["id"]],
    )
    # Achievement = value (target 100): under 80 breaches, 85 or more clears with the margin.
    values = [79, 82, 78, 84, 79, 86]
    for n, value in enumerate(values, start=1):
        await record(api, a42["id"], week(n), value)
    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(6).isoformat())

    margin = [a for a in await listed(api, ALERTS) if a["rule_id"] != bare["id"]]
    assert [(a["period_start"], a["status"], a["last_period_start"]) for a in margin] == [
        (week(1).isoformat(), "resolved", week(6).isoformat())
    ]
    assert [r.payload["type"] for r in receiver.state.to("/margin")] == [
        "alert.firing",
        "alert.resolved",
    ]
    # Without a margin, every crossing is a transition: one alert per dip below 80.
    dips = [n for n, v in enumerate(values, start=1) if v < 80 and (n == 1 or values[n - 2] >= 80)]
    flapping = await listed(api, ALERTS, rule_id=bare["id"])
    assert sorted(a["period_start"] for a in flapping) == [week(n).isoformat() for n in dips]
    assert len(receiver.state.to("/bare")) == 2 * len(dips)
    assert all(r.signed for r in receiver.state.received)


async def test_an_event_kpi_spike_fires_after_its_run(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(
        api,
        key="calls_made",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    await assign(api, kpi["id"], "42", 5, start_date=week(1).isoformat())
    hook = await make_channel(api, receiver, "/events")
    await make_rule(api, kpi["id"], {"kind": "anomaly", "window": 4, "z": 3}, [hook["id"]])
    counts = [5, 6, 5, 6, 20]
    events = [
        event("call", f"{week(n).isoformat()}T09:{i:02d}:00Z", id=uuid.UUID(int=n * 1000 + i))
        for n, count in enumerate(counts, start=1)
        for i in range(count)
    ]
    await ingest(api, events)
    assert expected_anomalies([Decimal(c) for c in counts], 4, Decimal(3)) == [5]

    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(5).isoformat())
    alert = only(await listed(api, ALERTS))
    assert (alert["period_start"], alert["status"], alert["value"]) == (
        week(5).isoformat(),
        "firing",
        20,
    )
    z = (20 - statistics.mean(counts[:4])) / statistics.stdev(counts[:4])
    assert abs(alert["observed"] - z) < 1e-5
    sent = only(receiver.state.to("/events"))
    assert sent.signed and sent.payload["definition"]["key"] == "calls_made"
