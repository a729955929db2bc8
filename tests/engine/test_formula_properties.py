"""The formula evaluator against exact fractions over generated expressions (split from
test_formula.py, which holds the worked examples and refusals)."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import TypeAlias

from hypothesis import given
from hypothesis import strategies as st

from tests.support.formulas import formula

# --- property: the evaluator against exact fractions ------------------------------------------

Tree: TypeAlias = int | str | tuple[str, "Tree", "Tree"]
NAMES = ("a", "b", "c")
leaves = st.integers(0, 9) | st.sampled_from(NAMES)


Extend: TypeAlias = Callable[[st.SearchStrategy[Tree]], st.SearchStrategy[Tree]]


def _branches(operators: str, divisors: st.SearchStrategy[Tree] | None = None) -> Extend:
    def extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        ring = st.tuples(st.sampled_from(operators), children, children)
        if divisors is None:
            return ring
        return ring | st.tuples(st.just("/"), children, divisors)

    return extend


# Divisors are built without division: a divisor that is exactly zero as a fraction but
# 1e-50 after 50-digit rounding (1/3*3 - 1) would make the two sides disagree for a reason
# that is not a bug. Sums and products of these small decimals are exact in 50 digits.
divisors = st.recursive(leaves, _branches("+-*"), max_leaves=4)
trees = st.recursive(leaves, _branches("+-*", divisors), max_leaves=10)


def render(tree: Tree) -> str:
    if isinstance(tree, tuple):
        op, left, right = tree
        return f"({render(left)} {op} {render(right)})"
    return str(tree)


def names_in(tree: Tree) -> set[str]:
    if isinstance(tree, tuple):
        return names_in(tree[1]) | names_in(tree[2])
    return {tree} if isinstance(tree, str) else set()


def exact(tree: Tree, env: dict[str, Fraction]) -> Fraction:
    if isinstance(tree, int):
        return Fraction(tree)
    if isinstance(tree, str):
        return env[tree]
    op, left, right = tree
    a, b = exact(left, env), exact(right, env)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b  # ZeroDivisionError when b == 0


@given(
    trees,
    st.fixed_dictionaries(
        {name: st.decimals("-100", "100", places=2, allow_nan=False) for name in NAMES}
    ),
)
def test_matches_exact_fractions(tree: Tree, env: dict[str, Decimal]) -> None:
    used = sorted(names_in(tree))
    result, reason = formula(render(tree), *used).evaluate({name: env[name] for name in used})
    try:
        expected = exact(tree, {name: Fraction(env[name]) for name in used})
    except ZeroDivisionError:
        assert result is None
        assert reason is not None and reason.startswith("division by zero in ")
        return
    if abs(expected) > 10**15:
        assert (result, reason) == (None, "result out of range")
        return
    assert reason is None and result is not None
    millionths = expected * 10**6
    floor = math.floor(millionths)
    if abs(millionths - floor - Fraction(1, 2)) < Fraction(1, 10**12):
        # Exactly halfway (or as near as 50 digits can tell): either neighbour is fair.
        assert Fraction(result) * 10**6 in (floor, floor + 1)
    else:
        assert Fraction(result) == Fraction(round(millionths), 10**6)  # round(): half to even
