"""The built-in queries over `support_cases(assigned_to, status, created_at, resolved_at)`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Parameters are cast explicitly so a `timestamp without time zone` column compares in the
# organisation's time zone (the runner sets it for the transaction).
_RESOLVED_IN_PERIOD = """
FROM support_cases
WHERE assigned_to::text = ANY(CAST(:subject_ids AS text[]))
  AND status = 'resolved'
  AND resolved_at >= CAST(:period_start AS timestamptz)
  AND resolved_at < CAST(:period_end AS timestamptz)
GROUP BY assigned_to
"""


@dataclass(frozen=True, slots=True)
class BuiltinQuery:
    """A named, reviewed query; `value_when_no_rows` is what a subject without rows gets."""

    key: str
    description: str
    unit: str
    sql: str
    value_when_no_rows: Decimal | None


BUILTIN_QUERIES: dict[str, BuiltinQuery] = {
    q.key: q
    for q in (
        BuiltinQuery(
            key="avg_resolution_time",
            description="Average hours from creation to resolution of the cases resolved "
            "in the period (no resolved case: no value).",
            unit="hours",
            sql="SELECT assigned_to::text AS subject_id, "  # noqa: S608 (constant text)
            "AVG(EXTRACT(EPOCH FROM (resolved_at - created_at)) / 3600) AS value"
            + _RESOLVED_IN_PERIOD,
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="cases_resolved_count",
            description="Number of cases resolved in the period.",
            unit="count",
            sql="SELECT assigned_to::text AS subject_id, COUNT(*) AS value" + _RESOLVED_IN_PERIOD,
            value_when_no_rows=Decimal(0),
        ),
    )
}
