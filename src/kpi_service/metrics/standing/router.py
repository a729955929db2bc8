"""Scorecards, team views and leaderboards over HTTP."""

from __future__ import annotations

from fastapi import APIRouter

from kpi_service.metrics.export.views import VIEWS, add_route

router = APIRouter()

add_route(
    router,
    "/scorecard",
    "getScorecard",
    VIEWS["scorecard"],
    "A user's KPIs for one period: values, targets, achievement, status, change and trend,\n"
    "the weighted overall score, and their rank in their team (members see only their own).",
)
add_route(
    router,
    "/team",
    "getTeamView",
    VIEWS["team"],
    "A team's members x KPIs for one period, with overall scores, ranks and team totals\n"
    "(the team's managers and admins).",
)
add_route(
    router,
    "/leaderboard",
    "getLeaderboard",
    VIEWS["leaderboard"],
    "Users ranked by their score of one KPI for one period, with percentiles and rank\n"
    "changes; a member sees only their own row and the population's size.",
)
