"""A user's own goals: a target on a KPI definition over a period they choose."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.engine.goals import GoalPeriodKind
from kpi_service.models.base import Base, CreatedAt, TenantId, one_of


class Goal(Base):
    """One user's target for one KPI over one date range (a month, quarter, year or custom)."""

    __tablename__ = "goals"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "definition_id"], ["kpi.definitions.tenant_id", "kpi.definitions.id"]
        ),
        UniqueConstraint("tenant_id", "user_id", "definition_id", "period_start", "period_end"),
        one_of("period_kind", GoalPeriodKind),
        CheckConstraint("period_end >= period_start", name="period"),
        Index(None, "tenant_id", "user_id", "period_start"),
        Index(None, "tenant_id", "definition_id"),
    )

    tenant_id: Mapped[TenantId]
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str]
    definition_id: Mapped[int] = mapped_column(BigInteger)
    period_kind: Mapped[str]
    period_start: Mapped[date]
    period_end: Mapped[date]
    target_value: Mapped[Decimal]
    achieved_at: Mapped[datetime | None]
    created_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
