"""The revenue pack: seed 002's subscription revenue metrics (MRR, ARR, movements, churn,
retention, ARPA, LTV, quick ratio, month-over-month and year-over-year growth), monthly, for
the organisation, from subscription events."""

from __future__ import annotations

from kpi_service.engine.vocabulary import Direction, PeriodKind, Rollup
from kpi_service.models import Severity
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import rule, subscription_kpi, value_threshold

# metric: (name, rollup, what the month's value is); its unit and target type are the
# metric's (`SUBSCRIPTION_METRICS`). Stocks keep the last month's value over longer spans,
# movements add up, rates and ratios average.
_METRICS: dict[str, tuple[str, Rollup, str]] = {
    "mrr": ("MRR", Rollup.LAST, "Monthly recurring revenue at the month's end."),
    "arr": ("ARR", Rollup.LAST, "12 x MRR at the month's end."),
    "customers": (
        "Paying customers",
        Rollup.LAST,
        "Customers with MRR above 0 at the month's end.",
    ),
    "arpa": (
        "ARPA",
        Rollup.LAST,
        "Average revenue per account: MRR / customers at the month's end.",
    ),
    "new_customers": (
        "New customers",
        Rollup.SUM,
        "Customers paying at the month's end who never paid before it.",
    ),
    "reactivated_customers": (
        "Reactivated customers",
        Rollup.SUM,
        "Customers paying at the month's end who paid before, but not at its start.",
    ),
    "churned_customers": (
        "Churned customers",
        Rollup.SUM,
        "Customers paying at the month's start and not at its end.",
    ),
    "new_mrr": ("New MRR", Rollup.SUM, "MRR of the new customers at the month's end."),
    "reactivation_mrr": (
        "Reactivation MRR",
        Rollup.SUM,
        "MRR of the reactivated customers at the month's end.",
    ),
    "expansion_mrr": (
        "Expansion MRR",
        Rollup.SUM,
        "MRR gained by customers paying more at the month's end than at its start.",
    ),
    "contraction_mrr": (
        "Contraction MRR",
        Rollup.SUM,
        "MRR lost by customers paying less (but above 0) at the month's end than at its start.",
    ),
    "churned_mrr": (
        "Churned MRR",
        Rollup.SUM,
        "MRR at the month's start of the customers who churned.",
    ),
    "customer_churn_rate": (
        "Customer churn rate",
        Rollup.AVG,
        "Churned customers / customers at the month's start x 100.",
    ),
    "revenue_churn_rate": (
        "Revenue churn rate",
        Rollup.AVG,
        "(Churned + contraction MRR) / MRR at the month's start x 100.",
    ),
    "nrr": (
        "Net revenue retention",
        Rollup.AVG,
        "(MRR at the start + expansion - contraction - churned) / MRR at the start x 100.",
    ),
    "grr": (
        "Gross revenue retention",
        Rollup.AVG,
        "(MRR at the start - contraction - churned) / MRR at the start x 100.",
    ),
    "ltv": (
        "Customer lifetime value",
        Rollup.AVG,
        "ARPA / (monthly customer churn rate / 100).",
    ),
    "quick_ratio": (
        "SaaS quick ratio",
        Rollup.AVG,
        "(New + reactivation + expansion MRR) / (contraction + churned MRR).",
    ),
    "mrr_growth": (
        "MRR growth, month over month",
        Rollup.AVG,
        "(MRR at the month's end - MRR at its start) / MRR at its start x 100.",
    ),
    "mrr_growth_yoy": (
        "MRR growth, year over year",
        Rollup.AVG,
        "(MRR at the month's end - MRR a year before) / MRR a year before x 100.",
    ),
}

_DEFINITIONS = tuple(
    subscription_kpi(
        f"revenue_{metric}",
        name,
        metric,
        category="revenue",
        period=PeriodKind.MONTHLY,
        rollup=rollup,
        description=description,
    )
    for metric, (name, rollup, description) in _METRICS.items()
)

REVENUE = Pack(
    name="revenue",
    version=1,
    title="Subscription revenue",
    summary="Seed 002's revenue metrics for the organisation, monthly, from subscription "
    "events: MRR, ARR, customers, ARPA, new, expansion, contraction, churned and "
    "reactivation MRR and customers, churn rates, NRR, GRR, LTV, quick ratio, and MRR growth "
    "month over month and year over year.",
    definitions=_DEFINITIONS,
    # Seed 002 sets no targets: every KPI is tracked without one.
    organisation=tuple(Assigned(str(spec["key"]), None) for spec in _DEFINITIONS),
    users=(),
    alerts=(
        rule(
            "Revenue: net revenue retention below 100%",
            "revenue_nrr",
            value_threshold(Direction.BELOW, 100),
        ),
        rule(
            "Revenue: customer churn above 5%",
            "revenue_customer_churn_rate",
            value_threshold(Direction.ABOVE, 5),
            Severity.CRITICAL,
        ),
        rule(
            "Revenue: MRR shrank",
            "revenue_mrr_growth",
            value_threshold(Direction.BELOW, 0),
        ),
    ),
    reads=(
        SourceRead(
            SourceKind.EVENTS,
            "subscription",
            ("occurred_at", "value", "properties.customer_id"),
            "occurred_at",
            "seed 002",
        ),
    ),
)
