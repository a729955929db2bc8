"""The soak's report: latency per window, class and read kind, memory, backfills and
events, as plain values (JSON) and as GitHub Markdown."""

from __future__ import annotations

import argparse
import math
import subprocess
from typing import Any

from bench.figures import load_line, markdown_table
from bench.loadgen import percentile
from bench.soak_traffic import (
    BACKFILL_AT,
    BACKFILL_DAYS,
    BATCH,
    CLASSES,
    READS,
    WEIGHTS,
    Catalog,
    Tally,
)


def _ms(values: list[float], share: float) -> float | None:
    return round(percentile(values, share) * 1000, 1) if values else None


def _latencies(
    samples: list[tuple[float, str, str, float]], cls: str | None, start: float, end: float
) -> list[float]:
    """The sorted seconds of the requests of a class or a read kind (None: all) started in
    [start, end)."""
    return sorted(s for at, c, k, s in samples if start <= at < end and cls in (None, c, k))


def _stats(
    samples: list[tuple[float, str, str, float]], cls: str | None, duration: float
) -> dict[str, Any]:
    """Latency of a class or read kind over the duration, and p99 of its first and last
    thirds."""
    values = _latencies(samples, cls, 0, duration)
    first = _ms(_latencies(samples, cls, 0, duration / 3), 0.99)
    last = _ms(_latencies(samples, cls, duration * 2 / 3, duration), 0.99)
    return {
        "requests": len(values),
        "rps": round(len(values) / duration, 1),
        "p50_ms": _ms(values, 0.5),
        "p95_ms": _ms(values, 0.95),
        "p99_ms": _ms(values, 0.99),
        "max_ms": _ms(values, 1.0),
        "p99_first_third_ms": first,
        "p99_last_third_ms": last,
        "p99_last_over_first": round(last / first, 2) if first and last else None,
    }


def summarize(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Windows, classes, memory, backfills and checks, as plain values."""
    tally: Tally = raw["tally"]
    samples, ends, runs = raw["samples"], raw["ends"], raw["runs"]
    windows, start = [], 0.0
    for end in ends:
        before, after = samples[start], samples[end]
        row: dict[str, Any] = {
            "start_s": start,
            "end_s": end,
            "requests": len(_latencies(tally.samples, None, start, end)),
            "errors": sum(start <= at < end for at in tally.error_times),
        }
        for cls in (None, *CLASSES):
            values = _latencies(tally.samples, cls, start, end)
            row[cls or "all"] = [_ms(values, q) for q in (0.5, 0.95, 0.99)]
        seconds = after["at_s"] - before["at_s"] or 1
        row.update(
            rps=round(row["requests"] / (end - start), 1),
            rss_mb=round(after["VmRSS"]),
            cpu_pct=round((after["cpu_s"] - before["cpu_s"]) / seconds * 100),
            db_cpu_pct=(
                round((after["db_cpu_s"] - before["db_cpu_s"]) / seconds * 100)
                if after["db_cpu_s"] is not None
                else None
            ),
            backfill=any(
                r.get("requested_at_s", math.inf) < end and r.get("ended_at_s", math.inf) > start
                for r in runs
            ),
        )
        windows.append(row)
        start = end
    classes = {cls or "all": _stats(tally.samples, cls, args.duration) for cls in (*CLASSES, None)}
    reads = {kind: _stats(tally.samples, kind, args.duration) for kind in READS}
    warm = _latencies(tally.samples, None, -math.inf, 0)
    memory = {
        "start_mb": samples[0.0]["VmRSS"],
        "middle_mb": samples[args.duration / 2]["VmRSS"],
        "end_mb": samples[ends[-1]]["VmRSS"],
        "peak_mb": samples[ends[-1]]["VmHWM"],
    }
    memory = {k: round(v, 1) for k, v in memory.items()}
    memory["growth_mb"] = round(memory["end_mb"] - memory["start_mb"], 1)
    cat: Catalog = raw["catalog"]
    errors = sum(tally.errors.values())
    ok = (
        errors == 0 and raw["events"]["match"] and all(r.get("status") == "succeeded" for r in runs)
    )
    return {
        "ok": ok,
        "commit": _commit(),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "window_s": args.window,
            "concurrency": args.concurrency,
            "weights": dict(zip(CLASSES, WEIGHTS, strict=True)),
            "reads": READS,
            "event_batch": BATCH,
            "seed": args.seed,
            "backfill_at": BACKFILL_AT,
            "backfill_days": BACKFILL_DAYS,
        },
        "demo": {
            "agents": args.demo_users,
            "build_s": round(raw["build_s"], 1),
            "definitions": cat.definitions,
            "assignments": cat.assignments,
            "manual_periods": len(cat.manual),
            "closed_periods_skipped": cat.closed_skipped,
            "event_types": sorted(cat.event_types),
        },
        "load_before": raw["load_before"],
        "load_after": load_line(),
        "warmup": {"requests": len(warm), "p99_ms": _ms(warm, 0.99)},
        "windows": windows,
        "classes": classes,
        "reads": reads,
        "memory": memory,
        "backfills": runs,
        "events": raw["events"],
        "requests": dict(tally.requests),
        "errors": {"count": errors, "by_class": tally.errors, "first": tally.first_errors},
        "client_cpu_s": round(samples[ends[-1]]["client_cpu_s"] - samples[0.0]["client_cpu_s"], 1),
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _triple(values: list[float | None]) -> str:
    return " / ".join("-" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in values)


def markdown(report: dict[str, Any]) -> str:
    """The report as GitHub Markdown, tables ready for docs/performance.md."""
    s, demo, m, ev = report["settings"], report["demo"], report["memory"], report["events"]
    head = [
        f"Soak at commit `{report['commit']}`: {s['duration_s']:.0f} s after {s['warmup_s']:.0f}"
        f" s of warm-up, {s['concurrency']} closed-loop workers (weights read {WEIGHTS[0]}, "
        f"write {WEIGHTS[1]}, ingest {WEIGHTS[2]} of {BATCH} events), one service process; "
        f"demo of {demo['agents']} agents ({demo['definitions']} KPIs, "
        f"{demo['assignments']} assignments, built in {demo['build_s']:.0f} s).",
        "",
        f"Before: {report['load_before']}. After: {report['load_after']}. The client (this "
        f"process) used {report['client_cpu_s']:.0f} s of CPU over the {s['duration_s']:.0f} s.",
        "",
        "**Per window** (latency ms as p50 / p95 / p99; CPU in % of one core):",
        "",
        markdown_table(
            [
                "window s",
                "requests",
                "req/s",
                "errors",
                "all ms",
                "read ms",
                "write ms",
                "ingest ms",
                "RSS MB",
                "service CPU %",
                "database CPU %",
                "backfill",
            ],
            [
                (
                    f"{w['start_s']:.0f}-{w['end_s']:.0f}",
                    w["requests"],
                    w["rps"],
                    w["errors"],
                    _triple(w["all"]),
                    _triple(w["read"]),
                    _triple(w["write"]),
                    _triple(w["ingest"]),
                    w["rss_mb"],
                    w["cpu_pct"],
                    w["db_cpu_pct"],
                    "running" if w["backfill"] else "",
                )
                for w in report["windows"]
            ],
        ),
        "",
        "**Per class** (whole duration; p99 of the first and the last third):",
        "",
        markdown_table(
            [
                "class",
                "requests",
                "req/s",
                "errors",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "p99 first third",
                "p99 last third",
                "last / first",
            ],
            [
                (
                    cls,
                    c["requests"],
                    c["rps"],
                    report["errors"]["by_class"].get(cls, 0)
                    if cls != "all"
                    else report["errors"]["count"],
                    c["p50_ms"],
                    c["p95_ms"],
                    c["p99_ms"],
                    c["max_ms"],
                    c["p99_first_third_ms"],
                    c["p99_last_third_ms"],
                    c["p99_last_over_first"],
                )
                for cls, c in report["classes"].items()
            ],
        ),
        "",
        "**Reads by kind**:",
        "",
        markdown_table(
            [
                "read",
                "requests",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "p99 first third",
                "p99 last third",
            ],
            [
                (
                    kind,
                    c["requests"],
                    c["p50_ms"],
                    c["p95_ms"],
                    c["p99_ms"],
                    c["max_ms"],
                    c["p99_first_third_ms"],
                    c["p99_last_third_ms"],
                )
                for kind, c in report["reads"].items()
            ],
        ),
        "",
        "**Memory** of the service process (VmRSS; peak is VmHWM):",
        "",
        markdown_table(
            ["start MB", "middle MB", "end MB", "growth MB", "peak MB"],
            [(m["start_mb"], m["middle_mb"], m["end_mb"], m["growth_mb"], m["peak_mb"])],
        ),
        "",
        f"**Backfills** (`POST /measurements/recalculate`, the last {BACKFILL_DAYS} days "
        "of every KPI):",
        "",
        markdown_table(
            [
                "run",
                "requested at s",
                "status",
                "periods",
                "computed",
                "unchanged",
                "failed",
                "run s",
                "requested to seen done s",
            ],
            [
                (
                    r.get("id"),
                    r["requested_at_s"],
                    r["status"],
                    r.get("progress_total"),
                    r.get("computed"),
                    r.get("unchanged"),
                    r.get("failed"),
                    r.get("run_s"),
                    r.get("seen_done_s"),
                )
                for r in report["backfills"]
            ],
        ),
        "",
        f"**Events**: {ev['accepted']:,} accepted; `kpi.events` held {ev['rows_before']:,} rows"
        f" before and {ev['rows_after']:,} after: "
        + ("the same count." if ev["match"] else "**a different count**."),
        "",
        f"**Errors**: {report['errors']['count']}."
        + "".join(f"\n- `{e}`" for e in report["errors"]["first"]),
        "",
        f"**Verdict**: {'passed' if report['ok'] else '**failed**'}.",
    ]
    return "\n".join(head)
