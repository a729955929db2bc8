"""A user's own goals: a target on a KPI definition over a period they choose."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.engine.vocabulary import GoalPeriodKind
from kpi_service.models.base import Base, TenantKeyed, Timestamped, one_of, tenant_fk


class Goal(TenantKeyed, Timestamped, Base):
    """One user's target for one KPI over one date range (a month, quarter, year or custom)."""

    __tablename__ = "goals"
    __table_args__ = (
        tenant_fk("definition_id", "definitions"),
        UniqueConstraint("tenant_id", "user_id", "definition_id", "period_start", "period_end"),
        one_of("period_kind", GoalPeriodKind),
        CheckConstraint("period_end >= period_start", name="period"),
        Index(None, "tenant_id", "user_id", "period_start"),
        Index(None, "tenant_id", "definition_id"),
    )

    user_id: Mapped[str]
    definition_id: Mapped[int] = mapped_column(BigInteger)
    period_kind: Mapped[str]
    period_start: Mapped[date]
    period_end: Mapped[date]
    target_value: Mapped[Decimal]
    achieved_at: Mapped[datetime | None]
    created_by: Mapped[str | None]
