"""Evaluating alert rules over stored measurements, on demand and for the jobs
(`evaluation_jobs`).

Per rule, over the periods `evaluation_periods` picks: one statement loads what it judges
for all its subjects, one loads their latest alerts; `judging` and the pure state machine
(`engine.alerting`) decide; then all rules' alert changes and the deliveries they notify
are written in bulk, in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts import delivery_service
from kpi_service.alerts.alert_repository import AlertRepository
from kpi_service.alerts.evaluation_periods import on_demand
from kpi_service.alerts.judging import Watch, for_periods, judge, on_pace, projects
from kpi_service.alerts.observation_repository import ObservationRepository
from kpi_service.alerts.rule_repository import RuleRepository
from kpi_service.alerts.schemas import (
    Anomaly,
    ConsecutiveDeclines,
    EvaluateRequest,
    EvaluationRead,
    MissingValue,
    PayloadAlert,
    WebhookPayload,
)
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Forbidden, InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.engine import alerting
from kpi_service.engine.alerting import Latest, Snapshot, Tracked
from kpi_service.engine.periods import Period, containing, has_ended, is_final
from kpi_service.engine.vocabulary import AlertStatus, Notice, PeriodKind
from kpi_service.models import Alert

Track = tuple[str, ...]


def stored_details(details: Mapping[str, Decimal | None]) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in details.items()}


def _decimals(details: Mapping[str, Any]) -> dict[str, Decimal | None]:
    return {k: None if v is None else Decimal(str(v)) for k, v in details.items()}


def _tracked(alert: Alert) -> Tracked:
    return Tracked(
        alert.period_start,
        alert.period_end,
        AlertStatus(alert.status),
        alert.streak,
        Latest(
            alert.last_period_start,
            alert.last_period_end,
            alert.value,
            alert.observed,
            alert.threshold,
            _decimals(alert.details),
        ),
        fired=alert.fired_at is not None,
        id=alert.id,
    )


@dataclass
class Change:
    """An alert opened or changed by this evaluation, with where it belongs."""

    watch: Watch
    subject_type: str
    subject_id: str
    alert: Tracked
    existing: Alert | None


@dataclass
class Outcome:
    """What an evaluation did."""

    rules: int = 0
    opened: int = 0
    fired: int = 0
    resolved: int = 0
    deliveries: int = 0
    withdrawn: int = 0
    changes: list[Change] = field(default_factory=list)


def _back(kind: PeriodKind, start: date, count: int) -> date:
    period = containing(kind, start)
    for _ in range(count):
        period = period.previous()
    return period.start


async def _measured(
    session: AsyncSession, watch: Watch, periods: Sequence[Period], today: date, tz: ZoneInfo
) -> tuple[list[Change], int]:
    """The rule's alert changes over the periods: ended periods on their values, the period in
    progress only for a rule that opts in to projections, on its pace. A rule that does not
    first withdraws the alerts it opened on periods not ended yet (judged too early)."""
    rule, definition, condition = watch.rule, watch.definition, watch.condition
    kind = PeriodKind(definition.aggregation_period)
    projecting = projects(condition)
    withdrawn = 0
    if not projecting:
        withdrawn = await AlertRepository(session).withdraw_in_progress(
            rule.tenant_id, rule.id, today
        )
        periods = [p for p in periods if is_final(p, today)]
        if not periods:
            return [], withdrawn
    history = condition.window if isinstance(condition, Anomaly) else 0
    streak = condition.periods if isinstance(condition, ConsecutiveDeclines) else 1
    starts = [p.start for p in periods]
    points = await ObservationRepository(session).points(
        rule.tenant_id,
        definition.id,
        kind,
        starts,
        load_from=_back(kind, min(starts), max(history, streak - 1, 1)),
        history=history,
        streak=streak,
        subject_id=rule.subject_id,
    )
    seen: dict[Track, list[alerting.Observation]] = defaultdict(list)
    for point in points:
        if has_ended(point.period_end, today):
            judgement, projected = judge(condition, point), False
        else:
            projection = on_pace(point, containing(kind, point.period_start), definition, tz)
            if projection is None:
                continue
            judged = judge(condition, projection.point)
            judgement = dataclasses.replace(
                judged, details={**judged.details, **projection.details}
            )
            projected = True
        # The alert shows the value so far; what was compared (observed) is the projection.
        seen[(point.subject_type, point.subject_id)].append(
            alerting.Observation(
                point.period_start, point.period_end, point.actual_value, judgement, projected
            )
        )
    alerts = await AlertRepository(session).latest_by_subject(
        rule.tenant_id, rule.id, sorted({subject for _, subject in seen})
    )
    latest: dict[Track, Alert] = {(a.subject_type, a.subject_id): a for a in alerts}
    return _advance(watch, seen, latest, for_periods(condition)), withdrawn


async def _missing(
    session: AsyncSession,
    watch: Watch,
    condition: MissingValue,
    periods: Sequence[Period],
    today: date,
) -> list[Change]:
    rule = watch.rule
    existing = await AlertRepository(session).open_or_of_periods(
        rule.tenant_id, rule.id, [p.start for p in periods]
    )
    judged = {(p.start, p.end) for p in periods}
    judged |= {(a.period_start, a.period_end) for a in existing if a.status != AlertStatus.RESOLVED}
    seen: dict[Track, list[alerting.Observation]] = defaultdict(list)
    for item in await ObservationRepository(session).due(
        rule.tenant_id, watch.definition.id, sorted(judged), subject_id=rule.subject_id
    ):
        judgement = alerting.missing(item.has_value, item.period_end, today, condition.days)
        seen[(item.subject_type, item.subject_id, item.period_start.isoformat())].append(
            alerting.Observation(item.period_start, item.period_end, None, judgement)
        )
    latest: dict[Track, Alert] = {
        (a.subject_type, a.subject_id, a.period_start.isoformat()): a for a in existing
    }
    return _advance(watch, seen, latest, 1)


def _advance(
    watch: Watch,
    seen: Mapping[Track, list[alerting.Observation]],
    latest: Mapping[Track, Alert],
    needed: int,
) -> list[Change]:
    changes = []
    for track, observations in seen.items():
        alert = latest.get(track)
        current = None if alert is None else _tracked(alert)
        for touched in alerting.advance(current, observations, needed):
            existing = alert if touched.id is not None else None
            changes.append(Change(watch, track[0], track[1], touched, existing))
    return changes


async def watched(
    session: AsyncSession,
    tenant_id: str,
    *,
    definition_ids: Sequence[int] | None = None,
    rule_ids: Sequence[int] | None = None,
    kind: str | None = None,
) -> list[Watch]:
    """The active rules to evaluate (so narrowed), each with its definition and its condition
    parsed once, locked until the transaction ends (`RuleRepository.to_evaluate`)."""
    found = await RuleRepository(session).to_evaluate(
        tenant_id, definition_ids=definition_ids, rule_ids=rule_ids, kind=kind
    )
    return [Watch.of(*row) for row in found]


async def evaluate(
    session: AsyncSession,
    tenant_id: str,
    watches: Sequence[Watch],
    periods: Mapping[int, Sequence[Period]],
    *,
    today: date,
    now: datetime,
    tz: ZoneInfo,
) -> Outcome:
    """Evaluate each rule over its periods (by rule id) and write what changed; periods not
    ended on `today` are judged only by rules projecting them (on their pace, in tz)."""
    outcome = Outcome(rules=len(watches))
    for watch in watches:
        judged = periods.get(watch.rule.id, ())
        if not judged:
            continue
        if isinstance(watch.condition, MissingValue):
            outcome.changes += await _missing(session, watch, watch.condition, judged, today)
        else:
            changes, withdrawn = await _measured(session, watch, judged, today, tz)
            outcome.changes += changes
            outcome.withdrawn += withdrawn
    await _write(session, tenant_id, outcome, now)
    await RuleRepository(session).stamp(tenant_id, [w.rule.id for w in watches], now)
    return outcome


def _row(change: Change, now: datetime) -> dict[str, Any]:
    alert, before = change.alert, change.existing
    fired = any(n.notice is Notice.FIRING for n in alert.notices)
    return {
        "tenant_id": change.watch.rule.tenant_id,
        "status": alert.status.value,
        "streak": alert.streak,
        "last_period_start": alert.latest.start,
        "last_period_end": alert.latest.end,
        "value": alert.latest.value,
        "observed": alert.latest.observed,
        "threshold": alert.latest.threshold,
        "details": stored_details(alert.latest.details),
        "fired_at": now if fired else (before.fired_at if before else None),
        "resolved_at": now if alert.status is AlertStatus.RESOLVED else None,
        "updated_at": now,
    }


async def _write(session: AsyncSession, tenant_id: str, outcome: Outcome, now: datetime) -> None:
    repo = AlertRepository(session)
    new = [c for c in outcome.changes if c.existing is None]
    rows = [
        {
            **_row(c, now),
            "rule_id": c.watch.rule.id,
            "definition_id": c.watch.definition.id,
            "subject_type": c.subject_type,
            "subject_id": c.subject_id,
            "period_start": c.alert.period_start,
            "period_end": c.alert.period_end,
            "severity": c.watch.rule.severity,
            "opened_at": now,
        }
        for c in new
    ]
    ids = await repo.insert(rows)
    for change in new:
        change.alert.id = ids[
            (
                change.watch.rule.id,
                change.subject_type,
                change.subject_id,
                change.alert.period_start,
            )
        ]
    await repo.update_many(
        [{**_row(c, now), "id": c.existing.id} for c in outcome.changes if c.existing is not None]
    )
    queued = []
    for change in outcome.changes:
        for snapshot in change.alert.notices:
            body = payload(change, snapshot, now)
            queued += [
                {
                    "tenant_id": tenant_id,
                    "alert_id": change.alert.id,
                    "channel_id": channel,
                    "event": snapshot.notice.value,
                    "body": body,
                }
                for channel in change.watch.rule.channel_ids
            ]
    outcome.opened = len(new)
    outcome.fired = sum(n.notice is Notice.FIRING for c in outcome.changes for n in c.alert.notices)
    outcome.resolved = sum(c.alert.status is AlertStatus.RESOLVED for c in outcome.changes)
    outcome.deliveries = await delivery_service.queue(session, queued)


def payload(change: Change, snapshot: Snapshot, now: datetime) -> str:
    """The JSON body that notifies one transition, as it will be signed and sent."""
    alert, before, rule, definition = (
        change.alert,
        change.existing,
        change.watch.rule,
        change.watch.definition,
    )
    assert alert.id is not None
    fired_at = (
        now
        if any(n.notice is Notice.FIRING for n in alert.notices)
        else (before.fired_at if before else None)
    )
    body = WebhookPayload(
        type=f"alert.{snapshot.notice.value}",
        tenant_id=rule.tenant_id,
        alert=PayloadAlert(
            id=alert.id,
            status=snapshot.status.value,
            severity=rule.severity,
            period_start=alert.period_start,
            period_end=alert.period_end,
            last_period_start=snapshot.latest.start,
            last_period_end=snapshot.latest.end,
            value=snapshot.latest.value,
            observed=snapshot.latest.observed,
            threshold=snapshot.latest.threshold,
            details=snapshot.latest.details,
            opened_at=before.opened_at if before else now,
            fired_at=fired_at,
            resolved_at=now if snapshot.notice is Notice.RESOLVED else None,
        ),
        rule={
            "id": rule.id,
            "name": rule.name,
            "severity": rule.severity,
            "condition": change.watch.condition.model_dump(mode="json"),
        },
        definition={
            "id": definition.id,
            "key": definition.key,
            "name": definition.name,
        },
        subject={"type": change.subject_type, "id": change.subject_id},
    )
    return body.model_dump_json()


async def evaluate_now(
    session: AsyncSession, settings: Settings, principal: Principal, body: EvaluateRequest
) -> EvaluationRead:
    """Evaluate active rules now (admins only): the one way missing manual values are found
    between runs. Deliveries are queued; the caller sends them once this commits."""
    if not principal.is_admin:
        raise Forbidden("Only admins can evaluate alert rules.")
    watches = await watched(session, principal.tenant_id, rule_ids=body.rule_ids)
    unknown = sorted(set(body.rule_ids or ()) - {w.rule.id for w in watches})
    if unknown:
        raise InvalidInput(
            f"No such active alert rules: {', '.join(map(str, unknown))}.",
            errors=[field_error(["body", "rule_ids"], "unknown or inactive rule")],
        )
    now = datetime.now(UTC)
    today = settings.today(now)
    periods = on_demand(watches, today=today, first=body.period_start, last=body.period_end)
    outcome = await evaluate(
        session, principal.tenant_id, watches, periods, today=today, now=now, tz=settings.tz
    )
    done = EvaluationRead.model_validate(outcome)
    await audit.record(
        session,
        principal,
        "evaluate",
        "alert_rules",
        ",".join(str(w.rule.id) for w in watches)[:1000] or "none",
        after=done.model_dump(),
    )
    return done
