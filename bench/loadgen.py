"""A closed-loop HTTP load generator: N workers, each sending its next GET as soon as the last
one is answered, over N keep-alive connections (asyncio + httpx, uvloop when installed).

Usage:
    .venv/bin/python -m bench.loadgen BASE_URL PATHS_JSON [--concurrency 32]
        [--duration 20] [--warmup 3] [--header "Name: value"]

PATHS_JSON is a file holding a JSON list of paths; worker k sends paths k, k + N, k + 2N, ...
(wrapping around). Requests that start during the first `--warmup` seconds are not counted.
Prints one JSON object: requests, errors (non-200 answers and transport errors), seconds,
requests per second and latency percentiles in milliseconds. Runs for a bounded time only,
against the address it is given (meant for 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Tally:
    """What the workers saw after the warm-up."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what[:300])


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


async def _worker(
    client: httpx.AsyncClient,
    paths: list[str],
    first: int,
    step: int,
    counted_from: float,
    stop_at: float,
    tally: Tally,
) -> None:
    index = first
    while (started := time.perf_counter()) < stop_at:
        path = paths[index % len(paths)]
        index += step
        try:
            response = await client.get(path)
            failure = (
                None
                if response.status_code == 200
                else f"{response.status_code} {path}: {response.text[:200]}"
            )
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__} {path}: {exc}"
        if started < counted_from:
            continue
        tally.latencies.append(time.perf_counter() - started)
        if failure is not None:
            tally.error(failure)


async def run(
    base_url: str,
    paths: list[str],
    concurrency: int,
    duration: float,
    warmup: float,
    headers: dict[str, str],
) -> dict[str, Any]:
    """Load the server for `warmup + duration` seconds; the figures of the last `duration`."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    tally = Tally()
    cpu_before = time.process_time()
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, headers=headers, timeout=30.0
    ) as client:
        now = time.perf_counter()
        counted_from, stop_at = now + warmup, now + warmup + duration
        await asyncio.gather(
            *(
                _worker(client, paths, k, concurrency, counted_from, stop_at, tally)
                for k in range(concurrency)
            )
        )
        # Requests counted are those started in the window; the last ones end a little after.
        seconds = max(time.perf_counter(), stop_at) - counted_from
    ordered = sorted(tally.latencies)
    return {
        "requests": len(ordered),
        "errors": tally.errors,
        "first_errors": tally.first_errors,
        "seconds": round(seconds, 3),
        "rps": round(len(ordered) / seconds, 1),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else math.nan,
        "concurrency": concurrency,
        # This process's own CPU per request: on a shared machine it is taken from the server.
        "client_cpu_ms": round(
            (time.process_time() - cpu_before)
            / max(len(ordered), 1)
            * duration
            / (duration + warmup)
            * 1000,
            2,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.loadgen", description=__doc__.split("\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("paths", type=Path)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 1000 or not 0 < args.duration <= 600:
        parser.error("concurrency 1 to 1000, duration up to 600 seconds")
    paths = json.loads(args.paths.read_text())
    headers = dict(h.split(": ", 1) for h in args.header)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(
            run(args.base_url, paths, args.concurrency, args.duration, args.warmup, headers)
        )
    else:
        result = uvloop.run(
            run(args.base_url, paths, args.concurrency, args.duration, args.warmup, headers)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
