"""The `api` calculator's configuration: what it accepts, and what it refuses with a reason."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kpi_service.calculators import api
from tests.support.api_calculation import AUTH

DROP = object()
BRIEF_JSON = {
    "adapter": "http_json",
    "url": "https://host/path/{subject_id}?from={period_start}&to={period_end}",
    "value_pointer": "/data/value",
    "auth": AUTH,
    "timeout_s": 10,
    "retries": 3,
    "concurrency": 8,
}
INTERCOM = {
    "adapter": "intercom_median_first_response",
    "base_url": "https://api.intercom.io",
    "auth": AUTH,
}
AIRCALL = {"adapter": "aircall_calls_per_user", "base_url": "https://api.aircall.io", "auth": AUTH}


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    config = base | changes
    return {key: value for key, value in config.items() if value is not DROP}


@pytest.mark.parametrize(
    "config",
    [
        BRIEF_JSON,
        INTERCOM,
        AIRCALL,
        changed(BRIEF_JSON, auth=DROP, timeout_s=DROP, retries=DROP, concurrency=DROP),
        changed(
            BRIEF_JSON,
            url="http://h/{tenant_id}/{subject_id}?a={period_start_date}"
            "&b={period_end_date}&c={period_start}&d={period_end}&e={{x}}",
        ),
        changed(BRIEF_JSON, value_pointer=""),
        changed(BRIEF_JSON, timeout_s=0.1, retries=0, concurrency=1),
        changed(BRIEF_JSON, timeout_s=60, retries=5, concurrency=32),
        changed(INTERCOM, base_url=DROP, auth={"secret_env": "KPI_SECRET_INTERCOM"}),
    ],
    ids=lambda c: str(c.get("adapter")),
)
def test_valid_configs_are_accepted(config: dict[str, Any]) -> None:
    api.validate_config(config, allow=())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (changed(BRIEF_JSON, url="ftp://host/{subject_id}"), "http or https"),
        (changed(BRIEF_JSON, url="file:///etc/{subject_id}"), "http or https"),
        (changed(BRIEF_JSON, url="https://host/{user}"), "unknown placeholder {user}"),
        (changed(BRIEF_JSON, url="https://host/{subject_id.real}"), "unknown placeholder"),
        (changed(BRIEF_JSON, url="https://host/{}"), "unknown placeholder"),
        (changed(BRIEF_JSON, url="https://host/{subject_id:>9}"), "no format spec"),
        (changed(BRIEF_JSON, url="https://host/{subject_id!r}"), "no format spec"),
        (changed(BRIEF_JSON, url="https://host/{subject_id"), "url:"),
        (changed(BRIEF_JSON, url="https://{tenant_id}.host/x"), "path or the query"),
        (changed(BRIEF_JSON, url="https://host:{tenant_id}/x"), "path or the query"),
        (changed(BRIEF_JSON, url="https://me:pw@host/{subject_id}"), "credentials"),
        (changed(BRIEF_JSON, url="https:///path/{subject_id}"), "host"),
        (changed(BRIEF_JSON, url="https://host/a b"), "spaces"),
        (changed(BRIEF_JSON, url=DROP), "url is required"),
        (changed(BRIEF_JSON, value_pointer="data/value"), "starts with '/'"),
        (changed(BRIEF_JSON, value_pointer="/data/~2"), "'~' must be followed"),
        (changed(BRIEF_JSON, value_pointer=DROP), "value_pointer is required"),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_DATABASE_URL"}), "KPI_SECRET_"),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_crm"}), "KPI_SECRET_"),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_CRM\n"}), "KPI_SECRET_"),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_"}), "KPI_SECRET_"),
        (changed(BRIEF_JSON, auth={"header": "Authorization"}), "KPI_SECRET_"),
        (
            changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_A", "token": "abc"}),
            "unknown keys: token",
        ),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_A", "header": "X: y"}), "header name"),
        (changed(BRIEF_JSON, auth={"secret_env": "KPI_SECRET_A", "scheme": "Bearer x"}), "scheme"),
        (changed(BRIEF_JSON, auth="KPI_SECRET_A"), "auth must be an object"),
        (changed(BRIEF_JSON, timeout_s=0.05), "timeout_s"),
        (changed(BRIEF_JSON, timeout_s=61), "timeout_s"),
        (changed(BRIEF_JSON, timeout_s="10"), "timeout_s"),
        (changed(BRIEF_JSON, timeout_s=float("nan")), "timeout_s"),
        (changed(BRIEF_JSON, retries=6), "retries"),
        (changed(BRIEF_JSON, retries=-1), "retries"),
        (changed(BRIEF_JSON, retries=True), "retries"),
        (changed(BRIEF_JSON, retries=1.5), "retries"),
        (changed(BRIEF_JSON, concurrency=0), "concurrency"),
        (changed(BRIEF_JSON, concurrency=33), "concurrency"),
        (changed(BRIEF_JSON, adapter="salesforce"), "adapter must be one of"),
        (changed(BRIEF_JSON, adapter=DROP), "adapter must be one of"),
        (
            changed(BRIEF_JSON, verify_tls=False),
            "unknown keys for the http_json adapter: verify_tls",
        ),
        (changed(INTERCOM, url="https://x/"), "unknown keys"),
        (changed(AIRCALL, concurrency=4), "unknown keys for the aircall_calls_per_user adapter"),
        (changed(INTERCOM, auth=DROP), "auth is required"),
        (changed(AIRCALL, base_url="https://api.aircall.io?x=1"), "query string"),
        (changed(AIRCALL, base_url="http://user:pw@api.aircall.io"), "credentials"),
    ],
)
def test_invalid_configs_are_refused_with_a_reason(config: dict[str, Any], message: str) -> None:
    with pytest.raises(api.ApiConfigError, match=re.escape(message)):
        api.validate_config(config, allow=())
