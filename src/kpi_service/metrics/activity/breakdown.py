"""The breakdown: a KPI split by an event property (event KPIs) or by a column of its SQL
(query KPIs, asked of the tenant's source)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.sql_guard import UnsafeSql
from kpi_service.calculators.subjects import SubjectMode, source_config, subject_mode
from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable, describe_failure
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.achievement import quantize
from kpi_service.engine.funnels import percent
from kpi_service.engine.periods import custom
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.metrics.activity.event_repository import (
    ActivityEventRepository,
    EventRange,
    EventSlice,
)
from kpi_service.metrics.activity.schemas import BreakdownQuery, BreakdownRead, BreakdownRow
from kpi_service.metrics.activity.source_repository import (
    SourceSlice,
    SourceSplitError,
    split_query,
)
from kpi_service.models import CalculationType, Definition


async def split_kpi(
    session: AsyncSession,
    settings: Settings,
    tenant_id: str,
    query: BreakdownQuery,
    subject_id: str,
    *,
    sources: Sources,
) -> BreakdownRead:
    """The breakdown the query asks for, of a subject the caller may read."""
    definition = await DefinitionRepository(session).get_by_key(tenant_id, query.definition_key)
    if definition is None:
        raise InvalidInput(
            f"No KPI with key {query.definition_key!r}.",
            errors=[field_error(["query", "definition_key"], "no such KPI definition")],
        )
    instants = custom(query.start, query.end).instants(settings.tz)
    if definition.calculation_type == CalculationType.EVENT:
        scope = EventRange(tenant_id, query.subject_type, subject_id, *instants)
        slices = await ActivityEventRepository(session).breakdown(
            scope,
            definition.config,
            query.dimension,
            convert_type=query.convert_type,
            convert_property=query.convert_property,
            limit=query.limit,
        )
        rows = [_event_row(s) for s in slices]
    elif definition.calculation_type == CalculationType.QUERY:
        if query.convert_type is not None:
            raise InvalidInput(
                "Conversions are counted for event KPIs only.",
                errors=[field_error(["query", "convert_type"], "only for event KPIs")],
            )
        subjects = await _source_subjects(
            session, definition, query.subject_type, subject_id, query
        )
        rows = await _query_rows(
            sources, settings, definition, query.dimension, tenant_id, subjects, instants
        )
        rows = rows[: query.limit + 1]
    else:
        raise InvalidInput(
            f"KPI {definition.key!r} is a {definition.calculation_type} KPI; "
            "only event and query KPIs can be split.",
            errors=[field_error(["query", "definition_key"], "not an event or query KPI")],
        )
    return BreakdownRead(
        **query.model_dump(include={"dimension", "subject_type", "start", "end"}),
        definition_key=definition.key,
        calculation_type=definition.calculation_type,
        subject_id=subject_id,
        rows=rows[: query.limit],
        truncated=len(rows) > query.limit,
    )


def _event_row(s: EventSlice) -> BreakdownRow:
    conversions = s.conversions
    return BreakdownRow(
        dimension_value=s.dimension_value,
        count=s.count,
        value=_six(s.value),
        total=_six(s.total),
        conversions=conversions,
        conversion_rate=None
        if conversions is None
        else percent(Decimal(conversions), Decimal(s.count)),
        conversion_value=_six(s.conversion_value),
    )


async def _source_subjects(
    session: AsyncSession,
    definition: Definition,
    subject_type: SubjectType,
    subject_id: str,
    query: BreakdownQuery,
) -> list[str]:
    """Whom the KPI's SQL is asked about: the subject itself when the KPI passes its own
    subjects to the source, else users (a team's or the organisation's members)."""
    mode = subject_mode(definition.scope, definition.calculation_type, definition.config)
    if mode is SubjectMode.OWN:
        if definition.scope != subject_type:
            reason = (
                f"KPI {definition.key!r} asks its source about each {definition.scope}, "
                f"not a {subject_type}"
            )
            raise InvalidInput(
                f"{reason}.", errors=[field_error(["query", "subject_type"], reason)]
            )
        return [subject_id]
    if subject_type is SubjectType.USER:
        return [subject_id]
    teams = [subject_id] if subject_type is SubjectType.TEAM else None
    members = await MeasurementRepository(session).members(
        definition.tenant_id, teams, query.start, query.end
    )
    return members.get(subject_id, [])


async def _query_rows(
    sources: Sources,
    settings: Settings,
    definition: Definition,
    dimension: str,
    tenant_id: str,
    subjects: list[str],
    instants: tuple[datetime, datetime],
) -> list[BreakdownRow]:
    """The rows of a query KPI's split, busiest value first."""
    loc = ["query", "dimension"]
    config = source_config(definition.config)
    try:
        engine = await sources.engine(tenant_id, config.get("source"))
        slices = await split_query(
            engine,
            settings,
            config,
            dimension,
            tenant_id=tenant_id,
            subject_ids=subjects,
            instants=instants,
            tz_name=settings.timezone,
        )
    except (SourceSplitError, UnsafeSql, SourceUnavailable) as exc:
        raise InvalidInput(
            f"KPI {definition.key!r} cannot be split: {exc}", errors=[field_error(loc, str(exc))]
        ) from None
    except DBAPIError as exc:
        failure = describe_failure(exc, f"tenant {tenant_id}, breakdown of {definition.key}")
        reason = (
            f"the KPI's query returns no column {dimension!r}"
            if failure.endswith("(SQLSTATE 42703)")
            else f"the KPI's query failed on the source database: {failure}"
        )
        raise InvalidInput(
            f"KPI {definition.key!r} cannot be split: {reason}.", errors=[field_error(loc, reason)]
        ) from None
    slices.sort(key=lambda s: (-s.rows, s.dimension_value is None, s.dimension_value or ""))
    rolled = _ROLLED.get(definition.rollup)
    return [
        BreakdownRow(
            dimension_value=s.dimension_value,
            count=s.rows,
            value=_six(rolled(s)) if rolled else None,
            total=_six(s.total),
            conversions=None,
            conversion_rate=None,
            conversion_value=None,
        )
        for s in slices
    ]


# A query KPI's value for a slice: its subjects' values combined as a team's members' are
# (`last` orders periods, not subjects, so it gives none).
_ROLLED: dict[str, Callable[[SourceSlice], Decimal | None]] = {
    "sum": attrgetter("total"),
    "avg": attrgetter("avg"),
    "min": attrgetter("min"),
    "max": attrgetter("max"),
}


def _six(value: Decimal | None) -> Decimal | None:
    """Six places, as the engine stores every derived number (PostgreSQL gives doubles for
    percentiles and long fractions for averages)."""
    return None if value is None else quantize(Decimal(value))
