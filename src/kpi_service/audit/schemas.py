"""Audit entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kpi_service.core.schemas import Output


class AuditEntryRead(Output):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
