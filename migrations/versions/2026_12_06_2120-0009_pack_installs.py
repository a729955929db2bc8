"""pack installs: which version of which pack each tenant installed, from which date its
organisation assignments start, the definitions the pack created (key -> id), and whether
each run assigns its user KPIs to the users who appear in its source tables

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pack_installs",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("pack", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column(
            "definitions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("follow_sources", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installed_by", sa.Text(), nullable=False),
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
        sa.CheckConstraint("version >= 1", name=op.f("ck_pack_installs_version")),
        sa.PrimaryKeyConstraint("tenant_id", "pack", name=op.f("pk_pack_installs")),
        schema="kpi",
    )


def downgrade() -> None:
    op.drop_table("pack_installs", schema="kpi")
