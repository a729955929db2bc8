"""Requests whose values are malformed: the wrong type, NUL-laden, huge or out of range, in
bodies, paths and list parameters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.support.mutation_routes import Attempt, Route

SENTINEL = "__RAW_LITERAL__"
HUGE = "x" * 100_000
LONG = "x" * 60_000  # in URLs: httpx (like most servers) refuses URLs past 64 KB
INT32, INT64 = 2**31, 2**63
DEEP = 100_000  # past any JSON parser's recursion limit


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
