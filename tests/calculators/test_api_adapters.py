"""The `api` calculator's vendor adapters (Intercom's median first reply, Aircall's calls per
user) against real HTTP sources served on 127.0.0.1, recomputed by hand."""

from __future__ import annotations

import statistics
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from kpi_service.calculators.base import CalculationFailed
from tests.support.api_calculation import AUTH, END_UNIX, SECRET, START_UNIX, calculate, values
from tests.support.source import SourceServer, SourceState

# --- intercom_median_first_response ------------------------------------------------------


def conversation(
    admin: int, created_at: int, reply_s: int | None, with_statistics: bool = True
) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": f"c{admin}-{created_at}",
        "created_at": created_at,
        "admin_assignee_id": admin,
        "statistics": {"time_to_admin_reply": reply_s} if with_statistics else None,
    }


def expected_median_minutes(conversations: list[dict[str, Any]], admin: int) -> float | None:
    replies = [
        Fraction(c["statistics"]["time_to_admin_reply"])
        for c in conversations
        if c["admin_assignee_id"] == admin
        and START_UNIX <= c["created_at"] < END_UNIX
        and c["statistics"]
        and c["statistics"]["time_to_admin_reply"] is not None
    ]
    return float(statistics.median(replies) / 60) if replies else None


async def test_intercom_median_first_reply_in_minutes_over_three_pages(
    source: SourceServer, state: SourceState
) -> None:
    state.conversations = [
        conversation(7, START_UNIX, 90),  # first second of the period: inside
        conversation(7, START_UNIX + 3600, 120),
        conversation(7, START_UNIX + 7200, None),  # not replied yet
        conversation(7, START_UNIX + 9000, 300),
        conversation(7, START_UNIX + 9500, 45),
        conversation(7, START_UNIX + 9900, None, with_statistics=False),
        conversation(7, START_UNIX - 1, 1),  # before the period
        conversation(7, END_UNIX, 9999),  # the end is exclusive
        conversation(9, START_UNIX + 10, 30),
        conversation(9, START_UNIX + 20, 600),
        conversation(9, START_UNIX + 30, 61),
    ]
    state.plan("13", "500")
    config = {
        "adapter": "intercom_median_first_response",
        "base_url": source.base_url,
        "auth": AUTH,
        "retries": 1,
    }
    outcomes = await calculate(config, ["7", "8", "9", "13"])

    assert expected_median_minutes(state.conversations, 7) == 1.75  # (90 + 120) / 2 s
    for admin in ("7", "9"):
        expected = expected_median_minutes(state.conversations, int(admin))
        assert float(outcomes[admin].value or 0) == pytest.approx(expected, rel=1e-12)
    assert outcomes["8"].value is None and not outcomes["8"].failed and outcomes["8"].reason
    assert outcomes["13"].failed and outcomes["13"].details["attempts"] == 2
    assert outcomes["7"].details == {
        "adapter": "intercom_median_first_response",
        "status": 200,
        "attempts": 3,
        "pages": 3,
    }
    searches = state.requests_to("/conversations/search")
    assert Counter(str(s.body["query"]["value"][0]["value"]) for s in searches) == {
        "7": 3,
        "8": 1,
        "9": 2,
        "13": 2,
    }
    assert {s.headers["authorization"] for s in searches} == {f"Bearer {SECRET}"}


# --- aircall_calls_per_user --------------------------------------------------------------


def call(user: int | None, started_at: int) -> dict[str, Any]:
    return {
        "id": started_at,
        "direction": "inbound",
        "started_at": started_at,
        "user": None if user is None else {"id": user, "name": f"user {user}"},
    }


async def test_aircall_counts_calls_per_user_from_one_listing(
    source: SourceServer, state: SourceState
) -> None:
    inside = (
        [call(101, START_UNIX + 600 * i) for i in range(40)]
        + [call(102, START_UNIX + 600 * i + 7) for i in range(25)]
        + [call(103, START_UNIX + 100), call(103, START_UNIX)]
        + [call(None, START_UNIX + 11 * i) for i in range(3)]
    )
    outside = [call(101, END_UNIX), call(102, START_UNIX - 1)]
    state.calls = sorted(inside + outside, key=lambda c: c["started_at"])
    config = {"adapter": "aircall_calls_per_user", "base_url": source.base_url, "auth": AUTH}
    subjects = ["101", "102", "103", "999"]
    outcomes = await calculate(config, subjects)

    counted = Counter(
        str(c["user"]["id"])
        for c in state.calls
        if c["user"] and START_UNIX <= c["started_at"] < END_UNIX
    )
    assert values(outcomes) == {s: Decimal(counted[s]) for s in subjects}
    assert values(outcomes) == {"101": 40, "102": 25, "103": 2, "999": 0}
    listings = state.requests_to("/v1/calls")
    assert [s.query["page"] for s in listings] == ["1", "2"]  # once for all subjects
    assert outcomes["999"].details["pages"] == 2


async def test_aircall_refuses_a_next_page_on_another_host(
    source: SourceServer, state: SourceState
) -> None:
    state.calls = [call(101, START_UNIX + i) for i in range(60)]
    state.aircall_foreign_next = True
    config = {"adapter": "aircall_calls_per_user", "base_url": source.base_url, "auth": AUTH}
    with pytest.raises(CalculationFailed, match="another host"):
        await calculate(config, ["101"])
    assert len(state.requests_to("/v1/calls")) == 1


async def test_aircall_refuses_to_undercount_past_the_page_limit(
    source: SourceServer, state: SourceState
) -> None:
    state.calls = [call(101, START_UNIX + i) for i in range(51)]
    state.aircall_page_size = 1
    config = {"adapter": "aircall_calls_per_user", "base_url": source.base_url, "auth": AUTH}
    with pytest.raises(CalculationFailed, match="more than 50 pages"):
        await calculate(config, ["101"])
    assert len(state.requests_to("/v1/calls")) == 50
