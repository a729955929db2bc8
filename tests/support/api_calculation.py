"""Running the `api` calculator in tests: a request for one week in Berlin, an http_json
config on the test source, the secret it reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kpi_service.calculators import api
from kpi_service.calculators.base import CalculationRequest, Outcome
from kpi_service.core.outbound import parse_allow
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind
from tests.support.source import SourceServer, value_config

SECRET = "tok-3f9a-very-secret-value"
ENV = {"KPI_SECRET_CRM_TOKEN": SECRET}
AUTH = {"header": "Authorization", "scheme": "Bearer", "secret_env": "KPI_SECRET_CRM_TOKEN"}
# Monday 9 to Sunday 15 November 2026 in Berlin (UTC+1 then): worked out by hand.
PERIOD = containing(PeriodKind.WEEKLY, date(2026, 11, 9))
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 8, 23, tzinfo=UTC)
END = datetime(2026, 11, 15, 23, tzinfo=UTC)
START_UNIX, END_UNIX = int(START.timestamp()), int(END.timestamp())
# The sources of these tests listen on 127.0.0.1, an address refused unless allowed.
LOOPBACK = parse_allow("127.0.0.0/8")


def request_for(config: dict[str, Any], subjects: list[str]) -> CalculationRequest:
    return CalculationRequest(
        tenant_id="acme",
        definition_key="crm_score",
        calculation_type="api",
        config=config,
        period=PERIOD,
        subject_ids=subjects,
        tz=BERLIN,
    )


def json_config(source: SourceServer, **overrides: Any) -> dict[str, Any]:
    """The source's value config as these tests read it: the period in the query, the
    secret, a 2 s timeout, 2 retries, 4 at once (override any field)."""
    defaults = {
        "url": source.base_url + "/kpi/{subject_id}?from={period_start}&to={period_end}",
        "auth": AUTH,
        "timeout_s": 2,
        "retries": 2,
        "concurrency": 4,
    }
    return value_config(source, **(defaults | overrides))


async def calculate(
    config: dict[str, Any], subjects: list[str], **options: Any
) -> dict[str, Outcome]:
    options.setdefault("env", ENV)
    options.setdefault("backoff_base", 0)
    options.setdefault("allow", LOOPBACK)
    return await api.calculate(request_for(config, subjects), **options)


def values(outcomes: dict[str, Outcome]) -> dict[str, Decimal | None]:
    return {subject: outcome.value for subject, outcome in outcomes.items()}
