"""Alert rules, the alerts they open, webhook channels and the log of every delivery."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.engine.vocabulary import AlertStatus, Notice
from kpi_service.models.base import (
    Base,
    CreatedAt,
    TenantKeyed,
    Timestamped,
    UpdatedAt,
    one_of,
    tenant_fk,
)
from kpi_service.models.vocabulary import DeliveryStatus, RuleKind, Severity


class AlertChannel(TenantKeyed, Timestamped, Base):
    """A webhook: where alerts are posted, and the environment variable holding the key that
    signs them (the secret itself is never stored)."""

    __tablename__ = "alert_channels"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str]
    url: Mapped[str]
    secret_env: Mapped[str]
    created_by: Mapped[str | None]


class AlertRule(TenantKeyed, Timestamped, Base):
    """A condition watched on one KPI definition, for one subject or all of them."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        tenant_fk("definition_id", "definitions"),
        one_of("kind", RuleKind),
        one_of("severity", Severity),
        Index(None, "tenant_id", "definition_id"),
    )

    definition_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str]
    kind: Mapped[str]
    params: Mapped[dict[str, Any]]
    subject_id: Mapped[str | None]
    severity: Mapped[str]
    channel_ids: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), server_default=text("'{}'::bigint[]")
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    last_evaluated_at: Mapped[datetime | None]
    created_by: Mapped[str | None]


class Alert(TenantKeyed, Base):
    """What a rule found for one subject, from the period it opened in to the last judged."""

    __tablename__ = "alerts"
    __table_args__ = (
        tenant_fk("rule_id", "alert_rules", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "rule_id", "subject_type", "subject_id", "period_start"),
        one_of("status", AlertStatus),
        one_of("severity", Severity),
        CheckConstraint("last_period_start >= period_start", name="periods"),
        # Open alerts, newest first, for the summary view.
        Index(
            "ix_alerts_open",
            "tenant_id",
            "opened_at",
            postgresql_where=text("status IN ('pending', 'firing')"),
        ),
        Index(None, "tenant_id", "definition_id"),
    )

    rule_id: Mapped[int] = mapped_column(BigInteger)
    definition_id: Mapped[int] = mapped_column(BigInteger)
    subject_type: Mapped[str]
    subject_id: Mapped[str]
    period_start: Mapped[date]
    period_end: Mapped[date]
    last_period_start: Mapped[date]
    last_period_end: Mapped[date]
    status: Mapped[str]
    severity: Mapped[str]
    # Consecutive breaching periods seen while pending; `for_periods` of them make it fire.
    streak: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal | None]
    observed: Mapped[Decimal | None]
    threshold: Mapped[Decimal | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    opened_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None]
    acknowledgement_note: Mapped[str | None]
    updated_at: Mapped[UpdatedAt]


class AlertDelivery(TenantKeyed, Base):
    """One notification of one alert transition to one channel, until delivered or given up."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        tenant_fk("alert_id", "alerts", ondelete="CASCADE"),
        # A transition is notified once per channel, whoever queues it.
        UniqueConstraint("tenant_id", "alert_id", "channel_id", "event"),
        one_of("event", Notice),
        one_of("status", DeliveryStatus),
        # Pending deliveries by when they are due, for the retry sweep.
        Index(
            "ix_alert_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "tenant_id", "channel_id"),
    )

    alert_id: Mapped[int] = mapped_column(BigInteger)
    # No foreign key: the log outlives a deleted channel (its pending deliveries are cancelled).
    channel_id: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str]
    # The exact JSON sent, fixed when queued so every retry signs and sends the same bytes.
    body: Mapped[str]
    status: Mapped[str]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # When the next attempt is due; while an attempt runs, when it is presumed dead.
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]


class AlertDeliveryAttempt(TenantKeyed, Base):
    """One HTTP attempt of a delivery: what answered, how long it took, what comes next."""

    __tablename__ = "alert_delivery_attempts"
    __table_args__ = (
        tenant_fk("delivery_id", "alert_deliveries", ondelete="CASCADE"),
        Index(None, "tenant_id", "delivery_id"),
    )

    delivery_id: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None]
    duration_ms: Mapped[int] = mapped_column(Integer)
    next_retry_at: Mapped[datetime | None]
    attempted_at: Mapped[CreatedAt]
