"""One generated demo event, as the events service takes it: its id drawn from the stream
that generated it, so the same seed gives the same ids."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any


def event(
    rng: random.Random,
    user: str,
    team: str | None,
    kind: str,
    at: datetime,
    value: Decimal | None = None,
    **properties: Any,
) -> dict[str, Any]:
    """An event body of `POST /events` (`kind` is its type)."""
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "user_id": user,
        "team_id": team,
        "type": kind,
        "occurred_at": at,
        "value": value,
        "properties": properties,
    }
