"""Alert channels (webhooks): what admins configure; a URL may not reach an internal address."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.channel_repository import ChannelRepository
from kpi_service.alerts.delivery_repository import DeliveryRepository
from kpi_service.alerts.rule_repository import RuleRepository
from kpi_service.alerts.schemas import ChannelCreate, ChannelRead, ChannelUpdate
from kpi_service.audit import service as audit
from kpi_service.core import outbound
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.models import AlertChannel

CHANNEL = "alert_channel"


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only admins can manage alert channels.")


def _channel_snapshot(channel: AlertChannel) -> dict[str, Any]:
    return ChannelRead.model_validate(channel).model_dump(mode="json")


def _check_url(url: str, allow: Sequence[outbound.Network]) -> None:
    try:
        outbound.check_url(url, allow)
    except outbound.OutboundRefused as exc:
        raise InvalidInput(
            f"The webhook URL is refused: {exc}.", errors=[field_error(["body", "url"], str(exc))]
        ) from None


async def create_channel(
    session: AsyncSession,
    principal: Principal,
    body: ChannelCreate,
    *,
    allow: Sequence[outbound.Network],
) -> ChannelRead:
    """Store a new webhook (admins only); names are unique in the tenant, and the URL may
    not reach an internal address outside the `allow` ranges."""
    _require_admin(principal)
    _check_url(body.url, allow)
    repo = ChannelRepository(session)
    if await repo.get_by_name(principal.tenant_id, body.name) is not None:
        raise Conflict(
            f"An alert channel named {body.name!r} already exists.",
            errors=[field_error(["body", "name"], "already used in this tenant")],
        )
    channel = await repo.add(
        principal.tenant_id, {**body.model_dump(), "created_by": principal.user_id}
    )
    await audit.record(
        session, principal, "create", CHANNEL, channel.id, after=_channel_snapshot(channel)
    )
    return ChannelRead.model_validate(channel)


async def _channel(session: AsyncSession, principal: Principal, channel_id: int) -> AlertChannel:
    """The stored webhook with that id (admins only)."""
    _require_admin(principal)
    channel = await ChannelRepository(session).get(principal.tenant_id, channel_id)
    return found(channel, f"Alert channel {channel_id} not found.")


async def get_channel(session: AsyncSession, principal: Principal, channel_id: int) -> ChannelRead:
    """One webhook (admins only)."""
    return ChannelRead.model_validate(await _channel(session, principal, channel_id))


async def list_channels(
    session: AsyncSession, principal: Principal, paging: Paging
) -> Slice[ChannelRead]:
    """The tenant's webhooks in id order (admins only)."""
    _require_admin(principal)
    page = await ChannelRepository(session).page(principal.tenant_id, paging)
    return page.map(ChannelRead.model_validate)


async def update_channel(
    session: AsyncSession,
    principal: Principal,
    channel_id: int,
    body: ChannelUpdate,
    *,
    allow: Sequence[outbound.Network],
) -> ChannelRead:
    """Change a webhook (admins only); pending retries use the new URL and secret."""
    channel = await _channel(session, principal, channel_id)
    if body.url is not None:
        _check_url(body.url, allow)
    repo = ChannelRepository(session)
    if (
        body.name is not None
        and body.name != channel.name
        and (await repo.get_by_name(principal.tenant_id, body.name)) is not None
    ):
        raise Conflict(
            f"An alert channel named {body.name!r} already exists.",
            errors=[field_error(["body", "name"], "already used in this tenant")],
        )
    before = _channel_snapshot(channel)
    channel = await repo.update(channel, body.model_dump(exclude_unset=True))
    await audit.record(
        session,
        principal,
        "update",
        CHANNEL,
        channel.id,
        before=before,
        after=_channel_snapshot(channel),
    )
    return ChannelRead.model_validate(channel)


async def delete_channel(
    session: AsyncSession, principal: Principal, channel_id: int
) -> ChannelRead:
    """Delete a webhook (admins only): rules stop naming it, its pending deliveries are
    cancelled, its delivery log stays."""
    channel = await _channel(session, principal, channel_id)
    gone = ChannelRead.model_validate(channel)
    await RuleRepository(session).drop_channel(principal.tenant_id, channel_id)
    await DeliveryRepository(session).cancel_pending(
        principal.tenant_id, channel_id, "the channel was deleted"
    )
    await ChannelRepository(session).remove(channel)
    await audit.record(
        session, principal, "delete", CHANNEL, channel_id, before=gone.model_dump(mode="json")
    )
    return gone
