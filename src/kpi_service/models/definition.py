"""KPI definitions, assignments and their effective-dated targets."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.models.base import Base, CreatedAt, TenantId


class Definition(Base):
    __tablename__ = "definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint("target_type IN ('higher_better', 'lower_better', 'exact')",
                        name="target_type"),
        CheckConstraint(
            "aggregation_period IN ('daily', 'weekly', 'monthly', 'quarterly', 'yearly')",
            name="aggregation_period",
        ),
        CheckConstraint("scope IN ('user', 'team', 'organization')", name="scope"),
        CheckConstraint("rollup IN ('sum', 'avg', 'last', 'min', 'max')", name="rollup"),
        CheckConstraint(
            "calculation_type IN ('manual', 'query', 'event', 'api', 'formula')",
            name="calculation_type",
        ),
        CheckConstraint("score_cap > 0", name="score_cap"),
        CheckConstraint("version >= 1", name="version"),
    )

    tenant_id: Mapped[TenantId]
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
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
    rollup: Mapped[str]
    warning_threshold: Mapped[Decimal] = mapped_column(server_default=text("80"))
    score_cap: Mapped[Decimal] = mapped_column(server_default=text("150"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    created_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


# What a KPI is measured for (DESIGN.md section 3): the `subject_type` of an assignment.
class SubjectType(StrEnum):
    USER = "user"
    TEAM = "team"
    ORGANIZATION = "organization"


class Assignment(Base):
    """A definition assigned to one subject (the seed's `user_kpis`)."""

    __tablename__ = "assignments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "definition_id"],
                             ["kpi.definitions.tenant_id", "kpi.definitions.id"]),
        UniqueConstraint("tenant_id", "definition_id", "subject_type", "subject_id", "start_date"),
        CheckConstraint("subject_type IN ('user', 'team', 'organization')", name="subject_type"),
        CheckConstraint("weight >= 0 AND weight <= 100", name="weight"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        Index(None, "tenant_id", "subject_type", "subject_id"),
        Index(None, "tenant_id", "team_id"),
    )

    tenant_id: Mapped[TenantId]
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    definition_id: Mapped[int] = mapped_column(BigInteger)
    subject_type: Mapped[str]
    subject_id: Mapped[str]
    team_id: Mapped[str | None]
    weight: Mapped[Decimal]
    baseline_value: Mapped[Decimal | None]
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    assigned_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AssignmentTarget(Base):
    """The target of an assignment from a date on; earlier periods keep the earlier target."""

    __tablename__ = "assignment_targets"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "assignment_id"],
                             ["kpi.assignments.tenant_id", "kpi.assignments.id"],
                             ondelete="CASCADE"),
    )

    tenant_id: Mapped[TenantId]
    assignment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    target_value: Mapped[Decimal]
    set_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
