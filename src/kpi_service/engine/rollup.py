"""Combining the members' values of one period into a team's (or the organisation's) value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from kpi_service.engine.vocabulary import Rollup

# `last` orders periods in time; members have no order, so it cannot combine them.
MEMBER_ROLLUPS = frozenset({Rollup.SUM, Rollup.AVG, Rollup.MIN, Rollup.MAX})
# How many failing members a team's reason and details name; the count is always exact.
NAMED_FAILURES = 10
# Results must not depend on whatever decimal context the calling thread happens to use.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class MemberValue:
    """One member's value for the period, or why there is none (`failed`: an error)."""

    member: str
    value: Decimal | None
    reason: str | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class RolledUp:
    """The combined value, or the reason there is none, with counts for the details."""

    value: Decimal | None
    reason: str | None = None
    failed: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def _check(rollup: str) -> None:
    if rollup not in MEMBER_ROLLUPS:
        raise ValueError(
            f"rollup '{rollup}' cannot combine members' values; "
            f"use one of {', '.join(sorted(MEMBER_ROLLUPS))}"
        )


def combine(values: Sequence[Decimal], rollup: str) -> Decimal:
    """Sum, mean, minimum or maximum of at least one value; ValueError for other roll-ups."""
    _check(rollup)
    if not values:
        raise ValueError("there is no value to combine")
    with localcontext(_CONTEXT):
        if rollup == Rollup.MIN:
            return min(values)
        if rollup == Rollup.MAX:
            return max(values)
        total = sum(values, Decimal(0))
        return total if rollup == Rollup.SUM else total / len(values)


def _failure(failed: Sequence[MemberValue], members: int) -> RolledUp:
    named = failed[:NAMED_FAILURES]
    listed = "; ".join(f"{m.member}: {m.reason or 'failed'}" for m in named)
    more = f"; and {len(failed) - len(named)} more" if len(failed) > len(named) else ""
    # A value over the other members only would be silently wrong, so the team fails.
    reason = f"{len(failed)} of {members} members failed ({listed}{more})"
    details = {
        "members": members,
        "members_failed": len(failed),
        "failed_members": [{"subject_id": m.member, "reason": m.reason} for m in named],
    }
    return RolledUp(None, reason, failed=True, details=details)


def roll_up(members: Sequence[MemberValue], rollup: str) -> RolledUp:
    """The team's value from its members': any failure fails it; members without value
    are left out; no member with a value gives no value, with the reason."""
    _check(rollup)
    failed = [m for m in members if m.failed]
    if failed:
        return _failure(failed, len(members))
    values = [m.value for m in members if m.value is not None]
    details: dict[str, Any] = {"members": len(members), "members_with_value": len(values)}
    if not members:
        return RolledUp(None, "no members in the period", details=details)
    if not values:
        return RolledUp(None, "no member has a value for the period", details=details)
    return RolledUp(combine(values, rollup), details=details)
