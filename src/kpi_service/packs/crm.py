"""The crm pack: seed 004's contacts, by funnel stage and through the funnel."""

from __future__ import annotations

from decimal import Decimal

from kpi_service.calculators.builtin import CRM_FUNNEL_STEPS, CRM_STAGE_TITLES, CRM_STAGES
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import query_kpi, rule

_WEEKLY = {"category": "crm", "period": "weekly"}
# Stages a good week has fewer contacts in.
_FEWER_IS_BETTER = frozenset({"needs_outreach", "blocked", "closed_lost"})
# Suggested weekly targets and weights per funnel step (the stocks are shown, not scored).
_FUNNEL_TARGETS = {
    "assigned": (20, 0),
    "contacted": (15, 30),
    "meeting_set": (6, 20),
    "proposal_sent": (4, 0),
    "negotiation": (3, 0),
    "won": (2, 50),
}
_STAGE_TARGETS = {stage: 5 for stage in CRM_STAGES} | {"blocked": 2, "closed_won": 2}

CRM = Pack(
    name="crm",
    version=1,
    title="CRM funnel",
    summary="Contacts per funnel stage (a stock) and contacts created in the week that "
    "reached each funnel step, per owner, weekly, from the contacts table (seed 004).",
    definitions=(
        *(
            query_kpi(
                f"crm_stage_{stage}",
                f"Contacts in {CRM_STAGE_TITLES[stage]}",
                f"contacts_in_{stage}",
                target_type="lower_better" if stage in _FEWER_IS_BETTER else "higher_better",
                rollup="last",
                **_WEEKLY,
            )
            for stage in CRM_STAGES
        ),
        *(
            query_kpi(
                f"crm_funnel_{step}",
                f"Funnel {n}: {step.replace('_', ' ')}",
                f"funnel_{step}",
                target_type="higher_better",
                **_WEEKLY,
            )
            for n, step in enumerate(CRM_FUNNEL_STEPS, start=1)
        ),
        query_kpi(
            "crm_org_contacts",
            "Contacts created",
            "funnel_assigned",
            target_type="higher_better",
            scope="organization",
            description="Contacts created in the week for all owners with a KPI assignment "
            "(the sum of their values).",
            **_WEEKLY,
        ),
        query_kpi(
            "crm_org_won",
            "Contacts won",
            "funnel_won",
            target_type="higher_better",
            scope="organization",
            description="Contacts created in the week and won, for all owners with a KPI "
            "assignment (the sum of their values).",
            **_WEEKLY,
        ),
    ),
    organisation=(
        Assigned("crm_org_contacts", Decimal(100)),
        Assigned("crm_org_won", Decimal(10)),
    ),
    users=(
        *(
            Assigned(f"crm_stage_{stage}", Decimal(_STAGE_TARGETS[stage]), Decimal(0))
            for stage in CRM_STAGES
        ),
        *(
            Assigned(f"crm_funnel_{step}", Decimal(target), Decimal(weight))
            for step, (target, weight) in _FUNNEL_TARGETS.items()
        ),
    ),
    alerts=(
        rule(
            "CRM: few contacts won",
            "crm_funnel_won",
            {"kind": "achievement_below", "threshold": 50},
        ),
        rule(
            "CRM: contacts piling up before outreach",
            "crm_stage_needs_outreach",
            {"kind": "value_threshold", "direction": "above", "threshold": 15},
        ),
    ),
    reads=(
        SourceRead(
            SourceKind.TABLE,
            "contacts",
            ("id", "owner_id", "funnel_stage", "created_at"),
            "created_at",
            "seed 004",
        ),
    ),
)
