"""A pack's catalogue checked when it is built: the events its KPIs read are listed (the
default start of an install looks for those), and every subscription metric has a unit and a
target type."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kpi_service.engine.subscription import METRICS
from kpi_service.engine.vocabulary import PeriodKind, SubjectType, TargetType
from kpi_service.models import Unit
from kpi_service.packs.registry import PACKS
from kpi_service.packs.revenue import REVENUE
from kpi_service.packs.saas import SAAS
from kpi_service.packs.specs import SUBSCRIPTION_METRICS, event_kpi, subscription_kpi


def test_a_kpi_reading_events_the_pack_does_not_list_is_refused() -> None:
    unlisted = event_kpi(
        "saas_logouts",
        "Logouts",
        "logout",
        "count",
        unit=Unit.COUNT,
        category="engagement",
        target_type=TargetType.HIGHER_BETTER,
        period=PeriodKind.DAILY,
        scope=SubjectType.ORGANIZATION,
    )
    with pytest.raises(ValueError, match="saas_logouts reads logout events, not listed"):
        replace(SAAS, definitions=(*SAAS.definitions, unlisted))
    # A subscription KPI reads `subscription` events unless its config names another type.
    billing = subscription_kpi(
        "revenue_billing_mrr",
        "MRR (billing events)",
        "mrr",
        event_type="billing",
        category="revenue",
        period=PeriodKind.MONTHLY,
    )
    with pytest.raises(ValueError, match="reads billing events"):
        replace(REVENUE, definitions=(*REVENUE.definitions, billing))


def test_five_packs_are_offered_and_each_subscription_metric_has_a_unit_and_target_type() -> None:
    assert [p.name for p in PACKS.all()] == ["agent", "crm", "revenue", "saas", "support"]
    assert set(SUBSCRIPTION_METRICS) == set(METRICS)
    assert {str(s["key"]).removeprefix("revenue_") for s in REVENUE.definitions} == set(METRICS)
