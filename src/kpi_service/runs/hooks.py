"""What comes before and after every calculation run, wherever it runs (API, scheduler, CLI)."""

from __future__ import annotations

from kpi_service.alerts.evaluation_jobs import after_run as alerts_after_run
from kpi_service.goals.service import after_run as goals_after_run
from kpi_service.packs.following import follow_sources
from kpi_service.runs.execution import RunHooks

# Before: the users the followed pack sources gained are assigned, so the run computes them.
# After: each follower reads the run's measurements once they are committed (see
# `execution.execute`); alerts come last, as their webhooks (and retries) may take a while.
HOOKS = RunHooks(before=(follow_sources,), after=(goals_after_run, alerts_after_run))
