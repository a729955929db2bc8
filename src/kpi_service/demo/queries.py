"""The admin-written SQL of the demo's query KPIs (DESIGN.md 5) over its source tables
(`leads`, `contacts`): a period's slice of a table, for all agents at once."""

from __future__ import annotations

from collections.abc import Sequence

# Counts list every agent (unnest) so an agent without rows gets 0.
_PERIOD = (
    "{column} >= CAST(:period_start AS timestamptz) AND {column} < CAST(:period_end AS timestamptz)"
)
_AGENTS = "assigned_agent_id = ANY(CAST(:subject_ids AS text[]))"


def _leads_avg(expression: str, column: str) -> str:
    return (
        f"SELECT assigned_agent_id AS subject_id, avg({expression}) AS value "  # noqa: S608
        f"FROM leads WHERE {_AGENTS} AND {_PERIOD.format(column=column)} "
        f"AND {expression} IS NOT NULL GROUP BY assigned_agent_id"
    )


def _per_agent(aggregate: str, table: str, owner: str, condition: str) -> str:
    return (
        f"SELECT s.agent AS subject_id, {aggregate} AS value "  # noqa: S608
        "FROM unnest(CAST(:subject_ids AS text[])) AS s(agent) "
        f"LEFT JOIN {table} AS t ON t.{owner} = s.agent AND {condition} GROUP BY s.agent"
    )


LEADS_HANDLED_SQL = _per_agent(
    "count(t.id)", "leads", "assigned_agent_id", _PERIOD.format(column="t.created_at")
)
CONVERSION_RATE_SQL = (
    "SELECT assigned_agent_id AS subject_id, "  # noqa: S608
    "100.0 * count(*) FILTER (WHERE disposition = 'converted') / count(*) AS value "
    f"FROM leads WHERE {_AGENTS} AND {_PERIOD.format(column='created_at')} "
    "GROUP BY assigned_agent_id"
)
RESPONSE_TIME_SQL = _leads_avg("response_time_hours", "contacted_at")
SATISFACTION_SQL = _leads_avg("satisfaction_rating", "contacted_at")
REVENUE_DAILY_SQL = _per_agent(
    "COALESCE(sum(t.revenue), 0)",
    "leads",
    "assigned_agent_id",
    _PERIOD.format(column="t.converted_at"),
)
# The contacts created in the period whose stage is at or beyond each funnel step (a lost
# contact had been contacted: crm.STAGE_RANK).
FUNNEL_STEPS = (
    (
        "funnel_assigned",
        "Funnel 1: contacts assigned",
        ("needs_outreach", "contacted", "interested", "closed_won", "closed_lost"),
    ),
    (
        "funnel_contacted",
        "Funnel 2: contacts reached",
        ("contacted", "interested", "closed_won", "closed_lost"),
    ),
    ("funnel_interested", "Funnel 3: contacts interested", ("interested", "closed_won")),
    ("funnel_won", "Funnel 4: contacts won", ("closed_won",)),
)


def funnel_sql(stages: Sequence[str]) -> str:
    """Contacts created in the period, per owner, whose stage is one of `stages`."""
    listed = ", ".join(f"'{stage}'" for stage in stages)
    return _per_agent(
        "count(t.id)",
        "contacts",
        "owner_id",
        f"{_PERIOD.format(column='t.created_at')} AND t.funnel_stage IN ({listed})",
    )
