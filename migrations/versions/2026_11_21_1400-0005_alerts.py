"""alerts: rules on KPIs, the alerts they open, webhook channels and the delivery log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_env", sa.Text(), nullable=False),
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
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_channels")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_alert_channels_tenant_id_name")),
        schema="kpi",
    )
    op.create_table(
        "alert_rules",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("definition_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column(
            "channel_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=True),
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
            "kind IN ('achievement_below', 'value_threshold', 'change_pct', 'anomaly', 'consecutive_declines', 'missing_value')",
            name=op.f("ck_alert_rules_kind"),
        ),
        sa.CheckConstraint(
            "severity IN ('warning', 'critical')", name=op.f("ck_alert_rules_severity")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "definition_id"],
            ["kpi.definitions.tenant_id", "kpi.definitions.id"],
            name=op.f("fk_alert_rules_tenant_id_definition_id_definitions"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_rules")),
        schema="kpi",
    )
    op.create_index(
        op.f("ix_alert_rules_tenant_id_definition_id"),
        "alert_rules",
        ["tenant_id", "definition_id"],
        unique=False,
        schema="kpi",
    )
    op.create_table(
        "alerts",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("definition_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("last_period_start", sa.Date(), nullable=False),
        sa.Column("last_period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.Column("observed", sa.Numeric(), nullable=True),
        sa.Column("threshold", sa.Numeric(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("severity IN ('warning', 'critical')", name=op.f("ck_alerts_severity")),
        sa.CheckConstraint(
            "status IN ('pending', 'firing', 'resolved')", name=op.f("ck_alerts_status")
        ),
        sa.CheckConstraint("last_period_start >= period_start", name=op.f("ck_alerts_periods")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "rule_id"],
            ["kpi.alert_rules.tenant_id", "kpi.alert_rules.id"],
            name=op.f("fk_alerts_tenant_id_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "tenant_id",
            "rule_id",
            "subject_type",
            "subject_id",
            "period_start",
            name=op.f("uq_alerts_tenant_id_rule_id_subject_type_subject_id_period_start"),
        ),
        schema="kpi",
    )
    op.create_index(
        "ix_alerts_open",
        "alerts",
        ["tenant_id", "opened_at"],
        unique=False,
        schema="kpi",
        postgresql_where=sa.text("status IN ('pending', 'firing')"),
    )
    op.create_index(
        op.f("ix_alerts_tenant_id_definition_id"),
        "alerts",
        ["tenant_id", "definition_id"],
        unique=False,
        schema="kpi",
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "event IN ('firing', 'resolved')", name=op.f("ck_alert_deliveries_event")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'cancelled')",
            name=op.f("ck_alert_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "alert_id"],
            ["kpi.alerts.tenant_id", "kpi.alerts.id"],
            name=op.f("fk_alert_deliveries_tenant_id_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint(
            "tenant_id",
            "alert_id",
            "channel_id",
            "event",
            name=op.f("uq_alert_deliveries_tenant_id_alert_id_channel_id_event"),
        ),
        schema="kpi",
    )
    op.create_index(
        "ix_alert_deliveries_due",
        "alert_deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="kpi",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_alert_deliveries_tenant_id_channel_id"),
        "alert_deliveries",
        ["tenant_id", "channel_id"],
        unique=False,
        schema="kpi",
    )
    op.create_table(
        "alert_delivery_attempts",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["kpi.alert_deliveries.tenant_id", "kpi.alert_deliveries.id"],
            name=op.f("fk_alert_delivery_attempts_tenant_id_delivery_id_alert_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_alert_delivery_attempts")),
        schema="kpi",
    )
    op.create_index(
        op.f("ix_alert_delivery_attempts_tenant_id_delivery_id"),
        "alert_delivery_attempts",
        ["tenant_id", "delivery_id"],
        unique=False,
        schema="kpi",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_alert_delivery_attempts_tenant_id_delivery_id"),
        table_name="alert_delivery_attempts",
        schema="kpi",
    )
    op.drop_table("alert_delivery_attempts", schema="kpi")
    op.drop_index(
        op.f("ix_alert_deliveries_tenant_id_channel_id"),
        table_name="alert_deliveries",
        schema="kpi",
    )
    op.drop_index(
        "ix_alert_deliveries_due",
        table_name="alert_deliveries",
        schema="kpi",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("alert_deliveries", schema="kpi")
    op.drop_index(op.f("ix_alerts_tenant_id_definition_id"), table_name="alerts", schema="kpi")
    op.drop_index(
        "ix_alerts_open",
        table_name="alerts",
        schema="kpi",
        postgresql_where=sa.text("status IN ('pending', 'firing')"),
    )
    op.drop_table("alerts", schema="kpi")
    op.drop_index(
        op.f("ix_alert_rules_tenant_id_definition_id"), table_name="alert_rules", schema="kpi"
    )
    op.drop_table("alert_rules", schema="kpi")
    op.drop_table("alert_channels", schema="kpi")
