"""Standings maths: overall scores, ranks with ties, percentiles, rank changes, team totals."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import TypeVar

from kpi_service.engine.achievement import quantize
from kpi_service.engine.rollup import MEMBER_ROLLUPS, combine
from kpi_service.engine.vocabulary import Status

K = TypeVar("K", bound=Hashable)

_HUNDRED = Decimal(100)
# As in achievement.py: results must not depend on the calling thread's decimal context.
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)


def overall_from_totals(weighted_sum: Decimal | None, weight_sum: Decimal | None) -> Decimal | None:
    """The weighted mean sum(weight x score) / sum(weight) from its two sums, or None.

    The sums cover only scored items of positive weight; the result equals
    `achievement.overall_score` over those items.
    """
    if weighted_sum is None or weight_sum is None or weight_sum <= 0:
        return None
    return quantize(_CONTEXT.divide(weighted_sum, weight_sum))


def _ordered_scores(scores: Mapping[K, Decimal | None]) -> list[Decimal]:
    return sorted({s for s in scores.values() if s is not None}, reverse=True)


def dense_ranks(scores: Mapping[K, Decimal | None]) -> dict[K, int]:
    """Dense ranks (1, 2, 2, 3) by score, highest first; subjects without a score are left out."""
    position = {score: i + 1 for i, score in enumerate(_ordered_scores(scores))}
    return {k: position[s] for k, s in scores.items() if s is not None}


def competition_ranks(scores: Mapping[K, Decimal | None]) -> dict[K, int]:
    """Standard competition ranks (1, 2, 2, 4): one plus how many scored strictly higher."""
    ascending = sorted(s for s in scores.values() if s is not None)
    total = len(ascending)
    return {k: 1 + total - bisect_right(ascending, s) for k, s in scores.items() if s is not None}


def below_counts(scores: Mapping[K, Decimal | None]) -> dict[K, int]:
    """How many scored subjects have a strictly lower score than each scored subject."""
    ascending = sorted(s for s in scores.values() if s is not None)
    return {k: bisect_left(ascending, s) for k, s in scores.items() if s is not None}


def percentile(below: int, ranked: int) -> Decimal | None:
    """Percent of the other ranked subjects scored strictly lower: below / (ranked - 1) x 100.

    The top subject alone above everyone gets 100, the bottom 0; alone, there is no one
    to compare with, hence None.
    """
    if not 0 <= below < ranked:
        raise ValueError(f"{below} below out of {ranked} ranked is impossible")
    if ranked == 1:
        return None
    with localcontext(_CONTEXT):
        return quantize(Decimal(below) / Decimal(ranked - 1) * _HUNDRED)


def rank_change(previous: int | None, current: int | None) -> int | None:
    """Positions moved up since the previous period (negative: down); None unless ranked both."""
    if previous is None or current is None:
        return None
    return previous - current


@dataclass(frozen=True, slots=True)
class ColumnTotals:
    """A team's totals of one KPI over its members' cells for a period."""

    members: int
    measured: int
    value_sum: Decimal | None
    value_mean: Decimal | None
    value_total: Decimal | None
    achievement_mean: Decimal | None
    met: int
    at_risk: int
    off_track: int


@dataclass(frozen=True, slots=True)
class Cell:
    """One member's measured state of one KPI (all None when unmeasured)."""

    value: Decimal | None
    achievement: Decimal | None
    status: str | None


def column_totals(cells: Sequence[Cell], rollup: str) -> ColumnTotals:
    """Sum and mean of the values, their combination by the KPI's roll-up (sum for counts,
    mean for rates; none for `last`, which members cannot be ordered by), mean achievement,
    and how many members met, are at risk, are off track."""
    values = [c.value for c in cells if c.value is not None]
    achievements = [c.achievement for c in cells if c.achievement is not None]
    statuses = [c.status for c in cells]
    with localcontext(_CONTEXT):
        value_sum = sum(values, Decimal(0)) if values else None
        value_mean = quantize(value_sum / len(values)) if value_sum is not None else None
        total = quantize(combine(values, rollup)) if values and rollup in MEMBER_ROLLUPS else None
        achievement_mean = (
            quantize(sum(achievements, Decimal(0)) / len(achievements)) if achievements else None
        )
    return ColumnTotals(
        members=len(cells),
        measured=len(values),
        value_sum=value_sum,
        value_mean=value_mean,
        value_total=total,
        achievement_mean=achievement_mean,
        met=statuses.count(Status.MET.value),
        at_risk=statuses.count(Status.AT_RISK.value),
        off_track=statuses.count(Status.OFF_TRACK.value),
    )
