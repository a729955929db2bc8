"""What a careless or hostile client sends to every mutation route: always a 4xx in the right
shape, and not one row of any kpi table changes (audit entries included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response

from kpi_service.core.database import Database
from tests.support.api import wait_for_run
from tests.support.database import create_support_cases, snapshot
from tests.support.routes import app_routes

NO_BODY = object()
SENTINEL = "__RAW_LITERAL__"
HUGE = "x" * 100_000
LONG = "x" * 60_000  # in URLs: httpx (like most servers) refuses URLs past 64 KB
INT32, INT64 = 2**31, 2**63
DEEP = 100_000  # past any JSON parser's recursion limit


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
                    {
                        "id": "7d3c1f8e-5b0a-4e61-9d2a-0c5e3a9b1f20",
                        "user_id": "42",
                        "type": "call",
                        "occurred_at": "2026-01-06T10:00:00Z",
                        "value": 3,
                    }
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
        "evaluate alerts": Route(
            "POST",
            "/api/kpis/alerts/evaluate",
            {"rule_ids": [ids["rule"]], "period_start": "2026-01-05", "period_end": "2026-01-11"},
            dates=("period_start", "period_end"),
        ),
    }


def raw_with(body: dict[str, Any], key: str, literal: str) -> bytes:
    """The JSON text of `body` with `key` set to a literal that json.dumps cannot write."""
    return json.dumps({**body, key: SENTINEL}).replace(f'"{SENTINEL}"', literal).encode()


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def flaws(*cases: tuple[str, Any]) -> list[tuple[str, Any]]:
    """(what is wrong, the value sent) pairs."""
    return list(cases)


# Per kind of field: (what is wrong, the value sent).
BAD_TEXT = flaws(
    ("a number", 123),
    ("a boolean", True),
    ("an array", ["a"]),
    ("an object", {"a": 1}),
    ("NUL inside", "a\u0000b"),
    ("only NUL", "\u0000"),
    ("100 KB", HUGE),
)
BAD_NUMBER = flaws(
    ("text", "ten"),
    ("a boolean", True),
    ("an array", [1]),
    ("an object", {"v": 1}),
    ("'NaN' text", "NaN"),
    ("'Infinity' text", "Infinity"),
    ("past 1e15", 1e15 + 2),
    ("past -1e15", -1e15 - 2),
    ("1e300", 1e300),
    ("past int64", INT64),
    ("10**30", 10**30),
    ("NUL", "1\u0000"),
)
BAD_NUMBER_LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
BAD_ID = flaws(
    ("past int32 (unknown)", INT32),
    ("past int64", INT64),
    ("past uint64", 2**64),
    ("negative", -1),
    ("zero", 0),
    ("a fraction", 1.5),
    ("text", "one"),
    ("NUL", "1\u0000"),
    ("an array", [1]),
    ("a boolean", True),
    ("null", None),
)
BAD_DATE = flaws(
    ("2026-02-30", "2026-02-30"),
    ("month 13", "2026-13-01"),
    ("year 0", "0000-01-01"),
    ("year 10000", "10000-01-01"),
    ("NUL after it", "2026-01-05\u0000"),
    ("a word", "yesterday"),
    ("100 KB", HUGE),
    ("an array", ["2026-01-05"]),
    ("an object", {"y": 2026}),
)
BAD_EXTRA = flaws(
    ("an unknown key", {"evil": 1}),
    ("a tenant_id", {"tenant_id": "acme"}),
    ("an id", {"id": 1}),
    ("a NUL key", {"\u0000": 1}),
    ("a 100 KB key", {HUGE: 1}),
)


def field_attempts(name: str, route: Route) -> Iterator[Attempt]:
    """The valid body with one field of the wrong type, NUL-laden, huge or out of range."""

    def body(flaw: str, **change: Any) -> Attempt:
        return Attempt(name, flaw, route.method, route.url(), {**route.valid, **change})

    for key in route.texts:
        for flaw, value in BAD_TEXT:
            yield body(f"{key} is {flaw}", **{key: value})
    for key in route.numbers:
        for flaw, value in BAD_NUMBER:
            yield body(f"{key} is {flaw}", **{key: value})
        for literal in BAD_NUMBER_LITERALS:
            yield Attempt(
                name,
                f"{key} is the literal {literal}",
                route.method,
                route.url(),
                raw=raw_with(route.valid, key, literal),
            )
    for key in route.ids:
        for flaw, value in BAD_ID:
            yield body(f"{key} is {flaw}", **{key: value})
        yield Attempt(
            name,
            f"{key} is the literal NaN",
            route.method,
            route.url(),
            raw=raw_with(route.valid, key, "NaN"),
        )
    for key in route.dates:
        for flaw, value in BAD_DATE:
            yield body(f"{key} is {flaw}", **{key: value})
    for flaw, extra in BAD_EXTRA:
        yield body(f"the body has {flaw}", **extra)


def body_attempts(name: str, route: Route) -> Iterator[Attempt]:
    """Bodies that are not the JSON object the route takes."""
    valid = json.dumps(route.valid).encode()
    shapes: list[tuple[str, bytes, str | None]] = [
        ("not JSON", b"not json", "application/json"),
        ("truncated JSON", valid[:-1], "application/json"),
        ("a trailing comma", valid[:-1] + b",}", "application/json"),
        ("a raw NUL byte in a string", b'{"name": "a\x00b"}', "application/json"),
        ("invalid UTF-8", b'{"name": "\xff\xfe"}', "application/json"),
        ("Latin-1 bytes", '{"name": "Café"}'.encode("latin-1"), "application/json"),
        ("an array", b"[]", "application/json"),
        ("the valid object in an array", b"[" + valid + b"]", "application/json"),
        ("a string", b'"body"', "application/json"),
        ("a number", b"42", "application/json"),
        ("NaN", b"NaN", "application/json"),
        ("true", b"true", "application/json"),
        (f"{DEEP} nested arrays", b"[" * DEEP + b"]" * DEEP, "application/json"),
        ("valid JSON as text/plain", valid, "text/plain"),
        ("form encoded", b"name=x&value=1", "application/x-www-form-urlencoded"),
        ("XML", b"<kpi><name>x</name></kpi>", "application/xml"),
        ("valid JSON as multipart without a boundary", valid, "multipart/form-data"),
        ("not JSON, with no content type", b"name=x", None),
    ]
    if not route.body_optional:  # on /end, no body and null both mean "end today"
        shapes += [("empty", b"", "application/json"), ("null", b"null", "application/json")]
    for flaw, raw, content_type in shapes:
        yield Attempt(
            name,
            f"the body is {flaw}",
            route.method,
            route.url(),
            raw=raw,
            content_type=content_type,
        )


WRITING_SQL = [
    "DELETE FROM kpi.definitions",
    "SELECT 1 AS subject_id, 1 AS value; DROP TABLE x",
    "WITH d AS (DELETE FROM kpi.assignments RETURNING 1) SELECT '1' AS subject_id, 1 AS value",
    "SELECT set_config('statement_timeout','0',false) AS subject_id, 1 AS value",
    "SELECT pg_sleep(10)::text AS subject_id, 1 AS value",
    "UPDATE kpi.measurements SET actual_value = 0 RETURNING '1' AS subject_id, 1 AS value",
    "SELECT '1' AS subject_id, 1 AS value FROM kpi.definitions FOR UPDATE",
]


def rule_attempts(ids: dict[str, int], all_routes: dict[str, Route]) -> Iterator[Attempt]:
    """Well-typed values the rules refuse: reversed or huge ranges, deep config, writing SQL."""

    def body(
        name: str, flaw: str, change: dict[str, Any], *, merge: bool = True, **params: Any
    ) -> Attempt:
        route = all_routes[name]
        sent = {**route.valid, **change} if merge else change
        return Attempt(name, flaw, route.method, route.url(**params), sent)

    item = all_routes["create assignment"].valid
    for flaw, change in flaws(
        ("end before start", {"start_date": "2026-03-02", "end_date": "2026-03-01"}),
        ("two definition references", {"definition_key": "calls"}),
        ("a subject_id past 64 characters", {"subject_id": "1" * 65}),
        ("a weight over 100", {"weight": 101}),
        ("a negative weight", {"weight": -1}),
        ("an assignment that exists", {"subject_id": "42", "end_date": None}),
        ("an unknown subject type", {"subject_type": "planet"}),
    ):
        yield body("create assignment", flaw, change)
    yield body(
        "create assignment",
        "no definition reference",
        {k: v for k, v in item.items() if k != "definition_id"},
        merge=False,
    )
    items = all_routes["bulk assignments"].valid["items"]
    for flaw, value in flaws(
        ("empty", []),
        ("an object", {"0": items[0]}),
        ("a list of lists", [[items[0]]]),
        ("1001 items", [{**items[0], "subject_id": str(i)} for i in range(1001)]),
        ("one item twice", [items[0], items[0]]),
        ("one item ending before it starts", [items[0], {**items[1], "end_date": "2026-01-04"}]),
        ("one item with NUL", [items[0], {**items[1], "subject_id": "7\u0000"}]),
        ("one item with NaN", [items[0], {**items[1], "target_value": "NaN"}]),
        ("one item past int64", [items[0], {**items[1], "definition_id": INT64}]),
        ("one item with an unknown key", [items[0], {**items[1], "evil": 1}]),
        ("one item null", [items[0], None]),
    ):
        yield body("bulk assignments", f"items is {flaw}", {"items": value})
    for flaw, change in flaws(
        ("end before start", {"end_date": "2026-01-04"}),
        ("a target date without a target", {"target_effective_from": "2026-02-02"}),
        ("a null weight", {"weight": None}),
        ("a null target", {"target_value": None}),
    ):
        yield body("update assignment", flaw, change, merge=False)
    yield body("end assignment", "end before start", {"end_date": "2026-01-04"})
    for flaw, period in flaws(
        ("not the start of a week", "2026-01-13"),
        ("before the assignment starts", "2025-12-29"),
        ("2026-02-30", "2026-02-30"),
        ("month 13", "2026-13-01"),
        ("NUL", "%00"),
        ("NUL after the date", "2026-01-12%00"),
        ("year 99999", "99999-01-04"),
        ("negative", "-1"),
        ("60 KB", LONG),
    ):
        yield body("record measurement", f"period_start is {flaw}", {}, period_start=period)
    yield body("record measurement", "a computed KPI", {}, assignment_id=ids["query_assignment"])
    yield body("record measurement", "a comment past 4000 characters", {"comment": "c" * 4001})
    for flaw, change in flaws(
        ("end before start", {"period_start": "2026-01-12", "period_end": "2026-01-11"}),
        ("200 years", {"period_start": "1900-01-01", "period_end": "2099-12-31"}),
        ("an unknown key", {"definition_keys": ["nope"]}),
        ("a key with NUL", {"definition_keys": ["calls\u0000"]}),
        ("a key of 100 KB", {"definition_keys": [HUGE]}),
        ("keys not a list", {"definition_keys": "calls"}),
        ("an id past int64", {"assignment_ids": [INT64]}),
        ("an id of zero", {"assignment_ids": [0]}),
        ("an id NaN", {"assignment_ids": ["NaN"]}),
        ("a subject with NUL", {"subject_ids": ["4\u00002"]}),
        ("a subject of 100 KB", {"subject_ids": [HUGE]}),
        ("10001 subjects", {"subject_ids": [str(i) for i in range(10_001)]}),
    ):
        yield body("recalculate", flaw, change)
    for flaw, change in flaws(
        ("end before start", {"period_start": "2026-01-13", "period_end": "2026-01-07"}),
        ("more than ten years", {"period_start": "2000-01-01", "period_end": "2026-01-01"}),
        ("no end", {"period_end": None}),
    ):
        yield body("legacy calculate", flaw, change)
    yield body("legacy calculate", "a manual KPI", {}, user_kpi_id=ids["assignment"])
    for flaw, value in flaws(
        ("past int64", INT64),
        ("past uint64", 2**64),
        ("negative", -7),
        ("a boolean", True),
        ("NUL", "7\u0000"),
        ("100 KB", HUGE),
        ("an object", {"id": 7}),
    ):
        yield body("legacy assign", f"assigned_by is {flaw}", {"assigned_by": value})
    yield body("legacy assign", "a weight over 100", {"weight": 100.5})
    for flaw, change in flaws(
        ("end before start", {"period_end": "2026-01-04"}),
        ("a custom goal without end", {"period_end": None}),
        ("two definition references", {"definition_id": ids["manual"]}),
        ("an unknown KPI", {"definition_key": "nope"}),
        ("a user id with NUL", {"user_id": "4\u00002"}),
        ("a range of 20 years", {"period_start": "2006-01-01"}),
        ("an end that is not the month's", {"period_kind": "monthly"}),
        (
            "the goal that exists",
            {"period_kind": "monthly", "period_start": "2026-01-01", "period_end": None},
        ),
    ):
        yield body("create goal", flaw, change)
    for name in ("create goals", "set goals"):
        for flaw, goals in flaws(
            ("empty", {}),
            ("a list", [{"calls": 1}]),
            ("an unknown key", {"nope": 1}),
            ("a key with NUL", {"calls\u0000": 1}),
            ("a key of 100 KB", {HUGE: 1}),
            ("a NaN target", {"calls": "NaN"}),
            ("the same KPI twice", {"calls": 1, "Calls": 2}),
            ("101 keys", {f"k{i}": 1 for i in range(101)}),
        ):
            yield body(name, f"goals is {flaw}", {"goals": goals})
    yield body("create goals", "the goals that exist", {"period": "monthly"})
    for flaw, change in flaws(
        ("a null target", {"target_value": None}),
        ("a null start", {"period_start": None}),
        ("a custom end before its start", {"period_kind": "custom", "period_end": "2026-01-01"}),
        ("a KPI change", {"definition_key": "resolved"}),
        ("a user change", {"user_id": "43"}),
    ):
        yield body("update goal", flaw, change, merge=False)

    # Config: nested past any sensible depth, the wrong shape, or SQL that writes or stalls.
    deep = (
        b'{"key": "deep", "name": "Deep", "unit": "count", "target_type": "exact", '
        b'"aggregation_period": "daily", "calculation_type": "manual", "config": '
        + b'{"a":' * DEEP
        + b"1"
        + b"}" * DEEP
        + b"}"
    )
    yield Attempt(
        "create definition",
        f"config is nested {DEEP} deep",
        "POST",
        "/api/kpis/definitions",
        raw=deep,
    )
    for name in ("create definition", "update definition"):
        for flaw, config in flaws(
            ("nested 200 deep", nested(200)),
            ("nested 900 deep", nested(900)),
            ("a list", [1]),
            ("a string", "{}"),
            ("51 keys", {f"k{i}": i for i in range(51)}),
            ("not empty for a manual KPI", {"query_key": "cases_resolved_count"}),
            ("a NUL key", {"\u0000": 1}),
        ):
            yield body(name, f"config is {flaw}", {"config": config})
    query = {
        "key": "evil_sql",
        "name": "Evil",
        "unit": "count",
        "target_type": "higher_better",
        "aggregation_period": "weekly",
        "calculation_type": "query",
    }
    for sql in WRITING_SQL:
        yield body(
            "create definition", f"SQL {sql!r}", {**query, "config": {"sql": sql}}, merge=False
        )
        yield body(
            "update definition",
            f"SQL {sql!r}",
            {"config": {"sql": sql}},
            merge=False,
            definition_id=ids["query"],
        )
    for flaw, config in flaws(
        ("an unknown built-in", {"query_key": "drop_tables"}),
        ("SQL with NUL", {"sql": "SELECT '1' AS subject_id, 1 AS value\u0000; DROP TABLE x"}),
        ("SQL past 20,000 characters", {"sql": "SELECT '1' AS subject_id, 1 AS value --" + HUGE}),
        ("SQL and a built-in", {"sql": "SELECT 1", "query_key": "cases_resolved_count"}),
        ("SQL nested deep", {"sql": nested(200)}),
    ):
        yield body(
            "create definition", f"config is {flaw}", {**query, "config": config}, merge=False
        )
    for flaw, change in flaws(
        ("a key that exists", {"key": "calls"}),
        ("a key past 63 characters", {"key": "k" * 64}),
        ("a key with capitals", {"key": "Calls"}),
        ("a type not available yet", {"calculation_type": "formula"}),
        ("a warning threshold of 0", {"warning_threshold": 0}),
        ("a score cap of 0", {"score_cap": 0}),
    ):
        yield body("create definition", flaw, change)
    for flaw, change in flaws(
        ("a null name", {"name": None}),
        ("a null config", {"config": None}),
        ("a key change", {"key": "renamed"}),
        ("a period change", {"aggregation_period": "daily"}),
    ):
        yield body("update definition", flaw, change, merge=False)


BAD_PATH_IDS = [
    ("past int32 (unknown)", str(INT32)),
    ("past int64", str(INT64)),
    ("past uint64", str(2**64)),
    ("10**30", "1" + "0" * 30),
    ("negative", "-1"),
    ("zero", "0"),
    ("a word", "abc"),
    ("NUL", "%00"),
    ("1 then NUL", "1%00"),
    ("a fraction", "1.5"),
    ("an exponent", "1e3"),
    ("hexadecimal", "0x1"),
]
BAD_USER_IDS = [
    ("NUL", "%00"),
    ("NUL inside", "4%002"),
    ("a newline", "4%0A2"),
    ("DEL", "%7F"),
    ("65 characters", "1" * 65),
    ("60 KB", LONG),
]


def path_attempts(all_routes: dict[str, Route]) -> Iterator[Attempt]:
    """Each id in each path replaced by what is not one of our ids, with the valid body."""
    for name, route in all_routes.items():
        for param in route.params:
            bad_values = BAD_USER_IDS if param == "user_id" else BAD_PATH_IDS
            if not param.endswith("id"):
                continue
            for flaw, bad in bad_values:
                yield Attempt(
                    name, f"{param} is {flaw}", route.method, route.url(**{param: bad}), route.valid
                )
    for flaw, bad in BAD_PATH_IDS:
        yield Attempt(
            "deactivate definition",
            f"definition_id is {flaw}",
            "DELETE",
            f"/api/kpis/definitions/{bad}",
        )
    for flaw, bad in BAD_PATH_IDS:
        yield Attempt("delete goal", f"goal_id is {flaw}", "DELETE", f"/api/kpis/goals/{bad}")
    for kind in ("rules", "channels"):
        for flaw, bad in BAD_PATH_IDS:
            yield Attempt(
                f"delete alert {kind}", f"id is {flaw}", "DELETE", f"/api/kpis/alerts/{kind}/{bad}"
            )
    for flaw, bad in BAD_USER_IDS:
        yield Attempt("legacy user", f"user_id is {flaw}", "GET", f"/kpis/users/{bad}")


LISTS = [
    "/api/kpis/definitions",
    "/api/kpis/assignments",
    "/api/kpis/measurements",
    "/api/kpis/runs",
    "/api/kpis/audit",
    "/api/kpis/goals",
    "/api/kpis/alerts",
    "/api/kpis/alerts/rules",
    "/api/kpis/alerts/channels",
    "/api/kpis/alerts/deliveries",
]
BAD_LIMITS = [
    ("past int32", str(INT32)),
    ("past int64", str(INT64)),
    ("past uint64", str(2**64)),
    ("negative", "-1"),
    ("zero", "0"),
    ("501", "501"),
    ("NUL", "%00"),
    ("1 then NUL", "1%00"),
    ("a word", "many"),
    ("a fraction", "1.5"),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("60 KB", LONG),
]
BAD_QUERIES = [
    ("/api/kpis/definitions", "category=a%00b"),
    ("/api/kpis/definitions", "is_active=maybe"),
    ("/api/kpis/definitions", "cursor=%00"),
    ("/api/kpis/definitions", f"cursor={LONG}"),
    ("/api/kpis/definitions", "cursor=eyJhZnRlciI6IDkyMjMzNzIwMzY4NTQ3NzU4MDh9"),  # 2**63
    ("/api/kpis/assignments", f"definition_id={INT64}"),
    ("/api/kpis/assignments", "definition_id=%00"),
    ("/api/kpis/assignments", "user_id=%00"),
    ("/api/kpis/assignments", f"subject_id={LONG}"),
    ("/api/kpis/assignments", "active_on=2026-02-30"),
    ("/api/kpis/assignments", "subject_type=planet"),
    ("/api/kpis/measurements", f"assignment_id={2**64}"),
    ("/api/kpis/measurements", "definition_key=%00"),
    ("/api/kpis/measurements", "period_from=2026-02-30"),
    ("/api/kpis/measurements", "period_from=2026-02-01&period_to=2026-01-01"),
    ("/api/kpis/runs", "cursor=not-a-cursor"),
    ("/api/kpis/audit", "entity_id=%00"),
    ("/api/kpis/audit", f"entity_type={LONG}"),
    ("/api/kpis/goals", "user_id=%00"),
    ("/api/kpis/goals", "active_on=2026-02-30"),
    ("/api/kpis/goals", "period_kind=weekly"),
    ("/api/kpis/goals", f"definition_id={INT64}"),
    ("/api/kpis/alerts", "status=open"),
    ("/api/kpis/alerts", "subject_id=%00"),
    ("/api/kpis/alerts", f"rule_id={INT64}"),
    ("/api/kpis/alerts", "subject_type=planet"),
    ("/api/kpis/alerts/rules", "is_active=maybe"),
    ("/api/kpis/alerts/rules", "cursor=%00"),
    ("/api/kpis/alerts/deliveries", "status=sent"),
    ("/api/kpis/alerts/deliveries", f"alert_id={2**64}"),
]


def query_attempts() -> Iterator[Attempt]:
    """List parameters out of range or malformed (reads, but the same shape of refusal)."""
    for url in LISTS:
        for flaw, limit in BAD_LIMITS:
            yield Attempt("list", f"limit is {flaw}", "GET", f"{url}?limit={limit}")
    for url, query in BAD_QUERIES:
        yield Attempt("list", query[:60], "GET", f"{url}?{query}")


def all_attempts(ids: dict[str, int]) -> list[Attempt]:
    all_routes = routes(ids)
    attempts: list[Attempt] = []
    for name, route in all_routes.items():
        attempts += field_attempts(name, route)
        attempts += body_attempts(name, route)
    attempts += rule_attempts(ids, all_routes)
    attempts += path_attempts(all_routes)
    attempts += query_attempts()
    return attempts


async def send(client: AsyncClient, attempt: Attempt) -> Response:
    if attempt.body is NO_BODY and attempt.raw is None:
        return await client.request(attempt.method, attempt.url)
    content = attempt.raw if attempt.raw is not None else json.dumps(attempt.body).encode()
    headers = {"content-type": attempt.content_type} if attempt.content_type else {}
    return await client.request(attempt.method, attempt.url, content=content, headers=headers)


def improper(attempt: Attempt, response: Response) -> str | None:
    """Why this answer is not a proper refusal, or None."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}: {response.text[:300]}"
    try:
        payload = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    if attempt.url.startswith("/api/kpis"):
        if response.headers.get("content-type") != "application/problem+json":
            return f"content-type {response.headers.get('content-type')}"
        if payload.get("status") != response.status_code:
            return f"problem status {payload.get('status')} for {response.status_code}"
    elif not (isinstance(payload, dict) and isinstance(payload.get("error"), str)):
        return f"no 'error' in {response.text[:200]}"
    if "Traceback" in response.text or "sqlalchemy" in response.text.lower():
        return "internals in the answer"
    return None


@pytest.fixture
async def world(client: AsyncClient, db: Database) -> dict[str, int]:
    """A manual and a query KPI, one assignment of each, a recorded value, a run, a goal,
    and the source table the query KPI reads."""
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    await create_support_cases(
        db, [(42, "resolved", monday, monday + timedelta(hours=h)) for h in (1, 2, 3)]
    )

    async def made(method: str, url: str, body: dict[str, Any]) -> int:
        response = await client.request(method, url, json=body)
        assert response.status_code in (200, 201, 202), response.text
        made_id: int = response.json()["id"]
        if response.status_code == 202:  # a run: the attacks start once it has finished
            await wait_for_run(client, made_id)
        return made_id

    kpi = {"unit": "count", "target_type": "higher_better", "aggregation_period": "weekly"}
    manual = await made(
        "POST",
        "/api/kpis/definitions",
        {**kpi, "key": "calls", "name": "Calls", "calculation_type": "manual"},
    )
    query = await made(
        "POST",
        "/api/kpis/definitions",
        {
            **kpi,
            "key": "resolved",
            "name": "Resolved",
            "calculation_type": "query",
            "config": {"query_key": "cases_resolved_count"},
        },
    )
    common = {
        "subject_type": "user",
        "subject_id": "42",
        "target_value": 3,
        "start_date": "2026-01-05",
    }
    assignment = await made("POST", "/api/kpis/assignments", {**common, "definition_id": manual})
    query_assignment = await made(
        "POST", "/api/kpis/assignments", {**common, "definition_id": query}
    )
    await made("PUT", f"/api/kpis/assignments/{assignment}/measurements/2026-01-05", {"value": 2})
    await made("POST", "/api/kpis/measurements/recalculate", {"period_start": "2026-01-05"})
    goal = await made(
        "POST",
        "/api/kpis/goals",
        {
            "definition_key": "calls",
            "user_id": "42",
            "period_kind": "monthly",
            "period_start": "2026-01-01",
            "target_value": 10,
        },
    )
    channel = await made(
        "POST",
        "/api/kpis/alerts/channels",
        {
            "name": "ops",
            "url": "https://hooks.example.com/ops",
            "secret_env": "KPI_WEBHOOK_SECRET_OPS",
        },
    )
    rule = await made(
        "POST",
        "/api/kpis/alerts/rules",
        {
            "definition_id": manual,
            "name": "Low",
            "condition": {"kind": "achievement_below", "threshold": 80},
        },
    )
    # 2 of 3 is 67%: evaluated now, the rule opens an alert for 42.
    evaluated = await client.post(
        "/api/kpis/alerts/evaluate", json={"rule_ids": [rule], "period_start": "2026-01-05"}
    )
    assert evaluated.status_code == 200 and evaluated.json()["opened"] == 1, evaluated.text
    alert = (await client.get("/api/kpis/alerts")).json()["items"][0]["id"]
    return {
        "manual": manual,
        "query": query,
        "assignment": assignment,
        "query_assignment": query_assignment,
        "goal": goal,
        "channel": channel,
        "rule": rule,
        "alert": alert,
    }


def test_every_mutation_route_is_attacked() -> None:
    attacked = {
        (route.method, route.path)
        for route in routes(
            {
                "manual": 1,
                "query": 2,
                "assignment": 3,
                "query_assignment": 4,
                "goal": 5,
                "channel": 6,
                "rule": 7,
                "alert": 8,
            }
        ).values()
    }
    attacked.add(("DELETE", "/api/kpis/definitions/{definition_id}"))
    attacked.add(("DELETE", "/api/kpis/goals/{goal_id}"))
    attacked.add(("DELETE", "/api/kpis/alerts/rules/{rule_id}"))
    attacked.add(("DELETE", "/api/kpis/alerts/channels/{channel_id}"))
    mutations = {(method, path) for method, path in app_routes() if method != "GET"}
    assert mutations - attacked == set(), "add these routes to routes()"


async def test_hostile_requests_are_refused_and_change_nothing(
    client: AsyncClient, db: Database, world: dict[str, int]
) -> None:
    attempts = all_attempts(world)
    assert len(attempts) > 700
    before = await snapshot(db)
    assert before["audit_entries"][0] == 10, (
        "2 definitions, 2 assignments, 1 value, 1 run, 1 goal, an alert channel, rule, evaluation"
    )
    failures: list[str] = []
    for attempt in attempts:
        response = await send(client, attempt)
        reason = improper(attempt, response)
        if (after := await snapshot(db)) != before:
            reason = f"answered {response.status_code}, yet it changed " + ", ".join(
                sorted(t for t in after if after[t] != before.get(t))
            )
            before = after  # so the next attempt is judged on its own
        if reason is not None:
            failures.append(f"{attempt}: {reason}")
    assert not failures, f"{len(failures)} of {len(attempts)}:\n" + "\n".join(failures)

    # The bodies the attempts started from are accepted: each refusal was the flaw's doing.
    for name, route in routes(world).items():
        response = await send(client, Attempt(name, "none", route.method, route.url(), route.valid))
        assert response.status_code in (200, 201, 202), (name, response.text)
        assert await snapshot(db) != before, f"{name} wrote nothing"
        before = await snapshot(db)
