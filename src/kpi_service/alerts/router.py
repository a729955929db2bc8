"""/alerts: rules, webhook channels, alerts, their deliveries, and evaluation on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query

from kpi_service.alerts import (
    alert_service,
    channel_service,
    delivery_service,
    evaluation_service,
    rule_service,
)
from kpi_service.alerts.alert_repository import AlertFilters
from kpi_service.alerts.delivery_repository import DeliveryFilters
from kpi_service.alerts.rule_repository import RuleFilters
from kpi_service.alerts.schemas import (
    Acknowledgement,
    AlertQuery,
    AlertRead,
    ChannelCreate,
    ChannelRead,
    ChannelUpdate,
    DeliveryQuery,
    DeliveryRead,
    EvaluateRequest,
    EvaluationRead,
    RuleCreate,
    RuleQuery,
    RuleRead,
    RuleUpdate,
)
from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.schemas import Cursor, Id, Page, PageSize, Paging

router = APIRouter(prefix="/alerts", tags=["alerts"])

RuleId = Annotated[Id, Path(description="The alert rule's id.")]
ChannelId = Annotated[Id, Path(description="The alert channel's id.")]
AlertId = Annotated[Id, Path(description="The alert's id.")]


@router.post("/rules", operation_id="createAlertRule", response_model=RuleRead, status_code=201)
async def create_rule(body: RuleCreate, session: SessionDep, principal: PrincipalDep) -> RuleRead:
    """Watch a KPI with a rule (admins only)."""
    return await rule_service.create_rule(session, principal, body)


@router.get("/rules", operation_id="listAlertRules", response_model=Page[RuleRead])
async def list_rules(
    session: SessionDep,
    principal: PrincipalDep,
    query: Annotated[RuleQuery, Query()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[RuleRead]:
    """The tenant's alert rules in id order (admins only)."""
    filters = RuleFilters(**query.model_dump())
    page = await rule_service.list_rules(session, principal, filters, Paging(cursor, limit))
    return Page[RuleRead].of(page)


@router.get("/rules/{rule_id}", operation_id="getAlertRule", response_model=RuleRead)
async def get_rule(rule_id: RuleId, session: SessionDep, principal: PrincipalDep) -> RuleRead:
    """One alert rule (admins only)."""
    return await rule_service.get_rule(session, principal, rule_id)


@router.patch("/rules/{rule_id}", operation_id="updateAlertRule", response_model=RuleRead)
async def update_rule(
    rule_id: RuleId, body: RuleUpdate, session: SessionDep, principal: PrincipalDep
) -> RuleRead:
    """Change an alert rule (admins only); its KPI and its condition's kind never change."""
    return await rule_service.update_rule(session, principal, rule_id, body)


@router.delete("/rules/{rule_id}", operation_id="deleteAlertRule", response_model=RuleRead)
async def delete_rule(rule_id: RuleId, session: SessionDep, principal: PrincipalDep) -> RuleRead:
    """Delete an alert rule with its alerts and their deliveries (admins only)."""
    return await rule_service.delete_rule(session, principal, rule_id)


@router.post(
    "/channels", operation_id="createAlertChannel", response_model=ChannelRead, status_code=201
)
async def create_channel(
    body: ChannelCreate, session: SessionDep, settings: SettingsDep, principal: PrincipalDep
) -> ChannelRead:
    """Add a webhook (admins only); its secret stays in the environment variable it names,
    and its URL may not reach an internal address."""
    return await channel_service.create_channel(
        session, principal, body, allow=settings.outbound_allow
    )


@router.get("/channels", operation_id="listAlertChannels", response_model=Page[ChannelRead])
async def list_channels(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[ChannelRead]:
    """The tenant's webhooks in id order (admins only)."""
    page = await channel_service.list_channels(session, principal, Paging(cursor, limit))
    return Page[ChannelRead].of(page)


@router.get("/channels/{channel_id}", operation_id="getAlertChannel", response_model=ChannelRead)
async def get_channel(
    channel_id: ChannelId, session: SessionDep, principal: PrincipalDep
) -> ChannelRead:
    """One webhook (admins only)."""
    return await channel_service.get_channel(session, principal, channel_id)


@router.patch(
    "/channels/{channel_id}", operation_id="updateAlertChannel", response_model=ChannelRead
)
async def update_channel(
    channel_id: ChannelId,
    body: ChannelUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> ChannelRead:
    """Change a webhook (admins only); its URL may not reach an internal address."""
    return await channel_service.update_channel(
        session, principal, channel_id, body, allow=settings.outbound_allow
    )


@router.delete(
    "/channels/{channel_id}", operation_id="deleteAlertChannel", response_model=ChannelRead
)
async def delete_channel(
    channel_id: ChannelId, session: SessionDep, principal: PrincipalDep
) -> ChannelRead:
    """Delete a webhook (admins only); its pending deliveries are cancelled."""
    return await channel_service.delete_channel(session, principal, channel_id)


@router.get("/deliveries", operation_id="listAlertDeliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    session: SessionDep,
    principal: PrincipalDep,
    query: Annotated[DeliveryQuery, Query()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[DeliveryRead]:
    """Webhook deliveries newest first, each with every attempt (admins only)."""
    filters = DeliveryFilters(**query.model_dump())
    page = await delivery_service.list_deliveries(
        session, principal, filters, Paging(cursor, limit)
    )
    return Page[DeliveryRead].of(page)


@router.post("/evaluate", operation_id="evaluateAlerts", response_model=EvaluationRead)
async def evaluate(
    body: EvaluateRequest,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> EvaluationRead:
    """Evaluate active rules now (admins only); webhooks go out after the answer."""
    outcome = await evaluation_service.evaluate_now(session, settings, principal, body)
    # Sent once the response is on its way, hence after the alerts are committed.
    background.add_task(
        delivery_service.deliver_due, database, settings, tenant_id=principal.tenant_id
    )
    return outcome


@router.get("", operation_id="listAlerts", response_model=Page[AlertRead])
async def list_alerts(
    session: SessionDep,
    principal: PrincipalDep,
    query: Annotated[AlertQuery, Query()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[AlertRead]:
    """Alerts the caller may see, newest first."""
    filters = AlertFilters(**query.model_dump())
    page = await alert_service.list_alerts(session, principal, filters, Paging(cursor, limit))
    return Page[AlertRead].of(page)


@router.get("/{alert_id}", operation_id="getAlert", response_model=AlertRead)
async def get_alert(alert_id: AlertId, session: SessionDep, principal: PrincipalDep) -> AlertRead:
    """One alert."""
    return await alert_service.get_alert(session, principal, alert_id)


@router.post("/{alert_id}/acknowledge", operation_id="acknowledgeAlert", response_model=AlertRead)
async def acknowledge(
    alert_id: AlertId,
    session: SessionDep,
    principal: PrincipalDep,
    body: Annotated[Acknowledgement | None, Body()] = None,
) -> AlertRead:
    """Mark an open alert as seen (admins, and managers who see it); it stays open."""
    return await alert_service.acknowledge(
        session, principal, alert_id, body.note if body else None
    )
