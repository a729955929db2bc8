"""goals: a user's own targets per period

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("definition_id", sa.BigInteger(), nullable=False),
        sa.Column("period_kind", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("target_value", sa.Numeric(), nullable=False),
        sa.Column("achieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "period_kind IN ('monthly', 'quarterly', 'yearly', 'custom')",
            name=op.f("ck_goals_period_kind"),
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_goals_period")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "definition_id"],
            ["kpi.definitions.tenant_id", "kpi.definitions.id"],
            name=op.f("fk_goals_tenant_id_definition_id_definitions"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_goals")),
        sa.UniqueConstraint(
            "tenant_id",
            "user_id",
            "definition_id",
            "period_start",
            "period_end",
            name=op.f("uq_goals_tenant_id_user_id_definition_id_period_start_period_end"),
        ),
        schema="kpi",
    )
    op.create_index(
        op.f("ix_goals_tenant_id_user_id_period_start"),
        "goals",
        ["tenant_id", "user_id", "period_start"],
        unique=False,
        schema="kpi",
    )
    op.create_index(
        op.f("ix_goals_tenant_id_definition_id"),
        "goals",
        ["tenant_id", "definition_id"],
        unique=False,
        schema="kpi",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_goals_tenant_id_definition_id"), table_name="goals", schema="kpi")
    op.drop_index(op.f("ix_goals_tenant_id_user_id_period_start"), table_name="goals", schema="kpi")
    op.drop_table("goals", schema="kpi")
