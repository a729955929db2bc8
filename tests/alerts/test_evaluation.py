"""Rule kinds over recorded values, each expected alert worked out here in plain Python."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from decimal import Decimal

from httpx import AsyncClient

from tests.support.alerts import ALERTS, DELIVERIES, make_channel, make_rule, run_and_settle, week
from tests.support.api import assign, define, listed, record
from tests.support.receiver import Receiver

WEEKS = 14
WINDOW = 5
K = Decimal("2.5")


@dataclass
class Expected:
    subject: str
    opened: int
    last: int
    status: str
    observed: Decimal | None


def z_verdict(values: dict[int, Decimal], n: int) -> tuple[str, Decimal | None]:
    """breach, clear or unknown for week n against the values of the 5 weeks before it."""
    history = [values[j] for j in range(n - WINDOW, n) if j in values]
    if n not in values or len(history) < 3:
        return "unknown", None
    mean, std = statistics.mean(history), statistics.stdev(history)
    if std == 0:
        return ("clear" if values[n] == mean else "breach"), None
    z = (values[n] - mean) / std
    return ("breach" if abs(z) >= K else "clear"), z


def expected_alerts(subject: str, values: dict[int, Decimal]) -> list[Expected]:
    """One alert per run of anomalies: opened at the first, resolved at the next clear week."""
    alerts: list[Expected] = []
    for n in range(1, WEEKS + 1):
        verdict, z = z_verdict(values, n)
        current = alerts[-1] if alerts and alerts[-1].status == "firing" else None
        if verdict == "unknown":
            continue
        if current is not None:
            current.last, current.observed = n, z
            if verdict == "clear":
                current.status = "resolved"
        elif verdict == "breach":
            alerts.append(Expected(subject, n, n, "firing", z))
    return alerts


def random_values(rng: random.Random) -> dict[int, Decimal]:
    """A subject's weekly values: noise around a level, some spikes and dips, some gaps."""
    level = rng.uniform(20, 60)
    values = {}
    for n in range(1, WEEKS + 1):
        if rng.random() < 0.08:
            continue
        value = level * rng.uniform(0.9, 1.1)
        if rng.random() < 0.15:
            value *= rng.choice((0.3, 2.5))
        values[n] = Decimal(str(round(value, 2)))
    return values


async def test_random_anomalies_match_a_plain_recomputation(
    api: AsyncClient, receiver: Receiver
) -> None:
    rng = random.Random(20261121)
    kpi = await define(api, key="tickets")
    hook = await make_channel(api, receiver, "/random")
    rule = await make_rule(
        api, kpi["id"], {"kind": "anomaly", "window": WINDOW, "z": float(K)}, [hook["id"]]
    )
    series = {f"u{i}": random_values(rng) for i in range(8)}
    for subject, values in series.items():
        assignment = await assign(api, kpi["id"], subject, 40, start_date=week(1).isoformat())
        for n, value in sorted(values.items()):
            await record(api, assignment["id"], week(n), str(value))
    expected = [a for subject, values in series.items() for a in expected_alerts(subject, values)]
    assert len(expected) >= 3 and any(a.status == "resolved" for a in expected)

    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(WEEKS).isoformat())
    found = await listed(api, ALERTS, rule_id=rule["id"])
    assert sorted(
        (a["subject_id"], a["period_start"], a["last_period_start"], a["status"]) for a in found
    ) == sorted(
        (e.subject, week(e.opened).isoformat(), week(e.last).isoformat(), e.status)
        for e in expected
    )
    by_key = {(a["subject_id"], a["period_start"]): a for a in found}
    for e in expected:
        observed = by_key[(e.subject, week(e.opened).isoformat())]["observed"]
        if e.observed is None:
            assert observed is None
        else:
            assert abs(Decimal(str(observed)) - e.observed) < Decimal("1e-5")
    fired = len(expected)
    resolved = sum(e.status == "resolved" for e in expected)
    assert len(receiver.state.to("/random")) == fired + resolved
    assert all(r.signed for r in receiver.state.received)
    deliveries = await listed(api, DELIVERIES)
    assert len({r.delivery for r in receiver.state.received}) == len(deliveries) == fired + resolved

    # The last weeks again: the same values judge the same, nothing new is sent.
    await run_and_settle(
        api, period_start=week(WEEKS - 2).isoformat(), period_end=week(WEEKS).isoformat()
    )
    assert await listed(api, ALERTS, rule_id=rule["id"]) == found
    assert len(receiver.state.received) == fired + resolved


async def test_pending_until_enough_periods_then_firing(
    api: AsyncClient, receiver: Receiver
) -> None:
    kpi = await define(api, key="backlog", target_type="lower_better")
    a42 = await assign(api, kpi["id"], "42", 50, start_date=week(1).isoformat())
    hook = await make_channel(api, receiver, "/pending")
    await make_rule(
        api,
        kpi["id"],
        {
            "kind": "value_threshold",
            "direction": "above",
            "threshold": 100,
            "clear_margin": 10,
            "for_periods": 2,
        },
        [hook["id"]],
    )
    await record(api, a42["id"], week(1), 120)
    await run_and_settle(api, period_start=week(1).isoformat())
    [alert] = await listed(api, ALERTS)
    assert (alert["status"], alert["streak"], alert["fired_at"]) == ("pending", 1, None)
    assert receiver.state.received == []

    await record(api, a42["id"], week(2), 101)
    await run_and_settle(api, period_start=week(2).isoformat())
    [alert] = await listed(api, ALERTS)
    assert (alert["status"], alert["streak"]) == ("firing", 2)
    assert [r.payload["type"] for r in receiver.state.received] == ["alert.firing"]

    # 95 is under the threshold but within the margin: still firing. 90 clears it.
    await record(api, a42["id"], week(3), 95)
    await run_and_settle(api, period_start=week(3).isoformat())
    assert [a["status"] for a in await listed(api, ALERTS)] == ["firing"]
    await record(api, a42["id"], week(4), 90)
    await run_and_settle(api, period_start=week(4).isoformat())
    assert [a["status"] for a in await listed(api, ALERTS)] == ["resolved"]

    # A single breach later: a new alert, pending; the next week holds, so it resolves
    # without ever having fired, and nobody is told.
    await record(api, a42["id"], week(5), 130)
    await record(api, a42["id"], week(6), 95)
    await run_and_settle(api, period_start=week(5).isoformat(), period_end=week(6).isoformat())
    newest, first = await listed(api, ALERTS)
    assert (newest["period_start"], newest["status"], newest["fired_at"]) == (
        week(5).isoformat(),
        "resolved",
        None,
    )
    assert first["status"] == "resolved"
    assert [r.payload["type"] for r in receiver.state.received] == [
        "alert.firing",
        "alert.resolved",
    ]


async def test_change_against_the_previous_period(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(api, key="revenue", unit="currency")
    hook = await make_channel(api, receiver, "/change")
    await make_rule(
        api, kpi["id"], {"kind": "change_pct", "direction": "down", "limit": 20}, [hook["id"]]
    )
    series: dict[str, list[int | None]] = {
        "42": [100, 70, 69, 90],
        "43": [100, 81, 0, 50],
        "44": [0, 10, 100, None],
    }
    for subject, values in series.items():
        assignment = await assign(api, kpi["id"], subject, 100, start_date=week(1).isoformat())
        for n, value in enumerate(values, start=1):
            if value is not None:
                await record(api, assignment["id"], week(n), value)
    await run_and_settle(api, period_start=week(1).isoformat(), period_end=week(4).isoformat())

    def breaches(values: list[int | None]) -> list[int]:
        out = []
        for n in range(2, len(values) + 1):
            now, before = values[n - 1], values[n - 2]
            # No change from nothing or from zero.
            if now is not None and before and (now - before) / abs(Decimal(before)) * 100 < -20:
                out.append(n)
        return out

    assert {s: breaches(v) for s, v in series.items()} == {"42": [2], "43": [3], "44": []}
    found = await listed(api, ALERTS)
    # 42: -30% opens, -1.4% clears (no margin); 43: -19% is fine, -100% opens, then the
    # change from 0 is unknown, so the alert stays open.
    assert sorted(
        (a["subject_id"], a["period_start"], a["status"], a["observed"]) for a in found
    ) == [
        ("42", week(2).isoformat(), "resolved", -1.428571),
        ("43", week(3).isoformat(), "firing", -100),
    ]


async def test_a_later_breach_reopens_as_a_new_alert(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(api, key="nps", unit="none")
    a42 = await assign(api, kpi["id"], "42", 50, start_date=week(1).isoformat())
    hook = await make_channel(api, receiver, "/reopen")
    await make_rule(
        api,
        kpi["id"],
        {"kind": "achievement_below", "threshold": 90, "clear_margin": 0},
        [hook["id"]],
    )
    for n, value in enumerate([40, 50, 40], start=1):  # 80%, 100%, 80%
        await record(api, a42["id"], week(n), value)
        await run_and_settle(api, period_start=week(n).isoformat())
    found = await listed(api, ALERTS)
    assert [(a["period_start"], a["status"]) for a in found] == [
        (week(3).isoformat(), "firing"),
        (week(1).isoformat(), "resolved"),
    ]
    assert [r.payload["alert"]["id"] for r in receiver.state.received] == [
        found[1]["id"],
        found[1]["id"],
        found[0]["id"],
    ]
