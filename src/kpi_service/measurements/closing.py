"""Closing periods: their measurements are frozen until a restatement changes them, or an
admin reopens them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Forbidden, InvalidInput, NotFound, field_error
from kpi_service.core.settings import Settings
from kpi_service.engine.periods import is_final
from kpi_service.measurements.closing_repository import ClosedPeriodRepository
from kpi_service.measurements.schemas import (
    ClosedPeriodRead,
    ClosePeriodsRequest,
    ClosePeriodsResult,
    ReopenPeriodsRequest,
    ReopenPeriodsResult,
)
from kpi_service.measurements.service import MAX_PAIRS, active_definitions
from kpi_service.runs.plan import Pair, order_pairs


async def _pairs(
    session: AsyncSession, principal: Principal, body: ClosePeriodsRequest | ReopenPeriodsRequest
) -> list[Pair]:
    """Every period of the matching KPIs overlapping the request's range."""
    definitions = await active_definitions(
        session, principal, body.definition_keys, body.period_kind
    )
    pairs = order_pairs(definitions, body.period_start, body.period_end or body.period_start)
    if len(pairs) > MAX_PAIRS:
        raise InvalidInput(
            f"That is {len(pairs)} (KPI, period) pairs; at most {MAX_PAIRS}.",
            errors=[field_error(["body", "period_end"], "range too large")],
        )
    return pairs


def _span(body: ClosePeriodsRequest | ReopenPeriodsRequest) -> str:
    return f"{body.period_start}..{body.period_end or body.period_start}"


async def close_periods(
    session: AsyncSession, settings: Settings, principal: Principal, body: ClosePeriodsRequest
) -> ClosePeriodsResult:
    """Close every period of the matching KPIs overlapping the range; all must have ended."""
    if not principal.is_admin:
        raise Forbidden("Only admins close periods.")
    pairs = await _pairs(session, principal, body)
    today = settings.today()
    open_ones = sorted({p.end for _, p in pairs if not is_final(p, today)})
    if open_ones:
        raise InvalidInput(
            f"Only periods that have ended can be closed; one ends on {open_ones[0]}.",
            errors=[
                field_error(
                    ["body", "period_end" if body.period_end else "period_start"],
                    "the period has not ended",
                )
            ],
        )
    stamp = {"closed_by": principal.user_id, "reason": body.reason, "closed_at": datetime.now(UTC)}
    rows = [
        {
            "tenant_id": principal.tenant_id,
            "definition_id": d.id,
            "period_start": p.start,
            "period_end": p.end,
            **stamp,
        }
        for d, p in pairs
    ]
    done = set(await ClosedPeriodRepository(session).close(rows))
    closed = [
        ClosedPeriodRead(definition_key=d.key, period_start=p.start, period_end=p.end, **stamp)
        for d, p in pairs
        if (d.id, p.start) in done
    ]
    result = ClosePeriodsResult(closed=closed, already_closed=len(pairs) - len(closed))
    if closed:
        await audit.record(
            session,
            principal,
            "periods.close",
            "periods",
            _span(body),
            None,
            {"closed": len(closed), "reason": body.reason},
        )
    return result


async def reopen_periods(
    session: AsyncSession, principal: Principal, body: ReopenPeriodsRequest
) -> ReopenPeriodsResult:
    """Reopen the closed periods of the matching KPIs overlapping the range (admins only);
    404 when none of them is closed."""
    if not principal.is_admin:
        raise Forbidden("Only admins reopen periods.")
    pairs = await _pairs(session, principal, body)
    rows = await ClosedPeriodRepository(session).reopen(
        principal.tenant_id, [(d.id, p.start) for d, p in pairs]
    )
    if not rows:
        raise NotFound(
            f"No period of these KPIs between {body.period_start} and "
            f"{body.period_end or body.period_start} is closed."
        )
    keys = {d.id: d.key for d, _ in pairs}
    reopened = sorted(
        (
            ClosedPeriodRead(
                definition_key=keys[r.definition_id],
                period_start=r.period_start,
                period_end=r.period_end,
                closed_by=r.closed_by,
                reason=r.reason,
                closed_at=r.closed_at,
            )
            for r in rows
        ),
        key=lambda c: (c.period_start, c.definition_key),
    )
    await audit.record(
        session,
        principal,
        "periods.reopen",
        "periods",
        _span(body),
        {"closed": [c.model_dump(mode="json") for c in reopened]},
        {"reopened": len(reopened), "reason": body.reason},
    )
    return ReopenPeriodsResult(reopened=reopened, not_closed=len(pairs) - len(reopened))
