"""The funnel: stage counts for a subject over a date range, with conversions between stages.
A stage is a KPI's value (the subject's own, or its members' combined) or a count of events."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.funnels import across_members, conversions, no_count_reason
from kpi_service.engine.periods import custom
from kpi_service.engine.rollup import MEMBER_ROLLUPS
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.metrics.activity.event_repository import ActivityEventRepository, EventRange
from kpi_service.metrics.activity.measurement_repository import ActivityMeasurementRepository
from kpi_service.metrics.activity.schemas import FunnelQuery, FunnelRead, FunnelStage
from kpi_service.models import Definition


async def count_stages(
    session: AsyncSession, settings: Settings, tenant_id: str, query: FunnelQuery, subject_id: str
) -> FunnelRead:
    """The funnel the query asks for, of a subject the caller may read."""
    stages = [tuple(s.split(":", 1)) for s in query.stages]
    keys = [key for kind, key in stages if kind == "kpi"]
    types = [key for kind, key in stages if kind == "event"]
    counts: dict[str, Decimal | None] = {}
    reasons: dict[str, str] = {}
    if keys:
        definitions = {
            d.key: d for d in await DefinitionRepository(session).find(tenant_id, keys=keys)
        }
        for i, (kind, key) in enumerate(stages):
            if kind == "kpi":
                _check_kpi_stage(definitions.get(key), key, query.subject_type, i)
        values = await ActivityMeasurementRepository(session).stage_values(
            tenant_id,
            {key: definitions[key].scope for key in keys},
            query.subject_type,
            subject_id,
            query.start,
            query.end,
        )
        subject = (
            "the organisation"
            if query.subject_type is SubjectType.ORGANIZATION
            else f"{query.subject_type} {subject_id!r}"
        )
        for key in keys:
            counts[f"kpi:{key}"] = across_members(values.get(key, []), definitions[key].rollup)
            if counts[f"kpi:{key}"] is None:
                reasons[f"kpi:{key}"] = no_count_reason(
                    key,
                    PeriodKind(definitions[key].aggregation_period),
                    query.start,
                    query.end,
                    subject,
                )
    if types:
        scope = EventRange(
            tenant_id,
            query.subject_type,
            subject_id,
            *custom(query.start, query.end).instants(settings.tz),
        )
        found = await ActivityEventRepository(session).stage_counts(scope, types)
        for event_type in types:
            events, users = found.get(event_type, (0, 0))
            counts[f"event:{event_type}"] = Decimal(users if query.count == "users" else events)
    converted = conversions([counts[stage] for stage in query.stages])
    return FunnelRead(
        **query.model_dump(include={"subject_type", "start", "end", "count"}),
        subject_id=subject_id,
        stages=[
            FunnelStage(
                stage=stage,
                kind=kind,
                key=key,
                count=c.count,
                reason=reasons.get(stage),
                conversion_from_previous=c.from_previous,
                conversion_from_first=c.from_first,
            )
            for stage, (kind, key), c in zip(query.stages, stages, converted, strict=True)
        ],
    )


# Which KPI scopes a funnel subject can read: its own, or its members' combined per period.
_STAGE_SCOPES = {
    SubjectType.USER: (SubjectType.USER,),
    SubjectType.TEAM: (SubjectType.TEAM, SubjectType.USER),
    SubjectType.ORGANIZATION: (SubjectType.ORGANIZATION, SubjectType.TEAM, SubjectType.USER),
}


def _check_kpi_stage(
    definition: Definition | None, key: str, subject_type: SubjectType, index: int
) -> None:
    """Refuse a KPI stage that does not exist or cannot be read for the subject."""
    loc: list[str | int] = ["query", "stages", index]
    if definition is None:
        raise InvalidInput(
            f"No KPI with key {key!r}.", errors=[field_error(loc, "no such KPI definition")]
        )
    reason = None
    if definition.scope not in _STAGE_SCOPES[subject_type]:
        reason = f"KPI {key!r} is measured per {definition.scope}, not for a {subject_type}"
    elif definition.scope != subject_type and definition.rollup not in MEMBER_ROLLUPS:
        reason = (
            f"KPI {key!r} rolls up by '{definition.rollup}', which cannot combine the "
            f"{subject_type}'s members"
        )
    if reason:
        raise InvalidInput(f"{reason}.", errors=[field_error(loc, reason)])
