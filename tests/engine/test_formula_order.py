"""The order formula KPIs are computed in, and the loops refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.formula import FormulaCycle, FormulaError
from kpi_service.engine.formula_order import evaluation_order


def test_order_of_a_chain() -> None:
    # c uses b uses a; a is only used (a manual KPI, say), so it comes first
    assert evaluation_order({"c": ["b"], "b": ["a"]}) == ["a", "b", "c"]


def test_order_of_a_diamond() -> None:
    assert evaluation_order({"d": ["c", "b"], "c": ["a"], "b": ["a"], "a": []}) == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_order_of_independent_keys_is_alphabetical() -> None:
    assert evaluation_order({"z": [], "m": (), "a": set()}) == ["a", "m", "z"]


def test_keys_only_used_come_first() -> None:
    # zz_manual has no entry of its own: it comes before alpha even though it sorts after it
    assert evaluation_order({"total": iter(["zz_manual"]), "alpha": []}) == [
        "zz_manual",
        "alpha",
        "total",
    ]


def test_a_three_cycle_is_named() -> None:
    with pytest.raises(FormulaCycle) as caught:
        # c uses a uses b uses c; d merely depends on the loop and is not part of it
        evaluation_order({"c": ["a"], "a": ["b"], "b": ["c"], "d": ["a"], "e": []})
    assert caught.value.cycle == ["a", "b", "c"]
    assert str(caught.value) == "KPIs use each other in a loop: a -> b -> c -> a"
    assert isinstance(caught.value, FormulaError)
    assert isinstance(caught.value, ValueError)


def test_a_cycle_reached_through_another_key() -> None:
    with pytest.raises(FormulaCycle) as caught:
        # a leads into the loop y <-> z without being in it; the cycle starts at its smallest key
        evaluation_order({"a": ["z"], "z": ["y"], "y": ["z"]})
    assert caught.value.cycle == ["y", "z"]


def test_self_reference() -> None:
    with pytest.raises(FormulaCycle) as caught:
        evaluation_order({"a": ["a", "b"]})
    assert caught.value.cycle == ["a"]
    assert str(caught.value) == "KPI a uses itself"


KEYS = list("abcdefgh")


@given(st.dictionaries(st.sampled_from(KEYS), st.sets(st.sampled_from(KEYS), max_size=3)))
def test_order_is_valid_or_the_cycle_is_real(dependencies: dict[str, set[str]]) -> None:
    try:
        order = evaluation_order(dependencies)
    except FormulaCycle as exc:
        # each key of the cycle uses the next one, the last uses the first
        cycle = exc.cycle
        assert len(set(cycle)) == len(cycle)
        assert all(cycle[(i + 1) % len(cycle)] in dependencies[key] for i, key in enumerate(cycle))
        return
    everything = set(dependencies).union(*dependencies.values())
    assert sorted(order) == sorted(everything)
    position = {key: index for index, key in enumerate(order)}
    assert all(position[u] < position[k] for k, used in dependencies.items() for u in used)
