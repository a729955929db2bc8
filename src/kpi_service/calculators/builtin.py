"""The built-in queries: reviewed SQL of ours over the seeds' source tables.

- seed 000's `support_cases(id, assigned_to, status, created_at, resolved_at,
  first_response_at, reopened_count)` (the first two keys read the first four columns only);
- seed 003's `leads(id, assigned_agent_id, created_at, contacted_at, converted_at,
  disposition, response_time_hours, satisfaction_rating, revenue)`;
- seed 004's `contacts(id, owner_id, funnel_stage, created_at)`.

Each takes `:subject_ids` (user ids as text), `:period_start` and `:period_end` (instants,
end exclusive) and returns `subject_id` and `value`. docs/packs.md states what each measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Parameters are cast explicitly so a `timestamp without time zone` column compares in the
# organisation's time zone (the runner sets it for the transaction).
_START = "CAST(:period_start AS timestamptz)"
_END = "CAST(:period_end AS timestamptz)"
_SUBJECTS = "CAST(:subject_ids AS text[])"


def _in_period(column: str) -> str:
    return f"{column} >= {_START} AND {column} < {_END}"


_RESOLVED_IN_PERIOD = f"""
FROM support_cases
WHERE assigned_to::text = ANY({_SUBJECTS})
  AND status = 'resolved'
  AND {_in_period("resolved_at")}
GROUP BY assigned_to
"""


def _per_subject(aggregate: str, table: str, owner: str, condition: str) -> str:
    """One row per due subject, those without rows included (counts give them 0)."""
    return (
        f"SELECT s.subject AS subject_id, {aggregate} AS value "  # noqa: S608 (constant text)
        f"FROM unnest({_SUBJECTS}) AS s(subject) "
        f"LEFT JOIN {table} AS t ON t.{owner}::text = s.subject AND {condition} "
        "GROUP BY s.subject"
    )


def _grouped(aggregate: str, table: str, owner: str, condition: str) -> str:
    """One row per subject that has rows (an average of nothing is no value)."""
    return (
        f"SELECT {owner}::text AS subject_id, {aggregate} AS value "  # noqa: S608
        f"FROM {table} WHERE {owner}::text = ANY({_SUBJECTS}) AND {condition} "
        f"GROUP BY {owner}"
    )


# Seed 004's funnel in order; a contact is at or beyond each step up to its stage's rank.
# `blocked` and `closed_lost` do not record where the contact stopped: a blocked contact
# counts as assigned only, a lost one as contacted (it cannot be lost before any outreach).
CRM_STAGES = (
    "needs_outreach",
    "contacted",
    "meeting_set",
    "proposal_sent",
    "negotiation",
    "blocked",
    "closed_won",
    "closed_lost",
)
CRM_STAGE_RANK = {
    "needs_outreach": 0,
    "contacted": 1,
    "meeting_set": 2,
    "proposal_sent": 3,
    "negotiation": 4,
    "closed_won": 5,
    "blocked": 0,
    "closed_lost": 1,
}
CRM_STAGE_TITLES = {
    "needs_outreach": "Needs Outreach",
    "contacted": "Contacted",
    "meeting_set": "Meeting Set",
    "proposal_sent": "Proposal Sent",
    "negotiation": "Negotiation",
    "blocked": "Blocked",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
CRM_FUNNEL_STEPS = ("assigned", "contacted", "meeting_set", "proposal_sent", "negotiation", "won")


def reached(step: int) -> tuple[str, ...]:
    """The stages of contacts at or beyond funnel step `step` (0: assigned)."""
    return tuple(stage for stage in CRM_STAGES if CRM_STAGE_RANK[stage] >= step)


@dataclass(frozen=True, slots=True)
class BuiltinQuery:
    """A named, reviewed query; `value_when_no_rows` is what a subject without rows gets."""

    key: str
    description: str
    unit: str
    sql: str
    value_when_no_rows: Decimal | None


def _support() -> tuple[BuiltinQuery, ...]:
    open_at_end = f"t.created_at < {_END} AND (t.resolved_at IS NULL OR t.resolved_at >= {_END})"
    return (
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
        BuiltinQuery(
            key="first_response_time",
            description="Average hours from creation to first response of the cases created "
            "in the period that have a first response (none: no value).",
            unit="hours",
            sql=_grouped(
                "AVG(EXTRACT(EPOCH FROM (first_response_at - created_at)) / 3600)",
                "support_cases",
                "assigned_to",
                f"{_in_period('created_at')} AND first_response_at IS NOT NULL",
            ),
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="reopen_rate",
            description="Percent of the cases resolved in the period that were reopened "
            "(reopened_count > 0); no resolved case: no value.",
            unit="percent",
            sql=_grouped(
                "100.0 * COUNT(*) FILTER (WHERE reopened_count > 0) / COUNT(*)",
                "support_cases",
                "assigned_to",
                f"status = 'resolved' AND {_in_period('resolved_at')}",
            ),
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="case_backlog",
            description="Cases open at the period's end: created before it and not resolved "
            "before it (a stock).",
            unit="count",
            sql=_per_subject("COUNT(t.id)", "support_cases", "assigned_to", open_at_end),
            value_when_no_rows=Decimal(0),
        ),
    )


def _leads() -> tuple[BuiltinQuery, ...]:
    contacted = _in_period("t.contacted_at")
    return (
        BuiltinQuery(
            key="leads_created_count",
            description="Leads created in the period.",
            unit="count",
            sql=_per_subject(
                "COUNT(t.id)", "leads", "assigned_agent_id", _in_period("t.created_at")
            ),
            value_when_no_rows=Decimal(0),
        ),
        BuiltinQuery(
            key="lead_conversion_rate",
            description="Percent of the leads created in the period whose disposition is "
            "converted (no lead: no value).",
            unit="percent",
            sql=_grouped(
                "100.0 * COUNT(*) FILTER (WHERE disposition = 'converted') / COUNT(*)",
                "leads",
                "assigned_agent_id",
                _in_period("created_at"),
            ),
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="lead_revenue",
            description="Revenue of the leads converted in the period.",
            unit="currency",
            sql=_per_subject(
                "COALESCE(SUM(t.revenue), 0)",
                "leads",
                "assigned_agent_id",
                _in_period("t.converted_at"),
            ),
            value_when_no_rows=Decimal(0),
        ),
        BuiltinQuery(
            key="lead_response_time",
            description="Average response_time_hours of the leads contacted in the period.",
            unit="hours",
            sql=_grouped(
                "AVG(response_time_hours)",
                "leads",
                "assigned_agent_id",
                f"{_in_period('contacted_at')} AND response_time_hours IS NOT NULL",
            ),
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="lead_satisfaction",
            description="Average satisfaction_rating (1 to 5) of the leads contacted in the "
            "period that were rated.",
            unit="none",
            sql=_grouped(
                "AVG(satisfaction_rating)",
                "leads",
                "assigned_agent_id",
                f"{_in_period('contacted_at')} AND satisfaction_rating IS NOT NULL",
            ),
            value_when_no_rows=None,
        ),
        BuiltinQuery(
            key="lead_satisfaction_count",
            description="Ratings given to the leads contacted in the period.",
            unit="count",
            sql=_per_subject(
                "COUNT(t.satisfaction_rating)", "leads", "assigned_agent_id", contacted
            ),
            value_when_no_rows=Decimal(0),
        ),
    )


def _listed(stages: tuple[str, ...]) -> str:
    return ", ".join(f"'{stage}'" for stage in stages)


def _crm() -> tuple[BuiltinQuery, ...]:
    stages = tuple(
        BuiltinQuery(
            key=f"contacts_in_{stage}",
            description=f"Contacts created before the period's end that are in stage {stage} "
            "when the run reads them (a stock: the table keeps no stage history).",
            unit="count",
            sql=_per_subject(
                "COUNT(t.id)",
                "contacts",
                "owner_id",
                f"t.funnel_stage = '{stage}' AND t.created_at < {_END}",
            ),
            value_when_no_rows=Decimal(0),
        )
        for stage in CRM_STAGES
    )
    funnel = tuple(
        BuiltinQuery(
            key=f"funnel_{name}",
            description=f"Contacts created in the period that reached funnel step {name} "
            f"(stage one of {', '.join(reached(step))}).",
            unit="count",
            sql=_per_subject(
                "COUNT(t.id)",
                "contacts",
                "owner_id",
                f"{_in_period('t.created_at')} AND t.funnel_stage IN ({_listed(reached(step))})",
            ),
            value_when_no_rows=Decimal(0),
        )
        for step, name in enumerate(CRM_FUNNEL_STEPS)
    )
    return stages + funnel


BUILTIN_QUERIES: dict[str, BuiltinQuery] = {q.key: q for q in (*_support(), *_leads(), *_crm())}
