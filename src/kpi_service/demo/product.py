"""The product's operations in the demo (seed 001's executive dashboard): background jobs
with their status and duration, API requests with errors and latency, AI usage and failed
payments, every day of the events window, busier on working days, from a fixed seed.

They are the service accounts' events (`svc-*`): no customer signs up as one, so they join
no cohort.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from typing import Any

from kpi_service.demo.people import Window, days
from kpi_service.demo.records import event

JOBS_USER, API_USER, AI_USER, BILLING_USER = "svc-jobs", "svc-api", "svc-ai", "svc-billing"
# Per day (working day, weekend day): the range of jobs, API requests and AI calls.
JOBS = {True: (20, 40), False: (8, 15)}
REQUESTS = {True: (50, 90), False: (20, 35)}
AI_CALLS = {True: (10, 25), False: (3, 8)}
# One day in this many has a bad deploy: more failed jobs and API errors.
INCIDENT_EVERY = 23


def operations_events(window: Window) -> Iterator[dict[str, Any]]:
    """Every day's jobs, API requests, AI usage and failed payments, day by day."""
    rng = random.Random("demo-operations")
    for n, day in enumerate(days(window.events_start, window.last_day)):
        busy = day.weekday() < 5
        incident = n % INCIDENT_EVERY == INCIDENT_EVERY - 1
        yield from _jobs(rng, window, day, busy, incident)
        yield from _requests(rng, window, day, busy, incident)
        for _ in range(rng.randint(*AI_CALLS[busy])):
            tokens = int(rng.lognormvariate(8, 0.8))
            yield event(
                rng,
                AI_USER,
                None,
                "ai_usage",
                window.at(day, rng.uniform(0, 24)),
                tokens=tokens,
                cost_usd=round(tokens * 0.000015, 6),
            )
        # Mostly none or one; a run of card expiries now and then (5 or more: an alert).
        failures = 5 + rng.randint(0, 2) if incident else rng.choice((0, 0, 0, 1, 1, 2))
        for _ in range(failures):
            at = window.at(day, rng.uniform(0, 24))
            yield event(rng, BILLING_USER, None, "payment_failed", at)


def _jobs(
    rng: random.Random, window: Window, day: date, busy: bool, incident: bool
) -> Iterator[dict[str, Any]]:
    failing = 0.15 if incident else 0.03
    for _ in range(rng.randint(*JOBS[busy])):
        yield event(
            rng,
            JOBS_USER,
            None,
            "job",
            window.at(day, rng.uniform(0, 24)),
            status="failed" if rng.random() < failing else "succeeded",
            duration_sec=round(rng.lognormvariate(3.5, 0.6), 1),
        )


def _requests(
    rng: random.Random, window: Window, day: date, busy: bool, incident: bool
) -> Iterator[dict[str, Any]]:
    erring = 0.08 if incident else 0.01
    for _ in range(rng.randint(*REQUESTS[busy])):
        slow = rng.random() < 0.05
        yield event(
            rng,
            API_USER,
            None,
            "api_request",
            window.at(day, rng.uniform(0, 24)),
            error=rng.random() < erring,
            latency_ms=round(rng.lognormvariate(5.5 if slow else 4.2, 0.4), 1),
        )
