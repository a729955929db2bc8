"""Standings maths: hand-worked examples and brute-force properties over random scores."""

from __future__ import annotations

import statistics
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.achievement import overall_score
from kpi_service.engine.ranking import (
    Cell,
    below_counts,
    column_totals,
    competition_ranks,
    dense_ranks,
    overall_from_totals,
    percentile,
    rank_change,
)

D = Decimal
SIX = D("0.000001")

scores_st = st.decimals(min_value=0, max_value=150, places=2, allow_nan=False, allow_infinity=False)
# Few distinct values, so ties are common.
tied_st = st.sampled_from([D("0"), D("50"), D("99.5"), D("100"), D("150")])
maybe_scores = st.dictionaries(
    st.text(min_size=1, max_size=3), st.one_of(st.none(), scores_st, tied_st), max_size=25
)


# --- overall scores ----------------------------------------------------------------------


def test_overall_from_totals_hand_worked() -> None:
    # Weights 50 and 25 over scores 120 and 90: (6000 + 2250) / 75 = 110.
    assert overall_from_totals(D(8250), D(75)) == D("110.000000")
    # 100 / 3 = 33.333333... rounds to six places.
    assert overall_from_totals(D(100), D(3)) == D("33.333333")
    assert overall_from_totals(None, None) is None
    assert overall_from_totals(D(0), D(0)) is None


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=100, places=2), st.one_of(st.none(), scores_st)
        ),
        max_size=12,
    )
)
def test_overall_from_totals_is_the_weighted_mean_of_scored_items(
    items: list[tuple[Decimal, Decimal | None]],
) -> None:
    scored = [(w, s) for w, s in items if s is not None and w > 0]
    weighted = sum((w * s for w, s in scored), D(0)) if scored else None
    weights = sum((w for w, _ in scored), D(0)) if scored else None
    assert overall_from_totals(weighted, weights) == overall_score(items)
    if scored:
        exact = sum((w * s for w, s in scored), D(0)) / sum((w for w, _ in scored), D(0))
        assert overall_from_totals(weighted, weights) == exact.quantize(
            SIX, rounding=ROUND_HALF_EVEN
        )


# --- ranks -------------------------------------------------------------------------------


def test_ranks_hand_worked() -> None:
    scores = {"a": D(90), "b": D(80), "c": D(80), "d": D(70), "e": None}
    assert dense_ranks(scores) == {"a": 1, "b": 2, "c": 2, "d": 3}
    assert competition_ranks(scores) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert below_counts(scores) == {"a": 3, "b": 1, "c": 1, "d": 0}


def test_no_scores_no_ranks() -> None:
    assert dense_ranks({}) == competition_ranks({}) == below_counts({}) == {}
    assert dense_ranks({"a": None}) == {}


def test_equal_values_of_different_scale_tie() -> None:
    assert dense_ranks({"a": D("100"), "b": D("100.000000")}) == {"a": 1, "b": 1}


@given(maybe_scores)
def test_ranks_by_brute_force(scores: dict[str, Decimal | None]) -> None:
    present = {k: s for k, s in scores.items() if s is not None}
    distinct = set(present.values())
    assert dense_ranks(scores) == {
        k: 1 + sum(1 for other in distinct if other > s) for k, s in present.items()
    }
    assert competition_ranks(scores) == {
        k: 1 + sum(1 for other in present.values() if other > s) for k, s in present.items()
    }
    assert below_counts(scores) == {
        k: sum(1 for other in present.values() if other < s) for k, s in present.items()
    }


@given(maybe_scores)
def test_dense_ranks_have_no_gaps_and_order_by_score(scores: dict[str, Decimal | None]) -> None:
    ranks = dense_ranks(scores)
    assert sorted(set(ranks.values())) == list(range(1, len(set(ranks.values())) + 1))
    for a, ra in ranks.items():
        for b, rb in ranks.items():
            sa, sb = scores[a], scores[b]
            assert sa is not None and sb is not None
            assert (ra < rb) == (sa > sb) and (ra == rb) == (sa == sb)


# --- percentiles and rank changes --------------------------------------------------------


@pytest.mark.parametrize(
    ("below", "ranked", "expected"),
    [
        (3, 4, "100"),
        (0, 4, "0"),
        (1, 4, "33.333333"),
        (2, 3, "100"),
        (1, 3, "50"),
    ],
)
def test_percentile_hand_worked(below: int, ranked: int, expected: str) -> None:
    assert percentile(below, ranked) == D(expected)


def test_percentile_alone_is_none_and_impossible_counts_refused() -> None:
    assert percentile(0, 1) is None
    for below, ranked in ((1, 1), (-1, 3), (0, 0), (4, 4)):
        with pytest.raises(ValueError, match="impossible"):
            percentile(below, ranked)


@given(maybe_scores)
def test_percentiles_follow_the_ranking(scores: dict[str, Decimal | None]) -> None:
    below = below_counts(scores)
    ranked = len(below)
    values = {k: percentile(n, ranked) for k, n in below.items()}
    for key, value in values.items():
        if ranked == 1:
            assert value is None
            continue
        assert value is not None and 0 <= value <= 100
        expected = D(below[key]) * 100 / D(ranked - 1)
        assert abs(value - expected) <= SIX / 2
        # The top score is at 100, the bottom at 0; a higher score never has a lower one.
        for other, other_value in values.items():
            other_score, score = scores[other], scores[key]
            assert other_score is not None and score is not None and other_value is not None
            if other_score > score:
                assert other_value > value


def test_rank_change() -> None:
    assert rank_change(5, 2) == 3
    assert rank_change(1, 4) == -3
    assert rank_change(2, 2) == 0
    assert rank_change(None, 1) is None
    assert rank_change(1, None) is None


# --- team totals -------------------------------------------------------------------------


def cells(*rows: tuple[str | None, str | None, str | None]) -> list[Cell]:
    return [Cell(None if v is None else D(v), None if a is None else D(a), s) for v, a, s in rows]


def test_column_totals_hand_worked() -> None:
    column = cells(
        ("10", "100", "met"), ("6", "60", "off_track"), ("8.5", "85", "at_risk"), (None, None, None)
    )
    totals = column_totals(column, "sum")
    assert (totals.members, totals.measured) == (4, 3)
    assert totals.value_sum == D("24.5") and totals.value_total == D("24.5")
    assert totals.value_mean == D("8.166667")  # 24.5 / 3
    assert totals.achievement_mean == D("81.666667")  # 245 / 3
    assert (totals.met, totals.at_risk, totals.off_track) == (1, 1, 1)
    assert column_totals(column, "avg").value_total == D("8.166667")
    assert column_totals(column, "min").value_total == D("6")
    assert column_totals(column, "max").value_total == D("10")
    # Members cannot be ordered in time, so `last` has no team total.
    assert column_totals(column, "last").value_total is None


def test_column_totals_without_values() -> None:
    totals = column_totals(cells((None, None, None)), "sum")
    assert (
        totals.members,
        totals.measured,
        totals.value_sum,
        totals.value_mean,
        totals.value_total,
        totals.achievement_mean,
    ) == (1, 0, None, None, None, None)
    assert column_totals([], "avg").members == 0


@given(
    st.lists(
        st.one_of(st.none(), st.decimals(min_value=-1000, max_value=1000, places=3)), max_size=15
    ),
    st.sampled_from(["sum", "avg", "min", "max"]),
)
def test_column_totals_by_plain_python(rows: list[Decimal | None], rollup: str) -> None:
    column = [Cell(v, None if v is None else v * 2, None) for v in rows]
    values = [v for v in rows if v is not None]
    totals = column_totals(column, rollup)
    assert totals.measured == len(values)
    if not values:
        assert totals.value_total is None
        return
    assert totals.value_sum == sum(values)
    mean = statistics.fmean(values)
    assert totals.value_mean is not None and abs(float(totals.value_mean) - mean) < 1e-6
    expected = {"sum": sum(values), "avg": D(str(mean)), "min": min(values), "max": max(values)}[
        rollup
    ]
    assert totals.value_total is not None and abs(totals.value_total - expected) < D("1e-6")
    assert totals.achievement_mean is not None
    assert abs(float(totals.achievement_mean) - 2 * mean) < 1e-6
