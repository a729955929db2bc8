"""subscription kpis: the calculation type `subscription` (revenue KPIs from subscription
events) joins the definitions' calculation types

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_definitions_calculation_type"
_BEFORE = "calculation_type IN ('manual', 'query', 'event', 'api', 'formula')"
_AFTER = "calculation_type IN ('manual', 'query', 'event', 'api', 'formula', 'subscription')"


def upgrade() -> None:
    op.drop_constraint(op.f(_NAME), "definitions", type_="check", schema="kpi")
    op.create_check_constraint(op.f(_NAME), "definitions", _AFTER, schema="kpi")


def downgrade() -> None:
    # Subscription KPIs have no older type to become: going back needs them gone first.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM kpi.definitions"
        " WHERE calculation_type = 'subscription')"
        " THEN RAISE EXCEPTION 'subscription KPI definitions exist (deactivated ones too);"
        " the API only deactivates, so removing them from kpi.definitions, with their"
        " assignments and measurements, is a step of its own before downgrading'; END IF; END $$"
    )
    op.drop_constraint(op.f(_NAME), "definitions", type_="check", schema="kpi")
    op.create_check_constraint(op.f(_NAME), "definitions", _BEFORE, schema="kpi")
