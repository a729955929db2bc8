"""Alert rules and channels: create, read, change, delete; refused parameters are 422s."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from httpx import AsyncClient

from kpi_service.alerts.schemas import Condition
from kpi_service.models import RuleKind
from tests.support.alerts import (
    ALERTS,
    CHANNELS,
    DELIVERIES,
    RULES,
    make_channel,
    make_rule,
    run_and_settle,
    week,
)
from tests.support.api import assign, define, listed, record
from tests.support.problems import assert_problem
from tests.support.receiver import Receiver


async def test_rule_crud(api: AsyncClient, receiver: Receiver) -> None:
    kpi = await define(api, key="calls")
    hook = await make_channel(api, receiver, "/crud")
    created = await api.post(
        RULES,
        json={
            "definition_key": "calls",
            "name": "Low calls",
            "condition": {"kind": "achievement_below", "threshold": 75.5},
            "channel_ids": [hook["id"]],
            "subject_id": "42",
        },
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["definition_id"] == kpi["id"] and rule["definition_key"] == "calls"
    # Defaults are stated, numbers are JSON numbers.
    assert rule["condition"] == {
        "kind": "achievement_below",
        "threshold": 75.5,
        "clear_margin": 5.0,
        "for_periods": 1,
        "on_projection": False,
    }
    assert (rule["severity"], rule["is_active"], rule["subject_id"]) == ("warning", True, "42")
    assert rule["last_evaluated_at"] is None
    assert (await api.get(f"{RULES}/{rule['id']}")).json() == rule

    changed = await api.patch(
        f"{RULES}/{rule['id']}",
        json={
            "condition": {
                "kind": "achievement_below",
                "threshold": 60,
                "clear_margin": 2,
                "for_periods": 3,
            },
            "severity": "critical",
            "subject_id": None,
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["condition"] == {
        "kind": "achievement_below",
        "threshold": 60,
        "clear_margin": 2,
        "for_periods": 3,
        "on_projection": False,
    }
    assert (changed.json()["severity"], changed.json()["subject_id"]) == ("critical", None)
    other = await make_rule(api, kpi["id"], {"kind": "anomaly"}, [], is_active=False)
    assert other["condition"] == {"kind": "anomaly", "window": 8, "z": 3, "for_periods": 1}
    assert [r["id"] for r in await listed(api, RULES)] == [rule["id"], other["id"]]
    assert [r["id"] for r in await listed(api, RULES, is_active=False)] == [other["id"]]
    first = await api.get(RULES, params={"limit": 1})
    assert [r["id"] for r in first.json()["items"]] == [rule["id"]]
    second = await api.get(RULES, params={"limit": 1, "cursor": first.json()["next_cursor"]})
    assert [r["id"] for r in second.json()["items"]] == [other["id"]]

    deleted = await api.delete(f"{RULES}/{rule['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == rule["id"]
    assert (await api.get(f"{RULES}/{rule['id']}")).status_code == 404
    audit = await listed(api, "/api/kpis/audit", entity_type="alert_rule")
    assert sorted(e["action"] for e in audit) == ["create", "create", "delete", "update"]


async def test_deleting_a_rule_takes_its_alerts_and_deleting_a_channel_keeps_the_log(
    api: AsyncClient, receiver: Receiver
) -> None:
    receiver.state.plan("/down", "500")
    kpi = await define(api, key="calls")
    a42 = await assign(api, kpi["id"], "42", 10, start_date=week(1).isoformat())
    ok, down = await make_channel(api, receiver, "/ok"), await make_channel(api, receiver, "/down")
    rule = await make_rule(
        api, kpi["id"], {"kind": "achievement_below", "threshold": 80}, [ok["id"], down["id"]]
    )
    await record(api, a42["id"], week(1), 5)
    await run_and_settle(api, period_start=week(1).isoformat())
    assert {(d["channel_id"], d["status"]) for d in await listed(api, DELIVERIES)} == {
        (ok["id"], "delivered"),
        (down["id"], "failed"),
    }

    assert (await api.delete(f"{CHANNELS}/{down['id']}")).status_code == 200
    assert (await api.get(f"{RULES}/{rule['id']}")).json()["channel_ids"] == [ok["id"]]
    assert len(await listed(api, DELIVERIES, channel_id=down["id"])) == 1
    assert [c["id"] for c in await listed(api, CHANNELS)] == [ok["id"]]

    assert (await api.delete(f"{RULES}/{rule['id']}")).status_code == 200
    assert await listed(api, ALERTS) == []
    assert await listed(api, DELIVERIES) == []


async def test_channel_crud(api: AsyncClient, receiver: Receiver) -> None:
    hook = await make_channel(api, receiver, "/a")
    assert set(hook) == {
        "id",
        "name",
        "url",
        "secret_env",
        "created_by",
        "created_at",
        "updated_at",
    }
    taken = await api.post(
        CHANNELS,
        json={"name": "a", "url": receiver.url("/b"), "secret_env": "KPI_WEBHOOK_SECRET_OTHER"},
    )
    assert taken.status_code == 409, taken.text
    changed = await api.patch(
        f"{CHANNELS}/{hook['id']}",
        json={
            "url": "https://hooks.example.com/kpi?team=7",
            "secret_env": "KPI_WEBHOOK_SECRET_OPS",
        },
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["url"], changed.json()["secret_env"]) == (
        "https://hooks.example.com/kpi?team=7",
        "KPI_WEBHOOK_SECRET_OPS",
    )
    assert (await api.get(f"{CHANNELS}/{hook['id']}")).json() == changed.json()


BAD_CONDITIONS: list[tuple[str, Any]] = [
    ("unknown kind", {"kind": "vibes"}),
    ("no kind", {"threshold": 80}),
    ("not an object", "achievement_below"),
    ("threshold missing", {"kind": "achievement_below"}),
    ("threshold zero", {"kind": "achievement_below", "threshold": 0}),
    ("threshold text", {"kind": "achievement_below", "threshold": "low"}),
    ("negative margin", {"kind": "achievement_below", "threshold": 80, "clear_margin": -1}),
    ("for_periods zero", {"kind": "achievement_below", "threshold": 80, "for_periods": 0}),
    ("for_periods 53", {"kind": "achievement_below", "threshold": 80, "for_periods": 53}),
    ("an unknown parameter", {"kind": "achievement_below", "threshold": 80, "window": 3}),
    ("value without direction", {"kind": "value_threshold", "threshold": 5}),
    ("value sideways", {"kind": "value_threshold", "threshold": 5, "direction": "sideways"}),
    ("value NaN", {"kind": "value_threshold", "threshold": "NaN", "direction": "above"}),
    ("change limit zero", {"kind": "change_pct", "limit": 0}),
    ("change margin over limit", {"kind": "change_pct", "limit": 10, "clear_margin": 11}),
    ("change direction", {"kind": "change_pct", "limit": 10, "direction": "above"}),
    ("anomaly window 2", {"kind": "anomaly", "window": 2}),
    ("anomaly window 105", {"kind": "anomaly", "window": 105}),
    ("anomaly z 0", {"kind": "anomaly", "z": 0}),
    ("anomaly z negative", {"kind": "anomaly", "z": -3}),
    ("anomaly window fraction", {"kind": "anomaly", "window": 4.5}),
    ("declines of 1", {"kind": "consecutive_declines", "periods": 1}),
    ("declines with a margin", {"kind": "consecutive_declines", "clear_margin": 1}),
    ("missing days negative", {"kind": "missing_value", "days": -1}),
    ("missing lookback 0", {"kind": "missing_value", "lookback_periods": 0}),
]


@pytest.mark.parametrize(("flaw", "condition"), BAD_CONDITIONS, ids=[f for f, _ in BAD_CONDITIONS])
async def test_bad_conditions_are_422(api: AsyncClient, flaw: str, condition: Any) -> None:
    kpi = await define(api, key="calls")
    response = await api.post(
        RULES, json={"definition_id": kpi["id"], "name": "Bad", "condition": condition}
    )
    assert_problem(response, 422, flaw)
    assert await listed(api, RULES) == []


async def test_rules_that_do_not_fit_their_kpi_or_channels_are_422(
    api: AsyncClient, receiver: Receiver
) -> None:
    manual = await define(api, key="calls")
    computed = await define(
        api, key="resolved", calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    hook = await make_channel(api, receiver, "/fit")
    base = {"name": "R", "condition": {"kind": "anomaly"}}
    for flaw, body in [
        (
            "missing values of a computed KPI",
            {**base, "definition_id": computed["id"], "condition": {"kind": "missing_value"}},
        ),
        ("an unknown definition", {**base, "definition_id": 999}),
        ("an unknown key", {**base, "definition_key": "nope"}),
        (
            "two definition references",
            {**base, "definition_id": manual["id"], "definition_key": "calls"},
        ),
        ("no definition", base),
        ("an unknown channel", {**base, "definition_id": manual["id"], "channel_ids": [999]}),
        (
            "a channel twice",
            {**base, "definition_id": manual["id"], "channel_ids": [hook["id"], hook["id"]]},
        ),
        ("an unknown severity", {**base, "definition_id": manual["id"], "severity": "meh"}),
        ("a subject with NUL", {**base, "definition_id": manual["id"], "subject_id": "4\u00002"}),
    ]:
        response = await api.post(RULES, json=body)
        assert response.status_code == 422, (flaw, response.text)
    rule = await make_rule(api, manual["id"], {"kind": "missing_value", "days": 2}, [])
    for flaw, change in [
        ("another kind", {"condition": {"kind": "anomaly"}}),
        ("a null name", {"name": None}),
        ("a null condition", {"condition": None}),
        ("an unknown channel", {"channel_ids": [999]}),
        ("an unknown key", {"definition_id": computed["id"]}),
    ]:
        response = await api.patch(f"{RULES}/{rule['id']}", json=change)
        assert response.status_code == 422, (flaw, response.text)
    assert (await api.get(f"{RULES}/{rule['id']}")).json() == rule


async def test_an_unknown_kpi_is_refused_as_goals_and_assignments_refuse_it(
    api: AsyncClient,
) -> None:
    base = {"name": "R", "condition": {"kind": "anomaly"}}
    for name, value in [("definition_id", 999), ("definition_key", "nope")]:
        problem = assert_problem(await api.post(RULES, json={**base, name: value}), 422, name)
        assert problem["detail"] == f"{name}: no such KPI definition"
        assert [(e["loc"], e["msg"]) for e in problem["errors"]] == [
            (["body", name], "no such KPI definition")
        ]


@pytest.mark.parametrize(
    ("flaw", "change"),
    [
        ("ftp", {"url": "ftp://example.com/hook"}),
        ("no scheme", {"url": "example.com/hook"}),
        ("credentials", {"url": "https://user:pass@example.com/hook"}),
        ("a fragment", {"url": "https://example.com/hook#x"}),
        ("a space", {"url": "https://example.com/a hook"}),
        ("a bad port", {"url": "https://example.com:99999/hook"}),
        ("a lowercase secret name", {"secret_env": "kpi_webhook_secret_ops"}),
        ("another prefix", {"secret_env": "KPI_JWT_SECRET"}),
        ("a bare prefix", {"secret_env": "KPI_WEBHOOK_SECRET_"}),
        ("the secret itself", {"secret": "s3cret"}),
    ],
)
async def test_bad_channels_are_422(api: AsyncClient, flaw: str, change: dict[str, Any]) -> None:
    body = {
        "name": "ops",
        "url": "https://example.com/hook",
        "secret_env": "KPI_WEBHOOK_SECRET_OPS",
        **change,
    }
    response = await api.post(CHANNELS, json=body)
    assert response.status_code == 422, (flaw, response.text)
    assert await listed(api, CHANNELS) == []


def test_the_conditions_are_the_rule_kinds_the_table_allows() -> None:
    # The discriminator needs a Literal per condition; together they are the RuleKind enum.
    conditions = get_args(get_args(Condition)[0])
    kinds = [get_args(c.model_fields["kind"].annotation) for c in conditions]
    assert sorted(kind for (kind,) in kinds) == sorted(RuleKind)
