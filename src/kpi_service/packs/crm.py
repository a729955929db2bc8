"""The crm pack: seed 004's contacts, by funnel stage and through the funnel."""

from __future__ import annotations

from decimal import Decimal

from kpi_service.calculators.builtin import CRM_FUNNEL_STEPS, CRM_STAGE_TITLES, CRM_STAGES
from kpi_service.engine.vocabulary import Direction, PeriodKind, Rollup, TargetType
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import (
    Measure,
    achievement_below,
    per_user_and_organisation,
    rule,
    value_threshold,
)

_WEEKLY = {"category": "crm", "period": PeriodKind.WEEKLY}
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
# The organisation's weekly funnel targets (every contact, whoever owns it).
_ORGANISATION_FUNNEL_TARGETS = {
    "assigned": 100,
    "contacted": 75,
    "meeting_set": 30,
    "proposal_sent": 20,
    "negotiation": 15,
    "won": 10,
}


# Per owner, and for the organisation over every contact (whoever owns it). A stage is a
# stock: the week's last value.
_MEASURES: tuple[Measure, ...] = (
    *(
        (
            f"stage_{stage}",
            f"Contacts in {CRM_STAGE_TITLES[stage]}",
            f"contacts_in_{stage}",
            {
                "target_type": (
                    TargetType.LOWER_BETTER
                    if stage in _FEWER_IS_BETTER
                    else TargetType.HIGHER_BETTER
                ),
                "rollup": Rollup.LAST,
            },
        )
        for stage in CRM_STAGES
    ),
    *(
        (
            f"funnel_{step}",
            f"Funnel {n}: {step.replace('_', ' ')}",
            f"funnel_{step}",
            {"target_type": TargetType.HIGHER_BETTER},
        )
        for n, step in enumerate(CRM_FUNNEL_STEPS, start=1)
    ),
)

CRM = Pack(
    name="crm",
    version=1,
    title="CRM funnel",
    summary="Contacts per funnel stage (a stock) and contacts created in the week that "
    "reached each funnel step, per owner and for the organisation (every contact), weekly, "
    "from the contacts table (seed 004).",
    definitions=per_user_and_organisation("crm", "all owners", _MEASURES, **_WEEKLY),
    # The stocks are shown, not judged: no target; the funnel has the organisation's targets.
    organisation=(
        *(Assigned(f"crm_org_stage_{stage}", None) for stage in CRM_STAGES),
        *(
            Assigned(f"crm_org_funnel_{step}", Decimal(target))
            for step, target in _ORGANISATION_FUNNEL_TARGETS.items()
        ),
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
            achievement_below(50),
        ),
        rule(
            "CRM: contacts piling up before outreach",
            "crm_stage_needs_outreach",
            value_threshold(Direction.ABOVE, 15),
        ),
    ),
    reads=(
        SourceRead(
            SourceKind.TABLE,
            "contacts",
            ("id", "owner_id", "funnel_stage", "created_at"),
            "created_at",
            "seed 004",
            user_column="owner_id",
        ),
    ),
)
