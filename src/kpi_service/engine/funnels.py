"""Funnel arithmetic: stage-to-stage conversions and a KPI's value over several periods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from kpi_service.engine.achievement import quantize
from kpi_service.engine.periods import containing
from kpi_service.engine.rollup import combine
from kpi_service.engine.vocabulary import PeriodKind, Rollup

_HUNDRED = Decimal(100)
_UNITS = {
    PeriodKind.DAILY: "day",
    PeriodKind.WEEKLY: "week (Monday to Sunday)",
    PeriodKind.MONTHLY: "month",
    PeriodKind.QUARTERLY: "quarter",
    PeriodKind.YEARLY: "year",
}
# Results must not depend on whatever decimal context the calling thread happens to use.
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)


def percent(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    """`part / whole * 100` at six places; None when either is missing or whole is 0."""
    if part is None or whole is None or whole == 0:
        return None
    with localcontext(_CONTEXT):
        return quantize(part / whole * _HUNDRED)


@dataclass(frozen=True, slots=True)
class StageConversion:
    """One stage's count with its conversion from the stage before and from the first."""

    count: Decimal | None
    from_previous: Decimal | None
    from_first: Decimal | None


def conversions(counts: Sequence[Decimal | None]) -> list[StageConversion]:
    """Each stage's conversion (percent) from the previous stage and from the first one."""
    out: list[StageConversion] = []
    first = counts[0] if counts else None
    for i, count in enumerate(counts):
        previous = counts[i - 1] if i > 0 else None
        out.append(StageConversion(count, percent(count, previous), percent(count, first)))
    return out


def across_members(rows: Sequence[tuple[date, Decimal | None]], rollup: str) -> Decimal | None:
    """A group's value over several periods from its members' (period start, value) rows: per
    period the members' values combined by the rollup, as a team KPI combines its members,
    then the periods combined as `over_periods` does. Several members need a member rollup."""
    by_period: dict[date, list[Decimal]] = {}
    for start, value in rows:
        if value is not None:
            by_period.setdefault(start, []).append(value)
    return over_periods(
        [
            (start, values[0] if len(values) == 1 else combine(values, rollup))
            for start, values in by_period.items()
        ],
        rollup,
    )


def over_periods(values: Sequence[tuple[date, Decimal | None]], rollup: str) -> Decimal | None:
    """A KPI's value over several of its periods, combined by its rollup (`last`: the latest
    period with a value) at six places; periods without a value are left out; none: None."""
    known = sorted((start, value) for start, value in values if value is not None)
    if not known:
        return None
    if rollup == Rollup.LAST:
        return known[-1][1]
    return quantize(combine([value for _, value in known], rollup))


def whole_periods(kind: PeriodKind, start: date, end: date) -> tuple[date, date] | None:
    """The first and last day of the periods of `kind` lying wholly inside [start, end], or
    None when no whole period does."""
    first = containing(kind, start)
    if first.start < start:
        first = first.next()
    last = containing(kind, end)
    if last.end > end:
        last = last.previous()
    return (first.start, last.end) if first.end <= end else None


def no_count_reason(key: str, kind: PeriodKind, start: date, end: date, subject: str) -> str:
    """Why a KPI stage has no count: no whole period of the KPI inside the range, or no value
    in the ones inside it."""
    unit = _UNITS[kind]
    covered = whole_periods(kind, start, end)
    if covered is None:
        return (
            f"KPI {key!r} is computed per {unit}; the range {start}..{end} does not "
            f"cover a whole {unit.split(' ')[0]}."
        )
    return (
        f"KPI {key!r} has no value for {subject} in its periods inside the range "
        f"({covered[0]}..{covered[1]})."
    )
