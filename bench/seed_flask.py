"""Seed 000's design for `GET /kpis/users/<id>`, reimplemented for comparison: Flask, psycopg2,
a new connection per request, the seed's SQL (one correlated subquery per assigned KPI for its
latest measurement) over the seed's three tables, `jsonify` of `RealDictCursor` rows.

Served by gunicorn (`gunicorn -w 1 -k gthread --threads 32 bench.seed_flask:app`): one process,
one thread per concurrent request, as the seed's `app.run()` (threaded) would serve it, with a
production server. `SEED_DSN` names the database; the tables are in its schema `seed`, copied
from the service's tables by `build_seed_tables` so both designs serve the same rows.

Departures from the seed, each in its favour or needed to run at all: the connection is closed
after each request (the seed never closes it and would run out of connections);
`achievement_percentage` is unbounded (the seed's DECIMAL(5,2) cannot hold achievements above
999.99%, DESIGN.md section 10); `user_id` references no `users` table.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

SCHEMA = "seed"

# The seed's tables and indexes (seed 000 "Database Schema"), filled from the service's.
BUILD = (
    f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
    f"CREATE SCHEMA {SCHEMA}",
    f"""CREATE TABLE {SCHEMA}.kpi_definitions (
        id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL, description TEXT,
        category VARCHAR(100), calculation_type VARCHAR(50) NOT NULL, config JSONB,
        unit VARCHAR(50), target_type VARCHAR(50), aggregation_period VARCHAR(50),
        is_active BOOLEAN DEFAULT true, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)""",
    f"""CREATE TABLE {SCHEMA}.user_kpis (
        id SERIAL PRIMARY KEY, user_id INTEGER,
        kpi_definition_id INTEGER REFERENCES {SCHEMA}.kpi_definitions(id) ON DELETE CASCADE,
        target_value DECIMAL(10, 2), weight DECIMAL(5, 2), start_date DATE NOT NULL,
        end_date DATE, assigned_by INTEGER, assigned_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        is_active BOOLEAN DEFAULT true, UNIQUE(user_id, kpi_definition_id, start_date))""",
    f"""CREATE TABLE {SCHEMA}.kpi_measurements (
        id SERIAL PRIMARY KEY,
        user_kpi_id INTEGER REFERENCES {SCHEMA}.user_kpis(id) ON DELETE CASCADE,
        period_start DATE NOT NULL, period_end DATE NOT NULL, actual_value DECIMAL(10, 2),
        target_value DECIMAL(10, 2), achievement_percentage NUMERIC, metadata JSONB,
        calculated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        UNIQUE(user_kpi_id, period_start, period_end))""",
    f"""INSERT INTO {SCHEMA}.kpi_definitions (id, name, description, category, calculation_type,
            config, unit, target_type, aggregation_period, is_active, created_at, updated_at)
        SELECT id, name, description, category, calculation_type, config, unit, target_type,
               aggregation_period, is_active, created_at, updated_at
        FROM kpi.definitions WHERE tenant_id = 'default'""",  # noqa: S608 (constant names)
    # The seed keeps one target per assignment: the one in force now.
    f"""INSERT INTO {SCHEMA}.user_kpis (id, user_id, kpi_definition_id, target_value, weight,
            start_date, end_date, assigned_at, is_active)
        SELECT a.id, a.subject_id::int, a.definition_id,
               (SELECT t.target_value FROM kpi.assignment_targets t
                WHERE t.tenant_id = a.tenant_id AND t.assignment_id = a.id
                ORDER BY t.effective_from DESC LIMIT 1),
               a.weight, a.start_date, a.end_date, a.created_at, a.end_date IS NULL
        FROM kpi.assignments a
        WHERE a.tenant_id = 'default' AND a.subject_type = 'user'
          AND a.subject_id ~ '^[0-9]{{1,9}}$'""",  # noqa: S608 (constant names)
    f"""INSERT INTO {SCHEMA}.kpi_measurements (user_kpi_id, period_start, period_end,
            actual_value, target_value, achievement_percentage, metadata, calculated_at)
        SELECT m.assignment_id, m.period_start, m.period_end, m.actual_value, m.target_value,
               m.achievement, m.details, m.calculated_at
        FROM kpi.measurements m JOIN {SCHEMA}.user_kpis u ON u.id = m.assignment_id
        WHERE m.tenant_id = 'default'""",  # noqa: S608 (constant names)
    f"CREATE INDEX idx_user_kpis_user ON {SCHEMA}.user_kpis(user_id) WHERE is_active = true",
    f"""CREATE INDEX idx_kpi_measurements_lookup
        ON {SCHEMA}.kpi_measurements(user_kpi_id, period_start DESC)""",
    f"VACUUM (ANALYZE) {SCHEMA}.kpi_definitions, {SCHEMA}.user_kpis, {SCHEMA}.kpi_measurements",
)

USER_KPIS_SQL = """
    SELECT
        uk.id,
        uk.target_value,
        uk.weight,
        uk.start_date,
        kd.id as kpi_definition_id,
        kd.name,
        kd.description,
        kd.unit,
        kd.target_type,
        kd.category,
        (
            SELECT json_build_object(
                'actual_value', km.actual_value,
                'achievement_percentage', km.achievement_percentage,
                'period_start', km.period_start,
                'period_end', km.period_end,
                'calculated_at', km.calculated_at
            )
            FROM kpi_measurements km
            WHERE km.user_kpi_id = uk.id
            ORDER BY km.period_start DESC
            LIMIT 1
        ) as latest_measurement
    FROM user_kpis uk
    JOIN kpi_definitions kd ON uk.kpi_definition_id = kd.id
    WHERE uk.user_id = %s
      AND uk.is_active = true
      AND kd.is_active = true
    ORDER BY uk.id
"""


async def build_seed_tables(dsn: str) -> None:
    """(Re)create the seed's tables in schema `seed` from the service's rows."""
    conn = await asyncpg.connect(dsn)
    try:
        for sql in BUILD:
            await conn.execute(sql)
    finally:
        await conn.close()


def create_app() -> Any:
    """The seed's Flask app with its one read route."""
    import psycopg2
    from flask import Flask, jsonify
    from psycopg2.extras import RealDictCursor

    dsn = os.environ["SEED_DSN"]
    app = Flask(__name__)

    def get_db_connection() -> Any:
        # The seed's tables are unqualified; the schema is chosen at connection start-up.
        return psycopg2.connect(dsn, options=f"-c search_path={SCHEMA}")

    @app.route("/kpis/users/<int:user_id>", methods=["GET"])
    def get_user_kpis(user_id: int) -> Any:
        db = get_db_connection()
        try:
            with db.cursor(cursor_factory=RealDictCursor) as cursor:
                cursor.execute(USER_KPIS_SQL, [user_id])
                kpis = cursor.fetchall()
                return jsonify({"user_id": user_id, "kpis": kpis})
        except Exception as e:
            log.error("Error fetching KPIs for user %s: %s", user_id, e)
            return jsonify({"error": str(e)}), 500
        finally:
            db.close()

    return app


app = create_app() if "SEED_DSN" in os.environ else None
