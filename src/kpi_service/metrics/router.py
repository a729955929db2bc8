"""The metrics views over HTTP, under `/metrics`: one sub-router per group of views."""

from __future__ import annotations

from fastapi import APIRouter

from kpi_service.metrics.activity.router import router as activity_router
from kpi_service.metrics.agent.router import router as agent_router
from kpi_service.metrics.export.router import router as export_router
from kpi_service.metrics.series.router import router as series_router
from kpi_service.metrics.standing.router import router as standing_router

router = APIRouter(prefix="/metrics", tags=["metrics"])
router.include_router(standing_router)
router.include_router(activity_router)
router.include_router(series_router)
router.include_router(agent_router)
router.include_router(export_router)
