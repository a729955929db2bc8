"""Combining members' values into a team's: hand-worked examples and plain-Python checks."""

from __future__ import annotations

import statistics
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.rollup import NAMED_FAILURES, MemberValue, combine, roll_up

D = Decimal


def values(*numbers: str | None) -> list[MemberValue]:
    return [MemberValue(f"u{i}", None if n is None else D(n)) for i, n in enumerate(numbers)]


@pytest.mark.parametrize(
    ("rollup", "expected"),
    [
        ("sum", "10.5"),
        ("avg", "3.5"),
        ("min", "1.5"),
        ("max", "6"),
    ],
)
def test_members_without_value_are_left_out(rollup: str, expected: str) -> None:
    # 1.5 + 3 + 6 = 10.5 over the three members with a value; the mean is 3.5, not 2.625.
    rolled = roll_up(values("1.5", None, "3", "6"), rollup)
    assert rolled.value == D(expected)
    assert not rolled.failed and rolled.reason is None
    assert rolled.details == {"members": 4, "members_with_value": 3}


def test_a_zero_is_a_value() -> None:
    rolled = roll_up(values("0", "0", None), "avg")
    assert rolled.value == 0
    assert rolled.details == {"members": 3, "members_with_value": 2}


def test_no_member_with_a_value_gives_no_value_with_the_reason() -> None:
    rolled = roll_up(values(None, None), "sum")
    assert rolled.value is None and not rolled.failed
    assert rolled.reason == "no member has a value for the period"
    assert rolled.details == {"members": 2, "members_with_value": 0}


def test_no_members_gives_no_value_with_the_reason() -> None:
    rolled = roll_up([], "sum")
    assert (rolled.value, rolled.failed) == (None, False)
    assert rolled.reason == "no members in the period"
    assert rolled.details == {"members": 0, "members_with_value": 0}


def test_a_failed_member_fails_the_team_and_is_named() -> None:
    members = [*values("4", "5"), MemberValue("agent7", None, "the source answered 500", True)]
    rolled = roll_up(members, "sum")
    assert rolled.failed and rolled.value is None
    assert rolled.reason == "1 of 3 members failed (agent7: the source answered 500)"
    assert rolled.details == {
        "members": 3,
        "members_failed": 1,
        "failed_members": [{"subject_id": "agent7", "reason": "the source answered 500"}],
    }


def test_many_failures_name_the_first_ones_and_count_all() -> None:
    failing = [MemberValue(f"u{i:02}", None, "timeout", True) for i in range(NAMED_FAILURES + 3)]
    rolled = roll_up([*values("1"), *failing], "max")
    assert rolled.reason is not None
    assert rolled.reason.startswith(f"{NAMED_FAILURES + 3} of {NAMED_FAILURES + 4} members failed")
    assert rolled.reason.endswith("; and 3 more)")
    assert len(rolled.details["failed_members"]) == NAMED_FAILURES
    assert rolled.details["members_failed"] == NAMED_FAILURES + 3


@pytest.mark.parametrize("rollup", ["last", "median", ""])
def test_rollups_without_meaning_over_members_are_refused(rollup: str) -> None:
    with pytest.raises(ValueError, match="cannot combine members' values"):
        roll_up(values("1"), rollup)
    with pytest.raises(ValueError, match="cannot combine members' values"):
        roll_up([], rollup)


def test_avg_does_not_depend_on_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert combine([D(1), D(2), D(2)], "avg") == D("1.666666666666666666666666667")
        assert combine([D("1000.01"), D("0.001")], "sum") == D("1000.011")


numbers = st.decimals(
    min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False
)


@given(st.lists(st.one_of(st.none(), numbers), max_size=30))
def test_matches_a_plain_recomputation(raw: list[Decimal | None]) -> None:
    present = [n for n in raw if n is not None]
    members = [MemberValue(str(i), n) for i, n in enumerate(raw)]
    for rollup in ("sum", "avg", "min", "max"):
        rolled = roll_up(members, rollup)
        if not present:
            assert rolled.value is None
            continue
        # statistics.mean of Decimals is exact (it sums Fractions); fmean's floats lose
        # digits when large values of opposite signs cancel.
        expected = {
            "sum": sum(present),
            "min": min(present),
            "max": max(present),
            "avg": statistics.mean(present),
        }[rollup]
        assert rolled.value is not None
        assert float(rolled.value) == pytest.approx(float(expected), rel=1e-12, abs=1e-9)
