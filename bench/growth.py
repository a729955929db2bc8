"""Growth benchmark: the batch benchmark at 1M, 2M and 5M events.

    python -m bench.growth [--scale 0.1] [--sizes 1,2,5] [--skip-seed]

Users stay at 10,000 (5 KPIs each); support cases grow with the events, 2 for every 5 as
in the batch benchmark, so its 5M point is the batch data set. Each size gets a fresh
database. The time per event of a contender should stay roughly flat as data grows.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.batch import run_contenders
from bench.batch_report import Outcome, agreement_lines, agrees
from bench.common import DEFAULT_WORKDIR, bench_database, plain_dsn
from bench.dataset import DataSpec, build_data_set
from bench.figures import load_line, markdown_table

USERS = 10_000
CASES_PER_EVENT = 0.4


def spec_for(million_events: float, scale: float) -> DataSpec:
    """The data set at that many million events (before scaling)."""
    events = round(million_events * 1_000_000)
    return DataSpec(USERS, round(events * CASES_PER_EVENT), events).scaled(scale)


def measure(spec: DataSpec, workdir: Path, *, with_seed: bool) -> tuple[float, Outcome]:
    """Build the data set in a fresh database and run the contenders on it."""
    with bench_database("kpi_bench_growth", workdir) as url:
        build = asyncio.run(build_data_set(plain_dsn(url), spec))
        outcome = run_contenders(url, workdir, with_seed=with_seed, rerun=False)
    return sum(build.values()), outcome


def row(spec: DataSpec, build_seconds: float, outcome: Outcome) -> list[Any]:
    """One line of the growth table: seconds, and microseconds per event."""
    engine, floor, seed = (outcome.result(p) for p in ("engine (", "floor", "seed"))
    assert engine is not None and floor is not None
    run = engine.run_seconds or engine.seconds

    def per_event(seconds: float | None) -> float | None:
        return None if seconds is None else seconds / spec.events * 1e6

    return [
        spec.events,
        spec.cases,
        build_seconds,
        engine.seconds,
        run,
        floor.seconds,
        seed.seconds if seed else None,
        per_event(engine.seconds),
        per_event(run),
        per_event(floor.seconds),
        per_event(seed.seconds if seed else None),
        run / floor.seconds,
        engine.rss_mb,
    ]


HEADERS = [
    "events",
    "cases",
    "build s",
    "engine wall s",
    "engine run s",
    "floor s",
    "seed s",
    "engine wall us/event",
    "engine run us/event",
    "floor us/event",
    "seed us/event",
    "engine run / floor",
    "engine peak RSS MB",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.growth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", default="1,2,5", help="millions of events, comma-separated (default 1,2,5)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply users, cases and events (default 1)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"embedded server and logs (default {DEFAULT_WORKDIR})",
    )
    parser.add_argument("--skip-seed", action="store_true", help="leave out the seed's design")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("machine:", load_line())
    rows, ok = [], True
    for size in (float(s) for s in args.sizes.split(",")):
        spec = spec_for(size, args.scale)
        print(
            f"growth: {spec.users:,} users, {spec.cases:,} cases, {spec.events:,} events",
            flush=True,
        )
        build_seconds, outcome = measure(spec, args.workdir, with_seed=not args.skip_seed)
        print("  " + "\n  ".join(agreement_lines(outcome.check, outcome.with_seed)), flush=True)
        ok = ok and agrees(outcome.check, outcome.with_seed)
        rows.append(row(spec, build_seconds, outcome))
    print()
    print(markdown_table(HEADERS, rows))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
