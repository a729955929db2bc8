"""The batch benchmark's results: what each contender did, whether the three agree, and
the report against the issue's targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.common import fetch_one
from bench.dataset import TENANT, WEEK_END, WEEK_START
from bench.figures import markdown_table

TARGET_VS_FLOOR = 1.5
TARGET_VS_SEED = 20.0
TARGET_RSS_MB = 300.0


@dataclass
class Result:
    """What one contender did: how long, how many rows, how much memory."""

    name: str
    seconds: float
    measurements: int
    rss_mb: float | None
    run_seconds: float | None = None  # the engine's own run, without process start-up

    @property
    def per_second(self) -> float:
        return self.measurements / self.seconds if self.seconds else 0.0


@dataclass
class Outcome:
    """Everything one batch run measured."""

    results: list[Result]
    check: dict[str, Any]
    with_seed: bool

    def result(self, prefix: str) -> Result | None:
        return next((r for r in self.results if r.name.startswith(prefix)), None)


# -------------------------------------------------------------------------- the check

AGREEMENT = f"""
SELECT count(*) AS assignments,
       count(*) FILTER (WHERE m.id IS NOT NULL AND f.id IS NOT NULL
                        AND bench.same(m.actual_value, f.actual_value)
                        AND bench.same(m.achievement, f.achievement)
                        AND m.status IS NOT DISTINCT FROM f.status) AS engine_agrees,
       count(*) FILTER (WHERE s.id IS NOT NULL AND f.id IS NOT NULL
                        AND bench.same(s.actual_value, f.actual_value)
                        AND bench.same(s.achievement, f.achievement)
                        AND s.status IS NOT DISTINCT FROM f.status) AS seed_agrees,
       count(*) FILTER (WHERE f.actual_value IS NULL) AS without_value,
       round(sum(round(m.actual_value, 4)), 2) AS engine_checksum,
       round(sum(round(f.actual_value, 4)), 2) AS floor_checksum,
       round(sum(round(s.actual_value, 4)), 2) AS seed_checksum
FROM kpi.assignments AS a
LEFT JOIN kpi.measurements AS m ON m.tenant_id = a.tenant_id AND m.assignment_id = a.id
     AND m.period_start = $1 AND m.period_end = $2
LEFT JOIN bench.floor_measurements AS f ON f.assignment_id = a.id AND f.period_start = $1
LEFT JOIN bench.seed_measurements AS s ON s.assignment_id = a.id AND s.period_start = $1
WHERE a.tenant_id = '{TENANT}'"""  # noqa: S608


async def agreement(dsn: str) -> dict[str, Any]:
    """How many assignments got the same value, achievement and status from each contender."""
    return await fetch_one(dsn, AGREEMENT, WEEK_START, WEEK_END)


def agreement_lines(check: dict[str, Any], with_seed: bool) -> list[str]:
    """The check, in words."""
    total = check["assignments"]
    lines = [
        f"engine = floor for {check['engine_agrees']:,} of {total:,} assignments "
        f"(value, achievement, status; {check['without_value']:,} without a value)"
    ]
    if with_seed:
        lines.append(f"seed   = floor for {check['seed_agrees']:,} of {total:,} assignments")
    lines.append(
        "checksums (sum of values): engine {engine_checksum}, floor {floor_checksum}, "
        "seed {seed_checksum}".format(**check)
    )
    return lines


def agrees(check: dict[str, Any], with_seed: bool) -> bool:
    return check["engine_agrees"] == check["assignments"] and (
        not with_seed or check["seed_agrees"] == check["assignments"]
    )


# ------------------------------------------------------------------------- the report


def results_table(results: list[Result]) -> str:
    """The contenders, side by side."""
    floor_seconds = next((r.seconds for r in results if r.name.startswith("floor")), None)
    rows = [
        [
            r.name,
            r.seconds,
            r.run_seconds,
            r.measurements,
            round(r.per_second),
            r.rss_mb,
            r.seconds / floor_seconds if floor_seconds else None,
        ]
        for r in results
    ]
    return markdown_table(
        [
            "contender",
            "wall s",
            "own run s",
            "measurements",
            "measurements/s",
            "peak RSS MB",
            "x floor",
        ],
        rows,
    )


def target_lines(engine: Result, floor_result: Result, seed: Result | None) -> list[str]:
    """Each target of the issue, with the figure and whether it is met."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    vs_floor = engine.seconds / floor_result.seconds
    run_vs_floor = (engine.run_seconds or engine.seconds) / floor_result.seconds
    lines = [
        f"engine / floor: {vs_floor:.2f}x wall, {run_vs_floor:.2f}x own run "
        f"(target <= {TARGET_VS_FLOOR}x): {verdict(vs_floor <= TARGET_VS_FLOOR)}",
        f"engine peak RSS: {engine.rss_mb:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB): "
        f"{verdict((engine.rss_mb or 0) <= TARGET_RSS_MB)}",
    ]
    if seed is not None:
        vs_seed = seed.seconds / engine.seconds
        lines.insert(
            1,
            f"seed / engine: {vs_seed:.1f}x faster (target >= {TARGET_VS_SEED}x): "
            f"{verdict(vs_seed >= TARGET_VS_SEED)}",
        )
    return lines


def report(outcome: Outcome) -> str:
    """The results table, the check and the targets, as Markdown-ish text."""
    engine, floor_result = outcome.result("engine ("), outcome.result("floor")
    assert engine is not None and floor_result is not None
    lines = [results_table(outcome.results), ""]
    lines += [*agreement_lines(outcome.check, outcome.with_seed), ""]
    lines += target_lines(engine, floor_result, outcome.result("seed"))
    return "\n".join(lines)
