"""The executive summary: organisation KPIs' latest values (DAU/WAU/MAU from events, MRR by
hand) and the users' achievement distribution, recomputed in plain Python; access, input."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, recalculate
from tests.support.auth import bearer
from tests.support.expected import achieved, change_of, num, q, status_of, trend_of
from tests.support.metrics import ok

URL = "/api/kpis/metrics/summary"
WEEK = date(2026, 2, 9)  # a Monday
EDGES = (Decimal(50), Decimal(80), Decimal(100), Decimal(120))
SIX = Decimal("0.000001")


def achievement(actual: Decimal, target: Decimal, target_type: str) -> Decimal:
    """DESIGN.md section 4, by hand."""
    if target_type == "higher_better":
        return Decimal(100) if target == 0 else actual / target * 100
    if target_type == "lower_better":
        if target == 0:
            return Decimal(100) if actual <= 0 else Decimal(0)
        return Decimal(100) if actual <= 0 else target / actual * 100
    if target == 0:
        return Decimal(100) if actual == 0 else Decimal(0)
    return max(Decimal(0), 100 - abs(actual - target) / abs(target) * 100)


def bucket(value: Decimal) -> int:
    return sum(1 for edge in EDGES if value >= edge)


def tally(cases: list[tuple[Decimal | None, Decimal, str, Decimal]]) -> dict[str, Any]:
    """Counts a client would make from (value, target, target type, warning) per user."""
    out = {
        "assignments": len(cases),
        "met": 0,
        "at_risk": 0,
        "off_track": 0,
        "no_value": 0,
        "buckets": [0] * 5,
    }
    for value, target, target_type, warning in cases:
        if value is None:
            out["no_value"] += 1
            continue
        a = achievement(value, target, target_type)
        out["met" if a >= 100 else "at_risk" if a >= warning else "off_track"] += 1
        out["buckets"][bucket(a)] += 1
    return out


def counts_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("assignments", "met", "at_risk", "off_track", "no_value")} | {
        "buckets": [b["count"] for b in body["buckets"]]
    }


async def put(client: AsyncClient, assignment_id: int, period_start: str, value: Any) -> None:
    response = await client.put(
        f"/api/kpis/assignments/{assignment_id}/measurements/{period_start}", json={"value": value}
    )
    assert response.status_code == 200, response.text


KPIS = [
    ("calls", "higher_better", Decimal(80)),
    ("resolution_hours", "lower_better", Decimal(70)),
    ("csat", "exact", Decimal(90)),
]


async def _random_user_kpis(client: AsyncClient, seed: int) -> dict[str, list[Any]]:
    """Weekly manual KPIs for 24 users, random targets and values (some exactly on a
    bucket edge, some missing, some zero targets); the cases behind each week's counts."""
    rng = random.Random(seed)
    cases: dict[str, list[Any]] = {}
    for key, target_type, warning in KPIS:
        d = await define(client, key=key, target_type=target_type, warning_threshold=float(warning))
        cases[key] = []
        for n in range(24):
            target = Decimal(rng.choice([0, 4, 10, 10, 25, 40])) if n % 8 else Decimal(10)
            a = await assign(
                client, d["id"], f"u{n}", float(target), team_id="t1", start_date="2026-01-05"
            )
            value: Decimal | None = Decimal(rng.choice([0, 1, 3, 5, 8, 10, 12, 15, 30, 41]))
            if n % 8 == 0:
                value = Decimal([5, 8, 10, 12][n // 8 % 4])  # 50, 80, 100, 120 % or mirrored
            if rng.random() < 0.15:
                value = None
            if value is not None:
                await put(client, a["id"], WEEK.isoformat(), float(value))
            # The week before has values too; they must not count.
            await put(client, a["id"], (WEEK - timedelta(days=7)).isoformat(), 1)
            cases[key].append((value, target, target_type, warning))
    return cases


async def _bystanders(client: AsyncClient) -> None:
    """Assignments not in force in the week, and an inactive KPI: none of them counts."""
    calls = (await client.get("/api/kpis/definitions/by-key/calls")).json()
    await assign(client, calls["id"], "late", 10, start_date="2026-02-16")
    await assign(client, calls["id"], "gone", 10, start_date="2026-01-05", end_date="2026-02-08")
    old = await define(client, key="old_kpi")
    kept = await assign(client, old["id"], "u1", 10, start_date="2026-01-05")
    await put(client, kept["id"], WEEK.isoformat(), 3)
    assert (await client.delete(f"/api/kpis/definitions/{old['id']}")).status_code in (200, 204)


@pytest.mark.parametrize("seed", [51, 52])
async def test_the_distribution_matches_a_plain_python_count(
    client: AsyncClient, seed: int
) -> None:
    cases = await _random_user_kpis(client, seed)
    await _bystanders(client)
    monthly = await define(client, key="revenue", aggregation_period="monthly", unit="currency")
    m = await assign(client, monthly["id"], "u1", 1000, start_date="2026-01-01")
    await put(client, m["id"], "2026-02-01", 1500)
    await assign(client, monthly["id"], "u2", 1000, start_date="2026-01-01")

    response = await client.get(
        URL, params={"period_kind": "weekly", "date": (WEEK + timedelta(days=3)).isoformat()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    by_key = {d["definition_key"]: d for d in body["distribution"]}
    assert sorted(by_key) == sorted(key for key, _, _ in KPIS)
    for key, wanted in cases.items():
        assert counts_of(by_key[key]) == tally(wanted), key
        assert (by_key[key]["period_start"], by_key[key]["period_end"]) == (
            WEEK.isoformat(),
            (WEEK + timedelta(days=6)).isoformat(),
        )
    assert counts_of(body["overall"]) == tally([c for w in cases.values() for c in w])
    assert [(b["lower"], b["upper"]) for b in body["overall"]["buckets"]] == [
        (None, 50),
        (50, 80),
        (80, 100),
        (100, 120),
        (120, None),
    ]

    # Without a kind: each KPI's own period holding the date, the monthly one too.
    every = (await client.get(URL, params={"date": WEEK.isoformat()})).json()
    revenue = next(d for d in every["distribution"] if d["definition_key"] == "revenue")
    assert (revenue["period_start"], revenue["period_end"]) == ("2026-02-01", "2026-02-28")
    assert counts_of(revenue) == tally(
        [
            (Decimal(1500), Decimal(1000), "higher_better", Decimal(80)),
            (None, Decimal(1000), "", Decimal(80)),
        ]
    )
    assert counts_of(every["overall"]) == tally(
        [c for w in cases.values() for c in w]
        + [
            (Decimal(1500), Decimal(1000), "higher_better", Decimal(80)),
            (None, Decimal(1000), "", Decimal(80)),
        ]
    )


async def test_the_default_period_is_each_kinds_latest_final_one(client: AsyncClient) -> None:
    today = datetime.now(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    last_week = this_monday - timedelta(days=7)
    d = await define(client, key="calls")
    a = await assign(client, d["id"], "u1", 10, start_date="2020-01-06")
    b = await assign(client, d["id"], "u2", 10, start_date="2020-01-06")
    await put(client, a["id"], last_week.isoformat(), 11)
    await put(client, b["id"], this_monday.isoformat(), 11)  # in progress: not the default
    body = (await client.get(URL)).json()
    [calls] = body["distribution"]
    assert calls["period_start"] == last_week.isoformat()
    assert (calls["assignments"], calls["met"], calls["no_value"]) == (2, 1, 1)


def _event(user: str, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "user_id": user,
        "type": "login",
        "occurred_at": at.isoformat(),
    }


async def test_organisation_kpis_show_their_latest_values(client: AsyncClient) -> None:
    rng = random.Random(53)
    feb = datetime(2026, 2, 1, tzinfo=UTC)
    events = [
        _event(f"u{rng.randint(1, 30)}", feb + timedelta(minutes=rng.randint(0, 40_000)))
        for _ in range(600)
    ]
    assert (await client.post("/api/kpis/events", json={"events": events})).status_code == 200
    targets = {"dau": 10, "wau": 20, "mau": 25}
    for key, period in (("dau", "daily"), ("wau", "weekly"), ("mau", "monthly")):
        d = await define(
            client,
            key=key,
            aggregation_period=period,
            scope="organization",
            calculation_type="event",
            config={"event_type": "login", "aggregate": "distinct_users"},
        )
        await assign(
            client,
            d["id"],
            "default",
            targets[key],
            subject_type="organization",
            start_date="2026-01-01",
        )
    mrr = await define(
        client, key="mrr", aggregation_period="monthly", scope="organization", unit="currency"
    )
    a = await assign(
        client, mrr["id"], "default", 12000, subject_type="organization", start_date="2026-01-01"
    )
    await put(client, a["id"], "2026-01-01", 10000)
    await put(client, a["id"], "2026-02-01", 12500)
    await define(
        client, key="arr", aggregation_period="yearly", scope="organization", unit="currency"
    )
    run = await recalculate(client, period_start="2026-02-15", period_end="2026-02-22")
    assert run["status"] == "succeeded", run
    # A formula over MRR: March has no MRR yet, so its measurement has no value; the summary
    # shows February's, the last one known.
    await define(
        client,
        key="arr_monthly",
        aggregation_period="monthly",
        scope="organization",
        unit="currency",
        calculation_type="formula",
        config={"expression": "m * 12", "variables": {"m": "mrr"}},
    )
    arr = await client.get("/api/kpis/definitions/by-key/arr_monthly")
    await assign(
        client,
        arr.json()["id"],
        "default",
        150000,
        subject_type="organization",
        start_date="2026-01-01",
    )
    await recalculate(
        client, period_start="2026-02-01", period_end="2026-03-31", definition_keys=["arr_monthly"]
    )
    march = await client.get(
        "/api/kpis/measurements",
        params={"definition_key": "arr_monthly", "period_from": "2026-03-01"},
    )
    assert [m["actual_value"] for m in march.json()["items"]] == [None]

    body = (await client.get(URL)).json()
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    assert list(kpis) == ["arr", "arr_monthly", "dau", "mau", "mrr", "wau"]
    assert (
        kpis["arr_monthly"]["current"]["period_start"],
        kpis["arr_monthly"]["current"]["value"],
    ) == ("2026-02-01", 12500 * 12)

    def users(low: datetime, high: datetime) -> Decimal:
        return Decimal(
            len(
                {
                    e["user_id"]
                    for e in events
                    if low <= datetime.fromisoformat(e["occurred_at"]) < high
                }
            )
        )

    def change(a: Decimal, prev: Decimal) -> float | None:
        if prev == 0:
            return None
        return float(((a - prev) / abs(prev) * 100).quantize(SIX, rounding=ROUND_HALF_EVEN))

    day = datetime(2026, 2, 22, tzinfo=UTC)
    week = datetime(2026, 2, 16, tzinfo=UTC)  # the week holding the 22nd (a Sunday)
    for key, start, end, value, prev in (
        (
            "dau",
            "2026-02-22",
            "2026-02-22",
            users(day, day + timedelta(days=1)),
            users(day - timedelta(days=1), day),
        ),
        (
            "wau",
            "2026-02-16",
            "2026-02-22",
            users(week, week + timedelta(days=7)),
            users(week - timedelta(days=7), week),
        ),
        ("mau", "2026-02-01", "2026-02-28", users(feb, datetime(2026, 3, 1, tzinfo=UTC)), None),
    ):
        kpi = kpis[key]["current"]
        assert (kpi["period_start"], kpi["period_end"], kpi["value"]) == (
            start,
            end,
            float(value),
        ), key
        assert kpi["target"] == targets[key] and kpi["is_final"] is True
        assert kpi["achievement"] == float(
            (value / targets[key] * 100).quantize(SIX, rounding=ROUND_HALF_EVEN)
        )
        assert kpi["change_pct"] == (None if prev is None else change(value, prev)), key
    mrr = kpis["mrr"]["current"]
    assert (
        mrr["period_start"],
        mrr["value"],
        mrr["previous_value"],
        mrr["change_pct"],
        mrr["trend"],
        mrr["status"],
    ) == ("2026-02-01", 12500, 10000, 25.0, "improving", "met")
    assert mrr["achievement"] == pytest.approx(104.166667)
    assert {k: v for k, v in kpis["arr"].items() if k != "in_progress" and v is not None} == {
        "definition_key": "arr",
        "name": "Arr",
        "unit": "currency",
        "aggregation_period": "yearly",
        "rollup": "sum",
    }
    assert body["distribution"] == [] and body["overall"]["assignments"] == 0


async def test_members_are_refused_and_other_tenants_see_nothing(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    d = await c.post(
        "/api/kpis/definitions",
        headers=admin,
        json={
            "key": "mrr",
            "name": "MRR",
            "unit": "currency",
            "target_type": "higher_better",
            "aggregation_period": "monthly",
            "scope": "organization",
            "calculation_type": "manual",
        },
    )
    made = await c.post(
        "/api/kpis/assignments",
        headers=admin,
        json={
            "definition_id": d.json()["id"],
            "subject_type": "organization",
            "target_value": 5,
            "start_date": "2026-01-01",
        },
    )
    put_ = await c.put(
        f"/api/kpis/assignments/{made.json()['id']}/measurements/2026-01-01",
        headers=admin,
        json={"value": 7},
    )
    assert put_.status_code == 200, put_.text
    member = await c.get(URL, headers=bearer("42", "member"))
    assert member.status_code == 403
    assert member.headers["content-type"] == "application/problem+json"
    manager = await c.get(URL, headers=bearer("m1", "manager", teams=["t1"]))
    assert manager.status_code == 200 and manager.json()["kpis"][0]["current"]["value"] == 7
    acme = (await c.get(URL, headers=bearer("boss", "admin", tenant="acme"))).json()
    assert acme["kpis"] == [] and acme["distribution"] == [] and acme["open_alerts"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"period_kind": "hourly"},
        {"date": "2026-02-30"},
        {"date": "soon"},
        {"tenant": "acme"},
        {"date": "1899-12-31"},
        {"date": "9999-12-31"},  # outside the days any metrics view takes
    ],
)
async def test_bad_input_is_a_422_problem(client: AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get(URL, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_open_alerts_are_those_the_caller_may_see(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    d = await c.post(
        "/api/kpis/definitions",
        headers=admin,
        json={
            "key": "calls",
            "name": "Calls",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "weekly",
            "calculation_type": "manual",
        },
    )
    held = {}
    for user, team, value in (("42", "t1", 3), ("43", "t2", 5), ("44", "t1", 10)):
        made = await c.post(
            "/api/kpis/assignments",
            headers=admin,
            json={
                "definition_id": d.json()["id"],
                "subject_type": "user",
                "subject_id": user,
                "team_id": team,
                "target_value": 10,
                "start_date": "2026-01-05",
            },
        )
        held[user] = made.json()["id"]
        put_ = await c.put(
            f"/api/kpis/assignments/{held[user]}/measurements/2026-01-05",
            headers=admin,
            json={"value": value},
        )
        assert put_.status_code == 200, put_.text
    rule = await c.post(
        "/api/kpis/alerts/rules",
        headers=admin,
        json={
            "definition_id": d.json()["id"],
            "name": "Calls below 80 %",
            "severity": "critical",
            "condition": {"kind": "achievement_below", "threshold": 80},
        },
    )
    assert rule.status_code == 201, rule.text
    evaluated = await c.post(
        "/api/kpis/alerts/evaluate", headers=admin, json={"period_start": "2026-01-05"}
    )
    assert evaluated.status_code == 200, evaluated.text

    def shown(body: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {
            (
                a["rule_name"],
                a["definition_key"],
                a["subject_type"],
                a["subject_id"],
                a["period_start"],
                a["period_end"],
                a["severity"],
            )
            for a in body["open_alerts"]
        }

    # 42 (30 %) and 43 (50 %) are below 80 %; 44 (100 %) is not.
    wanted = {
        ("Calls below 80 %", "calls", "user", u, "2026-01-05", "2026-01-11", "critical")
        for u in ("42", "43")
    }
    everything = (await c.get(URL, headers=admin)).json()
    assert shown(everything) == wanted
    listed = (await c.get("/api/kpis/alerts", headers=admin, params={"limit": 500})).json()
    assert {(a["id"], a["status"], a["opened_at"]) for a in listed["items"]} == {
        (a["id"], a["status"], a["opened_at"]) for a in everything["open_alerts"]
    }
    assert {a["status"] for a in everything["open_alerts"]} <= {"pending", "firing"}
    manager = (await c.get(URL, headers=bearer("m1", "manager", teams=["t1"]))).json()
    assert shown(manager) == {a for a in wanted if a[3] == "42"}
    acme = (await c.get(URL, headers=bearer("boss", "admin", tenant="acme"))).json()
    assert acme["open_alerts"] == []


# --- which periods: period_kind and date, the default, a range --------------------------------


def month_start(day: date, back: int = 0) -> date:
    """The first day of the month `back` months before day's."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def month_end(first: date) -> date:
    return month_start(first + timedelta(days=31)) - timedelta(days=1)


async def org_kpi(client: AsyncClient, key: str, target: float, **fields: Any) -> int:
    """An organisation-scope manual KPI assigned to the organisation; the assignment id."""
    d = await define(client, key=key, scope="organization", **fields)
    made = await assign(
        client, d["id"], "default", target, subject_type="organization", start_date="2020-01-01"
    )
    assignment_id: int = made["id"]
    return assignment_id


def ended_block(
    start: date,
    end: date,
    value: Decimal,
    target: Decimal,
    target_type: str,
    previous: Decimal | None,
) -> dict[str, Any]:
    """An ended period's block, recomputed by hand (DESIGN.md section 4)."""
    a = achieved(value, target, target_type)
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "is_final": True,
        "value": num(value),
        "target": num(target),
        "achievement": num(a),
        "status": status_of(a),
        "previous_value": num(previous),
        "change_pct": num(change_of(value, previous)),
        "trend": trend_of(value, previous, target_type, target),
    }


async def test_period_kind_and_date_choose_the_periods_shown(client: AsyncClient) -> None:
    mrr = await org_kpi(client, "mrr", 1000, aggregation_period="monthly", unit="currency")
    signups = await org_kpi(client, "signups", 50, aggregation_period="weekly")
    for month, value in (("2026-01-01", 800), ("2026-02-01", 1100), ("2026-03-01", 950)):
        await put(client, mrr, month, value)
    for week, value in (("2026-02-02", 40), ("2026-02-09", 55)):
        await put(client, signups, week, value)
    calls = await define(client, key="calls", aggregation_period="monthly")
    held = await assign(client, calls["id"], "u1", 10, start_date="2026-01-01")
    await put(client, held["id"], "2026-02-01", 7)
    weekly = await define(client, key="visits")
    await assign(client, weekly["id"], "u1", 10, start_date="2026-01-01")

    body = await ok(client, "summary", period_kind="monthly", date="2026-02-14")
    assert [k["definition_key"] for k in body["kpis"]] == ["mrr"]
    [shown] = body["kpis"]
    assert shown["current"] == ended_block(
        date(2026, 2, 1),
        date(2026, 2, 28),
        Decimal(1100),
        Decimal(1000),
        "higher_better",
        Decimal(800),
    )
    assert shown["in_progress"] is None and shown["range"] is None
    assert body["periods"] == [
        {
            "period_kind": "monthly",
            "period_start": "2026-02-01",
            "period_end": "2026-02-28",
            "is_final": True,
        }
    ]
    [dist] = body["distribution"]
    assert (dist["definition_key"], dist["period_start"]) == ("calls", "2026-02-01")
    assert counts_of(dist) == tally([(Decimal(7), Decimal(10), "higher_better", Decimal(80))])

    # Every kind: the weekly KPI's week holding the date (Mon 9 to Sun 15 February).
    every = await ok(client, "summary", date="2026-02-14")
    kpis = {k["definition_key"]: k for k in every["kpis"]}
    assert kpis["signups"]["current"] == ended_block(
        date(2026, 2, 9), date(2026, 2, 15), Decimal(55), Decimal(50), "higher_better", Decimal(40)
    )
    assert kpis["mrr"]["current"]["period_start"] == "2026-02-01"
    # A period not measured is shown empty, never as the nearest one that was.
    empty = await ok(client, "summary", period_kind="weekly", date="2026-03-04")
    assert {k: v for k, v in empty["kpis"][0]["current"].items() if v is not None} == {
        "period_start": "2026-03-02",
        "period_end": "2026-03-08",
        "is_final": True,
    }

    # A date in the period in progress: shown as in progress, never judged.
    today = datetime.now(UTC).date()
    this_month = month_start(today)
    await put(client, mrr, this_month.isoformat(), 300)
    await put(client, held["id"], this_month.isoformat(), 1)  # off track so far: not counted
    now = await ok(client, "summary", period_kind="monthly", date=today.isoformat())
    [shown] = now["kpis"]
    assert shown["current"] is None
    assert shown["in_progress"]["period_start"] == this_month.isoformat()
    assert shown["in_progress"]["value"] == 300 and "status" not in shown["in_progress"]
    assert now["distribution"] == [] and now["overall"]["assignments"] == 0
    assert now["periods"] == [
        {
            "period_kind": "monthly",
            "period_start": this_month.isoformat(),
            "period_end": month_end(this_month).isoformat(),
            "is_final": False,
        }
    ]


async def test_by_default_the_latest_ended_period_and_the_one_in_progress_with_its_pace(
    client: AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    this_month, last_month = month_start(today), month_start(today, 1)
    mrr = await org_kpi(client, "mrr", 1000, aggregation_period="monthly", unit="currency")
    nps = await org_kpi(client, "nps", 40, aggregation_period="monthly", unit="percent")
    months = {
        month_start(today, 2): (Decimal(900), Decimal(35)),
        last_month: (Decimal(1200), Decimal(38)),
        this_month: (Decimal("210.5"), Decimal(20)),
    }  # so far: would be off track
    for month, (revenue, score) in months.items():
        await put(client, mrr, month.isoformat(), float(revenue))
        await put(client, nps, month.isoformat(), float(score))
    calls = await define(client, key="calls", aggregation_period="monthly")
    held = await assign(client, calls["id"], "u1", 10, start_date="2020-01-01")
    await put(client, held["id"], last_month.isoformat(), 9)
    await put(client, held["id"], this_month.isoformat(), 1)

    body = await ok(client, "summary")
    assert body["today"] == today.isoformat()
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    start = datetime(this_month.year, this_month.month, 1, tzinfo=UTC)
    length = (
        datetime.combine(month_end(this_month), datetime.min.time(), UTC)
        + timedelta(days=1)
        - start
    )
    for key, column, target, rollup in (
        ("mrr", 0, Decimal(1000), "sum"),
        ("nps", 1, Decimal(40), "avg"),
    ):
        kpi = kpis[key]
        assert kpi["rollup"] == rollup
        assert kpi["current"] == ended_block(
            last_month,
            month_end(last_month),
            months[last_month][column],
            target,
            "higher_better",
            months[month_start(today, 2)][column],
        )
        so_far = months[this_month][column]
        # The pace as every view shows it: the share of the month elapsed when the value was
        # recorded (`as_of`, the measurement's time), a sum divided by it.
        as_of = datetime.fromisoformat(kpi["in_progress"]["pace"]["as_of"])
        share = Decimal((as_of - start) / timedelta(microseconds=1)) / Decimal(
            length / timedelta(microseconds=1)
        )
        projected = q(so_far / share) if rollup == "sum" else so_far
        assert kpi["in_progress"] == {
            "period_start": this_month.isoformat(),
            "period_end": month_end(this_month).isoformat(),
            "is_final": False,
            "value": num(so_far),
            "target": num(target),
            "pace": {
                "elapsed_fraction": num(q(share)),
                "as_of": kpi["in_progress"]["pace"]["as_of"],
                "projected": num(projected),
            },
        }
    # The users' distribution judges last month only.
    monthly = next(p for p in body["periods"] if p["period_kind"] == "monthly")
    assert (monthly["period_start"], monthly["is_final"]) == (last_month.isoformat(), True)
    [dist] = body["distribution"]
    assert counts_of(dist) == tally([(Decimal(9), Decimal(10), "higher_better", Decimal(80))])
    assert all(p["is_final"] for p in body["periods"])


ROLLUPS = {
    "sum": sum,
    "min": min,
    "max": max,
    "avg": lambda xs: sum(xs) / len(xs),
    "last": lambda xs: xs[-1],
}


async def test_a_range_combines_each_kpi_by_its_rollup(client: AsyncClient) -> None:
    rng = random.Random(54)
    months = [date(2026, m, 1) for m in range(1, 8)]  # January to July 2026
    recorded: dict[str, dict[date, Decimal]] = {}
    for rollup in ROLLUPS:
        assignment = await org_kpi(
            client, f"kpi_{rollup}", 100, aggregation_period="monthly", rollup=rollup
        )
        recorded[rollup] = {}
        for month in months:
            if rng.random() < 0.25 and month != date(2026, 5, 1):
                continue  # not measured
            value = Decimal(rng.randint(-50, 500)) / 4
            recorded[rollup][month] = value
            await put(client, assignment, month.isoformat(), float(value))
    weekly = await org_kpi(client, "weekly_sum", 10, aggregation_period="weekly")
    weeks = {date(2026, 3, 2) + timedelta(days=7 * n): Decimal(n + 1) for n in range(10)}
    for week, value in weeks.items():
        await put(client, weekly, week.isoformat(), float(value))

    start, end = date(2026, 2, 10), date(2026, 5, 31)  # wholly inside: March, April, May
    body = await ok(client, "summary", start=start.isoformat(), end=end.isoformat())
    assert (body["start"], body["end"]) == (start.isoformat(), end.isoformat())
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    inside = [m for m in months if start <= m and month_end(m) <= end]
    assert inside == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    for rollup, combine in ROLLUPS.items():
        values = [recorded[rollup][m] for m in inside if m in recorded[rollup]]
        kpi = kpis[f"kpi_{rollup}"]
        assert kpi["range"] == {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rollup": rollup,
            "value": num(q(combine(values))) if values else None,
            "periods_in_range": 3,
            "periods_measured": len(values),
            "includes_in_progress": False,
        }, rollup
        # The latest values: the latest ended period with a value by the range's end (May).
        assert kpi["current"]["period_start"] == "2026-05-01"
        assert kpi["current"]["value"] == num(recorded[rollup][date(2026, 5, 1)])
        assert kpi["in_progress"] is None
    # Weeks lying wholly inside: Mon 2 March to Sun 31 May, of which ten were measured.
    full_weeks = [
        w
        for w in (date(2026, 2, 9) + timedelta(days=7 * n) for n in range(20))
        if start <= w and w + timedelta(days=6) <= end
    ]
    assert kpis["weekly_sum"]["range"]["value"] == num(
        sum(v for w, v in weeks.items() if w in full_weeks)
    )
    assert (
        kpis["weekly_sum"]["range"]["periods_in_range"],
        kpis["weekly_sum"]["range"]["periods_measured"],
    ) == (len(full_weeks), 10)
    assert body["open_alerts"] == []

    # A range holding today: the month in progress counts with its value so far, and is
    # shown beside, with its pace.
    today = datetime.now(UTC).date()
    this_month = month_start(today)
    await put(
        client,
        await org_kpi(client, "late", 5, aggregation_period="monthly"),
        this_month.isoformat(),
        4,
    )
    now = await ok(
        client,
        "summary",
        start=month_start(today, 1).isoformat(),
        end=month_end(this_month).isoformat(),
    )
    late = next(k for k in now["kpis"] if k["definition_key"] == "late")
    assert late["range"]["value"] == 4 and late["range"]["includes_in_progress"] is True
    assert late["in_progress"]["value"] == 4 and late["current"] is None


@pytest.mark.parametrize(
    ("params", "locs"),
    [
        (
            {"date": "2026-02-01", "start": "2026-01-01", "end": "2026-01-31"},
            [["query", "start"], ["query", "end"]],
        ),
        ({"date": "2026-02-01", "end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "2026-01-01"}, [["query", "end"]]),
        ({"end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "2026-02-01", "end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "1899-12-31", "end": "2026-01-31"}, [["query", "start"]]),
        ({"start": "soon", "end": "2026-01-31"}, [["query", "start"]]),
        ({"start": "2026-01-01", "end": "3000-01-01"}, [["query", "end"]]),
        ({"start": "2000-01-01", "end": "2026-01-31"}, [["query", "end"]]),  # over five years
    ],
)
async def test_bad_ranges_are_422_problems_naming_the_field(
    client: AsyncClient, params: dict[str, Any], locs: list[list[str]]
) -> None:
    response = await client.get(URL, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == locs


async def test_a_superseded_organisation_assignment_no_longer_shows_its_later_values(
    client: AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    older, last = month_start(today, 2), month_start(today, 1)
    old = await org_kpi(client, "revenue", 1000, aggregation_period="monthly", unit="currency")
    await put(client, old, older.isoformat(), 900)
    await put(client, old, last.isoformat(), 5000)  # recorded before the new assignment
    definition_id = (await client.get("/api/kpis/definitions/by-key/revenue")).json()["id"]
    await assign(
        client,
        definition_id,
        "default",
        2000,
        subject_type="organization",
        start_date=last.isoformat(),
    )  # supersedes from last month: no value yet
    [kpi] = (await ok(client, "summary", period_kind="monthly"))["kpis"]
    # Last month belongs to the new assignment, which has no value: the latest ended period
    # with a value is the month before, the old assignment's.
    assert (kpi["current"]["period_start"], kpi["current"]["value"]) == (older.isoformat(), 900)
