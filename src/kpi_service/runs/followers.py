"""What follows every finished calculation run, wherever it ran (API, scheduler, CLI)."""

from __future__ import annotations

from kpi_service.alerts.evaluation_jobs import after_run as alerts_after_run
from kpi_service.goals.service import after_run as goals_after_run
from kpi_service.runs.execution import Follower

# Each reads the run's measurements once they are committed; see `execution.execute`.
# Alerts come last: their webhooks (and retries) may take a while.
FOLLOWERS: tuple[Follower, ...] = (goals_after_run, alerts_after_run)
