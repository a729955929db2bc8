from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_service.engine.formula import (
    Formula,
    FormulaError,
    parse_formula,
)
from tests.support.formulas import (
    COMPARISONS,
    EXPONENT,
    NAME_RULE,
    evaluate,
    formula,
    refusal,
    value,
)

# --- arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", "14.000000"),  # 3*4 = 12, + 2
        ("(2 + 3) * 4", "20.000000"),  # 5 * 4
        ("2 * 3 ** 2", "18.000000"),  # 3**2 = 9 first, * 2
        ("2 ** 3 ** 2", "512.000000"),  # right to left: 3**2 = 9, 2**9 = 512
        ("-2 ** 2", "-4.000000"),  # as in Python, ** binds tighter than unary minus: -(2**2)
        ("(-2) ** 2", "4.000000"),
        ("10 - 4 - 3", "3.000000"),  # left to right: (10-4)-3
        ("100 / 10 / 4", "2.500000"),  # (100/10)/4 = 10/4
        ("--5", "5.000000"),  # -(-5)
        ("-(3 - 10)", "7.000000"),  # -(-7)
        ("+4 - -4", "8.000000"),
        ("2 ** -2", "0.250000"),  # 1 / 2**2 = 1/4
        ("10 ** -3", "0.001000"),  # 1 / 1000
        ("(-2) ** -3", "-0.125000"),  # 1 / (-8)
        ("5 ** 0", "1.000000"),
        ("1 / 3", "0.333333"),  # 0.333333|33... rounds down
        ("2 / 3", "0.666667"),  # 0.666666|66... rounds up
        ("0.0000005 + 0", "0.000000"),  # half to even at the 6th place: 0 stays 0
        ("0.0000015 + 0", "0.000002"),  # half to even: 1 becomes 2
        ("0.1 + 0.2", "0.300000"),  # decimal literals from their text: no float 0.30000000000000004
        ("1_000 * 1e3", "1000000.000000"),  # Python spellings of numbers are read as written
        ("-0 * 5", "0.000000"),  # no negative zero
        ("10 ** 10 * 10 ** 5", "1000000000000000.000000"),  # exactly 1e15: still in range
    ],
)
def test_arithmetic(expression: str, expected: str) -> None:
    assert value(expression) == expected


def test_the_design_example() -> None:
    # 45 resolved in 8 hours: 45 / 8 = 5.625, * 100 = 562.5
    example = parse_formula(
        "resolved / hours * 100", {"resolved": "cases_resolved_count", "hours": "hours_worked"}
    )
    assert example.evaluate({"resolved": Decimal(45), "hours": Decimal(8)}) == (
        Decimal("562.500000"),
        None,
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Python's floor semantics, not Decimal's truncation toward zero:
        ("-7 // 2", "-4.000000"),  # -3.5 floored is -4 (Decimal alone would say -3)
        ("-7 % 2", "1.000000"),  # -7 = 2 * -4 + 1 (Decimal alone would say -1)
        ("7 // -2", "-4.000000"),  # -3.5 floored
        ("7 % -2", "-1.000000"),  # 7 = -2 * -4 - 1: the remainder takes the divisor's sign
        ("-7 // -2", "3.000000"),  # 3.5 floored
        ("-7 % -2", "-1.000000"),  # -7 = -2 * 3 - 1
        ("7 // 2", "3.000000"),
        ("7 % 2", "1.000000"),
        ("-7.5 // 2", "-4.000000"),  # -3.75 floored
        ("-7.5 % 2", "0.500000"),  # -7.5 = 2 * -4 + 0.5
        ("7 % 2.5", "2.000000"),  # 7 = 2.5 * 2 + 2
        ("-6 % 3", "0.000000"),  # exact: no adjustment
    ],
)
def test_floor_division_and_modulo_follow_python(expression: str, expected: str) -> None:
    assert value(expression) == expected


def six_places(exact: Fraction) -> str:
    """A positive fraction rounded half to even to six places, as decimal text."""
    millionths = round(exact * 10**6)
    return f"{millionths // 10**6}.{millionths % 10**6:06d}"


@pytest.mark.parametrize(
    ("expression", "a", "expected"),
    [
        ("a ** -3", "2", "0.125000"),  # 1 / 2**3
        ("a ** 2", "-3", "9.000000"),
        ("a ** 2.0", "3", "9.000000"),  # a whole number, whatever its scale
        ("a ** 0.5", "16", "4.000000"),  # the square root
        ("a ** 0.5", "2", f"{math.sqrt(2):.6f}"),  # 1.414214
        ("a ** (1 / 2)", "2", f"{math.sqrt(2):.6f}"),  # a constant exponent may be computed
        ("a ** -0.5", "4", "0.500000"),  # 1 / sqrt(4)
        ("a ** 1.5", "4", "8.000000"),  # sqrt(4) ** 3
        ("a ** (1 / 3)", "27", "3.000000"),  # cube root, to 50 digits then six places
        ("a ** (2 + 3)", "2", "32.000000"),
        ("a ** 2 ** 3", "1.1", "2.143589"),  # 2**3 = 8 first: 1.1**8 = 2.14358881
        ("((a ** 10) ** 10) ** 10", "1.01", six_places(Fraction(101, 100) ** 1000)),  # a**1000
    ],
)
def test_powers_with_constant_exponents(expression: str, a: str, expected: str) -> None:
    assert value(expression, a=a) == expected


def test_nested_powers_cost_bounded_work_and_overflow_is_no_value() -> None:
    # 4 ** 10**7 would be a number of six million digits: each power works to 50 digits and
    # the exponent range stops the growth; 40 nested powers of 10 still answer at once.
    expression = "(" * 40 + "a" + " ** 10)" * 40
    assert len(expression) <= 1000
    assert value(expression, a="1") == "1.000000"
    result, reason = evaluate(expression, a="4")
    assert result is None and reason is not None and reason.endswith("is too large")


# --- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("a if b > 0 else c", {"a": "5", "b": "1", "c": None}, "5.000000"),  # c not needed
        ("a if b > 0 else c", {"a": None, "b": "-1", "c": "7"}, "7.000000"),  # a not needed
        ("1 if 0 <= a < 10 else 0", {"a": "5"}, "1.000000"),  # chained: 0 <= 5 and 5 < 10
        ("1 if 0 <= a < 10 else 0", {"a": "10"}, "0.000000"),
        ("1 if 0 <= a < 10 else 0", {"a": "-1"}, "0.000000"),
        ("1 if a > 0 or b > 0 else 0", {"a": "1", "b": None}, "1.000000"),  # or stops at true
        ("1 if a > 0 and b > 0 else 0", {"a": "-1", "b": None}, "0.000000"),  # and stops at false
        ("1 if not a > 0 else 0", {"a": "-1"}, "1.000000"),
        ("1 if a == b != 3 else 0", {"a": "2", "b": "2.00"}, "1.000000"),  # 2 == 2.00 numerically
        ("1 if 0.1 + 0.2 == 0.3 else 0", {}, "1.000000"),  # exact decimals
        ("a / b if b != 0 else 0", {"a": "1", "b": "0"}, "0.000000"),  # guarded division
        ("(a if a >= 0 else -a) * 2", {"a": "-3"}, "6.000000"),
        ("1 if (a > 0 if b > 0 else a < 0) else 2", {"a": "-1", "b": "-1"}, "1.000000"),
    ],
)
def test_conditionals(expression: str, values: dict[str, str | None], expected: str) -> None:
    assert value(expression, **values) == expected


def test_a_missing_value_is_reported_only_when_needed() -> None:
    assert evaluate("a if b > 0 else c", a="5", b="-1", c=None) == (None, "no value for c (kpi_c)")
    assert evaluate("a if b > 0 else c", a="5", b=None, c="1") == (None, "no value for b (kpi_b)")
    assert evaluate("a * 0", a=None) == (None, "no value for a (kpi_a)")
    assert evaluate("min(a, b)", a="1", b=None) == (None, "no value for b (kpi_b)")
    # a name left out of values counts as no value
    assert formula("a + 1", "a").evaluate({}) == (None, "no value for a (kpi_a)")
    assert evaluate("a", a="NaN") == (None, "a (kpi_a) is NaN, not a number")


# --- functions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("min(a, b, 3)", {"a": "5", "b": "2"}, "2.000000"),
        ("max(a, b, 3)", {"a": "5", "b": "2"}, "5.000000"),
        ("min(a)", {"a": "4"}, "4.000000"),  # one argument: itself
        ("abs(a - 10)", {"a": "3"}, "7.000000"),  # |3 - 10|
        ("abs(a)", {"a": "2.5"}, "2.500000"),
        ("round(2.5)", {}, "3.000000"),  # half up, not Python's half-even 2
        ("round(3.5)", {}, "4.000000"),
        ("round(-2.5)", {}, "-3.000000"),  # half away from zero
        ("round(2.4999)", {}, "2.000000"),
        ("round(0.125, 2)", {}, "0.130000"),  # half up; half-even would give 0.12
        ("round(a, 2)", {"a": "1.005"}, "1.010000"),  # exact decimal, where float gives 1.0
        ("round(1234.5678, 0)", {}, "1235.000000"),
        ("round(1 / 3, 10)", {}, "0.333333"),  # 0.3333333333, then six places
        ("max(a, 0) / min(b, 100) * 100", {"a": "-5", "b": "50"}, "0.000000"),
    ],
)
def test_functions(expression: str, values: dict[str, str], expected: str) -> None:
    assert value(expression, **values) == expected


# --- no value, with the reason ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "values", "reason"),
    [
        ("a / (b - c)", {"a": "1", "b": "2", "c": "2"}, "division by zero in a / (b - c)"),
        ("1 + a / b * 2", {"a": "1", "b": "0"}, "division by zero in a / b"),  # the part, not all
        ("a // b", {"a": "1", "b": "0"}, "division by zero in a // b"),
        ("a % b", {"a": "1", "b": "0.0"}, "division by zero in a % b"),
        ("a / b", {"a": "0", "b": "0"}, "division by zero in a / b"),  # 0/0 too
        ("a ** -1", {"a": "0"}, "division by zero in a ** (-1)"),  # 1 / 0**1
        ("min(a ** -2, 1)", {"a": "0"}, "division by zero in a ** (-2)"),  # not hidden by min()
        ("a ** 0", {"a": "0"}, "a ** 0 cannot be computed"),  # 0**0 is undefined in decimal
        ("a ** 0.5", {"a": "-4"}, "a ** 0.5 cannot be computed"),  # no real square root
        ("a ** -0.5", {"a": "0"}, "division by zero in a ** (-0.5)"),
        ("a * 10", {"a": "1e15"}, "result out of range"),  # 1e16 > 1e15
        ("-a - 1", {"a": "1e15"}, "result out of range"),
        ("a * a", {"a": "1e600000"}, "a * a is too large"),  # beyond decimal's exponent range
        ("round(a)", {"a": "1e60"}, "round(a) cannot be computed"),  # 61 digits > 50
    ],
)
def test_no_value_with_reason(expression: str, values: dict[str, str], reason: str) -> None:
    assert evaluate(expression, **values) == (None, reason)


# --- refused when saved -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("a.real", "attribute lookups are not allowed: a.real"),
        ("a[0]", "subscripts are not allowed: a[0]"),
        ("lambda: a", "lambda functions are not allowed: lambda: a"),
        ("(lambda: a)()", "only min, max, abs and round can be called: (lambda: a)()"),
        ("a.conjugate()", "only min, max, abs and round can be called: a.conjugate()"),
        ("[a for a in b]", "comprehensions are not allowed: [a for a in b]"),
        ("min(x for x in a)", "comprehensions are not allowed: (x for x in a)"),
        ("{a: 1}", "lists, tuples, sets and dicts are not allowed: {a: 1}"),
        ("[a]", "lists, tuples, sets and dicts are not allowed: [a]"),
        ("a, 1", "lists, tuples, sets and dicts are not allowed: (a, 1)"),
        ("'a'", "strings are not allowed: 'a'"),
        ("b'a'", "strings are not allowed: b'a'"),
        ("f'{a}'", "f-strings are not allowed: f'{a}'"),
        ("round(a, ndigits=2)", "keyword arguments are not allowed: round(a, ndigits=2)"),
        ("min(*a)", "starred arguments are not allowed: min(*a)"),
        ("sqrt(a)", "function sqrt is not allowed; use min, max, abs or round"),
        ("__import__('os')", "function __import__ is not allowed; use min, max, abs or round"),
        ("eval('1')", "function eval is not allowed; use min, max, abs or round"),
        ("(b := a)", "assignment expressions (:=) are not allowed: (b := a)"),
        ("await a", "Await expressions are not allowed: await a"),
        ("True", "True is not allowed; only numbers are"),
        ("None", "None is not allowed; only numbers are"),
        ("2j", "complex numbers are not allowed: 2j"),
        ("0x1F", "0x1F is not a decimal number"),
        ("a << 2", "the operator in a << 2 is not allowed; use + - * / // % or **"),
        ("a & 1", "the operator in a & 1 is not allowed; use + - * / // % or **"),
        ("a @ a", "the operator in a @ a is not allowed; use + - * / // % or **"),
        ("~a", "the operator in ~a is not allowed; use + - * / // % or **"),
        ("1 if a is a else 0", f"the comparison in a is a {COMPARISONS}"),
        ("1 if a in a else 0", f"the comparison in a in a {COMPARISONS}"),
        ("a > 1", "the formula gives a condition, not a number"),
        ("a > 1 and a < 2", "the formula gives a condition, not a number"),
        ("(a > 1) * 100", "a > 1 is a condition, but arithmetic needs a number"),
        ("min(a > 1, 2)", "a > 1 is a condition, but min() needs a number"),
        ("1 if (a > 1) < 2 else 0", "a > 1 is a condition, but a comparison needs a number"),
        ("a if a else 0", "a is a number, but the test of 'if' needs a condition"),
        ("1 if a and a > 0 else 0", "a is a number, but 'and' needs a condition"),
        ("1 if a > 0 or a else 0", "a is a number, but 'or' needs a condition"),
        ("1 if not a else 0", "a is a number, but 'not' needs a condition"),
        ("a if a > 0 else a > 1", "a > 1 is a condition, but the else branch needs a number"),
        ("abs(a, 1)", "abs() takes exactly one argument, not 2"),
        ("min()", "min() takes at least one argument, not 0"),
        ("round(a, 1, 2)", "round() takes one or two arguments, not 3"),
        ("round(a, 11)", "the places of round() must be a whole number from 0 to 10"),
        ("round(a, -1)", "the places of round() must be a whole number from 0 to 10"),
        ("round(a, 1.5)", "the places of round() must be a whole number from 0 to 10"),
        ("round(a, a)", "the places of round() must be a whole number from 0 to 10"),
        ("a ** 11", f"the exponent in a ** 11 {EXPONENT}"),
        ("a ** -11", f"the exponent in a ** (-11) {EXPONENT}"),
        ("a ** 10.5", f"the exponent in a ** 10.5 {EXPONENT}"),
        ("2 ** 1000", f"the exponent in 2 ** 1000 {EXPONENT}"),
        ("2 ** 1000000", f"the exponent in 2 ** 1000000 {EXPONENT}"),
        # Right to left: 9 ** 9 = 387420489 is the exponent of the next 9, refused at once.
        ("9 ** 9 ** 9 ** 9", f"the exponent in 9 ** 9 ** 9 {EXPONENT}"),
        ("2 ** 10 ** 10", f"the exponent in 2 ** 10 ** 10 {EXPONENT}"),  # 2 ** 1e10
        ("2 ** 2 ** 2 ** 2 ** 2", f"the exponent in 2 ** 2 ** 2 ** 2 {EXPONENT}"),  # 2 ** 16
        ("a ** b", f"the exponent in a ** b {EXPONENT}"),
        ("2 ** a", f"the exponent in 2 ** a {EXPONENT}"),
        ("a ** (b - b)", f"the exponent in a ** (b - b) {EXPONENT}"),  # always 0, still a variable
        ("a ** min(2, b)", f"the exponent in a ** min(2, b) {EXPONENT}"),
        ("a ** (1 / 0)", "the exponent in a ** (1 / 0) has no value: division by zero in 1 / 0"),
        (
            "a * 1e16",
            "the number 1e16 is larger than 1000000000000000, the largest value a formula can give",
        ),
        (
            "a + " + "9" * 16,
            f"the number {'9' * 16} is larger than 1000000000000000, the"
            " largest value a formula can give",
        ),
        (
            "a / 1e999999999",
            "the number 1e999999999 is larger than 1000000000000000, the"
            " largest value a formula can give",
        ),
        ("a +", "the expression is not valid: invalid syntax"),
        ("a; a", "the expression is not valid: invalid syntax at character 2"),
        (" a)", "the expression is not valid: unmatched ')' at character 3"),
        ("   ", "the expression is empty"),
        ("a + x", "unknown variable x"),
        ("min", "unknown variable min"),
    ],
)
def test_refused(expression: str, reason: str) -> None:
    # Declaring b too is harmless: every refusal here comes before the check for unused names.
    assert refusal(expression, "a", "b") == reason


def test_declared_variables_must_be_used() -> None:
    assert refusal("a + 1", "a", "c", "b") == "declared but not used: b, c"


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"1a": "kpi"}, f"variable name '1a' {NAME_RULE}"),
        ({"if": "kpi"}, f"variable name 'if' {NAME_RULE}"),
        ({"min": "kpi"}, f"variable name 'min' {NAME_RULE}"),
        ({"é": "kpi"}, f"variable name 'é' {NAME_RULE}"),  # ASCII only
        ({"a" * 65: "kpi"}, "variable name aaaaaaaaaaaaaaaaaaaa... is over 64 characters"),
        ({"a": "Cases"}, "variable a is bound to 'Cases', which is not a KPI key"),
        (
            {"a": "cases-resolved"},
            "variable a is bound to 'cases-resolved', which is not a KPI key",
        ),
        ({"a": "k" * 64}, f"variable a is bound to '{'k' * 64}', which is not a KPI key"),
        ({f"v{i}": "kpi" for i in range(21)}, "21 variables are declared; the limit is 20"),
    ],
)
def test_refused_variables(variables: dict[str, str], reason: str) -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula(" + ".join(variables), variables)
    assert str(caught.value) == reason


def test_longest_names_and_most_variables_are_accepted() -> None:
    variables = {f"v{i}": f"kpi_{i}" for i in range(20)} | {"n" * 64: "k" * 63}
    variables.pop("v0")
    assert parse_formula(" + ".join(variables), variables).variables == variables


# --- limits -----------------------------------------------------------------------------------


def test_expression_length_limit() -> None:
    assert formula("a" + " " * 999, "a").evaluate({"a": Decimal(1)}) == (Decimal("1.000000"), None)
    assert (
        refusal("a" + " " * 1000, "a")
        == "the expression is 1001 characters long; the limit is 1000"
    )


def test_depth_limit() -> None:
    # 49 minus signs and a: 50 levels, and an odd count of negations gives -a
    assert formula("-" * 49 + "a", "a").evaluate({"a": Decimal(2)}) == (Decimal("-2.000000"), None)
    assert refusal("-" * 50 + "a", "a") == "the expression is nested 51 deep; the limit is 50"
    # (1 + (1 + (... a))) 60 deep: 60 additions over a, 61 levels
    assert refusal("(1 + " * 60 + "a" + ")" * 60, "a") == (
        "the expression is nested 61 deep; the limit is 50"
    )
    # 999 minus signs: refused by counting, never a RecursionError
    assert refusal("-" * 999 + "a", "a") == "the expression is nested 1000 deep; the limit is 50"


def test_redundant_parentheses_add_no_depth() -> None:
    # Parentheses make no tree node, so 60 of them around a name cost nothing to evaluate.
    assert value("(" * 60 + "a" + ")" * 60, a="3") == "3.000000"
    # Python's own parser stops at 200.
    assert refusal("(" * 300 + "a" + ")" * 300, "a") == (
        "the expression is not valid: too many nested parentheses at character 201"
    )


def test_node_count_limit() -> None:
    # min + its name + 249 * (minus and a) = 500 parts
    assert value("min(" + ",".join(["-a"] * 249) + ")", a="2") == "-2.000000"
    # one argument more: 502 parts
    assert refusal("min(" + ",".join(["-a"] * 250) + ")", "a") == (
        "the expression has 502 parts; the limit is 500"
    )


@pytest.mark.parametrize(
    ("expression", "variables", "reason"),
    [
        (42, {}, "the expression must be text, not int"),
        ("1", {1: "kpi"}, f"variable name 1 {NAME_RULE}"),
        ("a", {"a": None}, "variable a is bound to None, which is not a KPI key"),
    ],
)
def test_config_that_is_not_text_is_refused(
    expression: object, variables: dict[object, object], reason: str
) -> None:
    # Configs come from JSON, so anything can arrive where text is expected.
    with pytest.raises(FormulaError) as caught:
        parse_formula(expression, variables)  # type: ignore[arg-type]
    assert str(caught.value) == reason


def test_a_formula_built_directly_is_checked_too() -> None:
    with pytest.raises(FormulaError) as caught:
        Formula("a + b", {"a": "kpi_a"})
    assert str(caught.value) == "unknown variable b"


def test_formula_keeps_its_inputs_and_compares_by_them() -> None:
    variables = {"a": "kpi_a"}
    first = parse_formula("a * 2", variables)
    variables["b"] = "kpi_b"  # the caller's dict is copied, not shared
    assert first.variables == {"a": "kpi_a"}
    assert first == Formula("a * 2", {"a": "kpi_a"})
    assert first != Formula("a*2", {"a": "kpi_a"})
