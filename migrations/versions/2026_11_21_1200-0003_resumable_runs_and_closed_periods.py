"""resumable runs (plan, restate, worker) and closed periods

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "calculation_runs",
        sa.Column(
            "plan",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema="kpi",
    )
    op.add_column(
        "calculation_runs",
        sa.Column("restate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="kpi",
    )
    op.add_column("calculation_runs", sa.Column("reason", sa.Text(), nullable=True), schema="kpi")
    op.add_column("calculation_runs", sa.Column("worker", sa.Text(), nullable=True), schema="kpi")
    op.add_column(
        "calculation_runs",
        sa.Column("resumed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="kpi",
    )
    op.create_index(
        "ix_calculation_runs_unfinished",
        "calculation_runs",
        ["heartbeat_at"],
        unique=False,
        schema="kpi",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "closed_periods",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("definition_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_closed_periods_period")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "definition_id"],
            ["kpi.definitions.tenant_id", "kpi.definitions.id"],
            name=op.f("fk_closed_periods_tenant_id_definition_id_definitions"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "definition_id", "period_start", name=op.f("pk_closed_periods")
        ),
        schema="kpi",
    )


def downgrade() -> None:
    op.drop_table("closed_periods", schema="kpi")
    op.drop_index("ix_calculation_runs_unfinished", table_name="calculation_runs", schema="kpi")
    op.drop_column("calculation_runs", "resumed", schema="kpi")
    op.drop_column("calculation_runs", "worker", schema="kpi")
    op.drop_column("calculation_runs", "reason", schema="kpi")
    op.drop_column("calculation_runs", "restate", schema="kpi")
    op.drop_column("calculation_runs", "plan", schema="kpi")
