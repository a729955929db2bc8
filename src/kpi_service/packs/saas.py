"""The saas pack: seed 001's executive metrics for a SaaS product, as organisation KPIs over
ingested events (engagement, activation, operations and AI usage daily; customers from
subscription events monthly) and the finance figures recorded by hand monthly."""

from __future__ import annotations

from typing import Any

from kpi_service.engine.vocabulary import Direction, PeriodKind, Rollup, SubjectType, TargetType
from kpi_service.models import Severity, Unit
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import (
    event_kpi,
    formula_kpi,
    manual_kpi,
    rule,
    subscription_kpi,
    value_threshold,
)

_ORG = SubjectType.ORGANIZATION
_ENGAGEMENT: dict[str, Any] = {"category": "engagement", "period": PeriodKind.DAILY, "scope": _ORG}
_ACTIVATION: dict[str, Any] = {"category": "activation", "period": PeriodKind.DAILY, "scope": _ORG}
_OPERATIONS: dict[str, Any] = {"category": "operations", "period": PeriodKind.DAILY, "scope": _ORG}
_AI: dict[str, Any] = {"category": "ai", "period": PeriodKind.DAILY, "scope": _ORG}
_CUSTOMERS: dict[str, Any] = {"category": "customers", "period": PeriodKind.MONTHLY}
_FINANCE: dict[str, Any] = {"category": "finance", "period": PeriodKind.MONTHLY, "scope": _ORG}
# Distinct users do not add up over days (a user active on two days would count twice):
# over a week or a month the views show the average day.
_DISTINCT: dict[str, Any] = {
    "unit": Unit.COUNT,
    "target_type": TargetType.HIGHER_BETTER,
    "rollup": Rollup.AVG,
}
# The key actions that activate a user, by the KPI counting the users who took each.
_ACTIONS = {
    "file_upload": ("saas_users_uploaded_file", "Users who uploaded a file"),
    "worklog_create": ("saas_users_created_worklog", "Users who created a worklog"),
    "report_generate": ("saas_users_generated_report", "Users who generated a report"),
}


def _count(key: str, name: str, event_type: str, description: str, **fields: Any) -> Any:
    """Events of a type counted per day; more is better unless told."""
    return event_kpi(
        key,
        name,
        event_type,
        "count",
        unit=Unit.COUNT,
        description=description,
        **{"target_type": TargetType.HIGHER_BETTER, **fields},
    )


def _rate(key: str, name: str, part: str, whole: str, description: str, **fields: Any) -> Any:
    """`part` as a percentage of `whole` (two KPIs of the same day); no value without any."""
    return formula_kpi(
        key,
        name,
        "part * 100 / whole",
        {"part": part, "whole": whole},
        unit=Unit.PERCENT,
        description=description,
        **fields,
    )


_LOGINS = (
    event_kpi(
        "saas_dau",
        "Daily active users",
        "login",
        "distinct_users",
        window={"days": 1},
        description="Users who logged in on the day.",
        **_DISTINCT,
        **_ENGAGEMENT,
    ),
    event_kpi(
        "saas_wau",
        "Weekly active users (rolling 7 days)",
        "login",
        "distinct_users",
        window={"days": 7},
        description="Users who logged in on the 7 days ending on the day.",
        **{**_DISTINCT, "rollup": Rollup.LAST},
        **_ENGAGEMENT,
    ),
    event_kpi(
        "saas_mau",
        "Monthly active users (rolling 30 days)",
        "login",
        "distinct_users",
        window={"days": 30},
        description="Users who logged in on the 30 days ending on the day.",
        **{**_DISTINCT, "rollup": Rollup.LAST},
        **_ENGAGEMENT,
    ),
    formula_kpi(
        "saas_stickiness",
        "DAU/MAU (stickiness)",
        "dau * 100 / mau",
        {"dau": "saas_dau", "mau": "saas_mau"},
        unit=Unit.PERCENT,
        target_type=TargetType.HIGHER_BETTER,
        description="Daily active users as a percentage of the rolling 30-day active users.",
        **_ENGAGEMENT,
    ),
)

_ACTIVATIONS = (
    _count(
        "saas_signups", "Signups", "signup", "Users who signed up (signup events).", **_ACTIVATION
    ),
    event_kpi(
        "saas_activated_users",
        "Activated users",
        "activation",
        "distinct_users",
        description="Users who took a key action (any activation event: a file upload, a "
        "worklog created, a report generated) on the day.",
        **_DISTINCT,
        **_ACTIVATION,
    ),
    *(
        event_kpi(
            key,
            name,
            "activation",
            "distinct_users",
            where={"action": action},
            description=f"Users with an activation event of action {action} on the day.",
            **_DISTINCT,
            **_ACTIVATION,
        )
        for action, (key, name) in _ACTIONS.items()
    ),
    _count(
        "saas_trials_started",
        "Trials started",
        "trial_started",
        "Trials started (trial_started events).",
        **_ACTIVATION,
    ),
    _count(
        "saas_trials_converted",
        "Trials converted",
        "trial_converted",
        "Trials converted to a paid plan (trial_converted events).",
        **_ACTIVATION,
    ),
)

_JOBS = (
    _count("saas_jobs_total", "Jobs run", "job", "Jobs that finished (job events).", **_OPERATIONS),
    _count(
        "saas_jobs_succeeded",
        "Jobs succeeded",
        "job",
        "Job events with status succeeded.",
        where={"status": "succeeded"},
        **_OPERATIONS,
    ),
    _count(
        "saas_jobs_failed",
        "Jobs failed",
        "job",
        "Job events with status failed.",
        where={"status": "failed"},
        target_type=TargetType.LOWER_BETTER,
        **_OPERATIONS,
    ),
    event_kpi(
        "saas_job_duration",
        "Average job duration (seconds)",
        "job",
        "avg",
        prop="duration_sec",
        unit=Unit.NONE,
        target_type=TargetType.LOWER_BETTER,
        rollup=Rollup.AVG,
        description="Mean duration_sec of the day's job events that carry one.",
        **_OPERATIONS,
    ),
    _rate(
        "saas_job_success_rate",
        "Job success rate",
        "saas_jobs_succeeded",
        "saas_jobs_total",
        "Jobs succeeded as a percentage of jobs run.",
        target_type=TargetType.HIGHER_BETTER,
        **_OPERATIONS,
    ),
    _rate(
        "saas_job_failure_rate",
        "Job failure rate",
        "saas_jobs_failed",
        "saas_jobs_total",
        "Jobs failed as a percentage of jobs run.",
        target_type=TargetType.LOWER_BETTER,
        **_OPERATIONS,
    ),
)

_API = (
    _count(
        "saas_api_requests",
        "API requests",
        "api_request",
        "API requests served (api_request events).",
        **_OPERATIONS,
    ),
    _count(
        "saas_api_errors",
        "API errors",
        "api_request",
        "API requests with error true.",
        where={"error": True},
        target_type=TargetType.LOWER_BETTER,
        **_OPERATIONS,
    ),
    _rate(
        "saas_api_error_rate",
        "API error rate",
        "saas_api_errors",
        "saas_api_requests",
        "API errors as a percentage of API requests.",
        target_type=TargetType.LOWER_BETTER,
        **_OPERATIONS,
    ),
    event_kpi(
        "saas_api_latency_p95",
        "API latency, 95th percentile (ms)",
        "api_request",
        "p95",
        prop="latency_ms",
        unit=Unit.NONE,
        target_type=TargetType.LOWER_BETTER,
        rollup=Rollup.MAX,
        description="The 95th percentile (continuous) of the day's requests' latency_ms; "
        "over several days the views show the worst day's.",
        **_OPERATIONS,
    ),
    _count(
        "saas_payment_failures",
        "Payment failures",
        "payment_failed",
        "Failed payments (payment_failed events).",
        target_type=TargetType.LOWER_BETTER,
        **_OPERATIONS,
    ),
)

_AI_USAGE = (
    event_kpi(
        "saas_ai_tokens",
        "AI tokens used",
        "ai_usage",
        "sum",
        prop="tokens",
        unit=Unit.COUNT,
        target_type=TargetType.LOWER_BETTER,
        description="Sum of the day's ai_usage tokens.",
        **_AI,
    ),
    event_kpi(
        "saas_ai_cost",
        "AI cost (USD)",
        "ai_usage",
        "sum",
        prop="cost_usd",
        unit=Unit.CURRENCY,
        target_type=TargetType.LOWER_BETTER,
        description="Sum of the day's ai_usage cost_usd.",
        **_AI,
    ),
)

_SUBSCRIPTIONS = (
    subscription_kpi(
        "saas_customers",
        "Customers",
        "customers",
        rollup=Rollup.LAST,
        description="Customers paying (MRR above 0) at the month's end.",
        **_CUSTOMERS,
    ),
    subscription_kpi(
        "saas_new_customers",
        "New customers",
        "new_customers",
        description="Customers paying at the month's end who never paid before it.",
        **_CUSTOMERS,
    ),
    subscription_kpi(
        "saas_churned_customers",
        "Churned customers",
        "churned_customers",
        description="Customers paying at the month's start and not at its end.",
        **_CUSTOMERS,
    ),
    subscription_kpi(
        "saas_reactivated_customers",
        "Reactivated customers",
        "reactivated_customers",
        description="Customers paying at the month's end who paid before, but not at its start.",
        **_CUSTOMERS,
    ),
    subscription_kpi(
        "saas_customer_churn_rate",
        "Customer churn rate",
        "customer_churn_rate",
        description="Churned customers as a percentage of the customers at the month's start.",
        **_CUSTOMERS,
    ),
)

_MANUAL = (
    manual_kpi(
        "saas_burn_rate",
        "Monthly cash burn",
        unit=Unit.CURRENCY,
        target_type=TargetType.LOWER_BETTER,
        rollup=Rollup.AVG,
        description="Net cash spent in the month, recorded by hand.",
        **_FINANCE,
    ),
    manual_kpi(
        "saas_runway_months",
        "Runway (months)",
        unit=Unit.NONE,
        target_type=TargetType.HIGHER_BETTER,
        rollup=Rollup.LAST,
        description="Months of cash left at the current burn, recorded by hand.",
        **_FINANCE,
    ),
    manual_kpi(
        "saas_outstanding_invoices",
        "Outstanding invoices",
        unit=Unit.COUNT,
        target_type=TargetType.LOWER_BETTER,
        rollup=Rollup.LAST,
        description="Invoices sent and not paid at the month's end, recorded by hand.",
        **_FINANCE,
    ),
    manual_kpi(
        "saas_outstanding_invoices_value",
        "Outstanding invoices value",
        unit=Unit.CURRENCY,
        target_type=TargetType.LOWER_BETTER,
        rollup=Rollup.LAST,
        description="The amount of the invoices outstanding at the month's end, by hand.",
        **_FINANCE,
    ),
)

_DEFINITIONS = (*_LOGINS, *_ACTIVATIONS, *_JOBS, *_API, *_AI_USAGE, *_SUBSCRIPTIONS, *_MANUAL)


def _events(name: str, columns: tuple[str, ...]) -> SourceRead:
    return SourceRead(
        SourceKind.EVENTS, name, ("user_id", "occurred_at", *columns), "occurred_at", "seed 001"
    )


SAAS = Pack(
    name="saas",
    version=1,
    title="SaaS executive metrics",
    summary="Seed 001's executive dashboard for the organisation: DAU, rolling WAU and MAU, "
    "stickiness, signups, activation, trials, jobs, API requests, errors and latency, AI "
    "usage and payment failures daily from events; customers and churn monthly from "
    "subscription events; burn rate, runway and outstanding invoices recorded monthly.",
    definitions=_DEFINITIONS,
    # Seed 001 sets alert thresholds but no targets: every KPI is tracked without one.
    organisation=tuple(Assigned(str(spec["key"]), None) for spec in _DEFINITIONS),
    users=(),
    alerts=(
        rule(
            "SaaS: churn spike",
            "saas_customer_churn_rate",
            value_threshold(Direction.ABOVE, 20),
            Severity.CRITICAL,
        ),
        # Counts are whole: above 4 is 5 or more.
        rule(
            "SaaS: 5 or more payment failures in a day",
            "saas_payment_failures",
            value_threshold(Direction.ABOVE, 4),
            Severity.CRITICAL,
        ),
        rule(
            "SaaS: API error rate above 5%",
            "saas_api_error_rate",
            value_threshold(Direction.ABOVE, 5),
        ),
        rule(
            "SaaS: job failure rate above 10%",
            "saas_job_failure_rate",
            value_threshold(Direction.ABOVE, 10),
        ),
    ),
    reads=(
        _events("login", ()),
        _events("signup", ()),
        _events("activation", ("properties.action",)),
        _events("trial_started", ()),
        _events("trial_converted", ()),
        _events("job", ("properties.status", "properties.duration_sec")),
        _events("api_request", ("properties.error", "properties.latency_ms")),
        _events("payment_failed", ()),
        _events("ai_usage", ("properties.tokens", "properties.cost_usd")),
        _events("subscription", ("value", "properties.customer_id")),
    ),
)
