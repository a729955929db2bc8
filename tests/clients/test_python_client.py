"""The generated Python client drives the seed flow against a live `kpi-service serve`
process: define, assign, record, recalculate, read; every figure recomputed here."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from http import HTTPStatus
from types import ModuleType
from typing import Any

from kpi_service.core.database import Database
from tests.support.database import create_support_cases
from tests.support.spec import committed, operations

WEEKS = (date(2026, 5, 25), date(2026, 6, 1))  # two Mondays, long closed
SUPPORT = "support"
CASES_TARGET = {"1": Decimal(10), "2": Decimal(7)}
CASES_WEIGHT, CSAT_WEIGHT = Decimal(60), Decimal(40)
CSAT_TARGET = Decimal(90)
CSAT = {WEEKS[0]: Decimal(85), WEEKS[1]: Decimal("93.5")}
CAP = Decimal(150)


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def test_the_generated_client_has_a_function_for_every_operation(python_client: ModuleType) -> None:
    import importlib

    missing = []
    for op in operations(committed()).values():
        name = f"{python_client.__name__}.api.{op['tags'][0]}.{snake(op['operationId'])}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            missing.append(name)
            continue
        assert callable(module.sync_detailed) and callable(module.asyncio_detailed)
    assert missing == []


# What the engine is expected to do, worked out here from the raw values.
def q6(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def achievement(value: Decimal, target: Decimal) -> Decimal:
    return q6(value / target * 100)  # higher is better, positive target


def score(value: Decimal, target: Decimal) -> Decimal:
    return min(max(achievement(value, target), Decimal(0)), CAP)


def status(value: Decimal, target: Decimal) -> str:
    a = achievement(value, target)
    return "met" if a >= 100 else "at_risk" if a >= 80 else "off_track"


def random_cases(seed: int) -> list[tuple[int, str, datetime, datetime | None]]:
    rng = random.Random(seed)
    start = datetime(2026, 5, 20, tzinfo=UTC)
    cases = []
    for _ in range(80):
        created = start + timedelta(minutes=rng.randrange(20 * 24 * 60))
        resolved = rng.random() < 0.7
        cases.append(
            (
                rng.choice([1, 2, 3]),
                "resolved" if resolved else "open",
                created,
                created + timedelta(minutes=rng.randrange(30, 72 * 60)) if resolved else None,
            )
        )
    return cases


def resolved_per_week(
    cases: list[tuple[int, str, datetime, datetime | None]],
) -> dict[tuple[str, date], Decimal]:
    counts = {(user, week): Decimal(0) for user in CASES_TARGET for week in WEEKS}
    for user, state, _created, resolved_at in cases:
        for week in WEEKS:
            monday = datetime.combine(week, datetime.min.time(), tzinfo=UTC)
            if (
                str(user) in CASES_TARGET
                and state == "resolved"
                and resolved_at is not None
                and monday <= resolved_at < monday + timedelta(days=7)
            ):
                counts[str(user), week] += 1
    return counts


async def test_seed_flow_through_the_generated_client(
    python_client: ModuleType, live_service: str, db: Database
) -> None:
    from kpi_service_client import Client
    from kpi_service_client.api.assignments import create_assignment
    from kpi_service_client.api.definitions import create_definition
    from kpi_service_client.api.measurements import (
        get_measurement,
        get_run,
        list_measurements,
        recalculate_measurements,
        record_measurement,
    )
    from kpi_service_client.api.metrics import get_scorecard
    from kpi_service_client.models import (
        AssignmentCreate,
        AssignmentCreateSubjectType,
        DefinitionCreate,
        DefinitionCreateAggregationPeriod,
        DefinitionCreateCalculationType,
        DefinitionCreateConfig,
        DefinitionCreateTargetType,
        DefinitionCreateUnit,
        DefinitionRead,
        ManualValue,
        MeasurementRead,
        Problem,
        RecalculateRequest,
        RunRead,
    )
    from kpi_service_client.models.get_scorecard_period_kind import GetScorecardPeriodKind

    cases = random_cases(seed=20261121)
    await create_support_cases(db, cases)
    counts = resolved_per_week(cases)
    assert len(set(counts.values())) > 1, "the data set should tell users apart"

    async def define(key: str, calculation: Any, unit: Any, config: dict[str, Any]) -> Any:
        body = DefinitionCreate(
            key=key,
            name=key.replace("_", " ").title(),
            unit=unit,
            target_type=DefinitionCreateTargetType.HIGHER_BETTER,
            aggregation_period=DefinitionCreateAggregationPeriod.WEEKLY,
            calculation_type=calculation,
            config=DefinitionCreateConfig.from_dict(config),
        )
        response = await create_definition.asyncio_detailed(client=client, body=body)
        assert response.status_code == HTTPStatus.CREATED, response.content
        assert isinstance(response.parsed, DefinitionRead)
        return response.parsed

    async def assign(definition_id: int, user: str, target: Decimal, weight: Decimal) -> int:
        created = await create_assignment.asyncio(
            client=client,
            body=AssignmentCreate(
                definition_id=definition_id,
                subject_type=AssignmentCreateSubjectType.USER,
                subject_id=user,
                team_id=SUPPORT,
                target_value=float(target),
                weight=float(weight),
                start_date=date(2026, 5, 1),
            ),
        )
        assert created is not None and created.subject_id == user
        assert (created.target_value, created.weight) == (float(target), float(weight))
        identifier: int = created.id
        return identifier

    async with Client(base_url=live_service, raise_on_unexpected_status=True) as client:
        cases_kpi = await define(
            "cases_resolved",
            DefinitionCreateCalculationType.QUERY,
            DefinitionCreateUnit.COUNT,
            {"query_key": "cases_resolved_count"},
        )
        csat_kpi = await define(
            "csat", DefinitionCreateCalculationType.MANUAL, DefinitionCreateUnit.PERCENT, {}
        )
        assert (cases_kpi.key, csat_kpi.calculation_type) == ("cases_resolved", "manual")
        cases_of = {
            user: await assign(cases_kpi.id, user, target, CASES_WEIGHT)
            for user, target in CASES_TARGET.items()
        }
        csat_of_1 = await assign(csat_kpi.id, "1", CSAT_TARGET, CSAT_WEIGHT)

        # A manual value, as a person records it.
        for week, value in CSAT.items():
            recorded = await record_measurement.asyncio(
                csat_of_1, week, client=client, body=ManualValue(value=float(value))
            )
            assert isinstance(recorded, MeasurementRead)
            assert (recorded.actual_value, recorded.achievement, recorded.status) == (
                float(value),
                float(achievement(value, CSAT_TARGET)),
                status(value, CSAT_TARGET),
            )

        # The query KPI: recalculate both weeks (202), then poll the run as a client would.
        queued = await recalculate_measurements.asyncio(
            client=client,
            body=RecalculateRequest(
                period_start=WEEKS[0],
                period_end=WEEKS[1] + timedelta(days=6),
                definition_keys=["cases_resolved"],
            ),
        )
        assert isinstance(queued, RunRead)
        for _ in range(600):
            run = await get_run.asyncio(queued.id, client=client)
            assert isinstance(run, RunRead)
            if run.status in ("succeeded", "partial", "failed"):
                break
            await asyncio.sleep(0.05)
        assert (run.status, run.failed, run.errors) == ("succeeded", 0, [])
        assert run.progress_done == run.progress_total == len(WEEKS)

        page = await list_measurements.asyncio(
            client=client, definition_key="cases_resolved", limit=100
        )
        assert page is not None
        got = {(m.subject_id, m.period_start): m for m in page.items}
        assert set(got) == set(counts)
        for (user, week), value in counts.items():
            m = got[user, week]
            target = CASES_TARGET[user]
            assert (m.actual_value, m.target_value, m.achievement, m.score, m.status) == (
                float(value),
                float(target),
                float(achievement(value, target)),
                float(score(value, target)),
                status(value, target),
            ), (user, week)
            assert m.assignment_id == cases_of[user]
            assert m.period_end == week + timedelta(days=6)
        before, latest = counts["1", WEEKS[0]], counts["1", WEEKS[1]]
        one = await get_measurement.asyncio(got["1", WEEKS[1]].id, client=client)
        assert isinstance(one, MeasurementRead)
        assert one.previous_value == float(before)
        assert one.change_pct == (
            None if before == 0 else float(q6((latest - before) / abs(before) * 100))
        )
        assert one.trend == (
            "improving" if latest > before else "declining" if latest < before else "flat"
        )

        # The user's scorecard for the second week, weighted by hand.
        card = await get_scorecard.asyncio(
            client=client, user_id="1", date=WEEKS[1], period_kind=GetScorecardPeriodKind.WEEKLY
        )
        assert card is not None
        assert (card.period_start, card.period_end) == (WEEKS[1], WEEKS[1] + timedelta(days=6))
        by_key = {k.definition_key: k for k in card.kpis}
        csat = CSAT[WEEKS[1]]
        assert (by_key["csat"].value, by_key["csat"].score, by_key["csat"].weight) == (
            float(csat),
            float(score(csat, CSAT_TARGET)),
            float(CSAT_WEIGHT),
        )
        assert (by_key["cases_resolved"].value, by_key["cases_resolved"].weight) == (
            float(latest),
            float(CASES_WEIGHT),
        )
        overall = {
            "1": q6(
                (
                    CASES_WEIGHT * score(latest, CASES_TARGET["1"])
                    + CSAT_WEIGHT * score(csat, CSAT_TARGET)
                )
                / (CASES_WEIGHT + CSAT_WEIGHT)
            ),
            "2": score(counts["2", WEEKS[1]], CASES_TARGET["2"]),
        }
        assert card.overall_score == float(overall["1"])
        assert card.team is not None and card.team.team_id == SUPPORT
        assert card.team.rank == (1 if overall["1"] >= overall["2"] else 2)
        assert (card.team.team_size, card.team.ranked) == (2, 2)

        # Bad requests come back as typed problems, not as exceptions or raw bodies.
        refused = await create_definition.asyncio_detailed(
            client=client,
            body=DefinitionCreate(
                key="Not a key!",
                name="x",
                unit=DefinitionCreateUnit.COUNT,
                target_type=DefinitionCreateTargetType.HIGHER_BETTER,
                aggregation_period=DefinitionCreateAggregationPeriod.WEEKLY,
                calculation_type=DefinitionCreateCalculationType.MANUAL,
            ),
        )
        assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        assert isinstance(refused.parsed, Problem)
        assert (refused.parsed.status, refused.parsed.type_) == (
            422,
            "urn:kpi-service:problem:invalid-input",
        )
        assert [e.loc for e in refused.parsed.errors] == [["body", "key"]]
        backwards = await recalculate_measurements.asyncio(
            client=client, body=RecalculateRequest(period_start=WEEKS[1], period_end=WEEKS[0])
        )
        assert isinstance(backwards, Problem)
        assert backwards.status == 422 and "before period_start" in backwards.detail

    async with Client(base_url=live_service) as lenient:
        absent = await get_run.asyncio_detailed(2**40, client=lenient)
        assert absent.status_code == HTTPStatus.NOT_FOUND
