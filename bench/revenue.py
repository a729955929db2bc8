"""Revenue benchmark: the subscription calculator and windows, against their floors.

    python -m bench.revenue [--scale 0.1] [--repeat 3]

Subscription: the revenue pack's `revenue_mrr` for the ledger's last month (one statement),
and its 20 KPIs for that month (one statement each, as a run computes them), through the
service's calculator; against the floor (counting the ledger's events up to the month's end)
and MRR written by hand. Windows: the saas pack's `saas_mau` (distinct users who logged in
over the 30 days ending on the day) for one day and for each of 30 days, through the event
calculator; against the floor (one `count(DISTINCT user_id)` over those 30 days).

Each contender runs in a fresh interpreter (its peak RSS is its own) after an ANALYZE and a
CHECKPOINT, does its work `--repeat` times (the table shows the median pass), then runs its
statements once more under EXPLAIN (ANALYZE, BUFFERS). The values must agree: the script
checks it and exits 1 when they do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_WORKDIR,
    built_data_set,
    fetch_one,
    in_fresh_interpreter,
    plain_dsn,
    settle,
)
from bench.figures import load_line, markdown_table
from bench.revenue_contenders import (
    DISTINCT_LOGINS,
    LEDGER_COUNT,
    MRR_BY_HAND,
    UTC_ZONE,
    Work,
    by_hand,
    calculated,
)
from bench.revenue_dataset import (
    DAY,
    DAYS,
    LEDGER_END,
    LEDGER_FIRST,
    LOGIN_DAYS,
    LOGINS_FIRST,
    MONTH,
    RevenueSpec,
    build_revenue_data_set,
    window_of,
)
from kpi_service.engine.subscription import METRICS

FULL = RevenueSpec(customers=20_000, others_per_ledger_event=5, users=10_000, logins=2_000_000)
MRR_KEY = "revenue_mrr"
REVENUE_KEYS = [f"revenue_{metric}" for metric in METRICS]
MAU_KEY = "saas_mau"


@dataclass(frozen=True, slots=True)
class Contender:
    """One line of a table: a name, its work and the peak RSS of its process."""

    name: str
    work: Work
    rss_mb: float

    def value(self, label: str) -> Decimal:
        """The value the contender found under `label`."""
        return Decimal(self.work.values[label])


def contender(dsn: str, name: str, function: Callable[..., Work], *args: Any) -> Contender:
    """`function(*args)` from a settled database, in a fresh interpreter."""
    asyncio.run(settle(dsn))
    work, rss = in_fresh_interpreter(function, *args)
    print(f"  {name}: {work.seconds:.3f} s", flush=True)
    return Contender(name, work, rss)


def subscription_contenders(url: str, repeat: int) -> list[Contender]:
    """The floor, revenue_mrr, the 20 revenue KPIs and MRR by hand, for the bench month."""
    dsn, month, end = plain_dsn(url), [MONTH.start], MONTH.instants(UTC_ZONE)[1]
    return [
        contender(
            dsn,
            "floor: count(*) of the ledger",
            by_hand,
            dsn,
            [("n", LEDGER_COUNT, (end,))],
            repeat,
        ),
        contender(dsn, f"calculator: {MRR_KEY}", calculated, url, [MRR_KEY], month, repeat),
        contender(
            dsn,
            f"calculator: the {len(REVENUE_KEYS)} revenue KPIs",
            calculated,
            url,
            REVENUE_KEYS,
            month,
            repeat,
        ),
        contender(
            dsn, "by hand: MRR (DISTINCT ON)", by_hand, dsn, [("mrr", MRR_BY_HAND, (end,))], repeat
        ),
    ]


def window_contenders(url: str, repeat: int) -> list[Contender]:
    """The floor, saas_mau of the bench day and of each day of its month."""
    dsn = plain_dsn(url)
    floor = [("n", DISTINCT_LOGINS, window_of(DAY).instants(UTC_ZONE))]
    return [
        contender(dsn, "floor: count(DISTINCT user_id), 30 days", by_hand, dsn, floor, repeat),
        contender(dsn, f"calculator: {MAU_KEY}, 1 day", calculated, url, [MAU_KEY], [DAY], repeat),
        contender(
            dsn,
            f"calculator: {MAU_KEY}, {len(DAYS)} days",
            calculated,
            url,
            [MAU_KEY],
            DAYS,
            repeat,
        ),
    ]


HEADERS = [
    "contender",
    "statements",
    "s",
    "ms/statement",
    "server ms",
    "rows read",
    "buffers MB",
    "temp MB",
    "peak RSS MB",
    "x floor",
]


def table(contenders: list[Contender]) -> str:
    """The contenders side by side, the floor first: the median pass, what PostgreSQL did in
    one pass (EXPLAIN), and the process's peak memory."""
    floor = contenders[0].work.seconds
    rows = []
    for c in contenders:
        plan = c.work.plan
        rows.append(
            [
                c.name,
                plan.statements,
                c.work.seconds,
                c.work.seconds * 1000 / max(1, plan.statements),
                plan.execution_ms,
                plan.rows_read,
                plan.buffers_mb,
                plan.temp_mb,
                c.rss_mb,
                c.work.seconds / floor,
            ]
        )
    return markdown_table(HEADERS, rows)


# -------------------------------------------------------------------------- the checks

Check = tuple[str, bool]
_MOVEMENTS = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")


def subscription_checks(contenders: list[Contender]) -> list[Check]:
    """MRR three ways, the 20 statements' figures alike, and the MRR identity."""
    floor, mrr, revenue, hand = contenders
    label = f"{MRR_KEY} {MONTH.start}"
    one, of_all, written = mrr.value(label), revenue.value(label), hand.value("mrr")
    figures = revenue.work.details[label]
    alike = {
        json.dumps({k: v for k, v in d.items() if k != "metric"}, sort_keys=True)
        for d in revenue.work.details.values()
    }
    new, reactivation, expansion, contraction, churned = (Decimal(figures[k]) for k in _MOVEMENTS)
    start, end = Decimal(figures["mrr_start"]), Decimal(figures["mrr_end"])
    moved = start + new + reactivation + expansion - contraction - churned
    return [
        (
            f"ledger: {int(floor.value('n')):,} events up to {MONTH.end}; "
            f"{figures['customers_end']:,} customers paying at the end",
            floor.value("n") > 0 and figures["customers_end"] > 0,
        ),
        (
            f"MRR at the month's end: {MRR_KEY} {one}, among the 20 {of_all}, by hand {written}",
            one == of_all == written,
        ),
        (
            f"the {len(revenue.work.details)} statements measured the same figures "
            f"({len(alike)} distinct)",
            len(alike) == 1 and len(revenue.work.details) == len(REVENUE_KEYS),
        ),
        (
            f"MRR identity: {start} + {new} + {reactivation} + {expansion} - {contraction} "
            f"- {churned} = {moved} (MRR at the end {end})",
            moved == end,
        ),
    ]


def window_checks(contenders: list[Contender], dsn: str) -> list[Check]:
    """The bench day's MAU from the calculator (alone and in its month) equals the floor's;
    so does the month's first day's, counted by hand."""
    floor, day, month = contenders
    first = window_of(DAYS[0]).instants(UTC_ZONE)
    by_hand = Decimal(asyncio.run(fetch_one(dsn, DISTINCT_LOGINS, *first))["count"])
    series = [month.value(f"{MAU_KEY} {d}") for d in DAYS]
    return [
        (
            f"MAU of {DAY}: calculator {day.value(f'{MAU_KEY} {DAY}')}, in its month "
            f"{series[-1]}, floor {floor.value('n')}",
            day.value(f"{MAU_KEY} {DAY}") == series[-1] == floor.value("n") > 0,
        ),
        (f"MAU of {DAYS[0]}: calculator {series[0]}, by hand {by_hand}", series[0] == by_hand),
        (
            f"MAU over the month: {min(series)} to {max(series)}",
            len(series) == len(DAYS),
        ),
    ]


# --------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.revenue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply customers, users and logins (default 1: 20k, 10k, 2M)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="passes per contender; the median is shown"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"embedded server (default {DEFAULT_WORKDIR})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = FULL.scaled(args.scale)
    print("machine:", load_line())
    print(
        f"revenue: ledger of {spec.customers:,} customers {LEDGER_FIRST}..{LEDGER_END} "
        f"(exclusive) with {spec.others_per_ledger_event}x other events; {spec.logins:,} logins "
        f"of {spec.users:,} users over {LOGIN_DAYS} days from {LOGINS_FIRST}"
    )
    with built_data_set(
        "kpi_bench_revenue", args.workdir, lambda dsn: build_revenue_data_set(dsn, spec)
    ) as (url, dsn):
        print(f"subscription, month {MONTH.start}..{MONTH.end}:")
        revenue = subscription_contenders(url, args.repeat)
        print(f"windows, rolling 30-day MAU, {DAYS[0]}..{DAY}:")
        windows = window_contenders(url, args.repeat)
        checks = subscription_checks(revenue) + window_checks(windows, dsn)
    print()
    print(f"Subscription, month {MONTH.start}..{MONTH.end}:\n\n{table(revenue)}\n")
    print(f"Windows, rolling 30-day MAU ending {DAY}:\n\n{table(windows)}\n")
    for line, ok in checks:
        print(("agree: " if ok else "DISAGREE: ") + line)
    print("machine:", load_line())
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
