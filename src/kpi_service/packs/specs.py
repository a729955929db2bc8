"""Shorthands for the catalogues: a query KPI's definition body and an alert rule's."""

from __future__ import annotations

from typing import Any

from kpi_service.calculators.builtin import BUILTIN_QUERIES
from kpi_service.calculators.subjects import SUBJECTS_KEY, SubjectMode
from kpi_service.models import SubjectType
from kpi_service.packs.model import Spec


def query_kpi(
    key: str,
    name: str,
    query_key: str,
    *,
    category: str,
    target_type: str,
    period: str,
    scope: str = SubjectType.USER,
    description: str | None = None,
    **fields: Any,
) -> Spec:
    """A query KPI on a built-in query, its unit the query's. A team or organisation KPI on a
    per-user built-in combines its members' values; one on an organisation built-in (`_org`)
    asks the source for the organisation itself."""
    builtin = BUILTIN_QUERIES[query_key]
    config: dict[str, Any] = {"query_key": query_key}
    if scope != SubjectType.USER:
        mode = SubjectMode.OWN if builtin.organisation else SubjectMode.MEMBERS
        config[SUBJECTS_KEY] = mode.value
    return {
        "key": key,
        "name": name,
        "description": description or builtin.description,
        "category": category,
        "unit": builtin.unit,
        "target_type": target_type,
        "aggregation_period": period,
        "scope": scope,
        "calculation_type": "query",
        "config": config,
        **fields,
    }


def rule(name: str, key: str, condition: dict[str, Any], severity: str = "warning") -> Spec:
    """An alert rule template on the pack's KPI `key`, for every subject."""
    return {"name": name, "definition_key": key, "condition": condition, "severity": severity}
