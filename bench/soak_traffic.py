"""The soak's traffic: what it draws from (the catalogue, discovered through the API), the
requests of each class, the closed-loop workers, the backfills, and the tally of every
request."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind

API = "/api/kpis"
CLASSES = ("read", "write", "ingest")
WEIGHTS = (70, 15, 15)
READS = (
    "scorecard",
    "team",
    "leaderboard",
    "timeseries",
    "summary",
    "definitions",
    "assignments",
    "measurements",
    "legacy",
    "goals",
    "alerts",
)
BATCH = 100
BACKFILL_AT = (0.2, 0.6)  # shares of the duration at which a backfill is requested
BACKFILL_DAYS = 92  # the last three months of every KPI
HISTORY_DAYS = 90  # reads and manual values fall in these last days
REQUEST_TIMEOUT = 60.0
KEPT_ERRORS = 10


async def fetch(dsn: str, sql: str) -> list[Any]:
    """The rows of a query."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


# ---------------------------------------------------------------------- the catalogue


@dataclass
class Catalog:
    """What the traffic draws from, discovered through the API."""

    agents: list[tuple[str, str | None]]  # (user id, team id) of users with event KPIs
    teams: list[str]
    days: list[str]  # reading dates within the last HISTORY_DAYS
    leaderboard_keys: list[str]
    series: list[tuple[str, str]]  # (definition key, user id) of user assignments
    manual: list[tuple[int, str, float]]  # (assignment id, period start, target)
    event_types: dict[str, str]  # type -> one of its aggregates
    definitions: int = 0
    assignments: int = 0
    closed_skipped: int = 0


async def _all(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):  # bounded: 500,000 rows at most
        response = await client.get(
            path, params={"limit": 500, **({"cursor": cursor} if cursor else {})}
        )
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items
    raise RuntimeError(f"{path}: too many pages")


def _scale(target: float | None) -> float:
    """What a manual value is drawn around: its target (the saas pack's finance KPIs are
    tracked without one: a round figure then)."""
    return 1000.0 if target is None else float(target)


async def discover(client: httpx.AsyncClient, dsn: str, today: date) -> Catalog:
    """Definitions and assignments from the API; closed periods from the database (the API
    does not list them) so that manual values go to open periods only."""
    definitions = {d["id"]: d for d in await _all(client, f"{API}/definitions") if d["is_active"]}
    assignments = [
        a
        for a in await _all(client, f"{API}/assignments")
        if a["is_active"] and a["definition_id"] in definitions
    ]
    closed = {
        (r["definition_id"], r["period_start"].isoformat())
        for r in await fetch(dsn, "SELECT definition_id, period_start FROM kpi.closed_periods")
    }
    users = [a for a in assignments if a["subject_type"] == "user"]
    event_ids = {i for i, d in definitions.items() if d["calculation_type"] == "event"}
    agents = sorted(
        {(a["subject_id"], a["team_id"]) for a in users if a["definition_id"] in event_ids}, key=str
    )
    since = today - timedelta(days=HISTORY_DAYS)
    manual: list[tuple[int, str, float]] = []
    skipped = 0
    for a in assignments:
        d = definitions[a["definition_id"]]
        if d["calculation_type"] != "manual":
            continue
        period = containing(
            PeriodKind(d["aggregation_period"]), max(since, date.fromisoformat(a["start_date"]))
        )
        while period.start <= today and (
            a["end_date"] is None or period.start <= date.fromisoformat(a["end_date"])
        ):
            if (d["id"], period.start.isoformat()) in closed:
                skipped += 1
            else:
                manual.append((a["id"], period.start.isoformat(), _scale(a["target_value"])))
            period = period.next()
    return Catalog(
        agents=agents,
        teams=sorted({a["team_id"] for a in users if a["team_id"]}),
        days=[(today - timedelta(days=n)).isoformat() for n in range(1, HISTORY_DAYS + 1)],
        leaderboard_keys=sorted({a["definition_key"] for a in users}),
        series=sorted({(a["definition_key"], a["subject_id"]) for a in users}),
        manual=manual,
        event_types={
            d["config"]["event_type"]: d["config"].get("aggregate", "count")
            for d in definitions.values()
            if d["calculation_type"] == "event"
        },
        definitions=len(definitions),
        assignments=len(assignments),
        closed_skipped=skipped,
    )


# ------------------------------------------------------------------------ the traffic


def read_path(rng: random.Random, cat: Catalog, today: date) -> tuple[str, str]:
    """One read, of a kind drawn uniformly: its kind and path."""
    kind = rng.choice(READS)
    return kind, _read_path(kind, rng, cat, today)


def _read_path(kind: str, rng: random.Random, cat: Catalog, today: date) -> str:
    day = rng.choice(cat.days)
    user = rng.choice(cat.agents)[0]
    if kind == "scorecard":
        return f"{API}/metrics/scorecard?user_id={user}&period_kind=monthly&date={day}"
    if kind == "team":
        return (
            f"{API}/metrics/team?team_id={rng.choice(cat.teams)}"
            f"&period_kind={rng.choice(('weekly', 'monthly'))}&date={day}"
        )
    if kind == "leaderboard":
        return (
            f"{API}/metrics/leaderboard?definition_key={rng.choice(cat.leaderboard_keys)}"
            f"&date={day}&limit=50"
        )
    if kind == "timeseries":
        key, subject = rng.choice(cat.series)
        return (
            f"{API}/metrics/timeseries?definition_key={key}&subject_type=user"
            f"&subject_id={subject}&start={today - timedelta(days=180)}&end={day}"
        )
    if kind == "summary":
        return f"{API}/metrics/summary?period_kind=monthly&date={day}"
    if kind == "definitions":
        return f"{API}/definitions?limit=100"
    if kind == "assignments":
        return f"{API}/assignments?user_id={user}&limit=100"
    if kind == "measurements":
        return (
            f"{API}/measurements?definition_key={rng.choice(cat.leaderboard_keys)}"
            f"&period_from={day}&limit=100"
        )
    if kind == "legacy":
        return f"/kpis/users/{user}"
    if kind == "goals":
        return f"{API}/goals?user_id={user}&limit=50"
    return f"{API}/alerts?limit=50"


def event_batch(rng: random.Random, cat: Catalog, now: datetime) -> dict[str, Any]:
    """BATCH new events (fresh UUIDs) of demo agents and known types over the last 30 days."""
    events = []
    types = sorted(cat.event_types)
    for _ in range(BATCH):
        user, team = rng.choice(cat.agents)
        kind = rng.choice(types)
        value = (
            rng.uniform(500, 15_000)
            if cat.event_types[kind] == "sum"
            else rng.lognormvariate(1.8, 0.7)
        )
        at = now - timedelta(seconds=rng.uniform(0, 30 * 86_400))
        events.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": user,
                "team_id": team,
                "type": kind,
                "occurred_at": at.isoformat(),
                "value": round(value, 2),
                "properties": {"source": "soak"},
            }
        )
    return {"events": events}


@dataclass
class Tally:
    """What every request did: (start offset, class, kind, seconds) samples and the errors."""

    t0: float
    samples: list[tuple[float, str, str, float]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    error_times: list[float] = field(default_factory=list)
    accepted: int = 0

    def error(self, cls: str, what: str) -> None:
        self.errors[cls] = self.errors.get(cls, 0) + 1
        self.error_times.append(time.monotonic() - self.t0)
        if len(self.first_errors) < KEPT_ERRORS:
            self.first_errors.append(f"{cls} {what}"[:400])

    async def call(
        self,
        client: httpx.AsyncClient,
        cls: str,
        method: str,
        path: str,
        body: Any = None,
        kind: str = "",
    ) -> httpx.Response | None:
        """Send one request; record its latency, and an error unless it answered 2xx."""
        started = time.monotonic()
        self.requests[cls] = self.requests.get(cls, 0) + 1
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.error(cls, f"{method} {path}: {type(exc).__name__} {exc}")
            return None
        finally:
            if cls in CLASSES:
                self.samples.append(
                    (started - self.t0, cls, kind or cls, time.monotonic() - started)
                )
        if not 200 <= response.status_code < 300:
            self.error(cls, f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        return response


async def worker(
    client: httpx.AsyncClient,
    tally: Tally,
    cat: Catalog,
    rng: random.Random,
    today: date,
    stop_at: float,
) -> None:
    """One closed-loop client: a request of a class drawn by WEIGHTS, until `stop_at`."""
    while time.monotonic() < stop_at:
        cls = rng.choices(CLASSES, WEIGHTS)[0]
        if cls == "read":
            kind, path = read_path(rng, cat, today)
            await tally.call(client, cls, "GET", path, kind=kind)
        elif cls == "write":
            assignment, start, target = rng.choice(cat.manual)
            value = round(target * rng.uniform(0.6, 1.3), 2)
            await tally.call(
                client,
                cls,
                "PUT",
                f"{API}/assignments/{assignment}/measurements/{start}",
                {"value": value, "comment": "soak"},
            )
        else:
            response = await tally.call(
                client, cls, "POST", f"{API}/events", event_batch(rng, cat, datetime.now(UTC))
            )
            if response is not None:
                result = response.json()
                tally.accepted += result["accepted"]
                if result["accepted"] != BATCH:
                    tally.error(cls, f"batch: {json.dumps(result)[:300]}")


async def backfill(
    client: httpx.AsyncClient, tally: Tally, at: float, today: date, deadline: float
) -> dict[str, Any]:
    """At offset `at`, recalculate every KPI over the last BACKFILL_DAYS; poll until done."""
    await asyncio.sleep(max(0.0, tally.t0 + at - time.monotonic()))
    asked = time.monotonic()
    out: dict[str, Any] = {"requested_at_s": round(asked - tally.t0, 1), "status": "not queued"}
    body = {
        "period_start": (today - timedelta(days=BACKFILL_DAYS)).isoformat(),
        "period_end": today.isoformat(),
    }
    response = await tally.call(client, "backfill", "POST", f"{API}/measurements/recalculate", body)
    if response is None:
        return out
    run = response.json()
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(1)
        polled = await tally.call(client, "backfill", "GET", f"{API}/runs/{run['id']}")
        run = polled.json() if polled is not None else run
    out["seen_done_s"] = round(time.monotonic() - asked, 1)
    started, finished = run["started_at"], run["finished_at"]
    out.update(
        {
            k: run[k]
            for k in (
                "id",
                "status",
                "computed",
                "unchanged",
                "failed",
                "skipped",
                "progress_total",
                "errors",
            )
        },
        ended_at_s=round(time.monotonic() - tally.t0, 1),
        run_s=(
            round(
                (
                    datetime.fromisoformat(finished) - datetime.fromisoformat(started)
                ).total_seconds(),
                1,
            )
            if started and finished
            else None
        ),
    )
    if run["status"] != "succeeded":
        tally.error("backfill", f"run {run['id']} ended {run['status']}: {run['errors'][:2]}")
    return out
