"""KPI definitions, assignments and their effective-dated targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.engine.vocabulary import PeriodKind, Rollup, SubjectType, TargetType
from kpi_service.models.base import (
    Base,
    CreatedAt,
    TenantId,
    TenantKeyed,
    Timestamped,
    one_of,
    tenant_fk,
)
from kpi_service.models.vocabulary import CalculationType


class Definition(TenantKeyed, Timestamped, Base):
    __tablename__ = "definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        one_of("target_type", TargetType),
        one_of("aggregation_period", PeriodKind),
        one_of("scope", SubjectType),
        one_of("rollup", Rollup),
        one_of("calculation_type", CalculationType),
        CheckConstraint("score_cap > 0", name="score_cap"),
        CheckConstraint("version >= 1", name="version"),
    )

    key: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[str | None]
    unit: Mapped[str]
    target_type: Mapped[str]
    aggregation_period: Mapped[str]
    scope: Mapped[str]
    calculation_type: Mapped[str]
    config: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # The window each period's value is computed over (None: the period itself); the
    # column is named `time_window` because WINDOW is reserved in PostgreSQL.
    window: Mapped[Any] = mapped_column("time_window", JSONB(none_as_null=True), nullable=True)
    rollup: Mapped[str]
    warning_threshold: Mapped[Decimal] = mapped_column(server_default=text("80"))
    score_cap: Mapped[Decimal] = mapped_column(server_default=text("150"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_by: Mapped[str | None]


class Assignment(TenantKeyed, Timestamped, Base):
    """A definition assigned to one subject (the seed's `user_kpis`)."""

    __tablename__ = "assignments"
    __table_args__ = (
        tenant_fk("definition_id", "definitions"),
        UniqueConstraint("tenant_id", "definition_id", "subject_type", "subject_id", "start_date"),
        one_of("subject_type", SubjectType),
        CheckConstraint("weight >= 0 AND weight <= 100", name="weight"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        Index(None, "tenant_id", "subject_type", "subject_id"),
        Index(None, "tenant_id", "team_id"),
    )

    definition_id: Mapped[int] = mapped_column(BigInteger)
    subject_type: Mapped[str]
    subject_id: Mapped[str]
    team_id: Mapped[str | None]
    weight: Mapped[Decimal]
    baseline_value: Mapped[Decimal | None]
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    assigned_by: Mapped[str | None]


class AssignmentTarget(Base):
    """The target of an assignment from a date on; earlier periods keep the earlier target."""

    __tablename__ = "assignment_targets"
    __table_args__ = (tenant_fk("assignment_id", "assignments", ondelete="CASCADE"),)

    tenant_id: Mapped[TenantId]
    assignment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    # None: tracked without a target from this date on (no achievement, no score).
    target_value: Mapped[Decimal | None]
    set_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
