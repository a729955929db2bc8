"""The built-in queries: reviewed SQL of ours over the seeds' source tables.

- seed 000's `support_cases(id, assigned_to, status, created_at, resolved_at,
  first_response_at, reopened_count)` (the first two keys read the first four columns only);
- seed 003's `leads(id, assigned_agent_id, created_at, contacted_at, converted_at,
  disposition, response_time_hours, satisfaction_rating, revenue)`;
- seed 004's `contacts(id, owner_id, funnel_stage, created_at)`.

Each takes `:subject_ids` (user ids as text), `:period_start` and `:period_end` (instants,
end exclusive) and returns `subject_id` and `value`. Each has an organisation variant,
`<key>_org`, that measures every row of its table (whoever owns it) and answers one row per
given subject id (an organisation KPI's: the tenant's). docs/packs.md states what each
measures.
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


def _grouped(aggregate: str, table: str, owner: str, condition: str) -> str:
    """One row per user that has rows; the others get the query's `value_when_no_rows`."""
    return (
        f"SELECT t.{owner}::text AS subject_id, {aggregate} AS value "  # noqa: S608
        f"FROM {table} AS t WHERE t.{owner}::text = ANY({_SUBJECTS}) AND {condition} "
        f"GROUP BY t.{owner}"
    )


def _whole(aggregate: str, table: str, condition: str) -> str:
    """The organisation's figure over every row, whoever owns it: one row per given subject
    (the organisation's id), none when no row matches."""
    return (
        f"SELECT s.subject AS subject_id, w.value "  # noqa: S608 (constant text)
        f"FROM unnest({_SUBJECTS}) AS s(subject) "
        f"CROSS JOIN (SELECT {aggregate} AS value FROM {table} AS t WHERE {condition} "
        "HAVING COUNT(*) > 0) AS w"
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
    """A named, reviewed query; `value_when_no_rows` is what a subject without rows gets.
    `organisation`: it answers for the organisation over every row of its table (the
    subject ids it is given only label its one row), not per user."""

    key: str
    description: str
    unit: str
    sql: str
    value_when_no_rows: Decimal | None
    organisation: bool = False


ORGANISATION_SUFFIX = "_org"


@dataclass(frozen=True, slots=True)
class _Measure:
    """What a built-in measures, over the rows of `table` (aliased `t`) meeting `condition`;
    `owner` is the column naming the user. `counts`: a count or a sum, 0 without rows (else
    no value: an average of nothing)."""

    key: str
    description: str
    unit: str
    aggregate: str
    table: str
    owner: str
    condition: str
    counts: bool

    def queries(self) -> tuple[BuiltinQuery, BuiltinQuery]:
        """The per-user query and the organisation's (key `<key>_org`)."""
        zero = Decimal(0) if self.counts else None
        return (
            BuiltinQuery(
                key=self.key,
                description=self.description,
                unit=self.unit,
                sql=_grouped(self.aggregate, self.table, self.owner, self.condition),
                value_when_no_rows=zero,
            ),
            BuiltinQuery(
                key=self.key + ORGANISATION_SUFFIX,
                description=f"{self.description} The organisation's figure: every row of "
                f"{self.table}, whoever {self.owner} names.",
                unit=self.unit,
                sql=_whole(self.aggregate, self.table, self.condition),
                value_when_no_rows=zero,
                organisation=True,
            ),
        )


@dataclass(frozen=True, slots=True)
class _Table:
    """A seed's source table (aliased `t`) and its column naming the user a row belongs to."""

    name: str
    owner: str

    def measure(
        self, key: str, description: str, unit: str, aggregate: str, condition: str, *, counts: bool
    ) -> _Measure:
        """A measure over the rows of this table meeting `condition`."""
        return _Measure(key, description, unit, aggregate, self.name, self.owner, condition, counts)


_CASES = _Table("support_cases", "assigned_to")
_LEADS = _Table("leads", "assigned_agent_id")
_CONTACTS = _Table("contacts", "owner_id")


def _support() -> tuple[_Measure, ...]:
    resolved = f"t.status = 'resolved' AND {_in_period('t.resolved_at')}"
    open_at_end = f"t.created_at < {_END} AND (t.resolved_at IS NULL OR t.resolved_at >= {_END})"
    hours_to = "AVG(EXTRACT(EPOCH FROM (t.{0} - t.created_at)) / 3600)"
    return (
        _CASES.measure(
            "avg_resolution_time",
            "Average hours from creation to resolution of the cases resolved in the period "
            "(no resolved case: no value).",
            "hours",
            hours_to.format("resolved_at"),
            resolved,
            counts=False,
        ),
        _CASES.measure(
            "cases_resolved_count",
            "Number of cases resolved in the period.",
            "count",
            "COUNT(*)",
            resolved,
            counts=True,
        ),
        _CASES.measure(
            "first_response_time",
            "Average hours from creation to first response of the cases created in the period "
            "that have a first response (none: no value).",
            "hours",
            hours_to.format("first_response_at"),
            f"{_in_period('t.created_at')} AND t.first_response_at IS NOT NULL",
            counts=False,
        ),
        _CASES.measure(
            "reopen_rate",
            "Percent of the cases resolved in the period that were reopened "
            "(reopened_count > 0); no resolved case: no value.",
            "percent",
            "100.0 * COUNT(*) FILTER (WHERE t.reopened_count > 0) / COUNT(*)",
            resolved,
            counts=False,
        ),
        _CASES.measure(
            "case_backlog",
            "Cases open at the period's end: created before it and not resolved before it "
            "(a stock).",
            "count",
            "COUNT(*)",
            open_at_end,
            counts=True,
        ),
    )


def _leads() -> tuple[_Measure, ...]:
    created = _in_period("t.created_at")
    contacted = _in_period("t.contacted_at")
    return (
        _LEADS.measure(
            "leads_created_count",
            "Leads created in the period.",
            "count",
            "COUNT(*)",
            created,
            counts=True,
        ),
        _LEADS.measure(
            "lead_conversion_rate",
            "Percent of the leads created in the period whose disposition is converted "
            "(no lead: no value).",
            "percent",
            "100.0 * COUNT(*) FILTER (WHERE t.disposition = 'converted') / COUNT(*)",
            created,
            counts=False,
        ),
        _LEADS.measure(
            "lead_revenue",
            "Revenue of the leads converted in the period.",
            "currency",
            "COALESCE(SUM(t.revenue), 0)",
            _in_period("t.converted_at"),
            counts=True,
        ),
        _LEADS.measure(
            "lead_response_time",
            "Average response_time_hours of the leads contacted in the period.",
            "hours",
            "AVG(t.response_time_hours)",
            f"{contacted} AND t.response_time_hours IS NOT NULL",
            counts=False,
        ),
        _LEADS.measure(
            "lead_satisfaction",
            "Average satisfaction_rating (1 to 5) of the leads contacted in the period that "
            "were rated.",
            "none",
            "AVG(t.satisfaction_rating)",
            f"{contacted} AND t.satisfaction_rating IS NOT NULL",
            counts=False,
        ),
        _LEADS.measure(
            "lead_satisfaction_count",
            "Ratings given to the leads contacted in the period.",
            "count",
            "COUNT(t.satisfaction_rating)",
            contacted,
            counts=True,
        ),
    )


def _listed(stages: tuple[str, ...]) -> str:
    return ", ".join(f"'{stage}'" for stage in stages)


def _crm() -> tuple[_Measure, ...]:
    stages = tuple(
        _CONTACTS.measure(
            f"contacts_in_{stage}",
            f"Contacts created before the period's end that are in stage {stage} when the "
            "run reads them (a stock: the table keeps no stage history).",
            "count",
            "COUNT(*)",
            f"t.funnel_stage = '{stage}' AND t.created_at < {_END}",
            counts=True,
        )
        for stage in CRM_STAGES
    )
    funnel = tuple(
        _CONTACTS.measure(
            f"funnel_{name}",
            f"Contacts created in the period that reached funnel step {name} "
            f"(stage one of {', '.join(reached(step))}).",
            "count",
            "COUNT(*)",
            f"{_in_period('t.created_at')} AND t.funnel_stage IN ({_listed(reached(step))})",
            counts=True,
        )
        for step, name in enumerate(CRM_FUNNEL_STEPS)
    )
    return stages + funnel


# Each measure's per-user query, then the organisation's variants.
_MEASURES = (*_support(), *_leads(), *_crm())
BUILTIN_QUERIES: dict[str, BuiltinQuery] = {
    q.key: q for pair in zip(*(m.queries() for m in _MEASURES), strict=True) for q in pair
}
