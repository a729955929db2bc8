"""KPI definition rules: who may change them, what a config must hold, when the version rises."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.calculators import api as api_calculator
from kpi_service.calculators import event as event_calculator
from kpi_service.calculators import subjects
from kpi_service.calculators import subscription as subscription_calculator
from kpi_service.calculators.base import ConfigError
from kpi_service.calculators.builtin import BUILTIN_QUERIES
from kpi_service.calculators.query import verify_sql
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable
from kpi_service.definitions.formula_config import check_formula_inputs, formula_config
from kpi_service.definitions.repository import DefinitionFilters, DefinitionRepository
from kpi_service.definitions.schemas import (
    DefinitionCreate,
    DefinitionRead,
    DefinitionReference,
    DefinitionUpdate,
    default_rollup,
)
from kpi_service.definitions.windows import check_window
from kpi_service.measurements.derivation import rederive
from kpi_service.models import CalculationType, Definition

ENTITY = "definition"
# A change to any of these can change computed values, so it raises `version`.
CALCULATION_FIELDS = frozenset(
    {
        "target_type",
        "calculation_type",
        "config",
        "unit",
        "rollup",
        "window",
        "warning_threshold",
        "score_cap",
    }
)
# Stored measurements derive achievement, score, status and trend from these: a change
# re-derives them (values are not recalculated; that takes a run).
DERIVATION_FIELDS = frozenset({"target_type", "warning_threshold", "score_cap"})


def snapshot(definition: Definition) -> dict[str, Any]:
    """The JSON-ready form of a definition, for audit entries (as admins, who alone read
    them, read the definition)."""
    return DefinitionRead.model_validate(definition).model_dump(mode="json")


def visible_config(principal: Principal, config: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The config as this caller may read it, and whether SQL text was left out of it.

    Only admins write SQL and only admins read it: it names source tables and columns, and
    its text is the admin's, not the organisation's. Others still see which built-in query
    (`query_key`) a KPI uses, and everything else of its config.
    """
    if principal.is_admin or "sql" not in config:
        return config, False
    return {name: value for name, value in config.items() if name != "sql"}, True


def readable(principal: Principal, definition: Definition) -> DefinitionRead:
    """A definition as this caller may read it (see `visible_config`)."""
    read = DefinitionRead.model_validate(definition)
    config, hidden = visible_config(principal, read.config)
    return read.model_copy(update={"config": config, "sql_hidden": True}) if hidden else read


async def _audited(
    session: AsyncSession,
    principal: Principal,
    action: str,
    definition: Definition,
    before: dict[str, Any] | None = None,
) -> DefinitionRead:
    """Audit `action` on a definition (its snapshot `before` it, and now) and answer it as
    the caller may read it."""
    after = snapshot(definition)
    await audit.record(session, principal, action, ENTITY, definition.id, before, after)
    return readable(principal, definition)


def _require_admin(principal: Principal, action: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"Only admins can {action} KPI definitions.")


async def validate_config(
    calculation_type: str,
    config: dict[str, Any],
    *,
    scope: str,
    rollup: str,
    tenant_id: str,
    sources: Sources,
    settings: Settings,
) -> dict[str, Any]:
    """The config if it fits the calculation type and scope, else `InvalidInput` naming the
    field; a team or organisation query or api KPI stores its `subjects` setting explicitly."""
    checked = await _source_config(
        calculation_type,
        subjects.source_config(config),
        scope=scope,
        tenant_id=tenant_id,
        sources=sources,
        settings=settings,
    )
    return {**checked, **_subjects(scope, calculation_type, config, rollup)}


def _subjects(
    scope: str, calculation_type: str, config: dict[str, Any], rollup: str
) -> dict[str, str]:
    try:
        return subjects.validate(scope, calculation_type, config, rollup)
    except subjects.SubjectsConfigError as exc:
        message = f"The {exc.key} setting is not usable: {exc.reason}."
        raise _refused(message, exc, body_field="rollup") from None


def _refused(message: str, exc: ConfigError, *, body_field: str | None = None) -> InvalidInput:
    """The 422 for a config its calculator refuses: on `body_field` when that field of the
    body (not a config key) is at fault, else on the config key."""
    loc = ["body", exc.key] if exc.key == body_field else ["body", "config", exc.key]
    return InvalidInput(message, errors=[field_error(loc, exc.reason)])


async def _source_config(
    calculation_type: str,
    config: dict[str, Any],
    *,
    scope: str,
    tenant_id: str,
    sources: Sources,
    settings: Settings,
) -> dict[str, Any]:
    if calculation_type == CalculationType.FORMULA:
        return formula_config(config)
    if calculation_type == CalculationType.SUBSCRIPTION:
        try:
            return subscription_calculator.validate_config(config, scope)
        except subscription_calculator.SubscriptionConfigError as exc:
            message = f"The subscription config is not usable: {exc}."
            raise _refused(message, exc, body_field="scope") from None
    if calculation_type == CalculationType.EVENT:
        try:
            return event_calculator.validate_config(config)
        except event_calculator.EventConfigError as exc:
            raise _refused(f"The event config is not usable: {exc}.", exc) from None
    if calculation_type == CalculationType.API:
        try:
            api_calculator.validate_config(config, allow=settings.outbound_allow)
        except api_calculator.ApiConfigError as exc:
            loc = ["body", "config", *([exc.key] if exc.key else [])]
            raise InvalidInput(
                f"The api config is not usable: {exc}.", errors=[field_error(loc, str(exc))]
            ) from None
        return config
    if calculation_type == CalculationType.MANUAL:
        if config:
            raise InvalidInput(
                "A manual KPI takes no config.",
                errors=[field_error(["body", "config"], "must be {} for calculation type manual")],
            )
        return {}
    return await _validate_query_config(config, tenant_id, sources, settings)


async def _validate_query_config(
    config: dict[str, Any], tenant_id: str, sources: Sources, settings: Settings
) -> dict[str, Any]:
    loc = ["body", "config"]
    named = {"source": config["source"]} if "source" in config else {}
    if not isinstance(named.get("source", ""), str):
        raise InvalidInput(
            "The source must be the name of one of the tenant's sources.",
            errors=[field_error([*loc, "source"], "must be a source name")],
        )
    config = {key: value for key, value in config.items() if key != "source"}
    if set(config) not in ({"query_key"}, {"sql"}):
        extra = sorted(set(config) - {"query_key", "sql"})
        errors = [field_error([*loc, key], "unknown config key") for key in extra]
        msg = "must hold exactly one of query_key or sql"
        raise InvalidInput(f"A query KPI's config {msg}.", errors=errors or [field_error(loc, msg)])
    if "query_key" in config:
        query_key = config["query_key"]
        if not isinstance(query_key, str) or query_key not in BUILTIN_QUERIES:
            known = ", ".join(sorted(BUILTIN_QUERIES))
            msg = f"unknown built-in query; known: {known}"
            raise InvalidInput(
                f"The query_key is not a built-in query (known: {known}).",
                errors=[field_error([*loc, "query_key"], msg)],
            )
        try:
            await sources.engine(tenant_id, named.get("source"))
        except SourceUnavailable as exc:
            raise InvalidInput(
                f"The source is not usable: {exc}.",
                errors=[field_error([*loc, "source"], str(exc))],
            ) from None
        return {"query_key": query_key, **named}
    sql = config["sql"]
    # verify_sql judges the statement itself; NUL cannot even reach the database.
    if not isinstance(sql, str) or "\x00" in sql:
        msg = "must be the text of one SELECT statement"
        raise InvalidInput(f"The sql {msg}.", errors=[field_error([*loc, "sql"], msg)])
    await verify_sql(sources, tenant_id, named.get("source"), sql, settings)
    return {"sql": sql, **named}


async def create(
    session: AsyncSession,
    principal: Principal,
    body: DefinitionCreate,
    *,
    sources: Sources,
    settings: Settings,
) -> DefinitionRead:
    """Store a new definition (admins only); a key already used in the tenant is a conflict."""
    _require_admin(principal, "create")
    repo = DefinitionRepository(session)
    if await repo.get_by_key(principal.tenant_id, body.key) is not None:
        raise Conflict(
            f"A KPI definition with key {body.key!r} already exists.",
            errors=[field_error(["body", "key"], "already used in this tenant")],
        )
    values = body.model_dump()
    # Values of overlapping windows do not add up: a windowed KPI keeps its last by default.
    values["rollup"] = body.rollup or default_rollup(body.unit, body.window)
    check_window(values["window"], body.calculation_type, body.aggregation_period, values["rollup"])
    values["config"] = await validate_config(
        body.calculation_type,
        body.config,
        scope=body.scope,
        rollup=values["rollup"],
        tenant_id=principal.tenant_id,
        sources=sources,
        settings=settings,
    )
    if body.calculation_type == CalculationType.FORMULA:
        await check_formula_inputs(
            session,
            principal.tenant_id,
            body.key,
            body.aggregation_period,
            body.scope,
            values["config"],
        )
    values["created_by"] = principal.user_id
    definition = await repo.add(principal.tenant_id, values)
    return await _audited(session, principal, "create", definition)


async def list_definitions(
    session: AsyncSession,
    principal: Principal,
    filters: DefinitionFilters,
    paging: Paging,
) -> Slice[DefinitionRead]:
    """One page of the tenant's definitions matching `filters`, in id order, as the caller
    may read them."""
    page = await DefinitionRepository(session).page(principal.tenant_id, paging, filters)
    return page.map(lambda definition: readable(principal, definition))


async def _stored(session: AsyncSession, principal: Principal, definition_id: int) -> Definition:
    """The tenant's stored definition with that id, else `NotFound`."""
    definition = await DefinitionRepository(session).get(principal.tenant_id, definition_id)
    return found(definition, f"KPI definition {definition_id} does not exist.")


async def get(session: AsyncSession, principal: Principal, definition_id: int) -> DefinitionRead:
    """The tenant's definition with that id as the caller may read it, else `NotFound`."""
    return readable(principal, await _stored(session, principal, definition_id))


async def get_by_key(session: AsyncSession, principal: Principal, key: str) -> DefinitionRead:
    """The tenant's definition with that key as the caller may read it, else `NotFound`."""
    definition = await DefinitionRepository(session).get_by_key(principal.tenant_id, key)
    return readable(principal, found(definition, f"KPI definition {key!r} does not exist."))


async def referenced(
    session: AsyncSession, tenant_id: str, reference: DefinitionReference
) -> Definition:
    """The tenant's definition a body names by id or key, else `InvalidInput` on that field."""
    repo = DefinitionRepository(session)
    if reference.definition_id is not None:
        definition = await repo.get(tenant_id, reference.definition_id)
    else:
        definition = await repo.get_by_key(tenant_id, reference.definition_key or "")
    if definition is None:
        name, reason = reference.reference_field, "no such KPI definition"
        raise InvalidInput(f"{name}: {reason}", errors=[field_error(["body", name], reason)])
    return definition


async def update(
    session: AsyncSession,
    principal: Principal,
    definition_id: int,
    body: DefinitionUpdate,
    *,
    sources: Sources,
    settings: Settings,
) -> DefinitionRead:
    """Apply a partial change (admins only); calculation changes raise the version."""
    definition = await _stored(session, principal, definition_id)
    _require_admin(principal, "change")
    requested = body.model_dump(exclude_unset=True)
    window = requested.get("window", definition.window)
    check_window(
        window,
        requested.get("calculation_type", definition.calculation_type),
        definition.aggregation_period,
        requested.get("rollup", definition.rollup),
    )
    if "calculation_type" in requested or "config" in requested:
        calculation_type = requested.get("calculation_type", definition.calculation_type)
        # A new type without a config starts from an empty one rather than the old type's.
        changes_type = calculation_type != definition.calculation_type
        config = requested.get("config", {} if changes_type else definition.config)
        requested["config"] = await validate_config(
            calculation_type,
            config,
            scope=definition.scope,
            rollup=requested.get("rollup", definition.rollup),
            tenant_id=principal.tenant_id,
            sources=sources,
            settings=settings,
        )
        if calculation_type == CalculationType.FORMULA:
            await check_formula_inputs(
                session,
                principal.tenant_id,
                definition.key,
                definition.aggregation_period,
                definition.scope,
                requested["config"],
            )
    elif "rollup" in requested:
        # A new rollup must still be able to combine the members' values.
        _subjects(
            definition.scope, definition.calculation_type, definition.config, requested["rollup"]
        )
    changes = {
        name: value for name, value in requested.items() if getattr(definition, name) != value
    }
    before = snapshot(definition)
    if CALCULATION_FIELDS & changes.keys():
        changes["version"] = definition.version + 1
    definition = await DefinitionRepository(session).update(definition, changes)
    if DERIVATION_FIELDS & changes.keys():
        await rederive(
            session,
            settings,
            principal.tenant_id,
            definition_ids=[definition.id],
            actor=principal.user_id,
            reason="re-derived: target type, threshold or score cap changed",
        )
    return await _audited(session, principal, "update", definition, before)


async def deactivate(
    session: AsyncSession, principal: Principal, definition_id: int
) -> DefinitionRead:
    """Mark a definition inactive (admins only); its assignments and history stay."""
    definition = await _stored(session, principal, definition_id)
    _require_admin(principal, "deactivate")
    before = snapshot(definition)
    definition = await DefinitionRepository(session).update(definition, {"is_active": False})
    return await _audited(session, principal, "deactivate", definition, before)
