"""The query runner's sandbox at run time: READ ONLY, statement timeout, row cap."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from kpi_service.calculators import query
from kpi_service.calculators.base import CalculationFailed, CalculationRequest
from kpi_service.core.database import Database
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind
from tests.support.app import make_settings


def _request(sql: str, subjects: list[str]) -> CalculationRequest:
    return CalculationRequest(
        tenant_id="default",
        definition_key="k",
        calculation_type="query",
        config={"sql": sql},
        period=containing(PeriodKind.WEEKLY, date(2026, 11, 9)),
        subject_ids=subjects,
        tz=ZoneInfo("UTC"),
    )


async def test_a_slow_query_is_cut_at_the_statement_timeout(
    db: Database, database_url: str
) -> None:
    settings = make_settings(database_url, query_timeout_ms=300)
    slow = "SELECT '1' AS subject_id, count(*) AS value FROM generate_series(1, 100000000) AS g"
    with pytest.raises(CalculationFailed, match="statement timeout"):
        await query.calculate(_request(slow, ["1"]), db.sources, settings)


async def test_more_rows_than_the_cap_fail_the_calculation(db: Database, database_url: str) -> None:
    settings = make_settings(database_url, query_row_cap=10)
    many = "SELECT g::text AS subject_id, g AS value FROM generate_series(1, 11) AS g"
    with pytest.raises(CalculationFailed, match="more than 10 rows"):
        await query.calculate(_request(many, ["1"]), db.sources, settings)
    exactly = "SELECT g::text AS subject_id, g AS value FROM generate_series(1, 10) AS g"
    outcomes = await query.calculate(_request(exactly, ["3", "10", "11"]), db.sources, settings)
    assert {s: o.value for s, o in outcomes.items()} == {"3": 3, "10": 10, "11": None}


async def test_the_transaction_is_read_only_even_past_the_parser(
    db: Database, database_url: str
) -> None:
    # The parser refuses writes first; this proves the second line of defence holds alone.
    settings = make_settings(database_url)
    engine = await db.sources.engine("default", None)
    with pytest.raises(Exception, match="read-only transaction"):
        await query._fetch(
            engine,
            "CREATE TABLE public.sneaky (x int)",
            {"tenant_id": "default"},
            settings,
            "UTC",
            10,
        )
    async with db.engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('public.sneaky') IS NOT NULL"))
    assert exists is False


async def test_duplicate_and_non_numeric_rows_fail_only_their_subject(
    db: Database, database_url: str
) -> None:
    settings = make_settings(database_url)
    sql = (
        "SELECT subject_id, value FROM "
        "(VALUES ('1', '2.5'), ('2', '1'), ('2', '3'), ('3', 'abc')) AS t(subject_id, value) "
        " WHERE subject_id = ANY(:subject_ids)"
    )
    # 'abc' cannot be cast to numeric: the whole statement fails, said in our words (the
    # driver's message quotes the source's data)
    with pytest.raises(CalculationFailed, match=r"could not be converted .*SQLSTATE 22P02") as err:
        await query.calculate(_request(sql, ["1", "2", "3"]), db.sources, settings)
    assert "abc" not in str(err.value) and "invalid input syntax" not in str(err.value)
    outcomes = await query.calculate(_request(sql, ["1", "2"]), db.sources, settings)
    assert outcomes["1"].value == pytest.approx(2.5) and not outcomes["1"].failed
    assert outcomes["2"].failed and "2 rows" in (outcomes["2"].reason or "")
