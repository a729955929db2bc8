"""The runs executing in this process: a registry of their tasks, stale runs taken up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.models import CalculationRun
from kpi_service.runs.execution import RunHooks, execute, stale_runs, worker_name


class BackgroundRuns:
    """Runs executing in this process's event loop, cancelled (and released) on shutdown."""

    def __init__(
        self,
        database: Callable[[], Database],
        settings: Settings,
        hooks: RunHooks,
    ) -> None:
        self._database = database
        self._settings = settings
        self._hooks = hooks
        self.worker = worker_name()
        self._tasks: dict[tuple[str, int], asyncio.Task[CalculationRun | None]] = {}

    async def submit(self, tenant_id: str, run_id: int) -> None:
        """Execute the run in the background unless this process already does."""
        key = (tenant_id, run_id)
        if key in self._tasks:
            return
        task = asyncio.create_task(
            execute(
                self._database(),
                self._settings,
                tenant_id,
                run_id,
                self.worker,
                hooks=self._hooks,
            ),
            name=f"run-{tenant_id}-{run_id}",
        )
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def sweep(self) -> int:
        """Take up stale runs (their process died); how many were submitted."""
        stale = await stale_runs(self._database(), self._settings)
        for tenant_id, run_id in stale:
            await self.submit(tenant_id, run_id)
        return len(stale)

    async def idle(self) -> None:
        """Wait until every run of this process, followers included, has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop every run of this process; each is released for another to resume."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
