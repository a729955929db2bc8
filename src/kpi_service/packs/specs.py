"""Shorthands for the catalogues: a definition body per calculation type (query, event,
formula, subscription, manual), all built by `definition`, and an alert rule's body with its
condition."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpi_service.calculators.builtin import BUILTIN_QUERIES, ORGANISATION_SUFFIX
from kpi_service.calculators.subjects import SUBJECTS_KEY, SubjectMode
from kpi_service.calculators.subscription import DEFAULT_EVENT_TYPE
from kpi_service.engine.vocabulary import Direction, PeriodKind, SubjectType, TargetType
from kpi_service.models import CalculationType, RuleKind, Severity, Unit
from kpi_service.packs.model import Spec


@dataclass(frozen=True, slots=True)
class SubscriptionMetric:
    """What a subscription metric's values are (money, customers, a percentage or a plain
    ratio) and which way is good."""

    unit: Unit
    target_type: TargetType


# Each subscription metric's unit and direction: the same wherever a pack measures it.
SUBSCRIPTION_METRICS: dict[str, SubscriptionMetric] = {
    "mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "arr": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "customers": SubscriptionMetric(Unit.COUNT, TargetType.HIGHER_BETTER),
    "arpa": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "new_customers": SubscriptionMetric(Unit.COUNT, TargetType.HIGHER_BETTER),
    "reactivated_customers": SubscriptionMetric(Unit.COUNT, TargetType.HIGHER_BETTER),
    "churned_customers": SubscriptionMetric(Unit.COUNT, TargetType.LOWER_BETTER),
    "new_mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "reactivation_mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "expansion_mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "contraction_mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.LOWER_BETTER),
    "churned_mrr": SubscriptionMetric(Unit.CURRENCY, TargetType.LOWER_BETTER),
    "customer_churn_rate": SubscriptionMetric(Unit.PERCENT, TargetType.LOWER_BETTER),
    "revenue_churn_rate": SubscriptionMetric(Unit.PERCENT, TargetType.LOWER_BETTER),
    "nrr": SubscriptionMetric(Unit.PERCENT, TargetType.HIGHER_BETTER),
    "grr": SubscriptionMetric(Unit.PERCENT, TargetType.HIGHER_BETTER),
    "ltv": SubscriptionMetric(Unit.CURRENCY, TargetType.HIGHER_BETTER),
    "quick_ratio": SubscriptionMetric(Unit.NONE, TargetType.HIGHER_BETTER),
    "mrr_growth": SubscriptionMetric(Unit.PERCENT, TargetType.HIGHER_BETTER),
    "mrr_growth_yoy": SubscriptionMetric(Unit.PERCENT, TargetType.HIGHER_BETTER),
}


def definition(
    key: str,
    name: str,
    calculation_type: CalculationType,
    config: dict[str, Any],
    *,
    unit: Unit,
    category: str,
    target_type: TargetType,
    period: PeriodKind,
    scope: SubjectType = SubjectType.USER,
    description: str | None = None,
    **fields: Any,
) -> Spec:
    """A definition body as `POST /definitions` takes it; `fields` adds any other field
    (rollup, window, thresholds)."""
    return {
        "key": key,
        "name": name,
        "description": description,
        "category": category,
        "unit": unit,
        "target_type": target_type,
        "aggregation_period": period,
        "scope": scope,
        "calculation_type": calculation_type,
        "config": config,
        **fields,
    }


def query_kpi(
    key: str,
    name: str,
    query_key: str,
    *,
    scope: SubjectType = SubjectType.USER,
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
    return definition(
        key,
        name,
        CalculationType.QUERY,
        config,
        unit=Unit(builtin.unit),
        scope=scope,
        description=description or builtin.description,
        **fields,
    )


def organisation_query_kpi(key: str, name: str, query_key: str, **fields: Any) -> Spec:
    """The organisation's query KPI on built-in `query_key`'s organisation variant: the same
    measure over every row of its table, whoever owns it."""
    return query_kpi(
        key, name, query_key + ORGANISATION_SUFFIX, scope=SubjectType.ORGANIZATION, **fields
    )


# A measure a pack has per user and for the organisation: its key after the pack's prefix,
# name, built-in query (the per-user one) and further definition fields.
Measure = tuple[str, str, str, Mapping[str, Any]]


def per_user_and_organisation(
    prefix: str,
    everyone: str,
    measures: Sequence[Measure],
    *,
    users_only: Collection[str] = (),
    **fields: Any,
) -> tuple[Spec, ...]:
    """A query KPI per user of each measure (`<prefix>_<key>`), then the organisation's of
    each but those `users_only` names (`<prefix>_org_<key>`, named `<name>, <everyone>`)."""
    return (
        *(
            query_kpi(f"{prefix}_{key}", name, query_key, **own, **fields)
            for key, name, query_key, own in measures
        ),
        *(
            organisation_query_kpi(
                f"{prefix}_org_{key}", f"{name}, {everyone}", query_key, **own, **fields
            )
            for key, name, query_key, own in measures
            if key not in users_only
        ),
    )


def event_kpi(
    key: str,
    name: str,
    event_type: str,
    aggregate: str,
    *,
    prop: str | None = None,
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> Spec:
    """An event KPI: `aggregate` over the events of `event_type` (of their `prop`, else their
    value), those whose properties hold `where` only."""
    config: dict[str, Any] = {"event_type": event_type, "aggregate": aggregate}
    if prop is not None:
        config["property"] = prop
    if where:
        config["filter"] = where
    return definition(key, name, CalculationType.EVENT, config, **fields)


def formula_kpi(
    key: str, name: str, expression: str, variables: dict[str, Any], **fields: Any
) -> Spec:
    """A formula KPI over other KPIs (a variable names a key, or a key and a scope)."""
    config = {"expression": expression, "variables": variables}
    return definition(key, name, CalculationType.FORMULA, config, **fields)


def subscription_kpi(
    key: str,
    name: str,
    metric: str,
    *,
    event_type: str = DEFAULT_EVENT_TYPE,
    **fields: Any,
) -> Spec:
    """An organisation KPI of a subscription metric, its unit and target type the metric's."""
    config = {"metric": metric, "event_type": event_type}
    measured = SUBSCRIPTION_METRICS[metric]
    return definition(
        key,
        name,
        CalculationType.SUBSCRIPTION,
        config,
        unit=measured.unit,
        target_type=measured.target_type,
        scope=SubjectType.ORGANIZATION,
        **fields,
    )


def manual_kpi(key: str, name: str, **fields: Any) -> Spec:
    """A KPI whose values are recorded through the API."""
    return definition(key, name, CalculationType.MANUAL, {}, **fields)


def rule(name: str, key: str, condition: Spec, severity: Severity = Severity.WARNING) -> Spec:
    """An alert rule template on the pack's KPI `key`, for every subject."""
    return {"name": name, "definition_key": key, "condition": condition, "severity": severity}


def achievement_below(threshold: int) -> Spec:
    """A rule's condition: achievement (percent) below `threshold`."""
    return {"kind": RuleKind.ACHIEVEMENT_BELOW, "threshold": threshold}


def value_threshold(direction: Direction, threshold: int) -> Spec:
    """A rule's condition: the value above (or below) `threshold`."""
    return {"kind": RuleKind.VALUE_THRESHOLD, "direction": direction, "threshold": threshold}


def consecutive_declines(periods: int) -> Spec:
    """A rule's condition: the value worsened in each of the last `periods` periods."""
    return {"kind": RuleKind.CONSECUTIVE_DECLINES, "periods": periods}
