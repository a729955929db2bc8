"""Query parameter types shared by the metrics views, so that one name means one thing."""

from __future__ import annotations

from kpi_service.core.schemas import Day as Day  # a day any report may name
