"""Evaluation is set-based: the statements sent do not grow with the number of subjects."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient

from kpi_service.alerts import evaluation_service
from kpi_service.alerts.schemas import EvaluateRequest
from kpi_service.core.auth import Principal, Role
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from tests.support.alerts import ALERTS, make_rule, week
from tests.support.api import assign, define, listed, record
from tests.support.database import statements_sent

VALUES = [10, 11, 10, 9, 30, 8]
CONDITIONS = [
    {"kind": "achievement_below", "threshold": 90},
    {"kind": "value_threshold", "direction": "above", "threshold": 20},
    {"kind": "change_pct", "limit": 50},
    {"kind": "anomaly", "window": 4, "z": 3},
    {"kind": "consecutive_declines", "periods": 2},
    {"kind": "missing_value", "days": 1},
]


async def kpi_with_subjects(c: AsyncClient, key: str, subjects: int) -> list[int]:
    """A manual KPI whose subjects all recorded VALUES over weeks 1-6 (week 7 left
    missing), watched by one rule of each kind; the rule ids."""
    kpi = await define(c, key=key)
    for i in range(subjects):
        made = await assign(
            c,
            kpi["id"],
            f"{key}-{i}",
            11,
            start_date=week(1).isoformat(),
            end_date=(week(7) + timedelta(days=6)).isoformat(),
        )
        for n, value in enumerate(VALUES, start=1):
            await record(c, made["id"], week(n), value)
    return [(await make_rule(c, kpi["id"], condition, []))["id"] for condition in CONDITIONS]


async def evaluated(db: Database, settings: Settings, rules: list[int]) -> list[str]:
    admin = Principal("default", "boss", Role.ADMIN)
    body = EvaluateRequest(rule_ids=rules, period_start=week(1), period_end=week(7))
    async with statements_sent(db) as sent, db.unit_of_work() as session:
        await evaluation_service.evaluate_now(session, settings, admin, body)
    return sent


async def test_statements_do_not_grow_with_subjects(
    api: AsyncClient, db: Database, settings: Settings
) -> None:
    few = await kpi_with_subjects(api, "few", 2)
    many = await kpi_with_subjects(api, "many", 25)
    sent_few = await evaluated(db, settings, few)
    sent_many = await evaluated(db, settings, many)
    assert len(sent_few) == len(sent_many)
    # Per rule: what it judges and its subjects' latest alerts; then bulk writes.
    assert len(sent_many) <= 2 * len(CONDITIONS) + 12
    # Every rule found something, for every subject.
    by_rule: dict[int, set[str]] = {}
    for alert in await listed(api, ALERTS):
        by_rule.setdefault(alert["rule_id"], set()).add(alert["subject_id"])
    assert {r: len(by_rule.get(r, ())) for r in few + many} == {
        **{r: 2 for r in few},
        **{r: 25 for r in many},
    }
