"""The saas pack on a fresh tenant: fed its contract's events (several users over weeks, a
subscription ledger) and manual values, computed for a closed week and its month: every KPI's
value equals the one worked out here from the events sent; its alert templates fire above
their thresholds and not at or under them; installing twice changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import partial
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.packs.registry import PACKS
from tests.support.alerts import ALERTS, run_and_settle
from tests.support.api import ingest, listed, recalculate, record
from tests.support.expected import month_end, q
from tests.support.packs import (
    MONTH_START,
    MONTHS,
    assert_installing_again_changes_nothing,
    install,
    outcomes,
    pack_event,
    stored_by_key,
    subscription_events,
)
from tests.support.subscription import figures, ledger

Event = dict[str, Any]
DAYS = [date(2026, 11, 9) + timedelta(days=n) for n in range(7)]
USERS = [f"u{n}" for n in range(1, 13)]
# Each activation action and the KPI counting the users who took it.
ACTIONS = {
    "file_upload": "saas_users_uploaded_file",
    "worklog_create": "saas_users_created_worklog",
    "report_generate": "saas_users_generated_report",
}
# The figures recorded by hand for November.
MANUAL = {
    "saas_burn_rate": Decimal("84250.50"),
    "saas_runway_months": Decimal(14),
    "saas_outstanding_invoices": Decimal(7),
    "saas_outstanding_invoices_value": Decimal("12999.99"),
}


def at(day: date, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute)


def random_times(rng: random.Random, day: date, low: int, high: int) -> list[datetime]:
    """From low to high random instants of the day, on whole minutes (midnight included)."""
    return [at(day, rng.randint(0, 1439)) for _ in range(rng.randint(low, high))]


def generated_events(seed: int) -> list[Event]:
    """Logins from five weeks before the week (for the rolling windows), everything else on
    the days of the week and the days either side of it, at random minutes and on midnights."""
    rng = random.Random(seed)
    out: list[Event] = []
    day = date(2026, 10, 5)
    while day <= date(2026, 11, 16):
        for user in rng.sample(USERS, rng.randint(2, 8)):
            out += [pack_event("login", at(day, rng.randint(0, 1439)), user)]
        day += timedelta(days=1)
    # A login exactly at the week's first instant and one a microsecond before it.
    out += [
        pack_event("login", at(DAYS[0]), "u1"),
        pack_event("login", at(DAYS[0]) - timedelta.resolution),
    ]
    for day in [DAYS[0] - timedelta(days=1), *DAYS, DAYS[-1] + timedelta(days=1)]:
        times = partial(random_times, rng, day)
        n = rng.randint(0, 99)
        out += [pack_event("signup", t, f"new{n}-{i}") for i, t in enumerate(times(0, 3))]
        out += [
            pack_event("activation", t, rng.choice(USERS), action=rng.choice(list(ACTIONS)))
            for t in times(1, 8)
        ]
        out += [pack_event("trial_started", t, rng.choice(USERS)) for t in times(0, 3)]
        out += [pack_event("trial_converted", t, rng.choice(USERS)) for t in times(0, 2)]
        out += [
            pack_event(
                "job",
                t,
                status=rng.choice(["succeeded"] * 4 + ["failed"]),
                duration_sec=rng.choice([rng.randint(1, 900), round(rng.uniform(1, 900), 1)]),
            )
            for t in times(3, 9)
        ]
        out += [
            pack_event("api_request", t, error=rng.random() < 0.1, latency_ms=rng.randint(20, 900))
            for t in times(8, 25)
        ]
        out += [pack_event("payment_failed", t) for t in times(0, 6)]
        out += [
            pack_event(
                "ai_usage",
                t,
                rng.choice(USERS),
                tokens=rng.randint(100, 5000),
                cost_usd=round(rng.uniform(0.001, 2), 4),
            )
            for t in times(1, 4)
        ]
    return out


def on(events: list[Event], kind: str, first: date, last: date) -> list[Event]:
    """The events of a type on the local (UTC) days first to last."""
    return [
        e
        for e in events
        if e["type"] == kind and first <= datetime.fromisoformat(e["occurred_at"]).date() <= last
    ]


def p95(xs: list[Decimal]) -> Decimal:
    # Continuous, as PostgreSQL's percentile_cont: between the two closest ranks.
    xs = sorted(xs)
    position = Decimal("0.95") * (len(xs) - 1)
    low = int(position)
    if low + 1 == len(xs):
        return xs[low]
    return xs[low] + (xs[low + 1] - xs[low]) * (position - low)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else q(part * 100 / whole)


def daily(events: list[Event], day: date) -> dict[str, Decimal | None]:
    """Each daily KPI's value for the day, from the events sent."""

    def of(kind: str, days: int = 1) -> list[Event]:
        return on(events, kind, day - timedelta(days=days - 1), day)

    def users(rows: list[Event]) -> Decimal:
        return Decimal(len({e["user_id"] for e in rows}))

    def prop(rows: list[Event], name: str) -> list[Decimal]:
        return [Decimal(str(e["properties"][name])) for e in rows]

    jobs, requests, ai = of("job"), of("api_request"), of("ai_usage")
    succeeded = Decimal(sum(1 for e in jobs if e["properties"]["status"] == "succeeded"))
    failed = Decimal(sum(1 for e in jobs if e["properties"]["status"] == "failed"))
    errors = Decimal(sum(1 for e in requests if e["properties"]["error"] is True))
    durations = prop(jobs, "duration_sec")
    dau, mau = users(of("login")), users(of("login", 30))
    with localcontext() as ctx:
        ctx.prec = 60
        values = {
            "saas_dau": dau,
            "saas_wau": users(of("login", 7)),
            "saas_mau": mau,
            "saas_stickiness": percent(dau, mau),
            "saas_signups": Decimal(len(of("signup"))),
            "saas_activated_users": users(of("activation")),
            "saas_trials_started": Decimal(len(of("trial_started"))),
            "saas_trials_converted": Decimal(len(of("trial_converted"))),
            "saas_jobs_total": Decimal(len(jobs)),
            "saas_jobs_succeeded": succeeded,
            "saas_jobs_failed": failed,
            "saas_job_duration": q(sum(durations, Decimal(0)) / len(durations)),
            "saas_job_success_rate": percent(succeeded, Decimal(len(jobs))),
            "saas_job_failure_rate": percent(failed, Decimal(len(jobs))),
            "saas_api_requests": Decimal(len(requests)),
            "saas_api_errors": errors,
            "saas_api_error_rate": percent(errors, Decimal(len(requests))),
            "saas_api_latency_p95": q(p95(prop(requests, "latency_ms"))),
            "saas_payment_failures": Decimal(len(of("payment_failed"))),
            "saas_ai_tokens": sum(prop(ai, "tokens"), Decimal(0)),
            "saas_ai_cost": sum(prop(ai, "cost_usd"), Decimal(0)),
        }
    for action, key in ACTIONS.items():
        values[key] = users([e for e in of("activation") if e["properties"]["action"] == action])
    return values


def customers(events: list[Event], month: date) -> dict[str, Decimal | None]:
    """The customer KPIs of a month, from the subscription ledger (tests/support/subscription)."""
    f = figures(ledger(events), "UTC", month, month_end(month))
    churn = Fraction(f["n_churn"] * 100, f["customers_start"]) if f["customers_start"] else None
    return {
        "saas_customers": Decimal(f["customers_end"]),
        "saas_new_customers": Decimal(f["n_new"]),
        "saas_churned_customers": Decimal(f["n_churn"]),
        "saas_reactivated_customers": Decimal(f["n_react"]),
        "saas_customer_churn_rate": None
        if churn is None
        else q(Decimal(churn.numerator) / churn.denominator),
    }


async def test_every_saas_kpi_has_the_value_of_its_events(client: AsyncClient) -> None:
    events = generated_events(14) + subscription_events()
    await ingest(client, events)
    report = await install(client, "saas")
    assert set(outcomes(report).values()) == {"created"}
    # Every KPI of the pack is the organisation's, tracked without a target.
    made = report["assignments_created"]
    pack = PACKS.get("saas")
    assert pack is not None
    assert sorted(a["definition_key"] for a in made) == sorted(pack.keys)
    held = {a["definition_id"]: a for a in await listed(client, "/api/kpis/assignments")}
    assert {(a["subject_type"], a["target_value"]) for a in held.values()} == {
        ("organization", None)
    }
    ids = {a["definition_key"]: a["assignment_id"] for a in made}
    for key, value in MANUAL.items():
        await record(client, ids[key], MONTH_START, value)

    run = await recalculate(
        client, period_start=DAYS[0].isoformat(), period_end=DAYS[-1].isoformat()
    )
    assert run["status"] == "succeeded", run

    stored = await stored_by_key(client)
    want = {(k, d.isoformat()): v for d in DAYS for k, v in daily(events, d).items()}
    want |= {(k, MONTH_START): v for k, v in customers(events, MONTHS[-1]).items()}
    want |= {(k, MONTH_START): v for k, v in MANUAL.items()}
    assert {k for k, _ in want} == {k for k, _, _ in stored}  # every KPI of the pack
    assert None not in want.values()  # every KPI has a value
    assert len(stored) == len(want)
    assert {(k, p): stored[(k, "default", p)] for k, p in want} == {
        k: q(v) for k, v in want.items() if v is not None
    }
    # By hand: November opens with 5 paying customers (A, C, D, G, I); D churns: 20 %.
    assert stored[("saas_customer_churn_rate", "default", MONTH_START)] == 20


async def test_installing_the_saas_pack_twice_changes_nothing(
    client: AsyncClient, db: Database
) -> None:
    await ingest(client, subscription_events())
    first = await install(client, "saas")
    await assert_installing_again_changes_nothing(client, db, "saas", first)


def crafted_events() -> list[Event]:
    """Under the thresholds on 10 November (4 payment failures, exactly 5 % API errors,
    exactly 10 % failed jobs), over them on the 11th, well under on the 12th."""
    d10, d11, d12 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
    out = [pack_event("payment_failed", at(d10, n)) for n in range(4)]
    out += [pack_event("payment_failed", at(d11, n)) for n in range(5)]
    for day, requests, errors, jobs, failed in (
        (d10, 20, 1, 10, 1),
        (d11, 50, 3, 9, 1),
        (d12, 10, 0, 5, 0),
    ):
        out += [pack_event("api_request", at(day, n), error=n < errors) for n in range(requests)]
        out += [
            pack_event("job", at(day, n), status="failed" if n < failed else "succeeded")
            for n in range(jobs)
        ]
    return out + subscription_events()


CHURN_SPIKE = "SaaS: churn spike"
DAILY_RULES = (
    "SaaS: 5 or more payment failures in a day",
    "SaaS: API error rate above 5%",
    "SaaS: job failure rate above 10%",
)


def breaching(events: list[Event], period: date, monthly: bool) -> set[str]:
    """The templates whose KPI is over seed 001's threshold in the period, worked out here."""
    if monthly:
        churn = customers(events, period)["saas_customer_churn_rate"]
        return {CHURN_SPIKE} if churn is not None and churn > 20 else set()
    failures = len(on(events, "payment_failed", period, period))
    requests, jobs = on(events, "api_request", period, period), on(events, "job", period, period)
    errors = sum(1 for e in requests if e["properties"]["error"] is True)
    failed = sum(1 for e in jobs if e["properties"]["status"] == "failed")
    over = (
        failures >= 5,
        bool(requests) and Fraction(errors * 100, len(requests)) > 5,
        bool(jobs) and Fraction(failed * 100, len(jobs)) > 10,
    )
    return {name for name, is_over in zip(DAILY_RULES, over, strict=True) if is_over}


async def test_the_alert_templates_fire_over_seed_001s_thresholds_only(
    client: AsyncClient,
) -> None:
    events = crafted_events()
    await ingest(client, events)
    report = await install(client, "saas", {"start_date": "2026-09-01"})
    rules = {r["name"]: r["rule_id"] for r in report["rules_created"]}
    assert set(rules) == {CHURN_SPIKE, *DAILY_RULES}
    # September's churn is 25 % (I of A, B, D, I), October's 20 %: the spike opens, then
    # clears; the 10th is under every daily threshold, the 11th over each, the 12th under.
    steps = [(MONTHS[0], True), (MONTHS[1], True)]
    steps += [(date(2026, 11, d), False) for d in (10, 11, 12)]
    expected: set[str] = set()
    for period, monthly in steps:
        judged = {CHURN_SPIKE} if monthly else set(DAILY_RULES)
        await run_and_settle(
            client,
            rules=[rules[name] for name in judged],
            period_start=period.isoformat(),
            period_kind="monthly" if monthly else "daily",
        )
        expected = (expected - judged) | breaching(events, period, monthly)
        alerts = await listed(client, ALERTS)
        assert {a["rule_name"] for a in alerts if a["status"] == "firing"} == expected, period
    assert expected == set()
    fired = {(a["rule_name"], a["period_start"]) for a in await listed(client, ALERTS)}
    assert fired == {
        (CHURN_SPIKE, "2026-09-01"),
        *((name, "2026-11-11") for name in DAILY_RULES),
    }
