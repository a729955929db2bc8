"""Audit entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from kpi_service.core.schemas import Instant, ListQuery, Output, ShortText, SubjectRef


class AuditQuery(ListQuery):
    """What the audit log may be narrowed to."""

    actor: SubjectRef | None = Field(default=None, description="Who did it (a user id).")
    action: ShortText | None = Field(default=None, description="e.g. create, update, delete")
    entity_type: ShortText | None = None
    entity_id: ShortText | None = None
    since: Instant | None = Field(
        default=None, description="Entries at or after this instant (ISO 8601 with an offset)."
    )
    until: Instant | None = Field(
        default=None, description="Entries before this instant (ISO 8601 with an offset)."
    )


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
