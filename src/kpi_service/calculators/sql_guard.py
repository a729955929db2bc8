"""Save-time safety check for admin-written KPI SQL, and the statement the runner executes.

Parsing is done by pglast (PostgreSQL's own parser), never by regex alone.  The SQL the runner
sends goes through ``sqlalchemy.text()``, which treats ``:word`` as a bind parameter even inside
string literals and comments, so the statement is checked exactly as PostgreSQL will receive it:
we render the text for ``text()``, replay SQLAlchemy's substitution, and parse that result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pglast
from pglast import ast
from pglast.enums.parsenodes import SetOperation
from pglast.parser import ParseError, scan


class UnsafeSql(ValueError):
    """The SQL breaks the contract; str(exc) is a clear one-sentence reason for an admin."""


ALLOWED_PARAMETERS: frozenset[str] = frozenset(
    {"subject_ids", "period_start", "period_end", "tenant_id"}
)
MAX_SQL_LENGTH = 20_000

# The runner uses a READ ONLY transaction, which already refuses writes to tables.  This list
# blocks what read-only still allows: sleeping past the timeout (pg_sleep*), lifting the timeout
# (set_config), reading server files (pg_read_file, pg_ls_*), taking locks (pg_advisory_*),
# side channels and remote calls (dblink*, http*, pg_notify, lo_export), functions that run SQL
# given as text, which this check cannot see (query_to_xml, ts_stat, crosstab), and server
# administration.  A trailing "*" means "any name with this prefix".
FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset(
    {
        "set_config",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_ls_*",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "lo_from_bytea",
        "lo_put",
        "lo_unlink",
        "dblink",
        "dblink_*",
        "pg_background_*",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_advisory_*",
        "pg_try_advisory_*",
        "pg_notify",
        "txid_current",
        "pg_current_xact_id",
        "nextval",
        "setval",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "query_to_json",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "table_to_xml",
        "table_to_xmlschema",
        "table_to_xml_and_xmlschema",
        "schema_to_xml*",
        "database_to_xml*",
        "ts_stat",
        "ts_rewrite",
        "crosstab*",
        "connectby",
        "http",
        "http_*",
        "pg_logical_emit_message",
        "pg_logical_slot_*",
        "pg_replication_*",
        "pg_create_*",
        "pg_drop_replication_slot",
        "pg_copy_*",
        "pg_switch_wal",
        "pg_promote",
        "pg_backup_*",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_export_snapshot",
        "pg_file_*",
        "pg_logdir_ls",
        "pg_import_system_collations",
        "pg_stat_reset",
        "pg_stat_reset_*",
        "pg_stat_statements_reset",
        "pg_log_*",
        "pg_wal_replay_*",
    }
)
_FORBIDDEN_PREFIXES = tuple(f[:-1] for f in FORBIDDEN_FUNCTIONS if f.endswith("*"))
# Tenant SQL reads the tenant's source tables, never the service's schema or the catalogs: the
# source role cannot read `kpi` anyway (core/sources.py), and refusing at save says so plainly.
FORBIDDEN_SCHEMAS: frozenset[str] = frozenset(
    {"kpi", "pg_catalog", "information_schema", "pg_toast"}
)

# Mirrors SQLAlchemy 2.1's TextClause bind regex and its "\:" un-escape (sql/compiler.py);
# tests/calculators/test_sql_guard.py compares this replay with the real text().compile().
_SA_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?![:\w])")
_SA_UNESCAPE = re.compile(r"\x5c(:\w*)(?![:\w])")
_PLACEHOLDER = {name: f"${i}" for i, name in enumerate(sorted(ALLOWED_PARAMETERS), start=1)}
_NAME_RUN = re.compile(r"\w+")
# Tokens that may hold a colon which is not a parameter: literals, quoted names, comments, ":"
# and ":=".  "::" (TYPECAST) is left alone because text() never touches a double colon.
_COLON_TOKENS = frozenset(
    {"SCONST", "USCONST", "IDENT", "UIDENT", "SQL_COMMENT", "C_COMMENT", "ASCII_58", "COLON_EQUALS"}
)
_TAIL_TOKENS = frozenset({"ASCII_59", "SQL_COMMENT", "C_COMMENT"})
_WRITE_LABELS = {
    ast.InsertStmt: "INSERT",
    ast.UpdateStmt: "UPDATE",
    ast.DeleteStmt: "DELETE",
    ast.MergeStmt: "MERGE",
}
_WRAPPER = (
    "SELECT q.subject_id::text AS subject_id, q.value::numeric AS value{extra} "
    "FROM (\n{body}\n) AS q LIMIT {limit}"
)
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class CheckedSql:
    """KPI SQL that passed check_select."""

    sql: str  # the admin's statement, trimmed, trailing semicolons removed
    parameters: frozenset[str]  # which of ALLOWED_PARAMETERS it uses


def check_select(sql: str) -> CheckedSql:
    """Validate KPI SQL against the contract and return it trimmed (or raise UnsafeSql)."""
    trimmed, parameters, _ = _analyse(sql)
    return CheckedSql(sql=trimmed, parameters=parameters)


def wrap_for_run(checked: CheckedSql, row_cap: int, extra_column: str | None = None) -> str:
    """Return the text() statement that runs the re-checked SQL with LIMIT row_cap + 1; an
    `extra_column` of the SQL (a plain name, quoted) is selected too, as `dimension`."""
    if isinstance(row_cap, bool) or not isinstance(row_cap, int) or row_cap < 1:
        raise ValueError(f"row_cap must be a positive int, got {row_cap!r}")
    if extra_column is not None and not _COLUMN.match(extra_column):
        raise ValueError(f"extra_column must be a plain column name, got {extra_column!r}")
    # Re-checked because stored SQL may predate today's rules or have been edited in the database.
    _, _, body = _analyse(checked.sql)
    extra = f', q."{extra_column}"::text AS dimension' if extra_column else ""
    return _WRAPPER.format(body=body, limit=row_cap + 1, extra=extra)


def _analyse(sql: str) -> tuple[str, frozenset[str], str]:
    """Run every check; return the trimmed SQL, its parameters and its body rendered for text()."""
    if "\x00" in sql:
        raise UnsafeSql("The SQL contains a NUL character.")
    if len(sql.strip()) > MAX_SQL_LENGTH:
        raise UnsafeSql(f"The SQL is longer than {MAX_SQL_LENGTH:,} characters.")
    trimmed = _trim(sql)
    if not trimmed:
        raise UnsafeSql("The SQL is empty.")
    body, parameters = _render_for_text(trimmed)
    statements = _parse(_replay_sqlalchemy(body, parameters))
    if len(statements) != 1:
        raise UnsafeSql("The SQL must be exactly one SELECT statement.")
    stmt = statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt):
        # INSERT/UPDATE/DELETE/MERGE may start with WITH, so those are named by node type.
        first = next(t for t in scan(trimmed) if not t.name.endswith("COMMENT"))
        label = _WRITE_LABELS.get(type(stmt)) or trimmed[first.start : first.end + 1].upper()
        raise UnsafeSql(f"Only a single SELECT statement is allowed, not {label}.")
    # Walk the full statement exactly as PostgreSQL will receive it from the runner.
    runner_sql = _replay_sqlalchemy(_WRAPPER.format(body=body, limit=2, extra=""), parameters)
    wrapped = _parse(runner_sql, "The SQL cannot be used as a subquery")
    outer = wrapped[0].stmt if len(wrapped) == 1 else None
    if not (
        isinstance(outer, ast.SelectStmt)
        and outer.fromClause
        and len(outer.fromClause) == 1
        and isinstance(outer.fromClause[0], ast.RangeSubselect)
    ):
        raise UnsafeSql("The SQL cannot be used as a subquery of the KPI runner.")
    for node in _walk(outer):
        _check_node(node)
    _check_output_columns(stmt)
    return trimmed, parameters, body


def _trim(sql: str) -> str:
    """Strip whitespace and the trailing semicolons (with any comments after them)."""
    trimmed = sql.strip()
    try:
        tokens = scan(trimmed)
    except ParseError as exc:
        raise UnsafeSql(_parse_message(exc)) from None
    for i, tok in enumerate(tokens):
        if tok.name == "ASCII_59" and all(t.name in _TAIL_TOKENS for t in tokens[i:]):
            return trimmed[: tok.start].rstrip()
    return trimmed


def _render_for_text(sql: str) -> tuple[str, frozenset[str]]:
    """Escape every non-parameter colon for text() and parenthesise allowed parameters."""
    pieces: list[str] = []
    used: set[str] = set()
    pos = 0
    for tok in scan(sql):  # cannot fail: _trim scanned a text that this one is a prefix of
        start, end = tok.start, tok.end + 1  # pglast reports character offsets, end inclusive
        if start < pos:  # the name part of a parameter already rendered
            continue
        if sql[pos:start].strip():
            raise UnsafeSql("The SQL contains text the PostgreSQL scanner did not recognise.")
        text, kind = sql[start:end], tok.name
        if kind == "ASCII_59":
            raise UnsafeSql("The SQL must be one statement; a semicolon may only end it.")
        if kind == "PARAM":
            raise UnsafeSql(f"Positional parameter {text} is not allowed; use :name parameters.")
        name_run = _NAME_RUN.match(sql, end)
        # Same rule as text(): a ":" right after a word, ":" or backslash is not a parameter.
        after_word = start > 0 and re.match(r"[:\w\\]", sql[start - 1]) is not None
        if kind == "ASCII_58" and name_run and not after_word:
            name = name_run.group()
            if name not in ALLOWED_PARAMETERS:
                allowed = ", ".join(f":{p}" for p in sorted(ALLOWED_PARAMETERS))
                raise UnsafeSql(f"Unknown parameter :{name}; only {allowed} are allowed.")
            used.add(name)
            # Parentheses keep ":name::type" working: text() does not bind a name followed by ":".
            pieces += [sql[pos:start], f"(:{name})"]
            pos = name_run.end()
            continue
        if kind == "SCONST" and text.startswith("'") and "\\" in text:
            # A plain literal's backslashes depend on standard_conforming_strings; an E'' literal
            # reads the same under either setting, so the server cannot tokenise it differently.
            if start > 0 and sql[start - 1].isalnum():
                raise UnsafeSql("Prefixed string literals must not contain backslashes.")
            text = "E" + text.replace("\\", "\\\\")
        if ":" in text and kind in _COLON_TOKENS:
            # "\:" is text()'s escape for a literal colon; the space after a bare ":" (array slice)
            # stops text() from reading "x:y::int" as a name followed by ":" and keeping the "\".
            text = text.replace(":", "\\:") + (" " if kind == "ASCII_58" else "")
        elif ":" in text and kind != "TYPECAST":
            raise UnsafeSql(f"The SQL contains an unexpected colon in {text!r}.")
        pieces += [sql[pos:start], text]
        pos = end
    pieces.append(sql[pos:])
    return "".join(pieces), frozenset(used)


def _replay_sqlalchemy(text: str, parameters: frozenset[str]) -> str:
    """Return what PostgreSQL receives after text() binds parameters as $n and un-escapes colons."""

    def bind(match: re.Match[str]) -> str:
        if (name := match.group(1)) not in parameters:
            raise UnsafeSql(f"The SQL would bind an unexpected parameter :{name}.")
        return _PLACEHOLDER[name]

    return _SA_UNESCAPE.sub(lambda m: m.group(1), _SA_BIND.sub(bind, text))


def _parse(text: str, prefix: str = "The SQL is not valid PostgreSQL") -> tuple[ast.RawStmt, ...]:
    """Parse with pglast, turning parser failures into UnsafeSql."""
    try:
        return tuple(pglast.parse_sql(text))
    except ParseError as exc:
        raise UnsafeSql(_parse_message(exc, prefix)) from None
    except RecursionError:
        raise UnsafeSql("The SQL is nested too deeply.") from None


def _parse_message(exc: ParseError, prefix: str = "The SQL is not valid PostgreSQL") -> str:
    """Shorten pglast's message and show parameters the way the admin wrote them."""
    message = str(exc.args[0]) if exc.args else str(exc)
    for name, placeholder in _PLACEHOLDER.items():
        message = message.replace(placeholder, f":{name}")
    return f"{prefix}: {message[:200]}."


def _check_output_columns(stmt: ast.SelectStmt) -> None:
    """Require the first branch to output subject_id and value, and no branch to use *."""
    leaves, stack = [], [stmt]
    while stack:  # the set-operation tree; leaves are plain SELECT branches, first branch first
        node = stack.pop()
        if node.op != SetOperation.SETOP_NONE and node.larg is not None and node.rarg is not None:
            stack += [node.rarg, node.larg]
        else:
            leaves.append(node)
    names: list[str] = []
    for i, leaf in enumerate(leaves):
        for target in leaf.targetList or ():
            value = target.val
            if isinstance(_last_field(value), ast.A_Star):
                raise UnsafeSql("SELECT * is not allowed at the top level; list the columns.")
            if i == 0:  # PostgreSQL takes output names from the first branch
                names.append(target.name or _implicit_name(value) or "?column?")
    for column in ("subject_id", "value"):
        if column not in names:
            raise UnsafeSql(f"The query must return a column named {column}.")
        if names.count(column) > 1:
            raise UnsafeSql(f"The query returns more than one column named {column}.")


def _implicit_name(value: ast.Node | None) -> str | None:
    """Output name PostgreSQL gives an unaliased column reference (also under a ::cast)."""
    while isinstance(value, ast.TypeCast):
        value = value.arg
    return str(last.sval) if isinstance(last := _last_field(value), ast.String) else None


def _last_field(value: ast.Node | None) -> object:
    """Last name part of a column reference (a String or A_Star), else None."""
    fields = value.fields if isinstance(value, ast.ColumnRef) else None
    return fields[-1] if fields else None


def _check_node(node: ast.Node) -> None:
    """Refuse writes, SELECT INTO, locking clauses and dangerous functions anywhere in the tree."""
    kind = type(node).__name__
    if kind.endswith("Stmt") and not isinstance(node, ast.SelectStmt | ast.RawStmt):
        raise UnsafeSql(
            f"The SQL contains a {kind.removesuffix('Stmt').upper()} statement; "
            "only reading is allowed."
        )
    if isinstance(node, ast.IntoClause):
        raise UnsafeSql("SELECT ... INTO is not allowed because it creates a table.")
    if isinstance(node, ast.LockingClause):
        raise UnsafeSql("Locking clauses such as FOR UPDATE or FOR SHARE are not allowed.")
    if isinstance(node, ast.RangeVar):
        schema, name = (node.schemaname or "").lower(), (node.relname or "").lower()
        if schema in FORBIDDEN_SCHEMAS or schema.startswith("pg_") or name.startswith("pg_"):
            shown = f"{schema}.{name}" if schema else name
            raise UnsafeSql(
                f"The SQL reads {shown}; KPI SQL reads the tenant's source tables, "
                "not the service's schema or the system catalogs."
            )
    parts: tuple[object, ...] = ()
    if isinstance(node, ast.FuncCall):
        parts = (node.funcname or ())[-1:]
    # PostgreSQL also calls f(x) when written as x.f or (x).f: "(0.1::float8).pg_sleep" sleeps.
    elif isinstance(node, ast.ColumnRef):
        parts = (node.fields or ())[1:]
    elif isinstance(node, ast.A_Indirection):
        parts = tuple(node.indirection or ())
    for part in parts:
        name = str(part.sval).lower() if isinstance(part, ast.String) else ""
        if name in FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
            raise UnsafeSql(f"The function {name} is not allowed in KPI SQL.")


def _walk(root: ast.Node) -> Iterator[ast.Node]:
    """Yield every node below root without recursion, so deep nesting cannot overflow the stack."""
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            slots: dict[str, object] = getattr(type(item), "__slots__", {})
            stack.extend(getattr(item, attr) for attr in slots)
        elif isinstance(item, tuple | list):
            stack.extend(item)
