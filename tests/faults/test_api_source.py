"""One run against an external source whose endpoints hang, fail with 500 or answer garbage
for some subjects: each is bounded by its timeout and retries, the run ends `partial`, and
every good subject and the other KPI of the run are stored."""

from __future__ import annotations

from datetime import datetime

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.source import SourceServer, value_config

RETRIES = 2  # three attempts at most
TIMEOUT_S = 0.5


async def test_hanging_failing_and_garbage_subjects_fail_alone_and_the_run_goes_on(
    client: AsyncClient, db: Database, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"good1": 12, "good2": "7.5", "typed": {"nested": 1}}
    state.slow_s = 5.0  # ten times the timeout: only the cut ends it
    state.plan("hangs", "slow")
    state.plan("fails", "500")
    state.plan("garbage", "malformed")
    state.plan("nan", "nan")
    api = await define(
        client,
        key="crm_score",
        calculation_type="api",
        config=value_config(source, timeout_s=TIMEOUT_S, retries=RETRIES),
    )
    query = await define(
        client,
        key="tickets",
        calculation_type="query",
        config={
            "sql": "SELECT subject_id, value FROM (VALUES ('good1', 4), ('hangs', 9)) "
            "AS t(subject_id, value) WHERE subject_id = ANY(:subject_ids)"
        },
    )
    subjects = ["good1", "good2", "hangs", "fails", "garbage", "nan", "typed"]
    for subject in subjects:
        await assign(client, api["id"], subject, 10, start_date="2026-11-01")
    for subject in ("good1", "hangs"):
        await assign(client, query["id"], subject, 8, start_date="2026-11-01")

    run = await recalculate(client, period_start="2026-11-09")
    took = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    print(f"\nrun {run['status']} in {took.total_seconds():.2f}s; attempts {dict(state.attempts)}")

    assert (run["status"], run["computed"], run["failed"]) == ("partial", 4, 5)
    reasons = {e["subject_id"]: e["error"] for e in run["errors"]}
    assert {e["definition"] for e in run["errors"]} == {"crm_score"}
    assert reasons == {
        "hangs": f"the source did not answer within {TIMEOUT_S:g} s ({RETRIES + 1} attempts)",
        "fails": f"the source answered 500 ({RETRIES + 1} attempts)",
        "garbage": "the response is not JSON",
        "nan": "the value at /data/value is not a usable number (not finite)",
        "typed": "the value at /data/value is not a usable number (an object)",
    }
    # Bounded: timeouts and 5xx were tried exactly 1 + retries times; a 200 that is garbage
    # is not retried (asking again gets the same garbage); the good subjects once each.
    assert dict(state.attempts) == {
        "good1": 1,
        "good2": 1,
        "hangs": RETRIES + 1,
        "fails": RETRIES + 1,
        "garbage": 1,
        "nan": 1,
        "typed": 1,
    }

    stored = {
        (m["definition_id"], m["subject_id"]): (m["actual_value"], m["achievement"])
        for m in await measurements(client)
    }
    # 12/10 and 7.5/10 of the api KPI; 4/8 and 9/8 of the query KPI: worked by hand.
    assert stored == {
        (api["id"], "good1"): (12, 120.0),
        (api["id"], "good2"): (7.5, 75.0),
        (query["id"], "good1"): (4, 50.0),
        (query["id"], "hangs"): (9, 112.5),
    }
