"""Seed 003's agent views over HTTP: the agent view and the activity timeline."""

from __future__ import annotations

from fastapi import APIRouter

from kpi_service.metrics.export.views import VIEWS, add_route

router = APIRouter()

add_route(
    router,
    "/agent",
    "getAgentView",
    VIEWS["agent"],
    "Seed 003 section A: an agent's leads, conversion, revenue, response time and satisfaction\n"
    "over the `days` local days ending today, the change against the days before, and their\n"
    "dense rank in their team with its size; computed from the agent pack's KPIs, not stored.",
)
add_route(
    router,
    "/activities",
    "getActivities",
    VIEWS["activities"],
    "Seed 003 section F: a user's activity timeline, newest first: their events of the types\n"
    "the agent pack maps, each with its type, title and description.",
)
