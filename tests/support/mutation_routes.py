"""Every mutation route the hostile-input test attacks, a body each accepts, and the
shape of one hostile request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.api import event

NO_BODY = object()


@dataclass(frozen=True)
class Attempt:
    """One request and what is wrong with it."""

    route: str
    flaw: str
    method: str
    url: str
    body: Any = NO_BODY  # sent as JSON
    raw: bytes | None = None  # sent as is
    content_type: str | None = "application/json"

    def __str__(self) -> str:
        return f"{self.route}: {self.flaw} ({self.method} {self.url[:100]})"


@dataclass(frozen=True)
class Route:
    """A mutation route (its path as the app declares it), the path values and a body it
    accepts, and which of the body's fields hold what."""

    method: str
    path: str
    valid: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    texts: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    body_optional: bool = False

    def url(self, **changes: Any) -> str:
        return self.path.format(**{**self.params, **changes})


def routes(ids: dict[str, int]) -> dict[str, Route]:
    """Every mutation route with a body, and a body each accepts (sent last, in this order)."""
    assignment = {
        "definition_id": ids["manual"],
        "subject_type": "user",
        "subject_id": "77",
        "team_id": "t1",
        "target_value": 10,
        "weight": 50,
        "baseline_value": 0,
        "start_date": "2026-01-05",
        "end_date": "2026-12-31",
    }
    return {
        "create definition": Route(
            "POST",
            "/api/kpis/definitions",
            {
                "key": "fresh_kpi",
                "name": "Fresh",
                "description": "d",
                "category": "c",
                "unit": "count",
                "target_type": "higher_better",
                "aggregation_period": "weekly",
                "calculation_type": "manual",
                "config": {},
                "warning_threshold": 80,
                "score_cap": 150,
            },
            texts=("key", "name", "description", "category", "unit", "target_type"),
            numbers=("warning_threshold", "score_cap"),
        ),
        "update definition": Route(
            "PATCH",
            "/api/kpis/definitions/{definition_id}",
            {"name": "Renamed", "description": "d", "warning_threshold": 70},
            {"definition_id": ids["manual"]},
            texts=("name", "description", "category", "rollup"),
            numbers=("warning_threshold", "score_cap"),
        ),
        "create assignment": Route(
            "POST",
            "/api/kpis/assignments",
            assignment,
            texts=("subject_id", "team_id", "subject_type"),
            numbers=("target_value", "weight", "baseline_value"),
            ids=("definition_id",),
            dates=("start_date", "end_date"),
        ),
        "bulk assignments": Route(
            "POST",
            "/api/kpis/assignments/bulk",
            {"items": [{**assignment, "subject_id": "78"}, {**assignment, "subject_id": "79"}]},
        ),
        "update assignment": Route(
            "PATCH",
            "/api/kpis/assignments/{assignment_id}",
            {
                "target_value": 12,
                "target_effective_from": "2026-02-02",
                "weight": 40,
                "team_id": "t1",
            },
            {"assignment_id": ids["assignment"]},
            texts=("team_id",),
            numbers=("target_value", "weight", "baseline_value"),
            dates=("target_effective_from", "end_date"),
        ),
        # Before "end assignment": the period holding today must stay in the assignment's dates.
        "update value": Route(
            "POST",
            "/api/kpis/assignments/{assignment_id}/update-value",
            {"current_value": 5, "comment": "by hand"},
            {"assignment_id": ids["assignment"]},
            texts=("comment",),
            numbers=("current_value",),
        ),
        "end assignment": Route(
            "POST",
            "/api/kpis/assignments/{assignment_id}/end",
            {"end_date": "2026-12-31"},
            {"assignment_id": ids["assignment"]},
            dates=("end_date",),
            body_optional=True,
        ),
        "record measurement": Route(
            "PUT",
            "/api/kpis/assignments/{assignment_id}/measurements/{period_start}",
            {"value": 5, "comment": "by hand", "reason": "survey recount"},
            {"assignment_id": ids["assignment"], "period_start": "2026-01-12"},
            texts=("comment", "reason"),
            numbers=("value",),
        ),
        "recalculate": Route(
            "POST",
            "/api/kpis/measurements/recalculate",
            {
                "period_start": "2026-01-05",
                "period_end": "2026-01-11",
                "definition_keys": ["calls"],
                "assignment_ids": [ids["assignment"]],
                "subject_ids": ["42"],
                "period_kind": "weekly",
                "reason": "source fixed",
            },
            texts=("reason",),
            dates=("period_start", "period_end"),
        ),
        "close periods": Route(
            "POST",
            "/api/kpis/periods/close",
            {
                "period_start": "2026-01-05",
                "period_end": "2026-01-11",
                "definition_keys": ["calls"],
                "period_kind": "weekly",
                "reason": "month end",
            },
            texts=("reason",),
            dates=("period_start", "period_end"),
        ),
        "reopen periods": Route(
            "POST",
            "/api/kpis/periods/reopen",
            {
                "period_start": "2026-01-05",
                "period_end": "2026-01-11",
                "definition_keys": ["calls"],
                "period_kind": "weekly",
                "reason": "late invoice",
            },
            texts=("reason",),
            dates=("period_start", "period_end"),
        ),
        "create goal": Route(
            "POST",
            "/api/kpis/goals",
            {
                "definition_key": "calls",
                "user_id": "42",
                "period_kind": "custom",
                "period_start": "2026-01-05",
                "period_end": "2026-01-25",
                "target_value": 30,
            },
            texts=("definition_key", "user_id", "period_kind"),
            numbers=("target_value",),
            dates=("period_start", "period_end"),
        ),
        "create goals": Route(
            "POST",
            "/api/kpis/goals/bulk",
            {
                "period": "quarterly",
                "period_start": "2026-01-01",
                "user_id": "42",
                "goals": {"calls": 40},
            },
            texts=("period", "user_id"),
            dates=("period_start", "period_end"),
        ),
        "set goals": Route(
            "PUT",
            "/api/kpis/goals/bulk",
            {
                "period": "monthly",
                "period_start": "2026-01-01",
                "user_id": "42",
                "goals": {"calls": 20},
            },
            texts=("period", "user_id"),
            dates=("period_start", "period_end"),
        ),
        "update goal": Route(
            "PATCH",
            "/api/kpis/goals/{goal_id}",
            {"target_value": 25, "period_kind": "monthly", "period_start": "2026-02-01"},
            {"goal_id": ids["goal"]},
            texts=("period_kind",),
            numbers=("target_value",),
            dates=("period_start", "period_end"),
        ),
        # Item-level refusals of events are per item (200 with `errors`): tests/events covers
        # them; here the batch itself is attacked.
        "ingest events": Route(
            "POST",
            "/api/kpis/events",
            {
                "events": [
                    event(
                        "call",
                        "2026-01-06T10:00:00Z",
                        value=3,
                        id="7d3c1f8e-5b0a-4e61-9d2a-0c5e3a9b1f20",
                    )
                ]
            },
        ),
        "legacy assign": Route(
            "POST",
            "/kpis/users/{user_id}/kpis/assign",
            {
                "kpi_definition_id": ids["manual"],
                "target_value": 5,
                "weight": 20,
                "start_date": "2026-01-05",
                "assigned_by": 7,
            },
            {"user_id": "80"},
            numbers=("target_value", "weight"),
            ids=("kpi_definition_id",),
            dates=("start_date",),
        ),
        "legacy calculate": Route(
            "POST",
            "/kpis/calculate/{user_kpi_id}",
            {"period_start": "2026-01-07", "period_end": "2026-01-13"},
            {"user_kpi_id": ids["query_assignment"]},
            dates=("period_start", "period_end"),
        ),
        "create alert channel": Route(
            "POST",
            "/api/kpis/alerts/channels",
            {
                "name": "pager",
                "url": "https://hooks.example.com/kpi",
                "secret_env": "KPI_WEBHOOK_SECRET_PAGER",
            },
            texts=("name", "url", "secret_env"),
        ),
        "update alert channel": Route(
            "PATCH",
            "/api/kpis/alerts/channels/{channel_id}",
            {"name": "ops2", "url": "https://hooks.example.com/ops"},
            {"channel_id": ids["channel"]},
            texts=("name", "url", "secret_env"),
        ),
        "create alert rule": Route(
            "POST",
            "/api/kpis/alerts/rules",
            {
                "definition_id": ids["manual"],
                "name": "Low calls",
                "subject_id": "42",
                "condition": {
                    "kind": "achievement_below",
                    "threshold": 80,
                    "clear_margin": 5,
                    "for_periods": 1,
                },
                "severity": "critical",
                "channel_ids": [ids["channel"]],
                "is_active": True,
            },
            texts=("name", "subject_id", "severity"),
            ids=("definition_id",),
        ),
        "update alert rule": Route(
            "PATCH",
            "/api/kpis/alerts/rules/{rule_id}",
            {"name": "Lower calls", "severity": "warning", "subject_id": "42"},
            {"rule_id": ids["rule"]},
            texts=("name", "severity", "subject_id"),
        ),
        "acknowledge alert": Route(
            "POST",
            "/api/kpis/alerts/{alert_id}/acknowledge",
            {"note": "on it"},
            {"alert_id": ids["alert"]},
            texts=("note",),
            body_optional=True,
        ),
        "install pack": Route(
            "POST",
            "/api/kpis/packs/{name}/install",
            {"start_date": "2026-01-01", "users": [{"user_id": "77", "team_id": "t1"}]},
            {"name": "support"},
            dates=("start_date",),
        ),
        "evaluate alerts": Route(
            "POST",
            "/api/kpis/alerts/evaluate",
            {"rule_ids": [ids["rule"]], "period_start": "2026-01-05", "period_end": "2026-01-11"},
            dates=("period_start", "period_end"),
        ),
    }
