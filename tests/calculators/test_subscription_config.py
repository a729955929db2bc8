"""A subscription KPI's config and scope are checked when saved: 422 naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define
from tests.support.api import definition_body as body
from tests.support.problems import assert_problem, error_locs

CONFIG = ["body", "config"]


def subscription(config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    values = {"scope": "organization", "unit": "currency", "aggregation_period": "monthly"}
    return body("mrr", calculation_type="subscription", config=config, **(values | fields))


@pytest.mark.parametrize(
    ("config", "fields", "loc"),
    [
        ({"metric": "mrr"}, {"scope": "user"}, ["body", "scope"]),
        ({"metric": "mrr"}, {"scope": "team"}, ["body", "scope"]),
        ({}, {}, [*CONFIG, "metric"]),
        ({"metric": "churn"}, {}, [*CONFIG, "metric"]),
        ({"metric": ["mrr"]}, {}, [*CONFIG, "metric"]),
        ({"metric": "mrr", "event_type": "Bad Type"}, {}, [*CONFIG, "event_type"]),
        ({"metric": "mrr", "event_type": 5}, {}, [*CONFIG, "event_type"]),
        ({"metric": "mrr", "segment": "pro"}, {}, [*CONFIG, "segment"]),
        ({"metric": "mrr", "segment": {"property": "plan"}}, {}, [*CONFIG, "segment"]),
        (
            {"metric": "mrr", "segment": {"property": "a.b", "value": "x"}},
            {},
            [*CONFIG, "segment"],
        ),
        (
            {"metric": "mrr", "segment": {"property": "plan", "value": [1]}},
            {},
            [*CONFIG, "segment"],
        ),
        (
            {"metric": "mrr", "segment": {"property": "plan", "value": None}},
            {},
            [*CONFIG, "segment"],
        ),
        ({"metric": "mrr", "aggregate": "sum"}, {}, [*CONFIG, "aggregate"]),
        ({"metric": "mrr", "subjects": "own"}, {}, [*CONFIG, "subjects"]),
    ],
)
async def test_configs_that_cannot_work_are_refused(
    client: AsyncClient, config: dict[str, Any], fields: dict[str, Any], loc: list[str]
) -> None:
    problem = assert_problem(await client.post(URL, json=subscription(config, **fields)), 422)
    assert error_locs(problem) == [loc], problem
    assert problem["errors"][0]["msg"], problem
    assert (await client.get(URL)).json()["items"] == []


async def test_the_event_type_defaults_and_a_segment_is_kept(client: AsyncClient) -> None:
    segment = {"property": "plan", "value": "pro"}
    made = await define(
        client,
        "pro_nrr",
        scope="organization",
        unit="percent",
        aggregation_period="monthly",
        calculation_type="subscription",
        config={"metric": "nrr", "segment": segment},
    )
    assert made["config"] == {"metric": "nrr", "event_type": "subscription", "segment": segment}


async def test_an_update_is_checked_against_the_scope_and_the_config(client: AsyncClient) -> None:
    user_kpi = await define(client, "calls")
    answer = await client.patch(
        f"{URL}/{user_kpi['id']}",
        json={"calculation_type": "subscription", "config": {"metric": "mrr"}},
    )
    assert error_locs(assert_problem(answer, 422)) == [["body", "scope"]]
    created = await client.post(URL, json=subscription({"metric": "mrr"}))
    assert created.status_code == 201, created.text
    mrr = created.json()
    answer = await client.patch(f"{URL}/{mrr['id']}", json={"config": {"metric": "mrrr"}})
    assert error_locs(assert_problem(answer, 422)) == [[*CONFIG, "metric"]]
    answer = await client.patch(f"{URL}/{mrr['id']}", json={"config": {"metric": "arr"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["config"] == {"metric": "arr", "event_type": "subscription"}
