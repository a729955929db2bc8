"""The Alembic scripts build exactly the tables the models describe, and go down and up again."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import CheckConstraint, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.core.database import Database
from kpi_service.core.migrations import (
    current_revision,
    downgrade,
    head_revision,
    migration_engine,
    schema_drift,
    upgrade,
)
from kpi_service.models import SCHEMA, Base
from tests.support.database import create_database

Server = tuple[str, Callable[[str], str], Callable[[str], None]]

MODEL_TABLES = {
    "definitions",
    "assignments",
    "assignment_targets",
    "measurements",
    "measurement_revisions",
    "calculation_runs",
    "audit_entries",
    "events",
    "closed_periods",
    "goals",
    "alert_channels",
    "alert_rules",
    "alerts",
    "alert_deliveries",
    "alert_delivery_attempts",
    "pack_installs",
}


_diff = schema_drift


def _added_tables(diff: list[Any]) -> set[str]:
    return {op[1].name for op in diff if isinstance(op, tuple) and op[0] == "add_table"}


@pytest.fixture
async def fresh(server: Server) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A new empty database (and an engine on it), dropped afterwards."""
    url = await asyncio.to_thread(create_database, server, "kpi_mig")
    engine = migration_engine(url)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(server[2], make_url(url).database or "")


async def _diff_of(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema"),
            {"schema": SCHEMA},
        )
        return {r[0] for r in rows}


async def test_models_and_migrations_agree(fresh: tuple[str, AsyncEngine]) -> None:
    url, engine = fresh
    # Before any migration, the comparison sees every model table missing: it does compare.
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    assert _added_tables(await _diff_of(engine)) == MODEL_TABLES

    await asyncio.to_thread(upgrade, url)
    assert await _diff_of(engine) == []

    # And it notices a drift, so the empty diff above means something.
    async with engine.begin() as conn:
        await conn.execute(
            text(f"ALTER TABLE {SCHEMA}.assignments ALTER COLUMN team_id TYPE varchar(10)")
        )
        await conn.execute(text(f"DROP INDEX {SCHEMA}.ix_audit_entries_tenant_id_at"))
    drift = await _diff_of(engine)
    kinds = sorted(op[0][0] if isinstance(op, list) else op[0] for op in drift)
    assert kinds == ["add_index", "modify_type"], drift


async def test_downgrade_to_base_and_up_again_with_rows(fresh: tuple[str, AsyncEngine]) -> None:
    url, engine = fresh
    await asyncio.to_thread(upgrade, url)
    assert await _tables(engine) == MODEL_TABLES | {"alembic_version"}
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO kpi.definitions (tenant_id, id, key, name, unit, target_type, "
            "aggregation_period, scope, calculation_type, rollup) VALUES ('default', 1, "
            "'calls', 'Calls', 'count', 'higher_better', 'weekly', 'user', 'manual', 'sum')",
            "INSERT INTO kpi.assignments (tenant_id, id, definition_id, subject_type, "
            "subject_id, weight, start_date) VALUES ('default', 1, 1, 'user', '42', 100, "
            "'2026-01-05')",
            "INSERT INTO kpi.assignment_targets (tenant_id, assignment_id, effective_from, "
            "target_value) VALUES ('default', 1, '2026-01-05', 10)",
            "INSERT INTO kpi.calculation_runs (tenant_id, id, trigger, period_start, "
            "period_end, status) VALUES ('default', 1, 'manual', '2026-01-05', '2026-01-11', "
            "'succeeded')",
            "INSERT INTO kpi.measurements (tenant_id, id, assignment_id, definition_id, "
            "period_start, period_end, aligned, actual_value, target_value, is_final, source, "
            "definition_version, run_id, revision) VALUES ('default', 1, 1, 1, '2026-01-05', "
            "'2026-01-11', true, 12, 10, true, 'manual', 1, 1, 2)",
            "INSERT INTO kpi.measurement_revisions (tenant_id, measurement_id, revision, "
            "actual_value, source, details, definition_version, calculated_at) VALUES "
            "('default', 1, 1, 9, 'manual', '{}', 1, now())",
            "INSERT INTO kpi.audit_entries (tenant_id, actor, actor_role, action, entity_type, "
            "entity_id) VALUES ('default', 'boss', 'admin', 'create', 'definition', '1')",
        ):
            await conn.execute(text(statement))
    await engine.dispose()  # downgrade drops tables: no pooled connection may hold them

    await asyncio.to_thread(downgrade, url, "base")
    assert await _tables(engine) <= {"alembic_version"}
    assert await current_revision(engine) is None
    await engine.dispose()

    await asyncio.to_thread(upgrade, url)
    assert await _tables(engine) == MODEL_TABLES | {"alembic_version"}
    async with engine.connect() as conn:
        for table in sorted(MODEL_TABLES):
            count = (await conn.execute(text(f"SELECT count(*) FROM kpi.{table}"))).scalar_one()
            assert count == 0, table
    assert await current_revision(engine) == head_revision()
    assert head_revision() is not None
    assert await _diff_of(engine) == []


async def test_replicas_upgrading_together_all_succeed(
    fresh: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, engine = fresh
    # Three processes upgrade an empty database at once (Alembic's context is process-wide,
    # so threads would not do): one builds the schema, the others wait for its lock, then
    # find nothing to do.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_DATABASE_URL"] = url
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kpi_service.cli",
            "migrate",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    assert await current_revision(engine) == head_revision()
    assert await _tables(engine) == MODEL_TABLES | {"alembic_version"}
    async with engine.connect() as conn:
        versions = (
            await conn.execute(text("SELECT count(*) FROM kpi.alembic_version"))
        ).scalar_one()
    assert versions == 1


async def test_stored_values_are_rounded_half_to_even(fresh: tuple[str, AsyncEngine]) -> None:

    url, engine = fresh
    await asyncio.to_thread(upgrade, url, "0005")
    raw = ["33.333333333333336", "1.0000005", "1.0000015", "-2.0000025", "-2.00000251", "12.5", "7"]
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO kpi.definitions (tenant_id, id, key, name, unit, target_type, "
            "aggregation_period, scope, calculation_type, rollup) VALUES ('default', 1, "
            "'calls', 'Calls', 'count', 'higher_better', 'weekly', 'user', 'manual', 'sum')",
            "INSERT INTO kpi.assignments (tenant_id, id, definition_id, subject_type, "
            "subject_id, weight, start_date) VALUES ('default', 1, 1, 'user', '42', 100, "
            "'2026-01-05')",
        ):
            await conn.execute(text(statement))
        for i, value in enumerate(raw, start=1):
            await conn.execute(
                text(
                    "INSERT INTO kpi.measurements (tenant_id, id, assignment_id, definition_id, "
                    "period_start, period_end, aligned, actual_value, previous_value, is_final, "
                    "source, definition_version, revision) VALUES ('default', :i, 1, 1, :s, :e, "
                    "true, CAST(:v AS numeric), CAST(:v AS numeric), true, 'manual', 1, 2)"
                ),
                {
                    "i": i,
                    "v": value,
                    "s": date(2026, 1, 5) + timedelta(weeks=i),
                    "e": date(2026, 1, 11) + timedelta(weeks=i),
                },
            )
            await conn.execute(
                text(
                    "INSERT INTO kpi.measurement_revisions (tenant_id, measurement_id, revision, "
                    "actual_value, source, details, definition_version, calculated_at) VALUES "
                    "('default', :i, 1, CAST(:v AS numeric), 'manual', '{}', 1, now())"
                ),
                {"i": i, "v": value},
            )
    await asyncio.to_thread(upgrade, url)
    six = Decimal("0.000001")
    expected = [Decimal(v).quantize(six, rounding=ROUND_HALF_EVEN) for v in raw]
    assert [str(e) for e in expected[1:5]] == ["1.000000", "1.000002", "-2.000002", "-2.000003"]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT m.actual_value, m.previous_value, r.actual_value FROM "
                    "kpi.measurements m "
                    "JOIN kpi.measurement_revisions r ON r.measurement_id = m.id ORDER BY m.id"
                )
            )
        ).all()
    assert [tuple(row) for row in stored] == [(e, e, e) for e in expected]
    # Values with six places or fewer are left as they were written.
    assert [str(row[0]) for row in stored][5:] == ["12.5", "7"]


async def test_vocabulary_checks_hold_the_values_the_migrations_allow(db: Database) -> None:
    # The models build `x IN (...)` checks from their enums (one_of); Alembic does not compare
    # checks, so the values are compared with the migrated database's here.
    quoted = re.compile(r"'([^']*)'")
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'c' AND connamespace = CAST(:schema AS regnamespace)"
            ),
            {"schema": SCHEMA},
        )
        migrated = {name: set(quoted.findall(definition)) for name, definition in rows}
    modelled = {
        str(c.name): set(quoted.findall(str(c.sqltext)))
        for table in Base.metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint) and " IN (" in str(c.sqltext)
    }
    assert len(modelled) == 16
    assert {name: migrated.get(name) for name in modelled} == modelled
