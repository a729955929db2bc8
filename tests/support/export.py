"""Asking for a CSV export and reading the rows of its answer."""

from __future__ import annotations

import csv
import io
from typing import Any

from httpx import AsyncClient, Response

EXPORT = "/api/kpis/metrics/export.csv"


async def export(
    client: AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> Response:
    return await client.get(
        EXPORT, headers=headers, params={k: v for k, v in params.items() if v is not None}
    )


def parsed(response: Response) -> list[dict[str, str]]:
    """The CSV of a 200 answer, as rows keyed by the header."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="kpi-') and disposition.endswith('.csv"')
    return list(csv.DictReader(io.StringIO(response.text, newline="")))
