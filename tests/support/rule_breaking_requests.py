"""Requests with well-typed values the domain rules refuse: reversed or huge ranges, deep
config, SQL that writes or stalls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.support.malformed_requests import DEEP, HUGE, INT64, LONG, flaws, nested
from tests.support.mutation_routes import Attempt, Route

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
    # The seed's contract: its assignments always carry a target (the native API's may not).
    yield body("legacy assign", "a null target", {"target_value": None})
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
