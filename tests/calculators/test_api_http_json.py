"""The `api` calculator's http_json adapter against real HTTP sources served on 127.0.0.1 (no
httpx mocking): the value at the pointer, retries, time-outs, secrets, concurrency."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kpi_service.calculators.api_adapters import pointer_tokens, resolve_pointer
from kpi_service.calculators.base import CalculationFailed
from tests.support.api_calculation import SECRET, calculate, json_config, values
from tests.support.source import SourceServer, SourceState


async def test_each_subject_gets_the_number_at_the_pointer(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"alice": 12.5, "bob": "7", "carol": 0, "dave": -3})
    outcomes = await calculate(json_config(source), ["alice", "bob", "carol", "dave"])
    assert values(outcomes) == {
        "alice": Decimal("12.5"),
        "bob": Decimal(7),
        "carol": Decimal(0),
        "dave": Decimal(-3),
    }
    assert not any(o.failed or o.reason for o in outcomes.values())
    assert outcomes["alice"].details == {
        "adapter": "http_json",
        "path": "/kpi/alice",
        "status": 200,
        "attempts": 1,
    }
    assert {s.query["from"] for s in state.seen} == {"2026-11-08T23:00:00Z"}
    assert {s.query["to"] for s in state.seen} == {"2026-11-15T23:00:00Z"}
    assert {s.headers["authorization"] for s in state.seen} == {f"Bearer {SECRET}"}


async def test_every_placeholder_is_filled_and_percent_encoded(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"ann/marie": 1, "jo+jo": 2})
    url = (
        source.base_url + "/kpi/{subject_id}?tenant={tenant_id}&first={period_start_date}"
        "&last={period_end_date}&literal={{x}}"
    )
    outcomes = await calculate(json_config(source, url=url), ["ann/marie", "jo+jo"])
    assert values(outcomes) == {"ann/marie": 1, "jo+jo": 2}
    raw_paths = sorted(s.raw_path for s in state.seen)
    assert raw_paths == [b"/kpi/ann%2Fmarie", b"/kpi/jo%2Bjo"]
    assert {
        (s.query["tenant"], s.query["first"], s.query["last"], s.query["literal"])
        for s in state.seen
    } == {("acme", "2026-11-09", "2026-11-15", "{x}")}


async def test_missing_and_null_values_are_no_value_but_not_failures(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"nulled": None, "present": 4})
    outcomes = await calculate(json_config(source), ["absent", "nulled", "present"])
    assert outcomes["absent"].value is None and not outcomes["absent"].failed
    assert outcomes["absent"].reason == "no value at /data/value"
    assert outcomes["nulled"].value is None and not outcomes["nulled"].failed
    assert outcomes["nulled"].reason is not None and "no value" in outcomes["nulled"].reason
    assert outcomes["present"].value == 4


async def test_values_that_are_not_numbers_fail_their_subject(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update(
        {"word": "twelve", "flag": True, "obj": {"n": 1}, "list": [1], "ok": "42.50"}
    )
    state.plan("nan", "nan")
    outcomes = await calculate(json_config(source), ["word", "flag", "obj", "list", "nan", "ok"])
    for subject in ("word", "flag", "obj", "list", "nan"):
        outcome = outcomes[subject]
        assert outcome.failed and outcome.value is None, subject
        assert "not a usable number" in (outcome.reason or ""), subject
    assert outcomes["ok"].value == Decimal("42.50") and not outcomes["ok"].failed


async def test_the_pointer_follows_escapes_and_array_indices(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"deep": {"a/b": [0, {"c~d": 42}]}, "short": {"a/b": [0]}})
    config = json_config(source, value_pointer="/data/value/a~1b/1/c~0d")
    outcomes = await calculate(config, ["deep", "short"])
    assert outcomes["deep"].value == 42
    assert outcomes["short"].value is None and not outcomes["short"].failed


# RFC 6901 section 5's example document and its answers.
RFC_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", RFC_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_json_pointer_matches_rfc_6901_examples(pointer: str, expected: Any) -> None:
    assert resolve_pointer(RFC_DOC, pointer_tokens(pointer)) == expected


@pytest.mark.parametrize(
    "pointer", ["/foo/2", "/foo/-", "/foo/01", "/nope", "/foo/0/x", "/m~1n", "/foo/²", "/foo/١"]
)
def test_json_pointer_to_nothing_is_a_lookup_error(pointer: str) -> None:
    with pytest.raises(LookupError):
        resolve_pointer(RFC_DOC, pointer_tokens(pointer))


async def test_server_errors_are_retried_and_attempts_counted(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"flaky": 9, "flaky2": 9, "fine": 1})
    state.plan("flaky", "500", "500", "ok")
    state.plan("flaky2", "500", "500", "ok")
    outcomes = await calculate(json_config(source, retries=2), ["flaky", "fine"])
    assert outcomes["flaky"].value == 9 and outcomes["flaky"].details["attempts"] == 3
    assert state.attempts["flaky"] == 3 and state.attempts["fine"] == 1

    outcomes = await calculate(json_config(source, retries=1), ["flaky2"])
    assert outcomes["flaky2"].failed and outcomes["flaky2"].details["attempts"] == 2
    assert outcomes["flaky2"].details["status"] == 500
    assert state.attempts["flaky2"] == 2


async def test_a_source_always_failing_for_one_subject_fails_only_that_subject(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"a": 1, "b": 2})
    state.plan("broken", "500")
    outcomes = await calculate(json_config(source, retries=2), ["a", "broken", "b"])
    assert values(outcomes) == {"a": 1, "broken": None, "b": 2}
    assert outcomes["broken"].failed and "answered 500" in (outcomes["broken"].reason or "")
    assert state.attempts["broken"] == 3
    assert not outcomes["a"].failed and not outcomes["b"].failed


async def test_a_404_is_not_retried_and_fails_only_its_subject(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"a": 1})
    state.plan("ghost", "404")
    outcomes = await calculate(json_config(source, retries=5), ["a", "ghost"])
    assert outcomes["ghost"].failed and outcomes["ghost"].reason == "the source answered 404"
    assert outcomes["ghost"].details["status"] == 404
    assert state.attempts["ghost"] == 1
    assert outcomes["a"].value == 1


async def test_a_429_retry_after_replaces_the_backoff(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"busy": 5})
    state.plan("busy", "429", "ok")
    # A 60 s back-off base would make this hang if Retry-After: 0 were ignored.
    outcomes = await asyncio.wait_for(
        calculate(json_config(source), ["busy"], backoff_base=60), timeout=10
    )
    assert outcomes["busy"].value == 5 and state.attempts["busy"] == 2


async def test_a_hanging_source_is_cut_at_the_timeout_for_every_attempt(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"quick": 3})
    state.plan("hangs", "slow")
    timeout, retries = 0.3, 1
    config = json_config(source, timeout_s=timeout, retries=retries)
    outcomes = await asyncio.wait_for(
        calculate(config, ["hangs", "quick"]), timeout=timeout * (retries + 1) + 5
    )
    assert outcomes["hangs"].failed
    assert "did not answer within 0.3 s" in (outcomes["hangs"].reason or "")
    assert outcomes["hangs"].details["attempts"] == 2 and state.attempts["hangs"] == 2
    assert outcomes["quick"].value == 3


async def test_malformed_and_oversized_bodies_fail_their_subject(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"fine": 8})
    state.plan("garbled", "malformed")
    state.plan("huge", "huge")
    state.plan("endless", "huge_stream")  # chunked, no Content-Length to check up front
    outcomes = await calculate(json_config(source), ["garbled", "huge", "endless", "fine"])
    assert outcomes["garbled"].failed
    assert outcomes["garbled"].reason == "the response is not JSON"
    for subject in ("huge", "endless"):
        assert outcomes[subject].failed
        assert outcomes[subject].reason == "the response is larger than 1 MB"
        assert state.attempts[subject] == 1
    assert state.attempts["garbled"] == 1
    assert outcomes["fine"].value == 8


async def test_the_secret_is_sent_but_never_kept_in_an_outcome(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"ok": 1})
    state.plan("down", "500")
    state.plan("gone", "404")
    state.plan("mirror", "echo")  # answers with the Authorization header it received
    outcomes = await calculate(json_config(source, retries=1), ["ok", "down", "gone", "mirror"])
    assert {s.headers.get("authorization") for s in state.seen} == {f"Bearer {SECRET}"}
    assert outcomes["mirror"].failed
    assert SECRET not in repr(outcomes)


async def test_a_custom_header_without_scheme_carries_the_raw_secret(
    source: SourceServer, state: SourceState
) -> None:
    state.values.update({"a": 1})
    auth = {"header": "X-Api-Key", "secret_env": "KPI_SECRET_CRM_TOKEN"}
    outcomes = await calculate(json_config(source, auth=auth), ["a"])
    assert outcomes["a"].value == 1
    assert state.seen[0].headers["x-api-key"] == SECRET
    assert "authorization" not in state.seen[0].headers


async def test_a_missing_secret_fails_the_calculation_before_any_request(
    source: SourceServer, state: SourceState
) -> None:
    with pytest.raises(CalculationFailed, match=r"^secret KPI_SECRET_CRM_TOKEN is not set$"):
        await calculate(json_config(source), ["a"], env={})
    assert state.seen == []


async def test_the_secret_is_read_from_the_process_environment_by_default(
    source: SourceServer, state: SourceState, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.values.update({"a": 2})
    monkeypatch.setenv("KPI_SECRET_CRM_TOKEN", SECRET)
    outcomes = await calculate(json_config(source), ["a"], env=None)
    assert outcomes["a"].value == 2
    assert state.seen[0].headers["authorization"] == f"Bearer {SECRET}"


async def test_an_unusable_config_fails_the_calculation(
    source: SourceServer, state: SourceState
) -> None:
    config = json_config(source, url=source.base_url + "/kpi/{user}")
    with pytest.raises(CalculationFailed, match=r"unknown placeholder \{user\}"):
        await calculate(config, ["a"])
    assert state.seen == []


async def test_no_subjects_means_no_request(source: SourceServer, state: SourceState) -> None:
    assert await calculate(json_config(source), []) == {}
    assert state.seen == []


@pytest.mark.parametrize("shared_pool", [False, True])
async def test_requests_in_flight_never_exceed_the_concurrency(
    source: SourceServer, state: SourceState, shared_pool: bool
) -> None:
    subjects = [f"s{i}" for i in range(16)]
    state.values.update(dict.fromkeys(subjects, 1))
    state.delay_s = 0.05  # long enough for requests to overlap
    config = json_config(source, concurrency=3)
    if shared_pool:
        # A pool far larger than the limit: only the semaphore can hold requests back.
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
            outcomes = await calculate(config, subjects, client=client)
    else:
        outcomes = await calculate(config, subjects)
    assert all(o.value == 1 for o in outcomes.values()) and len(outcomes) == 16
    assert state.max_in_flight == 3
