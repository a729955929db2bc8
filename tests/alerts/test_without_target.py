"""Alert rules over an assignment tracked without a target: a rule on achievement has
nothing to judge (it never fires), a value threshold judges the value as ever."""

from __future__ import annotations

from decimal import Decimal

from httpx import AsyncClient

from tests.support.alerts import ALERTS, make_channel, make_rule, run_and_settle, week
from tests.support.api import assign, define, listed, record
from tests.support.receiver import Receiver


async def test_only_value_rules_fire_without_a_target(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(api, key="calls")
    hook = await make_channel(api, receiver, "/untargeted")
    at_least, floor = 80, 10
    below = {"kind": "achievement_below", "threshold": at_least}
    achievement = await make_rule(api, kpi["id"], below, [hook["id"]])
    low = {"kind": "value_threshold", "direction": "below", "threshold": floor}
    value = await make_rule(api, kpi["id"], low, [hook["id"]])
    # 42 has no target; 43 has one of 10, so the achievement rule is seen to fire on 5 of 10.
    targets: dict[str, int | None] = {"42": None, "43": 10}
    recorded = 5
    for subject, target in targets.items():
        held = await assign(api, kpi["id"], subject, target, start_date=week(1).isoformat())
        await record(api, held["id"], week(1), recorded)
    await run_and_settle(api, period_start=week(1).isoformat())

    def breaches(subject: str) -> set[int]:
        target = targets[subject]
        fired = {value["id"]} if recorded < floor else set()
        if target is not None and Decimal(recorded) / target * 100 < at_least:
            fired.add(achievement["id"])
        return fired

    alerts = await listed(api, ALERTS)
    assert {(a["rule_id"], a["subject_id"]) for a in alerts} == {
        (rule, subject) for subject in targets for rule in breaches(subject)
    }
    assert {(a["rule_id"], a["subject_id"]) for a in alerts if a["status"] == "firing"} == {
        (value["id"], "42"),
        (value["id"], "43"),
        (achievement["id"], "43"),
    }
    fired = [r.payload for r in receiver.state.received]
    assert len(fired) == 3 and {p["type"] for p in fired} == {"alert.firing"}
