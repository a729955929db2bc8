"""The demo's subscription ledger (seed 002, read by the saas and revenue packs): customers
starting, upgrading, downgrading, cancelling and coming back, one `subscription` event per
change (`properties.customer_id`, `value` = the customer's MRR from then on, 0 cancels).

It runs month by month from the window's `ledger_start` to its end. Each month a paying
customer may upgrade, downgrade or cancel, a cancelled one may come back, and new customers
start; at least one customer cancels every month (so churn, LTV and the quick ratio always
have a value). A fifth of the changes take effect exactly at local midnight of the 1st, the
instant a month starts (it belongs to that month: README, "Subscription revenue").
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from kpi_service.demo.people import DemoSize, Window, month_start
from kpi_service.demo.product import BILLING_USER
from kpi_service.demo.records import event

# The plans and their monthly prices, cheapest first, and how often a customer picks each.
PLANS = ("basic", "starter", "growth", "pro", "enterprise")
PRICES = tuple(Decimal(price) for price in (49, 99, 199, 499, 999))
PLAN_WEIGHTS = (30, 30, 20, 15, 5)
# Per month: a paying customer's chance to cancel, upgrade and downgrade (cumulative), and a
# cancelled one's chance to come back.
CANCEL, UPGRADE, DOWNGRADE, COMEBACK = 0.04, 0.10, 0.14, 0.12
AT_MONTH_START = 0.2


class Movement(StrEnum):
    """What one change of the ledger does to the customer."""

    NEW = "new"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    CANCEL = "cancel"
    COMEBACK = "comeback"


class Change(NamedTuple):
    """One line of the ledger: the customer's plan, and MRR (0: cancelled) from `at` on."""

    customer: str
    at: datetime
    plan: str
    mrr: Decimal
    movement: Movement


def new_per_month(size: DemoSize) -> int:
    """How many customers start in a month (about): one for every 60 of the demo's users."""
    return max(6, size.customers // 60)


class _Book:
    """The ledger being written: each customer's plan (None once cancelled), the changes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.plans: dict[str, int | None] = {}
        self.changes: list[Change] = []

    def pick(self) -> int:
        return self.rng.choices(range(len(PLANS)), PLAN_WEIGHTS)[0]

    def change(self, customer: str, at: datetime, plan: int | None, movement: Movement) -> None:
        shown = plan if plan is not None else self.plans[customer]
        assert shown is not None  # a cancel names the plan the customer leaves
        mrr = PRICES[plan] if plan is not None else Decimal(0)
        self.changes.append(Change(customer, at, PLANS[shown], mrr, movement))
        self.plans[customer] = plan

    def month(self, first: datetime, last: datetime, new: int) -> None:
        """One month's changes, at instants in [first, last)."""
        rng = self.rng

        def when() -> datetime:
            return first if rng.random() < AT_MONTH_START else first + (last - first) * rng.random()

        cancelled, steady = False, []
        for customer, plan in list(self.plans.items()):
            draw = rng.random()
            if plan is None:
                if draw < COMEBACK:
                    self.change(customer, when(), self.pick(), Movement.COMEBACK)
            elif draw < CANCEL:
                self.change(customer, when(), None, Movement.CANCEL)
                cancelled = True
            elif draw < UPGRADE and plan + 1 < len(PLANS):
                self.change(customer, when(), plan + 1, Movement.UPGRADE)
            elif UPGRADE <= draw < DOWNGRADE and plan > 0:
                self.change(customer, when(), plan - 1, Movement.DOWNGRADE)
            else:
                steady.append(customer)
        if not cancelled and steady:
            self.change(rng.choice(steady), when(), None, Movement.CANCEL)
        for _ in range(new):
            self.change(f"cus-{len(self.plans) + 1:05d}", when(), self.pick(), Movement.NEW)


def ledger(size: DemoSize, window: Window) -> list[Change]:
    """Every change of the ledger, month by month, in the order they were generated."""
    book = _Book(random.Random("demo-ledger"))
    month = window.ledger_start
    while month <= window.last_day:
        after = month_start(month, -1)
        last = window.at(after, 0) if after <= window.last_day else window.end
        new = new_per_month(size) + book.rng.randint(-2, 3)
        book.month(window.at(month, 0), last, new)
        month = after
    return book.changes


def subscription_events(size: DemoSize, window: Window) -> Iterator[dict[str, Any]]:
    """The ledger as `subscription` events of the billing system."""
    rng = random.Random("demo-ledger-ids")
    for change in ledger(size, window):
        yield event(
            rng,
            BILLING_USER,
            None,
            "subscription",
            change.at,
            change.mrr,
            customer_id=change.customer,
            plan=change.plan,
        )
