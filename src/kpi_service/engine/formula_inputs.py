"""What a formula's variables read: another KPI's value for the formula's own subject, for
the subject's team or for the organisation, in the same period; and which make sense."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kpi_service.engine.formula import FormulaError
from kpi_service.engine.vocabulary import SubjectType

# The subjects a value can be read for, narrowest first: a user is in a team, a team in the
# organisation, so a formula reads its own subject's value or a wider one, never a narrower.
SCOPES = (SubjectType.USER, SubjectType.TEAM, SubjectType.ORGANIZATION)
# The scopes a variable may name; a plain key reads the formula's own subject.
NAMED_SCOPES = (SubjectType.TEAM, SubjectType.ORGANIZATION)
BOUND_TO = 'must be a KPI key or {"kpi": key, "scope": "team" or "organization"}'


class FormulaInputError(FormulaError):
    """A variable bound to something that is not a KPI to read; .name is the variable."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"variable {name} {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FormulaInput:
    """A variable's KPI key and whose value it reads (`scope` None: the formula's subject)."""

    key: str
    scope: SubjectType | None = None

    def reads(self, formula_scope: str) -> str:
        """The scope of the subject whose value is read for a subject of `formula_scope`."""
        return self.scope or formula_scope


def formula_inputs(variables: Mapping[str, object]) -> dict[str, FormulaInput]:
    """Each variable's input, from a KPI key or `{"kpi": key, "scope": ...}`, or raise
    FormulaInputError naming the first variable bound to anything else."""
    inputs = {}
    for name, bound in variables.items():
        if isinstance(bound, str):
            inputs[name] = FormulaInput(bound)
            continue
        if not isinstance(bound, Mapping) or set(bound) != {"kpi", "scope"}:
            raise FormulaInputError(name, BOUND_TO)
        key, scope = bound["kpi"], bound["scope"]
        if not isinstance(key, str) or scope not in NAMED_SCOPES:
            raise FormulaInputError(name, BOUND_TO)
        inputs[name] = FormulaInput(key, SubjectType(scope))
    return inputs


def stored_variables(inputs: Mapping[str, FormulaInput]) -> dict[str, object]:
    """The variables as a config stores them: a plain key stays the string it was."""
    return {
        name: i.key if i.scope is None else {"kpi": i.key, "scope": i.scope}
        for name, i in inputs.items()
    }


def used_keys(variables: object) -> list[str]:
    """The KPI keys a stored formula's variables read, sorted, each once (anything not a
    binding is left out: the formula's own check reports it)."""
    if not isinstance(variables, Mapping):
        return []
    keys = set()
    for bound in variables.values():
        if isinstance(bound, Mapping):
            bound = bound.get("kpi")
        if isinstance(bound, str):
            keys.add(bound)
    return sorted(keys)


def input_refusal(
    formula_scope: str,
    formula_period: str,
    read: FormulaInput,
    kpi_scope: str,
    kpi_period: str,
) -> str | None:
    """Why a formula of that scope and period cannot read the KPI as `read` says, or None."""
    key = read.key
    if kpi_period != formula_period:
        return (
            f"{key} is {kpi_period} and the formula {formula_period}: "
            "their values are of different periods"
        )
    if SCOPES.index(kpi_scope) < SCOPES.index(formula_scope):
        return (
            f"{key} is measured per {kpi_scope}, narrower than the formula's {formula_scope}: "
            f"there is no one {kpi_scope} value per {formula_scope}"
        )
    if kpi_scope == read.reads(formula_scope):
        return None
    if read.scope is None:
        whose = "the subject's team" if kpi_scope == SubjectType.TEAM else "the organisation"
        return (
            f"{key} is measured per {kpi_scope}, not per {formula_scope}; to read "
            f'{whose}\'s value, bind it as {{"kpi": "{key}", "scope": "{kpi_scope}"}}'
        )
    return f"{key} is measured per {kpi_scope}, not per {read.scope}"
