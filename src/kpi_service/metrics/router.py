"""The metrics views over HTTP, under `/metrics`: one sub-router per group of views."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/metrics", tags=["metrics"])
