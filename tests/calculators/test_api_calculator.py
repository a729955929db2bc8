"""The `api` calculator against real HTTP sources served on 127.0.0.1 (no httpx mocking)."""

from __future__ import annotations

import asyncio
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from kpi_service.calculators import api
from kpi_service.calculators.api_adapters import pointer_tokens, resolve_pointer
from kpi_service.calculators.base import CalculationFailed, CalculationRequest, Outcome
from kpi_service.core.outbound import parse_allow
from kpi_service.engine.periods import PeriodKind, containing
from tests.support.source import SourceServer, SourceState

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


@pytest.fixture
def state(source: SourceServer) -> SourceState:
    return source.reset()


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
    config = {
        "adapter": "http_json",
        "url": source.base_url + "/kpi/{subject_id}?from={period_start}&to={period_end}",
        "value_pointer": "/data/value",
        "auth": AUTH,
        "timeout_s": 2,
        "retries": 2,
        "concurrency": 4,
    }
    return config | overrides


async def calculate(
    config: dict[str, Any], subjects: list[str], **options: Any
) -> dict[str, Outcome]:
    options.setdefault("env", ENV)
    options.setdefault("backoff_base", 0)
    options.setdefault("allow", LOOPBACK)
    return await api.calculate(request_for(config, subjects), **options)


def values(outcomes: dict[str, Outcome]) -> dict[str, Decimal | None]:
    return {subject: outcome.value for subject, outcome in outcomes.items()}


# --- http_json ---------------------------------------------------------------------------


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


# --- configuration -----------------------------------------------------------------------

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
