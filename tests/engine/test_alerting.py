"""Alert rule verdicts, z-scores and the alert state machine, without a database."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.alerting import (
    Judgement,
    Observation,
    Tracked,
    advance,
    anomaly,
    below,
    change_beyond,
    declines,
    missing,
    spread,
    value_crosses,
    z_score,
)
from kpi_service.engine.vocabulary import AlertStatus, ChangeDirection, Direction, Notice, Verdict

D = Decimal
MONDAY = date(2026, 1, 5)


def week(n: int) -> date:
    return MONDAY + timedelta(weeks=n - 1)


def seen(n: int, verdict: Verdict, value: str = "1") -> Observation:
    return Observation(
        week(n), week(n) + timedelta(days=6), D(value), Judgement(verdict, D(value), D(0))
    )


# --- verdicts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        ("79.99", Verdict.BREACH),
        ("80", Verdict.HOLD),
        ("84.999", Verdict.HOLD),
        ("85", Verdict.CLEAR),
        ("300", Verdict.CLEAR),
        (None, Verdict.UNKNOWN),
    ],
)
def test_below_with_a_margin(observed: str | None, verdict: Verdict) -> None:
    judged = below(None if observed is None else D(observed), D(80), D(5))
    assert judged.verdict is verdict


def test_a_zero_margin_clears_at_the_threshold() -> None:
    assert below(D(80), D(80), D(0)).verdict is Verdict.CLEAR
    assert value_crosses(D(10), Direction.ABOVE, D(10), D(0)).verdict is Verdict.CLEAR
    assert value_crosses(D("10.01"), Direction.ABOVE, D(10), D(0)).verdict is Verdict.BREACH


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        ("101", Verdict.BREACH),
        ("100", Verdict.HOLD),
        ("98.5", Verdict.HOLD),
        ("98", Verdict.CLEAR),
    ],
)
def test_value_above(value: str, verdict: Verdict) -> None:
    assert value_crosses(D(value), Direction.ABOVE, D(100), D(2)).verdict is verdict


@pytest.mark.parametrize(
    ("actual", "previous", "direction", "verdict", "change"),
    [
        ("130", "100", ChangeDirection.UP, Verdict.BREACH, "30"),
        ("130", "100", ChangeDirection.DOWN, Verdict.CLEAR, "30"),
        ("70", "100", ChangeDirection.DOWN, Verdict.BREACH, "-30"),
        ("70", "100", ChangeDirection.EITHER, Verdict.BREACH, "-30"),
        ("115", "100", ChangeDirection.EITHER, Verdict.HOLD, "15"),
        ("109", "100", ChangeDirection.EITHER, Verdict.CLEAR, "9"),
        # A negative previous value: the change is relative to its size, so -50 -> -20 is up.
        ("-20", "-50", ChangeDirection.UP, Verdict.BREACH, "60"),
    ],
)
def test_change_beyond(
    actual: str, previous: str, direction: ChangeDirection, verdict: Verdict, change: str
) -> None:
    judged = change_beyond(D(actual), D(previous), direction, D(20), D(10))
    assert (judged.verdict, judged.observed) == (verdict, D(change))


def test_no_change_without_a_previous_value_or_from_zero() -> None:
    assert change_beyond(D(5), None, ChangeDirection.EITHER, D(1), D(0)).verdict is Verdict.UNKNOWN
    assert change_beyond(D(5), D(0), ChangeDirection.EITHER, D(1), D(0)).verdict is Verdict.UNKNOWN


values = st.decimals(
    min_value=-(10**6), max_value=10**6, places=3, allow_nan=False, allow_infinity=False
)


@given(st.lists(values, min_size=2, max_size=30), values)
def test_z_score_agrees_with_statistics(history: list[Decimal], value: Decimal) -> None:
    std = statistics.stdev(history)
    z = z_score(value, history)
    if std == 0:
        assert z is None
    else:
        expected = (value - statistics.mean(history)) / std
        assert z is not None and abs(z - expected) <= D("1e-6")
    assert abs(spread(history).mean - statistics.mean(history)) <= D("1e-20")


@pytest.mark.parametrize(
    ("value", "history", "verdict"),
    [
        ("14", ["10", "12", "11", "13"], Verdict.CLEAR),  # z = 1.94
        ("16", ["10", "12", "11", "13"], Verdict.BREACH),  # z = 3.49
        ("7", ["10", "12", "11", "13"], Verdict.BREACH),  # z = -3.49
        ("10", ["10", "10", "10"], Verdict.CLEAR),  # constant history, same value
        ("10.5", ["10", "10", "10"], Verdict.BREACH),  # constant history, another value
        ("99", ["10", "12"], Verdict.UNKNOWN),  # too little history
    ],
)
def test_anomaly(value: str, history: list[str], verdict: Verdict) -> None:
    judged = anomaly(D(value), [D(h) for h in history], D(3))
    assert judged.verdict is verdict
    if len(history) >= 3 and statistics.stdev([D(h) for h in history]):
        hist = [D(h) for h in history]
        z = (D(value) - statistics.mean(hist)) / statistics.stdev(hist)
        assert judged.observed is not None and abs(judged.observed - z) <= D("1e-6")


def test_anomaly_at_exactly_k_breaches() -> None:
    history = [D(1), D(2), D(3)]  # mean 2, sample std 1
    assert anomaly(D(5), history, D(3)).verdict is Verdict.BREACH
    assert anomaly(D("4.999"), history, D(3)).verdict is Verdict.CLEAR


def test_declines_and_missing() -> None:
    assert declines(True, 3, 3).verdict is Verdict.BREACH
    assert declines(True, 2, 3).verdict is Verdict.CLEAR
    assert declines(False, 3, 3).verdict is Verdict.UNKNOWN
    end = date(2026, 1, 11)
    assert missing(False, end, end + timedelta(days=3), 3).verdict is Verdict.UNKNOWN
    assert missing(False, end, end + timedelta(days=4), 3).verdict is Verdict.BREACH
    assert missing(True, end, end + timedelta(days=40), 3).verdict is Verdict.CLEAR
    assert missing(False, end, end + timedelta(days=4), 3).observed == 4


# --- the state machine -------------------------------------------------------------------


def test_a_breach_fires_at_once_and_a_clear_resolves_it() -> None:
    [alert] = advance(None, [seen(1, Verdict.BREACH, "5")], 1)
    assert (alert.status, alert.period_start, alert.streak) == (AlertStatus.FIRING, week(1), 1)
    assert [n.notice for n in alert.notices] == [Notice.FIRING]
    alert.notices.clear()
    [same] = advance(alert, [seen(2, Verdict.CLEAR, "9")], 1)
    assert same is alert and alert.status is AlertStatus.RESOLVED
    assert alert.latest.start == week(2) and alert.latest.value == D(9)
    assert [n.notice for n in alert.notices] == [Notice.RESOLVED]


def test_holding_within_the_margin_does_not_flap() -> None:
    verdicts = [
        Verdict.BREACH,
        Verdict.HOLD,
        Verdict.BREACH,
        Verdict.HOLD,
        Verdict.BREACH,
        Verdict.CLEAR,
    ]
    touched = advance(None, [seen(n, v) for n, v in enumerate(verdicts, start=1)], 1)
    assert len(touched) == 1
    assert [n.notice for n in touched[0].notices] == [Notice.FIRING, Notice.RESOLVED]
    assert touched[0].latest.start == week(6)


def test_pending_until_enough_consecutive_breaches() -> None:
    [alert] = advance(None, [seen(1, Verdict.BREACH), seen(2, Verdict.BREACH)], 3)
    assert (alert.status, alert.streak, alert.notices) == (AlertStatus.PENDING, 2, [])
    advance(alert, [seen(3, Verdict.BREACH)], 3)
    assert alert.status is AlertStatus.FIRING and alert.streak == 3
    assert [n.notice for n in alert.notices] == [Notice.FIRING]


def test_a_pending_alert_that_stops_breaching_resolves_silently() -> None:
    [alert] = advance(None, [seen(1, Verdict.BREACH), seen(2, Verdict.HOLD)], 2)
    assert alert.status is AlertStatus.RESOLVED and alert.notices == []
    # A later breach is a new alert, opened in its own period.
    [later] = advance(alert, [seen(3, Verdict.BREACH)], 2)
    assert later is not alert and later.period_start == week(3)


def test_the_same_values_again_change_nothing() -> None:
    history = [
        seen(1, Verdict.BREACH, "3"),
        seen(2, Verdict.HOLD, "4"),
        seen(3, Verdict.CLEAR, "9"),
    ]
    [alert] = advance(None, history, 1)
    again = Tracked(
        alert.period_start,
        alert.period_end,
        alert.status,
        alert.streak,
        alert.latest,
        alert.fired,
        id=1,
    )
    # Every period at or before the last judged one is history: nothing re-opens.
    assert advance(again, history, 1) == []
    assert advance(again, [seen(2, Verdict.BREACH)], 1) == []
    assert advance(again, [seen(3, Verdict.BREACH)], 1) == []


def test_an_open_alert_ignores_older_periods_and_unknowns() -> None:
    [alert] = advance(None, [seen(5, Verdict.BREACH)], 1)
    alert.changed, alert.notices = False, []
    assert advance(alert, [seen(4, Verdict.CLEAR), seen(6, Verdict.UNKNOWN)], 1) == []
    assert alert.status is AlertStatus.FIRING and alert.latest.start == week(5)


def test_a_corrected_value_of_the_same_period_resolves() -> None:
    [alert] = advance(None, [seen(5, Verdict.BREACH, "3")], 1)
    alert.notices.clear()
    advance(alert, [seen(5, Verdict.CLEAR, "9")], 1)
    assert alert.status is AlertStatus.RESOLVED and alert.streak == 1
    assert [n.notice for n in alert.notices] == [Notice.RESOLVED]


def test_a_projection_fires_but_only_the_final_figure_resolves() -> None:
    def projected(n: int, verdict: Verdict, value: str) -> Observation:
        return Observation(
            week(n),
            week(n) + timedelta(days=6),
            D(value),
            Judgement(verdict, D(value), D(0)),
            projected=True,
        )

    [alert] = advance(None, [projected(5, Verdict.BREACH, "3")], 1)
    assert alert.status is AlertStatus.FIRING
    alert.notices.clear()
    # The pace recovers: the alert shows it, and stays open.
    advance(alert, [projected(5, Verdict.CLEAR, "9")], 1)
    assert (alert.status, alert.latest.value, alert.notices) == (AlertStatus.FIRING, D(9), [])
    # The period ends below: the same alert, on the final figure, still firing.
    advance(alert, [seen(5, Verdict.BREACH, "4")], 1)
    assert (alert.status, alert.latest.value, alert.streak, alert.notices) == (
        AlertStatus.FIRING,
        D(4),
        1,
        [],
    )
    # A pending alert is not resolved by a projection either.
    [pending] = advance(None, [seen(1, Verdict.BREACH), projected(2, Verdict.HOLD, "1")], 2)
    assert (pending.status, pending.latest.start) == (AlertStatus.PENDING, week(2))
    advance(pending, [seen(2, Verdict.CLEAR)], 2)
    assert pending.status is AlertStatus.RESOLVED and pending.notices == []


def test_a_backfill_replays_every_transition_in_order() -> None:
    verdicts = [Verdict.BREACH, Verdict.CLEAR, Verdict.UNKNOWN, Verdict.BREACH, Verdict.BREACH]
    touched = advance(None, [seen(n, v) for n, v in enumerate(verdicts, start=1)], 1)
    assert [(a.period_start, a.status) for a in touched] == [
        (week(1), AlertStatus.RESOLVED),
        (week(4), AlertStatus.FIRING),
    ]
    assert [n.notice for n in touched[0].notices] == [Notice.FIRING, Notice.RESOLVED]
    assert touched[1].latest.start == week(5)
