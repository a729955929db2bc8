"""Formula KPIs: a safe evaluator of arithmetic over other KPIs' values, and their order."""

from __future__ import annotations

import ast
import decimal
import keyword
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import Enum

from kpi_service.engine.achievement import quantize

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_NODES = 500
MAX_EXPONENT = 10
# Literal numbers are at most the largest result a formula may give.
MAX_LITERAL = Decimal("1e15")
MAX_VARIABLES = 20
MAX_NAME_LENGTH = 64
MAX_ROUND_PLACES = 10
_RESULT_LIMIT = MAX_LITERAL
# Results must not depend on whatever decimal context the calling thread happens to use.
_CONTEXT = Context(
    prec=50,
    rounding=ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_KPI_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
# ASCII only: Python folds other identifiers with NFKC, so two spellings could name one variable.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_RULE = (
    "must be a letter or _ then letters, digits or _, and not a Python keyword or function name"
)
# name -> (fewest arguments, most arguments, how to say it)
_FUNCTIONS = {
    "min": (1, MAX_NODES, "at least one argument"),
    "max": (1, MAX_NODES, "at least one argument"),
    "abs": (1, 1, "exactly one argument"),
    "round": (1, 2, "one or two arguments"),
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: lambda a, b: _floor_divmod(a, b)[0],
    ast.Mod: lambda a, b: _floor_divmod(a, b)[1],
    ast.Pow: operator.pow,  # exponent known and bounded when checked (see _Checker.exponent)
}
_DIVISIONS = (ast.Div, ast.FloorDiv, ast.Mod)
_COMPARISONS: dict[type[ast.cmpop], Callable[[Decimal, Decimal], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute lookups",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda functions",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Starred: "starred expressions",
    **dict.fromkeys([ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp], "comprehensions"),
    **dict.fromkeys([ast.List, ast.Tuple, ast.Set, ast.Dict], "lists, tuples, sets and dicts"),
}


class FormulaError(ValueError):
    """The expression is not acceptable; str() is a clear one-sentence reason."""


class FormulaCycle(FormulaError):
    """Definitions that use each other in a loop; .cycle is the list of keys."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        if len(cycle) == 1:
            super().__init__(f"KPI {cycle[0]} uses itself")
        else:
            super().__init__(f"KPIs use each other in a loop: {' -> '.join([*cycle, cycle[0]])}")


class _Kind(Enum):
    NUMBER = "a number"
    CONDITION = "a condition"


class _NoValue(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _floor_divmod(a: Decimal, b: Decimal) -> tuple[Decimal, Decimal]:
    # Python's floor semantics (as for int and float, and a spreadsheet's MOD), not Decimal's
    # truncation: whoever reads the formula reads Python, so -7 // 2 == -4 and -7 % 2 == 1.
    quotient, remainder = divmod(a, b)
    if remainder and (remainder < 0) != (b < 0):
        return quotient - 1, remainder + b
    return quotient, remainder


def _signed_literal(node: ast.expr) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _signed_literal(node.operand)
        return -value if isinstance(node.op, ast.USub) and type(value) is int else value
    return node.value if isinstance(node, ast.Constant) else None


def _measure(tree: ast.expr) -> tuple[int, int]:
    # Iterative, so that a pathological tree is refused rather than a RecursionError.
    depth = count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        count += isinstance(node, ast.expr)
        depth = max(depth, level)
        stack.extend(
            (child, level + isinstance(child, ast.expr)) for child in ast.iter_child_nodes(node)
        )
    return depth, count


class _Checker:
    """Whitelist and kind check of a parsed expression (recursive: depth is already bounded)."""

    def __init__(self, source: str, variables: Mapping[str, str]) -> None:
        self.source = source
        self.variables = variables
        self.used: set[str] = set()
        self.literals: dict[ast.Constant, Decimal] = {}
        self.exponents: dict[ast.BinOp, Decimal] = {}

    def expect(self, node: ast.expr, wanted: _Kind, role: str) -> None:
        kind = self.kind(node)
        if kind is not wanted:
            raise FormulaError(
                f"{ast.unparse(node)} is {kind.value}, but {role} needs {wanted.value}"
            )

    def kind(self, node: ast.expr) -> _Kind:
        match node:
            case ast.Constant():
                self.literals[node] = self.literal(node)
                return _Kind.NUMBER
            case ast.Name(id=name):
                if name not in self.variables:
                    raise FormulaError(f"unknown variable {name}")
                self.used.add(name)
                return _Kind.NUMBER
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                self.expect(operand, _Kind.CONDITION, "'not'")
                return _Kind.CONDITION
            case ast.UnaryOp(op=ast.UAdd() | ast.USub(), operand=operand):
                self.expect(operand, _Kind.NUMBER, "arithmetic")
                return _Kind.NUMBER
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITHMETIC:
                self.expect(left, _Kind.NUMBER, "arithmetic")
                self.expect(right, _Kind.NUMBER, "arithmetic")
                if isinstance(op, ast.Pow):
                    self.exponents[node] = self.exponent(node)
                return _Kind.NUMBER
            case ast.BinOp() | ast.UnaryOp():
                raise FormulaError(
                    f"the operator in {ast.unparse(node)} is not allowed; use + - * / // % or **"
                )
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                if any(type(op) not in _COMPARISONS for op in ops):
                    raise FormulaError(
                        f"the comparison in {ast.unparse(node)} is not allowed;"
                        " use <, <=, >, >=, == or !="
                    )
                for operand in [left, *comparators]:
                    self.expect(operand, _Kind.NUMBER, "a comparison")
                return _Kind.CONDITION
            case ast.BoolOp(op=op, values=operands):
                role = "'and'" if isinstance(op, ast.And) else "'or'"
                for operand in operands:
                    self.expect(operand, _Kind.CONDITION, role)
                return _Kind.CONDITION
            case ast.IfExp(test=test, body=body, orelse=orelse):
                self.expect(test, _Kind.CONDITION, "the test of 'if'")
                kind = self.kind(body)
                self.expect(orelse, kind, "the else branch")
                return kind
            case ast.Call():
                self.call(node)
                return _Kind.NUMBER
        refusal = _REFUSED.get(type(node), f"{type(node).__name__} expressions")
        raise FormulaError(f"{refusal} are not allowed: {ast.unparse(node)}")

    def literal(self, node: ast.Constant) -> Decimal:
        value = node.value
        if isinstance(value, str | bytes):
            raise FormulaError(f"strings are not allowed: {ast.unparse(node)}")
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise FormulaError(f"{value} is not allowed; only numbers are")
        if isinstance(value, complex):
            raise FormulaError(f"complex numbers are not allowed: {ast.unparse(node)}")
        # From the text the user wrote, so 0.1 is exactly one tenth, not the nearest float.
        text = ast.get_source_segment(self.source, node) or ""
        try:
            number = Decimal(text)
        except decimal.InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise FormulaError(f"{text} is not a decimal number")
        if number.copy_abs() > MAX_LITERAL:  # abs() would round, and trap, in the context
            raise FormulaError(
                f"the number {text} is larger than {MAX_LITERAL:f}, the largest"
                " value a formula can give"
            )
        return number

    def exponent(self, node: ast.BinOp) -> Decimal:
        """The value of a power's exponent: a constant, known now, within the bound.

        So every power costs the same bounded work at any run: `x ** y` or `9 ** 9 ** 9 ** 9`
        (whose exponent would be 9 ** 387420489) is refused here, not found out on each run.
        """
        if any(isinstance(n, ast.Name) and n.id in self.variables for n in ast.walk(node.right)):
            raise FormulaError(_exponent_reason(node))
        # Inner powers are checked before this one (children first): this is bounded work.
        try:
            value = _Evaluation(self.literals, self.exponents, self.variables, {}).number(
                node.right
            )
        except _NoValue as exc:
            raise FormulaError(
                f"the exponent in {ast.unparse(node)} has no value: {exc.reason}"
            ) from None
        if abs(value) > MAX_EXPONENT:
            raise FormulaError(_exponent_reason(node))
        return value

    def call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            raise FormulaError(f"only min, max, abs and round can be called: {ast.unparse(node)}")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise FormulaError(f"function {name} is not allowed; use min, max, abs or round")
        if node.keywords:
            raise FormulaError(f"keyword arguments are not allowed: {ast.unparse(node)}")
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise FormulaError(f"starred arguments are not allowed: {ast.unparse(node)}")
        fewest, most, wanted = _FUNCTIONS[name]
        if not fewest <= len(node.args) <= most:
            raise FormulaError(f"{name}() takes {wanted}, not {len(node.args)}")
        if name == "round" and len(node.args) == 2:
            places = _signed_literal(node.args[1])
            if not (type(places) is int and 0 <= places <= MAX_ROUND_PLACES):
                raise FormulaError(
                    f"the places of round() must be a whole number from 0 to {MAX_ROUND_PLACES}"
                )
        for argument in node.args:
            self.expect(argument, _Kind.NUMBER, f"{name}()")


def _exponent_reason(node: ast.expr) -> str:
    return (
        f"the exponent in {ast.unparse(node)} must be a constant from -{MAX_EXPONENT}"
        f" to {MAX_EXPONENT}, without variables"
    )


def _check_variables(variables: Mapping[str, str]) -> None:
    if len(variables) > MAX_VARIABLES:
        raise FormulaError(f"{len(variables)} variables are declared; the limit is {MAX_VARIABLES}")
    for name, key in variables.items():
        if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
            raise FormulaError(f"variable name {name[:20]}... is over {MAX_NAME_LENGTH} characters")
        # Function names too: min(min, 1) would read as a puzzle.
        reserved = keyword.iskeyword(name) or name in _FUNCTIONS
        if not isinstance(name, str) or not _NAME.fullmatch(name) or reserved:
            raise FormulaError(f"variable name {name!r} {_NAME_RULE}")
        if not isinstance(key, str) or not _KPI_KEY.fullmatch(key):
            raise FormulaError(f"variable {name} is bound to {key!r}, which is not a KPI key")


def _parse(expression: str, variables: Mapping[str, str]) -> tuple[ast.expr, _Checker]:
    _check_variables(variables)
    if not isinstance(expression, str):
        raise FormulaError(f"the expression must be text, not {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise FormulaError(
            f"the expression is {len(expression)} characters long; the limit is {MAX_LENGTH}"
        )
    # A leading space is an "unexpected indent" to Python's parser but not to a user.
    source = expression.strip()
    if not source:
        raise FormulaError("the expression is empty")
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        shift = len(expression) - len(expression.lstrip())
        where = f" at character {exc.offset + shift}" if exc.lineno == 1 and exc.offset else ""
        raise FormulaError(f"the expression is not valid: {exc.msg}{where}") from None
    except (RecursionError, MemoryError):
        raise FormulaError("the expression is nested too deeply") from None
    depth, count = _measure(tree)
    if depth > MAX_DEPTH:
        raise FormulaError(f"the expression is nested {depth} deep; the limit is {MAX_DEPTH}")
    if count > MAX_NODES:
        raise FormulaError(f"the expression has {count} parts; the limit is {MAX_NODES}")
    checker = _Checker(source, variables)
    with localcontext(_CONTEXT):
        kind = checker.kind(tree)
    if kind is _Kind.CONDITION:
        # Known when saved, so refused then rather than giving no value on every run.
        raise FormulaError("the formula gives a condition, not a number")
    unused = sorted(variables.keys() - checker.used)
    if unused:
        raise FormulaError(f"declared but not used: {', '.join(unused)}")
    return tree, checker


class _Evaluation:
    """One evaluation of a checked tree for one set of variable values."""

    def __init__(
        self,
        literals: Mapping[ast.Constant, Decimal],
        exponents: Mapping[ast.BinOp, Decimal],
        variables: Mapping[str, str],
        values: Mapping[str, Decimal | None],
    ) -> None:
        self.literals = literals
        self.exponents = exponents
        self.variables = variables
        self.values = values

    def number(self, node: ast.expr) -> Decimal:
        match node:
            case ast.Constant():
                return self.literals[node]
            case ast.Name(id=name):
                value = self.values.get(name)
                key = self.variables[name]
                if value is None:
                    raise _NoValue(f"no value for {name} ({key})")
                if not value.is_finite():
                    raise _NoValue(f"{name} ({key}) is {value}, not a number")
                return value
            case ast.UnaryOp(op=op, operand=operand):
                sign = operator.neg if isinstance(op, ast.USub) else operator.pos
                return _compute(node, sign, self.number(operand))
            case ast.BinOp(left=left, op=ast.Pow()):
                base, exponent = self.number(left), self.exponents[node]
                if base == 0 and exponent < 0:
                    # Decimal answers Infinity here without signalling, which min() could hide.
                    raise _NoValue(f"division by zero in {ast.unparse(node)}")
                # A whole exponent multiplies exactly (and allows a negative base); another
                # one (0.5: a square root) is computed to the context's 50 digits.
                whole = exponent == exponent.to_integral_value()
                return _compute(node, operator.pow, base, int(exponent) if whole else exponent)
            case ast.BinOp(left=left, op=op, right=right):
                a, b = self.number(left), self.number(right)
                if b == 0 and isinstance(op, _DIVISIONS):
                    raise _NoValue(f"division by zero in {ast.unparse(node)}")
                return _compute(node, _ARITHMETIC[type(op)], a, b)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.number(body if self.condition(test) else orelse)
            case ast.Call(func=ast.Name(id=function), args=args):
                arguments = [self.number(argument) for argument in args]
                if function == "min":
                    return min(arguments)
                if function == "max":
                    return max(arguments)
                if function == "abs":
                    return _compute(node, abs, arguments[0])
                quantum = Decimal(1).scaleb(-int(arguments[1]) if len(arguments) == 2 else 0)
                # Half up, not Python's half-even round(): business users expect 2.5 -> 3.
                return _compute(node, lambda x: x.quantize(quantum, ROUND_HALF_UP), arguments[0])
        raise AssertionError(f"unchecked node {ast.dump(node)}")

    def condition(self, node: ast.expr) -> bool:
        match node:
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                # Chained like Python: stops at the first false link, each operand read once.
                current = self.number(left)
                for op, comparator in zip(ops, comparators, strict=True):
                    following = self.number(comparator)
                    if not _COMPARISONS[type(op)](current, following):
                        return False
                    current = following
                return True
            case ast.BoolOp(op=ast.And(), values=operands):
                return all(self.condition(operand) for operand in operands)
            case ast.BoolOp(values=operands):
                return any(self.condition(operand) for operand in operands)
            case ast.UnaryOp(operand=operand):
                return not self.condition(operand)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.condition(body if self.condition(test) else orelse)
        raise AssertionError(f"unchecked node {ast.dump(node)}")


def _compute(node: ast.expr, operation: Callable[..., Decimal], *operands: object) -> Decimal:
    try:
        return operation(*operands)
    except (decimal.DivisionByZero, decimal.DivisionUndefined):
        raise _NoValue(f"division by zero in {ast.unparse(node)}") from None
    except decimal.Overflow:
        raise _NoValue(f"{ast.unparse(node)} is too large") from None
    except decimal.InvalidOperation:
        raise _NoValue(f"{ast.unparse(node)} cannot be computed") from None


@dataclass(frozen=True, slots=True)
class Formula:
    """A checked expression over variables, each bound to the key of another KPI."""

    expression: str
    variables: dict[str, str]
    _tree: ast.expr = field(init=False, repr=False, compare=False)
    _literals: dict[ast.Constant, Decimal] = field(init=False, repr=False, compare=False)
    _exponents: dict[ast.BinOp, Decimal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check expression and variables, raising FormulaError with the first problem."""
        tree, checker = _parse(self.expression, self.variables)
        object.__setattr__(self, "variables", dict(self.variables))
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_literals", checker.literals)
        object.__setattr__(self, "_exponents", checker.exponents)

    def evaluate(self, values: Mapping[str, Decimal | None]) -> tuple[Decimal | None, str | None]:
        """Return (value, None) from the values of the variables by name, or (None, reason)."""
        with localcontext(_CONTEXT):
            try:
                result = _Evaluation(
                    self._literals, self._exponents, self.variables, values
                ).number(self._tree)
            except _NoValue as exc:
                return None, exc.reason
            if not result.is_finite() or abs(result) > _RESULT_LIMIT:
                return None, "result out of range"
            return quantize(result), None


def parse_formula(expression: str, variables: Mapping[str, str]) -> Formula:
    """Return the checked formula, or raise FormulaError saying what is wrong with it."""
    return Formula(expression, dict(variables))
