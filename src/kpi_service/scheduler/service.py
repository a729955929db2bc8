"""APScheduler wiring: a cron job per period kind, catch-up at start, stale sweeps, partitions,
finality of ended periods, missing manual values and the alert webhooks' retries.

Every replica runs the same jobs. An occurrence runs once whichever fires first: its run
row is unique per (tenant, trigger, kind, period start) and claimed under an advisory
lock; the others find it taken and do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined

from kpi_service.alerts.delivery_service import retry_pending
from kpi_service.alerts.evaluation_jobs import evaluate_overdue
from kpi_service.core.cron import cron_trigger
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.events.service import prepare_partitions
from kpi_service.measurements.derivation import finalize_ended
from kpi_service.runs.background import BackgroundRuns
from kpi_service.runs.claims import claim_occurrence, scheduled_tenants
from kpi_service.scheduler.occurrences import missed, period_of

log = logging.getLogger(__name__)

KINDS = (
    PeriodKind.DAILY,
    PeriodKind.WEEKLY,
    PeriodKind.MONTHLY,
    PeriodKind.QUARTERLY,
    PeriodKind.YEARLY,
)


class Scheduler:
    """The jobs of one process; runs they claim execute in `runs` (this process)."""

    def __init__(
        self, database: Callable[[], Database], settings: Settings, runs: BackgroundRuns
    ) -> None:
        self._database = database
        self.settings = settings
        self.runs = runs
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Add the jobs and start; the catch-up and a first sweep run at once."""
        tz = self.settings.tz
        scheduler = AsyncIOScheduler(timezone=tz)
        for kind in KINDS:
            scheduler.add_job(
                self.tick,
                cron_trigger(self.settings.schedule(kind.value), tz),
                args=[kind],
                id=f"calculate-{kind.value}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        now = datetime.now(tz)
        settings = self.settings
        stale_sweep = IntervalTrigger(seconds=max(settings.run_stale_seconds / 2, 1), timezone=tz)
        delivery_sweep = IntervalTrigger(seconds=settings.alert_sweep_seconds, timezone=tz)
        overdue = cron_trigger(settings.schedule_overdue_values, tz)
        # The housekeeping jobs: (job, id, trigger, whether it also runs at once).
        housekeeping = [
            (self.sweep, "stale-runs", stale_sweep, True),
            (self.partitions, "partitions", cron_trigger("30 0 * * *", tz), True),
            # Just after midnight, and at start: periods that ended are stored final.
            (self.finalize, "finalize", cron_trigger("5 0 * * *", tz), True),
            (self.overdue_values, "overdue-values", overdue, False),
            (self.deliveries, "alert-deliveries", delivery_sweep, True),
        ]
        for job, job_id, trigger, at_once in housekeeping:
            scheduler.add_job(
                job,
                trigger,
                id=job_id,
                coalesce=True,
                max_instances=1,
                next_run_time=now if at_once else undefined,
            )
        scheduler.add_job(self.catch_up, id="catch-up", next_run_time=now)
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler started (%s)",
            ", ".join(f"{k.value} '{self.settings.schedule(k.value)}'" for k in KINDS),
        )

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    async def tick(self, kind: PeriodKind) -> list[int]:
        """A cron occurrence: the newest ended period of this kind, for every tenant."""
        return await self.occur(kind, period_of(kind, datetime.now(UTC), self.settings.tz))

    async def occur(self, kind: PeriodKind, period: Period) -> list[int]:
        """Claim and start the occurrence for each tenant; the run ids this process got."""
        database = self._database()
        async with database.sessions() as session:
            tenants = await scheduled_tenants(session, kind)
        claimed = []
        for tenant_id in tenants:
            async with database.unit_of_work() as session:
                run_id = await claim_occurrence(session, tenant_id, kind, period)
            if run_id is not None:
                log.info(
                    "scheduled %s run %s of %s for %s", kind.value, run_id, tenant_id, period.start
                )
                await self.runs.submit(tenant_id, run_id)
                claimed.append(run_id)
        return claimed

    async def catch_up(self, now: datetime | None = None) -> list[int]:
        """Occurrences that should have fired while no process was up, each claimed once."""
        now = now or datetime.now(UTC)
        claimed = []
        for kind in KINDS:
            trigger = cron_trigger(self.settings.schedule(kind.value), self.settings.tz)
            for period in missed(
                kind, trigger, self.settings.tz, now, self.settings.scheduler_catchup
            ):
                claimed += await self.occur(kind, period)
        return claimed

    async def sweep(self) -> int:
        """Resume runs whose process died."""
        return await self.runs.sweep()

    async def partitions(self) -> list[str]:
        """Event partitions for this month and the months ahead."""
        async with self._database().unit_of_work() as session:
            created: list[str] = await prepare_partitions(
                session, datetime.now(UTC).date(), self.settings.partitions_ahead_months
            )
        if created:
            log.info("created event partitions %s", ", ".join(created))
        return created

    async def finalize(self) -> int:
        """Re-derive the measurements whose period has ended but are stored not final, per
        tenant; how many changed."""
        return await finalize_ended(self._database(), self.settings)

    async def overdue_values(self) -> int:
        """Alert on manual values still missing after their period closed; rules evaluated."""
        return await evaluate_overdue(self._database(), self.settings)

    async def deliveries(self) -> int:
        """Send webhook deliveries left pending or due for a retry; how many were sent."""
        return await retry_pending(self._database(), self.settings)
