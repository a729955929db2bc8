"""Measurements, their revisions, and calculation runs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.models.base import Base, CreatedAt, TenantId, TenantKeyed, one_of, tenant_fk
from kpi_service.models.vocabulary import MeasurementSource, RunStatus, RunTrigger


class Measurement(TenantKeyed, Base):
    """The value of one assignment for one period, recalculated in place."""

    __tablename__ = "measurements"
    __table_args__ = (
        tenant_fk("assignment_id", "assignments"),
        UniqueConstraint("tenant_id", "assignment_id", "period_start", "period_end"),
        # Among periods aligned to the definition, one measurement per period start.
        Index(
            "uq_measurements_aligned_period",
            "tenant_id",
            "assignment_id",
            "period_start",
            unique=True,
            postgresql_where=text("aligned"),
        ),
        Index(None, "tenant_id", "definition_id", "period_start"),
        CheckConstraint("period_end >= period_start", name="period"),
        one_of("source", MeasurementSource),
    )

    assignment_id: Mapped[int] = mapped_column(BigInteger)
    definition_id: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[date]
    period_end: Mapped[date]
    aligned: Mapped[bool]
    actual_value: Mapped[Decimal | None]
    target_value: Mapped[Decimal | None]
    achievement: Mapped[Decimal | None]
    score: Mapped[Decimal | None]
    status: Mapped[str | None]
    previous_value: Mapped[Decimal | None]
    change_pct: Mapped[Decimal | None]
    trend: Mapped[str | None]
    is_final: Mapped[bool]
    source: Mapped[str]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    comment: Mapped[str | None]
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    definition_version: Mapped[int]
    recorded_by: Mapped[str | None]
    revision: Mapped[int] = mapped_column(server_default=text("1"))
    calculated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MeasurementRevision(TenantKeyed, Base):
    """A measurement as it was before a change: who changed it, when and why."""

    __tablename__ = "measurement_revisions"
    __table_args__ = (
        tenant_fk("measurement_id", "measurements", ondelete="CASCADE"),
        Index(None, "tenant_id", "measurement_id", "revision"),
    )

    measurement_id: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int]
    actual_value: Mapped[Decimal | None]
    target_value: Mapped[Decimal | None]
    achievement: Mapped[Decimal | None]
    score: Mapped[Decimal | None]
    status: Mapped[str | None]
    source: Mapped[str]
    details: Mapped[dict[str, Any]]
    comment: Mapped[str | None]
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    definition_version: Mapped[int]
    recorded_by: Mapped[str | None]
    calculated_at: Mapped[datetime]
    changed_by: Mapped[str | None]
    change_reason: Mapped[str | None]
    changed_at: Mapped[CreatedAt]


class CalculationRun(TenantKeyed, Base):
    """One calculation over a period range: what was asked, how it went."""

    __tablename__ = "calculation_runs"
    __table_args__ = (
        one_of("trigger", RunTrigger),
        one_of("status", RunStatus),
        # A scheduled occurrence runs once, whichever replica gets there first.
        Index(
            "uq_calculation_runs_schedule_occurrence",
            "tenant_id",
            "trigger",
            "period_kind",
            "period_start",
            unique=True,
            postgresql_where=text("trigger = 'schedule'"),
        ),
        Index(None, "tenant_id", "created_at"),
        # Unfinished runs, found by their heartbeat when a replica looks for stale ones.
        Index(
            "ix_calculation_runs_unfinished",
            "heartbeat_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    trigger: Mapped[str]
    period_kind: Mapped[str | None]
    period_start: Mapped[date]
    period_end: Mapped[date]
    filters: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # The (definition id, period start, period end) triples to compute, in order; a run
    # resumed after a crash continues from `progress_done`.
    plan: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    restate: Mapped[bool] = mapped_column(server_default=text("false"))
    reason: Mapped[str | None]
    status: Mapped[str]
    computed: Mapped[int] = mapped_column(server_default=text("0"))
    unchanged: Mapped[int] = mapped_column(server_default=text("0"))
    failed: Mapped[int] = mapped_column(server_default=text("0"))
    skipped: Mapped[int] = mapped_column(server_default=text("0"))
    progress_done: Mapped[int] = mapped_column(server_default=text("0"))
    progress_total: Mapped[int] = mapped_column(server_default=text("0"))
    errors: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    requested_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker: Mapped[str | None]
    resumed: Mapped[int] = mapped_column(server_default=text("0"))


class ClosedPeriod(Base):
    """A (definition, period) whose measurements are frozen: only a restatement changes them."""

    __tablename__ = "closed_periods"
    __table_args__ = (
        tenant_fk("definition_id", "definitions"),
        CheckConstraint("period_end >= period_start", name="period"),
    )

    tenant_id: Mapped[TenantId]
    definition_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period_start: Mapped[date] = mapped_column(primary_key=True)
    period_end: Mapped[date]
    closed_by: Mapped[str | None]
    reason: Mapped[str | None]
    closed_at: Mapped[CreatedAt]


class AuditEntry(TenantKeyed, Base):
    """One mutation: who did what to which entity, before and after."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index(None, "tenant_id", "at"),
        Index(None, "tenant_id", "entity_type", "entity_id"),
    )

    at: Mapped[CreatedAt]
    actor: Mapped[str]
    actor_role: Mapped[str]
    action: Mapped[str]
    entity_type: Mapped[str]
    entity_id: Mapped[str]
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None]
