"""The `query` calculator: one read-only statement on the source database for all subjects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.calculators.builtin import BUILTIN_QUERIES
from kpi_service.calculators.sql_guard import UnsafeSql, check_select, wrap_for_run
from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable, describe_failure, sandbox


@dataclass(frozen=True, slots=True)
class PreparedQuery:
    """The statement to run and how to read its absence of rows."""

    label: str
    sql: str
    value_when_no_rows: Decimal | None


def prepare(config: dict[str, Any], row_cap: int) -> PreparedQuery:
    """The statement a definition's config stands for (built-in or checked admin SQL)."""
    if "query_key" in config:
        builtin = BUILTIN_QUERIES[config["query_key"]]
        return PreparedQuery(builtin.key, builtin.sql, builtin.value_when_no_rows)
    checked = check_select(config["sql"])
    return PreparedQuery("sql", wrap_for_run(checked, row_cap), None)


async def _fetch(
    engine: AsyncEngine,
    sql: str,
    params: dict[str, Any],
    settings: Settings,
    tz_name: str,
    row_cap: int,
) -> list[tuple[Any, Any]]:
    async with sandbox(engine, settings, params["tenant_id"], tz_name) as conn:
        result = await conn.execute(text(sql), params)
        rows = [(r[0], r[1]) for r in result.fetchmany(row_cap + 1)]
    if len(rows) > row_cap:
        raise CalculationFailed(f"the query returned more than {row_cap} rows (the row cap)")
    return rows


def _params(request: CalculationRequest) -> dict[str, Any]:
    # With a window, `:period_start` / `:period_end` are the window's bounds.
    start, end = request.span.instants(request.tz)
    return {
        "subject_ids": list(request.subject_ids),
        "period_start": start.astimezone(UTC),
        "period_end": end.astimezone(UTC),
        "tenant_id": request.tenant_id,
    }


def _outcomes(
    rows: list[tuple[Any, Any]], request: CalculationRequest, prepared: PreparedQuery
) -> dict[str, Outcome]:
    due = set(request.subject_ids)
    seen: dict[str, list[Any]] = {}
    for subject, value in rows:
        if subject is not None and str(subject) in due:
            seen.setdefault(str(subject), []).append(value)
    details = {"query": prepared.label, "rows": len(rows), **request.span_details()}
    out: dict[str, Outcome] = {}
    for subject in request.subject_ids:
        values = seen.get(subject)
        if values is None:
            if prepared.value_when_no_rows is not None:
                out[subject] = Outcome(prepared.value_when_no_rows, details=details)
            else:
                out[subject] = Outcome(None, reason="no data for the period", details=details)
        elif len(values) > 1:
            out[subject] = Outcome(
                None,
                reason=f"the query returned {len(values)} rows for this subject (expected one)",
                failed=True,
                details=details,
            )
        elif values[0] is None:
            out[subject] = Outcome(None, reason="the query returned no value", details=details)
        else:
            try:
                out[subject] = Outcome(Decimal(values[0]), details=details)
            except (InvalidOperation, TypeError, ValueError):
                out[subject] = Outcome(
                    None,
                    reason="the query returned a non-numeric value",
                    failed=True,
                    details=details,
                )
    return out


async def calculate(
    request: CalculationRequest, sources: Sources, settings: Settings
) -> dict[str, Outcome]:
    """Values for every due subject, from one statement on the tenant's source database."""
    try:
        prepared = prepare(request.config, settings.query_row_cap)
    except (UnsafeSql, KeyError) as exc:
        raise CalculationFailed(f"the query configuration is not usable: {exc}") from exc
    try:
        engine = await sources.engine(request.tenant_id, request.config.get("source"))
        rows = await _fetch(
            engine, prepared.sql, _params(request), settings, request.tz.key, settings.query_row_cap
        )
    except SourceUnavailable as exc:
        raise CalculationFailed(str(exc)) from None
    except DBAPIError as exc:
        context = f"tenant {request.tenant_id}, KPI {request.definition_key}"
        raise CalculationFailed(f"the query failed: {describe_failure(exc, context)}") from None
    return _outcomes(rows, request, prepared)


async def verify_sql(
    sources: Sources, tenant_id: str, source: str | None, sql: str, settings: Settings
) -> None:
    """Refuse admin SQL that breaks the contract or does not run on the tenant's source."""
    loc = ["body", "config", "sql"]
    try:
        checked = check_select(sql)
    except UnsafeSql as exc:
        raise InvalidInput(
            f"The SQL is refused: {exc}", errors=[field_error(loc, str(exc))]
        ) from None
    now = datetime.now(UTC)
    params = {"subject_ids": [], "period_start": now, "period_end": now, "tenant_id": tenant_id}
    probe = f"SELECT * FROM ({wrap_for_run(checked, 1)}) AS probe LIMIT 0"  # noqa: S608
    try:
        engine = await sources.engine(tenant_id, source)
        await _fetch(engine, probe, params, settings, "UTC", 1)
    except SourceUnavailable as exc:
        raise InvalidInput(
            f"The source is not usable: {exc}.",
            errors=[field_error(["body", "config", "source"], str(exc))],
        ) from None
    except DBAPIError as exc:
        reason = (
            f"it does not run on the source database: "
            f"{describe_failure(exc, f'tenant {tenant_id}, SQL checked at save')}"
        )
        raise InvalidInput(
            f"The SQL is refused: {reason}.", errors=[field_error(loc, reason)]
        ) from None
