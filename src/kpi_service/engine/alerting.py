"""Alert rules over KPI values: a verdict per period, z-scores, and the alert state machine.

Pure functions over plain values. A rule judges each (subject, period) as a breach, a clear,
a hold (no longer breached but not yet cleared by the margin) or unknown (nothing to judge);
the state machine turns the verdicts of one subject, oldest period first, into alerts that
open (`pending`), fire and resolve once each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Context, Decimal, localcontext

from kpi_service.engine.achievement import change_pct, quantize
from kpi_service.engine.vocabulary import AlertStatus, ChangeDirection, Direction, Notice, Verdict

# Square roots and ratios of the z-score at a precision no KPI value comes near.
_CONTEXT = Context(prec=50)
# Fewer earlier values than this give no z-score at all (a spread of two points is noise).
MIN_HISTORY = 3


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict, the quantity it compared and what it compared it to."""

    verdict: Verdict
    observed: Decimal | None = None
    threshold: Decimal | None = None
    details: dict[str, Decimal | None] = field(default_factory=dict)


UNKNOWN = Judgement(Verdict.UNKNOWN)


def below(observed: Decimal | None, threshold: Decimal, margin: Decimal) -> Judgement:
    """Breach under the threshold; clear at or over threshold + margin; hold in between."""
    if observed is None:
        return UNKNOWN
    if observed < threshold:
        verdict = Verdict.BREACH
    elif observed >= threshold + margin:
        verdict = Verdict.CLEAR
    else:
        verdict = Verdict.HOLD
    return Judgement(verdict, observed, threshold)


def above(observed: Decimal | None, threshold: Decimal, margin: Decimal) -> Judgement:
    """Breach over the threshold; clear at or under threshold - margin; hold in between."""
    if observed is None:
        return UNKNOWN
    if observed > threshold:
        verdict = Verdict.BREACH
    elif observed <= threshold - margin:
        verdict = Verdict.CLEAR
    else:
        verdict = Verdict.HOLD
    return Judgement(verdict, observed, threshold)


def value_crosses(
    value: Decimal | None, direction: Direction, threshold: Decimal, margin: Decimal
) -> Judgement:
    """The value is above (or below) the threshold."""
    if direction is Direction.ABOVE:
        return above(value, threshold, margin)
    return below(value, threshold, margin)


def change_beyond(
    actual: Decimal | None,
    previous: Decimal | None,
    direction: ChangeDirection,
    limit: Decimal,
    margin: Decimal,
) -> Judgement:
    """The change in percent versus the previous period goes beyond the limit that way."""
    change = change_pct(actual, previous)
    if change is None:
        return UNKNOWN
    if direction is ChangeDirection.UP:
        judged = above(change, limit, margin)
    elif direction is ChangeDirection.DOWN:
        judged = below(change, -limit, margin)
    else:
        judged = above(abs(change), limit, margin)
    return Judgement(judged.verdict, change, limit, {"previous_value": previous})


@dataclass(frozen=True, slots=True)
class Spread:
    """Mean and sample standard deviation of a subject's earlier values."""

    mean: Decimal
    std: Decimal
    count: int


def spread(history: Sequence[Decimal]) -> Spread:
    """Mean and sample standard deviation (n - 1), as `statistics.stdev`; needs two values."""
    if len(history) < 2:
        raise ValueError("a spread needs at least two values")
    with localcontext(_CONTEXT):
        mean = sum(history, Decimal(0)) / len(history)
        variance = sum(((x - mean) ** 2 for x in history), Decimal(0)) / (len(history) - 1)
        return Spread(mean, variance.sqrt(), len(history))


def z_score(value: Decimal, history: Sequence[Decimal]) -> Decimal | None:
    """How many sample standard deviations value lies from the history's mean; None when the
    history does not vary."""
    s = spread(history)
    if s.std == 0:
        return None
    with localcontext(_CONTEXT):
        return quantize((value - s.mean) / s.std)


def anomaly(value: Decimal | None, history: Sequence[Decimal], k: Decimal) -> Judgement:
    """|z| >= k against the earlier values; a value off a perfectly constant history is an
    anomaly (z is then infinite and not given), the constant value itself is not."""
    if value is None or len(history) < MIN_HISTORY:
        return UNKNOWN
    s = spread(history)
    details = {"mean": quantize(s.mean), "std": quantize(s.std), "history": Decimal(s.count)}
    z = z_score(value, history)
    if z is None:
        verdict = Verdict.CLEAR if value == s.mean else Verdict.BREACH
    else:
        verdict = Verdict.BREACH if abs(z) >= k else Verdict.CLEAR
    return Judgement(verdict, z, k, details)


def declines(has_value: bool, declining: int, periods: int) -> Judgement:
    """The last `periods` periods, this one included, were each a decline (`declining` is how
    many of them were)."""
    if not has_value:
        return UNKNOWN
    verdict = Verdict.BREACH if declining >= periods else Verdict.CLEAR
    return Judgement(verdict, Decimal(declining), Decimal(periods))


def missing(has_value: bool, period_end: date, today: date, days: int) -> Judgement:
    """No value recorded and more than `days` days have passed since the period's last day."""
    overdue = (today - period_end).days - days
    if has_value:
        return Judgement(Verdict.CLEAR, None, Decimal(days))
    if overdue > 0:
        return Judgement(Verdict.BREACH, Decimal((today - period_end).days), Decimal(days))
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class Observation:
    """One period of one subject as a rule judged it; `value` is the period's actual value.
    A `projected` judgement (of a period in progress, on its pace) opens, extends or fires an
    alert but never resolves one: only the period's final figure, or a later period, does."""

    period_start: date
    period_end: date
    value: Decimal | None
    judgement: Judgement
    projected: bool = False


@dataclass(frozen=True, slots=True)
class Latest:
    """An alert's latest judged period: its value, and what the rule compared it with."""

    start: date
    end: date
    value: Decimal | None
    observed: Decimal | None
    threshold: Decimal | None
    details: dict[str, Decimal | None]

    @classmethod
    def of(cls, seen: Observation) -> Latest:
        judged = seen.judgement
        return cls(
            seen.period_start,
            seen.period_end,
            seen.value,
            judged.observed,
            judged.threshold,
            dict(judged.details),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an alert said when a transition was notified."""

    notice: Notice
    status: AlertStatus
    latest: Latest


@dataclass
class Tracked:
    """One alert as the state machine sees it, with what this evaluation did to it."""

    period_start: date
    period_end: date
    status: AlertStatus
    streak: int
    latest: Latest
    fired: bool
    id: int | None = None
    changed: bool = False
    notices: list[Snapshot] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status is not AlertStatus.RESOLVED

    def _see(self, seen: Observation) -> None:
        # Only what differs is taken: an equal value keeps the digits it was stored with.
        now = Latest.of(seen)
        differs = {
            f.name: getattr(now, f.name)
            for f in fields(Latest)
            if getattr(now, f.name) != getattr(self.latest, f.name)
        }
        if differs:
            self.latest, self.changed = replace(self.latest, **differs), True

    def _move(self, status: AlertStatus) -> None:
        self.status, self.changed = status, True
        if status is AlertStatus.FIRING:
            self.fired = True
            self._notify(Notice.FIRING)
        elif self.fired:  # an alert that never fired resolves without a word
            self._notify(Notice.RESOLVED)

    def _notify(self, notice: Notice) -> None:
        self.notices.append(Snapshot(notice, self.status, self.latest))

    def step(self, seen: Observation, for_periods: int) -> None:
        """Apply one observation of this alert's latest period or a later one."""
        verdict = seen.judgement.verdict
        if verdict is Verdict.UNKNOWN:
            return
        later = seen.period_start > self.latest.start
        self._see(seen)
        if verdict is Verdict.CLEAR or (
            verdict is Verdict.HOLD and self.status is AlertStatus.PENDING
        ):
            # A pace that recovers says where the period is heading, not how it ended.
            if not seen.projected:
                self._move(AlertStatus.RESOLVED)
        elif verdict is Verdict.BREACH:
            if later:
                self.streak += 1
                self.changed = True
            if self.status is AlertStatus.PENDING and self.streak >= for_periods:
                self._move(AlertStatus.FIRING)


def opened(seen: Observation, for_periods: int) -> Tracked:
    """A new alert for a breach: pending, or firing at once when one period is enough."""
    alert = Tracked(
        seen.period_start,
        seen.period_end,
        AlertStatus.PENDING,
        1,
        Latest.of(seen),
        fired=False,
        changed=True,
    )
    if for_periods <= 1:
        alert._move(AlertStatus.FIRING)
    return alert


def advance(
    latest: Tracked | None, observations: Iterable[Observation], for_periods: int
) -> list[Tracked]:
    """Apply a subject's observations, oldest first, to its latest alert; the alerts changed
    or opened.

    A period before the latest alert's last judged period is history already judged and is
    ignored; a breach opens a new alert only after the latest one resolved and only in a
    later period, so re-evaluating the same values never re-opens or re-notifies anything.
    """
    touched: list[Tracked] = []
    current = latest
    for seen in sorted(observations, key=lambda o: o.period_start):
        if current is not None and seen.period_start < current.latest.start:
            continue
        if current is not None and current.active:
            current.step(seen, for_periods)
            if current.changed and current not in touched:
                touched.append(current)
        elif seen.judgement.verdict is Verdict.BREACH and (
            current is None or seen.period_start > current.latest.start
        ):
            current = opened(seen, for_periods)
            touched.append(current)
    return touched
