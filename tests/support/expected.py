"""What the API should answer, worked out again in plain Python from DESIGN.md section 4,
independent of the engine: achievement, score, status, trend, change, weighted means, ranks,
the months periods fall in and the events a subject's view counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

SIX = Decimal("0.000001")
CAP = Decimal(150)


def q(value: Decimal) -> Decimal:
    """Six decimal places, half to even, as every stored percentage."""
    return value.quantize(SIX, rounding=ROUND_HALF_EVEN) + 0


def achieved(actual: Decimal, target: Decimal, target_type: str) -> Decimal:
    """Achievement in percent for a target of zero or more."""
    if target_type == "higher_better":
        if target == 0:
            return Decimal(100) if actual >= 0 else Decimal(0)
        return q(actual / target * 100)
    if target_type == "lower_better":
        if target == 0:
            return Decimal(100) if actual <= 0 else Decimal(0)
        return Decimal(100) if actual <= 0 else q(target / actual * 100)
    if target == 0:
        return Decimal(100) if actual == 0 else Decimal(0)
    return q(max(Decimal(0), 100 - abs(actual - target) / abs(target) * 100))


def capped(achievement: Decimal, cap: Decimal = CAP) -> Decimal:
    return q(max(Decimal(0), min(achievement, cap)))


def status_of(achievement: Decimal, warning: Decimal = Decimal(80)) -> str:
    if achievement >= 100:
        return "met"
    return "at_risk" if achievement >= warning else "off_track"


def change_of(actual: Decimal, previous: Decimal | None) -> Decimal | None:
    if previous is None or previous == 0:
        return None
    return q((actual - previous) / abs(previous) * 100)


def trend_of(
    actual: Decimal, previous: Decimal | None, target_type: str, target: Decimal
) -> str | None:
    if previous is None:
        return None
    if target_type == "higher_better":
        better, worse = actual, previous
    elif target_type == "lower_better":
        better, worse = previous, actual
    else:
        better, worse = abs(previous - target), abs(actual - target)
    return "improving" if better > worse else "declining" if better < worse else "flat"


def weighted(pairs: Iterable[tuple[Decimal, Decimal | None]]) -> Decimal | None:
    """sum(weight x score) / sum(weight) over scored items of positive weight."""
    scored = [(w, s) for w, s in pairs if s is not None and w > 0]
    if not scored:
        return None
    return q(sum((w * s for w, s in scored), Decimal(0)) / sum((w for w, _ in scored), Decimal(0)))


def dense(scores: Mapping[str, Decimal | None]) -> dict[str, int]:
    """1 + how many distinct scores are higher."""
    distinct = {s for s in scores.values() if s is not None}
    return {k: 1 + sum(1 for o in distinct if o > s) for k, s in scores.items() if s is not None}


def competition(scores: Mapping[str, Decimal | None]) -> dict[str, int]:
    """1 + how many scores are higher."""
    present = [s for s in scores.values() if s is not None]
    return {k: 1 + sum(1 for o in present if o > s) for k, s in scores.items() if s is not None}


def num(value: Decimal | None) -> float | None:
    """A Decimal as the API's JSON number."""
    return None if value is None else float(value)


def movement_of(actual: Decimal | None, previous: Decimal | None) -> str:
    """Seed 004's trend: up, down, or neutral when equal or nothing came before."""
    if actual is None or previous is None or actual == previous:
        return "neutral"
    return "up" if actual > previous else "down"


def change_since_previous(actual: Decimal, previous: Decimal | None) -> Decimal | None:
    """Seed 004's percentage_change: 0 with no previous value, none after a previous 0."""
    return Decimal(0) if previous is None else change_of(actual, previous)


def month_start(day: date, back: int = 0) -> date:
    """The first day of the month `back` months before day's (after it, for a negative one)."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def month_end(day: date) -> date:
    """The last day of day's month."""
    return month_start(day, -1) - timedelta(days=1)


def events_of(
    events: Iterable[dict[str, Any]],
    subject_type: str,
    subject_id: str | None,
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """The events a subject's view counts: each id once (the last one sent), occurred in
    [start, end), the user's or the team's own (every event for the organisation)."""
    unique = {e["id"]: e for e in events}.values()
    return [
        e
        for e in unique
        if start <= datetime.fromisoformat(e["occurred_at"]) < end
        and (
            subject_type == "organization"
            or (subject_type == "user" and e["user_id"] == subject_id)
            or (subject_type == "team" and e.get("team_id") == subject_id)
        )
    ]
