"""Ingested events: partitioned by month of `occurred_at`, `tenant_id` leading every key."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, PrimaryKeyConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from kpi_service.models.base import Base, CreatedAt

# Monthly partitions are named events_yYYYYmMM and created on demand (see events/repository).
PARTITION_PREFIX = "events_y"


class Event(Base):
    """Something a user did: a call, a login, a conversion; the id is the client's UUID."""

    __tablename__ = "events"
    __table_args__ = (
        # The partition key must be part of the key; a resent event has the same instant.
        PrimaryKeyConstraint("tenant_id", "id", "occurred_at"),
        Index(None, "tenant_id", "type", "occurred_at"),
        Index(None, "tenant_id", "user_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    tenant_id: Mapped[str]
    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    occurred_at: Mapped[datetime]
    user_id: Mapped[str]
    team_id: Mapped[str | None]
    type: Mapped[str]
    value: Mapped[Decimal | None]
    properties: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    received_at: Mapped[CreatedAt]
