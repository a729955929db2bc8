"""Issue 12 end to end: a data set changed under the service in an order chosen to hurt, then
every view compared with a plain-Python recomputation from the values put in, and
`kpi-service verify` finding no drift."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from httpx import AsyncClient

from kpi_service.cli import _run_verify
from kpi_service.core.settings import Settings
from tests.support.api import assign, define, event, recalculate
from tests.support.expected import month_end, month_start, q

D = Decimal
USERS = ("u1", "u2", "u3", "u4")  # all in team t1
TODAY = datetime.now(UTC).date()


# Four months that have ended: the sixth to the third before the current one.
M1, M2, M3, M4 = MONTHS = [month_start(TODAY, k) for k in (6, 5, 4, 3)]


class Kpi(NamedTuple):
    kind: str
    threshold: Decimal = D(80)
    cap: Decimal = D(150)


@dataclass
class Held:
    id: int  # an assignment as the test knows it: targets by effective date, values
    user: str
    key: str
    weight: Decimal
    targets: dict[date, Decimal]
    start: date
    end: date | None = None
    values: dict[date, Decimal] = field(default_factory=dict)

    def target(self, month: date) -> Decimal:  # the target in force on the period's last day
        return self.targets[max(d for d in self.targets if d <= month_end(month))]

    def in_force(self, month: date) -> bool:
        return self.start <= month_end(month) and (self.end is None or self.end >= month)


def achievement(kpi: Kpi, value: Decimal, target: Decimal) -> Decimal:
    return q(value / target * 100 if kpi.kind == "higher_better" else target / value * 100)


def status(kpi: Kpi, ach: Decimal) -> str:
    return "met" if ach >= 100 else "at_risk" if ach >= kpi.threshold else "off_track"


def figures(kpi: Kpi, h: Held, month: date) -> dict[str, Any]:
    """Every derived figure of h's measurement of `month`, recomputed from the inputs."""
    value, target, prev = h.values[month], h.target(month), h.values.get(month_start(month, 1))
    ach = achievement(kpi, value, target)
    better = None if prev is None else (value - prev) * (1 if kpi.kind == "higher_better" else -1)
    return {
        "value": value,
        "target": target,
        "achievement": ach,
        "score": q(max(D(0), min(ach, kpi.cap))),
        "status": status(kpi, ach),
        "previous_value": prev,
        "change_pct": q((value - prev) / abs(prev) * 100) if prev else None,
        "trend": None
        if better is None
        else "improving"
        if better > 0
        else "declining"
        if better < 0
        else "flat",
    }


def ranks(scores: dict[str, Decimal | None], *, dense: bool) -> dict[str, int]:
    """Dense (1, 2, 2, 3) or competition (1, 2, 2, 4) ranks, highest first; None unranked."""
    pool = [s for s in scores.values() if s is not None]
    above = set(pool) if dense else pool
    return {u: 1 + sum(x > s for x in above) for u, s in scores.items() if s is not None}


class World:
    """The data set and a plain-Python model of it, changed through the HTTP API."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.kpis = {
            "deals": Kpi("higher_better"),
            "handle": Kpi("lower_better"),
            "calls": Kpi("higher_better"),
        }
        self.held: list[Held] = []
        self.ids: dict[str, int] = {}

    async def send(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """A call that must succeed; the answer's numbers as Decimals (compared exactly)."""
        r = await self.client.request(method, f"/api/kpis/{path}", json=body, params=params)
        assert r.status_code in (200, 201), r.text
        return r.json(parse_float=Decimal)

    async def hold(self, key: str, user: str, target: int, weight: int, start: date = M1) -> Held:
        made = await assign(
            self.client,
            self.ids[key],
            user,
            target,
            team_id="t1",
            weight=weight,
            start_date=start.isoformat(),
        )
        self.held.append(Held(made["id"], user, key, D(weight), {start: D(target)}, start))
        return self.held[-1]

    async def put(self, h: Held, month: date, value: str, reason: str | None = None) -> None:
        await self.send(
            "PUT",
            f"assignments/{h.id}/measurements/{month}",
            {"value": float(value), "reason": reason},
        )
        h.values[month] = D(value)

    async def calls(self, h: Held, month: date, count: int, day: int = 10) -> None:
        at = datetime(month.year, month.month, day, 12, tzinfo=UTC).isoformat()
        batch = {"events": [event("call", at, h.user) for _ in range(count)]}
        assert (await self.send("POST", "events", batch))["accepted"] == count
        h.values[month] = h.values.get(month, D(0)) + count

    def shown(self, user: str, key: str, month: date) -> Held | None:
        """The assignment views show for a user's KPI in a month: the latest in force."""
        held = [h for h in self.held if (h.user, h.key) == (user, key) and h.in_force(month)]
        return max(held, key=lambda h: h.start, default=None)

    def shown_figures(self, user: str, key: str, month: date) -> dict[str, Any] | None:
        h = self.shown(user, key, month)
        return figures(self.kpis[key], h, month) if h and month in h.values else None

    def cells(self, user: str, month: date) -> dict[str, tuple[Held, dict[str, Any] | None]]:
        return {
            key: (h, self.shown_figures(user, key, month))
            for key in self.kpis
            for h in [self.shown(user, key, month)]
            if h
        }

    def overall(self, user: str, month: date) -> Decimal | None:
        scored = [(h.weight, f["score"]) for h, f in self.cells(user, month).values() if f]
        weight = sum((w for w, _ in scored), D(0))
        return q(sum((w * s for w, s in scored), D(0)) / weight) if weight else None

    def team_scores(self, month: date) -> dict[str, Decimal | None]:
        return {u: self.overall(u, month) for u in USERS if self.cells(u, month)}


async def build_and_change(client: AsyncClient) -> tuple[World, dict[int, Any]]:
    w = World(client)
    for key, fields in (
        ("deals", {}),
        ("handle", {"unit": "hours", "target_type": "lower_better"}),
        (
            "calls",
            {"calculation_type": "event", "config": {"event_type": "call", "aggregate": "count"}},
        ),
    ):
        made = await define(client, key=key, aggregation_period="monthly", **fields)
        w.ids[key] = made["id"]
    u1d, u1h, u1c = (
        await w.hold("deals", "u1", 10, 50),
        await w.hold("handle", "u1", 2, 25),
        await w.hold("calls", "u1", 40, 25),
    )
    u2d, u2c = await w.hold("deals", "u2", 10, 50), await w.hold("calls", "u2", 40, 50)
    u3old, u4 = await w.hold("deals", "u3", 8, 100), await w.hold("deals", "u4", 10, 100)
    goals = {}  # id: user, KPI, last month, target
    for spec in (("u1", "deals", M3, 30), ("u1", "handle", M4, 2), ("u3", "deals", M4, 32)):
        made = await w.send(
            "POST",
            "goals",
            {
                "definition_key": spec[1],
                "user_id": spec[0],
                "period_kind": "custom",
                "period_start": M1.isoformat(),
                "period_end": month_end(spec[2]).isoformat(),
                "target_value": spec[3],
            },
        )
        goals[made["id"]] = spec
    # Manual values out of order: the latest month first.
    for h, values in (
        (u1d, "8 12 9 14"),
        (u1h, "4 1.6 2 2.5"),
        (u2d, "7 11 15 10"),
        (u3old, "6 8 7 9"),
        (u4, "10 9 13 11"),
    ):
        for i in (3, 2, 0, 1):
            await w.put(h, MONTHS[i], values.split()[i])
    # Events, a run over the four months, then late events into M2 and a run of M2 only.
    for h, counts in ((u1c, (30, 41, 45, 38)), (u2c, (50, 39, 40, 44))):
        for month, count in zip(MONTHS, counts, strict=True):
            await w.calls(h, month, count)
    await recalculate(client, period_start=M1.isoformat(), period_end=month_end(M4).isoformat())
    await w.calls(u1c, M2, 3, day=28)
    await w.calls(u2c, M2, 1, day=28)
    await recalculate(client, period_start=M2.isoformat())
    # Targets changed from earlier dates (mid-month: the target in force at the month's end).
    for h, target, since in ((u2d, 12, M2 + timedelta(days=14)), (u1c, 42, M3)):
        await w.send(
            "PATCH",
            f"assignments/{h.id}",
            {"target_value": target, "target_effective_from": since.isoformat()},
        )
        h.targets[since] = D(target)
    # M3 and M4 closed; then the definition's threshold and cap change under them.
    await w.send(
        "POST",
        "periods/close",
        {"period_start": M3.isoformat(), "period_end": month_end(M4).isoformat()},
    )
    await w.send(
        "PATCH", f"definitions/{w.ids['deals']}", {"warning_threshold": 90, "score_cap": 120}
    )
    w.kpis["deals"] = Kpi("higher_better", D(90), D(120))
    # A closed manual value restated; a late event in closed M3 restated by a run.
    await w.put(u1d, M3, "13", reason="recount")
    await w.calls(u2c, M3, 2, day=30)
    await recalculate(
        client,
        period_start=M3.isoformat(),
        definition_keys=["calls"],
        restate=True,
        reason="late calls",
    )
    # M3 reopened and corrected freely; u3's deals superseded from M3; a weight changed.
    await w.send(
        "POST", "periods/reopen", {"period_start": M3.isoformat(), "reason": "late survey"}
    )
    await w.put(u2d, M3, "16")
    u3new = await w.hold("deals", "u3", 12, 100, start=M3)
    u3old.end = M3 - timedelta(days=1)
    await w.put(u3new, M3, "12")
    await w.send("PATCH", f"assignments/{u1h.id}", {"weight": 50})
    u1h.weight = D(50)
    return w, goals


async def check_standings(w: World, month: date) -> None:
    """Scorecards, the team view and the deals leaderboard of one ended month."""
    day, metrics = month + timedelta(days=9), "metrics/"
    scores = w.team_scores(month)
    now_rank = ranks(scores, dense=True)
    before = ranks(w.team_scores(month_start(month, 1)), dense=True)
    for user in USERS:
        card = await w.send("GET", metrics + "scorecard", user_id=user, date=day)
        assert (card["is_final"], card["overall_score"]) == (True, scores[user])
        kpis = {k["definition_key"]: k for k in card["kpis"]}
        assert set(kpis) == set(w.cells(user, month)), (user, month)
        for key, (h, f) in w.cells(user, month).items():
            k = kpis[key]
            assert (k["assignment_id"], k["measured"], k["weight"]) == (h.id, bool(f), h.weight)
            shown = f or {"value": None, "achievement": None, "status": None}
            assert {n: k[n] for n in shown} == shown, (user, key, month)
        assert [card["team"][n] for n in ("rank", "team_size", "ranked", "previous_rank")] == [
            now_rank.get(user),
            len(scores),
            len(now_rank),
            before.get(user),
        ], (user, month)

    view = await w.send("GET", metrics + "team", team_id="t1", date=day)
    assert {m["user_id"]: (m["overall_score"], m["rank"]) for m in view["members"]} == {
        u: (s, now_rank.get(u)) for u, s in scores.items()
    }, month
    for member in view["members"]:
        for c in member["cells"]:
            h, f = w.cells(member["user_id"], month)[c["definition_key"]]
            names = ("value", "achievement", "score", "status") + (("target",) if f else ())
            assert (c["assignment_id"], [c[n] for n in names]) == (
                h.id,
                [f[n] if f else None for n in names],
            ), (member["user_id"], month)
    for t in view["kpis"]:  # the team's totals per KPI
        done = [f for u in scores if (f := w.shown_figures(u, t["definition_key"], month))]
        assert [t[n] for n in ("measured", "value_sum", "achievement_mean", "met")] == [
            len(done),
            sum(f["value"] for f in done),
            q(sum(f["achievement"] for f in done) / len(done)),
            sum(f["status"] == "met" for f in done),
        ], (t["definition_key"], month)

    # One KPI's leaderboard: competition ranks by uncapped achievement.
    now, then = (
        {
            u: f["achievement"] if f else None
            for u in USERS
            if w.shown(u, "deals", on)
            for f in [w.shown_figures(u, "deals", on)]
        }
        for on in (month, month_start(month, 1))
    )
    pool, rank, previous = (
        [a for a in now.values() if a],
        ranks(now, dense=False),
        ranks(then, dense=False),
    )
    board = await w.send("GET", metrics + "leaderboard", definition_key="deals", date=day)
    assert (board["population"], board["ranked"]) == (len(now), len(pool))
    assert {
        r["user_id"]: (r["rank"], r["achievement"], r["percentile"], r["previous_rank"])
        for r in board["items"]
    } == {
        u: (
            rank.get(u),
            a,
            q(D(sum(x < a for x in pool)) / (len(pool) - 1) * 100) if a else None,
            previous.get(u),
        )
        for u, a in now.items()
    }, month


async def test_every_view_equals_a_clean_recomputation_after_changes_in_time(
    client: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    w, goals = await build_and_change(client)
    # Every stored measurement, the superseded assignment's history included.
    page = await w.send("GET", "measurements", limit=500)
    stored = {(m["assignment_id"], m["period_start"]): m for m in page["items"]}
    assert set(stored) == {(h.id, m.isoformat()) for h in w.held for m in h.values}
    for h in w.held:
        for month in h.values:
            m = stored[(h.id, month.isoformat())]
            got = {**m, "value": m["actual_value"], "target": m["target_value"]}
            f = {**figures(w.kpis[h.key], h, month), "is_final": True}
            assert {k: got[k] for k in f} == f, (h.id, month)
    for month in MONTHS:
        await check_standings(w, month)
    for user in ("u1", "u3"):  # timeseries: the assignment shown in each month
        series = await w.send(
            "GET",
            "metrics/timeseries",
            definition_key="deals",
            subject_id=user,
            start=M1,
            end=month_end(M4),
        )
        points = {p["period_start"]: p for p in series["points"]}
        for month in MONTHS:
            p, shown = points[month.isoformat()], w.shown_figures(user, "deals", month)
            assert (p["value"], p["target"], p["achievement"], p["status"], p["is_final"]) == (
                (shown["value"], shown["target"], shown["achievement"], shown["status"], True)
                if shown
                else (None, None, None, None, True)
            ), (user, month)

    for goal_id, (user, key, last, target) in goals.items():  # goals over ended ranges
        counted = [
            shown["value"] for m in MONTHS if m <= last if (shown := w.shown_figures(user, key, m))
        ]
        total = sum(counted, D(0))
        value = total if key == "deals" else q(total / len(counted))  # sum / avg roll-up
        progress = achievement(w.kpis[key], value, D(target))
        g = await w.send("GET", f"goals/{goal_id}")
        assert (
            g["current_value"],
            g["progress"],
            g["status"],
            g["periods_counted"],
            g["is_final"],
            g["achieved_at"] is not None,
        ) == (
            value,
            progress,
            status(w.kpis[key], progress),
            len(counted),
            True,
            progress >= 100,
        ), (user, key)

    # `kpi-service verify`: the function behind the command, on the same database.
    assert await _run_verify(argparse.Namespace(fix=False, tenant=None), settings) == 0
    assert "no drift" in capsys.readouterr().out
