"""The revenue benchmark's contenders, each run in a fresh interpreter (bench.common's
`in_fresh_interpreter`): the service's calculators called as a run calls them, and
hand-written statements (the floors, and MRR computed independently for the check).

Each contender does its work `repeat` times and records every pass; then each statement of
its last pass once more under `EXPLAIN (ANALYZE, BUFFERS)` for what PostgreSQL did.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.dataset import TENANT
from bench.figures import EXPLAIN, PlanFigures, plan_figures
from kpi_service.calculators import event, subscription
from kpi_service.calculators.base import Outcome
from kpi_service.calculators.subjects import request_for
from kpi_service.core.database import async_url
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.engine.windows import Window
from kpi_service.models import CalculationType, Definition
from kpi_service.packs.model import Spec
from kpi_service.packs.registry import PACKS

UTC_ZONE = ZoneInfo("UTC")
_READS_EVENTS = "kpi.events"


@dataclass(frozen=True, slots=True)
class Work:
    """What one contender did: the seconds of each pass, the values it found (by label, as
    text, for the checks), the details of each value, and the plans of one pass."""

    passes: list[float]
    values: dict[str, str]
    plan: PlanFigures
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The median pass."""
        return statistics.median(self.passes)


# ----------------------------------------------------------- the service's calculators


def pack_definition(key: str) -> Definition:
    """A pack's definition as the install stores it (config checked by its calculator) and a
    run reads it; not stored here, the calculators need only its fields."""
    spec: Spec = next(s for p in PACKS.all() for s in p.definitions if s["key"] == key)
    scope = spec["scope"]
    if spec["calculation_type"] == CalculationType.SUBSCRIPTION:
        config = subscription.validate_config(spec["config"], scope)
    else:
        config = event.validate_config(spec["config"])
    return Definition(
        tenant_id=TENANT,
        key=key,
        name=spec["name"],
        unit=spec["unit"],
        target_type=spec["target_type"],
        aggregation_period=spec["aggregation_period"],
        scope=scope,
        calculation_type=spec["calculation_type"],
        config=config,
        window=spec.get("window"),
        rollup=spec["rollup"],
    )


async def _outcome(session: AsyncSession, definition: Definition, day: date) -> Outcome:
    """The organisation's value of the definition for the period holding `day`: one
    statement, from the request a run builds (`request_for`)."""
    period = containing(PeriodKind(definition.aggregation_period), day)
    window = Window.of(definition.window)
    request = request_for(definition, period, [TENANT], UTC_ZONE, window)
    if definition.calculation_type == CalculationType.SUBSCRIPTION:
        outcomes = await subscription.calculate(request, session)
    else:
        outcomes = await event.calculate(request, session, definition.scope)
    return outcomes[TENANT]


async def _calculated(url: str, keys: list[str], days: list[date], repeat: int) -> Work:
    definitions = [pack_definition(key) for key in keys]
    engine = create_async_engine(async_url(url))
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        statements.append((args[2], args[3]))

    sqlalchemy_event.listen(engine.sync_engine, "before_cursor_execute", capture)
    passes: list[float] = []
    values: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    try:
        async with AsyncSession(engine) as session:
            for _ in range(repeat):
                statements.clear()
                started = time.perf_counter()
                for definition in definitions:
                    for day in days:
                        outcome = await _outcome(session, definition, day)
                        label = f"{definition.key} {day}"
                        values[label] = str(outcome.value)
                        details[label] = outcome.details
                passes.append(time.perf_counter() - started)
            plan = PlanFigures()
            connection = await session.connection()
            for sql, parameters in [s for s in statements if _READS_EVENTS in s[0]]:
                explained = await connection.exec_driver_sql(EXPLAIN + sql, parameters)
                plan += plan_figures(explained.scalar_one())
    finally:
        await engine.dispose()
    return Work(passes, values, plan, details)


def calculated(url: str, keys: list[str], days: list[date], repeat: int) -> Work:
    """Each definition for the period of each day, through the service's calculator."""
    return asyncio.run(_calculated(url, keys, days, repeat))


# ------------------------------------------------------------ hand-written statements

# The floor of the subscription statements: reading the ledger up to the month's end at all.
LEDGER_COUNT = f"""
SELECT count(*) FROM kpi.events
WHERE tenant_id = '{TENANT}' AND type = 'subscription' AND occurred_at < $1"""  # noqa: S608

# MRR at an instant, written from the calculator's rules (subscription.py's docstring), not
# from its code: each customer's last usable event before it.
MRR_BY_HAND = f"""
SELECT coalesce(sum(value), 0) FROM (
    SELECT DISTINCT ON (properties ->> 'customer_id') value
    FROM kpi.events
    WHERE tenant_id = '{TENANT}' AND type = 'subscription' AND occurred_at < $1
      AND value >= 0 AND jsonb_typeof(properties -> 'customer_id') IN ('string', 'number')
      AND properties ->> 'customer_id' <> ''
    ORDER BY properties ->> 'customer_id', occurred_at DESC, received_at DESC, id DESC
) AS last_events"""  # noqa: S608

# The floor of a rolling MAU: the distinct users of its 30 days, one statement.
DISTINCT_LOGINS = f"""
SELECT count(DISTINCT user_id) FROM kpi.events
WHERE tenant_id = '{TENANT}' AND type = 'login' AND occurred_at >= $1 AND occurred_at < $2"""  # noqa: S608

Statement = tuple[str, str, tuple[Any, ...]]  # label, SQL, arguments


async def _by_hand(dsn: str, statements: list[Statement], repeat: int) -> Work:
    conn = await asyncpg.connect(dsn)
    passes: list[float] = []
    values: dict[str, str] = {}
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            for label, sql, args in statements:
                values[label] = str(await conn.fetchval(sql, *args))
            passes.append(time.perf_counter() - started)
        plan = PlanFigures()
        for _, sql, args in statements:
            plan += plan_figures(await conn.fetchval(EXPLAIN + sql, *args))
    finally:
        await conn.close()
    return Work(passes, values, plan)


def by_hand(dsn: str, statements: list[Statement], repeat: int) -> Work:
    """Hand-written statements in plain asyncpg, one after the other."""
    return asyncio.run(_by_hand(dsn, statements, repeat))
