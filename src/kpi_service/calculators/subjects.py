"""Whose values a team or organisation KPI of type query or api reads: its members' or its own.

`{"subjects": "members"}` (the default) computes the KPI per member user and combines the
members' values with the definition's rollup; `{"subjects": "own"}` passes the team ids (or
the organisation's subject id) to the source itself, and is the only (and default) setting
of an organisation KPI on a built-in query's `_org` variant. `request_for` gives a
calculator a stored definition's request, its config without that setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.calculators import api_adapters
from kpi_service.calculators.base import CalculationRequest, ConfigError
from kpi_service.calculators.builtin import BUILTIN_QUERIES
from kpi_service.engine.periods import Period
from kpi_service.engine.rollup import MEMBER_ROLLUPS
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.engine.windows import Window
from kpi_service.models import CalculationType, Definition

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


def request_for(
    definition: Definition,
    period: Period,
    subject_ids: Iterable[str],
    tz: ZoneInfo,
    window: Window | None = None,
) -> CalculationRequest:
    """What a calculator is given to compute a stored definition for these subjects over the
    period (or the window ending at its end)."""
    return CalculationRequest(
        tenant_id=definition.tenant_id,
        definition_key=definition.key,
        calculation_type=definition.calculation_type,
        config=source_config(definition.config),
        period=period,
        subject_ids=sorted(set(subject_ids)),
        tz=tz,
        window=window,
    )


def subject_mode(
    scope: str, calculation_type: str, config: Mapping[str, Any]
) -> SubjectMode | None:
    """How a stored definition's subjects reach its source; None when they are passed as is."""
    if scope == SubjectType.USER or calculation_type not in TYPES_WITH_SUBJECTS:
        return None
    return SubjectMode(config.get(SUBJECTS_KEY, SubjectMode.MEMBERS))


def _organisation_builtin(calculation_type: str, config: Mapping[str, Any]) -> bool:
    """Whether the config names a built-in query that measures the organisation itself."""
    if calculation_type != CalculationType.QUERY:
        return False
    builtin = BUILTIN_QUERIES.get(str(config.get("query_key")))
    return builtin is not None and builtin.organisation


def _only_users(calculation_type: str, config: Mapping[str, Any]) -> str | None:
    if (
        calculation_type == CalculationType.QUERY
        and "query_key" in config
        and not _organisation_builtin(calculation_type, config)
    ):
        return (
            "this built-in query measures users (the owner column of its table); "
            "its organisation variant ends in _org"
        )
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
    organisation_builtin = _organisation_builtin(calculation_type, config)
    if organisation_builtin and scope != SubjectType.ORGANIZATION:
        raise SubjectsConfigError(
            "query_key",
            "this built-in query measures the organisation (every row of its table); "
            f"a {scope} KPI takes the variant without _org",
        )
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
    # An organisation built-in answers for the organisation itself: `own` unless told.
    mode = SubjectMode(given or (SubjectMode.OWN if organisation_builtin else SubjectMode.MEMBERS))
    if organisation_builtin and mode is SubjectMode.MEMBERS:
        raise SubjectsConfigError(
            SUBJECTS_KEY,
            "'members' cannot work: this built-in query measures the organisation, not its "
            "users; use 'own'",
        )
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
