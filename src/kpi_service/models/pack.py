"""Which version of which pack each tenant installed, and the definitions it made."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.models.base import Base, TenantId, Timestamped


class PackInstall(Timestamped, Base):
    """A pack installed in a tenant: its version, when and by whom, the date its organisation
    assignments start from, the definitions it created (key -> id), which alone an upgrade
    may change, and whether runs assign its user KPIs to the users new in its sources."""

    __tablename__ = "pack_installs"
    __table_args__ = (CheckConstraint("version >= 1", name="version"),)

    tenant_id: Mapped[TenantId] = mapped_column(sort_order=-2)
    pack: Mapped[str] = mapped_column(primary_key=True, sort_order=-1)
    version: Mapped[int]
    from_date: Mapped[date]
    definitions: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    follow_sources: Mapped[bool] = mapped_column(server_default=text("false"))
    installed_at: Mapped[datetime]
    installed_by: Mapped[str]
