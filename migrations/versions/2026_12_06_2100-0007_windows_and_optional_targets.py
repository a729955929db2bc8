"""windows and optional targets: a definition may compute over a window ending at each
period's end (`time_window`, null for the period itself), and an assignment may be tracked
without a target (a null `target_value` from a date on)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `window` is a reserved word in PostgreSQL: the column is named for what it holds.
    op.add_column(
        "definitions",
        sa.Column("time_window", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="kpi",
    )
    op.alter_column(
        "assignment_targets",
        "target_value",
        existing_type=sa.Numeric(),
        nullable=True,
        schema="kpi",
    )


def downgrade() -> None:
    # Targets left out cannot be made up, and a window dropped would silently change what a
    # KPI computes: going back needs neither to be in use.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM kpi.assignment_targets WHERE target_value IS NULL)"
        " THEN RAISE EXCEPTION 'assignments without a target exist; set one before downgrading';"
        " END IF; END $$"
    )
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM kpi.definitions WHERE time_window IS NOT NULL)"
        " THEN RAISE EXCEPTION 'definitions with a window exist; clear their windows before"
        " downgrading'; END IF; END $$"
    )
    op.alter_column(
        "assignment_targets",
        "target_value",
        existing_type=sa.Numeric(),
        nullable=False,
        schema="kpi",
    )
    op.drop_column("definitions", "time_window", schema="kpi")
