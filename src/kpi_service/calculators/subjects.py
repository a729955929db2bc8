"""Whose values a team or organisation KPI of type query or api reads: its members' or its own.

`{"subjects": "members"}` (the default) computes the KPI per member user and combines the
members' values with the definition's rollup; `{"subjects": "own"}` passes the team ids (or
the organisation's subject id) to the source itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from kpi_service.calculators import api_adapters
from kpi_service.calculators.base import ConfigError
from kpi_service.engine.rollup import MEMBER_ROLLUPS
from kpi_service.models import CalculationType, SubjectType

SUBJECTS_KEY = "subjects"
# Sources that can be asked for any subject; event KPIs group by the event's own team.
TYPES_WITH_SUBJECTS = frozenset({CalculationType.QUERY, CalculationType.API})
# Sources that only know users, so a team id given to them would measure nothing (or a
# user who happens to share the id).
_USER_ONLY_ADAPTERS = frozenset({api_adapters.INTERCOM, api_adapters.AIRCALL})


class SubjectMode(StrEnum):
    """Where a team or organisation KPI's values come from."""

    MEMBERS = "members"
    OWN = "own"


class SubjectsConfigError(ConfigError):
    """A `subjects` setting that cannot work; `key` is `subjects` or `rollup`."""


def source_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config the calculator reads: everything but the `subjects` setting."""
    return {key: value for key, value in config.items() if key != SUBJECTS_KEY}


def subject_mode(
    scope: str, calculation_type: str, config: Mapping[str, Any]
) -> SubjectMode | None:
    """How a stored definition's subjects reach its source; None when they are passed as is."""
    if scope == SubjectType.USER or calculation_type not in TYPES_WITH_SUBJECTS:
        return None
    return SubjectMode(config.get(SUBJECTS_KEY, SubjectMode.MEMBERS))


def _only_users(calculation_type: str, config: Mapping[str, Any]) -> str | None:
    if calculation_type == CalculationType.QUERY and "query_key" in config:
        return "the built-in queries measure users (the owner column of their table)"
    adapter = config.get("adapter")
    if (
        calculation_type == CalculationType.API
        and isinstance(adapter, str)
        and adapter in _USER_ONLY_ADAPTERS
    ):
        return f"the {adapter} adapter measures users"
    return None


def validate(
    scope: str, calculation_type: str, config: Mapping[str, Any], rollup: str
) -> dict[str, str]:
    """The `subjects` entry a definition's config stores ({} when it takes none)."""
    given = config.get(SUBJECTS_KEY)
    if scope == SubjectType.USER or calculation_type not in TYPES_WITH_SUBJECTS:
        if SUBJECTS_KEY in config:
            where = "user KPIs" if scope == SubjectType.USER else f"{calculation_type} KPIs"
            raise SubjectsConfigError(
                SUBJECTS_KEY,
                f"{where} take no subjects setting; only "
                "team and organization KPIs of type query or api do",
            )
        return {}
    if SUBJECTS_KEY in config and given not in tuple(SubjectMode):
        raise SubjectsConfigError(
            SUBJECTS_KEY,
            "must be 'members' (per member user, combined "
            "by the rollup) or 'own' (the source is asked for the "
            f"{scope} itself)",
        )
    mode = SubjectMode(given or SubjectMode.MEMBERS)
    only_users = _only_users(calculation_type, config)
    if mode is SubjectMode.OWN and only_users:
        raise SubjectsConfigError(SUBJECTS_KEY, f"'own' cannot work: {only_users}; use 'members'")
    if mode is SubjectMode.MEMBERS and rollup not in MEMBER_ROLLUPS:
        own = "" if only_users else ", or subjects 'own'"
        # Quoted by hand: the repr of a Rollup member is not its value.
        raise SubjectsConfigError(
            "rollup",
            f"'{rollup}' cannot combine the members' values; "
            f"use one of {', '.join(sorted(MEMBER_ROLLUPS))}{own}",
        )
    return {SUBJECTS_KEY: mode.value}
