"""Tests for the admin KPI SQL guard (pure: no database)."""

from __future__ import annotations

import re
from typing import Any

import pglast
import pytest
from pglast import ast
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg

from kpi_service.calculators.sql_guard import (
    _PLACEHOLDER,
    ALLOWED_PARAMETERS,
    FORBIDDEN_FUNCTIONS,
    CheckedSql,
    UnsafeSql,
    _replay_sqlalchemy,
    check_select,
    wrap_for_run,
)

RESOLUTION_HOURS = """
SELECT assigned_to::text AS subject_id,
       AVG(EXTRACT(EPOCH FROM (resolved_at - created_at)) / 3600) AS value
FROM support_cases
WHERE assigned_to::text = ANY(:subject_ids) AND status = 'resolved'
  AND resolved_at >= :period_start AND resolved_at < :period_end
GROUP BY assigned_to
"""
CLOSED_DEALS = """
SELECT d.owner_id AS subject_id, COUNT(*)::numeric AS value
FROM deals d
WHERE d.tenant_id = :tenant_id AND d.owner_id = ANY(:subject_ids)
  AND d.closed_at >= :period_start AND d.closed_at < :period_end
GROUP BY d.owner_id
"""
CTE = """
WITH closed AS (
    SELECT c.assigned_to, c.resolved_at FROM support_cases c
    WHERE c.resolved_at >= :period_start AND c.resolved_at < :period_end
)
SELECT closed.assigned_to::text AS subject_id, COUNT(*) AS value
FROM closed WHERE closed.assigned_to::text = ANY(:subject_ids)
GROUP BY closed.assigned_to
"""
UNION = """
SELECT a.user_id AS subject_id, a.amount AS value FROM sales a
WHERE a.user_id = ANY(:subject_ids)
UNION ALL
SELECT r.user_id, -r.amount FROM refunds r WHERE r.user_id = ANY(:subject_ids)
"""
CASTS = """
SELECT s.id::text AS subject_id,
       COUNT(*) FILTER (WHERE s.at::time > '12:30'::time) AS value
FROM shifts s
WHERE s.id = ANY(:subject_ids::text[]) AND s.note <> E'\\\\x:y' AND s.tag <> $$a:period_x$$
  AND s."weird:name" IS NOT NULL AND s.label NOT LIKE 'a:b'
GROUP BY s.id
"""
COMMENTS = """
-- counts tickets per agent; :foo is only mentioned here
SELECT t.agent AS subject_id, /* :bar and :user_id */ COUNT(*) AS value
FROM tickets t WHERE t.agent = ANY(:subject_ids)  -- :baz
GROUP BY t.agent
"""
PERIOD_ONLY = """
SELECT u.login AS subject_id, SUM(u.minutes) AS value FROM usage u
WHERE u.day >= :period_start AND u.day < :period_end GROUP BY u.login
"""
TRAILING_SEMICOLON = "SELECT s.id AS subject_id, s.score AS value FROM scores s;\n  ;  "

ACCEPTED = {
    "resolution_hours": (RESOLUTION_HOURS, {"subject_ids", "period_start", "period_end"}),
    "closed_deals": (CLOSED_DEALS, set(ALLOWED_PARAMETERS)),
    "cte": (CTE, {"subject_ids", "period_start", "period_end"}),
    "union": (UNION, {"subject_ids"}),
    "casts_and_literals": (CASTS, {"subject_ids"}),
    "comments": (COMMENTS, {"subject_ids"}),
    "period_only": (PERIOD_ONLY, {"period_start", "period_end"}),
    "trailing_semicolon": (TRAILING_SEMICOLON, set()),
}
DIALECT = asyncpg.dialect()  # type: ignore[no-untyped-call]
OK_COLUMNS = "SELECT 1 AS subject_id, 2 AS value"


def compile_like_runner(statement: str) -> tuple[str, list[str]]:
    """Compile as the runner does (text() on asyncpg) and return the SQL and parameter order."""
    compiled = text(statement).compile(dialect=DIALECT)
    return str(compiled), list(compiled.positiontup or [])


def refused(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeSql) as info:
        check_select(sql)
    assert reason.lower() in str(info.value).lower(), str(info.value)


@pytest.mark.parametrize(("sql", "parameters"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepts_contract_queries(sql: str, parameters: set[str]) -> None:
    checked = check_select(sql)
    assert checked.parameters == frozenset(parameters)
    assert checked.sql == checked.sql.strip() and not checked.sql.endswith(";")


def test_check_trims_and_removes_trailing_semicolons() -> None:
    checked = check_select(TRAILING_SEMICOLON)
    assert checked.sql == "SELECT s.id AS subject_id, s.score AS value FROM scores s"


@pytest.mark.parametrize("tail", [";", " ;; ", "; -- done", ";\n/* end */ ;"])
def test_trailing_semicolons_and_comments_are_removed(tail: str) -> None:
    assert check_select(OK_COLUMNS + tail).sql == OK_COLUMNS


def test_implicit_column_names_and_casts() -> None:
    checked = check_select("SELECT c.subject_id, t.value::numeric FROM c JOIN t USING (id)")
    assert checked.parameters == frozenset()


@pytest.mark.parametrize("sql", [" ", "", "\n\t ;; "])
def test_refuses_empty(sql: str) -> None:
    refused(sql, "empty")


def test_refuses_too_long() -> None:
    refused(OK_COLUMNS + " " * 10 + "-" * 20_001 + "\nFROM t", "longer than 20,000")


def test_refuses_nul() -> None:
    refused("SELECT 1 AS subject_id, 2 AS value\x00", "NUL")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT 1 AS subject_id, 2 AS value FROM", "syntax error at end of input"),
        ("SELEC 1 AS subject_id", 'syntax error at or near "SELEC"'),
        ("SELECT 'abc AS subject_id", "unterminated quoted string"),
        ("SELECT 1 /* unterminated", "unterminated /* comment"),
        ("SELECT 1 AS subject_id, 2 AS value) AS q LIMIT 1 --", "syntax error"),
    ],
)
def test_refuses_unparseable(sql: str, reason: str) -> None:
    refused(sql, "not valid PostgreSQL")
    refused(sql, reason)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1; COMMIT;",
        "SELECT 1 AS subject_id, 2 AS value FROM t; DROP TABLE x",
        "SELECT 1 AS subject_id, 2 AS value; /* c */ SELECT 2",
    ],
)
def test_refuses_more_than_one_statement(sql: str) -> None:
    refused(sql, "must be one statement")


@pytest.mark.parametrize(
    ("sql", "label"),
    [
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("WITH x AS (SELECT 1) DELETE FROM t", "DELETE"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE"),
        ("CREATE TABLE x AS SELECT 1 AS subject_id, 2 AS value", "CREATE"),
        ("DROP TABLE t", "DROP"),
        ("ALTER TABLE t ADD COLUMN c int", "ALTER"),
        ("TRUNCATE t", "TRUNCATE"),
        ("GRANT SELECT ON t TO public", "GRANT"),
        ("COPY t TO STDOUT", "COPY"),
        ("SET statement_timeout = 0", "SET"),
        ("RESET ALL", "RESET"),
        ("BEGIN", "BEGIN"),
        ("COMMIT", "COMMIT"),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO"),
        ("CALL p()", "CALL"),
        ("VACUUM t", "VACUUM"),
        ("LOCK TABLE t", "LOCK"),
        ("EXPLAIN SELECT 1 AS subject_id, 2 AS value", "EXPLAIN"),
        ("LISTEN ch", "LISTEN"),
        ("NOTIFY ch", "NOTIFY"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
        ("EXECUTE p", "EXECUTE"),
        ("-- looks harmless\nDROP TABLE t", "DROP"),
    ],
)
def test_refuses_non_select(sql: str, label: str) -> None:
    refused(sql, f"Only a single SELECT statement is allowed, not {label}")


def test_refuses_select_into() -> None:
    refused("SELECT 1 AS subject_id, 2 AS value INTO new_table FROM t", "INTO")


@pytest.mark.parametrize("lock", ["FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE", "FOR KEY SHARE"])
def test_refuses_locking_clauses(lock: str) -> None:
    refused(f"{OK_COLUMNS} FROM t {lock}", "Locking clauses")
    refused(f"{OK_COLUMNS} FROM (SELECT * FROM t {lock}) s", "Locking clauses")


@pytest.mark.parametrize(
    ("cte", "kind"),
    [
        ("DELETE FROM t RETURNING *", "DELETE"),
        ("INSERT INTO t VALUES (1) RETURNING *", "INSERT"),
        ("UPDATE t SET a = 1 RETURNING *", "UPDATE"),
    ],
)
def test_refuses_data_modifying_cte(cte: str, kind: str) -> None:
    refused(f"WITH d AS ({cte}) SELECT 1 AS subject_id, 2 AS value FROM d", f"{kind} statement")


def _forbidden_examples() -> list[str]:
    names = {f.replace("*", "x") for f in FORBIDDEN_FUNCTIONS}
    return sorted(
        names
        | {
            "dblink_exec",
            "pg_advisory_xact_lock",
            "pg_try_advisory_lock",
            "pg_stat_reset_shared",
            "pg_sleep_for",
        }
    )


@pytest.mark.parametrize("name", _forbidden_examples())
def test_refuses_dangerous_functions(name: str) -> None:
    refused(f"SELECT 1 AS subject_id, {name}(1) AS value", name)


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("pg_catalog.set_config('statement_timeout', '0', true)", "set_config"),
        ("\"pg_catalog\".\"set_config\"('a', 'b', true)", "set_config"),
        ("PG_SLEEP(100)", "pg_sleep"),
        ("(SELECT max(x) FROM generate_series(1, pg_sleep(1)::text::int) x)", "pg_sleep"),
        # Attribute notation calls the function too: (0.1::float8).pg_sleep sleeps.
        ("(0.1::float8).pg_sleep", "pg_sleep"),
        ("s.nextval", "nextval"),
    ],
)
def test_refuses_dangerous_functions_in_any_spelling(expression: str, name: str) -> None:
    refused(f"SELECT 1 AS subject_id, {expression} AS value FROM s", name)
    refused(f"{OK_COLUMNS} FROM t WHERE EXISTS (SELECT {expression})", name)


def test_refuses_dangerous_function_in_from_and_cte() -> None:
    refused(f"{OK_COLUMNS} FROM pg_ls_dir('.') d", "pg_ls_dir")
    refused(f"WITH w AS (SELECT pg_read_file('/etc/passwd')) {OK_COLUMNS} FROM w", "pg_read_file")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t",
        "SELECT t.* FROM t",
        "SELECT *, 1 AS subject_id, 2 AS value FROM t",
        "TABLE t",
        f"{OK_COLUMNS} UNION SELECT * FROM t",
    ],
)
def test_refuses_star_at_top_level(sql: str) -> None:
    refused(sql, "SELECT * is not allowed")


def test_allows_star_inside_subqueries() -> None:
    check_select("SELECT s.a AS subject_id, count(*) AS value FROM (SELECT * FROM t) s GROUP BY 1")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT 1 AS subject_id FROM t", "column named value"),
        ("SELECT c.assigned_to, 2 AS value FROM c", "column named subject_id"),
        ("SELECT 1 AS subject, 2 AS val", "column named subject_id"),
        ("VALUES (1, 2)", "column named subject_id"),
        ("SELECT 1 AS a, 2 AS b UNION SELECT 1 AS subject_id, 2 AS value", "named subject_id"),
        ("SELECT 1 AS subject_id, 2 AS value, 3 AS value", "more than one column named value"),
    ],
)
def test_refuses_missing_output_columns(sql: str, reason: str) -> None:
    refused(sql, reason)


def test_union_uses_first_branch_names() -> None:
    check_select("SELECT 1 AS subject_id, 2 AS value UNION SELECT 3 AS a, 4 AS b")


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT 1 AS subject_id, 2 AS value FROM t WHERE u = :user_id", ":user_id"),
        ("SELECT :foo AS subject_id, 2 AS value", ":foo"),
        ("SELECT 1 AS subject_id, 2 AS value WHERE x = ANY(:subject_id)", ":subject_id"),
        ("SELECT 1 AS subject_id, 2 AS value WHERE x = (:period_start2)::date", ":period_start2"),
    ],
)
def test_refuses_unknown_parameters(sql: str, name: str) -> None:
    refused(sql, f"Unknown parameter {name};")


def test_refuses_positional_parameters() -> None:
    refused("SELECT $1 AS subject_id, 2 AS value", "Positional parameter $1")


@pytest.mark.parametrize(
    ("fragment", "parameters"),
    [
        ("x::text", set()),
        (":subject_ids::text[]", {"subject_ids"}),
        ("1 = ANY(:subject_ids)", {"subject_ids"}),
        ("'12:30'::time", set()),
        ("E'\\\\x:y'", set()),
        ("'a:b'", set()),
        ("$$ :foo $$", set()),
        ("$tag$:user_id$tag$", set()),
        ('"weird:name"', set()),
        ("(ARRAY[1,2,3])[1:2]", set()),
        ("f(a => 1, b := :tenant_id)", {"tenant_id"}),
        ("CAST(:period_end AS date)", {"period_end"}),
    ],
)
def test_colons_outside_parameters_are_not_parameters(fragment: str, parameters: set[str]) -> None:
    checked = check_select(f"SELECT 1 AS subject_id, {fragment} AS value -- :foo\n/* :bar */")
    assert checked.parameters == frozenset(parameters)


def _limit(statement: str) -> int:
    outer = pglast.parse_sql(statement)[0].stmt
    assert isinstance(outer, ast.SelectStmt) and isinstance(outer.limitCount, ast.A_Const)
    limit: Any = outer.limitCount.val
    return int(limit.ival)


@pytest.mark.parametrize(("sql", "parameters"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_wrap_for_run_compiles_parses_and_caps(sql: str, parameters: set[str]) -> None:
    wrapped = wrap_for_run(check_select(sql), 500)
    assert wrapped.startswith(
        "SELECT q.subject_id::text AS subject_id, q.value::numeric AS value FROM ("
    )
    assert wrapped.endswith(") AS q LIMIT 501")
    compiled, order = compile_like_runner(wrapped)
    assert set(order) == parameters
    assert len(pglast.parse_sql(compiled)) == 1
    assert _limit(compiled) == 501


def test_wrap_for_run_adds_a_quoted_extra_column_and_refuses_anything_else() -> None:
    sql = "SELECT owner AS subject_id, 1 AS value, region FROM leads"
    wrapped = wrap_for_run(check_select(sql), 5, extra_column="region")
    assert wrapped.startswith(
        "SELECT q.subject_id::text AS subject_id, q.value::numeric AS "
        'value, q."region"::text AS dimension FROM ('
    )
    assert len(pglast.parse_sql(compile_like_runner(wrapped)[0])) == 1
    for bad in ('region" FROM x; --', "a b", "", "1st", "région"):
        with pytest.raises(ValueError, match="extra_column"):
            wrap_for_run(check_select(sql), 5, extra_column=bad)


@pytest.mark.parametrize(("sql", "parameters"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_replay_matches_sqlalchemy(sql: str, parameters: set[str]) -> None:
    """The guard checks its replay of text(); it must equal what SQLAlchemy really sends."""
    wrapped = wrap_for_run(check_select(sql), 10)
    compiled, order = compile_like_runner(wrapped)
    real = re.sub(r"\$(\d+)", lambda m: ":" + order[int(m.group(1)) - 1], compiled)
    names = {v: k for k, v in _PLACEHOLDER.items()}
    replay = re.sub(
        r"\$\d+",
        lambda m: ":" + names[m.group()],
        _replay_sqlalchemy(wrapped, frozenset(parameters)),
    )
    assert real == replay


def test_runner_sql_keeps_literals_and_comments_verbatim() -> None:
    compiled, order = compile_like_runner(wrap_for_run(check_select(CASTS + " -- :foo"), 1))
    for piece in [
        "'12:30'::time",
        "E'\\\\x:y'",
        "$$a:period_x$$",
        '"weird:name"',
        "'a:b'",
        "-- :foo\n",
    ]:
        assert piece in compiled
    assert order == ["subject_ids"]


def test_plain_backslash_literals_become_escape_strings() -> None:
    """The server must not read 'a\\' differently when standard_conforming_strings is off."""
    hidden = "SELECT 'a\\' AS subject_id, 1 AS value, ' , pg_sleep(100) AS y --'"
    compiled, _ = compile_like_runner(wrap_for_run(check_select(hidden), 1))
    assert "E'a\\\\'" in compiled
    outer: Any = pglast.parse_sql(compiled)[0].stmt
    target = outer.fromClause[0].subquery.targetList[0]
    assert target.val.val.sval == "a\\"


def test_wrap_for_run_rechecks_stored_sql() -> None:
    with pytest.raises(UnsafeSql, match="DROP"):
        wrap_for_run(CheckedSql(sql="DROP TABLE t", parameters=frozenset()), 10)


@pytest.mark.parametrize("row_cap", [0, -1, True, 1.5, "10"])
def test_wrap_for_run_rejects_bad_row_cap(row_cap: object) -> None:
    with pytest.raises(ValueError, match="row_cap"):
        wrap_for_run(check_select(RESOLUTION_HOURS), row_cap)  # type: ignore[arg-type]
