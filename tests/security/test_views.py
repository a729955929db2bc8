"""Every metrics view in detail: another tenant sees nothing of ours, a member nothing of
another's, a manager their team's only.

The views' parameters and their test of whether an answer shows any data are the access
matrix's (tests/support/access_matrix.py), which the route walk sends as every caller; the data is
`default_data` (tests/security/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httpx import AsyncClient, Response

from tests.support.access_matrix import ROUTES, VIEWS
from tests.support.access_rules import csv_rows
from tests.support.auth import ACME_ADMIN, ADMIN, bearer
from tests.support.problems import assert_problem

M = "/api/kpis/metrics"

# path -> (parameters, "does this answer show any data?")
CASES: dict[str, tuple[dict[str, Any], Callable[[Response], bool]]] = {
    r.path: (r.params, r.shows) for r in ROUTES if r.path in VIEWS and r.shows is not None
}


def test_every_view_has_parameters_and_a_test_of_its_data() -> None:
    assert set(CASES) == set(VIEWS)


async def test_another_tenant_sees_nothing_in_any_view(
    jwt_client: AsyncClient, default_data: dict[str, Any]
) -> None:
    for path, (params, shows) in CASES.items():
        ours = await jwt_client.get(path, params=params, headers=ADMIN)
        assert ours.status_code == 200 and shows(ours), (path, ours.text)
        theirs = await jwt_client.get(path, params=params, headers=ACME_ADMIN)
        # Our KPI's key names nothing in their tenant, or they have not installed a pack.
        if theirs.status_code in (404, 409, 422):
            assert_problem(theirs, theirs.status_code, path)
        else:
            assert theirs.status_code == 200 and not shows(theirs), (path, theirs.text)


async def test_a_member_sees_nothing_of_another_member(
    jwt_client: AsyncClient, default_data: dict[str, Any]
) -> None:
    c, member = jwt_client, bearer("43", "member")
    for view in ("scorecard", "team", "timeseries", "forecast"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=member), 404, view)
    for view in ("summary", "funnel", "breakdown", "cohorts"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=member), 403, view)
    board = await c.get(f"{M}/leaderboard", params=CASES[f"{M}/leaderboard"][0], headers=member)
    assert board.status_code == 200, board.text
    assert [row["user_id"] for row in board.json()["items"]] == ["43"]
    assert board.json()["population"] == 2
    exported = await c.get(f"{M}/export.csv", params={"view": "measurements"}, headers=member)
    assert {row["subject_id"] for row in csv_rows(exported)} == {"43"}
    # Through the export, the views keep their rules.
    for view in ("scorecard", "summary"):
        params, _ = CASES[f"{M}/{view}"]
        refused = await c.get(f"{M}/export.csv", params={"view": view, **params}, headers=member)
        assert refused.status_code in (403, 404), (view, refused.text)


async def test_a_manager_sees_their_team_only(
    jwt_client: AsyncClient, default_data: dict[str, Any]
) -> None:
    c, manager = jwt_client, bearer("m2", "manager", teams=["t2"])
    for view in ("scorecard", "team", "timeseries", "forecast"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=manager), 404, view)
    board = await c.get(f"{M}/leaderboard", params=CASES[f"{M}/leaderboard"][0], headers=manager)
    assert [row["user_id"] for row in board.json()["items"]] == ["43"]
    own_team = await c.get(
        f"{M}/team", params={**CASES[f"{M}/team"][0], "team_id": "t2"}, headers=manager
    )
    assert own_team.status_code == 200
    assert [m["user_id"] for m in own_team.json()["members"]] == ["43"]
